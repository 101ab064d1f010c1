//! The circuit breaker through its public API.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use steadfast_core::{LaggingClock, ManualClock, Recorder, Timestamp};
use steadfast_guard::breaker::{
    BreakerConfig, BreakerError, BreakerEvent, BreakerState, CircuitBreaker, Outcome,
    TransitionReason, WindowFigures,
};

type Observed = CircuitBreaker<ManualClock, Recorder<BreakerEvent>>;

fn breaker(config: BreakerConfig) -> (Observed, ManualClock, Recorder<BreakerEvent>) {
    let clock = ManualClock::new();
    let events = Recorder::new();
    (
        CircuitBreaker::with_observer(config, clock.clone(), events.clone()),
        clock,
        events,
    )
}

fn small() -> BreakerConfig {
    BreakerConfig::builder()
        .count_window(4)
        .minimum_calls(4)
        .failure_rate_threshold(0.5)
        .wait_in_open(Duration::from_secs(10))
        .half_open_trials(2)
        .build()
        .unwrap()
}

fn fail<C: steadfast_core::Clock, O: steadfast_core::Observer<BreakerEvent>>(
    b: &CircuitBreaker<C, O>,
) {
    b.try_acquire().expect("admitted").failure();
}

fn succeed<C: steadfast_core::Clock, O: steadfast_core::Observer<BreakerEvent>>(
    b: &CircuitBreaker<C, O>,
) {
    b.try_acquire().expect("admitted").success();
}

#[test]
fn opens_only_once_minimum_calls_are_in() {
    let (b, _clock, events) = breaker(small());
    fail(&b);
    fail(&b);
    fail(&b);
    assert_eq!(b.state(), BreakerState::Closed, "3 calls < minimum 4");
    succeed(&b);
    assert_eq!(b.state(), BreakerState::Open, "3 of 4 failed");
    let events = events.take();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].reason, TransitionReason::FailureRateExceeded);
    assert_eq!(events[0].figures, WindowFigures::new(4, 3, 0));
    assert_eq!(events[0].open_for, Some(Duration::from_secs(10)));
    assert_eq!(events[0].from, BreakerState::Closed);
}

#[test]
fn rate_below_threshold_stays_closed_as_window_slides() {
    let (b, _clock, _) = breaker(small());
    for i in 0..100 {
        if i % 4 == 0 {
            fail(&b);
        } else {
            succeed(&b);
        }
        assert_eq!(b.state(), BreakerState::Closed, "call {i}");
    }
    assert_eq!(b.metrics().figures.calls, 4);
}

#[test]
fn rejection_says_when_to_come_back() {
    let (b, clock, _) = breaker(small());
    for _ in 0..4 {
        fail(&b);
    }
    clock.advance(Duration::from_secs(3));
    let r = b.try_acquire().unwrap_err();
    assert_eq!(r.state, BreakerState::Open);
    assert_eq!(r.retry_after, Some(Duration::from_secs(7)));
    assert_eq!(r.to_string(), "circuit breaker is Open: call rejected");
    assert_eq!(b.metrics().rejected, 1);
}

#[test]
fn half_open_admits_a_bounded_number_of_trials() {
    let (b, clock, events) = breaker(small());
    for _ in 0..4 {
        fail(&b);
    }
    clock.advance(Duration::from_secs(10));
    let first = b.try_acquire().unwrap();
    let second = b.try_acquire().unwrap();
    assert!(first.is_trial() && second.is_trial());
    let third = b.try_acquire().unwrap_err();
    assert_eq!(third.state, BreakerState::HalfOpen);
    assert_eq!(third.retry_after, None);
    assert_eq!(b.metrics().trials_taken, 2);
    // Dropping a trial gives its slot back.
    drop(first);
    let again = b.try_acquire().unwrap();
    again.success();
    second.success();
    assert_eq!(b.state(), BreakerState::Closed);
    assert_eq!(b.metrics().figures, WindowFigures::default());
    let reasons: Vec<_> = events.take().iter().map(|e| e.reason).collect();
    assert_eq!(
        reasons,
        [
            TransitionReason::FailureRateExceeded,
            TransitionReason::WaitElapsed,
            TransitionReason::TrialsPassed
        ]
    );
}

#[test]
fn a_panicking_trial_releases_its_slot() {
    let config = BreakerConfig::builder()
        .count_window(1)
        .wait_in_open(Duration::from_secs(1))
        .half_open_trials(1)
        .build()
        .unwrap();
    let (b, clock, _) = breaker(config);
    fail(&b);
    clock.advance(Duration::from_secs(1));
    let b2 = b.clone();
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = b2.call(|| -> Result<(), ()> { panic!("the call blew up") });
    }));
    assert!(panicked.is_err());
    assert_eq!(b.state(), BreakerState::HalfOpen);
    assert_eq!(b.metrics().trials_taken, 0);
    succeed(&b);
    assert_eq!(b.state(), BreakerState::Closed);
}

#[test]
fn failed_trials_reopen_with_growing_waits_and_closing_resets_them() {
    let config = BreakerConfig::builder()
        .count_window(2)
        .wait_in_open_exponential(Duration::from_secs(1), 2.0, Duration::from_secs(5))
        .half_open_trials(1)
        .build()
        .unwrap();
    let (b, clock, events) = breaker(config);
    fail(&b);
    fail(&b);
    let mut waits = Vec::new();
    for _ in 0..4 {
        let wait = b.try_acquire().unwrap_err().retry_after.unwrap();
        waits.push(wait.as_secs());
        clock.advance(wait);
        fail(&b); // the trial fails
    }
    assert_eq!(waits, [1, 2, 4, 5]);
    clock.advance(Duration::from_secs(5));
    succeed(&b);
    assert_eq!(b.state(), BreakerState::Closed);
    fail(&b);
    fail(&b);
    assert_eq!(
        b.try_acquire().unwrap_err().retry_after,
        Some(Duration::from_secs(1))
    );
    assert!(events.events().iter().all(|e| e.at <= clock_now(&clock)));
}

fn clock_now(clock: &ManualClock) -> Timestamp {
    steadfast_core::Clock::now(clock)
}

/// Opens at the first failure for 1 s; half-open gives up after 30 s.
fn half_open_for_30s() -> BreakerConfig {
    BreakerConfig::builder()
        .count_window(1)
        .wait_in_open(Duration::from_secs(1))
        .half_open_trials(1)
        .max_wait_in_half_open(Duration::from_secs(30))
        .build()
        .unwrap()
}

#[test]
fn half_open_times_out_to_open() {
    let (b, clock, events) = breaker(half_open_for_30s());
    fail(&b);
    clock.advance(Duration::from_secs(1));
    let stuck = b.try_acquire().unwrap();
    clock.advance(Duration::from_secs(30));
    let r = b.try_acquire().unwrap_err();
    assert_eq!(r.state, BreakerState::Open);
    timed_out_and_late_trial_ignored(&b, &events, stuck);
}

/// The breaker timed out of half-open; the stuck trial answering now
/// changes nothing.
fn timed_out_and_late_trial_ignored(
    b: &Observed,
    events: &Recorder<BreakerEvent>,
    stuck: steadfast_guard::breaker::Permit<'_, ManualClock, Recorder<BreakerEvent>>,
) {
    assert_eq!(
        events.events().last().unwrap().reason,
        TransitionReason::HalfOpenTimedOut
    );
    stuck.success();
    assert_eq!(b.state(), BreakerState::Open);
}

#[test]
fn late_results_from_an_earlier_generation_are_discarded() {
    let config = BreakerConfig::builder()
        .count_window(2)
        .minimum_calls(1)
        .wait_in_open(Duration::from_secs(1))
        .half_open_trials(1)
        .build()
        .unwrap();
    let (b, clock, _) = breaker(config);
    let slow_closed = b.try_acquire().unwrap();
    let generation = slow_closed.generation();
    fail(&b); // opens
    clock.advance(Duration::from_secs(1));
    succeed(&b); // trial passes: closed again, fresh window
    assert_eq!(b.state(), BreakerState::Closed);
    slow_closed.failure(); // from the first closed period
    assert_eq!(b.state(), BreakerState::Closed);
    assert_eq!(b.metrics().figures, WindowFigures::default());
    assert_ne!(b.try_acquire().unwrap().generation(), generation);
}

#[test]
fn slow_calls_open_the_breaker() {
    let config = BreakerConfig::builder()
        .count_window(4)
        .slow_calls(Duration::from_millis(100), 0.5)
        .build()
        .unwrap();
    let (b, clock, events) = breaker(config);
    for i in 0..4 {
        let permit = b.try_acquire().unwrap();
        clock.advance(Duration::from_millis(if i % 2 == 0 { 150 } else { 10 }));
        permit.success();
    }
    assert_eq!(b.state(), BreakerState::Open);
    let e = &events.events()[0];
    assert_eq!(e.reason, TransitionReason::SlowCallRateExceeded);
    assert_eq!(e.figures, WindowFigures::new(4, 0, 2));
}

#[test]
fn outcomes_can_be_ignored_or_trip_the_breaker() {
    let (b, _clock, events) = breaker(small());
    for _ in 0..10 {
        b.try_acquire().unwrap().record(Outcome::Ignored);
    }
    assert_eq!(b.metrics().figures.calls, 0);
    let reply = b.call_with(|| Err::<(), _>("shutting down"), |_| Outcome::TripOpen);
    assert!(matches!(reply, Err(BreakerError::Inner("shutting down"))));
    assert_eq!(b.state(), BreakerState::Open);
    assert_eq!(events.take()[0].reason, TransitionReason::TrippedByOutcome);
}

#[test]
fn operators_force_disable_and_transition() {
    let (b, clock, events) = breaker(small());
    b.force_open();
    let r = b.call(|| Ok::<_, ()>(())).unwrap_err();
    assert!(matches!(
        r,
        BreakerError::Rejected(rejected) if rejected.state == BreakerState::ForcedOpen && rejected.retry_after.is_none()
    ));
    clock.advance(Duration::from_secs(1_000));
    assert_eq!(b.state(), BreakerState::ForcedOpen);
    b.disable();
    for _ in 0..20 {
        fail(&b);
    }
    assert_eq!(b.state(), BreakerState::Disabled);
    b.half_open();
    assert_eq!(b.state(), BreakerState::HalfOpen);
    b.open();
    assert_eq!(
        b.try_acquire().unwrap_err().retry_after,
        Some(Duration::from_secs(10))
    );
    b.close();
    assert_eq!(b.state(), BreakerState::Closed);
    let events = events.take();
    assert_eq!(events.len(), 5);
    assert!(events.iter().all(|e| e.reason == TransitionReason::Manual));
}

#[test]
fn time_window_forgets_old_failures() {
    let config = BreakerConfig::builder()
        .time_window(Duration::from_secs(10), 10)
        .minimum_calls(3)
        .build()
        .unwrap();
    let (b, clock, _) = breaker(config);
    fail(&b);
    fail(&b);
    clock.advance(Duration::from_secs(10));
    fail(&b);
    succeed(&b);
    succeed(&b);
    assert_eq!(b.state(), BreakerState::Closed);
    assert_eq!(b.metrics().figures, WindowFigures::new(3, 1, 0));
    fail(&b);
    assert_eq!(b.state(), BreakerState::Open, "2 of 4 in the window");
}

#[test]
fn clock_going_backwards_and_huge_waits_do_not_panic() {
    let config = BreakerConfig::builder()
        .count_window(1)
        .wait_in_open(Duration::MAX)
        .slow_calls(Duration::MAX, 1.0)
        .build()
        .unwrap();
    let clock = ManualClock::starting_at(Timestamp::from_secs(100));
    let b = CircuitBreaker::with_clock(config, clock.clone());
    let permit = b.try_acquire().unwrap();
    clock.jump_backwards(Duration::from_secs(50));
    permit.failure();
    assert_eq!(b.state(), BreakerState::Open);
    let wait = b.try_acquire().unwrap_err().retry_after.unwrap();
    assert!(wait > Duration::from_secs(500 * 365 * 86_400), "{wait:?}");
    // The saturated deadline is the end of time; reaching it ends the wait.
    clock.advance(Duration::MAX);
    assert!(b.try_acquire().unwrap().is_trial());
    let config = BreakerConfig::builder()
        .count_window(1)
        .wait_in_open(Duration::from_secs(5))
        .build()
        .unwrap();
    let clock = ManualClock::starting_at(Timestamp::from_secs(100));
    let b = CircuitBreaker::with_clock(config, clock.clone());
    fail(&b);
    clock.jump_backwards(Duration::from_secs(100));
    assert_eq!(
        b.try_acquire().unwrap_err().retry_after,
        Some(Duration::from_secs(105))
    );
    clock.advance(Duration::from_secs(105));
    assert!(b.try_acquire().is_ok());
}

#[test]
fn async_call_is_not_polled_when_rejected() {
    let (b, _clock, _) = breaker(small());
    b.force_open();
    let polled = AtomicU32::new(0);
    let out = futures::executor::block_on(b.call_async(async {
        polled.fetch_add(1, Ordering::Relaxed);
        Ok::<_, ()>(1)
    }));
    assert!(matches!(out, Err(BreakerError::Rejected(_))));
    assert_eq!(polled.load(Ordering::Relaxed), 0);
    b.close();
    let out = futures::executor::block_on(
        b.call_async_with(async { Err::<u8, _>(5) }, |_| Outcome::Ignored),
    );
    assert_eq!(out, Err(BreakerError::Inner(5)));
    assert_eq!(b.metrics().figures.calls, 0);
}

#[test]
fn config_errors_name_field_value_and_rule() {
    let cases: Vec<(steadfast_guard::breaker::BreakerConfigBuilder, &str)> = vec![
        (
            BreakerConfig::builder().failure_rate_threshold(0.0),
            "breaker.failure_rate_threshold",
        ),
        (
            BreakerConfig::builder().failure_rate_threshold(f64::NAN),
            "breaker.failure_rate_threshold",
        ),
        (
            BreakerConfig::builder().slow_calls(Duration::ZERO, 0.5),
            "breaker.slow_call_duration",
        ),
        (
            BreakerConfig::builder().slow_calls(Duration::from_secs(1), 1.01),
            "breaker.slow_call_rate_threshold",
        ),
        (
            BreakerConfig::builder().count_window(0),
            "breaker.count_window",
        ),
        (
            BreakerConfig::builder().count_window(100_001),
            "breaker.count_window",
        ),
        (
            BreakerConfig::builder().time_window(Duration::from_secs(1), 0),
            "breaker.time_window_buckets",
        ),
        (
            BreakerConfig::builder().time_window(Duration::from_micros(10), 10),
            "breaker.time_window",
        ),
        (
            BreakerConfig::builder().minimum_calls(0),
            "breaker.minimum_calls",
        ),
        (
            BreakerConfig::builder().count_window(10).minimum_calls(11),
            "breaker.minimum_calls",
        ),
        (
            BreakerConfig::builder().wait_in_open(Duration::ZERO),
            "breaker.wait_in_open",
        ),
        (
            BreakerConfig::builder().wait_in_open_exponential(
                Duration::ZERO,
                2.0,
                Duration::from_secs(1),
            ),
            "breaker.wait_in_open",
        ),
        (
            BreakerConfig::builder().wait_in_open_exponential(
                Duration::from_secs(1),
                0.5,
                Duration::from_secs(9),
            ),
            "breaker.wait_in_open_factor",
        ),
        (
            BreakerConfig::builder().wait_in_open_exponential(
                Duration::from_secs(1),
                f64::INFINITY,
                Duration::from_secs(9),
            ),
            "breaker.wait_in_open_factor",
        ),
        (
            BreakerConfig::builder().wait_in_open_exponential(
                Duration::from_secs(2),
                2.0,
                Duration::from_secs(1),
            ),
            "breaker.max_wait_in_open",
        ),
        (
            BreakerConfig::builder().half_open_trials(0),
            "breaker.half_open_trials",
        ),
        (
            BreakerConfig::builder().half_open_trials(1001),
            "breaker.half_open_trials",
        ),
        (
            BreakerConfig::builder().max_wait_in_half_open(Duration::ZERO),
            "breaker.max_wait_in_half_open",
        ),
    ];
    for (builder, field) in cases {
        let err = builder.build().unwrap_err();
        assert_eq!(err.field(), field, "{err}");
    }
    let err = BreakerConfig::builder()
        .count_window(10)
        .minimum_calls(11)
        .build()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "breaker.minimum_calls must be at most the count window (10), got 11"
    );
    // Time windows default to 100 minimum calls, count windows to min(100, size).
    let time = BreakerConfig::builder()
        .time_window(Duration::from_secs(60), 60)
        .build()
        .unwrap();
    assert_eq!(time.minimum_calls(), 100);
}

#[test]
fn many_threads_lose_no_record() {
    let config = BreakerConfig::builder()
        .count_window(10_000)
        .failure_rate_threshold(1.0)
        .build()
        .unwrap();
    let b = CircuitBreaker::with_clock(config, ManualClock::new());
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let b = b.clone();
            std::thread::spawn(move || {
                for i in 0..2_000 {
                    let permit = b.try_acquire().unwrap();
                    if (i + t) % 10 == 0 {
                        permit.failure();
                    } else {
                        permit.success();
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(b.metrics().figures, WindowFigures::new(8_000, 800, 0));
    assert_eq!(b.state(), BreakerState::Closed);
}

#[test]
fn many_threads_never_exceed_the_trial_limit() {
    const TRIALS: u32 = 3;
    let config = BreakerConfig::builder()
        .count_window(1)
        .wait_in_open(Duration::from_nanos(1))
        .half_open_trials(TRIALS)
        .build()
        .unwrap();
    let clock = ManualClock::new();
    let b = CircuitBreaker::with_clock(config, clock.clone());
    let in_flight = Arc::new(AtomicU32::new(0));
    let peak = Arc::new(AtomicU32::new(0));
    let admitted = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (b, clock) = (b.clone(), clock.clone());
            let (in_flight, peak, admitted) = (in_flight.clone(), peak.clone(), admitted.clone());
            std::thread::spawn(move || {
                for i in 0..3_000u32 {
                    if b.state() == BreakerState::Closed {
                        // Reopen so that trials keep happening.
                        b.open();
                        clock.advance(Duration::from_nanos(1));
                    }
                    let Ok(permit) = b.try_acquire() else {
                        continue;
                    };
                    admitted.fetch_add(1, Ordering::Relaxed);
                    if permit.is_trial() {
                        let now = in_flight.fetch_add(1, Ordering::AcqRel) + 1;
                        peak.fetch_max(now, Ordering::AcqRel);
                        assert!(now <= TRIALS, "{now} trials in flight");
                        std::thread::yield_now();
                        in_flight.fetch_sub(1, Ordering::AcqRel);
                    }
                    match (i + t) % 3 {
                        0 => drop(permit),
                        1 => permit.failure(),
                        _ => permit.success(),
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert!(peak.load(Ordering::Relaxed) <= TRIALS);
    assert!(admitted.load(Ordering::Relaxed) > 0);
    // Whatever happened, the breaker is not stuck: it settles under single-threaded use.
    b.close();
    succeed(&b);
    assert_eq!(b.state(), BreakerState::Closed);
}

#[test]
fn owned_permits_move_across_threads_and_release_on_drop() {
    let config = BreakerConfig::builder()
        .count_window(1)
        .wait_in_open(Duration::from_secs(1))
        .half_open_trials(1)
        .build()
        .unwrap();
    let (b, clock, _) = breaker(config);
    b.try_acquire_owned().unwrap().failure();
    assert_eq!(b.state(), BreakerState::Open);
    clock.advance(Duration::from_secs(1));
    let trial = b.try_acquire_owned().unwrap();
    assert!(trial.is_trial());
    assert!(b.try_acquire_owned().is_err());
    std::thread::spawn(move || drop(trial)).join().unwrap();
    assert_eq!(b.metrics().trials_taken, 0);
    let trial = b.try_acquire_owned().unwrap();
    std::thread::spawn(move || trial.success()).join().unwrap();
    assert_eq!(b.state(), BreakerState::Closed);
}

#[test]
fn time_window_checks_thresholds_on_successes_too() {
    // Two failures, then the success that completes the minimum of four
    // calls: the rate (2/4) reaches the threshold on that success.
    let config = BreakerConfig::builder()
        .time_window(Duration::from_secs(10), 10)
        .minimum_calls(4)
        .failure_rate_threshold(0.5)
        .build()
        .unwrap();
    let (b, _clock, events) = breaker(config);
    fail(&b);
    fail(&b);
    succeed(&b);
    assert_eq!(b.state(), BreakerState::Closed);
    succeed(&b);
    assert_eq!(b.state(), BreakerState::Open);
    let e = &events.events()[0];
    assert_eq!(e.reason, TransitionReason::FailureRateExceeded);
    assert_eq!(e.figures, WindowFigures::new(4, 2, 0));
}

#[test]
fn time_window_slow_success_opens() {
    let config = BreakerConfig::builder()
        .time_window(Duration::from_secs(10), 10)
        .minimum_calls(2)
        .slow_calls(Duration::from_millis(100), 1.0)
        .build()
        .unwrap();
    let (b, clock, events) = breaker(config);
    for _ in 0..2 {
        let permit = b.try_acquire().unwrap();
        clock.advance(Duration::from_millis(200));
        permit.success();
    }
    assert_eq!(b.state(), BreakerState::Open);
    assert_eq!(
        events.events()[0].reason,
        TransitionReason::SlowCallRateExceeded
    );
}

#[test]
fn time_window_opens_when_successes_expire_and_a_success_is_recorded() {
    // Old successes keep the rate low; once they expire, the success that
    // brings the window back to the minimum of calls opens it.
    let config = BreakerConfig::builder()
        .time_window(Duration::from_secs(4), 4)
        .minimum_calls(4)
        .failure_rate_threshold(0.5)
        .build()
        .unwrap();
    let (b, clock, _) = breaker(config);
    for _ in 0..3 {
        succeed(&b);
    }
    fail(&b); // 1 failure out of 4
    clock.advance(Duration::from_secs(3));
    fail(&b);
    succeed(&b); // 2 out of 6
    clock.advance(Duration::from_secs(1)); // the first bucket expires
    fail(&b); // 2 out of 3: under the minimum of calls
    assert_eq!(b.state(), BreakerState::Closed);
    succeed(&b); // 2 out of 4
    assert_eq!(b.state(), BreakerState::Open);
}

#[test]
fn open_to_half_open_never_rejects_with_zero_retry_after() {
    // Many threads arrive as the open wait ends: each gets a trial, a
    // rejection for a full half-open state, or the rest of the open wait;
    // never a rejection saying "retry now".
    for round in 0..50u64 {
        let config = BreakerConfig::builder()
            .count_window(1)
            .wait_in_open(Duration::from_secs(1))
            .half_open_trials(2)
            .max_wait_in_half_open(Duration::from_secs(5))
            .build()
            .unwrap();
        let clock = ManualClock::starting_at(Timestamp::from_secs(round));
        let b = CircuitBreaker::with_clock(config, clock.clone());
        fail(&b);
        assert_eq!(b.state(), BreakerState::Open);
        let barrier = Arc::new(std::sync::Barrier::new(4));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let (b, clock, barrier) = (b.clone(), clock.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    if t == 0 {
                        clock.advance(Duration::from_secs(1));
                    }
                    let mut trials = 0;
                    for _ in 0..200 {
                        match b.try_acquire() {
                            Ok(permit) => {
                                assert!(permit.is_trial());
                                trials += 1;
                                drop(permit); // gives the slot back
                            }
                            Err(r) => match r.state {
                                BreakerState::Open => {
                                    assert_ne!(r.retry_after, Some(Duration::ZERO))
                                }
                                BreakerState::HalfOpen => assert_eq!(r.retry_after, None),
                                other => panic!("unexpected state {other:?}"),
                            },
                        }
                    }
                    trials
                })
            })
            .collect();
        let trials: u32 = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert!(trials > 0);
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert_eq!(b.metrics().trials_taken, 0);
    }
}

#[test]
fn half_open_results_start_from_zero_in_each_generation() {
    // Trials of one half-open period do not count in the next.
    let config = BreakerConfig::builder()
        .count_window(1)
        .wait_in_open(Duration::from_secs(1))
        .half_open_trials(2)
        .failure_rate_threshold(0.5)
        .build()
        .unwrap();
    let (b, clock, events) = breaker(config);
    fail(&b); // open
    clock.advance(Duration::from_secs(1));
    fail(&b); // trial 1 of 2: failed
    assert_eq!(b.metrics().figures, WindowFigures::new(1, 1, 0));
    let second = b.try_acquire().unwrap();
    second.failure(); // 2 of 2 failed: open again (2 s)
    assert_eq!(b.state(), BreakerState::Open);
    clock.advance(Duration::from_secs(1));
    succeed(&b);
    assert_eq!(b.state(), BreakerState::HalfOpen);
    assert_eq!(b.metrics().figures, WindowFigures::new(1, 0, 0));
    succeed(&b);
    assert_eq!(b.state(), BreakerState::Closed);
    let last = events.events().last().unwrap().clone();
    assert_eq!(last.reason, TransitionReason::TrialsPassed);
    assert_eq!(last.figures, WindowFigures::new(2, 0, 0));
}

fn open_breaker(wait: Duration, clock: &LaggingClock) -> CircuitBreaker<LaggingClock> {
    let config = BreakerConfig::builder()
        .count_window(1)
        .minimum_calls(1)
        .wait_in_open(wait)
        .max_wait_in_half_open(Duration::from_secs(5))
        .build()
        .unwrap();
    let b = CircuitBreaker::with_clock(config, clock.clone());
    fail(&b);
    assert_eq!(b.state(), BreakerState::Open);
    b
}

#[test]
fn a_long_open_wait_is_checked_on_the_coarse_reading() {
    let clock = LaggingClock::default();
    let b = open_breaker(Duration::from_secs(1), &clock);
    // The precise clock is past the wait, the coarse one 4 ms behind it.
    clock.precise().advance(Duration::from_millis(1_002));
    clock.coarse().advance(Duration::from_millis(998));
    match b.try_acquire() {
        Err(r) => assert_eq!(r.retry_after, Some(Duration::from_millis(2))),
        Ok(_) => panic!("admitted on the precise reading"),
    }
    // Once the coarse reading passes the wait, the trial starts at the
    // precise time (the half-open deadline counts from it).
    clock.coarse().advance(Duration::from_millis(3));
    let permit = b.try_acquire().expect("the wait is over");
    assert!(permit.is_trial());
    drop(permit);
    clock.precise().advance(Duration::from_millis(4_999));
    clock.coarse().advance(Duration::from_millis(5_003));
    assert_eq!(b.state(), BreakerState::HalfOpen);
    assert!(
        b.try_acquire().is_ok(),
        "half-open deadline from the coarse time"
    );
}

#[test]
fn a_short_open_wait_is_checked_on_the_precise_reading() {
    // 200 ms < 25 x 10 ms of coarse lag: the coarse reading is not used.
    let clock = LaggingClock::default();
    let b = open_breaker(Duration::from_millis(200), &clock);
    clock.precise().advance(Duration::from_millis(200));
    let permit = b.try_acquire().expect("admitted on the precise reading");
    assert!(permit.is_trial());
}

#[test]
fn refresh_moves_an_idle_breaker_to_half_open_when_its_wait_is_over() {
    let (b, clock, events) = breaker(small());
    assert_eq!(b.refresh(), BreakerState::Closed);
    for _ in 0..4 {
        fail(&b);
    }
    assert_eq!(b.refresh(), BreakerState::Open);
    clock.advance(Duration::from_millis(9_999));
    assert_eq!(b.refresh(), BreakerState::Open);
    clock.advance(Duration::from_millis(1));
    assert_eq!(b.refresh(), BreakerState::HalfOpen);
    let last = events.events().last().unwrap().clone();
    assert_eq!(
        (last.from, last.to, last.reason, last.at),
        (
            BreakerState::Open,
            BreakerState::HalfOpen,
            TransitionReason::WaitElapsed,
            Timestamp::from_secs(10)
        )
    );
    // Refreshing again changes nothing, and no trial was taken: both of
    // the configured trials are still there for calls.
    assert_eq!(b.refresh(), BreakerState::HalfOpen);
    assert_eq!(events.events().len(), 2);
    assert_eq!(b.metrics().trials_taken, 0);
    let first = b.try_acquire().expect("first trial");
    let second = b.try_acquire().expect("second trial");
    assert!(first.is_trial() && second.is_trial());
    assert!(b.try_acquire().is_err());
    first.success();
    second.success();
    assert_eq!(b.state(), BreakerState::Closed);
}

#[test]
fn refresh_times_a_stuck_half_open_out_to_open() {
    let (b, clock, events) = breaker(half_open_for_30s());
    fail(&b);
    clock.advance(Duration::from_secs(1));
    assert_eq!(b.refresh(), BreakerState::HalfOpen);
    let stuck = b.try_acquire().unwrap();
    clock.advance(Duration::from_secs(29));
    assert_eq!(b.refresh(), BreakerState::HalfOpen);
    clock.advance(Duration::from_secs(1));
    assert_eq!(b.refresh(), BreakerState::Open);
    timed_out_and_late_trial_ignored(&b, &events, stuck);
}

#[test]
fn refresh_leaves_forced_and_disabled_states_alone() {
    let (b, clock, _) = breaker(small());
    b.force_open();
    clock.advance(Duration::from_secs(3_600));
    assert_eq!(b.refresh(), BreakerState::ForcedOpen);
    b.disable();
    assert_eq!(b.refresh(), BreakerState::Disabled);
}

#[test]
fn concurrent_refreshes_and_calls_enter_half_open_once() {
    for _ in 0..200 {
        let (b, clock, events) = breaker(small());
        for _ in 0..4 {
            fail(&b);
        }
        clock.advance(Duration::from_secs(10));
        let b = Arc::new(b);
        let threads: Vec<_> = (0..2)
            .map(|i| {
                let b = Arc::clone(&b);
                std::thread::spawn(move || {
                    if i == 0 {
                        b.refresh();
                    } else if let Ok(permit) = b.try_acquire() {
                        assert!(permit.is_trial());
                        drop(permit);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let to_half_open = events
            .events()
            .iter()
            .filter(|e| e.to == BreakerState::HalfOpen)
            .count();
        assert_eq!(to_half_open, 1);
        assert_eq!(b.state(), BreakerState::HalfOpen);
    }
}
