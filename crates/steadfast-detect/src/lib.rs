//! Heartbeat failure detection: deciding when a peer is dead.
//!
//! **Status: planned.** This crate is reserved in the workspace and holds no
//! code yet. It will contain:
//!
//! - a `FailureDetector` trait with fixed-timeout, Chen, phi accrual (Akka
//!   compatible and exact) and Cassandra-style exponential detectors, each able
//!   to say when it will next cross its threshold;
//! - a `Monitor` for many peers with a pause guard;
//! - flap damping (hysteresis, N-of-M, decaying penalties) and failure classes;
//! - health checks and the standard QoS metrics of failure detectors.
#![forbid(unsafe_code)]
