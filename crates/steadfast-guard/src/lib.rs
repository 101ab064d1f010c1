//! Guards for outbound calls.
#![forbid(unsafe_code)]

pub mod backoff;
pub mod breaker;
pub mod budget;
pub mod retry;
mod sleep;
mod sync;

pub use sleep::Sleeper;
#[cfg(feature = "tokio")]
pub use sleep::TokioSleeper;
