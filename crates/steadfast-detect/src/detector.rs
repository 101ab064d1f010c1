//! The [`FailureDetector`] trait and the pieces every detector shares: the
//! interval history and the exact search for the threshold crossing.

use core::time::Duration;

use steadfast_core::Timestamp;

/// A heartbeat failure detector for one peer.
///
/// A detector is a pure state machine: it is told when heartbeats arrive and
/// asked about a given instant. It never reads a clock itself, so the same
/// detector runs against real time, a [`ManualClock`](steadfast_core::ManualClock)
/// or a recorded trace.
///
/// The laws every implementation keeps (tested with proptest):
///
/// - before the first heartbeat the peer is available, its suspicion is `0`
///   and [`suspect_at`](FailureDetector::suspect_at) is `None`;
/// - [`suspicion`](FailureDetector::suspicion) never returns NaN and never
///   decreases as the query time grows (between heartbeats);
/// - `is_available(t) == (t < suspect_at)`: the detector says exactly when,
///   to the nanosecond, it will start suspecting the peer if no further
///   heartbeat arrives, so a monitor can schedule instead of polling;
/// - a heartbeat stamped earlier than the previous one is ignored and counted,
///   never a panic; a zero interval is an ordinary sample.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use steadfast_core::Timestamp;
/// use steadfast_detect::{FailureDetector, FixedTimeout};
///
/// fn first_suspicion(detector: &mut dyn FailureDetector, beats: &[u64]) -> Option<Timestamp> {
///     for &ms in beats {
///         let _ = detector.heartbeat(Timestamp::from_millis(ms));
///     }
///     detector.suspect_at()
/// }
///
/// let mut fixed = FixedTimeout::new(Duration::from_secs(3))?;
/// assert_eq!(
///     first_suspicion(&mut fixed, &[0, 1_000, 2_000]),
///     Some(Timestamp::from_millis(5_000))
/// );
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
pub trait FailureDetector: Send + Sync {
    /// Records a heartbeat that arrived at `at`.
    fn heartbeat(&mut self, at: Timestamp) -> HeartbeatOutcome;

    /// Records a heartbeat that arrived at `at` carrying the sender's
    /// sequence number.
    ///
    /// Detectors that use sequence numbers ([`ChenDetector`](crate::ChenDetector))
    /// estimate arrivals from the sender's schedule, so lost heartbeats leave
    /// gaps rather than long intervals, and ignore (and count) a number not
    /// above the highest one seen with [`HeartbeatOutcome::OutOfOrder`]. The
    /// others ignore the number: by default this is
    /// [`heartbeat`](FailureDetector::heartbeat).
    ///
    /// ```
    /// use steadfast_core::Timestamp;
    /// use steadfast_detect::{FailureDetector, ChenConfig, ChenDetector, HeartbeatOutcome};
    ///
    /// let mut chen = ChenDetector::new(ChenConfig::builder().build()?);
    /// let s = Timestamp::from_secs;
    /// assert_eq!(chen.heartbeat_with_sequence(s(1), 1), HeartbeatOutcome::First);
    /// assert_eq!(
    ///     chen.heartbeat_with_sequence(s(2), 1),
    ///     HeartbeatOutcome::OutOfOrder { sequence: 1, latest: 1 }
    /// );
    /// # Ok::<(), steadfast_core::ConfigError>(())
    /// ```
    fn heartbeat_with_sequence(&mut self, at: Timestamp, sequence: u64) -> HeartbeatOutcome {
        let _ = sequence;
        self.heartbeat(at)
    }

    /// The suspicion level at `at`: phi for the accrual detectors, the ratio
    /// of elapsed time to timeout for the timeout detectors. Never NaN.
    fn suspicion(&self, at: Timestamp) -> f64;

    /// The suspicion level at which the peer stops being available.
    fn threshold(&self) -> f64;

    /// The first instant at which the peer is suspected if no further
    /// heartbeat arrives; `None` before the first heartbeat.
    /// [`Timestamp::MAX`] when the crossing lies beyond the representable range.
    fn suspect_at(&self) -> Option<Timestamp>;

    /// Whether the peer is considered available at `at`: `at < suspect_at`.
    fn is_available(&self, at: Timestamp) -> bool {
        self.suspect_at().is_none_or(|deadline| at < deadline)
    }

    /// When the last accepted heartbeat arrived.
    fn last_heartbeat(&self) -> Option<Timestamp>;

    /// How many heartbeats were ignored because they were stamped earlier than
    /// the previous one.
    fn backwards_heartbeats(&self) -> u64;

    /// Forgets every heartbeat, as if the detector had just been built.
    fn reset(&mut self);
}

/// What a detector did with a heartbeat.
///
/// ```
/// use std::time::Duration;
/// use steadfast_core::Timestamp;
/// use steadfast_detect::{FailureDetector, FixedTimeout, HeartbeatOutcome};
///
/// let mut fd = FixedTimeout::new(Duration::from_secs(1))?;
/// let s = Timestamp::from_secs;
/// assert_eq!(fd.heartbeat(s(10)), HeartbeatOutcome::First);
/// assert_eq!(fd.heartbeat(s(10)), HeartbeatOutcome::Recorded { interval: Duration::ZERO });
/// assert_eq!(fd.heartbeat(s(8)), HeartbeatOutcome::Backwards { by: Duration::from_secs(2) });
/// assert_eq!(fd.heartbeat(s(15)), HeartbeatOutcome::NotRecorded { interval: Duration::from_secs(5) });
/// assert_eq!(fd.backwards_heartbeats(), 1);
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeartbeatOutcome {
    /// The first heartbeat: monitoring starts, nothing to measure yet.
    First,
    /// The interval since the previous heartbeat went into the history.
    Recorded {
        /// Time since the previous heartbeat.
        interval: Duration,
    },
    /// The interval was left out of the history because it spans a period in
    /// which the peer was already suspected (or exceeds the detector's maximum
    /// interval): recording it would teach the detector that outages are normal.
    NotRecorded {
        /// Time since the previous heartbeat.
        interval: Duration,
    },
    /// The heartbeat was stamped before the previous one and was ignored.
    Backwards {
        /// How far before the previous heartbeat it was stamped.
        by: Duration,
    },
    /// The heartbeat's sequence number was not above the highest one seen
    /// (a duplicate, or a heartbeat overtaken by a later one); it was ignored.
    OutOfOrder {
        /// Its sequence number.
        sequence: u64,
        /// The highest sequence number seen.
        latest: u64,
    },
}

/// Longest interval kept in a history, in nanoseconds (about 3.26 days).
///
/// Longer intervals are clamped, which keeps the running sums exact in
/// 128-bit integers for up to [`MAX_SAMPLE_SIZE`] samples.
pub const MAX_INTERVAL_NANOS: u64 = 1 << 48;

/// The largest window a detector accepts.
pub const MAX_SAMPLE_SIZE: usize = 1 << 16;

/// A bounded window of inter-arrival intervals with running sums.
///
/// Pushing and reading the mean or standard deviation are O(1). Sums are kept
/// in integers, so they never drift however many samples pass through.
#[derive(Debug, Clone)]
pub(crate) struct IntervalHistory {
    samples: Vec<u64>,
    capacity: usize,
    next: usize,
    /// At most 2^16 samples below 2^48 each: fits in 64 bits.
    sum: u64,
    sum_sq: u128,
    /// `1 / len`, kept with the length: the window is full in the steady
    /// state, so reading the statistics divides nothing.
    inverse: f64,
}

impl IntervalHistory {
    pub(crate) fn new(capacity: usize) -> IntervalHistory {
        IntervalHistory {
            // Grows up to capacity on demand: a monitor of many peers should
            // not pay for a full window per peer up front.
            samples: Vec::new(),
            capacity: capacity.clamp(1, MAX_SAMPLE_SIZE),
            next: 0,
            sum: 0,
            sum_sq: 0,
            inverse: 0.0,
        }
    }

    #[inline]
    pub(crate) fn push(&mut self, interval_nanos: u64) {
        let x = interval_nanos.min(MAX_INTERVAL_NANOS);
        if self.samples.len() < self.capacity {
            self.samples.push(x);
            self.inverse = 1.0 / self.samples.len() as f64;
        } else {
            let old = self.samples[self.next];
            self.sum -= old;
            self.sum_sq -= u128::from(old) * u128::from(old);
            self.samples[self.next] = x;
            self.next += 1;
            if self.next == self.capacity {
                self.next = 0;
            }
        }
        self.sum += x;
        self.sum_sq += u128::from(x) * u128::from(x);
    }

    pub(crate) fn len(&self) -> usize {
        self.samples.len()
    }

    pub(crate) fn clear(&mut self) {
        self.samples.clear();
        self.next = 0;
        self.sum = 0;
        self.sum_sq = 0;
        self.inverse = 0.0;
    }

    /// Mean interval in nanoseconds; 0 for an empty history.
    pub(crate) fn mean(&self) -> f64 {
        if self.samples.is_empty() {
            return 0.0;
        }
        self.sum as f64 / self.samples.len() as f64
    }

    /// Mean and population variance in nanoseconds (squared), the variance
    /// from the exact integer numerator `n * sum_sq - sum^2` (never
    /// negative). No division: the window keeps `1 / n`.
    #[inline]
    pub(crate) fn mean_and_variance(&self) -> (f64, f64) {
        let n = self.samples.len() as u64;
        // n <= 2^16 and every sample < 2^48, so n * sum_sq < 2^128.
        let numerator = u128::from(n) * self.sum_sq - u128::from(self.sum) * u128::from(self.sum);
        // Two 64-bit halves convert with hardware instructions.
        let high = (numerator >> 64) as u64 as f64 * 18_446_744_073_709_551_616.0;
        let low = numerator as u64 as f64;
        let inverse = self.inverse;
        (
            self.sum as f64 * inverse,
            (high + low) * (inverse * inverse),
        )
    }

    /// Mean and population standard deviation in nanoseconds, the deviation
    /// from the exact integer numerator `n * sum_sq - sum^2` (never negative).
    #[cfg(test)]
    pub(crate) fn mean_and_std_deviation(&self) -> (f64, f64) {
        if self.samples.is_empty() {
            return (0.0, 0.0);
        }
        let (mean, variance) = self.mean_and_variance();
        (mean, variance.sqrt())
    }
}

/// The smallest elapsed time (in nanoseconds) at which `suspected` holds,
/// starting the search at `candidate`; `None` if it does not hold even at
/// `limit`. `suspected` must be monotone: false then true.
///
/// A closed-form candidate is usually within a nanosecond of the answer, so
/// this costs two or three evaluations; the galloping search keeps it exact
/// (and logarithmic) even when the candidate is far off.
pub(crate) fn first_crossing(
    candidate: f64,
    limit: u64,
    suspected: impl Fn(u64) -> bool,
) -> Option<u64> {
    let start = if candidate.is_nan() || candidate <= 0.0 {
        0
    } else if candidate >= limit as f64 {
        limit
    } else {
        candidate as u64
    };
    let bisect = |mut below: u64, mut at_or_above: u64| {
        while at_or_above - below > 1 {
            let mid = below + (at_or_above - below) / 2;
            if suspected(mid) {
                at_or_above = mid;
            } else {
                below = mid;
            }
        }
        at_or_above
    };
    if suspected(start) {
        let mut high = start;
        let mut step = 1u64;
        loop {
            if high == 0 {
                return Some(0);
            }
            let low = high.saturating_sub(step);
            if !suspected(low) {
                return Some(bisect(low, high));
            }
            high = low;
            step = step.saturating_mul(2);
        }
    } else {
        let mut low = start;
        let mut step = 1u64;
        loop {
            if low >= limit {
                return None;
            }
            let high = low.saturating_add(step).min(limit);
            if suspected(high) {
                return Some(bisect(low, high));
            }
            low = high;
            step = step.saturating_mul(2);
        }
    }
}

/// The deadline `last + elapsed`, or [`Timestamp::MAX`] when there is none
/// in range.
pub(crate) fn deadline(last: Timestamp, elapsed: Option<u64>) -> Timestamp {
    match elapsed {
        Some(e) => last.saturating_add(Duration::from_nanos(e)),
        None => Timestamp::MAX,
    }
}

/// How far past `last` a deadline can lie.
pub(crate) fn search_limit(last: Timestamp) -> u64 {
    u64::MAX - last.as_nanos()
}

/// The outcome of accepting a heartbeat at `at` after `last`, with the
/// interval to record decided by `record`.
pub(crate) fn classify_interval(
    last: Option<Timestamp>,
    at: Timestamp,
) -> Result<Option<u64>, HeartbeatOutcome> {
    match last {
        None => Ok(None),
        Some(previous) if at < previous => Err(HeartbeatOutcome::Backwards {
            by: previous.saturating_duration_since(at),
        }),
        Some(previous) => Ok(Some(at.as_nanos() - previous.as_nanos())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_mean_and_deviation_are_exact_over_the_window() {
        let mut h = IntervalHistory::new(3);
        assert_eq!(h.mean(), 0.0);
        assert_eq!(h.mean_and_std_deviation().1, 0.0);
        for x in [10, 20, 30, 40] {
            h.push(x);
        }
        assert_eq!(h.len(), 3);
        assert_eq!(h.mean(), 30.0);
        let expected = ((100.0 + 0.0 + 100.0) / 3.0f64).sqrt();
        assert!((h.mean_and_std_deviation().1 - expected).abs() < 1e-12);
        h.clear();
        assert_eq!(h.len(), 0);
    }

    #[test]
    fn history_clamps_huge_intervals_and_never_overflows() {
        let mut h = IntervalHistory::new(MAX_SAMPLE_SIZE + 10);
        for _ in 0..1000 {
            h.push(u64::MAX);
        }
        assert_eq!(h.mean(), MAX_INTERVAL_NANOS as f64);
        assert_eq!(h.mean_and_std_deviation().1, 0.0);
    }

    #[test]
    fn first_crossing_is_exact_from_any_candidate() {
        for candidate in [0.0, 1.0, 999.0, 1000.0, 1001.0, 1e9, f64::NAN, -5.0, 1e30] {
            assert_eq!(
                first_crossing(candidate, u64::MAX, |e| e >= 1000),
                Some(1000)
            );
        }
        assert_eq!(first_crossing(5.0, 100, |e| e >= 1000), None);
        assert_eq!(first_crossing(5.0, 100, |_| true), Some(0));
    }
}
