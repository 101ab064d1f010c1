//! Many seeds in parallel, and summaries with confidence intervals.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Runs `run(seed)` for every seed, spread over `threads` OS threads, and
/// returns the results in the order of `seeds`.
///
/// Each run is independent and deterministic in its seed, so the results do
/// not depend on the number of threads or on scheduling.
///
/// # Panics
///
/// Propagates a panic from `run`.
///
/// # Examples
///
/// ```
/// use steadfast_sim::run_seeds;
///
/// let squares = run_seeds(&[1, 2, 3, 4], 2, |seed| seed * seed);
/// assert_eq!(squares, vec![1, 4, 9, 16]);
/// ```
pub fn run_seeds<R: Send>(seeds: &[u64], threads: usize, run: impl Fn(u64) -> R + Sync) -> Vec<R> {
    run_seeds_with_progress(seeds, threads, run, |_| {})
}

/// Like [`run_seeds`], calling `progress(done)` after each run with the
/// number of runs finished so far (each count from 1 to `seeds.len()` once,
/// from whichever thread finished it), for a progress bar.
///
/// # Panics
///
/// Propagates a panic from `run` or `progress`.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use steadfast_sim::run_seeds_with_progress;
///
/// let calls = AtomicUsize::new(0);
/// let r = run_seeds_with_progress(&[1, 2, 3], 2, |s| s + 1, |_| {
///     calls.fetch_add(1, Ordering::Relaxed);
/// });
/// assert_eq!(r, vec![2, 3, 4]);
/// assert_eq!(calls.load(Ordering::Relaxed), 3);
/// ```
pub fn run_seeds_with_progress<R: Send>(
    seeds: &[u64],
    threads: usize,
    run: impl Fn(u64) -> R + Sync,
    progress: impl Fn(usize) + Sync,
) -> Vec<R> {
    let threads = threads.clamp(1, seeds.len().max(1));
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..seeds.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&seed) = seeds.get(i) else { break };
                    let result = run(seed);
                    results
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)[i] = Some(result);
                    progress(done.fetch_add(1, Ordering::Relaxed) + 1);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .into_iter()
        .map(|r| r.expect("every seed ran"))
        .collect()
}

/// How many threads to use by default: the machine's available parallelism.
///
/// ```
/// assert!(steadfast_sim::default_threads() >= 1);
/// ```
#[must_use]
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// Mean, spread and a 95% confidence interval of a sample of measurements.
///
/// The interval is the Student-t interval of the mean (exact t quantiles up
/// to 30 degrees of freedom, the normal 1.96 beyond).
///
/// # Examples
///
/// ```
/// use steadfast_sim::Summary;
///
/// let s = Summary::of(&[1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
/// assert_eq!(s.mean, 3.0);
/// assert_eq!(s.median, 3.0);
/// assert!(s.ci95.0 < 3.0 && s.ci95.1 > 3.0);
/// assert!(Summary::of(&[]).is_none());
/// assert!(Summary::of(&[f64::NAN]).is_none());
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct Summary {
    /// Number of measurements.
    pub n: usize,
    /// Arithmetic mean.
    pub mean: f64,
    /// Sample standard deviation (zero for one measurement).
    pub std_dev: f64,
    /// Median.
    pub median: f64,
    /// Smallest measurement.
    pub min: f64,
    /// Largest measurement.
    pub max: f64,
    /// 95% confidence interval of the mean (low, high); a point for n = 1.
    pub ci95: (f64, f64),
}

/// Two-sided 97.5% quantiles of Student's t for 1..=30 degrees of freedom.
const T975: [f64; 30] = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
    2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
    2.052, 2.048, 2.045, 2.042,
];

impl Summary {
    /// Summarises `values`; `None` if it is empty or holds a NaN or an infinity.
    #[must_use]
    pub fn of(values: &[f64]) -> Option<Summary> {
        if values.is_empty() || values.iter().any(|v| !v.is_finite()) {
            return None;
        }
        let n = values.len();
        let mean = values.iter().sum::<f64>() / n as f64;
        let var = if n > 1 {
            values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64
        } else {
            0.0
        };
        let std_dev = var.sqrt();
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let median = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
        };
        let t = if n > 1 {
            T975.get(n - 2).copied().unwrap_or(1.96)
        } else {
            0.0
        };
        let half = t * std_dev / (n as f64).sqrt();
        Some(Summary {
            n,
            mean,
            std_dev,
            median,
            min: sorted[0],
            max: sorted[n - 1],
            ci95: (mean - half, mean + half),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_do_not_depend_on_threads() {
        let seeds: Vec<u64> = (0..37).collect();
        let f = |s: u64| s.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(7);
        assert_eq!(run_seeds(&seeds, 1, f), run_seeds(&seeds, 4, f));
        assert!(run_seeds(&[], 3, f).is_empty());
        assert_eq!(run_seeds(&[5], 0, f), vec![f(5)]);
    }

    #[test]
    fn progress_counts_every_run_once() {
        let seen = Mutex::new(Vec::new());
        let seeds: Vec<u64> = (0..20).collect();
        let _ = run_seeds_with_progress(&seeds, 3, |s| s, |n| seen.lock().unwrap().push(n));
        let mut seen = seen.into_inner().unwrap();
        seen.sort_unstable();
        assert_eq!(seen, (1..=20).collect::<Vec<_>>());
    }

    #[test]
    fn confidence_interval_matches_a_hand_computation() {
        // n = 4, mean 2.5, s = 1.290994, t(3) = 3.182: half-width 2.053972.
        let s = Summary::of(&[1.0, 2.0, 3.0, 4.0]).unwrap();
        assert!((s.std_dev - 1.290_994).abs() < 1e-6);
        assert!((s.ci95.0 - (2.5 - 2.053_972)).abs() < 1e-5);
        assert_eq!(s.median, 2.5);
        let one = Summary::of(&[7.0]).unwrap();
        assert_eq!(one.ci95, (7.0, 7.0));
        assert!(Summary::of(&[1.0, f64::INFINITY]).is_none());
    }
}
