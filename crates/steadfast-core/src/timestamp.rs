use core::fmt;
use core::ops::{Add, AddAssign, Sub, SubAssign};
use core::time::Duration;

/// A point in monotonic time: nanoseconds since a process-wide origin.
///
/// A `Timestamp` is only meaningful against other timestamps from the same
/// [`Clock`](crate::Clock) family: every [`MonotonicClock`](crate::MonotonicClock)
/// in a process shares one origin, and clones of a
/// [`ManualClock`](crate::ManualClock) share one time.
///
/// All arithmetic saturates instead of panicking or wrapping: adding a
/// [`Duration`] past [`Timestamp::MAX`] gives `MAX`, subtracting below zero gives
/// [`Timestamp::ZERO`], and [`saturating_duration_since`](Self::saturating_duration_since)
/// returns zero when time appears to go backwards. A `u64` of nanoseconds covers
/// about 584 years.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use steadfast_core::Timestamp;
///
/// let t = Timestamp::from_millis(1_500);
/// assert_eq!(t.as_nanos(), 1_500_000_000);
/// assert_eq!(t + Duration::from_millis(500), Timestamp::from_secs(2));
/// assert_eq!(t - Duration::from_secs(10), Timestamp::ZERO);
/// assert_eq!(Timestamp::from_secs(2).saturating_duration_since(t), Duration::from_millis(500));
/// assert_eq!(t.saturating_duration_since(Timestamp::from_secs(2)), Duration::ZERO);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
pub struct Timestamp(u64);

/// Converts a duration to whole nanoseconds, saturating at `u64::MAX`.
fn duration_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Timestamp {
    /// The origin: zero nanoseconds.
    ///
    /// ```
    /// # use steadfast_core::Timestamp;
    /// assert_eq!(Timestamp::ZERO.as_nanos(), 0);
    /// ```
    pub const ZERO: Timestamp = Timestamp(0);

    /// The latest representable instant (`u64::MAX` nanoseconds).
    ///
    /// ```
    /// # use steadfast_core::Timestamp;
    /// assert!(Timestamp::MAX > Timestamp::from_secs(1_000_000));
    /// ```
    pub const MAX: Timestamp = Timestamp(u64::MAX);

    /// A timestamp `nanos` nanoseconds after the origin.
    ///
    /// ```
    /// # use steadfast_core::Timestamp;
    /// assert_eq!(Timestamp::from_nanos(42).as_nanos(), 42);
    /// ```
    #[must_use]
    pub const fn from_nanos(nanos: u64) -> Timestamp {
        Timestamp(nanos)
    }

    /// A timestamp `micros` microseconds after the origin, saturating at [`Timestamp::MAX`].
    ///
    /// ```
    /// # use steadfast_core::Timestamp;
    /// assert_eq!(Timestamp::from_micros(3).as_nanos(), 3_000);
    /// ```
    #[must_use]
    pub const fn from_micros(micros: u64) -> Timestamp {
        Timestamp(micros.saturating_mul(1_000))
    }

    /// A timestamp `millis` milliseconds after the origin, saturating at [`Timestamp::MAX`].
    ///
    /// ```
    /// # use steadfast_core::Timestamp;
    /// assert_eq!(Timestamp::from_millis(3).as_nanos(), 3_000_000);
    /// ```
    #[must_use]
    pub const fn from_millis(millis: u64) -> Timestamp {
        Timestamp(millis.saturating_mul(1_000_000))
    }

    /// A timestamp `secs` seconds after the origin, saturating at [`Timestamp::MAX`].
    ///
    /// ```
    /// # use steadfast_core::Timestamp;
    /// assert_eq!(Timestamp::from_secs(3).as_nanos(), 3_000_000_000);
    /// assert_eq!(Timestamp::from_secs(u64::MAX), Timestamp::MAX);
    /// ```
    #[must_use]
    pub const fn from_secs(secs: u64) -> Timestamp {
        Timestamp(secs.saturating_mul(1_000_000_000))
    }

    /// The timestamp that lies `since_origin` after the origin, saturating at
    /// [`Timestamp::MAX`].
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use steadfast_core::Timestamp;
    /// assert_eq!(Timestamp::from_duration(Duration::from_micros(7)), Timestamp::from_micros(7));
    /// ```
    #[must_use]
    pub fn from_duration(since_origin: Duration) -> Timestamp {
        Timestamp(duration_nanos(since_origin))
    }

    /// Nanoseconds since the origin.
    ///
    /// ```
    /// # use steadfast_core::Timestamp;
    /// assert_eq!(Timestamp::from_micros(1).as_nanos(), 1_000);
    /// ```
    #[must_use]
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// Time since the origin as a [`Duration`].
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use steadfast_core::Timestamp;
    /// assert_eq!(Timestamp::from_millis(5).as_duration(), Duration::from_millis(5));
    /// ```
    #[must_use]
    pub const fn as_duration(self) -> Duration {
        Duration::from_nanos(self.0)
    }

    /// Seconds since the origin as an `f64` (for statistics and plots).
    ///
    /// ```
    /// # use steadfast_core::Timestamp;
    /// assert_eq!(Timestamp::from_millis(1_500).as_secs_f64(), 1.5);
    /// ```
    #[must_use]
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }

    /// The time elapsed from `earlier` to `self`, or zero if `earlier` is later.
    ///
    /// This never panics, so a clock that jumps backwards yields a zero
    /// interval instead of an abort.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use steadfast_core::Timestamp;
    /// let a = Timestamp::from_secs(1);
    /// let b = Timestamp::from_secs(3);
    /// assert_eq!(b.saturating_duration_since(a), Duration::from_secs(2));
    /// assert_eq!(a.saturating_duration_since(b), Duration::ZERO);
    /// ```
    #[must_use]
    pub const fn saturating_duration_since(self, earlier: Timestamp) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }

    /// The time elapsed from `earlier` to `self`, or `None` if `earlier` is later.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use steadfast_core::Timestamp;
    /// let a = Timestamp::from_secs(1);
    /// let b = Timestamp::from_secs(3);
    /// assert_eq!(b.checked_duration_since(a), Some(Duration::from_secs(2)));
    /// assert_eq!(a.checked_duration_since(b), None);
    /// ```
    #[must_use]
    pub const fn checked_duration_since(self, earlier: Timestamp) -> Option<Duration> {
        match self.0.checked_sub(earlier.0) {
            Some(nanos) => Some(Duration::from_nanos(nanos)),
            None => None,
        }
    }

    /// `self + d`, saturating at [`Timestamp::MAX`].
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use steadfast_core::Timestamp;
    /// assert_eq!(Timestamp::MAX.saturating_add(Duration::from_secs(1)), Timestamp::MAX);
    /// ```
    #[must_use]
    pub fn saturating_add(self, d: Duration) -> Timestamp {
        Timestamp(self.0.saturating_add(duration_nanos(d)))
    }

    /// `self - d`, saturating at [`Timestamp::ZERO`].
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use steadfast_core::Timestamp;
    /// assert_eq!(Timestamp::from_secs(1).saturating_sub(Duration::from_secs(2)), Timestamp::ZERO);
    /// ```
    #[must_use]
    pub fn saturating_sub(self, d: Duration) -> Timestamp {
        Timestamp(self.0.saturating_sub(duration_nanos(d)))
    }

    /// `self + d`, or `None` if the result would pass [`Timestamp::MAX`].
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use steadfast_core::Timestamp;
    /// assert_eq!(Timestamp::ZERO.checked_add(Duration::from_nanos(5)), Some(Timestamp::from_nanos(5)));
    /// assert_eq!(Timestamp::MAX.checked_add(Duration::from_nanos(1)), None);
    /// ```
    #[must_use]
    pub fn checked_add(self, d: Duration) -> Option<Timestamp> {
        let nanos = u64::try_from(d.as_nanos()).ok()?;
        self.0.checked_add(nanos).map(Timestamp)
    }

    /// `self - d`, or `None` if the result would fall before the origin.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use steadfast_core::Timestamp;
    /// assert_eq!(Timestamp::from_nanos(5).checked_sub(Duration::from_nanos(5)), Some(Timestamp::ZERO));
    /// assert_eq!(Timestamp::ZERO.checked_sub(Duration::from_nanos(1)), None);
    /// ```
    #[must_use]
    pub fn checked_sub(self, d: Duration) -> Option<Timestamp> {
        let nanos = u64::try_from(d.as_nanos()).ok()?;
        self.0.checked_sub(nanos).map(Timestamp)
    }
}

impl Add<Duration> for Timestamp {
    type Output = Timestamp;

    /// Saturating: see [`Timestamp::saturating_add`].
    fn add(self, d: Duration) -> Timestamp {
        self.saturating_add(d)
    }
}

impl AddAssign<Duration> for Timestamp {
    fn add_assign(&mut self, d: Duration) {
        *self = self.saturating_add(d);
    }
}

impl Sub<Duration> for Timestamp {
    type Output = Timestamp;

    /// Saturating: see [`Timestamp::saturating_sub`].
    fn sub(self, d: Duration) -> Timestamp {
        self.saturating_sub(d)
    }
}

impl SubAssign<Duration> for Timestamp {
    fn sub_assign(&mut self, d: Duration) {
        *self = self.saturating_sub(d);
    }
}

impl Sub<Timestamp> for Timestamp {
    type Output = Duration;

    /// Saturating: see [`Timestamp::saturating_duration_since`].
    fn sub(self, earlier: Timestamp) -> Duration {
        self.saturating_duration_since(earlier)
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({:?})", self.as_duration())
    }
}

impl fmt::Display for Timestamp {
    /// Seconds since the origin with nanosecond precision, e.g. `t+1.500000000s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "t+{}.{:09}s",
            self.0 / 1_000_000_000,
            self.0 % 1_000_000_000
        )
    }
}

impl From<Duration> for Timestamp {
    fn from(since_origin: Duration) -> Timestamp {
        Timestamp::from_duration(since_origin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    #[test]
    fn huge_durations_saturate() {
        let huge = Duration::MAX;
        assert_eq!(Timestamp::ZERO + huge, Timestamp::MAX);
        assert_eq!(Timestamp::MAX - huge, Timestamp::ZERO);
        assert_eq!(Timestamp::from_duration(huge), Timestamp::MAX);
        assert_eq!(Timestamp::ZERO.checked_add(huge), None);
        assert_eq!(Timestamp::MAX.checked_sub(huge), None);
    }

    #[test]
    fn backwards_is_zero_not_panic() {
        let later = Timestamp::from_secs(10);
        let earlier = Timestamp::from_secs(3);
        assert_eq!(earlier - later, Duration::ZERO);
        assert_eq!(later - earlier, Duration::from_secs(7));
    }

    #[test]
    fn assign_ops_saturate() {
        let mut t = Timestamp::from_secs(1);
        t -= Duration::from_secs(5);
        assert_eq!(t, Timestamp::ZERO);
        t += Duration::MAX;
        assert_eq!(t, Timestamp::MAX);
    }

    #[test]
    fn display_and_debug() {
        assert_eq!(
            format!("{}", Timestamp::from_millis(1_500)),
            "t+1.500000000s"
        );
        assert_eq!(
            format!("{:?}", Timestamp::from_millis(1_500)),
            "Timestamp(1.5s)"
        );
    }
}
