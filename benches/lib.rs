//! Criterion benches of the steadfast crates.
//!
//! One bench file per crate (`core.rs`, `guard.rs`, ...). Each criterion group
//! is named `<crate>/<operation>`; inside a group, the implementations under
//! comparison are the function ids, and the first id that starts with
//! `steadfast`, in the order the bench file measures them, is the reference
//! the others are compared to. The `bench-report`
//! binary (see `report.rs`) turns criterion's output into the tables of
//! `BENCHMARKS.md`; `scripts/bench-report.sh` runs both.
#![forbid(unsafe_code)]
