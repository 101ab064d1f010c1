//! The `tour` scenario: determinism, the invariants of its scripted day, and
//! a lease safety check that does catch overlap when clocks drift past the bound.

use std::time::Duration;

use steadfast_sim::scenario::tour::{self, TourConfig, TourConfigBuilder, TourResult};
use steadfast_sim::{Latency, Loss, Network};

const MINUTE: Duration = Duration::from_secs(60);
const CRASH: Duration = Duration::from_secs(4 * 60 + 5);
const DOWN: Duration = Duration::from_secs(5 * 60);
const PARTITION: Duration = Duration::from_secs(20 * 60);
const CUT: Duration = Duration::from_secs(5 * 60);

/// The short day (crash at 00:04:05 for 5 minutes, partition at 00:20 for
/// 5 minutes) at half the traffic, to keep the suite quick.
fn small() -> TourConfigBuilder {
    TourConfig::short().requests_per_second(5)
}

fn print(r: &TourResult) {
    for line in r.narrative() {
        println!("{line}");
    }
    println!("{}", r.summary());
}

#[test]
fn same_seed_same_event_log_different_seed_different_day() {
    let config = small().day(45 * MINUTE).build().expect("valid config");
    let a = tour::run(&config, 11);
    let b = tour::run(&config, 11);
    let c = tour::run(&config, 12);
    assert_eq!(a.trace_hash, b.trace_hash);
    assert_eq!(a.narrative(), b.narrative());
    assert_eq!(a.samples, b.samples);
    assert_ne!(a.trace_hash, c.trace_hash);
    assert_ne!(a.samples, c.samples);
}

#[test]
fn the_day_keeps_its_invariants() {
    let config = small().build().expect("valid config");
    let r = tour::run(&config, 7);
    print(&r);
    let said = |what: &str| r.narrative().iter().any(|l| l.contains(what));
    // The crash is detected, no later than the detectors' own deadline plus one sweep.
    let detection = r.detection.expect("the crash is detected");
    let bound = r.detection_bound.expect("the detectors had a deadline");
    assert!(
        detection <= bound + Duration::from_secs(1),
        "{detection:?} > {bound:?}"
    );
    assert!(said("node 3 crashed (it held the lease)"));
    assert!(said("suspects node 3 (phi"));
    // The lease moves once the lock service lets it expire, never to two believers at once,
    // and the fence refuses the old leader's queued write.
    let failover = r.failover.expect("the lease moves");
    assert!(failover >= detection, "{failover:?} < {detection:?}");
    // The lock service waits out the 10 s term, renewed every 3.3 s: at least 6.6 s.
    assert!(
        failover >= Duration::from_secs(6),
        "{failover:?}: before the term ran out"
    );
    assert_ne!(r.new_leader, Some(r.crashed_node));
    assert_eq!(r.max_believing_holders, 1);
    assert_eq!(r.lease_overlaps, 0);
    assert!(r.worst_clock_ratio > 1.0 && r.worst_clock_ratio <= r.lease_drift_bound);
    assert_eq!(r.stale_writes_refused, 1);
    assert!(said("flushes a write queued under token 1: refused"));
    assert!(said("rejoins as a follower"));
    assert!(r.fenced_writes > 0);
    // The partition cuts the leader off: its lease runs out, the majority takes over.
    assert_eq!(r.partitioned_nodes.len(), 2);
    assert_eq!(r.partitioned_nodes[0], r.new_leader.expect("a new leader"));
    assert!(said("runs out on its own clock"));
    assert!(r.partition_failover.is_some());
    // The pause freezes the leader of the moment: its lease runs out on its
    // own clock while it is frozen, and another node takes over.
    let frozen = r.paused_node.expect("the script pauses a node");
    assert!(said(&format!("node {frozen} (the leader) freezes for 15s")));
    assert!(said(&format!("node {frozen} resumes")));
    assert!(said(&format!("suspects node {frozen}, frozen (phi")));
    let pause_failover = r.pause_failover.expect("the lease moves during the pause");
    assert!(
        pause_failover < Duration::from_secs(15),
        "{pause_failover:?}"
    );
    // Breakers open during the outage; retries stay within the budget.
    assert!(r.breaker_opens >= 1);
    assert!(said("clients of node 3 open their breaker"));
    assert!(said("clients of node 3 close their breaker"));
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
    // Replicas diverge in the partition and converge after it, by anti-entropy.
    assert!(r.divergent_at_heal > 0);
    let convergence = r.convergence.expect("the replicas converge");
    assert!(convergence <= 4 * MINUTE, "{convergence:?}");
    assert!(r.keys_repaired >= r.divergent_at_heal);
    assert_eq!(r.divergent_after, 0);
    assert!(said("the replicas agree on every key again"));
    // A page fires during the outage and clears after it; every firing clears.
    let fired = *r.alerts_fired.first().expect("an alert fires");
    assert!(fired > CRASH && fired <= CRASH + DOWN, "{fired:?}");
    assert_eq!(r.alerts_fired.len(), r.alerts_cleared.len());
    assert!(
        r.alerts_cleared
            .last()
            .is_some_and(|&t| t > PARTITION + CUT)
    );
    assert!(r.budget_consumed > 0.0);
    // The network lost some messages and dropped others at the partition and the crashed node.
    assert!(r.messages.1 > 0 && r.messages.2 > 0);
    // The timeline reads in order, with clock times.
    assert!(r.timeline.windows(2).all(|w| w[0].at <= w[1].at));
    assert!(
        r.narrative()
            .iter()
            .any(|l| l.starts_with("t+00:04:05  node 3 crashed"))
    );
}

#[test]
fn drift_beyond_the_lease_bound_shows_up_as_overlap() {
    // The lock service's clock runs 20% fast and the nodes' 10-20% slow, far
    // beyond the 1% the lease allows: when the partition cuts the leader off,
    // it still believes in its lease after the lock service granted it anew.
    let config = small()
        .day(45 * MINUTE)
        .clock_drift(0.2)
        .build()
        .expect("valid config");
    assert!(config.worst_clock_ratio() > config.lease_drift_bound());
    let r = tour::run(&config, 7);
    print(&r);
    assert!(r.lease_overlaps >= 1, "no overlap found");
    assert!(r.max_believing_holders >= 2);
    assert!(
        r.narrative()
            .iter()
            .any(|l| l.contains("nodes believe they hold the lease at once"))
    );
    // The same drift under a lease that allows for it is safe again.
    let safe = small()
        .day(45 * MINUTE)
        .clock_drift(0.2)
        .lease_drift_bound(1.5)
        .build()
        .expect("valid config");
    let r = tour::run(&safe, 7);
    assert_eq!(r.lease_overlaps, 0);
    assert_eq!(r.max_believing_holders, 1);
    assert!(r.partition_failover.is_some());
}

#[test]
fn many_days_aggregate_with_confidence_intervals() {
    let config = small().day(45 * MINUTE).build().expect("valid config");
    let summary = tour::run_many(&config, &[1, 2, 3], 2);
    assert_eq!(summary.runs.len(), 3);
    assert!(summary.runs.iter().all(|r| r.timeline.is_empty()));
    for s in [
        summary.detection_secs,
        summary.failover_secs,
        summary.partition_failover_secs,
        summary.pause_failover_secs,
        summary.amplification,
        summary.convergence_secs,
        summary.alerts_fired,
    ] {
        let s = s.expect("every run measured it");
        assert_eq!(s.n, 3);
        assert!(s.ci95.0 <= s.mean && s.mean <= s.ci95.1);
    }
    assert_eq!(summary.lease_overlaps.expect("counted").max, 0.0);
    // The same seeds on one thread give the same runs.
    let again = tour::run_many(&config, &[1, 2, 3], 1);
    let hashes = |s: &tour::TourSummary| s.runs.iter().map(|r| r.trace_hash).collect::<Vec<_>>();
    assert_eq!(hashes(&summary), hashes(&again));
    let report = summary.report();
    assert_eq!(report.summary().rows().len(), 11);
    assert_eq!(report.data_tables()[0].1.rows().len(), 3);
}

#[test]
fn the_report_has_plots_and_csvs() {
    let r = tour::run(&small().day(45 * MINUTE).build().expect("valid"), 3);
    let report = r.report();
    assert_eq!(report.plots().len(), 2);
    assert!(report.to_html().expect("plots draw").contains("<svg"));
    assert!(!report.data_tables().is_empty());
}

#[test]
fn configs_are_validated() {
    let err = |b: TourConfigBuilder| b.build().unwrap_err().to_string();
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
    for drift in [f64::NAN, -0.1, 0.5, f64::INFINITY] {
        assert!(err(TourConfig::builder().clock_drift(drift)).starts_with("tour.clock_drift"));
    }
    assert!(
        err(TourConfig::short().pause(Duration::from_secs(26 * 60), Duration::from_secs(15)))
            .starts_with("tour.pause.at")
    );
    assert!(
        err(TourConfig::short().pause(Duration::from_secs(40 * 60), Duration::ZERO))
            .starts_with("tour.pause.length")
    );
    assert!(
        TourConfig::short()
            .day(Duration::from_secs(45 * 60))
            .no_pause()
            .partition(Duration::from_secs(20 * 60), Duration::from_secs(5 * 60))
            .build()
            .is_ok()
    );
    for kappa in [f64::NAN, 0.99, 2.5] {
        assert!(
            err(TourConfig::builder().lease_drift_bound(kappa))
                .starts_with("tour.lease_drift_bound")
        );
    }
    // A network is validated where it is made.
    assert!(Network::new(Latency::Constant(Duration::ZERO), Loss::Independent(2.0)).is_err());
    let lossless = Network::new(Latency::Constant(Duration::from_millis(1)), Loss::None)
        .expect("valid network");
    assert!(TourConfig::builder().network(lossless).build().is_ok());
}
