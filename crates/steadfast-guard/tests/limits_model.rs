//! Model-based checks: GCRA against an independent leaky-bucket model, and
//! the adaptive limits against their bounds, under arbitrary inputs.

use std::num::NonZeroUsize;
use std::time::Duration;

use proptest::prelude::*;
use steadfast_core::{Clock, ManualClock, Timestamp};
use steadfast_guard::adaptive::{
    Aimd, AimdConfig, EnvoyGradient, EnvoyGradientConfig, Gradient2, Gradient2Config,
    LimitAlgorithm, Sample, Vegas, VegasConfig,
};
use steadfast_guard::rate_limit::{KeyedRateLimiter, Quota, RateLimitError, RateLimiter};

/// The ITU-T continuous-state leaky bucket: a level that drains one unit per
/// nanosecond, filled by `interval` per cell, limited to `interval x burst`.
/// Written from the definition, not from the implementation under test.
#[derive(Clone)]
struct LeakyBucket {
    interval: u128,
    burst: u128,
    level: u128,
    last: u128,
}

impl LeakyBucket {
    fn admit(&mut self, now: u128, n: u128) -> Result<(), Option<u128>> {
        if n > self.burst {
            return Err(None);
        }
        let drained = self.level.saturating_sub(now.saturating_sub(self.last));
        let needed = drained + n * self.interval;
        let limit = self.interval * self.burst;
        if needed <= limit {
            self.level = needed;
            self.last = now.max(self.last);
            Ok(())
        } else {
            Err(Some(now + (needed - limit)))
        }
    }

    /// The most cells admitted at once at `now`, tried one size at a time.
    fn remaining(&self, now: u128) -> u128 {
        (0..=self.burst)
            .rev()
            .find(|&k| self.clone().admit(now, k).is_ok())
            .unwrap_or(0)
    }

    /// When the bucket is empty again (all burst available), if nothing more comes.
    fn empty_at(&self, now: u128) -> u128 {
        now + self.level.saturating_sub(now.saturating_sub(self.last))
    }
}

#[derive(Debug, Clone)]
enum Op {
    Advance(u64),
    Check(u32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u64..3_000_000).prop_map(Op::Advance),
        (0u32..6).prop_map(Op::Check),
    ]
}

/// A limiter, a keyed limiter and the model, all fresh and sharing one quota
/// and one manual clock.
fn fresh(
    interval: u64,
    burst: u32,
) -> (
    ManualClock,
    RateLimiter<ManualClock>,
    KeyedRateLimiter<&'static str, ManualClock>,
    LeakyBucket,
) {
    let clock = ManualClock::new();
    let quota = Quota::with_interval(Duration::from_nanos(interval))
        .unwrap()
        .with_burst(burst)
        .unwrap();
    let limiter = RateLimiter::with_clock(quota, clock.clone());
    let keyed = KeyedRateLimiter::with_clock(quota, NonZeroUsize::new(64).unwrap(), clock.clone());
    let model = LeakyBucket {
        interval: u128::from(interval),
        burst: u128::from(burst),
        level: 0,
        last: 0,
    };
    (clock, limiter, keyed, model)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn gcra_matches_the_leaky_bucket(
        interval in 1u64..2_000_000,
        burst in 1u32..5,
        ops in proptest::collection::vec(op(), 1..80),
    ) {
        let (clock, limiter, keyed, mut model) = fresh(interval, burst);
        for op in ops {
            match op {
                Op::Advance(d) => { clock.advance(Duration::from_nanos(d)); }
                Op::Check(n) => {
                    let now = u128::from(clock.now().as_nanos());
                    let expected = model.admit(now, u128::from(n));
                    let got = limiter.check_n(n);
                    let got_keyed = keyed.check_n(&"key", n);
                    prop_assert_eq!(got, got_keyed);
                    match (expected, got) {
                        (Ok(()), Ok(())) => {}
                        (Err(None), Err(RateLimitError::ExceedsBurst(_))) => {}
                        (Err(Some(at)), Err(RateLimitError::NotUntil(e))) => {
                            prop_assert_eq!(u128::from(e.retry_at().as_nanos()), at);
                        }
                        (m, g) => prop_assert!(false, "model {:?} vs limiter {:?}", m, g),
                    }
                }
            }
        }
    }

    #[test]
    fn headroom_matches_the_leaky_bucket(
        interval in 1u64..2_000_000,
        burst in 1u32..8,
        ops in proptest::collection::vec(op(), 1..80),
    ) {
        let (clock, limiter, keyed, mut model) = fresh(interval, burst);
        for op in ops {
            match op {
                Op::Advance(d) => { clock.advance(Duration::from_nanos(d)); }
                Op::Check(n) => {
                    let now = u128::from(clock.now().as_nanos());
                    let admitted = model.admit(now, u128::from(n)).is_ok();
                    let got = limiter.check_n_headroom(n);
                    prop_assert_eq!(got.is_ok(), admitted);
                    prop_assert_eq!(got, keyed.check_n_headroom(&"key", n));
                    if let Ok(left) = got {
                        prop_assert_eq!(u128::from(left.remaining()), model.remaining(now));
                        prop_assert_eq!(u128::from(left.full_at().as_nanos()), model.empty_at(now));
                        prop_assert_eq!(left.burst(), burst);
                    }
                }
            }
            let now = u128::from(clock.now().as_nanos());
            let peek = limiter.headroom();
            prop_assert_eq!(u128::from(peek.remaining()), model.remaining(now));
            prop_assert_eq!(u128::from(peek.full_at().as_nanos()), model.empty_at(now));
            prop_assert_eq!(peek.full_in().as_nanos(), model.empty_at(now) - now);
            prop_assert_eq!(keyed.headroom(&"key"), peek);
        }
    }

    #[test]
    fn never_more_than_rate_times_time_plus_burst(
        interval in 1_000u64..1_000_000,
        burst in 1u32..10,
        steps in proptest::collection::vec(0u64..500_000, 1..200),
    ) {
        let clock = ManualClock::new();
        let quota = Quota::with_interval(Duration::from_nanos(interval)).unwrap().with_burst(burst).unwrap();
        let limiter = RateLimiter::with_clock(quota, clock.clone());
        let mut admitted = 0u64;
        for step in steps {
            clock.advance(Duration::from_nanos(step));
            while limiter.check().is_ok() {
                admitted += 1;
            }
            let elapsed = clock.now().as_nanos();
            prop_assert!(admitted <= elapsed / interval + u64::from(burst));
        }
    }

    #[test]
    fn adaptive_limits_stay_in_bounds(
        samples in proptest::collection::vec(
            (0u64..10_000_000_000, 0usize..2_000, any::<bool>(), 0u64..50_000_000),
            1..300,
        ),
        min in 1usize..20,
        span in 0usize..300,
        seed in any::<u64>(),
    ) {
        let max = min + span;
        let initial = min + span / 2;
        let mut algorithms: Vec<(Box<dyn LimitAlgorithm>, usize, usize)> = vec![
            (Box::new(Aimd::new(AimdConfig::builder().initial_limit(initial).min_limit(min).max_limit(max).build().unwrap())), min, max),
            (Box::new(Vegas::new(VegasConfig::builder().initial_limit(initial).max_limit(max).seed(seed).build().unwrap())), 1, max),
            (Box::new(Gradient2::new(Gradient2Config::builder().initial_limit(initial).min_limit(min).max_limit(max).build().unwrap())), min, max),
            (Box::new(EnvoyGradient::new(EnvoyGradientConfig::builder().initial_limit(initial).min_concurrency(min).max_limit(max).min_rtt_requests(5).seed(seed).build().unwrap())), min, max),
        ];
        let mut now = Timestamp::ZERO;
        for (rtt, in_flight, dropped, step) in samples {
            now += Duration::from_nanos(step);
            let sample = Sample::new(Duration::from_nanos(rtt), in_flight, dropped);
            for (a, lo, hi) in algorithms.iter_mut() {
                let limit = a.update(now, sample);
                prop_assert_eq!(limit, a.limit());
                prop_assert!(limit >= *lo && limit <= *hi, "limit {} outside [{}, {}]", limit, lo, hi);
            }
        }
    }

    #[test]
    fn aimd_only_shrinks_on_drops(
        samples in proptest::collection::vec((1u64..1_000_000, 0usize..500), 1..100),
    ) {
        let mut aimd = Aimd::new(AimdConfig::builder().build().unwrap());
        for (rtt, in_flight) in samples {
            let before = aimd.limit();
            let after = aimd.update(Timestamp::ZERO, Sample::new(Duration::from_nanos(rtt), in_flight, false));
            prop_assert!(after >= before);
            let dropped = aimd.update(Timestamp::ZERO, Sample::new(Duration::from_nanos(rtt), in_flight, true));
            prop_assert!(dropped <= after);
        }
    }
}
