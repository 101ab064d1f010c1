//! The tour of steadfast-guard's limits: rate limiting, bulkhead, adaptive concurrency.

use std::io::{self, Write};
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use steadfast_core::{ManualClock, Recorder};
use steadfast_guard::adaptive::{AdaptiveEvent, AdaptiveLimiter, Aimd, AimdConfig};
use steadfast_guard::bulkhead::{Bulkhead, BulkheadConfig};
use steadfast_guard::hedge::{HedgeConfig, HedgeDelay, Hedger, UnlimitedHedges};
use steadfast_guard::rate_limit::{KeyedRateLimiter, Quota, RateLimitError, RateLimiter};

pub(crate) fn run(out: &mut dyn Write) -> io::Result<()> {
    let clock = ManualClock::new();

    // 1. A GCRA rate limiter: 5 per second, bursts of 2.
    let quota = Quota::per_second(5)
        .and_then(|q| q.with_burst(2))
        .map_err(io::Error::other)?;
    let limiter = RateLimiter::with_clock(quota, clock.clone());
    let mut verdicts = Vec::new();
    for _ in 0..3 {
        verdicts.push(match limiter.check() {
            Ok(()) => "ok".to_string(),
            Err(e) => format!("rejected, retry at {}", e.retry_at()),
        });
    }
    writeln!(
        out,
        "Rate limiter (5/s, burst 2), three calls at t=0: {}.",
        verdicts.join("; ")
    )?;
    if let Err(RateLimitError::ExceedsBurst(e)) = limiter.check_n(3) {
        writeln!(out, "Asking for 3 cells at once: {e}.")?;
    }
    clock.advance(Duration::from_millis(200));
    writeln!(
        out,
        "At {} the same call is {}.",
        steadfast_core::Clock::now(&clock),
        if limiter.check().is_ok() {
            "admitted"
        } else {
            "still rejected"
        }
    )?;

    // 1b. Per client: one budget per key, and what each admission leaves
    // (the figures of RateLimit-* response headers).
    let per_client = KeyedRateLimiter::with_clock(
        Quota::per_minute(60)
            .and_then(|q| q.with_burst(3))
            .map_err(io::Error::other)?,
        std::num::NonZeroUsize::new(10_000).ok_or_else(|| io::Error::other("zero keys"))?,
        clock.clone(),
    );
    writeln!(
        out,
        "Per-client limit (60/min, burst 3), each client on a budget of its own:"
    )?;
    for (client, calls) in [("10.0.0.7", 4), ("10.0.0.9", 1)] {
        let mut replies = Vec::new();
        for _ in 0..calls {
            replies.push(match per_client.check_n_headroom(&client, 1) {
                Ok(left) => format!(
                    "ok, {} of {} left (all back in {:?})",
                    left.remaining(),
                    left.burst(),
                    left.full_in()
                ),
                Err(e) => format!(
                    "refused, retry at {}",
                    e.retry_at()
                        .map_or_else(|| "never".to_string(), |t| t.to_string())
                ),
            });
        }
        writeln!(out, "  {client}: {}", replies.join("; "))?;
    }

    // 2. A bulkhead of 2: the third concurrent call is turned away at once.
    let config = BulkheadConfig::builder()
        .max_concurrent(2)
        .build()
        .map_err(io::Error::other)?;
    let bulkhead = Bulkhead::with_clock(config, clock.clone());
    let first = bulkhead.try_acquire().map_err(io::Error::other)?;
    let _second = bulkhead.try_acquire().map_err(io::Error::other)?;
    if let Err(full) = bulkhead.try_acquire() {
        writeln!(out, "Bulkhead of 2 with 2 calls running: {full}.")?;
    }
    drop(first);
    writeln!(
        out,
        "One call finishes; {} slot(s) free again.",
        bulkhead.available()
    )?;

    // 3. An adaptive limit (AIMD) finding the capacity of a service that
    // starts timing out above 12 concurrent calls.
    let events = Recorder::new();
    let algorithm = Aimd::new(
        AimdConfig::builder()
            .initial_limit(4)
            .max_limit(100)
            .build()
            .map_err(io::Error::other)?,
    );
    let limiter = AdaptiveLimiter::observed(algorithm, clock.clone(), events.clone());
    let capacity = 12;
    let mut trace = Vec::new();
    for round in 0..40 {
        let mut tokens = Vec::new();
        while let Ok(t) = limiter.try_acquire() {
            tokens.push(t);
        }
        let overloaded = tokens.len() > capacity;
        clock.advance(Duration::from_millis(if overloaded { 50 } else { 10 }));
        for (i, t) in tokens.into_iter().enumerate() {
            // Calls beyond what the service holds time out.
            if i >= capacity {
                t.dropped();
            } else {
                t.success();
            }
        }
        if round % 8 == 7 {
            trace.push(limiter.limit().to_string());
        }
    }
    let drops = events
        .events()
        .iter()
        .filter(|e| matches!(e, AdaptiveEvent::LimitChanged { from, to, .. } if to < from))
        .count();
    writeln!(
        out,
        "AIMD limit from 4, every 8 rounds against a service that holds 12: {}.",
        trace.join(" -> ")
    )?;
    writeln!(
        out,
        "It shrank on {drops} timed-out calls and keeps hovering around the real capacity."
    )?;

    // 4. Hedging: the primary is stuck on a slow replica; after the hedge
    // delay (on a virtual timer that moves the manual clock) a second attempt
    // goes to another replica, answers, and the primary is dropped.
    let hedger = Hedger::observed(
        HedgeConfig::builder()
            .delay(HedgeDelay::Fixed(Duration::from_millis(20)))
            .build()
            .map_err(io::Error::other)?,
        UnlimitedHedges,
        clock.clone(),
        (),
    );
    let timer = clock.clone();
    let virtual_sleep = move |d: Duration| {
        timer.advance(d);
        std::future::ready(())
    };
    let started = steadfast_core::Clock::now(&clock);
    let call = pin!(hedger.run(&virtual_sleep, |attempt| async move {
        if attempt == 0 {
            std::future::pending::<()>().await; // the slow replica never answers
        }
        Ok::<_, io::Error>(format!("replica {}", attempt + 1))
    }));
    if let Poll::Ready(Ok(winner)) = call.poll(&mut Context::from_waker(Waker::noop())) {
        writeln!(
            out,
            "Hedging (20 ms delay): {winner} answered after {:?}; the stuck attempt was dropped.",
            steadfast_core::Clock::now(&clock).saturating_duration_since(started)
        )?;
    }
    Ok(())
}
