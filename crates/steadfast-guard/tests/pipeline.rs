//! The pipeline's stages, their order and their errors, on virtual time.

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use steadfast_core::{Clock, LaggingClock, ManualClock, Timestamp};
use steadfast_guard::Sleeper;
use steadfast_guard::backoff::Backoff;
use steadfast_guard::breaker::{BreakerConfig, BreakerState, CircuitBreaker};
use steadfast_guard::budget::{RetryBudget, RetryKind, Unlimited};
use steadfast_guard::bulkhead::{Bulkhead, BulkheadConfig};
use steadfast_guard::hedge::{HedgeConfig, HedgeDelay, Hedger};
use steadfast_guard::pipeline::{Pipeline, PipelineError, Stage};
use steadfast_guard::rate_limit::{Quota, RateLimiter};
use steadfast_guard::retry::Verdict;
use steadfast_guard::shed::{LoadShedder, Priority, ShedConfig};

/// Virtual time: every sleep is registered when created, and the earliest
/// pending sleep completes by moving the shared clock to its deadline once
/// it has been the earliest for a whole pass of polling (so that timers
/// other futures start in the same pass, like a lazily started timeout,
/// are taken into account, as a runtime's paused clock only moves when
/// every task is idle). Runs on a single-task executor; nothing waits on
/// the real clock.
#[derive(Clone)]
struct VirtualTime {
    clock: ManualClock,
    timers: Arc<Mutex<BTreeSet<(u64, u64)>>>,
    ids: Arc<AtomicU64>,
}

impl VirtualTime {
    fn new(clock: ManualClock) -> VirtualTime {
        VirtualTime {
            clock,
            timers: Arc::default(),
            ids: Arc::default(),
        }
    }
}

struct VirtualSleep {
    key: (u64, u64),
    time: VirtualTime,
    earliest_last_poll: bool,
}

impl Future for VirtualSleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let time = self.time.clone();
        let mut timers = time.timers.lock().unwrap();
        let now = time.clock.now().as_nanos();
        if now >= self.key.0 {
            timers.remove(&self.key);
            return Poll::Ready(());
        }
        let earliest = timers.first() == Some(&self.key);
        if earliest && self.earliest_last_poll {
            time.clock.advance_to(Timestamp::from_nanos(self.key.0));
            timers.remove(&self.key);
            return Poll::Ready(());
        }
        drop(timers);
        self.earliest_last_poll = earliest;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl Drop for VirtualSleep {
    fn drop(&mut self) {
        self.time.timers.lock().unwrap().remove(&self.key);
    }
}

impl Sleeper for VirtualTime {
    type Sleep = VirtualSleep;
    fn sleep(&self, duration: Duration) -> VirtualSleep {
        let deadline = self
            .clock
            .now()
            .as_nanos()
            .saturating_add(duration.as_nanos() as u64);
        let key = (deadline, self.ids.fetch_add(1, Ordering::Relaxed));
        self.timers.lock().unwrap().insert(key);
        VirtualSleep {
            key,
            time: self.clone(),
            earliest_last_poll: false,
        }
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn constant(delay: Duration) -> Backoff {
    Backoff::constant(delay).build().unwrap()
}

fn breaker(clock: &ManualClock, window: u32) -> CircuitBreaker<ManualClock> {
    breaker_waiting(clock, window, Duration::from_secs(30))
}

/// Opens at half failures of a full `window`, for `wait`; one trial.
fn breaker_waiting(
    clock: &ManualClock,
    window: u32,
    wait: Duration,
) -> CircuitBreaker<ManualClock> {
    let config = BreakerConfig::builder()
        .count_window(window)
        .minimum_calls(window)
        .failure_rate_threshold(0.5)
        .wait_in_open(wait)
        .half_open_trials(1)
        .build()
        .unwrap();
    CircuitBreaker::with_clock(config, clock.clone())
}

/// Retries on a constant 10 ms backoff, `attempts` in all, around
/// `breaker`.
fn retrying_through_breaker(
    clock: &ManualClock,
    attempts: u32,
    breaker: CircuitBreaker<ManualClock>,
) -> Pipeline<ManualClock> {
    Pipeline::builder_with_clock(clock.clone())
        .retry(constant(ms(10)), attempts, Unlimited)
        .breaker(breaker)
        .build()
        .unwrap()
}

fn block_on<F: Future>(f: F) -> F::Output {
    futures::executor::block_on(f)
}

/// An attempt that takes a minute of virtual time (longer than any timeout
/// here), then succeeds.
fn hang(time: &VirtualTime) -> impl Future<Output = Result<(), ()>> + use<> {
    let slow = time.sleep(Duration::from_secs(60));
    async move {
        slow.await;
        Ok(())
    }
}

#[test]
fn the_shedder_turns_calls_away_before_anything_else() {
    let clock = ManualClock::new();
    let shedder = LoadShedder::new(ShedConfig::builder().capacity(2).build().unwrap());
    let held: Vec<_> =
        std::iter::from_fn(|| shedder.try_admit_owned(Priority::Critical).ok()).collect();
    assert!(!held.is_empty());
    let pipeline = Pipeline::builder_with_clock(clock.clone())
        .shed(shedder)
        .breaker(breaker(&clock, 10))
        .build()
        .unwrap();
    let calls = AtomicU32::new(0);
    let out: Result<(), PipelineError<()>> =
        block_on(pipeline.run(&VirtualTime::new(clock), || {
            calls.fetch_add(1, Ordering::Relaxed);
            async { Ok(()) }
        }));
    let err = out.unwrap_err();
    assert!(matches!(err, PipelineError::Shed(_)), "{err:?}");
    assert_eq!(err.stage(), Stage::Shed);
    assert!(err.is_rejection() && err.is_temporary());
    assert_eq!(calls.load(Ordering::Relaxed), 0);
    assert_eq!(pipeline.breaker().unwrap().metrics().figures.calls, 0);
}

#[test]
fn a_rate_limited_call_never_reaches_the_breaker() {
    let clock = ManualClock::new();
    let pipeline = Pipeline::builder_with_clock(clock.clone())
        .rate_limit(RateLimiter::with_clock(
            Quota::per_second(1).unwrap(),
            clock.clone(),
        ))
        .breaker(breaker(&clock, 10))
        .build()
        .unwrap();
    let time = VirtualTime::new(clock.clone());
    let calls = AtomicU32::new(0);
    let op = || {
        calls.fetch_add(1, Ordering::Relaxed);
        async { Err::<(), _>("down") }
    };
    assert_eq!(
        block_on(pipeline.run(&time, op)),
        Err(PipelineError::Inner("down"))
    );
    let err = block_on(pipeline.run(&time, op)).unwrap_err();
    assert_eq!(err.stage(), Stage::RateLimit);
    assert_eq!(err.retry_after(), Some(Duration::from_secs(1)));
    assert_eq!(calls.load(Ordering::Relaxed), 1);
    assert_eq!(pipeline.breaker().unwrap().metrics().figures.calls, 1);
    // After the interval the next call is admitted again.
    clock.advance(Duration::from_secs(1));
    assert_eq!(
        block_on(pipeline.run(&time, op)),
        Err(PipelineError::Inner("down"))
    );
    assert_eq!(pipeline.breaker().unwrap().metrics().figures.calls, 2);
}

#[test]
fn every_retry_goes_through_the_breaker() {
    let clock = ManualClock::new();
    let pipeline = retrying_through_breaker(&clock, 3, breaker(&clock, 10));
    let calls = AtomicU32::new(0);
    let out = block_on(pipeline.run(&VirtualTime::new(clock.clone()), || {
        calls.fetch_add(1, Ordering::Relaxed);
        async { Err::<(), _>("down") }
    }));
    assert_eq!(out, Err(PipelineError::Inner("down")));
    assert_eq!(calls.load(Ordering::Relaxed), 3);
    let figures = pipeline.breaker().unwrap().metrics().figures;
    assert_eq!((figures.calls, figures.failures), (3, 3));
    // Two backoff sleeps of 10 ms, on virtual time.
    assert_eq!(clock.now(), Timestamp::from_millis(20));
}

#[test]
fn an_open_breaker_ends_the_retries_and_fails_fast() {
    let clock = ManualClock::new();
    let pipeline = retrying_through_breaker(&clock, 5, breaker(&clock, 2));
    let time = VirtualTime::new(clock.clone());
    let calls = AtomicU32::new(0);
    let op = || {
        calls.fetch_add(1, Ordering::Relaxed);
        async { Err::<(), _>("down") }
    };
    // Two failed attempts open the breaker. A third would be refused, so
    // the call ends at once with the dependency's own error: no backoff
    // sleep, no refusal.
    let err = block_on(pipeline.run(&time, op)).unwrap_err();
    assert_eq!(err, PipelineError::Inner("down"));
    assert_eq!(calls.load(Ordering::Relaxed), 2);
    assert_eq!(clock.now(), Timestamp::from_millis(10));
    // While open: no attempt at all, and the refusal says for how long.
    let err = block_on(pipeline.run(&time, op)).unwrap_err();
    assert_eq!(err.stage(), Stage::Breaker);
    assert_eq!(calls.load(Ordering::Relaxed), 2);
    assert!(err.is_temporary());
    let PipelineError::CircuitOpen(rejected) = err else {
        unreachable!()
    };
    assert_eq!(rejected.state, BreakerState::Open);
    // Opened at 10 ms, the instant this call came.
    assert_eq!(rejected.retry_after, Some(Duration::from_secs(30)));
    // Forced open is not temporary.
    pipeline.breaker().unwrap().force_open();
    let err = block_on(pipeline.run(&time, op)).unwrap_err();
    assert!(!err.is_temporary());
    assert_eq!(err.retry_after(), None);
}

#[test]
fn a_blocking_call_does_not_sleep_into_an_open_breaker() {
    let clock = ManualClock::new();
    let pipeline = retrying_through_breaker(&clock, 5, breaker(&clock, 2));
    let slept = AtomicU32::new(0);
    let sleep = |d: Duration| {
        slept.fetch_add(1, Ordering::Relaxed);
        clock.advance(d);
    };
    let mut calls = 0;
    let retry_errors = |r: &Result<(), &str>| {
        if r.is_err() {
            Verdict::Retry(RetryKind::Error)
        } else {
            Verdict::Return
        }
    };
    let out = pipeline.call_classified(Priority::Normal, retry_errors, sleep, || {
        calls += 1;
        Err::<(), _>("down")
    });
    assert_eq!(out, Err(PipelineError::Inner("down")));
    assert_eq!((calls, slept.load(Ordering::Relaxed)), (2, 1));
}

#[test]
fn a_retry_waits_out_an_open_wait_shorter_than_its_backoff() {
    let clock = ManualClock::new();
    let pipeline = retrying_through_breaker(&clock, 3, breaker_waiting(&clock, 2, ms(5)));
    let time = VirtualTime::new(clock.clone());
    let calls = AtomicU32::new(0);
    // The breaker opens after the second attempt, but for 5 ms only: the
    // 10 ms backoff outlasts it, so the third attempt goes in as its trial.
    let out = block_on(pipeline.run(&time, || {
        let n = calls.fetch_add(1, Ordering::Relaxed);
        async move { if n < 2 { Err("down") } else { Ok(n) } }
    }));
    assert_eq!(out, Ok(2));
    assert_eq!(pipeline.breaker().unwrap().state(), BreakerState::Closed);
}

#[test]
fn a_breaker_that_opens_during_the_backoff_refuses_the_retry() {
    let clock = ManualClock::new();
    let pipeline = retrying_through_breaker(&clock, 5, breaker(&clock, 5));
    let breaker = pipeline.breaker().unwrap().clone();
    // Other callers' failures open the breaker while this call sleeps.
    let sleeper = |d: Duration| {
        clock.advance(d);
        breaker.open();
        std::future::ready(())
    };
    let calls = AtomicU32::new(0);
    let err = block_on(pipeline.run(&sleeper, || {
        calls.fetch_add(1, Ordering::Relaxed);
        async { Err::<(), _>("down") }
    }))
    .unwrap_err();
    assert!(matches!(err, PipelineError::CircuitOpen(_)), "{err:?}");
    assert_eq!(calls.load(Ordering::Relaxed), 1);
}

#[test]
fn a_full_bulkhead_rejects_without_calling_and_returns_the_trial_slot() {
    let clock = ManualClock::new();
    let bulkhead = Bulkhead::with_clock(
        BulkheadConfig::builder().max_concurrent(1).build().unwrap(),
        clock.clone(),
    );
    let pipeline = Pipeline::builder_with_clock(clock.clone())
        .retry(constant(ms(10)), 3, Unlimited)
        .breaker(breaker(&clock, 2))
        .bulkhead(bulkhead.clone())
        .build()
        .unwrap();
    let breaker = pipeline.breaker().unwrap().clone();
    breaker.half_open();
    let held = bulkhead.try_acquire().unwrap();
    let calls = AtomicU32::new(0);
    let time = VirtualTime::new(clock.clone());
    let op = || {
        calls.fetch_add(1, Ordering::Relaxed);
        async { Ok::<_, ()>("ok") }
    };
    let err = block_on(pipeline.run(&time, op)).unwrap_err();
    assert!(matches!(err, PipelineError::BulkheadFull(_)), "{err:?}");
    assert_eq!(err.stage(), Stage::Bulkhead);
    assert!(err.is_rejection() && err.is_temporary());
    assert_eq!(calls.load(Ordering::Relaxed), 0);
    // The half-open trial the attempt took was handed back, unrecorded.
    assert_eq!(breaker.metrics().trials_taken, 0);
    drop(held);
    assert_eq!(block_on(pipeline.run(&time, op)), Ok("ok"));
    assert_eq!(calls.load(Ordering::Relaxed), 1);
}

#[test]
fn timed_out_attempts_are_retried_and_count_as_failures() {
    let clock = ManualClock::new();
    let pipeline = Pipeline::builder_with_clock(clock.clone())
        .retry(constant(ms(10)), 3, Unlimited)
        .breaker(breaker(&clock, 10))
        .attempt_timeout(ms(100))
        .build()
        .unwrap();
    let time = VirtualTime::new(clock.clone());
    let calls = AtomicU32::new(0);
    let out = block_on(pipeline.run(&time, || {
        calls.fetch_add(1, Ordering::Relaxed);
        hang(&time)
    }));
    let err = out.unwrap_err();
    assert_eq!(err.stage(), Stage::AttemptTimeout);
    assert!(!err.is_rejection() && err.is_temporary());
    assert_eq!(calls.load(Ordering::Relaxed), 3);
    let figures = pipeline.breaker().unwrap().metrics().figures;
    assert_eq!((figures.calls, figures.failures), (3, 3));
    // Three 100 ms attempts and two 10 ms backoffs.
    assert_eq!(clock.now(), Timestamp::from_millis(320));
}

#[test]
fn the_total_timeout_bounds_all_retries_and_backoff() {
    let clock = ManualClock::new();
    let pipeline = Pipeline::builder_with_clock(clock.clone())
        .total_timeout(Duration::from_secs(10))
        .retry(constant(Duration::from_secs(1)), 1_000, Unlimited)
        .build()
        .unwrap();
    let time = VirtualTime::new(clock.clone());
    let calls = AtomicU32::new(0);
    let out: Result<(), PipelineError<&str>> = block_on(pipeline.run(&time, || {
        calls.fetch_add(1, Ordering::Relaxed);
        let work = time.sleep(Duration::from_secs(1));
        async move {
            work.await;
            Err("down")
        }
    }));
    let err = out.unwrap_err();
    assert_eq!(err.stage(), Stage::TotalTimeout);
    assert_eq!(err.to_string(), "total timeout: timed out after 10s");
    // Attempts start at 0, 2, 4, 6 and 8 s; the fifth is cut off at 10 s.
    assert_eq!(calls.load(Ordering::Relaxed), 5);
    assert_eq!(clock.now(), Timestamp::from_secs(10));
}

/// A budget allowing a fixed number of retries in all.
struct Allow(AtomicU32, AtomicU32);

impl RetryBudget for Allow {
    fn deposit(&self) {
        self.1.fetch_add(1, Ordering::Relaxed);
    }
    fn try_withdraw(&self, _: RetryKind) -> bool {
        self.0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok()
    }
}

#[test]
fn retries_stop_when_the_budget_refuses() {
    let clock = ManualClock::new();
    let budget = Arc::new(Allow(AtomicU32::new(3), AtomicU32::new(0)));
    let pipeline = Pipeline::builder_with_clock(clock.clone())
        .retry(constant(ms(1)), 10, Arc::clone(&budget))
        .build()
        .unwrap();
    let time = VirtualTime::new(clock);
    let calls = AtomicU32::new(0);
    let op = || {
        calls.fetch_add(1, Ordering::Relaxed);
        async { Err::<(), _>("down") }
    };
    for _ in 0..4 {
        assert_eq!(
            block_on(pipeline.run(&time, op)),
            Err(PipelineError::Inner("down"))
        );
    }
    // Four calls, three retries in all.
    assert_eq!(calls.load(Ordering::Relaxed), 4 + 3);
    assert_eq!(budget.1.load(Ordering::Relaxed), 4);
}

#[test]
fn a_classified_ok_is_retried_after_the_servers_delay_and_fails_the_breaker() {
    let clock = ManualClock::new();
    let pipeline = Pipeline::builder_with_clock(clock.clone())
        .retry(
            Backoff::constant(ms(10))
                .max_delay(Duration::from_secs(5))
                .build()
                .unwrap(),
            3,
            Unlimited,
        )
        .breaker(breaker(&clock, 10))
        .build()
        .unwrap();
    let time = VirtualTime::new(clock.clone());
    let mut replies = vec![200_u16, 503];
    let out = block_on(pipeline.run_classified(
        &time,
        Priority::Normal,
        |r: &Result<u16, ()>| match r {
            Ok(503) => Verdict::RetryAfter(Duration::from_secs(2)),
            _ => Verdict::Return,
        },
        || std::future::ready(Ok(replies.pop().unwrap())),
    ));
    assert_eq!(out, Ok(200));
    assert_eq!(clock.now(), Timestamp::from_secs(2));
    let figures = pipeline.breaker().unwrap().metrics().figures;
    assert_eq!((figures.calls, figures.failures), (2, 1));
}

#[test]
fn a_hedge_answers_for_a_slow_first_attempt() {
    let clock = ManualClock::new();
    let time = VirtualTime::new(clock.clone());
    let hedger = Hedger::observed(
        HedgeConfig::builder()
            .max_hedges(1)
            .delay(HedgeDelay::Fixed(ms(50)))
            .build()
            .unwrap(),
        || true,
        clock.clone(),
        (),
    );
    let bulkhead = Bulkhead::with_clock(
        BulkheadConfig::builder().max_concurrent(1).build().unwrap(),
        clock.clone(),
    );
    let pipeline = Pipeline::builder_with_clock(clock.clone())
        .bulkhead(bulkhead)
        .attempt_timeout(Duration::from_secs(2))
        .hedge(hedger)
        .build()
        .unwrap();
    let started = AtomicU32::new(0);
    let out: Result<&str, PipelineError<()>> = block_on(pipeline.run(&time, || {
        let n = started.fetch_add(1, Ordering::Relaxed);
        let (latency, who) = if n == 0 {
            (Duration::from_secs(1), "slow")
        } else {
            (ms(10), "fast")
        };
        let work = time.sleep(latency);
        async move {
            work.await;
            Ok(who)
        }
    }));
    assert_eq!(out, Ok("fast"));
    assert_eq!(started.load(Ordering::Relaxed), 2);
    // The hedge started at 50 ms and answered 10 ms later; both shared one bulkhead slot.
    assert_eq!(clock.now(), Timestamp::from_millis(60));
    assert_eq!(pipeline.bulkhead().unwrap().in_flight(), 0);
}

#[test]
fn clones_share_state_across_threads() {
    let clock = ManualClock::new();
    let pipeline = Pipeline::builder_with_clock(clock.clone())
        .breaker(breaker(&clock, 1_000))
        .bulkhead(Bulkhead::with_clock(
            BulkheadConfig::builder().max_concurrent(4).build().unwrap(),
            clock.clone(),
        ))
        .build()
        .unwrap();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let pipeline = pipeline.clone();
            let sleeper = |_: Duration| std::future::ready(());
            std::thread::spawn(move || {
                for _ in 0..100 {
                    assert_eq!(
                        block_on(pipeline.run(&sleeper, || async { Ok::<_, ()>(1) })),
                        Ok(1)
                    );
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(pipeline.breaker().unwrap().metrics().figures.calls, 400);
    assert_eq!(pipeline.bulkhead().unwrap().in_flight(), 0);
}

// Blocking calls through the same stages.

#[test]
fn a_blocking_call_retries_through_the_breaker_and_shares_its_state() {
    let clock = ManualClock::new();
    let pipeline = Pipeline::builder_with_clock(clock.clone())
        .retry(constant(ms(10)), 3, Unlimited)
        .breaker(breaker(&clock, 4))
        .build()
        .unwrap();
    let slept = Mutex::new(Vec::new());
    let sleep = |d: Duration| {
        slept.lock().unwrap().push(d);
        clock.advance(d);
    };
    let mut calls = 0;
    let out: Result<u32, PipelineError<&str>> = pipeline.call_classified(
        Priority::Normal,
        |r: &Result<u32, &str>| {
            if r.is_ok() {
                Verdict::Return
            } else {
                Verdict::Retry(RetryKind::Error)
            }
        },
        sleep,
        || {
            calls += 1;
            if calls < 3 { Err("flaky") } else { Ok(calls) }
        },
    );
    assert_eq!(out, Ok(3));
    assert_eq!(*slept.lock().unwrap(), vec![ms(10), ms(10)]);
    let figures = pipeline.breaker().unwrap().metrics().figures;
    assert_eq!((figures.calls, figures.failures), (3, 2));
    // One more failure fills the window at 3 of 4 failed: the breaker opens,
    // and the async path sees the same breaker.
    let out: Result<(), PipelineError<&str>> = pipeline.call_classified(
        Priority::Normal,
        |_| Verdict::Return,
        |_| {},
        || Err("down"),
    );
    assert_eq!(out, Err(PipelineError::Inner("down")));
    assert_eq!(pipeline.breaker().unwrap().state(), BreakerState::Open);
    let time = VirtualTime::new(clock.clone());
    let err = block_on(pipeline.run(&time, || async { Ok::<_, ()>(()) })).unwrap_err();
    assert_eq!(err.stage(), Stage::Breaker);
}

#[test]
fn a_blocking_attempt_that_overruns_counts_as_timed_out() {
    let clock = ManualClock::new();
    let pipeline = Pipeline::builder_with_clock(clock.clone())
        .retry(constant(ms(10)), 2, Unlimited)
        .breaker(breaker(&clock, 10))
        .attempt_timeout(ms(100))
        .build()
        .unwrap();
    let mut durations = vec![ms(150), ms(100)].into_iter();
    let out: Result<&str, PipelineError<()>> = pipeline.call_classified(
        Priority::Normal,
        |_| Verdict::Return,
        |d| {
            clock.advance(d);
        },
        || {
            clock.advance(durations.next().unwrap());
            Ok("done")
        },
    );
    // The first attempt overran (a failure, retried); the second took
    // exactly the limit, which is in time.
    assert_eq!(out, Ok("done"));
    let figures = pipeline.breaker().unwrap().metrics().figures;
    assert_eq!((figures.calls, figures.failures), (2, 1));

    let mut always_slow = || {
        clock.advance(ms(101));
        Ok::<_, ()>(())
    };
    let err = pipeline
        .call_classified(
            Priority::Normal,
            |_| Verdict::Return,
            |d| {
                clock.advance(d);
            },
            &mut always_slow,
        )
        .unwrap_err();
    assert_eq!(err.stage(), Stage::AttemptTimeout);
}

#[test]
fn a_blocking_call_stops_at_the_total_timeout() {
    let clock = ManualClock::new();
    let pipeline = Pipeline::builder_with_clock(clock.clone())
        .total_timeout(Duration::from_secs(10))
        .retry(constant(Duration::from_secs(1)), 1_000, Unlimited)
        .build()
        .unwrap();
    let mut calls = 0;
    let err = pipeline
        .call_classified(
            Priority::Normal,
            |_: &Result<(), &str>| Verdict::Retry(RetryKind::Error),
            |d| {
                clock.advance(d);
            },
            || {
                calls += 1;
                clock.advance(ms(500));
                Err("down")
            },
        )
        .unwrap_err();
    assert_eq!(
        err,
        PipelineError::TotalTimeout(steadfast_guard::timeout::Elapsed::new(Duration::from_secs(
            10
        )))
    );
    // Each round is 500 ms of call and 1 s of backoff; a sleep that would end
    // past the deadline is not started.
    assert_eq!(calls, 7);
    assert!(clock.now() < Timestamp::from_secs(10));
}

#[test]
fn a_blocking_call_is_shed_rate_limited_and_bulkheaded_like_an_async_one() {
    let clock = ManualClock::new();
    let bulkhead = Bulkhead::new(BulkheadConfig::builder().max_concurrent(1).build().unwrap());
    let pipeline = Pipeline::builder_with_clock(clock.clone())
        .rate_limit(RateLimiter::with_clock(
            Quota::per_second(2).unwrap(),
            clock.clone(),
        ))
        .bulkhead(bulkhead.clone())
        .build()
        .unwrap();
    let held = bulkhead.try_acquire_owned().unwrap();
    let mut calls = 0;
    let err = pipeline
        .call(|| {
            calls += 1;
            Ok::<_, ()>(())
        })
        .unwrap_err();
    assert_eq!(err.stage(), Stage::Bulkhead);
    drop(held);
    assert_eq!(pipeline.call(|| Ok::<_, ()>(7)), Ok(7));
    let err = pipeline.call(|| Ok::<_, ()>(8)).unwrap_err();
    assert_eq!(err.stage(), Stage::RateLimit);
    assert_eq!(calls, 0, "rejected calls never ran");
    assert_eq!(bulkhead.in_flight(), 0);
}

// The adaptive concurrency stage.

#[test]
fn the_adaptive_limit_rejects_over_the_limit_and_learns_from_timeouts() {
    use steadfast_guard::adaptive::{AdaptiveLimiter, Aimd, AimdConfig};
    let clock = ManualClock::new();
    let limiter = AdaptiveLimiter::with_clock(
        Aimd::new(
            AimdConfig::builder()
                .initial_limit(10)
                .min_limit(1)
                .backoff_ratio(0.5)
                .build()
                .unwrap(),
        ),
        clock.clone(),
    );
    let pipeline = Pipeline::builder_with_clock(clock.clone())
        .adaptive_limit(limiter.clone())
        .attempt_timeout(ms(100))
        .build()
        .unwrap();
    let time = VirtualTime::new(clock.clone());
    // A timed-out attempt is a drop: the limit halves.
    let out = block_on(pipeline.run(&time, || hang(&time)));
    assert_eq!(out.unwrap_err().stage(), Stage::AttemptTimeout);
    assert_eq!(limiter.limit(), 5);
    // A plain error says nothing about load: the limit stays.
    let out: Result<(), PipelineError<&str>> =
        block_on(pipeline.run(&time, || async { Err("bad request") }));
    assert_eq!(out, Err(PipelineError::Inner("bad request")));
    assert_eq!(limiter.limit(), 5);
    assert_eq!(limiter.in_flight(), 0);
    // With every slot taken by others, the pipeline rejects at once, typed.
    let held: Vec<_> = (0..5).map(|_| limiter.try_acquire().unwrap()).collect();
    let mut ran = false;
    let err = pipeline
        .call(|| {
            ran = true;
            Ok::<_, ()>(())
        })
        .unwrap_err();
    assert_eq!(err.stage(), Stage::AdaptiveLimit);
    assert!(err.is_rejection() && err.is_temporary());
    assert!(
        matches!(err, PipelineError::LimitReached(r) if r.limit == 5),
        "{err:?}"
    );
    assert!(!ran);
    drop(held);
    assert_eq!(limiter.in_flight(), 0);
}

/// A pipeline holding something of every stage while an attempt runs: a
/// shed slot, a half-open trial, a bulkhead slot and an adaptive token.
#[allow(clippy::type_complexity)]
fn holding_pipeline(
    clock: &ManualClock,
    total_timeout: Option<Duration>,
) -> (
    Pipeline<ManualClock>,
    LoadShedder,
    Bulkhead,
    steadfast_guard::adaptive::AdaptiveLimiter<steadfast_guard::adaptive::Aimd>,
) {
    use steadfast_guard::adaptive::{AdaptiveLimiter, Aimd, AimdConfig};
    let shedder = LoadShedder::new(ShedConfig::builder().capacity(4).build().unwrap());
    let bulkhead = Bulkhead::with_clock(
        BulkheadConfig::builder().max_concurrent(1).build().unwrap(),
        clock.clone(),
    );
    let limiter = AdaptiveLimiter::with_clock(
        Aimd::new(AimdConfig::builder().initial_limit(1).build().unwrap()),
        clock.clone(),
    );
    let mut builder = Pipeline::builder_with_clock(clock.clone())
        .shed(shedder.clone())
        .retry(constant(ms(10)), 3, Unlimited)
        .breaker(breaker(clock, 2))
        .bulkhead(bulkhead.clone())
        .adaptive_limit(limiter.clone());
    if let Some(limit) = total_timeout {
        builder = builder.total_timeout(limit);
    }
    let pipeline = builder.build().unwrap();
    pipeline.breaker().unwrap().half_open();
    (pipeline, shedder, bulkhead, limiter)
}

#[test]
fn dropping_a_call_mid_attempt_gives_back_every_slot_and_the_trial() {
    let clock = ManualClock::new();
    let (pipeline, shedder, bulkhead, limiter) = holding_pipeline(&clock, None);
    let breaker = pipeline.breaker().unwrap().clone();
    let time = VirtualTime::new(clock.clone());
    {
        let call = pipeline.run(&time, std::future::pending::<Result<(), ()>>);
        let mut call = std::pin::pin!(call);
        let mut cx = Context::from_waker(std::task::Waker::noop());
        assert!(call.as_mut().poll(&mut cx).is_pending());
        assert_eq!(shedder.in_flight(), 1);
        assert_eq!(bulkhead.in_flight(), 1);
        assert_eq!(limiter.in_flight(), 1);
        assert_eq!(breaker.metrics().trials_taken, 1);
    }
    // Dropped: the attempt is cancelled and nothing stays taken, unrecorded.
    assert_eq!(shedder.in_flight(), 0);
    assert_eq!(bulkhead.in_flight(), 0);
    assert_eq!(limiter.in_flight(), 0);
    assert_eq!(breaker.metrics().trials_taken, 0);
    assert_eq!(breaker.state(), BreakerState::HalfOpen);
    // A call that was never polled holds nothing either.
    drop(pipeline.run(&time, || async { Ok::<_, ()>(()) }));
    assert_eq!(shedder.in_flight(), 0);
    assert_eq!(
        block_on(pipeline.run(&time, || async { Ok::<_, ()>(7) })),
        Ok(7)
    );
}

#[test]
fn a_total_timeout_during_an_attempt_gives_back_every_slot() {
    let clock = ManualClock::new();
    let (pipeline, shedder, bulkhead, limiter) = holding_pipeline(&clock, Some(ms(500)));
    let breaker = pipeline.breaker().unwrap().clone();
    let time = VirtualTime::new(clock.clone());
    let out = block_on(pipeline.run(&time, || hang(&time)));
    assert_eq!(out.unwrap_err().stage(), Stage::TotalTimeout);
    assert_eq!(clock.now(), Timestamp::from_millis(500));
    assert_eq!(shedder.in_flight(), 0);
    assert_eq!(bulkhead.in_flight(), 0);
    assert_eq!(limiter.in_flight(), 0);
    assert_eq!(breaker.metrics().trials_taken, 0);
}

#[test]
fn an_attempt_waits_for_a_bulkhead_slot_within_the_bulkheads_wait() {
    let clock = ManualClock::new();
    let bulkhead = Bulkhead::with_clock(
        BulkheadConfig::builder()
            .max_concurrent(1)
            .max_wait(Duration::from_secs(5))
            .build()
            .unwrap(),
        clock.clone(),
    );
    let pipeline = Pipeline::builder_with_clock(clock.clone())
        .bulkhead(bulkhead.clone())
        .build()
        .unwrap();
    let time = VirtualTime::new(clock.clone());
    let mut cx = Context::from_waker(std::task::Waker::noop());
    let calls = AtomicU32::new(0);
    let op = || {
        calls.fetch_add(1, Ordering::Relaxed);
        async { Ok::<_, ()>("ok") }
    };

    // A slot freed during the wait is taken, and the call goes ahead.
    let held = bulkhead.try_acquire_owned().unwrap();
    let mut call = std::pin::pin!(pipeline.run(&time, op));
    assert!(call.as_mut().poll(&mut cx).is_pending());
    assert_eq!(calls.load(Ordering::Relaxed), 0);
    drop(held);
    assert_eq!(call.as_mut().poll(&mut cx), Poll::Ready(Ok("ok")));
    assert_eq!(calls.load(Ordering::Relaxed), 1);
    assert_eq!(bulkhead.in_flight(), 0);

    // No slot within the wait: a typed rejection saying how long it waited.
    let held = bulkhead.try_acquire_owned().unwrap();
    let err = block_on(pipeline.run(&time, op)).unwrap_err();
    assert!(
        matches!(&err, PipelineError::BulkheadFull(full) if full.waited() == Duration::from_secs(5)),
        "{err:?}"
    );
    assert_eq!(calls.load(Ordering::Relaxed), 1);
    drop(held);
    assert_eq!(bulkhead.in_flight(), 0);
}

/// A blocking call that takes `precise` by the precise reading and
/// `coarse` by the coarse one, against an attempt timeout of `limit`.
fn blocking_attempt_on_lagging_clock(
    limit: Duration,
    precise: Duration,
    coarse: Duration,
) -> Result<(), PipelineError<()>> {
    let clock = LaggingClock::default();
    let pipeline = Pipeline::builder_with_clock(clock.clone())
        .attempt_timeout(limit)
        .build()
        .unwrap();
    pipeline.call(|| {
        clock.precise().advance(precise);
        clock.coarse().advance(coarse);
        Ok(())
    })
}

#[test]
fn a_long_blocking_timeout_is_measured_on_the_coarse_reading() {
    // 1 s is at least 25 kernel ticks: the coarse reading (1.000 s) decides,
    // though the precise one says 1.005 s.
    assert_eq!(
        blocking_attempt_on_lagging_clock(Duration::from_secs(1), ms(1_005), ms(1_000)),
        Ok(())
    );
    // 100 ms is not: the precise reading decides.
    assert!(matches!(
        blocking_attempt_on_lagging_clock(ms(100), ms(105), ms(100)),
        Err(PipelineError::AttemptTimeout(_))
    ));
}
