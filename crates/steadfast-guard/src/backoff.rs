//! Backoff: an iterator of delays between attempts.
//!
//! A [`Backoff`] yields the delay to wait before each retry. Four schedules
//! ([`constant`](Backoff::constant), [`linear`](Backoff::linear),
//! [`exponential`](Backoff::exponential), [`fibonacci`](Backoff::fibonacci))
//! combine with five [`Jitter`] strategies. Two rules hold for every
//! combination:
//!
//! - **The cap holds after jitter.** No delay ever exceeds
//!   [`max_delay`](BackoffBuilder::max_delay), whatever the jitter draws.
//! - **Randomness is seedable.** With [`seed`](BackoffBuilder::seed) the
//!   sequence is reproducible; without it each built `Backoff` draws a fresh
//!   seed from the process's hash randomness, so clients built from the same
//!   config do not retry in lockstep.
//!
//! The iterator ends after [`max_retries`](BackoffBuilder::max_retries)
//! delays, or before the delay that would take the sum of delays past
//! [`max_total_delay`](BackoffBuilder::max_total_delay).
//!
//! ```
//! use std::time::Duration;
//! use steadfast_guard::backoff::{Backoff, Jitter};
//!
//! let delays: Vec<Duration> = Backoff::exponential(Duration::from_millis(100))
//!     .factor(2.0)
//!     .max_delay(Duration::from_millis(500))
//!     .max_retries(5)
//!     .build()?
//!     .collect();
//! let ms: Vec<u128> = delays.iter().map(Duration::as_millis).collect();
//! assert_eq!(ms, [100, 200, 400, 500, 500]);
//!
//! // Full jitter draws from [0, schedule]; the cap still holds.
//! let jittered = Backoff::exponential(Duration::from_millis(100))
//!     .max_delay(Duration::from_secs(1))
//!     .jitter(Jitter::Full)
//!     .seed(7)
//!     .max_retries(20)
//!     .build()?;
//! assert!(jittered.into_iter().all(|d| d <= Duration::from_secs(1)));
//! # Ok::<(), steadfast_core::ConfigError>(())
//! ```

use std::hash::{BuildHasher, Hasher};
use std::iter::FusedIterator;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{RngCore, SeedableRng};
use steadfast_core::ConfigError;

/// How random noise is mixed into the schedule.
///
/// The formulas are those of the AWS Architecture Blog's "Exponential
/// Backoff and Jitter" and of Polly's `DecorrelatedJitterBackoffV2`. Write
/// `s` for the schedule's delay for this retry and `cap` for
/// [`max_delay`](BackoffBuilder::max_delay).
///
/// ```
/// use std::time::Duration;
/// use steadfast_guard::backoff::{Backoff, Jitter};
///
/// let equal = Backoff::constant(Duration::from_millis(100))
///     .jitter(Jitter::Equal)
///     .seed(1)
///     .max_retries(50)
///     .build()?;
/// // Equal jitter keeps at least half of the schedule.
/// assert!(equal.into_iter().all(|d| d >= Duration::from_millis(50) && d <= Duration::from_millis(100)));
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum Jitter {
    /// The schedule as is: `min(cap, s)`.
    #[default]
    None,
    /// Uniform in `[0, min(cap, s)]`.
    Full,
    /// `h + uniform[0, h]` with `h = min(cap, s) / 2`: never less than half the schedule.
    Equal,
    /// `min(cap, uniform[initial, 3 * previous])`, starting from `previous = initial`.
    /// Grows on its own; the schedule's growth is not used.
    Decorrelated,
    /// Polly's decorrelated jitter v2: a smooth, randomised exponential whose
    /// median first delay is `initial`, capped. The schedule's growth is not used.
    DecorrelatedV2,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Schedule {
    Constant,
    Linear { step: u64 },
    Exponential { factor: f64 },
    Fibonacci,
}

/// Configures a [`Backoff`]; created by [`Backoff::constant`],
/// [`Backoff::linear`], [`Backoff::exponential`] or [`Backoff::fibonacci`].
///
/// ```
/// use std::time::Duration;
/// use steadfast_guard::backoff::Backoff;
///
/// let err = Backoff::exponential(Duration::from_millis(10)).factor(0.5).build().unwrap_err();
/// assert_eq!(err.to_string(), "backoff.factor must be finite and at least 1, got 0.5");
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build()` is called"]
pub struct BackoffBuilder {
    schedule: Schedule,
    initial: Duration,
    step: Duration,
    factor: f64,
    max_delay: Option<Duration>,
    max_retries: Option<u32>,
    max_total_delay: Option<Duration>,
    jitter: Jitter,
    seed: Option<u64>,
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl BackoffBuilder {
    fn new(schedule: Schedule, initial: Duration) -> BackoffBuilder {
        BackoffBuilder {
            schedule,
            initial,
            step: Duration::ZERO,
            factor: 2.0,
            max_delay: None,
            max_retries: None,
            max_total_delay: None,
            jitter: Jitter::None,
            seed: None,
        }
    }

    /// Growth factor of an exponential schedule (default 2). Must be finite
    /// and at least 1; ignored by the other schedules.
    pub fn factor(mut self, factor: f64) -> BackoffBuilder {
        self.factor = factor;
        self
    }

    /// The largest delay ever yielded, after jitter (default: no cap below
    /// `u64::MAX` nanoseconds). Must be at least the initial delay.
    pub fn max_delay(mut self, max_delay: Duration) -> BackoffBuilder {
        self.max_delay = Some(max_delay);
        self
    }

    /// The number of delays yielded before the iterator ends (default: unlimited).
    pub fn max_retries(mut self, max_retries: u32) -> BackoffBuilder {
        self.max_retries = Some(max_retries);
        self
    }

    /// Ends the iterator before a delay that would take the sum of all
    /// delays past this limit (default: unlimited).
    pub fn max_total_delay(mut self, max_total_delay: Duration) -> BackoffBuilder {
        self.max_total_delay = Some(max_total_delay);
        self
    }

    /// The jitter strategy (default [`Jitter::None`]).
    pub fn jitter(mut self, jitter: Jitter) -> BackoffBuilder {
        self.jitter = jitter;
        self
    }

    /// Seeds the random generator, making the sequence reproducible.
    pub fn seed(mut self, seed: u64) -> BackoffBuilder {
        self.seed = Some(seed);
        self
    }

    /// Validates the settings and builds the backoff.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when the initial delay is zero, the factor is NaN,
    /// infinite or below 1, `max_delay` is below the initial delay, or
    /// `max_retries` or `max_total_delay` is zero.
    pub fn build(self) -> Result<Backoff, ConfigError> {
        ConfigError::ensure(
            !self.initial.is_zero(),
            "backoff.initial",
            format_args!("{:?}", self.initial),
            "greater than zero",
        )?;
        if let Schedule::Exponential { .. } = self.schedule {
            ConfigError::ensure(
                self.factor.is_finite() && self.factor >= 1.0,
                "backoff.factor",
                self.factor,
                "finite and at least 1",
            )?;
        }
        if let Some(max) = self.max_delay {
            ConfigError::ensure(
                max >= self.initial,
                "backoff.max_delay",
                format_args!("{max:?}"),
                format_args!("at least the initial delay ({:?})", self.initial).to_string(),
            )?;
        }
        if let Some(n) = self.max_retries {
            ConfigError::ensure(n >= 1, "backoff.max_retries", n, "at least 1")?;
        }
        if let Some(total) = self.max_total_delay {
            ConfigError::ensure(
                !total.is_zero(),
                "backoff.max_total_delay",
                format_args!("{total:?}"),
                "greater than zero",
            )?;
        }
        let schedule = match self.schedule {
            Schedule::Linear { .. } => Schedule::Linear {
                step: nanos(self.step),
            },
            Schedule::Exponential { .. } => Schedule::Exponential {
                factor: self.factor,
            },
            other => other,
        };
        let seed = self.seed.unwrap_or_else(fresh_seed);
        let initial = nanos(self.initial);
        let mut backoff = Backoff {
            schedule,
            jitter: self.jitter,
            initial,
            cap: self.max_delay.map_or(u64::MAX, nanos),
            max_retries: self.max_retries.map_or(u64::MAX, u64::from),
            max_total: self.max_total_delay.map_or(u64::MAX, nanos),
            seed,
            current: 0,
            current_duration: Duration::ZERO,
            next_fib: 0,
            previous: 0,
            polly_previous: 0.0,
            retries: 0,
            total: 0,
            exhausted: false,
            rng: SmallRng::seed_from_u64(seed),
        };
        backoff.reset();
        Ok(backoff)
    }
}

/// A seed for the `n`th user of `seed` (a call, a wait): splitmix64's
/// finaliser, so nearby `n` get unrelated seeds.
pub(crate) fn mix_seed(seed: u64, n: u64) -> u64 {
    let mut z = seed ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A seed from the process's hash randomness: distinct per call, no global RNG.
fn fresh_seed() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(0x5eed);
    hasher.finish()
}

/// An iterator of delays to wait before successive retries.
///
/// Built by [`Backoff::constant`], [`Backoff::linear`],
/// [`Backoff::exponential`] or [`Backoff::fibonacci`] and then
/// [`BackoffBuilder::build`]. Cloning copies the generator state, so a clone
/// yields the same delays; [`reseeded`](Backoff::reseeded) gives an
/// independent sequence. No allocation, ever.
///
/// ```
/// use std::time::Duration;
/// use steadfast_guard::backoff::Backoff;
///
/// let mut fib = Backoff::fibonacci(Duration::from_secs(1)).max_retries(5).build()?;
/// let secs: Vec<u64> = fib.by_ref().map(|d| d.as_secs()).collect();
/// assert_eq!(secs, [1, 1, 2, 3, 5]);
/// assert_eq!(fib.next(), None);
/// fib.reset();
/// assert_eq!(fib.next(), Some(Duration::from_secs(1)));
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Backoff {
    schedule: Schedule,
    jitter: Jitter,
    initial: u64,
    cap: u64,
    max_retries: u64,
    max_total: u64,
    seed: u64,
    current: u64,
    /// `current` as a `Duration`, so the unjittered path converts nothing.
    current_duration: Duration,
    next_fib: u64,
    previous: u64,
    polly_previous: f64,
    retries: u64,
    total: u64,
    exhausted: bool,
    rng: SmallRng,
}

impl Backoff {
    /// The same delay every time.
    pub fn constant(delay: Duration) -> BackoffBuilder {
        BackoffBuilder::new(Schedule::Constant, delay)
    }

    /// `initial`, `initial + step`, `initial + 2 * step`, ...
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use steadfast_guard::backoff::Backoff;
    /// let b = Backoff::linear(Duration::from_secs(1), Duration::from_secs(2)).max_retries(3).build()?;
    /// assert_eq!(b.map(|d| d.as_secs()).collect::<Vec<_>>(), [1, 3, 5]);
    /// # Ok::<(), steadfast_core::ConfigError>(())
    /// ```
    pub fn linear(initial: Duration, step: Duration) -> BackoffBuilder {
        let mut builder = BackoffBuilder::new(Schedule::Linear { step: 0 }, initial);
        builder.step = step;
        builder
    }

    /// `initial`, `initial * factor`, `initial * factor^2`, ... (factor 2 unless set).
    pub fn exponential(initial: Duration) -> BackoffBuilder {
        BackoffBuilder::new(Schedule::Exponential { factor: 2.0 }, initial)
    }

    /// `initial` times the Fibonacci numbers: 1, 1, 2, 3, 5, 8, ...
    pub fn fibonacci(initial: Duration) -> BackoffBuilder {
        BackoffBuilder::new(Schedule::Fibonacci, initial)
    }

    /// Starts over from the first delay, with the generator reseeded from the
    /// same seed: the sequence repeats exactly.
    pub fn reset(&mut self) {
        self.current = self.initial.min(self.cap);
        self.current_duration = Duration::from_nanos(self.current);
        self.next_fib = self.current;
        self.previous = self.initial;
        self.polly_previous = 0.0;
        self.retries = 0;
        self.total = 0;
        self.exhausted = false;
        self.rng = SmallRng::seed_from_u64(self.seed);
    }

    /// A copy started over with another seed: same settings, an independent
    /// jitter sequence.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use steadfast_guard::backoff::{Backoff, Jitter};
    /// let b = Backoff::constant(Duration::from_secs(1)).jitter(Jitter::Full).seed(1).max_retries(8).build()?;
    /// let again: Vec<_> = b.reseeded(1).collect();
    /// assert_eq!(again, b.clone().collect::<Vec<_>>());
    /// assert_ne!(b.reseeded(2).collect::<Vec<_>>(), again);
    /// # Ok::<(), steadfast_core::ConfigError>(())
    /// ```
    #[must_use]
    pub fn reseeded(&self, seed: u64) -> Backoff {
        let mut copy = self.clone();
        copy.seed = seed;
        copy.reset();
        copy
    }

    /// The seed of the generator.
    #[must_use]
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The cap on every delay.
    #[must_use]
    pub fn max_delay(&self) -> Duration {
        Duration::from_nanos(self.cap)
    }

    /// How many delays have been yielded since the start or the last reset.
    #[must_use]
    pub fn retries(&self) -> u64 {
        self.retries
    }

    /// The sum of the delays yielded since the start or the last reset.
    #[must_use]
    pub fn total_delay(&self) -> Duration {
        Duration::from_nanos(self.total)
    }

    /// Clamps `delay` to the cap: how a delay dictated from outside (a
    /// `Retry-After`) is bounded.
    #[must_use]
    pub fn cap(&self, delay: Duration) -> Duration {
        Duration::from_nanos(nanos(delay).min(self.cap))
    }

    /// Uniform in `[lo, hi]` (`lo <= hi`), by the multiply-high method.
    fn uniform(&mut self, lo: u64, hi: u64) -> u64 {
        let span = u128::from(hi - lo) + 1;
        let draw = (u128::from(self.rng.next_u64()) * span) >> 64;
        // draw < span, so it fits in u64 and lo + draw <= hi.
        lo + draw as u64
    }

    fn unit(&mut self) -> f64 {
        (self.rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    #[inline]
    fn jittered(&mut self, schedule: u64) -> u64 {
        match self.jitter {
            Jitter::None => schedule,
            Jitter::Full => self.uniform(0, schedule),
            Jitter::Equal => {
                let half = schedule / 2;
                half + self.uniform(0, schedule - half)
            }
            Jitter::Decorrelated => {
                let hi = self.previous.saturating_mul(3).max(self.initial);
                let delay = self.uniform(self.initial, hi).min(self.cap);
                self.previous = delay;
                delay
            }
            Jitter::DecorrelatedV2 => {
                const P_FACTOR: f64 = 4.0;
                const SCALING: f64 = 1.0 / 1.4;
                let t = self.retries as f64 + self.unit();
                let next = t.exp2() * (P_FACTOR * t).sqrt().tanh();
                let delay = (next - self.polly_previous) * SCALING * self.initial as f64;
                self.polly_previous = next;
                if delay.is_finite() {
                    // `as` saturates: negative -> 0, huge -> u64::MAX.
                    delay as u64
                } else {
                    self.cap
                }
            }
        }
    }

    #[inline]
    fn advance_schedule(&mut self) {
        if self.current >= self.cap || self.schedule == Schedule::Constant {
            // Saturated or constant: the schedule stays put (at the cap,
            // Fibonacci's next term is the cap too).
            return;
        }
        self.current = match self.schedule {
            Schedule::Constant => self.current,
            Schedule::Linear { step } => self.current.saturating_add(step),
            Schedule::Exponential { factor } => (self.current as f64 * factor) as u64,
            Schedule::Fibonacci => {
                let after = self.current.saturating_add(self.next_fib);
                self.current = self.next_fib;
                self.next_fib = after.min(self.cap);
                self.current
            }
        }
        .min(self.cap);
        self.current_duration = Duration::from_nanos(self.current);
    }
}

impl Iterator for Backoff {
    type Item = Duration;

    #[inline]
    fn next(&mut self) -> Option<Duration> {
        if self.exhausted || self.retries >= self.max_retries {
            return None;
        }
        if self.jitter == Jitter::None {
            // The schedule is already capped: hand out the cached duration.
            let total = self.total.saturating_add(self.current);
            if total > self.max_total {
                self.exhausted = true;
                return None;
            }
            self.total = total;
            self.retries += 1;
            let delay = self.current_duration;
            self.advance_schedule();
            return Some(delay);
        }
        let delay = self.jittered(self.current).min(self.cap);
        let total = self.total.saturating_add(delay);
        if total > self.max_total {
            self.exhausted = true;
            return None;
        }
        self.total = total;
        self.retries += 1;
        self.advance_schedule();
        Some(Duration::from_nanos(delay))
    }
}

impl FusedIterator for Backoff {}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(b: Backoff) -> Vec<u64> {
        b.map(|d| u64::try_from(d.as_millis()).unwrap()).collect()
    }

    #[test]
    fn schedules() {
        let c = Backoff::constant(Duration::from_millis(5)).max_retries(3);
        assert_eq!(ms(c.build().unwrap()), [5, 5, 5]);
        let e = Backoff::exponential(Duration::from_millis(1))
            .factor(3.0)
            .max_retries(4);
        assert_eq!(ms(e.build().unwrap()), [1, 3, 9, 27]);
        let f = Backoff::fibonacci(Duration::from_millis(1))
            .max_delay(Duration::from_millis(6))
            .max_retries(7);
        assert_eq!(ms(f.build().unwrap()), [1, 1, 2, 3, 5, 6, 6]);
    }

    #[test]
    fn total_delay_limit_stops_before_exceeding() {
        let b = Backoff::constant(Duration::from_millis(40))
            .max_total_delay(Duration::from_millis(100))
            .build()
            .unwrap();
        assert_eq!(ms(b), [40, 40]);
    }

    #[test]
    fn huge_values_saturate() {
        let mut b = Backoff::exponential(Duration::MAX)
            .factor(1e300)
            .max_retries(3)
            .build()
            .unwrap();
        assert_eq!(b.next(), Some(Duration::from_nanos(u64::MAX)));
        assert_eq!(b.next(), Some(Duration::from_nanos(u64::MAX)));
        let mut fib = Backoff::fibonacci(Duration::from_secs(u64::MAX / 4))
            .max_retries(90)
            .build()
            .unwrap();
        assert!(fib.by_ref().all(|d| d <= Duration::from_nanos(u64::MAX)));
    }

    #[test]
    fn every_jitter_respects_the_cap() {
        for jitter in [
            Jitter::None,
            Jitter::Full,
            Jitter::Equal,
            Jitter::Decorrelated,
            Jitter::DecorrelatedV2,
        ] {
            let b = Backoff::exponential(Duration::from_millis(100))
                .max_delay(Duration::from_millis(350))
                .jitter(jitter)
                .seed(3)
                .max_retries(200)
                .build()
                .unwrap();
            let all: Vec<_> = b.collect();
            assert_eq!(all.len(), 200);
            assert!(
                all.iter().all(|d| *d <= Duration::from_millis(350)),
                "{jitter:?}"
            );
        }
    }

    #[test]
    fn decorrelated_v2_median_first_delay_near_initial() {
        let mut firsts: Vec<u64> = (0..401)
            .map(|seed| {
                let mut b = Backoff::exponential(Duration::from_secs(1))
                    .jitter(Jitter::DecorrelatedV2)
                    .seed(seed)
                    .build()
                    .unwrap();
                nanos(b.next().unwrap())
            })
            .collect();
        firsts.sort_unstable();
        let median = firsts[200] as f64 / 1e9;
        assert!((0.6..1.4).contains(&median), "median {median}");
    }

    #[test]
    fn seeds_reproduce() {
        let build = |seed| {
            Backoff::exponential(Duration::from_millis(10))
                .jitter(Jitter::Decorrelated)
                .seed(seed)
                .max_retries(10)
                .build()
                .unwrap()
        };
        assert_eq!(ms(build(9)), ms(build(9)));
        assert_ne!(build(9).collect::<Vec<_>>(), build(10).collect::<Vec<_>>());
    }

    #[test]
    fn config_errors() {
        let zero = Backoff::constant(Duration::ZERO).build().unwrap_err();
        assert_eq!(zero.field(), "backoff.initial");
        let nan = Backoff::exponential(Duration::from_secs(1))
            .factor(f64::NAN)
            .build()
            .unwrap_err();
        assert_eq!(nan.field(), "backoff.factor");
        let inf = Backoff::exponential(Duration::from_secs(1))
            .factor(f64::INFINITY)
            .build()
            .unwrap_err();
        assert_eq!(inf.field(), "backoff.factor");
        let inverted = Backoff::constant(Duration::from_secs(2))
            .max_delay(Duration::from_secs(1))
            .build()
            .unwrap_err();
        assert_eq!(
            inverted.to_string(),
            "backoff.max_delay must be at least the initial delay (2s), got 1s"
        );
        let retries = Backoff::constant(Duration::from_secs(1))
            .max_retries(0)
            .build()
            .unwrap_err();
        assert_eq!(retries.field(), "backoff.max_retries");
        let total = Backoff::constant(Duration::from_secs(1))
            .max_total_delay(Duration::ZERO)
            .build()
            .unwrap_err();
        assert_eq!(total.field(), "backoff.max_total_delay");
    }
}
