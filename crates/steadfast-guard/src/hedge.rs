//! Hedging: send a backup request when the first one is slow.
//!
//! Tail latency usually comes from one slow replica, one GC pause, one lost
//! packet. Waiting longer does not help; asking again elsewhere does. A
//! [`Hedger`] starts the first attempt, and if it has not answered after a
//! delay, starts another (up to `max_hedges` extra), keeps whichever answers
//! first and drops (cancels) the others.
//!
//! The delay is either fixed or a latency percentile estimated online by a
//! [`LatencyEstimator`]: a log-linear histogram of atomic counters (6.25%
//! relative resolution, so tens of microseconds around a millisecond), no
//! mutex. Three modes:
//! - latency (the default): hedge after the delay, and at once when an attempt fails;
//! - parallel: all attempts start together (delay zero);
//! - fallback: a new attempt starts only when the previous one failed.
//!
//! Extra attempts add load, so each is drawn from a [`HedgeBudget`] (like
//! retries are); when the budget says no, the call carries on with the
//! attempts already running.
//!
//! ```
//! use std::time::Duration;
//! use steadfast_guard::hedge::{HedgeConfig, HedgeDelay, Hedger};
//!
//! let hedger = Hedger::new(
//!     HedgeConfig::builder()
//!         .max_hedges(1)
//!         .delay(HedgeDelay::Fixed(Duration::from_millis(10)))
//!         .build()?,
//! );
//! // A sleeper that elapses at once: the primary (attempt 0) never answers,
//! // so the hedge (attempt 1) wins.
//! let instant = |_d: Duration| std::future::ready(());
//! let answer = futures::executor::block_on(hedger.run(&instant, |attempt| async move {
//!     if attempt == 0 {
//!         std::future::pending::<()>().await;
//!     }
//!     Ok::<_, ()>(attempt)
//! }));
//! assert_eq!(answer, Ok(1));
//! # Ok::<(), steadfast_core::ConfigError>(())
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use steadfast_core::{Clock, ConfigError, MonotonicClock, Observer, Timestamp};

use crate::Sleeper;
use crate::sync::{AtomicU64, Ordering};

const SUB_BITS: u32 = 4;
const SUB: usize = 1 << SUB_BITS;
/// Values up to 2^41 ns (about 36 minutes); longer ones share the top bucket.
const MAX_EXP: u32 = 41;
const BUCKETS: usize = (MAX_EXP as usize - SUB_BITS as usize + 2) * SUB;

fn bucket_of(nanos: u64) -> usize {
    let v = nanos.min((1 << MAX_EXP) - 1);
    if v < SUB as u64 {
        return v as usize;
    }
    let exp = 63 - v.leading_zeros();
    let mantissa = ((v >> (exp - SUB_BITS)) as usize) & (SUB - 1);
    (exp - SUB_BITS + 1) as usize * SUB + mantissa
}

/// The largest value that falls in `bucket`.
fn bucket_upper(bucket: usize) -> u64 {
    if bucket < SUB {
        return bucket as u64;
    }
    let exp = (bucket / SUB) as u32 + SUB_BITS - 1;
    let mantissa = (bucket % SUB) as u64;
    let width = 1u64 << (exp - SUB_BITS);
    ((SUB as u64 + mantissa) << (exp - SUB_BITS)) + width - 1
}

/// An online latency percentile, lock-free.
///
/// Recording is one atomic increment on a histogram bucket plus a counter.
/// Every `refresh_every` samples the percentile is recomputed and cached
/// (reading it is one atomic load); every `decay_every` samples all counts
/// are halved, so the estimate follows the recent past.
///
/// ```
/// use std::time::Duration;
/// use steadfast_guard::hedge::LatencyEstimator;
///
/// let p90 = LatencyEstimator::new(0.9);
/// for micros in 1..=1_024u64 {
///     p90.record(Duration::from_micros(micros));
/// }
/// let estimate = p90.quantile().unwrap();
/// assert!(estimate >= Duration::from_micros(900) && estimate <= Duration::from_micros(957));
/// ```
pub struct LatencyEstimator {
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    cached: AtomicU64,
    quantile: f64,
    refresh_every: u64,
    decay_every: u64,
    min_samples: u64,
}

impl fmt::Debug for LatencyEstimator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LatencyEstimator")
            .field("quantile", &self.quantile)
            .field("count", &self.count.load(Ordering::Relaxed))
            .field("estimate", &self.quantile())
            .finish()
    }
}

impl LatencyEstimator {
    /// An estimator of the `quantile` (clamped into `[0, 1]`; NaN counts as
    /// 0.5): refresh every 64 samples, decay every 4096, no estimate before 32 samples.
    #[must_use]
    pub fn new(quantile: f64) -> LatencyEstimator {
        let quantile = if quantile.is_nan() {
            0.5
        } else {
            quantile.clamp(0.0, 1.0)
        };
        LatencyEstimator {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            cached: AtomicU64::new(0),
            quantile,
            refresh_every: 64,
            decay_every: 4096,
            min_samples: 32,
        }
    }

    /// Records one latency.
    #[inline]
    pub fn record(&self, latency: Duration) {
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.buckets[bucket_of(nanos)].fetch_add(1, Ordering::Relaxed);
        let n = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_multiple_of(self.refresh_every) || n == self.min_samples {
            if n.is_multiple_of(self.decay_every) {
                for b in self.buckets.iter() {
                    let _ = b.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| Some(c / 2));
                }
            }
            self.refresh();
        }
    }

    fn refresh(&self) {
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return;
        }
        let rank = ((total as f64 * self.quantile).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (i, c) in counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                self.cached.store(bucket_upper(i).max(1), Ordering::Relaxed);
                return;
            }
        }
    }

    /// The current estimate, or `None` before enough samples.
    #[must_use]
    #[inline]
    pub fn quantile(&self) -> Option<Duration> {
        match self.cached.load(Ordering::Relaxed) {
            0 => None,
            n => Some(Duration::from_nanos(n)),
        }
    }

    /// Samples recorded so far.
    #[must_use]
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

/// When to start a hedge.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum HedgeDelay {
    /// After a fixed delay.
    Fixed(Duration),
    /// After the given latency percentile of successful attempts, estimated
    /// online; `until_warm` is used before the estimate exists.
    Percentile {
        /// The percentile, in `(0, 1)`.
        quantile: f64,
        /// The delay before enough samples are in.
        until_warm: Duration,
    },
}

/// How attempts are started.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum HedgeMode {
    /// After a delay, and at once when an attempt fails.
    Latency(HedgeDelay),
    /// All attempts at once.
    Parallel,
    /// One at a time, the next only when the previous failed.
    Fallback,
}

/// Settings of a [`Hedger`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HedgeConfig {
    max_hedges: usize,
    mode: HedgeMode,
}

impl HedgeConfig {
    /// Defaults: one hedge, after the p95 (50 ms until warm).
    #[must_use]
    pub fn builder() -> HedgeConfigBuilder {
        HedgeConfigBuilder(HedgeConfig {
            max_hedges: 1,
            mode: HedgeMode::Latency(HedgeDelay::Percentile {
                quantile: 0.95,
                until_warm: Duration::from_millis(50),
            }),
        })
    }

    /// Extra attempts allowed beyond the first.
    #[must_use]
    pub fn max_hedges(&self) -> usize {
        self.max_hedges
    }

    /// How attempts are started.
    #[must_use]
    pub fn mode(&self) -> HedgeMode {
        self.mode
    }
}

/// Builds a [`HedgeConfig`].
#[derive(Debug, Clone)]
pub struct HedgeConfigBuilder(HedgeConfig);

impl HedgeConfigBuilder {
    /// Extra attempts allowed beyond the first, in `[1, 16]`.
    #[must_use]
    pub fn max_hedges(mut self, n: usize) -> Self {
        self.0.max_hedges = n;
        self
    }
    /// Latency mode with this delay.
    #[must_use]
    pub fn delay(mut self, delay: HedgeDelay) -> Self {
        self.0.mode = HedgeMode::Latency(delay);
        self
    }
    /// Parallel mode: every attempt at once.
    #[must_use]
    pub fn parallel(mut self) -> Self {
        self.0.mode = HedgeMode::Parallel;
        self
    }
    /// Fallback mode: the next attempt only after a failure.
    #[must_use]
    pub fn fallback(mut self) -> Self {
        self.0.mode = HedgeMode::Fallback;
        self
    }
    /// Validates the settings.
    ///
    /// # Errors
    ///
    /// `hedge.max_hedges` in `[1, 16]`; `hedge.quantile` in `(0, 1)`.
    pub fn build(self) -> Result<HedgeConfig, ConfigError> {
        let c = self.0;
        ConfigError::ensure(
            (1..=16).contains(&c.max_hedges),
            "hedge.max_hedges",
            c.max_hedges,
            "in [1, 16]",
        )?;
        if let HedgeMode::Latency(HedgeDelay::Percentile { quantile, .. }) = c.mode {
            ConfigError::ensure(
                quantile > 0.0 && quantile < 1.0,
                "hedge.quantile",
                quantile,
                "in (0, 1)",
            )?;
        }
        Ok(c)
    }
}

/// Where hedges draw from: each extra attempt needs a withdrawal.
///
/// Implement it over a retry budget to bound the load hedging adds.
/// Closures `Fn() -> bool` are budgets too.
pub trait HedgeBudget: Send + Sync {
    /// Called once per call, before any attempt (lets ratio budgets earn credit).
    fn deposit(&self) {}

    /// May one more hedge start?
    fn try_withdraw(&self) -> bool;
}

/// A budget that always says yes.
#[derive(Debug, Clone, Copy, Default)]
pub struct UnlimitedHedges;

impl HedgeBudget for UnlimitedHedges {
    fn try_withdraw(&self) -> bool {
        true
    }
}

impl<F: Fn() -> bool + Send + Sync> HedgeBudget for F {
    fn try_withdraw(&self) -> bool {
        self()
    }
}

/// Why a hedge started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HedgeReason {
    /// The delay passed without an answer.
    Slow,
    /// An earlier attempt failed.
    Failed,
    /// Parallel mode starts every attempt at once.
    Parallel,
}

/// What a [`Hedger`] reports to its observer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HedgeEvent {
    /// An extra attempt started.
    HedgeStarted {
        /// When.
        at: Timestamp,
        /// Its number (the first attempt is 0).
        attempt: usize,
        /// Why.
        reason: HedgeReason,
    },
    /// A hedge was wanted but the budget refused it.
    BudgetExhausted {
        /// When.
        at: Timestamp,
        /// The attempt that did not start.
        attempt: usize,
    },
}

/// Runs calls with hedged attempts. Cheap to share behind an `Arc`.
pub struct Hedger<B = UnlimitedHedges> {
    config: HedgeConfig,
    estimator: LatencyEstimator,
    budget: B,
    clock: Arc<dyn Clock>,
    observer: Arc<dyn Observer<HedgeEvent>>,
}

impl<B> fmt::Debug for Hedger<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hedger")
            .field("config", &self.config)
            .field("estimator", &self.estimator)
            .finish_non_exhaustive()
    }
}

impl Hedger<UnlimitedHedges> {
    /// A hedger without a budget, on the real clock.
    #[must_use]
    pub fn new(config: HedgeConfig) -> Self {
        Hedger::observed(config, UnlimitedHedges, MonotonicClock::new(), ())
    }
}

impl<B: HedgeBudget> Hedger<B> {
    /// A hedger drawing hedges from `budget`, measuring latency on `clock`,
    /// reporting to `observer`.
    #[must_use]
    pub fn observed(
        config: HedgeConfig,
        budget: B,
        clock: impl Clock + 'static,
        observer: impl Observer<HedgeEvent> + 'static,
    ) -> Self {
        let quantile = match config.mode {
            HedgeMode::Latency(HedgeDelay::Percentile { quantile, .. }) => quantile,
            _ => 0.95,
        };
        Hedger {
            config,
            estimator: LatencyEstimator::new(quantile),
            budget,
            clock: Arc::new(clock),
            observer: Arc::new(observer),
        }
    }

    /// The latency estimator, fed by successful attempts when the hedge
    /// delay is a percentile (the only mode that reads it; the others skip
    /// the two clock reads per call that measuring costs). Feed it yourself
    /// with [`LatencyEstimator::record`] to track latency in other modes.
    #[must_use]
    pub fn estimator(&self) -> &LatencyEstimator {
        &self.estimator
    }

    /// The delay after which the next hedge would start now (`None` in
    /// fallback mode, zero in parallel mode).
    #[must_use]
    #[inline]
    pub fn hedge_delay(&self) -> Option<Duration> {
        match self.config.mode {
            HedgeMode::Latency(HedgeDelay::Fixed(d)) => Some(d),
            HedgeMode::Latency(HedgeDelay::Percentile { until_warm, .. }) => {
                Some(self.estimator.quantile().unwrap_or(until_warm))
            }
            HedgeMode::Parallel => Some(Duration::ZERO),
            HedgeMode::Fallback => None,
        }
    }

    /// Runs `attempt(0)`, hedging with `attempt(1)`, `attempt(2)`, ... as
    /// configured. Returns the first success, or the last error when every
    /// attempt failed. Attempts still running when the call returns are dropped.
    ///
    /// The returned [`Hedged`] future does nothing until polled. The primary
    /// attempt lives inside it and the hedge timer is armed only once the
    /// attempts are pending: a primary that answers on its first poll costs
    /// no allocation and no timer.
    ///
    /// # Errors
    ///
    /// The last attempt's error when all attempts failed.
    pub fn run<'a, S, F, Fut, T, E>(
        &'a self,
        sleeper: &'a S,
        attempt: F,
    ) -> Hedged<'a, B, S, F, Fut, E>
    where
        S: Sleeper + ?Sized,
        F: FnMut(usize) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        Hedged {
            hedger: self,
            sleeper,
            attempt,
            core: HedgeCore::new(),
        }
    }

    /// When an attempt starts, read only if its latency will be recorded.
    fn start_time(&self, measure: bool) -> Timestamp {
        if measure {
            self.clock.now()
        } else {
            Timestamp::ZERO
        }
    }

    /// A finished attempt: its value (its latency recorded when measuring),
    /// or `None` with its error kept as the last one.
    fn finished<T, E>(
        &self,
        measure: bool,
        started: Timestamp,
        result: Result<T, E>,
        last_error: &mut Option<E>,
    ) -> Option<T> {
        match result {
            Ok(value) => {
                if measure {
                    let now = self.clock.now();
                    self.estimator
                        .record(now.saturating_duration_since(started));
                }
                Some(value)
            }
            Err(e) => {
                *last_error = Some(e);
                None
            }
        }
    }

    fn start_hedge(&self, reason: HedgeReason, attempt: usize) -> bool {
        let at = self.clock.now();
        if self.budget.try_withdraw() {
            self.observer.on_event(&HedgeEvent::HedgeStarted {
                at,
                attempt,
                reason,
            });
            true
        } else {
            self.observer
                .on_event(&HedgeEvent::BudgetExhausted { at, attempt });
            false
        }
    }
}

/// The future of [`Hedger::run`]: the first successful attempt's value, or
/// the last error when every attempt failed.
#[pin_project::pin_project]
#[must_use = "futures do nothing unless polled"]
pub struct Hedged<'a, B, S: Sleeper + ?Sized, F, Fut, E> {
    hedger: &'a Hedger<B>,
    sleeper: &'a S,
    attempt: F,
    #[pin]
    core: HedgeCore<Fut, E, S::Sleep>,
}

impl<B, S: Sleeper + ?Sized, F, Fut, E> fmt::Debug for Hedged<'_, B, S, F, Fut, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hedged")
            .field("started", &self.core.started)
            .field("primary_running", &self.core.primary.is_some())
            .field("hedges", &self.core.hedges.len())
            .field("timer_armed", &self.core.timer.is_some())
            .finish_non_exhaustive()
    }
}

impl<B, S, F, Fut, T, E> Future for Hedged<'_, B, S, F, Fut, E>
where
    B: HedgeBudget,
    S: Sleeper + ?Sized,
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    type Output = Result<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        this.core
            .poll_with(cx, this.hedger, *this.sleeper, this.attempt)
    }
}

/// The state of one hedged call, apart from the hedger, the sleeper and the
/// attempt maker that drive it: a future that owns a handle on a hedger
/// (rather than borrowing one) keeps this and lends the rest to
/// [`poll_with`](HedgeCore::poll_with) on every poll.
#[pin_project::pin_project]
pub(crate) struct HedgeCore<Fut, E, Sl> {
    #[pin]
    primary: Option<Fut>,
    hedges: Vec<Option<(Pin<Box<Fut>>, Timestamp)>>,
    /// On the heap once armed: the success path carries no timer bytes.
    timer: Option<Pin<Box<Sl>>>,
    last_error: Option<E>,
    primary_started: Timestamp,
    delay: Option<Duration>,
    started: bool,
    timer_due: bool,
    budget_refused: bool,
}

impl<Fut, E, Sl: Future<Output = ()>> HedgeCore<Fut, E, Sl> {
    /// A call not started yet: the first poll starts the primary attempt.
    pub(crate) fn new() -> Self {
        HedgeCore {
            primary: None,
            hedges: Vec::new(),
            timer: None,
            last_error: None,
            primary_started: Timestamp::ZERO,
            delay: None,
            started: false,
            timer_due: false,
            budget_refused: false,
        }
    }

    /// Polls the call: the first successful attempt's value, or the last
    /// error once every attempt failed. Always the same `hedger`, `sleeper`
    /// and `attempt` for one call.
    pub(crate) fn poll_with<B, S, F, T>(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        hedger: &Hedger<B>,
        sleeper: &S,
        attempt: &mut F,
    ) -> Poll<Result<T, E>>
    where
        B: HedgeBudget,
        S: Sleeper<Sleep = Sl> + ?Sized,
        F: FnMut(usize) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut this = self.project();
        let config = &hedger.config;
        let total = 1 + config.max_hedges;
        let parallel = matches!(config.mode, HedgeMode::Parallel);
        let measure = matches!(
            config.mode,
            HedgeMode::Latency(HedgeDelay::Percentile { .. })
        );
        if !*this.started {
            *this.started = true;
            hedger.budget.deposit();
            *this.delay = hedger.hedge_delay();
            *this.primary_started = hedger.start_time(measure);
            this.primary.set(Some(attempt(0)));
            if parallel {
                while 1 + this.hedges.len() < total
                    && hedger.start_hedge(HedgeReason::Parallel, 1 + this.hedges.len())
                {
                    let fut = attempt(1 + this.hedges.len());
                    this.hedges
                        .push(Some((Box::pin(fut), hedger.start_time(measure))));
                }
            }
            *this.timer_due = !parallel && this.delay.is_some();
        }
        loop {
            let mut failed = false;
            if let Some(fut) = this.primary.as_mut().as_pin_mut()
                && let Poll::Ready(result) = fut.poll(cx)
            {
                this.primary.set(None);
                if let Some(value) =
                    hedger.finished(measure, *this.primary_started, result, this.last_error)
                {
                    return Poll::Ready(Ok(value));
                }
                failed = true;
            }
            for slot in this.hedges.iter_mut() {
                let Some((fut, started)) = slot else { continue };
                if let Poll::Ready(result) = fut.as_mut().poll(cx) {
                    let started = *started;
                    *slot = None;
                    if let Some(value) = hedger.finished(measure, started, result, this.last_error)
                    {
                        return Poll::Ready(Ok(value));
                    }
                    failed = true;
                }
            }
            let launched = 1 + this.hedges.len();
            let can_start = launched < total && !*this.budget_refused;
            if failed && can_start && !parallel {
                if hedger.start_hedge(HedgeReason::Failed, launched) {
                    let fut = attempt(launched);
                    this.hedges
                        .push(Some((Box::pin(fut), hedger.start_time(measure))));
                    if this.delay.is_some() {
                        // The next hedge waits a full delay from this one.
                        *this.timer = None;
                        *this.timer_due = true;
                    }
                    continue;
                }
                *this.budget_refused = true;
            }
            if *this.timer_due
                && this.timer.is_none()
                && let Some(d) = *this.delay
            {
                *this.timer = Some(Box::pin(sleeper.sleep(d)));
            }
            let fired = this
                .timer
                .as_mut()
                .is_some_and(|t| t.as_mut().poll(cx).is_ready());
            if fired {
                *this.timer = None;
                *this.timer_due = false;
                let launched = 1 + this.hedges.len();
                if launched < total && !*this.budget_refused {
                    if hedger.start_hedge(HedgeReason::Slow, launched) {
                        let fut = attempt(launched);
                        this.hedges
                            .push(Some((Box::pin(fut), hedger.start_time(measure))));
                        *this.timer_due = launched + 1 < total;
                        continue;
                    }
                    *this.budget_refused = true;
                }
            }
            if this.primary.is_none()
                && this.hedges.iter().all(Option::is_none)
                && let Some(e) = this.last_error.take()
            {
                return Poll::Ready(Err(e));
            }
            return Poll::Pending;
        }
    }
}

#[cfg(all(test, not(steadfast_loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize};
    use steadfast_core::{ManualClock, Recorder};

    #[test]
    fn buckets_are_monotonic_and_tight() {
        let mut last = 0;
        for v in (0..100_000u64).chain([1 << 20, 1 << 30, 1 << 40, u64::MAX]) {
            let b = bucket_of(v);
            assert!(b >= last, "bucket order");
            assert!(b < BUCKETS);
            assert!(bucket_upper(b) >= v.min((1 << MAX_EXP) - 1));
            if (16..(1 << MAX_EXP)).contains(&v) {
                // Relative width at most 1/16.
                assert!((bucket_upper(b) - v) as f64 <= v as f64 / 16.0);
            }
            last = b;
        }
    }

    #[test]
    fn estimator_has_sub_millisecond_resolution() {
        let e = LatencyEstimator::new(0.5);
        assert_eq!(e.quantile(), None);
        for _ in 0..64 {
            e.record(Duration::from_micros(300));
        }
        let q = e.quantile().unwrap();
        assert!(
            q >= Duration::from_micros(300) && q <= Duration::from_micros(320),
            "{q:?}"
        );
    }

    #[test]
    fn estimator_follows_a_shift_through_decay() {
        let e = LatencyEstimator::new(0.5);
        for _ in 0..4096 {
            e.record(Duration::from_millis(1));
        }
        for _ in 0..3 * 4096 {
            e.record(Duration::from_millis(10));
        }
        assert!(e.quantile().unwrap() >= Duration::from_millis(10));
        e.record(Duration::MAX);
        e.record(Duration::ZERO);
    }

    #[test]
    fn config_validation() {
        assert!(HedgeConfig::builder().max_hedges(0).build().is_err());
        assert!(HedgeConfig::builder().max_hedges(17).build().is_err());
        let bad = HedgeConfig::builder().delay(HedgeDelay::Percentile {
            quantile: f64::NAN,
            until_warm: Duration::ZERO,
        });
        assert_eq!(bad.build().unwrap_err().field(), "hedge.quantile");
    }

    struct DropFlag(Arc<AtomicBool>);
    impl Drop for DropFlag {
        fn drop(&mut self) {
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[test]
    fn slow_primary_is_hedged_and_dropped() {
        let events = Recorder::new();
        let hedger = Hedger::observed(
            HedgeConfig::builder()
                .delay(HedgeDelay::Fixed(Duration::from_millis(5)))
                .build()
                .unwrap(),
            UnlimitedHedges,
            ManualClock::new(),
            events.clone(),
        );
        let dropped = Arc::new(AtomicBool::new(false));
        let instant = |_d: Duration| std::future::ready(());
        let out = futures::executor::block_on(hedger.run(&instant, |i| {
            let flag = (i == 0).then(|| DropFlag(dropped.clone()));
            async move {
                let _flag = flag;
                if i == 0 {
                    std::future::pending::<()>().await;
                }
                Ok::<usize, ()>(i)
            }
        }));
        assert_eq!(out, Ok(1));
        assert!(dropped.load(std::sync::atomic::Ordering::SeqCst));
        assert!(matches!(
            events.events()[0],
            HedgeEvent::HedgeStarted {
                attempt: 1,
                reason: HedgeReason::Slow,
                ..
            }
        ));
        assert_eq!(
            hedger.estimator().count(),
            0,
            "a fixed delay needs no latency estimate"
        );
    }

    #[test]
    fn fallback_only_after_failure_and_returns_last_error() {
        let hedger = Hedger::new(
            HedgeConfig::builder()
                .max_hedges(2)
                .fallback()
                .build()
                .unwrap(),
        );
        let never = |_d: Duration| std::future::pending::<()>();
        let calls = AtomicUsize::new(0);
        let out = futures::executor::block_on(hedger.run(&never, |i| {
            calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move { Err::<(), usize>(i) }
        }));
        assert_eq!(out, Err(2));
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 3);
        let out = futures::executor::block_on(hedger.run(&never, |i| async move {
            if i == 0 { Err("down") } else { Ok(i) }
        }));
        assert_eq!(out, Ok(1));
        assert_eq!(hedger.hedge_delay(), None);
    }

    #[test]
    fn parallel_starts_everything_at_once() {
        let hedger = Hedger::new(
            HedgeConfig::builder()
                .max_hedges(3)
                .parallel()
                .build()
                .unwrap(),
        );
        let never = |_d: Duration| std::future::pending::<()>();
        let started = AtomicUsize::new(0);
        let out = futures::executor::block_on(hedger.run(&never, |i| {
            started.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move {
                if i != 3 {
                    std::future::pending::<()>().await;
                }
                Ok::<usize, ()>(i)
            }
        }));
        assert_eq!(out, Ok(3));
        assert_eq!(started.load(std::sync::atomic::Ordering::SeqCst), 4);
        assert_eq!(hedger.hedge_delay(), Some(Duration::ZERO));
    }

    /// Pending on the first poll, ready on the second.
    struct YieldOnce(bool);
    impl Future for YieldOnce {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<()> {
            if self.0 {
                Poll::Ready(())
            } else {
                self.0 = true;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }
    }

    #[test]
    fn refused_budget_keeps_the_primary() {
        let events = Recorder::new();
        let hedger = Hedger::observed(
            HedgeConfig::builder()
                .delay(HedgeDelay::Fixed(Duration::ZERO))
                .build()
                .unwrap(),
            || false,
            ManualClock::new(),
            events.clone(),
        );
        let instant = |_d: Duration| std::future::ready(());
        let out = futures::executor::block_on(hedger.run(&instant, |i| async move {
            YieldOnce(false).await;
            Ok::<usize, ()>(i)
        }));
        assert_eq!(out, Ok(0));
        assert!(matches!(
            events.events()[0],
            HedgeEvent::BudgetExhausted { attempt: 1, .. }
        ));
    }

    #[test]
    fn percentile_delay_warms_up() {
        let hedger = Hedger::new(
            HedgeConfig::builder()
                .delay(HedgeDelay::Percentile {
                    quantile: 0.9,
                    until_warm: Duration::from_millis(50),
                })
                .build()
                .unwrap(),
        );
        assert_eq!(hedger.hedge_delay(), Some(Duration::from_millis(50)));
        for _ in 0..64 {
            hedger.estimator().record(Duration::from_millis(2));
        }
        let d = hedger.hedge_delay().unwrap();
        assert!(
            d >= Duration::from_millis(2) && d < Duration::from_micros(2_130),
            "{d:?}"
        );
    }
}
