//! Flap damping, classification and Lifeguard helpers: laws and models.

use std::collections::VecDeque;
use std::time::Duration;

use proptest::prelude::*;
use steadfast_core::{NodeId, Timestamp};
use steadfast_detect::{
    ConsecutiveChecks, FlapDamper, FlapDampingConfig, Hysteresis, LocalHealth, Suspicion,
    SuspicionTimeout,
};

/// The N-of-M rule written the obvious way.
struct NaiveChecks {
    n: usize,
    m: usize,
    recover_after: u32,
    window: VecDeque<bool>,
    successes: u32,
    failing: bool,
}

impl NaiveChecks {
    fn record(&mut self, ok: bool) -> bool {
        self.window.push_back(ok);
        if self.window.len() > self.m {
            self.window.pop_front();
        }
        self.successes = if ok { self.successes + 1 } else { 0 };
        if self.failing {
            if self.successes >= self.recover_after {
                self.failing = false;
                self.window.clear();
            }
        } else if self.window.iter().filter(|&&ok| !ok).count() >= self.n {
            self.failing = true;
        }
        self.failing
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn consecutive_checks_match_the_naive_model(
        m in 1u32..=64,
        n_seed in 0u32..64,
        recover_after in 1u32..5,
        results in proptest::collection::vec(proptest::bool::weighted(0.6), 0..300),
    ) {
        let n = 1 + n_seed % m;
        let mut checks = ConsecutiveChecks::new(n, m, recover_after).unwrap();
        let mut model = NaiveChecks {
            n: n as usize,
            m: m as usize,
            recover_after,
            window: VecDeque::new(),
            successes: 0,
            failing: false,
        };
        for ok in results {
            prop_assert_eq!(checks.record(ok), model.record(ok));
        }
    }

    #[test]
    fn hysteresis_matches_its_definition(
        enter in -10.0f64..10.0,
        gap in 0.0f64..5.0,
        values in proptest::collection::vec(-20.0f64..20.0, 0..100),
    ) {
        let exit = enter - gap;
        let mut h = Hysteresis::new(enter, exit).unwrap();
        let mut active = false;
        for v in values {
            active = if active { v >= exit } else { v >= enter };
            prop_assert_eq!(h.update(v), active);
        }
    }

    /// Suppression never outlasts the maximum suppress time after the last
    /// flap, and the penalty never exceeds its ceiling.
    #[test]
    fn flap_damping_is_bounded(
        gaps in proptest::collection::vec(0u64..40_000, 1..60),
    ) {
        let config = FlapDampingConfig::builder().build().unwrap();
        let ceiling = config.max_penalty();
        let max_suppress = config.max_suppress();
        let mut damper = FlapDamper::new(config);
        let mut t = Timestamp::from_secs(1);
        for gap in gaps {
            t += Duration::from_millis(gap);
            damper.record_flap(t);
            prop_assert!(damper.penalty(t) <= ceiling * (1.0 + 1e-12));
            if let Some(reuse) = damper.reuse_at() {
                prop_assert!(reuse.saturating_duration_since(t) <= max_suppress);
            }
            prop_assert!(!damper.is_suppressed(t + max_suppress));
            // Decay is monotone.
            prop_assert!(damper.penalty(t + Duration::from_secs(1)) <= damper.penalty(t));
        }
    }

    #[test]
    fn suspicion_timeout_shrinks_between_min_and_max(
        mult in 1u32..10,
        max_mult in 1u32..10,
        size in 0usize..100_000,
        interval_ms in 1u64..5_000,
    ) {
        let schedule = SuspicionTimeout::memberlist(
            mult,
            max_mult,
            size,
            Duration::from_millis(interval_ms),
        )
        .unwrap();
        let mut previous = schedule.timeout(0);
        prop_assert!(previous <= schedule.max());
        for n in 0..(schedule.confirmations_wanted() + 3) {
            let t = schedule.timeout(n);
            prop_assert!(t >= schedule.min() && t <= previous);
            previous = t;
        }
        prop_assert_eq!(schedule.timeout(schedule.confirmations_wanted()), schedule.min());
    }
}

#[test]
fn confirmations_stop_counting_once_enough() {
    let schedule =
        SuspicionTimeout::new(Duration::from_secs(2), Duration::from_secs(12), 2).unwrap();
    let mut s = Suspicion::new(schedule, NodeId::new(9), Timestamp::from_secs(0));
    assert!(s.confirm(NodeId::new(1)));
    assert!(s.confirm(NodeId::new(2)));
    assert!(!s.confirm(NodeId::new(3)));
    assert_eq!(s.confirmations(), 2);
    assert_eq!(s.deadline(), Timestamp::from_secs(2));
    assert!(!s.is_expired(Timestamp::from_millis(1999)));
    assert!(s.is_expired(Timestamp::from_secs(2)));
}

#[test]
fn local_health_saturates_instead_of_overflowing() {
    let mut health = LocalHealth::new(1).unwrap();
    assert_eq!(health.apply_delta(i32::MAX), 0);
    let mut health = LocalHealth::new(u32::MAX).unwrap();
    health.apply_delta(i32::MAX);
    health.apply_delta(i32::MAX);
    assert_eq!(health.score(), u32::MAX - 1);
    assert_eq!(health.scale(Duration::MAX), Duration::MAX);
    assert!(LocalHealth::new(0).is_err());
}
