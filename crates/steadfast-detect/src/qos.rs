//! The quality-of-service metrics of Chen, Toueg and Aguilera, computed
//! exactly for any detector on any heartbeat trace.
//!
//! A detector's output over time is a step function, trusting or suspecting.
//! Because every detector says exactly when it will start suspecting
//! ([`FailureDetector::suspect_at`]), the metrics follow event by event from
//! the heartbeat arrivals alone, with no sampling error:
//!
//! - **detection time** `T_D`: from the crash to the final, permanent
//!   suspicion (zero if the detector already suspected at the crash);
//! - **mistakes**: suspicions that start before the crash (or in a run with
//!   no crash); **mistake duration** `T_M` is how long each lasts (until the
//!   next heartbeat, or the crash, or the end of the trace), **mistake
//!   recurrence time** `T_MR` the time between the starts of consecutive
//!   mistakes, and the **mistake rate** `λ_M` mistakes per second;
//! - **query accuracy probability** `P_A`: the fraction of the time before
//!   the crash during which the detector trusted the peer.
//!
//! Observation starts at the first heartbeat.

use alloc::vec::Vec;
use core::time::Duration;

use steadfast_core::Timestamp;

use crate::detector::{FailureDetector, HeartbeatOutcome};
use crate::trace::HeartbeatTrace;

/// The metrics of one detector on one trace.
#[derive(Debug, Clone, PartialEq)]
pub struct QosReport {
    /// Length of the accuracy period: first heartbeat to crash (or end).
    pub observed: Duration,
    /// Start and duration of every mistake, in order.
    pub mistakes: Vec<(Timestamp, Duration)>,
    /// Detection time `T_D`; `None` without a crash (or without heartbeats).
    pub detection_time: Option<Duration>,
}

impl QosReport {
    /// Runs `detector` (from its current state) over `trace`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use steadfast_core::Timestamp;
    /// use steadfast_detect::{FixedTimeout, HeartbeatTrace, QosReport};
    ///
    /// let s = Timestamp::from_secs;
    /// // Heartbeats every second, one 4 s gap, then a crash at 10 s.
    /// let trace = HeartbeatTrace::new(vec![s(0), s(1), s(2), s(6), s(7), s(8), s(9)], Some(s(10)), s(20));
    /// let report = QosReport::evaluate(FixedTimeout::new(Duration::from_millis(2500))?, &trace);
    /// // One mistake: suspected at 4.5 s, trusted again at 6 s.
    /// assert_eq!(report.mistakes, vec![(Timestamp::from_millis(4500), Duration::from_millis(1500))]);
    /// assert_eq!(report.detection_time, Some(Duration::from_millis(1500)));
    /// assert_eq!(report.query_accuracy(), 1.0 - 1.5 / 10.0);
    /// # Ok::<(), steadfast_core::ConfigError>(())
    /// ```
    pub fn evaluate<D: FailureDetector>(detector: D, trace: &HeartbeatTrace) -> QosReport {
        QosReport::run(detector, trace, false)
    }

    /// Like [`evaluate`](Self::evaluate), but feeds the trace's sequence
    /// numbers (when it has them) through
    /// [`FailureDetector::heartbeat_with_sequence`], so Chen's detector uses
    /// its sequence-number estimator. A heartbeat the detector ignores as
    /// out of order ends no mistake.
    ///
    /// ```
    /// use std::time::Duration;
    /// use steadfast_core::Timestamp;
    /// use steadfast_detect::{ChenConfig, ChenDetector, Loss, QosReport, TraceConfig};
    ///
    /// let trace = TraceConfig::builder()
    ///     .interval(Duration::from_millis(100))
    ///     .heartbeats(2000)
    ///     .loss(Loss::Independent { probability: 0.2 })
    ///     .crash_at(Timestamp::from_secs(150))
    ///     .seed(1)
    ///     .build()?
    ///     .generate();
    /// let chen = ChenDetector::new(
    ///     ChenConfig::builder()
    ///         .sending_interval(Duration::from_millis(100))
    ///         .safety_margin(Duration::from_millis(150))
    ///         .build()?,
    /// );
    /// let numbered = QosReport::evaluate_sequenced(chen.clone(), &trace);
    /// let unnumbered = QosReport::evaluate(chen, &trace);
    /// // The numbers keep losses out of the estimate: the next heartbeat is
    /// // expected 100 ms after the last one was due, not after the mean gap.
    /// assert!(numbered.detection_time < unnumbered.detection_time);
    /// assert!(numbered.detection_time <= Some(Duration::from_millis(250)));
    /// # Ok::<(), steadfast_core::ConfigError>(())
    /// ```
    pub fn evaluate_sequenced<D: FailureDetector>(
        detector: D,
        trace: &HeartbeatTrace,
    ) -> QosReport {
        QosReport::run(detector, trace, true)
    }

    fn run<D: FailureDetector>(
        mut detector: D,
        trace: &HeartbeatTrace,
        numbered: bool,
    ) -> QosReport {
        let arrivals = trace.arrivals();
        let sequences = trace.sequences().filter(|_| numbered);
        let feed = |detector: &mut D, i: usize| match sequences {
            Some(numbers) => detector.heartbeat_with_sequence(arrivals[i], numbers[i]),
            None => detector.heartbeat(arrivals[i]),
        };
        let Some(&first) = arrivals.first() else {
            return QosReport {
                observed: Duration::ZERO,
                mistakes: Vec::new(),
                detection_time: None,
            };
        };
        let accuracy_end = trace.crash().unwrap_or(trace.end()).max(first);
        let mut mistakes = Vec::new();
        let _ = feed(&mut detector, 0);
        for (i, &arrival) in arrivals.iter().enumerate().skip(1) {
            let suspect = detector.suspect_at();
            if matches!(feed(&mut detector, i), HeartbeatOutcome::OutOfOrder { .. }) {
                // Ignored: the detector's output did not change.
                continue;
            }
            if let Some(suspect) = suspect
                && suspect < arrival
                && suspect < accuracy_end
            {
                let until = arrival.min(accuracy_end);
                mistakes.push((suspect, until.saturating_duration_since(suspect)));
            }
        }
        let last_arrival = arrivals[arrivals.len() - 1];
        if let Some(suspect) = detector.suspect_at()
            && suspect < accuracy_end
            && last_arrival < accuracy_end
        {
            mistakes.push((suspect, accuracy_end.saturating_duration_since(suspect)));
        }
        let detection_time = trace.crash().map(|crash| {
            detector
                .suspect_at()
                .unwrap_or(Timestamp::MAX)
                .saturating_duration_since(crash)
        });
        QosReport {
            observed: accuracy_end.saturating_duration_since(first),
            mistakes,
            detection_time,
        }
    }

    /// How many mistakes.
    pub fn mistake_count(&self) -> usize {
        self.mistakes.len()
    }

    /// Total time spent wrongly suspecting.
    pub fn mistaken_time(&self) -> Duration {
        self.mistakes.iter().map(|&(_, d)| d).sum()
    }

    /// Mean mistake duration `T_M`.
    pub fn mean_mistake_duration(&self) -> Option<Duration> {
        let n = u32::try_from(self.mistakes.len()).ok().filter(|&n| n > 0)?;
        Some(self.mistaken_time() / n)
    }

    /// Mean mistake recurrence time `T_MR`; needs two mistakes.
    pub fn mean_mistake_recurrence(&self) -> Option<Duration> {
        let n = u32::try_from(self.mistakes.len().checked_sub(1)?)
            .ok()
            .filter(|&n| n > 0)?;
        let first = self.mistakes[0].0;
        let last = self.mistakes[self.mistakes.len() - 1].0;
        Some(last.saturating_duration_since(first) / n)
    }

    /// Mistakes per second of observation `λ_M` (0 when nothing was observed).
    pub fn mistake_rate(&self) -> f64 {
        let secs = self.observed.as_secs_f64();
        if secs > 0.0 {
            self.mistakes.len() as f64 / secs
        } else {
            0.0
        }
    }

    /// Query accuracy probability `P_A` (1 when nothing was observed).
    pub fn query_accuracy(&self) -> f64 {
        let secs = self.observed.as_secs_f64();
        if secs > 0.0 {
            (1.0 - self.mistaken_time().as_secs_f64() / secs).clamp(0.0, 1.0)
        } else {
            1.0
        }
    }
}
