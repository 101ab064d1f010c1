//! The `tour` scenario: determinism and the invariants of its scripted day.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::time::Duration;

use steadfast_sim::scenario::tour::{self, TourConfig, TourResult};

const HOUR: Duration = Duration::from_secs(3600);

/// A short day: the crash at 00:40 for 15 minutes, the partition at 01:30 for 20 minutes.
fn small() -> TourConfig {
    TourConfig::builder()
        .day(3 * HOUR)
        .crash(Duration::from_secs(2405), Duration::from_secs(900))
        .partition(Duration::from_secs(5400), Duration::from_secs(1200))
        .build()
        .expect("valid config")
}

fn narrative_hash(result: &TourResult) -> u64 {
    let mut h = DefaultHasher::new();
    result.narrative().hash(&mut h);
    result.samples.len().hash(&mut h);
    for s in &result.samples {
        (
            s.requests,
            s.succeeded,
            s.attempts,
            s.divergent_keys,
            s.burn.to_bits(),
        )
            .hash(&mut h);
    }
    h.finish()
}

#[test]
fn same_seed_same_day_different_seed_different_day() {
    let config = small();
    let a = tour::run(&config, 11);
    let b = tour::run(&config, 11);
    let c = tour::run(&config, 12);
    assert_eq!(narrative_hash(&a), narrative_hash(&b));
    assert_ne!(narrative_hash(&a), narrative_hash(&c));
}

#[test]
fn the_day_keeps_its_invariants() {
    let config = small();
    let r = tour::run(&config, 7);
    for line in r.narrative() {
        println!("{line}");
    }
    println!("{}", r.summary());
    // The crash is detected, no later than the detectors' own deadline plus one sweep.
    let detection = r.detection.expect("the crash is detected");
    let bound = r.detection_bound.expect("the detectors had a deadline");
    assert!(
        detection <= bound + Duration::from_secs(1),
        "{detection:?} > {bound:?}"
    );
    // The lease moves, never to two believers at once, and the fence refuses the old leader.
    let failover = r.failover.expect("the lease moves");
    assert!(failover >= detection, "{failover:?} < {detection:?}");
    assert_ne!(r.new_leader, Some(r.crashed_node));
    assert_eq!(r.max_believing_holders, 1);
    assert_eq!(r.stale_writes_refused, 1);
    // Breakers open during the outage; retries stay within the budget.
    assert!(r.breaker_opens >= 1);
    assert!(r.rejected_by_breaker > 0);
    assert!(r.retries > 0);
    assert!(
        r.retry_amplification() <= 1.0 + config.retry_percent(),
        "{} > {}",
        r.retry_amplification(),
        1.0 + config.retry_percent()
    );
    assert!(r.outage_retries > 0 && r.outage_retries <= r.retries);
    assert!(r.outage_retry_amplification() > r.retry_amplification());
    assert!(r.outage_retry_amplification() <= 1.0 + config.retry_percent());
    // Replicas diverge in the partition and converge after it.
    assert!(r.divergent_at_heal > 0);
    assert_eq!(r.divergent_after, 0);
    // A page fires during the outage and clears after it; every firing clears.
    let crash = Duration::from_secs(2405);
    let restart = crash + Duration::from_secs(900);
    let fired = *r.alerts_fired.first().expect("an alert fires");
    assert!(fired > crash && fired <= restart, "{fired:?}");
    assert_eq!(r.alerts_fired.len(), r.alerts_cleared.len());
    assert!(r.alerts_cleared.last().is_some_and(|&t| t > restart));
    assert!(r.budget_consumed > 0.0);
    // The timeline reads in order, with clock times.
    assert!(r.timeline.windows(2).all(|w| w[0].at <= w[1].at));
    assert!(
        r.narrative()
            .iter()
            .any(|l| l.starts_with("t+00:40:05  node 3 crashed"))
    );
}

#[test]
fn the_report_has_a_plot_and_csvs() {
    let r = tour::run(&small(), 3);
    let report = r.report();
    assert_eq!(report.plots().len(), 2);
    assert!(report.to_html().expect("plots draw").contains("<svg"));
    assert!(!report.data_tables().is_empty());
}

#[test]
fn configs_are_validated() {
    let err =
        |b: steadfast_sim::scenario::tour::TourConfigBuilder| b.build().unwrap_err().to_string();
    assert!(err(TourConfig::builder().nodes(2)).starts_with("tour.nodes"));
    assert!(err(TourConfig::builder().day(Duration::ZERO)).starts_with("tour.day"));
    assert!(
        err(TourConfig::builder().baseline_error_ratio(f64::NAN))
            .starts_with("tour.baseline_error_ratio")
    );
    assert!(
        err(TourConfig::builder().retry_percent(f64::INFINITY)).starts_with("tour.retry_percent")
    );
    assert!(
        err(TourConfig::builder().anti_entropy_every(Duration::ZERO))
            .starts_with("tour.anti_entropy_every")
    );
    assert!(
        err(TourConfig::builder().partition(Duration::from_secs(9000), Duration::from_secs(600)))
            .starts_with("tour.partition.at")
    );
    assert!(
        err(TourConfig::builder()
            .partition(Duration::from_secs(23 * 3600), Duration::from_secs(3600)))
        .starts_with("tour.partition.length")
    );
    assert!(
        err(TourConfig::builder().requests_per_second(u32::MAX))
            .starts_with("tour.requests_per_second")
    );
}
