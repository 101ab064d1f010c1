use alloc::boxed::Box;
use core::fmt;
use core::time::Duration;

use alloc::sync::Arc;
// The shared time of a ManualClock lives in loom's Arc under loom; the public
// `Clock for Arc<C>` impl is always for the standard Arc.
#[cfg(not(steadfast_loom))]
use alloc::sync::Arc as SharedArc;
#[cfg(steadfast_loom)]
use loom::sync::Arc as SharedArc;

use crate::Timestamp;
use crate::sync::{AtomicU64, Ordering};

/// A source of monotonic time, injected into every algorithm.
///
/// Algorithm code in steadfast never reads the system clock directly: it asks
/// a `Clock`. Production code passes [`MonotonicClock`]; tests and the
/// simulator pass a [`ManualClock`] and move time by hand.
///
/// The trait is object safe (`&dyn Clock`, `Arc<dyn Clock>`) and implemented
/// for references, `Arc` and `Box`, so a clock can be shared without cloning.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use steadfast_core::{Clock, ManualClock, Timestamp};
///
/// fn deadline(clock: &dyn Clock, timeout: Duration) -> Timestamp {
///     clock.now() + timeout
/// }
///
/// let clock = Arc::new(ManualClock::new());
/// assert_eq!(deadline(&clock, Duration::from_secs(1)), Timestamp::from_secs(1));
/// ```
pub trait Clock: Send + Sync {
    /// The current time.
    ///
    /// Successive calls on one clock never go backwards, except when a test
    /// moves a [`ManualClock`] back on purpose with
    /// [`ManualClock::jump_backwards`]; code that consumes timestamps must
    /// tolerate that (use [`Timestamp::saturating_duration_since`]).
    fn now(&self) -> Timestamp;

    /// The current time, possibly a little behind [`now`](Clock::now), where
    /// that is cheaper to read.
    ///
    /// For decisions at millisecond-to-second scale (is a breaker's open
    /// wait over, which slice of a budget's window is current), not for
    /// measuring latency. The reading is on the same scale as `now` and never
    /// ahead of it: a `now_coarse` read before a `now` read returns at most
    /// that `now`. It lags by at most [`coarse_lag`](Clock::coarse_lag).
    ///
    /// The default is `now` itself (no lag). [`MonotonicClock`] on Linux and
    /// Android reads `CLOCK_MONOTONIC_COARSE`, the same clock as of the last
    /// kernel tick, several times cheaper.
    ///
    /// ```
    /// use std::time::Duration;
    /// use steadfast_core::{Clock, ManualClock, MonotonicClock};
    ///
    /// let clock = MonotonicClock::new();
    /// let coarse = clock.now_coarse();
    /// assert!(coarse <= clock.now());
    /// assert!(clock.coarse_lag() <= Duration::from_millis(10));
    ///
    /// // Test clocks have no lag.
    /// let manual = ManualClock::new();
    /// manual.advance(Duration::from_nanos(1));
    /// assert_eq!(manual.now_coarse(), manual.now());
    /// ```
    #[inline]
    fn now_coarse(&self) -> Timestamp {
        self.now()
    }

    /// The most [`now_coarse`](Clock::now_coarse) may lag behind
    /// [`now`](Clock::now): zero unless the clock overrides `now_coarse`
    /// (a documented upper bound, such as the kernel tick, not a
    /// measurement).
    ///
    /// ```
    /// use std::time::Duration;
    /// use steadfast_core::{Clock, ManualClock};
    /// assert_eq!(ManualClock::new().coarse_lag(), Duration::ZERO);
    /// ```
    #[inline]
    fn coarse_lag(&self) -> Duration {
        Duration::ZERO
    }
}

impl<C: Clock + ?Sized> Clock for &C {
    fn now(&self) -> Timestamp {
        (**self).now()
    }

    #[inline]
    fn now_coarse(&self) -> Timestamp {
        (**self).now_coarse()
    }

    fn coarse_lag(&self) -> Duration {
        (**self).coarse_lag()
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> Timestamp {
        (**self).now()
    }

    #[inline]
    fn now_coarse(&self) -> Timestamp {
        (**self).now_coarse()
    }

    fn coarse_lag(&self) -> Duration {
        (**self).coarse_lag()
    }
}

impl<C: Clock + ?Sized> Clock for Box<C> {
    fn now(&self) -> Timestamp {
        (**self).now()
    }

    #[inline]
    fn now_coarse(&self) -> Timestamp {
        (**self).now_coarse()
    }

    fn coarse_lag(&self) -> Duration {
        (**self).coarse_lag()
    }
}

/// The real clock: the operating system's monotonic clock, measured against
/// one process-wide origin.
///
/// All `MonotonicClock` values in a process share the same origin (fixed the
/// first time any of them is read), so their timestamps compare with each
/// other. The clock is a zero-sized value: create as many as you like.
///
/// On Linux and Android it reads `CLOCK_MONOTONIC` (the clock
/// `std::time::Instant` reads there) with `clock_gettime`, through `rustix`,
/// and subtracts its origin as an integer: level with `Instant::now` or
/// cheaper (see `BENCHMARKS.md`), and
/// [`now_coarse`](Clock::now_coarse) reads `CLOCK_MONOTONIC_COARSE` in about
/// a fifth of that. Elsewhere it reads `std::time::Instant`.
///
/// Timestamps from this clock are small numbers right after start-up (the
/// first reading may be [`Timestamp::ZERO`]); never use `ZERO` as a "never
/// happened" sentinel.
///
/// # Examples
///
/// ```
/// use steadfast_core::{Clock, MonotonicClock};
///
/// let a = MonotonicClock::new().now();
/// let b = MonotonicClock::new().now();
/// assert!(b >= a);
/// ```
#[cfg(feature = "std")]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MonotonicClock {
    _private: (),
}

#[cfg(feature = "std")]
impl MonotonicClock {
    /// A handle to the process's monotonic clock.
    ///
    /// ```
    /// # use steadfast_core::{Clock, MonotonicClock};
    /// let _now = MonotonicClock::new().now();
    /// ```
    #[must_use]
    pub const fn new() -> MonotonicClock {
        MonotonicClock { _private: () }
    }

    /// Converts a `std::time::Instant` to this clock's timestamp scale.
    ///
    /// The instant is placed by its distance from the present, so a
    /// conversion of an instant taken just before (or after) a reading of
    /// this clock lands at or after (or before) that reading. Instants before
    /// the process-wide origin map to [`Timestamp::ZERO`].
    ///
    /// ```
    /// # use steadfast_core::{Clock, MonotonicClock};
    /// let clock = MonotonicClock::new();
    /// let before = clock.now();
    /// let ts = MonotonicClock::timestamp_of(std::time::Instant::now());
    /// assert!(ts >= before);
    /// assert!(ts <= clock.now());
    /// ```
    #[must_use]
    pub fn timestamp_of(instant: std::time::Instant) -> Timestamp {
        // `Instant::now` first, this clock second: an instant taken before
        // `anchor` maps to at most a later reading and at least its own.
        let anchor = std::time::Instant::now();
        let now = MonotonicClock::new().now();
        match instant.checked_duration_since(anchor) {
            Some(ahead) => now.saturating_add(ahead),
            None => Timestamp::from_nanos(
                now.as_nanos()
                    .saturating_sub(duration_nanos(anchor.duration_since(instant))),
            ),
        }
    }
}

/// A duration in whole nanoseconds, saturating at `u64::MAX` (cheaper than
/// `as_nanos`, a `u128`).
#[cfg(feature = "std")]
#[inline]
fn duration_nanos(d: Duration) -> u64 {
    d.as_secs()
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::from(d.subsec_nanos()))
}

/// The operating system's clocks, read with `clock_gettime` (through rustix's
/// libc backend, which programs under valgrind can run, unlike its own vDSO
/// loader).
#[cfg(all(feature = "std", any(target_os = "linux", target_os = "android")))]
mod os {
    use rustix::time::{ClockId, Timespec, clock_gettime};

    #[inline]
    fn nanos(ts: Timespec) -> u64 {
        // Monotonic clocks read from boot: non-negative seconds, nanoseconds
        // below 10^9, and 584 years before the product leaves a u64.
        (ts.tv_sec as u64)
            .wrapping_mul(1_000_000_000)
            .wrapping_add(ts.tv_nsec as u64)
    }

    /// `CLOCK_MONOTONIC`, in nanoseconds.
    #[inline]
    pub(super) fn monotonic() -> u64 {
        nanos(clock_gettime(ClockId::Monotonic))
    }

    /// `CLOCK_MONOTONIC_COARSE`, in nanoseconds.
    #[inline]
    pub(super) fn monotonic_coarse() -> u64 {
        nanos(clock_gettime(ClockId::MonotonicCoarse))
    }
}

#[cfg(all(feature = "std", any(target_os = "linux", target_os = "android")))]
impl MonotonicClock {
    /// The process-wide origin on `CLOCK_MONOTONIC`: the first reading that
    /// any thread publishes (one load once set; a plain atomic rather than a
    /// `OnceLock`, whose fast path is two).
    #[inline(always)]
    fn origin() -> u64 {
        match LINUX_ORIGIN.load(core::sync::atomic::Ordering::Relaxed) {
            0 => Self::set_origin(),
            origin => origin,
        }
    }

    /// Publishes the origin on first use (out of line: the reading path
    /// stays small enough to inline).
    #[cold]
    #[inline(never)]
    fn set_origin() -> u64 {
        use core::sync::atomic::Ordering;
        // A reading of zero (at boot) is stored as one: zero means unset.
        let mine = os::monotonic().max(1);
        match LINUX_ORIGIN.compare_exchange(0, mine, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => mine,
            Err(first) => first,
        }
    }
}

/// `MonotonicClock`'s origin on Linux; zero until the first reading.
#[cfg(all(feature = "std", any(target_os = "linux", target_os = "android")))]
static LINUX_ORIGIN: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

#[cfg(all(feature = "std", any(target_os = "linux", target_os = "android")))]
impl Clock for MonotonicClock {
    #[inline]
    fn now(&self) -> Timestamp {
        // Read the OS clock first: nothing before it delays the read, and an
        // origin fixed just after it (first use) saturates to zero below.
        let now = os::monotonic();
        Timestamp::from_nanos(now.saturating_sub(Self::origin()))
    }

    /// `CLOCK_MONOTONIC_COARSE`: `CLOCK_MONOTONIC` as of the last kernel
    /// tick (1 to 10 ms ago), on the same origin as [`now`](Clock::now).
    #[inline]
    fn now_coarse(&self) -> Timestamp {
        let now = os::monotonic_coarse();
        Timestamp::from_nanos(now.saturating_sub(Self::origin()))
    }

    /// 10 ms: the longest kernel tick in common configurations (`HZ=100`);
    /// usually 1 to 4 ms.
    fn coarse_lag(&self) -> Duration {
        Duration::from_millis(10)
    }
}

#[cfg(all(feature = "std", not(any(target_os = "linux", target_os = "android"))))]
impl Clock for MonotonicClock {
    #[inline]
    fn now(&self) -> Timestamp {
        static ORIGIN: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        // Read the OS clock first: nothing before it delays the read, and an
        // origin fixed just after it (first use) saturates to zero below.
        let now = std::time::Instant::now();
        match now.checked_duration_since(*ORIGIN.get_or_init(std::time::Instant::now)) {
            Some(since) => Timestamp::from_nanos(duration_nanos(since)),
            None => Timestamp::ZERO,
        }
    }
}

/// A clock on the CPU's time-stamp counter, through the `quanta` crate (feature `quanta`).
///
/// Reading the TSC avoids the cost of `Instant::now` where that is high (many
/// virtual machines); see `BENCHMARKS.md` for the measured difference. Where
/// no usable TSC exists, `quanta` falls back to the OS monotonic clock. The
/// first reading in a process calibrates the TSC against the OS clock, which
/// busy-waits for up to 200 ms.
///
/// All `QuantaClock` values in a process share one origin and one calibration,
/// so their timestamps compare with each other, but **not** with
/// [`MonotonicClock`] timestamps: pick one clock per component.
///
/// # Examples
///
/// ```
/// use steadfast_core::{Clock, QuantaClock};
///
/// let clock = QuantaClock::new();
/// let a = clock.now();
/// let b = QuantaClock::new().now();
/// assert!(b >= a);
/// ```
#[cfg(feature = "quanta")]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QuantaClock {
    _private: (),
}

#[cfg(feature = "quanta")]
impl QuantaClock {
    /// A handle to the process's TSC clock (calibrated once, on first use).
    ///
    /// ```
    /// # use steadfast_core::{Clock, QuantaClock};
    /// let _now = QuantaClock::new().now();
    /// ```
    #[must_use]
    pub const fn new() -> QuantaClock {
        QuantaClock { _private: () }
    }

    fn state() -> &'static (quanta::Clock, u64) {
        static STATE: std::sync::OnceLock<(quanta::Clock, u64)> = std::sync::OnceLock::new();
        STATE.get_or_init(|| {
            let clock = quanta::Clock::new();
            let origin = clock.raw();
            (clock, origin)
        })
    }
}

#[cfg(feature = "quanta")]
impl Clock for QuantaClock {
    fn now(&self) -> Timestamp {
        let (clock, origin) = Self::state();
        let raw = clock.raw();
        // A TSC read on another core may trail the origin slightly: saturate.
        if raw <= *origin {
            Timestamp::ZERO
        } else {
            Timestamp::from_nanos(clock.delta_as_nanos(*origin, raw))
        }
    }
}

/// The OS's coarse monotonic clock (feature `coarse`): a few nanoseconds to
/// read, at the resolution of the kernel's timer tick.
///
/// On Linux and Android it reads `CLOCK_MONOTONIC_COARSE` (through the
/// `coarsetime` crate), which the kernel updates once per tick: its
/// resolution is 1 to 10 ms (1 ms at `CONFIG_HZ=1000`, 4 ms at the common
/// 250). FreeBSD and DragonFly read `CLOCK_MONOTONIC_FAST`, macOS
/// `CLOCK_MONOTONIC_RAW_APPROX`, Windows `GetTickCount64` (10 to 16 ms).
/// Elsewhere, where no coarse monotonic clock is known, it reads
/// `std::time::Instant` like [`MonotonicClock`] (precise, not cheaper).
///
/// It suits components whose decisions are at millisecond-to-second scale
/// and whose hot path would otherwise be dominated by the clock read:
/// circuit breakers (open waits of seconds, time windows of seconds),
/// retry budgets (slices of a second), rate limiters with periods of tens of
/// milliseconds and more. The trade-offs:
///
/// - a reading lags real time by up to one tick, so a wait may last up to
///   one tick longer than asked, and a time-window bucket may close up to
///   one tick late;
/// - calls closer together than a tick read the same time: durations
///   shorter than a tick measure as zero or one tick, so it is **not** for
///   slow-call thresholds or timeouts below ~50 ms, nor for latency
///   measurement;
/// - its timestamps share an origin with other `CoarseClock` values only:
///   never compare them with [`MonotonicClock`] or [`QuantaClock`] ones.
///
/// Readings never go backwards. All `CoarseClock` values in a process share
/// one origin (fixed the first time any of them is read).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use steadfast_core::{Clock, CoarseClock};
///
/// let clock = CoarseClock::new();
/// let a = clock.now();
/// std::thread::sleep(Duration::from_millis(30));
/// let b = CoarseClock::new().now();
/// assert!(b >= a);
/// assert!(CoarseClock::resolution() <= Duration::from_millis(20));
/// ```
#[cfg(feature = "coarse")]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CoarseClock {
    _private: (),
}

#[cfg(feature = "coarse")]
#[cfg(any(target_os = "linux", target_os = "android"))]
mod coarse_source {
    /// `CLOCK_MONOTONIC_COARSE`.
    #[inline]
    pub(super) fn nanos() -> u64 {
        super::os::monotonic_coarse()
    }

    pub(super) const RESOLUTION_HINT: core::time::Duration = core::time::Duration::from_millis(10);
}

#[cfg(feature = "coarse")]
#[cfg(any(
    target_os = "macos",
    target_os = "freebsd",
    target_os = "dragonfly",
    windows
))]
mod coarse_source {
    /// Nanoseconds on the coarse clock's own scale.
    #[inline]
    pub(super) fn nanos() -> u64 {
        // Seconds in 32.32 fixed point, to nanoseconds (exact to under 1 ns).
        let ticks = coarsetime::Instant::now_without_cache_update().as_ticks();
        ((u128::from(ticks) * 1_000_000_000) >> 32) as u64
    }

    pub(super) const RESOLUTION_HINT: core::time::Duration = if cfg!(windows) {
        core::time::Duration::from_millis(16)
    } else {
        core::time::Duration::from_millis(10)
    };
}

#[cfg(feature = "coarse")]
#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_os = "macos",
    target_os = "freebsd",
    target_os = "dragonfly",
    windows
)))]
mod coarse_source {
    /// No coarse monotonic clock known here: the precise one.
    #[inline]
    pub(super) fn nanos() -> u64 {
        use crate::Clock;
        super::MonotonicClock::new().now().as_nanos()
    }

    pub(super) const RESOLUTION_HINT: core::time::Duration = core::time::Duration::from_nanos(1);
}

#[cfg(feature = "coarse")]
impl CoarseClock {
    /// A handle to the process's coarse clock.
    ///
    /// ```
    /// # use steadfast_core::{Clock, CoarseClock};
    /// let _now = CoarseClock::new().now();
    /// ```
    #[must_use]
    pub const fn new() -> CoarseClock {
        CoarseClock { _private: () }
    }

    #[inline]
    fn origin() -> u64 {
        static ORIGIN: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
        *ORIGIN.get_or_init(coarse_source::nanos)
    }

    /// The largest step this clock is documented to take on this platform
    /// (an upper bound, not a measurement): 10 ms on Linux, Android, macOS
    /// and the BSDs (usually 1 to 4 ms), 16 ms on Windows, 1 ns where it
    /// falls back to `Instant`.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use steadfast_core::CoarseClock;
    /// assert!(CoarseClock::resolution() > Duration::ZERO);
    /// ```
    #[must_use]
    pub const fn resolution() -> Duration {
        coarse_source::RESOLUTION_HINT
    }
}

#[cfg(feature = "coarse")]
impl Clock for CoarseClock {
    #[inline]
    fn now(&self) -> Timestamp {
        // The OS clock first, as in `MonotonicClock::now`.
        let now = coarse_source::nanos();
        Timestamp::from_nanos(now.saturating_sub(Self::origin()))
    }
}

/// The system's wall clock: nanoseconds since the Unix epoch (1970-01-01 UTC).
///
/// For algorithms whose timestamps must mean the same thing on different
/// machines, such as hybrid logical clocks or last-writer-wins by time. Unlike
/// [`MonotonicClock`], this clock **can step backwards** (NTP corrections, a
/// manual change), so consumers must tolerate that; and its timestamps must
/// never be compared with those of a monotonic clock. Times before the epoch
/// read as [`Timestamp::ZERO`].
///
/// # Examples
///
/// ```
/// use steadfast_core::{Clock, WallClock};
///
/// let now = WallClock::new().now();
/// assert!(now.as_secs_f64() > 1.6e9); // after September 2020
/// ```
#[cfg(feature = "std")]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WallClock {
    _private: (),
}

#[cfg(feature = "std")]
impl WallClock {
    /// A handle to the system's wall clock.
    ///
    /// ```
    /// # use steadfast_core::{Clock, WallClock};
    /// let _now = WallClock::new().now();
    /// ```
    #[must_use]
    pub const fn new() -> WallClock {
        WallClock { _private: () }
    }
}

#[cfg(feature = "std")]
impl Clock for WallClock {
    fn now(&self) -> Timestamp {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(Timestamp::ZERO, Timestamp::from_duration)
    }
}

/// A clock that moves only when told to; clones share one time.
///
/// Hand one clone to the code under test and keep another to move time:
/// everything that reads any clone sees the same instant. This is how tests
/// and the steadfast simulator drive every crate deterministically.
///
/// [`advance`](Self::advance) and [`advance_to`](Self::advance_to) only move
/// forward. [`jump_backwards`](Self::jump_backwards) exists, under its own name,
/// for tests that check how code copes with a clock that steps back.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use steadfast_core::{Clock, ManualClock, Timestamp};
///
/// let clock = ManualClock::new();
/// let handle = clock.clone();
/// handle.advance(Duration::from_secs(5));
/// assert_eq!(clock.now(), Timestamp::from_secs(5));
///
/// handle.jump_backwards(Duration::from_secs(2));
/// assert_eq!(clock.now(), Timestamp::from_secs(3));
/// ```
#[derive(Clone)]
pub struct ManualClock {
    nanos: SharedArc<AtomicU64>,
}

impl ManualClock {
    /// A clock standing at [`Timestamp::ZERO`].
    ///
    /// ```
    /// # use steadfast_core::{Clock, ManualClock, Timestamp};
    /// assert_eq!(ManualClock::new().now(), Timestamp::ZERO);
    /// ```
    #[must_use]
    pub fn new() -> ManualClock {
        ManualClock::starting_at(Timestamp::ZERO)
    }

    /// A clock standing at `start`.
    ///
    /// ```
    /// # use steadfast_core::{Clock, ManualClock, Timestamp};
    /// let clock = ManualClock::starting_at(Timestamp::from_secs(100));
    /// assert_eq!(clock.now(), Timestamp::from_secs(100));
    /// ```
    #[must_use]
    pub fn starting_at(start: Timestamp) -> ManualClock {
        ManualClock {
            nanos: SharedArc::new(AtomicU64::new(start.as_nanos())),
        }
    }

    /// Moves time forward by `d` (saturating at [`Timestamp::MAX`]) and returns the new time.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use steadfast_core::{ManualClock, Timestamp};
    /// let clock = ManualClock::new();
    /// assert_eq!(clock.advance(Duration::from_millis(10)), Timestamp::from_millis(10));
    /// ```
    pub fn advance(&self, d: Duration) -> Timestamp {
        let step = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let previous = self
            .nanos
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                Some(n.saturating_add(step))
            })
            .unwrap_or_else(|n| n);
        Timestamp::from_nanos(previous.saturating_add(step))
    }

    /// Moves time forward to `t`; does nothing if the clock is already past `t`.
    /// Returns the time after the call.
    ///
    /// ```
    /// # use steadfast_core::{Clock, ManualClock, Timestamp};
    /// let clock = ManualClock::starting_at(Timestamp::from_secs(5));
    /// assert_eq!(clock.advance_to(Timestamp::from_secs(3)), Timestamp::from_secs(5));
    /// assert_eq!(clock.advance_to(Timestamp::from_secs(8)), Timestamp::from_secs(8));
    /// ```
    pub fn advance_to(&self, t: Timestamp) -> Timestamp {
        let previous = self.nanos.fetch_max(t.as_nanos(), Ordering::AcqRel);
        Timestamp::from_nanos(previous.max(t.as_nanos()))
    }

    /// Moves time *backwards* by `d` (saturating at [`Timestamp::ZERO`]) and returns the new time.
    ///
    /// Real monotonic clocks never do this; it exists to test that code
    /// survives a clock that steps back (a VM migration, a buggy platform
    /// clock, a wall clock used by mistake).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use steadfast_core::{ManualClock, Timestamp};
    /// let clock = ManualClock::starting_at(Timestamp::from_secs(1));
    /// assert_eq!(clock.jump_backwards(Duration::from_secs(5)), Timestamp::ZERO);
    /// ```
    pub fn jump_backwards(&self, d: Duration) -> Timestamp {
        let step = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let previous = self
            .nanos
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                Some(n.saturating_sub(step))
            })
            .unwrap_or_else(|n| n);
        Timestamp::from_nanos(previous.saturating_sub(step))
    }
}

impl Default for ManualClock {
    fn default() -> ManualClock {
        ManualClock::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_nanos(self.nanos.load(Ordering::Acquire))
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock")
            .field("now", &self.now())
            .finish()
    }
}

/// A clock moved by hand whose [coarse reading](Clock::now_coarse) lags its
/// precise one, for testing code that reads both: an open breaker's wait, a
/// retry budget's slices, a rate limit's burst window.
///
/// The two readings are two [`ManualClock`]s ([`precise`](Self::precise) and
/// [`coarse`](Self::coarse)) that can be moved separately;
/// [`advance`](Self::advance) moves the precise reading and brings the coarse
/// one to the last whole tick of `lag` at or before it, as a kernel tick
/// would. [`coarse_lag`](Clock::coarse_lag) reports `lag`. Clones share both
/// readings.
///
/// ```
/// use std::time::Duration;
/// use steadfast_core::{Clock, LaggingClock, Timestamp};
///
/// let clock = LaggingClock::new(Duration::from_millis(4));
/// clock.advance(Duration::from_millis(10));
/// assert_eq!(clock.now(), Timestamp::from_millis(10));
/// assert_eq!(clock.now_coarse(), Timestamp::from_millis(8)); // two whole ticks
/// assert_eq!(clock.coarse_lag(), Duration::from_millis(4));
/// // Or set each reading by hand.
/// clock.coarse().advance(Duration::from_millis(1));
/// assert_eq!(clock.now_coarse(), Timestamp::from_millis(9));
/// ```
#[derive(Clone, Debug)]
pub struct LaggingClock {
    precise: ManualClock,
    coarse: ManualClock,
    lag: Duration,
}

impl LaggingClock {
    /// Both readings at [`Timestamp::ZERO`]; the coarse one lags by at most `lag`.
    #[must_use]
    pub fn new(lag: Duration) -> LaggingClock {
        LaggingClock {
            precise: ManualClock::new(),
            coarse: ManualClock::new(),
            lag,
        }
    }

    /// The precise reading, to move by hand.
    #[must_use]
    pub fn precise(&self) -> &ManualClock {
        &self.precise
    }

    /// The coarse reading, to move by hand.
    #[must_use]
    pub fn coarse(&self) -> &ManualClock {
        &self.coarse
    }

    /// Moves the precise reading forward by `d`, and the coarse one to the
    /// last whole tick of `lag` at or before it (to the precise reading
    /// itself when `lag` is zero). Returns the new precise time.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use steadfast_core::{Clock, LaggingClock, Timestamp};
    /// let clock = LaggingClock::new(Duration::ZERO);
    /// assert_eq!(clock.advance(Duration::from_millis(3)), Timestamp::from_millis(3));
    /// assert_eq!(clock.now_coarse(), Timestamp::from_millis(3));
    /// ```
    pub fn advance(&self, d: Duration) -> Timestamp {
        let now = self.precise.advance(d);
        let tick = u64::try_from(self.lag.as_nanos()).unwrap_or(u64::MAX);
        let ticked = match now.as_nanos().checked_rem(tick) {
            Some(past_tick) => now.as_nanos() - past_tick,
            None => now.as_nanos(),
        };
        self.coarse.advance_to(Timestamp::from_nanos(ticked));
        now
    }
}

impl Default for LaggingClock {
    /// A lag of 10 ms, the longest kernel tick in common configurations.
    fn default() -> LaggingClock {
        LaggingClock::new(Duration::from_millis(10))
    }
}

impl Clock for LaggingClock {
    fn now(&self) -> Timestamp {
        self.precise.now()
    }

    fn now_coarse(&self) -> Timestamp {
        self.coarse.now()
    }

    fn coarse_lag(&self) -> Duration {
        self.lag
    }
}

#[cfg(all(test, not(steadfast_loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_lagging_clock_ticks_its_coarse_reading_and_never_moves_it_back() {
        let clock = LaggingClock::new(Duration::from_millis(4));
        let other = clock.clone();
        clock.advance(Duration::from_millis(3));
        assert_eq!(other.now_coarse(), Timestamp::ZERO);
        clock.advance(Duration::from_millis(5));
        assert_eq!(other.now_coarse(), Timestamp::from_millis(8));
        // Set ahead by hand, the coarse reading is not pulled back.
        clock.coarse().advance(Duration::from_millis(3));
        clock.advance(Duration::from_millis(1));
        assert_eq!(clock.now_coarse(), Timestamp::from_millis(11));
        assert_eq!(clock.now(), Timestamp::from_millis(9));
        // A lag longer than all time keeps the coarse reading where it is.
        let huge = LaggingClock::new(Duration::MAX);
        huge.advance(Duration::from_secs(1_000_000));
        assert_eq!(huge.now_coarse(), Timestamp::ZERO);
        assert_eq!(huge.coarse_lag(), Duration::MAX);
        assert_eq!(
            LaggingClock::default().coarse_lag(),
            Duration::from_millis(10)
        );
    }

    #[test]
    fn clones_share_time() {
        let a = ManualClock::new();
        let b = a.clone();
        a.advance(Duration::from_secs(1));
        assert_eq!(b.now(), Timestamp::from_secs(1));
    }

    #[test]
    fn advance_saturates() {
        let clock = ManualClock::starting_at(Timestamp::MAX - Duration::from_nanos(1));
        assert_eq!(clock.advance(Duration::MAX), Timestamp::MAX);
        assert_eq!(clock.now(), Timestamp::MAX);
    }

    #[test]
    fn dyn_and_wrappers() {
        let clock = ManualClock::starting_at(Timestamp::from_secs(2));
        let as_dyn: &dyn Clock = &clock;
        let boxed: Box<dyn Clock> = Box::new(clock.clone());
        let shared: Arc<dyn Clock> = Arc::new(clock.clone());
        assert_eq!(as_dyn.now(), boxed.now());
        assert_eq!(boxed.now(), shared.now());
        let by_ref: &Arc<dyn Clock> = &shared;
        assert_eq!(Clock::now(&by_ref), Timestamp::from_secs(2));
    }

    #[cfg(feature = "quanta")]
    #[test]
    fn quanta_clock_moves_forward_with_real_time() {
        let clock = QuantaClock::new();
        let a = clock.now();
        let real = std::time::Instant::now();
        while real.elapsed() < Duration::from_millis(5) {}
        let b = clock.now();
        assert!(b > a);
        // Loose: the point is the scale (nanoseconds), not the precision.
        assert!(b.saturating_duration_since(a) >= Duration::from_millis(1));
    }

    #[cfg(feature = "coarse")]
    #[test]
    fn coarse_clock_follows_real_time_at_its_resolution() {
        let clock = CoarseClock::new();
        let a = clock.now();
        let mut previous = a;
        let real = std::time::Instant::now();
        while real.elapsed() < Duration::from_millis(50) {
            let t = clock.now();
            assert!(t >= previous, "went backwards");
            previous = t;
        }
        let b = clock.now();
        // 50 ms of real time, give or take a tick of resolution (loose: the
        // machine may be loaded, so only the lower bound is firm).
        let moved = b.saturating_duration_since(a);
        assert!(
            moved + CoarseClock::resolution() >= Duration::from_millis(50),
            "{moved:?}"
        );
    }

    #[cfg(feature = "std")]
    #[test]
    fn monotonic_instances_share_origin() {
        let a = MonotonicClock::new();
        let t1 = a.now();
        let t2 = MonotonicClock::default().now();
        let t3 = a.now();
        assert!(t1 <= t2 && t2 <= t3);
    }

    #[cfg(feature = "std")]
    #[test]
    fn coarse_reading_is_never_ahead_and_follows_within_its_lag() {
        let clock = MonotonicClock::new();
        let start = clock.now();
        let real = std::time::Instant::now();
        let mut previous = clock.now_coarse();
        while real.elapsed() < Duration::from_millis(50) {
            let coarse = clock.now_coarse();
            let precise = clock.now();
            assert!(coarse <= precise, "{coarse:?} ahead of {precise:?}");
            assert!(coarse >= previous, "coarse went backwards");
            previous = coarse;
        }
        // 50 ms of real time passed: the coarse reading has moved past the
        // start by at least that, less its lag (loose, the lower bound only).
        let moved = clock.now_coarse().saturating_duration_since(start);
        assert!(
            moved + clock.coarse_lag() >= Duration::from_millis(50),
            "{moved:?}"
        );
        // Forwarding impls keep the override.
        let shared: std::sync::Arc<dyn Clock> = std::sync::Arc::new(clock);
        assert_eq!(shared.coarse_lag(), clock.coarse_lag());
        fn coarse_of<C: Clock>(c: C) -> Timestamp {
            c.now_coarse()
        }
        assert!(coarse_of(&shared) <= shared.now());
        assert!(coarse_of(Box::new(clock)) <= clock.now());
    }

    #[cfg(feature = "std")]
    #[test]
    fn instants_convert_by_their_distance_from_now() {
        let clock = MonotonicClock::new();
        let before = clock.now();
        let instant = std::time::Instant::now();
        let ts = MonotonicClock::timestamp_of(instant);
        assert!(ts >= before && ts <= clock.now());
        // An instant a second in the future maps a second ahead.
        let later = MonotonicClock::timestamp_of(instant + Duration::from_secs(1));
        assert!(later >= ts + Duration::from_secs(1) - Duration::from_millis(100));
        assert!(later <= clock.now() + Duration::from_secs(1));
        // One far before the origin saturates to zero.
        if let Some(ancient) = instant.checked_sub(Duration::from_secs(3600 * 24 * 365)) {
            assert_eq!(MonotonicClock::timestamp_of(ancient), Timestamp::ZERO);
        }
    }
    #[cfg(feature = "std")]
    #[test]
    fn many_threads_advancing_lose_no_step() {
        let clock = ManualClock::new();
        let threads: std::vec::Vec<_> = (0..4)
            .map(|_| {
                let c = clock.clone();
                std::thread::spawn(move || {
                    for _ in 0..1_000 {
                        c.advance(Duration::from_nanos(1));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread panicked");
        }
        assert_eq!(clock.now(), Timestamp::from_nanos(4_000));
    }
}

#[cfg(all(test, steadfast_loom))]
mod loom_tests {
    use super::*;

    #[test]
    fn concurrent_advances_are_not_lost() {
        loom::model(|| {
            let clock = ManualClock::new();
            let other = clock.clone();
            let t = loom::thread::spawn(move || {
                other.advance(Duration::from_nanos(3));
            });
            clock.advance_to(Timestamp::from_nanos(2));
            clock.advance(Duration::from_nanos(1));
            t.join().unwrap();
            let now = clock.now().as_nanos();
            // advance(3) and advance(1) always apply; advance_to(2) may or may
            // not raise the time depending on the interleaving.
            assert!(now == 4 || now == 6, "unexpected time {now}");
        });
    }
}
