//! The scenarios through the public API: determinism and each scenario's invariants.

use std::time::Duration;

use steadfast_detect::{FailureDetector, PhiAccrual, PhiAccrualConfig, PhiMode, phi_of_y};
use steadfast_sim::scenario::detector_qos::{self, DetectorKind, DetectorQosConfig, TraceKind};
use steadfast_sim::scenario::retry_storm::{self, RetryStormConfig};
use steadfast_sim::scenario::slo_burn::{self, SloBurnConfig, TierPreset};

const HOUR: Duration = Duration::from_secs(3600);

fn short_slo(ratio: f64, baseline: f64) -> SloBurnConfig {
    SloBurnConfig::builder()
        .duration(8 * HOUR)
        .baseline_error_ratio(baseline)
        .outage(2 * HOUR, 2 * HOUR, ratio)
        .build()
        .unwrap()
}

#[test]
fn slo_burn_same_seed_same_result_and_seeds_differ() {
    let config = short_slo(0.05, 0.0002);
    let a = slo_burn::run(&config, 3);
    assert_eq!(a, slo_burn::run(&config, 3));
    let b = slo_burn::run(&config, 4);
    assert_ne!(a.samples, b.samples);
    let many = slo_burn::run_many(&config, &[3, 4, 5], 2);
    assert_eq!(many.runs[0].transitions, a.transitions);
    assert_eq!(many.runs[0].tiers, a.tiers);
    assert!(many.runs[0].samples.is_empty());
    assert_eq!(many.time_to_detect.unwrap().n, 3);
}

#[test]
fn a_total_outage_is_detected_within_one_step_of_the_workbook_prediction() {
    // Every request fails: the error ratio is exactly 1 whatever the traffic.
    let config = short_slo(1.0, 0.0);
    let step = config.step();
    for seed in 0..3 {
        let r = slo_burn::run(&config, seed);
        let predicted = r.predicted.unwrap();
        assert_eq!(predicted.tier, 0);
        // 14.4 * 0.001 of an hour: 51.84 s.
        assert!((predicted.after.as_secs_f64() - 51.84).abs() < 1e-6);
        let detected = r.time_to_detect.unwrap();
        assert!(
            detected >= predicted.after && detected <= predicted.after + step,
            "{detected:?}"
        );
        assert!(r.tiers[0].fired >= 1);
    }
}

#[test]
fn a_partial_outage_is_detected_near_the_prediction() {
    // 5% errors: burn rate 50; the 1h tier needs 14.4/50 of its window, 1036.8 s.
    let config = short_slo(0.05, 0.0);
    let step = config.step().as_secs_f64();
    for seed in 0..3 {
        let r = slo_burn::run(&config, seed);
        let predicted = r.predicted.unwrap().after.as_secs_f64();
        assert!((predicted - 1036.8).abs() < 1e-6);
        let detected = r.time_to_detect.unwrap().as_secs_f64();
        // One step of resolution, plus a few steps of binomial noise in the window.
        assert!(
            (detected - predicted).abs() <= 4.0 * step,
            "seed {seed}: {detected} vs {predicted}"
        );
        // Budget spent at detection: about 50 * 1036.8 s / 30 days = 2%.
        let spent = r.budget_consumed_at_detection.unwrap();
        assert!((spent - 0.02).abs() < 0.005, "{spent}");
    }
}

#[test]
fn alerts_clear_after_the_outage_and_a_mild_baseline_never_fires() {
    let r = slo_burn::run(&short_slo(1.0, 0.0), 1);
    let last = r.transitions.iter().rev().find(|t| t.tier == 0).unwrap();
    assert!(
        !last.fired,
        "the 1h tier clears once the outage has left its windows"
    );
    let quiet = slo_burn::run(&short_slo(0.0, 0.0001), 1);
    assert!(quiet.transitions.is_empty());
    assert_eq!(quiet.time_to_detect, None);
    assert!(quiet.budget_consumed < 0.01);
}

#[test]
fn slo_burn_presets_and_a_slow_leak() {
    let config = SloBurnConfig::builder()
        .duration(30 * HOUR)
        .preset(TierPreset::Sloth)
        .baseline_error_ratio(0.0)
        .outage(Duration::ZERO, Duration::ZERO, 0.0)
        .leak(Duration::ZERO, 30 * HOUR, 0.01)
        .step(Duration::from_secs(300))
        .build()
        .unwrap();
    let r = slo_burn::run(&config, 9);
    assert_eq!(r.tiers.len(), 4);
    // 1% errors is burn rate 10: the 6h tier (burn 6) pages, the 1h tier (14.4) never does.
    assert_eq!(r.tiers[0].fired, 0);
    assert!(r.tiers[1].fired >= 1);
    // Without an outage, detection is measured from the leak: 6/10 of 6h.
    assert_eq!(r.incident.map(|(what, _)| what), Some("leak"));
    assert_eq!(r.predicted.unwrap().after, Duration::from_secs(12_960));
    let detected = r.tiers[1].detected_after.unwrap().as_secs_f64();
    assert!((detected - 12_960.0).abs() <= 6.0 * 300.0, "{detected}");
    assert!(
        r.report()
            .narrative()
            .iter()
            .any(|l| l.contains("slow leak starts"))
    );
}

#[test]
fn slo_burn_rejects_bad_configs() {
    let err = |b: slo_burn::SloBurnConfigBuilder| b.build().unwrap_err().to_string();
    assert!(err(SloBurnConfig::builder().target(f64::NAN)).contains("NaN"));
    assert!(err(SloBurnConfig::builder().step(Duration::ZERO)).contains("slo_burn.step"));
    assert!(err(SloBurnConfig::builder().duration(Duration::ZERO)).contains("slo_burn.duration"));
    assert!(
        err(SloBurnConfig::builder().requests_per_step(f64::INFINITY))
            .contains("slo_burn.requests_per_step")
    );
    assert!(
        err(SloBurnConfig::builder().outage(HOUR, HOUR, -0.1))
            .contains("slo_burn.outage.error_ratio")
    );
    assert!(err(SloBurnConfig::builder().period(Duration::ZERO)).contains("period"));
    // A one-nanosecond step would need 2.6 * 10^14 warm-up steps for the 3-day window.
    assert!(
        err(SloBurnConfig::builder()
            .step(Duration::from_nanos(1))
            .duration(Duration::from_millis(1)))
        .contains("at least 1/10^7 of the longest alert window")
    );
    assert!(
        err(SloBurnConfig::builder().duration(Duration::from_secs(u64::MAX)))
            .contains("slo_burn.duration")
    );
    assert!(err(SloBurnConfig::builder().buckets_per_window(0)).contains("buckets"));
    // No traffic: nothing fires, nothing is spent, nothing is NaN.
    let idle = SloBurnConfig::builder()
        .duration(HOUR)
        .requests_per_step(0.0)
        .build()
        .unwrap();
    let r = slo_burn::run(&idle, 1);
    assert_eq!((r.requests, r.budget_consumed), (0, 0.0));
    assert!(r.report().to_html().is_ok());
}

fn small_qos() -> DetectorQosConfig {
    DetectorQosConfig::builder()
        .heartbeats(400)
        .build()
        .unwrap()
}

#[test]
fn detector_qos_same_seed_same_result_and_seeds_differ() {
    let config = small_qos();
    let a = detector_qos::run(&config, 11);
    assert_eq!(a, detector_qos::run(&config, 11));
    assert_ne!(a.points, detector_qos::run(&config, 12).points);
    let expected: usize =
        config.sweeps().iter().map(|(_, s)| s.len()).sum::<usize>() * TraceKind::ALL.len();
    assert_eq!(a.points.len(), expected);
    let many = detector_qos::run_many(&config, &[11, 12], 2);
    assert_eq!(many.runs[0], a);
    assert_eq!(many.points.len(), expected);
}

#[test]
fn detection_times_follow_from_the_parameters() {
    let config = small_qos();
    let interval = config.interval().as_secs_f64();
    for seed in 0..2 {
        let r = detector_qos::run(&config, seed);
        for p in &r.points {
            let silence = p.final_silence.unwrap().as_secs_f64();
            let t_d = p.detection_time.unwrap().as_secs_f64();
            // The crash follows the last heartbeat sent by half an interval.
            assert!(t_d <= silence, "{p:?}");
            match p.detector {
                DetectorKind::FixedTimeout => {
                    assert!((silence - p.parameter * interval).abs() < 1e-9, "{p:?}");
                }
                DetectorKind::Chen => {
                    // Timeout = mean recorded interval + margin; recorded intervals are below the timeout.
                    assert!(silence >= p.parameter * interval, "{p:?}");
                    assert!(silence <= (2.0 * p.parameter + 2.0) * interval, "{p:?}");
                }
                DetectorKind::ExponentialPhi => {
                    // Cassandra's phi is t / mean / ln 10; learnt intervals are capped at two.
                    let bound = p.parameter * std::f64::consts::LN_10 * 2.0 * interval;
                    assert!(silence > 0.0 && silence <= bound + 1e-9, "{p:?}");
                }
                _ => assert!(silence > 0.0),
            }
        }
    }
}

#[test]
fn phi_detection_matches_the_phi_of_the_final_silence() {
    let config = DetectorQosConfig::builder()
        .heartbeats(300)
        .trace_kinds(vec![TraceKind::NormalJitter])
        .detectors(vec![DetectorKind::PhiAccrual])
        .build()
        .unwrap();
    let trace = config.trace(TraceKind::NormalJitter, 5);
    let r = detector_qos::run(&config, 5);
    for p in &r.points {
        let mut phi = PhiAccrual::new(
            PhiAccrualConfig::builder()
                .threshold(p.parameter)
                .max_sample_size(200)
                .min_std_deviation(config.interval() / 10)
                .acceptable_heartbeat_pause(Duration::ZERO)
                .first_heartbeat_estimate(config.interval())
                .build()
                .unwrap(),
        );
        for &a in trace.arrivals() {
            let _ = phi.heartbeat(a);
        }
        // Suspicion starts where the standardised silence y reaches phi's threshold.
        let (mu, sigma) = (
            phi.mean_interval().as_secs_f64(),
            phi.std_deviation().as_secs_f64().max(0.1),
        );
        let (mut lo, mut hi) = (-10.0_f64, 100.0_f64);
        for _ in 0..200 {
            let mid = (lo + hi) / 2.0;
            if phi_of_y(PhiMode::AkkaCompatible, mid) >= p.parameter {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        let expected = mu + hi * sigma;
        let silence = p.final_silence.unwrap().as_secs_f64();
        assert!(
            (silence - expected).abs() < 1e-3,
            "{}: {silence} vs {expected}",
            p.parameter
        );
    }
}

#[test]
fn a_stricter_threshold_never_makes_fewer_mistakes() {
    // Exact for the fixed timeout (a longer timeout covers every gap a shorter one does);
    // checked here for the adaptive detectors on these traces, where the
    // threshold also changes which intervals are learnt.
    let config = small_qos();
    for seed in 0..3 {
        let r = detector_qos::run(&config, seed);
        for pair in r.points.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            if a.trace != b.trace || a.detector != b.detector {
                continue;
            }
            assert!(b.parameter > a.parameter);
            assert!(b.mistakes <= a.mistakes, "seed {seed}: {a:?} then {b:?}");
            assert!(
                b.mistaken_time <= a.mistaken_time,
                "seed {seed}: {a:?} then {b:?}"
            );
            assert!(
                b.detection_time >= a.detection_time,
                "seed {seed}: {a:?} then {b:?}"
            );
        }
    }
}

#[test]
fn detector_qos_rejects_bad_configs_and_reports() {
    let err = |b: detector_qos::DetectorQosConfigBuilder| b.build().unwrap_err().to_string();
    assert!(err(DetectorQosConfig::builder().heartbeats(1)).contains("detector_qos.heartbeats"));
    assert!(err(DetectorQosConfig::builder().interval(Duration::ZERO)).contains("interval"));
    assert!(err(DetectorQosConfig::builder().trace_kinds(vec![])).contains("trace_kinds"));
    assert!(err(DetectorQosConfig::builder().detectors(vec![])).contains("detectors"));
    assert!(
        err(DetectorQosConfig::builder().sweep(DetectorKind::FixedTimeout, vec![-1.0]))
            .contains("fixed-timeout")
    );
    assert!(
        err(DetectorQosConfig::builder().sweep(DetectorKind::Chen, vec![])).contains("sweep.chen")
    );
    let config = DetectorQosConfig::builder()
        .heartbeats(50)
        .trace_kinds(vec![TraceKind::Pauses])
        .build()
        .unwrap();
    let report = detector_qos::run(&config, 1).report();
    assert_eq!(report.plots().len(), 1);
    assert!(report.to_html().unwrap().contains("<svg"));
    let many = detector_qos::run_many(&config, &[1, 2, 3], 3).report();
    assert!(many.summary().rows().len() > 10);
}

/// 100 requests/s against 150 attempts/s, failing for 3 s: plain retries
/// (up to 4 attempts) overload the server.
fn storm(seed_capacity: f64) -> RetryStormConfig {
    RetryStormConfig::builder()
        .clients(5)
        .rate_per_client(20.0)
        .capacity_per_sec(seed_capacity)
        .duration(Duration::from_secs(15))
        .failure(Duration::from_secs(3), Duration::from_secs(3))
        .build()
        .unwrap()
}

#[test]
fn retry_storm_same_seed_same_result_and_threads_do_not_matter() {
    let config = storm(150.0);
    assert_eq!(retry_storm::run(&config, 9), retry_storm::run(&config, 9));
    assert_ne!(retry_storm::run(&config, 9), retry_storm::run(&config, 10));
    assert_eq!(
        retry_storm::run_many(&config, &[1, 2, 3], 1),
        retry_storm::run_many(&config, &[1, 2, 3], 3)
    );
}

#[test]
fn a_budget_amplifies_less_than_plain_retries() {
    for capacity in [150.0, 2_000.0] {
        let summary = retry_storm::run_many(&storm(capacity), &[1, 2, 3, 4], 2);
        for r in &summary.runs {
            let [plain, budget, breaker] = [&r.policies[0], &r.policies[1], &r.policies[2]];
            assert!(
                budget.window_amplification < plain.window_amplification,
                "seed {}: {budget:?} vs {plain:?}",
                r.seed
            );
            assert!(budget.amplification < plain.amplification);
            assert!(breaker.window_amplification <= budget.window_amplification);
        }
    }
}

#[test]
fn plain_retries_recover_later_than_budget_and_breaker_in_a_storm() {
    let summary = retry_storm::run_many(&storm(150.0), &[1, 2, 3, 4], 2);
    for r in &summary.runs {
        let [plain, budget, breaker] = [&r.policies[0], &r.policies[1], &r.policies[2]];
        let never = Duration::MAX;
        let breaker_recovery = breaker.recovery.expect("budget and breaker recover");
        assert!(
            plain.recovery.unwrap_or(never) > breaker_recovery,
            "seed {}: plain {:?} vs breaker {:?}",
            r.seed,
            plain.recovery,
            breaker.recovery
        );
        assert!(budget.recovery.is_some());
        // The storm: calls slower than the timeout, the server busy with
        // attempts nobody waits for any more, long after the failure.
        assert!(plain.peak_queue_delay > Duration::from_secs(1));
        assert!(plain.wasted > 0 && plain.after_amplification > 2.0);
    }
    let plain = &summary.policies[0];
    assert_eq!(plain.recovered_runs, 0);
    assert_eq!(summary.policies[2].recovered_runs, 4);
    // With capacity for every attempt, there is no storm: plain retries recover too.
    let calm = retry_storm::run(&storm(2_000.0), 1);
    assert!(
        calm.policies[0]
            .recovery
            .is_some_and(|d| d <= Duration::from_secs(1)),
        "{:?}",
        calm.policies[0]
    );
}
