use core::fmt;
use core::num::ParseIntError;
use core::str::FromStr;

/// Identifies a node, replica, peer or voter.
///
/// A plain `Copy` newtype over `u64`: cheap to hash, compare and store in
/// bitsets. How ids are assigned (configuration, hashing a host name) is up to
/// the application.
///
/// # Examples
///
/// ```
/// use steadfast_core::NodeId;
///
/// let id = NodeId::from(7);
/// assert_eq!(id.get(), 7);
/// assert_eq!(id.to_string(), "7");
/// assert_eq!("7".parse::<NodeId>().unwrap(), id);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
pub struct NodeId(u64);

impl NodeId {
    /// The node id `id`.
    ///
    /// ```
    /// # use steadfast_core::NodeId;
    /// assert_eq!(NodeId::new(3), NodeId::from(3));
    /// ```
    #[must_use]
    pub const fn new(id: u64) -> NodeId {
        NodeId(id)
    }

    /// The raw `u64`.
    ///
    /// ```
    /// # use steadfast_core::NodeId;
    /// assert_eq!(NodeId::new(3).get(), 3);
    /// ```
    #[must_use]
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl From<u64> for NodeId {
    fn from(id: u64) -> NodeId {
        NodeId(id)
    }
}

impl From<NodeId> for u64 {
    fn from(id: NodeId) -> u64 {
        id.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({})", self.0)
    }
}

impl FromStr for NodeId {
    type Err = ParseIntError;

    fn from_str(s: &str) -> Result<NodeId, ParseIntError> {
        s.parse().map(NodeId)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    #[test]
    fn round_trips() {
        let id = NodeId::from(u64::MAX);
        assert_eq!(u64::from(id), u64::MAX);
        assert_eq!(format!("{id:?}"), format!("NodeId({})", u64::MAX));
        assert!("-1".parse::<NodeId>().is_err());
        assert!("".parse::<NodeId>().is_err());
    }
}
