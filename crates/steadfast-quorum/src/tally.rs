//! Counting votes, one at a time, in O(1) each.
//!
//! A tally keeps one bitset of who voted yes and one of who voted no, and the
//! running sums of their votes per configuration. After every vote it knows
//! whether the yes votes already form a quorum (**won**), whether the members
//! who have not voted no could still form one (**pending**), or not
//! (**lost**), without looking at the members again.

use steadfast_core::NodeId;

use crate::system::{QuorumKind, QuorumSystem};

/// A member's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Vote {
    /// In favour.
    Yes,
    /// Against (or unreachable, once a caller decides so).
    No,
}

/// Where a tally stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[must_use]
pub enum TallyOutcome {
    /// The yes votes form a quorum.
    Won,
    /// Not decided: the members who have not voted could still make a quorum.
    Pending,
    /// No quorum is possible any more, whatever the missing members vote.
    Lost,
}

/// Why a vote or an acknowledgement was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TallyError {
    /// The node is not a member of the quorum system.
    #[error("node {node} is not a member of the quorum system")]
    NotAMember {
        /// The node that voted.
        node: NodeId,
    },
    /// The member already voted the other way; a vote cannot change.
    #[error("node {node} already voted {previous:?}")]
    ChangedVote {
        /// The member.
        node: NodeId,
        /// Its first vote, which stands.
        previous: Vote,
    },
}

impl TallyError {
    /// Always `false`: retrying the same vote gives the same error.
    #[must_use]
    pub fn is_temporary(&self) -> bool {
        false
    }
}

/// A tally of yes/no votes against a [`QuorumSystem`].
///
/// Each [`record`](Self::record) costs one binary search over the member ids
/// (or nothing with [`record_index`](Self::record_index)), one bit test and
/// one or two additions. Repeating the same vote is harmless.
///
/// # Examples
///
/// ```
/// use steadfast_core::NodeId;
/// use steadfast_quorum::{QuorumKind, QuorumSystem, TallyOutcome, Vote};
///
/// let system = QuorumSystem::majority((1..=5).map(NodeId::new))?;
/// let mut tally = system.tally(QuorumKind::Write);
/// tally.record(NodeId::new(1), Vote::No)?;
/// tally.record(NodeId::new(2), Vote::No)?;
/// assert_eq!(tally.outcome(), TallyOutcome::Pending);
/// // With three "no" votes, the remaining two cannot make a majority of five.
/// assert_eq!(tally.record(NodeId::new(3), Vote::No)?, TallyOutcome::Lost);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct VoteTally<'a> {
    system: &'a QuorumSystem,
    // Per configuration, copied out of the system so a vote touches no
    // pointer but the weights slice.
    configs: usize,
    weights: [&'a [u32]; 2],
    totals: [u64; 2],
    thresholds: [u64; 2],
    yes: Vec<u64>,
    no: Vec<u64>,
    yes_votes: [u64; 2],
    no_votes: [u64; 2],
}

impl<'a> VoteTally<'a> {
    /// An empty tally; the same as [`QuorumSystem::tally`].
    pub fn new(system: &'a QuorumSystem, kind: QuorumKind) -> VoteTally<'a> {
        let words = system.len().div_ceil(64);
        let mut weights: [&'a [u32]; 2] = [&[], &[]];
        let mut totals = [0; 2];
        let mut thresholds = [0; 2];
        let configs = system.configs().len().min(2);
        for (i, c) in system.configs().iter().take(2).enumerate() {
            weights[i] = &c.weights;
            totals[i] = c.total;
            thresholds[i] = c.threshold(kind);
        }
        VoteTally {
            system,
            configs,
            weights,
            totals,
            thresholds,
            yes: vec![0; words],
            no: vec![0; words],
            yes_votes: [0; 2],
            no_votes: [0; 2],
        }
    }

    /// Records `node`'s vote and returns the new outcome.
    ///
    /// # Errors
    ///
    /// [`TallyError::NotAMember`] for a non-member; [`TallyError::ChangedVote`]
    /// when the member already voted the other way (the first vote stands).
    pub fn record(&mut self, node: NodeId, vote: Vote) -> Result<TallyOutcome, TallyError> {
        let index = self
            .system
            .index_of(node)
            .ok_or(TallyError::NotAMember { node })?;
        self.record_index(index, vote)
    }

    /// Records the vote of the member at `index` in [`QuorumSystem::members`].
    ///
    /// # Errors
    ///
    /// As [`record`](Self::record); an index past the end is
    /// [`TallyError::NotAMember`] with `NodeId(u64::MAX)`.
    pub fn record_index(&mut self, index: usize, vote: Vote) -> Result<TallyOutcome, TallyError> {
        if index >= self.system.len() {
            return Err(TallyError::NotAMember {
                node: NodeId::new(u64::MAX),
            });
        }
        let (word, bit) = (index / 64, 1u64 << (index % 64));
        let (mine, other, sums, previous) = match vote {
            Vote::Yes => (&mut self.yes, &self.no, &mut self.yes_votes, Vote::No),
            Vote::No => (&mut self.no, &self.yes, &mut self.no_votes, Vote::Yes),
        };
        if other[word] & bit != 0 {
            return Err(TallyError::ChangedVote {
                node: self.system.members()[index],
                previous,
            });
        }
        if mine[word] & bit == 0 {
            mine[word] |= bit;
            for (sum, weights) in sums.iter_mut().zip(&self.weights[..self.configs]) {
                *sum += u64::from(weights[index]);
            }
        }
        Ok(self.outcome())
    }

    /// The outcome so far.
    pub fn outcome(&self) -> TallyOutcome {
        let mut won = true;
        for i in 0..self.configs {
            if self.totals[i] - self.no_votes[i] < self.thresholds[i] {
                return TallyOutcome::Lost;
            }
            won &= self.yes_votes[i] >= self.thresholds[i];
        }
        if won {
            TallyOutcome::Won
        } else {
            TallyOutcome::Pending
        }
    }

    /// The yes votes counted so far in the (first) configuration.
    #[must_use]
    pub fn yes_votes(&self) -> u64 {
        self.yes_votes[0]
    }

    /// The no votes counted so far in the (first) configuration.
    #[must_use]
    pub fn no_votes(&self) -> u64 {
        self.no_votes[0]
    }

    /// The members who voted yes, in [`QuorumSystem::members`] order.
    pub fn yes_voters(&self) -> impl Iterator<Item = NodeId> + '_ {
        let members = self.system.members();
        (0..members.len())
            .filter(|i| self.yes[i / 64] & (1 << (i % 64)) != 0)
            .map(|i| members[i])
    }

    /// Clears every vote, keeping the allocation.
    pub fn reset(&mut self) {
        self.yes.fill(0);
        self.no.fill(0);
        self.yes_votes = [0; 2];
        self.no_votes = [0; 2];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Member;

    #[test]
    fn changed_and_repeated_votes() {
        let s = QuorumSystem::majority((1..=3).map(NodeId::new)).unwrap();
        let mut t = s.tally(QuorumKind::Write);
        assert_eq!(
            t.record(NodeId::new(1), Vote::Yes),
            Ok(TallyOutcome::Pending)
        );
        assert_eq!(
            t.record(NodeId::new(1), Vote::Yes),
            Ok(TallyOutcome::Pending)
        );
        assert_eq!(t.yes_votes(), 1);
        assert_eq!(
            t.record(NodeId::new(1), Vote::No),
            Err(TallyError::ChangedVote {
                node: NodeId::new(1),
                previous: Vote::Yes
            })
        );
        assert_eq!(
            t.record(NodeId::new(9), Vote::No),
            Err(TallyError::NotAMember {
                node: NodeId::new(9)
            })
        );
        assert!(t.record_index(3, Vote::Yes).is_err());
        assert_eq!(t.record_index(2, Vote::Yes), Ok(TallyOutcome::Won));
        assert_eq!(t.yes_voters().count(), 2);
        t.reset();
        assert_eq!(t.outcome(), TallyOutcome::Pending);
    }

    #[test]
    fn zero_vote_members_change_nothing() {
        let s = QuorumSystem::weighted([
            Member::voter(NodeId::new(1)),
            Member::non_voting(NodeId::new(2)),
        ])
        .unwrap();
        let mut t = s.tally(QuorumKind::Read);
        assert_eq!(
            t.record(NodeId::new(2), Vote::Yes),
            Ok(TallyOutcome::Pending)
        );
        assert_eq!(t.record(NodeId::new(1), Vote::Yes), Ok(TallyOutcome::Won));
    }

    #[test]
    fn more_than_64_members() {
        let s = QuorumSystem::majority((0..101).map(NodeId::new)).unwrap();
        let mut t = s.tally(QuorumKind::Write);
        for i in 0..50 {
            assert_eq!(
                t.record(NodeId::new(i), Vote::Yes),
                Ok(TallyOutcome::Pending)
            );
        }
        assert_eq!(t.record(NodeId::new(100), Vote::Yes), Ok(TallyOutcome::Won));
    }
}
