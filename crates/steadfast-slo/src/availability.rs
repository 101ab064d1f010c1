//! Availability arithmetic: series, parallel, k-of-n, MTBF/MTTR, dependency budgets.
//!
//! Every figure is kept as **unavailability** (`1 - availability`), because
//! 0.99999 and 0.999999 differ only in the sixth decimal of the availability
//! but by a factor of ten in the unavailability. Series composition uses
//! `ln_1p`/`exp_m1` so that composing many high-nines parts keeps its digits.

use core::fmt;
use core::time::Duration;

use steadfast_core::ConfigError;

/// An availability, stored as its unavailability for precision.
///
/// ```
/// use steadfast_slo::Availability;
///
/// let a = Availability::from_availability(0.999)?;
/// let b = Availability::from_availability(0.999)?;
/// // Two 99.9% parts in series: 99.8001%.
/// let s = Availability::series(&[a, b]);
/// assert!((s.availability() - 0.998001).abs() < 1e-12);
/// // In parallel (either suffices): six nines.
/// let p = Availability::parallel(&[a, b]);
/// assert!((p.unavailability() - 1e-6).abs() < 1e-18);
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Availability {
    unavailability: f64,
}

impl Availability {
    /// Always up.
    pub const PERFECT: Availability = Availability {
        unavailability: 0.0,
    };

    /// From an availability in [0, 1].
    ///
    /// # Errors
    ///
    /// `a` must be in [0, 1] (NaN is rejected).
    pub fn from_availability(a: f64) -> Result<Availability, ConfigError> {
        ConfigError::ensure((0.0..=1.0).contains(&a), "availability", a, "in [0, 1]")?;
        Ok(Availability {
            unavailability: 1.0 - a,
        })
    }

    /// From an unavailability in [0, 1]: `from_unavailability(1e-5)` is five nines, exactly.
    ///
    /// # Errors
    ///
    /// `u` must be in [0, 1].
    pub fn from_unavailability(u: f64) -> Result<Availability, ConfigError> {
        ConfigError::ensure((0.0..=1.0).contains(&u), "unavailability", u, "in [0, 1]")?;
        Ok(Availability { unavailability: u })
    }

    /// From mean time between failures and mean time to repair: `MTTR / (MTBF + MTTR)` down.
    ///
    /// # Errors
    ///
    /// The sum must be positive.
    ///
    /// ```
    /// use std::time::Duration;
    /// use steadfast_slo::Availability;
    /// let h = Duration::from_secs(3600);
    /// let a = Availability::from_mtbf_mttr(h * 999, h)?;
    /// assert!((a.availability() - 0.999).abs() < 1e-12);
    /// # Ok::<(), steadfast_core::ConfigError>(())
    /// ```
    pub fn from_mtbf_mttr(mtbf: Duration, mttr: Duration) -> Result<Availability, ConfigError> {
        let sum = mtbf.as_secs_f64() + mttr.as_secs_f64();
        ConfigError::ensure(
            sum > 0.0,
            "availability.mtbf_plus_mttr",
            format!("{sum}s"),
            "positive",
        )?;
        Ok(Availability {
            unavailability: mttr.as_secs_f64() / sum,
        })
    }

    /// The availability, `1 - unavailability`.
    #[must_use]
    pub fn availability(self) -> f64 {
        1.0 - self.unavailability
    }

    /// The unavailability.
    #[must_use]
    pub fn unavailability(self) -> f64 {
        self.unavailability
    }

    /// `-log10(unavailability)`: infinite for a perfect part.
    #[must_use]
    pub fn nines(self) -> f64 {
        -self.unavailability.log10()
    }

    /// All parts needed: availability is the product.
    #[must_use]
    pub fn series(parts: &[Availability]) -> Availability {
        // ln(A) = sum ln(1 - u_i); U = 1 - exp(ln A) = -expm1(ln A).
        let ln_a: f64 = parts.iter().map(|p| (-p.unavailability).ln_1p()).sum();
        Availability {
            unavailability: (-ln_a.exp_m1()).clamp(0.0, 1.0),
        }
    }

    /// Any one part suffices: unavailability is the product.
    #[must_use]
    pub fn parallel(parts: &[Availability]) -> Availability {
        let u = parts.iter().map(|p| p.unavailability).product::<f64>();
        Availability {
            unavailability: if parts.is_empty() { 1.0 } else { u },
        }
    }

    /// At least `k` of `n` identical parts needed.
    ///
    /// `k = 0` is always up; `k > n` is always down.
    ///
    /// ```
    /// use steadfast_slo::Availability;
    /// let part = Availability::from_availability(0.99)?;
    /// // 2 of 3: down when 2 or 3 fail: 3 * 0.01^2 * 0.99 + 0.01^3.
    /// let q = Availability::k_of_n(2, 3, part);
    /// assert!((q.unavailability() - (3.0 * 1e-4 * 0.99 + 1e-6)).abs() < 1e-15);
    /// # Ok::<(), steadfast_core::ConfigError>(())
    /// ```
    #[must_use]
    pub fn k_of_n(k: usize, n: usize, part: Availability) -> Availability {
        Availability::k_of(k, &vec![part; n])
    }

    /// At least `k` of the given (possibly different) parts needed.
    #[must_use]
    pub fn k_of(k: usize, parts: &[Availability]) -> Availability {
        if k == 0 {
            return Availability::PERFECT;
        }
        if k > parts.len() {
            return Availability {
                unavailability: 1.0,
            };
        }
        // down[j]: probability that exactly j parts are down among those seen.
        // The system is down when more than n - k are down; sum those small terms
        // directly instead of subtracting from 1.
        let n = parts.len();
        let max_down = n - k;
        let mut down = vec![0.0f64; n + 1];
        down[0] = 1.0;
        for (i, p) in parts.iter().enumerate() {
            let u = p.unavailability;
            let a = 1.0 - u;
            for j in (0..=i + 1).rev() {
                let stay = down[j] * a;
                let fail = if j > 0 { down[j - 1] * u } else { 0.0 };
                down[j] = stay + fail;
            }
        }
        let u: f64 = down[max_down + 1..].iter().sum();
        Availability {
            unavailability: u.clamp(0.0, 1.0),
        }
    }

    /// The availability each of `dependencies` equal hard dependencies may have
    /// so that, in series with `own`, the whole still meets `target`.
    /// `None` when `own` alone already misses the target.
    ///
    /// ```
    /// use steadfast_slo::Availability;
    /// let target = Availability::from_availability(0.999)?;
    /// let own = Availability::from_availability(0.9995)?;
    /// let dep = Availability::dependency_budget(target, own, 5).unwrap();
    /// // About a tenth of the remaining 0.05% each.
    /// assert!((dep.unavailability() - 0.0001).abs() < 1e-6);
    /// let whole = Availability::series(&[own, dep, dep, dep, dep, dep]);
    /// assert!((whole.availability() - 0.999).abs() < 1e-12);
    /// # Ok::<(), steadfast_core::ConfigError>(())
    /// ```
    #[must_use]
    pub fn dependency_budget(
        target: Availability,
        own: Availability,
        dependencies: usize,
    ) -> Option<Availability> {
        if own.unavailability > target.unavailability || target.unavailability >= 1.0 {
            return None;
        }
        if dependencies == 0 {
            return Some(Availability::PERFECT);
        }
        let ln_ratio = (-target.unavailability).ln_1p() - (-own.unavailability).ln_1p();
        let per = ln_ratio / dependencies as f64;
        Some(Availability {
            unavailability: (-per.exp_m1()).clamp(0.0, 1.0),
        })
    }

    /// Downtime expected over `period`.
    #[must_use]
    pub fn downtime(self, period: Duration) -> Duration {
        Duration::from_secs_f64(period.as_secs_f64() * self.unavailability)
    }
}

impl fmt::Display for Availability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.6}%", self.availability() * 100.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn high_nines_keep_precision_in_series() {
        let parts = vec![Availability::from_unavailability(1e-9).unwrap(); 1000];
        let s = Availability::series(&parts);
        assert!(
            (s.unavailability() / 1e-6 - 1.0).abs() < 1e-6,
            "{}",
            s.unavailability()
        );
    }

    #[test]
    fn k_of_n_edges() {
        let p = Availability::from_availability(0.9).unwrap();
        assert_eq!(Availability::k_of_n(0, 3, p), Availability::PERFECT);
        assert_eq!(Availability::k_of_n(4, 3, p).unavailability(), 1.0);
        let one_of = Availability::k_of_n(1, 3, p);
        assert!(
            (one_of.unavailability() - Availability::parallel(&[p, p, p]).unavailability()).abs()
                < 1e-15
        );
        let all_of = Availability::k_of_n(3, 3, p);
        assert!(
            (all_of.unavailability() - Availability::series(&[p, p, p]).unavailability()).abs()
                < 1e-12
        );
        assert!(Availability::from_availability(f64::NAN).is_err());
        assert!(Availability::from_mtbf_mttr(Duration::ZERO, Duration::ZERO).is_err());
    }
}
