//! The circuit breaker: stop calling a dependency that keeps failing.
//!
//! A [`CircuitBreaker`] watches the outcomes of recent calls in a sliding
//! window (the last N calls, or the calls of the last T seconds). When the
//! failure rate or the slow-call rate reaches its threshold (once the window
//! holds a minimum number of calls), the breaker **opens**: calls are
//! rejected at once, with a [`Rejected::retry_after`] saying when the
//! breaker may admit again. After the open wait (fixed, or growing over
//! consecutive openings) the next call moves it to **half-open**, where a
//! bounded number of trial calls go through; their rates decide between
//! **closed** (a fresh window) and open again.
//!
//! The semantics are Resilience4j's, with three differences that matter
//! under concurrency:
//!
//! - permits are `#[must_use]` guards released on drop, so a dropped or
//!   panicking call never leaves a half-open trial slot taken;
//! - every permit carries the generation (state epoch) it was issued in,
//!   and a result arriving after the state has changed is discarded;
//! - the open -> half-open transition happens on the first call after the
//!   wait (no timer thread), in one compare-and-swap: that call becomes the
//!   first trial, and every other call sees either the open state (with the
//!   rest of the wait) or the half-open one. A timer may call
//!   [`CircuitBreaker::refresh`] to make the move (and a half-open timeout)
//!   happen without a call, as Resilience4j's automatic transition does.
//!
//! Hot path: one atomic load to acquire in the closed state; to record a
//! success into a count window full of successes (the healthy steady
//! state), one atomic load and no write, so threads sharing a healthy
//! breaker move no cache line between them (the success takes no place in
//! the ring: every place holds a success already); otherwise one atomic
//! read-modify-write when the outcome equals the one it pushes out of the
//! window, up to three when it differs; no lock, no
//! allocation, and a clock read only where time matters (slow-call tracking,
//! time windows, the open state: at most one per call). With a count window
//! and no slow-call threshold the closed path reads no clock at all; an open
//! breaker rejects with one clock read and one compare. That read is the
//! clock's [coarse reading](steadfast_core::Clock::now_coarse) when the
//! shortest open wait is at least 25 times its lag (on `MonotonicClock` on
//! Linux: `CLOCK_MONOTONIC_COARSE`, waits of 250 ms and more), so a breaker
//! may stay open up to one kernel tick (at most 10 ms) longer than its wait.
//! The other transitions (to open, to closed, and the operator's) are
//! published in two steps; a call arriving in between (a few instructions)
//! is rejected with the `retry_after` of the state being published.
//!
//! # Sizing
//!
//! The defaults follow Resilience4j: a window of the last 100 calls, a 50 %
//! failure-rate threshold, 60 s open, 10 half-open trials. They suit one
//! large client that sends a dependency hundreds of calls a minute: 100
//! calls are a few seconds of its traffic, and a minute without calls costs
//! it little next to the load it keeps off a struggling dependency.
//!
//! A breaker per client (per connection, per tenant, per host a client
//! talks to) sees a small share of the traffic: with 100-call windows it
//! would take minutes to notice a failure, and 60 s open is a long outage
//! for one client when the dependency recovered after two. Size it by that
//! client's rate:
//!
//! - **window**: the calls of the last 5 to 30 s of that client's traffic
//!   (a count window of 10 to 20 calls, or a time window with a
//!   [`minimum_calls`](BreakerConfigBuilder::minimum_calls) so that a quiet
//!   second does not decide on two calls);
//! - **open wait**: about the time the dependency needs to recover, 1 to
//!   5 s, growing on repeated openings ([`OpenWait::Exponential`]) rather
//!   than a fixed minute;
//! - **trials**: a few (1 to 3), since each trial is a real call of that one
//!   client.
//!
//! ```
//! use std::time::Duration;
//! use steadfast_guard::breaker::BreakerConfig;
//!
//! // One client sending ~2 calls a second to a dependency.
//! let per_client = BreakerConfig::builder()
//!     .count_window(20)
//!     .minimum_calls(10)
//!     .failure_rate_threshold(0.5)
//!     .wait_in_open_exponential(Duration::from_secs(1), 2.0, Duration::from_secs(30))
//!     .half_open_trials(2)
//!     .build()?;
//! assert_eq!(per_client.minimum_calls(), 10);
//! assert_eq!(per_client.open_wait().after_opening(3), Duration::from_secs(4));
//! # Ok::<(), steadfast_core::ConfigError>(())
//! ```
//!
//! ```
//! use std::time::Duration;
//! use steadfast_core::ManualClock;
//! use steadfast_guard::breaker::{BreakerConfig, BreakerError, BreakerState, CircuitBreaker};
//!
//! let clock = ManualClock::new();
//! let config = BreakerConfig::builder()
//!     .count_window(4)
//!     .failure_rate_threshold(0.5)
//!     .wait_in_open(Duration::from_secs(30))
//!     .half_open_trials(1)
//!     .build()?;
//! let breaker = CircuitBreaker::with_clock(config, clock.clone());
//!
//! for _ in 0..4 {
//!     let _ = breaker.call(|| Err::<(), _>("timeout"));
//! }
//! assert_eq!(breaker.state(), BreakerState::Open);
//! match breaker.call(|| Ok::<_, ()>(1)) {
//!     Err(BreakerError::Rejected(r)) => assert_eq!(r.retry_after, Some(Duration::from_secs(30))),
//!     other => panic!("{other:?}"),
//! }
//!
//! clock.advance(Duration::from_secs(30));
//! let permit = breaker.try_acquire().expect("a trial call");
//! assert_eq!(breaker.state(), BreakerState::HalfOpen);
//! permit.success();
//! assert_eq!(breaker.state(), BreakerState::Closed);
//! # Ok::<(), steadfast_core::ConfigError>(())
//! ```

mod config;
mod window;

use std::fmt;
use std::future::Future;
use std::time::Duration;

use steadfast_core::{Clock, MonotonicClock, Observer, Timestamp};

pub use config::{BreakerConfig, BreakerConfigBuilder, OpenWait, WindowKind};
pub use window::WindowFigures;

use crate::coarse::coarse_suffices;
use crate::sync::{Arc, AtomicU32, AtomicU64, Ordering, Padded};
use crate::tally::Tally;
use window::{CALL, CountWindow, FAIL, SLOW, TimeWindow, Window, reaches, to_q32};

/// The state of a breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum BreakerState {
    /// Calls go through and are counted.
    Closed,
    /// Calls are rejected until the wait is over.
    Open,
    /// A bounded number of trial calls go through.
    HalfOpen,
    /// Rejects every call until an operator changes the state.
    ForcedOpen,
    /// Admits every call and counts nothing until an operator changes the state.
    Disabled,
}

const CLOSED: u64 = 0;
const OPEN: u64 = 1;
const HALF_OPEN: u64 = 2;
const FORCED_OPEN: u64 = 3;
const DISABLED: u64 = 4;

const KIND_MASK: u64 = 0b111;
/// Set while a transition is being published.
const BUSY: u64 = 0b1000;
const ISSUED_SHIFT: u32 = 4;
const ISSUED_MASK: u64 = 0xfff;
const GEN_SHIFT: u32 = 32;

fn state_of(word: u64) -> BreakerState {
    match word & KIND_MASK {
        CLOSED => BreakerState::Closed,
        OPEN => BreakerState::Open,
        HALF_OPEN => BreakerState::HalfOpen,
        FORCED_OPEN => BreakerState::ForcedOpen,
        _ => BreakerState::Disabled,
    }
}

fn generation(word: u64) -> u32 {
    (word >> GEN_SHIFT) as u32
}

fn issued(word: u64) -> u32 {
    ((word >> ISSUED_SHIFT) & ISSUED_MASK) as u32
}

fn state_word(kind: u64, busy: bool, issued: u32, generation: u32) -> u64 {
    kind | if busy { BUSY } else { 0 }
        | (u64::from(issued) << ISSUED_SHIFT)
        | (u64::from(generation) << GEN_SHIFT)
}

/// Half-open results: generation 32 bits | total 10 | failures 10 | slow 10.
fn results_word(generation: u32, total: u32, failures: u32, slow: u32) -> u64 {
    (u64::from(generation) << 32)
        | (u64::from(total) << 20)
        | (u64::from(failures) << 10)
        | u64::from(slow)
}

fn unpack_results(word: u64) -> (u32, u32, u32, u32) {
    (
        (word >> 32) as u32,
        ((word >> 20) & 0x3ff) as u32,
        ((word >> 10) & 0x3ff) as u32,
        (word & 0x3ff) as u32,
    )
}

/// How a finished call counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// A success.
    Success,
    /// A failure.
    Failure,
    /// Not counted (a cancelled call, a client-side error); a half-open trial
    /// slot is given back.
    Ignored,
    /// Open the breaker now, whatever the rates (a dependency said it is
    /// shutting down).
    TripOpen,
}

impl Outcome {
    /// `Success` for `Ok`, `Failure` for `Err`: the default classification.
    ///
    /// ```
    /// use steadfast_guard::breaker::Outcome;
    /// assert_eq!(Outcome::of(&Err::<(), _>("x")), Outcome::Failure);
    /// ```
    #[must_use]
    pub fn of<T, E>(result: &Result<T, E>) -> Outcome {
        if result.is_ok() {
            Outcome::Success
        } else {
            Outcome::Failure
        }
    }
}

/// Why a breaker changed state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum TransitionReason {
    /// The failure rate reached its threshold.
    FailureRateExceeded,
    /// The slow-call rate reached its threshold.
    SlowCallRateExceeded,
    /// A call's outcome asked to open the breaker.
    TrippedByOutcome,
    /// The open wait was over and a call arrived.
    WaitElapsed,
    /// The half-open trials succeeded.
    TrialsPassed,
    /// The trials did not decide within the maximum wait in half-open.
    HalfOpenTimedOut,
    /// An operator changed the state.
    Manual,
}

/// A state change, reported to the breaker's observer.
///
/// ```
/// use std::time::Duration;
/// use steadfast_core::{ManualClock, Recorder, Timestamp};
/// use steadfast_guard::breaker::{BreakerConfig, BreakerState, CircuitBreaker, TransitionReason};
///
/// let events = Recorder::new();
/// let config = BreakerConfig::builder().count_window(2).build()?;
/// let breaker = CircuitBreaker::with_observer(config, ManualClock::new(), events.clone());
/// breaker.try_acquire().unwrap().failure();
/// breaker.try_acquire().unwrap().failure();
/// let opened = &events.events()[0];
/// assert_eq!((opened.from, opened.to), (BreakerState::Closed, BreakerState::Open));
/// assert_eq!(opened.reason, TransitionReason::FailureRateExceeded);
/// assert_eq!(opened.at, Timestamp::ZERO);
/// assert_eq!(opened.figures.failures, 2);
/// assert_eq!(opened.open_for, Some(Duration::from_secs(60)));
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct BreakerEvent {
    /// When it happened.
    pub at: Timestamp,
    /// The state left.
    pub from: BreakerState,
    /// The state entered.
    pub to: BreakerState,
    /// Why.
    pub reason: TransitionReason,
    /// The figures of the window that decided (the closed window, or the
    /// half-open trials).
    pub figures: WindowFigures,
    /// For a transition to open: how long the breaker will stay open.
    pub open_for: Option<Duration>,
}

/// A call the breaker did not admit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[error("circuit breaker is {state:?}: call rejected")]
#[non_exhaustive]
pub struct Rejected {
    /// The state that rejected the call.
    pub state: BreakerState,
    /// When the breaker may admit again, if known: the rest of the open
    /// wait (on a clock with a coarse reading, such as `MonotonicClock` on
    /// Linux, and an open wait of at least 25 times its lag, up to that lag
    /// more: 10 ms at most), `None` when forced open or when every half-open
    /// trial slot is taken. A call arriving while another thread publishes a
    /// transition (a few instructions) gets the wait of the opening being
    /// published (at worst the previous opening's), or zero when the breaker
    /// is closing or moving to half-open.
    pub retry_after: Option<Duration>,
}

/// The error of [`CircuitBreaker::call`]: rejected, or the call's own error.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BreakerError<E> {
    /// The breaker did not admit the call; it was not made.
    Rejected(Rejected),
    /// The call was made and failed.
    Inner(E),
}

impl<E: fmt::Display> fmt::Display for BreakerError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BreakerError::Rejected(r) => r.fmt(f),
            BreakerError::Inner(e) => e.fmt(f),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for BreakerError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BreakerError::Rejected(r) => Some(r),
            BreakerError::Inner(e) => Some(e),
        }
    }
}

/// A snapshot of a breaker's figures, readable at any time.
///
/// ```
/// use steadfast_core::ManualClock;
/// use steadfast_guard::breaker::{BreakerConfig, BreakerState, CircuitBreaker};
///
/// let config = BreakerConfig::builder().count_window(10).build()?;
/// let breaker = CircuitBreaker::with_clock(config, ManualClock::new());
/// breaker.try_acquire().unwrap().failure();
/// breaker.try_acquire().unwrap().success();
/// let m = breaker.metrics();
/// assert_eq!(m.state, BreakerState::Closed);
/// assert_eq!(m.figures.calls, 2);
/// assert_eq!(m.failure_rate(), 0.5);
/// assert_eq!(m.rejected, 0);
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct BreakerMetrics {
    /// The current state.
    pub state: BreakerState,
    /// The closed-state window (in half-open: the trials so far).
    pub figures: WindowFigures,
    /// Calls rejected since the breaker was created.
    pub rejected: u64,
    /// Half-open trial slots taken (in flight or recorded).
    pub trials_taken: u32,
}

impl BreakerMetrics {
    /// The failure rate of [`figures`](Self::figures).
    #[must_use]
    pub fn failure_rate(&self) -> f64 {
        self.figures.failure_rate()
    }

    /// The slow-call rate of [`figures`](Self::figures).
    #[must_use]
    pub fn slow_call_rate(&self) -> f64 {
        self.figures.slow_call_rate()
    }
}

struct Inner<K, O> {
    state: Padded<AtomicU64>,
    /// When an open breaker may admit trials. Written only by the thread
    /// publishing a transition to open, before the state word.
    open_until: AtomicU64,
    /// When a half-open breaker gives up and reopens, valid for the
    /// generation in `half_open_gen` (written after it, by the thread that
    /// entered half-open, so the move from open to half-open is one
    /// compare-and-swap of the state word).
    half_open_until: AtomicU64,
    half_open_gen: AtomicU32,
    consecutive_opens: AtomicU32,
    results: AtomicU64,
    rejected: Tally,
    window: Window,
    config: BreakerConfig,
    failure_q32: u64,
    slow_q32: u64,
    slow_nanos: u64,
    /// Whether a call's start time is needed (slow-call tracking).
    timed_calls: bool,
    /// Whether recording reads the clock (slow calls or a time window).
    record_reads_clock: bool,
    /// Whether an open breaker may check its wait on the clock's coarse
    /// reading: when the clock's coarse lag is at most 1/25 of the shortest
    /// open wait (4 %; waits of 250 ms and more on `MonotonicClock`).
    coarse_open: bool,
    clock: K,
    observer: O,
}

/// A circuit breaker; clones share one breaker.
///
/// Build with [`new`](Self::new) (real clock), [`with_clock`](Self::with_clock)
/// or [`with_observer`](Self::with_observer). See the [module docs](self).
///
/// Async use:
///
/// ```
/// use steadfast_guard::breaker::{BreakerConfig, CircuitBreaker};
///
/// let breaker = CircuitBreaker::new(BreakerConfig::default());
/// let answer = futures::executor::block_on(breaker.call_async(async { Ok::<_, std::io::Error>(42) }));
/// assert_eq!(answer.unwrap(), 42);
/// ```
pub struct CircuitBreaker<K: Clock = MonotonicClock, O: Observer<BreakerEvent> = ()> {
    inner: Arc<Inner<K, O>>,
}

impl<K: Clock, O: Observer<BreakerEvent>> Clone for CircuitBreaker<K, O> {
    fn clone(&self) -> Self {
        CircuitBreaker {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<K: Clock, O: Observer<BreakerEvent>> fmt::Debug for CircuitBreaker<K, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("metrics", &self.metrics())
            .finish()
    }
}

impl CircuitBreaker<MonotonicClock, ()> {
    /// A breaker on the real monotonic clock.
    #[must_use]
    pub fn new(config: BreakerConfig) -> CircuitBreaker<MonotonicClock, ()> {
        CircuitBreaker::with_observer(config, MonotonicClock::new(), ())
    }
}

impl<K: Clock> CircuitBreaker<K, ()> {
    /// A breaker reading `clock`.
    #[must_use]
    pub fn with_clock(config: BreakerConfig, clock: K) -> CircuitBreaker<K, ()> {
        CircuitBreaker::with_observer(config, clock, ())
    }
}

/// Which permit this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PermitKind {
    Closed,
    Trial,
    /// Disabled breaker: nothing is recorded.
    Untracked,
}

/// What a slow admission path decided, in two words: it comes back in
/// registers, and [`try_acquire`](CircuitBreaker::try_acquire) builds its
/// `Result` from them inline. A `Result<Permit, Rejected>` returned through
/// memory instead is stored in pieces and read back whole, a stall (a
/// failed store-to-load forward) on every closed-state call.
#[derive(Debug, Clone, Copy)]
struct Admission {
    /// Admitted: the generation above the permit kind's code; rejected:
    /// [`REJECTED`] and the rejecting state's code.
    tag: u64,
    /// Admitted: when the call started (nanoseconds); rejected: the retry
    /// wait in nanoseconds, `u64::MAX` for none.
    value: u64,
}

const REJECTED: u64 = 1 << 63;
const NO_RETRY_AFTER: u64 = u64::MAX;

/// The tag of a permit of `kind` issued in generation `generation_now`.
#[inline]
fn permit_tag(generation_now: u32, kind: PermitKind) -> u64 {
    let code = match kind {
        PermitKind::Closed => 0,
        PermitKind::Trial => 1,
        PermitKind::Untracked => 2,
    };
    (u64::from(generation_now) << 8) | code
}

/// The generation in an admitted [`Admission`]'s (or a permit's) tag.
#[inline]
fn tag_generation(tag: u64) -> u32 {
    (tag >> 8) as u32
}

/// The permit kind in an admitted [`Admission`]'s (or a permit's) tag.
#[inline]
fn tag_kind(tag: u64) -> PermitKind {
    match tag & 0xff {
        0 => PermitKind::Closed,
        1 => PermitKind::Trial,
        _ => PermitKind::Untracked,
    }
}

impl Admission {
    #[inline]
    fn admitted(word: u64, kind: PermitKind, started: Timestamp) -> Admission {
        Admission {
            tag: permit_tag(generation(word), kind),
            value: started.as_nanos(),
        }
    }

    #[inline]
    fn rejected_open(remaining_nanos: u64) -> Admission {
        Admission {
            tag: REJECTED | OPEN,
            value: remaining_nanos.min(NO_RETRY_AFTER - 1),
        }
    }

    /// A rejection; a wait beyond `u64::MAX - 1` nanoseconds (584 years)
    /// is reported as that.
    fn rejected(state: BreakerState, retry_after: Option<Duration>) -> Admission {
        let code = match state {
            BreakerState::Closed => CLOSED,
            BreakerState::Open => OPEN,
            BreakerState::HalfOpen => HALF_OPEN,
            BreakerState::ForcedOpen => FORCED_OPEN,
            BreakerState::Disabled => DISABLED,
        };
        let value = retry_after.map_or(NO_RETRY_AFTER, |d| {
            u64::try_from(d.as_nanos()).map_or(NO_RETRY_AFTER - 1, |n| n.min(NO_RETRY_AFTER - 1))
        });
        Admission {
            tag: REJECTED | code,
            value,
        }
    }

    #[inline]
    fn into_result<K: Clock, O: Observer<BreakerEvent>>(
        self,
        inner: &Inner<K, O>,
    ) -> Result<Permit<'_, K, O>, Rejected> {
        if self.tag & REJECTED == 0 {
            Ok(Permit {
                inner,
                tag: self.tag,
                started: Timestamp::from_nanos(self.value),
            })
        } else {
            Err(Rejected {
                state: state_of(self.tag),
                retry_after: (self.value != NO_RETRY_AFTER)
                    .then(|| Duration::from_nanos(self.value)),
            })
        }
    }
}

/// Permission to make one call; record its outcome on it.
///
/// Dropping a permit without recording gives a half-open trial slot back
/// (as [`Outcome::Ignored`] does), so a cancelled or panicking call never
/// leaves the breaker stuck.
///
/// ```
/// use steadfast_guard::breaker::{BreakerConfig, CircuitBreaker, Outcome};
///
/// let breaker = CircuitBreaker::new(BreakerConfig::default());
/// match breaker.try_acquire() {
///     Ok(permit) => {
///         let reply: Result<u16, ()> = Ok(200); // make the call here
///         permit.record(if reply.is_ok() { Outcome::Success } else { Outcome::Failure });
///     }
///     Err(rejected) => println!("not now; retry after {:?}", rejected.retry_after),
/// }
/// ```
#[must_use = "record the call's outcome on the permit (dropping it ignores the call)"]
pub struct Permit<'a, K: Clock, O: Observer<BreakerEvent>> {
    inner: &'a Inner<K, O>,
    /// The generation above the kind's code (see [`Admission`]): whole
    /// words only, so that a permit kept in memory across the call is
    /// stored and read back in the same pieces.
    tag: u64,
    started: Timestamp,
}

impl<K: Clock, O: Observer<BreakerEvent>> fmt::Debug for Permit<'_, K, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("generation", &self.generation())
            .field("kind", &self.kind())
            .field("started", &self.started)
            .finish()
    }
}

impl<K: Clock, O: Observer<BreakerEvent>> Permit<'_, K, O> {
    /// Records the outcome of the call.
    #[inline]
    pub fn record(self, outcome: Outcome) {
        let (inner, tag, started) = (self.inner, self.tag, self.started);
        // Recorded: nothing is left for `Drop` to give back.
        std::mem::forget(self);
        inner.record(tag_generation(tag), tag_kind(tag), started, outcome);
    }

    #[inline]
    fn kind(&self) -> PermitKind {
        tag_kind(self.tag)
    }

    /// Records a success.
    #[inline]
    pub fn success(self) {
        self.record(Outcome::Success);
    }

    /// Records a failure.
    #[inline]
    pub fn failure(self) {
        self.record(Outcome::Failure);
    }

    /// Whether this permit is a half-open trial.
    #[must_use]
    pub fn is_trial(&self) -> bool {
        self.kind() == PermitKind::Trial
    }

    /// The generation (state epoch) the permit was issued in.
    #[must_use]
    pub fn generation(&self) -> u32 {
        tag_generation(self.tag)
    }

    /// Parts this permit into what it holds, without releasing anything,
    /// so that a future owning a handle on the breaker can keep it without
    /// borrowing; [`CircuitBreaker::resume_permit`] puts it back together.
    #[inline]
    pub(crate) fn detach(self) -> DetachedPermit {
        let detached = DetachedPermit {
            tag: self.tag,
            started: self.started,
        };
        std::mem::forget(self);
        detached
    }
}

/// A [`Permit`] taken apart by [`Permit::detach`]: it still holds its call's
/// place (a half-open trial slot) until resumed and recorded or dropped.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DetachedPermit {
    tag: u64,
    started: Timestamp,
}

impl<K: Clock, O: Observer<BreakerEvent>> Drop for Permit<'_, K, O> {
    fn drop(&mut self) {
        if self.kind() == PermitKind::Trial {
            self.inner.release(self.generation());
        }
    }
}

/// A [`Permit`] that owns a handle on its breaker: `'static`, movable to
/// another thread or task (a tower service's future, a `poll_ready` that
/// acquires before `call`). Same rules: record on it, or drop it to give a
/// half-open trial slot back.
///
/// ```
/// use steadfast_guard::breaker::{BreakerConfig, CircuitBreaker};
///
/// let breaker = CircuitBreaker::new(BreakerConfig::default());
/// let permit = breaker.try_acquire_owned().expect("closed");
/// std::thread::spawn(move || permit.success()).join().unwrap();
/// assert_eq!(breaker.metrics().figures.calls, 1);
/// ```
#[must_use = "record the call's outcome on the permit (dropping it ignores the call)"]
pub struct OwnedPermit<K: Clock, O: Observer<BreakerEvent>> {
    inner: Arc<Inner<K, O>>,
    generation: u32,
    kind: PermitKind,
    started: Timestamp,
    recorded: bool,
}

impl<K: Clock, O: Observer<BreakerEvent>> fmt::Debug for OwnedPermit<K, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedPermit")
            .field("generation", &self.generation)
            .field("kind", &self.kind)
            .field("started", &self.started)
            .finish()
    }
}

impl<K: Clock, O: Observer<BreakerEvent>> OwnedPermit<K, O> {
    /// Records the outcome of the call.
    pub fn record(mut self, outcome: Outcome) {
        self.recorded = true;
        self.inner
            .record(self.generation, self.kind, self.started, outcome);
    }

    /// Records a success.
    pub fn success(self) {
        self.record(Outcome::Success);
    }

    /// Records a failure.
    pub fn failure(self) {
        self.record(Outcome::Failure);
    }

    /// Whether this permit is a half-open trial.
    #[must_use]
    pub fn is_trial(&self) -> bool {
        self.kind == PermitKind::Trial
    }

    /// The generation (state epoch) the permit was issued in.
    #[must_use]
    pub fn generation(&self) -> u32 {
        self.generation
    }
}

impl<K: Clock, O: Observer<BreakerEvent>> Drop for OwnedPermit<K, O> {
    fn drop(&mut self) {
        if !self.recorded && self.kind == PermitKind::Trial {
            self.inner.release(self.generation);
        }
    }
}

impl<K: Clock, O: Observer<BreakerEvent>> CircuitBreaker<K, O> {
    /// A breaker reading `clock` and reporting transitions to `observer`.
    #[must_use]
    pub fn with_observer(config: BreakerConfig, clock: K, observer: O) -> CircuitBreaker<K, O> {
        let window = match config.window {
            WindowKind::Count { size } => Window::Count(CountWindow::new(size)),
            WindowKind::Time { duration, buckets } => {
                let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
                Window::Time(TimeWindow::new(buckets, nanos / u64::from(buckets)))
            }
        };
        let (slow_nanos, slow_q32) = match config.slow_call {
            Some((d, rate)) => (
                u64::try_from(d.as_nanos()).unwrap_or(u64::MAX),
                to_q32(rate),
            ),
            None => (u64::MAX, u64::MAX),
        };
        CircuitBreaker {
            inner: Arc::new(Inner {
                state: Padded(AtomicU64::new(state_word(CLOSED, false, 0, 0))),
                open_until: AtomicU64::new(u64::MAX),
                half_open_until: AtomicU64::new(u64::MAX),
                half_open_gen: AtomicU32::new(u32::MAX),
                consecutive_opens: AtomicU32::new(0),
                results: AtomicU64::new(0),
                rejected: Tally::default(),
                window,
                failure_q32: to_q32(config.failure_rate_threshold),
                slow_q32,
                slow_nanos,
                timed_calls: config.slow_call.is_some(),
                record_reads_clock: config.slow_call.is_some()
                    || matches!(config.window, WindowKind::Time { .. }),
                // The shortest open wait decides.
                coarse_open: coarse_suffices(&clock, config.open_wait.after_opening(1).as_nanos()),
                config,
                clock,
                observer,
            }),
        }
    }

    /// The permit `detached` was taken from, whole again.
    #[inline]
    pub(crate) fn resume_permit(&self, detached: DetachedPermit) -> Permit<'_, K, O> {
        Permit {
            inner: &self.inner,
            tag: detached.tag,
            started: detached.started,
        }
    }

    /// Asks to make one call.
    ///
    /// # Errors
    ///
    /// [`Rejected`] when the breaker is open (before its wait is over),
    /// forced open, or half-open with every trial slot taken.
    #[inline]
    pub fn try_acquire(&self) -> Result<Permit<'_, K, O>, Rejected> {
        let inner = &*self.inner;
        let word = inner.state.load(Ordering::Acquire);
        // Every path decides in two words, and the `Result` is built once,
        // here, from them: a `Result` merged from several paths in memory
        // is stored in pieces and read back whole, a stall (a failed
        // store-to-load forward) on every call. The closed path stays
        // inline; the others are one call away and come back in registers.
        let admission = if word & (KIND_MASK | BUSY) == CLOSED && !inner.timed_calls {
            Admission::admitted(word, PermitKind::Closed, Timestamp::ZERO)
        } else {
            inner.acquire_other(word)
        };
        admission.into_result(inner)
    }

    /// Like [`try_acquire`](Self::try_acquire), with a permit that owns a
    /// handle on the breaker (one reference-count increment more).
    ///
    /// # Errors
    ///
    /// As [`try_acquire`](Self::try_acquire).
    pub fn try_acquire_owned(&self) -> Result<OwnedPermit<K, O>, Rejected> {
        let permit = self.try_acquire()?.detach();
        // The owned permit takes over the obligation to record or release.
        Ok(OwnedPermit {
            inner: Arc::clone(&self.inner),
            generation: tag_generation(permit.tag),
            kind: tag_kind(permit.tag),
            started: permit.started,
            recorded: false,
        })
    }

    /// Runs `op` if admitted, counting `Err` as a failure.
    ///
    /// # Errors
    ///
    /// [`BreakerError::Rejected`] if not admitted (then `op` does not run),
    /// [`BreakerError::Inner`] with `op`'s error.
    ///
    /// ```
    /// use steadfast_guard::breaker::{BreakerConfig, CircuitBreaker};
    /// let breaker = CircuitBreaker::new(BreakerConfig::default());
    /// let sum = breaker.call(|| Ok::<_, std::num::ParseIntError>("40".parse::<u32>()? + 2));
    /// assert_eq!(sum.unwrap(), 42);
    /// ```
    pub fn call<T, E>(&self, op: impl FnOnce() -> Result<T, E>) -> Result<T, BreakerError<E>> {
        self.call_with(op, Outcome::of)
    }

    /// Runs `op` if admitted, counting its result as `classify` says.
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call).
    ///
    /// ```
    /// use steadfast_guard::breaker::{BreakerConfig, BreakerState, CircuitBreaker, Outcome};
    /// let breaker = CircuitBreaker::new(BreakerConfig::default());
    /// // A 503 with "shutting down" opens the breaker at once.
    /// let reply = breaker.call_with(|| Ok::<_, ()>(503), |r| match r {
    ///     Ok(503) => Outcome::TripOpen,
    ///     Ok(404) => Outcome::Ignored,
    ///     other => Outcome::of(other),
    /// });
    /// assert_eq!(reply, Ok(503));
    /// assert_eq!(breaker.state(), BreakerState::Open);
    /// ```
    pub fn call_with<T, E>(
        &self,
        op: impl FnOnce() -> Result<T, E>,
        classify: impl FnOnce(&Result<T, E>) -> Outcome,
    ) -> Result<T, BreakerError<E>> {
        let permit = self.try_acquire().map_err(BreakerError::Rejected)?;
        let result = op();
        permit.record(classify(&result));
        result.map_err(BreakerError::Inner)
    }

    /// Awaits `future` if admitted, counting `Err` as a failure. If the
    /// returned future is dropped early, the call is ignored.
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call); when rejected, `future` is dropped unpolled.
    pub async fn call_async<T, E>(
        &self,
        future: impl Future<Output = Result<T, E>>,
    ) -> Result<T, BreakerError<E>> {
        self.call_async_with(future, Outcome::of).await
    }

    /// Awaits `future` if admitted, counting its result as `classify` says.
    ///
    /// # Errors
    ///
    /// As [`call_async`](Self::call_async).
    pub async fn call_async_with<T, E>(
        &self,
        future: impl Future<Output = Result<T, E>>,
        classify: impl FnOnce(&Result<T, E>) -> Outcome,
    ) -> Result<T, BreakerError<E>> {
        let permit = self.try_acquire().map_err(BreakerError::Rejected)?;
        let result = future.await;
        permit.record(classify(&result));
        result.map_err(BreakerError::Inner)
    }

    /// The current state.
    #[must_use]
    pub fn state(&self) -> BreakerState {
        state_of(self.inner.state.load(Ordering::Acquire))
    }

    /// Applies the transitions that time alone makes due, and returns the
    /// state: open to half-open once the open wait has elapsed, half-open
    /// back to open once its maximum wait has.
    ///
    /// Without this, those transitions happen when the next call asks for a
    /// permit (Resilience4j's default too), so an idle breaker shows `Open`
    /// long after its wait. Call `refresh` from a timer to have it move on
    /// its own, as Resilience4j's
    /// `automaticTransitionFromOpenToHalfOpenEnabled` does: dashboards and
    /// observers then see half-open when it is due. Entering half-open this
    /// way takes no trial; the next calls take them. Cheap when nothing is
    /// due (one load, and one clock read while open or half-open).
    ///
    /// ```
    /// use std::time::Duration;
    /// use steadfast_core::ManualClock;
    /// use steadfast_guard::breaker::{BreakerConfig, BreakerState, CircuitBreaker};
    ///
    /// let clock = ManualClock::new();
    /// let config = BreakerConfig::builder()
    ///     .count_window(1)
    ///     .wait_in_open(Duration::from_secs(5))
    ///     .build()?;
    /// let breaker = CircuitBreaker::with_clock(config, clock.clone());
    /// breaker.try_acquire().unwrap().failure();
    /// assert_eq!(breaker.refresh(), BreakerState::Open);
    /// clock.advance(Duration::from_secs(5));
    /// // No call came, yet the wait is over.
    /// assert_eq!(breaker.refresh(), BreakerState::HalfOpen);
    /// assert_eq!(breaker.metrics().trials_taken, 0);
    /// # Ok::<(), steadfast_core::ConfigError>(())
    /// ```
    pub fn refresh(&self) -> BreakerState {
        self.inner.refresh();
        self.state()
    }

    /// Whether a call made `delay` from now would surely be refused: the
    /// breaker is forced open, or open with more than `delay` of its wait
    /// left. A peek, for a retry deciding whether to sleep at all; a call
    /// still asks [`try_acquire`](Self::try_acquire).
    pub(crate) fn refuses_after(&self, delay: Duration) -> bool {
        let inner = &*self.inner;
        match inner.state.load(Ordering::Acquire) & KIND_MASK {
            FORCED_OPEN => true,
            OPEN => {
                let at = inner.clock.now().saturating_add(delay);
                at.as_nanos() < inner.open_until.load(Ordering::Acquire)
            }
            _ => false,
        }
    }

    /// A snapshot of the state and figures.
    #[must_use]
    pub fn metrics(&self) -> BreakerMetrics {
        let inner = &*self.inner;
        let word = inner.state.load(Ordering::Acquire);
        let state = state_of(word);
        let figures = if state == BreakerState::HalfOpen {
            let (g, total, failures, slow) = unpack_results(inner.results.load(Ordering::Acquire));
            if g == generation(word) {
                WindowFigures::new(total, failures, slow)
            } else {
                WindowFigures::default()
            }
        } else {
            let now = match inner.window {
                Window::Time(_) => inner.clock.now(),
                Window::Count(_) => Timestamp::ZERO,
            };
            inner.window.figures(now)
        };
        BreakerMetrics {
            state,
            figures,
            rejected: inner.rejected.sum(),
            trials_taken: if state == BreakerState::HalfOpen {
                issued(word)
            } else {
                0
            },
        }
    }

    /// The settings.
    #[must_use]
    pub fn config(&self) -> &BreakerConfig {
        &self.inner.config
    }

    /// Operator: rejects every call until another manual transition.
    pub fn force_open(&self) {
        self.inner.manual(FORCED_OPEN);
    }

    /// Operator: admits every call, counting nothing, until another manual transition.
    pub fn disable(&self) {
        self.inner.manual(DISABLED);
    }

    /// Operator: closes with an empty window and resets the exponential open wait.
    pub fn close(&self) {
        self.inner.manual(CLOSED);
    }

    /// Operator: opens now, for the configured open wait.
    pub fn open(&self) {
        self.inner.manual(OPEN);
    }

    /// Operator: moves to half-open now.
    pub fn half_open(&self) {
        self.inner.manual(HALF_OPEN);
    }
}

impl<K: Clock, O: Observer<BreakerEvent>> Inner<K, O> {
    #[inline]
    fn reject(&self, state: BreakerState, retry_after: Option<Duration>) -> Admission {
        self.rejected.add_one();
        Admission::rejected(state, retry_after)
    }

    /// Admission in every case but an untimed closed breaker's.
    #[inline(never)]
    fn acquire_other(&self, word: u64) -> Admission {
        if word & (KIND_MASK | BUSY) == CLOSED {
            return Admission::admitted(word, PermitKind::Closed, self.clock.now());
        }
        if word & (KIND_MASK | BUSY) == OPEN {
            // An open breaker's rejection: one clock read (a coarse one
            // when the open wait is long enough for it), one compare.
            let now = if self.coarse_open {
                self.clock.now_coarse()
            } else {
                self.clock.now()
            };
            let until = self.open_until.load(Ordering::Acquire);
            if now.as_nanos() < until {
                self.rejected.add_one();
                return Admission::rejected_open(until - now.as_nanos());
            }
            // The wait is over (a coarse reading is never ahead): the
            // transition and the trial's start take the precise time.
            let now = if self.coarse_open {
                self.clock.now()
            } else {
                now
            };
            return self.acquire_after_open_wait(word, now);
        }
        self.acquire_slow(word)
    }

    /// The open wait is over at `now`: moves from `word` (open) to
    /// half-open with this call as the first trial, in one compare-and-swap
    /// of the state word, so no caller ever sees a half-published state.
    #[cold]
    fn acquire_after_open_wait(&self, word: u64, now: Timestamp) -> Admission {
        let next_gen = generation(word).wrapping_add(1);
        let new = state_word(HALF_OPEN, false, 1, next_gen);
        match self
            .state
            .compare_exchange(word, new, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => {
                // The trial results of `next_gen` start from zero lazily
                // (see `record_trial`); only the half-open deadline and the
                // event remain, and neither gates admission.
                if let Some(wait) = self.config.max_wait_in_half_open {
                    self.half_open_until
                        .store(now.saturating_add(wait).as_nanos(), Ordering::Relaxed);
                    self.half_open_gen.store(next_gen, Ordering::Release);
                }
                self.observer.on_event(&BreakerEvent {
                    at: now,
                    from: BreakerState::Open,
                    to: BreakerState::HalfOpen,
                    reason: TransitionReason::WaitElapsed,
                    figures: self.window.figures(now),
                    open_for: None,
                });
                Admission::admitted(new, PermitKind::Trial, now)
            }
            // Another call moved first (it took the first trial, or an
            // operator changed the state): decide again on what it published.
            Err(actual) => self.acquire_slow(actual),
        }
    }

    /// When the current half-open generation `gen` gives up, if it does.
    fn half_open_deadline(&self, generation_now: u32) -> Option<Timestamp> {
        // The generation is written after the deadline: a match means the
        // deadline is this generation's (or a later one's, in which case the
        // caller's compare-and-swap on the stale state word fails anyway).
        if self.half_open_gen.load(Ordering::Acquire) == generation_now {
            let until = self.half_open_until.load(Ordering::Relaxed);
            (until != u64::MAX).then_some(Timestamp::from_nanos(until))
        } else {
            // Not written yet (the state began an instant ago) or no limit.
            None
        }
    }

    #[cold]
    fn acquire_slow(&self, mut word: u64) -> Admission {
        let mut now = None;
        let mut now = || *now.get_or_insert_with(|| self.clock.now());
        loop {
            if word & BUSY != 0 {
                // Another thread is publishing a transition (a few
                // instructions). Say when to come back as the new state
                // would: an opening's wait (from the count of openings,
                // which that thread may not have bumped yet: at worst the
                // previous opening's wait), none when forced open, at once
                // otherwise.
                let retry_after = match word & KIND_MASK {
                    OPEN => Some(
                        self.config
                            .open_wait
                            .after_opening(self.consecutive_opens.load(Ordering::Relaxed).max(1)),
                    ),
                    FORCED_OPEN => None,
                    _ => Some(Duration::ZERO),
                };
                return self.reject(state_of(word), retry_after);
            }
            match word & KIND_MASK {
                CLOSED => {
                    let started = if self.timed_calls {
                        now()
                    } else {
                        Timestamp::ZERO
                    };
                    return Admission::admitted(word, PermitKind::Closed, started);
                }
                DISABLED => {
                    return Admission::admitted(word, PermitKind::Untracked, Timestamp::ZERO);
                }
                FORCED_OPEN => return self.reject(BreakerState::ForcedOpen, None),
                OPEN => {
                    let t = now();
                    let until = self.open_until.load(Ordering::Acquire);
                    if t.as_nanos() < until {
                        self.rejected.add_one();
                        return Admission::rejected(
                            BreakerState::Open,
                            Some(Duration::from_nanos(until - t.as_nanos())),
                        );
                    }
                    return self.acquire_after_open_wait(word, t);
                }
                _ => {
                    // Half-open.
                    if let Some(deadline) = self.half_open_deadline(generation(word)) {
                        let t = now();
                        if t >= deadline {
                            self.transition(
                                word,
                                OPEN,
                                TransitionReason::HalfOpenTimedOut,
                                t,
                                false,
                            );
                            word = self.state.load(Ordering::Acquire);
                            continue;
                        }
                    }
                    let taken = issued(word);
                    if taken >= self.config.half_open_trials {
                        return self.reject(BreakerState::HalfOpen, None);
                    }
                    let new = word + (1 << ISSUED_SHIFT);
                    match self.state.compare_exchange_weak(
                        word,
                        new,
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    ) {
                        Ok(_) => {
                            let started = if self.timed_calls {
                                now()
                            } else {
                                Timestamp::ZERO
                            };
                            return Admission::admitted(new, PermitKind::Trial, started);
                        }
                        Err(actual) => {
                            word = actual;
                            continue;
                        }
                    }
                }
            }
        }
    }

    /// Moves from exactly `from` to `to`. Returns the published word, or
    /// `None` if `from` was no longer current.
    fn transition(
        &self,
        from: u64,
        to: u64,
        reason: TransitionReason,
        now: Timestamp,
        take_trial: bool,
    ) -> Option<u64> {
        let next_gen = generation(from).wrapping_add(1);
        let busy = state_word(to, true, 0, next_gen);
        self.state
            .compare_exchange(from, busy, Ordering::AcqRel, Ordering::Acquire)
            .ok()?;
        // This thread alone publishes generation `next_gen`.
        let figures = if from & KIND_MASK == HALF_OPEN {
            let (g, total, failures, slow) = unpack_results(self.results.load(Ordering::Acquire));
            if g == generation(from) {
                WindowFigures::new(total, failures, slow)
            } else {
                WindowFigures::default()
            }
        } else {
            self.window.figures(now)
        };
        let mut open_for = None;
        match to {
            OPEN => {
                let opening = self
                    .consecutive_opens
                    .fetch_add(1, Ordering::Relaxed)
                    .saturating_add(1);
                let wait = self.config.open_wait.after_opening(opening);
                open_for = Some(wait);
                self.open_until
                    .store(now.saturating_add(wait).as_nanos(), Ordering::Release);
            }
            HALF_OPEN => {
                if let Some(wait) = self.config.max_wait_in_half_open {
                    self.half_open_until
                        .store(now.saturating_add(wait).as_nanos(), Ordering::Relaxed);
                    self.half_open_gen.store(next_gen, Ordering::Release);
                }
            }
            CLOSED => {
                self.window.reset();
                self.consecutive_opens.store(0, Ordering::Relaxed);
            }
            _ => {}
        }
        let published = state_word(to, false, u32::from(take_trial), next_gen);
        self.state.store(published, Ordering::Release);
        self.observer.on_event(&BreakerEvent {
            at: now,
            from: state_of(from),
            to: state_of(to),
            reason,
            figures,
            open_for,
        });
        Some(published)
    }

    /// See [`CircuitBreaker::refresh`]. A transition that loses its
    /// compare-and-swap lost to a call or an operator that moved first.
    fn refresh(&self) {
        let word = self.state.load(Ordering::Acquire);
        if word & BUSY != 0 {
            // Another transition is being published.
            return;
        }
        match word & KIND_MASK {
            OPEN => {
                let t = self.clock.now();
                if t.as_nanos() >= self.open_until.load(Ordering::Acquire) {
                    let _ =
                        self.transition(word, HALF_OPEN, TransitionReason::WaitElapsed, t, false);
                }
            }
            HALF_OPEN => {
                if let Some(deadline) = self.half_open_deadline(generation(word)) {
                    let t = self.clock.now();
                    if t >= deadline {
                        let _ = self.transition(
                            word,
                            OPEN,
                            TransitionReason::HalfOpenTimedOut,
                            t,
                            false,
                        );
                    }
                }
            }
            _ => {}
        }
    }

    fn manual(&self, to: u64) {
        let now = self.clock.now();
        loop {
            let word = self.state.load(Ordering::Acquire);
            if word & BUSY != 0 {
                std::thread::yield_now();
                continue;
            }
            if self
                .transition(word, to, TransitionReason::Manual, now, false)
                .is_some()
            {
                return;
            }
        }
    }

    /// Gives a half-open trial slot back.
    fn release(&self, generation_of_permit: u32) {
        let mut word = self.state.load(Ordering::Acquire);
        while word & (KIND_MASK | BUSY) == HALF_OPEN
            && generation(word) == generation_of_permit
            && issued(word) > 0
        {
            match self.state.compare_exchange_weak(
                word,
                word - (1 << ISSUED_SHIFT),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(actual) => word = actual,
            }
        }
    }

    #[inline]
    fn record(
        &self,
        generation_of_permit: u32,
        kind: PermitKind,
        started: Timestamp,
        outcome: Outcome,
    ) {
        // The healthy path, first: an untimed success into a count window
        // full of successes changes nothing, whatever the state and the
        // generation (see `CountWindow::record`), so it reads nothing else.
        if kind == PermitKind::Closed
            && matches!(outcome, Outcome::Success)
            && !self.timed_calls
            && let Window::Count(w) = &self.window
            && w.full_of_successes()
        {
            return;
        }
        self.record_changing(generation_of_permit, kind, started, outcome);
    }

    /// [`record`](Self::record) of an outcome that may change the figures.
    #[inline(never)]
    fn record_changing(
        &self,
        generation_of_permit: u32,
        kind: PermitKind,
        started: Timestamp,
        outcome: Outcome,
    ) {
        let bits = match outcome {
            Outcome::Success => CALL,
            Outcome::Failure => CALL | FAIL,
            Outcome::Ignored => {
                if kind == PermitKind::Trial {
                    self.release(generation_of_permit);
                }
                return;
            }
            Outcome::TripOpen => {
                if kind != PermitKind::Untracked {
                    self.trip(generation_of_permit);
                }
                return;
            }
        };
        let now = if self.record_reads_clock {
            self.clock.now()
        } else {
            Timestamp::ZERO
        };
        let bits = if self.timed_calls
            && now.saturating_duration_since(started).as_nanos() >= u128::from(self.slow_nanos)
        {
            bits | SLOW
        } else {
            bits
        };
        match kind {
            PermitKind::Closed => self.record_closed(generation_of_permit, bits, now),
            PermitKind::Trial => self.record_trial(generation_of_permit, bits, now),
            PermitKind::Untracked => {}
        }
    }

    #[inline]
    fn record_closed(&self, generation_of_permit: u32, bits: u8, now: Timestamp) {
        let word = self.state.load(Ordering::Acquire);
        if word & (KIND_MASK | BUSY) != CLOSED || generation(word) != generation_of_permit {
            return; // A late result from an earlier state.
        }
        let figures = match &self.window {
            Window::Count(w) => match w.record(bits) {
                Some(figures) => figures,
                None => return,
            },
            Window::Time(w) => {
                // Every outcome is checked, successes too (as Resilience4j
                // does): a success can complete the minimum number of calls,
                // or be slow.
                w.record(now, bits);
                w.figures(now)
            }
        };
        if figures.calls < self.config.minimum_calls {
            return;
        }
        let reason = if reaches(figures.failures, figures.calls, self.failure_q32) {
            TransitionReason::FailureRateExceeded
        } else if reaches(figures.slow_calls, figures.calls, self.slow_q32) {
            TransitionReason::SlowCallRateExceeded
        } else {
            return;
        };
        let now = if self.record_reads_clock {
            now
        } else {
            self.clock.now()
        };
        self.transition(word, OPEN, reason, now, false);
    }

    fn record_trial(&self, generation_of_permit: u32, bits: u8, now: Timestamp) {
        let mut current = self.results.load(Ordering::Acquire);
        let (total, failures, slow) = loop {
            let (g, total, failures, slow) = unpack_results(current);
            // The results word is reset lazily: one from another generation
            // counts as zero while the permit's generation is still the
            // current half-open one.
            let (total, failures, slow) = if g == generation_of_permit {
                (total, failures, slow)
            } else {
                let word = self.state.load(Ordering::Acquire);
                if word & (KIND_MASK | BUSY) != HALF_OPEN
                    || generation(word) != generation_of_permit
                {
                    return; // A late result from an earlier state.
                }
                (0, 0, 0)
            };
            if total >= self.config.half_open_trials {
                return; // A late result from an earlier state.
            }
            let next = (
                total + 1,
                failures + u32::from(bits & FAIL != 0),
                slow + u32::from(bits & SLOW != 0),
            );
            match self.results.compare_exchange_weak(
                current,
                results_word(generation_of_permit, next.0, next.1, next.2),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break next,
                Err(actual) => current = actual,
            }
        };
        if total < self.config.half_open_trials {
            return;
        }
        let (to, reason) = if reaches(failures, total, self.failure_q32) {
            (OPEN, TransitionReason::FailureRateExceeded)
        } else if reaches(slow, total, self.slow_q32) {
            (OPEN, TransitionReason::SlowCallRateExceeded)
        } else {
            (CLOSED, TransitionReason::TrialsPassed)
        };
        let now = if self.timed_calls {
            now
        } else {
            self.clock.now()
        };
        let mut word = self.state.load(Ordering::Acquire);
        // The issued count may change under us (acquires, releases): retry.
        while word & (KIND_MASK | BUSY) == HALF_OPEN && generation(word) == generation_of_permit {
            if self.transition(word, to, reason, now, false).is_some() {
                return;
            }
            word = self.state.load(Ordering::Acquire);
        }
    }

    fn trip(&self, generation_of_permit: u32) {
        let now = self.clock.now();
        let mut word = self.state.load(Ordering::Acquire);
        loop {
            let kind = word & (KIND_MASK | BUSY);
            if !(kind == CLOSED || kind == HALF_OPEN) || generation(word) != generation_of_permit {
                return;
            }
            if self
                .transition(word, OPEN, TransitionReason::TrippedByOutcome, now, false)
                .is_some()
            {
                return;
            }
            word = self.state.load(Ordering::Acquire);
        }
    }
}

#[cfg(all(test, steadfast_loom))]
mod loom_tests {
    use super::*;
    use steadfast_core::ManualClock;

    fn half_open<O: Observer<BreakerEvent>>(
        trials: u32,
        observer: O,
    ) -> CircuitBreaker<ManualClock, O> {
        let config = BreakerConfig::builder()
            .count_window(1)
            .half_open_trials(trials)
            .build()
            .unwrap();
        let breaker = CircuitBreaker::with_observer(config, ManualClock::new(), observer);
        breaker.half_open();
        breaker
    }

    #[test]
    fn loom_half_open_never_admits_more_than_the_trials() {
        loom::model(|| {
            let breaker = half_open(1, ());
            let in_flight = Arc::new(AtomicU32::new(0));
            let try_trial = |b: &CircuitBreaker<ManualClock>, in_flight: &AtomicU32| {
                if let Ok(permit) = b.try_acquire() {
                    let before = in_flight.fetch_add(1, Ordering::AcqRel);
                    assert_eq!(before, 0, "two trials in flight with one allowed");
                    in_flight.fetch_sub(1, Ordering::AcqRel);
                    drop(permit); // gives the slot back
                }
            };
            let (b, f) = (breaker.clone(), in_flight.clone());
            let t = loom::thread::spawn(move || try_trial(&b, &f));
            try_trial(&breaker, &in_flight);
            t.join().unwrap();
            assert_eq!(breaker.metrics().trials_taken, 0, "a released slot leaked");
            assert_eq!(breaker.state(), BreakerState::HalfOpen);
        });
    }

    #[test]
    fn loom_a_call_racing_an_opening_is_told_the_wait() {
        loom::model(|| {
            let config = BreakerConfig::builder()
                .count_window(1)
                .minimum_calls(1)
                .wait_in_open(Duration::from_secs(7))
                .build()
                .unwrap();
            let breaker = CircuitBreaker::with_clock(config, ManualClock::new());
            let b = breaker.clone();
            // One failure fills the window and opens the breaker.
            let t = loom::thread::spawn(move || {
                if let Ok(permit) = b.try_acquire() {
                    permit.failure();
                }
            });
            match breaker.try_acquire() {
                Ok(permit) => drop(permit),
                Err(r) => {
                    assert_eq!(r.state, BreakerState::Open);
                    // Published or being published: the whole wait, never
                    // "retry now".
                    assert_eq!(r.retry_after, Some(Duration::from_secs(7)));
                }
            }
            t.join().unwrap();
        });
    }

    /// Opened by the operator, with its 1 s open wait just over; one trial,
    /// half-open for at most 5 s.
    fn open_wait_over<O: Observer<BreakerEvent>>(observer: O) -> CircuitBreaker<ManualClock, O> {
        let config = BreakerConfig::builder()
            .count_window(1)
            .wait_in_open(Duration::from_secs(1))
            .half_open_trials(1)
            .max_wait_in_half_open(Duration::from_secs(5))
            .build()
            .unwrap();
        let clock = ManualClock::new();
        let breaker = CircuitBreaker::with_observer(config, clock.clone(), observer);
        breaker.open();
        clock.advance(Duration::from_secs(1));
        breaker
    }

    #[test]
    fn loom_open_to_half_open_is_one_step() {
        loom::model(|| {
            let breaker = open_wait_over(());
            let attempt = |b: &CircuitBreaker<ManualClock>| match b.try_acquire() {
                Ok(permit) => {
                    assert!(permit.is_trial());
                    // Give the slot back: recording would publish another
                    // transition (to closed), which this model is not about.
                    drop(permit);
                    true
                }
                Err(r) => {
                    // Never "retry now" from a half-published state.
                    assert_ne!(r.retry_after, Some(Duration::ZERO));
                    false
                }
            };
            let b = breaker.clone();
            let t = loom::thread::spawn(move || attempt(&b));
            let mine = attempt(&breaker);
            let theirs = t.join().unwrap();
            assert!(mine || theirs, "the wait was over: one call is the trial");
        });
    }

    /// Counts transitions into half-open.
    #[derive(Clone, Default)]
    struct HalfOpenings(Arc<AtomicU32>);

    impl Observer<BreakerEvent> for HalfOpenings {
        fn on_event(&self, event: &BreakerEvent) {
            if event.to == BreakerState::HalfOpen {
                self.0.fetch_add(1, Ordering::AcqRel);
            }
        }
    }

    #[test]
    fn loom_refresh_racing_a_call_enters_half_open_once() {
        loom::model(|| {
            let openings = HalfOpenings::default();
            let breaker = open_wait_over(openings.clone());
            let b = breaker.clone();
            let t = loom::thread::spawn(move || {
                let _ = b.refresh();
            });
            if let Ok(permit) = breaker.try_acquire() {
                assert!(permit.is_trial());
                drop(permit); // gives the trial back
            }
            t.join().unwrap();
            assert_eq!(openings.0.load(Ordering::Acquire), 1);
            assert_eq!(breaker.state(), BreakerState::HalfOpen);
            assert_eq!(breaker.metrics().trials_taken, 0);
        });
    }

    #[test]
    fn loom_trials_decide_exactly_once() {
        loom::model(|| {
            let closings = Arc::new(AtomicU32::new(0));
            let counter = closings.clone();
            let breaker = half_open(2, move |e: &BreakerEvent| {
                if e.to == BreakerState::Closed {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            });
            let b = breaker.clone();
            let t = loom::thread::spawn(move || b.try_acquire().expect("slot").success());
            breaker.try_acquire().expect("slot").success();
            t.join().unwrap();
            assert_eq!(breaker.state(), BreakerState::Closed);
            assert_eq!(closings.load(Ordering::Relaxed), 1);
        });
    }
}

#[cfg(all(test, not(steadfast_loom)))]
mod admission_tests {
    use super::*;

    #[test]
    fn admissions_come_back_whole_from_their_two_words() {
        let breaker = CircuitBreaker::new(BreakerConfig::default());
        let inner = &*breaker.inner;
        for kind in [PermitKind::Closed, PermitKind::Trial, PermitKind::Untracked] {
            for generation_now in [0, 1, 0x00ab_cdef, u32::MAX] {
                for started in [0, 123, u64::MAX - 1, u64::MAX] {
                    let word = state_word(HALF_OPEN, false, 1, generation_now);
                    let started = Timestamp::from_nanos(started);
                    let permit = Admission::admitted(word, kind, started)
                        .into_result(inner)
                        .expect("admitted");
                    assert_eq!(permit.kind(), kind);
                    assert_eq!(permit.generation(), generation_now);
                    assert_eq!(permit.started, started);
                    let _ = permit.detach();
                }
            }
        }
        let states = [
            BreakerState::Closed,
            BreakerState::Open,
            BreakerState::HalfOpen,
            BreakerState::ForcedOpen,
            BreakerState::Disabled,
        ];
        let longest = Duration::from_nanos(u64::MAX - 1);
        for state in states {
            for (retry_after, expected) in [
                (None, None),
                (Some(Duration::ZERO), Some(Duration::ZERO)),
                (
                    Some(Duration::from_millis(1_500)),
                    Some(Duration::from_millis(1_500)),
                ),
                (Some(longest), Some(longest)),
                (Some(Duration::from_nanos(u64::MAX)), Some(longest)),
                (Some(Duration::MAX), Some(longest)),
            ] {
                let rejected = Admission::rejected(state, retry_after)
                    .into_result(inner)
                    .expect_err("rejected");
                assert_eq!(rejected.state, state);
                assert_eq!(rejected.retry_after, expected, "{state:?} {retry_after:?}");
            }
        }
        assert_eq!(
            Admission::rejected_open(u64::MAX)
                .into_result(inner)
                .expect_err("rejected")
                .retry_after,
            Some(longest)
        );
    }
}
