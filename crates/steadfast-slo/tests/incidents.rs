//! Incident statistics, availability from them, and recovery planning.

use std::time::Duration;

use steadfast_core::Timestamp;
use steadfast_slo::recovery::{
    RecoveryPlan, bandwidth_for_rpo, data_at_risk, lag_meets_rpo, transfer_time,
};
use steadfast_slo::{Availability, Incident, IncidentStats};

const MIN: u64 = 60;

fn at(m: u64) -> Timestamp {
    Timestamp::from_secs(m * MIN)
}

#[test]
fn medians_and_percentiles_expose_the_tail() {
    // Nine quick incidents and one long one.
    let mut incidents: Vec<Incident> = (0..9)
        .map(|i| {
            let s = i * 10_000;
            Incident::new(at(s))
                .detected(at(s + 2))
                .acknowledged(at(s + 5))
                .mitigated(at(s + 20))
                .resolved(at(s + 30))
        })
        .collect();
    let s = 90_000;
    incidents.push(
        Incident::new(at(s))
            .detected(at(s + 60))
            .acknowledged(at(s + 90))
            .mitigated(at(s + 600))
            .resolved(at(s + 900)),
    );
    let stats = IncidentStats::from_incidents(&incidents);
    let ttr = stats.time_to_resolve.unwrap();
    assert_eq!(ttr.count(), 10);
    assert_eq!(ttr.median(), Duration::from_secs(30 * MIN));
    assert_eq!(ttr.mean(), Duration::from_secs(117 * MIN));
    assert_eq!(ttr.percentile(1.0), Duration::from_secs(900 * MIN));
    assert_eq!(
        stats.time_to_detect.unwrap().median(),
        Duration::from_secs(2 * MIN)
    );
    assert_eq!(
        stats.time_to_acknowledge.unwrap().median(),
        Duration::from_secs(3 * MIN)
    );
    assert_eq!(
        stats.time_to_mitigate.as_ref().unwrap().max(),
        Duration::from_secs(600 * MIN)
    );
    let tbf = stats.time_between_failures.unwrap();
    assert_eq!(
        (tbf.count(), tbf.median()),
        (9, Duration::from_secs(10_000 * MIN))
    );
    let ttf = stats.time_to_failure.unwrap();
    assert_eq!(ttf.median(), Duration::from_secs((10_000 - 20) * MIN));
    // Availability from the means: MTTF over MTTF + MTTR-to-mitigate.
    let a =
        Availability::from_mtbf_mttr(ttf.mean(), stats.time_to_mitigate.unwrap().mean()).unwrap();
    assert!(a.availability() > 0.99 && a.availability() < 0.999, "{a}");
}

#[test]
fn unordered_input_is_sorted_for_time_between_failures() {
    let a = Incident::new(at(100)).resolved(at(110));
    let b = Incident::new(at(0)).resolved(at(10));
    let stats = IncidentStats::from_incidents(&[a, b]);
    assert_eq!(
        stats.time_between_failures.unwrap().values(),
        [Duration::from_secs(100 * MIN)]
    );
    assert_eq!(
        stats.time_to_failure.unwrap().values(),
        [Duration::from_secs(90 * MIN)]
    );
}

#[test]
fn recovery_arithmetic() {
    let rpo = Duration::from_secs(15 * MIN);
    assert_eq!(data_at_risk(1e6, rpo), 9e8);
    // Continuous replication needs the change rate over the efficiency.
    assert_eq!(
        bandwidth_for_rpo(1e6, rpo, Duration::ZERO, 0.5).unwrap(),
        Some(2e6)
    );
    // Hourly snapshots cannot meet a 15-minute RPO.
    assert_eq!(
        bandwidth_for_rpo(1e6, rpo, Duration::from_secs(3600), 0.8).unwrap(),
        None
    );
    // Snapshots every 10 minutes leave 5 minutes to ship 600 MB at 75%.
    let bw = bandwidth_for_rpo(1e6, rpo, Duration::from_secs(10 * MIN), 0.75)
        .unwrap()
        .unwrap();
    assert!((bw - 6e8 / (300.0 * 0.75)).abs() < 1e-6);
    assert!(lag_meets_rpo(Duration::from_secs(30), rpo));
    let restore = transfer_time(5e11, 1.25e8, 0.8).unwrap();
    assert_eq!(restore, Duration::from_secs(5000));
    let plan = RecoveryPlan {
        detect: Duration::from_secs(300),
        decide: Duration::from_secs(600),
        restore,
        verify: Duration::from_secs(900),
    };
    assert!(!plan.meets_rto(Duration::from_secs(6799)));
    assert!(plan.meets_rto(Duration::from_secs(6800)));
    let huge = RecoveryPlan {
        detect: Duration::MAX,
        ..plan
    };
    assert_eq!(huge.total(), Duration::MAX);
}
