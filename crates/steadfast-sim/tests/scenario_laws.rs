//! Laws of the scenarios over random seeds and settings.

use std::time::Duration;

use proptest::prelude::*;
use steadfast_sim::scenario::detector_qos::{self, DetectorKind, DetectorQosConfig, TraceKind};
use steadfast_sim::scenario::retry_storm::{self, RetryStormConfig};
use steadfast_sim::scenario::slo_burn::{self, SloBurnConfig};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// On steady traffic, a total outage fires the fastest tier within the
    /// window's bucket resolution of the Workbook's prediction, whatever the
    /// seed, step, start and objective.
    #[test]
    fn total_outage_detection_matches_the_arithmetic(
        seed in any::<u64>(),
        step_secs in prop::sample::select(vec![10_u64, 30, 60, 120]),
        start_steps in 1_u64..100,
        target in prop::sample::select(vec![0.99, 0.999, 0.9995]),
    ) {
        let step = Duration::from_secs(step_secs);
        let start = step * start_steps as u32;
        let config = SloBurnConfig::builder()
            .target(target)
            .step(step)
            .duration(start + Duration::from_secs(3 * 3600))
            .baseline_error_ratio(0.0)
            .outage(start, Duration::from_secs(3600), 1.0)
            .requests_per_step(200.0)
            .poisson_traffic(false)
            .build()
            .unwrap();
        let r = slo_burn::run(&config, seed);
        let predicted = r.predicted.unwrap();
        let tier = &config.policy().tiers()[predicted.tier];
        // The newest bucket is partly filled: the window may hold up to one bucket less.
        let bucket = tier.long() / config.policy().buckets_per_window() as u32;
        let fill = predicted.after.as_secs_f64() / tier.long().as_secs_f64();
        let early = bucket.mul_f64(fill);
        let detected = r.time_to_detect.unwrap();
        prop_assert!(
            detected + early >= predicted.after && detected <= predicted.after + step,
            "{detected:?} vs {predicted:?}"
        );
        // Budget accounting: every failed request is counted once.
        let errors: u64 = r.samples.iter().map(|s| s.errors).sum();
        prop_assert_eq!(errors, r.errors);
    }

    /// A longer fixed timeout never makes more mistakes, never spends more
    /// time wrongly suspecting, and never detects sooner, on the same trace.
    #[test]
    fn longer_fixed_timeouts_are_more_accurate_and_slower(
        seed in any::<u64>(),
        a in 1.1_f64..10.0,
        b in 1.1_f64..10.0,
        kind in prop::sample::select(TraceKind::ALL.to_vec()),
    ) {
        let (short, long) = if a <= b { (a, b) } else { (b, a) };
        let config = DetectorQosConfig::builder()
            .heartbeats(150)
            .trace_kinds(vec![kind])
            .detectors(vec![DetectorKind::FixedTimeout])
            .sweep(DetectorKind::FixedTimeout, vec![short, long])
            .build()
            .unwrap();
        let r = detector_qos::run(&config, seed);
        let (s, l) = (&r.points[0], &r.points[1]);
        prop_assert!(l.mistakes <= s.mistakes);
        prop_assert!(l.mistaken_time <= s.mistaken_time);
        prop_assert!(l.detection_time >= s.detection_time);
    }

    /// Results do not depend on the number of threads.
    #[test]
    fn many_runs_do_not_depend_on_threads(seed in any::<u64>(), threads in 1_usize..4) {
        let config = DetectorQosConfig::builder()
            .heartbeats(50)
            .trace_kinds(vec![TraceKind::BurstyLoss])
            .build()
            .unwrap();
        let seeds = [seed, seed.wrapping_add(1), seed.wrapping_add(2)];
        prop_assert_eq!(
            detector_qos::run_many(&config, &seeds, threads),
            detector_qos::run_many(&config, &seeds, 1)
        );
    }

    /// Retry-storm accounting, whatever the seed, capacity and failure: no
    /// request makes more attempts than allowed, the per-second series add
    /// up to the totals, and a budget never lets more attempts through
    /// during the failure than plain retries. With capacity for every
    /// attempt there is no storm, and plain retries recover within a second.
    #[test]
    fn retry_storm_accounting_and_no_storm_without_overload(
        seed in any::<u64>(),
        capacity in 80.0_f64..3_000.0,
        failure_secs in 1_u64..4,
        attempts in 2_u32..5,
    ) {
        let config = RetryStormConfig::builder()
            .clients(4)
            .rate_per_client(20.0)
            .capacity_per_sec(capacity)
            .max_attempts(attempts)
            .duration(Duration::from_secs(10))
            .failure(Duration::from_secs(2), Duration::from_secs(failure_secs))
            .build()
            .unwrap();
        let r = retry_storm::run(&config, seed);
        for p in &r.policies {
            prop_assert!(p.server_requests <= p.client_requests * u64::from(attempts));
            prop_assert!(p.successes <= p.client_requests);
            prop_assert_eq!(p.load.iter().sum::<u64>(), p.server_requests);
            prop_assert_eq!(p.goodput_per_sec.iter().sum::<u64>(), p.successes);
        }
        let [plain, budget] = [&r.policies[0], &r.policies[1]];
        prop_assert!(budget.window_amplification <= plain.window_amplification);
        if capacity >= 80.0 * f64::from(attempts) * 1.5 {
            prop_assert!(
                plain.recovery.is_some_and(|d| d <= Duration::from_secs(1)),
                "{:?}", plain
            );
        }
    }
}
