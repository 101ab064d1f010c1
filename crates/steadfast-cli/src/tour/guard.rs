//! The tour of `steadfast-guard`: a breaker opening and recovering, a
//! jittered backoff, a retry budget saying no.

use std::io::{self, Write};
use std::time::Duration;

use steadfast_core::{Clock, ManualClock, Recorder};
use steadfast_guard::backoff::{Backoff, Jitter};
use steadfast_guard::breaker::{BreakerConfig, BreakerEvent, CircuitBreaker};
use steadfast_guard::budget::{PercentBudget, RetryBudget, RetryKind};

fn invalid(e: steadfast_core::ConfigError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, e)
}

fn print_events(out: &mut dyn Write, events: &Recorder<BreakerEvent>) -> io::Result<()> {
    for e in events.take() {
        writeln!(
            out,
            "  t={:>4.1}s {:?} -> {:?} ({:?}; {} calls, failure rate {:.0}%)",
            e.at.as_secs_f64(),
            e.from,
            e.to,
            e.reason,
            e.figures.calls,
            e.figures.failure_rate() * 100.0
        )?;
    }
    Ok(())
}

/// Runs the guard part of the tour.
pub(crate) fn run(out: &mut dyn Write) -> io::Result<()> {
    let clock = ManualClock::new();
    let events = Recorder::new();
    let config = BreakerConfig::builder()
        .count_window(10)
        .failure_rate_threshold(0.5)
        .wait_in_open(Duration::from_secs(5))
        .half_open_trials(2)
        .build()
        .map_err(invalid)?;
    let breaker = CircuitBreaker::with_observer(config, clock.clone(), events.clone());
    writeln!(
        out,
        "circuit breaker: window 10 calls, opens at 50% failures, waits 5s, 2 trials"
    )?;
    for i in 0..10 {
        let _ = breaker.call(|| if i % 5 < 3 { Err("timeout") } else { Ok(()) });
    }
    print_events(out, &events)?;
    clock.advance(Duration::from_secs(3));
    if let Err(rejected) = breaker.try_acquire() {
        writeln!(
            out,
            "  t={:>4.1}s call rejected, retry after {:?}",
            clock.now().as_secs_f64(),
            rejected.retry_after.unwrap_or_default()
        )?;
    }
    clock.advance(Duration::from_secs(2));
    let first = breaker.try_acquire();
    let second = breaker.try_acquire();
    let third = breaker.try_acquire();
    print_events(out, &events)?;
    writeln!(
        out,
        "  t={:>4.1}s trials admitted: {}, {}; a third: {}",
        clock.now().as_secs_f64(),
        first.is_ok(),
        second.is_ok(),
        if third.is_ok() {
            "admitted"
        } else {
            "rejected (2 trials max)"
        }
    )?;
    drop(third);
    for permit in [first, second].into_iter().flatten() {
        permit.success();
    }
    print_events(out, &events)?;

    let backoff = Backoff::exponential(Duration::from_millis(100))
        .factor(2.0)
        .max_delay(Duration::from_secs(1))
        .jitter(Jitter::Full)
        .max_retries(8)
        .seed(42)
        .build()
        .map_err(invalid)?;
    let delays: Vec<String> = backoff.map(|d| format!("{}ms", d.as_millis())).collect();
    writeln!(
        out,
        "backoff: exponential 100ms x2, full jitter, capped at 1s (seed 42): {}",
        delays.join(" ")
    )?;

    let budget_config = PercentBudget::builder()
        .percent_can_retry(0.2)
        .min_retries_per_sec(0)
        .build()
        .map_err(invalid)?;
    let budget = PercentBudget::with_clock(budget_config, clock.clone());
    for _ in 0..50 {
        budget.deposit();
    }
    let granted = (0..20)
        .filter(|_| budget.try_withdraw(RetryKind::Error))
        .count();
    writeln!(
        out,
        "retry budget: 20% of 50 requests -> {granted} of 20 retries granted, the rest refused"
    )?;
    Ok(())
}
