//! Quorum systems: which sets of members may decide.
//!
//! A quorum system says which sets of members are large enough to act for the
//! whole group. The one property everything rests on is *intersection*: any two
//! quorums that must not disagree share at least one member, so a decision made
//! by one quorum is always seen by the next.
//!
//! [`QuorumSystem`] covers the threshold systems used in practice:
//!
//! - **majority**: every member has one vote; a quorum is more than half;
//! - **weighted voting** (Gifford): members carry any number of votes, including
//!   zero (a member that holds data but does not vote) and *witnesses* (members
//!   that vote but hold no data); a quorum is more than half of the votes;
//! - **flexible read/write quorums**: a read quorum of `R` votes and a write
//!   quorum of `W` votes with `R + W > N` (every read sees the last write), and
//!   `2W > N` when writes may be concurrent (two writes cannot both succeed
//!   without seeing each other); checked by [`QuorumSystemBuilder::build`];
//! - **joint configurations** for membership changes: during a change, a quorum
//!   is a quorum of the old configuration *and* of the new one.
//!
//! Everything is pure and synchronous: the system answers questions about sets
//! of members; [`VoteTally`](crate::VoteTally) counts votes one at a time.

use std::fmt;

use steadfast_core::{ConfigError, NodeId};

use crate::tally::{TallyError, VoteTally};

/// One member of a configuration: its id, its votes, and whether it holds data.
///
/// Voting weight is tracked apart from holding data, so a configuration can
/// have witnesses (vote, no data) and non-voting replicas (data, no vote).
///
/// # Examples
///
/// ```
/// use steadfast_core::NodeId;
/// use steadfast_quorum::Member;
///
/// let witness = Member::witness(NodeId::new(9));
/// assert_eq!(witness.votes(), 1);
/// assert!(!witness.holds_data());
/// assert_eq!(Member::voter(NodeId::new(1)).with_votes(3).votes(), 3);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Member {
    id: NodeId,
    votes: u32,
    holds_data: bool,
}

impl Member {
    /// A member with one vote that holds data.
    #[must_use]
    pub const fn voter(id: NodeId) -> Member {
        Member {
            id,
            votes: 1,
            holds_data: true,
        }
    }

    /// A witness: one vote, no data. It breaks ties but cannot serve reads.
    #[must_use]
    pub const fn witness(id: NodeId) -> Member {
        Member {
            id,
            votes: 1,
            holds_data: false,
        }
    }

    /// A replica that holds data but has no vote.
    #[must_use]
    pub const fn non_voting(id: NodeId) -> Member {
        Member {
            id,
            votes: 0,
            holds_data: true,
        }
    }

    /// The same member with `votes` votes.
    #[must_use]
    pub const fn with_votes(self, votes: u32) -> Member {
        Member { votes, ..self }
    }

    /// The member's id.
    #[must_use]
    pub const fn id(&self) -> NodeId {
        self.id
    }

    /// The member's votes.
    #[must_use]
    pub const fn votes(&self) -> u32 {
        self.votes
    }

    /// Whether the member stores data (witnesses do not).
    #[must_use]
    pub const fn holds_data(&self) -> bool {
        self.holds_data
    }
}

/// Which kind of quorum a question is about.
///
/// Majority and weighted systems use the same threshold for both; flexible
/// systems have separate read and write thresholds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum QuorumKind {
    /// A read quorum (`R` votes).
    Read,
    /// A write quorum (`W` votes).
    Write,
}

/// One configuration: weights indexed like [`QuorumSystem::members`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Configuration {
    pub(crate) weights: Vec<u32>,
    pub(crate) total: u64,
    pub(crate) read: u64,
    pub(crate) write: u64,
}

impl Configuration {
    pub(crate) fn threshold(&self, kind: QuorumKind) -> u64 {
        match kind {
            QuorumKind::Read => self.read,
            QuorumKind::Write => self.write,
        }
    }
}

/// A threshold quorum system: majority, weighted, flexible, or a joint pair.
///
/// Members are kept sorted by id; [`members`](Self::members) gives the order
/// used by [`VoteTally::record_index`]. A joint system has up to two
/// configurations and every question must be answered yes by both.
///
/// # Examples
///
/// ```
/// use steadfast_core::NodeId;
/// use steadfast_quorum::{QuorumKind, QuorumSystem, TallyOutcome, Vote};
///
/// let nodes: Vec<NodeId> = (1..=5).map(NodeId::new).collect();
/// let system = QuorumSystem::majority(nodes.clone())?;
/// assert!(system.is_quorum(QuorumKind::Write, nodes[..3].iter().copied()));
/// assert!(!system.is_quorum(QuorumKind::Write, nodes[..2].iter().copied()));
///
/// let mut tally = system.tally(QuorumKind::Write);
/// assert_eq!(tally.record(nodes[0], Vote::Yes)?, TallyOutcome::Pending);
/// tally.record(nodes[1], Vote::Yes)?;
/// assert_eq!(tally.record(nodes[2], Vote::Yes)?, TallyOutcome::Won);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct QuorumSystem {
    members: Vec<NodeId>,
    holds_data: Vec<bool>,
    configs: Vec<Configuration>,
}

impl fmt::Debug for QuorumSystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("QuorumSystem");
        s.field("members", &self.members);
        for (i, c) in self.configs.iter().enumerate() {
            s.field(
                if i == 0 { "config" } else { "new_config" },
                &format_args!(
                    "votes {:?}, total {}, read {}, write {}",
                    c.weights, c.total, c.read, c.write
                ),
            );
        }
        s.finish()
    }
}

/// Builds a single-configuration [`QuorumSystem`]; validation happens in [`build`](Self::build).
///
/// Without explicit thresholds the system is a weighted majority (both
/// thresholds `⌊N/2⌋ + 1` where `N` is the total of votes).
///
/// # Examples
///
/// ```
/// use steadfast_core::NodeId;
/// use steadfast_quorum::{Member, QuorumSystem};
///
/// // Five voters, reads from 2, writes to 4: R + W = 6 > 5 and 2W = 8 > 5.
/// let system = QuorumSystem::builder()
///     .members((1..=5).map(|i| Member::voter(NodeId::new(i))))
///     .read_quorum(2)
///     .write_quorum(4)
///     .build()?;
/// assert_eq!(system.threshold(steadfast_quorum::QuorumKind::Read), 2);
///
/// // R + W = 5 does not exceed N: a read could miss the last write.
/// let err = QuorumSystem::builder()
///     .members((1..=5).map(|i| Member::voter(NodeId::new(i))))
///     .read_quorum(1)
///     .write_quorum(4)
///     .build()
///     .unwrap_err();
/// assert_eq!(err.field(), "read_quorum + write_quorum");
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[derive(Clone, Debug, Default)]
#[must_use = "a builder does nothing until build() is called"]
pub struct QuorumSystemBuilder {
    members: Vec<Member>,
    read: Option<u64>,
    write: Option<u64>,
    concurrent_writes: bool,
}

impl QuorumSystemBuilder {
    /// Adds one member.
    pub fn member(mut self, member: Member) -> QuorumSystemBuilder {
        self.members.push(member);
        self
    }

    /// Adds members.
    pub fn members(mut self, members: impl IntoIterator<Item = Member>) -> QuorumSystemBuilder {
        self.members.extend(members);
        self
    }

    /// Sets the read quorum, in votes.
    pub fn read_quorum(mut self, votes: u64) -> QuorumSystemBuilder {
        self.read = Some(votes);
        self
    }

    /// Sets the write quorum, in votes.
    pub fn write_quorum(mut self, votes: u64) -> QuorumSystemBuilder {
        self.write = Some(votes);
        self
    }

    /// Whether writes may run concurrently (default `true`): then two write
    /// quorums must intersect too (`2W > N`). Set `false` only when a single
    /// leader serialises writes.
    pub fn concurrent_writes(mut self, concurrent: bool) -> QuorumSystemBuilder {
        self.concurrent_writes = concurrent;
        self
    }

    /// Validates and builds the system.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when there are no members, a member id repeats, the
    /// total of votes is zero, a threshold is zero or above the total, `R + W`
    /// does not exceed the total, or (with concurrent writes) `2W` does not.
    pub fn build(self) -> Result<QuorumSystem, ConfigError> {
        let config = self.validate()?;
        let mut members = self.members;
        members.sort_by_key(|m| m.id);
        let (ids, (holds, weights)) = members
            .iter()
            .map(|m| (m.id, (m.holds_data, m.votes)))
            .unzip();
        Ok(QuorumSystem {
            members: ids,
            holds_data: holds,
            configs: vec![Configuration {
                weights,
                total: config.0,
                read: config.1,
                write: config.2,
            }],
        })
    }

    fn validate(&self) -> Result<(u64, u64, u64), ConfigError> {
        ConfigError::ensure(
            !self.members.is_empty(),
            "members",
            "none",
            "at least one member",
        )?;
        let mut ids: Vec<NodeId> = self.members.iter().map(|m| m.id).collect();
        ids.sort_unstable();
        if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
            return Err(ConfigError::new(
                "members",
                format_args!("node {} twice", w[0]),
                "distinct node ids",
            ));
        }
        let total: u64 = self.members.iter().map(|m| u64::from(m.votes)).sum();
        ConfigError::ensure(total > 0, "members.votes", total, "a total above zero")?;
        let majority = total / 2 + 1;
        let read = self.read.unwrap_or(majority);
        let write = self.write.unwrap_or(majority);
        for (field, v) in [("read_quorum", read), ("write_quorum", write)] {
            ConfigError::ensure(
                (1..=total).contains(&v),
                field,
                v,
                format!("between 1 and the total of votes ({total})"),
            )?;
        }
        ConfigError::ensure(
            read + write > total,
            "read_quorum + write_quorum",
            read + write,
            format!("greater than the total of votes ({total}) so reads see the last write"),
        )?;
        if self.concurrent_writes {
            ConfigError::ensure(
                2 * write > total,
                "write_quorum",
                write,
                format!(
                    "more than half the total of votes ({total}) when writes may be concurrent"
                ),
            )?;
        }
        Ok((total, read, write))
    }
}

impl QuorumSystem {
    /// A builder for weighted or flexible systems (concurrent writes assumed).
    pub fn builder() -> QuorumSystemBuilder {
        QuorumSystemBuilder {
            concurrent_writes: true,
            ..QuorumSystemBuilder::default()
        }
    }

    /// A majority of one-vote members.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when `nodes` is empty or repeats an id.
    pub fn majority(nodes: impl IntoIterator<Item = NodeId>) -> Result<QuorumSystem, ConfigError> {
        QuorumSystem::builder()
            .members(nodes.into_iter().map(Member::voter))
            .build()
    }

    /// A weighted majority: a quorum holds more than half of all votes.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when there are no members, an id repeats, or all
    /// members have zero votes.
    ///
    /// ```
    /// use steadfast_core::NodeId;
    /// use steadfast_quorum::{Member, QuorumKind, QuorumSystem};
    ///
    /// // Two data centres of two nodes each and a witness in a third: no ties.
    /// let system = QuorumSystem::weighted(
    ///     (1..=4).map(|i| Member::voter(NodeId::new(i)))
    ///         .chain([Member::witness(NodeId::new(5))]),
    /// )?;
    /// let dc_a_and_witness = [1, 2, 5].map(NodeId::new);
    /// assert!(system.is_quorum(QuorumKind::Write, dc_a_and_witness));
    /// # Ok::<(), steadfast_core::ConfigError>(())
    /// ```
    pub fn weighted(
        members: impl IntoIterator<Item = Member>,
    ) -> Result<QuorumSystem, ConfigError> {
        QuorumSystem::builder().members(members).build()
    }

    /// The joint configuration of a membership change: a quorum must be a
    /// quorum of `old` and of `new`.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when either side is itself joint.
    ///
    /// ```
    /// use steadfast_core::NodeId;
    /// use steadfast_quorum::{QuorumKind, QuorumSystem};
    ///
    /// let old = QuorumSystem::majority([1, 2, 3].map(NodeId::new))?;
    /// let new = QuorumSystem::majority([3, 4, 5].map(NodeId::new))?;
    /// let joint = QuorumSystem::joint(&old, &new)?;
    /// // {1, 2} is a majority of the old config only.
    /// assert!(!joint.is_quorum(QuorumKind::Write, [1, 2].map(NodeId::new)));
    /// assert!(joint.is_quorum(QuorumKind::Write, [1, 3, 4].map(NodeId::new)));
    /// # Ok::<(), steadfast_core::ConfigError>(())
    /// ```
    pub fn joint(old: &QuorumSystem, new: &QuorumSystem) -> Result<QuorumSystem, ConfigError> {
        for (field, s) in [("old", old), ("new", new)] {
            ConfigError::ensure(
                !s.is_joint(),
                field,
                "a joint configuration",
                "a single configuration",
            )?;
        }
        let mut members: Vec<NodeId> = old.members.iter().chain(&new.members).copied().collect();
        members.sort_unstable();
        members.dedup();
        let holds_data = members
            .iter()
            .map(|id| {
                [old, new]
                    .iter()
                    .any(|s| s.index_of(*id).map(|i| s.holds_data[i]).unwrap_or_default())
            })
            .collect();
        let remap = |s: &QuorumSystem| {
            let c = &s.configs[0];
            Configuration {
                weights: members
                    .iter()
                    .map(|id| s.index_of(*id).map(|i| c.weights[i]).unwrap_or(0))
                    .collect(),
                ..c.clone()
            }
        };
        let configs = vec![remap(old), remap(new)];
        Ok(QuorumSystem {
            members,
            holds_data,
            configs,
        })
    }

    /// All members (of both configurations when joint), sorted by id.
    #[must_use]
    pub fn members(&self) -> &[NodeId] {
        &self.members
    }

    /// The number of members.
    #[must_use]
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Always `false`: a built system has at least one member.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Whether this is a joint (old + new) configuration.
    #[must_use]
    pub fn is_joint(&self) -> bool {
        self.configs.len() > 1
    }

    /// The position of `node` in [`members`](Self::members), if it is a member.
    #[must_use]
    pub fn index_of(&self, node: NodeId) -> Option<usize> {
        self.members.binary_search(&node).ok()
    }

    /// The votes `node` carries in the (first) configuration; zero if absent.
    #[must_use]
    pub fn votes_of(&self, node: NodeId) -> u32 {
        self.index_of(node)
            .map(|i| self.configs[0].weights[i])
            .unwrap_or(0)
    }

    /// Whether `node` holds data (`false` for witnesses and non-members).
    #[must_use]
    pub fn holds_data(&self, node: NodeId) -> bool {
        self.index_of(node)
            .map(|i| self.holds_data[i])
            .unwrap_or(false)
    }

    /// The total of votes in the (first) configuration.
    #[must_use]
    pub fn total_votes(&self) -> u64 {
        self.configs[0].total
    }

    /// The threshold, in votes, of a `kind` quorum in the (first) configuration.
    #[must_use]
    pub fn threshold(&self, kind: QuorumKind) -> u64 {
        self.configs[0].threshold(kind)
    }

    pub(crate) fn configs(&self) -> &[Configuration] {
        &self.configs
    }

    /// Whether `nodes` form a `kind` quorum (in every configuration).
    /// Non-members and repeats are ignored.
    #[must_use]
    pub fn is_quorum(&self, kind: QuorumKind, nodes: impl IntoIterator<Item = NodeId>) -> bool {
        let mut seen = vec![false; self.members.len()];
        let mut sums = [0u64; 2];
        for node in nodes {
            if let Some(i) = self.index_of(node)
                && !std::mem::replace(&mut seen[i], true)
            {
                for (sum, c) in sums.iter_mut().zip(&self.configs) {
                    *sum += u64::from(c.weights[i]);
                }
            }
        }
        self.configs
            .iter()
            .zip(sums)
            .all(|(c, sum)| sum >= c.threshold(kind))
    }

    /// A fresh vote tally for a `kind` quorum.
    pub fn tally(&self, kind: QuorumKind) -> VoteTally<'_> {
        VoteTally::new(self, kind)
    }

    /// The committed index of a replicated log: the highest index that a write
    /// quorum (containing at least one member that holds data) has
    /// acknowledged. Members missing from `acks` count as having acknowledged
    /// nothing (index 0); `0` means nothing is committed.
    ///
    /// # Errors
    ///
    /// [`TallyError::NotAMember`] when an acknowledgement names a non-member.
    ///
    /// ```
    /// use steadfast_core::NodeId;
    /// use steadfast_quorum::QuorumSystem;
    ///
    /// let system = QuorumSystem::majority((1..=5).map(NodeId::new))?;
    /// let acks = [(1, 9), (2, 7), (3, 7), (4, 3), (5, 0)].map(|(n, i)| (NodeId::new(n), i));
    /// assert_eq!(system.committed_index(acks)?, 7);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn committed_index(
        &self,
        acks: impl IntoIterator<Item = (NodeId, u64)>,
    ) -> Result<u64, TallyError> {
        let mut acked = vec![0u64; self.members.len()];
        for (node, index) in acks {
            let i = self.index_of(node).ok_or(TallyError::NotAMember { node })?;
            acked[i] = acked[i].max(index);
        }
        let mut order: Vec<usize> = (0..self.members.len()).collect();
        order.sort_unstable_by(|a, b| acked[*b].cmp(&acked[*a]));
        let mut sums = [0u64; 2];
        let mut data = false;
        for i in order {
            for (sum, c) in sums.iter_mut().zip(&self.configs) {
                *sum += u64::from(c.weights[i]);
            }
            data |= self.holds_data[i];
            let quorum = self.configs.iter().zip(sums).all(|(c, sum)| sum >= c.write);
            if quorum && data {
                return Ok(acked[i]);
            }
        }
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[u64]) -> Vec<NodeId> {
        v.iter().copied().map(NodeId::new).collect()
    }

    #[test]
    fn majority_thresholds() {
        for n in 1..=8u64 {
            let s = QuorumSystem::majority(ids(&(1..=n).collect::<Vec<_>>())).unwrap();
            assert_eq!(s.threshold(QuorumKind::Write), n / 2 + 1);
        }
    }

    #[test]
    fn rejects_bad_configs() {
        assert_eq!(
            QuorumSystem::majority([]).unwrap_err().to_string(),
            "members must be at least one member, got none"
        );
        let err = QuorumSystem::majority(ids(&[1, 2, 1])).unwrap_err();
        assert_eq!(err.value(), "node 1 twice");
        let err = QuorumSystem::weighted([Member::non_voting(NodeId::new(1))]).unwrap_err();
        assert_eq!(err.field(), "members.votes");
        let five = (1..=5).map(|i| Member::voter(NodeId::new(i)));
        let err = QuorumSystem::builder()
            .members(five.clone())
            .read_quorum(4)
            .write_quorum(2)
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "write_quorum");
        QuorumSystem::builder()
            .members(five.clone())
            .read_quorum(4)
            .write_quorum(2)
            .concurrent_writes(false)
            .build()
            .unwrap();
        let err = QuorumSystem::builder()
            .members(five.clone())
            .read_quorum(0)
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "read_quorum");
        let err = QuorumSystem::builder()
            .members(five)
            .write_quorum(6)
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "write_quorum");
    }

    #[test]
    fn joint_rejects_nested() {
        let a = QuorumSystem::majority(ids(&[1, 2, 3])).unwrap();
        let b = QuorumSystem::majority(ids(&[3, 4])).unwrap();
        let j = QuorumSystem::joint(&a, &b).unwrap();
        assert_eq!(j.members(), ids(&[1, 2, 3, 4]).as_slice());
        assert_eq!(QuorumSystem::joint(&j, &a).unwrap_err().field(), "old");
    }

    #[test]
    fn committed_index_needs_data_holder() {
        let s = QuorumSystem::weighted([
            Member::voter(NodeId::new(1)),
            Member::witness(NodeId::new(2)),
            Member::witness(NodeId::new(3)),
        ])
        .unwrap();
        // The witnesses alone are a majority but store no entries.
        let acks = [(2, 10), (3, 10), (1, 4)].map(|(n, i)| (NodeId::new(n), i));
        assert_eq!(s.committed_index(acks).unwrap(), 4);
        assert_eq!(
            s.committed_index([(NodeId::new(7), 1)]).unwrap_err(),
            TallyError::NotAMember {
                node: NodeId::new(7)
            }
        );
    }
}
