//! Sleeping without choosing a runtime.
//!
//! Async retry, timeouts and hedging need to wait. Rather than tie the crate
//! to one async runtime, they sleep through a [`Sleeper`]: any closure
//! `Fn(Duration) -> impl Future<Output = ()>` is one, and [`TokioSleeper`]
//! (feature `tokio`) uses tokio's timer.

use std::future::Future;
use std::time::Duration;

/// Something that can wait for a duration asynchronously.
///
/// Implemented for closures returning a future, so any runtime's sleep
/// function plugs in:
///
/// ```
/// use std::time::Duration;
/// use steadfast_guard::Sleeper;
///
/// // A sleeper that does not wait at all (handy in tests).
/// let instant = |_d: Duration| std::future::ready(());
/// futures::executor::block_on(instant.sleep(Duration::from_secs(3600)));
/// ```
pub trait Sleeper: Send + Sync {
    /// The future returned by [`sleep`](Sleeper::sleep).
    type Sleep: Future<Output = ()> + Send;

    /// A future that completes after `duration`.
    fn sleep(&self, duration: Duration) -> Self::Sleep;
}

impl<F, Fut> Sleeper for F
where
    F: Fn(Duration) -> Fut + Send + Sync,
    Fut: Future<Output = ()> + Send,
{
    type Sleep = Fut;

    fn sleep(&self, duration: Duration) -> Fut {
        self(duration)
    }
}

/// A [`Sleeper`] on tokio's timer (feature `tokio`).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::time::Duration;
/// use steadfast_guard::{Sleeper, TokioSleeper};
///
/// TokioSleeper.sleep(Duration::from_millis(1)).await;
/// # }
/// ```
#[cfg(feature = "tokio")]
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioSleeper;

#[cfg(feature = "tokio")]
impl Sleeper for TokioSleeper {
    type Sleep = tokio::time::Sleep;

    fn sleep(&self, duration: Duration) -> tokio::time::Sleep {
        tokio::time::sleep(duration)
    }
}
