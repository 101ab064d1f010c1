//! Guards for outbound calls: backoff, retry, retry budgets, circuit breaker,
//! bulkhead, rate limiting, timeouts, hedging, adaptive concurrency and load
//! shedding.
//!
//! Every guard is a synchronous decision core (a permit, or a rejection that
//! says whether and when trying again can help) that reads time from an
//! injected [`Clock`](steadfast_core::Clock) and reports state changes to an
//! [`Observer`](steadfast_core::Observer). Async helpers wait through a
//! [`Sleeper`], so no particular runtime is required.
//!
//! # Quick example
//!
//! ```
//! use std::time::Duration;
//! use steadfast_guard::backoff::{Backoff, Jitter};
//! use steadfast_guard::breaker::{BreakerConfig, BreakerError, CircuitBreaker};
//! use steadfast_guard::budget::{PercentBudget, TokenBucketBudget};
//! use steadfast_guard::retry::RetryPolicy;
//!
//! // One breaker and one retry budget per dependency, shared by every caller.
//! let breaker = CircuitBreaker::new(BreakerConfig::default());
//! let budget = TokenBucketBudget::aws();
//! let policy = RetryPolicy::builder(
//!     Backoff::exponential(Duration::from_millis(50))
//!         .max_delay(Duration::from_secs(2))
//!         .jitter(Jitter::Full)
//!         .build()?,
//! )
//! .max_attempts(4)
//! .budget(budget.clone())
//! .build()?;
//!
//! // An idempotent read: retried through the breaker.
//! let reply: Result<&str, BreakerError<std::io::Error>> =
//!     policy.retry(|_attempt| breaker.call(|| Ok("pong")));
//! assert_eq!(reply.unwrap(), "pong");
//! # Ok::<(), steadfast_core::ConfigError>(())
//! ```
//!
//! Limits in front of the call:
//!
//! ```
//! use std::time::Duration;
//! use steadfast_core::ManualClock;
//! use steadfast_guard::bulkhead::{Bulkhead, BulkheadConfig};
//! use steadfast_guard::rate_limit::{Quota, RateLimiter};
//!
//! let clock = ManualClock::new();
//! let limiter = RateLimiter::with_clock(Quota::per_second(100)?, clock.clone());
//! let bulkhead = Bulkhead::with_clock(BulkheadConfig::builder().max_concurrent(8).build()?, clock);
//!
//! // Guard one call: the rate first, then the concurrency.
//! limiter.check()?;
//! let permit = bulkhead.try_acquire()?;
//! // ... call the dependency ...
//! drop(permit);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Map of the crate
//!
//! | module | what it gives |
//! |---|---|
//! | [`backoff`] | [`Backoff`](backoff::Backoff), an iterator of delays (constant, linear, exponential, Fibonacci) with [`Jitter`](backoff::Jitter) (none, full, equal, decorrelated, Polly's decorrelated v2); the cap holds after jitter; seedable |
//! | [`retry`] | [`RetryPolicy`](retry::RetryPolicy) and [`retry()`](retry::retry): sync and async retry, classification of errors and successful results, `Retry-After` delays, attempt context (`time_first_attempt` makes `Attempt::elapsed` count from the start of the call, for one clock read per call), events |
//! | [`budget`] | the [`RetryBudget`](budget::RetryBudget) trait with [`PercentBudget`](budget::PercentBudget) (Finagle), [`TokenBucketBudget::aws`](budget::TokenBucketBudget::aws) (the AWS SDK retry quota) and [`TokenBucketBudget::grpc`](budget::TokenBucketBudget::grpc) (gRPC retry throttling) |
//! | [`breaker`] | [`CircuitBreaker`](breaker::CircuitBreaker) with Resilience4j semantics: count or time windows, failure and slow-call rates, bounded half-open trials, generations, forced states, events and metrics; lock-free |
//! | [`bulkhead`] | a cap on concurrent calls: lock-free admission, FIFO bounded wait (sync and async), permits released on drop |
//! | [`rate_limit`] | GCRA on one atomic: `check`/`check_n` ("retry at T" vs "never"), async wait (with optional jitter), quota change at run time, reserve/cancel, headroom for `RateLimit-*` headers, keyed limiter with bounded memory |
//! | [`timeout`] | a runtime-agnostic async [`timeout::timeout`] and a [`timeout::Deadline`] passed down a call chain |
//! | [`adaptive`] | concurrency limits that adapt: AIMD, Vegas, Gradient2, Envoy's gradient controller, and a limiter applying them |
//! | [`shed`] | load shedding by priority, critical traffic keeping a reserved share |
//! | [`hedge`] | hedged requests after a fixed delay or an online latency percentile; parallel and fallback modes; a budget hook |
//! | [`pipeline`] | [`Pipeline`](pipeline::Pipeline): shedding, rate limit, total timeout, retry with budget, breaker, bulkhead and/or adaptive concurrency limit, per-attempt timeout and hedging composed in one documented order, for async calls and blocking ones, with one [`PipelineError`](pipeline::PipelineError) naming the stage |
//! | [`Sleeper`] | how async guards wait, on any runtime |
//!
//! # Retry only idempotent operations
//!
//! A failed attempt is not proof that nothing happened: the request may
//! have been applied and only the reply lost, or the timeout may have fired
//! after the write committed. Retrying is safe only when doing the operation
//! twice has the same effect as doing it once (reads, puts of a whole value,
//! writes carrying an idempotency key). Classify everything else as not
//! retryable.
//!
//! # Why budgets beat a retry cap
//!
//! "At most 3 retries per request" feels safe, but it caps retries *per
//! request*, not *per client*: when the dependency fails outright, every
//! request is retried 3 times and the dependency receives four times its
//! normal load exactly when it can least take it, so retries keep it down
//! (a retry storm), and every layer that retries multiplies the factor. A
//! [budget] caps retries as a share of recent traffic (for example
//! 20 % more load, at most) plus a small floor: during brief blips nearly
//! every failed request still gets its retry, and during an outage the extra
//! load stays bounded. Use both: a small per-request cap for latency, and a
//! budget for the dependency's sake. A [breaker] then stops calls
//! altogether while the dependency is down.
//!
//! # Features
//!
//! - `tokio`: [`TokioSleeper`], a [`Sleeper`] on tokio's timer. Any other
//!   runtime plugs in with a closure `Fn(Duration) -> impl Future<Output = ()>`.
//! - `tower`: `Layer`s and `Service`s for the circuit breaker, retry,
//!   bulkhead, rate limiter (direct, or keyed by a key taken from each
//!   request: `tower::KeyedRateLimitLayer`), timeout, hedging and the whole pipeline
//!   (`tower::PipelineLayer`, with a shedding priority per request), with
//!   state shared across clones and typed errors (`tower::GuardError`,
//!   [`PipelineError`](pipeline::PipelineError)).
//! - `serde`: serialization of configs, snapshots and events.
//! - `tracing`: `TracingObserver` (re-exported from steadfast-core), an
//!   observer for every component here that emits its events (breaker
//!   transitions, retries, budget refusals, limit changes, hedges) as
//!   `tracing` events:
//!
//! ```
//! # #[cfg(feature = "tracing")] {
//! use steadfast_core::ManualClock;
//! use steadfast_guard::TracingObserver;
//! use steadfast_guard::breaker::{BreakerConfig, CircuitBreaker};
//!
//! let breaker = CircuitBreaker::with_observer(
//!     BreakerConfig::default(),
//!     ManualClock::new(),
//!     TracingObserver::new("payments-breaker"),
//! );
//! assert!(breaker.try_acquire().is_ok());
//! # }
//! ```
#![forbid(unsafe_code)]

pub mod adaptive;
pub mod backoff;
pub mod breaker;
pub mod budget;
pub mod bulkhead;
mod coarse;
pub mod hedge;
pub mod pipeline;
pub mod rate_limit;
pub mod retry;
pub mod shed;
mod sleep;
mod slices;
mod sync;
mod tally;
pub mod timeout;
#[cfg(feature = "tower")]
pub mod tower;

pub use sleep::Sleeper;
#[cfg(feature = "tokio")]
pub use sleep::TokioSleeper;
#[cfg(feature = "tracing")]
pub use steadfast_core::{TracingLevel, TracingObserver};
