//! Replication consistency: causality tracking, divergence repair and integrity.
//!
//! **Status: planned.** This crate is reserved in the workspace and holds no
//! code yet. It will contain:
//!
//! - version vectors, dotted version vectors and a DVVSet with Riak semantics;
//! - hybrid logical clocks with a bound on remote skew;
//! - conflict resolution, read-repair planning and Merkle anti-entropy;
//! - replication lag tracking, checksummed frames and consistency levels.
#![forbid(unsafe_code)]
