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

use std::sync::Barrier;
use std::time::{Duration, Instant};

/// Per-op time of `threads` threads each running `op(thread, i)` for `i` in
/// `0..iters` on shared state: wall time of the whole run divided by
/// `iters`, for criterion's `iter_custom`.
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// let calls = AtomicU64::new(0);
/// let _ = steadfast_benches::contended(10, 2, &|_, _| {
///     calls.fetch_add(1, Ordering::Relaxed);
/// });
/// assert_eq!(calls.load(Ordering::Relaxed), 20);
/// ```
pub fn contended(iters: u64, threads: usize, op: &(dyn Fn(usize, u64) + Sync)) -> Duration {
    let barrier = Barrier::new(threads + 1);
    std::thread::scope(|s| {
        for thread in 0..threads {
            let barrier = &barrier;
            s.spawn(move || {
                barrier.wait();
                for i in 0..iters {
                    op(thread, i);
                }
                barrier.wait();
            });
        }
        barrier.wait();
        let start = Instant::now();
        barrier.wait();
        start.elapsed()
    })
}
