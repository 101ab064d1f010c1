//! Calendar windows in a time zone, and error budgets that reset with them.
//!
//! A calendar window is "1 month starting 2024-01-01 00:00 in Europe/Paris":
//! periods follow the civil calendar of the zone, so a month is 28 to 31 days
//! and a day may be 23 or 25 hours across a daylight-saving change. Times are
//! wall-clock instants ([`jiff::Timestamp`]) passed in by the caller; nothing
//! here reads the system clock. The time-zone database is bundled, so zone
//! names resolve the same on every machine.

use core::fmt;
use core::time::Duration;
use std::collections::BTreeMap;

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp, Unit, Zoned};
use steadfast_core::ConfigError;

use crate::budget::{BudgetStatus, BudgetingMethod};
use crate::objective::Objective;
use crate::window::{Counts, Recorded};

/// The unit of a calendar window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CalendarUnit {
    /// Minutes.
    Minute,
    /// Hours.
    Hour,
    /// Civil days (23 to 25 hours around daylight-saving changes).
    Day,
    /// Seven civil days.
    Week,
    /// Calendar months.
    Month,
    /// Three calendar months.
    Quarter,
    /// Twelve calendar months.
    Year,
}

/// A calendar computation failed (a date out of range, usually).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("calendar window: {0}")]
#[non_exhaustive]
pub struct CalendarError(String);

fn cal_err(e: jiff::Error) -> CalendarError {
    CalendarError(e.to_string())
}

/// One period of a calendar window: `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CalendarPeriod {
    /// First instant of the period.
    pub start: Timestamp,
    /// First instant after the period.
    pub end: Timestamp,
}

impl CalendarPeriod {
    /// The period's length.
    #[must_use]
    pub fn length(&self) -> Duration {
        nanos_between(self.start, self.end)
    }

    /// Whether `at` falls in the period.
    #[must_use]
    pub fn contains(&self, at: Timestamp) -> bool {
        self.start <= at && at < self.end
    }

    /// Fraction of the period elapsed at `at`, clamped to [0, 1].
    #[must_use]
    pub fn elapsed_fraction(&self, at: Timestamp) -> f64 {
        let total = self.length().as_secs_f64();
        if total <= 0.0 {
            return 1.0;
        }
        (nanos_between(self.start, at).as_secs_f64() / total).clamp(0.0, 1.0)
    }
}

fn nanos_between(a: Timestamp, b: Timestamp) -> Duration {
    let n = b.as_nanosecond() - a.as_nanosecond();
    Duration::from_nanos(u64::try_from(n.max(0)).unwrap_or(u64::MAX))
}

/// Periods of `count` units aligned on an anchor in a time zone.
///
/// ```
/// use jiff::civil::date;
/// use steadfast_slo::calendar::{CalendarUnit, CalendarWindow};
///
/// let w = CalendarWindow::new(1, CalendarUnit::Month, "America/New_York", date(2024, 1, 1).at(0, 0, 0, 0))?;
/// let at: jiff::Timestamp = "2024-03-15T12:00:00Z".parse().unwrap();
/// let p = w.period_containing(at).unwrap();
/// // March in New York: starts at 05:00 UTC, ends at 04:00 UTC after the DST change.
/// assert_eq!(p.start.to_string(), "2024-03-01T05:00:00Z");
/// assert_eq!(p.end.to_string(), "2024-04-01T04:00:00Z");
/// assert_eq!(p.length().as_secs(), 31 * 86_400 - 3600);
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct CalendarWindow {
    count: u32,
    unit: CalendarUnit,
    zone: TimeZone,
    anchor: Zoned,
}

impl CalendarWindow {
    /// `count` units from `anchor` (a civil date-time in `zone`, an IANA name such as `"Europe/Paris"` or `"UTC"`).
    ///
    /// # Errors
    ///
    /// `count` must be in [1, 1000] and the zone must exist in the bundled database.
    pub fn new(
        count: u32,
        unit: CalendarUnit,
        zone: &str,
        anchor: DateTime,
    ) -> Result<CalendarWindow, ConfigError> {
        let tz = TimeZone::get(zone)
            .map_err(|_| ConfigError::new("calendar.time_zone", zone, "a known IANA time zone"))?;
        CalendarWindow::with_zone(count, unit, tz, anchor)
    }

    /// As [`CalendarWindow::new`] with a resolved zone.
    ///
    /// # Errors
    ///
    /// `count` must be in [1, 1000]; the anchor must be representable in the zone.
    pub fn with_zone(
        count: u32,
        unit: CalendarUnit,
        zone: TimeZone,
        anchor: DateTime,
    ) -> Result<CalendarWindow, ConfigError> {
        ConfigError::ensure(
            (1..=1000).contains(&count),
            "calendar.count",
            count,
            "in [1, 1000]",
        )?;
        let anchor = anchor.to_zoned(zone.clone()).map_err(|e| {
            ConfigError::new("calendar.start", anchor, format!("valid in the zone ({e})"))
        })?;
        Ok(CalendarWindow {
            count,
            unit,
            zone,
            anchor,
        })
    }

    /// The unit.
    #[must_use]
    pub fn unit(&self) -> CalendarUnit {
        self.unit
    }

    /// Units per period.
    #[must_use]
    pub fn count(&self) -> u32 {
        self.count
    }

    /// The time zone.
    #[must_use]
    pub fn zone(&self) -> &TimeZone {
        &self.zone
    }

    fn step(&self, k: i64) -> Result<Span, CalendarError> {
        let n = k * i64::from(self.count);
        let s = Span::new();
        match self.unit {
            CalendarUnit::Minute => s.try_minutes(n),
            CalendarUnit::Hour => s.try_hours(n),
            CalendarUnit::Day => s.try_days(n),
            CalendarUnit::Week => s.try_days(n * 7),
            CalendarUnit::Month => s.try_months(n),
            CalendarUnit::Quarter => s.try_months(n * 3),
            CalendarUnit::Year => s.try_months(n * 12),
        }
        .map_err(cal_err)
    }

    fn start_of(&self, k: i64) -> Result<Zoned, CalendarError> {
        self.anchor.checked_add(self.step(k)?).map_err(cal_err)
    }

    /// The period holding `at`.
    ///
    /// # Errors
    ///
    /// When the period's bounds fall outside the dates the calendar can represent.
    pub fn period_containing(&self, at: Timestamp) -> Result<CalendarPeriod, CalendarError> {
        let at_z = at.to_zoned(self.zone.clone());
        let (unit, per) = match self.unit {
            CalendarUnit::Minute => (Unit::Minute, 1),
            CalendarUnit::Hour => (Unit::Hour, 1),
            CalendarUnit::Day => (Unit::Day, 1),
            CalendarUnit::Week => (Unit::Day, 7),
            CalendarUnit::Month => (Unit::Month, 1),
            CalendarUnit::Quarter => (Unit::Month, 3),
            CalendarUnit::Year => (Unit::Month, 12),
        };
        let span = self.anchor.until((unit, &at_z)).map_err(cal_err)?;
        let units = match unit {
            Unit::Minute => span.get_minutes(),
            Unit::Hour => i64::from(span.get_hours()),
            Unit::Day => i64::from(span.get_days()),
            _ => i64::from(span.get_months()),
        };
        let per_period = per * i64::from(self.count);
        let mut k = units.div_euclid(per_period);
        // The estimate can be one off near boundaries; settle it.
        for _ in 0..4 {
            if self.start_of(k)?.timestamp() > at {
                k -= 1;
            } else if self.start_of(k + 1)?.timestamp() <= at {
                k += 1;
            } else {
                break;
            }
        }
        Ok(CalendarPeriod {
            start: self.start_of(k)?.timestamp(),
            end: self.start_of(k + 1)?.timestamp(),
        })
    }
}

impl fmt::Display for CalendarWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?} from {}", self.count, self.unit, self.anchor)
    }
}

/// The state of a calendar budget at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CalendarStatus {
    /// The current period.
    pub period: CalendarPeriod,
    /// Budget figures over the period so far.
    pub budget: BudgetStatus,
    /// Fraction of the period elapsed.
    pub elapsed: f64,
    /// Time left in the period.
    pub time_left: Duration,
}

/// An error budget over calendar periods: counts reset when a new period starts.
///
/// Occurrences count events; the time-slice methods cut each period into
/// slices of a fixed length from the period's start (the last slice may be
/// shorter), and a slice counts once it holds an event.
///
/// Late events (stamped earlier than events already recorded) are counted into
/// their own slice as long as it is in the current period: a slice's verdict
/// (good or bad against the slice target) is revised when a late event arrives
/// for it. Events that cannot be placed, because they belong to a past period
/// or to a slice older than the revisable ones, are reported as
/// [`Recorded::TooOld`] and tallied in [`CalendarBudget::too_old`].
///
/// Memory: the counts of every slice with traffic in the current period, up to
/// [`CalendarBudget::with_late_slices`] slices (default 100,000; 30 days of
/// one-minute slices are 43,200). Past that, the oldest slices are settled and
/// late events for them count as too old. Each record is O(log slices).
///
/// ```
/// use jiff::civil::date;
/// use steadfast_slo::Objective;
/// use steadfast_slo::calendar::{CalendarBudget, CalendarUnit, CalendarWindow};
///
/// let w = CalendarWindow::new(1, CalendarUnit::Month, "UTC", date(2024, 1, 1).at(0, 0, 0, 0))?;
/// let mut b = CalendarBudget::new(Objective::new(0.99)?, w);
/// let jan: jiff::Timestamp = "2024-01-20T00:00:00Z".parse().unwrap();
/// let feb: jiff::Timestamp = "2024-02-02T00:00:00Z".parse().unwrap();
/// let _ = b.record(jan, 90, 100).unwrap();
/// assert!((b.status(jan).unwrap().budget.consumed.unwrap() - 10.0).abs() < 1e-9);
/// let _ = b.record(feb, 100, 100).unwrap();
/// assert_eq!(b.status(feb).unwrap().budget.consumed, Some(0.0));
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct CalendarBudget {
    objective: Objective,
    window: CalendarWindow,
    method: BudgetingMethod,
    slice_nanos: i128,
    period: Option<CalendarPeriod>,
    counts: Counts,
    slices: BTreeMap<i128, Counts>,
    settled_below: Option<i128>,
    late_slices: usize,
    too_old: Counts,
    good_slices: u64,
    counted_slices: u64,
    ratio_sum: f64,
}

/// Slices of a period kept revisable for late events, by default.
const DEFAULT_LATE_SLICES: usize = 100_000;

impl CalendarBudget {
    /// An occurrences budget for `objective` over the periods of `window`.
    #[must_use]
    pub fn new(objective: Objective, window: CalendarWindow) -> CalendarBudget {
        CalendarBudget {
            objective,
            window,
            method: BudgetingMethod::Occurrences,
            slice_nanos: 1,
            period: None,
            counts: Counts::default(),
            slices: BTreeMap::new(),
            settled_below: None,
            late_slices: DEFAULT_LATE_SLICES,
            too_old: Counts::default(),
            good_slices: 0,
            counted_slices: 0,
            ratio_sum: 0.0,
        }
    }

    /// A budget with `method`, cutting periods into slices of `slice` for the time-slice methods.
    ///
    /// # Errors
    ///
    /// `slice` must be at least one millisecond; a time-slice target must be in (0, 1].
    ///
    /// ```
    /// use std::time::Duration;
    /// use jiff::civil::date;
    /// use steadfast_slo::{BudgetingMethod, Objective};
    /// use steadfast_slo::calendar::{CalendarBudget, CalendarUnit, CalendarWindow};
    ///
    /// let w = CalendarWindow::new(1, CalendarUnit::Day, "UTC", date(2024, 1, 1).at(0, 0, 0, 0))?;
    /// let method = BudgetingMethod::Timeslices { slice_target: 0.95 };
    /// let mut b = CalendarBudget::with_method(Objective::new(0.99)?, w, method, Duration::from_secs(60))?;
    /// let t0: jiff::Timestamp = "2024-01-01T00:00:00Z".parse().unwrap();
    /// let _ = b.record(t0, 90, 100).unwrap(); // a bad minute
    /// for m in 1..10 {
    ///     let _ = b.record(t0 + jiff::SignedDuration::from_mins(m), 100, 100).unwrap();
    /// }
    /// let s = b.status(t0 + jiff::SignedDuration::from_mins(10)).unwrap();
    /// assert_eq!((s.budget.good, s.budget.total), (9, 10));
    /// # Ok::<(), steadfast_core::ConfigError>(())
    /// ```
    pub fn with_method(
        objective: Objective,
        window: CalendarWindow,
        method: BudgetingMethod,
        slice: Duration,
    ) -> Result<CalendarBudget, ConfigError> {
        ConfigError::ensure(
            slice >= Duration::from_millis(1),
            "calendar.slice",
            format!("{slice:?}"),
            "at least 1ms",
        )?;
        if let BudgetingMethod::Timeslices { slice_target } = method {
            ConfigError::ensure(
                slice_target > 0.0 && slice_target <= 1.0,
                "calendar.slice_target",
                slice_target,
                "in (0, 1]",
            )?;
        }
        let mut b = CalendarBudget::new(objective, window);
        b.method = method;
        b.slice_nanos = i128::try_from(slice.as_nanos()).unwrap_or(i128::MAX);
        Ok(b)
    }

    /// This budget keeping up to `n` slices of the current period revisable by
    /// late events (default 100,000); older slices are settled.
    ///
    /// # Errors
    ///
    /// `n` must be in [1, 10,000,000].
    ///
    /// ```
    /// use std::time::Duration;
    /// use jiff::civil::date;
    /// use jiff::SignedDuration;
    /// use steadfast_slo::{BudgetingMethod, Objective, Recorded};
    /// use steadfast_slo::calendar::{CalendarBudget, CalendarUnit, CalendarWindow};
    ///
    /// let w = CalendarWindow::new(1, CalendarUnit::Day, "UTC", date(2024, 1, 1).at(0, 0, 0, 0))?;
    /// let method = BudgetingMethod::Timeslices { slice_target: 0.95 };
    /// let mut b = CalendarBudget::with_method(Objective::new(0.99)?, w, method, Duration::from_secs(60))?
    ///     .with_late_slices(2)?;
    /// let t0: jiff::Timestamp = "2024-01-01T00:00:00Z".parse().unwrap();
    /// for m in 0..5 {
    ///     let _ = b.record(t0 + SignedDuration::from_mins(m), 100, 100).unwrap();
    /// }
    /// // Minute 4 is still revisable, minute 1 is settled.
    /// assert_eq!(b.record(t0 + SignedDuration::from_secs(250), 0, 100).unwrap(), Recorded::Counted);
    /// assert_eq!(b.record(t0 + SignedDuration::from_secs(70), 0, 100).unwrap(), Recorded::TooOld);
    /// assert_eq!(b.too_old().total, 100);
    /// # Ok::<(), steadfast_core::ConfigError>(())
    /// ```
    pub fn with_late_slices(mut self, n: usize) -> Result<CalendarBudget, ConfigError> {
        ConfigError::ensure(
            (1..=10_000_000).contains(&n),
            "calendar.late_slices",
            n,
            "in [1, 10000000]",
        )?;
        self.late_slices = n;
        Ok(self)
    }

    /// Events that could not be placed since the budget was made: stamped in a
    /// past period, or for a settled slice.
    #[must_use]
    pub fn too_old(&self) -> Counts {
        self.too_old
    }

    fn roll(&mut self, at: Timestamp) -> Result<bool, CalendarError> {
        match self.period {
            Some(p) if p.contains(at) => Ok(true),
            Some(p) if at < p.start => Ok(false),
            _ => {
                self.period = Some(self.window.period_containing(at)?);
                self.counts = Counts::default();
                self.slices.clear();
                self.settled_below = None;
                self.good_slices = 0;
                self.counted_slices = 0;
                self.ratio_sum = 0.0;
                Ok(true)
            }
        }
    }

    fn slice_of(&self, at: Timestamp) -> i128 {
        let start = self.period.map_or(0, |p| p.start.as_nanosecond());
        (at.as_nanosecond() - start) / self.slice_nanos
    }

    /// Adds (`sign` 1) or removes (`sign` -1) one slice's share of the aggregates.
    fn tally(&mut self, c: Counts, sign: i8) {
        if c.total == 0 {
            return;
        }
        let good = matches!(self.method, BudgetingMethod::Timeslices { slice_target }
            if c.good as f64 >= slice_target * c.total as f64);
        let ratio = c.good_ratio().unwrap_or(0.0);
        if sign > 0 {
            self.counted_slices += 1;
            self.good_slices += u64::from(good);
            self.ratio_sum += ratio;
        } else {
            self.counted_slices -= 1;
            self.good_slices -= u64::from(good);
            self.ratio_sum -= ratio;
            if self.counted_slices == 0 {
                self.ratio_sum = 0.0;
            }
        }
    }

    /// Records `good` of `total` events at `at`, into their slice even when it
    /// is earlier than slices already recorded. Events from a past period, or
    /// for a settled slice, are tallied in [`Self::too_old`] and reported as
    /// [`Recorded::TooOld`].
    ///
    /// # Errors
    ///
    /// When the period of `at` cannot be computed.
    pub fn record(
        &mut self,
        at: Timestamp,
        good: u64,
        total: u64,
    ) -> Result<Recorded, CalendarError> {
        let add = |c: &mut Counts| {
            c.total = c.total.saturating_add(total);
            c.good = c.good.saturating_add(good.min(total)).min(c.total);
        };
        if !self.roll(at)? {
            add(&mut self.too_old);
            return Ok(Recorded::TooOld);
        }
        if self.method != BudgetingMethod::Occurrences {
            let slice = self.slice_of(at);
            if self.settled_below.is_some_and(|s| slice < s) {
                add(&mut self.too_old);
                return Ok(Recorded::TooOld);
            }
            let before = self.slices.get(&slice).copied().unwrap_or_default();
            let mut after = before;
            add(&mut after);
            self.tally(before, -1);
            self.tally(after, 1);
            self.slices.insert(slice, after);
            while self.slices.len() > self.late_slices {
                // Settle the oldest slice: its share stays, it can no longer change.
                if let Some((oldest, _)) = self.slices.pop_first() {
                    self.settled_below = Some(oldest + 1);
                }
            }
        }
        add(&mut self.counts);
        Ok(Recorded::Counted)
    }

    /// The budget at `at` (rolling into a new period when `at` is past the current one).
    ///
    /// # Errors
    ///
    /// When the period of `at` cannot be computed.
    pub fn status(&mut self, at: Timestamp) -> Result<CalendarStatus, CalendarError> {
        self.roll(at)?;
        let period = match self.period {
            Some(p) => p,
            None => self.window.period_containing(at)?,
        };
        let budget = match self.method {
            BudgetingMethod::Occurrences => BudgetStatus::from_counts(self.objective, self.counts),
            BudgetingMethod::Timeslices { .. } => BudgetStatus::from_counts(
                self.objective,
                Counts {
                    good: self.good_slices,
                    total: self.counted_slices,
                },
            ),
            _ => BudgetStatus::from_sli(
                self.objective,
                self.good_slices,
                self.counted_slices,
                (self.counted_slices > 0)
                    .then(|| (self.ratio_sum / self.counted_slices as f64).clamp(0.0, 1.0)),
            ),
        };
        Ok(CalendarStatus {
            period,
            budget,
            elapsed: period.elapsed_fraction(at),
            time_left: nanos_between(at.max(period.start), period.end),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn unknown_zone_and_zero_count_are_config_errors() {
        let a = date(2024, 1, 1).at(0, 0, 0, 0);
        let e = CalendarWindow::new(1, CalendarUnit::Day, "Mars/Olympus", a).unwrap_err();
        assert_eq!(e.field(), "calendar.time_zone");
        assert!(CalendarWindow::new(0, CalendarUnit::Day, "UTC", a).is_err());
    }

    #[test]
    fn days_across_dst_and_before_anchor() {
        let w = CalendarWindow::new(
            1,
            CalendarUnit::Day,
            "Europe/Paris",
            date(2024, 1, 1).at(0, 0, 0, 0),
        )
        .unwrap();
        let at: Timestamp = "2024-03-31T12:00:00Z".parse().unwrap();
        assert_eq!(
            w.period_containing(at).unwrap().length().as_secs(),
            23 * 3600
        );
        let before: Timestamp = "2023-12-31T22:30:00Z".parse().unwrap();
        let p = w.period_containing(before).unwrap();
        assert!(p.contains(before));
        assert_eq!(p.end.to_string(), "2023-12-31T23:00:00Z");
    }
}
