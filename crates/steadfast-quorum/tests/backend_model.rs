//! The in-memory backend against a reference model, with random operations,
//! clock steps (forwards and backwards) and lock-delay.

use std::time::Duration;

use proptest::prelude::*;
use steadfast_core::{ManualClock, Timestamp};
use steadfast_quorum::{
    AcquireOutcome, InMemoryBackend, InMemoryConfig, LeaseBackend, LeaseGrant, RenewOutcome,
};

#[derive(Clone, Debug)]
enum Op {
    Acquire { owner: u8, term_ms: u64 },
    Renew { grant: usize },
    Release { grant: usize },
    Advance { ms: u64 },
    Back { ms: u64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..3, 0u64..2_000).prop_map(|(owner, term_ms)| Op::Acquire { owner, term_ms }),
        (0usize..8).prop_map(|grant| Op::Renew { grant }),
        (0usize..8).prop_map(|grant| Op::Release { grant }),
        (0u64..1_500).prop_map(|ms| Op::Advance { ms }),
        (0u64..300).prop_map(|ms| Op::Back { ms }),
    ]
}

/// What the model knows about the one key.
#[derive(Debug, Default)]
struct Model {
    current: Option<(LeaseGrant, Timestamp)>, // grant and its expiry (grantor clock)
    released: bool,
    last_token: u64,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn in_memory_backend_matches_the_model(
        ops in proptest::collection::vec(op(), 1..60),
        delay_ms in prop_oneof![Just(0u64), 1u64..1_000],
    ) {
        let clock = ManualClock::starting_at(Timestamp::from_secs(1_000));
        let lock_delay = Duration::from_millis(delay_ms);
        let config = InMemoryConfig::builder().lock_delay(lock_delay).build().unwrap();
        let backend = InMemoryBackend::with_config_and_clock(config, clock.clone());
        let mut model = Model::default();
        let mut grants: Vec<LeaseGrant> = Vec::new();
        for op in ops {
            let now = steadfast_core::Clock::now(&clock);
            match op {
                Op::Acquire { owner, term_ms } => {
                    let term = Duration::from_millis(term_ms);
                    let live = model.current.as_ref().filter(|(_, exp)| !model.released && now < *exp);
                    let delayed = model.current.as_ref().is_some_and(|(_, exp)| {
                        !model.released && now >= *exp && now < *exp + lock_delay
                    });
                    match backend.acquire("k", &format!("o{owner}"), term).unwrap() {
                        AcquireOutcome::Granted(g) => {
                            prop_assert!(live.is_none() && !delayed, "granted while held or delayed");
                            prop_assert!(g.token().get() > model.last_token, "tokens must grow");
                            model.last_token = g.token().get();
                            model.current = Some((g.clone(), now + term));
                            model.released = false;
                            grants.push(g);
                        }
                        AcquireOutcome::Held(h) => {
                            let (g, _) = live.expect("held only while a grant is live");
                            prop_assert_eq!(h.token, g.token());
                        }
                        AcquireOutcome::Delayed { retry_after } => {
                            prop_assert!(delayed);
                            let (_, exp) = model.current.as_ref().unwrap();
                            prop_assert_eq!(now + retry_after, *exp + lock_delay);
                        }
                        other => prop_assert!(false, "unexpected {:?}", other),
                    }
                }
                Op::Renew { grant } if !grants.is_empty() => {
                    let g = &grants[grant % grants.len()];
                    let is_current = model.current.as_ref().is_some_and(|(c, exp)| {
                        c.lease_id() == g.lease_id() && !model.released && now < *exp
                    });
                    let outcome = backend.renew(g).unwrap();
                    prop_assert_eq!(outcome == RenewOutcome::Renewed, is_current);
                    if is_current {
                        let (_, exp) = model.current.as_mut().unwrap();
                        *exp = (*exp).max(now + g.term());
                    }
                }
                Op::Release { grant } if !grants.is_empty() => {
                    let g = &grants[grant % grants.len()];
                    backend.release(g).unwrap();
                    if model.current.as_ref().is_some_and(|(c, exp)| c.lease_id() == g.lease_id() && now < *exp) {
                        model.released = true;
                    }
                }
                Op::Advance { ms } => {
                    clock.advance(Duration::from_millis(ms));
                }
                Op::Back { ms } => {
                    clock.jump_backwards(Duration::from_millis(ms));
                }
                _ => {}
            }
            let now = steadfast_core::Clock::now(&clock);
            let expected = model
                .current
                .as_ref()
                .filter(|(_, exp)| !model.released && now < *exp)
                .map(|(g, _)| g.token());
            prop_assert_eq!(backend.holder("k").unwrap().map(|h| h.token), expected);
        }
    }
}
