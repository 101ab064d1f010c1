//! The `anti-entropy` scenario's invariants.

use std::time::Duration;

use steadfast_sim::scenario::anti_entropy::{self, AntiEntropyConfig, Strategy};

fn small() -> AntiEntropyConfig {
    AntiEntropyConfig::builder()
        .replicas(3)
        .keys(200)
        .write_rate(60.0)
        .read_rate(80.0)
        .partition(Duration::from_secs(2), Duration::from_secs(10))
        .duration(Duration::from_secs(25))
        .merkle_depth(8)
        .build()
        .unwrap()
}

#[test]
fn same_seed_same_run_and_seeds_differ() {
    let config = small();
    let a = anti_entropy::run(&config, 5);
    assert_eq!(a, anti_entropy::run(&config, 5));
    let b = anti_entropy::run(&config, 6);
    for (x, y) in a.strategies.iter().zip(&b.strategies) {
        assert_ne!(x.trace_hash, y.trace_hash);
    }
}

#[test]
fn every_strategy_converges_after_the_heal() {
    let summary = anti_entropy::run_many(&small(), &[1, 2], 2);
    for run in &summary.runs {
        for s in &run.strategies {
            assert!(
                s.divergent_at_heal > 0,
                "the partition made replicas diverge"
            );
            assert!(s.keys_read_after_heal > 0);
            assert_eq!(
                s.read_keys_divergent_at_end, 0,
                "{}: read keys converge",
                s.strategy
            );
            match s.strategy {
                Strategy::ReadRepair => {
                    assert_eq!(s.merkle_bytes + s.sync_bytes, 0);
                    assert!(s.repair_bytes > 0);
                }
                _ => {
                    assert_eq!(s.divergent_at_end, 0);
                    assert!(s.converged_after.is_some());
                }
            }
        }
    }
}

#[test]
fn bytes_reported_match_the_exchanges() {
    let config = AntiEntropyConfig::builder()
        .keys(200)
        .partition(Duration::from_secs(2), Duration::from_secs(6))
        .duration(Duration::from_secs(20))
        .strategies(vec![Strategy::Merkle])
        .build()
        .unwrap();
    let run = anti_entropy::run(&config, 3);
    let s = run.strategy(Strategy::Merkle).unwrap();
    assert!(!s.exchanges.is_empty());
    assert_eq!(s.repair_bytes, 0);
    let mut found_ranges = false;
    for e in &s.exchanges {
        assert_eq!(e.merkle_bytes, e.wire_bytes, "{e:?}");
        assert!(e.rounds >= 1);
        if e.ranges == 0 {
            assert_eq!((e.keys_sent, e.data_bytes), (0, 0));
        } else {
            found_ranges = true;
        }
    }
    assert!(found_ranges);
    // Every completed exchange is counted; abandoned ones add to the total.
    let completed: u64 = s.exchanges.iter().map(|e| e.merkle_bytes as u64).sum();
    assert!(s.merkle_bytes >= completed);
    let sent: u64 = s.exchanges.iter().map(|e| e.data_bytes as u64).sum();
    assert!(s.sync_bytes >= sent);
}

#[test]
fn reports_write_csv_svg_and_html() {
    let config = AntiEntropyConfig::builder()
        .keys(100)
        .partition(Duration::from_secs(1), Duration::from_secs(4))
        .duration(Duration::from_secs(10))
        .build()
        .unwrap();
    let report = anti_entropy::run(&config, 1).report();
    let dir = std::env::temp_dir().join(format!("steadfast-anti-entropy-{}", std::process::id()));
    let written = report.write_to(&dir).unwrap();
    assert!(written.iter().any(|p| p.ends_with("divergent-keys.svg")));
    assert!(dir.join("exchanges.csv").is_file() && dir.join("summary.csv").is_file());
    let many = anti_entropy::run_many(&config, &[1, 2], 2).report();
    assert!(many.to_html().unwrap().contains("<svg"));
    print!("{report}\n{many}");
    std::fs::remove_dir_all(&dir).unwrap();
}
