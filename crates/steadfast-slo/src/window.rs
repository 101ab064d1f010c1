//! Rolling windows of good and total counts: a ring of time buckets with running sums.
//!
//! A window of `n` buckets of width `w` covers the bucket holding "now" and the
//! `n - 1` before it, so it spans between `(n - 1) * w` and `n * w` of history.
//! Recording and reading are O(1): the running sums are updated as buckets are
//! filled and as old buckets fall out of the ring. Jumping ahead by more than
//! the window clears the ring once, so the cost stays amortized O(1) per
//! bucket of elapsed time.
//!
//! Time comes from the caller. Events stamped before the newest bucket but
//! still inside the window land in their own bucket; events older than the
//! window are dropped and reported as such.

use core::time::Duration;

use steadfast_core::{ConfigError, Timestamp};

/// Good and total event counts.
///
/// ```
/// use steadfast_slo::Counts;
/// let c = Counts { good: 990, total: 1000 };
/// assert_eq!(c.bad(), 10);
/// assert_eq!(c.error_ratio(), Some(0.01));
/// assert_eq!(Counts::default().error_ratio(), None);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Events that met the objective.
    pub good: u64,
    /// All events.
    pub total: u64,
}

impl Counts {
    /// Events that did not meet the objective.
    #[must_use]
    pub fn bad(self) -> u64 {
        self.total.saturating_sub(self.good)
    }

    /// `bad / total`, or `None` without traffic.
    #[must_use]
    pub fn error_ratio(self) -> Option<f64> {
        (self.total > 0).then(|| self.bad() as f64 / self.total as f64)
    }

    /// `good / total`, or `None` without traffic.
    #[must_use]
    pub fn good_ratio(self) -> Option<f64> {
        (self.total > 0).then(|| self.good.min(self.total) as f64 / self.total as f64)
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    epoch: u64,
    good: u64,
    total: u64,
}

/// Whether a recorded event was counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
#[must_use]
pub enum Recorded {
    /// Counted in the window.
    Counted,
    /// Older than the window: dropped.
    TooOld,
}

/// A rolling window of good and total counts in a ring of time buckets.
///
/// ```
/// use std::time::Duration;
/// use steadfast_core::Timestamp;
/// use steadfast_slo::RollingCounts;
///
/// // One hour in 60 one-minute buckets.
/// let mut w = RollingCounts::new(Duration::from_secs(60), 60)?;
/// let _ = w.record(Timestamp::from_secs(0), 99, 100);
/// let _ = w.record(Timestamp::from_secs(1800), 50, 50);
/// assert_eq!(w.counts_at(Timestamp::from_secs(1800)).total, 150);
/// // An hour later the first minute has left the window.
/// assert_eq!(w.counts_at(Timestamp::from_secs(3600)).total, 50);
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct RollingCounts {
    bucket_nanos: u64,
    ring: Box<[Bucket]>,
    head: u64,
    // The newest bucket's span in nanoseconds and its slot: recording inside it skips the division.
    head_start: u64,
    head_end: u64,
    head_slot: usize,
    started: bool,
    good: u64,
    total: u64,
}

impl RollingCounts {
    /// A window of `buckets` buckets, each `bucket` wide.
    ///
    /// # Errors
    ///
    /// `bucket` must be at least one nanosecond and `buckets` at least 1 and
    /// at most 1 << 20.
    pub fn new(bucket: Duration, buckets: usize) -> Result<RollingCounts, ConfigError> {
        let bucket_nanos = u64::try_from(bucket.as_nanos()).unwrap_or(u64::MAX);
        ConfigError::ensure(
            bucket_nanos >= 1,
            "window.bucket",
            format!("{bucket:?}"),
            "at least 1ns",
        )?;
        ConfigError::ensure(
            (1..=1 << 20).contains(&buckets),
            "window.buckets",
            buckets,
            "in [1, 1048576]",
        )?;
        Ok(RollingCounts {
            bucket_nanos,
            ring: vec![Bucket::default(); buckets].into_boxed_slice(),
            head: 0,
            head_start: 0,
            head_end: 0,
            head_slot: 0,
            started: false,
            good: 0,
            total: 0,
        })
    }

    /// A window of `window` split into `buckets` buckets (the width is rounded down to whole nanoseconds).
    ///
    /// # Errors
    ///
    /// As [`RollingCounts::new`], and `window` must hold at least one nanosecond per bucket.
    pub fn spanning(window: Duration, buckets: usize) -> Result<RollingCounts, ConfigError> {
        ConfigError::ensure(buckets >= 1, "window.buckets", buckets, "at least 1")?;
        let nanos = window.as_nanos() / buckets as u128;
        ConfigError::ensure(
            nanos >= 1,
            "window.length",
            format!("{window:?}"),
            "at least one nanosecond per bucket",
        )?;
        RollingCounts::new(
            Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX)),
            buckets,
        )
    }

    /// The width of one bucket.
    #[must_use]
    pub fn bucket(&self) -> Duration {
        Duration::from_nanos(self.bucket_nanos)
    }

    /// The number of buckets.
    #[must_use]
    pub fn buckets(&self) -> usize {
        self.ring.len()
    }

    /// The full span of the ring: bucket width times bucket count.
    #[must_use]
    pub fn span(&self) -> Duration {
        self.bucket()
            .saturating_mul(u32::try_from(self.ring.len()).unwrap_or(u32::MAX))
    }

    fn epoch_of(&self, at: Timestamp) -> u64 {
        at.as_nanos() / self.bucket_nanos
    }

    /// Moves the window so that the bucket holding `at` is the newest one.
    /// Time going backwards leaves the window where it is.
    pub fn advance_to(&mut self, at: Timestamp) {
        if self.started && at.as_nanos() < self.head_end {
            return;
        }
        let epoch = self.epoch_of(at);
        if !self.started {
            self.started = true;
            self.set_head(epoch);
            let slot = self.head_slot;
            self.ring[slot] = Bucket {
                epoch,
                good: 0,
                total: 0,
            };
            return;
        }
        if epoch <= self.head {
            return;
        }
        let n = self.ring.len() as u64;
        if epoch - self.head >= n {
            self.ring.fill(Bucket::default());
            self.good = 0;
            self.total = 0;
            let slot = self.slot(epoch);
            self.ring[slot].epoch = epoch;
        } else {
            for e in self.head + 1..=epoch {
                let slot = self.slot(e);
                let old = self.ring[slot];
                self.good -= old.good;
                self.total -= old.total;
                self.ring[slot] = Bucket {
                    epoch: e,
                    good: 0,
                    total: 0,
                };
            }
        }
        self.set_head(epoch);
    }

    fn set_head(&mut self, epoch: u64) {
        self.head = epoch;
        self.head_start = epoch.saturating_mul(self.bucket_nanos);
        self.head_end = self.head_start.saturating_add(self.bucket_nanos);
        self.head_slot = self.slot(epoch);
    }

    fn add(&mut self, slot: usize, good: u64, total: u64) {
        // Bucket counts are part of the sums, so bounding the sums bounds both.
        let total = total.min(u64::MAX - self.total);
        let good = good.min(total);
        let b = &mut self.ring[slot];
        b.good += good;
        b.total += total;
        self.good += good;
        self.total += total;
    }

    fn slot(&self, epoch: u64) -> usize {
        (epoch % self.ring.len() as u64) as usize
    }

    /// Records `good` good events out of `total` at `at`.
    ///
    /// `good` above `total` is clamped to `total`. Counts saturate at `u64::MAX`.
    pub fn record(&mut self, at: Timestamp, good: u64, total: u64) -> Recorded {
        let nanos = at.as_nanos();
        if self.started && nanos >= self.head_start && nanos < self.head_end {
            // The common case: the newest bucket, no division.
            self.add(self.head_slot, good, total);
            return Recorded::Counted;
        }
        self.advance_to(at);
        let epoch = self.epoch_of(at);
        if epoch.saturating_add(self.ring.len() as u64) <= self.head {
            return Recorded::TooOld;
        }
        let slot = self.slot(epoch);
        if self.ring[slot].epoch != epoch {
            // A bucket inside the window never opened (after a jump): it holds nothing.
            self.ring[slot] = Bucket {
                epoch,
                good: 0,
                total: 0,
            };
        }
        self.add(slot, good, total);
        Recorded::Counted
    }

    /// The counts in the window as of the last advance.
    #[must_use]
    pub fn counts(&self) -> Counts {
        Counts {
            good: self.good,
            total: self.total,
        }
    }

    /// Advances to `at` and returns the counts in the window.
    pub fn counts_at(&mut self, at: Timestamp) -> Counts {
        self.advance_to(at);
        self.counts()
    }

    /// The counts of each bucket in the window, oldest first, with the start of each bucket.
    pub fn buckets_iter(&self) -> impl Iterator<Item = (Timestamp, Counts)> + '_ {
        let n = self.ring.len() as u64;
        let first = self.head.saturating_sub(n - 1);
        (first..=self.head).filter_map(move |e| {
            let b = self.ring[self.slot(e)];
            (self.started && b.epoch == e).then(|| {
                (
                    Timestamp::from_nanos(e.saturating_mul(self.bucket_nanos)),
                    Counts {
                        good: b.good,
                        total: b.total,
                    },
                )
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_zero_sizes() {
        assert!(RollingCounts::new(Duration::ZERO, 10).is_err());
        assert!(RollingCounts::new(Duration::from_secs(1), 0).is_err());
        assert!(RollingCounts::spanning(Duration::from_nanos(5), 10).is_err());
    }

    #[test]
    fn late_events_inside_window_count_and_older_are_dropped() {
        let mut w = RollingCounts::new(Duration::from_secs(1), 10).unwrap();
        assert_eq!(w.record(Timestamp::from_secs(20), 1, 1), Recorded::Counted);
        assert_eq!(w.record(Timestamp::from_secs(15), 0, 1), Recorded::Counted);
        assert_eq!(w.record(Timestamp::from_secs(5), 0, 1), Recorded::TooOld);
        assert_eq!(w.counts(), Counts { good: 1, total: 2 });
        // Time going backwards does not move the window.
        assert_eq!(
            w.counts_at(Timestamp::from_secs(0)),
            Counts { good: 1, total: 2 }
        );
        assert_eq!(
            w.counts_at(Timestamp::from_secs(25)),
            Counts { good: 1, total: 1 }
        );
        assert_eq!(w.counts_at(Timestamp::from_secs(1000)), Counts::default());
    }

    #[test]
    fn huge_counts_saturate() {
        let mut w = RollingCounts::new(Duration::from_secs(1), 4).unwrap();
        let _ = w.record(Timestamp::from_secs(1), u64::MAX, u64::MAX);
        let _ = w.record(Timestamp::from_secs(1), 5, 5);
        assert_eq!(w.counts().total, u64::MAX);
        assert!(w.counts().good <= w.counts().total);
        let _ = w.record(Timestamp::MAX, 1, 2);
        assert_eq!(w.counts().total, 2);
    }
}
