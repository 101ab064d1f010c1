//! Seeded request counts: Poisson arrivals per step and binomial failures.
//!
//! Exact samplers for small means, normal approximations (with continuity
//! correction) for large ones: what matters here is a realistic spread that a
//! seed reproduces, not the last digit of a tail probability.

use rand::Rng;

/// Below this mean, Poisson counts are drawn exactly (Knuth's product of uniforms).
const EXACT_POISSON_MEAN: f64 = 30.0;

fn standard_normal(rng: &mut impl Rng) -> f64 {
    // Box–Muller; 1 - u keeps the logarithm finite.
    let u: f64 = rng.random();
    let v: f64 = rng.random();
    (-2.0 * (1.0 - u).ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

/// A Poisson count with this mean (0 for a non-positive or NaN mean).
pub(crate) fn poisson(rng: &mut impl Rng, mean: f64) -> u64 {
    if mean.is_nan() || mean <= 0.0 {
        return 0;
    }
    if mean < EXACT_POISSON_MEAN {
        let limit = (-mean).exp();
        let mut product: f64 = rng.random();
        let mut k = 0;
        while product > limit {
            product *= rng.random::<f64>();
            k += 1;
        }
        return k;
    }
    let x = mean + mean.sqrt() * standard_normal(rng) + 0.5;
    // `as` saturates: a huge mean gives u64::MAX, never a wrap.
    x.max(0.0) as u64
}

/// How many of `n` trials fail, each with probability `p` (clamped to [0, 1]).
pub(crate) fn binomial(rng: &mut impl Rng, n: u64, p: f64) -> u64 {
    if n == 0 || p.is_nan() || p <= 0.0 {
        return 0;
    }
    if p >= 1.0 {
        return n;
    }
    let nf = n as f64;
    if n <= 64 {
        return (0..n).filter(|_| rng.random::<f64>() < p).count() as u64;
    }
    // Rare failures: Poisson; rare successes: its mirror; otherwise normal.
    if nf * p < EXACT_POISSON_MEAN {
        return poisson(rng, nf * p).min(n);
    }
    if nf * (1.0 - p) < EXACT_POISSON_MEAN {
        return n - poisson(rng, nf * (1.0 - p)).min(n);
    }
    let x = nf * p + (nf * p * (1.0 - p)).sqrt() * standard_normal(rng) + 0.5;
    (x.max(0.0) as u64).min(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    fn mean_of(samples: impl Iterator<Item = u64>, n: usize) -> f64 {
        samples.take(n).map(|x| x as f64).sum::<f64>() / n as f64
    }

    #[test]
    fn poisson_means_match() {
        let mut rng = SmallRng::seed_from_u64(1);
        for mean in [0.5, 5.0, 29.0, 1000.0] {
            let m = mean_of(std::iter::repeat_with(|| poisson(&mut rng, mean)), 20_000);
            assert!((m - mean).abs() < 0.05 * mean + 0.05, "{mean}: {m}");
        }
        assert_eq!(poisson(&mut rng, 0.0), 0);
        assert_eq!(poisson(&mut rng, f64::NAN), 0);
        assert_eq!(poisson(&mut rng, -3.0), 0);
        assert_eq!(poisson(&mut rng, f64::INFINITY), u64::MAX);
    }

    #[test]
    fn binomial_means_match_and_stay_in_range() {
        let mut rng = SmallRng::seed_from_u64(2);
        for (n, p) in [(10, 0.3), (1000, 0.001), (1000, 0.5), (1000, 0.999)] {
            let expected = n as f64 * p;
            let m = mean_of(std::iter::repeat_with(|| binomial(&mut rng, n, p)), 20_000);
            assert!(
                (m - expected).abs() < 0.05 * expected + 0.05,
                "{n} {p}: {m}"
            );
        }
        for _ in 0..1000 {
            assert!(binomial(&mut rng, 100, 0.99) <= 100);
        }
        assert_eq!(binomial(&mut rng, 100, 1.5), 100);
        assert_eq!(binomial(&mut rng, 100, f64::NAN), 0);
        assert_eq!(binomial(&mut rng, 0, 0.5), 0);
    }
}
