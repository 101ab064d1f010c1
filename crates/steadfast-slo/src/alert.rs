//! Multiwindow, multi-burn-rate alerts, as the SRE Workbook recommends.
//!
//! A tier fires when the burn rate over its long window **and** over its short
//! window (1/12 of the long one by default) both exceed the tier's threshold
//! (strictly, as the `>` of the rules sloth and pyrra generate and of
//! [`crate::prometheus`]: an error ratio exactly at `burn_rate * (1 - target)`
//! does not fire); the alert is the **or** of the tiers. The long window gives precision (a
//! tier of "2% of the budget in 1 hour" cannot fire on less than that), the
//! short window makes the alert reset soon after the errors stop.
//!
//! A tier defined as "a fraction `f` of the budget spent within `long`" has the
//! burn-rate threshold `f * period / long`: 2% in 1h over 30 days is 14.4.
//! For a constant error ratio `e` starting from a clean window, the tier fires
//! after `burn_rate * (1 - target) * long / e` (when that is within `long`),
//! having consumed exactly `f` of the budget.
//!
//! Guards around the tiers ([`AlertPolicyBuilder`]):
//!
//! - **minimum traffic** ([`AlertPolicyBuilder::min_events`]): a tier needs
//!   that many events in its long window;
//! - **warm-up** ([`AlertPolicyBuilder::warm_up`], off by default): a tier
//!   cannot fire until the monitor has observed its long window for its full
//!   length, so a restart with a few early errors in a half-empty window does
//!   not page;
//! - **silencing** ([`AlertPolicyBuilder::silence_slower`], on by default): a
//!   firing tier silences active tiers with longer windows and no higher
//!   severity. With [`AlertPolicyBuilder::latch_silence`] (on by default) the
//!   silence lasts for the slower tier's whole firing episode: when the fast
//!   tier clears after an outage, the slower tier (whose short window still
//!   holds the outage) does not page minutes after recovery; it stays silent
//!   until its own condition clears.
//!
//! Presets: [`workbook_tiers`] (2% in 1h and 5% in 6h page, 10% in 3d
//! tickets), [`sloth_tiers`] (as the sloth generator: adds 10% in 1d as a
//! ticket) and [`pyrra_tiers`] (burn rates 14, 7, 2 and 1 over windows of
//! 1h, 6h, 1d and 4d scaled from 28 days to the period).

use core::fmt;
use core::time::Duration;

use steadfast_core::{Clock, ConfigError, MonotonicClock, Observer, Timestamp};

use crate::objective::Objective;
use crate::window::{Counts, Recorded, RollingCounts};

/// How urgent a tier is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Severity {
    /// Open a ticket: someone looks during working hours.
    Ticket,
    /// Page the on-call engineer now.
    Page,
}

impl Severity {
    /// `"page"` or `"ticket"`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Page => "page",
            Severity::Ticket => "ticket",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One tier of a multiwindow alert: a burn-rate threshold over a long and a short window.
///
/// ```
/// use std::time::Duration;
/// use steadfast_slo::{BurnRateTier, Objective, Severity};
///
/// let hour = Duration::from_secs(3600);
/// let days30 = hour * 24 * 30;
/// let tier = BurnRateTier::from_budget_consumed("fast", 0.02, hour, days30, Severity::Page);
/// assert!((tier.burn_rate() - 14.4).abs() < 1e-9);
/// assert_eq!(tier.short(), Duration::from_secs(300));
/// // A total outage against 99.9% is detected after 0.0144 h = 51.84 s ...
/// let slo = Objective::new(0.999)?;
/// let t = tier.detection_time(slo, 1.0).unwrap();
/// assert!((t.as_secs_f64() - 51.84).abs() < 1e-6);
/// // ... having consumed 2% of the budget.
/// let spent = tier.budget_consumed_at_detection(slo, days30, 1.0).unwrap();
/// assert!((spent - 0.02).abs() < 1e-9);
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct BurnRateTier {
    name: String,
    long: Duration,
    short: Duration,
    burn_rate: f64,
    severity: Severity,
    enabled: bool,
    hold: Duration,
}

impl BurnRateTier {
    /// A tier firing at `burn_rate` over `long` and `short`.
    #[must_use]
    pub fn new(
        name: impl Into<String>,
        long: Duration,
        short: Duration,
        burn_rate: f64,
        severity: Severity,
    ) -> BurnRateTier {
        BurnRateTier {
            name: name.into(),
            long,
            short,
            burn_rate,
            severity,
            enabled: true,
            hold: Duration::ZERO,
        }
    }

    /// A tier firing when `fraction` of the budget of `period` is spent within `long`;
    /// the short window is `long / 12`.
    #[must_use]
    pub fn from_budget_consumed(
        name: impl Into<String>,
        fraction: f64,
        long: Duration,
        period: Duration,
        severity: Severity,
    ) -> BurnRateTier {
        let burn_rate = fraction * period.as_secs_f64() / long.as_secs_f64();
        BurnRateTier::new(name, long, long / 12, burn_rate, severity)
    }

    /// This tier with another short window.
    #[must_use]
    pub fn with_short(mut self, short: Duration) -> BurnRateTier {
        self.short = short;
        self
    }

    /// This tier enabled or disabled.
    #[must_use]
    pub fn enabled(mut self, enabled: bool) -> BurnRateTier {
        self.enabled = enabled;
        self
    }

    /// This tier with a Prometheus `for:` hold (exported only; the evaluator fires at once).
    #[must_use]
    pub fn with_hold(mut self, hold: Duration) -> BurnRateTier {
        self.hold = hold;
        self
    }

    /// The tier's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The long window.
    #[must_use]
    pub fn long(&self) -> Duration {
        self.long
    }

    /// The short window.
    #[must_use]
    pub fn short(&self) -> Duration {
        self.short
    }

    /// The burn-rate threshold.
    #[must_use]
    pub fn burn_rate(&self) -> f64 {
        self.burn_rate
    }

    /// The severity.
    #[must_use]
    pub fn severity(&self) -> Severity {
        self.severity
    }

    /// Whether the tier is evaluated.
    #[must_use]
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// The Prometheus `for:` hold.
    #[must_use]
    pub fn hold(&self) -> Duration {
        self.hold
    }

    /// The fraction of the budget of `period` spent within the long window at the threshold.
    #[must_use]
    pub fn budget_consumed(&self, period: Duration) -> f64 {
        self.burn_rate * self.long.as_secs_f64() / period.as_secs_f64()
    }

    /// The error ratio at which the tier fires: `burn_rate * (1 - target)`.
    #[must_use]
    pub fn error_ratio_threshold(&self, objective: Objective) -> f64 {
        self.burn_rate * objective.error_budget()
    }

    /// How long a constant `error_ratio` takes to bring both windows to this tier's
    /// threshold, from a clean window with steady traffic (the evaluator fires at
    /// its first evaluation past that instant). `None` when the ratio does not
    /// exceed the threshold, so could never fire it (or is NaN).
    #[must_use]
    pub fn detection_time(&self, objective: Objective, error_ratio: f64) -> Option<Duration> {
        if !(error_ratio > 0.0 && error_ratio <= 1.0) {
            return None;
        }
        let threshold = self.error_ratio_threshold(objective);
        // 1 - 0.999 is not exactly 0.001 in binary; do not let that decide.
        if error_ratio <= threshold * (1.0 + RELATIVE_TOLERANCE) {
            return None;
        }
        // The long window's ratio reaches the threshold once errors have filled
        // threshold / error_ratio of it; the short window, 12 times faster.
        let fill = (threshold / error_ratio).min(1.0);
        let secs = fill * self.long.as_secs_f64();
        let short_secs = fill * self.short.as_secs_f64();
        Duration::try_from_secs_f64(secs.max(short_secs)).ok()
    }

    /// The fraction of the budget of `period` consumed when the tier fires for a constant `error_ratio`.
    #[must_use]
    pub fn budget_consumed_at_detection(
        &self,
        objective: Objective,
        period: Duration,
        error_ratio: f64,
    ) -> Option<f64> {
        let t = self.detection_time(objective, error_ratio)?;
        Some(error_ratio * t.as_secs_f64() / (objective.error_budget() * period.as_secs_f64()))
    }

    fn validate(&self, i: usize, period: Duration) -> Result<(), ConfigError> {
        let field = |f: &str| format!("alert.tiers[{i}].{f}");
        ConfigError::ensure(
            !self.long.is_zero(),
            field("long"),
            format!("{:?}", self.long),
            "positive",
        )?;
        ConfigError::ensure(
            self.long <= period,
            field("long"),
            format!("{:?}", self.long),
            format!("at most the period ({period:?})"),
        )?;
        ConfigError::ensure(
            !self.short.is_zero() && self.short <= self.long,
            field("short"),
            format!("{:?}", self.short),
            format!("in (0, long] (long is {:?})", self.long),
        )?;
        ConfigError::ensure(
            self.burn_rate > 0.0 && self.burn_rate.is_finite(),
            field("burn_rate"),
            self.burn_rate,
            "positive and finite",
        )?;
        Ok(())
    }
}

/// Error ratios within this relative distance of a threshold count as equal to it
/// in [`BurnRateTier::detection_time`].
const RELATIVE_TOLERANCE: f64 = 1e-9;

/// The error budget `1 - target` as the rule files write it: rounded to 12
/// significant digits, so that `1 - 0.999` is `0.001` as in the exported
/// `> (14.4 * 0.001)`, and evaluation agrees with the rules at the boundary.
pub(crate) fn rounded_error_budget(objective: Objective) -> f64 {
    let b = objective.error_budget();
    format!("{b:.11e}").parse().unwrap_or(b)
}

const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);

/// The Workbook's recommendation: 2% of the budget in 1h and 5% in 6h page, 10% in 3d opens a ticket.
///
/// Over 30 days the burn rates are 14.4, 6 and 1.
///
/// ```
/// use std::time::Duration;
/// let tiers = steadfast_slo::workbook_tiers(Duration::from_secs(30 * 86_400));
/// let rates: Vec<f64> = tiers.iter().map(|t| (t.burn_rate() * 10.0).round() / 10.0).collect();
/// assert_eq!(rates, [14.4, 6.0, 1.0]);
/// ```
#[must_use]
pub fn workbook_tiers(period: Duration) -> Vec<BurnRateTier> {
    vec![
        BurnRateTier::from_budget_consumed("2% in 1h", 0.02, HOUR, period, Severity::Page),
        BurnRateTier::from_budget_consumed("5% in 6h", 0.05, HOUR * 6, period, Severity::Page),
        BurnRateTier::from_budget_consumed("10% in 3d", 0.10, DAY * 3, period, Severity::Ticket),
    ]
}

/// The sloth generator's default windows: page on 2% in 1h (5m) and 5% in 6h (30m),
/// ticket on 10% in 1d (2h) and 10% in 3d (6h).
#[must_use]
pub fn sloth_tiers(period: Duration) -> Vec<BurnRateTier> {
    vec![
        BurnRateTier::from_budget_consumed("page quick", 0.02, HOUR, period, Severity::Page),
        BurnRateTier::from_budget_consumed("page slow", 0.05, HOUR * 6, period, Severity::Page),
        BurnRateTier::from_budget_consumed("ticket quick", 0.10, DAY, period, Severity::Ticket),
        BurnRateTier::from_budget_consumed("ticket slow", 0.10, DAY * 3, period, Severity::Ticket),
    ]
}

fn scaled_minutes(period: Duration, divisor: u32) -> Duration {
    let secs = period.as_secs_f64() / f64::from(divisor);
    Duration::from_secs(((secs / 60.0).round() as u64) * 60)
}

/// Pyrra's windows: burn rates 14 (1h/5m), 7 (6h/30m) critical, 2 (1d/2h) and
/// 1 (4d/6h) warning, with the windows scaled from 28 days to `period` and
/// rounded to the minute. Critical maps to [`Severity::Page`], warning to [`Severity::Ticket`].
///
/// ```
/// use std::time::Duration;
/// let tiers = steadfast_slo::pyrra_tiers(Duration::from_secs(28 * 86_400));
/// assert_eq!(tiers[0].long(), Duration::from_secs(3600));
/// assert_eq!(tiers[3].long(), Duration::from_secs(4 * 86_400));
/// assert_eq!(tiers[3].hold(), Duration::from_secs(3 * 3600));
/// ```
#[must_use]
pub fn pyrra_tiers(period: Duration) -> Vec<BurnRateTier> {
    // Divisors of 28 days giving 1h, 6h, 1d, 4d and the short windows and holds.
    let t = |name: &str, long, short, hold, rate, sev| {
        BurnRateTier::new(
            name,
            scaled_minutes(period, long),
            scaled_minutes(period, short),
            rate,
            sev,
        )
        .with_hold(scaled_minutes(period, hold))
    };
    vec![
        t(
            "critical 1h",
            28 * 24,
            28 * 24 * 12,
            28 * 24 * 30,
            14.0,
            Severity::Page,
        ),
        t(
            "critical 6h",
            28 * 4,
            28 * 24 * 2,
            28 * 24 * 4,
            7.0,
            Severity::Page,
        ),
        t("warning 1d", 28, 28 * 12, 28 * 24, 2.0, Severity::Ticket),
        t("warning 4d", 7, 28 * 4, 28 * 8, 1.0, Severity::Ticket),
    ]
}

/// A validated set of tiers for one objective and period, with the guards around them.
///
/// ```
/// use std::time::Duration;
/// use steadfast_slo::{AlertPolicy, Objective, workbook_tiers};
///
/// let days30 = Duration::from_secs(30 * 86_400);
/// let policy = AlertPolicy::builder(Objective::new(0.999)?, days30)
///     .tiers(workbook_tiers(days30))
///     .min_events(100)
///     .build()?;
/// assert_eq!(policy.tiers().len(), 3);
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct AlertPolicy {
    objective: Objective,
    period: Duration,
    tiers: Vec<BurnRateTier>,
    min_events: u64,
    silence_slower: bool,
    latch_silence: bool,
    warm_up: bool,
    buckets: usize,
}

/// Builds an [`AlertPolicy`]; see [`AlertPolicy::builder`].
#[derive(Debug, Clone)]
pub struct AlertPolicyBuilder {
    policy: AlertPolicy,
}

impl AlertPolicyBuilder {
    /// The tiers (default: [`workbook_tiers`] for the period).
    #[must_use]
    pub fn tiers(mut self, tiers: Vec<BurnRateTier>) -> AlertPolicyBuilder {
        self.policy.tiers = tiers;
        self
    }

    /// Fewest events the long window must hold before its tier may fire (default 1).
    #[must_use]
    pub fn min_events(mut self, n: u64) -> AlertPolicyBuilder {
        self.policy.min_events = n;
        self
    }

    /// Whether a firing tier silences tiers with longer windows and no higher severity (default true).
    #[must_use]
    pub fn silence_slower(mut self, on: bool) -> AlertPolicyBuilder {
        self.policy.silence_slower = on;
        self
    }

    /// Whether a silenced tier stays silenced until its own condition clears
    /// (default true), rather than only while the faster tier is active.
    ///
    /// After an outage the fast tier clears first (its short window empties
    /// soonest) while a slower tier's short window still holds the outage; an
    /// unlatched slower tier would then start firing minutes after recovery.
    /// Latched, it stays silent for the rest of that episode and may fire again
    /// only after it has cleared once. No effect without [`Self::silence_slower`].
    #[must_use]
    pub fn latch_silence(mut self, on: bool) -> AlertPolicyBuilder {
        self.policy.latch_silence = on;
        self
    }

    /// Whether a tier may fire only once the monitor has observed its long
    /// window for its full length (default false).
    ///
    /// The observation starts at the first evaluation or the earliest counted
    /// record, whichever is earlier: after a process start, the 3-day
    /// tier stays quiet for 3 days, the 1-hour tier for an hour, whatever the
    /// burn rates over the partial windows. Traffic recorded with earlier
    /// timestamps (a backfill) moves the start back. This complements
    /// [`Self::min_events`], which guards against too little traffic rather
    /// than too short a history.
    #[must_use]
    pub fn warm_up(mut self, on: bool) -> AlertPolicyBuilder {
        self.policy.warm_up = on;
        self
    }

    /// Buckets per window in the evaluator (default 60: each window is exact to 1/60 of itself).
    #[must_use]
    pub fn buckets_per_window(mut self, n: usize) -> AlertPolicyBuilder {
        self.policy.buckets = n;
        self
    }

    /// Validates and returns the policy.
    ///
    /// # Errors
    ///
    /// The period must be positive; each tier needs `0 < short <= long <= period`
    /// and a positive finite burn rate; `buckets_per_window` must be in [1, 4096];
    /// at least one tier is needed.
    pub fn build(self) -> Result<AlertPolicy, ConfigError> {
        let p = self.policy;
        ConfigError::ensure(
            !p.period.is_zero(),
            "alert.period",
            format!("{:?}", p.period),
            "positive",
        )?;
        ConfigError::ensure(!p.tiers.is_empty(), "alert.tiers", 0, "at least one tier")?;
        ConfigError::ensure(
            (1..=4096).contains(&p.buckets),
            "alert.buckets_per_window",
            p.buckets,
            "in [1, 4096]",
        )?;
        for (i, t) in p.tiers.iter().enumerate() {
            t.validate(i, p.period)?;
        }
        Ok(p)
    }
}

impl AlertPolicy {
    /// A builder for `objective` over `period`, with the Workbook tiers.
    #[must_use]
    pub fn builder(objective: Objective, period: Duration) -> AlertPolicyBuilder {
        AlertPolicyBuilder {
            policy: AlertPolicy {
                objective,
                period,
                tiers: workbook_tiers(period),
                min_events: 1,
                silence_slower: true,
                latch_silence: true,
                warm_up: false,
                buckets: 60,
            },
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

    /// The tiers.
    #[must_use]
    pub fn tiers(&self) -> &[BurnRateTier] {
        &self.tiers
    }

    /// The minimum-traffic guard.
    #[must_use]
    pub fn min_events(&self) -> u64 {
        self.min_events
    }

    /// Whether faster tiers silence slower ones.
    #[must_use]
    pub fn silences_slower(&self) -> bool {
        self.silence_slower
    }

    /// Whether silencing lasts for the silenced tier's whole episode.
    #[must_use]
    pub fn latches_silence(&self) -> bool {
        self.latch_silence
    }

    /// Whether tiers wait for their long window to be observed in full.
    #[must_use]
    pub fn warms_up(&self) -> bool {
        self.warm_up
    }

    /// Buckets per window in the evaluator.
    #[must_use]
    pub fn buckets_per_window(&self) -> usize {
        self.buckets
    }

    /// For a constant `error_ratio`: the first enabled tier to fire, when, and the budget spent by then.
    ///
    /// ```
    /// use std::time::Duration;
    /// use steadfast_slo::{AlertPolicy, Objective};
    /// let days30 = Duration::from_secs(30 * 86_400);
    /// let policy = AlertPolicy::builder(Objective::new(0.999)?, days30).build()?;
    /// // 0.2% errors (burn rate 2) only reaches the 3-day ticket tier.
    /// let d = policy.detection(0.002).unwrap();
    /// assert_eq!(d.tier, 2);
    /// assert!((d.after.as_secs_f64() - 36.0 * 3600.0).abs() < 1e-6);
    /// assert!((d.budget_consumed - 0.1).abs() < 1e-9);
    /// # Ok::<(), steadfast_core::ConfigError>(())
    /// ```
    #[must_use]
    pub fn detection(&self, error_ratio: f64) -> Option<Detection> {
        self.tiers
            .iter()
            .enumerate()
            .filter(|(_, t)| t.enabled)
            .filter_map(|(i, t)| {
                let after = t.detection_time(self.objective, error_ratio)?;
                let budget_consumed =
                    t.budget_consumed_at_detection(self.objective, self.period, error_ratio)?;
                Some(Detection {
                    tier: i,
                    after,
                    budget_consumed,
                })
            })
            .min_by_key(|d| d.after)
    }
}

/// When a constant error ratio is first detected; see [`AlertPolicy::detection`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    /// Index of the tier that fires first.
    pub tier: usize,
    /// Time from the start of the errors to the alert.
    pub after: Duration,
    /// Fraction of the period's budget spent by then.
    pub budget_consumed: f64,
}

/// The state of one tier at an evaluation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TierState {
    /// Burn rate over the long window, `None` without traffic.
    pub long_burn: Option<f64>,
    /// Burn rate over the short window, `None` without traffic.
    pub short_burn: Option<f64>,
    /// Events in the long window.
    pub long_events: u64,
    /// Both windows above the threshold, the traffic and warm-up guards passed, and the tier enabled.
    pub active: bool,
    /// Active and not silenced by a faster tier.
    pub firing: bool,
    /// Active but silenced (by a faster active tier, or latched for this episode).
    pub silenced: bool,
    /// The warm-up guard is on and the long window has not been observed in full yet.
    pub warming_up: bool,
}

/// What happened to a tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AlertEventKind {
    /// The tier started firing.
    Fired,
    /// The tier stopped firing (its windows recovered, or a faster tier silenced it).
    Resolved,
}

/// A tier started or stopped firing.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertEvent {
    /// When it was evaluated.
    pub at: Timestamp,
    /// Index of the tier in the policy.
    pub tier: usize,
    /// The tier's name.
    pub name: String,
    /// The tier's severity.
    pub severity: Severity,
    /// Fired or resolved.
    pub kind: AlertEventKind,
    /// Burn rate over the long window at that time.
    pub long_burn: Option<f64>,
    /// Burn rate over the short window at that time.
    pub short_burn: Option<f64>,
}

/// Evaluates an [`AlertPolicy`] on live counts: one rolling window per distinct
/// window length, O(1) per record per window and O(tiers) per evaluation.
///
/// ```
/// use std::time::Duration;
/// use steadfast_core::{ManualClock, Recorder};
/// use steadfast_slo::{AlertEvent, AlertPolicy, BurnRateMonitor, Objective};
///
/// let clock = ManualClock::new();
/// let days30 = Duration::from_secs(30 * 86_400);
/// let policy = AlertPolicy::builder(Objective::new(0.999)?, days30).build()?;
/// let events = Recorder::<AlertEvent>::new();
/// let mut monitor = BurnRateMonitor::with_clock(policy, clock.clone()).with_observer(events.clone());
/// // A total outage: every request fails, one batch per second.
/// for _ in 0..120 {
///     clock.advance(Duration::from_secs(1));
///     monitor.record(0, 100);
///     monitor.evaluate();
/// }
/// assert_eq!(events.events()[0].name, "2% in 1h");
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
pub struct BurnRateMonitor<C = MonotonicClock, O = ()> {
    policy: AlertPolicy,
    clock: C,
    observer: O,
    windows: Vec<RollingCounts>,
    tier_windows: Vec<(usize, usize)>,
    states: Vec<TierState>,
    latched: Vec<bool>,
    observed_since: Option<Timestamp>,
}

impl<C, O> fmt::Debug for BurnRateMonitor<C, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BurnRateMonitor")
            .field("policy", &self.policy)
            .field("states", &self.states)
            .finish_non_exhaustive()
    }
}

impl BurnRateMonitor<MonotonicClock, ()> {
    /// A monitor on the monotonic clock.
    #[must_use]
    pub fn new(policy: AlertPolicy) -> BurnRateMonitor<MonotonicClock, ()> {
        BurnRateMonitor::with_clock(policy, MonotonicClock::new())
    }
}

impl<C: Clock> BurnRateMonitor<C, ()> {
    /// A monitor reading `clock`.
    #[must_use]
    pub fn with_clock(policy: AlertPolicy, clock: C) -> BurnRateMonitor<C, ()> {
        let mut lengths: Vec<Duration> = Vec::new();
        for t in &policy.tiers {
            for d in [t.long, t.short] {
                if !lengths.contains(&d) {
                    lengths.push(d);
                }
            }
        }
        let buckets = policy.buckets;
        let windows = lengths
            .iter()
            .map(|&d| {
                // Validated: every window is positive; fall back to 1ns buckets for tiny ones.
                RollingCounts::spanning(d, buckets)
                    .or_else(|_| RollingCounts::new(Duration::from_nanos(1), buckets))
                    .unwrap_or_else(|_| unreachable_window())
            })
            .collect();
        let index = |d: Duration| lengths.iter().position(|&x| x == d).unwrap_or(0);
        let tier_windows = policy
            .tiers
            .iter()
            .map(|t| (index(t.long), index(t.short)))
            .collect();
        let states = vec![
            TierState {
                long_burn: None,
                short_burn: None,
                long_events: 0,
                active: false,
                firing: false,
                silenced: false,
                warming_up: false,
            };
            policy.tiers.len()
        ];
        let latched = vec![false; policy.tiers.len()];
        BurnRateMonitor {
            policy,
            clock,
            observer: (),
            windows,
            tier_windows,
            states,
            latched,
            observed_since: None,
        }
    }

    /// This monitor reporting transitions to `observer`.
    #[must_use]
    pub fn with_observer<O: Observer<AlertEvent>>(self, observer: O) -> BurnRateMonitor<C, O> {
        BurnRateMonitor {
            policy: self.policy,
            clock: self.clock,
            observer,
            windows: self.windows,
            tier_windows: self.tier_windows,
            states: self.states,
            latched: self.latched,
            observed_since: self.observed_since,
        }
    }
}

fn unreachable_window() -> RollingCounts {
    // 1ns x 1 bucket is always valid.
    match RollingCounts::new(Duration::from_nanos(1), 1) {
        Ok(w) => w,
        Err(_) => unreachable!("a one-bucket window of 1ns is valid"),
    }
}

impl<C: Clock, O: Observer<AlertEvent>> BurnRateMonitor<C, O> {
    /// The policy.
    #[must_use]
    pub fn policy(&self) -> &AlertPolicy {
        &self.policy
    }

    /// Records `good` good events out of `total` now.
    pub fn record(&mut self, good: u64, total: u64) -> Recorded {
        let now = self.clock.now();
        self.record_at(now, good, total)
    }

    /// Records `good` good events out of `total` at `at`.
    pub fn record_at(&mut self, at: Timestamp, good: u64, total: u64) -> Recorded {
        let mut result = Recorded::TooOld;
        for w in &mut self.windows {
            if w.record(at, good, total) == Recorded::Counted {
                result = Recorded::Counted;
            }
        }
        if result == Recorded::Counted {
            self.observe(at);
        }
        result
    }

    fn observe(&mut self, at: Timestamp) {
        self.observed_since = Some(self.observed_since.map_or(at, |s| s.min(at)));
    }

    /// The start of the history the warm-up guard measures: the first
    /// evaluation, or the earliest counted record if earlier.
    #[must_use]
    pub fn observed_since(&self) -> Option<Timestamp> {
        self.observed_since
    }

    /// Evaluates every tier now.
    pub fn evaluate(&mut self) -> &[TierState] {
        let now = self.clock.now();
        self.evaluate_at(now)
    }

    /// Evaluates every tier at `at`; returns one state per tier, in policy order.
    pub fn evaluate_at(&mut self, at: Timestamp) -> &[TierState] {
        for w in &mut self.windows {
            w.advance_to(at);
        }
        // An evaluation starts the history when nothing came before; only counted
        // records (a backfill) move its start back.
        self.observed_since.get_or_insert(at);
        let observed = self
            .observed_since
            .map_or(Duration::ZERO, |s| at.saturating_duration_since(s));
        let objective = self.policy.objective;
        let budget = rounded_error_budget(objective);
        let burn = |c: Counts| c.error_ratio().map(|e| objective.burn_rate(e));
        // Strictly above `burn_rate * budget`, compared on the error ratio as the rules do.
        let exceeds = |c: Counts, rate: f64| c.error_ratio().is_some_and(|e| e > rate * budget);
        let mut fastest_active: [Option<Duration>; 2] = [None, None];
        for (i, tier) in self.policy.tiers.iter().enumerate() {
            let (l, s) = self.tier_windows[i];
            let long = self.windows[l].counts();
            let short = self.windows[s].counts();
            let long_burn = burn(long);
            let short_burn = burn(short);
            let warming_up = self.policy.warm_up && observed < tier.long;
            let active = tier.enabled
                && !warming_up
                && long.total >= self.policy.min_events.max(1)
                && exceeds(long, tier.burn_rate)
                && exceeds(short, tier.burn_rate);
            let st = &mut self.states[i];
            st.long_burn = long_burn;
            st.short_burn = short_burn;
            st.long_events = long.total;
            st.active = active;
            st.warming_up = warming_up;
            if active {
                let slot = &mut fastest_active[usize::from(tier.severity == Severity::Page)];
                *slot = Some(slot.map_or(tier.long, |d| d.min(tier.long)));
            }
        }
        for (i, tier) in self.policy.tiers.iter().enumerate() {
            let by_faster = self.policy.silence_slower && {
                // Silenced by a faster active tier of the same or higher severity.
                let page = fastest_active[1].is_some_and(|d| d < tier.long);
                let ticket = tier.severity == Severity::Ticket
                    && fastest_active[0].is_some_and(|d| d < tier.long);
                page || ticket
            };
            let st = &mut self.states[i];
            // A latch holds for the tier's episode: it is released once the tier clears.
            let latched = &mut self.latched[i];
            if !st.active {
                *latched = false;
            } else if by_faster && self.policy.latch_silence {
                *latched = true;
            }
            let silenced = st.active && (by_faster || *latched);
            st.silenced = silenced;
            let firing = st.active && !silenced;
            if firing != st.firing {
                self.observer.on_event(&AlertEvent {
                    at,
                    tier: i,
                    name: tier.name.clone(),
                    severity: tier.severity,
                    kind: if firing {
                        AlertEventKind::Fired
                    } else {
                        AlertEventKind::Resolved
                    },
                    long_burn: st.long_burn,
                    short_burn: st.short_burn,
                });
            }
            st.firing = firing;
        }
        &self.states
    }

    /// The states from the last evaluation.
    #[must_use]
    pub fn states(&self) -> &[TierState] {
        &self.states
    }

    /// The tiers firing at the last evaluation, with their states.
    ///
    /// ```
    /// use std::time::Duration;
    /// use steadfast_core::Timestamp;
    /// use steadfast_slo::{AlertPolicy, BurnRateMonitor, Objective};
    ///
    /// let days30 = Duration::from_secs(30 * 86_400);
    /// let mut m = BurnRateMonitor::new(AlertPolicy::builder(Objective::new(0.999)?, days30).build()?);
    /// let _ = m.record_at(Timestamp::from_secs(10), 0, 500);
    /// let _ = m.evaluate_at(Timestamp::from_secs(10));
    /// let names: Vec<&str> = m.firing().map(|(tier, _)| tier.name()).collect();
    /// assert_eq!(names, ["2% in 1h"]);
    /// # Ok::<(), steadfast_core::ConfigError>(())
    /// ```
    pub fn firing(&self) -> impl Iterator<Item = (&BurnRateTier, &TierState)> + '_ {
        self.policy
            .tiers
            .iter()
            .zip(&self.states)
            .filter(|(_, s)| s.firing)
    }

    /// The most urgent severity firing at the last evaluation.
    #[must_use]
    pub fn firing_severity(&self) -> Option<Severity> {
        self.states
            .iter()
            .zip(&self.policy.tiers)
            .filter(|(s, _)| s.firing)
            .map(|(_, t)| t.severity)
            .max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn days(n: u64) -> Duration {
        DAY * u32::try_from(n).unwrap()
    }

    #[test]
    fn builder_names_the_bad_field() {
        let o = Objective::new(0.999).unwrap();
        let err = AlertPolicy::builder(o, days(30))
            .tiers(vec![BurnRateTier::new(
                "x",
                HOUR,
                HOUR * 2,
                14.4,
                Severity::Page,
            )])
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "alert.tiers[0].short");
        let err = AlertPolicy::builder(o, days(30))
            .tiers(vec![BurnRateTier::new(
                "x",
                HOUR,
                HOUR,
                f64::NAN,
                Severity::Page,
            )])
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "alert.tiers[0].burn_rate");
        assert!(AlertPolicy::builder(o, Duration::ZERO).build().is_err());
        assert!(
            AlertPolicy::builder(o, days(30))
                .tiers(vec![])
                .build()
                .is_err()
        );
        assert!(
            AlertPolicy::builder(o, days(30))
                .buckets_per_window(0)
                .build()
                .is_err()
        );
    }

    #[test]
    fn detection_is_none_below_threshold_and_for_nan() {
        let o = Objective::new(0.999).unwrap();
        let t = &workbook_tiers(days(30))[0];
        assert_eq!(t.detection_time(o, 0.01), None);
        assert_eq!(t.detection_time(o, f64::NAN), None);
        assert_eq!(t.detection_time(o, 0.0), None);
    }
}
