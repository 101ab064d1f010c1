//! Embeddable resilience libraries, under one name.
//!
//! This facade re-exports the steadfast crates, each as a module behind a
//! feature of the same name; the core types are always available as [`core`].
//! Depend on the facade for convenience, or on the individual crates to keep
//! your dependency tree small.
//!
//! | feature | module | crate |
//! |---|---|---|
//! | (always) | [`core`] | `steadfast-core`: clocks, timestamps, node ids, observers, config errors |
//! | `guard` | `guard` | `steadfast-guard`: backoff, retry, budgets, breaker, limits, hedging |
//! | `detect` | `detect` | `steadfast-detect`: heartbeat failure detectors |
//! | `quorum` | `quorum` | `steadfast-quorum`: quorums, leases, fencing, locks, election |
//! | `replica` | `replica` | `steadfast-replica`: version vectors, HLC, repair, anti-entropy |
//! | `slo` | `slo` | `steadfast-slo`: nines, budgets, burn-rate alerts |
//! | `etcd` | `etcd` | `steadfast-etcd`: the lease backend on etcd |
//! | `sim` | `sim` | `steadfast-sim`: the deterministic simulator |
//! | `tracing` | [`core`]`::TracingObserver` | any component's events as `tracing` events |
//! | `full` | all of the above | |
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use steadfast::core::{Clock, ManualClock, Timestamp};
//!
//! let clock = ManualClock::new();
//! clock.advance(Duration::from_secs(1));
//! assert_eq!(clock.now(), Timestamp::from_secs(1));
//! ```
#![forbid(unsafe_code)]

pub use steadfast_core as core;

#[cfg(feature = "detect")]
pub use steadfast_detect as detect;
#[cfg(feature = "etcd")]
pub use steadfast_etcd as etcd;
#[cfg(feature = "guard")]
pub use steadfast_guard as guard;
#[cfg(feature = "quorum")]
pub use steadfast_quorum as quorum;
#[cfg(feature = "replica")]
pub use steadfast_replica as replica;
#[cfg(feature = "sim")]
pub use steadfast_sim as sim;
#[cfg(feature = "slo")]
pub use steadfast_slo as slo;

/// The code blocks of the workspace README, compiled and run as doctests so
/// the README cannot drift from the API.
#[cfg(all(doctest, feature = "full"))]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
