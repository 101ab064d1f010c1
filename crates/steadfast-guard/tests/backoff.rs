//! Laws every backoff obeys, whatever its schedule, jitter and seed.

use std::time::Duration;

use proptest::prelude::*;
use steadfast_guard::backoff::{Backoff, BackoffBuilder, Jitter};

fn schedule() -> impl Strategy<Value = (u8, u64, u64, f64)> {
    (0u8..4, 1u64..1_000, 0u64..500, 1.0f64..4.0)
}

fn start((kind, initial, step, factor): (u8, u64, u64, f64)) -> BackoffBuilder {
    let initial = Duration::from_millis(initial);
    match kind {
        0 => Backoff::constant(initial),
        1 => Backoff::linear(initial, Duration::from_millis(step)),
        2 => Backoff::exponential(initial).factor(factor),
        _ => Backoff::fibonacci(initial),
    }
}

fn jitter() -> impl Strategy<Value = Jitter> {
    prop::sample::select(vec![
        Jitter::None,
        Jitter::Full,
        Jitter::Equal,
        Jitter::Decorrelated,
        Jitter::DecorrelatedV2,
    ])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn limits_hold_after_jitter(
        s in schedule(),
        j in jitter(),
        seed in any::<u64>(),
        cap_extra in 0u64..5_000,
        retries in 1u32..60,
        total in prop::option::of(1u64..60_000),
    ) {
        let cap = Duration::from_millis(s.1 + cap_extra);
        let mut builder = start(s).max_delay(cap).jitter(j).seed(seed).max_retries(retries);
        if let Some(total) = total {
            builder = builder.max_total_delay(Duration::from_millis(total));
        }
        let delays: Vec<Duration> = builder.build().unwrap().collect();
        prop_assert!(delays.len() <= retries as usize);
        prop_assert!(delays.iter().all(|d| *d <= cap));
        if let Some(total) = total {
            prop_assert!(delays.iter().sum::<Duration>() <= Duration::from_millis(total));
        } else {
            prop_assert_eq!(delays.len(), retries as usize);
        }
    }

    #[test]
    fn jitter_stays_within_its_band(s in schedule(), seed in any::<u64>(), cap_extra in 0u64..5_000) {
        let cap = Duration::from_millis(s.1 + cap_extra);
        let plain: Vec<Duration> = start(s).max_delay(cap).max_retries(30).build().unwrap().collect();
        let full: Vec<Duration> = start(s).max_delay(cap).max_retries(30).jitter(Jitter::Full).seed(seed).build().unwrap().collect();
        let equal: Vec<Duration> = start(s).max_delay(cap).max_retries(30).jitter(Jitter::Equal).seed(seed).build().unwrap().collect();
        for ((p, f), e) in plain.iter().zip(&full).zip(&equal) {
            prop_assert!(f <= p);
            prop_assert!(*e <= *p && *e >= *p / 2);
        }
        // Without jitter, schedules never shrink.
        prop_assert!(plain.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn seeds_make_sequences_reproducible(s in schedule(), j in jitter(), seed in any::<u64>()) {
        let a: Vec<Duration> = start(s).jitter(j).seed(seed).max_retries(20).build().unwrap().collect();
        let mut b = start(s).jitter(j).seed(seed).max_retries(20).build().unwrap();
        prop_assert_eq!(&a, &b.by_ref().collect::<Vec<_>>());
        b.reset();
        prop_assert_eq!(a, b.collect::<Vec<_>>());
    }
}
