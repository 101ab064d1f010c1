//! Peer states and failure classes.

use alloc::collections::VecDeque;
use core::fmt;
use core::time::Duration;

use steadfast_core::{ConfigError, Timestamp};

/// Where a monitored peer stands.
///
/// ```
/// use steadfast_detect::PeerState;
///
/// assert_eq!(PeerState::Unreachable.to_string(), "unreachable");
/// // Ordered by severity.
/// assert!(PeerState::Healthy < PeerState::Suspect && PeerState::Unreachable < PeerState::Down);
/// ```
///
/// A peer moves Healthy → Suspect when its detector crosses the threshold,
/// Suspect → Unreachable and then → Down as the silence continues past the
/// monitor's limits, and back to Healthy when heartbeats resume (unless flap
/// damping holds it in Suspect).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum PeerState {
    /// Heartbeats arrive as expected.
    Healthy,
    /// The detector crossed its threshold (or damping holds the peer).
    Suspect,
    /// Silent for longer than the unreachable limit.
    Unreachable,
    /// Silent for longer than the down limit.
    Down,
}

impl fmt::Display for PeerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PeerState::Healthy => "healthy",
            PeerState::Suspect => "suspect",
            PeerState::Unreachable => "unreachable",
            PeerState::Down => "down",
        })
    }
}

/// What a peer's recent outages look like.
///
/// ```
/// use steadfast_detect::FailureClass;
///
/// assert_eq!(FailureClass::Intermittent.to_string(), "intermittent");
/// ```
///
/// The rules, applied in order by [`OutageHistory::classify`]:
///
/// 1. **Permanent**: an outage is ongoing and has lasted at least
///    `permanent_after`.
/// 2. **Intermittent**: at least `intermittent_count` outages started within
///    the last `window`.
/// 3. **Transient**: any other outage that started or was still going within
///    the last `window`.
///
/// With no outage in the window there is no class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum FailureClass {
    /// One short outage: a blip, a lost packet burst, a restart.
    Transient,
    /// Repeated outages: a flaky link, an overloaded host.
    Intermittent,
    /// A long ongoing outage: the peer is gone.
    Permanent,
}

impl fmt::Display for FailureClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FailureClass::Transient => "transient",
            FailureClass::Intermittent => "intermittent",
            FailureClass::Permanent => "permanent",
        })
    }
}

/// The limits of the classification rules.
///
/// ```
/// use std::time::Duration;
/// use steadfast_detect::ClassificationConfig;
///
/// let config = ClassificationConfig::builder().intermittent_count(4).build()?;
/// assert_eq!(config.window(), Duration::from_secs(600));
/// assert!(ClassificationConfig::builder().intermittent_count(1).build().is_err());
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassificationConfig {
    window: Duration,
    intermittent_count: usize,
    permanent_after: Duration,
}

impl ClassificationConfig {
    /// A 10 min window, 3 outages for intermittent, 5 min for permanent.
    pub fn builder() -> ClassificationConfigBuilder {
        ClassificationConfigBuilder {
            config: ClassificationConfig {
                window: Duration::from_secs(600),
                intermittent_count: 3,
                permanent_after: Duration::from_secs(300),
            },
        }
    }

    /// How far back outages count.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// Outages within the window that make a peer intermittent.
    pub fn intermittent_count(&self) -> usize {
        self.intermittent_count
    }

    /// Length of an ongoing outage that makes it permanent.
    pub fn permanent_after(&self) -> Duration {
        self.permanent_after
    }
}

/// Builder of [`ClassificationConfig`].
#[derive(Debug, Clone)]
pub struct ClassificationConfigBuilder {
    config: ClassificationConfig,
}

impl ClassificationConfigBuilder {
    /// How far back outages count (default 10 min).
    pub fn window(mut self, d: Duration) -> Self {
        self.config.window = d;
        self
    }

    /// Outages for intermittent (default 3).
    pub fn intermittent_count(mut self, n: usize) -> Self {
        self.config.intermittent_count = n;
        self
    }

    /// Ongoing outage length for permanent (default 5 min).
    pub fn permanent_after(mut self, d: Duration) -> Self {
        self.config.permanent_after = d;
        self
    }

    /// Validates the settings.
    ///
    /// # Errors
    ///
    /// Window positive; intermittent count in [2, 1024]; permanent limit positive.
    pub fn build(self) -> Result<ClassificationConfig, ConfigError> {
        let c = self.config;
        ConfigError::ensure(
            !c.window.is_zero(),
            "classification.window",
            format_args!("{:?}", c.window),
            "greater than 0",
        )?;
        ConfigError::ensure(
            (2..=1024).contains(&c.intermittent_count),
            "classification.intermittent_count",
            c.intermittent_count,
            "in [2, 1024]",
        )?;
        ConfigError::ensure(
            !c.permanent_after.is_zero(),
            "classification.permanent_after",
            format_args!("{:?}", c.permanent_after),
            "greater than 0",
        )?;
        Ok(c)
    }
}

/// One outage: from the first suspicion to the heartbeat that ended it.
///
/// ```
/// use steadfast_core::Timestamp;
/// use steadfast_detect::{ClassificationConfig, OutageHistory};
///
/// let mut history = OutageHistory::new(ClassificationConfig::builder().build()?);
/// history.begin(Timestamp::from_secs(3));
/// let outage = history.ongoing().unwrap();
/// assert_eq!((outage.start, outage.end), (Timestamp::from_secs(3), None));
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Outage {
    /// When the detector started suspecting the peer.
    pub start: Timestamp,
    /// When a heartbeat ended it; `None` while it goes on.
    pub end: Option<Timestamp>,
}

/// A peer's recent outages, bounded, with the classification rules.
///
/// ```
/// use std::time::Duration;
/// use steadfast_core::Timestamp;
/// use steadfast_detect::{ClassificationConfig, FailureClass, OutageHistory};
///
/// let mut history = OutageHistory::new(ClassificationConfig::builder().build()?);
/// let s = Timestamp::from_secs;
/// history.begin(s(10));
/// history.end(s(12));
/// assert_eq!(history.classify(s(20)), Some(FailureClass::Transient));
/// for t in [30, 60] {
///     history.begin(s(t));
///     history.end(s(t + 1));
/// }
/// assert_eq!(history.classify(s(70)), Some(FailureClass::Intermittent));
/// history.begin(s(100));
/// assert_eq!(history.classify(s(400)), Some(FailureClass::Permanent));
/// assert_eq!(history.classify(s(10_000)), Some(FailureClass::Permanent));
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct OutageHistory {
    config: ClassificationConfig,
    outages: VecDeque<Outage>,
}

impl OutageHistory {
    /// An empty history.
    pub fn new(config: ClassificationConfig) -> OutageHistory {
        OutageHistory {
            config,
            outages: VecDeque::new(),
        }
    }

    /// An outage starts at `at` (ignored if one is already going on).
    pub fn begin(&mut self, at: Timestamp) {
        if self.ongoing().is_some() {
            return;
        }
        self.outages.push_back(Outage {
            start: at,
            end: None,
        });
        // Keep only what the intermittent rule can still count.
        while self.outages.len() > self.config.intermittent_count {
            self.outages.pop_front();
        }
    }

    /// The ongoing outage ends at `at` (no effect if none is going on).
    pub fn end(&mut self, at: Timestamp) {
        if let Some(last) = self.outages.back_mut()
            && last.end.is_none()
        {
            last.end = Some(at.max(last.start));
        }
    }

    /// The outage going on, if any.
    pub fn ongoing(&self) -> Option<Outage> {
        self.outages.back().copied().filter(|o| o.end.is_none())
    }

    /// The recorded outages, oldest first.
    pub fn outages(&self) -> impl Iterator<Item = &Outage> {
        self.outages.iter()
    }

    /// The class at `now` (see [`FailureClass`] for the rules).
    pub fn classify(&self, now: Timestamp) -> Option<FailureClass> {
        if let Some(ongoing) = self.ongoing()
            && now.saturating_duration_since(ongoing.start) >= self.config.permanent_after
        {
            return Some(FailureClass::Permanent);
        }
        let since = now.saturating_sub(self.config.window);
        let recent_starts = self.outages.iter().filter(|o| o.start >= since).count();
        if recent_starts >= self.config.intermittent_count {
            return Some(FailureClass::Intermittent);
        }
        let any_recent = self
            .outages
            .iter()
            .any(|o| o.end.is_none_or(|end| end >= since));
        any_recent.then_some(FailureClass::Transient)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_outages_age_out_of_the_window() {
        let mut h = OutageHistory::new(ClassificationConfig::builder().build().unwrap());
        let s = Timestamp::from_secs;
        h.begin(s(0));
        h.end(s(1));
        assert_eq!(h.classify(s(500)), Some(FailureClass::Transient));
        assert_eq!(h.classify(s(602)), None);
        // End before start (time went backwards) is clamped.
        h.begin(s(700));
        h.end(s(650));
        assert_eq!(h.outages().last().unwrap().end, Some(s(700)));
    }

    #[test]
    fn begin_twice_keeps_one_ongoing_outage() {
        let mut h = OutageHistory::new(ClassificationConfig::builder().build().unwrap());
        h.begin(Timestamp::from_secs(1));
        h.begin(Timestamp::from_secs(2));
        assert_eq!(h.outages().count(), 1);
        assert_eq!(h.ongoing().unwrap().start, Timestamp::from_secs(1));
    }
}
