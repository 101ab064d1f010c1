//! steadfast-core: what one clock read costs.
//!
//! Every algorithm reads its injected `Clock` at most once per call, so the
//! read is the floor of every hot path. `std::time::Instant::now` is the
//! C library's path to the OS clock; `MonotonicClock` reads the same clock
//! through the vDSO directly on Linux, and its `now_coarse` the kernel's
//! tick-resolution clock; `QuantaClock` reads the CPU's TSC instead;
//! `CoarseClock` reads the OS's tick-resolution clock (milliseconds);
//! `ManualClock` is one atomic load.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use steadfast_core::{Clock, CoarseClock, ManualClock, MonotonicClock, QuantaClock, Timestamp};

fn clock_now(c: &mut Criterion) {
    let mut group = c.benchmark_group("core/clock_now");
    let monotonic = MonotonicClock::new();
    group.bench_function("steadfast MonotonicClock", |b| {
        b.iter(|| black_box(&monotonic).now())
    });
    group.bench_function("steadfast MonotonicClock::now_coarse", |b| {
        b.iter(|| black_box(&monotonic).now_coarse())
    });
    group.bench_function("std Instant::now", |b| b.iter(Instant::now));
    let manual = ManualClock::new();
    group.bench_function("steadfast ManualClock", |b| {
        b.iter(|| black_box(&manual).now())
    });
    let dynamic: &dyn Clock = &monotonic;
    group.bench_function("steadfast &dyn Clock (monotonic)", |b| {
        b.iter(|| black_box(dynamic).now())
    });
    let quanta = QuantaClock::new();
    group.bench_function("steadfast QuantaClock (feature quanta)", |b| {
        b.iter(|| black_box(&quanta).now())
    });
    let coarse = CoarseClock::new();
    group.bench_function(
        "steadfast CoarseClock (feature coarse, ms resolution)",
        |b| b.iter(|| black_box(&coarse).now()),
    );
    group.finish();
}

fn timestamp_arith(c: &mut Criterion) {
    let mut group = c.benchmark_group("core/timestamp_arith");
    let t = Timestamp::from_secs(1_000);
    let d = Duration::from_millis(1_500);
    group.bench_function("steadfast saturating add+since", |b| {
        b.iter(|| {
            let later = black_box(t) + black_box(d);
            later.saturating_duration_since(black_box(t))
        })
    });
    let i = Instant::now();
    group.bench_function("std Instant add+since", |b| {
        b.iter(|| {
            let later = black_box(i) + black_box(d);
            later.saturating_duration_since(black_box(i))
        })
    });
    group.finish();
}

criterion_group!(benches, clock_now, timestamp_arith);
criterion_main!(benches);
