//! A deterministic discrete-event simulator for steadfast policies.
//!
//! **Status: planned.** This crate is reserved in the workspace and holds no
//! code yet. It will contain a virtual-time event engine driving
//! `steadfast_core::ManualClock`, a network model with latency, loss,
//! partitions, crashes, pauses and clock drift, and seeded scenarios that
//! measure detectors, retries, leases, anti-entropy and SLO alerts.
#![forbid(unsafe_code)]
