//! Leases, locks and leader election from `steadfast-quorum`, on a real etcd cluster.
//!
//! **Status: planned.** This crate is reserved in the workspace and holds no
//! code yet. It will implement the `LeaseBackend` of `steadfast-quorum` on
//! etcd, for users who outgrow one process.
#![forbid(unsafe_code)]
