//! Retry through its public API, composed with budgets and a breaker.

use std::time::Duration;

use steadfast_core::{ManualClock, Recorder};
use steadfast_guard::backoff::Backoff;
use steadfast_guard::breaker::{BreakerConfig, BreakerError, CircuitBreaker};
use steadfast_guard::budget::{PercentBudget, RetryBudget, RetryKind};
use steadfast_guard::retry::{GiveUpReason, RetryEvent, RetryPolicy, Verdict};

fn constant(ms: u64) -> Backoff {
    Backoff::constant(Duration::from_millis(ms))
        .build()
        .unwrap()
}

#[test]
fn one_budget_shared_by_clones_bounds_every_policy() {
    let clock = ManualClock::new();
    let config = PercentBudget::builder()
        .percent_can_retry(0.1)
        .min_retries_per_sec(0)
        .build()
        .unwrap();
    let budget = PercentBudget::with_clock(config, clock.clone());
    let events = Recorder::new();
    let policies: Vec<_> = (0..2)
        .map(|_| {
            RetryPolicy::builder(constant(1))
                .max_attempts(50)
                .budget(budget.clone())
                .observer(events.clone())
                .clock(clock.clone())
                .build()
                .unwrap()
        })
        .collect();
    // 100 healthy requests fund 10 retries, whichever policy spends them.
    for i in 0..100 {
        let ok: Result<(), ()> = policies[i % 2].retry_with_sleep(|_| Ok(()), |_| {});
        assert!(ok.is_ok());
    }
    let mut attempts = 0;
    for i in 0..4 {
        let _: Result<(), ()> = policies[i % 2].retry_with_sleep(
            |_| {
                attempts += 1;
                Err(())
            },
            |_| {},
        );
    }
    // 4 first attempts (which also deposit) + the 10 funded retries.
    assert_eq!(attempts, 4 + 10);
    let gave_up = events
        .events()
        .iter()
        .filter(|e| {
            matches!(
                e,
                RetryEvent::GaveUp {
                    reason: GiveUpReason::BudgetExhausted,
                    ..
                }
            )
        })
        .count();
    assert_eq!(gave_up, 4);
    assert_eq!(budget.available_retries(), 0);
    assert!(!budget.try_withdraw(RetryKind::Error));
}

#[test]
fn breaker_rejections_are_retried_after_their_retry_after() {
    let clock = ManualClock::new();
    let breaker = CircuitBreaker::with_clock(
        BreakerConfig::builder()
            .count_window(1)
            .wait_in_open(Duration::from_secs(3))
            .half_open_trials(1)
            .build()
            .unwrap(),
        clock.clone(),
    );
    let _ = breaker.call(|| Err::<(), _>("down"));
    let policy = RetryPolicy::builder(
        Backoff::constant(Duration::from_millis(100))
            .max_delay(Duration::from_secs(10))
            .build()
            .unwrap(),
    )
    .max_attempts(3)
    .classify(|r: &Result<u32, BreakerError<&str>>| match r {
        Err(BreakerError::Rejected(rejected)) => match rejected.retry_after {
            Some(after) => Verdict::RetryAfter(after),
            None => Verdict::Retry(RetryKind::Error),
        },
        Err(_) => Verdict::Retry(RetryKind::Error),
        Ok(_) => Verdict::Return,
    })
    .clock(clock.clone())
    .build()
    .unwrap();
    let mut waits = Vec::new();
    let reply = policy.retry_with_sleep(
        |_| breaker.call(|| Ok(7)),
        |d| {
            waits.push(d);
            clock.advance(d);
        },
    );
    assert_eq!(reply, Ok(7));
    assert_eq!(waits, [Duration::from_secs(3)]);
}

#[cfg(feature = "tokio")]
#[test]
fn async_retry_on_tokio() {
    use steadfast_guard::TokioSleeper;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let policy = RetryPolicy::builder(constant(1)).build().unwrap();
    let out: Result<u32, &str> = runtime.block_on(policy.retry_async(
        |a| async move {
            if a.number() < 2 {
                Err("again")
            } else {
                Ok(a.number())
            }
        },
        &TokioSleeper,
    ));
    assert_eq!(out, Ok(2));
}

/// A clock that counts its reads, to show which paths read it.
#[derive(Clone, Default)]
struct CountingClock {
    inner: ManualClock,
    reads: std::sync::Arc<std::sync::atomic::AtomicU32>,
}

impl steadfast_core::Clock for CountingClock {
    fn now(&self) -> steadfast_core::Timestamp {
        self.reads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner.now()
    }
}

#[test]
fn elapsed_counts_from_the_first_failure_by_default() {
    let clock = CountingClock::default();
    let policy = RetryPolicy::builder(constant(100))
        .max_attempts(3)
        .clock(clock.clone())
        .build()
        .unwrap();
    // A success at once reads no clock.
    let ok: Result<(), ()> = policy.retry_with_sleep(|_| Ok(()), |_| {});
    assert!(ok.is_ok());
    assert_eq!(clock.reads.load(std::sync::atomic::Ordering::Relaxed), 0);
    let mut elapsed = Vec::new();
    let _: Result<(), ()> = policy.retry_with_sleep(
        |a| {
            elapsed.push(a.elapsed());
            clock.inner.advance(Duration::from_millis(30)); // the attempt's own time
            Err(())
        },
        |d| {
            clock.inner.advance(d);
        },
    );
    // From the end of the first attempt to each retry decision: the
    // second attempt's 30 ms and the 100 ms delay before it.
    assert_eq!(
        elapsed,
        [Duration::ZERO, Duration::ZERO, Duration::from_millis(130)]
    );
}

#[test]
fn elapsed_counts_from_the_start_when_the_first_attempt_is_timed() {
    let clock = CountingClock::default();
    let policy = RetryPolicy::builder(constant(100))
        .max_attempts(3)
        .time_first_attempt(true)
        .clock(clock.clone())
        .build()
        .unwrap();
    let ok: Result<(), ()> = policy.retry_with_sleep(|_| Ok(()), |_| {});
    assert!(ok.is_ok());
    assert_eq!(clock.reads.load(std::sync::atomic::Ordering::Relaxed), 1);
    let mut elapsed = Vec::new();
    let _: Result<(), ()> = policy.retry_with_sleep(
        |a| {
            elapsed.push(a.elapsed());
            clock.inner.advance(Duration::from_millis(30));
            Err(())
        },
        |d| {
            clock.inner.advance(d);
        },
    );
    assert_eq!(
        elapsed,
        [
            Duration::ZERO,
            Duration::from_millis(30),
            Duration::from_millis(160)
        ]
    );
    // The same through the async loop.
    let mut elapsed = Vec::new();
    let sleeper = |d: Duration| {
        clock.inner.advance(d);
        std::future::ready(())
    };
    let _: Result<(), ()> = futures::executor::block_on(policy.retry_async(
        |a| {
            elapsed.push(a.elapsed());
            clock.inner.advance(Duration::from_millis(30));
            std::future::ready(Err(()))
        },
        &sleeper,
    ));
    assert_eq!(
        elapsed,
        [
            Duration::ZERO,
            Duration::from_millis(30),
            Duration::from_millis(160)
        ]
    );
}
