//! The `lease-safety` scenario's invariants.

use std::time::Duration;

use steadfast_sim::scenario::lease_safety::{self, LeaseSafetyConfig};

fn inside() -> LeaseSafetyConfig {
    LeaseSafetyConfig::builder()
        .candidates(3)
        .drift_bound(1.05)
        .clock_spread(1.05)
        .duration(Duration::from_secs(90))
        .build()
        .unwrap()
}

fn outside() -> LeaseSafetyConfig {
    LeaseSafetyConfig::builder()
        .candidates(3)
        .drift_bound(1.01)
        .clock_spread(1.6)
        .duration(Duration::from_secs(90))
        .build()
        .unwrap()
}

#[test]
fn same_seed_same_run_and_seeds_differ() {
    let config = inside();
    let a = lease_safety::run(&config, 11);
    assert_eq!(a, lease_safety::run(&config, 11));
    let b = lease_safety::run(&config, 12);
    assert_ne!(a.trace_hash, b.trace_hash);
    assert_eq!(
        lease_safety::run_many(&config, &[3, 4, 5], 1),
        lease_safety::run_many(&config, &[3, 4, 5], 3)
    );
}

#[test]
fn no_overlap_inside_the_drift_bound() {
    let summary = lease_safety::run_many(&inside(), &[1, 2, 3, 4, 5, 6], 2);
    for r in &summary.runs {
        assert!(r.within_bound);
        assert_eq!(r.overlaps, 0, "seed {}: {:?}", r.seed, r.overlap_time);
        assert_eq!(r.overlap_time, Duration::ZERO);
        assert!(!r.failovers.is_empty(), "faults force failovers");
    }
    assert_eq!(summary.runs_with_overlap, 0);
}

#[test]
fn overlaps_outside_the_drift_bound() {
    let summary = lease_safety::run_many(&outside(), &[1, 2, 3], 2);
    assert!(summary.runs.iter().all(|r| !r.within_bound));
    assert!(summary.runs_with_overlap >= 1);
    let r = summary.runs.iter().find(|r| r.overlaps > 0).unwrap();
    assert!(r.overlap_time > Duration::ZERO);
}

#[test]
fn the_fence_refuses_stale_writes() {
    let config = LeaseSafetyConfig::builder()
        .partitions(false)
        .write_delay(Duration::from_millis(90))
        .duration(Duration::from_secs(90))
        .build()
        .unwrap();
    let summary = lease_safety::run_many(&config, &[1, 2, 3, 4], 2);
    for r in &summary.runs {
        assert!(r.stale_writes_refused <= r.late_writes);
    }
    assert!(
        summary
            .runs
            .iter()
            .map(|r| r.stale_writes_refused)
            .sum::<u64>()
            > 0
    );
}

#[test]
fn reports_write_csv_svg_and_html() {
    let config = inside();
    let result = lease_safety::run(&config, 2);
    let report = result.report();
    assert!(report.to_string().contains("overlap episodes"));
    let dir = std::env::temp_dir().join(format!("steadfast-lease-safety-{}", std::process::id()));
    let written = report.write_to(&dir).unwrap();
    assert!(written.iter().any(|p| p.ends_with("failover-cdf.svg")));
    assert!(dir.join("holders.svg").is_file() && dir.join("believers.csv").is_file());
    let many = lease_safety::run_many(&config, &[1, 2], 2).report();
    assert!(many.to_html().unwrap().contains("<svg"));
    print!("{report}\n{many}");
    std::fs::remove_dir_all(&dir).unwrap();
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(12))]

    /// The `T/κ` rule: whatever the seed, the candidates, the grantors, the
    /// faults and the clocks' rates, holders never overlap while the clocks
    /// stay within `κ`.
    #[test]
    fn never_overlaps_within_the_bound(
        seed in proptest::prelude::any::<u64>(),
        candidates in 2usize..5,
        kappa in 1.0f64..1.3,
        share in 0.0f64..=1.0,
        pauses in proptest::prelude::any::<bool>(),
        latency_ms in 1u64..30,
        grantors in proptest::sample::select(vec![1usize, 3, 5]),
        grantor_faults in proptest::prelude::any::<bool>(),
    ) {
        let spread = 1.0 + (kappa - 1.0) * share;
        let network = steadfast_sim::Network::new(
            steadfast_sim::Latency::Constant(Duration::from_millis(latency_ms)),
            steadfast_sim::Loss::Independent(0.05),
        ).unwrap();
        let config = LeaseSafetyConfig::builder()
            .candidates(candidates)
            .grantors(grantors)
            .grantor_faults(grantor_faults)
            .drift_bound(kappa)
            .clock_spread(spread)
            .pauses(pauses)
            .network(network)
            .duration(Duration::from_secs(45))
            .build()
            .unwrap();
        let result = lease_safety::run(&config, seed);
        proptest::prop_assert_eq!(result.overlaps, 0);
        proptest::prop_assert!(result.first_leader_at.is_some());
    }
}

#[test]
fn grantor_clock_jumps_break_the_rule_even_inside_the_bound() {
    let config = LeaseSafetyConfig::builder()
        .drift_bound(1.05)
        .clock_spread(1.01)
        .pauses(false)
        .partitions(false)
        .grantor_jump(Some(Duration::from_secs(2)))
        .duration(Duration::from_secs(60))
        .build()
        .unwrap();
    let summary = lease_safety::run_many(&config, &[1, 2, 3], 2);
    assert!(summary.runs.iter().all(|r| r.within_bound));
    assert!(summary.runs_with_overlap >= 1);
    assert!(
        summary
            .runs
            .iter()
            .any(|r| r.faults.iter().any(|(_, f)| f.contains("grantor's clock")))
    );
}

#[test]
fn failover_stays_within_the_bound_the_parameters_imply() {
    for grantors in [3, 5] {
        for spread in [1.0, 1.05] {
            let config = LeaseSafetyConfig::builder()
                .grantors(grantors)
                .drift_bound(1.05)
                .clock_spread(spread)
                .duration(Duration::from_secs(90))
                .build()
                .unwrap();
            let bound = config.failover_bound();
            let summary = lease_safety::run_many(&config, &[1, 2, 3, 4, 5, 6, 7, 8], 2);
            let mut count = 0;
            for r in &summary.runs {
                for f in &r.failovers {
                    count += 1;
                    assert!(
                        *f <= bound,
                        "{grantors} grantors, spread {spread}, seed {}: {f:?} > {bound:?}",
                        r.seed
                    );
                }
            }
            assert!(count >= 8, "the faults force failovers");
        }
    }
}

#[test]
fn faults_land_exactly_at_their_planned_instants() {
    let config = LeaseSafetyConfig::builder()
        .fault_every(Duration::from_millis(7_321))
        .duration(Duration::from_secs(60))
        .network(
            steadfast_sim::Network::new(
                steadfast_sim::Latency::LogNormal {
                    median: Duration::from_millis(3),
                    sigma: 0.7,
                },
                steadfast_sim::Loss::None,
            )
            .unwrap(),
        )
        .build()
        .unwrap();
    let r = lease_safety::run(&config, 5);
    assert_eq!(r.faults.len(), 8);
    for (k, (at, _)) in r.faults.iter().enumerate() {
        assert_eq!(*at, Duration::from_millis(7_321) * (k as u32 + 1));
    }
    // A holder was paused or cut off at least once: each fault at a holder
    // names a candidate node (ids after the 3 grantors and the resource).
    assert!(
        r.faults
            .iter()
            .any(|(_, f)| f.starts_with("pause node") || f.starts_with("partition node"))
    );
}

#[test]
fn a_grantor_quorum_rides_out_grantor_faults_a_single_grantor_does_not() {
    let only_grantor_faults = |grantors| {
        LeaseSafetyConfig::builder()
            .grantors(grantors)
            .pauses(false)
            .partitions(false)
            .grantor_faults(true)
            .duration(Duration::from_secs(90))
            .build()
            .unwrap()
    };
    let quorum = lease_safety::run_many(&only_grantor_faults(3), &[1, 2, 3, 4], 2);
    for r in &quorum.runs {
        assert!(r.faults.iter().any(|(_, f)| f.contains("grantor")));
        assert!(
            r.failovers.is_empty(),
            "seed {}: a majority kept renewing: {:?} {:?}",
            r.seed,
            r.failovers,
            r.faults
        );
        assert_eq!(r.overlaps, 0);
    }
    let single = lease_safety::run_many(&only_grantor_faults(1), &[1, 2, 3, 4], 2);
    assert!(single.runs.iter().any(|r| !r.failovers.is_empty()));
    assert_eq!(single.runs_with_overlap, 0);
}
