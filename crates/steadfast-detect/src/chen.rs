//! Chen, Toueg and Aguilera's adaptive detector: expect the next heartbeat at
//! the estimated arrival time, and suspect the peer a safety margin later.

use core::time::Duration;

use steadfast_core::{ConfigError, Timestamp};

use crate::detector::{
    FailureDetector, HeartbeatOutcome, IntervalHistory, MAX_INTERVAL_NANOS, MAX_SAMPLE_SIZE,
    classify_interval, deadline,
};

/// Settings of a [`ChenDetector`].
///
/// ```
/// use std::time::Duration;
/// use steadfast_detect::ChenConfig;
///
/// let config = ChenConfig::builder().safety_margin(Duration::from_millis(200)).build()?;
/// assert_eq!(config.window(), 1000);
/// assert!(ChenConfig::builder().window(0).build().is_err());
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChenConfig {
    window: usize,
    safety_margin: Duration,
    first_heartbeat_estimate: Duration,
}

impl ChenConfig {
    /// A builder with a window of 1000 intervals, a 500 ms safety margin and
    /// a first estimate of 1 s.
    pub fn builder() -> ChenConfigBuilder {
        ChenConfigBuilder {
            config: ChenConfig {
                window: 1000,
                safety_margin: Duration::from_millis(500),
                first_heartbeat_estimate: Duration::from_secs(1),
            },
        }
    }

    /// How many intervals the estimate averages.
    pub fn window(&self) -> usize {
        self.window
    }

    /// The margin α added to the expected arrival.
    pub fn safety_margin(&self) -> Duration {
        self.safety_margin
    }

    /// The interval assumed before one is measured.
    pub fn first_heartbeat_estimate(&self) -> Duration {
        self.first_heartbeat_estimate
    }
}

/// Builder of [`ChenConfig`].
#[derive(Debug, Clone)]
pub struct ChenConfigBuilder {
    config: ChenConfig,
}

impl ChenConfigBuilder {
    /// How many intervals the estimate averages (default 1000).
    pub fn window(mut self, window: usize) -> Self {
        self.config.window = window;
        self
    }

    /// The safety margin α (default 500 ms).
    pub fn safety_margin(mut self, margin: Duration) -> Self {
        self.config.safety_margin = margin;
        self
    }

    /// The interval assumed before one is measured (default 1 s).
    pub fn first_heartbeat_estimate(mut self, d: Duration) -> Self {
        self.config.first_heartbeat_estimate = d;
        self
    }

    /// Validates the settings.
    ///
    /// # Errors
    ///
    /// The window must be in [1, 65536]; the margin at most 2^48 ns; the first
    /// estimate positive and at most 2^48 ns.
    pub fn build(self) -> Result<ChenConfig, ConfigError> {
        let c = self.config;
        let max = Duration::from_nanos(MAX_INTERVAL_NANOS);
        ConfigError::ensure(
            (1..=MAX_SAMPLE_SIZE).contains(&c.window),
            "chen.window",
            c.window,
            "in [1, 65536]",
        )?;
        ConfigError::ensure(
            c.safety_margin <= max,
            "chen.safety_margin",
            format_args!("{:?}", c.safety_margin),
            "at most 2^48 ns",
        )?;
        ConfigError::ensure(
            !c.first_heartbeat_estimate.is_zero() && c.first_heartbeat_estimate <= max,
            "chen.first_heartbeat_estimate",
            format_args!("{:?}", c.first_heartbeat_estimate),
            "greater than 0 and at most 2^48 ns",
        )?;
        Ok(c)
    }
}

/// Chen's adaptive detector, in its inter-arrival form.
///
/// The expected arrival of the next heartbeat is the last arrival plus the
/// mean of the last `window` intervals (the first estimate until one is
/// measured); the freshness point is that plus the safety margin α. Its
/// suspicion is `elapsed / (mean + α)`, so the threshold is `1.0`. Heartbeat
/// sequence numbers are not needed; when none are lost this estimates the
/// same arrival time as the original formulation.
///
/// ```
/// use std::time::Duration;
/// use steadfast_core::Timestamp;
/// use steadfast_detect::{ChenConfig, ChenDetector, FailureDetector};
///
/// let config = ChenConfig::builder().safety_margin(Duration::from_millis(200)).build()?;
/// let mut chen = ChenDetector::new(config);
/// for ms in [0, 100, 200, 300] {
///     let _ = chen.heartbeat(Timestamp::from_millis(ms));
/// }
/// // Mean interval 100 ms, margin 200 ms.
/// assert_eq!(chen.suspect_at(), Some(Timestamp::from_millis(600)));
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ChenDetector {
    config: ChenConfig,
    history: IntervalHistory,
    last: Option<Timestamp>,
    backwards: u64,
    timeout: u64,
}

impl ChenDetector {
    /// A detector with no heartbeats yet.
    pub fn new(config: ChenConfig) -> ChenDetector {
        let mut detector = ChenDetector {
            history: IntervalHistory::new(config.window),
            config,
            last: None,
            backwards: 0,
            timeout: 0,
        };
        detector.refresh();
        detector
    }

    /// The current timeout: estimated interval plus safety margin.
    pub fn timeout(&self) -> Duration {
        Duration::from_nanos(self.timeout)
    }

    fn refresh(&mut self) {
        let expected = if self.history.len() == 0 {
            self.config.first_heartbeat_estimate.as_nanos() as u64
        } else {
            self.history.mean().round() as u64
        };
        // At least 1 ns so that suspicion stays finite.
        self.timeout = (expected + self.config.safety_margin.as_nanos() as u64).max(1);
    }
}

impl FailureDetector for ChenDetector {
    fn heartbeat(&mut self, at: Timestamp) -> HeartbeatOutcome {
        let outcome = match classify_interval(self.last, at) {
            Err(outcome) => {
                self.backwards += 1;
                return outcome;
            }
            Ok(None) => HeartbeatOutcome::First,
            Ok(Some(n)) if n < self.timeout => {
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
            Some(last) => {
                let elapsed = at.as_nanos().saturating_sub(last.as_nanos());
                let ratio = elapsed as f64 / self.timeout as f64;
                if elapsed >= self.timeout {
                    ratio.max(1.0)
                } else {
                    ratio.min(f64::from_bits(1.0f64.to_bits() - 1))
                }
            }
        }
    }

    fn threshold(&self) -> f64 {
        1.0
    }

    fn suspect_at(&self) -> Option<Timestamp> {
        self.last.map(|last| deadline(last, Some(self.timeout)))
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
        self.refresh();
    }
}
