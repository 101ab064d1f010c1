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
//!    budget); its rejection carries the rest of the open wait.
//! 5. **bulkhead** ([`Bulkhead`]): per attempt, inside the breaker so that
//!    calls the breaker refuses never hold or wait for a slot.
//! 6. **per-attempt timeout**: inside the bulkhead, so a slot is never held
//!    longer than one attempt may take; a timed-out attempt counts as a
//!    failure for the breaker and is retried (as a [`RetryKind::Timeout`]).
//! 7. **hedging** ([`Hedger`]): innermost, so hedges of one attempt share its
//!    bulkhead slot, its breaker permit and its timeout.
//!
//! Every stage is optional; a pipeline with none runs the call as it is.
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
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use steadfast_core::{Clock, ConfigError, MonotonicClock, Observer};

use crate::Sleeper;
use crate::backoff::Backoff;
use crate::breaker::{BreakerEvent, BreakerState, CircuitBreaker, Outcome, Rejected};
use crate::budget::{RetryBudget, RetryKind};
use crate::bulkhead::{Bulkhead, BulkheadFull};
use crate::hedge::{HedgeBudget, Hedger, UnlimitedHedges};
use crate::rate_limit::{NotUntil, RateLimiter};
use crate::retry::Verdict;
use crate::shed::{LoadShedder, Priority, Shed};
use crate::timeout::{Elapsed, timeout};

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
    pub fn builder_with_clock(clock: K) -> PipelineBuilder<K, (), UnlimitedHedges> {
        drop(clock);
        PipelineBuilder {
            stages: Stages {
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

fn mix(seed: u64, call: u64) -> u64 {
    // splitmix64 finaliser: nearby calls get unrelated jitter.
    let mut z = seed ^ call.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
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

    /// Runs `op` through every stage at [`Priority::Normal`], retrying every
    /// error and every timed-out attempt.
    ///
    /// `op` is called once per attempt, and once more per hedge.
    ///
    /// # Errors
    ///
    /// The [`PipelineError`] of the stage that ended the call.
    pub async fn run<S, F, Fut, T, E>(&self, sleeper: &S, op: F) -> Result<T, PipelineError<E>>
    where
        S: Sleeper,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.run_classified(sleeper, Priority::Normal, retry_errors, op)
            .await
    }

    /// Runs `op` through every stage at `priority`, with `classify` deciding
    /// which outcomes are retried ([`Verdict::RetryAfter`] honours a
    /// server's `Retry-After`, capped by the backoff's maximum). An outcome
    /// classified as retryable also counts as a failure for the breaker,
    /// even an `Ok` (an HTTP 503, say). Timed-out attempts are always
    /// retryable.
    ///
    /// When retrying stops (attempts, backoff or budget exhausted), the last
    /// outcome is returned: an `Ok` classified as retryable comes back as `Ok`.
    ///
    /// # Errors
    ///
    /// The [`PipelineError`] of the stage that ended the call.
    pub async fn run_classified<S, F, Fut, T, E, C>(
        &self,
        sleeper: &S,
        priority: Priority,
        classify: C,
        op: F,
    ) -> Result<T, PipelineError<E>>
    where
        S: Sleeper,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
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
        let attempts = self.retry_loop(sleeper, &classify, op);
        match s.total_timeout {
            Some(limit) => timeout(sleeper, limit, attempts)
                .await
                .unwrap_or_else(|elapsed| Err(PipelineError::TotalTimeout(elapsed))),
            None => attempts.await,
        }
    }

    async fn retry_loop<S, F, Fut, T, E, C>(
        &self,
        sleeper: &S,
        classify: &C,
        mut op: F,
    ) -> Result<T, PipelineError<E>>
    where
        S: Sleeper,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        C: Fn(&Result<T, E>) -> Verdict,
    {
        let s = &*self.stages;
        let Some(retry) = &s.retry else {
            return self
                .attempt(sleeper, classify, &mut op)
                .await
                .map(|(out, _)| out)?;
        };
        retry.budget.deposit();
        let mut backoff: Option<Backoff> = None;
        let mut last_kind = None;
        let mut attempt = 1;
        loop {
            let (outcome, verdict) = match self.attempt(sleeper, classify, &mut op).await {
                Ok((outcome, verdict)) => (outcome, verdict),
                Err(rejected) => return Err(rejected),
            };
            let (kind, dictated) = match verdict {
                Verdict::Return => {
                    if outcome.is_ok() {
                        retry.budget.record_success(last_kind);
                    }
                    return outcome;
                }
                Verdict::Retry(kind) => (kind, None),
                Verdict::RetryAfter(d) => (RetryKind::Error, Some(d)),
            };
            if attempt >= retry.max_attempts {
                return outcome;
            }
            let backoff = backoff.get_or_insert_with(|| {
                let call = retry.calls.fetch_add(1, Ordering::Relaxed);
                retry.backoff.reseeded(mix(retry.backoff.seed(), call))
            });
            let Some(scheduled) = backoff.next() else {
                return outcome;
            };
            let delay = dictated.map_or(scheduled, |d| backoff.cap(d));
            if !retry.budget.try_withdraw(kind) {
                return outcome;
            }
            drop(outcome);
            last_kind = Some(kind);
            attempt += 1;
            sleeper.sleep(delay).await;
        }
    }

    /// One attempt: breaker, bulkhead, attempt timeout, hedging. `Err` is a
    /// rejection that ends the call; `Ok` carries the attempt's outcome and
    /// the verdict on it.
    #[allow(clippy::type_complexity)]
    async fn attempt<S, F, Fut, T, E, C>(
        &self,
        sleeper: &S,
        classify: &C,
        op: &mut F,
    ) -> Result<(Result<T, PipelineError<E>>, Verdict), PipelineError<E>>
    where
        S: Sleeper,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        C: Fn(&Result<T, E>) -> Verdict,
    {
        let s = &*self.stages;
        let permit = match &s.breaker {
            Some(breaker) => Some(breaker.try_acquire().map_err(PipelineError::CircuitOpen)?),
            None => None,
        };
        // A bulkhead rejection drops the breaker permit unrecorded, which
        // hands a half-open trial slot back.
        let _slot = match &s.bulkhead {
            Some(bulkhead) => Some(
                bulkhead
                    .acquire(sleeper)
                    .await
                    .map_err(PipelineError::BulkheadFull)?,
            ),
            None => None,
        };
        let call = async {
            match &s.hedger {
                Some(hedger) => hedger.run(sleeper, |_| op()).await,
                None => op().await,
            }
        };
        let finished = match s.attempt_timeout {
            Some(limit) => timeout(sleeper, limit, call).await,
            None => Ok(call.await),
        };
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
        if let Some(permit) = permit {
            let failed = outcome.is_err() || !matches!(verdict, Verdict::Return);
            permit.record(if failed {
                Outcome::Failure
            } else {
                Outcome::Success
            });
        }
        Ok((outcome, verdict))
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
