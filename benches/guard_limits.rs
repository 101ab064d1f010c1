//! steadfast-guard limits: GCRA rate limiting (direct and keyed), bulkhead
//! admission, adaptive limit updates and hedging bookkeeping.
//!
//! Peers in the same run: governor 0.10 (direct and keyed GCRA) and
//! `tokio::sync::Semaphore::try_acquire` + drop. Every check is on the
//! success path (rates high enough that nothing is rejected), which is what
//! a healthy service pays per call.

use std::hint::black_box;
use std::num::{NonZeroU32, NonZeroUsize};
use std::pin::pin;
use std::task::{Context, Waker};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use steadfast_benches::contended;
use steadfast_core::{ManualClock, MonotonicClock, QuantaClock, Timestamp};
use steadfast_guard::adaptive::{
    AdaptiveLimiter, Aimd, AimdConfig, EnvoyGradient, EnvoyGradientConfig, Gradient2,
    Gradient2Config, LimitAlgorithm, Sample, Vegas, VegasConfig,
};
use steadfast_guard::bulkhead::{Bulkhead, BulkheadConfig};
use steadfast_guard::hedge::{HedgeConfig, HedgeDelay, Hedger};
use steadfast_guard::rate_limit::{KeyedRateLimiter, Quota, RateLimiter};

const RATE: u32 = 1_000_000_000;

fn gcra_check(c: &mut Criterion) {
    let mut group = c.benchmark_group("guard/gcra_check");
    let quota = Quota::per_second(RATE).unwrap();
    let ours = RateLimiter::new(quota);
    group.bench_function("steadfast check (MonotonicClock)", |b| {
        b.iter(|| black_box(&ours).check())
    });
    let theirs =
        governor::RateLimiter::direct(governor::Quota::per_second(NonZeroU32::new(RATE).unwrap()));
    group.bench_function("governor 0.10 check (default quanta clock)", |b| {
        b.iter(|| black_box(&theirs).check())
    });
    // Clock for clock: governor's default clock reads the TSC through quanta.
    let ours_quanta = RateLimiter::with_clock(quota, QuantaClock::new());
    group.bench_function("steadfast check (QuantaClock)", |b| {
        b.iter(|| black_box(&ours_quanta).check())
    });
    // Same work without the cost of reading a real clock.
    let ours_manual = RateLimiter::with_clock(quota, ManualClock::new());
    group.bench_function("steadfast check (ManualClock)", |b| {
        b.iter(|| black_box(&ours_manual).check())
    });
    let theirs_fake = governor::RateLimiter::direct_with_clock(
        governor::Quota::per_second(NonZeroU32::new(RATE).unwrap()),
        governor::clock::FakeRelativeClock::default(),
    );
    group.bench_function("governor 0.10 check (FakeRelativeClock)", |b| {
        b.iter(|| black_box(&theirs_fake).check())
    });
    group.finish();
}

/// A check that also reports the capacity left (for `RateLimit-*`
/// headers): ours returns it from every admission, governor's through its
/// `StateInformationMiddleware`.
fn gcra_check_headroom(c: &mut Criterion) {
    let mut group = c.benchmark_group("guard/gcra_check_headroom");
    let ours = RateLimiter::new(Quota::per_second(RATE).unwrap());
    group.bench_function("steadfast check_n_headroom(1) + remaining", |b| {
        b.iter(|| {
            black_box(&ours)
                .check_n_headroom(1)
                .map(|left| left.remaining())
        })
    });
    let theirs =
        governor::RateLimiter::direct(governor::Quota::per_second(NonZeroU32::new(RATE).unwrap()))
            .with_middleware::<governor::middleware::StateInformationMiddleware>();
    group.bench_function(
        "governor 0.10 check + remaining_burst_capacity (StateInformationMiddleware)",
        |b| {
            b.iter(|| {
                black_box(&theirs)
                    .check()
                    .map(|state| state.remaining_burst_capacity())
            })
        },
    );
    group.finish();
}

/// Keys each keyed check cycles through.
const KEYS: u64 = 1_000;

/// Governor's keyed limiter in the state a keyed `check_key` meets.
type GovernorKeyed = governor::DefaultKeyedRateLimiter<u64>;

/// Governor's keyed limiter on aHash, the hasher ours uses by default.
type GovernorKeyedAhash = governor::RateLimiter<
    u64,
    governor::state::keyed::DashMapStateStore<u64, ahash::RandomState>,
    governor::clock::DefaultClock,
    governor::middleware::NoOpMiddleware<
        <governor::clock::DefaultClock as governor::clock::Clock>::Instant,
    >,
>;

/// Our keyed limiter and governor's on their default clocks, each with
/// `KEYS` keys learned. Each limiter learns its keys in a loop of its own, so
/// that no two limiters' allocations interleave.
fn keyed_limiters() -> (KeyedRateLimiter<u64>, GovernorKeyed) {
    let ours = KeyedRateLimiter::new(
        Quota::per_second(RATE).unwrap(),
        NonZeroUsize::new(100_000).unwrap(),
    );
    let theirs =
        governor::RateLimiter::keyed(governor::Quota::per_second(NonZeroU32::new(RATE).unwrap()));
    for k in 0..KEYS {
        let _ = ours.check(&k);
    }
    for k in 0..KEYS {
        let _ = theirs.check_key(&k);
    }
    (ours, theirs)
}

fn gcra_keyed_check(c: &mut Criterion) {
    let mut group = c.benchmark_group("guard/gcra_keyed_check");
    let (ours, theirs) = keyed_limiters();
    let mut i = 0u64;
    group.bench_function("steadfast check 1000 keys (MonotonicClock)", |b| {
        b.iter(|| {
            i = (i + 1) % KEYS;
            black_box(&ours).check(black_box(&i))
        })
    });
    let mut j = 0u64;
    group.bench_function("governor 0.10 check_key 1000 keys (quanta clock)", |b| {
        b.iter(|| {
            j = (j + 1) % KEYS;
            black_box(&theirs).check_key(black_box(&j))
        })
    });
    // Hasher for hasher: ours on std's SipHash-1-3 (governor's default),
    // governor on aHash (ours).
    let ours_sip = KeyedRateLimiter::with_hasher(
        Quota::per_second(RATE).unwrap(),
        NonZeroUsize::new(100_000).unwrap(),
        MonotonicClock::new(),
        std::collections::hash_map::RandomState::new(),
    );
    for k in 0..KEYS {
        let _ = ours_sip.check(&k);
    }
    group.bench_function("steadfast check 1000 keys (SipHash, MonotonicClock)", |b| {
        b.iter(|| {
            i = (i + 1) % KEYS;
            black_box(&ours_sip).check(black_box(&i))
        })
    });
    let theirs_ahash: GovernorKeyedAhash = governor::RateLimiter::new(
        governor::Quota::per_second(NonZeroU32::new(RATE).unwrap()),
        governor::state::keyed::DashMapStateStore::<u64, ahash::RandomState>::with_hasher(
            ahash::RandomState::new(),
        ),
        governor::clock::DefaultClock::default(),
    );
    for k in 0..KEYS {
        let _ = theirs_ahash.check_key(&k);
    }
    group.bench_function(
        "governor 0.10 check_key 1000 keys (aHash, quanta clock)",
        |b| {
            b.iter(|| {
                j = (j + 1) % KEYS;
                black_box(&theirs_ahash).check_key(black_box(&j))
            })
        },
    );
    // Clock for clock with governor's default (TSC through quanta).
    let ours_quanta = KeyedRateLimiter::with_clock(
        Quota::per_second(RATE).unwrap(),
        NonZeroUsize::new(100_000).unwrap(),
        QuantaClock::new(),
    );
    for k in 0..KEYS {
        let _ = ours_quanta.check(&k);
    }
    group.bench_function("steadfast check 1000 keys (QuantaClock)", |b| {
        b.iter(|| {
            i = (i + 1) % KEYS;
            black_box(&ours_quanta).check(black_box(&i))
        })
    });
    // Same work without the cost of reading a real clock.
    let ours_manual = KeyedRateLimiter::with_clock(
        Quota::per_second(RATE).unwrap(),
        NonZeroUsize::new(100_000).unwrap(),
        ManualClock::new(),
    );
    let theirs_fake = governor::RateLimiter::dashmap_with_clock(
        governor::Quota::per_second(NonZeroU32::new(RATE).unwrap()),
        governor::clock::FakeRelativeClock::default(),
    );
    for k in 0..KEYS {
        let _ = ours_manual.check(&k);
    }
    for k in 0..KEYS {
        let _ = theirs_fake.check_key(&k);
    }
    group.bench_function("steadfast check 1000 keys (ManualClock)", |b| {
        b.iter(|| {
            i = (i + 1) % KEYS;
            black_box(&ours_manual).check(black_box(&i))
        })
    });
    group.bench_function(
        "governor 0.10 check_key 1000 keys (FakeRelativeClock)",
        |b| {
            b.iter(|| {
                j = (j + 1) % KEYS;
                black_box(&theirs_fake).check_key(black_box(&j))
            })
        },
    );
    group.finish();
}

/// The keyed check from one and from two threads, each thread cycling
/// through the same 1000 keys from its own starting point: a shared limiter
/// in a server is checked from every core at once.
fn gcra_keyed_2t(c: &mut Criterion) {
    let mut group = c.benchmark_group("guard/gcra_keyed_2t");
    let (ours, theirs) = keyed_limiters();
    let key = |thread: usize, i: u64| (i + thread as u64 * KEYS / 2) % KEYS;
    let ours_op = |thread: usize, i: u64| {
        let _ = black_box(ours.check(black_box(&key(thread, i))));
    };
    let theirs_op = |thread: usize, i: u64| {
        let _ = black_box(theirs.check_key(black_box(&key(thread, i))));
    };
    group.bench_function("steadfast check 1000 keys, 1 thread", |b| {
        b.iter_custom(|iters| contended(iters, 1, &ours_op))
    });
    group.bench_function("steadfast check 1000 keys, 2 threads", |b| {
        b.iter_custom(|iters| contended(iters, 2, &ours_op))
    });
    group.bench_function("governor 0.10 check_key 1000 keys, 1 thread", |b| {
        b.iter_custom(|iters| contended(iters, 1, &theirs_op))
    });
    group.bench_function("governor 0.10 check_key 1000 keys, 2 threads", |b| {
        b.iter_custom(|iters| contended(iters, 2, &theirs_op))
    });
    group.finish();
}

fn bulkhead_acquire_release(c: &mut Criterion) {
    let mut group = c.benchmark_group("guard/bulkhead_acquire_release");
    let ours = Bulkhead::new(
        BulkheadConfig::builder()
            .max_concurrent(64)
            .build()
            .unwrap(),
    );
    group.bench_function("steadfast try_acquire + drop", |b| {
        b.iter(|| drop(black_box(&ours).try_acquire()))
    });
    group.bench_function("steadfast try_acquire_owned + drop", |b| {
        b.iter(|| drop(black_box(&ours).try_acquire_owned()))
    });
    let theirs = tokio::sync::Semaphore::new(64);
    group.bench_function("tokio Semaphore::try_acquire + drop", |b| {
        b.iter(|| drop(black_box(&theirs).try_acquire()))
    });
    let theirs_owned = std::sync::Arc::new(tokio::sync::Semaphore::new(64));
    group.bench_function("tokio Semaphore::try_acquire_owned + drop", |b| {
        b.iter(|| drop(black_box(&theirs_owned).clone().try_acquire_owned()))
    });
    group.finish();
}

fn adaptive_update(c: &mut Criterion) {
    let mut group = c.benchmark_group("guard/adaptive_update");
    let rtts: Vec<Duration> = (0..64u64)
        .map(|i| Duration::from_micros(900 + (i * 37) % 400))
        .collect();
    let mut aimd = Aimd::new(AimdConfig::builder().build().unwrap());
    let mut k = 0usize;
    group.bench_function("steadfast AIMD update", |b| {
        b.iter(|| {
            k = (k + 1) % rtts.len();
            aimd.update(Timestamp::ZERO, black_box(Sample::new(rtts[k], 30, k == 0)))
        })
    });
    let mut vegas = Vegas::new(VegasConfig::builder().build().unwrap());
    group.bench_function("steadfast Vegas update", |b| {
        b.iter(|| {
            k = (k + 1) % rtts.len();
            vegas.update(Timestamp::ZERO, black_box(Sample::new(rtts[k], 30, false)))
        })
    });
    let mut gradient2 = Gradient2::new(Gradient2Config::builder().build().unwrap());
    group.bench_function("steadfast Gradient2 update", |b| {
        b.iter(|| {
            k = (k + 1) % rtts.len();
            gradient2.update(Timestamp::ZERO, black_box(Sample::new(rtts[k], 30, false)))
        })
    });
    let mut envoy = EnvoyGradient::new(EnvoyGradientConfig::builder().build().unwrap());
    let mut now = Timestamp::ZERO;
    group.bench_function("steadfast Envoy gradient update (window of ~100)", |b| {
        b.iter(|| {
            k = (k + 1) % rtts.len();
            // One millisecond per sample: windows of 100 samples every 100 ms.
            now += Duration::from_millis(1);
            envoy.update(now, black_box(Sample::new(rtts[k], 30, false)))
        })
    });
    let limiter = AdaptiveLimiter::with_clock(
        Aimd::new(AimdConfig::builder().initial_limit(100).build().unwrap()),
        ManualClock::new(),
    );
    group.bench_function("steadfast AdaptiveLimiter acquire + success (AIMD)", |b| {
        b.iter(|| {
            if let Ok(token) = black_box(&limiter).try_acquire() {
                token.success();
            }
        })
    });
    group.finish();
}

fn hedge_bookkeeping(c: &mut Criterion) {
    let mut group = c.benchmark_group("guard/hedge_bookkeeping");
    let hedger = Hedger::new(
        HedgeConfig::builder()
            .delay(HedgeDelay::Percentile {
                quantile: 0.95,
                until_warm: Duration::from_millis(10),
            })
            .build()
            .unwrap(),
    );
    let mut i = 0u64;
    group.bench_function("steadfast record latency + read hedge delay", |b| {
        b.iter(|| {
            i = i.wrapping_add(7919);
            hedger
                .estimator()
                .record(Duration::from_micros(500 + i % 1_000));
            black_box(&hedger).hedge_delay()
        })
    });
    let never = |_d: Duration| std::future::pending::<()>();
    let mut cx = Context::from_waker(Waker::noop());
    group.bench_function("steadfast run, primary answers at once", |b| {
        b.iter(|| {
            let call = pin!(hedger.run(&never, |a| std::future::ready(Ok::<usize, ()>(a))));
            black_box(call.poll(&mut cx))
        })
    });
    group.finish();
}

criterion_group!(
    benches,
    gcra_check,
    gcra_check_headroom,
    gcra_keyed_check,
    gcra_keyed_2t,
    bulkhead_acquire_release,
    adaptive_update,
    hedge_bookkeeping
);
criterion_main!(benches);
