//! The breaker, retry, keyed rate limit and pipeline tower layers through
//! the public API.
#![cfg(feature = "tower")]

use std::convert::Infallible;
use std::future::Future;
use std::num::NonZeroUsize;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use steadfast_core::ManualClock;
use steadfast_guard::backoff::Backoff;
use steadfast_guard::breaker::{BreakerConfig, BreakerState, CircuitBreaker};
use steadfast_guard::budget::{PercentBudget, RetryKind, Unlimited};
use steadfast_guard::bulkhead::{Bulkhead, BulkheadConfig};
use steadfast_guard::pipeline::{Pipeline, PipelineError, Stage};
use steadfast_guard::rate_limit::{KeyedRateLimiter, Quota, RateLimiter};
use steadfast_guard::retry::{RetryPolicy, Verdict};
use steadfast_guard::tower::{
    CircuitBreakerLayer, GuardError, KeyedRateLimitLayer, PipelineLayer, RetryLayer,
};
use tower_layer::Layer;
use tower_service::Service;

/// Answers `status` from a script, counting the calls that reach it.
#[derive(Clone)]
struct Backend {
    calls: Arc<AtomicU32>,
    fail_first: u32,
}

impl Backend {
    fn new(fail_first: u32) -> Backend {
        Backend {
            calls: Arc::default(),
            fail_first,
        }
    }
    fn calls(&self) -> u32 {
        self.calls.load(Ordering::Relaxed)
    }
}

impl Service<u32> for Backend {
    type Response = u32;
    type Error = &'static str;
    type Future = Pin<Box<dyn Future<Output = Result<u32, &'static str>> + Send>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, req: u32) -> Self::Future {
        let n = self.calls.fetch_add(1, Ordering::Relaxed);
        let fail = n < self.fail_first;
        Box::pin(async move { if fail { Err("unavailable") } else { Ok(req) } })
    }
}

fn instant(_: Duration) -> std::future::Ready<()> {
    std::future::ready(())
}

fn block_on<F: Future>(f: F) -> F::Output {
    futures::executor::block_on(f)
}

fn breaker(clock: &ManualClock) -> CircuitBreaker<ManualClock> {
    let config = BreakerConfig::builder()
        .count_window(4)
        .minimum_calls(4)
        .failure_rate_threshold(0.5)
        .wait_in_open(Duration::from_secs(10))
        .half_open_trials(2)
        .build()
        .unwrap();
    CircuitBreaker::with_clock(config, clock.clone())
}

#[test]
fn breaker_layer_shares_one_window_and_fails_fast_while_open() {
    let clock = ManualClock::new();
    let backend = Backend::new(u32::MAX);
    let layer = CircuitBreakerLayer::new(breaker(&clock));
    let mut a = layer.layer(backend.clone());
    let mut b = a.clone();
    for i in 0..4 {
        let service = if i % 2 == 0 { &mut a } else { &mut b };
        assert_eq!(
            block_on(service.call(i)),
            Err(GuardError::Inner("unavailable"))
        );
    }
    // Four failures over two clones opened the one breaker.
    let err = block_on(b.call(9)).unwrap_err();
    let GuardError::CircuitOpen(rejected) = err else {
        panic!("{err:?}")
    };
    assert_eq!(rejected.state, BreakerState::Open);
    assert!(GuardError::<()>::CircuitOpen(rejected).is_temporary());
    assert_eq!(backend.calls(), 4);
    // Half-open admits the configured two trials and no more.
    clock.advance(Duration::from_secs(10));
    let mut pending: Vec<_> = (0..4).map(|i| a.call(i)).collect();
    assert_eq!(backend.calls(), 6);
    let rejected = block_on(pending.pop().unwrap()).unwrap_err();
    assert!(matches!(rejected, GuardError::CircuitOpen(_)));
}

#[test]
fn retry_layer_retries_clones_until_success() {
    let backend = Backend::new(2);
    let policy = RetryPolicy::builder(Backoff::constant(Duration::from_millis(1)).build().unwrap())
        .max_attempts(5)
        .build()
        .unwrap();
    let mut service = RetryLayer::new(Arc::new(policy), instant).layer(backend.clone());
    assert_eq!(block_on(service.call(7)), Ok(7));
    assert_eq!(backend.calls(), 3);
}

#[test]
fn retry_layer_keeps_retries_inside_the_budget() {
    let clock = ManualClock::new();
    // 10 % of recent requests, no floor.
    let budget = PercentBudget::with_clock(
        PercentBudget::builder()
            .percent_can_retry(0.1)
            .min_retries_per_sec(0)
            .build()
            .unwrap(),
        clock,
    );
    let backend = Backend::new(u32::MAX);
    let policy = RetryPolicy::builder(Backoff::constant(Duration::from_millis(1)).build().unwrap())
        .max_attempts(4)
        .classify(|r: &Result<u32, &str>| {
            if r.is_err() {
                Verdict::Retry(RetryKind::Error)
            } else {
                Verdict::Return
            }
        })
        .budget(budget)
        .build()
        .unwrap();
    let layer = RetryLayer::new(Arc::new(policy), instant);
    let requests = 200;
    for i in 0..requests {
        let mut service = layer.layer(backend.clone());
        assert_eq!(block_on(service.call(i)), Err("unavailable"));
    }
    let seen = backend.calls();
    assert!(seen > requests, "some retries were allowed");
    assert!(
        seen <= requests + requests / 10,
        "{seen} requests for {requests} calls"
    );
}

#[test]
fn pipeline_layer_rejects_over_the_rate_before_the_inner_service() {
    let clock = ManualClock::new();
    let pipeline = Pipeline::builder_with_clock(clock.clone())
        .rate_limit(RateLimiter::with_clock(
            Quota::per_second(2).unwrap(),
            clock.clone(),
        ))
        .retry(
            Backoff::constant(Duration::from_millis(1)).build().unwrap(),
            3,
            Unlimited,
        )
        .breaker(breaker(&clock))
        .build()
        .unwrap();
    let backend = Backend::new(1);
    let mut service = PipelineLayer::new(pipeline.clone(), instant).layer(backend.clone());
    // One failure then a success: retried through the breaker.
    assert_eq!(block_on(service.call(1)), Ok(1));
    assert_eq!(backend.calls(), 2);
    assert_eq!(pipeline.breaker().unwrap().metrics().figures.calls, 2);
    let mut clone = service.clone();
    assert_eq!(block_on(clone.call(2)), Ok(2));
    // The third call in the same second is refused before anything else.
    let err = block_on(clone.call(3)).unwrap_err();
    assert_eq!(err.stage(), Stage::RateLimit);
    assert!(err.retry_after().is_some());
    assert_eq!(backend.calls(), 3);
    assert_eq!(pipeline.breaker().unwrap().metrics().figures.calls, 3);
}

/// A backend that never answers, counting the calls it holds.
#[derive(Clone, Default)]
struct Hanging {
    calls: Arc<AtomicU32>,
}

impl Service<u32> for Hanging {
    type Response = u32;
    type Error = Infallible;
    type Future = std::future::Pending<Result<u32, Infallible>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, _: u32) -> Self::Future {
        self.calls.fetch_add(1, Ordering::Relaxed);
        std::future::pending()
    }
}

#[test]
fn pipeline_layer_bulkhead_rejects_with_its_typed_error() {
    let clock = ManualClock::new();
    let bulkhead = Bulkhead::with_clock(
        BulkheadConfig::builder().max_concurrent(2).build().unwrap(),
        clock.clone(),
    );
    let pipeline = Pipeline::builder_with_clock(clock)
        .bulkhead(bulkhead.clone())
        .build()
        .unwrap();
    let backend = Hanging::default();
    let mut service = PipelineLayer::new(pipeline, instant).layer(backend.clone());
    let mut held: Vec<_> = (0..2).map(|i| Box::pin(service.call(i))).collect();
    let waker = futures::task::noop_waker();
    let mut cx = Context::from_waker(&waker);
    for call in &mut held {
        assert!(call.as_mut().poll(&mut cx).is_pending());
    }
    assert_eq!(bulkhead.in_flight(), 2);
    let err = block_on(service.call(3)).unwrap_err();
    assert!(matches!(err, PipelineError::BulkheadFull(_)), "{err:?}");
    assert_eq!(backend.calls.load(Ordering::Relaxed), 2);
    drop(held);
    assert_eq!(bulkhead.in_flight(), 0);
}

#[test]
fn pipeline_layer_futures_are_send_unboxed_and_give_back_what_they_hold_when_dropped() {
    fn assert_send<T: Send>(_: &T) {}
    let clock = ManualClock::new();
    let bulkhead = Bulkhead::with_clock(
        BulkheadConfig::builder().max_concurrent(1).build().unwrap(),
        clock.clone(),
    );
    let pipeline = Pipeline::builder_with_clock(clock.clone())
        .breaker(breaker(&clock))
        .bulkhead(bulkhead.clone())
        .build()
        .unwrap();
    let breaker = pipeline.breaker().unwrap().clone();
    breaker.half_open();
    let backend = Hanging::default();
    let mut service = PipelineLayer::new(pipeline, instant).layer(backend.clone());
    let call = service.call(1);
    assert_send(&call);
    let mut call = Box::pin(call);
    let waker = futures::task::noop_waker();
    let mut cx = Context::from_waker(&waker);
    assert!(call.as_mut().poll(&mut cx).is_pending());
    assert_eq!(bulkhead.in_flight(), 1);
    assert_eq!(breaker.metrics().trials_taken, 1);
    assert_eq!(backend.calls.load(Ordering::Relaxed), 1);
    drop(call);
    assert_eq!(bulkhead.in_flight(), 0);
    assert_eq!(breaker.metrics().trials_taken, 0);
    assert_eq!(breaker.state(), BreakerState::HalfOpen);
}

#[test]
fn keyed_rate_limit_layer_charges_each_key_across_clones() {
    let clock = ManualClock::new();
    let limiter = Arc::new(KeyedRateLimiter::with_clock(
        Quota::per_second(2).unwrap(),
        NonZeroUsize::new(100).unwrap(),
        clock.clone(),
    ));
    // The key is the request modulo 10: requests 1, 11, 21 are one client.
    let backend = Backend::new(0);
    let layer = KeyedRateLimitLayer::new(Arc::clone(&limiter), |req: &u32| req % 10);
    let mut a = layer.layer(backend.clone());
    let mut b = a.clone();
    futures::executor::block_on(async {
        assert_eq!(a.call(1).await, Ok(1));
        assert_eq!(b.call(11).await, Ok(11));
        // Client 1's burst of 2 is spent, through either clone.
        let err = a.call(21).await.unwrap_err();
        let GuardError::RateLimited(not_until) = &err else {
            panic!("{err:?}")
        };
        assert_eq!(not_until.wait_time(), Duration::from_millis(500));
        assert!(err.is_temporary());
        assert!(matches!(b.call(31).await, Err(GuardError::RateLimited(_))));
        // Client 2 is not affected.
        assert_eq!(b.call(2).await, Ok(2));
        clock.advance(Duration::from_millis(500));
        assert_eq!(a.call(41).await, Ok(41));
    });
    // Refused calls never reached the backend.
    assert_eq!(backend.calls(), 4);
    assert_eq!(limiter.len(), 2);
}
