//! Health checks for a `/health` endpoint: named liveness and readiness
//! checks, critical or not, dependency checks with timeouts, and a rollup to
//! Healthy, Degraded or Unhealthy with the reasons.
//!
//! Liveness asks "should this process be restarted?" and runs only the
//! liveness checks; readiness asks "should it get traffic?" and runs every
//! check. A failing critical check makes the report Unhealthy; a failing
//! non-critical check, or any warning, makes it Degraded.
//!
//! Timeouts are measured with the injected clock: a check that returns after
//! its timeout counts as failed. A check is not interrupted, so a check that
//! can block should bound its own I/O (and use the timeout here as the
//! contract it reports against).

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

use steadfast_core::{Clock, ConfigError, MonotonicClock, Timestamp};

/// Which question a report answers.
///
/// See [`HealthChecks`] for an example.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
#[non_exhaustive]
pub enum Probe {
    /// Is the process alive? Runs the liveness checks only.
    Liveness,
    /// Can it serve? Runs every check.
    Readiness,
}

/// Whether a failing check takes the whole service down.
///
/// See [`HealthChecks`] for an example.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Criticality {
    /// Failing makes the report Unhealthy.
    Critical,
    /// Failing makes the report Degraded.
    NonCritical,
}

/// The outcome of one check.
///
/// See [`HealthChecks`] for an example.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
#[non_exhaustive]
pub enum CheckStatus {
    /// All good.
    Pass,
    /// Working, but something deserves attention.
    Warn,
    /// Not working.
    Fail,
}

/// What a check returns: a status and an optional message.
///
/// ```
/// use steadfast_detect::{CheckResult, CheckStatus};
///
/// let result = CheckResult::fail("connection refused");
/// assert_eq!(result.status(), CheckStatus::Fail);
/// assert_eq!(result.message(), Some("connection refused"));
/// assert_eq!(CheckResult::pass().message(), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct CheckResult {
    status: CheckStatus,
    message: Option<String>,
}

impl CheckResult {
    /// A passing check.
    pub fn pass() -> CheckResult {
        CheckResult {
            status: CheckStatus::Pass,
            message: None,
        }
    }

    /// A warning with its reason.
    pub fn warn(message: impl Into<String>) -> CheckResult {
        CheckResult {
            status: CheckStatus::Warn,
            message: Some(message.into()),
        }
    }

    /// A failure with its reason.
    pub fn fail(message: impl Into<String>) -> CheckResult {
        CheckResult {
            status: CheckStatus::Fail,
            message: Some(message.into()),
        }
    }

    /// The status.
    pub fn status(&self) -> CheckStatus {
        self.status
    }

    /// The message, if any.
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }
}

/// The rollup.
///
/// ```
/// use steadfast_detect::HealthStatus;
///
/// assert_eq!(HealthStatus::Degraded.http_status(), 200);
/// assert_eq!(HealthStatus::Unhealthy.http_status(), 503);
/// assert!(HealthStatus::Healthy < HealthStatus::Degraded);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
#[non_exhaustive]
pub enum HealthStatus {
    /// Every check passed.
    Healthy,
    /// A non-critical check failed, or a check warned.
    Degraded,
    /// A critical check failed.
    Unhealthy,
}

impl HealthStatus {
    /// The HTTP status a `/health` endpoint should answer with: 200 unless
    /// Unhealthy (503).
    pub fn http_status(self) -> u16 {
        match self {
            HealthStatus::Healthy | HealthStatus::Degraded => 200,
            HealthStatus::Unhealthy => 503,
        }
    }
}

impl fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HealthStatus::Healthy => "healthy",
            HealthStatus::Degraded => "degraded",
            HealthStatus::Unhealthy => "unhealthy",
        })
    }
}

/// One check's line in a report.
///
/// See [`HealthChecks`] for an example.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct CheckReport {
    /// The check's name.
    pub name: String,
    /// Liveness or readiness.
    pub probe: Probe,
    /// Whether it is critical.
    pub critical: bool,
    /// Its outcome (a timed-out check fails).
    pub status: CheckStatus,
    /// Its message, if any.
    pub message: Option<String>,
    /// How long it took, in milliseconds.
    pub duration_ms: f64,
}

/// What a `/health` endpoint returns.
///
/// See [`HealthChecks`] for an example.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct HealthReport {
    /// The rollup.
    pub status: HealthStatus,
    /// Which probe was run.
    pub probe: Probe,
    /// One line per check that did not pass, e.g. `db (critical): timed out`.
    pub reasons: Vec<String>,
    /// Every check that ran, in registration order.
    pub checks: Vec<CheckReport>,
    /// When the report was made.
    pub at: Timestamp,
}

type CheckFn = Box<dyn Fn() -> CheckResult + Send + Sync>;

struct RegisteredCheck {
    name: String,
    probe: Probe,
    criticality: Criticality,
    timeout: Option<Duration>,
    check: CheckFn,
}

impl fmt::Debug for RegisteredCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegisteredCheck")
            .field("name", &self.name)
            .field("probe", &self.probe)
            .field("criticality", &self.criticality)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// The registered checks and the clock that times them.
///
/// ```
/// use std::time::Duration;
/// use steadfast_core::ManualClock;
/// use steadfast_detect::{CheckResult, Criticality, HealthChecks, HealthStatus, Probe};
///
/// let mut health = HealthChecks::with_clock(ManualClock::new());
/// health.add("event-loop", Probe::Liveness, Criticality::Critical, CheckResult::pass)?;
/// health.add_dependency("cache", Criticality::NonCritical, Duration::from_millis(100), || {
///     CheckResult::fail("connection refused")
/// })?;
///
/// assert_eq!(health.report(Probe::Liveness).status, HealthStatus::Healthy);
/// let ready = health.report(Probe::Readiness);
/// assert_eq!(ready.status, HealthStatus::Degraded);
/// assert_eq!(ready.reasons, vec!["cache (non-critical): connection refused".to_string()]);
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[derive(Debug)]
pub struct HealthChecks<C = MonotonicClock> {
    checks: Vec<RegisteredCheck>,
    clock: C,
}

impl HealthChecks<MonotonicClock> {
    /// No checks, timed with the real monotonic clock.
    pub fn new() -> HealthChecks<MonotonicClock> {
        HealthChecks::with_clock(MonotonicClock::new())
    }
}

impl Default for HealthChecks<MonotonicClock> {
    fn default() -> Self {
        HealthChecks::new()
    }
}

impl<C: Clock> HealthChecks<C> {
    /// No checks, timed with `clock`.
    pub fn with_clock(clock: C) -> HealthChecks<C> {
        HealthChecks {
            checks: Vec::new(),
            clock,
        }
    }

    /// Registers a check without a timeout.
    ///
    /// # Errors
    ///
    /// The name must be non-empty and not already registered.
    pub fn add(
        &mut self,
        name: impl Into<String>,
        probe: Probe,
        criticality: Criticality,
        check: impl Fn() -> CheckResult + Send + Sync + 'static,
    ) -> Result<(), ConfigError> {
        self.register(name.into(), probe, criticality, None, Box::new(check))
    }

    /// Registers a readiness check of a dependency that fails if it takes
    /// longer than `timeout`.
    ///
    /// # Errors
    ///
    /// The name must be non-empty and new; the timeout positive.
    pub fn add_dependency(
        &mut self,
        name: impl Into<String>,
        criticality: Criticality,
        timeout: Duration,
        check: impl Fn() -> CheckResult + Send + Sync + 'static,
    ) -> Result<(), ConfigError> {
        ConfigError::ensure(
            !timeout.is_zero(),
            "health.timeout",
            format_args!("{timeout:?}"),
            "greater than 0",
        )?;
        self.register(
            name.into(),
            Probe::Readiness,
            criticality,
            Some(timeout),
            Box::new(check),
        )
    }

    fn register(
        &mut self,
        name: String,
        probe: Probe,
        criticality: Criticality,
        timeout: Option<Duration>,
        check: CheckFn,
    ) -> Result<(), ConfigError> {
        ConfigError::ensure(!name.is_empty(), "health.name", "\"\"", "non-empty")?;
        let taken = self.checks.iter().any(|c| c.name == name);
        ConfigError::ensure(!taken, "health.name", &name, "unique")?;
        self.checks.push(RegisteredCheck {
            name,
            probe,
            criticality,
            timeout,
            check,
        });
        Ok(())
    }

    /// How many checks are registered.
    pub fn len(&self) -> usize {
        self.checks.len()
    }

    /// Whether no check is registered.
    pub fn is_empty(&self) -> bool {
        self.checks.is_empty()
    }

    /// Runs the checks `probe` asks for, in registration order, and rolls
    /// them up.
    pub fn report(&self, probe: Probe) -> HealthReport {
        let mut checks = Vec::new();
        let mut reasons = Vec::new();
        let mut status = HealthStatus::Healthy;
        for c in &self.checks {
            if probe == Probe::Liveness && c.probe != Probe::Liveness {
                continue;
            }
            let started = self.clock.now();
            let mut result = (c.check)();
            let took = self.clock.now().saturating_duration_since(started);
            if let Some(limit) = c.timeout
                && took > limit
            {
                result = CheckResult::fail(format!("timed out: took {took:?}, limit {limit:?}"));
            }
            let critical = c.criticality == Criticality::Critical;
            let contribution = match (result.status, critical) {
                (CheckStatus::Pass, _) => HealthStatus::Healthy,
                (CheckStatus::Fail, true) => HealthStatus::Unhealthy,
                _ => HealthStatus::Degraded,
            };
            status = status.max(contribution);
            if result.status != CheckStatus::Pass {
                let kind = if critical { "critical" } else { "non-critical" };
                let why = result.message.as_deref().unwrap_or(match result.status {
                    CheckStatus::Warn => "warning",
                    _ => "failed",
                });
                reasons.push(format!("{} ({kind}): {why}", c.name));
            }
            checks.push(CheckReport {
                name: c.name.clone(),
                probe: c.probe,
                critical,
                status: result.status,
                message: result.message,
                duration_ms: took.as_secs_f64() * 1000.0,
            });
        }
        HealthReport {
            status,
            probe,
            reasons,
            checks,
            at: self.clock.now(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use steadfast_core::ManualClock;

    #[test]
    fn slow_dependency_fails_by_timeout() {
        let clock = ManualClock::new();
        let mut health = HealthChecks::with_clock(clock.clone());
        let inner = clock.clone();
        health
            .add_dependency(
                "db",
                Criticality::Critical,
                Duration::from_millis(50),
                move || {
                    inner.advance(Duration::from_millis(80));
                    CheckResult::pass()
                },
            )
            .unwrap();
        let report = health.report(Probe::Readiness);
        assert_eq!(report.status, HealthStatus::Unhealthy);
        assert_eq!(report.status.http_status(), 503);
        assert!(
            report.reasons[0].starts_with("db (critical): timed out"),
            "{:?}",
            report.reasons
        );
        assert_eq!(report.checks[0].duration_ms, 80.0);
    }

    #[test]
    fn names_are_unique_and_non_empty() {
        let mut health = HealthChecks::with_clock(ManualClock::new());
        health
            .add(
                "a",
                Probe::Liveness,
                Criticality::Critical,
                CheckResult::pass,
            )
            .unwrap();
        let err = health
            .add(
                "a",
                Probe::Readiness,
                Criticality::Critical,
                CheckResult::pass,
            )
            .unwrap_err();
        assert_eq!(err.to_string(), "health.name must be unique, got a");
        assert!(
            health
                .add(
                    "",
                    Probe::Readiness,
                    Criticality::Critical,
                    CheckResult::pass
                )
                .is_err()
        );
        assert!(
            health
                .add_dependency(
                    "b",
                    Criticality::Critical,
                    Duration::ZERO,
                    CheckResult::pass
                )
                .is_err()
        );
        assert_eq!(health.len(), 1);
    }

    #[test]
    fn warnings_degrade_and_empty_is_healthy() {
        let mut health = HealthChecks::with_clock(ManualClock::new());
        assert_eq!(
            health.report(Probe::Readiness).status,
            HealthStatus::Healthy
        );
        health
            .add("disk", Probe::Readiness, Criticality::Critical, || {
                CheckResult::warn("92% full")
            })
            .unwrap();
        let report = health.report(Probe::Readiness);
        assert_eq!(report.status, HealthStatus::Degraded);
        assert_eq!(
            report.reasons,
            vec!["disk (critical): 92% full".to_string()]
        );
    }
}
