//! Quorums, leases and fencing: where split-brain is prevented.
//!
//! **Status: planned.** This crate is reserved in the workspace and holds no
//! code yet. It will contain:
//!
//! - quorum systems (majority, weighted, flexible read/write, joint) and vote tallies;
//! - partition decisions with tie-breakers;
//! - leases under bounded clock drift, renewal, fencing tokens and a fence;
//! - a `LeaseBackend` trait with an in-memory backend, and locks and leader
//!   election on any backend.
#![forbid(unsafe_code)]
