//! Phi accrual (Hayashibara et al.): suspicion on a logarithmic scale.
//!
//! Phi is `-log10(P(the next heartbeat arrives later than now))`, with the
//! inter-arrival times modelled as a normal distribution estimated from a
//! window of recent intervals. Phi 1 means a 10% chance the peer is merely
//! late, phi 8 one in a hundred million.
//!
//! Two modes:
//!
//! - [`PhiMode::AkkaCompatible`] reproduces Akka/Pekko: the logistic
//!   approximation `1 / (1 + exp(-y (1.5976 + 0.070566 y²)))` of the normal
//!   CDF, the mean shifted by the acceptable heartbeat pause, the standard
//!   deviation floored at a minimum, and the history bootstrapped from a first
//!   heartbeat estimate. It is evaluated in a numerically stable form, so it
//!   agrees with Pekko wherever Pekko's value is finite and keeps growing
//!   (instead of becoming infinite) far past the threshold.
//! - [`PhiMode::Exact`] uses the normal tail itself, through a Chebyshev
//!   expansion of `ln erfc` (relative error below 1e-12), finite and monotone
//!   for phi far beyond 300.

use core::time::Duration;
use std::sync::atomic::{AtomicU64, Ordering};

use steadfast_core::{ConfigError, Timestamp};

use crate::detector::{
    FailureDetector, HeartbeatOutcome, IntervalHistory, MAX_SAMPLE_SIZE, classify_interval,
    deadline, first_crossing, search_limit,
};

/// How phi is computed from the standardized delay `y`.
///
/// ```
/// use steadfast_detect::{PhiMode, phi_of_y};
///
/// // Close to each other where the logistic approximation is good...
/// let (akka, exact) = (phi_of_y(PhiMode::AkkaCompatible, 2.0), phi_of_y(PhiMode::Exact, 2.0));
/// assert!((akka - exact).abs() < 0.01);
/// // ...and far apart in the tail, where the approximation's tail is lighter.
/// assert!(phi_of_y(PhiMode::AkkaCompatible, 10.0) > phi_of_y(PhiMode::Exact, 10.0) + 10.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PhiMode {
    /// Akka/Pekko's logistic approximation of the normal CDF (the default).
    #[default]
    AkkaCompatible,
    /// The exact normal tail, via a stable `ln erfc`.
    Exact,
}

/// Settings of a [`PhiAccrual`] detector. Build with [`PhiAccrualConfig::builder`].
///
/// The defaults are Pekko's cluster failure detector defaults
/// (`pekko.cluster.failure-detector`): threshold 8, max-sample-size 1000,
/// min-std-deviation 100 ms, acceptable-heartbeat-pause 3 s, and a first
/// heartbeat estimate equal to its heartbeat-interval, 1 s.
///
/// ```
/// use std::time::Duration;
/// use steadfast_detect::{PhiAccrualConfig, PhiMode};
///
/// let config = PhiAccrualConfig::builder()
///     .threshold(10.0)
///     .acceptable_heartbeat_pause(Duration::from_millis(500))
///     .mode(PhiMode::Exact)
///     .build()?;
/// assert_eq!(config.threshold(), 10.0);
///
/// let err = PhiAccrualConfig::builder().threshold(f64::NAN).build().unwrap_err();
/// assert_eq!(err.to_string(), "phi.threshold must be finite and greater than 0, got NaN");
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct PhiAccrualConfig {
    threshold: f64,
    max_sample_size: usize,
    min_std_deviation: Duration,
    acceptable_heartbeat_pause: Duration,
    first_heartbeat_estimate: Duration,
    mode: PhiMode,
}

impl PhiAccrualConfig {
    /// A builder holding the Pekko defaults.
    pub fn builder() -> PhiAccrualConfigBuilder {
        PhiAccrualConfigBuilder {
            config: PhiAccrualConfig {
                threshold: 8.0,
                max_sample_size: 1000,
                min_std_deviation: Duration::from_millis(100),
                acceptable_heartbeat_pause: Duration::from_secs(3),
                first_heartbeat_estimate: Duration::from_secs(1),
                mode: PhiMode::AkkaCompatible,
            },
        }
    }

    /// The phi at which the peer is suspected.
    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    /// How many intervals the window keeps.
    pub fn max_sample_size(&self) -> usize {
        self.max_sample_size
    }

    /// The floor on the standard deviation.
    pub fn min_std_deviation(&self) -> Duration {
        self.min_std_deviation
    }

    /// The pause added to the mean before computing phi.
    pub fn acceptable_heartbeat_pause(&self) -> Duration {
        self.acceptable_heartbeat_pause
    }

    /// The interval the history is bootstrapped with.
    pub fn first_heartbeat_estimate(&self) -> Duration {
        self.first_heartbeat_estimate
    }

    /// How phi is computed.
    pub fn mode(&self) -> PhiMode {
        self.mode
    }
}

/// Builder of [`PhiAccrualConfig`]; validation happens in [`build`](Self::build).
#[derive(Debug, Clone)]
pub struct PhiAccrualConfigBuilder {
    config: PhiAccrualConfig,
}

impl PhiAccrualConfigBuilder {
    /// The phi at which the peer is suspected (default 8).
    pub fn threshold(mut self, threshold: f64) -> Self {
        self.config.threshold = threshold;
        self
    }

    /// How many intervals the window keeps (default 1000).
    pub fn max_sample_size(mut self, size: usize) -> Self {
        self.config.max_sample_size = size;
        self
    }

    /// The floor on the standard deviation (default 100 ms).
    pub fn min_std_deviation(mut self, d: Duration) -> Self {
        self.config.min_std_deviation = d;
        self
    }

    /// The pause that is still normal, added to the mean (default 3 s).
    pub fn acceptable_heartbeat_pause(mut self, d: Duration) -> Self {
        self.config.acceptable_heartbeat_pause = d;
        self
    }

    /// The expected heartbeat interval before any is measured (default 1 s).
    pub fn first_heartbeat_estimate(mut self, d: Duration) -> Self {
        self.config.first_heartbeat_estimate = d;
        self
    }

    /// Akka-compatible or exact (default Akka-compatible).
    pub fn mode(mut self, mode: PhiMode) -> Self {
        self.config.mode = mode;
        self
    }

    /// Validates the settings.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first bad field: the threshold must be
    /// finite and positive; the sample size between 1 and 65536; the minimum
    /// standard deviation and the first estimate positive and at most 2^48 ns;
    /// the acceptable pause at most 2^48 ns.
    pub fn build(self) -> Result<PhiAccrualConfig, ConfigError> {
        let c = self.config;
        let max = Duration::from_nanos(crate::detector::MAX_INTERVAL_NANOS);
        ConfigError::ensure(
            c.threshold.is_finite() && c.threshold > 0.0,
            "phi.threshold",
            c.threshold,
            "finite and greater than 0",
        )?;
        ConfigError::ensure(
            (1..=MAX_SAMPLE_SIZE).contains(&c.max_sample_size),
            "phi.max_sample_size",
            c.max_sample_size,
            "in [1, 65536]",
        )?;
        ConfigError::ensure(
            !c.min_std_deviation.is_zero() && c.min_std_deviation <= max,
            "phi.min_std_deviation",
            format_args!("{:?}", c.min_std_deviation),
            "greater than 0 and at most 2^48 ns",
        )?;
        ConfigError::ensure(
            c.acceptable_heartbeat_pause <= max,
            "phi.acceptable_heartbeat_pause",
            format_args!("{:?}", c.acceptable_heartbeat_pause),
            "at most 2^48 ns",
        )?;
        ConfigError::ensure(
            !c.first_heartbeat_estimate.is_zero() && c.first_heartbeat_estimate <= max,
            "phi.first_heartbeat_estimate",
            format_args!("{:?}", c.first_heartbeat_estimate),
            "greater than 0 and at most 2^48 ns",
        )?;
        Ok(c)
    }
}

/// The phi accrual failure detector.
///
/// ```
/// use std::time::Duration;
/// use steadfast_core::Timestamp;
/// use steadfast_detect::{FailureDetector, PhiAccrual, PhiAccrualConfig};
///
/// let mut phi = PhiAccrual::new(PhiAccrualConfig::builder().build()?);
/// for s in 0..=10 {
///     let _ = phi.heartbeat(Timestamp::from_secs(s));
/// }
/// // Heartbeats every second, 3 s of pause accepted: the peer is suspected
/// // a little over 4 s after its last heartbeat, at this exact nanosecond.
/// let at = phi.suspect_at().unwrap();
/// assert!(at > Timestamp::from_secs(14) && at < Timestamp::from_secs(15));
/// assert!(phi.suspicion(at) >= 8.0);
/// assert!(phi.suspicion(at - Duration::from_nanos(1)) < 8.0);
/// assert!(phi.is_available(at - Duration::from_nanos(1)));
/// assert!(!phi.is_available(at));
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[derive(Debug)]
pub struct PhiAccrual {
    config: PhiAccrualConfig,
    history: IntervalHistory,
    last: Option<Timestamp>,
    backwards: u64,
    /// Mean plus acceptable pause, in nanoseconds (cached per heartbeat).
    shifted_mean: f64,
    /// max(std deviation, minimum), in nanoseconds (cached per heartbeat).
    std_deviation: f64,
    /// `1 / std_deviation`, so a query multiplies instead of dividing.
    inverse_std: f64,
    /// The closed-form crossing (elapsed nanoseconds), cached per heartbeat.
    approximate: f64,
    /// The standardized delay at which phi reaches the threshold.
    y_threshold: f64,
    /// The acceptable pause and the deviation floor in nanoseconds,
    /// converted once (128-bit conversions are not free).
    pause_nanos: f64,
    min_std_nanos: f64,
    /// The floor squared and inverted: most windows vary less than the
    /// floor, and then the refresh needs neither a square root nor a division.
    min_variance: f64,
    inverse_min_std: f64,
    /// Cache of the exact crossing (elapsed nanoseconds), computed on first
    /// demand after each heartbeat: [`UNKNOWN`] or an encoded `Option<u64>`.
    crossing: AtomicU64,
}

/// Not computed since the last heartbeat.
const UNKNOWN: u64 = u64::MAX;
/// No crossing within the representable range.
const NEVER: u64 = u64::MAX - 1;
/// How far (in nanoseconds) from the closed-form crossing an elapsed time
/// must be to be judged without the exact search. The closed form is off by
/// about a nanosecond at most; this leaves a wide margin.
const EXACT_MARGIN: f64 = 16.0;

impl Clone for PhiAccrual {
    fn clone(&self) -> PhiAccrual {
        PhiAccrual {
            config: self.config.clone(),
            history: self.history.clone(),
            last: self.last,
            backwards: self.backwards,
            shifted_mean: self.shifted_mean,
            std_deviation: self.std_deviation,
            inverse_std: self.inverse_std,
            approximate: self.approximate,
            y_threshold: self.y_threshold,
            pause_nanos: self.pause_nanos,
            min_std_nanos: self.min_std_nanos,
            min_variance: self.min_variance,
            inverse_min_std: self.inverse_min_std,
            crossing: AtomicU64::new(self.crossing.load(Ordering::Relaxed)),
        }
    }
}

impl PhiAccrual {
    /// A detector with no heartbeats yet.
    pub fn new(config: PhiAccrualConfig) -> PhiAccrual {
        let y_threshold = y_at_phi(config.mode, config.threshold);
        let pause_nanos = config.acceptable_heartbeat_pause.as_nanos() as f64;
        let min_std_nanos = config.min_std_deviation.as_nanos() as f64;
        let mut detector = PhiAccrual {
            history: IntervalHistory::new(config.max_sample_size),
            config,
            last: None,
            backwards: 0,
            shifted_mean: 0.0,
            std_deviation: 0.0,
            inverse_std: 0.0,
            approximate: 0.0,
            y_threshold,
            pause_nanos,
            min_std_nanos,
            min_variance: min_std_nanos * min_std_nanos,
            inverse_min_std: 1.0 / min_std_nanos,
            crossing: AtomicU64::new(UNKNOWN),
        };
        detector.bootstrap();
        detector
    }

    /// The settings.
    pub fn config(&self) -> &PhiAccrualConfig {
        &self.config
    }

    /// Mean of the intervals in the window (including the bootstrap pair).
    pub fn mean_interval(&self) -> Duration {
        Duration::from_nanos(self.history.mean() as u64)
    }

    /// Standard deviation used (after the floor).
    pub fn std_deviation(&self) -> Duration {
        Duration::from_nanos(self.std_deviation as u64)
    }

    /// How many intervals the window holds.
    pub fn samples(&self) -> usize {
        self.history.len()
    }

    /// Phi for an elapsed time since the last heartbeat, with the current statistics.
    pub fn phi_after(&self, elapsed: Duration) -> f64 {
        self.phi_of_elapsed(elapsed.as_nanos().min(u128::from(u64::MAX)) as u64)
    }

    fn bootstrap(&mut self) {
        // Two samples around the estimate with a deliberately wide spread, as
        // Akka does, so a peer that sent a single heartbeat is still judged.
        let mean = self.config.first_heartbeat_estimate.as_nanos() as u64;
        let spread = mean / 4;
        self.history.clear();
        self.history.push(mean - spread);
        self.history.push(mean + spread);
        self.refresh();
    }

    #[inline]
    fn refresh(&mut self) {
        let (mean, variance) = self.history.mean_and_variance();
        self.shifted_mean = mean + self.pause_nanos;
        // max(sqrt(variance), floor), computed without the root when the
        // floor wins (the comparison is exact up to rounding).
        if variance > self.min_variance {
            (self.std_deviation, self.inverse_std) = root_and_inverse(variance);
        } else {
            self.std_deviation = self.min_std_nanos;
            self.inverse_std = self.inverse_min_std;
        }
        self.approximate = self.shifted_mean + self.y_threshold * self.std_deviation;
        // The exact crossing costs a few evaluations of phi; most heartbeats
        // never need it, so it is computed on demand.
        *self.crossing.get_mut() = UNKNOWN;
    }

    /// The closed-form crossing, within a nanosecond or so of the exact one.
    #[inline]
    fn approximate_crossing(&self) -> f64 {
        self.approximate
    }

    /// The exact elapsed time at which the peer is suspected.
    fn crossing(&self, last: Timestamp) -> Option<u64> {
        let cached = self.crossing.load(Ordering::Relaxed);
        let value = if cached == UNKNOWN {
            let found = first_crossing(self.approximate_crossing(), search_limit(last), |e| {
                self.phi_of_elapsed(e) >= self.config.threshold
            });
            let encoded = found.map_or(NEVER, |e| e.min(NEVER - 1));
            self.crossing.store(encoded, Ordering::Relaxed);
            encoded
        } else {
            cached
        };
        (value != NEVER).then_some(value)
    }

    /// Whether the peer is suspected `elapsed` after `last`, exactly as
    /// [`FailureDetector::suspect_at`] says, usually without the search.
    #[inline]
    fn suspected_after(&self, last: Timestamp, elapsed: u64) -> bool {
        let cached = self.crossing.load(Ordering::Relaxed);
        if cached == UNKNOWN {
            let approximate = self.approximate_crossing();
            let e = elapsed as f64;
            if e > approximate + EXACT_MARGIN {
                return true;
            }
            if e < approximate - EXACT_MARGIN {
                return false;
            }
        }
        self.crossing(last).is_some_and(|c| elapsed >= c)
    }

    #[inline]
    fn phi_of_elapsed(&self, elapsed: u64) -> f64 {
        let y = (elapsed as f64 - self.shifted_mean) * self.inverse_std;
        phi_of_y(self.config.mode, y)
    }
}

impl FailureDetector for PhiAccrual {
    #[inline]
    fn heartbeat(&mut self, at: Timestamp) -> HeartbeatOutcome {
        let interval = match classify_interval(self.last, at) {
            Err(outcome) => {
                self.backwards += 1;
                return outcome;
            }
            Ok(interval) => interval,
        };
        let outcome = match interval {
            None => HeartbeatOutcome::First,
            Some(nanos) => {
                let previous = self.last.unwrap_or(at);
                let available = !self.suspected_after(previous, nanos);
                if available {
                    self.history.push(nanos);
                    HeartbeatOutcome::Recorded {
                        interval: Duration::from_nanos(nanos),
                    }
                } else {
                    HeartbeatOutcome::NotRecorded {
                        interval: Duration::from_nanos(nanos),
                    }
                }
            }
        };
        self.last = Some(at);
        self.refresh();
        outcome
    }

    #[inline]
    fn suspicion(&self, at: Timestamp) -> f64 {
        match self.last {
            None => 0.0,
            Some(last) => self.phi_of_elapsed(at.as_nanos().saturating_sub(last.as_nanos())),
        }
    }

    fn threshold(&self) -> f64 {
        self.config.threshold
    }

    fn suspect_at(&self) -> Option<Timestamp> {
        self.last.map(|last| deadline(last, self.crossing(last)))
    }

    #[inline]
    fn is_available(&self, at: Timestamp) -> bool {
        match self.last {
            None => true,
            Some(last) if at < last => true,
            Some(last) => !self.suspected_after(last, at.as_nanos() - last.as_nanos()),
        }
    }

    fn last_heartbeat(&self) -> Option<Timestamp> {
        self.last
    }

    fn backwards_heartbeats(&self) -> u64 {
        self.backwards
    }

    fn reset(&mut self) {
        self.last = None;
        self.backwards = 0;
        self.bootstrap();
    }
}

/// `(sqrt(v), 1 / sqrt(v))`, out of line: inlined, the compiler would
/// compute the root on every refresh, even when the floor wins.
#[inline(never)]
fn root_and_inverse(variance: f64) -> (f64, f64) {
    let root = variance.sqrt();
    (root, 1.0 / root)
}

/// Phi for a standardized delay `y = (elapsed - mean) / std_deviation`.
///
/// Finite for every finite `y`, never NaN for non-NaN input, and
/// non-decreasing in `y`.
///
/// ```
/// use steadfast_detect::{PhiMode, phi_of_y};
///
/// // At the mean the peer is late with probability 1/2: phi = log10(2).
/// assert!((phi_of_y(PhiMode::Exact, 0.0) - 2f64.log10()).abs() < 1e-12);
/// // Far out in the tail, still finite.
/// assert!(phi_of_y(PhiMode::Exact, 40.0) > 300.0);
/// assert!(phi_of_y(PhiMode::AkkaCompatible, 1e6).is_finite());
/// ```
#[inline]
pub fn phi_of_y(mode: PhiMode, y: f64) -> f64 {
    if y.is_nan() {
        return 0.0;
    }
    match mode {
        PhiMode::AkkaCompatible => {
            // -log10(e / (1 + e)) with e = exp(-z) is softplus(z) / ln 10.
            let z = y * (1.5976 + 0.070566 * y * y);
            softplus(z) * core::f64::consts::LOG10_E
        }
        PhiMode::Exact => {
            let x = y / core::f64::consts::SQRT_2;
            if y >= 0.0 {
                -(ln_erfc(x) - core::f64::consts::LN_2) * core::f64::consts::LOG10_E
            } else if y < -40.0 {
                0.0
            } else {
                let upper = 0.5 * erfc(-x);
                // ln(1 - u) = -u in floating point once u < 2^-54.
                let ln_lower = if upper < f64::EPSILON * 0.25 {
                    -upper
                } else {
                    (-upper).ln_1p()
                };
                -ln_lower * core::f64::consts::LOG10_E
            }
        }
    }
}

/// `ln(1 + e^z)`, without overflow or loss of precision.
#[inline]
fn softplus(z: f64) -> f64 {
    if z > 40.0 {
        z
    } else if z < -745.2 {
        0.0
    } else if z > 0.0 {
        z + (-z).exp().ln_1p()
    } else {
        z.exp().ln_1p()
    }
}

/// Chebyshev coefficients of `ln(erfc(x) / t) + x²`, `t = 2 / (2 + x)`,
/// for `x >= 0` (the expansion of Numerical Recipes, third edition, 6.2.2).
#[allow(clippy::excessive_precision)] // the published coefficients, digit for digit
const ERFC_COEFFICIENTS: [f64; 28] = [
    -1.302_653_719_781_709_4,
    6.419_697_923_564_902_6e-1,
    1.947_647_320_418_583_6e-2,
    -9.561_514_786_808_631e-3,
    -9.465_953_444_820_36e-4,
    3.668_394_978_527_61e-4,
    4.252_332_480_690_7e-5,
    -2.027_857_811_253_4e-5,
    -1.624_290_004_647e-6,
    1.303_655_835_580e-6,
    1.562_644_172_2e-8,
    -8.523_809_591_5e-8,
    6.529_054_439e-9,
    5.059_343_495e-9,
    -9.913_641_56e-10,
    -2.273_651_22e-10,
    9.646_791_1e-11,
    2.394_038e-12,
    -6.886_027e-12,
    8.944_87e-13,
    3.130_92e-13,
    -1.127_08e-13,
    3.81e-16,
    7.106e-15,
    -1.523e-15,
    -9.4e-17,
    1.21e-16,
    -2.8e-17,
];

/// Where the asymptotic series takes over from the Chebyshev expansion: at
/// `x >= 12` its first eleven terms are exact to about 1e-17 relative.
const ASYMPTOTIC_FROM: f64 = 12.0;

/// `(-1)^k (2k - 1)!!`: the coefficients of the asymptotic series
/// `erfc(x) = exp(-x²) / (x √π) · Σ c_k u^k`, `u = 1 / (2x²)`.
const ASYMPTOTIC_COEFFICIENTS: [f64; 11] = [
    1.0,
    -1.0,
    3.0,
    -15.0,
    105.0,
    -945.0,
    10_395.0,
    -135_135.0,
    2_027_025.0,
    -34_459_425.0,
    654_729_075.0,
];

/// `Σ c_k u^k - 1` for `x >= ASYMPTOTIC_FROM` (small: at most ~3.5e-3).
fn asymptotic_series_minus_one(x: f64) -> f64 {
    let u = 0.5 / (x * x);
    let mut sum = 0.0;
    for &c in ASYMPTOTIC_COEFFICIENTS[1..].iter().rev() {
        sum = (sum + c) * u;
    }
    sum
}

/// `erfc(x)` for `x >= 0`; one `exp` (no `ln`) far in the tail, where the
/// phi of an early query (a negative delay) is a tiny number.
fn erfc(x: f64) -> f64 {
    if x >= ASYMPTOTIC_FROM {
        let s = 1.0 + asymptotic_series_minus_one(x);
        (-x * x).exp() * s / (x * core::f64::consts::PI.sqrt())
    } else {
        ln_erfc(x).exp()
    }
}

/// `ln(erfc(x))` for `x >= 0`, finite for every finite `x`: a Chebyshev
/// expansion, or the asymptotic series far in the tail (a quarter of the work).
fn ln_erfc(x: f64) -> f64 {
    if x >= ASYMPTOTIC_FROM {
        return -x * x - (x * core::f64::consts::PI.sqrt()).ln()
            + asymptotic_series_minus_one(x).ln_1p();
    }
    let t = 2.0 / (2.0 + x);
    let ty = 4.0 * t - 2.0;
    let mut d = 0.0;
    let mut dd = 0.0;
    for &c in ERFC_COEFFICIENTS[1..].iter().rev() {
        let previous = d;
        d = ty * d - dd + c;
        dd = previous;
    }
    t.ln() - x * x + 0.5 * (ERFC_COEFFICIENTS[0] + ty * d) - dd
}

/// The standardized delay at which phi first reaches `phi` (bisection on the
/// monotone function; computed once per detector).
fn y_at_phi(mode: PhiMode, phi: f64) -> f64 {
    let mut low = -50.0f64;
    let mut high = 1.0f64;
    while phi_of_y(mode, high) < phi && high < 1e12 {
        high *= 2.0;
    }
    for _ in 0..200 {
        let mid = 0.5 * (low + high);
        if mid <= low || mid >= high {
            break;
        }
        if phi_of_y(mode, mid) >= phi {
            high = mid;
        } else {
            low = mid;
        }
    }
    high
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pekko's own test: phi(timeDiff, mean 1000, sd 100) to within 0.1.
    #[test]
    fn akka_realistic_phi_values() {
        let cases = [
            (0.0, 0.0),
            (500.0, 0.1),
            (1000.0, 0.3),
            (1200.0, 1.6),
            (1400.0, 4.7),
            (1600.0, 10.8),
            (1700.0, 15.3),
        ];
        for (t, expected) in cases {
            let phi = phi_of_y(PhiMode::AkkaCompatible, (t - 1000.0) / 100.0);
            assert!((phi - expected).abs() < 0.1, "t={t} phi={phi}");
        }
    }

    /// Pekko's CDF check: 1 - 10^-phi against the normal CDF.
    #[test]
    fn akka_cdf_is_good_enough() {
        let cdf = |y: f64| 1.0 - 10f64.powf(-phi_of_y(PhiMode::AkkaCompatible, y));
        let cases = [
            (0.0, 0.5),
            (0.6, 0.7257),
            (1.5, 0.9332),
            (2.0, 0.97725),
            (2.5, 0.99379),
            (3.5, 0.99977),
            (4.0, 0.99997),
        ];
        for (y, expected) in cases {
            assert!((cdf(y) - expected).abs() < 0.001, "y={y}");
        }
    }

    /// Pekko's exact branch formula, where it is finite.
    fn pekko_phi(y: f64) -> f64 {
        let e = (-y * (1.5976 + 0.070566 * y * y)).exp();
        if y > 0.0 {
            -(e / (1.0 + e)).log10()
        } else {
            -(1.0 - 1.0 / (1.0 + e)).log10()
        }
    }

    #[test]
    fn stable_form_agrees_with_pekko_where_pekko_is_finite() {
        let mut y = -6.0;
        while y < 15.0 {
            let ours = phi_of_y(PhiMode::AkkaCompatible, y);
            let theirs = pekko_phi(y);
            if theirs.is_finite() && theirs > 1e-300 {
                assert!(
                    (ours - theirs).abs() <= 1e-9 * theirs.max(1e-3),
                    "y={y} ours={ours} theirs={theirs}"
                );
            }
            y += 0.01;
        }
        // Where Pekko overflows to infinity, this keeps growing.
        assert!(pekko_phi(30.0).is_infinite());
        assert!(phi_of_y(PhiMode::AkkaCompatible, 30.0).is_finite());
        assert!(phi_of_y(PhiMode::AkkaCompatible, 31.0) > phi_of_y(PhiMode::AkkaCompatible, 30.0));
    }

    #[test]
    fn exact_mode_matches_reference_normal_tail() {
        // -log10(Q(y)) computed with arbitrary precision.
        let cases = [
            (0.0, core::f64::consts::LOG10_2),
            (1.0, 0.799_545_541_491_970_5),
            (3.0, 2.869_699_035_929_369),
            (5.0, 6.542_645_672_390_654),
            (10.0, 23.118_053_405_486_076),
            (20.0, 88.560_095_343_075_59),
            (37.0, 299.242_181_178_609_9),
            (-1.0, 0.075_026_012_957_818_02),
        ];
        for (y, expected) in cases {
            let phi = phi_of_y(PhiMode::Exact, y);
            assert!(
                (phi - expected).abs() <= 1e-11 * expected.max(1.0),
                "y={y} phi={phi} expected={expected}"
            );
        }
    }

    #[test]
    fn the_asymptotic_tail_joins_the_chebyshev_expansion() {
        let chebyshev = |x: f64| {
            // The Chebyshev branch alone, past the switch.
            let t = 2.0 / (2.0 + x);
            let ty = 4.0 * t - 2.0;
            let mut d = 0.0;
            let mut dd = 0.0;
            for &c in ERFC_COEFFICIENTS[1..].iter().rev() {
                let previous = d;
                d = ty * d - dd + c;
                dd = previous;
            }
            t.ln() - x * x + 0.5 * (ERFC_COEFFICIENTS[0] + ty * d) - dd
        };
        let mut x = ASYMPTOTIC_FROM;
        while x < 30.0 {
            let (a, c) = (ln_erfc(x), chebyshev(x));
            assert!((a - c).abs() <= 1e-13 * c.abs(), "x={x} {a} {c}");
            assert!(
                (erfc(x).ln() - c).abs() <= 1e-12 * c.abs() || x > 26.0,
                "x={x}"
            );
            x += 0.173;
        }
        // Monotone across the switch, to the last bit that matters.
        let below = ln_erfc(ASYMPTOTIC_FROM - 1e-9);
        assert!(ln_erfc(ASYMPTOTIC_FROM) <= below);
        assert!(erfc(ASYMPTOTIC_FROM) <= erfc(ASYMPTOTIC_FROM - 1e-9));
    }

    #[test]
    fn phi_is_finite_and_monotone_far_into_the_tail() {
        for mode in [PhiMode::AkkaCompatible, PhiMode::Exact] {
            let mut previous = 0.0;
            let mut y = -60.0;
            while y < 2000.0 {
                let phi = phi_of_y(mode, y);
                assert!(phi.is_finite() && phi >= previous, "{mode:?} y={y}");
                previous = phi;
                y += 0.037;
            }
            // The largest delay a detector can produce: 2^64 ns over a 1 ns deviation.
            assert!(phi_of_y(mode, 1.9e19).is_finite());
            assert_eq!(phi_of_y(mode, f64::NAN), 0.0);
        }
    }

    #[test]
    fn the_fast_availability_check_agrees_with_the_exact_deadline() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for mode in [PhiMode::AkkaCompatible, PhiMode::Exact] {
            for case in 0..200 {
                let mut fd = PhiAccrual::new(
                    PhiAccrualConfig::builder()
                        .mode(mode)
                        .threshold(0.5 + (case % 20) as f64)
                        .min_std_deviation(Duration::from_nanos(1 + next() % 50_000_000))
                        .acceptable_heartbeat_pause(Duration::from_nanos(next() % 2_000_000_000))
                        .build()
                        .unwrap(),
                );
                let mut t = 1_000_000u64;
                for _ in 0..(next() % 30) {
                    t += next() % 2_000_000_000;
                    let _ = fd.heartbeat(Timestamp::from_nanos(t));
                }
                let fresh = fd.clone();
                let Some(deadline) = fd.suspect_at() else {
                    continue;
                };
                for offset in [-17i64, -16, -2, -1, 0, 1, 2, 16, 17] {
                    let at =
                        Timestamp::from_nanos(deadline.as_nanos().saturating_add_signed(offset));
                    // A clone made before the deadline was computed takes the fast path.
                    assert_eq!(
                        fresh.clone().is_available(at),
                        at < deadline,
                        "{mode:?} {case} {offset}"
                    );
                }
            }
        }
    }

    #[test]
    fn threshold_y_round_trips() {
        for mode in [PhiMode::AkkaCompatible, PhiMode::Exact] {
            for phi in [0.5, 1.0, 8.0, 16.0, 300.0] {
                let y = y_at_phi(mode, phi);
                assert!(phi_of_y(mode, y) >= phi);
                assert!(phi_of_y(mode, y - 1e-9) < phi + 1e-6);
            }
        }
    }
}
