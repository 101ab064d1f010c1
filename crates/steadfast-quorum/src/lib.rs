//! Quorums, leases and fencing: where split-brain is prevented.
//!
//! # Quick example
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use steadfast_core::{ManualClock, NodeId};
//! use steadfast_quorum::{
//!     Fence, InMemoryBackend, LeasePolicy, Mutex, QuorumKind, QuorumSystem, TallyOutcome, Vote,
//! };
//!
//! // A five-node majority: three yes votes win.
//! let system = QuorumSystem::majority((1..=5).map(NodeId::new))?;
//! let mut tally = system.tally(QuorumKind::Write);
//! for n in 1..=3 {
//!     tally.record(NodeId::new(n), Vote::Yes)?;
//! }
//! assert_eq!(tally.outcome(), TallyOutcome::Won);
//!
//! // A lock whose lease tolerates clocks drifting apart by up to 1%.
//! let clock = ManualClock::new();
//! let backend = Arc::new(InMemoryBackend::with_clock(clock.clone()));
//! let policy = LeasePolicy::builder(Duration::from_secs(10)).drift_bound(1.01).build()?;
//! let lock = Mutex::with_clock(Arc::clone(&backend), "orders", "worker-1", policy, clock.clone());
//! let mut guard = lock.try_lock()?;
//!
//! // Writes carry the fencing token; the resource's fence refuses stale ones.
//! let fence = Fence::new();
//! fence.check(guard.check()?)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Map of the crate
//!
//! | item | what it is |
//! |---|---|
//! | [`QuorumSystem`], [`Member`], [`QuorumKind`] | majority, weighted (witnesses, non-voting members), flexible read/write and joint quorum systems |
//! | [`VoteTally`], [`Vote`], [`TallyOutcome`] | O(1)-per-vote tally: won, pending or lost |
//! | [`QuorumSystem::committed_index`] | the committed index of a replicated log from acknowledged indices |
//! | [`QuorumSystem::partition_decision`], [`PartitionDecision`] | may this side of a partition continue? (majority or tie-breaker) |
//! | [`LeasePolicy`], [`Lease`], [`LeaseStatus`] | leases under bounded clock drift: the `T/κ` rule, renewal point |
//! | [`FencingToken`], [`Fence`], [`StaleToken`] | tokens that grow with each grant, and the resource-side check |
//! | [`LeaseBackend`], [`InMemoryBackend`] | the grantor: trait and the thread-safe in-process backend (with lock-delay) |
//! | [`Mutex`], [`MutexGuard`] | a distributed lock on any backend |
//! | [`Election`], [`Leadership`] | leader election on any backend |
//! | [`LeaseEvent`], [`LossReason`] | the audit log of acquires, renewals, losses, releases, leader changes |
//! | [`BlockingSleeper`], [`ThreadSleeper`] | how [`Mutex::lock`] waits; a `ManualClock` advances instead |
//!
//! # The drift rule
//!
//! Leases are safe only if the holder stops believing before the grantor
//! grants again. With `κ` bounding how much faster one clock runs than
//! another, the holder measures from the moment it **sent** its request and
//! believes only while its elapsed time is below `T/κ − margin`; the grantor
//! grants nothing conflicting until its own clock passes `grant + T`. The
//! [`lease`] module proves it in a paragraph and the crate's tests simulate it:
//! with clocks drifting within `κ` no two holders ever believe at once, and
//! with drift beyond `κ` the same simulation finds an overlap.
//!
//! # Locks do not fence
//!
//! A holder can pause (GC, swapping, a stalled VM) right after checking its
//! lease and write after another holder took over. No lock can prevent that
//! by itself: the resource must check a [`FencingToken`] with a [`Fence`], as
//! the quick example does. `steadfast-etcd` offers the same for writes into
//! etcd itself.
//!
//! # Backends
//!
//! [`InMemoryBackend`] serves one process. `steadfast-etcd` implements
//! [`LeaseBackend`] on a real etcd cluster, so the same [`Mutex`] and
//! [`Election`] work across machines.
#![forbid(unsafe_code)]

mod backend;
mod election;
mod event;
mod fence;
pub mod lease;
mod mutex;
mod partition;
mod sleeper;
mod sync;
mod system;
mod tally;

pub use backend::{
    AcquireOutcome, BackendError, Holder, InMemoryBackend, InMemoryConfig, InMemoryConfigBuilder,
    LeaseBackend, LeaseGrant, RenewOutcome,
};
pub use election::{Election, LeaderChange, Leadership};
pub use event::{LeaseEvent, LossReason};
pub use fence::{Fence, FencingToken, StaleToken};
pub use lease::{Lease, LeasePolicy, LeasePolicyBuilder, LeaseStatus};
pub use mutex::{LockError, Mutex, MutexGuard};
pub use partition::{PartitionDecision, PartitionReason};
pub use sleeper::{BlockingSleeper, ThreadSleeper};
pub use system::{Member, QuorumKind, QuorumSystem, QuorumSystemBuilder};
pub use tally::{TallyError, TallyOutcome, Vote, VoteTally};
