//! `slo-burn`: an outage against an objective, watched by multiwindow burn-rate alerts.
//!
//! A service serves a seeded, Poisson-distributed number of requests per
//! step. A small baseline of requests fails all the time; an outage makes a
//! larger share fail for a while; an optional slow leak adds a low error
//! ratio for a long stretch. A [`BurnRateMonitor`] from `steadfast-slo`
//! evaluates the policy's tiers (the SRE Workbook's by default, or sloth's or
//! pyrra's) after every step. Its windows start full of baseline traffic (a
//! warm-up as long as the longest window, not counted in the results), as on
//! a service that has been running for a while.
//!
//! The result says which tiers fired and cleared when, how long the outage
//! took to be detected, and how much of the period's error budget was spent,
//! next to what the Workbook arithmetic predicts for a constant error ratio
//! ([`AlertPolicy::detection`]). On steady traffic
//! ([`SloBurnConfigBuilder::poisson_traffic`] off) and a total outage, the
//! measured detection lies between one bucket of the window (scaled by the
//! fill fraction) before the prediction and one step after it: the monitor
//! sees traffic one step at a time, in buckets. Poisson traffic adds its noise.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use steadfast_sim::scenario::slo_burn::{self, SloBurnConfig};
//!
//! let config = SloBurnConfig::builder()
//!     .duration(Duration::from_secs(6 * 3600))
//!     .outage(Duration::from_secs(3600), Duration::from_secs(1800), 0.05)
//!     .build()?;
//! let result = slo_burn::run(&config, 7);
//! // 5% errors against 99.9% burn the budget 50 times too fast: the 1h tier pages.
//! let detected = result.time_to_detect.unwrap();
//! let predicted = result.predicted.unwrap().after;
//! assert!(detected >= predicted && detected <= predicted + 3 * config.step());
//! assert!(result.budget_consumed > 0.0);
//! println!("{}", result.report());
//! # Ok::<(), steadfast_core::ConfigError>(())
//! ```

use std::fmt::Write as _;
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::SmallRng;
use steadfast_core::{ConfigError, Recorder, Timestamp};
use steadfast_slo::{
    AlertEvent, AlertEventKind, AlertPolicy, BurnRateMonitor, BurnRateTier, Detection, Objective,
    Severity, pyrra_tiers, sloth_tiers, workbook_tiers,
};

use super::traffic::{binomial, poisson};
use crate::{LinePlot, ScenarioReport, Summary, Table, run_seeds_with_progress};

/// Which published set of burn-rate tiers to evaluate.
///
/// ```
/// use std::time::Duration;
/// use steadfast_sim::scenario::slo_burn::TierPreset;
///
/// let days30 = Duration::from_secs(30 * 86_400);
/// assert_eq!(TierPreset::Workbook.tiers(days30).len(), 3);
/// assert_eq!(TierPreset::Sloth.tiers(days30).len(), 4);
/// assert_eq!(TierPreset::Pyrra.tiers(days30).len(), 4);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TierPreset {
    /// SRE Workbook: 2% of the budget in 1h or 5% in 6h page, 10% in 3d opens a ticket.
    #[default]
    Workbook,
    /// sloth's defaults: the Workbook's pages, tickets on 10% in 1d and in 3d.
    Sloth,
    /// pyrra's burn rates 14, 7, 2 and 1, windows scaled from 28 days.
    Pyrra,
}

impl TierPreset {
    /// The tiers for a budget period.
    #[must_use]
    pub fn tiers(self, period: Duration) -> Vec<BurnRateTier> {
        match self {
            TierPreset::Workbook => workbook_tiers(period),
            TierPreset::Sloth => sloth_tiers(period),
            TierPreset::Pyrra => pyrra_tiers(period),
        }
    }

    /// `"workbook"`, `"sloth"` or `"pyrra"`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            TierPreset::Workbook => "workbook",
            TierPreset::Sloth => "sloth",
            TierPreset::Pyrra => "pyrra",
        }
    }
}

/// A stretch of time with an extra error ratio.
///
/// ```
/// use std::time::Duration;
/// use steadfast_sim::scenario::slo_burn::ErrorEpisode;
///
/// let e = ErrorEpisode { start: Duration::from_secs(60), length: Duration::from_secs(60), error_ratio: 0.5 };
/// assert!(e.covers(Duration::from_secs(60)) && !e.covers(Duration::from_secs(120)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ErrorEpisode {
    /// When it starts, from the beginning of the run.
    pub start: Duration,
    /// How long it lasts.
    pub length: Duration,
    /// The share of requests that fail because of it.
    pub error_ratio: f64,
}

impl ErrorEpisode {
    /// Whether the step starting at `t` lies in the episode.
    #[must_use]
    pub fn covers(&self, t: Duration) -> bool {
        t >= self.start && t < self.start.saturating_add(self.length)
    }

    /// Whether it makes any request fail: a positive ratio for a positive length.
    #[must_use]
    pub fn is_active(&self) -> bool {
        self.error_ratio > 0.0 && !self.length.is_zero()
    }
}

/// Settings of the `slo-burn` scenario. Build with [`SloBurnConfig::builder`].
///
/// ```
/// use steadfast_sim::scenario::slo_burn::SloBurnConfig;
///
/// let config = SloBurnConfig::builder().build()?;
/// assert_eq!(config.objective().target(), 0.999);
/// assert_eq!(config.policy().tiers().len(), 3);
///
/// let err = SloBurnConfig::builder().baseline_error_ratio(1.5).build().unwrap_err();
/// assert_eq!(err.to_string(), "slo_burn.baseline_error_ratio must be in [0, 1], got 1.5");
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct SloBurnConfig {
    objective: Objective,
    period: Duration,
    preset: TierPreset,
    policy: AlertPolicy,
    step: Duration,
    duration: Duration,
    requests_per_step: f64,
    poisson_traffic: bool,
    baseline_error_ratio: f64,
    outage: ErrorEpisode,
    leak: Option<ErrorEpisode>,
}

/// Builder of [`SloBurnConfig`]; validation happens in [`build`](Self::build).
#[derive(Debug, Clone)]
pub struct SloBurnConfigBuilder {
    target: f64,
    period: Duration,
    preset: TierPreset,
    buckets_per_window: usize,
    step: Duration,
    duration: Duration,
    requests_per_step: f64,
    poisson_traffic: bool,
    baseline_error_ratio: f64,
    outage: ErrorEpisode,
    leak: Option<ErrorEpisode>,
}

const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);

impl SloBurnConfig {
    /// A builder with the defaults: 99.9% over 30 days, Workbook tiers,
    /// one-minute steps of 1000 requests on average for 4 days, 0.02%
    /// baseline errors, and an outage of 5% errors for one hour starting
    /// at hour 12; no leak.
    #[must_use]
    pub fn builder() -> SloBurnConfigBuilder {
        SloBurnConfigBuilder {
            target: 0.999,
            period: 30 * DAY,
            preset: TierPreset::Workbook,
            buckets_per_window: 60,
            step: Duration::from_secs(60),
            duration: 4 * DAY,
            requests_per_step: 1000.0,
            poisson_traffic: true,
            baseline_error_ratio: 0.0002,
            outage: ErrorEpisode {
                start: 12 * HOUR,
                length: HOUR,
                error_ratio: 0.05,
            },
            leak: None,
        }
    }

    /// The objective.
    #[must_use]
    pub fn objective(&self) -> Objective {
        self.objective
    }

    /// The budget period.
    #[must_use]
    pub fn period(&self) -> Duration {
        self.period
    }

    /// The tier preset.
    #[must_use]
    pub fn preset(&self) -> TierPreset {
        self.preset
    }

    /// The alert policy evaluated.
    #[must_use]
    pub fn policy(&self) -> &AlertPolicy {
        &self.policy
    }

    /// The time between evaluations.
    #[must_use]
    pub fn step(&self) -> Duration {
        self.step
    }

    /// How long the run lasts.
    #[must_use]
    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// Mean requests per step.
    #[must_use]
    pub fn requests_per_step(&self) -> f64 {
        self.requests_per_step
    }

    /// Whether request counts are Poisson draws (else exactly the mean, rounded).
    #[must_use]
    pub fn poisson_traffic(&self) -> bool {
        self.poisson_traffic
    }

    /// The error ratio outside outage and leak.
    #[must_use]
    pub fn baseline_error_ratio(&self) -> f64 {
        self.baseline_error_ratio
    }

    /// The outage.
    #[must_use]
    pub fn outage(&self) -> ErrorEpisode {
        self.outage
    }

    /// The slow leak, if any.
    #[must_use]
    pub fn leak(&self) -> Option<ErrorEpisode> {
        self.leak
    }

    /// The error ratio of the step starting at `t`: baseline, outage and leak add up, capped at 1.
    #[must_use]
    pub fn error_ratio_at(&self, t: Duration) -> f64 {
        let mut ratio = self.baseline_error_ratio;
        if self.outage.covers(t) {
            ratio += self.outage.error_ratio;
        }
        if let Some(leak) = self.leak
            && leak.covers(t)
        {
            ratio += leak.error_ratio;
        }
        ratio.min(1.0)
    }

    /// What detection is measured from: the outage, or the leak when there is no outage.
    #[must_use]
    pub fn incident(&self) -> Option<(&'static str, ErrorEpisode)> {
        if self.outage.is_active() {
            Some(("outage", self.outage))
        } else {
            self.leak
                .filter(ErrorEpisode::is_active)
                .map(|leak| ("leak", leak))
        }
    }

    fn requests(&self, rng: &mut SmallRng) -> u64 {
        if self.poisson_traffic {
            poisson(rng, self.requests_per_step)
        } else {
            self.requests_per_step.round() as u64
        }
    }

    fn steps(&self) -> u64 {
        (self.duration.as_nanos() / self.step.as_nanos()) as u64
    }
}

impl SloBurnConfigBuilder {
    /// The objective's target, a fraction in (0, 1) (default 0.999).
    #[must_use]
    pub fn target(mut self, target: f64) -> Self {
        self.target = target;
        self
    }

    /// The budget period (default 30 days).
    #[must_use]
    pub fn period(mut self, period: Duration) -> Self {
        self.period = period;
        self
    }

    /// The tier preset (default [`TierPreset::Workbook`]).
    #[must_use]
    pub fn preset(mut self, preset: TierPreset) -> Self {
        self.preset = preset;
        self
    }

    /// Buckets per alert window (default 60).
    #[must_use]
    pub fn buckets_per_window(mut self, n: usize) -> Self {
        self.buckets_per_window = n;
        self
    }

    /// The time between evaluations (default one minute).
    #[must_use]
    pub fn step(mut self, step: Duration) -> Self {
        self.step = step;
        self
    }

    /// How long the run lasts (default 4 days).
    #[must_use]
    pub fn duration(mut self, duration: Duration) -> Self {
        self.duration = duration;
        self
    }

    /// Mean requests per step (default 1000).
    #[must_use]
    pub fn requests_per_step(mut self, mean: f64) -> Self {
        self.requests_per_step = mean;
        self
    }

    /// Whether request counts per step are Poisson draws around the mean
    /// (default), or exactly the mean, rounded: steady traffic, on which the
    /// Workbook's detection times hold to the bucket.
    #[must_use]
    pub fn poisson_traffic(mut self, on: bool) -> Self {
        self.poisson_traffic = on;
        self
    }

    /// The error ratio outside outage and leak (default 0.0002).
    #[must_use]
    pub fn baseline_error_ratio(mut self, ratio: f64) -> Self {
        self.baseline_error_ratio = ratio;
        self
    }

    /// The outage: start, length and error ratio (default hour 12, one hour, 0.05).
    #[must_use]
    pub fn outage(mut self, start: Duration, length: Duration, error_ratio: f64) -> Self {
        self.outage = ErrorEpisode {
            start,
            length,
            error_ratio,
        };
        self
    }

    /// A slow leak: start, length and extra error ratio (default none).
    #[must_use]
    pub fn leak(mut self, start: Duration, length: Duration, error_ratio: f64) -> Self {
        self.leak = Some(ErrorEpisode {
            start,
            length,
            error_ratio,
        });
        self
    }

    /// Validates the settings.
    ///
    /// # Errors
    ///
    /// The target must be in (0, 1); the period and the policy valid for
    /// `steadfast-slo`'s [`AlertPolicy`]; the step positive and at least
    /// 1/10^7 of the longest alert window; the duration at least one step and
    /// at most 10^7 steps; the mean requests per step
    /// finite and in [0, 10^12]; every error ratio in [0, 1].
    pub fn build(self) -> Result<SloBurnConfig, ConfigError> {
        let objective = Objective::new(self.target)?;
        ConfigError::ensure(
            !self.step.is_zero(),
            "slo_burn.step",
            format!("{:?}", self.step),
            "positive",
        )?;
        let steps = self.duration.as_nanos() / self.step.as_nanos().max(1);
        ConfigError::ensure(
            (1..=10_000_000).contains(&steps),
            "slo_burn.duration",
            format!("{:?}", self.duration),
            format!("between 1 and 10^7 steps of {:?}", self.step),
        )?;
        ConfigError::ensure(
            self.requests_per_step.is_finite() && (0.0..=1e12).contains(&self.requests_per_step),
            "slo_burn.requests_per_step",
            self.requests_per_step,
            "in [0, 10^12]",
        )?;
        let ratio = |field: &'static str, r: f64| {
            ConfigError::ensure((0.0..=1.0).contains(&r), field, r, "in [0, 1]")
        };
        ratio("slo_burn.baseline_error_ratio", self.baseline_error_ratio)?;
        ratio("slo_burn.outage.error_ratio", self.outage.error_ratio)?;
        if let Some(leak) = self.leak {
            ratio("slo_burn.leak.error_ratio", leak.error_ratio)?;
        }
        let policy = AlertPolicy::builder(objective, self.period)
            .tiers(self.preset.tiers(self.period))
            .buckets_per_window(self.buckets_per_window)
            .build()?;
        // The warm-up fills the longest window one step at a time.
        let longest = policy
            .tiers()
            .iter()
            .map(BurnRateTier::long)
            .max()
            .unwrap_or(Duration::ZERO);
        ConfigError::ensure(
            longest.as_nanos().div_ceil(self.step.as_nanos()) <= 10_000_000,
            "slo_burn.step",
            format!("{:?}", self.step),
            format!("at least 1/10^7 of the longest alert window ({longest:?})"),
        )?;
        Ok(SloBurnConfig {
            objective,
            period: self.period,
            preset: self.preset,
            policy,
            step: self.step,
            duration: self.duration,
            requests_per_step: self.requests_per_step,
            poisson_traffic: self.poisson_traffic,
            baseline_error_ratio: self.baseline_error_ratio,
            outage: self.outage,
            leak: self.leak,
        })
    }
}

/// One step of a run, as the monitor saw it after the step.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Sample {
    /// End of the step, from the beginning of the run.
    pub at: Duration,
    /// Requests served in the step.
    pub requests: u64,
    /// Requests that failed.
    pub errors: u64,
    /// Fraction of the period's budget spent since the beginning.
    pub budget_consumed: f64,
    /// Burn rate over each tier's long window (`None` without traffic).
    pub long_burn: Vec<Option<f64>>,
    /// Whether each tier was firing.
    pub firing: Vec<bool>,
}

/// A tier started or stopped firing.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Transition {
    /// When, from the beginning of the run.
    pub at: Duration,
    /// Index of the tier in the policy.
    pub tier: usize,
    /// The tier's name.
    pub name: String,
    /// The tier's severity.
    pub severity: Severity,
    /// `true` when it fired, `false` when it cleared.
    pub fired: bool,
    /// Burn rate over the long window then.
    pub long_burn: Option<f64>,
}

/// What one tier did during a run.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TierOutcome {
    /// The tier's name.
    pub name: String,
    /// The tier's severity.
    pub severity: Severity,
    /// The burn-rate threshold.
    pub burn_rate: f64,
    /// First firing at or after the incident's start, measured from that start.
    pub detected_after: Option<Duration>,
    /// Times it fired.
    pub fired: usize,
    /// Time spent firing.
    pub firing_time: Duration,
    /// What the arithmetic predicts for the incident's error ratio (baseline included) on a clean window.
    pub predicted_after: Option<Duration>,
}

/// The outcome of one run of `slo-burn`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SloBurnResult {
    /// The seed.
    pub seed: u64,
    /// The tier preset.
    pub preset: TierPreset,
    /// The objective's target.
    pub target: f64,
    /// The outage.
    pub outage: ErrorEpisode,
    /// The slow leak, if any.
    pub leak: Option<ErrorEpisode>,
    /// What detection is measured from (see [`SloBurnConfig::incident`]).
    pub incident: Option<(&'static str, ErrorEpisode)>,
    /// Every step.
    pub samples: Vec<Sample>,
    /// Every firing and clearing, in order.
    pub transitions: Vec<Transition>,
    /// Per tier, in policy order.
    pub tiers: Vec<TierOutcome>,
    /// Requests served.
    pub requests: u64,
    /// Requests failed.
    pub errors: u64,
    /// Fraction of the period's budget spent over the run (may exceed 1).
    pub budget_consumed: f64,
    /// Budget spent when the outage was first detected.
    pub budget_consumed_at_detection: Option<f64>,
    /// From the incident's start to the first tier firing at or after it.
    pub time_to_detect: Option<Duration>,
    /// First tier to fire for the incident's error ratio (baseline included) on a clean window, per the arithmetic.
    pub predicted: Option<Detection>,
}

fn to_duration(t: Timestamp) -> Duration {
    Duration::from_nanos(t.as_nanos())
}

fn to_timestamp(d: Duration) -> Timestamp {
    Timestamp::from_nanos(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Runs the scenario once. The same config and seed give the same result.
#[must_use]
pub fn run(config: &SloBurnConfig, seed: u64) -> SloBurnResult {
    let mut rng = SmallRng::seed_from_u64(seed);
    let events = Recorder::<AlertEvent>::new();
    let mut monitor =
        BurnRateMonitor::with_clock(config.policy.clone(), steadfast_core::ManualClock::new())
            .with_observer(events.clone());
    // The period's budget in requests, at the configured mean rate.
    let period_requests =
        config.requests_per_step * config.period.as_secs_f64() / config.step.as_secs_f64();
    let budget_requests = period_requests * config.objective.error_budget();
    let consumed = |errors: u64| {
        if budget_requests > 0.0 {
            errors as f64 / budget_requests
        } else {
            0.0
        }
    };
    // A service that has been running: the windows start full of baseline
    // traffic, one longest window of it, which the results do not count.
    let longest = config
        .policy
        .tiers()
        .iter()
        .map(BurnRateTier::long)
        .max()
        .unwrap_or(Duration::ZERO);
    let warmup_steps = longest.as_nanos().div_ceil(config.step.as_nanos()) as u64;
    let warmup = config.step.saturating_mul(warmup_steps as u32);
    for k in 0..warmup_steps {
        let end = config.step.saturating_mul(k as u32 + 1);
        let n = config.requests(&mut rng);
        let bad = binomial(&mut rng, n, config.baseline_error_ratio);
        let _ = monitor.record_at(to_timestamp(end), n - bad, n);
    }
    let _ = monitor.evaluate_at(to_timestamp(warmup));
    let _ = events.take();
    let steps = config.steps();
    let mut samples = Vec::with_capacity(steps as usize);
    let (mut requests, mut errors) = (0_u64, 0_u64);
    for k in 0..steps {
        let start = config.step.saturating_mul(k as u32);
        let end = start.saturating_add(config.step);
        let n = config.requests(&mut rng);
        let bad = binomial(&mut rng, n, config.error_ratio_at(start));
        requests = requests.saturating_add(n);
        errors = errors.saturating_add(bad);
        let at = to_timestamp(warmup.saturating_add(end));
        let _ = monitor.record_at(at, n - bad, n);
        let states = monitor.evaluate_at(at);
        samples.push(Sample {
            at: end,
            requests: n,
            errors: bad,
            budget_consumed: consumed(errors),
            long_burn: states.iter().map(|s| s.long_burn).collect(),
            firing: states.iter().map(|s| s.firing).collect(),
        });
    }
    let transitions: Vec<Transition> = events
        .take()
        .into_iter()
        .map(|e| Transition {
            at: to_duration(e.at).saturating_sub(warmup),
            tier: e.tier,
            name: e.name,
            severity: e.severity,
            fired: e.kind == AlertEventKind::Fired,
            long_burn: e.long_burn,
        })
        .collect();
    let incident = config.incident();
    let incident_start = incident.map(|(_, e)| e.start);
    let incident_ratio = incident.map(|(_, e)| config.error_ratio_at(e.start));
    let objective = config.objective;
    let tiers: Vec<TierOutcome> = config
        .policy
        .tiers()
        .iter()
        .enumerate()
        .map(|(i, tier)| {
            let mine = || transitions.iter().filter(move |t| t.tier == i);
            let mut firing_time = Duration::ZERO;
            let mut since = None;
            for t in mine() {
                match (t.fired, since) {
                    (true, None) => since = Some(t.at),
                    (false, Some(s)) => {
                        firing_time += t.at.saturating_sub(s);
                        since = None;
                    }
                    _ => {}
                }
            }
            if let Some(s) = since {
                firing_time += config.step.saturating_mul(steps as u32).saturating_sub(s);
            }
            TierOutcome {
                name: tier.name().to_owned(),
                severity: tier.severity(),
                burn_rate: tier.burn_rate(),
                detected_after: incident_start.and_then(|start| {
                    mine()
                        .find(|t| t.fired && t.at >= start)
                        .map(|t| t.at - start)
                }),
                fired: mine().filter(|t| t.fired).count(),
                firing_time,
                predicted_after: incident_ratio
                    .filter(|_| tier.is_enabled())
                    .and_then(|r| tier.detection_time(objective, r)),
            }
        })
        .collect();
    let time_to_detect = tiers.iter().filter_map(|t| t.detected_after).min();
    let budget_consumed_at_detection = time_to_detect.zip(incident_start).and_then(|(d, start)| {
        let at = start + d;
        samples
            .iter()
            .find(|s| s.at >= at)
            .map(|s| s.budget_consumed)
    });
    SloBurnResult {
        seed,
        preset: config.preset,
        target: config.objective.target(),
        outage: config.outage,
        leak: config.leak,
        incident,
        samples,
        transitions,
        tiers,
        requests,
        errors,
        budget_consumed: consumed(errors),
        budget_consumed_at_detection,
        time_to_detect,
        predicted: incident_ratio.and_then(|r| config.policy.detection(r)),
    }
}

/// `1h 2m 3s`, to the second.
fn human(d: Duration) -> String {
    let mut secs = d.as_secs();
    let mut out = String::new();
    for (unit, len) in [("d", 86_400), ("h", 3600), ("m", 60)] {
        if secs >= len {
            let _ = write!(out, "{}{unit} ", secs / len);
            secs %= len;
        }
    }
    if secs > 0 || out.is_empty() {
        let _ = write!(out, "{secs}s");
    }
    out.trim_end().to_owned()
}

fn opt_human(d: Option<Duration>) -> String {
    d.map_or_else(|| "-".to_owned(), human)
}

/// Keeps at most about `max` evenly spaced samples, plus every step where a firing flag changes.
fn thin(samples: &[Sample], max: usize) -> Vec<&Sample> {
    let every = samples.len().div_ceil(max.max(1)).max(1);
    samples
        .iter()
        .enumerate()
        .filter(|&(i, s)| {
            i % every == 0
                || i + 1 == samples.len()
                || (i > 0 && samples[i - 1].firing != s.firing)
                || samples.get(i + 1).is_some_and(|n| n.firing != s.firing)
        })
        .map(|(_, s)| s)
        .collect()
}

impl SloBurnResult {
    /// The narrative, the summary, the timeline and per-step CSVs, and the plot
    /// of budget and burn rate with the tiers' firing marks.
    #[must_use]
    pub fn report(&self) -> ScenarioReport {
        let mut summary = Table::new([
            "tier",
            "severity",
            "burn rate",
            "fired",
            "firing for",
            "detected after",
            "predicted",
        ]);
        for t in &self.tiers {
            summary.push([
                t.name.clone(),
                t.severity.as_str().to_owned(),
                format!("{:.1}", t.burn_rate),
                t.fired.to_string(),
                human(t.firing_time),
                opt_human(t.detected_after),
                opt_human(t.predicted_after),
            ]);
        }
        let mut report = ScenarioReport::new("slo-burn", summary).narrate(format!(
            "objective {}% ({} tiers), seed {}: {} requests, {} failed",
            self.target * 100.0,
            self.preset.as_str(),
            self.seed,
            self.requests,
            self.errors
        ));
        let mut episodes: Vec<(&str, ErrorEpisode)> = Vec::new();
        if self.outage.is_active() {
            episodes.push(("outage", self.outage));
        }
        if let Some(leak) = self.leak.filter(ErrorEpisode::is_active) {
            episodes.push(("slow leak", leak));
        }
        episodes.sort_by_key(|(_, e)| e.start);
        for (what, e) in episodes {
            report = report.narrate(format!(
                "t+{}  {what} starts: {:.2}% more requests fail for {}",
                human(e.start),
                e.error_ratio * 100.0,
                human(e.length)
            ));
        }
        let mut timeline = Table::new(["at", "tier", "severity", "event", "long-window burn rate"]);
        for t in &self.transitions {
            let what = if t.fired { "fired" } else { "cleared" };
            let burn = t
                .long_burn
                .map_or_else(|| "-".to_owned(), |b| format!("{b:.2}"));
            report = report.narrate(format!(
                "t+{}  {} ({}) {what}, long-window burn rate {burn}",
                human(t.at),
                t.name,
                t.severity.as_str()
            ));
            timeline.push([
                t.at.as_secs().to_string(),
                t.name.clone(),
                t.severity.as_str().to_owned(),
                what.to_owned(),
                burn,
            ]);
        }
        let what = self.incident.map_or("incident", |(what, _)| what);
        report = report.narrate(match (self.incident, self.time_to_detect, self.predicted) {
            (None, ..) => "no outage or leak to detect".to_owned(),
            (_, Some(d), Some(p)) => format!(
                "the {what} was detected after {} (the arithmetic predicts {} on a clean window), {:.2}% of the budget spent by then",
                human(d),
                human(p.after),
                self.budget_consumed_at_detection.unwrap_or(0.0) * 100.0
            ),
            (_, Some(d), None) => format!("the {what} was detected after {}", human(d)),
            (_, None, Some(p)) => format!(
                "the {what} was not detected; the arithmetic predicts {} on a clean window",
                human(p.after)
            ),
            (_, None, None) => format!("the {what} was not detected: its error ratio fires no tier"),
        });
        report = report.narrate(format!(
            "{:.2}% of the period's error budget spent over the run",
            self.budget_consumed * 100.0
        ));
        let mut steps = Table::new(
            ["seconds", "requests", "errors", "budget consumed"]
                .into_iter()
                .map(str::to_owned)
                .chain(self.tiers.iter().map(|t| format!("{} burn", t.name)))
                .chain(self.tiers.iter().map(|t| format!("{} firing", t.name))),
        );
        for s in &self.samples {
            steps.push(
                [
                    s.at.as_secs().to_string(),
                    s.requests.to_string(),
                    s.errors.to_string(),
                    format!("{:.6}", s.budget_consumed),
                ]
                .into_iter()
                .chain(
                    s.long_burn
                        .iter()
                        .map(|b| b.map_or_else(String::new, |b| format!("{b:.4}"))),
                )
                .chain(s.firing.iter().map(|f| u8::from(*f).to_string())),
            );
        }
        let mut plot = LinePlot::new(
            "Budget consumed and burn rate",
            "hours",
            "% of budget / burn rate",
        );
        let shown = thin(&self.samples, 400);
        let hours = |s: &Sample| s.at.as_secs_f64() / 3600.0;
        plot.series(
            "budget consumed (%)",
            shown
                .iter()
                .map(|s| (hours(s), s.budget_consumed * 100.0))
                .collect(),
        );
        if let Some(first) = self.tiers.first() {
            plot.series(
                format!("burn rate ({} window)", first.name),
                shown
                    .iter()
                    .map(|s| (hours(s), s.long_burn[0].unwrap_or(f64::NAN)))
                    .collect(),
            );
        }
        for (i, t) in self.tiers.iter().enumerate() {
            if t.fired == 0 {
                continue;
            }
            plot.series(
                format!("{} firing (at its burn rate)", t.name),
                shown
                    .iter()
                    .map(|s| (hours(s), if s.firing[i] { t.burn_rate } else { 0.0 }))
                    .collect(),
            );
        }
        report
            .table("timeline", timeline)
            .data("steps", steps)
            .plot("budget-and-burn", plot)
    }
}

/// Many runs of `slo-burn`, aggregated.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SloBurnSummary {
    /// Every run, in seed order, without its per-step samples (to keep many runs small).
    pub runs: Vec<SloBurnResult>,
    /// Time to detect in seconds, over the runs that detected the outage.
    pub time_to_detect: Option<Summary>,
    /// Budget spent over the run.
    pub budget_consumed: Option<Summary>,
    /// Budget spent at detection, over the runs that detected the outage.
    pub budget_consumed_at_detection: Option<Summary>,
    /// Per tier: how many runs it fired in for the outage, and the summary of its detection time in seconds.
    pub tiers: Vec<(String, usize, Option<Summary>)>,
}

/// Runs the scenario for every seed on `threads` threads and aggregates.
///
/// ```
/// use std::time::Duration;
/// use steadfast_sim::scenario::slo_burn::{self, SloBurnConfig};
///
/// let hour = Duration::from_secs(3600);
/// let config = SloBurnConfig::builder().duration(4 * hour).outage(hour, hour, 0.05).build()?;
/// let summary = slo_burn::run_many(&config, &[1, 2, 3], 2);
/// let detect = summary.time_to_detect.unwrap();
/// assert_eq!(detect.n, 3);
/// assert!(detect.ci95.0 <= detect.mean && detect.mean <= detect.ci95.1);
/// assert!(summary.report().summary().rows().len() >= 3);
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[must_use]
pub fn run_many(config: &SloBurnConfig, seeds: &[u64], threads: usize) -> SloBurnSummary {
    run_many_with_progress(config, seeds, threads, |_| {})
}

/// Like [`run_many`], calling `progress(done)` after each run (see
/// [`run_seeds_with_progress`]).
#[must_use]
pub fn run_many_with_progress(
    config: &SloBurnConfig,
    seeds: &[u64],
    threads: usize,
    progress: impl Fn(usize) + Sync,
) -> SloBurnSummary {
    let runs = run_seeds_with_progress(
        seeds,
        threads,
        |seed| {
            let mut result = run(config, seed);
            result.samples = Vec::new();
            result
        },
        progress,
    );
    let detect: Vec<f64> = runs
        .iter()
        .filter_map(|r| r.time_to_detect.map(|d| d.as_secs_f64()))
        .collect();
    let budget: Vec<f64> = runs.iter().map(|r| r.budget_consumed).collect();
    let at_detection: Vec<f64> = runs
        .iter()
        .filter_map(|r| r.budget_consumed_at_detection)
        .collect();
    let tiers = config
        .policy
        .tiers()
        .iter()
        .enumerate()
        .map(|(i, tier)| {
            let times: Vec<f64> = runs
                .iter()
                .filter_map(|r| r.tiers[i].detected_after.map(|d| d.as_secs_f64()))
                .collect();
            (tier.name().to_owned(), times.len(), Summary::of(&times))
        })
        .collect();
    SloBurnSummary {
        time_to_detect: Summary::of(&detect),
        budget_consumed: Summary::of(&budget),
        budget_consumed_at_detection: Summary::of(&at_detection),
        tiers,
        runs,
    }
}

fn summary_row(table: &mut Table, name: &str, n: usize, s: Option<&Summary>, scale: f64) {
    match s {
        Some(s) => table.push([
            name.to_owned(),
            format!("{}/{n}", s.n),
            format!("{:.3}", s.mean * scale),
            format!("{:.3}", s.ci95.0 * scale),
            format!("{:.3}", s.ci95.1 * scale),
            format!("{:.3}", s.min * scale),
            format!("{:.3}", s.max * scale),
        ]),
        None => table.push([name.to_owned(), format!("0/{n}")]),
    }
}

impl SloBurnSummary {
    /// Mean and 95% confidence interval of each measurement, and one row per run as CSV.
    #[must_use]
    pub fn report(&self) -> ScenarioReport {
        let n = self.runs.len();
        let mut summary = Table::new([
            "measure",
            "runs",
            "mean",
            "ci95 low",
            "ci95 high",
            "min",
            "max",
        ]);
        summary_row(
            &mut summary,
            "time to detect (s)",
            n,
            self.time_to_detect.as_ref(),
            1.0,
        );
        summary_row(
            &mut summary,
            "budget consumed (%)",
            n,
            self.budget_consumed.as_ref(),
            100.0,
        );
        summary_row(
            &mut summary,
            "budget at detection (%)",
            n,
            self.budget_consumed_at_detection.as_ref(),
            100.0,
        );
        for (name, _, s) in &self.tiers {
            summary_row(
                &mut summary,
                &format!("{name}: detected after (s)"),
                n,
                s.as_ref(),
                1.0,
            );
        }
        let mut runs = Table::new([
            "seed",
            "requests",
            "errors",
            "budget consumed",
            "time to detect (s)",
        ]);
        for r in &self.runs {
            runs.push([
                r.seed.to_string(),
                r.requests.to_string(),
                r.errors.to_string(),
                format!("{:.6}", r.budget_consumed),
                r.time_to_detect
                    .map_or_else(String::new, |d| d.as_secs().to_string()),
            ]);
        }
        let mut report = ScenarioReport::new("slo-burn", summary).narrate(format!(
            "{n} runs; the {} was detected in {} of them",
            self.runs
                .first()
                .and_then(|r| r.incident)
                .map_or("incident", |(what, _)| what),
            self.time_to_detect.map_or(0, |s| s.n)
        ));
        if let Some(p) = self.runs.first().and_then(|r| r.predicted) {
            report = report.narrate(format!(
                "the arithmetic predicts detection after {} on a clean window",
                human(p.after)
            ));
        }
        let mut plot = LinePlot::new("Time to detect by seed", "seed", "seconds");
        plot.series(
            "time to detect",
            self.runs
                .iter()
                .filter_map(|r| r.time_to_detect.map(|d| (r.seed as f64, d.as_secs_f64())))
                .collect(),
        );
        report.table("runs", runs).plot("time-to-detect", plot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations() {
        assert_eq!(human(Duration::ZERO), "0s");
        assert_eq!(human(Duration::from_secs(3661)), "1h 1m 1s");
        assert_eq!(human(Duration::from_secs(86_400)), "1d");
    }

    #[test]
    fn error_ratios_add_and_cap() {
        let c = SloBurnConfig::builder()
            .baseline_error_ratio(0.5)
            .outage(HOUR, HOUR, 0.7)
            .leak(Duration::ZERO, DAY, 0.1)
            .build()
            .unwrap();
        assert_eq!(c.error_ratio_at(Duration::ZERO), 0.6);
        assert_eq!(c.error_ratio_at(HOUR), 1.0);
        assert_eq!(c.error_ratio_at(DAY), 0.5);
    }

    #[test]
    fn thinning_keeps_transitions() {
        let samples: Vec<Sample> = (0..1000)
            .map(|i| Sample {
                at: Duration::from_secs(i),
                requests: 1,
                errors: 0,
                budget_consumed: 0.0,
                long_burn: vec![None],
                firing: vec![(500..510).contains(&i)],
            })
            .collect();
        let kept = thin(&samples, 10);
        assert!(kept.len() < 30);
        for t in [499, 500, 509, 510, 999] {
            assert!(kept.iter().any(|s| s.at.as_secs() == t), "{t}");
        }
    }
}
