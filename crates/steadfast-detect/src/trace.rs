//! Seeded heartbeat arrival traces: what a monitor would see from one sender
//! over a network with jitter, loss, pauses and delay changes.

use core::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use steadfast_core::{ConfigError, Timestamp};

/// When heartbeats arrived from one peer, and whether (and when) it crashed.
///
/// ```
/// use steadfast_core::Timestamp;
/// use steadfast_detect::HeartbeatTrace;
///
/// let trace = HeartbeatTrace::new(
///     vec![Timestamp::from_secs(2), Timestamp::from_secs(1)],
///     Some(Timestamp::from_secs(3)),
///     Timestamp::from_secs(10),
/// );
/// assert_eq!(trace.arrivals(), &[Timestamp::from_secs(1), Timestamp::from_secs(2)]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatTrace {
    arrivals: Vec<Timestamp>,
    /// The sender's sequence number of each arrival, when known.
    sequences: Option<Vec<u64>>,
    crash: Option<Timestamp>,
    end: Timestamp,
}

impl HeartbeatTrace {
    /// A trace from arrival times (sorted here), an optional crash time and
    /// the end of observation (raised to the last arrival or crash if earlier).
    pub fn new(
        mut arrivals: Vec<Timestamp>,
        crash: Option<Timestamp>,
        end: Timestamp,
    ) -> HeartbeatTrace {
        arrivals.sort_unstable();
        let end = Self::end_of(&arrivals, crash, end);
        HeartbeatTrace {
            arrivals,
            sequences: None,
            crash,
            end,
        }
    }

    /// A trace of numbered heartbeats: `(arrival, sequence number)` pairs,
    /// sorted here by arrival (ties keep their given order), so a heartbeat
    /// overtaken in the network shows up with a lower number after a higher
    /// one.
    ///
    /// ```
    /// use steadfast_core::Timestamp;
    /// use steadfast_detect::HeartbeatTrace;
    ///
    /// let s = Timestamp::from_secs;
    /// let trace = HeartbeatTrace::with_sequences(vec![(s(1), 0), (s(3), 1), (s(2), 2)], None, s(5));
    /// assert_eq!(trace.arrivals(), &[s(1), s(2), s(3)]);
    /// assert_eq!(trace.sequences(), Some(&[0, 2, 1][..]));
    /// ```
    pub fn with_sequences(
        mut heartbeats: Vec<(Timestamp, u64)>,
        crash: Option<Timestamp>,
        end: Timestamp,
    ) -> HeartbeatTrace {
        heartbeats.sort_by_key(|&(at, _)| at);
        let (arrivals, sequences): (Vec<_>, Vec<_>) = heartbeats.into_iter().unzip();
        let end = Self::end_of(&arrivals, crash, end);
        HeartbeatTrace {
            arrivals,
            sequences: Some(sequences),
            crash,
            end,
        }
    }

    fn end_of(arrivals: &[Timestamp], crash: Option<Timestamp>, end: Timestamp) -> Timestamp {
        let mut end = end;
        if let Some(&last) = arrivals.last() {
            end = end.max(last);
        }
        if let Some(c) = crash {
            end = end.max(c);
        }
        end
    }

    /// Arrival times, ascending.
    pub fn arrivals(&self) -> &[Timestamp] {
        &self.arrivals
    }

    /// The sequence number of each arrival (same order as
    /// [`arrivals`](Self::arrivals)), when the trace has them. Generated
    /// traces number heartbeats from 0 in the order they were scheduled.
    pub fn sequences(&self) -> Option<&[u64]> {
        self.sequences.as_deref()
    }

    /// When the sender crashed, if it did.
    pub fn crash(&self) -> Option<Timestamp> {
        self.crash
    }

    /// The end of observation.
    pub fn end(&self) -> Timestamp {
        self.end
    }
}

/// Extra network delay added to each heartbeat.
///
/// See [`TraceConfig`] for an example.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Jitter {
    /// Constant delay.
    None,
    /// Normal with mean 0 (the delay never goes below zero).
    Normal {
        /// Standard deviation.
        std_deviation: Duration,
    },
    /// Lognormal: `median * exp(sigma * N(0, 1))`. Heavy right tail.
    LogNormal {
        /// Median extra delay.
        median: Duration,
        /// Shape; 0.5 is moderate, 1.5 very heavy.
        sigma: f64,
    },
    /// Pareto: `scale / U^(1 / shape)`. Infinite variance for shape ≤ 2.
    Pareto {
        /// Minimum extra delay.
        scale: Duration,
        /// Tail index α > 0.
        shape: f64,
    },
}

/// Which heartbeats the network drops.
///
/// See [`TraceConfig`] for an example.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Loss {
    /// Nothing is lost.
    None,
    /// Each heartbeat is lost independently with this probability.
    Independent {
        /// Loss probability in [0, 1].
        probability: f64,
    },
    /// Gilbert–Elliott bursty loss: a good and a bad state, each with its
    /// own loss probability, switching with the given probabilities per
    /// heartbeat.
    GilbertElliott {
        /// P(good → bad) per heartbeat.
        good_to_bad: f64,
        /// P(bad → good) per heartbeat.
        bad_to_good: f64,
        /// Loss probability in the good state.
        loss_in_good: f64,
        /// Loss probability in the bad state.
        loss_in_bad: f64,
    },
}

/// A stretch during which the sender was stopped (a GC pause): heartbeats
/// due in it leave together when it resumes.
///
/// ```
/// use std::time::Duration;
/// use steadfast_core::Timestamp;
/// use steadfast_detect::TraceConfig;
///
/// let trace = TraceConfig::builder()
///     .heartbeats(10)
///     .base_delay(Duration::ZERO)
///     .pause(Timestamp::from_millis(2500), Duration::from_secs(3))
///     .build()?
///     .generate();
/// // Heartbeats due at 3, 4 and 5 s leave together at 5.5 s.
/// let bunched = trace.arrivals().iter().filter(|&&t| t == Timestamp::from_millis(5500)).count();
/// assert_eq!(bunched, 3);
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderPause {
    /// When the pause starts.
    pub at: Timestamp,
    /// How long it lasts.
    pub duration: Duration,
}

/// How to generate a [`HeartbeatTrace`]. Same settings and seed, same trace.
///
/// ```
/// use std::time::Duration;
/// use steadfast_core::Timestamp;
/// use steadfast_detect::{Jitter, Loss, TraceConfig};
///
/// let config = TraceConfig::builder()
///     .interval(Duration::from_millis(100))
///     .heartbeats(500)
///     .jitter(Jitter::Normal { std_deviation: Duration::from_millis(5) })
///     .loss(Loss::Independent { probability: 0.01 })
///     .crash_at(Timestamp::from_secs(40))
///     .seed(7)
///     .build()?;
/// let trace = config.generate();
/// assert_eq!(trace, config.generate());
/// assert!(trace.arrivals().len() < 400);
/// assert_eq!(trace.crash(), Some(Timestamp::from_secs(40)));
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct TraceConfig {
    interval: Duration,
    heartbeats: usize,
    start: Timestamp,
    base_delay: Duration,
    jitter: Jitter,
    loss: Loss,
    pauses: Vec<SenderPause>,
    delay_step: Option<(Timestamp, Duration)>,
    crash_at: Option<Timestamp>,
    seed: u64,
}

impl TraceConfig {
    /// 1000 heartbeats every second from `Timestamp::ZERO`, 1 ms of delay,
    /// no jitter, no loss, no crash, seed 0.
    pub fn builder() -> TraceConfigBuilder {
        TraceConfigBuilder {
            config: TraceConfig {
                interval: Duration::from_secs(1),
                heartbeats: 1000,
                start: Timestamp::ZERO,
                base_delay: Duration::from_millis(1),
                jitter: Jitter::None,
                loss: Loss::None,
                pauses: Vec::new(),
                delay_step: None,
                crash_at: None,
                seed: 0,
            },
        }
    }

    /// Generates the trace.
    pub fn generate(&self) -> HeartbeatTrace {
        let mut rng = SmallRng::seed_from_u64(self.seed);
        let mut arrivals = Vec::with_capacity(self.heartbeats);
        let mut bad = false;
        let mut end = self.start;
        for k in 0..self.heartbeats {
            let scheduled = self
                .start
                .saturating_add(self.interval.saturating_mul(k as u32));
            let sent = self.pauses.iter().fold(scheduled, |t, p| {
                if t >= p.at && t < p.at.saturating_add(p.duration) {
                    p.at.saturating_add(p.duration)
                } else {
                    t
                }
            });
            end = end.max(sent);
            if self.crash_at.is_some_and(|c| sent >= c) {
                continue;
            }
            let lost = match self.loss {
                Loss::None => false,
                Loss::Independent { probability } => rng.random::<f64>() < probability,
                Loss::GilbertElliott {
                    good_to_bad,
                    bad_to_good,
                    loss_in_good,
                    loss_in_bad,
                } => {
                    let switch = rng.random::<f64>();
                    bad = if bad {
                        switch >= bad_to_good
                    } else {
                        switch < good_to_bad
                    };
                    rng.random::<f64>() < if bad { loss_in_bad } else { loss_in_good }
                }
            };
            let extra = self.sample_jitter(&mut rng);
            if lost {
                continue;
            }
            let step = match self.delay_step {
                Some((from, extra)) if sent >= from => extra,
                _ => Duration::ZERO,
            };
            let delay = (self.base_delay.as_secs_f64() + extra).max(0.0);
            let delay = Duration::try_from_secs_f64(delay).unwrap_or(Duration::MAX);
            arrivals.push((sent.saturating_add(delay).saturating_add(step), k as u64));
        }
        let end = end.saturating_add(self.interval);
        HeartbeatTrace::with_sequences(arrivals, self.crash_at, end)
    }

    /// Extra delay in seconds (may be negative for normal jitter).
    fn sample_jitter(&self, rng: &mut SmallRng) -> f64 {
        match self.jitter {
            Jitter::None => 0.0,
            Jitter::Normal { std_deviation } => std_deviation.as_secs_f64() * standard_normal(rng),
            Jitter::LogNormal { median, sigma } => {
                median.as_secs_f64() * (sigma * standard_normal(rng)).exp()
            }
            Jitter::Pareto { scale, shape } => {
                // 1 - U is in (0, 1], so the power is finite.
                let u = 1.0 - rng.random::<f64>();
                scale.as_secs_f64() / u.powf(1.0 / shape)
            }
        }
    }
}

/// One standard normal sample (Box–Muller).
fn standard_normal(rng: &mut SmallRng) -> f64 {
    let u1 = 1.0 - rng.random::<f64>();
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (core::f64::consts::TAU * u2).cos()
}

/// Builder of [`TraceConfig`].
#[derive(Debug, Clone)]
pub struct TraceConfigBuilder {
    config: TraceConfig,
}

impl TraceConfigBuilder {
    /// Sending interval (default 1 s).
    pub fn interval(mut self, d: Duration) -> Self {
        self.config.interval = d;
        self
    }

    /// Heartbeats scheduled (default 1000).
    pub fn heartbeats(mut self, n: usize) -> Self {
        self.config.heartbeats = n;
        self
    }

    /// When the first heartbeat is sent (default `Timestamp::ZERO`).
    pub fn start(mut self, t: Timestamp) -> Self {
        self.config.start = t;
        self
    }

    /// Constant network delay (default 1 ms).
    pub fn base_delay(mut self, d: Duration) -> Self {
        self.config.base_delay = d;
        self
    }

    /// Extra random delay (default none).
    pub fn jitter(mut self, jitter: Jitter) -> Self {
        self.config.jitter = jitter;
        self
    }

    /// Loss model (default none).
    pub fn loss(mut self, loss: Loss) -> Self {
        self.config.loss = loss;
        self
    }

    /// Adds a sender pause.
    pub fn pause(mut self, at: Timestamp, duration: Duration) -> Self {
        self.config.pauses.push(SenderPause { at, duration });
        self
    }

    /// From `at` on, every heartbeat takes `extra` longer (a route change).
    pub fn delay_step(mut self, at: Timestamp, extra: Duration) -> Self {
        self.config.delay_step = Some((at, extra));
        self
    }

    /// The sender crashes at `at`: nothing is sent from then on.
    pub fn crash_at(mut self, at: Timestamp) -> Self {
        self.config.crash_at = Some(at);
        self
    }

    /// RNG seed (default 0).
    pub fn seed(mut self, seed: u64) -> Self {
        self.config.seed = seed;
        self
    }

    /// Validates the settings.
    ///
    /// # Errors
    ///
    /// Interval positive; at most 2^32 heartbeats; probabilities in [0, 1];
    /// lognormal sigma finite and non-negative; Pareto shape finite and
    /// positive.
    pub fn build(self) -> Result<TraceConfig, ConfigError> {
        let c = self.config;
        let probability = |field: &'static str, p: f64| {
            ConfigError::ensure((0.0..=1.0).contains(&p), field, p, "in [0, 1]")
        };
        ConfigError::ensure(
            !c.interval.is_zero(),
            "trace.interval",
            format_args!("{:?}", c.interval),
            "greater than 0",
        )?;
        ConfigError::ensure(
            c.heartbeats <= u32::MAX as usize,
            "trace.heartbeats",
            c.heartbeats,
            "at most 2^32 - 1",
        )?;
        match c.loss {
            Loss::None => {}
            Loss::Independent { probability: p } => probability("trace.loss.probability", p)?,
            Loss::GilbertElliott {
                good_to_bad,
                bad_to_good,
                loss_in_good,
                loss_in_bad,
            } => {
                probability("trace.loss.good_to_bad", good_to_bad)?;
                probability("trace.loss.bad_to_good", bad_to_good)?;
                probability("trace.loss.loss_in_good", loss_in_good)?;
                probability("trace.loss.loss_in_bad", loss_in_bad)?;
            }
        }
        match c.jitter {
            Jitter::LogNormal { sigma, .. } => ConfigError::ensure(
                sigma.is_finite() && sigma >= 0.0,
                "trace.jitter.sigma",
                sigma,
                "finite and at least 0",
            )?,
            Jitter::Pareto { shape, .. } => ConfigError::ensure(
                shape.is_finite() && shape > 0.0,
                "trace.jitter.shape",
                shape,
                "finite and greater than 0",
            )?,
            _ => {}
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gilbert_elliott_loses_in_bursts() {
        let config = TraceConfig::builder()
            .heartbeats(20_000)
            .loss(Loss::GilbertElliott {
                good_to_bad: 0.01,
                bad_to_good: 0.2,
                loss_in_good: 0.0,
                loss_in_bad: 1.0,
            })
            .seed(3)
            .build()
            .unwrap();
        let trace = config.generate();
        let lost = 20_000 - trace.arrivals().len();
        // Stationary bad share 0.01 / 0.21 ≈ 4.8%.
        assert!((600..1400).contains(&lost), "lost {lost}");
        // The numbers show which were lost: gaps, never repeats.
        let sequences = trace.sequences().unwrap();
        assert_eq!(sequences.len(), trace.arrivals().len());
        assert!(sequences.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(sequences.len() as u64 + lost as u64, 20_000);
        // Losses come in runs: some gaps span several intervals.
        let long_gaps = trace
            .arrivals()
            .windows(2)
            .filter(|w| w[1].saturating_duration_since(w[0]) > Duration::from_millis(3500))
            .count();
        assert!(long_gaps > 10);
    }

    #[test]
    fn pauses_bunch_heartbeats_and_crash_stops_them() {
        let config = TraceConfig::builder()
            .heartbeats(20)
            .base_delay(Duration::ZERO)
            .pause(Timestamp::from_millis(4500), Duration::from_secs(3))
            .crash_at(Timestamp::from_secs(15))
            .build()
            .unwrap();
        let trace = config.generate();
        let at = |ms| Timestamp::from_millis(ms);
        // Heartbeats due at 5, 6 and 7 s all leave at 7.5 s.
        assert_eq!(
            trace.arrivals().iter().filter(|&&t| t == at(7500)).count(),
            3
        );
        assert_eq!(trace.arrivals().last(), Some(&at(14_000)));
    }

    #[test]
    fn heavy_tails_have_heavy_tails() {
        let pareto = TraceConfig::builder()
            .heartbeats(5000)
            .jitter(Jitter::Pareto {
                scale: Duration::from_millis(1),
                shape: 1.1,
            })
            .build()
            .unwrap()
            .generate();
        let max_gap = pareto
            .arrivals()
            .windows(2)
            .map(|w| w[1].saturating_duration_since(w[0]))
            .max()
            .unwrap();
        assert!(max_gap > Duration::from_millis(1100));
        assert!(
            TraceConfig::builder()
                .jitter(Jitter::Pareto {
                    scale: Duration::from_millis(1),
                    shape: 0.0
                })
                .build()
                .is_err()
        );
        assert!(
            TraceConfig::builder()
                .loss(Loss::Independent {
                    probability: f64::NAN
                })
                .build()
                .is_err()
        );
    }
}
