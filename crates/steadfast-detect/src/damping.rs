//! Flap damping: keeping a peer that goes up and down from toggling its
//! state (and everything that reacts to it) with every blip.
//!
//! Three tools, from the simplest:
//!
//! - [`Hysteresis`]: separate enter and exit thresholds on a continuous
//!   signal (suspect at phi 8, trust again only below phi 2).
//! - [`ConsecutiveChecks`]: the Kubernetes probe model generalised to N of
//!   the last M checks failing, and a run of successes to recover.
//! - [`FlapDamper`]: BGP route-flap dampening. Each flap adds a penalty that
//!   decays exponentially with a half-life; above the suppress limit the peer
//!   is held down until the penalty decays below the reuse limit. The penalty
//!   is capped so no peer is suppressed longer than the maximum suppress time.

use core::time::Duration;

use steadfast_core::{ConfigError, Timestamp};

/// Two thresholds on one signal: active from `enter` upwards, inactive again
/// only below `exit`.
///
/// ```
/// use steadfast_detect::Hysteresis;
///
/// let mut h = Hysteresis::new(8.0, 2.0)?;
/// assert!(!h.update(5.0));
/// assert!(h.update(8.0)); // enters
/// assert!(h.update(3.0)); // still above the exit threshold
/// assert!(!h.update(1.9)); // leaves
/// assert!(Hysteresis::new(1.0, 2.0).is_err());
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Hysteresis {
    enter: f64,
    exit: f64,
    active: bool,
}

impl Hysteresis {
    /// Active at `value >= enter`, inactive again at `value < exit`.
    ///
    /// # Errors
    ///
    /// Both finite, and `exit <= enter`.
    pub fn new(enter: f64, exit: f64) -> Result<Hysteresis, ConfigError> {
        ConfigError::ensure(enter.is_finite(), "hysteresis.enter", enter, "finite")?;
        ConfigError::ensure(
            exit.is_finite() && exit <= enter,
            "hysteresis.exit",
            exit,
            "finite and at most hysteresis.enter",
        )?;
        Ok(Hysteresis {
            enter,
            exit,
            active: false,
        })
    }

    /// Feeds one value and returns whether the condition is now active.
    /// NaN changes nothing.
    pub fn update(&mut self, value: f64) -> bool {
        if self.active {
            if value < self.exit {
                self.active = false;
            }
        } else if value >= self.enter {
            self.active = true;
        }
        self.active
    }

    /// Whether the condition is active.
    pub fn is_active(&self) -> bool {
        self.active
    }

    /// The threshold at and above which the condition becomes active.
    pub fn enter(&self) -> f64 {
        self.enter
    }

    /// The threshold below which an active condition becomes inactive.
    pub fn exit(&self) -> f64 {
        self.exit
    }
}

/// N failures among the last M checks make a target fail; a run of
/// consecutive successes makes it pass again.
///
/// With `n == m` this is the Kubernetes probe model (`failureThreshold`
/// consecutive failures, `successThreshold` consecutive successes).
///
/// ```
/// use steadfast_detect::ConsecutiveChecks;
///
/// // Fail on 3 failures among the last 5 checks; recover after 2 successes.
/// let mut checks = ConsecutiveChecks::new(3, 5, 2)?;
/// for ok in [false, true, false, true] {
///     assert!(!checks.record(ok));
/// }
/// assert!(checks.record(false)); // third failure in the last five
/// assert!(checks.record(true)); // one success is not enough
/// assert!(!checks.record(true)); // two are
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsecutiveChecks {
    n: u32,
    m: u32,
    recover_after: u32,
    /// Bit i set when the i-th most recent check failed.
    window: u64,
    seen: u32,
    successes: u32,
    failing: bool,
}

impl ConsecutiveChecks {
    /// Fails on `n` failures among the last `m` checks; passes again after
    /// `recover_after` consecutive successes.
    ///
    /// # Errors
    ///
    /// `m` in [1, 64], `n` in [1, m], `recover_after` at least 1.
    pub fn new(n: u32, m: u32, recover_after: u32) -> Result<ConsecutiveChecks, ConfigError> {
        ConfigError::ensure((1..=64).contains(&m), "checks.m", m, "in [1, 64]")?;
        ConfigError::ensure((1..=m).contains(&n), "checks.n", n, "in [1, checks.m]")?;
        ConfigError::ensure(
            recover_after >= 1,
            "checks.recover_after",
            recover_after,
            "at least 1",
        )?;
        Ok(ConsecutiveChecks {
            n,
            m,
            recover_after,
            window: 0,
            seen: 0,
            successes: 0,
            failing: false,
        })
    }

    /// Records one check and returns whether the target is now failing.
    pub fn record(&mut self, ok: bool) -> bool {
        let mask = if self.m == 64 {
            u64::MAX
        } else {
            (1u64 << self.m) - 1
        };
        self.window = ((self.window << 1) | u64::from(!ok)) & mask;
        self.seen = (self.seen + 1).min(self.m);
        if ok {
            self.successes = self.successes.saturating_add(1);
        } else {
            self.successes = 0;
        }
        if self.failing {
            if self.successes >= self.recover_after {
                self.failing = false;
                // A recovered target starts with a clean slate.
                self.window = 0;
            }
        } else if self.window.count_ones() >= self.n {
            self.failing = true;
        }
        self.failing
    }

    /// Whether the target is failing.
    pub fn is_failing(&self) -> bool {
        self.failing
    }

    /// How many of the last `m` checks failed (since the last recovery).
    pub fn recent_failures(&self) -> u32 {
        self.window.count_ones()
    }
}

/// Settings of a [`FlapDamper`]; the defaults follow common BGP dampening
/// values, with time scaled from minutes to seconds.
///
/// ```
/// use std::time::Duration;
/// use steadfast_detect::FlapDampingConfig;
///
/// let config = FlapDampingConfig::builder().half_life(Duration::from_secs(30)).build()?;
/// assert_eq!(config.suppress_limit(), 2000.0);
/// assert!(FlapDampingConfig::builder().reuse_limit(5000.0).build().is_err());
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct FlapDampingConfig {
    penalty: f64,
    half_life: Duration,
    suppress_limit: f64,
    reuse_limit: f64,
    max_suppress: Duration,
}

impl FlapDampingConfig {
    /// Penalty 1000 per flap, half-life 15 s, suppress at 2000, reuse below
    /// 750, suppressed for at most 60 s.
    pub fn builder() -> FlapDampingConfigBuilder {
        FlapDampingConfigBuilder {
            config: FlapDampingConfig {
                penalty: 1000.0,
                half_life: Duration::from_secs(15),
                suppress_limit: 2000.0,
                reuse_limit: 750.0,
                max_suppress: Duration::from_secs(60),
            },
        }
    }

    /// Penalty added per flap.
    pub fn penalty(&self) -> f64 {
        self.penalty
    }

    /// Time for the penalty to halve.
    pub fn half_life(&self) -> Duration {
        self.half_life
    }

    /// Suppressed once the penalty reaches this.
    pub fn suppress_limit(&self) -> f64 {
        self.suppress_limit
    }

    /// Released once the penalty decays below this.
    pub fn reuse_limit(&self) -> f64 {
        self.reuse_limit
    }

    /// Longest suppression.
    pub fn max_suppress(&self) -> Duration {
        self.max_suppress
    }

    /// The penalty ceiling: the value that decays to the reuse limit in
    /// exactly the maximum suppress time.
    pub fn max_penalty(&self) -> f64 {
        self.reuse_limit * (self.max_suppress.as_secs_f64() / self.half_life.as_secs_f64()).exp2()
    }
}

/// Builder of [`FlapDampingConfig`].
#[derive(Debug, Clone)]
pub struct FlapDampingConfigBuilder {
    config: FlapDampingConfig,
}

impl FlapDampingConfigBuilder {
    /// Penalty per flap (default 1000).
    pub fn penalty(mut self, penalty: f64) -> Self {
        self.config.penalty = penalty;
        self
    }

    /// Half-life (default 15 s).
    pub fn half_life(mut self, d: Duration) -> Self {
        self.config.half_life = d;
        self
    }

    /// Suppress limit (default 2000).
    pub fn suppress_limit(mut self, limit: f64) -> Self {
        self.config.suppress_limit = limit;
        self
    }

    /// Reuse limit (default 750).
    pub fn reuse_limit(mut self, limit: f64) -> Self {
        self.config.reuse_limit = limit;
        self
    }

    /// Maximum suppress time (default 60 s).
    pub fn max_suppress(mut self, d: Duration) -> Self {
        self.config.max_suppress = d;
        self
    }

    /// Validates the settings.
    ///
    /// # Errors
    ///
    /// Penalty finite and positive; half-life and maximum suppress time
    /// positive with at most 64 half-lives in the maximum; reuse limit
    /// positive and below the suppress limit; suppress limit finite.
    pub fn build(self) -> Result<FlapDampingConfig, ConfigError> {
        let c = self.config;
        ConfigError::ensure(
            c.penalty.is_finite() && c.penalty > 0.0,
            "damping.penalty",
            c.penalty,
            "finite and greater than 0",
        )?;
        ConfigError::ensure(
            !c.half_life.is_zero(),
            "damping.half_life",
            format_args!("{:?}", c.half_life),
            "greater than 0",
        )?;
        ConfigError::ensure(
            c.suppress_limit.is_finite() && c.suppress_limit > 0.0,
            "damping.suppress_limit",
            c.suppress_limit,
            "finite and greater than 0",
        )?;
        ConfigError::ensure(
            c.reuse_limit > 0.0 && c.reuse_limit < c.suppress_limit,
            "damping.reuse_limit",
            c.reuse_limit,
            "greater than 0 and less than damping.suppress_limit",
        )?;
        ConfigError::ensure(
            !c.max_suppress.is_zero()
                && c.max_suppress.as_secs_f64() <= 64.0 * c.half_life.as_secs_f64(),
            "damping.max_suppress",
            format_args!("{:?}", c.max_suppress),
            "greater than 0 and at most 64 half-lives",
        )?;
        Ok(c)
    }
}

/// BGP-style flap dampening for one peer.
///
/// ```
/// use std::time::Duration;
/// use steadfast_core::Timestamp;
/// use steadfast_detect::{FlapDamper, FlapDampingConfig};
///
/// let mut damper = FlapDamper::new(FlapDampingConfig::builder().build()?);
/// let t0 = Timestamp::from_secs(100);
/// assert!(!damper.record_flap(t0)); // 1000: below the suppress limit
/// assert!(!damper.record_flap(t0 + Duration::from_secs(1))); // ~955 + 1000
/// assert!(damper.record_flap(t0 + Duration::from_secs(2))); // ~1867 + 1000: suppressed
/// let reuse = damper.reuse_at().unwrap();
/// assert!(damper.is_suppressed(reuse - Duration::from_nanos(1)));
/// assert!(!damper.is_suppressed(reuse));
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct FlapDamper {
    config: FlapDampingConfig,
    penalty: f64,
    updated: Timestamp,
    reuse_at: Option<Timestamp>,
    flaps: u64,
}

impl FlapDamper {
    /// A damper with no penalty.
    pub fn new(config: FlapDampingConfig) -> FlapDamper {
        FlapDamper {
            config,
            penalty: 0.0,
            updated: Timestamp::ZERO,
            reuse_at: None,
            flaps: 0,
        }
    }

    /// The penalty at `at` (decayed; time going backwards decays nothing).
    pub fn penalty(&self, at: Timestamp) -> f64 {
        let elapsed = at.saturating_duration_since(self.updated).as_secs_f64();
        self.penalty * (-elapsed / self.config.half_life.as_secs_f64()).exp2()
    }

    /// Records a flap at `at` and returns whether the peer is now suppressed.
    pub fn record_flap(&mut self, at: Timestamp) -> bool {
        let at = at.max(self.updated);
        let penalty = (self.penalty(at) + self.config.penalty).min(self.config.max_penalty());
        self.penalty = penalty;
        self.updated = at;
        self.flaps += 1;
        let already = self.is_suppressed(at);
        if already || penalty >= self.config.suppress_limit {
            // Time for the penalty to decay to the reuse limit.
            let halvings = (penalty / self.config.reuse_limit).log2().max(0.0);
            let wait = self.config.half_life.as_secs_f64() * halvings;
            let wait = Duration::try_from_secs_f64(wait)
                .unwrap_or(self.config.max_suppress)
                .min(self.config.max_suppress);
            self.reuse_at = Some(at.saturating_add(wait));
        } else {
            self.reuse_at = None;
        }
        self.is_suppressed(at)
    }

    /// Whether the peer is suppressed at `at`.
    pub fn is_suppressed(&self, at: Timestamp) -> bool {
        self.reuse_at.is_some_and(|reuse| at < reuse)
    }

    /// When the current suppression ends, if there is one.
    pub fn reuse_at(&self) -> Option<Timestamp> {
        self.reuse_at
    }

    /// Flaps recorded so far.
    pub fn flaps(&self) -> u64 {
        self.flaps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn damper() -> FlapDamper {
        FlapDamper::new(FlapDampingConfig::builder().build().unwrap())
    }

    #[test]
    fn penalty_halves_every_half_life() {
        let mut d = damper();
        let t0 = Timestamp::from_secs(10);
        d.record_flap(t0);
        let later = d.penalty(t0 + Duration::from_secs(15));
        assert!((later - 500.0).abs() < 1e-9);
        // Backwards time does not inflate the penalty.
        assert_eq!(d.penalty(Timestamp::ZERO), 1000.0);
    }

    #[test]
    fn suppression_is_capped_by_max_suppress() {
        let mut d = damper();
        let t0 = Timestamp::from_secs(10);
        for _ in 0..50 {
            d.record_flap(t0);
        }
        let reuse = d.reuse_at().unwrap();
        assert!(reuse.saturating_duration_since(t0) <= Duration::from_secs(60));
        assert!(d.penalty(t0) <= d.config.max_penalty() + 1e-9);
    }

    #[test]
    fn isolated_flaps_never_suppress() {
        let mut d = damper();
        for i in 0..20 {
            assert!(!d.record_flap(Timestamp::from_secs(i * 60)));
        }
        assert_eq!(d.flaps(), 20);
    }

    #[test]
    fn consecutive_checks_kubernetes_model() {
        let mut c = ConsecutiveChecks::new(3, 3, 1).unwrap();
        assert!(!c.record(false));
        assert!(!c.record(false));
        assert!(!c.record(true));
        assert!(!c.record(false));
        assert!(!c.record(false));
        assert!(c.record(false));
        assert!(!c.record(true));
        assert!(ConsecutiveChecks::new(0, 3, 1).is_err());
        assert!(ConsecutiveChecks::new(4, 3, 1).is_err());
        assert!(ConsecutiveChecks::new(1, 65, 1).is_err());
        let mut wide = ConsecutiveChecks::new(64, 64, 1).unwrap();
        for _ in 0..63 {
            assert!(!wide.record(false));
        }
        assert!(wide.record(false));
    }

    #[test]
    fn hysteresis_ignores_nan() {
        let mut h = Hysteresis::new(1.0, 0.5).unwrap();
        assert!(!h.update(f64::NAN));
        assert!(h.update(1.0));
        assert!(h.update(f64::NAN));
        assert!(Hysteresis::new(f64::NAN, 0.0).is_err());
    }
}
