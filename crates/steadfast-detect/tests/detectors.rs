//! The detectors through the public API: the trait's laws for every detector
//! (proptest), and the documented behaviour of Akka/Pekko and Cassandra.

use std::time::Duration;

use proptest::prelude::*;
use steadfast_core::Timestamp;
use steadfast_detect::{
    ChenConfig, ChenDetector, ExponentialPhi, ExponentialPhiConfig, FailureDetector, FixedTimeout,
    HeartbeatOutcome, PHI_FACTOR, PhiAccrual, PhiAccrualConfig, PhiMode,
};

fn ms(n: u64) -> Timestamp {
    Timestamp::from_millis(n)
}

fn pekko() -> PhiAccrual {
    PhiAccrual::new(PhiAccrualConfig::builder().build().unwrap())
}

/// Every detector under test, fresh.
fn all_detectors() -> Vec<(&'static str, Box<dyn FailureDetector>, bool)> {
    // (name, detector, suspected only when strictly above the threshold)
    vec![
        (
            "fixed",
            Box::new(FixedTimeout::new(Duration::from_millis(1500)).unwrap()),
            false,
        ),
        (
            "chen",
            Box::new(ChenDetector::new(ChenConfig::builder().build().unwrap())),
            false,
        ),
        ("phi-akka", Box::new(pekko()), false),
        (
            "phi-exact",
            Box::new(PhiAccrual::new(
                PhiAccrualConfig::builder()
                    .mode(PhiMode::Exact)
                    .min_std_deviation(Duration::from_millis(1))
                    .acceptable_heartbeat_pause(Duration::ZERO)
                    .threshold(300.0)
                    .build()
                    .unwrap(),
            )),
            false,
        ),
        (
            "phi-akka-tight",
            Box::new(PhiAccrual::new(
                PhiAccrualConfig::builder()
                    .min_std_deviation(Duration::from_nanos(1))
                    .acceptable_heartbeat_pause(Duration::ZERO)
                    .threshold(1.0)
                    .max_sample_size(3)
                    .build()
                    .unwrap(),
            )),
            false,
        ),
        (
            "exponential",
            Box::new(ExponentialPhi::new(
                ExponentialPhiConfig::builder().build().unwrap(),
            )),
            true,
        ),
        (
            "chen-sequenced",
            Box::new(Numbered {
                chen: ChenDetector::new(
                    ChenConfig::builder()
                        .window(5)
                        .sending_interval(Duration::from_millis(700))
                        .safety_margin(Duration::from_millis(50))
                        .build()
                        .unwrap(),
                ),
                next: 0,
            }),
            false,
        ),
    ]
}

/// Chen's detector fed with sequence numbers that skip (lost heartbeats)
/// and repeat (duplicates), derived from the arrival times.
struct Numbered {
    chen: ChenDetector,
    next: u64,
}

impl FailureDetector for Numbered {
    fn heartbeat(&mut self, at: Timestamp) -> HeartbeatOutcome {
        let jump = at.as_nanos() % 4;
        self.next += jump;
        self.chen.heartbeat_with_sequence(at, self.next)
    }
    fn suspicion(&self, at: Timestamp) -> f64 {
        self.chen.suspicion(at)
    }
    fn threshold(&self) -> f64 {
        self.chen.threshold()
    }
    fn suspect_at(&self) -> Option<Timestamp> {
        self.chen.suspect_at()
    }
    fn last_heartbeat(&self) -> Option<Timestamp> {
        self.chen.last_heartbeat()
    }
    fn backwards_heartbeats(&self) -> u64 {
        self.chen.backwards_heartbeats()
    }
    fn reset(&mut self) {
        self.next = 0;
        self.chen.reset();
    }
}

fn check_laws(
    name: &str,
    detector: &mut dyn FailureDetector,
    strict: bool,
    steps: &[(i64, Vec<u64>)],
) -> Result<(), TestCaseError> {
    prop_assert_eq!(detector.suspect_at(), None);
    prop_assert_eq!(detector.suspicion(ms(5)), 0.0);
    let mut now: i64 = 1_000_000_000_000;
    let mut backwards = 0;
    for (step, queries) in steps {
        now = (now + step).max(0);
        let at = Timestamp::from_nanos(now as u64);
        let before = detector.last_heartbeat();
        let outcome = detector.heartbeat(at);
        if before.is_some_and(|b| at < b) {
            backwards += 1;
            prop_assert!(
                matches!(outcome, HeartbeatOutcome::Backwards { .. }),
                "{}",
                name
            );
            prop_assert_eq!(detector.last_heartbeat(), before);
        }
        let last = detector.last_heartbeat().unwrap();
        let deadline = detector.suspect_at().unwrap();
        prop_assert!(deadline >= last, "{}", name);
        let suspected = |s: f64| {
            if strict {
                s > detector.threshold()
            } else {
                s >= detector.threshold()
            }
        };
        // Exactness at the deadline, to the nanosecond.
        if deadline < Timestamp::MAX {
            prop_assert!(
                suspected(detector.suspicion(deadline)),
                "{} at deadline",
                name
            );
            prop_assert!(!detector.is_available(deadline), "{}", name);
            if deadline > last {
                let just_before = deadline - Duration::from_nanos(1);
                prop_assert!(
                    !suspected(detector.suspicion(just_before)),
                    "{} before deadline",
                    name
                );
                prop_assert!(detector.is_available(just_before), "{}", name);
            }
        }
        // Monotone, never NaN, consistent with suspect_at.
        let mut sorted = queries.clone();
        sorted.sort_unstable();
        let mut previous = 0.0;
        for offset in sorted {
            let t = last.saturating_add(Duration::from_nanos(offset));
            let s = detector.suspicion(t);
            prop_assert!(!s.is_nan() && s >= 0.0, "{} suspicion {}", name, s);
            prop_assert!(
                s >= previous,
                "{} not monotone: {} then {}",
                name,
                previous,
                s
            );
            previous = s;
            prop_assert_eq!(detector.is_available(t), t < deadline, "{}", name);
            prop_assert_eq!(suspected(s), t >= deadline, "{} at +{}ns", name, offset);
        }
        // Before the last heartbeat: as if no time had passed.
        prop_assert_eq!(
            detector.suspicion(Timestamp::ZERO),
            detector.suspicion(last),
            "{}",
            name
        );
    }
    prop_assert_eq!(detector.backwards_heartbeats(), backwards, "{}", name);
    detector.reset();
    prop_assert_eq!(detector.suspect_at(), None);
    prop_assert_eq!(detector.backwards_heartbeats(), 0);
    Ok(())
}

fn step() -> impl Strategy<Value = i64> {
    prop_oneof![
        8 => 0i64..3_000_000_000,
        2 => 0i64..20_000_000_000,
        1 => Just(0i64),
        1 => -2_000_000_000i64..0,
    ]
}

fn query() -> impl Strategy<Value = u64> {
    prop_oneof![
        0u64..10_000_000_000,
        0u64..1_000_000_000_000,
        Just(u64::MAX / 4),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_detector_keeps_the_trait_laws(
        steps in proptest::collection::vec((step(), proptest::collection::vec(query(), 0..6)), 1..40)
    ) {
        for (name, mut detector, strict) in all_detectors() {
            check_laws(name, detector.as_mut(), strict, &steps)?;
        }
    }
}

#[test]
fn pekko_cluster_defaults_are_reproduced() {
    let config = PhiAccrualConfig::builder().build().unwrap();
    assert_eq!(config.threshold(), 8.0);
    assert_eq!(config.max_sample_size(), 1000);
    assert_eq!(config.min_std_deviation(), Duration::from_millis(100));
    assert_eq!(config.acceptable_heartbeat_pause(), Duration::from_secs(3));
    assert_eq!(config.first_heartbeat_estimate(), Duration::from_secs(1));
    assert_eq!(config.mode(), PhiMode::AkkaCompatible);
}

#[test]
fn pekko_accepts_some_configured_missing_heartbeats() {
    // Pekko's spec: heartbeats every second, then a 3 s gap (the acceptable pause).
    let mut fd = pekko();
    let mut t = 0;
    for interval in [0, 1000, 1000, 1000, 1000, 1000, 3000] {
        t += interval;
        assert!(fd.is_available(ms(t)), "at {t}");
        let _ = fd.heartbeat(ms(t));
    }
    assert!(fd.is_available(ms(t + 1000)));
}

#[test]
fn pekko_fails_after_configured_acceptable_missing_heartbeats() {
    let mut fd = pekko();
    let mut t = 0;
    for _ in 0..7 {
        let _ = fd.heartbeat(ms(t));
        t += 1000;
    }
    let last = t - 1000;
    assert!(fd.is_available(ms(last + 1000)));
    assert!(!fd.is_available(ms(last + 5000)));
}

#[test]
fn pekko_first_heartbeat_alone_is_judged_by_the_estimate() {
    let mut fd = pekko();
    assert!(fd.is_available(ms(1_000_000)));
    assert_eq!(fd.heartbeat(ms(0)), HeartbeatOutcome::First);
    // Bootstrap: mean 1 s, deviation 250 ms; plus 3 s acceptable pause.
    assert_eq!(fd.mean_interval(), Duration::from_secs(1));
    assert_eq!(fd.std_deviation(), Duration::from_millis(250));
    let deadline = fd.suspect_at().unwrap();
    assert!(deadline > ms(4000) && deadline < ms(6000), "{deadline:?}");
}

#[test]
fn phi_gap_spanning_a_suspicion_is_not_recorded() {
    let mut fd = pekko();
    for s in 0..10 {
        let _ = fd.heartbeat(Timestamp::from_secs(s));
    }
    let samples = fd.samples();
    let deadline = fd.suspect_at().unwrap();
    let outcome = fd.heartbeat(deadline + Duration::from_secs(60));
    assert!(matches!(outcome, HeartbeatOutcome::NotRecorded { .. }));
    assert_eq!(fd.samples(), samples);
    // A zero interval is an ordinary sample.
    let now = fd.last_heartbeat().unwrap();
    assert!(matches!(
        fd.heartbeat(now),
        HeartbeatOutcome::Recorded { interval } if interval == Duration::ZERO
    ));
}

#[test]
fn phi_window_is_capped_at_max_sample_size() {
    let mut fd = PhiAccrual::new(
        PhiAccrualConfig::builder()
            .max_sample_size(5)
            .build()
            .unwrap(),
    );
    for s in 0..100 {
        let _ = fd.heartbeat(Timestamp::from_millis(s * 200));
    }
    assert_eq!(fd.samples(), 5);
    assert_eq!(fd.mean_interval(), Duration::from_millis(200));
    // The deviation floor applies.
    assert_eq!(fd.std_deviation(), Duration::from_millis(100));
}

#[test]
fn phi_config_rejects_bad_values_by_name() {
    let b = PhiAccrualConfig::builder;
    let cases = [
        (b().threshold(0.0).build(), "phi.threshold"),
        (b().threshold(f64::INFINITY).build(), "phi.threshold"),
        (b().max_sample_size(0).build(), "phi.max_sample_size"),
        (b().max_sample_size(1 << 20).build(), "phi.max_sample_size"),
        (
            b().min_std_deviation(Duration::ZERO).build(),
            "phi.min_std_deviation",
        ),
        (
            b().first_heartbeat_estimate(Duration::ZERO).build(),
            "phi.first_heartbeat_estimate",
        ),
        (
            b().acceptable_heartbeat_pause(Duration::MAX).build(),
            "phi.acceptable_heartbeat_pause",
        ),
    ];
    for (result, field) in cases {
        assert_eq!(result.unwrap_err().field(), field);
    }
}

#[test]
fn exact_phi_stays_finite_past_300() {
    let mut fd = PhiAccrual::new(
        PhiAccrualConfig::builder()
            .mode(PhiMode::Exact)
            .acceptable_heartbeat_pause(Duration::ZERO)
            .min_std_deviation(Duration::from_millis(10))
            .build()
            .unwrap(),
    );
    for s in 0..50 {
        let _ = fd.heartbeat(Timestamp::from_secs(s));
    }
    let last = fd.last_heartbeat().unwrap();
    let mut previous = 0.0;
    for extra_ms in (0..100_000).step_by(7) {
        let phi = fd.suspicion(last + Duration::from_millis(extra_ms));
        assert!(phi.is_finite() && phi >= previous);
        previous = phi;
    }
    assert!(previous > 300.0, "{previous}");
    assert!(fd.suspicion(Timestamp::MAX).is_finite());
}

#[test]
fn cassandra_defaults_are_reproduced() {
    let config = ExponentialPhiConfig::builder().build().unwrap();
    assert_eq!(config.threshold(), 8.0);
    assert_eq!(config.window(), 1000);
    assert!((PHI_FACTOR - std::f64::consts::LOG10_E).abs() < 1e-15);
    let mut fd = ExponentialPhi::new(config);
    // First report seeds the window with the 2 s initial value.
    assert_eq!(fd.heartbeat(ms(0)), HeartbeatOutcome::First);
    assert_eq!(fd.mean_interval(), Duration::from_secs(2));
    // Intervals above the 2 s maximum are ignored.
    assert!(matches!(
        fd.heartbeat(ms(2500)),
        HeartbeatOutcome::NotRecorded { .. }
    ));
    assert_eq!(fd.mean_interval(), Duration::from_secs(2));
    let _ = fd.heartbeat(ms(3500));
    assert_eq!(fd.mean_interval(), Duration::from_millis(1500));
    // Convicted when PHI_FACTOR * t / mean > 8, i.e. t > 8 ln(10) * 1.5 s.
    let deadline = fd.suspect_at().unwrap();
    let silence = deadline.saturating_duration_since(ms(3500)).as_secs_f64();
    assert!((silence - 8.0 * std::f64::consts::LN_10 * 1.5).abs() < 1e-6);
    // Strictly greater: exactly at the threshold the peer is still up.
    let at_threshold = fd.suspicion(deadline - Duration::from_nanos(1));
    assert!(at_threshold <= 8.0);
}

#[test]
fn chen_tracks_the_mean_and_ignores_outage_gaps() {
    let mut chen = ChenDetector::new(
        ChenConfig::builder()
            .window(4)
            .safety_margin(Duration::from_millis(100))
            .build()
            .unwrap(),
    );
    let _ = chen.heartbeat(ms(0));
    assert_eq!(chen.timeout(), Duration::from_millis(1100));
    for t in [200, 400, 600, 800] {
        let _ = chen.heartbeat(ms(t));
    }
    assert_eq!(chen.timeout(), Duration::from_millis(300));
    assert!(matches!(
        chen.heartbeat(ms(5000)),
        HeartbeatOutcome::NotRecorded { .. }
    ));
    assert_eq!(chen.timeout(), Duration::from_millis(300));
    assert!(
        ChenConfig::builder()
            .first_heartbeat_estimate(Duration::ZERO)
            .build()
            .is_err()
    );
}

#[test]
fn fixed_timeout_handles_time_at_the_end_of_the_range() {
    let mut fixed = FixedTimeout::new(Duration::from_secs(1)).unwrap();
    let _ = fixed.heartbeat(Timestamp::MAX - Duration::from_millis(10));
    assert_eq!(fixed.suspect_at(), Some(Timestamp::MAX));
    assert!(fixed.is_available(Timestamp::MAX - Duration::from_nanos(1)));
    assert!(FixedTimeout::new(Duration::ZERO).is_err());
    assert!(FixedTimeout::new(Duration::MAX).is_err());
}

/// Chen et al.'s estimate, computed the obvious way: the mean over the window
/// of `A_i - η s_i`, plus `(ℓ + 1) η`, plus α; at least 1 ns after the last
/// arrival.
fn chen_reference(window: &[(u64, u64)], eta: u64, alpha: u64) -> u64 {
    let n = window.len() as i128;
    let sum: i128 = window
        .iter()
        .map(|&(a, s)| i128::from(a) - i128::from(eta) * i128::from(s))
        .sum();
    let (a_last, latest) = *window.last().unwrap();
    // Round the mean to the nearest nanosecond, halves up.
    let mean = (2 * sum + n).div_euclid(2 * n);
    let freshness = mean + i128::from(eta) * (i128::from(latest) + 1) + i128::from(alpha);
    freshness.clamp(i128::from(a_last) + 1, i128::from(u64::MAX)) as u64
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// The O(1) running estimate equals the formula over the window, for
    /// any mix of delays, losses, duplicates and reordering.
    #[test]
    fn chen_sequenced_matches_the_formula(
        window in 1usize..8,
        eta in 1u64..2_000_000_000,
        alpha in 0u64..1_000_000_000,
        beats in proptest::collection::vec((0u64..3_000_000_000, -2i64..4), 1..60),
    ) {
        let mut chen = ChenDetector::new(
            ChenConfig::builder()
                .window(window)
                .sending_interval(Duration::from_nanos(eta))
                .safety_margin(Duration::from_nanos(alpha))
                .build()
                .unwrap(),
        );
        let mut accepted: Vec<(u64, u64)> = Vec::new();
        let mut now = 1_000_000_000u64;
        let mut sequence = 10u64;
        let mut ignored = 0;
        for (step, jump) in beats {
            now += step;
            sequence = sequence.saturating_add_signed(jump);
            let outcome = chen.heartbeat_with_sequence(Timestamp::from_nanos(now), sequence);
            match accepted.last() {
                Some(&(_, latest)) if sequence <= latest => {
                    ignored += 1;
                    prop_assert_eq!(outcome, HeartbeatOutcome::OutOfOrder { sequence, latest });
                    continue;
                }
                _ => accepted.push((now, sequence)),
            }
            let start = accepted.len().saturating_sub(window);
            let expected = chen_reference(&accepted[start..], eta, alpha);
            prop_assert_eq!(chen.suspect_at(), Some(Timestamp::from_nanos(expected)));
            prop_assert_eq!(chen.latest_sequence(), Some(sequence));
        }
        prop_assert_eq!(chen.out_of_order_heartbeats(), ignored);
    }
}

#[test]
fn chen_sequence_numbers_make_losses_harmless() {
    let config = ChenConfig::builder()
        .window(10)
        .sending_interval(Duration::from_millis(100))
        .safety_margin(Duration::from_millis(150))
        .build()
        .unwrap();
    let mut numbered = ChenDetector::new(config.clone());
    let mut unnumbered = ChenDetector::new(config);
    // Sent every 100 ms, arriving 5 ms later; every third heartbeat is lost.
    for k in (0..30u64).filter(|k| k % 3 != 2) {
        let at = ms(100 * k + 5);
        let _ = numbered.heartbeat_with_sequence(at, k);
        let _ = unnumbered.heartbeat(at);
    }
    // The last one received is number 28 (at 2805 ms): number 29 is due at
    // 2905 ms, suspected 150 ms later.
    assert_eq!(numbered.suspect_at(), Some(ms(2905 + 150)));
    assert_eq!(numbered.timeout(), Duration::from_millis(250));
    assert_eq!(numbered.out_of_order_heartbeats(), 0);
    // Without the numbers the gaps stretch the mean interval to 150 ms.
    assert_eq!(unnumbered.suspect_at(), Some(ms(2805 + 150 + 150)));
}

#[test]
fn chen_sequence_numbers_out_of_order_duplicates_and_restarts() {
    let mut chen = ChenDetector::new(
        ChenConfig::builder()
            .window(4)
            .sending_interval(Duration::from_millis(100))
            .safety_margin(Duration::ZERO)
            .build()
            .unwrap(),
    );
    assert_eq!(chen.latest_sequence(), None);
    assert_eq!(
        chen.heartbeat_with_sequence(ms(1000), 7),
        HeartbeatOutcome::First
    );
    assert_eq!(chen.suspect_at(), Some(ms(1100)));
    // Heartbeat 9 overtakes 8; 8 and a duplicate of 9 are then ignored.
    assert_eq!(
        chen.heartbeat_with_sequence(ms(1190), 9),
        HeartbeatOutcome::Recorded {
            interval: Duration::from_millis(190)
        }
    );
    // x = 1000 - 700 = 300 and 1190 - 900 = 290: mean 295, EA(10) = 1295.
    assert_eq!(chen.suspect_at(), Some(ms(1295)));
    for (at, seq) in [(1195, 8), (1200, 9)] {
        assert_eq!(
            chen.heartbeat_with_sequence(ms(at), seq),
            HeartbeatOutcome::OutOfOrder {
                sequence: seq,
                latest: 9
            }
        );
    }
    assert_eq!(chen.out_of_order_heartbeats(), 2);
    assert_eq!(chen.last_heartbeat(), Some(ms(1190)));
    assert_eq!(chen.suspect_at(), Some(ms(1295)));
    // Time going backwards is counted as such, whatever the number.
    assert!(matches!(
        chen.heartbeat_with_sequence(ms(1100), 50),
        HeartbeatOutcome::Backwards { .. }
    ));
    assert_eq!(chen.backwards_heartbeats(), 1);
    // An unnumbered heartbeat now counts as number 10.
    let _ = chen.heartbeat(ms(1290));
    assert_eq!(chen.latest_sequence(), Some(10));
    // A jump beyond the whole time range restarts the window.
    assert!(matches!(
        chen.heartbeat_with_sequence(ms(1400), u64::MAX),
        HeartbeatOutcome::NotRecorded { .. }
    ));
    assert_eq!(chen.timeout(), Duration::from_millis(100));
    assert_eq!(
        chen.heartbeat_with_sequence(ms(1500), u64::MAX),
        HeartbeatOutcome::OutOfOrder {
            sequence: u64::MAX,
            latest: u64::MAX
        }
    );
    chen.reset();
    assert_eq!(chen.out_of_order_heartbeats(), 0);
    assert_eq!(chen.latest_sequence(), None);
    // After a reset a restarted sender is accepted from 0 again.
    assert_eq!(
        chen.heartbeat_with_sequence(ms(2000), 0),
        HeartbeatOutcome::First
    );
}

#[test]
fn chen_switching_to_sequence_numbers_drops_the_interval_history() {
    let mut chen = ChenDetector::new(
        ChenConfig::builder()
            .sending_interval(Duration::from_millis(200))
            .safety_margin(Duration::from_millis(10))
            .build()
            .unwrap(),
    );
    for t in [0, 50, 100] {
        let _ = chen.heartbeat(ms(t));
    }
    assert_eq!(chen.timeout(), Duration::from_millis(60));
    assert_eq!(
        chen.heartbeat_with_sequence(ms(150), 3),
        HeartbeatOutcome::NotRecorded {
            interval: Duration::from_millis(50)
        }
    );
    assert_eq!(chen.timeout(), Duration::from_millis(210));
}

#[test]
fn chen_a_very_late_heartbeat_is_suspected_one_nanosecond_after_it_arrives() {
    let mut chen = ChenDetector::new(
        ChenConfig::builder()
            .window(2)
            .sending_interval(Duration::from_millis(100))
            .safety_margin(Duration::ZERO)
            .build()
            .unwrap(),
    );
    let _ = chen.heartbeat_with_sequence(ms(0), 0);
    // Number 1 arrives 10 s late: EA(2) = mean(0, 9900) + 200 = 5150 ms,
    // long before it arrived. The original suspects at once; here the
    // heartbeat itself is trusted and the suspicion starts 1 ns later.
    let _ = chen.heartbeat_with_sequence(ms(10_000), 1);
    assert_eq!(
        chen.suspect_at(),
        Some(ms(10_000) + Duration::from_nanos(1))
    );
    assert!(!chen.is_available(ms(10_000) + Duration::from_nanos(1)));
    assert!(chen.is_available(ms(10_000)));
    assert_eq!(chen.suspicion(ms(10_000)), 0.0);
    assert!(chen.suspicion(ms(10_001)) >= 1.0);
}

#[test]
fn chen_rejects_a_bad_sending_interval() {
    for eta in [Duration::ZERO, Duration::from_nanos((1 << 48) + 1)] {
        let err = ChenConfig::builder()
            .sending_interval(eta)
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "chen.sending_interval");
    }
    assert_eq!(
        ChenConfig::builder().build().unwrap().sending_interval(),
        Duration::from_secs(1)
    );
}
