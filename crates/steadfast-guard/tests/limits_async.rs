//! The limits' async paths on a real runtime (tokio's timer), through the public API.

#![cfg(feature = "tokio")]

use std::sync::Arc;
use std::time::Duration;

use steadfast_guard::TokioSleeper;
use steadfast_guard::bulkhead::{Bulkhead, BulkheadConfig};
use steadfast_guard::hedge::{HedgeConfig, HedgeDelay, Hedger};
use steadfast_guard::rate_limit::{Quota, RateLimiter};
use steadfast_guard::timeout::{Deadline, timeout};

#[tokio::test(flavor = "current_thread")]
async fn bulkhead_waiters_are_served_as_permits_come_back() {
    let config = BulkheadConfig::builder()
        .max_concurrent(2)
        .max_wait(Duration::from_secs(30))
        .build()
        .unwrap();
    let bulkhead = Bulkhead::new(config);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let bulkhead = bulkhead.clone();
        tasks.push(tokio::spawn(async move {
            let permit = bulkhead
                .acquire(&TokioSleeper)
                .await
                .expect("served within 30 s");
            assert!(bulkhead.in_flight() <= 2);
            tokio::time::sleep(Duration::from_millis(1)).await;
            drop(permit);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(bulkhead.in_flight(), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn rate_limiter_waits_instead_of_failing() {
    let limiter = Arc::new(RateLimiter::new(
        Quota::new(1, Duration::from_millis(2)).unwrap(),
    ));
    for _ in 0..5 {
        limiter.until_ready(&TokioSleeper).await;
    }
    assert!(limiter.until_n_ready(2, &TokioSleeper).await.is_err());
}

#[tokio::test(flavor = "current_thread")]
async fn timeouts_and_deadlines_on_tokio() {
    let slow = tokio::time::sleep(Duration::from_secs(60));
    assert!(
        timeout(&TokioSleeper, Duration::from_millis(2), slow)
            .await
            .is_err()
    );
    let clock = steadfast_core::MonotonicClock::new();
    let deadline = Deadline::after(&clock, Duration::from_secs(30));
    assert_eq!(
        deadline.run(&clock, &TokioSleeper, async { 5 }).await,
        Ok(5)
    );
}

#[tokio::test(flavor = "current_thread")]
async fn hedge_beats_a_stuck_replica_on_tokio() {
    let hedger = Hedger::new(
        HedgeConfig::builder()
            .delay(HedgeDelay::Fixed(Duration::from_millis(2)))
            .build()
            .unwrap(),
    );
    let answer = hedger
        .run(&TokioSleeper, |attempt| async move {
            if attempt == 0 {
                tokio::time::sleep(Duration::from_secs(60)).await;
            }
            Ok::<_, ()>(attempt)
        })
        .await;
    assert_eq!(answer, Ok(1));
}
