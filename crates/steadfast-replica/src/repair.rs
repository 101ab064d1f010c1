//! Read-repair planning: what to return to the reader and what to send to
//! each replica so that all of them converge.
//!
//! A coordinator reads a key from several replicas; some answer with
//! versioned values, some have nothing, some fail. The newest versions (those
//! no other version supersedes) are what the reader gets: one value, or
//! concurrent siblings. Every replica that answered but lacks one of them is
//! sent it. In blocking mode the coordinator waits for those writes before
//! answering (monotonic reads: a second reader cannot see older data); in
//! background mode it answers first.
//!
//! Digest reads save bandwidth: one replica sends the full value, the others
//! a 64-bit digest; full values are fetched only from replicas whose digest
//! differs.

use steadfast_core::NodeId;

use crate::frame::FrameCodec;
use crate::merkle::hash64;
use crate::version_vector::{Causality, VersionVector};

/// A value with its version.
///
/// # Examples
///
/// ```
/// use steadfast_core::NodeId;
/// use steadfast_replica::{VersionVector, Versioned};
///
/// let v = Versioned::new([(NodeId::new(1), 1)].into_iter().collect(), "x");
/// assert_eq!(v.version.get(NodeId::new(1)), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Versioned<V> {
    /// The causal version of the value.
    pub version: VersionVector,
    /// The value.
    pub value: V,
}

impl<V> Versioned<V> {
    /// A value with its version.
    ///
    /// ```
    /// # use steadfast_replica::{VersionVector, Versioned};
    /// assert_eq!(Versioned::new(VersionVector::new(), 3).value, 3);
    /// ```
    #[must_use]
    pub fn new(version: VersionVector, value: V) -> Versioned<V> {
        Versioned { version, value }
    }
}

impl<V: AsRef<[u8]>> Versioned<V> {
    /// A 64-bit digest of the version and the value bytes, for digest reads.
    /// Not cryptographic: it detects divergence, not tampering.
    ///
    /// ```
    /// # use steadfast_core::NodeId;
    /// # use steadfast_replica::{VersionVector, Versioned};
    /// let a = Versioned::new(VersionVector::new(), b"x".to_vec());
    /// let b = Versioned::new([(NodeId::new(1), 1)].into_iter().collect(), b"x".to_vec());
    /// assert_ne!(a.digest(), b.digest());
    /// ```
    #[must_use]
    pub fn digest(&self) -> u64 {
        let mut bytes = Vec::new();
        self.version.encode_payload(&mut bytes);
        bytes.extend_from_slice(self.value.as_ref());
        hash64(&bytes) ^ (self.value.as_ref().len() as u64).rotate_left(32)
    }
}

/// What one replica answered to a read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum ReplicaReply<V> {
    /// The replica's versions of the key (concurrent siblings, or one).
    Found(Vec<Versioned<V>>),
    /// The replica has no version of the key.
    NotFound,
    /// The replica did not answer (timeout, error): it is not repaired.
    Failed,
}

/// Whether the coordinator waits for repairs before answering the reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum RepairMode {
    /// Wait for the repair writes: later reads never see older data.
    Blocking,
    /// Answer now, repair afterwards.
    Background,
}

/// Versions one replica must be sent to converge.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct Repair<V> {
    /// The replica to write to.
    pub replica: NodeId,
    /// The versions it lacks.
    pub send: Vec<Versioned<V>>,
}

/// The outcome of planning one read.
///
/// # Examples
///
/// ```
/// use steadfast_core::NodeId;
/// use steadfast_replica::{ReadRepairPlan, RepairMode, ReplicaReply, VersionVector, Versioned};
///
/// let (a, b, c) = (NodeId::new(1), NodeId::new(2), NodeId::new(3));
/// let v1 = Versioned::new([(a, 1)].into_iter().collect::<VersionVector>(), "old");
/// let v2 = Versioned::new([(a, 2)].into_iter().collect::<VersionVector>(), "new");
/// let plan = ReadRepairPlan::plan(
///     vec![
///         (a, ReplicaReply::Found(vec![v2.clone()])),
///         (b, ReplicaReply::Found(vec![v1])),
///         (c, ReplicaReply::NotFound),
///     ],
///     RepairMode::Blocking,
/// );
/// assert_eq!(plan.values(), &[v2.clone()]);
/// assert_eq!(plan.repairs().len(), 2); // b and c get "new"
/// assert!(plan.must_wait_for_repairs());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ReadRepairPlan<V> {
    values: Vec<Versioned<V>>,
    repairs: Vec<Repair<V>>,
    failed: Vec<NodeId>,
    mode: RepairMode,
}

impl<V: Clone> ReadRepairPlan<V> {
    /// Plans a read from the replicas' replies.
    ///
    /// Versions superseded by another reply are dropped; equal versions are
    /// kept once (the first seen); concurrent ones are all returned. Each
    /// answering replica is sent the returned versions its own versions do
    /// not cover.
    ///
    /// ```
    /// # use steadfast_core::NodeId;
    /// # use steadfast_replica::{ReadRepairPlan, RepairMode, ReplicaReply, VersionVector, Versioned};
    /// let (a, b) = (NodeId::new(1), NodeId::new(2));
    /// let x = Versioned::new([(a, 1)].into_iter().collect::<VersionVector>(), 1);
    /// let y = Versioned::new([(b, 1)].into_iter().collect::<VersionVector>(), 2);
    /// let plan = ReadRepairPlan::plan(
    ///     vec![(a, ReplicaReply::Found(vec![x])), (b, ReplicaReply::Found(vec![y]))],
    ///     RepairMode::Background,
    /// );
    /// assert_eq!(plan.values().len(), 2); // siblings
    /// assert!(!plan.must_wait_for_repairs());
    /// ```
    #[must_use]
    pub fn plan(
        replies: impl IntoIterator<Item = (NodeId, ReplicaReply<V>)>,
        mode: RepairMode,
    ) -> ReadRepairPlan<V> {
        let replies: Vec<(NodeId, ReplicaReply<V>)> = replies.into_iter().collect();
        let mut values: Vec<Versioned<V>> = Vec::new();
        for (_, reply) in &replies {
            let ReplicaReply::Found(found) = reply else {
                continue;
            };
            for v in found {
                let mut superseded = false;
                values.retain(|kept| match kept.version.compare(&v.version) {
                    Causality::Before => false,
                    Causality::After | Causality::Equal => {
                        superseded = true;
                        true
                    }
                    _ => true,
                });
                if !superseded {
                    values.push(v.clone());
                }
            }
        }
        let mut repairs = Vec::new();
        let mut failed = Vec::new();
        for (replica, reply) in &replies {
            let own: &[Versioned<V>] = match reply {
                ReplicaReply::Found(found) => found,
                ReplicaReply::NotFound => &[],
                ReplicaReply::Failed => {
                    failed.push(*replica);
                    continue;
                }
            };
            let send: Vec<Versioned<V>> = values
                .iter()
                .filter(|v| !own.iter().any(|o| o.version.dominates(&v.version)))
                .cloned()
                .collect();
            if !send.is_empty() {
                repairs.push(Repair {
                    replica: *replica,
                    send,
                });
            }
        }
        ReadRepairPlan {
            values,
            repairs,
            failed,
            mode,
        }
    }
}

impl<V> ReadRepairPlan<V> {
    /// The versions to return: one, or concurrent siblings; empty when no
    /// replica had the key.
    #[must_use]
    pub fn values(&self) -> &[Versioned<V>] {
        &self.values
    }

    /// Per replica, what it must be sent; replicas already up to date are absent.
    #[must_use]
    pub fn repairs(&self) -> &[Repair<V>] {
        &self.repairs
    }

    /// Replicas that did not answer (not repaired by this read).
    #[must_use]
    pub fn failed(&self) -> &[NodeId] {
        &self.failed
    }

    /// The mode the plan was made in.
    #[must_use]
    pub fn mode(&self) -> RepairMode {
        self.mode
    }

    /// True when every answering replica already agrees.
    ///
    /// ```
    /// # use steadfast_core::NodeId;
    /// # use steadfast_replica::{ReadRepairPlan, RepairMode, ReplicaReply};
    /// let plan = ReadRepairPlan::<u8>::plan(vec![(NodeId::new(1), ReplicaReply::NotFound)], RepairMode::Blocking);
    /// assert!(plan.is_consistent());
    /// ```
    #[must_use]
    pub fn is_consistent(&self) -> bool {
        self.repairs.is_empty()
    }

    /// True when the coordinator must wait for the repair writes before
    /// answering: blocking mode and something to repair.
    #[must_use]
    pub fn must_wait_for_repairs(&self) -> bool {
        self.mode == RepairMode::Blocking && !self.repairs.is_empty()
    }
}

/// What a digest read concluded.
///
/// # Examples
///
/// ```
/// use steadfast_core::NodeId;
/// use steadfast_replica::{DigestRead, VersionVector, Versioned};
///
/// let value = Versioned::new(VersionVector::new(), b"v".to_vec());
/// let d = value.digest();
/// let (a, b, c) = (NodeId::new(1), NodeId::new(2), NodeId::new(3));
/// assert_eq!(DigestRead::check(d, [(b, Some(d)), (c, None)]), DigestRead::Match);
/// assert_eq!(
///     DigestRead::check(d, [(b, Some(d ^ 1)), (c, Some(d))]),
///     DigestRead::Mismatch { fetch_full_from: vec![b] }
/// );
/// # let _ = a;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[must_use]
#[non_exhaustive]
pub enum DigestRead {
    /// Every digest received equals the data replica's: return its value.
    Match,
    /// Some replicas differ: fetch their full values and plan a
    /// [`ReadRepairPlan`] from them and the data read.
    Mismatch {
        /// Replicas whose digests differed.
        fetch_full_from: Vec<NodeId>,
    },
}

impl DigestRead {
    /// Compares the digest of the full read (`data_digest`) with the
    /// digests other replicas returned (`None`: the replica failed and is
    /// ignored).
    pub fn check(
        data_digest: u64,
        digests: impl IntoIterator<Item = (NodeId, Option<u64>)>,
    ) -> DigestRead {
        let fetch_full_from: Vec<NodeId> = digests
            .into_iter()
            .filter_map(|(node, d)| match d {
                Some(d) if d != data_digest => Some(node),
                _ => None,
            })
            .collect();
        if fetch_full_from.is_empty() {
            DigestRead::Match
        } else {
            DigestRead::Mismatch { fetch_full_from }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ver(entries: &[(u64, u64)], v: u32) -> Versioned<u32> {
        Versioned::new(
            entries.iter().map(|&(n, c)| (NodeId::new(n), c)).collect(),
            v,
        )
    }

    #[test]
    fn siblings_repair_each_side_with_the_other() {
        let (a, b, c) = (NodeId::new(1), NodeId::new(2), NodeId::new(3));
        let x = ver(&[(1, 1)], 10);
        let y = ver(&[(2, 1)], 20);
        let plan = ReadRepairPlan::plan(
            vec![
                (a, ReplicaReply::Found(vec![x.clone()])),
                (b, ReplicaReply::Found(vec![y.clone()])),
                (c, ReplicaReply::Failed),
            ],
            RepairMode::Blocking,
        );
        assert_eq!(plan.values(), &[x.clone(), y.clone()]);
        assert_eq!(
            plan.repairs()[0],
            Repair {
                replica: a,
                send: vec![y]
            }
        );
        assert_eq!(
            plan.repairs()[1],
            Repair {
                replica: b,
                send: vec![x]
            }
        );
        assert_eq!(plan.failed(), &[c]);
    }

    #[test]
    fn newer_reply_replaces_older_and_equal_is_kept_once() {
        let (a, b) = (NodeId::new(1), NodeId::new(2));
        let old = ver(&[(1, 1)], 1);
        let new = ver(&[(1, 2)], 2);
        let plan = ReadRepairPlan::plan(
            vec![
                (a, ReplicaReply::Found(vec![old.clone(), new.clone()])),
                (b, ReplicaReply::Found(vec![new.clone()])),
            ],
            RepairMode::Blocking,
        );
        assert_eq!(plan.values(), &[new]);
        assert!(plan.is_consistent());
        assert!(!plan.must_wait_for_repairs());
    }

    #[test]
    fn nothing_anywhere() {
        let plan = ReadRepairPlan::<u8>::plan(Vec::new(), RepairMode::Background);
        assert!(plan.values().is_empty() && plan.is_consistent());
        assert_eq!(plan.mode(), RepairMode::Background);
    }
}
