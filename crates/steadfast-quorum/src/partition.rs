//! Partition decisions: may the side of the cluster I can reach carry on?
//!
//! When the network splits, each side sees only its own members. A side may
//! continue only if it holds **more than half of the votes**, so two sides can
//! never both continue. An even split (exactly half on each side) would stop
//! everyone; a designated **tie-breaker** member settles it: the side that
//! reaches the tie-breaker continues. Because the tie-breaker is a member, it
//! is on exactly one side. A cheaper alternative is a *witness* member (one
//! vote, no data, see [`Member::witness`](crate::Member::witness)) that makes
//! the total odd, so there are no ties at all.
//!
//! In a joint configuration a side must be allowed to continue by both the old
//! and the new configuration.

use steadfast_core::NodeId;

use crate::system::QuorumSystem;
use crate::tally::TallyError;

/// Why a side may continue or must step down.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PartitionReason {
    /// The side holds more than half of the votes.
    Majority {
        /// Votes reachable from this side.
        votes: u64,
        /// All votes of the configuration.
        total: u64,
    },
    /// Exactly half, and the tie-breaker is on this side.
    TieBrokenForUs {
        /// Votes reachable from this side.
        votes: u64,
        /// All votes of the configuration.
        total: u64,
        /// The tie-breaker member.
        tie_breaker: NodeId,
    },
    /// Exactly half, and the tie-breaker is not on this side (or none is set).
    TieBrokenAgainstUs {
        /// Votes reachable from this side.
        votes: u64,
        /// All votes of the configuration.
        total: u64,
    },
    /// Less than half of the votes.
    Minority {
        /// Votes reachable from this side.
        votes: u64,
        /// All votes of the configuration.
        total: u64,
    },
}

/// The answer to "may this side of a partition continue?".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[must_use]
pub enum PartitionDecision {
    /// This side may keep serving.
    Continue {
        /// Why.
        reason: PartitionReason,
    },
    /// This side must stop accepting writes.
    StepDown {
        /// Why (for a joint configuration, the configuration that refused).
        reason: PartitionReason,
    },
}

impl PartitionDecision {
    /// Whether this side may continue.
    #[must_use]
    pub fn may_continue(&self) -> bool {
        matches!(self, PartitionDecision::Continue { .. })
    }

    /// The reason.
    #[must_use]
    pub fn reason(&self) -> PartitionReason {
        match self {
            PartitionDecision::Continue { reason } | PartitionDecision::StepDown { reason } => {
                *reason
            }
        }
    }
}

impl QuorumSystem {
    /// Decides whether the side that can reach `reachable` (include yourself)
    /// may continue, with an optional tie-breaker member for even splits.
    ///
    /// Non-members in `reachable` are ignored. For any partition of the
    /// members into disjoint sides, at most one side gets
    /// [`PartitionDecision::Continue`].
    ///
    /// # Errors
    ///
    /// [`TallyError::NotAMember`] when the tie-breaker is not a member: a node
    /// outside the cluster could be reachable from both sides.
    ///
    /// # Examples
    ///
    /// ```
    /// use steadfast_core::NodeId;
    /// use steadfast_quorum::{PartitionReason, QuorumSystem};
    ///
    /// let system = QuorumSystem::majority((1..=4).map(NodeId::new))?;
    /// let tie_breaker = Some(NodeId::new(1));
    /// let left = system.partition_decision([1, 2].map(NodeId::new), tie_breaker)?;
    /// let right = system.partition_decision([3, 4].map(NodeId::new), tie_breaker)?;
    /// assert!(left.may_continue());
    /// assert!(!right.may_continue());
    /// assert_eq!(
    ///     right.reason(),
    ///     PartitionReason::TieBrokenAgainstUs { votes: 2, total: 4 }
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn partition_decision(
        &self,
        reachable: impl IntoIterator<Item = NodeId>,
        tie_breaker: Option<NodeId>,
    ) -> Result<PartitionDecision, TallyError> {
        if let Some(node) = tie_breaker {
            self.index_of(node).ok_or(TallyError::NotAMember { node })?;
        }
        let mut seen = vec![false; self.len()];
        for node in reachable {
            if let Some(i) = self.index_of(node) {
                seen[i] = true;
            }
        }
        let has_tie_breaker = tie_breaker
            .and_then(|n| self.index_of(n))
            .is_some_and(|i| seen[i]);
        let mut decision = None;
        for c in self.configs() {
            let votes: u64 = seen
                .iter()
                .zip(&c.weights)
                .filter(|(s, _)| **s)
                .map(|(_, w)| u64::from(*w))
                .sum();
            let total = c.total;
            let this = if 2 * votes > total {
                PartitionDecision::Continue {
                    reason: PartitionReason::Majority { votes, total },
                }
            } else if 2 * votes == total {
                match tie_breaker {
                    Some(tie_breaker) if has_tie_breaker => PartitionDecision::Continue {
                        reason: PartitionReason::TieBrokenForUs {
                            votes,
                            total,
                            tie_breaker,
                        },
                    },
                    _ => PartitionDecision::StepDown {
                        reason: PartitionReason::TieBrokenAgainstUs { votes, total },
                    },
                }
            } else {
                PartitionDecision::StepDown {
                    reason: PartitionReason::Minority { votes, total },
                }
            };
            if !this.may_continue() {
                return Ok(this);
            }
            decision = Some(this);
        }
        // A built system always has at least one configuration.
        Ok(decision.unwrap_or(PartitionDecision::StepDown {
            reason: PartitionReason::Minority { votes: 0, total: 0 },
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tie_without_breaker_stops_both() {
        let s = QuorumSystem::majority((1..=4).map(NodeId::new)).unwrap();
        let a = s.partition_decision([1, 2].map(NodeId::new), None).unwrap();
        let b = s.partition_decision([3, 4].map(NodeId::new), None).unwrap();
        assert!(!a.may_continue() && !b.may_continue());
        assert_eq!(
            s.partition_decision([NodeId::new(1)], Some(NodeId::new(42)))
                .unwrap_err(),
            TallyError::NotAMember {
                node: NodeId::new(42)
            }
        );
    }
}
