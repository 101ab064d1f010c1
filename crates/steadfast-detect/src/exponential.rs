//! Phi as Cassandra computes it: inter-arrival times modelled as exponential.
//!
//! Under an exponential model `P(later than t) = exp(-t / mean)`, so
//! `-log10 P = t / mean * log10(e)`. Cassandra keeps `t / mean` and scales it
//! by `PHI_FACTOR = 1 / ln 10` before comparing with `phi_convict_threshold`
//! (default 8), convicting when the scaled value is strictly greater. Its
//! window holds 1000 intervals, is seeded with one initial interval (2 s by
//! default, twice the gossip interval), and ignores intervals longer than the
//! maximum interval (which defaults to that same initial value), so a long
//! partition never teaches it that silence is normal.

use core::time::Duration;

use steadfast_core::{ConfigError, Timestamp};

use crate::detector::{
    FailureDetector, HeartbeatOutcome, IntervalHistory, MAX_INTERVAL_NANOS, MAX_SAMPLE_SIZE,
    classify_interval, deadline, first_crossing, search_limit,
};

/// `1 / ln 10`: Cassandra's factor from `t / mean` to phi.
pub const PHI_FACTOR: f64 = 1.0 / core::f64::consts::LN_10;

/// Settings of an [`ExponentialPhi`] detector; the defaults are Cassandra's.
///
/// ```
/// use std::time::Duration;
/// use steadfast_detect::ExponentialPhiConfig;
///
/// let config = ExponentialPhiConfig::builder().build()?;
/// assert_eq!(config.threshold(), 8.0);
/// assert_eq!(config.window(), 1000);
/// assert_eq!(config.initial_interval(), Duration::from_secs(2));
/// assert_eq!(config.max_interval(), Duration::from_secs(2));
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ExponentialPhiConfig {
    threshold: f64,
    window: usize,
    initial_interval: Duration,
    max_interval: Duration,
}

impl ExponentialPhiConfig {
    /// A builder holding Cassandra's defaults.
    pub fn builder() -> ExponentialPhiConfigBuilder {
        ExponentialPhiConfigBuilder {
            config: ExponentialPhiConfig {
                threshold: 8.0,
                window: 1000,
                initial_interval: Duration::from_secs(2),
                max_interval: Duration::from_secs(2),
            },
        }
    }

    /// `phi_convict_threshold`.
    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    /// Intervals kept (`SAMPLE_SIZE`).
    pub fn window(&self) -> usize {
        self.window
    }

    /// The interval the window is seeded with at the first heartbeat.
    pub fn initial_interval(&self) -> Duration {
        self.initial_interval
    }

    /// Longer intervals are not recorded.
    pub fn max_interval(&self) -> Duration {
        self.max_interval
    }
}

/// Builder of [`ExponentialPhiConfig`].
#[derive(Debug, Clone)]
pub struct ExponentialPhiConfigBuilder {
    config: ExponentialPhiConfig,
}

impl ExponentialPhiConfigBuilder {
    /// `phi_convict_threshold` (default 8).
    pub fn threshold(mut self, threshold: f64) -> Self {
        self.config.threshold = threshold;
        self
    }

    /// Intervals kept (default 1000).
    pub fn window(mut self, window: usize) -> Self {
        self.config.window = window;
        self
    }

    /// Seed interval (default 2 s).
    pub fn initial_interval(mut self, d: Duration) -> Self {
        self.config.initial_interval = d;
        self
    }

    /// Longest recorded interval (default 2 s).
    pub fn max_interval(mut self, d: Duration) -> Self {
        self.config.max_interval = d;
        self
    }

    /// Validates the settings.
    ///
    /// # Errors
    ///
    /// Threshold finite and positive; window in [1, 65536]; both intervals
    /// positive and at most 2^48 ns.
    pub fn build(self) -> Result<ExponentialPhiConfig, ConfigError> {
        let c = self.config;
        let max = Duration::from_nanos(MAX_INTERVAL_NANOS);
        ConfigError::ensure(
            c.threshold.is_finite() && c.threshold > 0.0,
            "exponential.threshold",
            c.threshold,
            "finite and greater than 0",
        )?;
        ConfigError::ensure(
            (1..=MAX_SAMPLE_SIZE).contains(&c.window),
            "exponential.window",
            c.window,
            "in [1, 65536]",
        )?;
        ConfigError::ensure(
            !c.initial_interval.is_zero() && c.initial_interval <= max,
            "exponential.initial_interval",
            format_args!("{:?}", c.initial_interval),
            "greater than 0 and at most 2^48 ns",
        )?;
        ConfigError::ensure(
            !c.max_interval.is_zero() && c.max_interval <= max,
            "exponential.max_interval",
            format_args!("{:?}", c.max_interval),
            "greater than 0 and at most 2^48 ns",
        )?;
        Ok(c)
    }
}

/// Cassandra's exponential phi detector.
///
/// Its [`suspicion`](FailureDetector::suspicion) is the scaled value
/// `PHI_FACTOR * t / mean` (what Cassandra reports and compares); the peer is
/// suspected once it is strictly above the threshold.
///
/// ```
/// use std::time::Duration;
/// use steadfast_core::Timestamp;
/// use steadfast_detect::{ExponentialPhi, ExponentialPhiConfig, FailureDetector};
///
/// let mut fd = ExponentialPhi::new(ExponentialPhiConfig::builder().build()?);
/// for s in 0..=100 {
///     let _ = fd.heartbeat(Timestamp::from_secs(s));
/// }
/// // Mean ~1.01 s (one 2 s seed among 1 s intervals): convicted after
/// // 8 * ln 10 ≈ 18.4 mean intervals.
/// let at = fd.suspect_at().unwrap();
/// let silence = at.saturating_duration_since(Timestamp::from_secs(100));
/// assert!(silence > Duration::from_millis(18_500) && silence < Duration::from_millis(18_700));
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ExponentialPhi {
    config: ExponentialPhiConfig,
    history: IntervalHistory,
    last: Option<Timestamp>,
    backwards: u64,
    mean: f64,
    suspect_after: Option<u64>,
}

impl ExponentialPhi {
    /// A detector with no heartbeats yet.
    pub fn new(config: ExponentialPhiConfig) -> ExponentialPhi {
        ExponentialPhi {
            history: IntervalHistory::new(config.window),
            config,
            last: None,
            backwards: 0,
            mean: 0.0,
            suspect_after: None,
        }
    }

    /// The mean interval in the window.
    pub fn mean_interval(&self) -> Duration {
        Duration::from_nanos(self.mean as u64)
    }

    fn scaled(&self, elapsed: u64) -> f64 {
        PHI_FACTOR * (elapsed as f64 / self.mean)
    }

    fn refresh(&mut self) {
        // A window of zero intervals would make every silence infinitely long.
        self.mean = self.history.mean().max(1.0);
        let threshold = self.config.threshold;
        self.suspect_after = self.last.and_then(|last| {
            let candidate = threshold / PHI_FACTOR * self.mean;
            first_crossing(candidate, search_limit(last), |e| {
                self.scaled(e) > threshold
            })
        });
    }
}

impl FailureDetector for ExponentialPhi {
    fn heartbeat(&mut self, at: Timestamp) -> HeartbeatOutcome {
        let outcome = match classify_interval(self.last, at) {
            Err(outcome) => {
                self.backwards += 1;
                return outcome;
            }
            Ok(None) => {
                self.history
                    .push(self.config.initial_interval.as_nanos() as u64);
                HeartbeatOutcome::First
            }
            Ok(Some(n)) if u128::from(n) <= self.config.max_interval.as_nanos() => {
                self.history.push(n);
                HeartbeatOutcome::Recorded {
                    interval: Duration::from_nanos(n),
                }
            }
            Ok(Some(n)) => HeartbeatOutcome::NotRecorded {
                interval: Duration::from_nanos(n),
            },
        };
        self.last = Some(at);
        self.refresh();
        outcome
    }

    fn suspicion(&self, at: Timestamp) -> f64 {
        match self.last {
            None => 0.0,
            Some(last) => self.scaled(at.as_nanos().saturating_sub(last.as_nanos())),
        }
    }

    fn threshold(&self) -> f64 {
        self.config.threshold
    }

    fn suspect_at(&self) -> Option<Timestamp> {
        self.last.map(|last| deadline(last, self.suspect_after))
    }

    fn last_heartbeat(&self) -> Option<Timestamp> {
        self.last
    }

    fn backwards_heartbeats(&self) -> u64 {
        self.backwards
    }

    fn reset(&mut self) {
        self.history.clear();
        self.last = None;
        self.backwards = 0;
        self.mean = 0.0;
        self.suspect_after = None;
    }
}
