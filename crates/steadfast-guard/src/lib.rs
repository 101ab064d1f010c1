//! Guards for outbound calls: backoff, retry, retry budgets, circuit breaker,
//! bulkhead, rate limiting, timeouts, hedging, adaptive concurrency and pipelines.
//!
//! **Status: in progress.** Available now: [`Sleeper`], the runtime-agnostic
//! way every async guard waits. Coming: backoff as an iterator of delays with
//! jitter, sync and async retry, retry budgets, a circuit breaker with
//! Resilience4j semantics, bulkhead, GCRA rate limiter, timeouts and
//! deadlines, hedging, adaptive concurrency, load shedding, a pipeline that
//! composes them, and `tower` adapters.
//!
//! # Features
//!
//! - `tokio`: [`TokioSleeper`], a [`Sleeper`] on tokio's timer.
//! - `serde`: serialization of configs, snapshots and events.
#![forbid(unsafe_code)]

mod sleep;

pub use sleep::Sleeper;
#[cfg(feature = "tokio")]
pub use sleep::TokioSleeper;
