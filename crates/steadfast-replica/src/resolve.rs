//! Conflict resolution: what to do with concurrent siblings.
//!
//! - last writer wins: keep the sibling with the highest hybrid logical
//!   clock stamp, ties broken by the higher node id, so every replica picks
//!   the same winner (concurrent writes are lost: use it only where that is
//!   acceptable);
//! - keep siblings: return them all and let the application decide;
//! - merge: a user function folds the siblings into one value (a CRDT merge,
//!   a set union).

use core::fmt;

use steadfast_core::NodeId;

use crate::hlc::HlcTimestamp;

/// A sibling with the stamp and node of its write.
///
/// # Examples
///
/// ```
/// use steadfast_core::NodeId;
/// use steadfast_replica::{HlcTimestamp, Stamped};
///
/// let s = Stamped::new(HlcTimestamp::from_u64(7), NodeId::new(1), "v");
/// assert_eq!(s.value, "v");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Stamped<V> {
    /// When it was written.
    pub stamp: HlcTimestamp,
    /// The node that wrote it.
    pub node: NodeId,
    /// The value.
    pub value: V,
}

impl<V> Stamped<V> {
    /// A stamped sibling.
    #[must_use]
    pub fn new(stamp: HlcTimestamp, node: NodeId, value: V) -> Stamped<V> {
        Stamped { stamp, node, value }
    }
}

/// How to resolve concurrent siblings.
///
/// # Examples
///
/// ```
/// use steadfast_core::NodeId;
/// use steadfast_replica::{ConflictResolver, HlcTimestamp, Resolved, Stamped};
///
/// let siblings = vec![
///     Stamped::new(HlcTimestamp::from_u64(10), NodeId::new(2), 1),
///     Stamped::new(HlcTimestamp::from_u64(10), NodeId::new(3), 2),
///     Stamped::new(HlcTimestamp::from_u64(9), NodeId::new(9), 3),
/// ];
/// let lww = ConflictResolver::LastWriterWins;
/// assert_eq!(lww.resolve(siblings.clone()), Resolved::One(2)); // same stamp: node 3 wins
/// let sum = ConflictResolver::merge(|vs: Vec<i32>| vs.into_iter().sum());
/// assert_eq!(sum.resolve(siblings.clone()), Resolved::One(6));
/// assert_eq!(ConflictResolver::KeepSiblings.resolve(siblings), Resolved::Siblings(vec![1, 2, 3]));
/// ```
#[non_exhaustive]
pub enum ConflictResolver<V> {
    /// Highest stamp wins; ties go to the higher node id.
    LastWriterWins,
    /// Keep every sibling.
    KeepSiblings,
    /// Fold the siblings with a user function.
    Merge(Box<dyn Fn(Vec<V>) -> V + Send + Sync>),
}

impl<V> fmt::Debug for ConflictResolver<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConflictResolver::LastWriterWins => "LastWriterWins",
            ConflictResolver::KeepSiblings => "KeepSiblings",
            ConflictResolver::Merge(_) => "Merge(..)",
        })
    }
}

/// The result of resolving siblings.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum Resolved<V> {
    /// No siblings at all.
    Empty,
    /// One value.
    One(V),
    /// Several values, left to the application.
    Siblings(Vec<V>),
}

impl<V> ConflictResolver<V> {
    /// A [`Merge`](ConflictResolver::Merge) resolver from a function.
    ///
    /// ```
    /// # use steadfast_replica::ConflictResolver;
    /// let r = ConflictResolver::merge(|v: Vec<u8>| v.into_iter().max().unwrap_or(0));
    /// assert!(format!("{r:?}").starts_with("Merge"));
    /// ```
    #[must_use]
    pub fn merge(f: impl Fn(Vec<V>) -> V + Send + Sync + 'static) -> ConflictResolver<V> {
        ConflictResolver::Merge(Box::new(f))
    }

    /// Resolves `siblings`. One sibling is returned as is by every strategy;
    /// [`KeepSiblings`](ConflictResolver::KeepSiblings) keeps their order.
    ///
    /// ```
    /// # use steadfast_replica::{ConflictResolver, Resolved};
    /// assert_eq!(ConflictResolver::<u8>::LastWriterWins.resolve(vec![]), Resolved::Empty);
    /// ```
    pub fn resolve(&self, siblings: Vec<Stamped<V>>) -> Resolved<V> {
        if siblings.len() <= 1 {
            return siblings
                .into_iter()
                .next()
                .map_or(Resolved::Empty, |s| Resolved::One(s.value));
        }
        match self {
            ConflictResolver::LastWriterWins => siblings
                .into_iter()
                .max_by_key(|s| (s.stamp, s.node))
                .map_or(Resolved::Empty, |s| Resolved::One(s.value)),
            ConflictResolver::KeepSiblings => {
                Resolved::Siblings(siblings.into_iter().map(|s| s.value).collect())
            }
            ConflictResolver::Merge(f) => {
                Resolved::One(f(siblings.into_iter().map(|s| s.value).collect()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lww_is_order_independent() {
        let a = Stamped::new(HlcTimestamp::from_u64(5), NodeId::new(1), 'a');
        let b = Stamped::new(HlcTimestamp::from_u64(5), NodeId::new(2), 'b');
        let c = Stamped::new(HlcTimestamp::from_u64(4), NodeId::new(9), 'c');
        let lww = ConflictResolver::LastWriterWins;
        assert_eq!(
            lww.resolve(vec![a.clone(), b.clone(), c.clone()]),
            Resolved::One('b')
        );
        assert_eq!(lww.resolve(vec![c, b, a.clone()]), Resolved::One('b'));
        assert_eq!(
            ConflictResolver::KeepSiblings.resolve(vec![a]),
            Resolved::One('a')
        );
    }
}
