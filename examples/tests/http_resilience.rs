//! The steadfast tower pipeline against real HTTP servers over loopback.

#[allow(dead_code)]
#[path = "../http_resilience.rs"]
mod http_resilience;

use std::time::Duration;

use http_resilience::{
    adaptive, blocking, hedging, outage, overload, per_client_limits, retry_budget,
};
use steadfast_guard::breaker::BreakerState;

/// Bounds a scenario's wall time so a broken network setup fails instead of hanging.
async fn bounded<T>(scenario: impl std::future::Future<Output = std::io::Result<T>>) -> T {
    tokio::time::timeout(Duration::from_secs(60), scenario)
        .await
        .expect("scenario finished within 60 s")
        .expect("servers started on 127.0.0.1")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_opens_the_breaker_which_fails_fast_and_limits_trials() {
    let r = bounded(outage()).await;
    assert_eq!(r.failures_to_open, 10, "{r:?}");
    assert_eq!(r.refused_while_open, 50, "{r:?}");
    assert_eq!(r.server_requests_while_open, 0, "{r:?}");
    assert!(r.half_open_admitted >= 1, "{r:?}");
    assert!(
        r.half_open_admitted <= u64::from(r.trials_configured),
        "{r:?}"
    );
    assert!(
        r.half_open_refused >= r.half_open_burst - r.trials_configured as usize,
        "{r:?}"
    );
    assert_eq!(r.state_after_recovery, BreakerState::Closed, "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_stay_inside_the_budget() {
    let r = bounded(retry_budget()).await;
    let cap = (r.client_calls as f64 * (1.0 + r.percent_can_retry)).floor() as u64 + r.floor;
    assert!(
        r.server_requests > r.client_calls,
        "some retries were made: {r:?}"
    );
    assert!(
        r.server_requests <= cap,
        "{} > cap {cap}: {r:?}",
        r.server_requests
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hedging_hides_one_slow_replica() {
    let r = bounded(hedging()).await;
    // Without hedging the slow replica sets the tail ...
    assert!(r.unhedged_p99 >= r.slow_delay, "{r:?}");
    // ... with a hedge the fast replica answers: a generous ratio, not a speed claim.
    assert!(r.hedged_p99 < r.slow_delay / 2, "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overload_is_refused_with_typed_errors_and_concurrency_is_capped() {
    let r = bounded(overload()).await;
    assert!(r.rate_limited >= 1, "{r:?}");
    assert_eq!(
        r.rate_limited as u64 + r.rate_server_requests,
        r.burst as u64,
        "{r:?}"
    );
    assert!(r.bulkhead_full >= 1, "{r:?}");
    assert!(r.bulkhead_server_max_in_flight >= 1, "{r:?}");
    assert!(
        r.bulkhead_server_max_in_flight <= r.bulkhead_limit as u64,
        "{r:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_calls_open_the_breaker_fail_fast_and_recover_after_the_wait() {
    let r = bounded(blocking()).await;
    assert!(r.opened, "{r:?}");
    // The breaker counts every attempt, retries included: it opens on the
    // attempt that fills its window, whatever call that attempt belongs to.
    assert_eq!(r.requests_to_open, u64::from(r.window), "{r:?}");
    assert!(r.calls_to_open <= r.window, "{r:?}");
    assert!(r.calls_while_open >= 1, "{r:?}");
    assert_eq!(r.refused_while_open, r.calls_while_open, "{r:?}");
    assert_eq!(r.server_requests_while_open, 0, "{r:?}");
    assert_eq!(r.recovery_status, Some(200), "{r:?}");
    assert_eq!(r.state_after_recovery, BreakerState::Closed, "{r:?}");
    assert_eq!(
        r.transitions.first(),
        Some(&(BreakerState::Closed, BreakerState::Open)),
        "{r:?}"
    );
    assert_eq!(
        r.transitions.last(),
        Some(&(BreakerState::HalfOpen, BreakerState::Closed)),
        "{r:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_adaptive_limit_comes_down_under_load_and_caps_the_server() {
    let r = bounded(adaptive()).await;
    assert!(r.lowest_limit < r.initial_limit, "{r:?}");
    assert!(r.final_limit < r.initial_limit, "{r:?}");
    assert!(r.refused >= 1, "{r:?}");
    assert!(r.served >= 1, "{r:?}");
    assert_eq!(r.served + r.refused + r.failed, r.calls, "{r:?}");
    // No slack: a request reaches the server only while its attempt holds a
    // slot the limiter admitted under a limit it reported, and the server is
    // done with it before the slot is freed (no attempt is cancelled).
    assert!(r.server_max_in_flight >= 1, "{r:?}");
    assert!(r.server_max_in_flight <= r.highest_limit as u64, "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_limits_each_client_and_says_what_is_left() {
    let r = bounded(per_client_limits()).await;
    let burst = u64::from(r.burst);
    let admitted = r.noisy.iter().filter(|x| x.status == 200).count() as u64;
    // A client earns one request a second; eight calls over loopback take
    // far less, so at most one more than the burst gets through.
    assert!((burst..=burst + 1).contains(&admitted), "{r:?}");
    let first = r.noisy[0];
    assert_eq!(
        (first.limit, first.remaining, first.reset),
        (Some(burst), Some(burst - 1), Some(1)),
        "{r:?}"
    );
    // The burst counts down to nothing.
    let countdown: Vec<Option<u64>> = r.noisy[..r.burst as usize]
        .iter()
        .map(|x| x.remaining)
        .collect();
    if admitted == burst {
        assert_eq!(
            countdown,
            (0..burst).rev().map(Some).collect::<Vec<_>>(),
            "{r:?}"
        );
    }
    let refused: Vec<_> = r.noisy.iter().filter(|x| x.status == 429).collect();
    assert_eq!(refused.len() as u64, 8 - admitted, "{r:?}");
    for reply in &refused {
        // The next request is earned within a second; the reply says so.
        assert_eq!(reply.retry_after, Some(1), "{r:?}");
        assert_eq!(reply.remaining, Some(0), "{r:?}");
        assert_eq!(reply.limit, Some(burst), "{r:?}");
        assert!(
            reply.reset.is_some_and(|s| (1..=burst).contains(&s)),
            "{r:?}"
        );
    }
    // The quiet client has a budget of its own.
    let quiet: Vec<(u16, Option<u64>)> = r.quiet.iter().map(|x| (x.status, x.remaining)).collect();
    assert_eq!(
        quiet,
        [
            (200, Some(burst - 1)),
            (200, Some(burst - 2)),
            (200, Some(burst - 3))
        ],
        "{r:?}"
    );
    // The polite client's pipeline met one 429 and retried once, after the
    // Retry-After: an earlier retry would have been refused again.
    assert!(r.polite.iter().all(|x| x.status == 200), "{r:?}");
    assert_eq!(r.polite.len() as u64, burst + 1, "{r:?}");
    assert!(r.polite_last_call >= Duration::from_secs(1), "{r:?}");
    // Refused requests cost the server no work.
    assert_eq!(r.server_requests, admitted + 3 + burst + 1, "{r:?}");
    assert_eq!(r.server_refused, 8 - admitted + 1, "{r:?}");
}
