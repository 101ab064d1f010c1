//! Adaptive concurrency: a limit that finds itself from latency and drops.
//!
//! A fixed bulkhead size goes stale as soon as the service scales or its
//! dependencies slow down. Borrowing from TCP congestion control, these
//! algorithms treat the concurrency limit like a congestion window: grow it
//! while latency stays near the no-load latency, shrink it when queueing
//! (rising RTT) or drops (timeouts, overload errors) show up.
//!
//! Each algorithm is a synchronous core implementing [`LimitAlgorithm`]: feed
//! it [`Sample`]s (RTT, in-flight count, dropped or not) and read the limit.
//! [`AdaptiveLimiter`] applies the current limit to live calls and feeds the
//! samples for you.
//!
//! | algorithm | from | idea |
//! |---|---|---|
//! | [`Aimd`] | Netflix concurrency-limits `AIMDLimit` | +1 while busy and healthy, x`backoff_ratio` on a drop |
//! | [`Vegas`] | Netflix `VegasLimit` | estimate the queue `limit x (1 - rtt_noload / rtt)`, keep it between alpha and beta |
//! | [`Gradient2`] | Netflix `Gradient2Limit` | compare short-term RTT against a long-term average |
//! | [`EnvoyGradient`] | Envoy's adaptive concurrency filter | `limit x (min_rtt + buffer) / sample_rtt + sqrt(limit)`, with periodic min-RTT probes |
//!
//! ```
//! use std::time::Duration;
//! use steadfast_core::Timestamp;
//! use steadfast_guard::adaptive::{Aimd, AimdConfig, LimitAlgorithm, Sample};
//!
//! let mut aimd = Aimd::new(AimdConfig::builder().initial_limit(10).build()?);
//! let busy = Sample::new(Duration::from_millis(5), 10, false);
//! aimd.update(Timestamp::ZERO, busy);
//! assert_eq!(aimd.limit(), 11);
//! aimd.update(Timestamp::ZERO, Sample::new(Duration::from_millis(5), 11, true));
//! assert_eq!(aimd.limit(), 9); // 11 x 0.9, rounded down
//! # Ok::<(), steadfast_core::ConfigError>(())
//! ```

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use steadfast_core::{Clock, ConfigError, MonotonicClock, Observer, Timestamp};

use crate::sync::{AtomicUsize, Ordering};

/// One completed call, as the limit algorithms see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Sample {
    /// How long the call took.
    pub rtt: Duration,
    /// How many calls were in flight when it started (itself included).
    pub in_flight: usize,
    /// Whether it was dropped: timed out, rejected for overload, or failed in
    /// a way that signals congestion.
    pub dropped: bool,
}

impl Sample {
    /// A sample.
    #[must_use]
    pub fn new(rtt: Duration, in_flight: usize, dropped: bool) -> Sample {
        Sample {
            rtt,
            in_flight,
            dropped,
        }
    }
}

/// A concurrency-limit algorithm: a synchronous state machine fed with samples.
pub trait LimitAlgorithm: Send {
    /// Takes one sample observed at `now` and returns the new limit.
    fn update(&mut self, now: Timestamp, sample: Sample) -> usize;

    /// The current limit.
    fn limit(&self) -> usize;
}

fn nanos(d: Duration) -> f64 {
    d.as_nanos() as f64
}

fn clamp_limit(value: f64, min: usize, max: usize) -> f64 {
    if value.is_nan() {
        return min as f64;
    }
    value.clamp(min as f64, max as f64)
}

fn ensure_bounds(
    prefix: &'static str,
    initial: usize,
    min: usize,
    max: usize,
) -> Result<(), ConfigError> {
    ConfigError::ensure(min >= 1, field(prefix, "min_limit"), min, "at least 1")?;
    ConfigError::ensure(
        max >= min,
        field(prefix, "max_limit"),
        max,
        format!("at least min_limit ({min})"),
    )?;
    ConfigError::ensure(
        max <= 1 << 32,
        field(prefix, "max_limit"),
        max,
        "at most 2^32",
    )?;
    ConfigError::ensure(
        (min..=max).contains(&initial),
        field(prefix, "initial_limit"),
        initial,
        format!("in [min_limit, max_limit] = [{min}, {max}]"),
    )
}

fn field(prefix: &'static str, name: &'static str) -> String {
    format!("{prefix}.{name}")
}

// ---------------------------------------------------------------- AIMD

/// Settings of [`Aimd`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AimdConfig {
    initial_limit: usize,
    min_limit: usize,
    max_limit: usize,
    backoff_ratio: f64,
    timeout: Duration,
}

impl AimdConfig {
    /// Defaults: initial 20, limits [1, 200], backoff ratio 0.9, timeout 5 s.
    #[must_use]
    pub fn builder() -> AimdConfigBuilder {
        AimdConfigBuilder(AimdConfig {
            initial_limit: 20,
            min_limit: 1,
            max_limit: 200,
            backoff_ratio: 0.9,
            timeout: Duration::from_secs(5),
        })
    }
}

/// Builds an [`AimdConfig`].
#[derive(Debug, Clone)]
pub struct AimdConfigBuilder(AimdConfig);

impl AimdConfigBuilder {
    /// The starting limit.
    #[must_use]
    pub fn initial_limit(mut self, n: usize) -> Self {
        self.0.initial_limit = n;
        self
    }
    /// The limit never goes below this.
    #[must_use]
    pub fn min_limit(mut self, n: usize) -> Self {
        self.0.min_limit = n;
        self
    }
    /// The limit never goes above this.
    #[must_use]
    pub fn max_limit(mut self, n: usize) -> Self {
        self.0.max_limit = n;
        self
    }
    /// The factor applied on a drop, in `[0.5, 1)`.
    #[must_use]
    pub fn backoff_ratio(mut self, r: f64) -> Self {
        self.0.backoff_ratio = r;
        self
    }
    /// An RTT above this counts as a drop.
    #[must_use]
    pub fn timeout(mut self, t: Duration) -> Self {
        self.0.timeout = t;
        self
    }
    /// Validates the settings.
    ///
    /// # Errors
    ///
    /// `aimd.min_limit >= 1`, `max_limit >= min_limit`, `initial_limit` within
    /// them, `aimd.backoff_ratio` in `[0.5, 1)`, `aimd.timeout` positive.
    pub fn build(self) -> Result<AimdConfig, ConfigError> {
        let c = self.0;
        ensure_bounds("aimd", c.initial_limit, c.min_limit, c.max_limit)?;
        ConfigError::ensure(
            c.backoff_ratio >= 0.5 && c.backoff_ratio < 1.0,
            "aimd.backoff_ratio",
            c.backoff_ratio,
            "in [0.5, 1)",
        )?;
        ConfigError::ensure(
            !c.timeout.is_zero(),
            "aimd.timeout",
            format_args!("{:?}", c.timeout),
            "positive",
        )?;
        Ok(c)
    }
}

/// Additive increase, multiplicative decrease.
///
/// On a drop (or an RTT over the timeout) the limit is multiplied by the
/// backoff ratio; otherwise, when at least half the limit is in use, it
/// grows by one. An idle client does not inflate its limit.
#[derive(Debug, Clone)]
pub struct Aimd {
    config: AimdConfig,
    limit: f64,
}

impl Aimd {
    /// An AIMD core at its initial limit.
    #[must_use]
    pub fn new(config: AimdConfig) -> Aimd {
        Aimd {
            limit: config.initial_limit as f64,
            config,
        }
    }
}

impl LimitAlgorithm for Aimd {
    fn update(&mut self, _now: Timestamp, sample: Sample) -> usize {
        let c = &self.config;
        if sample.dropped || sample.rtt > c.timeout {
            self.limit = (self.limit * c.backoff_ratio).floor();
        } else if sample.in_flight.saturating_mul(2) >= self.limit as usize {
            self.limit += 1.0;
        }
        self.limit = clamp_limit(self.limit, c.min_limit, c.max_limit);
        self.limit()
    }

    fn limit(&self) -> usize {
        self.limit as usize
    }
}

// ---------------------------------------------------------------- Vegas

/// Settings of [`Vegas`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VegasConfig {
    initial_limit: usize,
    max_limit: usize,
    smoothing: f64,
    probe_multiplier: usize,
    seed: u64,
}

impl VegasConfig {
    /// Defaults (as Netflix's): initial 20, max 1000, smoothing 1.0, probe
    /// multiplier 30, seed 0.
    #[must_use]
    pub fn builder() -> VegasConfigBuilder {
        VegasConfigBuilder(VegasConfig {
            initial_limit: 20,
            max_limit: 1000,
            smoothing: 1.0,
            probe_multiplier: 30,
            seed: 0,
        })
    }
}

/// Builds a [`VegasConfig`].
#[derive(Debug, Clone)]
pub struct VegasConfigBuilder(VegasConfig);

impl VegasConfigBuilder {
    /// The starting limit.
    #[must_use]
    pub fn initial_limit(mut self, n: usize) -> Self {
        self.0.initial_limit = n;
        self
    }
    /// The limit never goes above this.
    #[must_use]
    pub fn max_limit(mut self, n: usize) -> Self {
        self.0.max_limit = n;
        self
    }
    /// Weight of a new estimate, in `(0, 1]` (1 = no smoothing).
    #[must_use]
    pub fn smoothing(mut self, s: f64) -> Self {
        self.0.smoothing = s;
        self
    }
    /// Re-probe the no-load RTT about every `m x limit` samples.
    #[must_use]
    pub fn probe_multiplier(mut self, m: usize) -> Self {
        self.0.probe_multiplier = m;
        self
    }
    /// Seed of the probe jitter.
    #[must_use]
    pub fn seed(mut self, seed: u64) -> Self {
        self.0.seed = seed;
        self
    }
    /// Validates the settings.
    ///
    /// # Errors
    ///
    /// `vegas.max_limit >= initial_limit >= 1`, `vegas.smoothing` in `(0, 1]`,
    /// `vegas.probe_multiplier >= 1`.
    pub fn build(self) -> Result<VegasConfig, ConfigError> {
        let c = self.0;
        ensure_bounds("vegas", c.initial_limit, 1, c.max_limit)?;
        ConfigError::ensure(
            c.smoothing > 0.0 && c.smoothing <= 1.0,
            "vegas.smoothing",
            c.smoothing,
            "in (0, 1]",
        )?;
        ConfigError::ensure(
            c.probe_multiplier >= 1,
            "vegas.probe_multiplier",
            c.probe_multiplier,
            "at least 1",
        )?;
        Ok(c)
    }
}

/// TCP Vegas applied to concurrency.
///
/// The queue is estimated as `limit x (1 - rtt_noload / rtt)`, where
/// `rtt_noload` is the smallest RTT seen (re-probed now and then). With
/// `L = max(1, floor(log10(limit)))`: a queue at most `L` grows the limit by
/// `6L`; under `3L` by `L`; over `6L` shrinks it by `L`. A drop shrinks it
/// by `L`.
#[derive(Debug, Clone)]
pub struct Vegas {
    config: VegasConfig,
    limit: f64,
    rtt_noload: Option<Duration>,
    probe_count: usize,
    probe_jitter: f64,
    rng: SmallRng,
}

fn log10_root(limit: f64) -> f64 {
    limit.max(1.0).log10().floor().max(1.0)
}

impl Vegas {
    /// A Vegas core at its initial limit.
    #[must_use]
    pub fn new(config: VegasConfig) -> Vegas {
        let mut rng = SmallRng::seed_from_u64(config.seed);
        let probe_jitter = rng.random_range(0.5..1.0);
        Vegas {
            limit: config.initial_limit as f64,
            config,
            rtt_noload: None,
            probe_count: 0,
            probe_jitter,
            rng,
        }
    }

    /// The no-load RTT currently assumed.
    #[must_use]
    pub fn rtt_noload(&self) -> Option<Duration> {
        self.rtt_noload
    }
}

impl LimitAlgorithm for Vegas {
    fn update(&mut self, _now: Timestamp, sample: Sample) -> usize {
        if sample.rtt.is_zero() {
            return self.limit();
        }
        self.probe_count += 1;
        if self.probe_jitter * self.config.probe_multiplier as f64 * self.limit
            <= self.probe_count as f64
        {
            self.probe_jitter = self.rng.random_range(0.5..1.0);
            self.probe_count = 0;
            self.rtt_noload = Some(sample.rtt);
            return self.limit();
        }
        let noload = match self.rtt_noload {
            Some(n) if sample.rtt >= n => n,
            _ => {
                self.rtt_noload = Some(sample.rtt);
                return self.limit();
            }
        };
        let queue = (self.limit * (1.0 - nanos(noload) / nanos(sample.rtt))).ceil();
        let l = log10_root(self.limit);
        let target = if sample.dropped {
            self.limit - l
        } else if (sample.in_flight as f64) * 2.0 < self.limit {
            return self.limit();
        } else if queue <= l {
            self.limit + 6.0 * l
        } else if queue < 3.0 * l {
            self.limit + l
        } else if queue > 6.0 * l {
            self.limit - l
        } else {
            return self.limit();
        };
        let target = clamp_limit(target, 1, self.config.max_limit);
        let s = self.config.smoothing;
        self.limit = clamp_limit(
            (1.0 - s) * self.limit + s * target,
            1,
            self.config.max_limit,
        );
        self.limit()
    }

    fn limit(&self) -> usize {
        self.limit as usize
    }
}

// ---------------------------------------------------------------- Gradient2

/// Settings of [`Gradient2`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gradient2Config {
    initial_limit: usize,
    min_limit: usize,
    max_limit: usize,
    smoothing: f64,
    rtt_tolerance: f64,
    long_window: usize,
    queue_size: usize,
}

impl Gradient2Config {
    /// Defaults (as Netflix's): initial 20, limits [20, 200], smoothing 0.2,
    /// RTT tolerance 1.5, long window 600 samples, queue size 4.
    #[must_use]
    pub fn builder() -> Gradient2ConfigBuilder {
        Gradient2ConfigBuilder(Gradient2Config {
            initial_limit: 20,
            min_limit: 20,
            max_limit: 200,
            smoothing: 0.2,
            rtt_tolerance: 1.5,
            long_window: 600,
            queue_size: 4,
        })
    }
}

/// Builds a [`Gradient2Config`].
#[derive(Debug, Clone)]
pub struct Gradient2ConfigBuilder(Gradient2Config);

impl Gradient2ConfigBuilder {
    /// The starting limit.
    #[must_use]
    pub fn initial_limit(mut self, n: usize) -> Self {
        self.0.initial_limit = n;
        self
    }
    /// The limit never goes below this.
    #[must_use]
    pub fn min_limit(mut self, n: usize) -> Self {
        self.0.min_limit = n;
        self
    }
    /// The limit never goes above this.
    #[must_use]
    pub fn max_limit(mut self, n: usize) -> Self {
        self.0.max_limit = n;
        self
    }
    /// Weight of a new estimate, in `(0, 1]`.
    #[must_use]
    pub fn smoothing(mut self, s: f64) -> Self {
        self.0.smoothing = s;
        self
    }
    /// How much the short RTT may exceed the long one before the limit shrinks (`>= 1`).
    #[must_use]
    pub fn rtt_tolerance(mut self, t: f64) -> Self {
        self.0.rtt_tolerance = t;
        self
    }
    /// Samples in the long-term RTT average.
    #[must_use]
    pub fn long_window(mut self, n: usize) -> Self {
        self.0.long_window = n;
        self
    }
    /// Extra concurrency allowed on top of the gradient (head room for bursts).
    #[must_use]
    pub fn queue_size(mut self, n: usize) -> Self {
        self.0.queue_size = n;
        self
    }
    /// Validates the settings.
    ///
    /// # Errors
    ///
    /// Bounds as for the other algorithms; `gradient2.smoothing` in `(0, 1]`,
    /// `gradient2.rtt_tolerance >= 1` and finite, `gradient2.long_window >= 1`.
    pub fn build(self) -> Result<Gradient2Config, ConfigError> {
        let c = self.0;
        ensure_bounds("gradient2", c.initial_limit, c.min_limit, c.max_limit)?;
        ConfigError::ensure(
            c.smoothing > 0.0 && c.smoothing <= 1.0,
            "gradient2.smoothing",
            c.smoothing,
            "in (0, 1]",
        )?;
        ConfigError::ensure(
            c.rtt_tolerance >= 1.0 && c.rtt_tolerance.is_finite(),
            "gradient2.rtt_tolerance",
            c.rtt_tolerance,
            "finite and at least 1",
        )?;
        ConfigError::ensure(
            c.long_window >= 1,
            "gradient2.long_window",
            c.long_window,
            "at least 1",
        )?;
        Ok(c)
    }
}

/// Netflix's Gradient2: short-term RTT against a long-term exponential average.
///
/// `gradient = clamp(tolerance x long_rtt / rtt, 0.5, 1)`, then
/// `limit = smooth(limit x gradient + queue_size)`. When the long average
/// runs far above the short RTT (load has gone), it decays faster so the
/// limit can recover. An idle client (fewer than half the limit in flight)
/// does not move the limit.
#[derive(Debug, Clone)]
pub struct Gradient2 {
    config: Gradient2Config,
    limit: f64,
    long_rtt: f64,
    samples: usize,
}

impl Gradient2 {
    /// A Gradient2 core at its initial limit.
    #[must_use]
    pub fn new(config: Gradient2Config) -> Gradient2 {
        Gradient2 {
            limit: config.initial_limit as f64,
            config,
            long_rtt: 0.0,
            samples: 0,
        }
    }

    /// The long-term RTT average.
    #[must_use]
    pub fn long_rtt(&self) -> Duration {
        Duration::from_nanos(self.long_rtt as u64)
    }
}

impl LimitAlgorithm for Gradient2 {
    fn update(&mut self, _now: Timestamp, sample: Sample) -> usize {
        let short = nanos(sample.rtt);
        if short <= 0.0 {
            return self.limit();
        }
        // A plain mean for a short warm-up, then an exponential average.
        const WARMUP: usize = 10;
        self.samples += 1;
        if self.samples <= WARMUP.min(self.config.long_window) {
            self.long_rtt += (short - self.long_rtt) / self.samples as f64;
        } else {
            let factor = 2.0 / (self.config.long_window as f64 + 1.0);
            self.long_rtt = self.long_rtt * (1.0 - factor) + short * factor;
        }
        if self.long_rtt / short > 2.0 {
            self.long_rtt *= 0.95;
        }
        if (sample.in_flight as f64) < self.limit / 2.0 {
            return self.limit();
        }
        let gradient = (self.config.rtt_tolerance * self.long_rtt / short).clamp(0.5, 1.0);
        let target = self.limit * gradient + self.config.queue_size as f64;
        let s = self.config.smoothing;
        self.limit = clamp_limit(
            self.limit * (1.0 - s) + target * s,
            self.config.min_limit,
            self.config.max_limit,
        );
        self.limit()
    }

    fn limit(&self) -> usize {
        self.limit as usize
    }
}

// ---------------------------------------------------------------- Envoy

/// Settings of [`EnvoyGradient`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EnvoyGradientConfig {
    initial_limit: usize,
    min_concurrency: usize,
    max_limit: usize,
    sample_percentile: f64,
    update_interval: Duration,
    min_rtt_interval: Duration,
    min_rtt_requests: usize,
    buffer: f64,
    jitter: f64,
    seed: u64,
}

impl EnvoyGradientConfig {
    /// Defaults (as Envoy's): initial 3, min concurrency 3, max 1000, p50,
    /// update every 100 ms, min-RTT every 60 s over 50 requests, 25% buffer,
    /// 15% jitter, seed 0.
    #[must_use]
    pub fn builder() -> EnvoyGradientConfigBuilder {
        EnvoyGradientConfigBuilder(EnvoyGradientConfig {
            initial_limit: 3,
            min_concurrency: 3,
            max_limit: 1000,
            sample_percentile: 0.5,
            update_interval: Duration::from_millis(100),
            min_rtt_interval: Duration::from_secs(60),
            min_rtt_requests: 50,
            buffer: 0.25,
            jitter: 0.15,
            seed: 0,
        })
    }
}

/// Builds an [`EnvoyGradientConfig`].
#[derive(Debug, Clone)]
pub struct EnvoyGradientConfigBuilder(EnvoyGradientConfig);

impl EnvoyGradientConfigBuilder {
    /// The starting limit.
    #[must_use]
    pub fn initial_limit(mut self, n: usize) -> Self {
        self.0.initial_limit = n;
        self
    }
    /// The floor of the limit, and the pinned concurrency while min RTT is measured.
    #[must_use]
    pub fn min_concurrency(mut self, n: usize) -> Self {
        self.0.min_concurrency = n;
        self
    }
    /// The limit never goes above this.
    #[must_use]
    pub fn max_limit(mut self, n: usize) -> Self {
        self.0.max_limit = n;
        self
    }
    /// Which percentile of a window's RTTs summarizes it, in `(0, 1]`.
    #[must_use]
    pub fn sample_percentile(mut self, p: f64) -> Self {
        self.0.sample_percentile = p;
        self
    }
    /// How often the limit is recomputed.
    #[must_use]
    pub fn update_interval(mut self, d: Duration) -> Self {
        self.0.update_interval = d;
        self
    }
    /// How often the min RTT is re-measured.
    #[must_use]
    pub fn min_rtt_interval(mut self, d: Duration) -> Self {
        self.0.min_rtt_interval = d;
        self
    }
    /// How many requests make one min-RTT measurement.
    #[must_use]
    pub fn min_rtt_requests(mut self, n: usize) -> Self {
        self.0.min_rtt_requests = n;
        self
    }
    /// Latency head room over the min RTT, as a fraction of it (`>= 0`).
    #[must_use]
    pub fn buffer(mut self, b: f64) -> Self {
        self.0.buffer = b;
        self
    }
    /// Random delay of the next min-RTT measurement, as a fraction of the interval, in `[0, 1]`.
    #[must_use]
    pub fn jitter(mut self, j: f64) -> Self {
        self.0.jitter = j;
        self
    }
    /// Seed of the jitter.
    #[must_use]
    pub fn seed(mut self, seed: u64) -> Self {
        self.0.seed = seed;
        self
    }
    /// Validates the settings.
    ///
    /// # Errors
    ///
    /// Bounds as for the other algorithms (`min_concurrency` is the minimum);
    /// `envoy.sample_percentile` in `(0, 1]`; intervals positive;
    /// `envoy.min_rtt_requests >= 1`; `envoy.buffer` finite and `>= 0`;
    /// `envoy.jitter` in `[0, 1]`.
    pub fn build(self) -> Result<EnvoyGradientConfig, ConfigError> {
        let c = self.0;
        ensure_bounds("envoy", c.initial_limit, c.min_concurrency, c.max_limit)?;
        ConfigError::ensure(
            c.sample_percentile > 0.0 && c.sample_percentile <= 1.0,
            "envoy.sample_percentile",
            c.sample_percentile,
            "in (0, 1]",
        )?;
        ConfigError::ensure(
            !c.update_interval.is_zero(),
            "envoy.update_interval",
            format_args!("{:?}", c.update_interval),
            "positive",
        )?;
        ConfigError::ensure(
            !c.min_rtt_interval.is_zero(),
            "envoy.min_rtt_interval",
            format_args!("{:?}", c.min_rtt_interval),
            "positive",
        )?;
        ConfigError::ensure(
            c.min_rtt_requests >= 1,
            "envoy.min_rtt_requests",
            c.min_rtt_requests,
            "at least 1",
        )?;
        ConfigError::ensure(
            c.buffer >= 0.0 && c.buffer.is_finite(),
            "envoy.buffer",
            c.buffer,
            "finite and at least 0",
        )?;
        ConfigError::ensure(
            (0.0..=1.0).contains(&c.jitter),
            "envoy.jitter",
            c.jitter,
            "in [0, 1]",
        )?;
        Ok(c)
    }
}

/// Envoy's gradient controller.
///
/// It alternates two phases. Measuring: the limit is pinned to
/// `min_concurrency` until `min_rtt_requests` samples give the min RTT (their
/// chosen percentile). Sampling: every `update_interval`, the percentile of
/// the window's RTTs is `sample_rtt` and
/// `limit = limit x clamp((min_rtt x (1 + buffer)) / sample_rtt, 0.5, 2) + sqrt(limit)`.
/// The min RTT is re-measured every `min_rtt_interval` (plus jitter), and
/// early when the limit sits at its floor for five windows in a row.
#[derive(Debug, Clone)]
pub struct EnvoyGradient {
    config: EnvoyGradientConfig,
    limit: f64,
    min_rtt: Option<Duration>,
    measuring: bool,
    samples: Vec<Duration>,
    window_end: Option<Timestamp>,
    next_measurement: Timestamp,
    windows_at_floor: u32,
    rng: SmallRng,
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort_unstable();
    let rank = ((samples.len() as f64 * p).ceil() as usize).clamp(1, samples.len());
    samples[rank - 1]
}

impl EnvoyGradient {
    /// A controller that starts by measuring the min RTT.
    #[must_use]
    pub fn new(config: EnvoyGradientConfig) -> EnvoyGradient {
        EnvoyGradient {
            limit: config.initial_limit as f64,
            min_rtt: None,
            measuring: true,
            samples: Vec::new(),
            window_end: None,
            next_measurement: Timestamp::ZERO,
            windows_at_floor: 0,
            rng: SmallRng::seed_from_u64(config.seed),
            config,
        }
    }

    /// The min RTT from the last measurement.
    #[must_use]
    pub fn min_rtt(&self) -> Option<Duration> {
        self.min_rtt
    }

    /// `true` while the min RTT is being measured (limit pinned to the floor).
    #[must_use]
    pub fn is_measuring_min_rtt(&self) -> bool {
        self.measuring
    }

    fn start_measuring(&mut self) {
        self.measuring = true;
        self.samples.clear();
        self.window_end = None;
    }
}

impl LimitAlgorithm for EnvoyGradient {
    fn update(&mut self, now: Timestamp, sample: Sample) -> usize {
        let c = self.config;
        if !self.measuring && now >= self.next_measurement {
            self.start_measuring();
        }
        self.samples.push(sample.rtt);
        if self.measuring {
            if self.samples.len() >= c.min_rtt_requests {
                self.min_rtt = Some(percentile(&mut self.samples, c.sample_percentile));
                self.samples.clear();
                self.measuring = false;
                self.windows_at_floor = 0;
                let jitter = if c.jitter > 0.0 {
                    self.rng.random_range(0.0..=c.jitter)
                } else {
                    0.0
                };
                self.next_measurement = now
                    .saturating_add(c.min_rtt_interval)
                    .saturating_add(c.min_rtt_interval.mul_f64(jitter));
                self.window_end = Some(now.saturating_add(c.update_interval));
            }
            return self.limit();
        }
        let end = *self
            .window_end
            .get_or_insert_with(|| now.saturating_add(c.update_interval));
        if now < end {
            return self.limit();
        }
        let sample_rtt = percentile(&mut self.samples, c.sample_percentile);
        self.samples.clear();
        self.window_end = Some(now.saturating_add(c.update_interval));
        let min_rtt = self.min_rtt.unwrap_or(sample_rtt);
        if !sample_rtt.is_zero() {
            let gradient = (nanos(min_rtt) * (1.0 + c.buffer) / nanos(sample_rtt)).clamp(0.5, 2.0);
            let scaled = self.limit * gradient;
            self.limit = clamp_limit(scaled + scaled.sqrt(), c.min_concurrency, c.max_limit);
        }
        if self.limit() <= c.min_concurrency {
            self.windows_at_floor += 1;
            if self.windows_at_floor >= 5 {
                self.start_measuring();
            }
        } else {
            self.windows_at_floor = 0;
        }
        self.limit()
    }

    fn limit(&self) -> usize {
        if self.measuring {
            self.config.min_concurrency
        } else {
            self.limit as usize
        }
    }
}

// ---------------------------------------------------------------- limiter

/// What an [`AdaptiveLimiter`] reports to its observer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AdaptiveEvent {
    /// The algorithm moved the limit.
    LimitChanged {
        /// When.
        at: Timestamp,
        /// The limit before.
        from: usize,
        /// The limit after.
        to: usize,
        /// The sample that moved it.
        sample: Sample,
    },
}

/// The adaptive limit was reached: the call was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("concurrency limit {limit} reached")]
#[non_exhaustive]
pub struct LimitReached {
    /// The limit in force.
    pub limit: usize,
}

impl LimitReached {
    /// `true`: capacity frees up as calls finish.
    #[must_use]
    pub fn is_temporary(&self) -> bool {
        true
    }
}

struct LimiterInner<A> {
    limit: AtomicUsize,
    in_flight: AtomicUsize,
    algorithm: Mutex<A>,
    clock: Arc<dyn Clock>,
    observer: Arc<dyn Observer<AdaptiveEvent>>,
}

impl<A> LimiterInner<A> {
    /// Takes a slot if fewer than `limit` are in flight: (start time, in flight including this one).
    fn admit(&self) -> Result<(Timestamp, usize), LimitReached> {
        let mut current = self.in_flight.load(Ordering::Acquire);
        loop {
            let limit = self.limit.load(Ordering::Acquire);
            if current >= limit {
                return Err(LimitReached { limit });
            }
            match self.in_flight.compare_exchange_weak(
                current,
                current + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok((self.clock.now(), current + 1)),
                Err(actual) => current = actual,
            }
        }
    }
}

/// What a token needs of its limiter, whatever the algorithm.
trait LimiterCore: Send + Sync {
    fn release(&self);
    fn finish(&self, started: Timestamp, in_flight: usize, dropped: bool);
}

impl<A: LimitAlgorithm> LimiterCore for LimiterInner<A> {
    fn release(&self) {
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
    }

    fn finish(&self, started: Timestamp, in_flight: usize, dropped: bool) {
        let now = self.clock.now();
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
        let rtt = now.saturating_duration_since(started);
        record(self, now, Sample::new(rtt, in_flight, dropped));
    }
}

/// An [`AdaptiveLimiter`] of any algorithm, for stages that hold one
/// without naming its type (the pipeline's adaptive stage).
pub(crate) trait ErasedLimiter: Send + Sync {
    /// As [`AdaptiveLimiter::try_acquire`].
    fn try_acquire_erased(&self) -> Result<ErasedToken, LimitReached>;
    /// As [`AdaptiveLimiter::limit`].
    fn current_limit(&self) -> usize;
}

impl<A: LimitAlgorithm + 'static> ErasedLimiter for AdaptiveLimiter<A> {
    fn try_acquire_erased(&self) -> Result<ErasedToken, LimitReached> {
        let (started, in_flight) = self.inner.admit()?;
        let inner: Arc<dyn LimiterCore> = self.inner.clone();
        Ok(ErasedToken {
            inner: Some(inner),
            started,
            in_flight,
        })
    }

    fn current_limit(&self) -> usize {
        self.limit()
    }
}

/// An [`AdaptiveToken`] whose algorithm type is erased; the same contract.
pub(crate) struct ErasedToken {
    inner: Option<Arc<dyn LimiterCore>>,
    started: Timestamp,
    in_flight: usize,
}

impl ErasedToken {
    /// The call succeeded: its RTT is a sample.
    pub(crate) fn success(mut self) {
        if let Some(inner) = self.inner.take() {
            inner.finish(self.started, self.in_flight, false);
        }
    }

    /// The call was dropped (timed out): the limit should shrink.
    pub(crate) fn dropped(mut self) {
        if let Some(inner) = self.inner.take() {
            inner.finish(self.started, self.in_flight, true);
        }
    }
}

impl Drop for ErasedToken {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            inner.release();
        }
    }
}

/// Applies a [`LimitAlgorithm`]'s limit to live calls and feeds it their outcomes.
///
/// Admission is lock-free (the limit and in-flight count are atomics); only
/// recording an outcome takes the algorithm's lock briefly. Clones share state.
///
/// ```
/// use std::time::Duration;
/// use steadfast_core::ManualClock;
/// use steadfast_guard::adaptive::{AdaptiveLimiter, Aimd, AimdConfig};
///
/// let clock = ManualClock::new();
/// let limiter = AdaptiveLimiter::with_clock(
///     Aimd::new(AimdConfig::builder().initial_limit(2).build()?),
///     clock.clone(),
/// );
/// let a = limiter.try_acquire()?;
/// let b = limiter.try_acquire()?;
/// assert!(limiter.try_acquire().is_err()); // limit 2 reached
/// clock.advance(Duration::from_millis(3));
/// a.success(); // RTT 3 ms; 1 of 2 in flight at its start is busy enough: +1
/// assert_eq!(limiter.limit(), 3);
/// b.dropped(); // a drop: x0.9
/// assert_eq!(limiter.limit(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct AdaptiveLimiter<A> {
    inner: Arc<LimiterInner<A>>,
}

impl<A> Clone for AdaptiveLimiter<A> {
    fn clone(&self) -> Self {
        AdaptiveLimiter {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<A> fmt::Debug for AdaptiveLimiter<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdaptiveLimiter")
            .field("limit", &self.inner.limit.load(Ordering::Relaxed))
            .field("in_flight", &self.inner.in_flight.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl<A: LimitAlgorithm + 'static> AdaptiveLimiter<A> {
    /// A limiter on the real monotonic clock.
    #[must_use]
    pub fn new(algorithm: A) -> Self {
        AdaptiveLimiter::with_clock(algorithm, MonotonicClock::new())
    }

    /// A limiter measuring RTTs on `clock`.
    #[must_use]
    pub fn with_clock(algorithm: A, clock: impl Clock + 'static) -> Self {
        AdaptiveLimiter::observed(algorithm, clock, ())
    }

    /// A limiter reporting limit changes to `observer`.
    #[must_use]
    pub fn observed(
        algorithm: A,
        clock: impl Clock + 'static,
        observer: impl Observer<AdaptiveEvent> + 'static,
    ) -> Self {
        AdaptiveLimiter {
            inner: Arc::new(LimiterInner {
                limit: AtomicUsize::new(algorithm.limit()),
                in_flight: AtomicUsize::new(0),
                algorithm: Mutex::new(algorithm),
                clock: Arc::new(clock),
                observer: Arc::new(observer),
            }),
        }
    }

    /// The limit in force.
    #[must_use]
    pub fn limit(&self) -> usize {
        self.inner.limit.load(Ordering::Acquire)
    }

    /// Calls in flight.
    #[must_use]
    pub fn in_flight(&self) -> usize {
        self.inner.in_flight.load(Ordering::Acquire)
    }

    /// Admits a call if fewer than `limit` are in flight.
    ///
    /// # Errors
    ///
    /// [`LimitReached`] when the limit is reached.
    pub fn try_acquire(&self) -> Result<AdaptiveToken<A>, LimitReached> {
        let (started, in_flight) = self.inner.admit()?;
        Ok(AdaptiveToken {
            inner: Some(Arc::clone(&self.inner)),
            started,
            in_flight,
        })
    }

    /// Feeds a sample directly (for calls not admitted through this limiter).
    pub fn record(&self, sample: Sample) {
        record(&self.inner, self.inner.clock.now(), sample);
    }
}

fn record<A: LimitAlgorithm>(inner: &LimiterInner<A>, now: Timestamp, sample: Sample) {
    let mut algorithm = inner.algorithm.lock().unwrap_or_else(|e| e.into_inner());
    let from = algorithm.limit();
    let to = algorithm.update(now, sample);
    inner.limit.store(to, Ordering::Release);
    drop(algorithm);
    if from != to {
        inner.observer.on_event(&AdaptiveEvent::LimitChanged {
            at: now,
            from,
            to,
            sample,
        });
    }
}

/// An admitted call. Report how it went with [`success`](Self::success) or
/// [`dropped`](Self::dropped); dropping the token without reporting releases
/// the slot and feeds no sample (for calls cancelled for reasons unrelated to load).
#[must_use = "report the outcome with success() or dropped()"]
pub struct AdaptiveToken<A: LimitAlgorithm> {
    inner: Option<Arc<LimiterInner<A>>>,
    started: Timestamp,
    in_flight: usize,
}

impl<A: LimitAlgorithm> fmt::Debug for AdaptiveToken<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdaptiveToken")
            .field("started", &self.started)
            .field("in_flight", &self.in_flight)
            .finish()
    }
}

impl<A: LimitAlgorithm> AdaptiveToken<A> {
    /// The call succeeded: its RTT is a sample.
    pub fn success(mut self) {
        self.finish(false);
    }

    /// The call was dropped (timeout, overload): the limit should shrink.
    pub fn dropped(mut self) {
        self.finish(true);
    }

    fn finish(&mut self, dropped: bool) {
        if let Some(inner) = self.inner.take() {
            LimiterCore::finish(&*inner, self.started, self.in_flight, dropped);
        }
    }
}

impl<A: LimitAlgorithm> Drop for AdaptiveToken<A> {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            inner.in_flight.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

#[cfg(all(test, not(steadfast_loom)))]
mod tests {
    use super::*;
    use steadfast_core::{ManualClock, Recorder};

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn configs_reject_bad_values() {
        assert_eq!(
            AimdConfig::builder()
                .backoff_ratio(f64::NAN)
                .build()
                .unwrap_err()
                .field(),
            "aimd.backoff_ratio"
        );
        assert_eq!(
            AimdConfig::builder()
                .min_limit(0)
                .build()
                .unwrap_err()
                .field(),
            "aimd.min_limit"
        );
        assert_eq!(
            AimdConfig::builder()
                .initial_limit(500)
                .build()
                .unwrap_err()
                .field(),
            "aimd.initial_limit"
        );
        assert!(
            AimdConfig::builder()
                .timeout(Duration::ZERO)
                .build()
                .is_err()
        );
        assert!(VegasConfig::builder().smoothing(0.0).build().is_err());
        assert!(VegasConfig::builder().probe_multiplier(0).build().is_err());
        assert!(
            Gradient2Config::builder()
                .rtt_tolerance(f64::INFINITY)
                .build()
                .is_err()
        );
        assert!(Gradient2Config::builder().long_window(0).build().is_err());
        assert!(
            EnvoyGradientConfig::builder()
                .sample_percentile(0.0)
                .build()
                .is_err()
        );
        assert!(EnvoyGradientConfig::builder().jitter(1.5).build().is_err());
        assert!(
            EnvoyGradientConfig::builder()
                .buffer(f64::NAN)
                .build()
                .is_err()
        );
        assert!(EnvoyGradientConfig::builder().max_limit(2).build().is_err());
    }

    #[test]
    fn aimd_grows_only_when_busy() {
        let mut a = Aimd::new(AimdConfig::builder().initial_limit(10).build().unwrap());
        a.update(Timestamp::ZERO, Sample::new(MS, 2, false));
        assert_eq!(a.limit(), 10, "idle: no growth");
        a.update(
            Timestamp::ZERO,
            Sample::new(Duration::from_secs(6), 10, false),
        );
        assert_eq!(a.limit(), 9, "over the timeout counts as a drop");
    }

    #[test]
    fn vegas_grows_without_queueing_and_shrinks_with_it() {
        let mut v = Vegas::new(VegasConfig::builder().initial_limit(20).build().unwrap());
        v.update(Timestamp::ZERO, Sample::new(10 * MS, 20, false)); // sets rtt_noload
        assert_eq!(v.rtt_noload(), Some(10 * MS));
        v.update(Timestamp::ZERO, Sample::new(10 * MS, 20, false));
        assert_eq!(v.limit(), 26, "no queue: +6 x log10(20) = +6");
        // RTT doubled: queue = 26 x 0.5 = 13 > 6: shrink by 1.
        v.update(Timestamp::ZERO, Sample::new(20 * MS, 26, false));
        assert_eq!(v.limit(), 25);
        v.update(Timestamp::ZERO, Sample::new(10 * MS, 25, true));
        assert_eq!(v.limit(), 24);
    }

    #[test]
    fn gradient2_shrinks_when_latency_rises() {
        let mut g = Gradient2::new(
            Gradient2Config::builder()
                .initial_limit(100)
                .min_limit(10)
                .build()
                .unwrap(),
        );
        for _ in 0..50 {
            g.update(Timestamp::ZERO, Sample::new(10 * MS, 100, false));
        }
        let steady = g.limit();
        assert!(steady >= 100);
        for _ in 0..20 {
            g.update(Timestamp::ZERO, Sample::new(50 * MS, 200, false));
        }
        assert!(g.limit() < steady, "{} !< {steady}", g.limit());
    }

    #[test]
    fn envoy_measures_then_adjusts_then_remeasures() {
        let config = EnvoyGradientConfig::builder()
            .min_rtt_requests(5)
            .min_rtt_interval(Duration::from_secs(10))
            .jitter(0.0)
            .build()
            .unwrap();
        let mut e = EnvoyGradient::new(config);
        let mut now = Timestamp::ZERO;
        assert!(e.is_measuring_min_rtt());
        for _ in 0..5 {
            e.update(now, Sample::new(10 * MS, 1, false));
        }
        assert_eq!(e.min_rtt(), Some(10 * MS));
        assert!(!e.is_measuring_min_rtt());
        // Latency at min RTT: gradient 1.25 x limit + sqrt: grows.
        for _ in 0..20 {
            now += 110 * MS;
            e.update(now, Sample::new(10 * MS, 1, false));
        }
        let grown = e.limit();
        assert!(grown > 20, "{grown}");
        // Latency 4x the min RTT: gradient clamps at 0.5 and the limit falls.
        now += 110 * MS;
        e.update(now, Sample::new(40 * MS, 1, false));
        assert!(e.limit() < grown);
        // After the interval the min RTT is measured again, limit pinned.
        now += Duration::from_secs(10);
        e.update(now, Sample::new(40 * MS, 1, false));
        assert!(e.is_measuring_min_rtt());
        assert_eq!(e.limit(), 3);
    }

    #[test]
    fn limiter_admits_up_to_limit_and_reports_changes() {
        let clock = ManualClock::new();
        let events = Recorder::new();
        let l = AdaptiveLimiter::observed(
            Aimd::new(AimdConfig::builder().initial_limit(1).build().unwrap()),
            clock.clone(),
            events.clone(),
        );
        let t = l.try_acquire().unwrap();
        assert_eq!(l.try_acquire().unwrap_err(), LimitReached { limit: 1 });
        clock.advance(5 * MS);
        t.success();
        assert_eq!(l.limit(), 2);
        assert_eq!(l.in_flight(), 0);
        let ev = events.events();
        assert!(matches!(
            ev[0],
            AdaptiveEvent::LimitChanged { from: 1, to: 2, .. }
        ));
        // Dropping a token feeds nothing.
        drop(l.try_acquire().unwrap());
        assert_eq!(l.limit(), 2);
        assert_eq!(events.len(), 1);
    }

    #[test]
    fn limiter_threads_respect_the_limit() {
        let l = AdaptiveLimiter::with_clock(
            Aimd::new(
                AimdConfig::builder()
                    .initial_limit(4)
                    .max_limit(4)
                    .build()
                    .unwrap(),
            ),
            ManualClock::new(),
        );
        let threads: Vec<_> = (0..4)
            .map(|i| {
                let l = l.clone();
                std::thread::spawn(move || {
                    for j in 0..500 {
                        if let Ok(t) = l.try_acquire() {
                            assert!(l.in_flight() <= 4);
                            if (i + j) % 7 == 0 {
                                t.dropped()
                            } else {
                                t.success()
                            }
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(l.in_flight(), 0);
        assert!((1..=4).contains(&l.limit()));
    }
}
