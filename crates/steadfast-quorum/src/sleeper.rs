//! Waiting between attempts, injected so tests never sleep for real.

use std::time::Duration;

use steadfast_core::ManualClock;

/// Something that waits for a while, blocking the caller: the thread, or a
/// [`ManualClock`] that simply moves forward. (steadfast-guard's `Sleeper`
/// is the asynchronous counterpart, for futures.)
///
/// ```
/// use std::time::Duration;
/// use steadfast_core::{Clock, ManualClock, Timestamp};
/// use steadfast_quorum::BlockingSleeper;
///
/// let clock = ManualClock::new();
/// clock.sleep(Duration::from_secs(2));
/// assert_eq!(clock.now(), Timestamp::from_secs(2));
/// ```
pub trait BlockingSleeper: Send + Sync {
    /// Waits for `duration`.
    fn sleep(&self, duration: Duration);
}

/// Blocks the calling thread with `std::thread::sleep`.
///
/// ```
/// use std::time::Duration;
/// use steadfast_quorum::{BlockingSleeper, ThreadSleeper};
/// ThreadSleeper.sleep(Duration::from_millis(1));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ThreadSleeper;

impl BlockingSleeper for ThreadSleeper {
    fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration);
    }
}

impl BlockingSleeper for ManualClock {
    fn sleep(&self, duration: Duration) {
        self.advance(duration);
    }
}
