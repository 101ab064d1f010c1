//! tower `Layer`s and `Service`s for the limits (feature `tower`).
//!
//! State lives behind shared handles, so every clone of a service draws on
//! the same bulkhead, the same rate limiter and the same latency estimate
//! (tower's own rate and concurrency limits are per clone). Rejections are
//! typed: a [`GuardError`] says which guard refused and whether trying later
//! can help, and wraps the inner service's error otherwise.
//!
//! Stacking layers nests the error type (`GuardError<GuardError<E>>`); each
//! level is still matched by variant.
//!
//! The [`PipelineLayer`]'s response future is a named state machine
//! ([`PipelineFuture`]), not boxed, and asks nothing of the inner service
//! beyond `Clone` (and of requests beyond `Clone`); it is `Send` when they
//! are. The single-strategy layers' response futures are boxed (one
//! allocation per call), so their inner service's future must be
//! `Send + 'static`.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use steadfast_guard::bulkhead::{Bulkhead, BulkheadConfig};
//! use steadfast_guard::rate_limit::{Quota, RateLimiter};
//! use steadfast_guard::tower::{BulkheadLayer, GuardError, RateLimitLayer};
//! use tower_layer::Layer;
//! use tower_service::Service;
//!
//! #[derive(Clone)]
//! struct Echo;
//! impl Service<u32> for Echo {
//!     type Response = u32;
//!     type Error = std::convert::Infallible;
//!     type Future = std::future::Ready<Result<u32, Self::Error>>;
//!     fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
//!         std::task::Poll::Ready(Ok(()))
//!     }
//!     fn call(&mut self, req: u32) -> Self::Future {
//!         std::future::ready(Ok(req))
//!     }
//! }
//!
//! let limiter = Arc::new(RateLimiter::new(Quota::per_second(1)?));
//! let bulkhead = Bulkhead::new(BulkheadConfig::builder().max_concurrent(4).build()?);
//! let mut a = RateLimitLayer::new(limiter).layer(BulkheadLayer::new(bulkhead).layer(Echo));
//! let mut b = a.clone(); // shares the limiter with `a`
//! futures::executor::block_on(async {
//!     assert_eq!(a.call(7).await.unwrap(), 7);
//!     let err = b.call(8).await.unwrap_err();
//!     assert!(matches!(err, GuardError::RateLimited(_)));
//!     assert!(err.is_temporary());
//! });
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::future::Future;
use std::hash::{BuildHasher, Hash};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use steadfast_core::{Clock, Observer, Timestamp};
use tower_layer::Layer;
use tower_service::Service;

use crate::Sleeper;
use crate::breaker::{BreakerEvent, BreakerState, CircuitBreaker, Outcome, Rejected};
use crate::budget::RetryBudget;
use crate::bulkhead::{Bulkhead, BulkheadFull};
use crate::hedge::{HedgeBudget, Hedger};
use crate::pipeline::{Call, Pipeline, PipelineError};
use crate::rate_limit::{KeyedRateLimiter, NotUntil, RateLimiter};
use crate::retry::{Classify, RetryEvent, RetryPolicy, Verdict};
use crate::shed::Priority;
use crate::timeout::{Elapsed, timeout};

/// A boxed response future.
pub type GuardFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, GuardError<E>>> + Send>>;

/// Which guard refused a call, or the inner service's own error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GuardError<E> {
    /// The inner service failed.
    #[error("inner service failed: {0}")]
    Inner(E),
    /// The bulkhead was full.
    #[error(transparent)]
    BulkheadFull(BulkheadFull),
    /// The rate limit was reached; retry at the given time.
    #[error(transparent)]
    RateLimited(NotUntil),
    /// The call took too long.
    #[error(transparent)]
    TimedOut(Elapsed),
    /// The circuit breaker refused the call; it was not made.
    #[error(transparent)]
    CircuitOpen(Rejected),
}

impl<E> GuardError<E> {
    /// `true` when a guard refused for a reason that passes with time (not
    /// a breaker forced open). Inner errors are not judged: `false`.
    #[must_use]
    pub fn is_temporary(&self) -> bool {
        match self {
            GuardError::Inner(_) => false,
            GuardError::CircuitOpen(rejected) => rejected.state != BreakerState::ForcedOpen,
            _ => true,
        }
    }

    /// When to retry, for a rate-limit rejection.
    #[must_use]
    pub fn retry_at(&self) -> Option<Timestamp> {
        match self {
            GuardError::RateLimited(n) => Some(n.retry_at()),
            _ => None,
        }
    }

    /// The inner service's error, if that is what this is.
    #[must_use]
    pub fn into_inner(self) -> Option<E> {
        match self {
            GuardError::Inner(e) => Some(e),
            _ => None,
        }
    }
}

fn ready_inner<S, Req>(
    inner: &mut S,
    cx: &mut Context<'_>,
) -> Poll<Result<(), GuardError<S::Error>>>
where
    S: Service<Req>,
{
    inner.poll_ready(cx).map_err(GuardError::Inner)
}

// ---------------------------------------------------------------- bulkhead

/// Wraps services in a shared [`Bulkhead`].
#[derive(Debug, Clone)]
pub struct BulkheadLayer {
    bulkhead: Bulkhead,
}

impl BulkheadLayer {
    /// A layer admitting calls through `bulkhead` (shared by every service it wraps).
    #[must_use]
    pub fn new(bulkhead: Bulkhead) -> BulkheadLayer {
        BulkheadLayer { bulkhead }
    }
}

impl<S> Layer<S> for BulkheadLayer {
    type Service = BulkheadService<S>;
    fn layer(&self, inner: S) -> BulkheadService<S> {
        BulkheadService {
            inner,
            bulkhead: self.bulkhead.clone(),
        }
    }
}

/// A service behind a [`Bulkhead`]: the permit is held until the response future completes.
#[derive(Debug, Clone)]
pub struct BulkheadService<S> {
    inner: S,
    bulkhead: Bulkhead,
}

impl<S, Req> Service<Req> for BulkheadService<S>
where
    S: Service<Req>,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = GuardError<S::Error>;
    type Future = GuardFuture<S::Response, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        ready_inner(&mut self.inner, cx)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        match self.bulkhead.try_acquire_owned() {
            Ok(permit) => {
                let fut = self.inner.call(req);
                Box::pin(async move {
                    let out = fut.await.map_err(GuardError::Inner);
                    drop(permit);
                    out
                })
            }
            Err(full) => Box::pin(std::future::ready(Err(GuardError::BulkheadFull(full)))),
        }
    }
}

// ---------------------------------------------------------------- rate limit

/// Wraps services in a shared [`RateLimiter`]; calls over the rate are rejected at once.
pub struct RateLimitLayer<C> {
    limiter: Arc<RateLimiter<C>>,
}

impl<C> Clone for RateLimitLayer<C> {
    fn clone(&self) -> Self {
        RateLimitLayer {
            limiter: Arc::clone(&self.limiter),
        }
    }
}

impl<C> fmt::Debug for RateLimitLayer<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitLayer")
            .field("limiter", &self.limiter)
            .finish()
    }
}

impl<C> RateLimitLayer<C> {
    /// A layer checking `limiter` (shared by every service it wraps).
    #[must_use]
    pub fn new(limiter: Arc<RateLimiter<C>>) -> Self {
        RateLimitLayer { limiter }
    }
}

impl<S, C> Layer<S> for RateLimitLayer<C> {
    type Service = RateLimitService<S, C>;
    fn layer(&self, inner: S) -> RateLimitService<S, C> {
        RateLimitService {
            inner,
            limiter: Arc::clone(&self.limiter),
        }
    }
}

/// A service behind a shared [`RateLimiter`].
pub struct RateLimitService<S, C> {
    inner: S,
    limiter: Arc<RateLimiter<C>>,
}

impl<S: Clone, C> Clone for RateLimitService<S, C> {
    fn clone(&self) -> Self {
        RateLimitService {
            inner: self.inner.clone(),
            limiter: Arc::clone(&self.limiter),
        }
    }
}

impl<S, C> fmt::Debug for RateLimitService<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitService")
            .field("limiter", &self.limiter)
            .finish_non_exhaustive()
    }
}

impl<S, C, Req> Service<Req> for RateLimitService<S, C>
where
    S: Service<Req>,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    S::Error: Send + 'static,
    C: Clock,
{
    type Response = S::Response;
    type Error = GuardError<S::Error>;
    type Future = GuardFuture<S::Response, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        ready_inner(&mut self.inner, cx)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let admitted = self.limiter.check();
        call_if_admitted(&mut self.inner, req, admitted)
    }
}

/// Calls `inner` with `req` if the rate limiter admitted it.
fn call_if_admitted<S, Req>(
    inner: &mut S,
    req: Req,
    admitted: Result<(), NotUntil>,
) -> GuardFuture<S::Response, S::Error>
where
    S: Service<Req>,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    S::Error: Send + 'static,
{
    match admitted {
        Ok(()) => {
            let fut = inner.call(req);
            Box::pin(async move { fut.await.map_err(GuardError::Inner) })
        }
        Err(not_until) => Box::pin(std::future::ready(Err(GuardError::RateLimited(not_until)))),
    }
}

// ---------------------------------------------------------------- keyed rate limit

/// Wraps services in a shared [`KeyedRateLimiter`]: each request is charged
/// to the key `key_of` extracts from it (a client address, an API key, a
/// tenant), and a key over its rate is rejected at once with
/// [`GuardError::RateLimited`]. Other keys are unaffected.
///
/// Requests that carry no key can be given one of their own: with
/// `K = Option<String>`, say, every keyless request shares the `None`
/// budget.
///
/// ```
/// use std::num::NonZeroUsize;
/// use std::sync::Arc;
/// use steadfast_core::ManualClock;
/// use steadfast_guard::rate_limit::{KeyedRateLimiter, Quota};
/// use steadfast_guard::tower::{GuardError, KeyedRateLimitLayer};
/// use tower::{Layer, Service, ServiceExt, service_fn};
///
/// // Requests are (client, payload); each client may send 1 per second.
/// let limiter = Arc::new(KeyedRateLimiter::with_clock(
///     Quota::per_second(1)?,
///     NonZeroUsize::new(10_000).unwrap(),
///     ManualClock::new(),
/// ));
/// let layer = KeyedRateLimitLayer::new(limiter, |req: &(&'static str, u32)| req.0);
/// let mut svc = layer.layer(service_fn(|req: (&'static str, u32)| async move {
///     Ok::<_, std::convert::Infallible>(req.1)
/// }));
/// futures::executor::block_on(async {
///     assert_eq!(svc.ready().await.unwrap().call(("alice", 1)).await.unwrap(), 1);
///     let err = svc.ready().await.unwrap().call(("alice", 2)).await.unwrap_err();
///     assert!(matches!(err, GuardError::RateLimited(_)));
///     // Bob has a budget of his own.
///     assert_eq!(svc.ready().await.unwrap().call(("bob", 3)).await.unwrap(), 3);
/// });
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct KeyedRateLimitLayer<K, C, H, F> {
    limiter: Arc<KeyedRateLimiter<K, C, H>>,
    key_of: F,
}

impl<K, C, H, F: Clone> Clone for KeyedRateLimitLayer<K, C, H, F> {
    fn clone(&self) -> Self {
        KeyedRateLimitLayer {
            limiter: Arc::clone(&self.limiter),
            key_of: self.key_of.clone(),
        }
    }
}

impl<K, C, H, F> fmt::Debug for KeyedRateLimitLayer<K, C, H, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedRateLimitLayer")
            .field("limiter", &self.limiter)
            .finish_non_exhaustive()
    }
}

impl<K, C, H, F> KeyedRateLimitLayer<K, C, H, F> {
    /// A layer charging each request to `key_of(&request)` in `limiter`
    /// (shared by every service it wraps).
    #[must_use]
    pub fn new(limiter: Arc<KeyedRateLimiter<K, C, H>>, key_of: F) -> Self {
        KeyedRateLimitLayer { limiter, key_of }
    }
}

impl<S, K, C, H, F: Clone> Layer<S> for KeyedRateLimitLayer<K, C, H, F> {
    type Service = KeyedRateLimitService<S, K, C, H, F>;
    fn layer(&self, inner: S) -> Self::Service {
        KeyedRateLimitService {
            inner,
            limiter: Arc::clone(&self.limiter),
            key_of: self.key_of.clone(),
        }
    }
}

/// A service behind a shared [`KeyedRateLimiter`]; see [`KeyedRateLimitLayer`].
pub struct KeyedRateLimitService<S, K, C, H, F> {
    inner: S,
    limiter: Arc<KeyedRateLimiter<K, C, H>>,
    key_of: F,
}

impl<S: Clone, K, C, H, F: Clone> Clone for KeyedRateLimitService<S, K, C, H, F> {
    fn clone(&self) -> Self {
        KeyedRateLimitService {
            inner: self.inner.clone(),
            limiter: Arc::clone(&self.limiter),
            key_of: self.key_of.clone(),
        }
    }
}

impl<S, K, C, H, F> fmt::Debug for KeyedRateLimitService<S, K, C, H, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedRateLimitService")
            .field("limiter", &self.limiter)
            .finish_non_exhaustive()
    }
}

impl<S, K, C, H, F, Req> Service<Req> for KeyedRateLimitService<S, K, C, H, F>
where
    S: Service<Req>,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    S::Error: Send + 'static,
    K: Hash + Eq + Clone,
    C: Clock,
    H: BuildHasher + Clone,
    F: Fn(&Req) -> K,
{
    type Response = S::Response;
    type Error = GuardError<S::Error>;
    type Future = GuardFuture<S::Response, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        ready_inner(&mut self.inner, cx)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let admitted = self.limiter.check(&(self.key_of)(&req));
        call_if_admitted(&mut self.inner, req, admitted)
    }
}

// ---------------------------------------------------------------- timeout

/// Limits each call to a duration, sleeping through a [`Sleeper`].
pub struct TimeoutLayer<Z> {
    limit: Duration,
    sleeper: Arc<Z>,
}

impl<Z> Clone for TimeoutLayer<Z> {
    fn clone(&self) -> Self {
        TimeoutLayer {
            limit: self.limit,
            sleeper: Arc::clone(&self.sleeper),
        }
    }
}

impl<Z> fmt::Debug for TimeoutLayer<Z> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimeoutLayer")
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

impl<Z> TimeoutLayer<Z> {
    /// A layer giving every call at most `limit`.
    #[must_use]
    pub fn new(limit: Duration, sleeper: Z) -> Self {
        TimeoutLayer {
            limit,
            sleeper: Arc::new(sleeper),
        }
    }
}

impl<S, Z> Layer<S> for TimeoutLayer<Z> {
    type Service = TimeoutService<S, Z>;
    fn layer(&self, inner: S) -> TimeoutService<S, Z> {
        TimeoutService {
            inner,
            limit: self.limit,
            sleeper: Arc::clone(&self.sleeper),
        }
    }
}

/// A service whose calls time out.
pub struct TimeoutService<S, Z> {
    inner: S,
    limit: Duration,
    sleeper: Arc<Z>,
}

impl<S: Clone, Z> Clone for TimeoutService<S, Z> {
    fn clone(&self) -> Self {
        TimeoutService {
            inner: self.inner.clone(),
            limit: self.limit,
            sleeper: Arc::clone(&self.sleeper),
        }
    }
}

impl<S, Z> fmt::Debug for TimeoutService<S, Z> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimeoutService")
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

impl<S, Z, Req> Service<Req> for TimeoutService<S, Z>
where
    S: Service<Req>,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    S::Error: Send + 'static,
    Z: Sleeper + 'static,
    Z::Sleep: 'static,
{
    type Response = S::Response;
    type Error = GuardError<S::Error>;
    type Future = GuardFuture<S::Response, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        ready_inner(&mut self.inner, cx)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let fut = self.inner.call(req);
        let sleeper = Arc::clone(&self.sleeper);
        let limit = self.limit;
        Box::pin(async move {
            match timeout(&*sleeper, limit, fut).await {
                Ok(out) => out.map_err(GuardError::Inner),
                Err(elapsed) => Err(GuardError::TimedOut(elapsed)),
            }
        })
    }
}

// ---------------------------------------------------------------- hedge

/// Hedges calls through a shared [`Hedger`]: every attempt goes to a clone of
/// the inner service with a clone of the request.
pub struct HedgeLayer<B, Z> {
    hedger: Arc<Hedger<B>>,
    sleeper: Arc<Z>,
}

impl<B, Z> Clone for HedgeLayer<B, Z> {
    fn clone(&self) -> Self {
        HedgeLayer {
            hedger: Arc::clone(&self.hedger),
            sleeper: Arc::clone(&self.sleeper),
        }
    }
}

impl<B, Z> fmt::Debug for HedgeLayer<B, Z> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HedgeLayer")
            .field("hedger", &self.hedger)
            .finish_non_exhaustive()
    }
}

impl<B, Z> HedgeLayer<B, Z> {
    /// A layer hedging through `hedger` (its latency estimate is shared by
    /// every service it wraps), waiting on `sleeper`.
    #[must_use]
    pub fn new(hedger: Arc<Hedger<B>>, sleeper: Z) -> Self {
        HedgeLayer {
            hedger,
            sleeper: Arc::new(sleeper),
        }
    }
}

impl<S, B, Z> Layer<S> for HedgeLayer<B, Z> {
    type Service = HedgeService<S, B, Z>;
    fn layer(&self, inner: S) -> HedgeService<S, B, Z> {
        HedgeService {
            inner,
            hedger: Arc::clone(&self.hedger),
            sleeper: Arc::clone(&self.sleeper),
        }
    }
}

/// A service whose calls are hedged.
pub struct HedgeService<S, B, Z> {
    inner: S,
    hedger: Arc<Hedger<B>>,
    sleeper: Arc<Z>,
}

impl<S: Clone, B, Z> Clone for HedgeService<S, B, Z> {
    fn clone(&self) -> Self {
        HedgeService {
            inner: self.inner.clone(),
            hedger: Arc::clone(&self.hedger),
            sleeper: Arc::clone(&self.sleeper),
        }
    }
}

impl<S, B, Z> fmt::Debug for HedgeService<S, B, Z> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HedgeService")
            .field("hedger", &self.hedger)
            .finish_non_exhaustive()
    }
}

impl<S, B, Z, Req> Service<Req> for HedgeService<S, B, Z>
where
    S: Service<Req> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    S::Error: Send + 'static,
    Req: Clone + Send + 'static,
    B: HedgeBudget + 'static,
    Z: Sleeper + 'static,
    Z::Sleep: 'static,
{
    type Response = S::Response;
    type Error = GuardError<S::Error>;
    type Future = GuardFuture<S::Response, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        ready_inner(&mut self.inner, cx)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        // The ready service takes the first attempt; hedges use fresh clones
        // and wait for their own readiness.
        let first = self.inner.call(req.clone());
        let mut first = Some(first);
        let template = self.inner.clone();
        let hedger = Arc::clone(&self.hedger);
        let sleeper = Arc::clone(&self.sleeper);
        Box::pin(async move {
            hedger
                .run(&*sleeper, move |attempt| {
                    let primary = if attempt == 0 { first.take() } else { None };
                    let mut service = template.clone();
                    let req = req.clone();
                    async move {
                        match primary {
                            Some(fut) => fut.await,
                            None => {
                                std::future::poll_fn(|cx| service.poll_ready(cx)).await?;
                                service.call(req).await
                            }
                        }
                    }
                })
                .await
                .map_err(GuardError::Inner)
        })
    }
}

// ---------------------------------------------------------------- breaker

/// Wraps services in a shared [`CircuitBreaker`]: every clone counts into
/// the same window, and an open breaker refuses calls before the inner
/// service is called.
pub struct CircuitBreakerLayer<K: Clock, O: Observer<BreakerEvent>> {
    breaker: CircuitBreaker<K, O>,
}

impl<K: Clock, O: Observer<BreakerEvent>> Clone for CircuitBreakerLayer<K, O> {
    fn clone(&self) -> Self {
        CircuitBreakerLayer {
            breaker: self.breaker.clone(),
        }
    }
}

impl<K: Clock, O: Observer<BreakerEvent>> fmt::Debug for CircuitBreakerLayer<K, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerLayer")
            .field("breaker", &self.breaker)
            .finish()
    }
}

impl<K: Clock, O: Observer<BreakerEvent>> CircuitBreakerLayer<K, O> {
    /// A layer guarding calls with `breaker` (shared by every service it wraps).
    /// The inner service's errors count as failures, its responses as successes.
    #[must_use]
    pub fn new(breaker: CircuitBreaker<K, O>) -> Self {
        CircuitBreakerLayer { breaker }
    }
}

impl<S, K: Clock, O: Observer<BreakerEvent>> Layer<S> for CircuitBreakerLayer<K, O> {
    type Service = CircuitBreakerService<S, K, O>;
    fn layer(&self, inner: S) -> CircuitBreakerService<S, K, O> {
        CircuitBreakerService {
            inner,
            breaker: self.breaker.clone(),
        }
    }
}

/// A service behind a shared [`CircuitBreaker`].
pub struct CircuitBreakerService<S, K: Clock, O: Observer<BreakerEvent>> {
    inner: S,
    breaker: CircuitBreaker<K, O>,
}

impl<S: Clone, K: Clock, O: Observer<BreakerEvent>> Clone for CircuitBreakerService<S, K, O> {
    fn clone(&self) -> Self {
        CircuitBreakerService {
            inner: self.inner.clone(),
            breaker: self.breaker.clone(),
        }
    }
}

impl<S, K: Clock, O: Observer<BreakerEvent>> fmt::Debug for CircuitBreakerService<S, K, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerService")
            .field("breaker", &self.breaker)
            .finish_non_exhaustive()
    }
}

impl<S, K, O, Req> Service<Req> for CircuitBreakerService<S, K, O>
where
    S: Service<Req>,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    S::Error: Send + 'static,
    K: Clock + 'static,
    O: Observer<BreakerEvent> + 'static,
{
    type Response = S::Response;
    type Error = GuardError<S::Error>;
    type Future = GuardFuture<S::Response, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        ready_inner(&mut self.inner, cx)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        match self.breaker.try_acquire_owned() {
            Ok(permit) => {
                let fut = self.inner.call(req);
                Box::pin(async move {
                    let out = fut.await;
                    permit.record(Outcome::of(&out));
                    out.map_err(GuardError::Inner)
                })
            }
            Err(rejected) => Box::pin(std::future::ready(Err(GuardError::CircuitOpen(rejected)))),
        }
    }
}

// ---------------------------------------------------------------- retry

/// Calls a fresh clone of `template` with a clone of `req`, after waiting for
/// its readiness.
fn call_clone<S, Req>(template: &S, req: &Req) -> CallClone<S, Req, S::Future>
where
    S: Service<Req> + Clone,
    Req: Clone,
{
    CallClone::Ready {
        service: template.clone(),
        req: Some(req.clone()),
    }
}

/// The future of one call to a fresh clone of a service: readiness first,
/// then the call. Generic over the service's future type `F` itself (not
/// `S::Future`), so that whether it is `Send` never depends on resolving
/// `S: Service<Req>` for a request type with a lifetime.
#[pin_project::pin_project(project = CallCloneProj)]
enum CallClone<S, Req, F> {
    Ready { service: S, req: Option<Req> },
    Called(#[pin] F),
}

impl<S, Req, F, T> Future for CallClone<S, Req, F>
where
    S: Service<Req, Response = T, Future = F>,
    F: Future<Output = Result<T, S::Error>>,
{
    type Output = Result<T, S::Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let called = match self.as_mut().project() {
                CallCloneProj::Called(fut) => return fut.poll(cx),
                CallCloneProj::Ready { service, req } => {
                    if let Err(e) = std::task::ready!(service.poll_ready(cx)) {
                        return Poll::Ready(Err(e));
                    }
                    let req = req
                        .take()
                        .expect("a request is sent once, then the state moves on");
                    service.call(req)
                }
            };
            self.set(CallClone::Called(called));
        }
    }
}

/// Retries calls with a shared [`RetryPolicy`]: its classifier decides which
/// responses and errors are retried, its budget (shared by every clone)
/// bounds the extra load. Requests must be `Clone`; every attempt goes to a
/// fresh clone of the inner service, made ready first.
pub struct RetryLayer<C, B, O, Z> {
    policy: Arc<RetryPolicy<C, B, O>>,
    sleeper: Arc<Z>,
}

impl<C, B, O, Z> Clone for RetryLayer<C, B, O, Z> {
    fn clone(&self) -> Self {
        RetryLayer {
            policy: Arc::clone(&self.policy),
            sleeper: Arc::clone(&self.sleeper),
        }
    }
}

impl<C, B, O, Z> fmt::Debug for RetryLayer<C, B, O, Z> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryLayer").finish_non_exhaustive()
    }
}

impl<C, B, O, Z> RetryLayer<C, B, O, Z> {
    /// A layer retrying through `policy`, waiting on `sleeper`.
    #[must_use]
    pub fn new(policy: Arc<RetryPolicy<C, B, O>>, sleeper: Z) -> Self {
        RetryLayer {
            policy,
            sleeper: Arc::new(sleeper),
        }
    }
}

impl<S, C, B, O, Z> Layer<S> for RetryLayer<C, B, O, Z> {
    type Service = RetryService<S, C, B, O, Z>;
    fn layer(&self, inner: S) -> RetryService<S, C, B, O, Z> {
        RetryService {
            inner,
            policy: Arc::clone(&self.policy),
            sleeper: Arc::clone(&self.sleeper),
        }
    }
}

/// A service whose failed calls are retried.
pub struct RetryService<S, C, B, O, Z> {
    inner: S,
    policy: Arc<RetryPolicy<C, B, O>>,
    sleeper: Arc<Z>,
}

impl<S: Clone, C, B, O, Z> Clone for RetryService<S, C, B, O, Z> {
    fn clone(&self) -> Self {
        RetryService {
            inner: self.inner.clone(),
            policy: Arc::clone(&self.policy),
            sleeper: Arc::clone(&self.sleeper),
        }
    }
}

impl<S, C, B, O, Z> fmt::Debug for RetryService<S, C, B, O, Z> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryService").finish_non_exhaustive()
    }
}

impl<S, C, B, O, Z, Req> Service<Req> for RetryService<S, C, B, O, Z>
where
    S: Service<Req> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    S::Error: Send + 'static,
    Req: Clone + Send + Sync + 'static,
    C: Classify<S::Response, S::Error> + Send + Sync + 'static,
    B: RetryBudget + 'static,
    O: Observer<RetryEvent> + 'static,
    Z: Sleeper + 'static,
    Z::Sleep: 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let template = self.inner.clone();
        let policy = Arc::clone(&self.policy);
        let sleeper = Arc::clone(&self.sleeper);
        Box::pin(async move {
            policy
                .retry_async(|_attempt| call_clone(&template, &req), &*sleeper)
                .await
        })
    }
}

// ---------------------------------------------------------------- pipeline

/// The default pipeline classification: retry every error.
#[derive(Debug, Clone, Copy, Default)]
pub struct RetryAllErrors;

impl<T, E> Classify<T, E> for RetryAllErrors {
    fn classify(&self, outcome: &Result<T, E>) -> Verdict {
        if outcome.is_ok() {
            Verdict::Return
        } else {
            Verdict::Retry(crate::budget::RetryKind::Error)
        }
    }
}

/// Runs calls through a whole [`Pipeline`] (shared by every clone: one
/// breaker, one budget, one bulkhead, one rate). Requests must be `Clone`:
/// every attempt and every hedge goes to a fresh clone of the inner service,
/// made ready first, and nothing reaches the inner service before the
/// shedder, the rate limiter, the breaker and the bulkhead admitted it.
///
/// ```
/// use std::time::Duration;
/// use steadfast_guard::breaker::{BreakerConfig, CircuitBreaker};
/// use steadfast_guard::pipeline::{Pipeline, PipelineError};
/// use steadfast_guard::tower::PipelineLayer;
/// use tower_layer::Layer;
/// use tower_service::Service;
///
/// let pipeline = Pipeline::builder()
///     .breaker(CircuitBreaker::new(BreakerConfig::builder().count_window(3).minimum_calls(3).build()?))
///     .build()?;
/// let sleeper = |_: Duration| std::future::ready(());
/// let service = tower::service_fn(|n: u32| async move { if n == 0 { Err("zero") } else { Ok(n) } });
/// let mut service = PipelineLayer::new(pipeline, sleeper).layer(service);
/// futures::executor::block_on(async {
///     assert_eq!(service.call(1).await, Ok(1));
///     assert_eq!(service.call(0).await, Err(PipelineError::Inner("zero")));
///     assert_eq!(service.call(0).await, Err(PipelineError::Inner("zero")));
///     // Two failures in the last three calls: open.
///     let err = service.call(1).await.unwrap_err();
///     assert!(matches!(err, PipelineError::CircuitOpen(_)));
/// });
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct PipelineLayer<
    K: Clock,
    O: Observer<BreakerEvent>,
    H,
    Z,
    P = RetryAllErrors,
    Q = Priority,
> {
    // One allocation shared by every clone and every call's future: a call
    // clones one `Arc`.
    shared: Arc<PipelineShared<K, O, H, Z, P>>,
    priority: Arc<Q>,
}

struct PipelineShared<K: Clock, O: Observer<BreakerEvent>, H, Z, P> {
    pipeline: Pipeline<K, O, H>,
    sleeper: Arc<Z>,
    classify: P,
}

/// Gives each request its shedding [`Priority`] in a [`PipelineLayer`].
///
/// A fixed [`Priority`] is one; so is any `Fn(&Req) -> Priority`:
///
/// ```
/// use steadfast_guard::shed::Priority;
/// use steadfast_guard::tower::Prioritize;
///
/// let by_path = |path: &&str| {
///     if path.starts_with("/health") { Priority::Critical } else { Priority::Normal }
/// };
/// assert_eq!(by_path.priority(&"/health/ready"), Priority::Critical);
/// assert_eq!(Priority::Background.priority(&"/anything"), Priority::Background);
/// ```
pub trait Prioritize<Req>: Send + Sync {
    /// The priority `request` is admitted at.
    fn priority(&self, request: &Req) -> Priority;
}

impl<Req> Prioritize<Req> for Priority {
    fn priority(&self, _request: &Req) -> Priority {
        *self
    }
}

impl<Req, F: Fn(&Req) -> Priority + Send + Sync> Prioritize<Req> for F {
    fn priority(&self, request: &Req) -> Priority {
        self(request)
    }
}

impl<K: Clock, O: Observer<BreakerEvent>, H, Z, P, Q> Clone for PipelineLayer<K, O, H, Z, P, Q> {
    fn clone(&self) -> Self {
        PipelineLayer {
            shared: Arc::clone(&self.shared),
            priority: Arc::clone(&self.priority),
        }
    }
}

impl<K: Clock, O: Observer<BreakerEvent>, H, Z, P, Q> fmt::Debug
    for PipelineLayer<K, O, H, Z, P, Q>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipelineLayer")
            .field("pipeline", &self.shared.pipeline)
            .finish_non_exhaustive()
    }
}

impl<K: Clock, O: Observer<BreakerEvent>, H, Z>
    PipelineLayer<K, O, H, Z, RetryAllErrors, Priority>
{
    /// A layer running every call through `pipeline`, waiting on `sleeper`,
    /// retrying every error, shedding at [`Priority::Normal`].
    #[must_use]
    pub fn new(pipeline: Pipeline<K, O, H>, sleeper: Z) -> Self {
        PipelineLayer {
            shared: Arc::new(PipelineShared {
                pipeline,
                sleeper: Arc::new(sleeper),
                classify: RetryAllErrors,
            }),
            priority: Arc::new(Priority::Normal),
        }
    }
}

impl<K: Clock, O: Observer<BreakerEvent>, H, Z, P, Q> PipelineLayer<K, O, H, Z, P, Q> {
    /// Decides which outcomes are retried (and count as breaker failures).
    #[must_use]
    pub fn classify<P2>(self, classify: P2) -> PipelineLayer<K, O, H, Z, P2, Q> {
        PipelineLayer {
            shared: Arc::new(PipelineShared {
                pipeline: self.shared.pipeline.clone(),
                sleeper: Arc::clone(&self.shared.sleeper),
                classify,
            }),
            priority: self.priority,
        }
    }

    /// The one priority the shedder admits every call at.
    #[must_use]
    pub fn priority(self, priority: Priority) -> PipelineLayer<K, O, H, Z, P, Priority> {
        self.priority_by(priority)
    }

    /// Gives each request its own priority (see [`Prioritize`]): for
    /// example health checks `Critical`, batch jobs `Background`.
    #[must_use]
    pub fn priority_by<Q2>(self, prioritize: Q2) -> PipelineLayer<K, O, H, Z, P, Q2> {
        PipelineLayer {
            shared: self.shared,
            priority: Arc::new(prioritize),
        }
    }
}

impl<S, K: Clock, O: Observer<BreakerEvent>, H, Z, P, Q> Layer<S>
    for PipelineLayer<K, O, H, Z, P, Q>
{
    type Service = PipelineService<S, K, O, H, Z, P, Q>;
    fn layer(&self, inner: S) -> Self::Service {
        PipelineService {
            inner,
            layer: self.clone(),
        }
    }
}

/// A service whose calls run through a [`Pipeline`].
pub struct PipelineService<S, K: Clock, O: Observer<BreakerEvent>, H, Z, P, Q = Priority> {
    inner: S,
    layer: PipelineLayer<K, O, H, Z, P, Q>,
}

impl<S: Clone, K: Clock, O: Observer<BreakerEvent>, H, Z, P, Q> Clone
    for PipelineService<S, K, O, H, Z, P, Q>
{
    fn clone(&self) -> Self {
        PipelineService {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

impl<S, K: Clock, O: Observer<BreakerEvent>, H, Z, P, Q> fmt::Debug
    for PipelineService<S, K, O, H, Z, P, Q>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipelineService")
            .field("layer", &self.layer)
            .finish_non_exhaustive()
    }
}

/// The response future of a [`PipelineService`]: the inner service's
/// response, or the [`PipelineError`] of the stage that ended the call.
///
/// Not boxed: it carries the call's state inline (timers are allocated only
/// once an attempt or the call has to wait). Dropping it cancels the call
/// and gives back every permit and slot it held. `F` and `E` are the inner
/// service's future and error types.
#[pin_project::pin_project(PinnedDrop)]
#[must_use = "futures do nothing unless polled"]
pub struct PipelineFuture<S, Req, F, E, K, O, H, Z, P>
where
    K: Clock,
    O: Observer<BreakerEvent>,
    Z: Sleeper,
{
    shared: Arc<PipelineShared<K, O, H, Z, P>>,
    template: S,
    req: Req,
    #[pin]
    call: Call<CallClone<S, Req, F>, E, Z::Sleep>,
}

impl<S, Req, F, E, K, O, H, Z, P> fmt::Debug for PipelineFuture<S, Req, F, E, K, O, H, Z, P>
where
    K: Clock,
    O: Observer<BreakerEvent>,
    Z: Sleeper,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipelineFuture")
            .field("done", &self.call.is_done())
            .finish_non_exhaustive()
    }
}

impl<S, Req, F, T, E, K, O, H, Z, P> Future for PipelineFuture<S, Req, F, E, K, O, H, Z, P>
where
    S: Service<Req, Response = T, Error = E, Future = F> + Clone,
    F: Future<Output = Result<T, E>>,
    Req: Clone,
    K: Clock,
    O: Observer<BreakerEvent>,
    H: HedgeBudget,
    Z: Sleeper,
    P: Classify<T, E>,
{
    type Output = Result<T, PipelineError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let shared = &**this.shared;
        let (template, req) = (&*this.template, &*this.req);
        shared.pipeline.poll_call(
            this.call,
            cx,
            &*shared.sleeper,
            &|outcome: &Result<T, E>| shared.classify.classify(outcome),
            &mut || call_clone(template, req),
        )
    }
}

#[pin_project::pinned_drop]
#[allow(clippy::type_complexity)]
impl<S, Req, F, E, K, O, H, Z, P> PinnedDrop for PipelineFuture<S, Req, F, E, K, O, H, Z, P>
where
    K: Clock,
    O: Observer<BreakerEvent>,
    Z: Sleeper,
{
    fn drop(self: Pin<&mut Self>) {
        let this = self.project();
        if !this.call.is_done() {
            this.shared.pipeline.end_call(this.call);
        }
    }
}

impl<S, K, O, H, Z, P, Q, Req> Service<Req> for PipelineService<S, K, O, H, Z, P, Q>
where
    S: Service<Req> + Clone,
    Req: Clone,
    K: Clock,
    O: Observer<BreakerEvent>,
    H: HedgeBudget,
    Z: Sleeper,
    P: Classify<S::Response, S::Error>,
    Q: Prioritize<Req>,
{
    type Response = S::Response;
    type Error = PipelineError<S::Error>;
    type Future = PipelineFuture<S, Req, S::Future, S::Error, K, O, H, Z, P>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(PipelineError::Inner)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let priority = self.layer.priority.priority(&req);
        PipelineFuture {
            shared: Arc::clone(&self.layer.shared),
            template: self.inner.clone(),
            req,
            call: Call::new(priority),
        }
    }
}

#[cfg(all(test, not(steadfast_loom)))]
mod tests {
    use super::*;
    use crate::bulkhead::BulkheadConfig;
    use crate::hedge::{HedgeConfig, HedgeDelay, UnlimitedHedges};
    use crate::rate_limit::Quota;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use steadfast_core::ManualClock;

    /// Counts calls; answers at once unless told to hang for the first `hang` calls.
    #[derive(Clone)]
    struct Backend {
        calls: Arc<AtomicUsize>,
        hang: usize,
    }

    impl Service<u32> for Backend {
        type Response = (u32, usize);
        type Error = &'static str;
        type Future = Pin<Box<dyn Future<Output = Result<(u32, usize), &'static str>> + Send>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), &'static str>> {
            Poll::Ready(Ok(()))
        }
        fn call(&mut self, req: u32) -> Self::Future {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            let hang = n < self.hang;
            Box::pin(async move {
                if hang {
                    std::future::pending::<()>().await;
                }
                if req == 0 { Err("zero") } else { Ok((req, n)) }
            })
        }
    }

    fn backend(hang: usize) -> (Backend, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        (
            Backend {
                calls: Arc::clone(&calls),
                hang,
            },
            calls,
        )
    }

    #[test]
    fn bulkhead_is_shared_across_clones_and_typed() {
        let (b, _) = backend(usize::MAX);
        let bulkhead = Bulkhead::new(BulkheadConfig::builder().max_concurrent(1).build().unwrap());
        let mut one = BulkheadLayer::new(bulkhead.clone()).layer(b);
        let mut two = one.clone();
        let hanging = one.call(1);
        let err = futures::executor::block_on(two.call(2)).unwrap_err();
        assert!(matches!(err, GuardError::BulkheadFull(_)));
        assert!(err.is_temporary());
        drop(hanging); // dropping the call releases the permit
        assert_eq!(bulkhead.in_flight(), 0);
    }

    #[test]
    fn rate_limit_rejects_with_retry_at_and_passes_inner_errors() {
        let (b, calls) = backend(0);
        let clock = ManualClock::new();
        let limiter = Arc::new(RateLimiter::with_clock(
            Quota::per_second(2).unwrap(),
            clock.clone(),
        ));
        let mut svc = RateLimitLayer::new(limiter).layer(b);
        futures::executor::block_on(async {
            assert_eq!(svc.call(0).await, Err(GuardError::Inner("zero")));
            assert_eq!(svc.call(5).await.unwrap().0, 5);
            let err = svc.call(5).await.unwrap_err();
            assert_eq!(err.retry_at(), Some(Timestamp::from_millis(500)));
        });
        assert_eq!(
            calls.load(Ordering::SeqCst),
            2,
            "the rejected call never reached the backend"
        );
    }

    #[test]
    fn timeout_turns_a_hang_into_a_typed_error() {
        let (b, _) = backend(1);
        let instant = |_d: Duration| std::future::ready(());
        let mut svc = TimeoutLayer::new(Duration::from_millis(30), instant).layer(b);
        futures::executor::block_on(async {
            let err = svc.call(1).await.unwrap_err();
            assert_eq!(
                err,
                GuardError::TimedOut(Elapsed::new(Duration::from_millis(30)))
            );
            assert_eq!(svc.call(1).await.unwrap().0, 1);
        });
    }

    #[test]
    fn pipeline_priority_is_chosen_per_request() {
        use crate::shed::{LoadShedder, ShedConfig};
        let (b, calls) = backend(usize::MAX);
        // Capacity 2; background traffic may use at most half of it.
        let shedder = LoadShedder::new(
            ShedConfig::builder()
                .capacity(2)
                .share(Priority::Background, 0.5)
                .build()
                .unwrap(),
        );
        let pipeline = Pipeline::builder().shed(shedder).build().unwrap();
        let instant = |_d: Duration| std::future::ready(());
        let layer = PipelineLayer::new(pipeline, instant).priority_by(|n: &u32| {
            if *n >= 100 {
                Priority::Critical
            } else {
                Priority::Background
            }
        });
        let mut svc = layer.layer(b);
        let mut cx = Context::from_waker(std::task::Waker::noop());
        // A background call hangs and holds its share.
        let mut first = Box::pin(svc.call(1));
        assert!(first.as_mut().poll(&mut cx).is_pending());
        // A second background call is over its share: shed.
        let err = futures::executor::block_on(svc.call(2)).unwrap_err();
        assert!(matches!(err, PipelineError::Shed(_)), "{err:?}");
        // A critical call still gets in.
        let mut critical = Box::pin(svc.call(100));
        assert!(critical.as_mut().poll(&mut cx).is_pending());
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn hedge_sends_a_second_attempt_to_a_clone() {
        let (b, calls) = backend(1);
        let hedger = Arc::new(Hedger::observed(
            HedgeConfig::builder()
                .delay(HedgeDelay::Fixed(Duration::from_millis(5)))
                .build()
                .unwrap(),
            UnlimitedHedges,
            ManualClock::new(),
            (),
        ));
        let instant = |_d: Duration| std::future::ready(());
        let mut svc = HedgeLayer::new(hedger, instant).layer(b);
        let out = futures::executor::block_on(svc.call(9)).unwrap();
        assert_eq!(out, (9, 1), "the hedge (second backend call) answered");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}
