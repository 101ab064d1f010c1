//! Every guard in one call, in one documented order.
//!
//! A [`Pipeline`] runs a call through the stages it was built with, outside
//! in:
//!
//! 1. **load shedding** ([`LoadShedder`]) and **rate limiting**
//!    ([`RateLimiter`]): once per call, before anything else, so a call that
//!    is turned away costs nothing further and never reaches the breaker.
//!    Retries do not pass here again: the caller's request was admitted once.
//! 2. **total timeout**: bounds the whole call, retries and their backoff
//!    sleeps included, so the caller's latency has a ceiling.
//! 3. **retry** with a backoff and a [`RetryBudget`]: each attempt goes
//!    through every stage below, so the breaker sees (and counts) every
//!    attempt and the budget caps the extra load retries add.
//! 4. **circuit breaker** ([`CircuitBreaker`]): per attempt. An open breaker
//!    ends the call at once (retrying into an open breaker would only burn the
//!    budget); its rejection carries the rest of the open wait. A failed
//!    attempt is not retried while the breaker will still be open when the
//!    backoff ends (that attempt often opened it): the call ends at once with
//!    that attempt's outcome, as when the budget refuses a retry, so the
//!    caller gets the dependency's error rather than a sleep and a refusal.
//!    Only a breaker that opens during the backoff refuses the retry itself.
//! 5. **bulkhead** ([`Bulkhead`]) and/or **adaptive concurrency limit**
//!    ([`AdaptiveLimiter`]): per attempt, inside the breaker so that calls
//!    the breaker refuses never hold or wait for a slot. The adaptive limit
//!    learns from each attempt: a success feeds its round-trip time, a
//!    timed-out attempt counts as dropped, and other failures feed nothing
//!    (they say nothing about load).
//! 6. **per-attempt timeout**: inside the bulkhead, so a slot is never held
//!    longer than one attempt may take; a timed-out attempt counts as a
//!    failure for the breaker and is retried (as a [`RetryKind::Timeout`]).
//! 7. **hedging** ([`Hedger`]): innermost, so hedges of one attempt share its
//!    bulkhead slot, its breaker permit and its timeout.
//!
//! Every stage is optional; a pipeline with none runs the call as it is.
//!
//! The same pipeline serves async calls ([`run`](Pipeline::run),
//! [`run_classified`](Pipeline::run_classified)) and blocking ones
//! ([`call`](Pipeline::call), [`call_classified`](Pipeline::call_classified)),
//! sharing every stage's state. A blocking call cannot be interrupted, so in
//! [`call`](Pipeline::call) the timeouts work by measurement: an attempt
//! that overran the per-attempt timeout counts as timed out when it returns
//! (its result is discarded, as an async attempt would have been
//! cancelled), and no attempt or backoff sleep starts once the total timeout
//! has passed or would pass during the sleep. Hedging applies to async calls
//! only.
//! Rejections come back as one [`PipelineError`] that names the
//! [`Stage`], says whether trying again later can help and, where the stage
//! knows, after how long.
//!
//! ```
//! use std::time::Duration;
//! use steadfast_core::ManualClock;
//! use steadfast_guard::backoff::Backoff;
//! use steadfast_guard::breaker::{BreakerConfig, CircuitBreaker};
//! use steadfast_guard::budget::TokenBucketBudget;
//! use steadfast_guard::bulkhead::{Bulkhead, BulkheadConfig};
//! use steadfast_guard::pipeline::{Pipeline, PipelineError, Stage};
//! use steadfast_guard::rate_limit::{Quota, RateLimiter};
//!
//! let clock = ManualClock::new();
//! let pipeline = Pipeline::builder_with_clock(clock.clone())
//!     .rate_limit(RateLimiter::with_clock(Quota::per_second(1)?, clock.clone()))
//!     .total_timeout(Duration::from_secs(2))
//!     .retry(Backoff::constant(Duration::from_millis(10)).build()?, 3, TokenBucketBudget::aws())
//!     .breaker(CircuitBreaker::with_clock(BreakerConfig::default(), clock.clone()))
//!     .bulkhead(Bulkhead::with_clock(BulkheadConfig::builder().max_concurrent(4).build()?, clock))
//!     .attempt_timeout(Duration::from_millis(500))
//!     .build()?;
//! // A sleeper on any runtime; here one that returns at once.
//! let sleeper = |_: Duration| std::future::ready(());
//!
//! let mut failures = 1;
//! let reply = futures::executor::block_on(pipeline.run(&sleeper, || {
//!     let fail = failures > 0;
//!     failures -= 1;
//!     async move { if fail { Err("flaky") } else { Ok("pong") } }
//! }));
//! assert_eq!(reply, Ok("pong")); // the second attempt succeeded
//!
//! // One call per second: the next one is turned away before the breaker.
//! let err = futures::executor::block_on(pipeline.run(&sleeper, || async { Ok::<_, ()>(()) }))
//!     .unwrap_err();
//! assert_eq!(err.stage(), Stage::RateLimit);
//! assert!(err.is_temporary());
//! assert_eq!(err.retry_after(), Some(Duration::from_secs(1)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use steadfast_core::{Clock, ConfigError, MonotonicClock, Observer};

use crate::Sleeper;
use crate::adaptive::{AdaptiveLimiter, ErasedLimiter, ErasedToken, LimitAlgorithm, LimitReached};
use crate::backoff::{Backoff, mix_seed};
use crate::breaker::{
    BreakerEvent, BreakerState, CircuitBreaker, DetachedPermit, Outcome, Permit, Rejected,
};
use crate::budget::{RetryBudget, RetryKind};
use crate::bulkhead::{Bulkhead, BulkheadFull, BulkheadPermit, OwnedBulkheadPermit, SlotWaiter};
use crate::coarse::reading_for;
use crate::hedge::{HedgeBudget, HedgeCore, Hedger, UnlimitedHedges};
use crate::rate_limit::{NotUntil, RateLimiter};
use crate::retry::Verdict;
use crate::shed::{LoadShedder, Priority, Shed};
use crate::timeout::{Elapsed, poll_timer};

/// The stage of a [`Pipeline`] that ended a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Stage {
    /// The load shedder turned the call away.
    Shed,
    /// The rate limiter turned the call away.
    RateLimit,
    /// The whole call, retries included, ran out of time.
    TotalTimeout,
    /// The circuit breaker refused an attempt.
    Breaker,
    /// The bulkhead had no free slot.
    Bulkhead,
    /// The adaptive concurrency limit was reached.
    AdaptiveLimit,
    /// The last attempt ran out of time (and was not retried).
    AttemptTimeout,
    /// The call itself failed (and was not retried).
    Call,
}

/// Why a [`Pipeline`] call failed: the stage that rejected it, or the
/// call's own error.
///
/// ```
/// use std::time::Duration;
/// use steadfast_guard::pipeline::{PipelineError, Stage};
/// use steadfast_guard::timeout::Elapsed;
///
/// let err: PipelineError<std::io::Error> = PipelineError::TotalTimeout(Elapsed::new(Duration::from_secs(1)));
/// assert_eq!(err.stage(), Stage::TotalTimeout);
/// assert!(err.is_temporary());
/// assert_eq!(err.to_string(), "total timeout: timed out after 1s");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PipelineError<E> {
    /// Shed by the load shedder; the call was not made.
    Shed(Shed),
    /// Turned away by the rate limiter; the call was not made.
    RateLimited(NotUntil),
    /// The whole call (every attempt and backoff) took longer than the total timeout.
    TotalTimeout(Elapsed),
    /// The circuit breaker refused the attempt; it was not made.
    CircuitOpen(Rejected),
    /// The bulkhead had no free slot within its wait; the attempt was not made.
    BulkheadFull(BulkheadFull),
    /// The adaptive concurrency limit was reached; the attempt was not made.
    LimitReached(LimitReached),
    /// The last attempt took longer than the per-attempt timeout.
    AttemptTimeout(Elapsed),
    /// The call was made and failed with its own error.
    Inner(E),
}

impl<E> PipelineError<E> {
    /// The stage that ended the call.
    #[must_use]
    pub fn stage(&self) -> Stage {
        match self {
            PipelineError::Shed(_) => Stage::Shed,
            PipelineError::RateLimited(_) => Stage::RateLimit,
            PipelineError::TotalTimeout(_) => Stage::TotalTimeout,
            PipelineError::CircuitOpen(_) => Stage::Breaker,
            PipelineError::BulkheadFull(_) => Stage::Bulkhead,
            PipelineError::LimitReached(_) => Stage::AdaptiveLimit,
            PipelineError::AttemptTimeout(_) => Stage::AttemptTimeout,
            PipelineError::Inner(_) => Stage::Call,
        }
    }

    /// `true` when a guard turned the call (or its last attempt) away
    /// before it reached the dependency.
    #[must_use]
    pub fn is_rejection(&self) -> bool {
        matches!(
            self,
            PipelineError::Shed(_)
                | PipelineError::RateLimited(_)
                | PipelineError::CircuitOpen(_)
                | PipelineError::BulkheadFull(_)
                | PipelineError::LimitReached(_)
        )
    }

    /// Whether trying the same call later can succeed. Every guard's
    /// rejection is temporary except a breaker forced open by an operator;
    /// the call's own error is `false` here because only the caller can
    /// judge it (see [`inner`](PipelineError::inner)).
    #[must_use]
    pub fn is_temporary(&self) -> bool {
        match self {
            PipelineError::CircuitOpen(rejected) => rejected.state != BreakerState::ForcedOpen,
            PipelineError::Inner(_) => false,
            _ => true,
        }
    }

    /// How long to wait before trying again, where the rejecting stage
    /// knows: the rate limiter's wait and the rest of the breaker's open
    /// wait.
    #[must_use]
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            PipelineError::RateLimited(not_until) => Some(not_until.wait_time()),
            PipelineError::CircuitOpen(rejected) => rejected.retry_after,
            _ => None,
        }
    }

    /// The call's own error, if that is what ended the call.
    #[must_use]
    pub fn inner(&self) -> Option<&E> {
        match self {
            PipelineError::Inner(e) => Some(e),
            _ => None,
        }
    }

    /// Takes the call's own error out, if that is what ended the call.
    #[must_use]
    pub fn into_inner(self) -> Option<E> {
        match self {
            PipelineError::Inner(e) => Some(e),
            _ => None,
        }
    }
}

impl<E: fmt::Display> fmt::Display for PipelineError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PipelineError::Shed(e) => write!(f, "load shed: {e}"),
            PipelineError::RateLimited(e) => write!(f, "{e}"),
            PipelineError::TotalTimeout(e) => write!(f, "total timeout: {e}"),
            PipelineError::CircuitOpen(e) => write!(f, "{e}"),
            PipelineError::BulkheadFull(e) => write!(f, "{e}"),
            PipelineError::LimitReached(e) => write!(f, "{e}"),
            PipelineError::AttemptTimeout(e) => write!(f, "attempt timeout: {e}"),
            PipelineError::Inner(e) => write!(f, "{e}"),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for PipelineError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PipelineError::Shed(e) => Some(e),
            PipelineError::RateLimited(e) => Some(e),
            PipelineError::TotalTimeout(e) | PipelineError::AttemptTimeout(e) => Some(e),
            PipelineError::CircuitOpen(e) => Some(e),
            PipelineError::BulkheadFull(e) => Some(e),
            PipelineError::LimitReached(e) => Some(e),
            PipelineError::Inner(e) => Some(e),
        }
    }
}

struct RetryStage {
    backoff: Backoff,
    max_attempts: u32,
    budget: Arc<dyn RetryBudget>,
    calls: AtomicU64,
}

struct Stages<K: Clock, O: Observer<BreakerEvent>, H> {
    clock: K,
    adaptive: Option<Arc<dyn ErasedLimiter>>,
    shedder: Option<LoadShedder>,
    rate: Option<RateLimiter<K>>,
    total_timeout: Option<Duration>,
    retry: Option<RetryStage>,
    breaker: Option<CircuitBreaker<K, O>>,
    bulkhead: Option<Bulkhead>,
    attempt_timeout: Option<Duration>,
    hedger: Option<Hedger<H>>,
}

/// Builds a [`Pipeline`]; every stage is optional.
#[must_use = "a builder does nothing until `build()` is called"]
pub struct PipelineBuilder<
    K: Clock = MonotonicClock,
    O: Observer<BreakerEvent> = (),
    H = UnlimitedHedges,
> {
    stages: Stages<K, O, H>,
    max_attempts: u32,
}

impl<K: Clock, O: Observer<BreakerEvent>, H> fmt::Debug for PipelineBuilder<K, O, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipelineBuilder").finish_non_exhaustive()
    }
}

impl<K: Clock, O: Observer<BreakerEvent>, H: HedgeBudget> PipelineBuilder<K, O, H> {
    /// Sheds load first, admitting calls by their [`Priority`].
    pub fn shed(mut self, shedder: LoadShedder) -> Self {
        self.stages.shedder = Some(shedder);
        self
    }

    /// Limits the rate of calls (once per call, not per attempt).
    pub fn rate_limit(mut self, limiter: RateLimiter<K>) -> Self {
        self.stages.rate = Some(limiter);
        self
    }

    /// Bounds the whole call, retries and backoff included.
    pub fn total_timeout(mut self, limit: Duration) -> Self {
        self.stages.total_timeout = Some(limit);
        self
    }

    /// Retries failed attempts after `backoff`'s delays, at most
    /// `max_attempts` attempts in all, each retry withdrawn from `budget`.
    /// The backoff is reseeded per call so that jitter differs between calls.
    pub fn retry(
        mut self,
        backoff: Backoff,
        max_attempts: u32,
        budget: impl RetryBudget + 'static,
    ) -> Self {
        self.max_attempts = max_attempts;
        self.stages.retry = Some(RetryStage {
            backoff,
            max_attempts,
            budget: Arc::new(budget),
            calls: AtomicU64::new(0),
        });
        self
    }

    /// Guards every attempt with a circuit breaker.
    pub fn breaker<O2: Observer<BreakerEvent>>(
        self,
        breaker: CircuitBreaker<K, O2>,
    ) -> PipelineBuilder<K, O2, H> {
        let s = self.stages;
        PipelineBuilder {
            stages: Stages {
                clock: s.clock,
                adaptive: s.adaptive,
                shedder: s.shedder,
                rate: s.rate,
                total_timeout: s.total_timeout,
                retry: s.retry,
                breaker: Some(breaker),
                bulkhead: s.bulkhead,
                attempt_timeout: s.attempt_timeout,
                hedger: s.hedger,
            },
            max_attempts: self.max_attempts,
        }
    }

    /// Caps the attempts in flight.
    pub fn bulkhead(mut self, bulkhead: Bulkhead) -> Self {
        self.stages.bulkhead = Some(bulkhead);
        self
    }

    /// Caps the attempts in flight at a limit that adapts to latency and
    /// timeouts (inside the bulkhead when both are set). Clones of `limiter`
    /// share its state, so the limit can be read from outside.
    pub fn adaptive_limit<A: LimitAlgorithm + 'static>(
        mut self,
        limiter: AdaptiveLimiter<A>,
    ) -> Self {
        self.stages.adaptive = Some(Arc::new(limiter));
        self
    }

    /// Bounds each attempt (its hedges included).
    pub fn attempt_timeout(mut self, limit: Duration) -> Self {
        self.stages.attempt_timeout = Some(limit);
        self
    }

    /// Hedges each attempt.
    pub fn hedge<H2: HedgeBudget>(self, hedger: Hedger<H2>) -> PipelineBuilder<K, O, H2> {
        let s = self.stages;
        PipelineBuilder {
            stages: Stages {
                clock: s.clock,
                adaptive: s.adaptive,
                shedder: s.shedder,
                rate: s.rate,
                total_timeout: s.total_timeout,
                retry: s.retry,
                breaker: s.breaker,
                bulkhead: s.bulkhead,
                attempt_timeout: s.attempt_timeout,
                hedger: Some(hedger),
            },
            max_attempts: self.max_attempts,
        }
    }

    /// The pipeline.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when `max_attempts` is zero, or a timeout is zero.
    pub fn build(self) -> Result<Pipeline<K, O, H>, ConfigError> {
        ConfigError::ensure(
            self.max_attempts >= 1,
            "max_attempts",
            self.max_attempts,
            "at least 1",
        )?;
        if let Some(t) = self.stages.total_timeout {
            ConfigError::ensure(
                !t.is_zero(),
                "total_timeout",
                format!("{t:?}"),
                "greater than zero",
            )?;
        }
        if let Some(t) = self.stages.attempt_timeout {
            ConfigError::ensure(
                !t.is_zero(),
                "attempt_timeout",
                format!("{t:?}"),
                "greater than zero",
            )?;
        }
        Ok(Pipeline {
            stages: Arc::new(self.stages),
        })
    }
}

/// Strategies composed in one order (see the [module docs](self)); cheap to
/// clone, clones share every stage's state.
pub struct Pipeline<K: Clock = MonotonicClock, O: Observer<BreakerEvent> = (), H = UnlimitedHedges>
{
    stages: Arc<Stages<K, O, H>>,
}

impl<K: Clock, O: Observer<BreakerEvent>, H> Clone for Pipeline<K, O, H> {
    fn clone(&self) -> Self {
        Pipeline {
            stages: Arc::clone(&self.stages),
        }
    }
}

impl<K: Clock, O: Observer<BreakerEvent>, H> fmt::Debug for Pipeline<K, O, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.stages;
        f.debug_struct("Pipeline")
            .field("shed", &s.shedder.is_some())
            .field("rate_limit", &s.rate.is_some())
            .field("total_timeout", &s.total_timeout)
            .field("max_attempts", &s.retry.as_ref().map(|r| r.max_attempts))
            .field("breaker", &s.breaker.as_ref().map(CircuitBreaker::state))
            .field(
                "bulkhead",
                &s.bulkhead.as_ref().map(|b| b.config().max_concurrent()),
            )
            .field("attempt_timeout", &s.attempt_timeout)
            .field(
                "adaptive_limit",
                &s.adaptive.as_ref().map(|a| a.current_limit()),
            )
            .field("hedge", &s.hedger.is_some())
            .finish()
    }
}

impl Pipeline<MonotonicClock, (), UnlimitedHedges> {
    /// A builder whose clock-driven stages use the real clock.
    pub fn builder() -> PipelineBuilder<MonotonicClock, (), UnlimitedHedges> {
        Pipeline::builder_with_clock(MonotonicClock::new())
    }
}

impl<K: Clock> Pipeline<K, (), UnlimitedHedges> {
    /// A builder for stages on clock type `K` (the rate limiter's and the
    /// breaker's; the clock value itself is the one each stage was built with).
    ///
    /// The pipeline itself reads `clock` only for blocking calls with a
    /// timeout ([`call`](Pipeline::call)).
    pub fn builder_with_clock(clock: K) -> PipelineBuilder<K, (), UnlimitedHedges> {
        PipelineBuilder {
            stages: Stages {
                clock,
                adaptive: None,
                shedder: None,
                rate: None,
                total_timeout: None,
                retry: None,
                breaker: None,
                bulkhead: None,
                attempt_timeout: None,
                hedger: None,
            },
            max_attempts: 1,
        }
    }
}

/// The bulkhead slot an attempt holds, if any (held for its `Drop`).
#[allow(dead_code)]
enum Slot<'a> {
    Free,
    Borrowed(BulkheadPermit<'a>),
    Owned(OwnedBulkheadPermit),
}

/// What an admitted attempt holds until its outcome is known.
struct Admitted<'a, K: Clock, O: Observer<BreakerEvent>> {
    permit: Option<Permit<'a, K, O>>,
    _slot: Slot<'a>,
    token: Option<ErasedToken>,
}

impl<K: Clock, O: Observer<BreakerEvent>> Admitted<'_, K, O> {
    /// Classifies a finished attempt (`Err` when it timed out) and reports it
    /// to the breaker and the adaptive limit; releases the slot.
    #[allow(clippy::type_complexity)]
    fn settle<T, E, C>(
        self,
        finished: Result<Result<T, E>, Elapsed>,
        classify: &C,
    ) -> (Result<T, PipelineError<E>>, Verdict)
    where
        C: Fn(&Result<T, E>) -> Verdict,
    {
        let timed_out = finished.is_err();
        let (outcome, verdict) = match finished {
            Ok(outcome) => {
                let verdict = classify(&outcome);
                (outcome.map_err(PipelineError::Inner), verdict)
            }
            Err(elapsed) => (
                Err(PipelineError::AttemptTimeout(elapsed)),
                Verdict::Retry(RetryKind::Timeout),
            ),
        };
        let failed = outcome.is_err() || !matches!(verdict, Verdict::Return);
        if let Some(permit) = self.permit {
            permit.record(if failed {
                Outcome::Failure
            } else {
                Outcome::Success
            });
        }
        if let Some(token) = self.token {
            if timed_out {
                token.dropped();
            } else if !failed {
                token.success();
            }
            // Other failures say nothing about load: the token is released unrecorded.
        }
        (outcome, verdict)
    }
}

/// Where a call's retries stand.
struct RetryState {
    // Boxed: only calls that retry need one, and it would otherwise make
    // every call's future larger.
    backoff: Option<Box<Backoff>>,
    last_kind: Option<RetryKind>,
    attempt: u32,
}

impl RetryState {
    fn new() -> RetryState {
        RetryState {
            backoff: None,
            last_kind: None,
            attempt: 1,
        }
    }
}

/// What follows an attempt.
enum Next<T, E> {
    /// The call ends with this outcome.
    Done(Result<T, PipelineError<E>>),
    /// Sleep this long, then attempt again.
    Retry(Duration),
}

impl RetryStage {
    /// Decides, after an attempt, whether the call ends or retries after a
    /// delay (the budget is withdrawn here).
    /// `refused(delay)` says whether an attempt `delay` from now would
    /// surely be refused (the breaker's peek).
    fn after_attempt<T, E>(
        &self,
        state: &mut RetryState,
        outcome: Result<T, PipelineError<E>>,
        verdict: Verdict,
        refused: impl FnOnce(Duration) -> bool,
    ) -> Next<T, E> {
        let (kind, dictated) = match verdict {
            Verdict::Return => {
                if outcome.is_ok() {
                    self.budget.record_success(state.last_kind);
                }
                return Next::Done(outcome);
            }
            Verdict::Retry(kind) => (kind, None),
            Verdict::RetryAfter(d) => (RetryKind::Error, Some(d)),
        };
        if state.attempt >= self.max_attempts {
            return Next::Done(outcome);
        }
        let backoff = state.backoff.get_or_insert_with(|| {
            let call = self.calls.fetch_add(1, Ordering::Relaxed);
            Box::new(self.backoff.reseeded(mix_seed(self.backoff.seed(), call)))
        });
        let Some(scheduled) = backoff.next() else {
            return Next::Done(outcome);
        };
        let delay = dictated.map_or(scheduled, |d| backoff.cap(d));
        // Checked before the budget: a retry that will not be made spends
        // nothing.
        if refused(delay) || !self.budget.try_withdraw(kind) {
            return Next::Done(outcome);
        }
        state.last_kind = Some(kind);
        state.attempt += 1;
        Next::Retry(delay)
    }
}

/// The default classification: retry every error, return every success.
fn retry_errors<T, E>(outcome: &Result<T, E>) -> Verdict {
    if outcome.is_ok() {
        Verdict::Return
    } else {
        Verdict::Retry(RetryKind::Error)
    }
}

impl<K: Clock, O: Observer<BreakerEvent>, H: HedgeBudget> Pipeline<K, O, H> {
    /// The circuit breaker stage, if configured.
    #[must_use]
    pub fn breaker(&self) -> Option<&CircuitBreaker<K, O>> {
        self.stages.breaker.as_ref()
    }

    /// The bulkhead stage, if configured.
    #[must_use]
    pub fn bulkhead(&self) -> Option<&Bulkhead> {
        self.stages.bulkhead.as_ref()
    }

    /// The adaptive concurrency limit now in force, if that stage is
    /// configured (it moves as attempts succeed, slow down or time out).
    ///
    /// ```
    /// use steadfast_guard::adaptive::{AdaptiveLimiter, Aimd, AimdConfig};
    /// use steadfast_guard::pipeline::Pipeline;
    ///
    /// let limiter = AdaptiveLimiter::new(Aimd::new(AimdConfig::builder().initial_limit(8).build()?));
    /// let pipeline = Pipeline::builder().adaptive_limit(limiter).build()?;
    /// assert_eq!(pipeline.adaptive_limit(), Some(8));
    /// assert_eq!(Pipeline::builder().build()?.adaptive_limit(), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn adaptive_limit(&self) -> Option<usize> {
        self.stages.adaptive.as_ref().map(|a| a.current_limit())
    }

    /// Runs `op` through every stage at [`Priority::Normal`], retrying every
    /// error and every timed-out attempt.
    ///
    /// `op` is called once per attempt, and once more per hedge. The
    /// returned [`PipelineRun`] does nothing until polled.
    ///
    /// # Errors
    ///
    /// The [`PipelineError`] of the stage that ended the call.
    #[allow(clippy::type_complexity)]
    pub fn run<'a, S, F, Fut, T, E>(
        &'a self,
        sleeper: &'a S,
        op: F,
    ) -> PipelineRun<'a, K, O, H, S, F, Fut, E, fn(&Result<T, E>) -> Verdict>
    where
        S: Sleeper + ?Sized,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.run_classified(sleeper, Priority::Normal, retry_errors, op)
    }

    /// Runs `op` through every stage at `priority`, with `classify` deciding
    /// which outcomes are retried ([`Verdict::RetryAfter`] honours a
    /// server's `Retry-After`, capped by the backoff's maximum). An outcome
    /// classified as retryable also counts as a failure for the breaker,
    /// even an `Ok` (an HTTP 503, say). Timed-out attempts are always
    /// retryable.
    ///
    /// When retrying stops (attempts, backoff or budget exhausted, or the
    /// breaker still open when the backoff would end), the last outcome is
    /// returned: an `Ok` classified as retryable comes back as `Ok`.
    ///
    /// # Errors
    ///
    /// The [`PipelineError`] of the stage that ended the call.
    pub fn run_classified<'a, S, F, Fut, T, E, C>(
        &'a self,
        sleeper: &'a S,
        priority: Priority,
        classify: C,
        op: F,
    ) -> PipelineRun<'a, K, O, H, S, F, Fut, E, C>
    where
        S: Sleeper + ?Sized,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        C: Fn(&Result<T, E>) -> Verdict,
    {
        PipelineRun {
            pipeline: self,
            sleeper,
            classify,
            op,
            call: Call::new(priority),
        }
    }

    /// Runs the blocking `op` through every stage at [`Priority::Normal`],
    /// retrying every error, sleeping between attempts with
    /// `std::thread::sleep`.
    ///
    /// See [`call_classified`](Self::call_classified) for how timeouts work
    /// on a call that cannot be interrupted.
    ///
    /// # Errors
    ///
    /// The [`PipelineError`] of the stage that ended the call.
    ///
    /// ```
    /// use std::time::Duration;
    /// use steadfast_guard::backoff::Backoff;
    /// use steadfast_guard::budget::Unlimited;
    /// use steadfast_guard::pipeline::{Pipeline, PipelineError};
    ///
    /// let pipeline = Pipeline::builder()
    ///     .retry(Backoff::constant(Duration::from_millis(1)).build()?, 3, Unlimited)
    ///     .build()?;
    /// let mut attempts = 0;
    /// let reply = pipeline.call(|| {
    ///     attempts += 1;
    ///     if attempts < 3 { Err("flaky") } else { Ok(attempts) }
    /// });
    /// assert_eq!(reply, Ok(3));
    /// assert_eq!(pipeline.call(|| Err::<(), _>("down")), Err(PipelineError::Inner("down")));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn call<T, E>(&self, op: impl FnMut() -> Result<T, E>) -> Result<T, PipelineError<E>> {
        self.call_classified(Priority::Normal, retry_errors, std::thread::sleep, op)
    }

    /// Runs the blocking `op` through every stage at `priority`, with
    /// `classify` deciding which outcomes are retried (as in
    /// [`run_classified`](Self::run_classified)) and `sleep` waiting between
    /// attempts.
    ///
    /// A blocking call cannot be interrupted, so timeouts are measured on
    /// the pipeline's clock (on its coarse reading for a timeout of at least
    /// 25 times the clock's coarse lag, 250 ms on `MonotonicClock` on Linux,
    /// so off by at most one kernel tick; the precise reading below that,
    /// and always on test clocks): an attempt that returns after the per-attempt
    /// timeout counts as timed out (its result is dropped, the breaker
    /// records a failure, the adaptive limit a drop, and it is retried as a
    /// [`RetryKind::Timeout`]); once the total timeout has passed, or would
    /// pass during the next backoff sleep, no further attempt starts and the
    /// call ends with [`PipelineError::TotalTimeout`]. A bulkhead with a
    /// `max_wait` blocks the thread for up to that long. Hedging does not
    /// apply to blocking calls.
    ///
    /// # Errors
    ///
    /// The [`PipelineError`] of the stage that ended the call.
    ///
    /// ```
    /// use std::time::Duration;
    /// use steadfast_core::{Clock, ManualClock};
    /// use steadfast_guard::backoff::Backoff;
    /// use steadfast_guard::budget::Unlimited;
    /// use steadfast_guard::pipeline::{Pipeline, PipelineError, Stage};
    /// use steadfast_guard::retry::Verdict;
    /// use steadfast_guard::shed::Priority;
    ///
    /// let clock = ManualClock::new();
    /// let pipeline = Pipeline::builder_with_clock(clock.clone())
    ///     .retry(Backoff::constant(Duration::from_secs(1)).build()?, 5, Unlimited)
    ///     .attempt_timeout(Duration::from_millis(100))
    ///     .total_timeout(Duration::from_millis(2_500))
    ///     .build()?;
    /// // Every attempt takes 150 ms (over its 100 ms limit); sleeping moves the clock.
    /// let sleep = |d: Duration| { clock.advance(d); };
    /// let err = pipeline
    ///     .call_classified(Priority::Normal, |_: &Result<(), ()>| Verdict::Return, sleep, || {
    ///         clock.advance(Duration::from_millis(150));
    ///         Ok(())
    ///     })
    ///     .unwrap_err();
    /// // Attempts at 0 s and 1.15 s; a third would start after the 2.5 s budget.
    /// assert_eq!(err.stage(), Stage::TotalTimeout);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn call_classified<T, E, C>(
        &self,
        priority: Priority,
        classify: C,
        sleep: impl Fn(Duration),
        mut op: impl FnMut() -> Result<T, E>,
    ) -> Result<T, PipelineError<E>>
    where
        C: Fn(&Result<T, E>) -> Verdict,
    {
        let s = &*self.stages;
        let _shed_permit = match &s.shedder {
            Some(shedder) => Some(shedder.try_admit(priority).map_err(PipelineError::Shed)?),
            None => None,
        };
        if let Some(rate) = &s.rate {
            rate.check().map_err(PipelineError::RateLimited)?;
        }
        let deadline = s
            .total_timeout
            .map(|limit| (reading_for(&s.clock, limit).saturating_add(limit), limit));
        let past_deadline = |extra: Duration| -> Option<PipelineError<E>> {
            let (at, limit) = deadline?;
            (reading_for(&s.clock, limit).saturating_add(extra) >= at)
                .then(|| PipelineError::TotalTimeout(Elapsed::new(limit)))
        };
        let Some(retry) = &s.retry else {
            let (outcome, _) = self.attempt_blocking(&classify, &mut op)?;
            if outcome.is_err()
                && let Some(err) = past_deadline(Duration::ZERO)
            {
                return Err(err);
            }
            return outcome;
        };
        retry.budget.deposit();
        let mut state = RetryState::new();
        loop {
            let (outcome, verdict) = self.attempt_blocking(&classify, &mut op)?;
            let failed = outcome.is_err();
            match retry.after_attempt(&mut state, outcome, verdict, |delay| {
                self.breaker_refuses_after(delay)
            }) {
                Next::Done(outcome) => {
                    if failed && let Some(err) = past_deadline(Duration::ZERO) {
                        return Err(err);
                    }
                    return outcome;
                }
                Next::Retry(delay) => {
                    if let Some(err) = past_deadline(delay) {
                        return Err(err);
                    }
                    sleep(delay);
                }
            }
        }
    }

    /// One blocking attempt: breaker, bulkhead, adaptive limit, measured
    /// attempt timeout.
    #[allow(clippy::type_complexity)]
    fn attempt_blocking<T, E, C>(
        &self,
        classify: &C,
        op: &mut impl FnMut() -> Result<T, E>,
    ) -> Result<(Result<T, PipelineError<E>>, Verdict), PipelineError<E>>
    where
        C: Fn(&Result<T, E>) -> Verdict,
    {
        let s = &*self.stages;
        let permit = self.breaker_permit()?;
        let slot = match &s.bulkhead {
            Some(bulkhead) if bulkhead.config().max_wait().is_zero() => Slot::Borrowed(
                bulkhead
                    .try_acquire()
                    .map_err(PipelineError::BulkheadFull)?,
            ),
            Some(bulkhead) => Slot::Owned(
                bulkhead
                    .acquire_blocking()
                    .map_err(PipelineError::BulkheadFull)?,
            ),
            None => Slot::Free,
        };
        let admitted = Admitted {
            permit,
            _slot: slot,
            token: self.adaptive_token()?,
        };
        let finished = match s.attempt_timeout {
            Some(limit) => {
                let started = reading_for(&s.clock, limit);
                let outcome = op();
                if reading_for(&s.clock, limit).saturating_duration_since(started) > limit {
                    drop(outcome);
                    Err(Elapsed::new(limit))
                } else {
                    Ok(outcome)
                }
            }
            None => Ok(op()),
        };
        Ok(admitted.settle(finished, classify))
    }

    /// Whether the breaker will surely refuse an attempt `delay` from now.
    fn breaker_refuses_after(&self, delay: Duration) -> bool {
        self.stages
            .breaker
            .as_ref()
            .is_some_and(|breaker| breaker.refuses_after(delay))
    }

    fn breaker_permit<E>(&self) -> Result<Option<Permit<'_, K, O>>, PipelineError<E>> {
        match &self.stages.breaker {
            Some(breaker) => Ok(Some(
                breaker.try_acquire().map_err(PipelineError::CircuitOpen)?,
            )),
            None => Ok(None),
        }
    }

    fn adaptive_token<E>(&self) -> Result<Option<ErasedToken>, PipelineError<E>> {
        match &self.stages.adaptive {
            Some(limiter) => Ok(Some(
                limiter
                    .try_acquire_erased()
                    .map_err(PipelineError::LimitReached)?,
            )),
            None => Ok(None),
        }
    }

    /// Polls a running asynchronous call (see [`Call`]): the stages, the
    /// sleeper, the classifier and the attempt maker are lent by the future
    /// that owns `call`, the same ones on every poll.
    pub(crate) fn poll_call<S, F, Fut, T, E, C>(
        &self,
        call: Pin<&mut Call<Fut, E, S::Sleep>>,
        cx: &mut Context<'_>,
        sleeper: &S,
        classify: &C,
        op: &mut F,
    ) -> Poll<Result<T, PipelineError<E>>>
    where
        S: Sleeper + ?Sized,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        C: Fn(&Result<T, E>) -> Verdict,
    {
        let s = &*self.stages;
        let mut call = call;
        if call.phase == Phase::Start {
            let this = call.as_mut().project();
            if let Err(err) = self.admit_call(this.held, *this.priority) {
                *this.phase = Phase::Done;
                return Poll::Ready(Err(err));
            }
            *this.phase = Phase::Attempt;
        }
        let out = match self.drive(call.as_mut(), cx, sleeper, classify, op) {
            Poll::Ready(out) => out,
            Poll::Pending => {
                let Some(limit) = s.total_timeout else {
                    return Poll::Pending;
                };
                if !poll_timer(call.as_mut().project().total_timer, sleeper, limit, cx) {
                    return Poll::Pending;
                }
                Err(PipelineError::TotalTimeout(Elapsed::new(limit)))
            }
        };
        self.end_call(call);
        Poll::Ready(out)
    }

    /// Sheds and rate-limits a call once, and deposits in the retry budget.
    fn admit_call<E>(&self, held: &mut Held, priority: Priority) -> Result<(), PipelineError<E>> {
        let s = &*self.stages;
        if let Some(shedder) = &s.shedder {
            shedder
                .try_admit(priority)
                .map_err(PipelineError::Shed)?
                .detach();
            held.shed = true;
        }
        if let Some(rate) = &s.rate
            && let Err(not_until) = rate.check()
        {
            self.release(held);
            return Err(PipelineError::RateLimited(not_until));
        }
        if let Some(retry) = &s.retry {
            retry.budget.deposit();
        }
        Ok(())
    }

    /// Runs attempts, backoff sleeps and retries until the call's outcome is
    /// known or it has to wait.
    fn drive<S, F, Fut, T, E, C>(
        &self,
        call: Pin<&mut Call<Fut, E, S::Sleep>>,
        cx: &mut Context<'_>,
        sleeper: &S,
        classify: &C,
        op: &mut F,
    ) -> Poll<Result<T, PipelineError<E>>>
    where
        S: Sleeper + ?Sized,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        C: Fn(&Result<T, E>) -> Verdict,
    {
        let s = &*self.stages;
        let mut call = call.project();
        loop {
            match call.phase {
                Phase::Start | Phase::Done => return Poll::Pending,
                Phase::Attempt => {
                    // The breaker decides first, so that calls it refuses
                    // never wait for a bulkhead slot; a later rejection
                    // drops the breaker permit unrecorded, which hands a
                    // half-open trial slot back.
                    match self.breaker_permit() {
                        Ok(permit) => call.held.permit = permit.map(Permit::detach),
                        Err(err) => return Poll::Ready(Err(err)),
                    }
                    match &s.bulkhead {
                        Some(bulkhead) if bulkhead.config().max_wait().is_zero() => {
                            match bulkhead.try_acquire() {
                                Ok(slot) => {
                                    slot.detach();
                                    call.held.slot = HeldSlot::Detached;
                                }
                                Err(full) => {
                                    self.release_attempt(call.held);
                                    return Poll::Ready(Err(PipelineError::BulkheadFull(full)));
                                }
                            }
                        }
                        Some(bulkhead) => match bulkhead.begin_wait(sleeper) {
                            Ok(Ok(slot)) => call.held.slot = HeldSlot::Owned(slot),
                            Ok(Err(wait)) => {
                                *call.waiter = Some(wait);
                                *call.phase = Phase::Slot;
                                continue;
                            }
                            Err(full) => {
                                self.release_attempt(call.held);
                                return Poll::Ready(Err(PipelineError::BulkheadFull(full)));
                            }
                        },
                        None => {}
                    }
                    *call.phase = Phase::Admitted;
                }
                Phase::Slot => {
                    let (Some(bulkhead), Some(wait)) = (&s.bulkhead, call.waiter.as_mut()) else {
                        *call.phase = Phase::Admitted;
                        continue;
                    };
                    match bulkhead.poll_wait(wait, cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Ok(slot)) => {
                            *call.waiter = None;
                            call.held.slot = HeldSlot::Owned(slot);
                            *call.phase = Phase::Admitted;
                        }
                        Poll::Ready(Err(full)) => {
                            *call.waiter = None;
                            self.release_attempt(call.held);
                            return Poll::Ready(Err(PipelineError::BulkheadFull(full)));
                        }
                    }
                }
                Phase::Admitted => {
                    match self.adaptive_token() {
                        Ok(token) => call.held.token = token,
                        Err(err) => {
                            self.release_attempt(call.held);
                            return Poll::Ready(Err(err));
                        }
                    }
                    if s.hedger.is_some() {
                        call.attempt.set(Attempt::Hedged(HedgeCore::new()));
                    } else {
                        call.attempt.set(Attempt::Plain(op()));
                    }
                    *call.phase = Phase::Running;
                }
                Phase::Running => {
                    let polled = match call.attempt.as_mut().project() {
                        AttemptProj::Plain(fut) => fut.poll(cx),
                        AttemptProj::Hedged(core) => match &s.hedger {
                            Some(hedger) => core.poll_with(cx, hedger, sleeper, &mut |_| op()),
                            None => Poll::Pending,
                        },
                        AttemptProj::Idle => Poll::Pending,
                    };
                    let finished = match polled {
                        Poll::Ready(outcome) => Ok(outcome),
                        Poll::Pending => match s.attempt_timeout {
                            Some(limit) if poll_timer(call.attempt_timer, sleeper, limit, cx) => {
                                Err(Elapsed::new(limit))
                            }
                            _ => return Poll::Pending,
                        },
                    };
                    call.attempt.set(Attempt::Idle);
                    *call.attempt_timer = None;
                    let (outcome, verdict) = self.admitted(call.held).settle(finished, classify);
                    let Some(retry) = &s.retry else {
                        return Poll::Ready(outcome);
                    };
                    match retry.after_attempt(call.retry, outcome, verdict, |delay| {
                        self.breaker_refuses_after(delay)
                    }) {
                        Next::Done(outcome) => return Poll::Ready(outcome),
                        Next::Retry(delay) => {
                            *call.backoff = Some(Box::pin(sleeper.sleep(delay)));
                            *call.phase = Phase::Backoff;
                        }
                    }
                }
                Phase::Backoff => {
                    if let Some(sleep) = call.backoff.as_mut()
                        && sleep.as_mut().poll(cx).is_pending()
                    {
                        return Poll::Pending;
                    }
                    *call.backoff = None;
                    *call.phase = Phase::Attempt;
                }
            }
        }
    }
}

impl<K: Clock, O: Observer<BreakerEvent>, H> Pipeline<K, O, H> {
    /// The attempt's breaker permit and slots, whole again.
    fn admitted(&self, held: &mut Held) -> Admitted<'_, K, O> {
        let s = &*self.stages;
        let permit = match (held.permit.take(), &s.breaker) {
            (Some(detached), Some(breaker)) => Some(breaker.resume_permit(detached)),
            _ => None,
        };
        let slot = match (
            std::mem::replace(&mut held.slot, HeldSlot::Free),
            &s.bulkhead,
        ) {
            (HeldSlot::Detached, Some(bulkhead)) => Slot::Borrowed(bulkhead.resume_permit()),
            (HeldSlot::Owned(slot), _) => Slot::Owned(slot),
            _ => Slot::Free,
        };
        Admitted {
            permit,
            _slot: slot,
            token: held.token.take(),
        }
    }

    /// Gives back what an attempt holds without recording it.
    fn release_attempt(&self, held: &mut Held) {
        drop(self.admitted(held));
    }

    /// Gives back everything a call holds.
    fn release(&self, held: &mut Held) {
        self.release_attempt(held);
        if std::mem::take(&mut held.shed)
            && let Some(shedder) = &self.stages.shedder
        {
            drop(shedder.resume_permit());
        }
    }

    /// Ends a call: drops whatever is still running or armed (cancelling it)
    /// and gives back what it holds. Safe to repeat.
    pub(crate) fn end_call<Fut, E, Sl>(&self, call: Pin<&mut Call<Fut, E, Sl>>) {
        let mut call = call.project();
        call.attempt.set(Attempt::Idle);
        *call.waiter = None;
        *call.attempt_timer = None;
        *call.total_timer = None;
        *call.backoff = None;
        *call.phase = Phase::Done;
        self.release(call.held);
    }
}

/// Where a running asynchronous call stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Not polled yet: shedding and rate limiting come first.
    Start,
    /// The next attempt asks the breaker and the bulkhead.
    Attempt,
    /// Waiting for a bulkhead slot.
    Slot,
    /// Past the breaker and the bulkhead; the adaptive limit is next.
    Admitted,
    /// The attempt is running.
    Running,
    /// Sleeping before the next attempt.
    Backoff,
    /// The outcome was returned.
    Done,
}

/// The bulkhead slot a running attempt holds.
enum HeldSlot {
    Free,
    /// A borrowed permit, detached (see [`BulkheadPermit::detach`]).
    Detached,
    Owned(OwnedBulkheadPermit),
}

/// What a running call holds, apart from the stages it was taken from.
struct Held {
    /// A detached shed permit (see [`ShedPermit::detach`](crate::shed::ShedPermit)).
    shed: bool,
    permit: Option<DetachedPermit>,
    slot: HeldSlot,
    token: Option<ErasedToken>,
}

/// The attempt in flight.
#[pin_project::pin_project(project = AttemptProj)]
enum Attempt<Fut, E, Sl> {
    Idle,
    Plain(#[pin] Fut),
    Hedged(#[pin] HedgeCore<Fut, E, Sl>),
}

/// The state of one asynchronous call through a [`Pipeline`], apart from
/// the pipeline, sleeper, classifier and attempt maker, which the future
/// owning it lends to [`Pipeline::poll_call`]: a future that owns a handle
/// on the pipeline (a tower service's) keeps it without borrowing, and
/// nothing is boxed. Whoever owns one must hand it to
/// [`Pipeline::end_call`] when dropped, to give back what it holds.
#[pin_project::pin_project(project = CallProj)]
pub(crate) struct Call<Fut, E, Sl> {
    phase: Phase,
    priority: Priority,
    held: Held,
    retry: RetryState,
    waiter: Option<SlotWaiter<Sl>>,
    total_timer: Option<Pin<Box<Sl>>>,
    attempt_timer: Option<Pin<Box<Sl>>>,
    backoff: Option<Pin<Box<Sl>>>,
    #[pin]
    attempt: Attempt<Fut, E, Sl>,
}

impl<Fut, E, Sl> Call<Fut, E, Sl> {
    /// A call at `priority`, not started.
    pub(crate) fn new(priority: Priority) -> Self {
        Call {
            phase: Phase::Start,
            priority,
            held: Held {
                shed: false,
                permit: None,
                slot: HeldSlot::Free,
                token: None,
            },
            retry: RetryState::new(),
            waiter: None,
            total_timer: None,
            attempt_timer: None,
            backoff: None,
            attempt: Attempt::Idle,
        }
    }

    /// Whether the call has returned its outcome.
    pub(crate) fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }
}

/// The future of [`Pipeline::run`] and [`Pipeline::run_classified`]: the
/// call's value, or the [`PipelineError`] of the stage that ended it.
///
/// Dropping it cancels the call: the attempt in flight is dropped and every
/// permit and slot it held is given back (a half-open trial slot included).
///
/// ```
/// use std::future::Future;
/// use std::task::{Context, Waker};
/// use std::time::Duration;
/// use steadfast_guard::bulkhead::{Bulkhead, BulkheadConfig};
/// use steadfast_guard::pipeline::Pipeline;
///
/// let bulkhead = Bulkhead::new(BulkheadConfig::builder().max_concurrent(1).build()?);
/// let pipeline = Pipeline::builder().bulkhead(bulkhead.clone()).build()?;
/// let sleeper = |_: Duration| std::future::ready(());
/// let mut call = Box::pin(pipeline.run(&sleeper, std::future::pending::<Result<(), ()>>));
/// assert!(call.as_mut().poll(&mut Context::from_waker(Waker::noop())).is_pending());
/// assert_eq!(bulkhead.in_flight(), 1); // the attempt holds the slot
/// drop(call);
/// assert_eq!(bulkhead.in_flight(), 0); // cancelled: the slot is back
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[pin_project::pin_project(PinnedDrop)]
#[must_use = "futures do nothing unless polled"]
pub struct PipelineRun<'a, K, O, H, S, F, Fut, E, C>
where
    K: Clock,
    O: Observer<BreakerEvent>,
    S: Sleeper + ?Sized,
{
    pipeline: &'a Pipeline<K, O, H>,
    sleeper: &'a S,
    classify: C,
    op: F,
    #[pin]
    call: Call<Fut, E, S::Sleep>,
}

impl<K, O, H, S, F, Fut, E, C> fmt::Debug for PipelineRun<'_, K, O, H, S, F, Fut, E, C>
where
    K: Clock,
    O: Observer<BreakerEvent>,
    S: Sleeper + ?Sized,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipelineRun")
            .field("phase", &self.call.phase)
            .field("attempt", &self.call.retry.attempt)
            .finish_non_exhaustive()
    }
}

impl<K, O, H, S, F, Fut, T, E, C> Future for PipelineRun<'_, K, O, H, S, F, Fut, E, C>
where
    K: Clock,
    O: Observer<BreakerEvent>,
    H: HedgeBudget,
    S: Sleeper + ?Sized,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    C: Fn(&Result<T, E>) -> Verdict,
{
    type Output = Result<T, PipelineError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        this.pipeline
            .poll_call(this.call, cx, *this.sleeper, this.classify, this.op)
    }
}

#[pin_project::pinned_drop]
#[allow(clippy::type_complexity)]
impl<K, O, H, S, F, Fut, E, C> PinnedDrop for PipelineRun<'_, K, O, H, S, F, Fut, E, C>
where
    K: Clock,
    O: Observer<BreakerEvent>,
    S: Sleeper + ?Sized,
{
    fn drop(self: Pin<&mut Self>) {
        let this = self.project();
        if !this.call.is_done() {
            this.pipeline.end_call(this.call);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_attempts_and_zero_timeouts_are_rejected() {
        let backoff = Backoff::constant(Duration::from_millis(1)).build().unwrap();
        let err = Pipeline::builder()
            .retry(backoff, 0, crate::budget::Unlimited)
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("max_attempts"), "{err}");
        let err = Pipeline::builder()
            .total_timeout(Duration::ZERO)
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("total_timeout"), "{err}");
        let err = Pipeline::builder()
            .attempt_timeout(Duration::ZERO)
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("attempt_timeout"), "{err}");
    }

    #[test]
    fn an_empty_pipeline_runs_the_call_as_it_is() {
        let pipeline = Pipeline::builder().build().unwrap();
        let sleeper = |_: Duration| std::future::ready(());
        let mut calls = 0;
        let out: Result<u32, PipelineError<&str>> =
            futures::executor::block_on(pipeline.run(&sleeper, || {
                calls += 1;
                async { Err("boom") }
            }));
        assert_eq!(out, Err(PipelineError::Inner("boom")));
        assert_eq!(calls, 1);
    }
}
