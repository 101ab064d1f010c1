//! Waiting between attempts, injected so tests never sleep for real.

use std::time::Duration;

use steadfast_core::ManualClock;

/// Something that waits for a while: the thread, or a [`ManualClock`] that
/// simply moves forward.
///
/// ```
/// use std::time::Duration;
/// use steadfast_core::{Clock, ManualClock, Timestamp};
/// use steadfast_quorum::Sleeper;
///
/// let clock = ManualClock::new();
/// clock.sleep(Duration::from_secs(2));
/// assert_eq!(clock.now(), Timestamp::from_secs(2));
/// ```
pub trait Sleeper: Send + Sync {
    /// Waits for `duration`.
    fn sleep(&self, duration: Duration);
}

/// Blocks the calling thread with `std::thread::sleep`.
///
/// ```
/// use std::time::Duration;
/// use steadfast_quorum::{Sleeper, ThreadSleeper};
/// ThreadSleeper.sleep(Duration::from_millis(1));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ThreadSleeper;

impl Sleeper for ThreadSleeper {
    fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration);
    }
}

impl Sleeper for ManualClock {
    fn sleep(&self, duration: Duration) {
        self.advance(duration);
    }
}
