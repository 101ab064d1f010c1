//! Breaker settings, validated once in `build()`.

use std::time::Duration;

use steadfast_core::ConfigError;

use super::window::MAX_COUNT_WINDOW;

/// The largest number of half-open trial calls.
const MAX_TRIALS: u32 = 1000;

/// Which recent calls the failure and slow-call rates are computed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum WindowKind {
    /// The last `size` calls.
    Count {
        /// Calls in the window.
        size: u32,
    },
    /// The calls of the last `duration`, kept in `buckets` buckets that expire one at a time.
    Time {
        /// Length of the window.
        duration: Duration,
        /// Buckets the window is divided into.
        buckets: u32,
    },
}

/// How long the breaker stays open before it admits trial calls.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum OpenWait {
    /// The same wait after every opening.
    Fixed(Duration),
    /// `initial * factor^(n - 1)` after the n-th consecutive opening (reset
    /// when the breaker closes), capped at `max`.
    Exponential {
        /// Wait after the first opening.
        initial: Duration,
        /// Growth per consecutive opening.
        factor: f64,
        /// The longest wait.
        max: Duration,
    },
}

impl OpenWait {
    /// The wait after the `opening`-th consecutive opening (1 for the first).
    ///
    /// ```
    /// use std::time::Duration;
    /// use steadfast_guard::breaker::OpenWait;
    /// let wait = OpenWait::Exponential {
    ///     initial: Duration::from_secs(1),
    ///     factor: 2.0,
    ///     max: Duration::from_secs(5),
    /// };
    /// assert_eq!(wait.after_opening(1), Duration::from_secs(1));
    /// assert_eq!(wait.after_opening(3), Duration::from_secs(4));
    /// assert_eq!(wait.after_opening(30), Duration::from_secs(5));
    /// ```
    #[must_use]
    pub fn after_opening(&self, opening: u32) -> Duration {
        match *self {
            OpenWait::Fixed(wait) => wait,
            OpenWait::Exponential {
                initial,
                factor,
                max,
            } => {
                let exponent = i32::try_from(opening.saturating_sub(1)).unwrap_or(i32::MAX);
                let nanos = initial.as_nanos() as f64 * factor.powi(exponent);
                let max_nanos = max.as_nanos() as f64;
                if nanos.is_finite() && nanos < max_nanos {
                    Duration::from_nanos(nanos as u64)
                } else {
                    max
                }
            }
        }
    }
}

/// Validated settings of a [`CircuitBreaker`](super::CircuitBreaker).
///
/// Defaults follow Resilience4j: a count window of 100 calls, failure-rate
/// threshold 50 %, rates counted from 100 calls (or the whole count window
/// if smaller), 60 s open, 10 half-open trials, no limit on the time in
/// half-open. Slow-call detection is off by default (it needs a clock read
/// when a call starts and when it ends).
///
/// ```
/// use std::time::Duration;
/// use steadfast_guard::breaker::BreakerConfig;
///
/// let config = BreakerConfig::builder()
///     .count_window(20)
///     .failure_rate_threshold(0.25)
///     .slow_calls(Duration::from_millis(500), 0.8)
///     .wait_in_open(Duration::from_secs(5))
///     .half_open_trials(3)
///     .build()?;
/// assert_eq!(config.minimum_calls(), 20);
///
/// let err = BreakerConfig::builder().failure_rate_threshold(1.5).build().unwrap_err();
/// assert_eq!(err.to_string(), "breaker.failure_rate_threshold must be in (0, 1], got 1.5");
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct BreakerConfig {
    pub(crate) window: WindowKind,
    pub(crate) failure_rate_threshold: f64,
    pub(crate) slow_call: Option<(Duration, f64)>,
    pub(crate) minimum_calls: u32,
    pub(crate) open_wait: OpenWait,
    pub(crate) half_open_trials: u32,
    pub(crate) max_wait_in_half_open: Option<Duration>,
}

impl BreakerConfig {
    /// Starts from the defaults.
    pub fn builder() -> BreakerConfigBuilder {
        BreakerConfigBuilder {
            window: WindowKind::Count { size: 100 },
            failure_rate_threshold: 0.5,
            slow_call: None,
            minimum_calls: None,
            open_wait: OpenWait::Fixed(Duration::from_secs(60)),
            half_open_trials: 10,
            max_wait_in_half_open: None,
        }
    }

    /// The window the rates are computed over.
    #[must_use]
    pub fn window(&self) -> WindowKind {
        self.window
    }

    /// Calls the window must hold before its rates can open the breaker.
    #[must_use]
    pub fn minimum_calls(&self) -> u32 {
        self.minimum_calls
    }

    /// The failure rate, in (0, 1], at which the breaker opens.
    #[must_use]
    pub fn failure_rate_threshold(&self) -> f64 {
        self.failure_rate_threshold
    }

    /// The slow-call duration and rate threshold, if slow calls are tracked.
    #[must_use]
    pub fn slow_call(&self) -> Option<(Duration, f64)> {
        self.slow_call
    }

    /// The wait in the open state.
    #[must_use]
    pub fn open_wait(&self) -> OpenWait {
        self.open_wait
    }

    /// Trial calls admitted in half-open.
    #[must_use]
    pub fn half_open_trials(&self) -> u32 {
        self.half_open_trials
    }

    /// The longest stay in half-open before reopening, if limited.
    #[must_use]
    pub fn max_wait_in_half_open(&self) -> Option<Duration> {
        self.max_wait_in_half_open
    }
}

impl Default for BreakerConfig {
    fn default() -> BreakerConfig {
        BreakerConfig {
            window: WindowKind::Count { size: 100 },
            failure_rate_threshold: 0.5,
            slow_call: None,
            minimum_calls: 100,
            open_wait: OpenWait::Fixed(Duration::from_secs(60)),
            half_open_trials: 10,
            max_wait_in_half_open: None,
        }
    }
}

/// Builds a [`BreakerConfig`]; see [`BreakerConfig::builder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build()` is called"]
pub struct BreakerConfigBuilder {
    window: WindowKind,
    failure_rate_threshold: f64,
    slow_call: Option<(Duration, f64)>,
    minimum_calls: Option<u32>,
    open_wait: OpenWait,
    half_open_trials: u32,
    max_wait_in_half_open: Option<Duration>,
}

impl BreakerConfigBuilder {
    /// Rates over the last `size` calls (1 ..= 100 000; default 100).
    pub fn count_window(mut self, size: u32) -> BreakerConfigBuilder {
        self.window = WindowKind::Count { size };
        self
    }

    /// Rates over the calls of the last `duration`, in `buckets` buckets
    /// (1 ..= 1000) that expire one at a time.
    pub fn time_window(mut self, duration: Duration, buckets: u32) -> BreakerConfigBuilder {
        self.window = WindowKind::Time { duration, buckets };
        self
    }

    /// Opens when the failure rate reaches this fraction, in (0, 1] (default 0.5).
    pub fn failure_rate_threshold(mut self, threshold: f64) -> BreakerConfigBuilder {
        self.failure_rate_threshold = threshold;
        self
    }

    /// Counts calls lasting `duration` or more as slow, and opens when the
    /// slow-call rate reaches `rate_threshold`, in (0, 1].
    pub fn slow_calls(mut self, duration: Duration, rate_threshold: f64) -> BreakerConfigBuilder {
        self.slow_call = Some((duration, rate_threshold));
        self
    }

    /// Calls the window must hold before its rates count (default: 100, or
    /// the count window's size if smaller).
    pub fn minimum_calls(mut self, calls: u32) -> BreakerConfigBuilder {
        self.minimum_calls = Some(calls);
        self
    }

    /// Stays open for `wait` after every opening (default 60 s).
    pub fn wait_in_open(mut self, wait: Duration) -> BreakerConfigBuilder {
        self.open_wait = OpenWait::Fixed(wait);
        self
    }

    /// Stays open `initial * factor^(n - 1)` after the n-th consecutive
    /// opening, capped at `max`.
    pub fn wait_in_open_exponential(
        mut self,
        initial: Duration,
        factor: f64,
        max: Duration,
    ) -> BreakerConfigBuilder {
        self.open_wait = OpenWait::Exponential {
            initial,
            factor,
            max,
        };
        self
    }

    /// Trial calls admitted in half-open, 1 ..= 1000 (default 10).
    pub fn half_open_trials(mut self, trials: u32) -> BreakerConfigBuilder {
        self.half_open_trials = trials;
        self
    }

    /// Reopens if the trials have not decided within `wait` (default: no limit).
    pub fn max_wait_in_half_open(mut self, wait: Duration) -> BreakerConfigBuilder {
        self.max_wait_in_half_open = Some(wait);
        self
    }

    /// Validates the settings.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first setting out of range: thresholds
    /// outside (0, 1] or NaN, an empty or oversized window, a zero duration,
    /// `minimum_calls` of 0 or above the count window, an exponential wait
    /// with a factor below 1 or a cap below its initial wait, a trial count
    /// outside 1 ..= 1000.
    pub fn build(self) -> Result<BreakerConfig, ConfigError> {
        let in_unit = |v: f64| v > 0.0 && v <= 1.0;
        ConfigError::ensure(
            in_unit(self.failure_rate_threshold),
            "breaker.failure_rate_threshold",
            self.failure_rate_threshold,
            "in (0, 1]",
        )?;
        if let Some((duration, rate)) = self.slow_call {
            ConfigError::ensure(
                !duration.is_zero(),
                "breaker.slow_call_duration",
                format_args!("{duration:?}"),
                "greater than zero",
            )?;
            ConfigError::ensure(
                in_unit(rate),
                "breaker.slow_call_rate_threshold",
                rate,
                "in (0, 1]",
            )?;
        }
        let default_minimum = match self.window {
            WindowKind::Count { size } => {
                ConfigError::ensure(
                    (1..=MAX_COUNT_WINDOW).contains(&size),
                    "breaker.count_window",
                    size,
                    "between 1 and 100000",
                )?;
                size.min(100)
            }
            WindowKind::Time { duration, buckets } => {
                ConfigError::ensure(
                    (1..=1000).contains(&buckets),
                    "breaker.time_window_buckets",
                    buckets,
                    "between 1 and 1000",
                )?;
                ConfigError::ensure(
                    duration >= Duration::from_millis(1) * buckets,
                    "breaker.time_window",
                    format_args!("{duration:?}"),
                    "at least 1ms per bucket",
                )?;
                100
            }
        };
        let minimum_calls = self.minimum_calls.unwrap_or(default_minimum);
        ConfigError::ensure(
            minimum_calls >= 1,
            "breaker.minimum_calls",
            minimum_calls,
            "at least 1",
        )?;
        if let WindowKind::Count { size } = self.window {
            ConfigError::ensure(
                minimum_calls <= size,
                "breaker.minimum_calls",
                minimum_calls,
                format!("at most the count window ({size})"),
            )?;
        }
        match self.open_wait {
            OpenWait::Fixed(wait) => ConfigError::ensure(
                !wait.is_zero(),
                "breaker.wait_in_open",
                format_args!("{wait:?}"),
                "greater than zero",
            )?,
            OpenWait::Exponential {
                initial,
                factor,
                max,
            } => {
                ConfigError::ensure(
                    !initial.is_zero(),
                    "breaker.wait_in_open",
                    format_args!("{initial:?}"),
                    "greater than zero",
                )?;
                ConfigError::ensure(
                    factor.is_finite() && factor >= 1.0,
                    "breaker.wait_in_open_factor",
                    factor,
                    "finite and at least 1",
                )?;
                ConfigError::ensure(
                    max >= initial,
                    "breaker.max_wait_in_open",
                    format_args!("{max:?}"),
                    format!("at least the initial wait ({initial:?})"),
                )?;
            }
        }
        ConfigError::ensure(
            (1..=MAX_TRIALS).contains(&self.half_open_trials),
            "breaker.half_open_trials",
            self.half_open_trials,
            "between 1 and 1000",
        )?;
        if let Some(wait) = self.max_wait_in_half_open {
            ConfigError::ensure(
                !wait.is_zero(),
                "breaker.max_wait_in_half_open",
                format_args!("{wait:?}"),
                "greater than zero",
            )?;
        }
        Ok(BreakerConfig {
            window: self.window,
            failure_rate_threshold: self.failure_rate_threshold,
            slow_call: self.slow_call,
            minimum_calls,
            open_wait: self.open_wait,
            half_open_trials: self.half_open_trials,
            max_wait_in_half_open: self.max_wait_in_half_open,
        })
    }
}
