//! Retry: run an operation again when its outcome says so.
//!
//! A [`RetryPolicy`] combines a [`Backoff`] (the delays), a classifier (which
//! outcomes to retry, including successful results such as a 503, and
//! whether an outcome dictates its own delay, such as `Retry-After`), an
//! attempt limit, a [`RetryBudget`] consulted before each retry (never
//! before the first attempt) and an [`Observer`] told about every retry and
//! every give-up.
//!
//! **Only retry idempotent operations.** A failed attempt may still have
//! taken effect (the reply was lost, the timeout fired after the write
//! committed); retrying a non-idempotent operation can then apply it twice.
//!
//! Sync retry sleeps on the calling thread ([`RetryPolicy::retry`]) or
//! through a closure ([`RetryPolicy::retry_with_sleep`], handy in tests);
//! async retry ([`RetryPolicy::retry_async`]) sleeps through any
//! [`Sleeper`], so it runs on any runtime.
//!
//! ```
//! use std::time::Duration;
//! use steadfast_guard::backoff::Backoff;
//! use steadfast_guard::retry::RetryPolicy;
//!
//! let policy = RetryPolicy::builder(Backoff::constant(Duration::from_millis(10)).build()?)
//!     .max_attempts(4)
//!     .build()?;
//! let mut slept = Vec::new();
//! let result: Result<u32, &str> = policy.retry_with_sleep(
//!     |attempt| if attempt.number() < 3 { Err("busy") } else { Ok(attempt.number()) },
//!     |delay| slept.push(delay),
//! );
//! assert_eq!(result, Ok(3));
//! assert_eq!(slept, [Duration::from_millis(10); 2]);
//! # Ok::<(), steadfast_core::ConfigError>(())
//! ```

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use steadfast_core::{Clock, ConfigError, MonotonicClock, Observer, Timestamp};

use crate::Sleeper;
use crate::backoff::{Backoff, mix_seed};
use crate::budget::{RetryBudget, RetryKind, Unlimited};

/// What an attempt knows about the call so far.
///
/// ```
/// use std::time::Duration;
/// use steadfast_guard::backoff::Backoff;
/// use steadfast_guard::retry::RetryPolicy;
///
/// let policy = RetryPolicy::builder(Backoff::linear(Duration::from_secs(1), Duration::from_secs(1)).build()?)
///     .max_attempts(3)
///     .build()?;
/// let mut seen = Vec::new();
/// let _: Result<(), ()> = policy.retry_with_sleep(|attempt| { seen.push(attempt); Err(()) }, |_| {});
/// assert_eq!(seen[0].number(), 1);
/// assert_eq!(seen[0].last_delay(), None);
/// assert_eq!(seen[2].last_delay(), Some(Duration::from_secs(2)));
/// assert_eq!(seen[2].total_delay(), Duration::from_secs(3));
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    number: u32,
    elapsed: Duration,
    last_delay: Option<Duration>,
    total_delay: Duration,
}

impl Attempt {
    /// 1 for the first attempt, 2 for the first retry, ...
    #[must_use]
    pub fn number(&self) -> u32 {
        self.number
    }

    /// Time spent on the call up to the decision to make this attempt
    /// (the delay waited just before it, [`last_delay`](Self::last_delay),
    /// is not included); zero for the first attempt.
    ///
    /// With [`RetryPolicyBuilder::time_first_attempt`] it counts from the
    /// start of the first attempt, so it includes how long the first
    /// attempt took. By default it counts from the moment the first attempt
    /// failed: the clock is first read then, so a call that succeeds at once
    /// costs no clock read at all (the common case, and the reason for the
    /// default).
    ///
    /// ```
    /// use std::time::Duration;
    /// use steadfast_core::ManualClock;
    /// use steadfast_guard::backoff::Backoff;
    /// use steadfast_guard::retry::RetryPolicy;
    ///
    /// let clock = ManualClock::new();
    /// let policy = RetryPolicy::builder(Backoff::constant(Duration::from_secs(1)).build()?)
    ///     .time_first_attempt(true)
    ///     .clock(clock.clone())
    ///     .build()?;
    /// let mut elapsed = Vec::new();
    /// let _: Result<(), ()> = policy.retry_with_sleep(
    ///     |attempt| {
    ///         elapsed.push(attempt.elapsed());
    ///         clock.advance(Duration::from_secs(2)); // each attempt takes 2 s
    ///         Err(())
    ///     },
    ///     |delay| { clock.advance(delay); },
    /// );
    /// // Decided after the first attempt's 2 s; then after 1 s of delay and 2 s more.
    /// assert_eq!(elapsed, [Duration::ZERO, Duration::from_secs(2), Duration::from_secs(5)]);
    /// # Ok::<(), steadfast_core::ConfigError>(())
    /// ```
    #[must_use]
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// The delay waited before this attempt; `None` for the first.
    #[must_use]
    pub fn last_delay(&self) -> Option<Duration> {
        self.last_delay
    }

    /// The sum of the delays waited so far.
    #[must_use]
    pub fn total_delay(&self) -> Duration {
        self.total_delay
    }
}

/// What to do with an outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// Hand the outcome to the caller (a success, or an error not worth retrying).
    Return,
    /// Retry after the backoff's next delay.
    Retry(RetryKind),
    /// Retry after this delay instead of the backoff's (a `Retry-After`),
    /// still capped by the backoff's `max_delay`.
    RetryAfter(Duration),
}

/// Decides, for each outcome, whether to retry.
///
/// Implemented for [`RetryErrors`] (the default), [`RetryIf`] and closures
/// `Fn(&Result<T, E>) -> Verdict`.
///
/// ```
/// use std::time::Duration;
/// use steadfast_guard::backoff::Backoff;
/// use steadfast_guard::retry::{RetryPolicy, Verdict};
/// use steadfast_guard::budget::RetryKind;
///
/// // HTTP-like: retry 503 (an Ok!), honour Retry-After, never retry 4xx errors.
/// let policy = RetryPolicy::builder(Backoff::constant(Duration::from_secs(1)).build()?)
///     .max_attempts(3)
///     .classify(|outcome: &Result<(u16, Option<u64>), std::io::Error>| match outcome {
///         Ok((503, Some(after))) => Verdict::RetryAfter(Duration::from_secs(*after)),
///         Ok((503, None)) => Verdict::Retry(RetryKind::Error),
///         Ok(_) => Verdict::Return,
///         Err(e) if e.kind() == std::io::ErrorKind::TimedOut => Verdict::Retry(RetryKind::Timeout),
///         Err(_) => Verdict::Return,
///     })
///     .build()?;
/// let mut waits = Vec::new();
/// let mut replies = vec![(200, None), (503, Some(7))];
/// let reply = policy.retry_with_sleep(|_| Ok(replies.pop().unwrap()), |d| waits.push(d));
/// assert_eq!(reply.unwrap(), (200, None));
/// assert_eq!(waits, [Duration::from_secs(7)]);
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
pub trait Classify<T, E> {
    /// The verdict on one outcome.
    fn classify(&self, outcome: &Result<T, E>) -> Verdict;
}

/// The default classifier: retry every error, return every success.
#[derive(Debug, Clone, Copy, Default)]
pub struct RetryErrors;

impl<T, E> Classify<T, E> for RetryErrors {
    #[inline]
    fn classify(&self, outcome: &Result<T, E>) -> Verdict {
        match outcome {
            Ok(_) => Verdict::Return,
            Err(_) => Verdict::Retry(RetryKind::Error),
        }
    }
}

/// Retries the errors a predicate accepts; other errors return at once.
///
/// ```
/// use std::time::Duration;
/// use steadfast_guard::backoff::Backoff;
/// use steadfast_guard::retry::RetryPolicy;
///
/// let policy = RetryPolicy::builder(Backoff::constant(Duration::from_millis(1)).build()?)
///     .retry_if(|e: &std::io::Error| e.kind() == std::io::ErrorKind::ConnectionReset)
///     .build()?;
/// let mut calls = 0;
/// let out: Result<(), _> = policy.retry_with_sleep(
///     |_| { calls += 1; Err(std::io::Error::from(std::io::ErrorKind::PermissionDenied)) },
///     |_| {},
/// );
/// assert!(out.is_err());
/// assert_eq!(calls, 1); // not retryable: returned at once
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[derive(Clone, Copy)]
pub struct RetryIf<F>(pub F);

impl<F> fmt::Debug for RetryIf<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RetryIf(..)")
    }
}

impl<T, E, F: Fn(&E) -> bool> Classify<T, E> for RetryIf<F> {
    #[inline]
    fn classify(&self, outcome: &Result<T, E>) -> Verdict {
        match outcome {
            Err(e) if (self.0)(e) => Verdict::Retry(RetryKind::Error),
            _ => Verdict::Return,
        }
    }
}

impl<T, E, F: Fn(&Result<T, E>) -> Verdict> Classify<T, E> for F {
    #[inline]
    fn classify(&self, outcome: &Result<T, E>) -> Verdict {
        self(outcome)
    }
}

/// Why a retry loop stopped retrying a retryable outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum GiveUpReason {
    /// The attempt limit was reached.
    MaxAttempts,
    /// The backoff ended (its retry or total-delay limit).
    BackoffExhausted,
    /// The retry budget refused the retry.
    BudgetExhausted,
}

/// What a retry loop reports to its observer.
///
/// ```
/// use std::time::Duration;
/// use steadfast_core::{ManualClock, Recorder};
/// use steadfast_guard::backoff::Backoff;
/// use steadfast_guard::budget::TokenBucketBudget;
/// use steadfast_guard::retry::{GiveUpReason, RetryEvent, RetryPolicy};
///
/// let events = Recorder::new();
/// let policy = RetryPolicy::builder(Backoff::constant(Duration::from_millis(5)).build()?)
///     .max_attempts(5)
///     .budget(TokenBucketBudget::grpc(4.0, 0.5)?) // retries only above 2 tokens
///     .observer(events.clone())
///     .clock(ManualClock::new())
///     .build()?;
/// let _: Result<(), ()> = policy.retry_with_sleep(|_| Err(()), |_| {});
/// let events = events.take();
/// assert!(matches!(events[0], RetryEvent::Retrying { attempt: 1, .. }));
/// assert!(matches!(
///     events.last(),
///     Some(RetryEvent::GaveUp { attempt: 2, reason: GiveUpReason::BudgetExhausted, .. })
/// ));
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum RetryEvent {
    /// Attempt `attempt` failed and will be retried after `delay`.
    Retrying {
        /// When the decision was taken.
        at: Timestamp,
        /// The attempt that failed (1 for the first).
        attempt: u32,
        /// The wait before the next attempt.
        delay: Duration,
        /// Why the outcome was retried.
        kind: RetryKind,
        /// Whether the outcome dictated the delay (`Retry-After`).
        dictated: bool,
    },
    /// Attempt `attempt` failed and the loop returns its outcome.
    GaveUp {
        /// When the decision was taken.
        at: Timestamp,
        /// The attempts made.
        attempt: u32,
        /// Why no further retry.
        reason: GiveUpReason,
    },
}

/// Builds a [`RetryPolicy`]; see [`RetryPolicy::builder`].
#[must_use = "a builder does nothing until `build()` is called"]
pub struct RetryPolicyBuilder<C = RetryErrors, B = Unlimited, O = ()> {
    backoff: Backoff,
    max_attempts: u32,
    classifier: C,
    budget: B,
    observer: O,
    clock: Arc<dyn Clock>,
    time_first_attempt: bool,
}

impl<C, B: fmt::Debug, O> fmt::Debug for RetryPolicyBuilder<C, B, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryPolicyBuilder")
            .field("backoff", &self.backoff)
            .field("max_attempts", &self.max_attempts)
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

impl<C, B, O> RetryPolicyBuilder<C, B, O> {
    /// The most attempts per call, the first included (default 3).
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n;
        self
    }

    /// Classifies outcomes with `classifier` (see [`Classify`]).
    pub fn classify<C2>(self, classifier: C2) -> RetryPolicyBuilder<C2, B, O> {
        RetryPolicyBuilder {
            backoff: self.backoff,
            max_attempts: self.max_attempts,
            classifier,
            budget: self.budget,
            observer: self.observer,
            clock: self.clock,
            time_first_attempt: self.time_first_attempt,
        }
    }

    /// Retries only the errors `predicate` accepts; successes return.
    pub fn retry_if<F>(self, predicate: F) -> RetryPolicyBuilder<RetryIf<F>, B, O> {
        self.classify(RetryIf(predicate))
    }

    /// Consults `budget` before each retry (shared budgets: pass a clone or an `Arc`).
    pub fn budget<B2: RetryBudget>(self, budget: B2) -> RetryPolicyBuilder<C, B2, O> {
        RetryPolicyBuilder {
            backoff: self.backoff,
            max_attempts: self.max_attempts,
            classifier: self.classifier,
            budget,
            observer: self.observer,
            clock: self.clock,
            time_first_attempt: self.time_first_attempt,
        }
    }

    /// Reports retries and give-ups to `observer`.
    pub fn observer<O2: Observer<RetryEvent>>(self, observer: O2) -> RetryPolicyBuilder<C, B, O2> {
        RetryPolicyBuilder {
            backoff: self.backoff,
            max_attempts: self.max_attempts,
            classifier: self.classifier,
            budget: self.budget,
            observer,
            clock: self.clock,
            time_first_attempt: self.time_first_attempt,
        }
    }

    /// Reads time from `clock` (default [`MonotonicClock`]).
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Reads the clock before the first attempt, so that
    /// [`Attempt::elapsed`] counts from the start of the call (default
    /// `false`: it counts from the first failure, and a call that succeeds
    /// at once reads no clock). Turn it on when retries must respect a time
    /// limit measured from the start of the call; it costs one clock read
    /// per call, successful or not.
    pub fn time_first_attempt(mut self, on: bool) -> Self {
        self.time_first_attempt = on;
        self
    }

    /// Validates and builds.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when `max_attempts` is 0.
    pub fn build(self) -> Result<RetryPolicy<C, B, O>, ConfigError> {
        ConfigError::ensure(
            self.max_attempts >= 1,
            "retry.max_attempts",
            self.max_attempts,
            "at least 1",
        )?;
        Ok(RetryPolicy {
            base_seed: self.backoff.seed(),
            backoff: self.backoff,
            max_attempts: self.max_attempts,
            classifier: self.classifier,
            budget: self.budget,
            observer: self.observer,
            clock: self.clock,
            calls: AtomicU64::new(0),
            time_first_attempt: self.time_first_attempt,
        })
    }
}

/// A reusable retry strategy; share it by reference or in an `Arc`.
///
/// Each call gets its own copy of the backoff, reseeded (from the
/// backoff's seed and a call counter) so that concurrent calls do not
/// jitter in lockstep and a seeded policy stays reproducible.
///
/// Async use:
///
/// ```
/// use std::time::Duration;
/// use steadfast_guard::backoff::Backoff;
/// use steadfast_guard::retry::RetryPolicy;
///
/// let policy = RetryPolicy::builder(Backoff::exponential(Duration::from_millis(1)).build()?).build()?;
/// let no_wait = |_d: Duration| std::future::ready(());
/// let answer = futures::executor::block_on(policy.retry_async(
///     |attempt| async move { if attempt.number() == 1 { Err("flaky") } else { Ok(42) } },
///     &no_wait,
/// ));
/// assert_eq!(answer, Ok(42));
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
pub struct RetryPolicy<C = RetryErrors, B = Unlimited, O = ()> {
    backoff: Backoff,
    base_seed: u64,
    max_attempts: u32,
    classifier: C,
    budget: B,
    observer: O,
    clock: Arc<dyn Clock>,
    calls: AtomicU64,
    time_first_attempt: bool,
}

impl<C, B: fmt::Debug, O> fmt::Debug for RetryPolicy<C, B, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryPolicy")
            .field("backoff", &self.backoff)
            .field("max_attempts", &self.max_attempts)
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

impl RetryPolicy {
    /// Starts a policy: retry every error, up to 3 attempts, delays from `backoff`.
    pub fn builder(backoff: Backoff) -> RetryPolicyBuilder {
        RetryPolicyBuilder {
            backoff,
            max_attempts: 3,
            classifier: RetryErrors,
            budget: Unlimited,
            observer: (),
            clock: Arc::new(MonotonicClock::new()),
            time_first_attempt: false,
        }
    }
}

/// Retries `op` on every error, waiting the delays of `backoff` on the
/// current thread; the backoff alone bounds the attempts.
///
/// ```
/// use std::time::Duration;
/// use steadfast_guard::backoff::Backoff;
///
/// let backoff = Backoff::constant(Duration::from_micros(1)).max_retries(2).build()?;
/// let outcome: Result<(), &str> = steadfast_guard::retry::retry(backoff, |_| Err("down"));
/// assert_eq!(outcome, Err("down")); // after 3 attempts
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
pub fn retry<T, E>(backoff: Backoff, op: impl FnMut(Attempt) -> Result<T, E>) -> Result<T, E> {
    RetryPolicy {
        base_seed: backoff.seed(),
        backoff,
        max_attempts: u32::MAX,
        classifier: RetryErrors,
        budget: Unlimited,
        observer: (),
        clock: Arc::new(MonotonicClock::new()),
        calls: AtomicU64::new(0),
        time_first_attempt: false,
    }
    .retry(op)
}

enum Step {
    Return,
    Sleep(Duration),
}

/// The state of one call's retry loop.
struct Run {
    attempt: Attempt,
    started: Option<Timestamp>,
    backoff: Option<Backoff>,
    last_kind: Option<RetryKind>,
}

const FIRST_ATTEMPT: Attempt = Attempt {
    number: 1,
    elapsed: Duration::ZERO,
    last_delay: None,
    total_delay: Duration::ZERO,
};

impl Run {
    fn new(started: Option<Timestamp>) -> Run {
        Run {
            attempt: FIRST_ATTEMPT,
            started,
            backoff: None,
            last_kind: None,
        }
    }
}

impl<C, B: RetryBudget, O: Observer<RetryEvent>> RetryPolicy<C, B, O> {
    #[inline]
    fn decide<T, E>(&self, run: &mut Run, outcome: &Result<T, E>) -> Step
    where
        C: Classify<T, E>,
    {
        let verdict = self.classifier.classify(outcome);
        self.step(run, outcome.is_ok(), verdict)
    }

    #[inline]
    fn step(&self, run: &mut Run, is_ok: bool, verdict: Verdict) -> Step {
        let (kind, dictated) = match verdict {
            Verdict::Return => {
                if is_ok {
                    self.budget.record_success(run.last_kind);
                }
                return Step::Return;
            }
            Verdict::Retry(kind) => (kind, None),
            Verdict::RetryAfter(delay) => (RetryKind::Error, Some(delay)),
        };
        self.retry_step(run, kind, dictated)
    }

    #[cold]
    fn retry_step(&self, run: &mut Run, kind: RetryKind, dictated: Option<Duration>) -> Step {
        let now = self.clock.now();
        let started = *run.started.get_or_insert(now);
        let attempt = run.attempt.number;
        let give_up = |reason| {
            self.observer.on_event(&RetryEvent::GaveUp {
                at: now,
                attempt,
                reason,
            });
            Step::Return
        };
        if attempt >= self.max_attempts {
            return give_up(GiveUpReason::MaxAttempts);
        }
        let backoff = run.backoff.get_or_insert_with(|| {
            let call = self.calls.fetch_add(1, Ordering::Relaxed);
            self.backoff.reseeded(mix_seed(self.base_seed, call))
        });
        let Some(scheduled) = backoff.next() else {
            return give_up(GiveUpReason::BackoffExhausted);
        };
        let delay = dictated.map_or(scheduled, |d| backoff.cap(d));
        if !self.budget.try_withdraw(kind) {
            return give_up(GiveUpReason::BudgetExhausted);
        }
        self.observer.on_event(&RetryEvent::Retrying {
            at: now,
            attempt,
            delay,
            kind,
            dictated: dictated.is_some(),
        });
        run.last_kind = Some(kind);
        run.attempt = Attempt {
            number: attempt + 1,
            elapsed: now.saturating_duration_since(started),
            last_delay: Some(delay),
            total_delay: run.attempt.total_delay.saturating_add(delay),
        };
        Step::Sleep(delay)
    }

    /// Runs `op` until its outcome is not retried, sleeping on the current thread.
    ///
    /// Returns the last outcome: a success, a non-retryable error, or the
    /// retryable outcome that exhausted the attempts, the backoff or the budget.
    #[inline]
    pub fn retry<T, E>(&self, op: impl FnMut(Attempt) -> Result<T, E>) -> Result<T, E>
    where
        C: Classify<T, E>,
    {
        self.retry_with_sleep(op, std::thread::sleep)
    }

    /// Like [`retry`](Self::retry), waiting through `sleep` instead of the thread.
    #[inline]
    pub fn retry_with_sleep<T, E>(
        &self,
        mut op: impl FnMut(Attempt) -> Result<T, E>,
        sleep: impl FnMut(Duration),
    ) -> Result<T, E>
    where
        C: Classify<T, E>,
    {
        self.budget.deposit();
        let started = self.start();
        let first = op(FIRST_ATTEMPT);
        match self.first_verdict(&first) {
            None => first,
            Some(verdict) => self.retry_after_first(op, sleep, first, verdict, started),
        }
    }

    /// The start of the call, if the policy times the first attempt.
    #[inline]
    fn start(&self) -> Option<Timestamp> {
        if self.time_first_attempt {
            Some(self.clock.now())
        } else {
            None
        }
    }

    /// `None` if the first outcome is final (the success path, with no
    /// retry state at all), else its verdict.
    #[inline]
    fn first_verdict<T, E>(&self, first: &Result<T, E>) -> Option<Verdict>
    where
        C: Classify<T, E>,
    {
        match self.classifier.classify(first) {
            Verdict::Return => {
                if first.is_ok() {
                    self.budget.record_success(None);
                }
                None
            }
            verdict => Some(verdict),
        }
    }

    #[inline(never)]
    fn retry_after_first<T, E>(
        &self,
        mut op: impl FnMut(Attempt) -> Result<T, E>,
        mut sleep: impl FnMut(Duration),
        first: Result<T, E>,
        verdict: Verdict,
        started: Option<Timestamp>,
    ) -> Result<T, E>
    where
        C: Classify<T, E>,
    {
        let mut run = Run::new(started);
        let mut step = self.step(&mut run, first.is_ok(), verdict);
        let mut outcome = first;
        loop {
            match step {
                Step::Return => return outcome,
                Step::Sleep(delay) => sleep(delay),
            }
            outcome = op(run.attempt);
            step = self.decide(&mut run, &outcome);
        }
    }

    /// Runs the future `op` returns until its outcome is not retried,
    /// waiting through `sleeper` (any runtime).
    pub async fn retry_async<T, E, F, Fut, S>(&self, mut op: F, sleeper: &S) -> Result<T, E>
    where
        C: Classify<T, E>,
        F: FnMut(Attempt) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        S: Sleeper,
    {
        self.budget.deposit();
        let started = self.start();
        let mut outcome = op(FIRST_ATTEMPT).await;
        let Some(verdict) = self.first_verdict(&outcome) else {
            return outcome;
        };
        let mut run = Run::new(started);
        let mut step = self.step(&mut run, outcome.is_ok(), verdict);
        loop {
            match step {
                Step::Return => return outcome,
                Step::Sleep(delay) => sleeper.sleep(delay).await,
            }
            outcome = op(run.attempt).await;
            step = self.decide(&mut run, &outcome);
        }
    }

    /// The budget this policy consults.
    pub fn budget(&self) -> &B {
        &self.budget
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use steadfast_core::{ManualClock, Recorder};

    fn constant(ms: u64) -> Backoff {
        Backoff::constant(Duration::from_millis(ms))
            .build()
            .unwrap()
    }

    #[test]
    fn non_retryable_error_returns_at_once() {
        let policy = RetryPolicy::builder(constant(1))
            .retry_if(|e: &&str| *e == "transient")
            .build()
            .unwrap();
        let mut calls = 0;
        let out: Result<(), &str> = policy.retry_with_sleep(
            |_| {
                calls += 1;
                Err("fatal")
            },
            |_| panic!("must not sleep"),
        );
        assert_eq!(out, Err("fatal"));
        assert_eq!(calls, 1);
    }

    #[test]
    fn context_and_events() {
        let clock = ManualClock::new();
        let events = Recorder::new();
        let policy = RetryPolicy::builder(constant(100))
            .max_attempts(3)
            .clock(clock.clone())
            .observer(events.clone())
            .build()
            .unwrap();
        let mut seen = Vec::new();
        let out: Result<(), u8> = policy.retry_with_sleep(
            |a| {
                seen.push(a);
                Err(1)
            },
            |d| {
                clock.advance(d);
            },
        );
        assert_eq!(out, Err(1));
        assert_eq!(seen.len(), 3);
        assert_eq!(seen[0].last_delay(), None);
        assert_eq!(seen[2].number(), 3);
        assert_eq!(seen[2].elapsed(), Duration::from_millis(100));
        assert_eq!(seen[2].total_delay(), Duration::from_millis(200));
        let events = events.take();
        assert_eq!(events.len(), 3);
        assert_eq!(
            events[2],
            RetryEvent::GaveUp {
                at: Timestamp::from_millis(200),
                attempt: 3,
                reason: GiveUpReason::MaxAttempts
            }
        );
    }

    #[test]
    fn retry_after_is_capped_by_the_backoff() {
        let backoff = Backoff::constant(Duration::from_secs(1))
            .max_delay(Duration::from_secs(5))
            .build()
            .unwrap();
        let policy = RetryPolicy::builder(backoff)
            .classify(|r: &Result<u16, ()>| match r {
                Ok(503) => Verdict::RetryAfter(Duration::from_secs(3600)),
                _ => Verdict::Return,
            })
            .build()
            .unwrap();
        let mut waits = Vec::new();
        let mut replies = vec![200, 503];
        let out = policy.retry_with_sleep(|_| Ok(replies.pop().unwrap()), |d| waits.push(d));
        assert_eq!(out, Ok(200));
        assert_eq!(waits, [Duration::from_secs(5)]);
    }

    #[test]
    fn budget_consulted_only_before_retries() {
        let budget = crate::budget::TokenBucketBudget::grpc(2.0, 1.0).unwrap();
        let policy = RetryPolicy::builder(constant(1))
            .max_attempts(10)
            .budget(budget.clone())
            .build()
            .unwrap();
        // A success costs nothing and adds the ratio (capped at max).
        let ok: Result<(), ()> = policy.retry_with_sleep(|_| Ok(()), |_| {});
        assert!(ok.is_ok());
        assert_eq!(budget.tokens(), 2.0);
        let mut attempts = 0;
        let out: Result<(), ()> = policy.retry_with_sleep(
            |_| {
                attempts += 1;
                Err(())
            },
            |_| {},
        );
        assert!(out.is_err());
        // 2 -> 1 is not above half: no retry at all.
        assert_eq!(attempts, 1);
    }

    #[test]
    fn backoff_exhaustion_gives_up() {
        let events = Recorder::new();
        let backoff = Backoff::constant(Duration::from_millis(1))
            .max_retries(1)
            .build()
            .unwrap();
        let policy = RetryPolicy::builder(backoff)
            .max_attempts(10)
            .observer(events.clone())
            .clock(ManualClock::new())
            .build()
            .unwrap();
        let out: Result<(), ()> = policy.retry_with_sleep(|_| Err(()), |_| {});
        assert!(out.is_err());
        let events = events.take();
        assert!(matches!(
            events.last(),
            Some(RetryEvent::GaveUp {
                attempt: 2,
                reason: GiveUpReason::BackoffExhausted,
                ..
            })
        ));
    }

    #[test]
    fn zero_attempts_is_a_config_error() {
        let err = RetryPolicy::builder(constant(1))
            .max_attempts(0)
            .build()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "retry.max_attempts must be at least 1, got 0"
        );
    }

    #[test]
    fn async_retry_sleeps_through_the_sleeper() {
        let slept = std::sync::Mutex::new(Vec::new());
        let sleeper = |d: Duration| {
            slept.lock().unwrap().push(d);
            std::future::ready(())
        };
        let policy = RetryPolicy::builder(constant(7)).build().unwrap();
        let out: Result<u32, ()> = futures::executor::block_on(policy.retry_async(
            |a| async move {
                if a.number() < 3 {
                    Err(())
                } else {
                    Ok(a.number())
                }
            },
            &sleeper,
        ));
        assert_eq!(out, Ok(3));
        assert_eq!(*slept.lock().unwrap(), [Duration::from_millis(7); 2]);
    }
}
