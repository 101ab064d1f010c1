//! The steadfast tower pipeline against real HTTP servers over loopback.

#[allow(dead_code)]
#[path = "../http_resilience.rs"]
mod http_resilience;

use std::time::Duration;

use http_resilience::{hedging, outage, overload, retry_budget};
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
