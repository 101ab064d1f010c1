//! QoS metrics against a brute-force reference, on generated traces.

use std::time::Duration;

use proptest::prelude::*;
use steadfast_core::Timestamp;
use steadfast_detect::{
    ChenConfig, ChenDetector, FailureDetector, FixedTimeout, HeartbeatTrace, Jitter, Loss,
    PhiAccrual, PhiAccrualConfig, QosReport, TraceConfig,
};

/// Replays the trace and samples the detector's output every `step`,
/// counting suspect samples before the crash.
fn sampled_suspect_time<D: FailureDetector + Clone>(
    detector: &D,
    trace: &HeartbeatTrace,
    step: Duration,
) -> Duration {
    sampled_replay(detector, trace, step, false)
}

/// The sampled replay, optionally feeding the trace's sequence numbers.
fn sampled_replay<D: FailureDetector + Clone>(
    detector: &D,
    trace: &HeartbeatTrace,
    step: Duration,
    numbered: bool,
) -> Duration {
    let mut detector = detector.clone();
    let arrivals = trace.arrivals();
    let sequences = trace.sequences().filter(|_| numbered);
    let end = trace.crash().unwrap_or(trace.end());
    let mut next = 0;
    let mut t = arrivals[0];
    let mut suspect = Duration::ZERO;
    while t < end {
        while next < arrivals.len() && arrivals[next] <= t {
            let _ = match sequences {
                Some(numbers) => detector.heartbeat_with_sequence(arrivals[next], numbers[next]),
                None => detector.heartbeat(arrivals[next]),
            };
            next += 1;
        }
        if !detector.is_available(t) {
            suspect += step;
        }
        t += step;
    }
    suspect
}

#[test]
fn mistakes_match_a_sampled_replay() {
    let trace = TraceConfig::builder()
        .interval(Duration::from_millis(100))
        .heartbeats(3000)
        .jitter(Jitter::LogNormal {
            median: Duration::from_millis(5),
            sigma: 1.0,
        })
        .loss(Loss::GilbertElliott {
            good_to_bad: 0.02,
            bad_to_good: 0.3,
            loss_in_good: 0.0,
            loss_in_bad: 0.9,
        })
        .seed(11)
        .build()
        .unwrap()
        .generate();
    let fixed = FixedTimeout::new(Duration::from_millis(250)).unwrap();
    let report = QosReport::evaluate(fixed.clone(), &trace);
    assert!(report.mistake_count() > 10, "{}", report.mistake_count());
    let step = Duration::from_micros(100);
    let sampled = sampled_suspect_time(&fixed, &trace, step);
    let exact = report.mistaken_time();
    let diff = sampled.abs_diff(exact);
    // Each mistake's two edges can be off by one sample.
    assert!(
        diff <= step * (2 * report.mistake_count() as u32 + 2),
        "sampled {sampled:?} exact {exact:?}"
    );
    assert!(report.query_accuracy() < 1.0 && report.query_accuracy() > 0.8);
    let rate = report.mistake_rate();
    assert!((rate - report.mistake_count() as f64 / report.observed.as_secs_f64()).abs() < 1e-12);
    assert!(report.mean_mistake_recurrence().unwrap() > report.mean_mistake_duration().unwrap());
    assert_eq!(report.detection_time, None);
}

#[test]
fn detection_time_is_exact_for_phi() {
    let trace = TraceConfig::builder()
        .heartbeats(200)
        .base_delay(Duration::ZERO)
        .crash_at(Timestamp::from_millis(100_500))
        .build()
        .unwrap()
        .generate();
    let phi = PhiAccrual::new(PhiAccrualConfig::builder().build().unwrap());
    let report = QosReport::evaluate(phi.clone(), &trace);
    // Last heartbeat at 100 s; the detector's own deadline minus the crash.
    let mut replay = phi;
    for &a in trace.arrivals() {
        let _ = replay.heartbeat(a);
    }
    let expected = replay
        .suspect_at()
        .unwrap()
        .saturating_duration_since(Timestamp::from_millis(100_500));
    assert_eq!(report.detection_time, Some(expected));
    assert_eq!(report.mistake_count(), 0);
    assert_eq!(report.query_accuracy(), 1.0);
    assert_eq!(report.observed, Duration::from_millis(100_500));
}

#[test]
fn empty_and_single_heartbeat_traces() {
    let fixed = FixedTimeout::new(Duration::from_secs(1)).unwrap();
    let empty = QosReport::evaluate(
        fixed.clone(),
        &HeartbeatTrace::new(vec![], None, Timestamp::from_secs(9)),
    );
    assert_eq!(empty.observed, Duration::ZERO);
    assert_eq!(empty.query_accuracy(), 1.0);
    assert_eq!(empty.mistake_rate(), 0.0);
    assert_eq!(empty.mean_mistake_duration(), None);
    let one = QosReport::evaluate(
        fixed,
        &HeartbeatTrace::new(vec![Timestamp::from_secs(1)], None, Timestamp::from_secs(5)),
    );
    // Trusted for 1 s, then wrongly suspected until the end.
    assert_eq!(
        one.mistakes,
        vec![(Timestamp::from_secs(2), Duration::from_secs(3))]
    );
    assert_eq!(one.query_accuracy(), 0.25);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn exact_metrics_agree_with_sampling_for_chen(seed in 0u64..1000, loss in 0.0f64..0.3) {
        let trace = TraceConfig::builder()
            .interval(Duration::from_millis(50))
            .heartbeats(400)
            .jitter(Jitter::Normal { std_deviation: Duration::from_millis(10) })
            .loss(Loss::Independent { probability: loss })
            .seed(seed)
            .build()
            .unwrap()
            .generate();
        prop_assume!(trace.arrivals().len() > 2);
        let chen = ChenDetector::new(
            ChenConfig::builder().safety_margin(Duration::from_millis(20)).window(16).build().unwrap(),
        );
        let report = QosReport::evaluate(chen.clone(), &trace);
        let step = Duration::from_micros(200);
        let sampled = sampled_suspect_time(&chen, &trace, step);
        let slack = step * (2 * report.mistake_count() as u32 + 2);
        prop_assert!(sampled.abs_diff(report.mistaken_time()) <= slack);
        prop_assert!((0.0..=1.0).contains(&report.query_accuracy()));
    }

    /// Numbered heartbeats, reordered by jitter larger than the interval:
    /// the exact metrics still agree with sampling, and duplicated numbers
    /// (out of order) end no mistake.
    #[test]
    fn exact_metrics_agree_with_sampling_for_numbered_chen(seed in 0u64..1000, loss in 0.0f64..0.3) {
        let trace = TraceConfig::builder()
            .interval(Duration::from_millis(50))
            .heartbeats(400)
            .jitter(Jitter::Normal { std_deviation: Duration::from_millis(40) })
            .loss(Loss::Independent { probability: loss })
            .seed(seed)
            .build()
            .unwrap()
            .generate();
        prop_assume!(trace.arrivals().len() > 2);
        let chen = ChenDetector::new(
            ChenConfig::builder()
                .sending_interval(Duration::from_millis(50))
                .safety_margin(Duration::from_millis(20))
                .window(16)
                .build()
                .unwrap(),
        );
        let report = QosReport::evaluate_sequenced(chen.clone(), &trace);
        let step = Duration::from_micros(200);
        let sampled = sampled_replay(&chen, &trace, step, true);
        let slack = step * (2 * report.mistake_count() as u32 + 2);
        prop_assert!(sampled.abs_diff(report.mistaken_time()) <= slack,
            "sampled {:?} exact {:?}", sampled, report.mistaken_time());
        // Mistakes never overlap.
        for pair in report.mistakes.windows(2) {
            prop_assert!(pair[0].0 + pair[0].1 <= pair[1].0);
        }
    }
}

#[test]
fn sequenced_evaluation_without_numbers_is_plain_evaluation() {
    let trace = HeartbeatTrace::new(
        (0..50)
            .map(|i| Timestamp::from_millis(i * 100 + (i % 7) * 13))
            .collect(),
        None,
        Timestamp::from_secs(6),
    );
    assert_eq!(trace.sequences(), None);
    let chen = ChenDetector::new(ChenConfig::builder().build().unwrap());
    assert_eq!(
        QosReport::evaluate_sequenced(chen.clone(), &trace),
        QosReport::evaluate(chen, &trace)
    );
}
