//! Objectives, nines, allowed downtime and allowed failures.
//!
//! An objective is the fraction of good events (or good time) a service
//! promises, such as 0.999. Its complement is the error budget. Periods are
//! always arguments: "a month" is 28, 30 or 31 days depending on who asks.

use core::fmt;
use core::time::Duration;

use steadfast_core::ConfigError;

/// A service level objective: the promised fraction of good events, in (0, 1).
///
/// ```
/// use std::time::Duration;
/// use steadfast_slo::Objective;
///
/// let slo = Objective::new(0.999)?;
/// assert!((slo.nines() - 3.0).abs() < 1e-9);
/// // 30 days at 99.9% allow 43.2 minutes of downtime.
/// let day = Duration::from_secs(86_400);
/// assert_eq!(slo.allowed_downtime(day * 30).as_secs(), 43 * 60 + 12);
/// // One million requests at 99.9% allow 1000 failures.
/// assert_eq!(slo.allowed_failures(1_000_000), 1000);
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Objective {
    target: f64,
}

impl Objective {
    /// An objective with `target` as the good fraction.
    ///
    /// # Errors
    ///
    /// `target` must be finite and in (0, 1): 1.0 would leave no error budget
    /// and make every burn rate infinite.
    pub fn new(target: f64) -> Result<Objective, ConfigError> {
        ConfigError::ensure(
            target > 0.0 && target < 1.0,
            "objective.target",
            target,
            "in (0, 1)",
        )?;
        Ok(Objective { target })
    }

    /// An objective from a percentage such as 99.95.
    ///
    /// # Errors
    ///
    /// `percent` must be in (0, 100).
    ///
    /// ```
    /// # use steadfast_slo::Objective;
    /// assert_eq!(Objective::from_percent(99.9)?.target(), 0.999);
    /// assert!(Objective::from_percent(100.0).is_err());
    /// # Ok::<(), steadfast_core::ConfigError>(())
    /// ```
    pub fn from_percent(percent: f64) -> Result<Objective, ConfigError> {
        ConfigError::ensure(
            percent > 0.0 && percent < 100.0,
            "objective.percent",
            percent,
            "in (0, 100)",
        )?;
        // 99.9 / 100 is 0.9990000000000001 in binary; round to the digits a person types.
        let target = percent / 100.0;
        Objective::new(format!("{target:.13e}").parse().unwrap_or(target))
    }

    /// An objective with `nines` nines: 3 gives 0.999, 3.5 gives 0.99968...
    ///
    /// # Errors
    ///
    /// `nines` must be positive and finite, and small enough that the target
    /// is still below 1.0 in `f64` (at most about 15).
    ///
    /// ```
    /// # use steadfast_slo::Objective;
    /// assert!((Objective::from_nines(4.0)?.target() - 0.9999).abs() < 1e-15);
    /// # Ok::<(), steadfast_core::ConfigError>(())
    /// ```
    pub fn from_nines(nines: f64) -> Result<Objective, ConfigError> {
        ConfigError::ensure(
            nines > 0.0 && nines.is_finite(),
            "objective.nines",
            nines,
            "positive and finite",
        )?;
        let budget = 10f64.powf(-nines);
        let target = 1.0 - budget;
        ConfigError::ensure(target < 1.0, "objective.nines", nines, "at most 15")?;
        Objective::new(target)
    }

    /// The good fraction promised, in (0, 1).
    #[must_use]
    pub fn target(self) -> f64 {
        self.target
    }

    /// The error budget as a fraction: `1 - target`.
    #[must_use]
    pub fn error_budget(self) -> f64 {
        1.0 - self.target
    }

    /// How many nines the target has: `-log10(1 - target)`.
    #[must_use]
    pub fn nines(self) -> f64 {
        -self.error_budget().log10()
    }

    /// The downtime the objective allows over `period`.
    #[must_use]
    pub fn allowed_downtime(self, period: Duration) -> Duration {
        Duration::from_secs_f64(period.as_secs_f64() * self.error_budget())
    }

    /// The failures the objective allows among `requests` events, rounded down.
    #[must_use]
    pub fn allowed_failures(self, requests: u64) -> u64 {
        let exact = requests as f64 * self.error_budget();
        // 1 - 0.999 is 0.0010000000000000009 in f64; a relative nudge keeps
        // 1000 from becoming 999.9999 and flooring to 999 on other inputs.
        (exact * (1.0 + 1e-12)).floor() as u64
    }

    /// The burn rate an error ratio represents: `error_ratio / (1 - target)`.
    ///
    /// ```
    /// # use steadfast_slo::Objective;
    /// let slo = Objective::new(0.999)?;
    /// assert!((slo.burn_rate(0.0144) - 14.4).abs() < 1e-9);
    /// # Ok::<(), steadfast_core::ConfigError>(())
    /// ```
    #[must_use]
    pub fn burn_rate(self, error_ratio: f64) -> f64 {
        error_ratio / self.error_budget()
    }
}

impl fmt::Display for Objective {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.target * 100.0)
    }
}

/// Time to exhaust `remaining` (a fraction of the whole budget) at `burn_rate`,
/// for a budget defined over `period`.
///
/// Returns `None` when nothing is burning (no traffic or no errors, or a
/// rate that is NaN or not positive): the budget never runs out. An empty
/// or overdrawn budget is exhausted now (`Some(ZERO)`).
///
/// ```
/// use std::time::Duration;
/// use steadfast_slo::time_to_exhaustion;
///
/// let days30 = Duration::from_secs(30 * 86_400);
/// // A full budget burning at 1000x (100% errors against 99.9%) lasts 43.2 minutes.
/// let t = time_to_exhaustion(1.0, 1000.0, days30).unwrap();
/// assert_eq!(t.as_secs(), 43 * 60 + 12);
/// // At 14.4x it lasts 50 hours.
/// let t = time_to_exhaustion(1.0, 14.4, days30).unwrap();
/// assert_eq!(t.as_secs(), 50 * 3600);
/// assert_eq!(time_to_exhaustion(1.0, 0.0, days30), None);
/// ```
#[must_use]
pub fn time_to_exhaustion(remaining: f64, burn_rate: f64, period: Duration) -> Option<Duration> {
    if burn_rate.is_nan() || burn_rate <= 0.0 || remaining.is_nan() {
        return None;
    }
    if remaining <= 0.0 {
        return Some(Duration::ZERO);
    }
    let secs = remaining * period.as_secs_f64() / burn_rate;
    Some(Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX))
}

/// One row of a nines table: the downtime each common objective allows.
///
/// ```
/// use std::time::Duration;
/// use steadfast_slo::objective::nines_table;
///
/// let rows = nines_table(Duration::from_secs(30 * 86_400));
/// let three = rows.iter().find(|r| r.objective.target() == 0.999).unwrap();
/// assert_eq!(three.downtime.as_secs(), 2592);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NinesRow {
    /// The objective of this row.
    pub objective: Objective,
    /// The downtime it allows over the period asked for.
    pub downtime: Duration,
}

/// The common objectives from 90% to 99.999% and the downtime each allows over `period`.
#[must_use]
pub fn nines_table(period: Duration) -> Vec<NinesRow> {
    [
        0.9, 0.95, 0.99, 0.995, 0.999, 0.9995, 0.9999, 0.99995, 0.99999,
    ]
    .into_iter()
    .filter_map(|t| Objective::new(t).ok())
    .map(|objective| NinesRow {
        objective,
        downtime: objective.allowed_downtime(period),
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_nan_zero_one_and_out_of_range() {
        for bad in [f64::NAN, 0.0, 1.0, -0.5, 1.5, f64::INFINITY] {
            assert!(Objective::new(bad).is_err(), "{bad}");
        }
        assert!(Objective::from_nines(f64::NAN).is_err());
        assert!(Objective::from_nines(0.0).is_err());
        assert!(Objective::from_nines(40.0).is_err());
        let err = Objective::new(1.0).unwrap_err();
        assert_eq!(err.to_string(), "objective.target must be in (0, 1), got 1");
    }

    #[test]
    fn downtime_table_values() {
        let year = Duration::from_secs(365 * 86_400);
        let five = Objective::new(0.99999).unwrap();
        // 5.256 minutes per 365-day year.
        assert!((five.allowed_downtime(year).as_secs_f64() - 315.36).abs() < 1e-3);
        assert_eq!(Objective::new(0.99).unwrap().allowed_failures(0), 0);
        assert_eq!(Objective::new(0.99).unwrap().allowed_failures(150), 1);
    }

    #[test]
    fn exhaustion_edge_cases() {
        let p = Duration::from_secs(100);
        assert_eq!(time_to_exhaustion(-0.5, 2.0, p), Some(Duration::ZERO));
        assert_eq!(time_to_exhaustion(1.0, f64::NAN, p), None);
        assert_eq!(
            time_to_exhaustion(1.0, f64::INFINITY, p),
            Some(Duration::ZERO)
        );
        assert_eq!(time_to_exhaustion(1.0, 1e-300, p), Some(Duration::MAX));
    }
}
