//! Incident statistics: time to detect, acknowledge, mitigate, resolve, and between failures.
//!
//! Means hide the long tail that hurts users, so every figure comes as a
//! [`DurationStats`] with the median and percentiles beside the mean.
//! Percentiles interpolate linearly between the closest ranks (the method
//! spreadsheets and numpy use by default).

use core::time::Duration;

use steadfast_core::Timestamp;

/// One incident's timeline. Later stages are optional until they happen.
///
/// ```
/// use steadfast_core::Timestamp;
/// use steadfast_slo::Incident;
/// let i = Incident::new(Timestamp::from_secs(0))
///     .detected(Timestamp::from_secs(120))
///     .acknowledged(Timestamp::from_secs(300))
///     .resolved(Timestamp::from_secs(3600));
/// assert_eq!(i.time_to_detect().unwrap().as_secs(), 120);
/// assert_eq!(i.time_to_resolve().unwrap().as_secs(), 3600);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Incident {
    /// When users started to be hurt.
    pub start: Timestamp,
    /// When an alert or a person noticed.
    pub detected: Option<Timestamp>,
    /// When a responder took it.
    pub acknowledged: Option<Timestamp>,
    /// When users stopped being hurt.
    pub mitigated: Option<Timestamp>,
    /// When the cause was fixed.
    pub resolved: Option<Timestamp>,
}

impl Incident {
    /// An incident that started at `start`.
    #[must_use]
    pub fn new(start: Timestamp) -> Incident {
        Incident {
            start,
            detected: None,
            acknowledged: None,
            mitigated: None,
            resolved: None,
        }
    }

    /// With its detection time.
    #[must_use]
    pub fn detected(mut self, at: Timestamp) -> Incident {
        self.detected = Some(at);
        self
    }

    /// With its acknowledgement time.
    #[must_use]
    pub fn acknowledged(mut self, at: Timestamp) -> Incident {
        self.acknowledged = Some(at);
        self
    }

    /// With its mitigation time.
    #[must_use]
    pub fn mitigated(mut self, at: Timestamp) -> Incident {
        self.mitigated = Some(at);
        self
    }

    /// With its resolution time.
    #[must_use]
    pub fn resolved(mut self, at: Timestamp) -> Incident {
        self.resolved = Some(at);
        self
    }

    /// Start to detection. Stamps out of order give zero, not a wrapped value.
    #[must_use]
    pub fn time_to_detect(&self) -> Option<Duration> {
        Some(self.detected?.saturating_duration_since(self.start))
    }

    /// Detection to acknowledgement.
    #[must_use]
    pub fn time_to_acknowledge(&self) -> Option<Duration> {
        Some(self.acknowledged?.saturating_duration_since(self.detected?))
    }

    /// Start to mitigation.
    #[must_use]
    pub fn time_to_mitigate(&self) -> Option<Duration> {
        Some(self.mitigated?.saturating_duration_since(self.start))
    }

    /// Start to resolution.
    #[must_use]
    pub fn time_to_resolve(&self) -> Option<Duration> {
        Some(self.resolved?.saturating_duration_since(self.start))
    }

    /// When the incident stopped hurting: mitigation, else resolution.
    #[must_use]
    pub fn end(&self) -> Option<Timestamp> {
        self.mitigated.or(self.resolved)
    }
}

/// Summary statistics of a set of durations.
///
/// ```
/// use std::time::Duration;
/// use steadfast_slo::DurationStats;
/// let s = DurationStats::from_durations((1..=10).map(Duration::from_secs)).unwrap();
/// assert_eq!(s.median(), Duration::from_millis(5500));
/// assert_eq!(s.mean(), Duration::from_millis(5500));
/// assert_eq!(s.percentile(0.9), Duration::from_millis(9100));
/// assert_eq!(s.max(), Duration::from_secs(10));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurationStats {
    sorted: Vec<Duration>,
}

impl DurationStats {
    /// Statistics of `durations`; `None` when there are none.
    pub fn from_durations(durations: impl IntoIterator<Item = Duration>) -> Option<DurationStats> {
        let mut sorted: Vec<Duration> = durations.into_iter().collect();
        if sorted.is_empty() {
            return None;
        }
        sorted.sort_unstable();
        Some(DurationStats { sorted })
    }

    /// How many durations.
    #[must_use]
    pub fn count(&self) -> usize {
        self.sorted.len()
    }

    /// The arithmetic mean.
    #[must_use]
    pub fn mean(&self) -> Duration {
        let sum: u128 = self.sorted.iter().map(Duration::as_nanos).sum();
        nanos(sum / self.sorted.len() as u128)
    }

    /// The smallest.
    #[must_use]
    pub fn min(&self) -> Duration {
        self.sorted[0]
    }

    /// The largest.
    #[must_use]
    pub fn max(&self) -> Duration {
        self.sorted[self.sorted.len() - 1]
    }

    /// The median (the 0.5 percentile).
    #[must_use]
    pub fn median(&self) -> Duration {
        self.percentile(0.5)
    }

    /// The `q` quantile, `q` clamped to [0, 1] (NaN reads as 0.5), interpolated between ranks.
    #[must_use]
    pub fn percentile(&self, q: f64) -> Duration {
        let q = if q.is_nan() { 0.5 } else { q.clamp(0.0, 1.0) };
        let rank = q * (self.sorted.len() - 1) as f64;
        let lo = rank.floor() as usize;
        let hi = rank.ceil() as usize;
        let a = self.sorted[lo].as_nanos() as f64;
        let b = self.sorted[hi].as_nanos() as f64;
        nanos((a + (b - a) * (rank - lo as f64)).round() as u128)
    }

    /// The durations, sorted.
    #[must_use]
    pub fn values(&self) -> &[Duration] {
        &self.sorted
    }
}

fn nanos(n: u128) -> Duration {
    Duration::from_nanos(u64::try_from(n).unwrap_or(u64::MAX))
}

/// MTTD, MTTA, MTTM, MTTR and MTBF of a set of incidents, each with its median and percentiles.
///
/// Each figure uses the incidents that have the stages it needs. Time between
/// failures is start to next start; time to failure is the end of one incident
/// (mitigation, else resolution) to the start of the next.
///
/// ```
/// use steadfast_core::Timestamp;
/// use steadfast_slo::{Incident, IncidentStats};
/// let hour = 3600;
/// let incidents = [
///     Incident::new(Timestamp::from_secs(0)).detected(Timestamp::from_secs(60)).resolved(Timestamp::from_secs(hour)),
///     Incident::new(Timestamp::from_secs(100 * hour)).detected(Timestamp::from_secs(100 * hour + 600)).resolved(Timestamp::from_secs(102 * hour)),
///     Incident::new(Timestamp::from_secs(300 * hour)).detected(Timestamp::from_secs(300 * hour + 120)).resolved(Timestamp::from_secs(300 * hour + 1800)),
/// ];
/// let stats = IncidentStats::from_incidents(&incidents);
/// assert_eq!(stats.time_to_detect.as_ref().unwrap().median().as_secs(), 120);
/// assert_eq!(stats.time_between_failures.as_ref().unwrap().mean().as_secs(), 150 * hour);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentStats {
    /// Start to detection (MTTD and friends).
    pub time_to_detect: Option<DurationStats>,
    /// Detection to acknowledgement (MTTA).
    pub time_to_acknowledge: Option<DurationStats>,
    /// Start to mitigation.
    pub time_to_mitigate: Option<DurationStats>,
    /// Start to resolution (MTTR).
    pub time_to_resolve: Option<DurationStats>,
    /// Start to next start (MTBF).
    pub time_between_failures: Option<DurationStats>,
    /// End of one incident to the start of the next (MTTF, the uptime).
    pub time_to_failure: Option<DurationStats>,
}

impl IncidentStats {
    /// Statistics of `incidents` (in any order).
    #[must_use]
    pub fn from_incidents(incidents: &[Incident]) -> IncidentStats {
        let mut by_start: Vec<&Incident> = incidents.iter().collect();
        by_start.sort_by_key(|i| i.start);
        IncidentStats {
            time_to_detect: DurationStats::from_durations(
                incidents.iter().filter_map(Incident::time_to_detect),
            ),
            time_to_acknowledge: DurationStats::from_durations(
                incidents.iter().filter_map(Incident::time_to_acknowledge),
            ),
            time_to_mitigate: DurationStats::from_durations(
                incidents.iter().filter_map(Incident::time_to_mitigate),
            ),
            time_to_resolve: DurationStats::from_durations(
                incidents.iter().filter_map(Incident::time_to_resolve),
            ),
            time_between_failures: DurationStats::from_durations(
                by_start
                    .windows(2)
                    .map(|w| w[1].start.saturating_duration_since(w[0].start)),
            ),
            time_to_failure: DurationStats::from_durations(
                by_start
                    .windows(2)
                    .filter_map(|w| Some(w[1].start.saturating_duration_since(w[0].end()?))),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_order_stamps_saturate_and_empty_is_none() {
        let i = Incident::new(Timestamp::from_secs(100)).detected(Timestamp::from_secs(50));
        assert_eq!(i.time_to_detect(), Some(Duration::ZERO));
        assert_eq!(i.time_to_acknowledge(), None);
        let s = IncidentStats::from_incidents(&[]);
        assert!(s.time_to_detect.is_none() && s.time_between_failures.is_none());
        let one = DurationStats::from_durations([Duration::from_secs(3)]).unwrap();
        assert_eq!(one.percentile(f64::NAN), Duration::from_secs(3));
        assert_eq!(one.percentile(7.0), Duration::from_secs(3));
    }
}
