//! Consistency levels: how many replicas, and which, must answer.
//!
//! A [`ConsistencyLevel`] (Cassandra's names and semantics) turns into a
//! [`Requirement`] for one [`Placement`] and coordinator datacentre: one or
//! more groups of replicas, each a `steadfast-quorum` [`QuorumSystem`] with
//! its threshold. EACH_QUORUM is the conjunction of one majority per
//! datacentre, like a joint configuration with a side per datacentre. An
//! [`AckTally`] counts responses as they arrive and says won, pending or
//! lost; [`Guarantee::of`] says whether a read level and a write level always
//! overlap (`R + W > N`, per datacentre where it matters).
//!
//! | level | acknowledgements required (`blockFor`) |
//! |---|---|
//! | `ANY` (writes only) | 1, from a replica or a stored hint |
//! | `ONE`, `TWO`, `THREE` | 1, 2, 3 replicas in any datacentre |
//! | `QUORUM` | `⌊N/2⌋ + 1` of all `N` replicas |
//! | `LOCAL_ONE` | 1 replica in the coordinator's datacentre |
//! | `LOCAL_QUORUM` | `⌊n/2⌋ + 1` of the `n` replicas in the coordinator's datacentre; others do not count |
//! | `EACH_QUORUM` | `⌊n_d/2⌋ + 1` in every datacentre `d` |
//! | `ALL` | all `N` replicas |

mod placement;

use std::fmt;
use std::str::FromStr;

use steadfast_core::{ConfigError, NodeId};
use steadfast_quorum::{
    Member, QuorumKind, QuorumSystem, TallyError, TallyOutcome, Vote, VoteTally,
};

pub use placement::{NetworkTopology, Placement, Replica, Topology, TopologyBuilder};

/// How many replicas must answer a read or a write, after Cassandra.
///
/// `ANY` is for writes only: it succeeds once any replica acknowledges *or*
/// once a hint for the write is stored (a hinted handoff: a node, perhaps not
/// a replica at all, keeps the write and hands it over when a replica comes
/// back). An `ANY` write may therefore be invisible to every read until the
/// hint is delivered.
///
/// `EACH_QUORUM` was refused for reads by Cassandra before 3.0; since 3.0 it
/// serves reads too, and so does this crate.
///
/// # Examples
///
/// ```
/// use steadfast_replica::ConsistencyLevel;
///
/// let level: ConsistencyLevel = "local_quorum".parse()?;
/// assert_eq!(level, ConsistencyLevel::LocalQuorum);
/// assert_eq!(level.to_string(), "LOCAL_QUORUM");
/// assert!(level.is_datacenter_local());
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum ConsistencyLevel {
    /// One acknowledgement from a replica or a stored hint (writes only).
    Any,
    /// One replica.
    One,
    /// Two replicas.
    Two,
    /// Three replicas.
    Three,
    /// A majority of all replicas.
    Quorum,
    /// One replica in the coordinator's datacentre.
    LocalOne,
    /// A majority of the replicas in the coordinator's datacentre.
    LocalQuorum,
    /// A majority of the replicas in every datacentre.
    EachQuorum,
    /// Every replica.
    All,
}

impl ConsistencyLevel {
    /// Every level, weakest first (roughly).
    ///
    /// ```
    /// use steadfast_replica::ConsistencyLevel;
    /// assert!(ConsistencyLevel::LEVELS.contains(&ConsistencyLevel::EachQuorum));
    /// ```
    pub const LEVELS: [ConsistencyLevel; 9] = [
        ConsistencyLevel::Any,
        ConsistencyLevel::One,
        ConsistencyLevel::LocalOne,
        ConsistencyLevel::Two,
        ConsistencyLevel::Three,
        ConsistencyLevel::LocalQuorum,
        ConsistencyLevel::Quorum,
        ConsistencyLevel::EachQuorum,
        ConsistencyLevel::All,
    ];

    /// The level's name as Cassandra spells it (`LOCAL_QUORUM`).
    ///
    /// ```
    /// assert_eq!(steadfast_replica::ConsistencyLevel::EachQuorum.name(), "EACH_QUORUM");
    /// ```
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            ConsistencyLevel::Any => "ANY",
            ConsistencyLevel::One => "ONE",
            ConsistencyLevel::Two => "TWO",
            ConsistencyLevel::Three => "THREE",
            ConsistencyLevel::Quorum => "QUORUM",
            ConsistencyLevel::LocalOne => "LOCAL_ONE",
            ConsistencyLevel::LocalQuorum => "LOCAL_QUORUM",
            ConsistencyLevel::EachQuorum => "EACH_QUORUM",
            ConsistencyLevel::All => "ALL",
        }
    }

    /// Whether only replicas in the coordinator's datacentre count.
    ///
    /// ```
    /// use steadfast_replica::ConsistencyLevel;
    /// assert!(ConsistencyLevel::LocalOne.is_datacenter_local());
    /// assert!(!ConsistencyLevel::EachQuorum.is_datacenter_local());
    /// ```
    #[must_use]
    pub const fn is_datacenter_local(self) -> bool {
        matches!(
            self,
            ConsistencyLevel::LocalOne | ConsistencyLevel::LocalQuorum
        )
    }

    /// Whether the level may be used for `operation` (`ANY` only for writes).
    ///
    /// ```
    /// use steadfast_replica::{ConsistencyLevel, Operation};
    /// assert!(ConsistencyLevel::Any.supports(Operation::Write));
    /// assert!(!ConsistencyLevel::Any.supports(Operation::Read));
    /// assert!(ConsistencyLevel::EachQuorum.supports(Operation::Read));
    /// ```
    #[must_use]
    pub const fn supports(self, operation: Operation) -> bool {
        !matches!((self, operation), (ConsistencyLevel::Any, Operation::Read))
    }

    /// The acknowledgements this level needs for `operation` on `placement`
    /// when coordinated from `local_datacenter`.
    ///
    /// `local_datacenter` matters only for `LOCAL_ONE` and `LOCAL_QUORUM`.
    ///
    /// # Errors
    ///
    /// [`ConsistencyError::Unsupported`] for `ANY` reads;
    /// [`ConsistencyError::Unsatisfiable`] when the placement could not meet
    /// the level even with every replica up (`THREE` with two replicas, a
    /// local level from a datacentre holding no replica).
    ///
    /// # Examples
    ///
    /// ```
    /// use steadfast_core::NodeId;
    /// use steadfast_replica::{ConsistencyLevel, Operation, Placement, Replica};
    ///
    /// let placement = Placement::new((1..=6).map(|i| {
    ///     Replica::new(NodeId::new(i), if i <= 3 { "dc1" } else { "dc2" }, "r")
    /// }))?;
    /// let need = |level: ConsistencyLevel| {
    ///     level.requirement(Operation::Write, &placement, "dc1").map(|r| r.required_acks())
    /// };
    /// assert_eq!(need(ConsistencyLevel::Quorum)?, 4);
    /// assert_eq!(need(ConsistencyLevel::LocalQuorum)?, 2);
    /// assert_eq!(need(ConsistencyLevel::EachQuorum)?, 4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn requirement(
        self,
        operation: Operation,
        placement: &Placement,
        local_datacenter: &str,
    ) -> Result<Requirement, ConsistencyError> {
        if !self.supports(operation) {
            return Err(ConsistencyError::Unsupported {
                level: self,
                operation,
            });
        }
        let n = placement.len();
        let global = |k: usize| vec![(None, k)];
        let local = |k: usize| vec![(Some(local_datacenter), k)];
        let local_n = placement.count_in(local_datacenter);
        let specs: Vec<(Option<&str>, usize)> = match self {
            ConsistencyLevel::Any | ConsistencyLevel::One => global(1),
            ConsistencyLevel::Two => global(2),
            ConsistencyLevel::Three => global(3),
            ConsistencyLevel::Quorum => global(n / 2 + 1),
            ConsistencyLevel::All => global(n),
            ConsistencyLevel::LocalOne => local(1),
            ConsistencyLevel::LocalQuorum => local(local_n / 2 + 1),
            ConsistencyLevel::EachQuorum => placement
                .datacenters()
                .iter()
                .map(|dc| (Some(dc.as_str()), placement.count_in(dc) / 2 + 1))
                .collect(),
        };
        let mut groups = Vec::with_capacity(specs.len());
        for (datacenter, required) in specs {
            let members: Vec<NodeId> = match datacenter {
                None => placement.replicas().iter().map(Replica::node).collect(),
                Some(dc) => placement.replicas_in(dc).map(Replica::node).collect(),
            };
            if required > members.len() {
                return Err(ConsistencyError::Unsatisfiable {
                    level: self,
                    datacenter: datacenter.map(str::to_owned),
                    required,
                    replicas: members.len(),
                });
            }
            groups.push(AckGroup::new(datacenter, members, required));
        }
        let mut replicas: Vec<NodeId> = placement.replicas().iter().map(Replica::node).collect();
        replicas.sort_unstable();
        Ok(Requirement {
            level: self,
            operation,
            groups,
            replicas,
        })
    }
}

impl fmt::Display for ConsistencyLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ConsistencyLevel {
    type Err = ConfigError;

    /// Parses a level's name, ignoring ASCII case (`quorum`, `LOCAL_ONE`).
    fn from_str(s: &str) -> Result<ConsistencyLevel, ConfigError> {
        ConsistencyLevel::LEVELS
            .into_iter()
            .find(|l| l.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                ConfigError::new(
                    "consistency_level",
                    s,
                    "one of ANY, ONE, TWO, THREE, QUORUM, LOCAL_ONE, LOCAL_QUORUM, EACH_QUORUM, ALL",
                )
            })
    }
}

/// A read or a write.
///
/// # Examples
///
/// ```
/// use steadfast_replica::{ConsistencyLevel, Operation};
/// assert!(!ConsistencyLevel::Any.supports(Operation::Read));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum Operation {
    /// A read.
    Read,
    /// A write.
    Write,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Operation::Read => "read",
            Operation::Write => "write",
        })
    }
}

/// One group of replicas of a [`Requirement`]: `required` of its replicas
/// must acknowledge.
///
/// # Examples
///
/// ```
/// use steadfast_core::NodeId;
/// use steadfast_replica::{ConsistencyLevel, Operation, Placement, Replica};
///
/// let placement = Placement::new([
///     Replica::new(NodeId::new(1), "dc1", "a"),
///     Replica::new(NodeId::new(2), "dc2", "a"),
/// ])?;
/// let each = ConsistencyLevel::EachQuorum.requirement(Operation::Write, &placement, "dc1")?;
/// let groups: Vec<_> = each.groups().iter().map(|g| (g.datacenter(), g.required())).collect();
/// assert_eq!(groups, [(Some("dc1"), 1), (Some("dc2"), 1)]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AckGroup {
    datacenter: Option<String>,
    required: usize,
    system: QuorumSystem,
}

impl AckGroup {
    fn new(datacenter: Option<&str>, members: Vec<NodeId>, required: usize) -> AckGroup {
        let size = members.len();
        // `required` of `size` one-vote members; the read threshold only
        // keeps the builder's R + W > N rule satisfied and is never used.
        let system = QuorumSystem::builder()
            .members(members.into_iter().map(Member::voter))
            .write_quorum(required as u64)
            .read_quorum((size - required + 1) as u64)
            .concurrent_writes(false)
            .build();
        let system = match system {
            Ok(system) => system,
            // 1 <= required <= size and distinct members: always valid.
            Err(e) => unreachable!("acknowledgement group rejected: {e}"),
        };
        AckGroup {
            datacenter: datacenter.map(str::to_owned),
            required,
            system,
        }
    }

    /// The datacentre the group covers, or `None` for all replicas.
    #[must_use]
    pub fn datacenter(&self) -> Option<&str> {
        self.datacenter.as_deref()
    }

    /// The acknowledgements required from the group.
    #[must_use]
    pub fn required(&self) -> usize {
        self.required
    }

    /// The replicas in the group, sorted by id.
    #[must_use]
    pub fn replicas(&self) -> &[NodeId] {
        self.system.members()
    }

    /// The group as a quorum system (write quorum = [`required`](Self::required)).
    #[must_use]
    pub fn system(&self) -> &QuorumSystem {
        &self.system
    }
}

/// A consistency level turned into required acknowledgements for one
/// placement and coordinator: every [`AckGroup`] must reach its threshold.
///
/// # Examples
///
/// ```
/// use steadfast_core::NodeId;
/// use steadfast_quorum::TallyOutcome;
/// use steadfast_replica::{ConsistencyLevel, Operation, Placement, Replica};
///
/// let placement = Placement::new((1..=3).map(|i| Replica::new(NodeId::new(i), "dc1", "r")))?;
/// let quorum = ConsistencyLevel::Quorum.requirement(Operation::Read, &placement, "dc1")?;
/// assert_eq!(quorum.required_acks(), 2);
/// assert!(quorum.is_satisfied_by([1, 3].map(NodeId::new)));
///
/// let mut tally = quorum.tally();
/// assert_eq!(tally.ack(NodeId::new(2))?, TallyOutcome::Pending);
/// assert_eq!(tally.ack(NodeId::new(3))?, TallyOutcome::Won);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirement {
    level: ConsistencyLevel,
    operation: Operation,
    groups: Vec<AckGroup>,
    // Every replica of the placement, sorted.
    replicas: Vec<NodeId>,
}

impl Requirement {
    /// The level this requirement came from.
    #[must_use]
    pub fn level(&self) -> ConsistencyLevel {
        self.level
    }

    /// The operation it is for.
    #[must_use]
    pub fn operation(&self) -> Operation {
        self.operation
    }

    /// The groups that must all reach their thresholds.
    #[must_use]
    pub fn groups(&self) -> &[AckGroup] {
        &self.groups
    }

    /// The total of acknowledgements required (Cassandra's `blockFor`).
    #[must_use]
    pub fn required_acks(&self) -> usize {
        self.groups.iter().map(AckGroup::required).sum()
    }

    /// Whether a stored hint counts as an acknowledgement (`ANY` only).
    #[must_use]
    pub fn accepts_hints(&self) -> bool {
        self.level == ConsistencyLevel::Any
    }

    /// Whether acknowledgements from `nodes` satisfy the requirement
    /// (non-replicas and repeats are ignored; hints are not considered).
    ///
    /// ```
    /// use steadfast_core::NodeId;
    /// use steadfast_replica::{ConsistencyLevel, Operation, Placement, Replica};
    ///
    /// let placement = Placement::new((1..=3).map(|i| Replica::new(NodeId::new(i), "dc1", "r")))?;
    /// let all = ConsistencyLevel::All.requirement(Operation::Read, &placement, "dc1")?;
    /// assert!(!all.is_satisfied_by([1, 2, 2].map(NodeId::new)));
    /// assert!(all.is_satisfied_by([3, 2, 1].map(NodeId::new)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn is_satisfied_by(&self, nodes: impl IntoIterator<Item = NodeId> + Clone) -> bool {
        self.groups
            .iter()
            .all(|g| g.system.is_quorum(QuorumKind::Write, nodes.clone()))
    }

    /// Checks before sending that enough replicas are alive to ever meet the
    /// level (Cassandra's `UnavailableException`). `ANY` is always available:
    /// the coordinator can store a hint itself.
    ///
    /// # Errors
    ///
    /// [`ConsistencyError::Unavailable`] naming the first group (and its
    /// datacentre) with too few live replicas.
    ///
    /// ```
    /// use steadfast_core::NodeId;
    /// use steadfast_replica::{ConsistencyError, ConsistencyLevel, Operation, Placement, Replica};
    ///
    /// let placement = Placement::new((1..=3).map(|i| Replica::new(NodeId::new(i), "dc1", "r")))?;
    /// let all = ConsistencyLevel::All.requirement(Operation::Write, &placement, "dc1")?;
    /// let err = all.check_live([1, 2].map(NodeId::new)).unwrap_err();
    /// assert!(matches!(err, ConsistencyError::Unavailable { required: 3, alive: 2, .. }));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn check_live(
        &self,
        live: impl IntoIterator<Item = NodeId> + Clone,
    ) -> Result<(), ConsistencyError> {
        if self.accepts_hints() {
            return Ok(());
        }
        for g in &self.groups {
            let mut alive: Vec<NodeId> = live
                .clone()
                .into_iter()
                .filter(|n| g.system.index_of(*n).is_some())
                .collect();
            alive.sort_unstable();
            alive.dedup();
            if alive.len() < g.required {
                return Err(ConsistencyError::Unavailable {
                    level: self.level,
                    datacenter: g.datacenter.clone(),
                    required: g.required,
                    alive: alive.len(),
                });
            }
        }
        Ok(())
    }

    /// Whether every set of replicas meeting `self` shares a replica with
    /// every set meeting `other` (the generalised `R + W > N`). Both must
    /// come from the same placement.
    ///
    /// With both levels over all replicas that is `R + W > N`. When one side
    /// is per datacentre, its groups are disjoint and the other side must
    /// overlap their smallest union; when both are per datacentre, some one
    /// datacentre must have `r_d + w_d > n_d`. A requirement accepting hints
    /// (`ANY`) overlaps nothing: its write may reach no replica.
    ///
    /// ```
    /// use steadfast_core::NodeId;
    /// use steadfast_replica::{ConsistencyLevel, Operation, Placement, Replica};
    ///
    /// let placement = Placement::new((1..=3).map(|i| Replica::new(NodeId::new(i), "dc1", "r")))?;
    /// let req = |l: ConsistencyLevel, op| l.requirement(op, &placement, "dc1");
    /// let quorum_read = req(ConsistencyLevel::Quorum, Operation::Read)?;
    /// assert!(quorum_read.always_overlaps(&req(ConsistencyLevel::Quorum, Operation::Write)?));
    /// assert!(!quorum_read.always_overlaps(&req(ConsistencyLevel::One, Operation::Write)?));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn always_overlaps(&self, other: &Requirement) -> bool {
        if self.accepts_hints() || other.accepts_hints() {
            return false;
        }
        let global = |r: &Requirement| r.groups.iter().any(|g| g.datacenter.is_none());
        let sum = |r: &Requirement| r.required_acks();
        if global(self) || global(other) {
            // Groups within one requirement are disjoint, so the smallest
            // set meeting one side holds exactly the sum of its thresholds.
            return sum(self) + sum(other) > self.replicas.len();
        }
        self.groups.iter().any(|a| {
            other
                .groups
                .iter()
                .find(|b| b.datacenter == a.datacenter)
                .is_some_and(|b| a.required + b.required > a.system.len())
        })
    }

    /// A fresh tally of responses.
    ///
    /// ```
    /// use steadfast_core::NodeId;
    /// use steadfast_replica::{ConsistencyLevel, Operation, Placement, Replica};
    ///
    /// let placement = Placement::new((1..=3).map(|i| Replica::new(NodeId::new(i), "dc1", "r")))?;
    /// let one = ConsistencyLevel::One.requirement(Operation::Read, &placement, "dc1")?;
    /// let mut tally = one.tally();
    /// tally.fail(NodeId::new(1))?;
    /// assert!(tally.finish().is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn tally(&self) -> AckTally<'_> {
        AckTally {
            requirement: self,
            tallies: self
                .groups
                .iter()
                .map(|g| g.system.tally(QuorumKind::Write))
                .collect(),
            hint_holders: Vec::new(),
            acks: Vec::new(),
            failures: Vec::new(),
            answers: vec![None; self.replicas.len()],
        }
    }
}

/// Responses to one read or write, counted against a [`Requirement`] as
/// they arrive: won, pending or lost after each.
///
/// Responses from replicas outside every group (a remote datacentre under
/// `LOCAL_QUORUM`) are accepted and do not count, as in Cassandra.
///
/// # Examples
///
/// ```
/// use steadfast_core::NodeId;
/// use steadfast_quorum::TallyOutcome;
/// use steadfast_replica::{ConsistencyError, ConsistencyLevel, Operation, Placement, Replica};
///
/// let placement = Placement::new((1..=6).map(|i| {
///     Replica::new(NodeId::new(i), if i <= 3 { "dc1" } else { "dc2" }, "r")
/// }))?;
/// let each = ConsistencyLevel::EachQuorum.requirement(Operation::Write, &placement, "dc1")?;
/// let mut tally = each.tally();
/// tally.ack(NodeId::new(1))?;
/// tally.ack(NodeId::new(2))?; // dc1 has its majority
/// tally.fail(NodeId::new(4))?;
/// assert_eq!(tally.ack(NodeId::new(5))?, TallyOutcome::Pending);
/// // The deadline passes with dc2 still short: a timeout, not a failure.
/// assert!(matches!(tally.finish(), Err(ConsistencyError::Timeout { received: 3, required: 4, .. })));
/// assert_eq!(tally.fail(NodeId::new(6))?, TallyOutcome::Lost);
/// assert!(matches!(tally.finish(), Err(ConsistencyError::Failed { .. })));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct AckTally<'a> {
    requirement: &'a Requirement,
    tallies: Vec<VoteTally<'a>>,
    hint_holders: Vec<NodeId>,
    acks: Vec<NodeId>,
    failures: Vec<NodeId>,
    // Indexed like `Requirement::replicas`.
    answers: Vec<Option<Vote>>,
}

impl AckTally<'_> {
    fn record(&mut self, node: NodeId, vote: Vote) -> Result<TallyOutcome, ConsistencyError> {
        let Ok(index) = self.requirement.replicas.binary_search(&node) else {
            return Err(ConsistencyError::NotAReplica { node });
        };
        // Every replica's first answer stands, counted or not.
        match self.answers[index] {
            Some(previous) if previous != vote => {
                return Err(ConsistencyError::ConflictingResponse { node });
            }
            _ => self.answers[index] = Some(vote),
        }
        let mut counted = false;
        for t in &mut self.tallies {
            match t.record(node, vote) {
                Ok(_) => counted = true,
                Err(TallyError::NotAMember { .. }) => {}
                Err(_) => return Err(ConsistencyError::ConflictingResponse { node }),
            }
        }
        if counted {
            let list = match vote {
                Vote::Yes => &mut self.acks,
                _ => &mut self.failures,
            };
            if let Err(at) = list.binary_search(&node) {
                list.insert(at, node);
            }
        }
        Ok(self.outcome())
    }

    /// Records an acknowledgement from replica `node`.
    ///
    /// # Errors
    ///
    /// [`ConsistencyError::NotAReplica`] when `node` holds no replica;
    /// [`ConsistencyError::ConflictingResponse`] when it already failed.
    pub fn ack(&mut self, node: NodeId) -> Result<TallyOutcome, ConsistencyError> {
        self.record(node, Vote::Yes)
    }

    /// Records a failure (an error response) from replica `node`.
    ///
    /// # Errors
    ///
    /// As [`ack`](Self::ack).
    pub fn fail(&mut self, node: NodeId) -> Result<TallyOutcome, ConsistencyError> {
        self.record(node, Vote::No)
    }

    /// Records that a hint for the write was stored (on any node, replica or
    /// not). Only `ANY` counts hints.
    ///
    /// # Errors
    ///
    /// [`ConsistencyError::HintsNotAccepted`] for every other level.
    ///
    /// ```
    /// use steadfast_core::NodeId;
    /// use steadfast_quorum::TallyOutcome;
    /// use steadfast_replica::{ConsistencyLevel, Operation, Placement, Replica};
    ///
    /// let placement = Placement::new([Replica::new(NodeId::new(1), "dc1", "r")])?;
    /// let any = ConsistencyLevel::Any.requirement(Operation::Write, &placement, "dc1")?;
    /// let mut tally = any.tally();
    /// assert_eq!(tally.fail(NodeId::new(1))?, TallyOutcome::Pending);
    /// assert_eq!(tally.hint(NodeId::new(7))?, TallyOutcome::Won);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn hint(&mut self, holder: NodeId) -> Result<TallyOutcome, ConsistencyError> {
        if !self.requirement.accepts_hints() {
            return Err(ConsistencyError::HintsNotAccepted {
                level: self.requirement.level,
            });
        }
        if let Err(at) = self.hint_holders.binary_search(&holder) {
            self.hint_holders.insert(at, holder);
        }
        Ok(self.outcome())
    }

    /// The outcome so far: won when every group has its acknowledgements,
    /// lost when some group can no longer get them, pending otherwise.
    /// Under `ANY` a stored hint wins and nothing is ever lost (the
    /// coordinator can always store a hint).
    pub fn outcome(&self) -> TallyOutcome {
        if !self.hint_holders.is_empty() {
            return TallyOutcome::Won;
        }
        let mut won = true;
        for t in &self.tallies {
            match t.outcome() {
                TallyOutcome::Lost if !self.requirement.accepts_hints() => {
                    return TallyOutcome::Lost;
                }
                TallyOutcome::Won => {}
                _ => won = false,
            }
        }
        if won {
            TallyOutcome::Won
        } else {
            TallyOutcome::Pending
        }
    }

    /// The counted acknowledgements so far, sorted by node.
    #[must_use]
    pub fn acks(&self) -> &[NodeId] {
        &self.acks
    }

    /// The nodes holding a hint for the write (`ANY` only), sorted; they
    /// hand it over when a replica comes back.
    #[must_use]
    pub fn hint_holders(&self) -> &[NodeId] {
        &self.hint_holders
    }

    /// The counted failures so far, sorted by node.
    #[must_use]
    pub fn failures(&self) -> &[NodeId] {
        &self.failures
    }

    /// The result once the caller stops waiting.
    ///
    /// ```
    /// use steadfast_core::NodeId;
    /// use steadfast_replica::{ConsistencyLevel, Operation, Placement, Replica};
    ///
    /// let placement = Placement::new((1..=3).map(|i| Replica::new(NodeId::new(i), "dc1", "r")))?;
    /// use steadfast_replica::ConsistencyError;
    /// let two = ConsistencyLevel::Two.requirement(Operation::Write, &placement, "dc1")?;
    /// let mut tally = two.tally();
    /// tally.ack(NodeId::new(1))?;
    /// tally.fail(NodeId::new(2))?;
    /// // Replica 3 may still answer: a timeout, not a failure.
    /// assert!(matches!(tally.finish(), Err(ConsistencyError::Timeout { received: 1, required: 2, .. })));
    /// tally.fail(NodeId::new(3))?;
    /// assert!(matches!(tally.finish(), Err(ConsistencyError::Failed { failures: 2, .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConsistencyError::Timeout`] when still pending;
    /// [`ConsistencyError::Failed`] when lost.
    pub fn finish(&self) -> Result<(), ConsistencyError> {
        let (level, operation) = (self.requirement.level, self.requirement.operation);
        let (received, required) = (self.acks.len(), self.requirement.required_acks());
        match self.outcome() {
            TallyOutcome::Won => Ok(()),
            TallyOutcome::Lost => Err(ConsistencyError::Failed {
                level,
                operation,
                received,
                failures: self.failures.len(),
                required,
            }),
            _ => Err(ConsistencyError::Timeout {
                level,
                operation,
                received,
                required,
            }),
        }
    }
}

/// What a pair of read and write levels guarantees on a placement.
///
/// # Examples
///
/// ```
/// use steadfast_core::NodeId;
/// use steadfast_replica::{ConsistencyLevel as Cl, Guarantee, Placement, Replica};
///
/// let two_dcs = Placement::new((1..=6).map(|i| {
///     Replica::new(NodeId::new(i), if i <= 3 { "dc1" } else { "dc2" }, "r")
/// }))?;
/// assert_eq!(Guarantee::of(Cl::Quorum, Cl::Quorum, &two_dcs)?, Guarantee::Strong);
/// // LOCAL_QUORUM both ways is strong only within one datacentre.
/// assert_eq!(
///     Guarantee::of(Cl::LocalQuorum, Cl::LocalQuorum, &two_dcs)?,
///     Guarantee::LocallyStrong { datacenters: vec!["dc1".into(), "dc2".into()] },
/// );
/// assert_eq!(Guarantee::of(Cl::LocalQuorum, Cl::EachQuorum, &two_dcs)?, Guarantee::Strong);
/// assert_eq!(Guarantee::of(Cl::One, Cl::One, &two_dcs)?, Guarantee::Eventual);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum Guarantee {
    /// Every read sees the last acknowledged write, whichever datacentres
    /// coordinate them (`R + W > N`).
    Strong,
    /// A read sees the last acknowledged write only when both are
    /// coordinated in one of these datacentres; across datacentres a read
    /// may miss it.
    LocallyStrong {
        /// The datacentres where reads and writes coordinated there overlap.
        datacenters: Vec<String>,
    },
    /// A read may miss the last acknowledged write; replicas converge later
    /// (read-repair, anti-entropy, hints).
    Eventual,
}

impl Guarantee {
    /// The guarantee of reading at `read` after writing at `write`, over
    /// every choice of coordinator datacentre among those holding replicas.
    ///
    /// # Errors
    ///
    /// As [`ConsistencyLevel::requirement`]: `ANY` as the read level, or a
    /// level the placement cannot meet from some datacentre.
    pub fn of(
        read: ConsistencyLevel,
        write: ConsistencyLevel,
        placement: &Placement,
    ) -> Result<Guarantee, ConsistencyError> {
        let dcs = placement.datacenters();
        let mut reads = Vec::with_capacity(dcs.len());
        let mut writes = Vec::with_capacity(dcs.len());
        for dc in dcs {
            reads.push(read.requirement(Operation::Read, placement, dc)?);
            writes.push(write.requirement(Operation::Write, placement, dc)?);
        }
        if reads
            .iter()
            .all(|r| writes.iter().all(|w| r.always_overlaps(w)))
        {
            return Ok(Guarantee::Strong);
        }
        let local: Vec<String> = dcs
            .iter()
            .zip(reads.iter().zip(&writes))
            .filter(|(_, (r, w))| r.always_overlaps(w))
            .map(|(dc, _)| dc.clone())
            .collect();
        Ok(if local.is_empty() {
            Guarantee::Eventual
        } else {
            Guarantee::LocallyStrong { datacenters: local }
        })
    }

    /// Whether every read sees the last write.
    ///
    /// ```
    /// assert!(steadfast_replica::Guarantee::Strong.is_strong());
    /// ```
    #[must_use]
    pub fn is_strong(&self) -> bool {
        matches!(self, Guarantee::Strong)
    }
}

impl fmt::Display for Guarantee {
    /// `strong`, `strong only within dc1, dc2`, or `eventual`.
    ///
    /// ```
    /// use steadfast_replica::Guarantee;
    /// let local = Guarantee::LocallyStrong { datacenters: vec!["dc1".into(), "dc2".into()] };
    /// assert_eq!(local.to_string(), "strong only within dc1, dc2");
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Guarantee::Strong => f.write_str("strong"),
            Guarantee::LocallyStrong { datacenters } => {
                write!(f, "strong only within {}", datacenters.join(", "))
            }
            Guarantee::Eventual => f.write_str("eventual"),
        }
    }
}

/// Why a consistency level could not be met.
///
/// "Unavailable" (too few replicas alive, or in the placement, to ever meet
/// the level: fail fast, do not send) is told apart from "timeout" (sent,
/// still waiting when the deadline came) and "failed" (enough replicas
/// answered with an error that the level can no longer be met).
///
/// # Examples
///
/// ```
/// use steadfast_core::NodeId;
/// use steadfast_replica::{ConsistencyError, ConsistencyLevel, Operation, Placement, Replica};
///
/// let placement = Placement::new((1..=2).map(|i| Replica::new(NodeId::new(i), "dc1", "r")))?;
/// let err = ConsistencyLevel::Three.requirement(Operation::Read, &placement, "dc1").unwrap_err();
/// assert!(err.is_unavailable());
/// assert!(!err.is_temporary());
/// assert_eq!(err.to_string(), "THREE needs 3 acknowledgements but only 2 replicas exist");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConsistencyError {
    /// The level cannot be used for this operation (`ANY` reads).
    #[error("{level} is not supported for {operation}s")]
    Unsupported {
        /// The level.
        level: ConsistencyLevel,
        /// The operation.
        operation: Operation,
    },
    /// The placement cannot meet the level even with every replica alive.
    #[error(
        "{level} needs {required} acknowledgements but only {replicas} replicas exist{}",
        in_dc(datacenter)
    )]
    Unsatisfiable {
        /// The level.
        level: ConsistencyLevel,
        /// The datacentre that falls short, when the level is per datacentre.
        datacenter: Option<String>,
        /// Acknowledgements required.
        required: usize,
        /// Replicas in the placement (or datacentre).
        replicas: usize,
    },
    /// Too few replicas are alive to meet the level now.
    #[error(
        "{level} needs {required} live replicas{} but {alive} are alive",
        in_dc(datacenter)
    )]
    Unavailable {
        /// The level.
        level: ConsistencyLevel,
        /// The datacentre that falls short, when the level is per datacentre.
        datacenter: Option<String>,
        /// Acknowledgements required.
        required: usize,
        /// Live replicas.
        alive: usize,
    },
    /// The deadline passed before enough replicas acknowledged.
    #[error("{level} {operation} timed out with {received} of {required} acknowledgements")]
    Timeout {
        /// The level.
        level: ConsistencyLevel,
        /// The operation.
        operation: Operation,
        /// Counted acknowledgements.
        received: usize,
        /// Acknowledgements required.
        required: usize,
    },
    /// Too many replicas failed for the level to be met.
    #[error(
        "{level} {operation} failed: {failures} replicas failed, {received} of {required} acknowledged"
    )]
    Failed {
        /// The level.
        level: ConsistencyLevel,
        /// The operation.
        operation: Operation,
        /// Counted acknowledgements.
        received: usize,
        /// Counted failures.
        failures: usize,
        /// Acknowledgements required.
        required: usize,
    },
    /// A response came from a node that holds no replica.
    #[error("node {node} holds no replica of this key")]
    NotAReplica {
        /// The node.
        node: NodeId,
    },
    /// A replica answered both success and failure; the first answer stands.
    #[error("node {node} already answered the other way")]
    ConflictingResponse {
        /// The node.
        node: NodeId,
    },
    /// A hint was offered to a level other than `ANY`.
    #[error("{level} does not count hints; only ANY does")]
    HintsNotAccepted {
        /// The level.
        level: ConsistencyLevel,
    },
}

fn in_dc(datacenter: &Option<String>) -> String {
    datacenter
        .as_ref()
        .map(|dc| format!(" in {dc}"))
        .unwrap_or_default()
}

impl ConsistencyError {
    /// Whether the level could never be met as things stand (too few
    /// replicas placed or alive): fail fast rather than wait.
    #[must_use]
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            ConsistencyError::Unavailable { .. } | ConsistencyError::Unsatisfiable { .. }
        )
    }

    /// Whether retrying later may succeed (unavailable replicas may come
    /// back; a timeout may not repeat).
    #[must_use]
    pub fn is_temporary(&self) -> bool {
        matches!(
            self,
            ConsistencyError::Unavailable { .. } | ConsistencyError::Timeout { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ConsistencyLevel as Cl;

    /// `counts[d]` replicas in datacentre `dc{d+1}`, racks alternating.
    fn placement(counts: &[u64]) -> Placement {
        let mut replicas = Vec::new();
        let mut id = 0;
        for (d, n) in counts.iter().enumerate() {
            for i in 0..*n {
                id += 1;
                let dc = format!("dc{}", d + 1);
                replicas.push(Replica::new(NodeId::new(id), dc, format!("r{}", i % 2)));
            }
        }
        Placement::new(replicas).unwrap()
    }

    fn block_for(level: Cl, p: &Placement, local: &str) -> Result<usize, ConsistencyError> {
        level
            .requirement(Operation::Write, p, local)
            .map(|r| r.required_acks())
    }

    #[test]
    fn block_for_one_datacenter() {
        let p = placement(&[3]);
        let expected = [
            (Cl::Any, 1),
            (Cl::One, 1),
            (Cl::Two, 2),
            (Cl::Three, 3),
            (Cl::Quorum, 2),
            (Cl::LocalOne, 1),
            (Cl::LocalQuorum, 2),
            (Cl::EachQuorum, 2),
            (Cl::All, 3),
        ];
        for (level, acks) in expected {
            assert_eq!(block_for(level, &p, "dc1"), Ok(acks), "{level}");
        }
        let five = placement(&[5]);
        assert_eq!(block_for(Cl::Quorum, &five, "dc1"), Ok(3));
        let four = placement(&[4]);
        assert_eq!(block_for(Cl::Quorum, &four, "dc1"), Ok(3));
        assert_eq!(block_for(Cl::LocalQuorum, &four, "dc1"), Ok(3));
    }

    #[test]
    fn block_for_many_datacenters() {
        // dc1: 3 replicas, dc2: 2, dc3: 1; N = 6.
        let p = placement(&[3, 2, 1]);
        assert_eq!(block_for(Cl::Quorum, &p, "dc1"), Ok(4));
        assert_eq!(block_for(Cl::All, &p, "dc3"), Ok(6));
        assert_eq!(block_for(Cl::Three, &p, "dc3"), Ok(3));
        assert_eq!(block_for(Cl::LocalQuorum, &p, "dc1"), Ok(2));
        assert_eq!(block_for(Cl::LocalQuorum, &p, "dc2"), Ok(2));
        assert_eq!(block_for(Cl::LocalQuorum, &p, "dc3"), Ok(1));
        assert_eq!(block_for(Cl::LocalOne, &p, "dc2"), Ok(1));
        // EACH_QUORUM: 2 + 2 + 1, whatever the coordinator.
        assert_eq!(block_for(Cl::EachQuorum, &p, "dc2"), Ok(5));
        let each = Cl::EachQuorum
            .requirement(Operation::Read, &p, "dc1")
            .unwrap();
        let groups: Vec<_> = each
            .groups()
            .iter()
            .map(|g| (g.datacenter(), g.required(), g.replicas().len()))
            .collect();
        assert_eq!(
            groups,
            [
                (Some("dc1"), 2, 3),
                (Some("dc2"), 2, 2),
                (Some("dc3"), 1, 1)
            ]
        );
        // LOCAL_QUORUM counts only the coordinator's datacentre.
        let local = Cl::LocalQuorum
            .requirement(Operation::Write, &p, "dc2")
            .unwrap();
        assert_eq!(local.groups()[0].replicas(), [4, 5].map(NodeId::new));
    }

    #[test]
    fn unsatisfiable_and_unsupported() {
        let p = placement(&[2, 1]);
        assert_eq!(
            block_for(Cl::Three, &p, "dc1"),
            Ok(3),
            "three replicas across datacentres"
        );
        let small = placement(&[2]);
        assert_eq!(
            block_for(Cl::Three, &small, "dc1"),
            Err(ConsistencyError::Unsatisfiable {
                level: Cl::Three,
                datacenter: None,
                required: 3,
                replicas: 2
            })
        );
        let err = block_for(Cl::LocalQuorum, &p, "dc9").unwrap_err();
        assert_eq!(
            err.to_string(),
            "LOCAL_QUORUM needs 1 acknowledgements but only 0 replicas exist in dc9"
        );
        assert!(err.is_unavailable());
        assert_eq!(
            Cl::Any.requirement(Operation::Read, &p, "dc1"),
            Err(ConsistencyError::Unsupported {
                level: Cl::Any,
                operation: Operation::Read
            })
        );
        assert_eq!(
            Guarantee::of(Cl::Any, Cl::All, &p).unwrap_err().to_string(),
            "ANY is not supported for reads"
        );
    }

    #[test]
    fn unavailable_is_not_a_timeout() {
        let p = placement(&[3, 3]);
        let req = Cl::EachQuorum
            .requirement(Operation::Write, &p, "dc1")
            .unwrap();
        // dc2 has one live replica of three: fail fast.
        let err = req.check_live([1, 2, 3, 4].map(NodeId::new)).unwrap_err();
        assert_eq!(
            err,
            ConsistencyError::Unavailable {
                level: Cl::EachQuorum,
                datacenter: Some("dc2".into()),
                required: 2,
                alive: 1
            }
        );
        assert!(err.is_unavailable() && err.is_temporary());
        assert!(req.check_live([1, 2, 4, 5, 5].map(NodeId::new)).is_ok());
        // Repeats do not count twice.
        assert!(req.check_live([1, 1, 4, 5].map(NodeId::new)).is_err());
        let any = Cl::Any.requirement(Operation::Write, &p, "dc1").unwrap();
        assert!(any.check_live([]).is_ok());

        let mut tally = req.tally();
        assert_eq!(tally.ack(NodeId::new(1)), Ok(TallyOutcome::Pending));
        let timeout = tally.finish().unwrap_err();
        assert!(!timeout.is_unavailable() && timeout.is_temporary());
    }

    #[test]
    fn tally_rules() {
        let p = placement(&[3, 3]);
        let local = Cl::LocalQuorum
            .requirement(Operation::Write, &p, "dc1")
            .unwrap();
        let mut t = local.tally();
        // Remote replicas are accepted but do not count.
        assert_eq!(t.ack(NodeId::new(4)), Ok(TallyOutcome::Pending));
        assert_eq!(t.ack(NodeId::new(5)), Ok(TallyOutcome::Pending));
        assert!(t.acks().is_empty());
        assert_eq!(
            t.ack(NodeId::new(9)),
            Err(ConsistencyError::NotAReplica {
                node: NodeId::new(9)
            })
        );
        assert_eq!(t.fail(NodeId::new(1)), Ok(TallyOutcome::Pending));
        assert_eq!(
            t.ack(NodeId::new(1)),
            Err(ConsistencyError::ConflictingResponse {
                node: NodeId::new(1)
            })
        );
        assert_eq!(
            t.hint(NodeId::new(1)),
            Err(ConsistencyError::HintsNotAccepted {
                level: Cl::LocalQuorum
            })
        );
        assert_eq!(t.ack(NodeId::new(2)), Ok(TallyOutcome::Pending));
        assert_eq!(t.ack(NodeId::new(2)), Ok(TallyOutcome::Pending));
        assert_eq!(t.ack(NodeId::new(3)), Ok(TallyOutcome::Won));
        assert_eq!(t.acks(), [2, 3].map(NodeId::new));
        assert_eq!(t.failures(), [NodeId::new(1)]);
        assert_eq!(t.finish(), Ok(()));

        // ANY never loses: the coordinator can still store a hint.
        let any = Cl::Any.requirement(Operation::Write, &p, "dc1").unwrap();
        let mut t = any.tally();
        for n in 1..=6 {
            assert_eq!(t.fail(NodeId::new(n)), Ok(TallyOutcome::Pending));
        }
        assert!(matches!(t.finish(), Err(ConsistencyError::Timeout { .. })));
        assert_eq!(t.hint(NodeId::new(42)), Ok(TallyOutcome::Won));
        assert_eq!(t.hint_holders(), [NodeId::new(42)]);
        let mut t = any.tally();
        assert_eq!(t.ack(NodeId::new(6)), Ok(TallyOutcome::Won));
    }

    #[test]
    fn guarantees() {
        let one_dc = placement(&[3]);
        let g = |r, w, p: &Placement| Guarantee::of(r, w, p).unwrap();
        assert_eq!(g(Cl::Quorum, Cl::Quorum, &one_dc), Guarantee::Strong);
        assert_eq!(g(Cl::One, Cl::All, &one_dc), Guarantee::Strong);
        assert_eq!(g(Cl::All, Cl::One, &one_dc), Guarantee::Strong);
        assert_eq!(g(Cl::Two, Cl::Two, &one_dc), Guarantee::Strong);
        assert_eq!(g(Cl::One, Cl::Quorum, &one_dc), Guarantee::Eventual);
        assert_eq!(g(Cl::All, Cl::Any, &one_dc), Guarantee::Eventual);
        // One datacentre: local levels are strong everywhere that matters.
        assert_eq!(
            g(Cl::LocalQuorum, Cl::LocalQuorum, &one_dc),
            Guarantee::Strong
        );

        let two = placement(&[3, 3]);
        assert_eq!(g(Cl::Quorum, Cl::Quorum, &two), Guarantee::Strong);
        assert_eq!(g(Cl::EachQuorum, Cl::LocalQuorum, &two), Guarantee::Strong);
        assert_eq!(g(Cl::LocalOne, Cl::EachQuorum, &two), Guarantee::Eventual);
        assert_eq!(g(Cl::LocalQuorum, Cl::Quorum, &two), Guarantee::Eventual);
        assert_eq!(g(Cl::Quorum, Cl::LocalQuorum, &two), Guarantee::Eventual);
        assert_eq!(
            g(Cl::LocalOne, Cl::LocalQuorum, &two),
            Guarantee::Eventual,
            "1 + 2 does not exceed 3"
        );
        // Unequal datacentres: QUORUM writes (4 of 6) always hold 3 of dc1's 5.
        let uneven = placement(&[5, 1]);
        assert_eq!(
            g(Cl::LocalQuorum, Cl::Quorum, &uneven),
            Guarantee::LocallyStrong {
                datacenters: vec!["dc1".into()]
            }
        );
        assert!(!g(Cl::LocalQuorum, Cl::Quorum, &uneven).is_strong());
    }

    #[test]
    fn parse_and_display() {
        for level in ConsistencyLevel::LEVELS {
            assert_eq!(level.name().parse::<Cl>(), Ok(level));
            assert_eq!(level.to_string().to_lowercase().parse::<Cl>(), Ok(level));
        }
        let err = "SERIAL".parse::<Cl>().unwrap_err();
        assert_eq!(err.field(), "consistency_level");
        assert_eq!(Operation::Write.to_string(), "write");
    }
}
