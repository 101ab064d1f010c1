//! Chen, Toueg and Aguilera's adaptive detector: expect the next heartbeat at
//! the estimated arrival time, and suspect the peer a safety margin later.
//!
//! Two estimators of the expected arrival `EA` share one detector:
//!
//! - **with sequence numbers** (the original, section 6 of "On the quality of
//!   service of failure detectors", IEEE ToC 2002): the sender numbers its
//!   heartbeats and sends one every `η`; with `A_i` the arrival and `s_i` the
//!   number of each of the last `n` heartbeats received and `ℓ` the highest
//!   number so far, `EA_{ℓ+1} = (1/n) Σ (A_i - η s_i) + (ℓ + 1) η`. A lost
//!   heartbeat leaves a gap in the numbers, not a long interval, so losses
//!   do not inflate the estimate;
//! - **without them**: the last arrival plus the mean of the last `n`
//!   inter-arrival intervals, which estimates the same time when no
//!   heartbeat is lost.
//!
//! Either way the peer is trusted until the freshness point `EA + α`.

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
    sending_interval: Duration,
}

impl ChenConfig {
    /// A builder with a window of 1000 heartbeats, a 500 ms safety margin, a
    /// first estimate of 1 s and a sending interval of 1 s.
    pub fn builder() -> ChenConfigBuilder {
        ChenConfigBuilder {
            config: ChenConfig {
                window: 1000,
                safety_margin: Duration::from_millis(500),
                first_heartbeat_estimate: Duration::from_secs(1),
                sending_interval: Duration::from_secs(1),
            },
        }
    }

    /// How many intervals (or, with sequence numbers, heartbeats) the
    /// estimate averages.
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

    /// The sender's heartbeat period η, used with sequence numbers
    /// ([`FailureDetector::heartbeat_with_sequence`]).
    pub fn sending_interval(&self) -> Duration {
        self.sending_interval
    }
}

/// Builder of [`ChenConfig`].
#[derive(Debug, Clone)]
pub struct ChenConfigBuilder {
    config: ChenConfig,
}

impl ChenConfigBuilder {
    /// How many intervals (or numbered heartbeats) the estimate averages
    /// (default 1000).
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

    /// The period η at which the sender emits numbered heartbeats (default
    /// 1 s). Only heartbeats recorded with a sequence number use it.
    pub fn sending_interval(mut self, eta: Duration) -> Self {
        self.config.sending_interval = eta;
        self
    }

    /// Validates the settings.
    ///
    /// # Errors
    ///
    /// The window must be in [1, 65536]; the margin at most 2^48 ns; the first
    /// estimate and the sending interval positive and at most 2^48 ns.
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
        ConfigError::ensure(
            !c.sending_interval.is_zero() && c.sending_interval <= max,
            "chen.sending_interval",
            format_args!("{:?}", c.sending_interval),
            "greater than 0 and at most 2^48 ns",
        )?;
        Ok(c)
    }
}

/// The window of `A_i - η s_i` for the sequence-number estimator, kept
/// relative to the newest value so the running sum stays small and exact.
#[derive(Debug, Clone)]
struct ArrivalWindow {
    /// `A_i - η s_i` in nanoseconds: exact in 128 bits for every arrival and
    /// sequence number.
    samples: Vec<i128>,
    capacity: usize,
    next: usize,
    /// The newest sample, `A_ℓ - η ℓ`.
    base: i128,
    /// `Σ (sample - base)`: every sample lies within the window's span of
    /// the base, so this stays far inside 128 bits.
    sum: i128,
    /// The highest sequence number accepted, `ℓ`.
    latest: u64,
}

impl ArrivalWindow {
    fn new(capacity: usize) -> ArrivalWindow {
        ArrivalWindow {
            samples: Vec::new(),
            capacity: capacity.clamp(1, MAX_SAMPLE_SIZE),
            next: 0,
            base: 0,
            sum: 0,
            latest: 0,
        }
    }

    fn restart(&mut self, value: i128, sequence: u64) {
        self.samples.clear();
        self.next = 0;
        self.samples.push(value);
        self.base = value;
        self.sum = 0;
        self.latest = sequence;
    }

    fn push(&mut self, value: i128, sequence: u64) {
        if self.samples.len() < self.capacity {
            self.samples.push(value);
        } else {
            let old = core::mem::replace(&mut self.samples[self.next], value);
            self.sum -= old - self.base;
            self.next += 1;
            if self.next == self.capacity {
                self.next = 0;
            }
        }
        self.sum += value - self.base;
        // Rebase on the newest sample.
        self.sum -= self.samples.len() as i128 * (value - self.base);
        self.base = value;
        self.latest = sequence;
    }

    /// `EA_{ℓ+1} - A_ℓ - η`: the mean of `sample - base`, rounded to the
    /// nearest nanosecond.
    fn mean_offset(&self) -> i128 {
        let n = self.samples.len().max(1) as i128;
        let quotient = self.sum.div_euclid(n);
        let remainder = self.sum.rem_euclid(n);
        if 2 * remainder >= n {
            quotient + 1
        } else {
            quotient
        }
    }
}

/// Chen's adaptive detector.
///
/// **Without sequence numbers** ([`FailureDetector::heartbeat`]) the expected
/// arrival of the next heartbeat is the last arrival plus the mean of the
/// last `window` intervals (the first estimate until one is measured); an
/// interval at least as long as the current timeout spans a suspicion and is
/// left out. When no heartbeat is lost this estimates the same arrival time
/// as the original formulation.
///
/// **With sequence numbers** ([`FailureDetector::heartbeat_with_sequence`])
/// it is Chen et al.'s estimator: `EA_{ℓ+1} = (1/n) Σ (A_i - η s_i) + (ℓ+1) η`
/// over the last `window` heartbeats, η being
/// [`ChenConfig::sending_interval`]. Every accepted heartbeat enters the
/// window, as in the original; losses only leave gaps in the numbers. A
/// heartbeat numbered at or below the highest one seen (a duplicate, or one
/// overtaken by a later one) is ignored and counted
/// ([`ChenDetector::out_of_order_heartbeats`]); a sender that restarts its
/// numbering needs [`reset`](FailureDetector::reset). Once a numbered
/// heartbeat has been seen, an unnumbered one counts as the next number. A
/// jump in the numbers longer than the whole time range (more than 2^64 ns
/// of sending intervals) cannot belong to the same schedule and restarts the
/// window.
///
/// In both modes the freshness point is `EA + α` (at least 1 ns after the
/// last heartbeat, so that the heartbeat itself is trusted), the suspicion is
/// `elapsed / (freshness point - last arrival)`, and the threshold is `1.0`.
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
///
/// // With sequence numbers: heartbeat 3 is lost, and that is no surprise.
/// let config = ChenConfig::builder()
///     .sending_interval(Duration::from_millis(100))
///     .safety_margin(Duration::from_millis(50))
///     .build()?;
/// let mut chen = ChenDetector::new(config);
/// for (ms, seq) in [(10, 0), (110, 1), (210, 2), (410, 4)] {
///     let _ = chen.heartbeat_with_sequence(Timestamp::from_millis(ms), seq);
/// }
/// // Every heartbeat arrived 10 ms after it was sent: EA(5) = 510 ms.
/// assert_eq!(chen.suspect_at(), Some(Timestamp::from_millis(560)));
/// // A late copy of heartbeat 2 changes nothing.
/// let _ = chen.heartbeat_with_sequence(Timestamp::from_millis(420), 2);
/// assert_eq!(chen.out_of_order_heartbeats(), 1);
/// assert_eq!(chen.suspect_at(), Some(Timestamp::from_millis(560)));
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ChenDetector {
    config: ChenConfig,
    history: IntervalHistory,
    /// The sequence-number estimator, once a numbered heartbeat arrived.
    sequenced: Option<ArrivalWindow>,
    last: Option<Timestamp>,
    backwards: u64,
    out_of_order: u64,
    timeout: u64,
}

impl ChenDetector {
    /// A detector with no heartbeats yet.
    pub fn new(config: ChenConfig) -> ChenDetector {
        let mut detector = ChenDetector {
            history: IntervalHistory::new(config.window),
            sequenced: None,
            config,
            last: None,
            backwards: 0,
            out_of_order: 0,
            timeout: 0,
        };
        detector.refresh();
        detector
    }

    /// The current timeout: how long after the last heartbeat the peer is
    /// suspected. Without sequence numbers, the estimated interval plus the
    /// safety margin; with them, the freshness point `EA_{ℓ+1} + α` minus the
    /// last arrival (at least 1 ns).
    pub fn timeout(&self) -> Duration {
        Duration::from_nanos(self.timeout)
    }

    /// How many numbered heartbeats were ignored because their number was
    /// not above the highest one seen (duplicates and reordered ones).
    pub fn out_of_order_heartbeats(&self) -> u64 {
        self.out_of_order
    }

    /// The highest sequence number seen, once a numbered heartbeat arrived.
    pub fn latest_sequence(&self) -> Option<u64> {
        self.sequenced.as_ref().map(|w| w.latest)
    }

    fn refresh(&mut self) {
        if let Some(window) = &self.sequenced {
            // EA_{l+1} + α - A_l = η + mean(x_i - x_l) + α.
            let offset = window.mean_offset()
                + i128::from(self.config.sending_interval.as_nanos() as u64)
                + i128::from(self.config.safety_margin.as_nanos() as u64);
            self.timeout = offset.clamp(1, i128::from(u64::MAX)) as u64;
            return;
        }
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
        if let Some(window) = &self.sequenced {
            let next = window.latest.saturating_add(1);
            return self.heartbeat_with_sequence(at, next);
        }
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

    fn heartbeat_with_sequence(&mut self, at: Timestamp, sequence: u64) -> HeartbeatOutcome {
        let interval = match classify_interval(self.last, at) {
            Err(outcome) => {
                self.backwards += 1;
                return outcome;
            }
            Ok(interval) => interval,
        };
        let eta = self.config.sending_interval.as_nanos() as u64;
        // A_i - η s_i: exact, |value| < 2^64 + 2^112.
        let value = i128::from(at.as_nanos()) - i128::from(eta) * i128::from(sequence);
        let outcome = match (&mut self.sequenced, interval) {
            (Some(window), _) if sequence <= window.latest => {
                self.out_of_order += 1;
                return HeartbeatOutcome::OutOfOrder {
                    sequence,
                    latest: window.latest,
                };
            }
            (Some(window), interval) => {
                let interval = Duration::from_nanos(interval.unwrap_or(0));
                let span = u128::from(sequence - window.latest) * u128::from(eta);
                if span > u128::from(u64::MAX) {
                    window.restart(value, sequence);
                    HeartbeatOutcome::NotRecorded { interval }
                } else {
                    window.push(value, sequence);
                    HeartbeatOutcome::Recorded { interval }
                }
            }
            (None, interval) => {
                // The first numbered heartbeat; any unnumbered history is
                // replaced by the numbered estimator from here on.
                let mut window = ArrivalWindow::new(self.config.window);
                window.restart(value, sequence);
                self.sequenced = Some(window);
                self.history.clear();
                match interval {
                    None => HeartbeatOutcome::First,
                    Some(n) => HeartbeatOutcome::NotRecorded {
                        interval: Duration::from_nanos(n),
                    },
                }
            }
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
        self.sequenced = None;
        self.last = None;
        self.backwards = 0;
        self.out_of_order = 0;
        self.refresh();
    }
}
