//! SWIM with the Lifeguard extensions, as HashiCorp memberlist implements them.
//!
//! - **Suspicion timeout.** A suspected member is declared dead after a
//!   timeout that starts at `max` and shrinks logarithmically towards `min`
//!   as independent members confirm the suspicion:
//!   `timeout(n) = max - (max - min) * ln(n + 1) / ln(k + 1)`, floored to the
//!   millisecond and never below `min`, where `k` is the number of
//!   confirmations wanted. memberlist sets
//!   `min = suspicion_mult * max(1, log10(cluster size)) * probe_interval`,
//!   `max = suspicion_max_timeout_mult * min` and `k = suspicion_mult - 2`
//!   (0 when the cluster has fewer than `k + 2` members).
//! - **Local health.** A member that is itself struggling (missed acks, late
//!   probes) should not accuse others. Its health score, in
//!   `[0, max_multiplier - 1]`, multiplies its probe timeouts by `score + 1`.

use alloc::vec::Vec;
use core::time::Duration;

use steadfast_core::{ConfigError, NodeId, Timestamp};

/// The suspicion timeout schedule: `min`, `max` and the confirmations wanted.
///
/// ```
/// use std::time::Duration;
/// use steadfast_detect::SuspicionTimeout;
///
/// // memberlist's LAN defaults: suspicion_mult 4, max multiplier 6, 1 s probes.
/// let schedule = SuspicionTimeout::memberlist(4, 6, 100, Duration::from_secs(1))?;
/// assert_eq!(schedule.min(), Duration::from_secs(8)); // 4 * log10(100) * 1 s
/// assert_eq!(schedule.max(), Duration::from_secs(48));
/// assert_eq!(schedule.confirmations_wanted(), 2);
/// assert_eq!(schedule.timeout(0), Duration::from_secs(48));
/// assert_eq!(schedule.timeout(1), Duration::from_millis(22_762));
/// assert_eq!(schedule.timeout(2), Duration::from_secs(8));
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SuspicionTimeout {
    min: Duration,
    max: Duration,
    k: u32,
}

impl SuspicionTimeout {
    /// A schedule from its three parameters.
    ///
    /// # Errors
    ///
    /// `min` must be positive and `max` at least `min`.
    pub fn new(min: Duration, max: Duration, k: u32) -> Result<SuspicionTimeout, ConfigError> {
        ConfigError::ensure(
            !min.is_zero(),
            "suspicion.min",
            format_args!("{min:?}"),
            "greater than 0",
        )?;
        ConfigError::ensure(
            max >= min,
            "suspicion.max",
            format_args!("{max:?}"),
            "at least suspicion.min",
        )?;
        Ok(SuspicionTimeout { min, max, k })
    }

    /// memberlist's schedule for a cluster of `cluster_size` members.
    ///
    /// # Errors
    ///
    /// `suspicion_mult` and `max_timeout_mult` at least 1, and
    /// `probe_interval` positive.
    pub fn memberlist(
        suspicion_mult: u32,
        max_timeout_mult: u32,
        cluster_size: usize,
        probe_interval: Duration,
    ) -> Result<SuspicionTimeout, ConfigError> {
        ConfigError::ensure(
            suspicion_mult >= 1,
            "suspicion.suspicion_mult",
            suspicion_mult,
            "at least 1",
        )?;
        ConfigError::ensure(
            max_timeout_mult >= 1,
            "suspicion.max_timeout_mult",
            max_timeout_mult,
            "at least 1",
        )?;
        ConfigError::ensure(
            !probe_interval.is_zero(),
            "suspicion.probe_interval",
            format_args!("{probe_interval:?}"),
            "greater than 0",
        )?;
        let node_scale = (cluster_size.max(1) as f64).log10().max(1.0);
        // memberlist keeps three decimals of the scale, in integer arithmetic.
        let scaled = (node_scale * 1000.0) as u128;
        let nanos = u128::from(suspicion_mult) * scaled * probe_interval.as_nanos() / 1000;
        let min = Duration::from_nanos(nanos.min(u128::from(u64::MAX)) as u64);
        let max = min.saturating_mul(max_timeout_mult);
        let wanted = suspicion_mult.saturating_sub(2);
        let k = if (cluster_size as u64) < u64::from(wanted) + 2 {
            0
        } else {
            wanted
        };
        SuspicionTimeout::new(min, max, k)
    }

    /// The shortest timeout.
    pub fn min(&self) -> Duration {
        self.min
    }

    /// The timeout with no confirmations.
    pub fn max(&self) -> Duration {
        self.max
    }

    /// Confirmations after which the timeout is `min`.
    pub fn confirmations_wanted(&self) -> u32 {
        self.k
    }

    /// The total timeout (from the start of the suspicion) after
    /// `confirmations` independent confirmations.
    pub fn timeout(&self, confirmations: u32) -> Duration {
        if self.k < 1 {
            return self.min;
        }
        let n = confirmations.min(self.k);
        let fraction = f64::from(n + 1).ln() / f64::from(self.k + 1).ln();
        let raw =
            self.max.as_secs_f64() - fraction * (self.max.as_secs_f64() - self.min.as_secs_f64());
        let millis = (1000.0 * raw).floor().max(0.0);
        Duration::from_millis(millis as u64).max(self.min)
    }
}

/// One suspicion of one member, accumulating confirmations.
///
/// ```
/// use std::time::Duration;
/// use steadfast_core::{NodeId, Timestamp};
/// use steadfast_detect::{Suspicion, SuspicionTimeout};
///
/// let schedule = SuspicionTimeout::new(Duration::from_secs(1), Duration::from_secs(6), 3)?;
/// let start = Timestamp::from_secs(100);
/// let mut suspicion = Suspicion::new(schedule, NodeId::new(1), start);
/// assert_eq!(suspicion.deadline(), start + Duration::from_secs(6));
/// assert!(suspicion.confirm(NodeId::new(2)));
/// assert!(!suspicion.confirm(NodeId::new(2))); // duplicates do not count
/// assert!(!suspicion.confirm(NodeId::new(1))); // nor does the accuser
/// assert_eq!(suspicion.deadline(), start + Duration::from_millis(3500));
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Suspicion {
    schedule: SuspicionTimeout,
    started: Timestamp,
    seen: Vec<NodeId>,
}

impl Suspicion {
    /// A suspicion raised by `from` at `started`.
    pub fn new(schedule: SuspicionTimeout, from: NodeId, started: Timestamp) -> Suspicion {
        Suspicion {
            schedule,
            started,
            seen: alloc::vec![from],
        }
    }

    /// Records a confirmation from `from`; true if it was new and still
    /// shortens the timeout.
    pub fn confirm(&mut self, from: NodeId) -> bool {
        if self.confirmations() >= self.schedule.confirmations_wanted() || self.seen.contains(&from)
        {
            return false;
        }
        self.seen.push(from);
        true
    }

    /// Independent confirmations so far (the accuser is not one).
    pub fn confirmations(&self) -> u32 {
        u32::try_from(self.seen.len() - 1).unwrap_or(u32::MAX)
    }

    /// When the member is declared dead.
    pub fn deadline(&self) -> Timestamp {
        self.started
            .saturating_add(self.schedule.timeout(self.confirmations()))
    }

    /// Time left at `now` (zero once expired; the full timeout if time went backwards).
    pub fn remaining(&self, now: Timestamp) -> Duration {
        self.deadline()
            .saturating_duration_since(now.max(self.started))
    }

    /// Whether the member is dead at `now`.
    pub fn is_expired(&self, now: Timestamp) -> bool {
        now >= self.deadline()
    }
}

/// The local health score (memberlist's "awareness").
///
/// ```
/// use std::time::Duration;
/// use steadfast_detect::LocalHealth;
///
/// let mut health = LocalHealth::new(8)?;
/// assert_eq!(health.scale(Duration::from_millis(500)), Duration::from_millis(500));
/// health.apply_delta(3); // e.g. three missed nacks
/// assert_eq!(health.scale(Duration::from_millis(500)), Duration::from_secs(2));
/// health.apply_delta(100);
/// assert_eq!(health.score(), 7); // capped at max_multiplier - 1
/// health.apply_delta(-100);
/// assert_eq!(health.score(), 0);
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalHealth {
    score: u32,
    max_multiplier: u32,
}

impl LocalHealth {
    /// A healthy node; timeouts stretch at most `max_multiplier` times
    /// (memberlist's default is 8).
    ///
    /// # Errors
    ///
    /// `max_multiplier` must be at least 1.
    pub fn new(max_multiplier: u32) -> Result<LocalHealth, ConfigError> {
        ConfigError::ensure(
            max_multiplier >= 1,
            "local_health.max_multiplier",
            max_multiplier,
            "at least 1",
        )?;
        Ok(LocalHealth {
            score: 0,
            max_multiplier,
        })
    }

    /// Adds `delta` (negative for good news) and clamps to `[0, max - 1]`;
    /// returns the new score.
    pub fn apply_delta(&mut self, delta: i32) -> u32 {
        let score = i64::from(self.score) + i64::from(delta);
        self.score = score.clamp(0, i64::from(self.max_multiplier - 1)) as u32;
        self.score
    }

    /// The score: 0 is healthy.
    pub fn score(&self) -> u32 {
        self.score
    }

    /// `timeout * (score + 1)`, saturating.
    pub fn scale(&self, timeout: Duration) -> Duration {
        timeout.saturating_mul(self.score + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_clusters_want_no_confirmations() {
        let s = SuspicionTimeout::memberlist(4, 6, 3, Duration::from_secs(1)).unwrap();
        assert_eq!(s.confirmations_wanted(), 0);
        assert_eq!(s.min(), Duration::from_secs(4));
        assert_eq!(s.timeout(0), s.min());
        let s = SuspicionTimeout::memberlist(4, 6, 0, Duration::from_secs(1)).unwrap();
        assert_eq!(s.min(), Duration::from_secs(4));
    }

    #[test]
    fn timeout_never_increases_with_confirmations() {
        let s = SuspicionTimeout::memberlist(6, 6, 1000, Duration::from_millis(700)).unwrap();
        let mut previous = s.timeout(0);
        for n in 1..20 {
            let t = s.timeout(n);
            assert!(t <= previous && t >= s.min());
            previous = t;
        }
        assert!(SuspicionTimeout::new(Duration::ZERO, Duration::ZERO, 1).is_err());
        assert!(SuspicionTimeout::new(Duration::from_secs(2), Duration::from_secs(1), 1).is_err());
    }

    #[test]
    fn remaining_handles_backwards_time() {
        let s = SuspicionTimeout::new(Duration::from_secs(1), Duration::from_secs(2), 0).unwrap();
        let sus = Suspicion::new(s, NodeId::new(1), Timestamp::from_secs(10));
        assert_eq!(
            sus.remaining(Timestamp::from_secs(1)),
            Duration::from_secs(1)
        );
        assert_eq!(sus.remaining(Timestamp::from_secs(30)), Duration::ZERO);
        assert!(sus.is_expired(Timestamp::from_secs(11)));
    }
}
