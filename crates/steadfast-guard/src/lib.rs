//! Guards for outbound calls: backoff, retry, retry budgets and the circuit
//! breaker.
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
//! # Map of the crate
//!
//! - [`backoff`]: [`Backoff`](backoff::Backoff), an iterator of delays
//!   (constant, linear, exponential, Fibonacci) with [`Jitter`](backoff::Jitter)
//!   (none, full, equal, decorrelated, Polly's decorrelated v2); the cap holds
//!   after jitter; seedable.
//! - [`retry`]: [`RetryPolicy`](retry::RetryPolicy) and [`retry()`](retry::retry):
//!   sync and async retry, outcome classification (errors and successful
//!   results, `Retry-After` delays), attempt context, events.
//! - [`budget`]: the [`RetryBudget`](budget::RetryBudget) trait with
//!   [`PercentBudget`](budget::PercentBudget) (Finagle),
//!   [`TokenBucketBudget::aws`](budget::TokenBucketBudget::aws) (the AWS SDK
//!   retry quota) and [`TokenBucketBudget::grpc`](budget::TokenBucketBudget::grpc)
//!   (gRPC retry throttling).
//! - [`breaker`]: [`CircuitBreaker`](breaker::CircuitBreaker) with
//!   Resilience4j semantics: count or time windows, failure and slow-call
//!   rates, bounded half-open trials, generations, forced states, events and
//!   metrics; lock-free.
//! - [`Sleeper`]: how async code waits without choosing a runtime.
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
//! - `tokio`: [`TokioSleeper`], a [`Sleeper`] on tokio's timer.
//! - `serde`: serialization of configs, snapshots and events.
#![forbid(unsafe_code)]

pub mod backoff;
pub mod breaker;
pub mod budget;
pub mod retry;
mod sleep;
mod slices;
mod sync;

pub use sleep::Sleeper;
#[cfg(feature = "tokio")]
pub use sleep::TokioSleeper;
