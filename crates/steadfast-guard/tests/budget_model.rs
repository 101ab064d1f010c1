//! Model-based tests of the retry budgets against plain sequential accounts.

use std::time::Duration;

use proptest::prelude::*;
use steadfast_core::ManualClock;
use steadfast_guard::budget::{PercentBudget, RetryBudget, RetryKind, TokenBucketBudget};

#[derive(Debug, Clone)]
enum Op {
    Deposit,
    Withdraw,
    Advance(u64),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![
            3 => Just(Op::Deposit),
            3 => Just(Op::Withdraw),
            1 => (0u64..3_000).prop_map(Op::Advance),
        ],
        1..200,
    )
}

/// Deposits and withdrawals as a list of (slice, amount): live while
/// fewer than `slices` slices old.
struct PercentModel {
    entries: Vec<(u64, i64)>,
    slice_nanos: u64,
    slices: u64,
    deposit: i64,
    withdrawal: i64,
    reserve: i64,
}

impl PercentModel {
    /// The budget numbers slices by a fixed-point reciprocal multiply
    /// (one slice early at most, near boundaries, for large times).
    fn slice(&self, now_ms: u64) -> u64 {
        let reciprocal = (1u128 << 64).div_ceil(u128::from(self.slice_nanos));
        ((u128::from(now_ms * 1_000_000) * reciprocal) >> 64) as u64
    }

    fn balance(&self, slice: u64) -> i64 {
        self.reserve
            + self
                .entries
                .iter()
                .filter(|(s, _)| slice - s < self.slices)
                .map(|(_, a)| a)
                .sum::<i64>()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn percent_budget_matches_the_model(
        ttl_secs in 1u64..5,
        slices in 1u64..6,
        percent in prop::sample::select(vec![0.0, 0.2, 0.5, 1.0, 2.0]),
        floor in 0u32..3,
        ops in ops(),
    ) {
        let clock = ManualClock::new();
        let config = PercentBudget::builder()
            .ttl(Duration::from_secs(ttl_secs))
            .slices(slices as u32)
            .percent_can_retry(percent)
            .min_retries_per_sec(floor)
            .build()
            .unwrap();
        let budget = PercentBudget::with_clock(config, clock.clone());
        let (deposit, withdrawal) = if percent > 0.0 {
            (1000, (1000.0 / percent).ceil() as i64)
        } else {
            (0, 1000)
        };
        let mut model = PercentModel {
            entries: Vec::new(),
            slice_nanos: ttl_secs * 1_000_000_000 / slices,
            slices,
            deposit,
            withdrawal,
            reserve: i64::from(floor) * ttl_secs as i64 * withdrawal,
        };
        let mut now_ms = 0u64;
        for op in ops {
            let slice = model.slice(now_ms);
            match op {
                Op::Deposit => {
                    budget.deposit();
                    if model.deposit != 0 {
                        model.entries.push((slice, model.deposit));
                    }
                }
                Op::Withdraw => {
                    let expected = model.balance(slice) - model.withdrawal >= 0;
                    if expected {
                        model.entries.push((slice, -model.withdrawal));
                    }
                    prop_assert_eq!(budget.try_withdraw(RetryKind::Error), expected);
                }
                Op::Advance(ms) => {
                    clock.advance(Duration::from_millis(ms));
                    now_ms += ms;
                }
            }
            let slice = model.slice(now_ms);
            let available = (model.balance(slice).max(0) / model.withdrawal) as u64;
            prop_assert_eq!(budget.available_retries(), available);
        }
    }

    #[test]
    fn aws_quota_matches_the_model(ops in prop::collection::vec((0u8..4, any::<bool>()), 1..400)) {
        let quota = TokenBucketBudget::aws();
        let mut tokens: i64 = 500;
        for (op, timeout) in ops {
            let kind = if timeout { RetryKind::Timeout } else { RetryKind::Error };
            let cost = if timeout { 10 } else { 5 };
            match op {
                0 | 1 => {
                    let expected = tokens >= cost;
                    if expected {
                        tokens -= cost;
                    }
                    prop_assert_eq!(quota.try_withdraw(kind), expected);
                }
                2 => {
                    quota.record_success(Some(kind));
                    tokens = (tokens + cost).min(500);
                }
                _ => {
                    quota.record_success(None);
                    tokens = (tokens + 1).min(500);
                }
            }
            prop_assert_eq!(quota.tokens(), tokens as f64);
        }
    }

    #[test]
    fn grpc_throttle_matches_the_model(
        max_tokens in 1u32..50,
        ratio_milli in 1u32..3_000,
        ops in prop::collection::vec(any::<bool>(), 1..400),
    ) {
        let throttle = TokenBucketBudget::grpc(f64::from(max_tokens), f64::from(ratio_milli) / 1000.0).unwrap();
        let max = i64::from(max_tokens) * 1000;
        let mut tokens = max;
        for success in ops {
            if success {
                throttle.record_success(None);
                tokens = (tokens + i64::from(ratio_milli)).min(max);
            } else {
                tokens = (tokens - 1000).max(0);
                prop_assert_eq!(throttle.try_withdraw(RetryKind::Error), tokens * 2 > max);
            }
            prop_assert_eq!((throttle.tokens() * 1000.0).round() as i64, tokens);
        }
    }
}
