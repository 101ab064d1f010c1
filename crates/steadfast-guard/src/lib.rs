//! Guards for outbound calls: backoff, retry, retry budgets, circuit breaker,
//! bulkhead, rate limiting, timeouts, hedging, adaptive concurrency and pipelines.
//!
//! **Status: planned.** This crate is reserved in the workspace and holds no
//! code yet. It will contain:
//!
//! - backoff as an iterator of delays (constant, linear, exponential, Fibonacci)
//!   with jitter strategies and a cap that holds after jitter;
//! - sync and runtime-agnostic async retry with outcome classification;
//! - retry budgets (Finagle-style, AWS SDK and gRPC presets), lock-free;
//! - a circuit breaker with Resilience4j semantics;
//! - bulkhead, GCRA rate limiter, timeouts and deadlines, hedging, adaptive
//!   concurrency, load shedding and a pipeline that composes them;
//! - `tower` and `tokio` adapters behind features.
#![forbid(unsafe_code)]
