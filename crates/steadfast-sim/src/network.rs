//! The network model: how long a message takes and whether it arrives.

use std::time::Duration;

use rand::Rng;
use steadfast_core::ConfigError;

/// How long a message takes from sender to receiver.
///
/// Samples are never negative; a normal distribution is truncated at zero.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use rand::SeedableRng;
/// use steadfast_sim::Latency;
///
/// let latency = Latency::LogNormal { median: Duration::from_millis(2), sigma: 0.5 };
/// latency.validate("network.latency").unwrap();
/// let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
/// let sample = latency.sample(&mut rng);
/// assert!(sample > Duration::ZERO);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Latency {
    /// Always the same delay.
    Constant(Duration),
    /// Uniform between `min` and `max` (inclusive).
    Uniform {
        /// Shortest delay.
        min: Duration,
        /// Longest delay.
        max: Duration,
    },
    /// Normal with the given mean and standard deviation, truncated at zero.
    Normal {
        /// Mean delay.
        mean: Duration,
        /// Standard deviation.
        std_dev: Duration,
    },
    /// Lognormal: `median × e^(σ·Z)`. A heavy right tail with a sharp floor.
    LogNormal {
        /// Median delay.
        median: Duration,
        /// Shape σ of the underlying normal (dimensionless, ≥ 0).
        sigma: f64,
    },
    /// Pareto with minimum `scale` and tail index `shape` (smaller = heavier tail).
    Pareto {
        /// Minimum delay (the scale x_m).
        scale: Duration,
        /// Tail index α > 0.
        shape: f64,
    },
}

/// A standard normal variate by the Box–Muller transform.
fn standard_normal(rng: &mut impl Rng) -> f64 {
    // 1 - u lies in (0, 1], so the logarithm is finite.
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn from_secs(secs: f64) -> Duration {
    if secs.is_nan() || secs <= 0.0 {
        Duration::ZERO
    } else {
        Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX)
    }
}

impl Latency {
    /// Draws one delay.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use rand::SeedableRng;
    /// # use steadfast_sim::Latency;
    /// let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
    /// assert_eq!(Latency::Constant(Duration::from_millis(3)).sample(&mut rng), Duration::from_millis(3));
    /// ```
    pub fn sample(&self, rng: &mut impl Rng) -> Duration {
        match *self {
            Latency::Constant(d) => d,
            Latency::Uniform { min, max } => {
                let (lo, hi) = (min.as_nanos() as u64, max.as_nanos() as u64);
                if hi <= lo {
                    min
                } else {
                    Duration::from_nanos(rng.random_range(lo..=hi))
                }
            }
            Latency::Normal { mean, std_dev } => {
                from_secs(mean.as_secs_f64() + std_dev.as_secs_f64() * standard_normal(rng))
            }
            Latency::LogNormal { median, sigma } => {
                from_secs(median.as_secs_f64() * (sigma * standard_normal(rng)).exp())
            }
            Latency::Pareto { scale, shape } => {
                let u: f64 = 1.0 - rng.random::<f64>();
                from_secs(scale.as_secs_f64() / u.powf(1.0 / shape))
            }
        }
    }

    /// Checks the parameters; `field` names this latency in the error.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for an inverted uniform range, or a shape that is not
    /// finite and non-negative (σ) or positive (α).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use steadfast_sim::Latency;
    /// let bad = Latency::Pareto { scale: Duration::from_millis(1), shape: 0.0 };
    /// let err = bad.validate("network.latency").unwrap_err();
    /// assert_eq!(err.to_string(), "network.latency.shape must be finite and > 0, got 0");
    /// ```
    pub fn validate(&self, field: &str) -> Result<(), ConfigError> {
        match *self {
            Latency::Constant(_) | Latency::Normal { .. } => Ok(()),
            Latency::Uniform { min, max } => ConfigError::ensure(
                min <= max,
                format!("{field}.max"),
                format_args!("{max:?}"),
                format!("at least min ({min:?})"),
            ),
            Latency::LogNormal { sigma, .. } => ConfigError::ensure(
                sigma.is_finite() && sigma >= 0.0,
                format!("{field}.sigma"),
                sigma,
                "finite and >= 0",
            ),
            Latency::Pareto { shape, .. } => ConfigError::ensure(
                shape.is_finite() && shape > 0.0,
                format!("{field}.shape"),
                shape,
                "finite and > 0",
            ),
        }
    }
}

/// Whether a message is lost on the way.
///
/// # Examples
///
/// ```
/// use steadfast_sim::Loss;
///
/// // Mostly clean, with bursts: 1% chance to enter a bad spell, which lasts
/// // 10 messages on average and drops half of them.
/// let bursty = Loss::GilbertElliott { enter_bad: 0.01, leave_bad: 0.1, loss_good: 0.0, loss_bad: 0.5 };
/// bursty.validate("network.loss").unwrap();
/// assert!(Loss::Independent(1.5).validate("network.loss").is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Loss {
    /// Nothing is lost.
    None,
    /// Each message is lost with this probability, independently.
    Independent(f64),
    /// The Gilbert–Elliott two-state channel, kept per directed link: in the
    /// good state messages are lost with `loss_good`, in the bad state with
    /// `loss_bad`; before each message the link enters the bad state with
    /// probability `enter_bad` or leaves it with `leave_bad`.
    GilbertElliott {
        /// Probability of moving from good to bad, per message.
        enter_bad: f64,
        /// Probability of moving from bad to good, per message.
        leave_bad: f64,
        /// Loss probability in the good state.
        loss_good: f64,
        /// Loss probability in the bad state.
        loss_bad: f64,
    },
}

impl Loss {
    /// Checks that every probability lies in [0, 1]; `field` names this loss model.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first probability outside [0, 1] (NaN included).
    ///
    /// ```
    /// # use steadfast_sim::Loss;
    /// assert!(Loss::Independent(f64::NAN).validate("loss").is_err());
    /// assert!(Loss::None.validate("loss").is_ok());
    /// ```
    pub fn validate(&self, field: &str) -> Result<(), ConfigError> {
        let check = |name: &str, p: f64| {
            ConfigError::ensure(
                (0.0..=1.0).contains(&p),
                format!("{field}{name}"),
                p,
                "a probability in [0, 1]",
            )
        };
        match *self {
            Loss::None => Ok(()),
            Loss::Independent(p) => check("", p),
            Loss::GilbertElliott {
                enter_bad,
                leave_bad,
                loss_good,
                loss_bad,
            } => {
                check(".enter_bad", enter_bad)?;
                check(".leave_bad", leave_bad)?;
                check(".loss_good", loss_good)?;
                check(".loss_bad", loss_bad)
            }
        }
    }

    /// Decides the fate of one message on a link whose bad-state flag is `bad`.
    pub(crate) fn drops(&self, bad: &mut bool, rng: &mut impl Rng) -> bool {
        match *self {
            Loss::None => false,
            Loss::Independent(p) => p > 0.0 && rng.random::<f64>() < p,
            Loss::GilbertElliott {
                enter_bad,
                leave_bad,
                loss_good,
                loss_bad,
            } => {
                let flip = if *bad { leave_bad } else { enter_bad };
                if rng.random::<f64>() < flip {
                    *bad = !*bad;
                }
                let p = if *bad { loss_bad } else { loss_good };
                p > 0.0 && rng.random::<f64>() < p
            }
        }
    }
}

/// Latency and loss applied to every message, changeable mid-run with
/// [`Fault::Network`](crate::Fault::Network).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use steadfast_sim::{Latency, Loss, Network};
///
/// let network = Network::new(Latency::Constant(Duration::from_millis(1)), Loss::Independent(0.01)).unwrap();
/// assert_eq!(network.loss(), Loss::Independent(0.01));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    latency: Latency,
    loss: Loss,
}

impl Network {
    /// A validated network model.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] (fields `network.latency…`, `network.loss…`) if either part is invalid.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use steadfast_sim::{Latency, Loss, Network};
    /// assert!(Network::new(Latency::Constant(Duration::ZERO), Loss::Independent(2.0)).is_err());
    /// ```
    pub fn new(latency: Latency, loss: Loss) -> Result<Network, ConfigError> {
        latency.validate("network.latency")?;
        loss.validate("network.loss")?;
        Ok(Network { latency, loss })
    }

    /// A lossless network with a constant one-millisecond delay.
    ///
    /// ```
    /// # use steadfast_sim::{Loss, Network};
    /// assert_eq!(Network::lan().loss(), Loss::None);
    /// ```
    #[must_use]
    pub fn lan() -> Network {
        Network {
            latency: Latency::Constant(Duration::from_millis(1)),
            loss: Loss::None,
        }
    }

    /// The latency distribution.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use steadfast_sim::{Latency, Network};
    /// assert_eq!(Network::lan().latency(), &Latency::Constant(Duration::from_millis(1)));
    /// ```
    #[must_use]
    pub fn latency(&self) -> &Latency {
        &self.latency
    }

    /// The loss model.
    ///
    /// ```
    /// # use steadfast_sim::{Loss, Network};
    /// assert_eq!(Network::lan().loss(), Loss::None);
    /// ```
    #[must_use]
    pub fn loss(&self) -> Loss {
        self.loss
    }
}

impl Default for Network {
    fn default() -> Network {
        Network::lan()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    fn mean_secs(latency: &Latency, n: usize) -> f64 {
        let mut rng = SmallRng::seed_from_u64(42);
        (0..n)
            .map(|_| latency.sample(&mut rng).as_secs_f64())
            .sum::<f64>()
            / n as f64
    }

    #[test]
    fn sample_means_match_the_distributions() {
        let normal = Latency::Normal {
            mean: Duration::from_millis(10),
            std_dev: Duration::from_millis(1),
        };
        assert!((mean_secs(&normal, 20_000) - 0.010).abs() < 0.0002);
        // Lognormal mean = median * exp(sigma^2 / 2).
        let lognormal = Latency::LogNormal {
            median: Duration::from_millis(10),
            sigma: 0.5,
        };
        let expected = 0.010 * (0.125f64).exp();
        assert!((mean_secs(&lognormal, 50_000) - expected).abs() / expected < 0.03);
        // Pareto mean = scale * a / (a - 1) for a > 1.
        let pareto = Latency::Pareto {
            scale: Duration::from_millis(10),
            shape: 3.0,
        };
        assert!((mean_secs(&pareto, 50_000) - 0.015).abs() / 0.015 < 0.03);
    }

    #[test]
    fn samples_are_never_negative_or_below_the_floor() {
        let mut rng = SmallRng::seed_from_u64(3);
        let wide = Latency::Normal {
            mean: Duration::from_millis(1),
            std_dev: Duration::from_millis(10),
        };
        let pareto = Latency::Pareto {
            scale: Duration::from_millis(2),
            shape: 0.5,
        };
        for _ in 0..10_000 {
            let _ = wide.sample(&mut rng); // truncated at zero: never panics
            assert!(pareto.sample(&mut rng) >= Duration::from_millis(2));
        }
        let inverted = Latency::Uniform {
            min: Duration::from_millis(5),
            max: Duration::from_millis(1),
        };
        assert_eq!(inverted.sample(&mut rng), Duration::from_millis(5));
        assert!(inverted.validate("l").is_err());
    }

    #[test]
    fn gilbert_elliott_losses_come_in_bursts() {
        let mut rng = SmallRng::seed_from_u64(9);
        let model = Loss::GilbertElliott {
            enter_bad: 0.01,
            leave_bad: 0.1,
            loss_good: 0.0,
            loss_bad: 1.0,
        };
        let mut bad = false;
        let drops: Vec<bool> = (0..100_000)
            .map(|_| model.drops(&mut bad, &mut rng))
            .collect();
        let lost = drops.iter().filter(|d| **d).count() as f64 / drops.len() as f64;
        // Stationary share of the bad state: 0.01 / (0.01 + 0.1) = 0.0909.
        assert!((lost - 0.0909).abs() < 0.01, "loss rate {lost}");
        // Given a loss, the next message is lost with probability 1 - leave_bad = 0.9.
        let pairs = drops.windows(2).filter(|w| w[0]).count() as f64;
        let repeats = drops.windows(2).filter(|w| w[0] && w[1]).count() as f64;
        assert!((repeats / pairs - 0.9).abs() < 0.02);
    }

    #[test]
    fn invalid_probabilities_are_named() {
        let err = Loss::GilbertElliott {
            enter_bad: 0.1,
            leave_bad: -0.1,
            loss_good: 0.0,
            loss_bad: 1.0,
        }
        .validate("network.loss")
        .unwrap_err();
        assert_eq!(err.field(), "network.loss.leave_bad");
        assert!(
            Latency::LogNormal {
                median: Duration::ZERO,
                sigma: f64::NAN
            }
            .validate("l")
            .is_err()
        );
    }
}
