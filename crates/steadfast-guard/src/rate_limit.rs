//! Rate limiting with GCRA, the generic cell rate algorithm.
//!
//! A token bucket needs two numbers (tokens and the time they were counted)
//! that must change together, hence a lock or a wide atomic. GCRA keeps one:
//! the *theoretical arrival time* (TAT), the instant at which the limiter
//! would be completely idle again. Admitting `n` cells moves the TAT forward
//! by `n` emission intervals; a request is allowed when the TAT it would
//! leave behind is at most one burst ahead of now. One atomic
//! compare-and-swap per decision, no background refill.
//!
//! What this module adds to the usual GCRA:
//! - [`RateLimiter::check_n`] tells "not yet, retry at T" apart from "never:
//!   `n` exceeds the burst" ([`RateLimitError`]);
//! - [`RateLimiter::set_quota`] changes the rate at run time and keeps the
//!   debt already accumulated (rescaled in cells);
//! - [`RateLimiter::reserve_n`] books cells now for use later, and
//!   [`RateLimiter::cancel`] gives them back;
//! - [`RateLimiter::check_n_headroom`] admits and says what is left (cells
//!   available at once, when the burst is whole again: [`Headroom`], the
//!   figures of `RateLimit-*` response headers), measured by the same
//!   compare-and-swap that decided; [`RateLimiter::headroom`] peeks;
//! - [`RateLimiter::until_ready`] waits on any runtime, and
//!   [`RateLimiter::until_ready_with_jitter`] spreads out callers refused
//!   together so they do not all come back at the same instant;
//! - [`KeyedRateLimiter`] keeps one TAT per key with bounded memory: a key
//!   whose TAT has passed is indistinguishable from a new key, so idle keys
//!   are evicted without losing anything. It has the same checks, headroom
//!   and async waits per key.
//!
//! # Clock reads
//!
//! Admission decisions ([`check`](RateLimiter::check),
//! [`check_n`](RateLimiter::check_n) and the keyed ones) read the clock's
//! [coarse reading](Clock::now_coarse) when the quota's burst window
//! (`interval x burst`) is at least 25 times the clock's
//! [coarse lag](Clock::coarse_lag): on `MonotonicClock` on Linux
//! (`CLOCK_MONOTONIC_COARSE`, lag at most 10 ms), windows of 250 ms and
//! more, such as `Quota::per_second(n)` with its default burst of `n`. The
//! limiter then runs up to one kernel tick behind real time, so in any
//! interval it admits at most `burst / 25` cells more than exact GCRA would
//! (on top of the `burst` cells GCRA allows beyond the rate anyway), and
//! `retry_at` may be up to a tick late. Smaller bursts, and clocks without
//! a coarse reading (`ManualClock`, `QuantaClock`), decide on the precise
//! time: exact GCRA.
//!
//! ```
//! use std::time::Duration;
//! use steadfast_core::{ManualClock, Timestamp};
//! use steadfast_guard::rate_limit::{Quota, RateLimiter};
//!
//! let clock = ManualClock::new();
//! // 10 per second, bursts of up to 2.
//! let quota = Quota::per_second(10)?.with_burst(2)?;
//! let limiter = RateLimiter::with_clock(quota, clock.clone());
//! assert!(limiter.check().is_ok());
//! assert!(limiter.check().is_ok());
//! let rejected = limiter.check().unwrap_err();
//! assert_eq!(rejected.retry_at(), Timestamp::from_millis(100));
//! clock.advance(Duration::from_millis(100));
//! assert!(limiter.check().is_ok());
//! # Ok::<(), steadfast_core::ConfigError>(())
//! ```

use hashbrown::HashTable;
use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher};
use std::num::NonZeroUsize;
use std::sync::{PoisonError, RwLock};
use std::time::Duration;

use steadfast_core::{Clock, ConfigError, MonotonicClock, Observer, Timestamp};

use crate::Sleeper;
use crate::backoff::mix_seed;
use crate::coarse::coarse_suffices;
use crate::sync::{AtomicU64, AtomicUsize, Mutex, Ordering, Padded, fence};

/// How fast cells may be admitted: one cell per emission interval, with
/// bursts of up to `burst` cells.
///
/// ```
/// use std::time::Duration;
/// use steadfast_guard::rate_limit::Quota;
///
/// let quota = Quota::new(300, Duration::from_secs(60))?.with_burst(20)?;
/// assert_eq!(quota.interval(), Duration::from_millis(200));
/// assert_eq!(quota.burst(), 20);
/// assert!(Quota::per_second(0).is_err());
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    interval_nanos: u64,
    burst: u32,
}

impl Quota {
    /// `cells` per `period`, with a burst of `cells` (all of a period's
    /// cells may be spent at once).
    ///
    /// # Errors
    ///
    /// `quota.cells` must be at least 1, `quota.period` must be positive and
    /// `period / cells` must be at least 1 ns.
    pub fn new(cells: u32, period: Duration) -> Result<Quota, ConfigError> {
        ConfigError::ensure(cells >= 1, "quota.cells", cells, "at least 1")?;
        ConfigError::ensure(
            !period.is_zero(),
            "quota.period",
            format_args!("{period:?}"),
            "positive",
        )?;
        let interval = period.as_nanos() / u128::from(cells);
        ConfigError::ensure(
            interval >= 1,
            "quota.period",
            format_args!("{period:?}"),
            "at least 1 ns per cell",
        )?;
        let interval_nanos = u64::try_from(interval).map_err(|_| {
            ConfigError::new(
                "quota.period",
                format_args!("{period:?}"),
                "at most 584 years per cell",
            )
        })?;
        Quota::from_parts(interval_nanos, cells)
    }

    /// `cells` per second, with a burst of `cells`.
    ///
    /// # Errors
    ///
    /// As [`Quota::new`].
    pub fn per_second(cells: u32) -> Result<Quota, ConfigError> {
        Quota::new(cells, Duration::from_secs(1))
    }

    /// `cells` per minute, with a burst of `cells`.
    ///
    /// # Errors
    ///
    /// As [`Quota::new`].
    pub fn per_minute(cells: u32) -> Result<Quota, ConfigError> {
        Quota::new(cells, Duration::from_secs(60))
    }

    /// One cell every `interval`, with a burst of 1.
    ///
    /// # Errors
    ///
    /// `quota.interval` must be in `[1 ns, u64::MAX ns]`.
    pub fn with_interval(interval: Duration) -> Result<Quota, ConfigError> {
        let nanos = u64::try_from(interval.as_nanos()).unwrap_or(u64::MAX);
        ConfigError::ensure(
            nanos >= 1 && interval.as_nanos() <= u128::from(u64::MAX),
            "quota.interval",
            format_args!("{interval:?}"),
            "in [1 ns, u64::MAX ns]",
        )?;
        Quota::from_parts(nanos, 1)
    }

    /// The same rate with a different burst size.
    ///
    /// # Errors
    ///
    /// `quota.burst` must be at least 1, and `interval x burst` must fit in
    /// 64-bit nanoseconds.
    pub fn with_burst(self, burst: u32) -> Result<Quota, ConfigError> {
        Quota::from_parts(self.interval_nanos, burst)
    }

    fn from_parts(interval_nanos: u64, burst: u32) -> Result<Quota, ConfigError> {
        ConfigError::ensure(burst >= 1, "quota.burst", burst, "at least 1")?;
        ConfigError::ensure(
            interval_nanos.checked_mul(u64::from(burst)).is_some(),
            "quota.burst",
            burst,
            "small enough that interval x burst fits in u64 nanoseconds",
        )?;
        Ok(Quota {
            interval_nanos,
            burst,
        })
    }

    /// The time between two cells at the sustained rate.
    #[must_use]
    pub fn interval(&self) -> Duration {
        Duration::from_nanos(self.interval_nanos)
    }

    /// The most cells that can be admitted at once.
    #[must_use]
    pub fn burst(&self) -> u32 {
        self.burst
    }
}

/// Not now: the cell would exceed the rate; it can be admitted from `retry_at`.
///
/// ```
/// use steadfast_core::{ManualClock, Timestamp};
/// use steadfast_guard::rate_limit::{Quota, RateLimiter};
///
/// let limiter = RateLimiter::with_clock(Quota::per_second(2)?.with_burst(1)?, ManualClock::new());
/// limiter.check().unwrap();
/// let not_until = limiter.check().unwrap_err();
/// assert_eq!(not_until.retry_at(), Timestamp::from_millis(500));
/// assert_eq!(not_until.to_string(), "rate limited: retry in 500ms");
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("rate limited: retry in {:?}", self.wait_time())]
#[non_exhaustive]
pub struct NotUntil {
    now: Timestamp,
    retry_at: Timestamp,
}

impl NotUntil {
    /// The earliest instant at which the same request can be admitted.
    #[must_use]
    pub fn retry_at(&self) -> Timestamp {
        self.retry_at
    }

    /// How long to wait from the moment of the decision.
    #[must_use]
    pub fn wait_time(&self) -> Duration {
        self.retry_at.saturating_duration_since(self.now)
    }

    /// How long to wait from `now`.
    #[must_use]
    pub fn wait_time_from(&self, now: Timestamp) -> Duration {
        self.retry_at.saturating_duration_since(now)
    }
}

/// Never: `n` cells were asked for at once, more than the burst allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{requested} cells can never be admitted at once: the burst is {burst}")]
#[non_exhaustive]
pub struct ExceedsBurst {
    /// How many cells were asked for.
    pub requested: u32,
    /// The most cells the quota admits at once.
    pub burst: u32,
}

/// Why [`RateLimiter::check_n`] refused.
///
/// ```
/// use steadfast_core::ManualClock;
/// use steadfast_guard::rate_limit::{Quota, RateLimitError, RateLimiter};
///
/// let limiter = RateLimiter::with_clock(Quota::per_second(5)?, ManualClock::new());
/// limiter.check_n(5).unwrap();
/// let later = limiter.check_n(2).unwrap_err();
/// assert!(later.is_temporary() && later.retry_at().is_some());
/// let never = limiter.check_n(6).unwrap_err();
/// assert!(matches!(never, RateLimitError::ExceedsBurst(_)));
/// assert!(!never.is_temporary());
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RateLimitError {
    /// Not yet: retry at the given time.
    #[error(transparent)]
    NotUntil(#[from] NotUntil),
    /// Never: the request is larger than the burst.
    #[error(transparent)]
    ExceedsBurst(#[from] ExceedsBurst),
}

impl RateLimitError {
    /// `true` when waiting can help ([`RateLimitError::NotUntil`]).
    #[must_use]
    pub fn is_temporary(&self) -> bool {
        matches!(self, RateLimitError::NotUntil(_))
    }

    /// When to retry, if waiting can help.
    #[must_use]
    pub fn retry_at(&self) -> Option<Timestamp> {
        match self {
            RateLimitError::NotUntil(n) => Some(n.retry_at),
            RateLimitError::ExceedsBurst(_) => None,
        }
    }
}

/// What a limiter has left for one key (or its one resource) at an
/// instant: the figures behind `RateLimit-Limit`, `RateLimit-Remaining` and
/// `RateLimit-Reset` response headers.
///
/// Returned by the `check_n_headroom` methods after an admission (what the
/// admitted cells left) and by the `headroom` methods, which admit nothing.
///
/// ```
/// use std::time::Duration;
/// use steadfast_core::{ManualClock, Timestamp};
/// use steadfast_guard::rate_limit::{Quota, RateLimiter};
///
/// let clock = ManualClock::new();
/// // 10 per second, bursts of up to 5.
/// let limiter = RateLimiter::with_clock(Quota::per_second(10)?.with_burst(5)?, clock.clone());
/// let left = limiter.check_n_headroom(2).unwrap();
/// assert_eq!((left.remaining(), left.burst()), (3, 5));
/// // The two cells are paid back 100 ms each: the burst is whole at 200 ms.
/// assert_eq!(left.full_at(), Timestamp::from_millis(200));
/// assert_eq!(left.full_in(), Duration::from_millis(200));
/// clock.advance(Duration::from_millis(100));
/// assert_eq!(limiter.headroom().remaining(), 4);
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Headroom {
    now: Timestamp,
    remaining: u32,
    burst: u32,
    full_at: Timestamp,
}

impl Headroom {
    /// The headroom under `quota` at `now` for a TAT of `tat`.
    #[inline]
    fn at(quota: Quota, now: Timestamp, tat: u64) -> Headroom {
        let now_n = now.as_nanos();
        let tau = quota.interval_nanos.saturating_mul(u64::from(quota.burst));
        // `k` more cells fit while max(tat, now) + k * interval - now <= tau.
        let debt = tat.saturating_sub(now_n);
        let remaining = tau.saturating_sub(debt) / quota.interval_nanos.max(1);
        Headroom {
            now,
            remaining: u32::try_from(remaining)
                .unwrap_or(u32::MAX)
                .min(quota.burst),
            burst: quota.burst,
            full_at: Timestamp::from_nanos(tat.max(now_n)),
        }
    }

    /// How many cells could be admitted at once right now.
    #[must_use]
    pub fn remaining(&self) -> u32 {
        self.remaining
    }

    /// The most cells the quota admits at once (the limit).
    #[must_use]
    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// When the whole burst is available again if nothing more is admitted
    /// (the decision's instant when it already is).
    #[must_use]
    pub fn full_at(&self) -> Timestamp {
        self.full_at
    }

    /// How long from the decision until the whole burst is available again.
    #[must_use]
    pub fn full_in(&self) -> Duration {
        self.full_at.saturating_duration_since(self.now)
    }
}

/// What a [`RateLimiter`] reports to its observer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RateLimitEvent {
    /// The quota was replaced at run time.
    QuotaChanged {
        /// When.
        at: Timestamp,
        /// The quota before.
        from: Quota,
        /// The quota after.
        to: Quota,
    },
    /// A reservation was cancelled and its cells returned.
    ReservationCancelled {
        /// When.
        at: Timestamp,
        /// How many cells came back.
        cells: u32,
    },
    /// A check refused cells (admissions are not reported: they are the
    /// hot path, and the refusals are what operators count).
    Rejected {
        /// When the decision was made.
        at: Timestamp,
        /// How many cells were asked for.
        cells: u32,
        /// When they could be admitted; `None` when never (more than the burst).
        retry_at: Option<Timestamp>,
    },
}

/// Cells booked by [`RateLimiter::reserve_n`]: usable from [`ready_at`](Self::ready_at).
///
/// Either wait until `ready_at` and go, or hand it back with
/// [`RateLimiter::cancel`] so others can use the cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a reservation holds cells: use them after ready_at or cancel it"]
pub struct Reservation {
    cells: u32,
    reserved_at: Timestamp,
    ready_at: Timestamp,
    nanos: u64,
}

impl Reservation {
    /// How many cells were booked.
    #[must_use]
    pub fn cells(&self) -> u32 {
        self.cells
    }

    /// From when the cells may be used.
    #[must_use]
    pub fn ready_at(&self) -> Timestamp {
        self.ready_at
    }

    /// How long to wait from the moment of booking.
    #[must_use]
    pub fn wait_time(&self) -> Duration {
        self.ready_at.saturating_duration_since(self.reserved_at)
    }
}

/// The GCRA decision on plain nanoseconds: the new TAT, or the earliest
/// admission time.
#[inline]
fn gcra(tat: u64, now: u64, increment: u64, tau: u64) -> Result<u64, u64> {
    // Past the end of time nothing more is admitted (rather than saturating
    // into an unlimited limiter).
    let Some(new_tat) = tat.max(now).checked_add(increment) else {
        return Err(u64::MAX);
    };
    if new_tat - now <= tau {
        Ok(new_tat)
    } else {
        Err(new_tat - tau)
    }
}

/// The rate (interval and burst) shared by a limiter's cells, changeable at
/// run time and never read torn.
///
/// The two words are published like a sequence lock: a change makes `seq`
/// odd, stores both words, then makes it even again. A reader that sees the
/// same even `seq` before and after reading the words has a consistent pair
/// (the common case: three plain loads on x86); one that overlapped a change
/// reads under the writers' lock instead, so readers never spin and a check
/// never mixes one quota's interval with another's burst (which could let a
/// key run up a debt of the old burst at the new, longer interval).
#[derive(Debug)]
struct SharedQuota {
    seq: AtomicU64,
    interval: AtomicU64,
    burst: AtomicU64,
    /// Serialises changes, and readers that overlapped one.
    writer: Mutex<()>,
}

impl SharedQuota {
    fn new(q: Quota) -> SharedQuota {
        SharedQuota {
            seq: AtomicU64::new(0),
            interval: AtomicU64::new(q.interval_nanos),
            burst: AtomicU64::new(u64::from(q.burst)),
            writer: Mutex::new(()),
        }
    }

    #[inline]
    fn read_words(&self) -> Quota {
        Quota {
            interval_nanos: self.interval.load(Ordering::Relaxed),
            // Stored from a u32.
            burst: self.burst.load(Ordering::Relaxed) as u32,
        }
    }

    #[inline]
    fn load(&self) -> Quota {
        let before = self.seq.load(Ordering::Acquire);
        let quota = self.read_words();
        fence(Ordering::Acquire);
        if before & 1 == 0 && self.seq.load(Ordering::Relaxed) == before {
            return quota;
        }
        self.load_locked()
    }

    #[cold]
    fn load_locked(&self) -> Quota {
        let _writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        self.read_words()
    }

    /// Replaces the quota with `q`, then runs `rescale(old, q)` before any
    /// other change can start.
    fn change(&self, q: Quota, rescale: impl FnOnce(Quota, Quota)) -> Quota {
        let _writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let old = self.read_words();
        let seq = self.seq.load(Ordering::Relaxed);
        self.seq.store(seq.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        self.interval.store(q.interval_nanos, Ordering::Relaxed);
        self.burst.store(u64::from(q.burst), Ordering::Relaxed);
        self.seq.store(seq.wrapping_add(2), Ordering::Release);
        rescale(old, q);
        old
    }
}

/// One GCRA cell: the theoretical arrival time in nanoseconds.
#[derive(Debug)]
struct Tat(AtomicU64);

impl Tat {
    /// Admits `increment` nanoseconds of cells: the new TAT, or the
    /// earliest admission time.
    #[inline]
    fn check(&self, now: u64, increment: u64, tau: u64) -> Result<u64, u64> {
        let mut tat = self.0.load(Ordering::Acquire);
        loop {
            let new_tat = gcra(tat, now, increment, tau)?;
            match self
                .0
                .compare_exchange_weak(tat, new_tat, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Ok(new_tat),
                Err(actual) => tat = actual,
            }
        }
    }

    fn load(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }
}

/// The time a check decides at: the clock's [coarse
/// reading](Clock::now_coarse) when the burst window is at least 25 times
/// its lag (then the limiter is at most one tick behind, which admits at
/// most `burst / 25` cells more than exact GCRA in any interval, on top of
/// the burst GCRA allows anyway), the precise one otherwise.
#[inline]
fn decision_time<C: Clock>(clock: &C, quota: Quota) -> Timestamp {
    let tau = u128::from(quota.interval_nanos) * u128::from(quota.burst);
    if coarse_suffices(clock, tau) {
        clock.now_coarse()
    } else {
        clock.now()
    }
}

#[inline]
fn decide(tat: &Tat, quota: Quota, now: Timestamp, n: u32) -> Result<Headroom, RateLimitError> {
    if n > quota.burst {
        return Err(ExceedsBurst {
            requested: n,
            burst: quota.burst,
        }
        .into());
    }
    let increment = quota.interval_nanos * u64::from(n);
    let tau = quota.interval_nanos * u64::from(quota.burst);
    match tat.check(now.as_nanos(), increment, tau) {
        Ok(new_tat) => Ok(Headroom::at(quota, now, new_tat)),
        Err(earliest) => Err(NotUntil {
            now,
            retry_at: Timestamp::from_nanos(earliest),
        }
        .into()),
    }
}

/// A GCRA rate limiter for one resource, shared by reference or `Arc`.
///
/// See the [module docs](self) for the algorithm.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use steadfast_guard::rate_limit::{Quota, RateLimiter};
///
/// let limiter = RateLimiter::new(Quota::per_second(1000)?.with_burst(1)?);
/// limiter.until_ready(&tokio::time::sleep).await;
/// limiter.until_ready(&tokio::time::sleep).await; // waits about 1 ms
/// # Ok(()) }
/// ```
pub struct RateLimiter<C = MonotonicClock> {
    tat: Tat,
    quota: SharedQuota,
    clock: C,
    observer: Box<dyn Observer<RateLimitEvent>>,
    /// Jittered waits so far: each draws its extra from the next number.
    waits: AtomicU64,
}

impl<C> fmt::Debug for RateLimiter<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("quota", &self.quota.load())
            .field("tat", &Timestamp::from_nanos(self.tat.load()))
            .finish_non_exhaustive()
    }
}

impl RateLimiter<MonotonicClock> {
    /// A limiter on the real monotonic clock.
    #[must_use]
    pub fn new(quota: Quota) -> RateLimiter<MonotonicClock> {
        RateLimiter::with_clock(quota, MonotonicClock::new())
    }
}

impl<C: Clock> RateLimiter<C> {
    /// A limiter reading time from `clock`.
    #[must_use]
    pub fn with_clock(quota: Quota, clock: C) -> RateLimiter<C> {
        RateLimiter::observed(quota, clock, ())
    }

    /// A limiter reporting quota changes, cancellations and refusals to
    /// `observer` (admissions are not reported).
    #[must_use]
    pub fn observed(
        quota: Quota,
        clock: C,
        observer: impl Observer<RateLimitEvent> + 'static,
    ) -> RateLimiter<C> {
        RateLimiter {
            tat: Tat(AtomicU64::new(0)),
            quota: SharedQuota::new(quota),
            clock,
            observer: Box::new(observer),
            waits: AtomicU64::new(0),
        }
    }

    /// The quota in force.
    #[must_use]
    pub fn quota(&self) -> Quota {
        self.quota.load()
    }

    /// Admits one cell, or says when it could be admitted.
    ///
    /// One clock read and one compare-and-swap; a rejection writes nothing.
    /// The read is the clock's coarse one when the burst window is long
    /// enough for it (see the [module docs](self#clock-reads)).
    ///
    /// # Errors
    ///
    /// [`NotUntil`] when the cell would exceed the rate.
    #[inline]
    pub fn check(&self) -> Result<(), NotUntil> {
        let quota = self.quota.load();
        let now = decision_time(&self.clock, quota);
        let tau = quota.interval_nanos * u64::from(quota.burst);
        match self.tat.check(now.as_nanos(), quota.interval_nanos, tau) {
            Ok(_) => Ok(()),
            Err(earliest) => {
                let not_until = NotUntil {
                    now,
                    retry_at: Timestamp::from_nanos(earliest),
                };
                self.report_rejection(1, &RateLimitError::NotUntil(not_until));
                Err(not_until)
            }
        }
    }

    /// Tells the observer of a refusal (off the admission path).
    #[cold]
    #[inline(never)]
    fn report_rejection(&self, cells: u32, refusal: &RateLimitError) {
        if !self.observer.is_enabled() {
            return;
        }
        self.observer.on_event(&RateLimitEvent::Rejected {
            at: refusal_time(refusal, &self.clock),
            cells,
            retry_at: refusal.retry_at(),
        });
    }

    /// Admits `n` cells at once (all or none).
    ///
    /// # Errors
    ///
    /// [`RateLimitError::NotUntil`] when the cells would exceed the rate now
    /// but fit later; [`RateLimitError::ExceedsBurst`] when `n` is larger
    /// than the burst and can never be admitted.
    pub fn check_n(&self, n: u32) -> Result<(), RateLimitError> {
        self.check_n_headroom(n).map(|_| ())
    }

    /// Admits `n` cells at once, as [`check_n`](Self::check_n), and says
    /// what they left: cells still available at once and when the burst is
    /// whole again (for `RateLimit-*` response headers). The same single
    /// compare-and-swap decides and measures, so the figures are exactly
    /// those this admission left, whatever other threads do.
    ///
    /// # Errors
    ///
    /// As [`check_n`](Self::check_n).
    ///
    /// See [`Headroom`] for an example.
    #[inline]
    pub fn check_n_headroom(&self, n: u32) -> Result<Headroom, RateLimitError> {
        let quota = self.quota.load();
        match decide(&self.tat, quota, decision_time(&self.clock, quota), n) {
            Ok(left) => Ok(left),
            Err(refusal) => {
                self.report_rejection(n, &refusal);
                Err(refusal)
            }
        }
    }

    /// What the limiter has left now, admitting nothing: a concurrent
    /// check may change it at once.
    ///
    /// ```
    /// use steadfast_core::ManualClock;
    /// use steadfast_guard::rate_limit::{Quota, RateLimiter};
    ///
    /// let limiter = RateLimiter::with_clock(Quota::per_second(3)?, ManualClock::new());
    /// assert_eq!(limiter.headroom().remaining(), 3);
    /// limiter.check().unwrap();
    /// assert_eq!(limiter.headroom().remaining(), 2);
    /// # Ok::<(), steadfast_core::ConfigError>(())
    /// ```
    #[must_use]
    pub fn headroom(&self) -> Headroom {
        let quota = self.quota.load();
        let now = decision_time(&self.clock, quota);
        Headroom::at(quota, now, self.tat.load())
    }

    /// Books `n` cells now, to be used from the returned [`Reservation::ready_at`].
    ///
    /// Unlike [`check_n`](Self::check_n) this always succeeds when `n` fits
    /// the burst: later callers queue behind the reservation.
    ///
    /// # Errors
    ///
    /// [`ExceedsBurst`] when `n` is larger than the burst.
    ///
    /// ```
    /// use std::time::Duration;
    /// use steadfast_core::{ManualClock, Timestamp};
    /// use steadfast_guard::rate_limit::{Quota, RateLimiter};
    ///
    /// let limiter = RateLimiter::with_clock(Quota::per_second(10)?.with_burst(1)?, ManualClock::new());
    /// limiter.check().unwrap();
    /// let booked = limiter.reserve_n(1).unwrap();
    /// assert_eq!(booked.ready_at(), Timestamp::from_millis(100));
    /// // Changed our mind: the cell goes back and the next caller needn't queue behind it.
    /// assert!(limiter.cancel(booked));
    /// assert_eq!(limiter.check().unwrap_err().retry_at(), Timestamp::from_millis(100));
    /// # Ok::<(), steadfast_core::ConfigError>(())
    /// ```
    pub fn reserve_n(&self, n: u32) -> Result<Reservation, ExceedsBurst> {
        let quota = self.quota.load();
        if n > quota.burst {
            let never = ExceedsBurst {
                requested: n,
                burst: quota.burst,
            };
            self.report_rejection(n, &RateLimitError::ExceedsBurst(never));
            return Err(never);
        }
        let now = self.clock.now();
        let increment = quota.interval_nanos * u64::from(n);
        let tau = quota.interval_nanos * u64::from(quota.burst);
        let previous = self
            .tat
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |tat| {
                Some(tat.max(now.as_nanos()).saturating_add(increment))
            })
            .unwrap_or_else(|t| t);
        let new_tat = previous.max(now.as_nanos()).saturating_add(increment);
        let ready = new_tat.saturating_sub(tau).max(now.as_nanos());
        Ok(Reservation {
            cells: n,
            reserved_at: now,
            ready_at: Timestamp::from_nanos(ready),
            nanos: increment,
        })
    }

    /// Gives a reservation's cells back. Returns `false` (and changes
    /// nothing) when the reservation is already usable: its cells count as spent.
    pub fn cancel(&self, reservation: Reservation) -> bool {
        let now = self.clock.now();
        if now >= reservation.ready_at {
            return false;
        }
        let now_n = now.as_nanos();
        let _ = self
            .tat
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |tat| {
                (tat > now_n).then(|| tat.saturating_sub(reservation.nanos).max(now_n))
            });
        self.observer
            .on_event(&RateLimitEvent::ReservationCancelled {
                at: now,
                cells: reservation.cells,
            });
        true
    }

    /// Replaces the quota, keeping the debt: cells admitted recently still
    /// count, converted to the new interval.
    ///
    /// A decision made concurrently with the change uses either the old
    /// quota or the new one, never one's interval with the other's burst;
    /// concurrent changes apply one after the other.
    ///
    /// ```
    /// use steadfast_core::{ManualClock, Timestamp};
    /// use steadfast_guard::rate_limit::{Quota, RateLimiter};
    ///
    /// let limiter = RateLimiter::with_clock(Quota::per_second(10)?, ManualClock::new());
    /// limiter.check_n(10).unwrap(); // the whole burst is spent
    /// limiter.set_quota(Quota::per_second(100)?);
    /// // Still 10 cells owed, now at 10 ms each: the next cell comes after 10 ms.
    /// assert_eq!(limiter.check_n(91).unwrap_err().retry_at(), Some(Timestamp::from_millis(10)));
    /// # Ok::<(), steadfast_core::ConfigError>(())
    /// ```
    pub fn set_quota(&self, quota: Quota) {
        let now = self.clock.now();
        let now_n = now.as_nanos();
        let old = self.quota.change(quota, |old, new| {
            let _ = self
                .tat
                .0
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |tat| {
                    Some(rescale(tat, now_n, old.interval_nanos, new.interval_nanos))
                });
        });
        self.observer.on_event(&RateLimitEvent::QuotaChanged {
            at: now,
            from: old,
            to: quota,
        });
    }

    /// Waits (through `sleeper`) until one cell is admitted.
    pub async fn until_ready<S: Sleeper>(&self, sleeper: &S) {
        self.until_ready_with_jitter(sleeper, Duration::ZERO).await;
    }

    /// Waits (through `sleeper`) until one cell is admitted, adding a random
    /// extra of less than `jitter` to each wait, so that callers refused
    /// together do not all come back at the same instant (when all but one
    /// would be refused again).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// use steadfast_guard::rate_limit::{Quota, RateLimiter};
    ///
    /// let limiter = RateLimiter::new(Quota::per_second(1000)?.with_burst(1)?);
    /// let jitter = Duration::from_millis(2);
    /// limiter.until_ready_with_jitter(&tokio::time::sleep, jitter).await;
    /// // Waits about 1 ms, plus up to 2 ms.
    /// limiter.until_ready_with_jitter(&tokio::time::sleep, jitter).await;
    /// # Ok(()) }
    /// ```
    pub async fn until_ready_with_jitter<S: Sleeper>(&self, sleeper: &S, jitter: Duration) {
        while let Err(not_until) = self.check() {
            let wait = jittered(not_until.wait_time(), jitter, &self.waits);
            sleeper.sleep(wait).await;
        }
    }

    /// Waits (through `sleeper`) until `n` cells are admitted at once.
    ///
    /// # Errors
    ///
    /// [`ExceedsBurst`] at once when `n` is larger than the burst.
    pub async fn until_n_ready<S: Sleeper>(&self, n: u32, sleeper: &S) -> Result<(), ExceedsBurst> {
        self.until_n_ready_with_jitter(n, sleeper, Duration::ZERO)
            .await
    }

    /// Waits until `n` cells are admitted at once, each wait stretched by a
    /// random extra of less than `jitter` (see
    /// [`until_ready_with_jitter`](Self::until_ready_with_jitter)).
    ///
    /// # Errors
    ///
    /// [`ExceedsBurst`] at once when `n` is larger than the burst.
    pub async fn until_n_ready_with_jitter<S: Sleeper>(
        &self,
        n: u32,
        sleeper: &S,
        jitter: Duration,
    ) -> Result<(), ExceedsBurst> {
        loop {
            match self.check_n(n) {
                Ok(()) => return Ok(()),
                Err(RateLimitError::ExceedsBurst(e)) => return Err(e),
                Err(RateLimitError::NotUntil(not_until)) => {
                    let wait = jittered(not_until.wait_time(), jitter, &self.waits);
                    sleeper.sleep(wait).await;
                }
            }
        }
    }
}

/// When a refusal was decided: the decision's instant, or now for a
/// request larger than the burst (refused before reading the clock).
fn refusal_time<C: Clock>(refusal: &RateLimitError, clock: &C) -> Timestamp {
    match refusal {
        RateLimitError::NotUntil(n) => n.now,
        RateLimitError::ExceedsBurst(_) => clock.now(),
    }
}

/// The seed every limiter's jitter draws start from.
const JITTER_SEED: u64 = 0x6a69_7474_6572;

/// `wait` plus a uniform extra in `[0, jitter)`, drawn from the next of
/// `draws` (exactly `wait` when `jitter` is zero).
fn jittered(wait: Duration, jitter: Duration, draws: &AtomicU64) -> Duration {
    let max = u64::try_from(jitter.as_nanos()).unwrap_or(u64::MAX);
    if max == 0 {
        return wait;
    }
    let draw = mix_seed(JITTER_SEED, draws.fetch_add(1, Ordering::Relaxed));
    // The high half of draw x max: uniform in [0, max).
    let extra = ((u128::from(draw) * u128::from(max)) >> 64) as u64;
    wait.saturating_add(Duration::from_nanos(extra))
}

/// The debt `tat - now` measured in old intervals, re-expressed in new ones.
fn rescale(tat: u64, now: u64, old_interval: u64, new_interval: u64) -> u64 {
    let debt = u128::from(tat.saturating_sub(now));
    let scaled = debt * u128::from(new_interval) / u128::from(old_interval.max(1));
    now.saturating_add(u64::try_from(scaled).unwrap_or(u64::MAX))
}

/// What a [`KeyedRateLimiter`] reports to its observer (see
/// [`KeyedRateLimiter::with_observer`]). Admissions are not reported.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyedRateLimitEvent<K> {
    /// A check refused cells for `key`.
    Rejected {
        /// Whose cells.
        key: K,
        /// When the decision was made.
        at: Timestamp,
        /// How many cells were asked for.
        cells: u32,
        /// When they could be admitted; `None` when never (more than the burst).
        retry_at: Option<Timestamp>,
    },
    /// A still-busy key was dropped to make room for a new one, forgiven
    /// the cells it owed (counted by [`KeyedRateLimiter::forgiven`]).
    Forgiven {
        /// The key dropped.
        key: K,
        /// When.
        at: Timestamp,
        /// When the key would have been idle (its TAT).
        idle_at: Timestamp,
    },
    /// The quota was replaced for every key.
    QuotaChanged {
        /// When.
        at: Timestamp,
        /// The quota before.
        from: Quota,
        /// The quota after.
        to: Quota,
    },
}

/// The keyed limiter's default hasher builder: keyed with random seeds,
/// different for every limiter.
///
/// Keys usually come from clients (addresses, tokens, tenant names), so the
/// hash must resist chosen collisions: a client who could aim keys at one
/// shard or one probe chain could slow every check or evict busy keys early.
/// This is aHash with keys drawn from the operating system's random source
/// once per process and varied per limiter: designed to resist such
/// flooding while costing a few nanoseconds per key, where std's SipHash-1-3
/// costs about ten. Pass `std::collections::hash_map::RandomState` to
/// [`KeyedRateLimiter::with_hasher`] to use SipHash instead.
///
/// Hashes are not stable across processes or versions: they are for the
/// limiter's table only.
///
/// ```
/// use std::hash::BuildHasher;
/// use steadfast_guard::rate_limit::KeyHashState;
///
/// let a = KeyHashState::new();
/// let b = KeyHashState::new();
/// // One builder hashes a key the same way every time...
/// assert_eq!(a.hash_one("alice"), a.hash_one("alice"));
/// // ...and two builders (almost surely) differently.
/// assert_ne!(a.hash_one("alice"), b.hash_one("alice"));
/// ```
#[derive(Clone, Debug, Default)]
pub struct KeyHashState(ahash::RandomState);

impl KeyHashState {
    /// A builder with fresh random keys.
    #[must_use]
    pub fn new() -> Self {
        KeyHashState(ahash::RandomState::new())
    }
}

impl BuildHasher for KeyHashState {
    type Hasher = KeyHasher;

    #[inline]
    fn build_hasher(&self) -> KeyHasher {
        KeyHasher(self.0.build_hasher())
    }
}

/// The hasher [`KeyHashState`] builds.
///
/// ```
/// use std::hash::{BuildHasher, Hasher};
/// use steadfast_guard::rate_limit::KeyHashState;
///
/// let state = KeyHashState::new();
/// let mut hasher = state.build_hasher();
/// hasher.write_u64(42);
/// assert_eq!(hasher.finish(), state.hash_one(42u64));
/// ```
#[derive(Clone, Debug)]
pub struct KeyHasher(ahash::AHasher);

impl Hasher for KeyHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0.finish()
    }
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        self.0.write(bytes);
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.0.write_u8(i);
    }
    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.0.write_u16(i);
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.0.write_u32(i);
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.0.write_u64(i);
    }
    #[inline]
    fn write_u128(&mut self, i: u128) {
        self.0.write_u128(i);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.0.write_usize(i);
    }
}

/// One shard of a keyed limiter: keys with their TATs, on cache lines of
/// its own so that threads checking keys of neighbouring shards do not
/// fight over one lock word's line.
type Shard<K> = Padded<RwLock<HashTable<(K, Tat)>>>;

/// One GCRA limiter per key, with memory bounded by `max_keys`.
///
/// Keys are spread over shards (up to 16, each sized for at least 64 keys,
/// so a small limiter is one shard), each a read-mostly map from key to one
/// atomic TAT: a known key costs a shared read lock and a compare-and-swap.
/// When a shard is full, keys whose TAT has passed are dropped first (they
/// hold no information: a fresh key behaves the same). If every key is still
/// busy, the one closest to idle is dropped, which forgives it the few cells
/// it still owed; [`KeyedRateLimiter::forgiven`] counts those.
///
/// Keys are hashed with [`KeyHashState`] (random seeds per limiter, resistant
/// to chosen collisions) unless [`with_hasher`](KeyedRateLimiter::with_hasher)
/// names another.
///
/// ```
/// use std::num::NonZeroUsize;
/// use steadfast_core::ManualClock;
/// use steadfast_guard::rate_limit::{KeyedRateLimiter, Quota};
///
/// let limiter = KeyedRateLimiter::with_clock(
///     Quota::per_second(1)?,
///     NonZeroUsize::new(10_000).unwrap(),
///     ManualClock::new(),
/// );
/// assert!(limiter.check(&"alice").is_ok());
/// assert!(limiter.check(&"alice").is_err());
/// assert!(limiter.check(&"bob").is_ok()); // every key has its own budget
/// assert_eq!(limiter.len(), 2);
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
pub struct KeyedRateLimiter<K, C = MonotonicClock, S = KeyHashState> {
    // The key is hashed once, with `hasher`: the high bits pick the shard,
    // the table finds the entry by the same hash.
    shards: Box<[Shard<K>]>,
    hasher: S,
    per_shard: usize,
    quota: SharedQuota,
    clock: C,
    forgiven: AtomicUsize,
    /// Jittered waits so far: each draws its extra from the next number.
    waits: AtomicU64,
    observer: Box<dyn Observer<KeyedRateLimitEvent<K>>>,
}

impl<K, C, S> fmt::Debug for KeyedRateLimiter<K, C, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedRateLimiter")
            .field("quota", &self.quota.load())
            .field("shards", &self.shards.len())
            .field("per_shard", &self.per_shard)
            .finish_non_exhaustive()
    }
}

/// The most shards a keyed limiter spreads its keys over.
const MAX_SHARDS: usize = 16;

/// The fewest keys a shard is sized for. Each shard fills on its own, so a
/// limiter cut into shards of a few keys would, with random hashing, fill
/// one of them (and drop busy keys from it) long before it holds `max_keys`
/// keys: small limiters use fewer shards, down to one.
const MIN_KEYS_PER_SHARD: usize = 64;

/// How many shards a limiter of `max_keys` keys uses: a power of two, at
/// most [`MAX_SHARDS`], each shard sized for at least
/// [`MIN_KEYS_PER_SHARD`] keys (one shard below twice that).
fn shard_count(max_keys: usize) -> usize {
    match max_keys / MIN_KEYS_PER_SHARD {
        0 => 1,
        n => (1usize << n.ilog2()).min(MAX_SHARDS),
    }
}

impl<K: Hash + Eq + Clone> KeyedRateLimiter<K, MonotonicClock, KeyHashState> {
    /// A keyed limiter on the real clock remembering at most about `max_keys` keys.
    #[must_use]
    pub fn new(quota: Quota, max_keys: NonZeroUsize) -> Self {
        KeyedRateLimiter::with_clock(quota, max_keys, MonotonicClock::new())
    }
}

impl<K: Hash + Eq + Clone, C: Clock> KeyedRateLimiter<K, C, KeyHashState> {
    /// A keyed limiter reading time from `clock`.
    ///
    /// Memory is bounded by `max_keys` rounded up to a multiple of the shard
    /// count: 16 shards from 1024 keys, fewer below, and one shard (an exact
    /// bound) below 128.
    #[must_use]
    pub fn with_clock(quota: Quota, max_keys: NonZeroUsize, clock: C) -> Self {
        KeyedRateLimiter::with_hasher(quota, max_keys, clock, KeyHashState::new())
    }
}

impl<K: Hash + Eq + Clone, C: Clock, S: BuildHasher + Clone> KeyedRateLimiter<K, C, S> {
    /// A keyed limiter with a chosen hasher.
    ///
    /// The hasher sees every key, which clients usually choose: give it
    /// random seeds (as std's `RandomState` and [`KeyHashState`] have), or a
    /// client can aim many keys at one shard.
    ///
    /// ```
    /// use std::collections::hash_map::RandomState;
    /// use std::num::NonZeroUsize;
    /// use steadfast_core::ManualClock;
    /// use steadfast_guard::rate_limit::{KeyedRateLimiter, Quota};
    ///
    /// // SipHash-1-3, std's default, in place of the default aHash.
    /// let limiter = KeyedRateLimiter::with_hasher(
    ///     Quota::per_second(1)?,
    ///     NonZeroUsize::new(1_000).unwrap(),
    ///     ManualClock::new(),
    ///     RandomState::new(),
    /// );
    /// assert!(limiter.check(&"alice").is_ok());
    /// assert!(limiter.check(&"alice").is_err());
    /// # Ok::<(), steadfast_core::ConfigError>(())
    /// ```
    #[must_use]
    pub fn with_hasher(quota: Quota, max_keys: NonZeroUsize, clock: C, hasher: S) -> Self {
        let count = shard_count(max_keys.get());
        let per_shard = max_keys.get().div_ceil(count);
        let shards = (0..count)
            .map(|_| Padded(RwLock::new(HashTable::new())))
            .collect();
        KeyedRateLimiter {
            shards,
            hasher,
            per_shard,
            quota: SharedQuota::new(quota),
            clock,
            forgiven: AtomicUsize::new(0),
            waits: AtomicU64::new(0),
            observer: Box::new(()),
        }
    }

    /// The same limiter reporting refusals, forgiven keys and quota changes
    /// to `observer` (admissions are not reported; a refusal clones its key
    /// only when the observer is enabled).
    ///
    /// ```
    /// use std::num::NonZeroUsize;
    /// use steadfast_core::{ManualClock, Recorder, Timestamp};
    /// use steadfast_guard::rate_limit::{KeyedRateLimitEvent, KeyedRateLimiter, Quota};
    ///
    /// let events = Recorder::new();
    /// let limiter = KeyedRateLimiter::with_clock(
    ///     Quota::per_second(1)?,
    ///     NonZeroUsize::new(100).unwrap(),
    ///     ManualClock::new(),
    /// )
    /// .with_observer(events.clone());
    /// limiter.check(&"alice").unwrap();
    /// assert!(limiter.check(&"alice").is_err());
    /// assert_eq!(
    ///     events.events(),
    ///     [KeyedRateLimitEvent::Rejected {
    ///         key: "alice",
    ///         at: Timestamp::ZERO,
    ///         cells: 1,
    ///         retry_at: Some(Timestamp::from_secs(1)),
    ///     }]
    /// );
    /// # Ok::<(), steadfast_core::ConfigError>(())
    /// ```
    #[must_use]
    pub fn with_observer(
        mut self,
        observer: impl Observer<KeyedRateLimitEvent<K>> + 'static,
    ) -> Self {
        self.observer = Box::new(observer);
        self
    }

    /// Tells the observer of a refusal for `key` (off the admission path).
    #[cold]
    #[inline(never)]
    fn report_rejection(&self, key: &K, cells: u32, refusal: &RateLimitError) {
        if !self.observer.is_enabled() {
            return;
        }
        self.observer.on_event(&KeyedRateLimitEvent::Rejected {
            key: key.clone(),
            at: refusal_time(refusal, &self.clock),
            cells,
            retry_at: refusal.retry_at(),
        });
    }

    fn shard(&self, hash: u64) -> &Shard<K> {
        // Bits the table uses neither for its bucket index (low bits) nor
        // for its tags (top seven bits).
        // The shard count is a power of two.
        &self.shards[(hash >> 40) as usize & (self.shards.len() - 1)]
    }

    /// Admits one cell for `key`.
    ///
    /// # Errors
    ///
    /// [`NotUntil`] when the key is over its rate.
    #[inline]
    pub fn check(&self, key: &K) -> Result<(), NotUntil> {
        let quota = self.quota.load();
        let now = decision_time(&self.clock, quota);
        let tau = quota.interval_nanos * u64::from(quota.burst);
        let decided = self.with_tat(key, now, |tat| {
            match tat.check(now.as_nanos(), quota.interval_nanos, tau) {
                Ok(_) => Ok(()),
                Err(earliest) => Err(NotUntil {
                    now,
                    retry_at: Timestamp::from_nanos(earliest),
                }),
            }
        });
        if let Err(not_until) = decided {
            self.report_rejection(key, 1, &RateLimitError::NotUntil(not_until));
        }
        decided
    }

    /// Admits `n` cells at once for `key`.
    ///
    /// # Errors
    ///
    /// As [`RateLimiter::check_n`].
    pub fn check_n(&self, key: &K, n: u32) -> Result<(), RateLimitError> {
        self.check_n_headroom(key, n).map(|_| ())
    }

    /// Admits `n` cells at once for `key` and says what they left for it
    /// (see [`RateLimiter::check_n_headroom`]).
    ///
    /// # Errors
    ///
    /// As [`RateLimiter::check_n`].
    ///
    /// ```
    /// use std::num::NonZeroUsize;
    /// use steadfast_core::ManualClock;
    /// use steadfast_guard::rate_limit::{KeyedRateLimiter, Quota};
    ///
    /// let limiter = KeyedRateLimiter::with_clock(
    ///     Quota::per_second(10)?,
    ///     NonZeroUsize::new(100).unwrap(),
    ///     ManualClock::new(),
    /// );
    /// assert_eq!(limiter.check_n_headroom(&"alice", 4).unwrap().remaining(), 6);
    /// assert_eq!(limiter.headroom(&"alice").remaining(), 6);
    /// assert_eq!(limiter.headroom(&"bob").remaining(), 10);
    /// # Ok::<(), steadfast_core::ConfigError>(())
    /// ```
    pub fn check_n_headroom(&self, key: &K, n: u32) -> Result<Headroom, RateLimitError> {
        let quota = self.quota.load();
        let now = decision_time(&self.clock, quota);
        let decided = self.with_tat(key, now, |tat| decide(tat, quota, now, n));
        if let Err(refusal) = &decided {
            self.report_rejection(key, n, refusal);
        }
        decided
    }

    /// What `key` has left now, admitting nothing and remembering nothing:
    /// a key the limiter does not hold has its whole burst.
    #[must_use]
    pub fn headroom(&self, key: &K) -> Headroom {
        let quota = self.quota.load();
        let now = decision_time(&self.clock, quota);
        let hash = self.hasher.hash_one(key);
        let tat = self
            .shard(hash)
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .find(hash, |(k, _)| k == key)
            .map_or(0, |(_, tat)| tat.load());
        Headroom::at(quota, now, tat)
    }

    /// Waits (through `sleeper`) until one cell is admitted for `key`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::num::NonZeroUsize;
    /// use steadfast_guard::rate_limit::{KeyedRateLimiter, Quota};
    ///
    /// let limiter = KeyedRateLimiter::new(
    ///     Quota::per_second(1000)?.with_burst(1)?,
    ///     NonZeroUsize::new(100).unwrap(),
    /// );
    /// limiter.until_ready(&"alice", &tokio::time::sleep).await;
    /// limiter.until_ready(&"alice", &tokio::time::sleep).await; // waits about 1 ms
    /// # Ok(()) }
    /// ```
    pub async fn until_ready<Sl: Sleeper>(&self, key: &K, sleeper: &Sl) {
        self.until_ready_with_jitter(key, sleeper, Duration::ZERO)
            .await;
    }

    /// Waits until one cell is admitted for `key`, each wait stretched by a
    /// random extra of less than `jitter` (see
    /// [`RateLimiter::until_ready_with_jitter`]).
    pub async fn until_ready_with_jitter<Sl: Sleeper>(
        &self,
        key: &K,
        sleeper: &Sl,
        jitter: Duration,
    ) {
        while let Err(not_until) = self.check(key) {
            let wait = jittered(not_until.wait_time(), jitter, &self.waits);
            sleeper.sleep(wait).await;
        }
    }

    /// Waits (through `sleeper`) until `n` cells are admitted at once for `key`.
    ///
    /// # Errors
    ///
    /// [`ExceedsBurst`] at once when `n` is larger than the burst.
    pub async fn until_n_ready<Sl: Sleeper>(
        &self,
        key: &K,
        n: u32,
        sleeper: &Sl,
    ) -> Result<(), ExceedsBurst> {
        self.until_n_ready_with_jitter(key, n, sleeper, Duration::ZERO)
            .await
    }

    /// Waits until `n` cells are admitted at once for `key`, each wait
    /// stretched by a random extra of less than `jitter`.
    ///
    /// # Errors
    ///
    /// [`ExceedsBurst`] at once when `n` is larger than the burst.
    pub async fn until_n_ready_with_jitter<Sl: Sleeper>(
        &self,
        key: &K,
        n: u32,
        sleeper: &Sl,
        jitter: Duration,
    ) -> Result<(), ExceedsBurst> {
        loop {
            match self.check_n(key, n) {
                Ok(()) => return Ok(()),
                Err(RateLimitError::ExceedsBurst(e)) => return Err(e),
                Err(RateLimitError::NotUntil(not_until)) => {
                    let wait = jittered(not_until.wait_time(), jitter, &self.waits);
                    sleeper.sleep(wait).await;
                }
            }
        }
    }

    #[inline]
    fn with_tat<R>(&self, key: &K, now: Timestamp, decide: impl Fn(&Tat) -> R) -> R {
        let hash = self.hasher.hash_one(key);
        let shard = self.shard(hash);
        {
            let map = shard.read().unwrap_or_else(|e| e.into_inner());
            if let Some((_, tat)) = map.find(hash, |(k, _)| k == key) {
                return decide(tat);
            }
        }
        let mut map = shard.write().unwrap_or_else(|e| e.into_inner());
        if map.find(hash, |(k, _)| k == key).is_none() && map.len() >= self.per_shard {
            self.evict(&mut map, now.as_nanos());
        }
        let hasher = &self.hasher;
        let (_, tat) = map
            .entry(hash, |(k, _)| k == key, |(k, _)| hasher.hash_one(k))
            .or_insert_with(|| (key.clone(), Tat(AtomicU64::new(0))))
            .into_mut();
        decide(tat)
    }

    fn evict(&self, map: &mut HashTable<(K, Tat)>, now: u64) {
        map.retain(|(_, tat)| tat.load() > now);
        if map.len() >= self.per_shard {
            let soonest = map
                .iter()
                .min_by_key(|(_, tat)| tat.load())
                .map(|(k, tat)| (k.clone(), tat.load()));
            if let Some((k, idle_at)) = soonest {
                let hash = self.hasher.hash_one(&k);
                if let Ok(entry) = map.find_entry(hash, |(key, _)| *key == k) {
                    entry.remove();
                }
                self.forgiven.fetch_add(1, Ordering::Relaxed);
                self.observer.on_event(&KeyedRateLimitEvent::Forgiven {
                    key: k,
                    at: Timestamp::from_nanos(now),
                    idle_at: Timestamp::from_nanos(idle_at),
                });
            }
        }
    }

    /// Drops every key whose TAT has passed (they behave exactly like new keys).
    pub fn retain_recent(&self) {
        let now = self.clock.now().as_nanos();
        for shard in self.shards.iter() {
            shard
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .retain(|(_, tat)| tat.load() > now);
        }
    }

    /// How many keys are remembered.
    #[must_use]
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().unwrap_or_else(|e| e.into_inner()).len())
            .sum()
    }

    /// `true` when no key is remembered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most keys this limiter remembers at once.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.per_shard * self.shards.len()
    }

    /// How many still-busy keys were dropped to make room (each was forgiven
    /// the cells it still owed).
    #[must_use]
    pub fn forgiven(&self) -> usize {
        self.forgiven.load(Ordering::Relaxed)
    }

    /// The quota in force for every key.
    #[must_use]
    pub fn quota(&self) -> Quota {
        self.quota.load()
    }

    /// Replaces the quota for every key, keeping each key's debt in cells.
    ///
    /// As [`RateLimiter::set_quota`], a concurrent check uses the old quota
    /// or the new one, never a mix of the two.
    pub fn set_quota(&self, quota: Quota) {
        let now = self.clock.now().as_nanos();
        let old = self.quota.change(quota, |old, new| {
            for shard in self.shards.iter() {
                let map = shard.read().unwrap_or_else(|e| e.into_inner());
                for (_, tat) in map.iter() {
                    let _ = tat
                        .0
                        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                            Some(rescale(t, now, old.interval_nanos, new.interval_nanos))
                        });
                }
            }
        });
        self.observer.on_event(&KeyedRateLimitEvent::QuotaChanged {
            at: Timestamp::from_nanos(now),
            from: old,
            to: quota,
        });
    }
}

#[cfg(all(test, not(steadfast_loom)))]
mod tests {
    use super::*;
    use steadfast_core::{LaggingClock, ManualClock, Recorder};

    fn limiter(per_sec: u32, burst: u32) -> (RateLimiter<ManualClock>, ManualClock) {
        let clock = ManualClock::new();
        let quota = Quota::per_second(per_sec)
            .unwrap()
            .with_burst(burst)
            .unwrap();
        (RateLimiter::with_clock(quota, clock.clone()), clock)
    }

    #[test]
    fn quota_validation_names_the_field() {
        assert_eq!(
            Quota::new(0, Duration::from_secs(1)).unwrap_err().field(),
            "quota.cells"
        );
        assert_eq!(
            Quota::new(1, Duration::ZERO).unwrap_err().field(),
            "quota.period"
        );
        assert_eq!(
            Quota::new(10, Duration::from_nanos(5)).unwrap_err().rule(),
            "at least 1 ns per cell"
        );
        assert!(Quota::new(1, Duration::MAX).is_err());
        assert_eq!(
            Quota::per_second(1)
                .unwrap()
                .with_burst(0)
                .unwrap_err()
                .field(),
            "quota.burst"
        );
        let slow = Quota::with_interval(Duration::from_secs(1 << 33)).unwrap();
        assert!(slow.with_burst(u32::MAX).is_err());
        assert!(Quota::with_interval(Duration::ZERO).is_err());
    }

    #[test]
    fn burst_then_steady_rate() {
        let (l, clock) = limiter(10, 3);
        for _ in 0..3 {
            l.check().unwrap();
        }
        let e = l.check().unwrap_err();
        assert_eq!(e.retry_at(), Timestamp::from_millis(100));
        assert_eq!(e.wait_time(), Duration::from_millis(100));
        clock.advance(Duration::from_millis(99));
        assert!(l.check().is_err());
        clock.advance(Duration::from_millis(1));
        l.check().unwrap();
        assert!(l.check().is_err());
    }

    #[test]
    fn check_n_tells_later_from_never() {
        let (l, clock) = limiter(10, 5);
        l.check_n(3).unwrap();
        let later = l.check_n(4).unwrap_err();
        assert_eq!(later.retry_at(), Some(Timestamp::from_millis(200)));
        assert!(matches!(
            l.check_n(6),
            Err(RateLimitError::ExceedsBurst(ExceedsBurst {
                requested: 6,
                burst: 5
            }))
        ));
        clock.advance(Duration::from_millis(200));
        l.check_n(4).unwrap();
        l.check_n(0).unwrap();
    }

    #[test]
    fn clock_going_backwards_never_admits_more() {
        let (l, clock) = limiter(10, 1);
        clock.advance(Duration::from_secs(10));
        l.check().unwrap();
        clock.jump_backwards(Duration::from_secs(5));
        let e = l.check().unwrap_err();
        assert_eq!(e.retry_at(), Timestamp::from_millis(10_100));
    }

    #[test]
    fn huge_times_saturate() {
        let clock = ManualClock::starting_at(Timestamp::MAX - Duration::from_nanos(10));
        let l =
            RateLimiter::with_clock(Quota::with_interval(Duration::from_secs(1)).unwrap(), clock);
        let admitted = (0..10).filter(|_| l.check().is_ok()).count();
        assert!(admitted <= 1);
        assert_eq!(l.check().unwrap_err().retry_at(), Timestamp::MAX);
    }

    #[test]
    fn reserve_and_cancel() {
        let (l, clock) = limiter(10, 2);
        l.check_n(2).unwrap();
        let r = l.reserve_n(2).unwrap();
        assert_eq!(r.ready_at(), Timestamp::from_millis(200));
        assert_eq!(r.wait_time(), Duration::from_millis(200));
        // Later callers queue behind the booking.
        assert_eq!(
            l.check().unwrap_err().retry_at(),
            Timestamp::from_millis(300)
        );
        clock.advance(Duration::from_millis(50));
        assert!(l.cancel(r));
        // Cells given back: only the first burst's debt remains.
        assert_eq!(
            l.check().unwrap_err().retry_at(),
            Timestamp::from_millis(100)
        );
        assert!(l.reserve_n(3).is_err());
    }

    #[test]
    fn cancel_after_ready_changes_nothing() {
        let (l, clock) = limiter(10, 1);
        let r = l.reserve_n(1).unwrap();
        assert_eq!(r.ready_at(), Timestamp::ZERO);
        clock.advance(Duration::from_millis(1));
        assert!(!l.cancel(r));
        assert!(l.check().is_err());
    }

    #[test]
    fn quota_change_keeps_debt_and_is_observed() {
        let clock = ManualClock::new();
        let events = Recorder::new();
        let l = RateLimiter::observed(
            Quota::per_second(10).unwrap(),
            clock.clone(),
            events.clone(),
        );
        l.check_n(5).unwrap(); // 500 ms of debt
        l.set_quota(Quota::per_second(1).unwrap().with_burst(10).unwrap());
        // 5 cells owed at 1 s each: 5 s of debt, burst 10 => 5 more now.
        l.check_n(5).unwrap();
        assert_eq!(l.check().unwrap_err().retry_at(), Timestamp::from_secs(1));
        let events = events.events();
        assert_eq!(events.len(), 2, "{events:?}");
        assert!(matches!(events[0], RateLimitEvent::QuotaChanged { .. }));
        assert_eq!(
            events[1],
            RateLimitEvent::Rejected {
                at: Timestamp::ZERO,
                cells: 1,
                retry_at: Some(Timestamp::from_secs(1)),
            }
        );
        let _ = clock;
    }

    #[test]
    fn refusals_are_observed_and_admissions_are_not() {
        let clock = ManualClock::new();
        let events = Recorder::new();
        let quota = Quota::per_second(10).unwrap().with_burst(2).unwrap();
        let l = RateLimiter::observed(quota, clock.clone(), events.clone());
        l.check().unwrap();
        l.check_n_headroom(1).unwrap();
        assert!(events.is_empty(), "admissions are not reported");
        clock.advance(Duration::from_millis(50));
        assert!(l.check().is_err());
        assert!(l.check_n(3).is_err());
        assert!(l.reserve_n(5).is_err());
        assert_eq!(
            events.events(),
            [
                RateLimitEvent::Rejected {
                    at: Timestamp::from_millis(50),
                    cells: 1,
                    retry_at: Some(Timestamp::from_millis(100)),
                },
                RateLimitEvent::Rejected {
                    at: Timestamp::from_millis(50),
                    cells: 3,
                    retry_at: None,
                },
                RateLimitEvent::Rejected {
                    at: Timestamp::from_millis(50),
                    cells: 5,
                    retry_at: None,
                },
            ]
        );
    }

    #[test]
    fn until_ready_sleeps_exactly_the_wait() {
        let (l, clock) = limiter(4, 1);
        let slept = std::sync::Mutex::new(Vec::new());
        let c = clock.clone();
        let sleeper = |d: Duration| {
            slept.lock().unwrap().push(d);
            c.advance(d);
            std::future::ready(())
        };
        futures::executor::block_on(async {
            l.until_ready(&sleeper).await;
            l.until_ready(&sleeper).await;
            assert!(l.until_n_ready(2, &sleeper).await.is_err());
            l.until_n_ready(1, &sleeper).await.unwrap();
        });
        assert_eq!(*slept.lock().unwrap(), vec![Duration::from_millis(250); 2]);
        assert_eq!(clock.now(), Timestamp::from_millis(500));
    }

    #[test]
    fn keyed_until_ready_waits_per_key() {
        let clock = ManualClock::new();
        let quota = Quota::per_second(4).unwrap().with_burst(1).unwrap();
        let l =
            KeyedRateLimiter::with_clock(quota, NonZeroUsize::new(1_600).unwrap(), clock.clone());
        let slept = std::sync::Mutex::new(Vec::new());
        let c = clock.clone();
        let sleeper = |d: Duration| {
            slept.lock().unwrap().push(d);
            c.advance(d);
            std::future::ready(())
        };
        futures::executor::block_on(async {
            l.until_ready(&"a", &sleeper).await;
            l.until_ready(&"b", &sleeper).await; // another key: no wait
            l.until_ready(&"a", &sleeper).await; // waits 250 ms
            assert_eq!(
                l.until_n_ready(&"a", 2, &sleeper).await,
                Err(ExceedsBurst {
                    requested: 2,
                    burst: 1
                })
            );
            l.until_n_ready(&"b", 1, &sleeper).await.unwrap(); // b's debt is paid by now
        });
        assert_eq!(*slept.lock().unwrap(), vec![Duration::from_millis(250)]);
        assert_eq!(clock.now(), Timestamp::from_millis(250));
        // Peeking remembers nothing.
        assert_eq!(l.headroom(&"c").remaining(), 1);
        assert_eq!(l.len(), 2);
    }

    #[test]
    fn headroom_after_reservations_and_quota_changes() {
        let (l, clock) = limiter(10, 5);
        let _booked = l.reserve_n(5).unwrap();
        let queued = l.reserve_n(3).unwrap();
        // Eight cells owed against a burst of five: nothing left, whole again at 800 ms.
        let left = l.headroom();
        assert_eq!(
            (left.remaining(), left.full_at()),
            (0, Timestamp::from_millis(800))
        );
        assert!(l.cancel(queued));
        assert_eq!(l.headroom().remaining(), 0);
        assert_eq!(l.headroom().full_at(), Timestamp::from_millis(500));
        clock.advance(Duration::from_millis(200));
        assert_eq!(l.headroom().remaining(), 2);
        // Twice the rate: the 300 ms of debt becomes 150 ms, three cells' worth.
        l.set_quota(Quota::per_second(20).unwrap().with_burst(5).unwrap());
        let left = l.headroom();
        assert_eq!(left.remaining(), 2);
        assert_eq!(left.full_in(), Duration::from_millis(150));
        assert_eq!(left.burst(), 5);
    }

    #[test]
    fn jitter_stretches_each_wait_by_less_than_the_bound() {
        let draws = AtomicU64::new(0);
        let wait = Duration::from_millis(40);
        assert_eq!(jittered(wait, Duration::ZERO, &draws), wait);
        assert_eq!(draws.load(Ordering::Relaxed), 0, "no jitter, no draw");
        let bound = Duration::from_millis(10);
        let extras: Vec<u128> = (0..10_000)
            .map(|_| {
                let stretched = jittered(wait, bound, &draws);
                assert!(
                    stretched >= wait && stretched < wait + bound,
                    "{stretched:?}"
                );
                (stretched - wait).as_nanos()
            })
            .collect();
        // Roughly uniform: the mean near half the bound, both ends reached.
        let mean = extras.iter().sum::<u128>() / extras.len() as u128;
        assert!((4_500_000..5_500_000).contains(&mean), "mean {mean}");
        assert!(extras.iter().any(|&e| e < 100_000));
        assert!(extras.iter().any(|&e| e > 9_900_000));
        // Huge bounds and waits saturate instead of overflowing.
        assert_eq!(
            jittered(Duration::MAX, Duration::MAX, &draws),
            Duration::MAX
        );
    }

    #[test]
    fn until_ready_with_jitter_waits_at_least_the_refusal_and_less_than_it_plus_jitter() {
        let (l, clock) = limiter(4, 1);
        let slept = std::sync::Mutex::new(Vec::new());
        let c = clock.clone();
        let sleeper = |d: Duration| {
            slept.lock().unwrap().push(d);
            c.advance(d);
            std::future::ready(())
        };
        let jitter = Duration::from_millis(50);
        futures::executor::block_on(async {
            for _ in 0..20 {
                l.until_ready_with_jitter(&sleeper, jitter).await;
            }
            assert!(
                l.until_n_ready_with_jitter(2, &sleeper, jitter)
                    .await
                    .is_err()
            );
        });
        let slept = slept.into_inner().unwrap();
        // Each wait is the whole 250 ms interval (a caller that overslept
        // finds the limiter idle) plus its own extra of under 50 ms.
        assert_eq!(slept.len(), 19);
        for d in &slept {
            assert!(
                (Duration::from_millis(250)..Duration::from_millis(300)).contains(d),
                "{d:?}"
            );
        }
        assert!(slept.windows(2).any(|w| w[0] != w[1]), "{slept:?}");
        // Never faster than the rate: 20 cells need at least 19 intervals.
        assert!(clock.now() >= Timestamp::from_millis(19 * 250));
        assert!(clock.now() < Timestamp::from_millis(19 * 300));
    }

    #[test]
    fn keyed_refusals_forgiven_keys_and_quota_changes_are_observed() {
        let clock = ManualClock::new();
        let events = Recorder::new();
        // One shard of two keys.
        let l = KeyedRateLimiter::with_clock(
            Quota::per_second(1).unwrap(),
            NonZeroUsize::new(2).unwrap(),
            clock.clone(),
        )
        .with_observer(events.clone());
        l.check(&1u32).unwrap();
        clock.advance(Duration::from_millis(100));
        l.check(&2).unwrap();
        assert!(events.is_empty(), "admissions are not reported");
        assert!(l.check(&1).is_err());
        assert!(l.check_n_headroom(&2, 5).is_err());
        // A third busy key: key 1, idle soonest (at 1 s), is forgiven.
        l.check(&3).unwrap();
        l.set_quota(Quota::per_second(2).unwrap());
        let at = Timestamp::from_millis(100);
        assert_eq!(
            events.events(),
            [
                KeyedRateLimitEvent::Rejected {
                    key: 1,
                    at,
                    cells: 1,
                    retry_at: Some(Timestamp::from_secs(1)),
                },
                KeyedRateLimitEvent::Rejected {
                    key: 2,
                    at,
                    cells: 5,
                    retry_at: None,
                },
                KeyedRateLimitEvent::Forgiven {
                    key: 1,
                    at,
                    idle_at: Timestamp::from_secs(1),
                },
                KeyedRateLimitEvent::QuotaChanged {
                    at,
                    from: Quota::per_second(1).unwrap(),
                    to: Quota::per_second(2).unwrap(),
                },
            ]
        );
        assert_eq!(l.forgiven(), 1);
    }

    #[test]
    fn threads_share_one_budget() {
        let (l, _) = limiter(1, 1000);
        let l = std::sync::Arc::new(l);
        let admitted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let l = std::sync::Arc::clone(&l);
                let admitted = std::sync::Arc::clone(&admitted);
                std::thread::spawn(move || {
                    for _ in 0..500 {
                        if l.check().is_ok() {
                            admitted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(admitted.load(std::sync::atomic::Ordering::Relaxed), 1000);
    }

    #[test]
    fn quota_changes_are_never_read_torn_by_other_threads() {
        let a = Quota::per_second(1_000).unwrap().with_burst(1_000).unwrap();
        let b = Quota::per_second(1).unwrap().with_burst(1).unwrap();
        let limiter = std::sync::Arc::new(RateLimiter::with_clock(a, ManualClock::new()));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let (limiter, stop) = (limiter.clone(), stop.clone());
                std::thread::spawn(move || {
                    let mut reads = 0u64;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) || reads < 1_000 {
                        let q = limiter.quota();
                        assert!(q == a || q == b, "torn quota {q:?}");
                        reads += 1;
                    }
                })
            })
            .collect();
        for i in 0..20_000 {
            limiter.set_quota(if i % 2 == 0 { b } else { a });
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for r in readers {
            r.join().unwrap();
        }
    }

    #[test]
    fn shard_counts_keep_shards_large() {
        let counts: Vec<usize> = [1, 10, 127, 128, 255, 256, 1_000, 1_024, 100_000]
            .into_iter()
            .map(shard_count)
            .collect();
        assert_eq!(counts, [1, 1, 1, 2, 2, 4, 8, 16, 16]);
    }

    #[test]
    fn a_small_keyed_limiter_remembers_every_key_up_to_max_keys() {
        // Ten busy keys in a limiter of ten: cut into 16 shards of one key,
        // two of them would share a shard for almost every seed and the
        // second would drop (and forgive) the first.
        for _ in 0..20 {
            let l = KeyedRateLimiter::with_clock(
                Quota::per_second(1).unwrap(),
                NonZeroUsize::new(10).unwrap(),
                ManualClock::new(),
            );
            for k in 0..10u32 {
                l.check(&k).unwrap();
            }
            assert_eq!((l.len(), l.forgiven(), l.capacity()), (10, 0, 10));
            for k in 0..10u32 {
                assert!(l.check(&k).is_err(), "key {k} kept its debt");
            }
            // The eleventh busy key is the first to make room.
            l.check(&10).unwrap();
            assert_eq!((l.len(), l.forgiven()), (10, 1));
        }
    }

    #[test]
    fn half_full_limiters_forgive_nobody() {
        for max_keys in [200usize, 1_000, 5_000] {
            let l = KeyedRateLimiter::with_clock(
                Quota::per_second(1).unwrap(),
                NonZeroUsize::new(max_keys).unwrap(),
                ManualClock::new(),
            );
            for k in 0..max_keys / 2 {
                l.check(&k).unwrap();
            }
            assert_eq!(l.forgiven(), 0, "max_keys {max_keys}");
            assert_eq!(l.len(), max_keys / 2);
        }
    }

    #[test]
    fn keyed_memory_stays_bounded_and_idle_keys_go_first() {
        let clock = ManualClock::new();
        let l = KeyedRateLimiter::with_clock(
            Quota::per_second(1).unwrap(),
            NonZeroUsize::new(32).unwrap(),
            clock.clone(),
        );
        for k in 0..10_000u32 {
            let _ = l.check(&k);
            assert!(l.len() <= l.capacity());
        }
        assert_eq!(l.capacity(), 32);
        let forgiven_while_busy = l.forgiven();
        assert!(forgiven_while_busy > 0);
        // Once every remembered key is idle, new keys displace idle ones
        // without forgiving anyone.
        for k in 20_000..20_100u32 {
            clock.advance(Duration::from_secs(2));
            l.check(&k).unwrap();
        }
        assert_eq!(l.forgiven(), forgiven_while_busy);
        clock.advance(Duration::from_secs(2));
        l.retain_recent();
        assert!(l.is_empty());
    }

    #[test]
    fn key_hash_states_are_seeded_apart_and_hash_consistently() {
        let a = KeyHashState::new();
        let b = KeyHashState::new();
        let c = a.clone();
        let mut same = 0;
        for k in 0..64u64 {
            let key = (k, format!("client-{k}"));
            assert_eq!(a.hash_one(&key), c.hash_one(&key), "a clone hashes alike");
            if a.hash_one(&key) == b.hash_one(&key) {
                same += 1;
            }
            let mut h = a.build_hasher();
            h.write_u64(k);
            assert_eq!(h.finish(), a.hash_one(k), "the hasher forwards each write");
        }
        assert_eq!(same, 0, "two limiters' hashers must not share seeds");
    }

    #[test]
    fn keyed_shards_spread_string_keys_under_the_default_hasher() {
        let l = KeyedRateLimiter::with_clock(
            Quota::per_second(1).unwrap(),
            NonZeroUsize::new(16 * 200).unwrap(),
            ManualClock::new(),
        );
        for k in 0..1_600u32 {
            l.check(&format!("10.0.{}.{}", k / 256, k % 256)).unwrap();
        }
        // 100 keys per shard on average; none reached its 200.
        assert_eq!(l.forgiven(), 0);
        assert_eq!(l.len(), 1_600);
        assert!(l.check(&"10.0.3.7".to_string()).is_err());
    }

    #[test]
    fn keyed_shards_spread_sequential_keys() {
        let clock = ManualClock::new();
        let l = KeyedRateLimiter::with_clock(
            Quota::per_second(1).unwrap(),
            NonZeroUsize::new(16 * 400).unwrap(),
            clock,
        );
        for k in 0..1_600u64 {
            l.check(&k).unwrap();
        }
        // 100 keys per shard on average; none overflowed its 400.
        assert_eq!(l.forgiven(), 0);
        assert_eq!(l.len(), 1_600);
        for k in 0..100u64 {
            let key = format!("user-{k}");
            l.check(&k).unwrap_err();
            let s = KeyedRateLimiter::with_clock(
                Quota::per_second(1).unwrap(),
                NonZeroUsize::new(16).unwrap(),
                ManualClock::new(),
            );
            s.check(&key).unwrap();
            assert!(s.check(&key).is_err());
        }
    }

    #[test]
    fn keyed_set_quota_applies_to_all_keys() {
        let clock = ManualClock::new();
        let l = KeyedRateLimiter::with_clock(
            Quota::per_second(1).unwrap(),
            NonZeroUsize::new(100).unwrap(),
            clock.clone(),
        );
        l.check(&1).unwrap();
        l.set_quota(Quota::per_second(10).unwrap());
        assert_eq!(l.quota().burst(), 10);
        // 1 cell owed at 100 ms: 9 more fit the new burst now.
        l.check_n(&1, 9).unwrap();
        assert!(l.check(&1).is_err());
        assert!(matches!(
            l.check_n(&2, 11),
            Err(RateLimitError::ExceedsBurst(_))
        ));
    }

    #[test]
    fn a_long_burst_window_decides_on_the_coarse_reading() {
        let clock = LaggingClock::default();
        // 10 per second, burst 10: a 1 s window, >= 25 x 10 ms.
        let limiter = RateLimiter::with_clock(Quota::per_second(10).unwrap(), clock.clone());
        let keyed = KeyedRateLimiter::with_clock(
            Quota::per_second(10).unwrap(),
            NonZeroUsize::new(10).unwrap(),
            clock.clone(),
        );
        limiter.check_n(10).unwrap();
        keyed.check_n(&"k", 10).unwrap();
        clock.precise().advance(Duration::from_millis(100));
        clock.coarse().advance(Duration::from_millis(96));
        let not_until = limiter.check().unwrap_err();
        assert_eq!(not_until.retry_at(), Timestamp::from_millis(100));
        assert_eq!(not_until.wait_time(), Duration::from_millis(4));
        assert!(keyed.check(&"k").is_err());
        clock.coarse().advance(Duration::from_millis(4));
        limiter.check().unwrap();
        keyed.check(&"k").unwrap();
    }

    #[test]
    fn a_short_burst_window_decides_on_the_precise_reading() {
        let clock = LaggingClock::default();
        // Burst 1 at 10 per second: a 100 ms window, < 25 x 10 ms.
        let quota = Quota::per_second(10).unwrap().with_burst(1).unwrap();
        let limiter = RateLimiter::with_clock(quota, clock.clone());
        limiter.check().unwrap();
        clock.precise().advance(Duration::from_millis(100));
        limiter.check().unwrap();
        assert!(matches!(
            limiter.check_n(1),
            Err(RateLimitError::NotUntil(_))
        ));
    }
}

#[cfg(all(test, steadfast_loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;

    #[derive(Debug)]
    struct Fixed(Timestamp);
    impl Clock for Fixed {
        fn now(&self) -> Timestamp {
            self.0
        }
    }

    fn admitted_by(threads: usize, burst: u32) -> usize {
        let quota = Quota::per_second(1).unwrap().with_burst(burst).unwrap();
        let limiter = Arc::new(RateLimiter::with_clock(
            quota,
            Fixed(Timestamp::from_secs(5)),
        ));
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let l = Arc::clone(&limiter);
                loom::thread::spawn(move || usize::from(l.check().is_ok()))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    }

    #[test]
    fn loom_gcra_admits_exactly_the_burst() {
        loom::model(|| assert_eq!(admitted_by(2, 1), 1));
    }

    #[test]
    fn loom_gcra_three_threads_burst_two() {
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound = Some(2);
        builder.check(|| assert_eq!(admitted_by(3, 2), 2));
    }

    #[test]
    fn loom_a_quota_change_is_never_read_torn() {
        let a = Quota::per_second(1_000).unwrap().with_burst(1_000).unwrap();
        let b = Quota::per_second(1).unwrap().with_burst(1).unwrap();
        loom::model(move || {
            let limiter = Arc::new(RateLimiter::with_clock(a, Fixed(Timestamp::from_secs(5))));
            let l = Arc::clone(&limiter);
            let reader = loom::thread::spawn(move || l.quota());
            limiter.set_quota(b);
            let seen = reader.join().unwrap();
            assert!(seen == a || seen == b, "torn quota {seen:?}");
            assert_eq!(limiter.quota(), b);
        });
    }
}
