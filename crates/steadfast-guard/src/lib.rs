//! Guards for outbound calls: backoff, retry, retry budgets, circuit breaker,
//! bulkhead, rate limiting, timeouts, hedging, adaptive concurrency and pipelines.
//!
//! # Features
//!
//! - `tokio`: [`TokioSleeper`], a [`Sleeper`] on tokio's timer.
//! - `serde`: serialization of configs, snapshots and events.
#![forbid(unsafe_code)]

pub mod adaptive;
pub mod bulkhead;
pub mod hedge;
pub mod rate_limit;
pub mod shed;
pub mod timeout;
mod sleep;
mod sync;

#[cfg(feature = "tokio")]
pub use sleep::TokioSleeper;
pub use sleep::Sleeper;
