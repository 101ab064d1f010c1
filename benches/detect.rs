//! steadfast-detect: heartbeat ingest, suspicion query and monitor sweeps.
//!
//! The peer is the `phi-accrual-failure-detector` crate (a Pekko port), given
//! the same settings (Pekko's defaults with 1000 samples) and a manual clock
//! so that neither side pays for reading real time. The sweep groups compare
//! one `Monitor::sweep` over n peers with the polling alternative: asking
//! each of n peer detectors `is_available`. Two sweeps are measured: a
//! repeated sweep with nothing changed (every shard's earliest deadline is
//! known and ahead, so shards are skipped), and a sweep that must scan every
//! shard's cached deadlines because the peers holding their minimum left and
//! came back (done, untimed, before each timed sweep).

use std::cell::Cell;
use std::hint::black_box;
use std::rc::Rc;
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use phi_accrual_failure_detector::{Detector, UnsyncDetector};
use steadfast_core::Timestamp;
use steadfast_detect::{
    FailureDetector, Monitor, MonitorConfig, PhiAccrual, PhiAccrualConfig, PhiMode,
};

/// A manual clock for the peer crate: nanoseconds in a shared cell.
#[derive(Clone, Default)]
struct PeerClock(Rc<Cell<u64>>);

impl phi_accrual_failure_detector::Clock for PeerClock {
    type Timestamp = u64;

    fn timestamp(&self) -> u64 {
        self.0.get()
    }

    fn elapsed(before: &u64, after: &u64) -> Duration {
        Duration::from_nanos(after.saturating_sub(*before))
    }
}

const INTERVAL: u64 = 1_000_000_000;
const QUERY_AFTER: u64 = 500_000_000;

fn peer_detector(
    clock: &PeerClock,
    max_sample_size: usize,
) -> phi_accrual_failure_detector::FailureDetector<
    phi_accrual_failure_detector::UnsyncState<PeerClock>,
> {
    UnsyncDetector::builder()
        .max_sample_size(max_sample_size)
        .clock(clock.clone())
        .build()
        .expect("valid peer settings")
}

fn ours(mode: PhiMode) -> PhiAccrual {
    PhiAccrual::new(
        PhiAccrualConfig::builder()
            .mode(mode)
            .build()
            .expect("defaults"),
    )
}

fn heartbeat_and_query(c: &mut Criterion) {
    let mut group = c.benchmark_group("detect/heartbeat_and_query");
    for (name, mode) in [
        ("steadfast PhiAccrual (Akka mode)", PhiMode::AkkaCompatible),
        ("steadfast PhiAccrual (exact mode)", PhiMode::Exact),
    ] {
        let mut fd = ours(mode);
        let mut now = 0u64;
        group.bench_function(name, |b| {
            b.iter(|| {
                now += INTERVAL;
                let _ = fd.heartbeat(black_box(Timestamp::from_nanos(now)));
                black_box(fd.suspicion(black_box(Timestamp::from_nanos(now + QUERY_AFTER))))
            })
        });
    }
    let clock = PeerClock::default();
    let peer = peer_detector(&clock, 1000);
    let mut now = 0u64;
    group.bench_function("phi-accrual-failure-detector 0.1", |b| {
        b.iter(|| {
            now += INTERVAL;
            clock.0.set(black_box(now));
            peer.heartbeat();
            clock.0.set(black_box(now + QUERY_AFTER));
            black_box(peer.phi())
        })
    });
    group.finish();
}

fn heartbeat_only(c: &mut Criterion) {
    let mut group = c.benchmark_group("detect/heartbeat");
    let mut fd = ours(PhiMode::AkkaCompatible);
    let mut now = 0u64;
    group.bench_function("steadfast PhiAccrual", |b| {
        b.iter(|| {
            now += INTERVAL;
            fd.heartbeat(black_box(Timestamp::from_nanos(now)))
        })
    });
    let clock = PeerClock::default();
    let peer = peer_detector(&clock, 1000);
    let mut now = 0u64;
    group.bench_function("phi-accrual-failure-detector 0.1", |b| {
        b.iter(|| {
            now += INTERVAL;
            clock.0.set(black_box(now));
            peer.heartbeat()
        })
    });
    group.finish();
}

fn query_only(c: &mut Criterion) {
    let mut group = c.benchmark_group("detect/query");
    let mut fd = ours(PhiMode::AkkaCompatible);
    for s in 0..100 {
        let _ = fd.heartbeat(Timestamp::from_secs(s));
    }
    // 4.2 s after the last heartbeat: phi is in its interesting range (~2).
    let at = Timestamp::from_millis(99_000 + 4_200);
    group.bench_function("steadfast PhiAccrual::suspicion", |b| {
        b.iter(|| fd.suspicion(black_box(at)))
    });
    group.bench_function("steadfast PhiAccrual::is_available", |b| {
        b.iter(|| fd.is_available(black_box(at)))
    });
    let clock = PeerClock::default();
    let peer = peer_detector(&clock, 1000);
    for s in 0..100u64 {
        clock.0.set(s * INTERVAL);
        peer.heartbeat();
    }
    clock.0.set(at.as_nanos());
    group.bench_function("phi-accrual-failure-detector 0.1 phi", |b| {
        b.iter(|| black_box(&peer).phi())
    });
    group.bench_function("phi-accrual-failure-detector 0.1 is_available", |b| {
        b.iter(|| black_box(&peer).is_available())
    });
    group.finish();
}

fn sweep(c: &mut Criterion) {
    for (label, n) in [("1e3", 1_000u64), ("1e4", 10_000), ("1e5", 100_000)] {
        let mut group = c.benchmark_group(format!("detect/sweep_{label}"));
        if n >= 100_000 {
            group.sample_size(20);
        }
        let monitor = Monitor::new(
            MonitorConfig::builder()
                .pause_threshold(None)
                .build()
                .expect("valid monitor settings"),
            ours(PhiMode::AkkaCompatible),
        );
        for round in 0..3 {
            for peer in 0..n {
                let _ = monitor.heartbeat(peer, Timestamp::from_secs(round));
            }
        }
        // Every peer is healthy: the sweep scans and changes nothing.
        let at = Timestamp::from_millis(2_500);
        group.bench_function(BenchmarkId::new("steadfast Monitor::sweep", n), |b| {
            b.iter(|| black_box(monitor.sweep(black_box(at))))
        });
        // 256 keys cover all 16 shards (a shard is missed with odds ~1e-6);
        // each returns with the same history, so its deadline ties the minimum.
        let churn = |monitor: &Monitor<u64, PhiAccrual>| {
            for peer in 0..256 {
                monitor.remove(&peer);
                for round in 0..3 {
                    let _ = monitor.heartbeat(peer, Timestamp::from_secs(round));
                }
            }
        };
        group.bench_function(
            BenchmarkId::new("steadfast Monitor::sweep (full scan)", n),
            |b| {
                b.iter_batched(
                    || churn(&monitor),
                    |()| black_box(monitor.sweep(black_box(at))),
                    BatchSize::PerIteration,
                )
            },
        );
        let clock = PeerClock::default();
        // The peer allocates its whole window up front: 100 samples (its
        // default) keeps 10^5 of them in memory.
        let peers: Vec<_> = (0..n).map(|_| peer_detector(&clock, 100)).collect();
        for round in 0..3 {
            clock.0.set(round * INTERVAL);
            for p in &peers {
                p.heartbeat();
            }
        }
        clock.0.set(at.as_nanos());
        group.bench_function(
            BenchmarkId::new("phi-accrual-failure-detector 0.1 poll is_available", n),
            |b| b.iter(|| peers.iter().filter(|p| !p.is_available()).count()),
        );
        group.finish();
    }
}

criterion_group!(
    benches,
    heartbeat_and_query,
    heartbeat_only,
    query_only,
    sweep
);
criterion_main!(benches);
