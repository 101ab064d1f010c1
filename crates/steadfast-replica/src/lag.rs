//! Replication lag tracking and promotion checks.
//!
//! A leader appends to a log; replicas report the position they applied.
//! Lag is measured two ways: in bytes (leader position minus applied
//! position) and in time (how long ago the leader wrote the oldest entry the
//! replica has not applied, the way PostgreSQL measures replay lag). A
//! replica beyond either threshold is *lagging*; the tracker reports each
//! transition as an event. Before promoting a replica to leader, check it is
//! healthy, within the thresholds and the most up to date of the healthy
//! replicas: promoting a stale one loses acknowledged writes.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use steadfast_core::{Clock, ConfigError, MonotonicClock, NodeId, Observer, Timestamp};

/// Thresholds of a [`LagTracker`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use steadfast_replica::LagConfig;
///
/// let cfg = LagConfig::builder()
///     .max_lag_bytes(1 << 20)
///     .max_lag_time(Duration::from_secs(5))
///     .build()?;
/// assert_eq!(cfg.max_lag_bytes(), 1 << 20);
/// assert!(LagConfig::builder().max_lag_time(Duration::ZERO).build().is_err());
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct LagConfig {
    max_lag_bytes: u64,
    max_lag_time: Duration,
    history: usize,
}

impl LagConfig {
    /// A builder with defaults: 16 MiB, 10 s, 4 096 leader samples.
    ///
    /// ```
    /// # use steadfast_replica::LagConfig;
    /// assert_eq!(LagConfig::builder().build().unwrap(), LagConfig::default());
    /// ```
    #[must_use]
    pub fn builder() -> LagConfigBuilder {
        LagConfigBuilder {
            config: LagConfig::default(),
        }
    }

    /// Largest lag in bytes still within bounds.
    #[must_use]
    pub fn max_lag_bytes(&self) -> u64 {
        self.max_lag_bytes
    }

    /// Largest lag in time still within bounds.
    #[must_use]
    pub fn max_lag_time(&self) -> Duration {
        self.max_lag_time
    }

    /// How many leader write samples are kept to measure time lag.
    #[must_use]
    pub fn history(&self) -> usize {
        self.history
    }
}

impl Default for LagConfig {
    fn default() -> LagConfig {
        LagConfig {
            max_lag_bytes: 16 << 20,
            max_lag_time: Duration::from_secs(10),
            history: 4096,
        }
    }
}

/// Deserialization validates like [`LagConfigBuilder::build`].
#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for LagConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<LagConfig, D::Error> {
        #[derive(serde::Deserialize)]
        struct Raw {
            max_lag_bytes: u64,
            max_lag_time: Duration,
            history: usize,
        }
        let raw = Raw::deserialize(d)?;
        LagConfig::builder()
            .max_lag_bytes(raw.max_lag_bytes)
            .max_lag_time(raw.max_lag_time)
            .history(raw.history)
            .build()
            .map_err(serde::de::Error::custom)
    }
}

/// Builds a [`LagConfig`].
#[derive(Debug, Clone)]
pub struct LagConfigBuilder {
    config: LagConfig,
}

impl LagConfigBuilder {
    /// Largest lag in bytes still within bounds (default 16 MiB).
    #[must_use]
    pub fn max_lag_bytes(mut self, bytes: u64) -> LagConfigBuilder {
        self.config.max_lag_bytes = bytes;
        self
    }

    /// Largest lag in time still within bounds (default 10 s).
    #[must_use]
    pub fn max_lag_time(mut self, time: Duration) -> LagConfigBuilder {
        self.config.max_lag_time = time;
        self
    }

    /// Leader write samples kept to measure time lag (default 4 096); a
    /// replica further behind than the oldest sample has its time lag
    /// measured from that sample (an underestimate).
    #[must_use]
    pub fn history(mut self, samples: usize) -> LagConfigBuilder {
        self.config.history = samples;
        self
    }

    /// Validates the settings.
    ///
    /// # Errors
    ///
    /// `lag.max_lag_time` zero, `lag.history` zero.
    ///
    /// ```
    /// # use steadfast_replica::LagConfig;
    /// let err = LagConfig::builder().history(0).build().unwrap_err();
    /// assert_eq!(err.to_string(), "lag.history must be at least 1, got 0");
    /// ```
    pub fn build(self) -> Result<LagConfig, ConfigError> {
        let c = self.config;
        ConfigError::ensure(
            !c.max_lag_time.is_zero(),
            "lag.max_lag_time",
            format_args!("{:?}", c.max_lag_time),
            "greater than zero",
        )?;
        ConfigError::ensure(c.history >= 1, "lag.history", c.history, "at least 1")?;
        Ok(c)
    }
}

/// How far one replica is behind the leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct ReplicaLag {
    /// Position applied by the replica.
    pub applied: u64,
    /// Leader position minus applied position.
    pub bytes: u64,
    /// Age of the oldest leader write not yet applied (zero when caught up).
    pub time: Duration,
}

/// State changes a [`LagTracker`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LagEvent {
    /// A replica went beyond a threshold.
    Lagging {
        /// When.
        at: Timestamp,
        /// Which replica.
        replica: NodeId,
        /// Its lag then.
        lag: ReplicaLag,
    },
    /// A lagging replica came back within both thresholds.
    CaughtUp {
        /// When.
        at: Timestamp,
        /// Which replica.
        replica: NodeId,
    },
    /// A replica was marked healthy or unhealthy.
    HealthChanged {
        /// When.
        at: Timestamp,
        /// Which replica.
        replica: NodeId,
        /// Its new health.
        healthy: bool,
    },
}

/// Why a replica may not be promoted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PromotionRejected {
    /// The tracker has never heard of it.
    #[error("replica {0} is unknown")]
    UnknownReplica(NodeId),
    /// It is marked unhealthy.
    #[error("replica {0} is unhealthy")]
    Unhealthy(NodeId),
    /// It is beyond a lag threshold.
    #[error("replica {replica} lags {bytes} bytes / {time:?}, beyond the thresholds")]
    TooFarBehind {
        /// The replica.
        replica: NodeId,
        /// Lag in bytes.
        bytes: u64,
        /// Lag in time.
        time: Duration,
    },
    /// Another healthy replica has applied more.
    #[error(
        "replica {replica} applied {applied}, but healthy replica {best} applied {best_applied}"
    )]
    NotMostUpToDate {
        /// The replica.
        replica: NodeId,
        /// What it applied.
        applied: u64,
        /// A better candidate.
        best: NodeId,
        /// What that one applied.
        best_applied: u64,
    },
}

#[derive(Debug, Clone)]
struct ReplicaState {
    applied: u64,
    healthy: bool,
    lagging: bool,
}

/// Tracks each replica's applied position against the leader.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use steadfast_core::{ManualClock, NodeId};
/// use steadfast_replica::{LagConfig, LagTracker};
///
/// let clock = ManualClock::new();
/// let cfg = LagConfig::builder().max_lag_bytes(100).max_lag_time(Duration::from_secs(2)).build()?;
/// let mut lag = LagTracker::with_clock(cfg, clock.clone());
/// let (r1, r2) = (NodeId::new(1), NodeId::new(2));
/// lag.leader_wrote(1_000);
/// lag.replica_applied(r1, 1_000);
/// lag.replica_applied(r2, 950);
/// clock.advance(Duration::from_secs(3));
/// assert_eq!(lag.lag(r2).unwrap().time, Duration::from_secs(3));
/// assert!(lag.validate_promotion(r1).is_ok());
/// assert!(lag.validate_promotion(r2).is_err());
/// assert_eq!(lag.best_candidate(), Some(r1));
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[derive(Debug)]
pub struct LagTracker<C = MonotonicClock, O = ()> {
    config: LagConfig,
    clock: C,
    observer: O,
    leader: u64,
    /// (position, when the leader reached it), increasing in both.
    samples: VecDeque<(u64, Timestamp)>,
    replicas: BTreeMap<NodeId, ReplicaState>,
}

impl LagTracker {
    /// A tracker over [`MonotonicClock`].
    ///
    /// ```
    /// # use steadfast_replica::{LagConfig, LagTracker};
    /// assert_eq!(LagTracker::new(LagConfig::default()).leader_position(), 0);
    /// ```
    #[must_use]
    pub fn new(config: LagConfig) -> LagTracker {
        LagTracker::with_clock(config, MonotonicClock::new())
    }
}

impl<C: Clock> LagTracker<C> {
    /// A tracker over the injected `clock`.
    #[must_use]
    pub fn with_clock(config: LagConfig, clock: C) -> LagTracker<C> {
        LagTracker {
            config,
            clock,
            observer: (),
            leader: 0,
            samples: VecDeque::new(),
            replicas: BTreeMap::new(),
        }
    }
}

impl<C: Clock, O: Observer<LagEvent>> LagTracker<C, O> {
    /// The same tracker reporting to `observer`.
    #[must_use]
    pub fn with_observer<P: Observer<LagEvent>>(self, observer: P) -> LagTracker<C, P> {
        LagTracker {
            config: self.config,
            clock: self.clock,
            observer,
            leader: self.leader,
            samples: self.samples,
            replicas: self.replicas,
        }
    }

    /// The leader's latest position.
    #[must_use]
    pub fn leader_position(&self) -> u64 {
        self.leader
    }

    /// The leader wrote up to `position`. Positions not beyond the current
    /// one are ignored (the log only grows).
    pub fn leader_wrote(&mut self, position: u64) {
        if position <= self.leader {
            return;
        }
        let now = self.clock.now();
        self.leader = position;
        if self.samples.len() == self.config.history {
            self.samples.pop_front();
        }
        self.samples.push_back((position, now));
        self.evaluate_at(now);
    }

    /// Replica `replica` applied up to `position`. A position beyond the
    /// leader's is taken as news of the leader's position; one below what
    /// the replica reported before is taken as is (it was rebuilt).
    pub fn replica_applied(&mut self, replica: NodeId, position: u64) {
        if position > self.leader {
            self.leader_wrote(position);
        }
        let now = self.clock.now();
        let state = self.replicas.entry(replica).or_insert(ReplicaState {
            applied: 0,
            healthy: true,
            lagging: false,
        });
        state.applied = position;
        self.evaluate_at(now);
        self.prune();
    }

    /// Marks a replica healthy or not (from a failure detector).
    pub fn set_healthy(&mut self, replica: NodeId, healthy: bool) {
        let now = self.clock.now();
        let state = self.replicas.entry(replica).or_insert(ReplicaState {
            applied: 0,
            healthy: true,
            lagging: false,
        });
        if state.healthy != healthy {
            state.healthy = healthy;
            self.observer.on_event(&LagEvent::HealthChanged {
                at: now,
                replica,
                healthy,
            });
        }
    }

    /// Re-evaluates every replica against the thresholds at the current
    /// time (time lag grows while nothing is reported).
    pub fn evaluate(&mut self) {
        let now = self.clock.now();
        self.evaluate_at(now);
    }

    fn lag_at(&self, applied: u64, now: Timestamp) -> ReplicaLag {
        let bytes = self.leader.saturating_sub(applied);
        let time = if bytes == 0 {
            Duration::ZERO
        } else {
            // The first sample beyond `applied` is the oldest unapplied write.
            let i = self.samples.partition_point(|&(p, _)| p <= applied);
            self.samples
                .get(i)
                .map_or(Duration::ZERO, |&(_, t)| now.saturating_duration_since(t))
        };
        ReplicaLag {
            applied,
            bytes,
            time,
        }
    }

    fn within(&self, lag: &ReplicaLag) -> bool {
        lag.bytes <= self.config.max_lag_bytes && lag.time <= self.config.max_lag_time
    }

    fn evaluate_at(&mut self, now: Timestamp) {
        let mut changes = Vec::new();
        for (&replica, state) in &self.replicas {
            let lag = self.lag_at(state.applied, now);
            let lagging = !self.within(&lag);
            if lagging != state.lagging {
                changes.push((replica, lagging, lag));
            }
        }
        for (replica, lagging, lag) in changes {
            if let Some(s) = self.replicas.get_mut(&replica) {
                s.lagging = lagging;
            }
            let event = if lagging {
                LagEvent::Lagging {
                    at: now,
                    replica,
                    lag,
                }
            } else {
                LagEvent::CaughtUp { at: now, replica }
            };
            self.observer.on_event(&event);
        }
    }

    /// Drops samples every replica has applied.
    fn prune(&mut self) {
        let min = self.replicas.values().map(|s| s.applied).min().unwrap_or(0);
        while self.samples.len() > 1 && self.samples.front().is_some_and(|&(p, _)| p <= min) {
            self.samples.pop_front();
        }
    }

    /// The current lag of `replica`, `None` if unknown.
    #[must_use]
    pub fn lag(&self, replica: NodeId) -> Option<ReplicaLag> {
        let now = self.clock.now();
        self.replicas
            .get(&replica)
            .map(|s| self.lag_at(s.applied, now))
    }

    /// True when the replica is known, healthy and within both thresholds.
    #[must_use]
    pub fn is_within_lag(&self, replica: NodeId) -> bool {
        self.lag(replica).is_some_and(|l| self.within(&l))
    }

    /// Checks that `replica` may be promoted to leader: known, healthy,
    /// within the lag thresholds, and applied at least as much as every
    /// other healthy replica.
    ///
    /// # Errors
    ///
    /// The first [`PromotionRejected`] reason found, in that order.
    pub fn validate_promotion(&self, replica: NodeId) -> Result<(), PromotionRejected> {
        let state = self
            .replicas
            .get(&replica)
            .ok_or(PromotionRejected::UnknownReplica(replica))?;
        if !state.healthy {
            return Err(PromotionRejected::Unhealthy(replica));
        }
        let lag = self.lag_at(state.applied, self.clock.now());
        if !self.within(&lag) {
            return Err(PromotionRejected::TooFarBehind {
                replica,
                bytes: lag.bytes,
                time: lag.time,
            });
        }
        if let Some((&best, b)) = self
            .replicas
            .iter()
            .filter(|(_, s)| s.healthy)
            .max_by_key(|(_, s)| s.applied)
            && b.applied > state.applied
        {
            return Err(PromotionRejected::NotMostUpToDate {
                replica,
                applied: state.applied,
                best,
                best_applied: b.applied,
            });
        }
        Ok(())
    }

    /// The replica to promote: healthy, within lag, most applied (lowest
    /// node id on ties); `None` if no replica qualifies.
    #[must_use]
    pub fn best_candidate(&self) -> Option<NodeId> {
        self.replicas
            .keys()
            .copied()
            .find(|&r| self.validate_promotion(r).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use steadfast_core::{ManualClock, Recorder};

    fn tracker() -> (
        ManualClock,
        Recorder<LagEvent>,
        LagTracker<ManualClock, Recorder<LagEvent>>,
    ) {
        let clock = ManualClock::new();
        let events = Recorder::new();
        let cfg = LagConfig::builder()
            .max_lag_bytes(100)
            .max_lag_time(Duration::from_secs(1))
            .history(3)
            .build()
            .unwrap();
        let t = LagTracker::with_clock(cfg, clock.clone()).with_observer(events.clone());
        (clock, events, t)
    }

    #[test]
    fn lagging_and_caught_up_events() {
        let (clock, events, mut t) = tracker();
        let r = NodeId::new(1);
        t.replica_applied(r, 0);
        t.leader_wrote(50);
        clock.advance(Duration::from_millis(1_500));
        t.evaluate();
        assert!(matches!(events.events()[0], LagEvent::Lagging { replica, .. } if replica == r));
        t.replica_applied(r, 50);
        assert!(matches!(events.events()[1], LagEvent::CaughtUp { .. }));
        t.leader_wrote(500);
        assert!(matches!(
            events.events()[2],
            LagEvent::Lagging {
                lag: ReplicaLag { bytes: 450, .. },
                ..
            }
        ));
    }

    #[test]
    fn promotion_reasons() {
        let (clock, events, mut t) = tracker();
        let (a, b) = (NodeId::new(1), NodeId::new(2));
        assert_eq!(
            t.validate_promotion(a),
            Err(PromotionRejected::UnknownReplica(a))
        );
        t.leader_wrote(100);
        t.replica_applied(a, 100);
        t.replica_applied(b, 90);
        assert!(
            matches!(t.validate_promotion(b), Err(PromotionRejected::NotMostUpToDate { best, .. }) if best == a)
        );
        t.set_healthy(a, false);
        assert!(matches!(
            events.events().last(),
            Some(LagEvent::HealthChanged { healthy: false, .. })
        ));
        assert_eq!(
            t.validate_promotion(a),
            Err(PromotionRejected::Unhealthy(a))
        );
        assert_eq!(t.best_candidate(), Some(b));
        clock.advance(Duration::from_secs(5));
        assert!(matches!(
            t.validate_promotion(b),
            Err(PromotionRejected::TooFarBehind { .. })
        ));
        assert_eq!(t.best_candidate(), None);
    }

    #[test]
    fn time_going_backwards_and_bounded_history() {
        let (clock, _events, mut t) = tracker();
        let r = NodeId::new(1);
        t.replica_applied(r, 0);
        for p in 1..=10 {
            clock.advance(Duration::from_millis(10));
            t.leader_wrote(p * 10);
        }
        t.leader_wrote(5); // ignored: the log only grows
        assert_eq!(t.leader_position(), 100);
        assert!(t.samples.len() <= 3);
        clock.jump_backwards(Duration::from_secs(10));
        assert_eq!(t.lag(r).unwrap().time, Duration::ZERO);
        assert_eq!(t.lag(r).unwrap().bytes, 100);
        // A replica ahead of the leader's known position moves the leader.
        t.replica_applied(r, 1_000);
        assert_eq!(t.leader_position(), 1_000);
        assert_eq!(t.lag(r).unwrap().bytes, 0);
    }
}
