//! RPO and RTO arithmetic: data at risk, replication bandwidth, backup windows, restore times.
//!
//! Rates are in bytes per second and sizes in bytes, as `f64` so that the
//! arithmetic never overflows. Link efficiency is the fraction of the nominal
//! bandwidth that carries payload (protocol overhead, contention, TCP
//! windows); 0.7 to 0.8 is a common planning figure.

use core::time::Duration;

use steadfast_core::ConfigError;

fn ensure_rate(field: &'static str, v: f64) -> Result<(), ConfigError> {
    ConfigError::ensure(
        v >= 0.0 && v.is_finite(),
        field,
        v,
        "finite and not negative",
    )
}

fn ensure_efficiency(v: f64) -> Result<(), ConfigError> {
    ConfigError::ensure(
        v > 0.0 && v <= 1.0,
        "recovery.link_efficiency",
        v,
        "in (0, 1]",
    )
}

/// Data written during `window` at `change_rate` bytes/s: what a loss of that window loses.
///
/// ```
/// use std::time::Duration;
/// use steadfast_slo::recovery::data_at_risk;
/// // 2 MB/s of changes and a 15-minute RPO put 1.8 GB at risk.
/// assert_eq!(data_at_risk(2e6, Duration::from_secs(900)), 1.8e9);
/// ```
#[must_use]
pub fn data_at_risk(change_rate: f64, window: Duration) -> f64 {
    change_rate * window.as_secs_f64()
}

/// Link bandwidth (bytes/s, nominal) needed to ship changes made at `change_rate`
/// in batches every `interval` so that no write is older than `rpo` when it lands.
///
/// A batch holds `change_rate * interval` bytes and must arrive within
/// `rpo - interval`, so the link needs `change_rate * interval / ((rpo - interval) * efficiency)`,
/// and never less than the sustained `change_rate / efficiency`. An `interval`
/// of zero means continuous replication. Returns `None` when `interval >= rpo`
/// (no bandwidth is enough).
///
/// # Errors
///
/// The rate must be finite and not negative; the efficiency in (0, 1].
///
/// ```
/// use std::time::Duration;
/// use steadfast_slo::recovery::bandwidth_for_rpo;
/// let min = Duration::from_secs(60);
/// // 1 MB/s, snapshots every 5 minutes, RPO 15 minutes, 80% efficient link:
/// // 300 MB must cross in 600 s at 80%: 625 kB/s is not enough, the sustained 1.25 MB/s is.
/// let bw = bandwidth_for_rpo(1e6, min * 15, min * 5, 0.8)?.unwrap();
/// assert!((bw - 1.25e6).abs() < 1e-6);
/// assert_eq!(bandwidth_for_rpo(1e6, min * 5, min * 5, 0.8)?, None);
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
pub fn bandwidth_for_rpo(
    change_rate: f64,
    rpo: Duration,
    interval: Duration,
    efficiency: f64,
) -> Result<Option<f64>, ConfigError> {
    ensure_rate("recovery.change_rate", change_rate)?;
    ensure_efficiency(efficiency)?;
    if interval >= rpo {
        return Ok(None);
    }
    let sustained = change_rate / efficiency;
    let transfer = (rpo - interval).as_secs_f64();
    let batch = change_rate * interval.as_secs_f64() / (transfer * efficiency);
    Ok(Some(sustained.max(batch)))
}

/// Whether a replication lag meets an RPO: a failover now loses at most `lag` of writes.
#[must_use]
pub fn lag_meets_rpo(lag: Duration, rpo: Duration) -> bool {
    lag <= rpo
}

/// Time to copy `size` bytes over `bandwidth` bytes/s at `efficiency`.
///
/// # Errors
///
/// Size and bandwidth finite and not negative, bandwidth positive, efficiency in (0, 1].
///
/// ```
/// use std::time::Duration;
/// use steadfast_slo::recovery::transfer_time;
/// // 1 TB at 1 GB/s nominal, 80% efficient: 1250 s.
/// assert_eq!(transfer_time(1e12, 1e9, 0.8)?, Duration::from_secs(1250));
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
pub fn transfer_time(size: f64, bandwidth: f64, efficiency: f64) -> Result<Duration, ConfigError> {
    ensure_rate("recovery.size", size)?;
    ensure_rate("recovery.bandwidth", bandwidth)?;
    ConfigError::ensure(bandwidth > 0.0, "recovery.bandwidth", bandwidth, "positive")?;
    ensure_efficiency(efficiency)?;
    let secs = size / (bandwidth * efficiency);
    Ok(Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX))
}

/// Whether a backup of `size` bytes at `throughput` (efficiency applied) fits in `window`,
/// and the slack (negative slack is reported as `Err(shortfall)`).
///
/// # Errors
///
/// As [`transfer_time`].
///
/// ```
/// use std::time::Duration;
/// use steadfast_slo::recovery::backup_fits;
/// let four_hours = Duration::from_secs(4 * 3600);
/// // 10 TB at 1 GB/s, 90%: 3.09 h, fits with 0.91 h to spare.
/// let slack = backup_fits(1e13, 1e9, 0.9, four_hours)?.unwrap();
/// assert_eq!(slack.as_secs(), 4 * 3600 - 11112);
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
pub fn backup_fits(
    size: f64,
    throughput: f64,
    efficiency: f64,
    window: Duration,
) -> Result<Result<Duration, Duration>, ConfigError> {
    let needed = transfer_time(size, throughput, efficiency)?;
    Ok(if needed <= window {
        Ok(window - needed)
    } else {
        Err(needed - window)
    })
}

/// The parts of a recovery, summed into a recovery time to compare with an RTO.
///
/// ```
/// use std::time::Duration;
/// use steadfast_slo::recovery::RecoveryPlan;
/// let m = Duration::from_secs(60);
/// let plan = RecoveryPlan { detect: m * 5, decide: m * 10, restore: m * 30, verify: m * 15 };
/// assert_eq!(plan.total(), m * 60);
/// assert!(plan.meets_rto(m * 60));
/// assert!(!plan.meets_rto(m * 59));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RecoveryPlan {
    /// Time to notice the failure.
    pub detect: Duration,
    /// Time to decide to fail over or restore.
    pub decide: Duration,
    /// Time to restore data or bring up the standby (see [`transfer_time`]).
    pub restore: Duration,
    /// Time to verify and reopen traffic.
    pub verify: Duration,
}

impl RecoveryPlan {
    /// The whole recovery time (saturating).
    #[must_use]
    pub fn total(&self) -> Duration {
        self.detect
            .saturating_add(self.decide)
            .saturating_add(self.restore)
            .saturating_add(self.verify)
    }

    /// Whether the recovery time is within `rto`.
    #[must_use]
    pub fn meets_rto(&self, rto: Duration) -> bool {
        self.total() <= rto
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_inputs_are_config_errors() {
        let s = Duration::from_secs(1);
        assert!(bandwidth_for_rpo(f64::NAN, s * 2, s, 0.5).is_err());
        assert!(bandwidth_for_rpo(1.0, s * 2, s, 0.0).is_err());
        assert!(bandwidth_for_rpo(-1.0, s * 2, s, 0.5).is_err());
        assert!(transfer_time(1.0, 0.0, 1.0).is_err());
        assert!(transfer_time(f64::INFINITY, 1.0, 1.0).is_err());
        assert_eq!(transfer_time(1e300, 1e-300, 1.0).unwrap(), Duration::MAX);
        assert!(lag_meets_rpo(s, s) && !lag_meets_rpo(s * 2, s));
        assert_eq!(
            bandwidth_for_rpo(8.0, s * 2, Duration::ZERO, 0.5).unwrap(),
            Some(16.0)
        );
    }
}
