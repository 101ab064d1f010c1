//! Hybrid logical clocks (Kulkarni, Demirbas et al., 2014).
//!
//! A hybrid logical clock stamps events with a time that is always at least
//! the local physical time, never goes backwards, and respects causality
//! across nodes (a received message moves the clock past the sender's
//! stamp), while staying within the clock skew of physical time. Stamps fit
//! in 64 bits: 48 bits of milliseconds and a 16-bit logical counter. When the
//! counter overflows it carries into the millisecond field, so the stamp
//! stays unique and monotone at the cost of running at most 1 ms ahead per
//! 65 536 events in one millisecond.
//!
//! A remote stamp further ahead of local physical time than the configured
//! `max_skew` is rejected, not adopted: one node with a runaway clock must
//! not drag every clock in the cluster into the future.

use core::fmt;
use core::time::Duration;

use steadfast_core::{Clock, ConfigError, MonotonicClock, Observer, Timestamp};

use crate::sync::{AtomicU64, Ordering};

const LOGICAL_BITS: u32 = 16;
const LOGICAL_MASK: u64 = (1 << LOGICAL_BITS) - 1;
/// The largest physical time a stamp can hold, in milliseconds (about 8 900 years).
const MAX_PHYSICAL_MS: u64 = (1 << (64 - LOGICAL_BITS)) - 1;

/// A hybrid logical clock stamp: milliseconds and a logical counter in one `u64`.
///
/// Ordered as the packed integer: physical time first, then the counter.
///
/// # Examples
///
/// ```
/// use steadfast_replica::HlcTimestamp;
///
/// let t = HlcTimestamp::new(1_700_000_000_000, 3).unwrap();
/// assert_eq!(t.physical_millis(), 1_700_000_000_000);
/// assert_eq!(t.logical(), 3);
/// assert_eq!(HlcTimestamp::from_u64(t.as_u64()), t);
/// assert!(t < HlcTimestamp::new(1_700_000_000_000, 4).unwrap());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
pub struct HlcTimestamp(u64);

impl HlcTimestamp {
    /// The smallest stamp.
    pub const ZERO: HlcTimestamp = HlcTimestamp(0);

    /// The stamp `(physical_millis, logical)`, or `None` when the
    /// milliseconds do not fit in 48 bits.
    ///
    /// ```
    /// # use steadfast_replica::HlcTimestamp;
    /// assert!(HlcTimestamp::new(1 << 48, 0).is_none());
    /// ```
    #[must_use]
    pub const fn new(physical_millis: u64, logical: u16) -> Option<HlcTimestamp> {
        if physical_millis > MAX_PHYSICAL_MS {
            None
        } else {
            Some(HlcTimestamp(
                (physical_millis << LOGICAL_BITS) | logical as u64,
            ))
        }
    }

    /// The stamp with this packed form (every `u64` is a valid stamp).
    ///
    /// ```
    /// # use steadfast_replica::HlcTimestamp;
    /// assert_eq!(HlcTimestamp::from_u64(65_537).physical_millis(), 1);
    /// ```
    #[must_use]
    pub const fn from_u64(packed: u64) -> HlcTimestamp {
        HlcTimestamp(packed)
    }

    /// The packed 64-bit form.
    ///
    /// ```
    /// # use steadfast_replica::HlcTimestamp;
    /// assert_eq!(HlcTimestamp::new(1, 1).unwrap().as_u64(), 65_537);
    /// ```
    #[must_use]
    pub const fn as_u64(self) -> u64 {
        self.0
    }

    /// Physical part, in milliseconds of the clock's epoch.
    ///
    /// ```
    /// # use steadfast_replica::HlcTimestamp;
    /// assert_eq!(HlcTimestamp::new(9, 0).unwrap().physical_millis(), 9);
    /// ```
    #[must_use]
    pub const fn physical_millis(self) -> u64 {
        self.0 >> LOGICAL_BITS
    }

    /// Logical part: events within the same millisecond.
    ///
    /// ```
    /// # use steadfast_replica::HlcTimestamp;
    /// assert_eq!(HlcTimestamp::new(9, 7).unwrap().logical(), 7);
    /// ```
    #[must_use]
    pub const fn logical(self) -> u16 {
        (self.0 & LOGICAL_MASK) as u16
    }
}

impl fmt::Debug for HlcTimestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "HlcTimestamp({}ms+{})",
            self.physical_millis(),
            self.logical()
        )
    }
}

impl fmt::Display for HlcTimestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:05}", self.physical_millis(), self.logical())
    }
}

/// Milliseconds of `t`, capped to what a stamp can hold.
fn physical_of(t: Timestamp) -> u64 {
    (t.as_nanos() / 1_000_000).min(MAX_PHYSICAL_MS)
}

/// Settings of a [`HybridLogicalClock`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use steadfast_replica::HlcConfig;
///
/// let cfg = HlcConfig::builder().max_skew(Duration::from_millis(500)).build()?;
/// assert_eq!(cfg.max_skew(), Duration::from_millis(500));
/// assert!(HlcConfig::builder().max_skew(Duration::ZERO).build().is_err());
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct HlcConfig {
    max_skew: Duration,
}

impl HlcConfig {
    /// Default bound on how far ahead of local physical time a remote stamp may be.
    pub const DEFAULT_MAX_SKEW: Duration = Duration::from_secs(1);

    /// A builder starting from the defaults.
    ///
    /// ```
    /// # use steadfast_replica::HlcConfig;
    /// assert_eq!(HlcConfig::builder().build().unwrap(), HlcConfig::default());
    /// ```
    #[must_use]
    pub fn builder() -> HlcConfigBuilder {
        HlcConfigBuilder {
            max_skew: HlcConfig::DEFAULT_MAX_SKEW,
        }
    }

    /// The bound on remote stamps ahead of local physical time.
    ///
    /// ```
    /// # use steadfast_replica::HlcConfig;
    /// assert_eq!(HlcConfig::default().max_skew(), HlcConfig::DEFAULT_MAX_SKEW);
    /// ```
    #[must_use]
    pub fn max_skew(&self) -> Duration {
        self.max_skew
    }
}

impl Default for HlcConfig {
    fn default() -> HlcConfig {
        HlcConfig {
            max_skew: HlcConfig::DEFAULT_MAX_SKEW,
        }
    }
}

/// Deserialization validates like [`HlcConfigBuilder::build`].
#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for HlcConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<HlcConfig, D::Error> {
        #[derive(serde::Deserialize)]
        struct Raw {
            max_skew: Duration,
        }
        let raw = Raw::deserialize(d)?;
        HlcConfig::builder()
            .max_skew(raw.max_skew)
            .build()
            .map_err(serde::de::Error::custom)
    }
}

/// Builds an [`HlcConfig`].
#[derive(Debug, Clone)]
pub struct HlcConfigBuilder {
    max_skew: Duration,
}

impl HlcConfigBuilder {
    /// How far ahead of local physical time a received stamp may be
    /// (default 1 s). At least 1 ms (the stamp's resolution), at most
    /// about 8 900 years.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use steadfast_replica::HlcConfig;
    /// let cfg = HlcConfig::builder().max_skew(Duration::from_millis(250)).build().unwrap();
    /// assert_eq!(cfg.max_skew().as_millis(), 250);
    /// ```
    #[must_use]
    pub fn max_skew(mut self, max_skew: Duration) -> HlcConfigBuilder {
        self.max_skew = max_skew;
        self
    }

    /// Validates the settings.
    ///
    /// # Errors
    ///
    /// `hlc.max_skew` below 1 ms or above the 48-bit millisecond range.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use steadfast_replica::HlcConfig;
    /// let err = HlcConfig::builder().max_skew(Duration::from_micros(10)).build().unwrap_err();
    /// assert_eq!(err.to_string(), "hlc.max_skew must be at least 1ms, got 10µs");
    /// ```
    pub fn build(self) -> Result<HlcConfig, ConfigError> {
        let d = self.max_skew;
        ConfigError::ensure(
            d >= Duration::from_millis(1),
            "hlc.max_skew",
            format_args!("{d:?}"),
            "at least 1ms",
        )?;
        ConfigError::ensure(
            d.as_millis() <= u128::from(MAX_PHYSICAL_MS),
            "hlc.max_skew",
            format_args!("{d:?}"),
            "at most 2^48 - 1 ms",
        )?;
        Ok(HlcConfig { max_skew: d })
    }
}

/// Why a received stamp was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HlcError {
    /// The remote stamp is further ahead of local physical time than `max_skew`.
    #[error(
        "remote timestamp {remote} is {ahead:?} ahead of local physical time {local_millis}ms, more than the allowed {max_skew:?}"
    )]
    TooFarAhead {
        /// The refused stamp.
        remote: HlcTimestamp,
        /// Local physical time when it arrived, in milliseconds.
        local_millis: u64,
        /// How far ahead it was.
        ahead: Duration,
        /// The configured bound.
        max_skew: Duration,
    },
}

impl HlcError {
    /// True: the same stamp may be accepted once local time catches up.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use steadfast_replica::{HlcError, HlcTimestamp};
    /// let e = HlcError::TooFarAhead {
    ///     remote: HlcTimestamp::ZERO, local_millis: 0,
    ///     ahead: Duration::ZERO, max_skew: Duration::ZERO,
    /// };
    /// assert!(e.is_temporary());
    /// ```
    #[must_use]
    pub fn is_temporary(&self) -> bool {
        true
    }
}

/// What a [`HybridLogicalClock`] reports to its observer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HlcEvent {
    /// A remote stamp was refused; the clock did not move.
    RemoteRejected {
        /// When, on the injected clock.
        at: Timestamp,
        /// Why.
        error: HlcError,
    },
}

/// A lock-free hybrid logical clock over an injected physical [`Clock`].
///
/// The physical clock must share its epoch across the nodes that exchange
/// stamps (wall-clock time): [`new`](Self::new) uses
/// [`MonotonicClock`], whose epoch is the process, which suits stamps that
/// stay in one process; pass a wall clock to [`with_clock`](Self::with_clock)
/// for stamps sent between nodes.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use steadfast_core::{ManualClock, Timestamp};
/// use steadfast_replica::{HlcConfig, HlcError, HlcTimestamp, HybridLogicalClock};
///
/// let clock = ManualClock::starting_at(Timestamp::from_millis(1_000));
/// let hlc = HybridLogicalClock::with_clock(HlcConfig::default(), clock.clone());
/// let a = hlc.now();
/// let b = hlc.now();
/// assert!(b > a && a.physical_millis() == 1_000);
///
/// // A message from a node 300 ms ahead moves the clock forward...
/// let remote = HlcTimestamp::new(1_300, 5).unwrap();
/// assert_eq!(hlc.receive(remote).unwrap(), HlcTimestamp::new(1_300, 6).unwrap());
/// // ...one from an hour ahead is refused.
/// let runaway = HlcTimestamp::new(3_601_000, 0).unwrap();
/// assert!(matches!(hlc.receive(runaway), Err(HlcError::TooFarAhead { .. })));
/// ```
pub struct HybridLogicalClock<C = MonotonicClock, O = ()> {
    state: AtomicU64,
    clock: C,
    config: HlcConfig,
    observer: O,
}

impl<C, O> fmt::Debug for HybridLogicalClock<C, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HybridLogicalClock")
            .field("last", &HlcTimestamp(self.state.load(Ordering::Acquire)))
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl HybridLogicalClock {
    /// A clock over [`MonotonicClock`].
    ///
    /// ```
    /// # use steadfast_replica::{HlcConfig, HybridLogicalClock};
    /// let hlc = HybridLogicalClock::new(HlcConfig::default());
    /// assert!(hlc.now() < hlc.now());
    /// ```
    #[must_use]
    pub fn new(config: HlcConfig) -> HybridLogicalClock {
        HybridLogicalClock::with_clock(config, MonotonicClock::new())
    }
}

impl<C: Clock> HybridLogicalClock<C> {
    /// A clock over the injected physical `clock`.
    ///
    /// ```
    /// # use steadfast_core::ManualClock;
    /// # use steadfast_replica::{HlcConfig, HybridLogicalClock};
    /// let hlc = HybridLogicalClock::with_clock(HlcConfig::default(), ManualClock::new());
    /// assert_eq!(hlc.now().logical(), 1);
    /// ```
    #[must_use]
    pub fn with_clock(config: HlcConfig, clock: C) -> HybridLogicalClock<C> {
        HybridLogicalClock {
            state: AtomicU64::new(0),
            clock,
            config,
            observer: (),
        }
    }
}

impl<C: Clock, O: Observer<HlcEvent>> HybridLogicalClock<C, O> {
    /// The same clock reporting to `observer`.
    ///
    /// ```
    /// # use steadfast_core::{ManualClock, Recorder};
    /// # use steadfast_replica::{HlcConfig, HlcEvent, HlcTimestamp, HybridLogicalClock};
    /// let events = Recorder::<HlcEvent>::new();
    /// let hlc = HybridLogicalClock::with_clock(HlcConfig::default(), ManualClock::new())
    ///     .with_observer(events.clone());
    /// let _ = hlc.receive(HlcTimestamp::new(10_000_000, 0).unwrap());
    /// assert_eq!(events.events().len(), 1);
    /// ```
    #[must_use]
    pub fn with_observer<P: Observer<HlcEvent>>(self, observer: P) -> HybridLogicalClock<C, P> {
        HybridLogicalClock {
            state: AtomicU64::new(self.state.load(Ordering::Acquire)),
            clock: self.clock,
            config: self.config,
            observer,
        }
    }

    /// The configuration.
    ///
    /// ```
    /// # use steadfast_replica::{HlcConfig, HybridLogicalClock};
    /// assert_eq!(HybridLogicalClock::new(HlcConfig::default()).config(), &HlcConfig::default());
    /// ```
    #[must_use]
    pub fn config(&self) -> &HlcConfig {
        &self.config
    }

    /// The last stamp issued or adopted, without advancing the clock.
    ///
    /// ```
    /// # use steadfast_replica::{HlcConfig, HlcTimestamp, HybridLogicalClock};
    /// let hlc = HybridLogicalClock::new(HlcConfig::default());
    /// assert_eq!(hlc.last(), HlcTimestamp::ZERO);
    /// ```
    #[must_use]
    pub fn last(&self) -> HlcTimestamp {
        HlcTimestamp(self.state.load(Ordering::Acquire))
    }

    /// Stamps a local or send event: `max(last + 1, physical << 16)`, which
    /// is Kulkarni's send rule with the counter carrying into the
    /// milliseconds on overflow.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use steadfast_core::{ManualClock, Timestamp};
    /// # use steadfast_replica::{HlcConfig, HybridLogicalClock};
    /// let clock = ManualClock::starting_at(Timestamp::from_millis(5));
    /// let hlc = HybridLogicalClock::with_clock(HlcConfig::default(), clock.clone());
    /// assert_eq!((hlc.now().physical_millis(), hlc.now().logical()), (5, 1));
    /// clock.jump_backwards(Duration::from_millis(3)); // physical time goes back
    /// assert_eq!((hlc.now().physical_millis(), hlc.now().logical()), (5, 3));
    /// ```
    #[must_use]
    pub fn now(&self) -> HlcTimestamp {
        let floor = physical_of(self.clock.now()) << LOGICAL_BITS;
        self.advance(floor)
    }

    /// Merges a received stamp: `max(last + 1, remote + 1, physical << 16)`
    /// (Kulkarni's receive rule), unless `remote` is more than `max_skew`
    /// ahead of local physical time.
    ///
    /// # Errors
    ///
    /// [`HlcError::TooFarAhead`] when the remote stamp is too far ahead; the
    /// clock is left unchanged and the observer is told.
    ///
    /// ```
    /// # use steadfast_core::{ManualClock, Timestamp};
    /// # use steadfast_replica::{HlcConfig, HlcTimestamp, HybridLogicalClock};
    /// let hlc = HybridLogicalClock::with_clock(
    ///     HlcConfig::default(), ManualClock::starting_at(Timestamp::from_millis(100)));
    /// let got = hlc.receive(HlcTimestamp::new(50, 9).unwrap()).unwrap();
    /// assert_eq!((got.physical_millis(), got.logical()), (100, 0));
    /// ```
    pub fn receive(&self, remote: HlcTimestamp) -> Result<HlcTimestamp, HlcError> {
        let now = self.clock.now();
        let physical = physical_of(now);
        let max_skew_ms = u64::try_from(self.config.max_skew.as_millis()).unwrap_or(u64::MAX);
        let remote_ms = remote.physical_millis();
        if remote_ms > physical.saturating_add(max_skew_ms) {
            let error = HlcError::TooFarAhead {
                remote,
                local_millis: physical,
                ahead: Duration::from_millis(remote_ms - physical),
                max_skew: self.config.max_skew,
            };
            self.observer
                .on_event(&HlcEvent::RemoteRejected { at: now, error });
            return Err(error);
        }
        let floor = (physical << LOGICAL_BITS).max(remote.0.saturating_add(1));
        Ok(self.advance(floor))
    }

    /// Sets the state to `max(state + 1, floor)` and returns it.
    fn advance(&self, floor: u64) -> HlcTimestamp {
        let mut current = self.state.load(Ordering::Acquire);
        loop {
            let next = current.saturating_add(1).max(floor);
            match self.state.compare_exchange_weak(
                current,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return HlcTimestamp(next),
                Err(actual) => current = actual,
            }
        }
    }
}

#[cfg(all(test, not(steadfast_loom)))]
mod tests {
    use super::*;
    use steadfast_core::ManualClock;

    fn hlc_at(ms: u64) -> (ManualClock, HybridLogicalClock<ManualClock>) {
        let clock = ManualClock::starting_at(Timestamp::from_millis(ms));
        let hlc = HybridLogicalClock::with_clock(HlcConfig::default(), clock.clone());
        (clock, hlc)
    }

    fn ts(ms: u64, c: u16) -> HlcTimestamp {
        HlcTimestamp::new(ms, c).unwrap()
    }

    #[test]
    fn receive_cases_of_the_paper() {
        // l == l' == l_m: max(c, c_m) + 1
        let (_, h) = hlc_at(10);
        let _ = h.now();
        assert_eq!(h.receive(ts(10, 5)).unwrap(), ts(10, 6));
        // l == l' > l_m: c + 1
        assert_eq!(h.receive(ts(9, 50)).unwrap(), ts(10, 7));
        // l == l_m > l': c_m + 1
        assert_eq!(h.receive(ts(11, 3)).unwrap(), ts(11, 4));
        // physical time wins: counter resets
        let (clock, h) = hlc_at(10);
        clock.advance(Duration::from_millis(5));
        assert_eq!(h.receive(ts(12, 9)).unwrap(), ts(15, 0));
    }

    #[test]
    fn logical_overflow_carries_into_millis() {
        let (_, h) = hlc_at(10);
        assert_eq!(h.receive(ts(10, u16::MAX)).unwrap(), ts(11, 0));
        assert!(h.now() > ts(11, 0));
    }

    #[test]
    fn rejection_leaves_state_untouched() {
        let (_, h) = hlc_at(1_000);
        let before = h.last();
        let err = h.receive(ts(2_001, 0)).unwrap_err();
        assert_eq!(
            err,
            HlcError::TooFarAhead {
                remote: ts(2_001, 0),
                local_millis: 1_000,
                ahead: Duration::from_millis(1_001),
                max_skew: Duration::from_secs(1),
            }
        );
        assert_eq!(h.last(), before);
        // Exactly at the bound is accepted.
        assert_eq!(h.receive(ts(2_000, 0)).unwrap(), ts(2_000, 1));
    }

    #[test]
    fn saturates_at_the_top() {
        let clock = ManualClock::starting_at(Timestamp::MAX);
        let h = HybridLogicalClock::with_clock(HlcConfig::default(), clock);
        let t = h.now();
        assert_eq!(
            t.physical_millis(),
            MAX_PHYSICAL_MS.min(u64::MAX / 1_000_000)
        );
        assert!(
            h.receive(HlcTimestamp::from_u64(u64::MAX)).is_err() || h.last().as_u64() == u64::MAX
        );
        let _ = h.now();
        assert!(h.now() >= t);
    }

    #[test]
    fn huge_max_skew_is_rejected() {
        assert!(
            HlcConfig::builder()
                .max_skew(Duration::MAX)
                .build()
                .is_err()
        );
        assert!(
            HlcConfig::builder()
                .max_skew(Duration::from_millis(1))
                .build()
                .is_ok()
        );
    }

    #[test]
    fn concurrent_stamps_are_unique() {
        let (_, h) = hlc_at(7);
        let h = std::sync::Arc::new(h);
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let h = h.clone();
                std::thread::spawn(move || (0..1_000).map(|_| h.now()).collect::<Vec<_>>())
            })
            .collect();
        let mut all: Vec<HlcTimestamp> = handles
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 4_000);
    }
}

#[cfg(all(test, steadfast_loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;
    use steadfast_core::ManualClock;

    #[test]
    fn loom_send_and_receive_are_unique_and_monotone() {
        loom::model(|| {
            let clock = ManualClock::starting_at(Timestamp::from_millis(3));
            let h = Arc::new(HybridLogicalClock::with_clock(HlcConfig::default(), clock));
            let h2 = h.clone();
            let t = loom::thread::spawn(move || {
                let a = h2.now();
                let b = h2.receive(HlcTimestamp::new(3, 9).unwrap()).unwrap();
                assert!(b > a);
                (a, b)
            });
            let c = h.now();
            let (a, b) = t.join().unwrap();
            assert!(c != a && c != b);
            assert!(h.last() >= c && h.last() >= b);
            assert!(b > HlcTimestamp::new(3, 9).unwrap());
        });
    }
}
