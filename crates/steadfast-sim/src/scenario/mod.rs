//! Scenarios: seeded experiments that measure steadfast's policies under faults.
//!
//! Every scenario has the same shape, so the `steadfast sim` command and the
//! tour can run any of them:
//!
//! - a `…Config` built by a builder whose `build()` validates it and returns a
//!   [`ConfigError`](steadfast_core::ConfigError) naming field, value and rule;
//! - `run(&config, seed) -> …Result`: one deterministic run (same seed, same
//!   result, bit for bit), with a typed result;
//! - `run_many(&config, seeds, threads) -> …Summary` across cores with
//!   [`run_seeds`](crate::run_seeds), aggregated with [`Summary`](crate::Summary);
//! - `…::report(&self) -> ScenarioReport`: the narrative, a summary table,
//!   CSV tables and SVG plots ([`ScenarioReport`](crate::ScenarioReport)).
//!
//! Scenarios are added as the crates they exercise become available; each
//! module's documentation says what it measures and what its numbers mean.
//!
//! | scenario | what it measures |
//! |---|---|
//! | [`anti_entropy`] | replicas diverging in a partition and converging by read-repair, Merkle exchange or both: time and bytes |
//! | [`detector_qos`] | each failure detector's detection time against its mistake rate, per trace kind |
//! | [`lease_safety`] | leader leases with fencing under partitions, pauses and drift: overlapping holders, failover time, stale writes refused |
//! | [`retry_storm`] | clients retrying against a failing server with plain retries, a budget, or a budget and a breaker: amplification, goodput, recovery |
//! | [`slo_burn`] | which burn-rate tiers fire for an outage, when, and how much budget it costs |
//! | [`tour`] | a five-node service through a scripted day of faults, every crate together, narrated as a timeline |

pub mod anti_entropy;
pub mod detector_qos;
pub mod lease_safety;
pub mod retry_storm;
pub mod slo_burn;
pub mod tour;
mod traffic;
