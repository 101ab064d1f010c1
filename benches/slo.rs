//! steadfast-slo: recording events and evaluating burn-rate tiers in O(1),
//! against a brute-force recomputation over the same window in the same run;
//! and the cost of one anomaly-baseline update per sample.

use std::collections::VecDeque;
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use steadfast_core::Timestamp;
use steadfast_slo::anomaly::{double_exponential_smoothing, predict_linear};
use steadfast_slo::{
    AlertPolicy, BurnRateMonitor, DoubleExponentialSmoothing, Ewma, LinearTrend, Objective,
    RollingCounts, RollingMad, StreamingMad,
};

/// Events kept one by one: the window is recomputed by scanning them.
struct BruteForce {
    events: VecDeque<(u64, u64, u64)>,
    keep: u64,
}

impl BruteForce {
    fn record(&mut self, at: u64, good: u64, total: u64) {
        self.events.push_back((at, good, total));
        while self.events.front().is_some_and(|e| e.0 + self.keep <= at) {
            self.events.pop_front();
        }
    }

    fn counts(&self, now: u64, window: u64) -> (u64, u64) {
        self.events
            .iter()
            .rev()
            .take_while(|e| e.0 + window > now)
            .fold((0, 0), |a, e| (a.0 + e.1, a.1 + e.2))
    }
}

const STEP_SECS: u64 = 10;

fn record(c: &mut Criterion) {
    let mut group = c.benchmark_group("slo/record");
    // One hour in 60 buckets; one batch of events every 10 seconds.
    let hour = 3600;
    let mut window = RollingCounts::new(Duration::from_secs(60), 60).unwrap();
    let mut t = 0u64;
    group.bench_function("steadfast RollingCounts record+read (1h)", |b| {
        b.iter(|| {
            t += STEP_SECS;
            let _ = window.record(Timestamp::from_secs(black_box(t)), 99, 100);
            black_box(window.counts())
        })
    });
    let mut brute = BruteForce {
        events: VecDeque::new(),
        keep: hour,
    };
    let mut t = 0u64;
    group.bench_function("brute force record+rescan (1h)", |b| {
        b.iter(|| {
            t += STEP_SECS;
            brute.record(black_box(t), 99, 100);
            black_box(brute.counts(t, hour))
        })
    });
    let days30 = Duration::from_secs(30 * 86_400);
    let policy = AlertPolicy::builder(Objective::new(0.999).unwrap(), days30)
        .build()
        .unwrap();
    let mut monitor = BurnRateMonitor::new(policy);
    let mut t = 0u64;
    group.bench_function("steadfast BurnRateMonitor record (6 windows)", |b| {
        b.iter(|| {
            t += STEP_SECS;
            black_box(monitor.record_at(Timestamp::from_secs(black_box(t)), 99, 100))
        })
    });
    group.finish();
}

fn evaluate_tiers(c: &mut Criterion) {
    let mut group = c.benchmark_group("slo/evaluate_tiers");
    let days30 = Duration::from_secs(30 * 86_400);
    let objective = Objective::new(0.999).unwrap();
    let policy = AlertPolicy::builder(objective, days30).build().unwrap();
    let windows: Vec<(u64, u64, f64)> = policy
        .tiers()
        .iter()
        .map(|t| (t.long().as_secs(), t.short().as_secs(), t.burn_rate()))
        .collect();
    let longest = windows.iter().map(|w| w.0).max().unwrap();
    let mut monitor = BurnRateMonitor::new(policy);
    let mut brute = BruteForce {
        events: VecDeque::new(),
        keep: longest,
    };
    // Fill three days (the longest window) of history, one batch per 10 seconds.
    let mut t = 0u64;
    while t < longest {
        t += STEP_SECS;
        let _ = monitor.record_at(Timestamp::from_secs(t), 999, 1000);
        brute.record(t, 999, 1000);
    }
    let now = t;
    group.bench_function(
        "steadfast BurnRateMonitor evaluate (3 tiers, 6 windows)",
        |b| {
            b.iter(|| {
                black_box(monitor.evaluate_at(Timestamp::from_secs(black_box(now)))[0].firing)
            })
        },
    );
    group.bench_function("brute force rescan of 3d of events", |b| {
        b.iter(|| {
            let burn = |w: u64| {
                let (g, tot) = brute.counts(black_box(now), w);
                (tot - g) as f64 / tot as f64 / objective.error_budget()
            };
            let mut fired = 0u32;
            for &(long, short, rate) in &windows {
                fired += u32::from(burn(long) >= rate && burn(short) >= rate);
            }
            black_box(fired)
        })
    });
    group.finish();
}

fn anomaly_update(c: &mut Criterion) {
    let mut group = c.benchmark_group("slo/anomaly_update");
    let samples: Vec<f64> = (0..4096)
        .map(|i| 100.0 + ((i * 37) % 101) as f64 / 10.0)
        .collect();
    let mut i = 0usize;
    let mut next = || {
        i = (i + 1) % samples.len();
        (i, samples[i])
    };
    let mut ewma = Ewma::new(0.05).unwrap();
    group.bench_function("steadfast Ewma update+z", |b| {
        b.iter(|| {
            let (_, x) = next();
            ewma.update(black_box(x));
            black_box(ewma.z_score(x))
        })
    });
    let mut holt = DoubleExponentialSmoothing::new(0.3, 0.3).unwrap();
    group.bench_function("steadfast DoubleExponentialSmoothing update", |b| {
        b.iter(|| {
            let (_, x) = next();
            holt.update(black_box(x));
            black_box(holt.value())
        })
    });
    group.bench_function(
        "batch double_exponential_smoothing over 64 (recompute)",
        |b| {
            b.iter(|| {
                let (k, _) = next();
                let lo = k.saturating_sub(63);
                black_box(double_exponential_smoothing(
                    &samples[lo..=k.max(lo + 1)],
                    0.3,
                    0.3,
                ))
            })
        },
    );
    let mut trend = LinearTrend::new(64).unwrap();
    group.bench_function("steadfast LinearTrend update+predict (64)", |b| {
        b.iter(|| {
            let (k, x) = next();
            trend.update(k as f64 * 15.0, black_box(x));
            black_box(trend.predict(k as f64 * 15.0, 3600.0))
        })
    });
    let points: Vec<(f64, f64)> = samples
        .iter()
        .enumerate()
        .map(|(k, &v)| (k as f64 * 15.0, v))
        .collect();
    group.bench_function("batch predict_linear over 64 (recompute)", |b| {
        b.iter(|| {
            let (k, _) = next();
            let lo = k.saturating_sub(63);
            let hi = k.max(lo + 1);
            black_box(predict_linear(&points[lo..=hi], points[hi].0, 3600.0))
        })
    });
    let mut mad = RollingMad::new(64).unwrap();
    for &x in &samples[..64] {
        mad.update(x);
    }
    group.bench_function("steadfast RollingMad update+robust_z (64)", |b| {
        b.iter(|| {
            let (_, x) = next();
            mad.update(black_box(x));
            black_box(mad.robust_z(x))
        })
    });
    let mut big = RollingMad::new(4096).unwrap();
    for &x in samples.iter().cycle().take(4096) {
        big.update(x);
    }
    group.bench_function("steadfast RollingMad update+robust_z (4096)", |b| {
        b.iter(|| {
            let (_, x) = next();
            big.update(black_box(x));
            black_box(big.robust_z(x))
        })
    });
    let mut streaming = StreamingMad::new();
    for &x in &samples[..64] {
        streaming.update(x);
    }
    group.bench_function(
        "steadfast StreamingMad update+robust_z (P-square, O(1))",
        |b| {
            b.iter(|| {
                let (_, x) = next();
                streaming.update(black_box(x));
                black_box(streaming.robust_z(x))
            })
        },
    );
    let mut forgetting = StreamingMad::with_forgetting(0.01).unwrap();
    for &x in &samples[..64] {
        forgetting.update(x);
    }
    group.bench_function(
        "steadfast StreamingMad with forgetting update+robust_z",
        |b| {
            b.iter(|| {
                let (_, x) = next();
                forgetting.update(black_box(x));
                black_box(forgetting.robust_z(x))
            })
        },
    );
    group.bench_function("batch robust z over 64 (sort twice)", |b| {
        b.iter(|| {
            let (k, x) = next();
            let lo = k.saturating_sub(63);
            let mut w = samples[lo..=k.max(lo + 1)].to_vec();
            w.sort_unstable_by(f64::total_cmp);
            let median = w[w.len() / 2];
            let mut dev: Vec<f64> = w.iter().map(|v| (v - median).abs()).collect();
            dev.sort_unstable_by(f64::total_cmp);
            let mad = dev[dev.len() / 2];
            black_box(0.6745 * (x - median) / mad)
        })
    });
    group.finish();
}

criterion_group!(benches, record, evaluate_tiers, anomaly_update);
criterion_main!(benches);
