//! Error budgets over rolling windows, with the budgeting methods of OpenSLO.
//!
//! - **Occurrences**: the SLI is good events over all events in the window.
//! - **Timeslices**: the window is cut into slices; a slice is good when its
//!   own good ratio reaches the slice target; the SLI is good slices over
//!   slices with traffic.
//! - **RatioTimeslices**: the SLI is the mean of the slices' good ratios, so
//!   a quiet slice weighs as much as a busy one.
//!
//! Slices without traffic count as neither good nor bad. Without any traffic
//! every figure is `None`, never NaN.

use core::time::Duration;

use steadfast_core::{ConfigError, Observer, Timestamp};

use crate::objective::{Objective, time_to_exhaustion};
use crate::window::{Counts, Recorded};

/// How good events turn into an SLI, as in OpenSLO's `budgetingMethod`.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum BudgetingMethod {
    /// Good events over all events.
    Occurrences,
    /// Good slices over slices with traffic; a slice is good when its good ratio is at least `slice_target`.
    Timeslices {
        /// The good ratio a slice needs to count as good, in (0, 1].
        slice_target: f64,
    },
    /// The mean good ratio of the slices with traffic.
    RatioTimeslices,
}

/// The state of an error budget at one moment.
///
/// `units` are events for occurrences and slices for the time-slice methods.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BudgetStatus {
    /// The objective the budget belongs to.
    pub objective: Objective,
    /// Good units in the window.
    pub good: u64,
    /// Counted units in the window.
    pub total: u64,
    /// The measured SLI (good fraction), `None` without traffic.
    pub sli: Option<f64>,
    /// Fraction of the budget consumed (may exceed 1), `None` without traffic.
    pub consumed: Option<f64>,
    /// Fraction of the budget left: `1 - consumed` (negative when overdrawn).
    pub remaining: Option<f64>,
    /// Error ratio over the budget: 1.0 spends the budget exactly over the window.
    pub burn_rate: Option<f64>,
}

impl BudgetStatus {
    /// The status for an SLI measured over a window whose budget is `(1 - target)`.
    #[must_use]
    pub fn from_sli(objective: Objective, good: u64, total: u64, sli: Option<f64>) -> BudgetStatus {
        let burn_rate = sli.map(|s| objective.burn_rate((1.0 - s).max(0.0)));
        BudgetStatus {
            objective,
            good,
            total,
            sli,
            consumed: burn_rate,
            remaining: burn_rate.map(|b| 1.0 - b),
            burn_rate,
        }
    }

    /// The status of plain event counts (occurrences).
    ///
    /// ```
    /// use steadfast_slo::{BudgetStatus, Counts, Objective};
    /// let s = BudgetStatus::from_counts(Objective::new(0.99)?, Counts { good: 995, total: 1000 });
    /// assert!((s.consumed.unwrap() - 0.5).abs() < 1e-9);
    /// assert_eq!(BudgetStatus::from_counts(Objective::new(0.99)?, Counts::default()).consumed, None);
    /// # Ok::<(), steadfast_core::ConfigError>(())
    /// ```
    #[must_use]
    pub fn from_counts(objective: Objective, counts: Counts) -> BudgetStatus {
        BudgetStatus::from_sli(objective, counts.good, counts.total, counts.good_ratio())
    }

    /// Allowed bad units in the window so far: `(1 - target) * total`.
    #[must_use]
    pub fn allowed_bad(&self) -> f64 {
        self.objective.error_budget() * self.total as f64
    }

    /// Time until the remaining budget is gone at `burn_rate` (for example the
    /// burn rate of a short recent window), for a budget defined over `period`.
    /// `None` without traffic or when nothing burns.
    #[must_use]
    pub fn time_to_exhaustion(&self, burn_rate: Option<f64>, period: Duration) -> Option<Duration> {
        time_to_exhaustion(self.remaining?, burn_rate?, period)
    }
}

/// Ratios are summed as fixed point so removing a slice is exact.
const RATIO_ONE: u128 = 1 << 40;

#[derive(Debug, Clone, Copy, Default)]
struct Slice {
    epoch: u64,
    good: u64,
    total: u64,
}

/// An error budget over a rolling window, O(1) to record and to read.
///
/// The window is `slices` slices of `slice` each; for occurrences the slices
/// are just buckets.
///
/// ```
/// use std::time::Duration;
/// use steadfast_core::Timestamp;
/// use steadfast_slo::{BudgetingMethod, Objective, RollingBudget};
///
/// let minute = Duration::from_secs(60);
/// // 99% over 60 one-minute slices; a slice is good at 95% good.
/// let mut b = RollingBudget::new(
///     Objective::new(0.99)?, minute, 60, BudgetingMethod::Timeslices { slice_target: 0.95 })?;
/// for m in 0..60 {
///     let bad = if m == 7 { 10 } else { 0 };
///     b.record(Timestamp::from_secs(m * 60), 100 - bad, 100);
/// }
/// let s = b.status_at(Timestamp::from_secs(59 * 60));
/// assert_eq!((s.good, s.total), (59, 60));
/// // One bad slice of 60 allowed 0.6: 1.67x the budget.
/// assert!((s.consumed.unwrap() - 1.0 / 0.6).abs() < 1e-9);
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct RollingBudget {
    objective: Objective,
    method: BudgetingMethod,
    slice_nanos: u64,
    ring: Box<[Slice]>,
    head: u64,
    started: bool,
    good_events: u64,
    total_events: u64,
    good_slices: u64,
    counted_slices: u64,
    ratio_sum: u128,
}

impl RollingBudget {
    /// A budget for `objective` over `slices` slices of width `slice`.
    ///
    /// # Errors
    ///
    /// `slice` must be at least 1ns, `slices` in [1, 1048576], and a
    /// time-slice target in (0, 1].
    pub fn new(
        objective: Objective,
        slice: Duration,
        slices: usize,
        method: BudgetingMethod,
    ) -> Result<RollingBudget, ConfigError> {
        let slice_nanos = u64::try_from(slice.as_nanos()).unwrap_or(u64::MAX);
        ConfigError::ensure(
            slice_nanos >= 1,
            "budget.slice",
            format!("{slice:?}"),
            "at least 1ns",
        )?;
        ConfigError::ensure(
            (1..=1 << 20).contains(&slices),
            "budget.slices",
            slices,
            "in [1, 1048576]",
        )?;
        if let BudgetingMethod::Timeslices { slice_target } = method {
            ConfigError::ensure(
                slice_target > 0.0 && slice_target <= 1.0,
                "budget.slice_target",
                slice_target,
                "in (0, 1]",
            )?;
        }
        Ok(RollingBudget {
            objective,
            method,
            slice_nanos,
            ring: vec![Slice::default(); slices].into_boxed_slice(),
            head: 0,
            started: false,
            good_events: 0,
            total_events: 0,
            good_slices: 0,
            counted_slices: 0,
            ratio_sum: 0,
        })
    }

    /// The objective.
    #[must_use]
    pub fn objective(&self) -> Objective {
        self.objective
    }

    /// The budgeting method.
    #[must_use]
    pub fn method(&self) -> BudgetingMethod {
        self.method
    }

    /// The window length: slice width times slice count.
    #[must_use]
    pub fn window(&self) -> Duration {
        Duration::from_nanos(self.slice_nanos)
            .saturating_mul(u32::try_from(self.ring.len()).unwrap_or(u32::MAX))
    }

    fn slot(&self, epoch: u64) -> usize {
        (epoch % self.ring.len() as u64) as usize
    }

    fn slice_is_good(&self, s: Slice) -> bool {
        match self.method {
            BudgetingMethod::Timeslices { slice_target } => {
                s.total > 0 && (s.good as f64) >= slice_target * s.total as f64
            }
            _ => false,
        }
    }

    fn ratio_fixed(s: Slice) -> u128 {
        if s.total == 0 {
            0
        } else {
            (s.good as u128 * RATIO_ONE) / s.total as u128
        }
    }

    fn remove(&mut self, s: Slice) {
        self.good_events -= s.good;
        self.total_events -= s.total;
        if s.total > 0 {
            self.counted_slices -= 1;
            self.good_slices -= u64::from(self.slice_is_good(s));
            self.ratio_sum -= Self::ratio_fixed(s);
        }
    }

    fn add(&mut self, s: Slice) {
        self.good_events += s.good;
        self.total_events += s.total;
        if s.total > 0 {
            self.counted_slices += 1;
            self.good_slices += u64::from(self.slice_is_good(s));
            self.ratio_sum += Self::ratio_fixed(s);
        }
    }

    /// Moves the window so that the slice holding `at` is the newest. Time going backwards is ignored.
    pub fn advance_to(&mut self, at: Timestamp) {
        let epoch = at.as_nanos() / self.slice_nanos;
        if !self.started {
            self.started = true;
            self.head = epoch;
            let slot = self.slot(epoch);
            self.ring[slot] = Slice {
                epoch,
                good: 0,
                total: 0,
            };
            return;
        }
        if epoch <= self.head {
            return;
        }
        let n = self.ring.len() as u64;
        if epoch - self.head >= n {
            self.ring.fill(Slice::default());
            self.good_events = 0;
            self.total_events = 0;
            self.good_slices = 0;
            self.counted_slices = 0;
            self.ratio_sum = 0;
        } else {
            for e in self.head + 1..=epoch {
                let slot = self.slot(e);
                let old = self.ring[slot];
                self.remove(old);
                self.ring[slot] = Slice {
                    epoch: e,
                    good: 0,
                    total: 0,
                };
            }
        }
        let slot = self.slot(epoch);
        self.ring[slot].epoch = epoch;
        self.head = epoch;
    }

    /// Records `good` good events out of `total` at `at` (`good` is clamped to `total`).
    pub fn record(&mut self, at: Timestamp, good: u64, total: u64) -> Recorded {
        self.advance_to(at);
        let epoch = at.as_nanos() / self.slice_nanos;
        if epoch.saturating_add(self.ring.len() as u64) <= self.head {
            return Recorded::TooOld;
        }
        let slot = self.slot(epoch);
        let mut s = self.ring[slot];
        self.remove(s);
        if s.epoch != epoch {
            s = Slice {
                epoch,
                good: 0,
                total: 0,
            };
        }
        let room = u64::MAX - self.total_events;
        let total = total.min(room);
        s.total += total;
        s.good += good.min(total);
        self.add(s);
        self.ring[slot] = s;
        Recorded::Counted
    }

    /// The status as of the last advance.
    #[must_use]
    pub fn status(&self) -> BudgetStatus {
        match self.method {
            BudgetingMethod::Occurrences => BudgetStatus::from_counts(
                self.objective,
                Counts {
                    good: self.good_events,
                    total: self.total_events,
                },
            ),
            BudgetingMethod::Timeslices { .. } => BudgetStatus::from_counts(
                self.objective,
                Counts {
                    good: self.good_slices,
                    total: self.counted_slices,
                },
            ),
            BudgetingMethod::RatioTimeslices => {
                let sli = (self.counted_slices > 0).then(|| {
                    (self.ratio_sum as f64 / RATIO_ONE as f64) / self.counted_slices as f64
                });
                BudgetStatus::from_sli(self.objective, self.good_slices, self.counted_slices, sli)
            }
        }
    }

    /// Advances to `at` and returns the status.
    pub fn status_at(&mut self, at: Timestamp) -> BudgetStatus {
        self.advance_to(at);
        self.status()
    }

    /// Raw event counts in the window (for every method).
    #[must_use]
    pub fn event_counts(&self) -> Counts {
        Counts {
            good: self.good_events,
            total: self.total_events,
        }
    }
}

/// Whether a budget went past a threshold or came back under it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BudgetEventKind {
    /// Consumption reached the threshold.
    Crossed,
    /// Consumption fell back below the threshold (old errors left the window).
    Recovered,
}

/// A budget crossed one of the thresholds of a [`BudgetWatch`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BudgetEvent {
    /// When it was checked.
    pub at: Timestamp,
    /// The threshold, as a fraction of the budget (1.0 is exhausted).
    pub threshold: f64,
    /// The fraction consumed at that time.
    pub consumed: f64,
    /// Crossed or recovered.
    pub kind: BudgetEventKind,
}

/// A [`RollingBudget`] that reports to an observer when consumption crosses thresholds.
///
/// ```
/// use std::time::Duration;
/// use steadfast_core::{Recorder, Timestamp};
/// use steadfast_slo::budget::{BudgetEvent, BudgetWatch};
/// use steadfast_slo::{BudgetingMethod, Objective, RollingBudget};
///
/// let budget = RollingBudget::new(Objective::new(0.99)?, Duration::from_secs(60), 60, BudgetingMethod::Occurrences)?;
/// let events = Recorder::<BudgetEvent>::new();
/// let mut watch = BudgetWatch::new(budget, &[0.5, 1.0])?.with_observer(events.clone());
/// watch.record(Timestamp::from_secs(1), 994, 1000);
/// watch.record(Timestamp::from_secs(2), 994, 1000);
/// // 0.6% errors against a 1% budget: 60% consumed, past the first threshold only.
/// assert_eq!(events.events().len(), 1);
/// assert_eq!(events.events()[0].threshold, 0.5);
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[derive(Debug)]
pub struct BudgetWatch<O = ()> {
    budget: RollingBudget,
    thresholds: Vec<f64>,
    above: Vec<bool>,
    observer: O,
}

impl BudgetWatch<()> {
    /// Watches `budget` for `thresholds` (fractions of the budget consumed, such as 0.5 and 1.0).
    ///
    /// # Errors
    ///
    /// Every threshold must be positive and finite.
    pub fn new(budget: RollingBudget, thresholds: &[f64]) -> Result<BudgetWatch<()>, ConfigError> {
        for (i, &t) in thresholds.iter().enumerate() {
            ConfigError::ensure(
                t > 0.0 && t.is_finite(),
                format!("budget_watch.thresholds[{i}]"),
                t,
                "positive and finite",
            )?;
        }
        Ok(BudgetWatch {
            budget,
            thresholds: thresholds.to_vec(),
            above: vec![false; thresholds.len()],
            observer: (),
        })
    }

    /// This watch reporting to `observer`.
    #[must_use]
    pub fn with_observer<O: Observer<BudgetEvent>>(self, observer: O) -> BudgetWatch<O> {
        BudgetWatch {
            budget: self.budget,
            thresholds: self.thresholds,
            above: self.above,
            observer,
        }
    }
}

impl<O: Observer<BudgetEvent>> BudgetWatch<O> {
    /// Records events at `at`, then checks the thresholds.
    pub fn record(&mut self, at: Timestamp, good: u64, total: u64) -> BudgetStatus {
        let _ = self.budget.record(at, good, total);
        self.check(at)
    }

    /// Advances to `at` and reports every threshold crossed since the last check.
    pub fn check(&mut self, at: Timestamp) -> BudgetStatus {
        let status = self.budget.status_at(at);
        let consumed = status.consumed.unwrap_or(0.0);
        for (i, &t) in self.thresholds.iter().enumerate() {
            let above = consumed >= t;
            if above != self.above[i] {
                self.above[i] = above;
                let kind = if above {
                    BudgetEventKind::Crossed
                } else {
                    BudgetEventKind::Recovered
                };
                self.observer.on_event(&BudgetEvent {
                    at,
                    threshold: t,
                    consumed,
                    kind,
                });
            }
        }
        status
    }

    /// The budget watched.
    #[must_use]
    pub fn budget(&self) -> &RollingBudget {
        &self.budget
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj() -> Objective {
        Objective::new(0.99).unwrap()
    }

    #[test]
    fn no_traffic_is_none_not_nan() {
        for method in [
            BudgetingMethod::Occurrences,
            BudgetingMethod::Timeslices { slice_target: 0.9 },
            BudgetingMethod::RatioTimeslices,
        ] {
            let mut b = RollingBudget::new(obj(), Duration::from_secs(1), 10, method).unwrap();
            let s = b.status_at(Timestamp::from_secs(5));
            assert_eq!(s.sli, None);
            assert_eq!(s.burn_rate, None);
            assert_eq!(
                s.time_to_exhaustion(s.burn_rate, Duration::from_secs(10)),
                None
            );
        }
    }

    #[test]
    fn ratio_timeslices_weigh_quiet_slices_equally() {
        let mut b = RollingBudget::new(
            obj(),
            Duration::from_secs(1),
            10,
            BudgetingMethod::RatioTimeslices,
        )
        .unwrap();
        let _ = b.record(Timestamp::from_secs(0), 1000, 1000);
        let _ = b.record(Timestamp::from_secs(1), 0, 1);
        let s = b.status();
        assert!((s.sli.unwrap() - 0.5).abs() < 1e-9);
    }

    #[test]
    fn watch_reports_crossing_and_recovery() {
        let events = steadfast_core::Recorder::<BudgetEvent>::new();
        let budget = RollingBudget::new(
            obj(),
            Duration::from_secs(1),
            10,
            BudgetingMethod::Occurrences,
        )
        .unwrap();
        let mut w = BudgetWatch::new(budget, &[1.0])
            .unwrap()
            .with_observer(events.clone());
        let _ = w.record(Timestamp::from_secs(0), 0, 10);
        let _ = w.record(Timestamp::from_secs(20), 100, 100);
        let kinds: Vec<_> = events.events().iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            [BudgetEventKind::Crossed, BudgetEventKind::Recovered]
        );
        assert!(BudgetWatch::new(w.budget().clone(), &[f64::NAN]).is_err());
        assert!(BudgetWatch::new(w.budget().clone(), &[0.0]).is_err());
    }

    #[test]
    fn rejects_bad_slice_target() {
        for t in [0.0, 1.5, f64::NAN] {
            assert!(
                RollingBudget::new(
                    obj(),
                    Duration::from_secs(1),
                    10,
                    BudgetingMethod::Timeslices { slice_target: t }
                )
                .is_err()
            );
        }
    }
}
