//! Per-node clocks that drift and jump against the simulation's true time.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use steadfast_core::{Clock, ManualClock, Timestamp};

/// A node's local clock in a simulation: the true (virtual) time, scaled by a
/// drift rate and shifted by jumps.
///
/// `local = offset + rate × true`, saturating at zero. A rate of `1.0001` is a
/// clock that runs 100 ppm fast. Jumps (forwards or backwards) change the
/// offset, as a stepped NTP correction or a VM migration would. Clones share
/// the same state, so a component under test can hold one while the
/// simulator moves it.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use steadfast_core::{Clock, ManualClock, Timestamp};
/// use steadfast_sim::NodeClock;
///
/// let truth = ManualClock::new();
/// let fast = NodeClock::new(truth.clone(), 1.5);
/// truth.advance(Duration::from_secs(2));
/// assert_eq!(fast.now(), Timestamp::from_secs(3));
/// fast.jump(-1_000_000_000);
/// assert_eq!(fast.now(), Timestamp::from_secs(2));
/// ```
#[derive(Clone)]
pub struct NodeClock {
    truth: ManualClock,
    state: Arc<ClockState>,
}

struct ClockState {
    rate_bits: AtomicU64,
    offset_nanos: AtomicI64,
}

impl NodeClock {
    /// A clock reading `rate ×` the true time of `truth`.
    ///
    /// Rates that are not finite and positive are treated as `1.0`; the
    /// simulator's configuration rejects them before they get here.
    ///
    /// ```
    /// # use steadfast_core::{Clock, ManualClock, Timestamp};
    /// # use steadfast_sim::NodeClock;
    /// let clock = NodeClock::new(ManualClock::new(), 1.0);
    /// assert_eq!(clock.now(), Timestamp::ZERO);
    /// ```
    #[must_use]
    pub fn new(truth: ManualClock, rate: f64) -> NodeClock {
        let rate = if rate.is_finite() && rate > 0.0 {
            rate
        } else {
            1.0
        };
        NodeClock {
            truth,
            state: Arc::new(ClockState {
                rate_bits: AtomicU64::new(rate.to_bits()),
                offset_nanos: AtomicI64::new(0),
            }),
        }
    }

    /// The drift rate: local seconds per true second.
    ///
    /// ```
    /// # use steadfast_core::ManualClock;
    /// # use steadfast_sim::NodeClock;
    /// assert_eq!(NodeClock::new(ManualClock::new(), 0.99).rate(), 0.99);
    /// ```
    #[must_use]
    pub fn rate(&self) -> f64 {
        f64::from_bits(self.state.rate_bits.load(Ordering::Relaxed))
    }

    /// Steps the local clock by `nanos` (negative steps go backwards).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use steadfast_core::{Clock, ManualClock, Timestamp};
    /// # use steadfast_sim::NodeClock;
    /// let clock = NodeClock::new(ManualClock::new(), 1.0);
    /// clock.jump(5_000);
    /// assert_eq!(clock.now(), Timestamp::from_nanos(5_000));
    /// clock.jump(-10_000);
    /// assert_eq!(clock.now(), Timestamp::ZERO); // saturates
    /// ```
    pub fn jump(&self, nanos: i64) {
        let _ = self
            .state
            .offset_nanos
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |o| {
                Some(o.saturating_add(nanos))
            });
    }

    /// How long `local` of this clock's time lasts in true time.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use steadfast_core::ManualClock;
    /// # use steadfast_sim::NodeClock;
    /// let slow = NodeClock::new(ManualClock::new(), 0.5);
    /// assert_eq!(slow.to_true(Duration::from_secs(1)), Duration::from_secs(2));
    /// ```
    #[must_use]
    pub fn to_true(&self, local: Duration) -> Duration {
        Duration::try_from_secs_f64(local.as_secs_f64() / self.rate()).unwrap_or(Duration::MAX)
    }

    /// The local reading at true time `t`.
    fn local_at(&self, t: Timestamp) -> Timestamp {
        // Integer time plus a small float correction keeps nanosecond
        // precision far beyond the horizon a float alone would allow.
        let drift = ((self.rate() - 1.0) * t.as_nanos() as f64) as i128;
        let offset = i128::from(self.state.offset_nanos.load(Ordering::Relaxed));
        let local = i128::from(t.as_nanos()) + drift + offset;
        Timestamp::from_nanos(local.clamp(0, i128::from(u64::MAX)) as u64)
    }
}

impl Clock for NodeClock {
    fn now(&self) -> Timestamp {
        self.local_at(self.truth.now())
    }
}

impl fmt::Debug for NodeClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeClock")
            .field("rate", &self.rate())
            .field(
                "offset_nanos",
                &self.state.offset_nanos.load(Ordering::Relaxed),
            )
            .field("now", &self.now())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_rates_fall_back_to_one() {
        for rate in [f64::NAN, 0.0, -1.0, f64::INFINITY] {
            assert_eq!(NodeClock::new(ManualClock::new(), rate).rate(), 1.0);
        }
    }

    #[test]
    fn huge_jumps_saturate() {
        let clock = NodeClock::new(ManualClock::starting_at(Timestamp::from_secs(1)), 1.0);
        clock.jump(i64::MAX);
        clock.jump(i64::MAX);
        assert_eq!(
            clock.now(),
            Timestamp::from_nanos(1_000_000_000 + i64::MAX as u64)
        );
        clock.jump(i64::MIN);
        clock.jump(i64::MIN);
        assert_eq!(clock.now(), Timestamp::ZERO);
    }
}
