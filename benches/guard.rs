//! steadfast-guard: backoff, retry, retry budgets and the circuit breaker,
//! against backon, recloser, failsafe and tower's `TpsBudget`.
//!
//! Equalised configs: a breaker window of 100 calls and a failure-rate
//! threshold of 0.5 (recloser's defaults; failsafe has no count window, so
//! it runs its default policy and a consecutive-failures policy). Every
//! breaker and budget runs on its default clock, `MonotonicClock`: the open
//! breaker and the budget read it coarsely (`Clock::now_coarse`,
//! `CLOCK_MONOTONIC_COARSE` on Linux). The rows marked "precise reads" run
//! on a wrapper that offers only `Clock::now`, to show what the coarse read
//! saves.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use failsafe::CircuitBreaker as _;
use steadfast_benches::contended;
use steadfast_core::{Clock, MonotonicClock, Timestamp};
use steadfast_guard::backoff::{Backoff, Jitter};
use steadfast_guard::breaker::{BreakerConfig, CircuitBreaker, Outcome};
use steadfast_guard::budget::{PercentBudget, RetryBudget, RetryKind, TokenBucketBudget};
use steadfast_guard::retry::RetryPolicy;
use tower::retry::budget::{Budget as _, TpsBudget};

/// `MonotonicClock` without its coarse reading: every read is precise.
#[derive(Clone, Copy, Default)]
struct PreciseOnly(MonotonicClock);

impl Clock for PreciseOnly {
    #[inline]
    fn now(&self) -> Timestamp {
        self.0.now()
    }
}

fn equalised_breaker() -> CircuitBreaker {
    CircuitBreaker::new(
        BreakerConfig::builder()
            .count_window(100)
            .failure_rate_threshold(0.5)
            .build()
            .expect("valid config"),
    )
}

fn equalised_recloser() -> recloser::Recloser {
    recloser::Recloser::custom()
        .closed_len(100)
        .error_rate(0.5)
        .build()
}

fn backoff_next(c: &mut Criterion) {
    let mut group = c.benchmark_group("guard/backoff_next");
    let mut ours = Backoff::exponential(Duration::from_millis(10))
        .factor(2.0)
        .max_delay(Duration::from_secs(60))
        .build()
        .expect("valid backoff");
    group.bench_function("steadfast exponential", |b| {
        b.iter(|| black_box(&mut ours).next())
    });
    let mut theirs = backon::BackoffBuilder::build(
        backon::ExponentialBuilder::new()
            .with_min_delay(Duration::from_millis(10))
            .with_factor(2.0)
            .with_max_delay(Duration::from_secs(60))
            .without_max_times(),
    );
    group.bench_function("backon 1.6 exponential", |b| {
        b.iter(|| black_box(&mut theirs).next())
    });
    group.finish();
    let mut group = c.benchmark_group("guard/backoff_next_jitter");
    let mut ours_jitter = Backoff::exponential(Duration::from_millis(10))
        .max_delay(Duration::from_secs(60))
        .jitter(Jitter::Full)
        .seed(1)
        .build()
        .expect("valid backoff");
    group.bench_function("steadfast exponential, full jitter", |b| {
        b.iter(|| black_box(&mut ours_jitter).next())
    });
    let mut theirs_jitter = backon::BackoffBuilder::build(
        backon::ExponentialBuilder::new()
            .with_min_delay(Duration::from_millis(10))
            .with_max_delay(Duration::from_secs(60))
            .with_jitter_seed(1)
            .with_jitter()
            .without_max_times(),
    );
    group.bench_function("backon 1.6 exponential, jitter", |b| {
        b.iter(|| black_box(&mut theirs_jitter).next())
    });
    group.finish();
}

#[inline(never)]
fn bare_call(x: u64) -> Result<u64, ()> {
    Ok(black_box(x).wrapping_add(1))
}

fn retry_success(c: &mut Criterion) {
    let mut group = c.benchmark_group("guard/retry_success");
    let policy = RetryPolicy::builder(
        Backoff::exponential(Duration::from_millis(10))
            .build()
            .expect("valid backoff"),
    )
    .build()
    .expect("valid policy");
    group.bench_function("steadfast retry", |b| {
        b.iter(|| policy.retry(|_| bare_call(black_box(7))))
    });
    group.bench_function("bare call (floor)", |b| b.iter(|| bare_call(black_box(7))));
    group.finish();
}

fn breaker_closed_1t(c: &mut Criterion) {
    let mut group = c.benchmark_group("guard/breaker_closed_1t");
    let ours = equalised_breaker();
    group.bench_function("steadfast acquire+record", |b| {
        b.iter(|| {
            let permit = ours.try_acquire().expect("closed");
            let reply = bare_call(black_box(7));
            permit.record(Outcome::of(&reply));
            reply
        })
    });
    let theirs = equalised_recloser();
    group.bench_function("recloser 1.4 call", |b| {
        b.iter(|| theirs.call(|| bare_call(black_box(7))))
    });
    let failsafe_consecutive = failsafe::Config::new()
        .failure_policy(failsafe::failure_policy::consecutive_failures(
            50,
            failsafe::backoff::constant(Duration::from_secs(60)),
        ))
        .build();
    group.bench_function("failsafe 1.3 call, consecutive failures", |b| {
        b.iter(|| failsafe_consecutive.call(|| bare_call(black_box(7))))
    });
    group.finish();

    // The same through each crate's closure API.
    let mut group = c.benchmark_group("guard/breaker_call_1t");
    group.bench_function("steadfast call", |b| {
        b.iter(|| ours.call(|| bare_call(black_box(7))))
    });
    group.bench_function("recloser 1.4 call", |b| {
        b.iter(|| theirs.call(|| bare_call(black_box(7))))
    });
    group.bench_function("bare call (floor)", |b| b.iter(|| bare_call(black_box(7))));
    group.finish();

    // Every crate with its default settings.
    let mut group = c.benchmark_group("guard/breaker_call_defaults");
    let default_ours = CircuitBreaker::new(BreakerConfig::default());
    group.bench_function("steadfast call", |b| {
        b.iter(|| default_ours.call(|| bare_call(black_box(7))))
    });
    let default_recloser = recloser::Recloser::custom().build();
    group.bench_function("recloser 1.4 call", |b| {
        b.iter(|| default_recloser.call(|| bare_call(black_box(7))))
    });
    let failsafe_default = failsafe::Config::new().build();
    group.bench_function("failsafe 1.3 call", |b| {
        b.iter(|| failsafe_default.call(|| bare_call(black_box(7))))
    });
    group.finish();
}

fn breaker_open_reject(c: &mut Criterion) {
    let mut group = c.benchmark_group("guard/breaker_open_reject");
    let ours = CircuitBreaker::new(
        BreakerConfig::builder()
            .count_window(100)
            .failure_rate_threshold(0.5)
            .wait_in_open(Duration::from_secs(3600))
            .build()
            .expect("valid config"),
    );
    for _ in 0..100 {
        let _ = ours.call(|| Err::<(), _>(()));
    }
    assert!(ours.try_acquire().is_err());
    group.bench_function("steadfast try_acquire (rejected)", |b| {
        b.iter(|| black_box(ours.try_acquire().is_err()))
    });
    let ours_precise = CircuitBreaker::with_clock(ours.config().clone(), PreciseOnly::default());
    ours_precise.open();
    assert!(ours_precise.try_acquire().is_err());
    group.bench_function("steadfast try_acquire (rejected), precise reads", |b| {
        b.iter(|| black_box(ours_precise.try_acquire().is_err()))
    });
    let theirs = recloser::Recloser::custom()
        .closed_len(100)
        .error_rate(0.5)
        .open_wait(Duration::from_secs(3600))
        .build();
    for _ in 0..200 {
        let _ = theirs.call(|| Err::<(), _>(()));
    }
    assert!(theirs.call(|| bare_call(1)).is_err());
    group.bench_function("recloser 1.4 call (rejected)", |b| {
        b.iter(|| theirs.call(|| bare_call(black_box(7))).is_err())
    });
    let failsafe_open = failsafe::Config::new()
        .failure_policy(failsafe::failure_policy::consecutive_failures(
            1,
            failsafe::backoff::constant(Duration::from_secs(3600)),
        ))
        .build();
    let _ = failsafe_open.call(|| Err::<(), _>(()));
    assert!(!failsafe_open.is_call_permitted());
    group.bench_function("failsafe 1.3 call (rejected)", |b| {
        b.iter(|| failsafe_open.call(|| bare_call(black_box(7))).is_err())
    });
    group.finish();
}

fn breaker_closed_2t(c: &mut Criterion) {
    let mut group = c.benchmark_group("guard/breaker_closed_2t");
    let ours = equalised_breaker();
    let op = |_: usize, _: u64| {
        let permit = ours.try_acquire().expect("closed");
        black_box(&permit);
        permit.success();
    };
    group.bench_function("steadfast acquire+record, 1 thread", |b| {
        b.iter_custom(|iters| contended(iters, 1, &op))
    });
    group.bench_function("steadfast acquire+record, 2 threads", |b| {
        b.iter_custom(|iters| contended(iters, 2, &op))
    });
    let theirs = equalised_recloser();
    let theirs_op = |_: usize, _: u64| {
        let _ = black_box(theirs.call(|| bare_call(black_box(7))));
    };
    group.bench_function("recloser 1.4 call, 1 thread", |b| {
        b.iter_custom(|iters| contended(iters, 1, &theirs_op))
    });
    group.bench_function("recloser 1.4 call, 2 threads", |b| {
        b.iter_custom(|iters| contended(iters, 2, &theirs_op))
    });
    let failsafe = failsafe::Config::new().build();
    let failsafe_op = |_: usize, _: u64| {
        let _ = black_box(failsafe.call(|| bare_call(black_box(7))));
    };
    group.bench_function("failsafe 1.3 call, 1 thread", |b| {
        b.iter_custom(|iters| contended(iters, 1, &failsafe_op))
    });
    group.bench_function("failsafe 1.3 call, 2 threads", |b| {
        b.iter_custom(|iters| contended(iters, 2, &failsafe_op))
    });
    group.finish();
}

fn budget(c: &mut Criterion) {
    let mut group = c.benchmark_group("guard/budget_deposit_withdraw");
    let ours = PercentBudget::new(
        PercentBudget::builder()
            .ttl(Duration::from_secs(10))
            .min_retries_per_sec(10)
            .percent_can_retry(1.0)
            .build()
            .expect("valid config"),
    );
    group.bench_function("steadfast PercentBudget", |b| {
        b.iter(|| {
            ours.deposit();
            black_box(ours.try_withdraw(RetryKind::Error))
        })
    });
    let ours_precise = PercentBudget::with_clock(
        PercentBudget::builder()
            .ttl(Duration::from_secs(10))
            .min_retries_per_sec(10)
            .percent_can_retry(1.0)
            .build()
            .expect("valid config"),
        PreciseOnly::default(),
    );
    group.bench_function("steadfast PercentBudget, precise reads", |b| {
        b.iter(|| {
            ours_precise.deposit();
            black_box(ours_precise.try_withdraw(RetryKind::Error))
        })
    });
    let theirs = TpsBudget::new(Duration::from_secs(10), 10, 1.0);
    group.bench_function("tower 0.5 TpsBudget", |b| {
        b.iter(|| {
            theirs.deposit();
            black_box(theirs.withdraw())
        })
    });
    group.finish();
    let mut group = c.benchmark_group("guard/budget_deposit_withdraw_defaults");
    let ours_default = PercentBudget::new(PercentBudget::builder().build().expect("valid"));
    group.bench_function("steadfast PercentBudget", |b| {
        b.iter(|| {
            ours_default.deposit();
            black_box(ours_default.try_withdraw(RetryKind::Error))
        })
    });
    let theirs_default = TpsBudget::default();
    group.bench_function("tower 0.5 TpsBudget", |b| {
        b.iter(|| {
            theirs_default.deposit();
            black_box(theirs_default.withdraw())
        })
    });
    group.finish();
    let mut group = c.benchmark_group("guard/budget_token_bucket");
    let aws = TokenBucketBudget::aws();
    group.bench_function("steadfast TokenBucketBudget::aws withdraw+refund", |b| {
        b.iter(|| {
            let granted = aws.try_withdraw(RetryKind::Error);
            aws.record_success(Some(RetryKind::Error));
            black_box(granted)
        })
    });
    group.finish();
}

criterion_group!(
    benches,
    backoff_next,
    retry_success,
    breaker_closed_1t,
    breaker_open_reject,
    breaker_closed_2t,
    budget
);
criterion_main!(benches);
