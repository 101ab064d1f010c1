//! Guards for outbound calls: backoff, retry, retry budgets, circuit breaker,
//! bulkhead, rate limiting, timeouts, hedging, adaptive concurrency and pipelines.
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
//! | [`bulkhead`] | a cap on concurrent calls: lock-free admission, FIFO bounded wait (sync and async), permits released on drop |
//! | [`rate_limit`] | GCRA on one atomic: `check`/`check_n` ("retry at T" vs "never"), async wait, quota change at run time, reserve/cancel, keyed limiter with bounded memory |
//! | [`timeout`] | a runtime-agnostic async [`timeout::timeout`] and a [`timeout::Deadline`] passed down a call chain |
//! | [`adaptive`] | concurrency limits that adapt: AIMD, Vegas, Gradient2, Envoy's gradient controller, and a limiter applying them |
//! | [`shed`] | load shedding by priority, critical traffic keeping a reserved share |
//! | [`hedge`] | hedged requests after a fixed delay or an online latency percentile; parallel and fallback modes; a budget hook |
//! | [`Sleeper`] | how async guards wait, on any runtime |
//!
//! # Features
//!
//! - `tokio`: [`TokioSleeper`], a [`Sleeper`] on tokio's timer. Any other
//!   runtime plugs in with a closure `Fn(Duration) -> impl Future<Output = ()>`.
//! - `tower`: `Layer`s and `Service`s for the bulkhead, rate limiter, timeout
//!   and hedging, with state shared across clones and typed errors
//!   (`tower::GuardError`).
//! - `serde`: serialization of configs, snapshots and events.
#![forbid(unsafe_code)]

pub mod adaptive;
pub mod bulkhead;
pub mod hedge;
pub mod rate_limit;
pub mod shed;
mod sleep;
mod sync;
pub mod timeout;
#[cfg(feature = "tower")]
pub mod tower;

pub use sleep::Sleeper;
#[cfg(feature = "tokio")]
pub use sleep::TokioSleeper;
