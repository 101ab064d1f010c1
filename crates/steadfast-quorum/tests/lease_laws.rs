//! Laws of leases and fences, checked with proptest.

use std::time::Duration;

use proptest::prelude::*;
use steadfast_core::Timestamp;
use steadfast_quorum::{Fence, FencingToken, Lease, LeasePolicy, LeaseStatus};

fn policy() -> impl Strategy<Value = LeasePolicy> {
    (1u64..100_000, 1.0f64..3.0, 0u64..1_000, 0.05f64..0.3).prop_filter_map(
        "valid policy",
        |(term_ms, kappa, margin_per_mille, fraction)| {
            let term = Duration::from_millis(term_ms);
            LeasePolicy::builder(term)
                .drift_bound(kappa)
                .safety_margin(term.mul_f64(margin_per_mille as f64 / 4_000.0))
                .renew_fraction(fraction)
                .build()
                .ok()
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// The holder's belief, measured on its clock, is exactly [sent, sent + T/κ − margin).
    #[test]
    fn valid_exactly_inside_the_window(p in policy(), sent in 0u64..1 << 50, probe in 0u64..1 << 40) {
        let sent = Timestamp::from_nanos(sent);
        let lease = Lease::new(p, sent, FencingToken::new(1));
        let now = Timestamp::from_nanos(sent.as_nanos().saturating_sub(1 << 39) + probe);
        let inside = now >= sent && now < sent + p.holder_validity();
        prop_assert_eq!(lease.is_valid(now), inside);
        prop_assert!(p.holder_validity().mul_f64(p.drift_bound()) <= p.term() + Duration::from_nanos(4));
        prop_assert!(p.renew_after() < p.holder_validity());
    }

    /// With the grantor's clock at most κ times faster than the holder's, the
    /// holder's belief ends (in real time) no later than the grantor's exclusion.
    #[test]
    fn belief_ends_before_the_grantor_frees_the_key(
        p in policy(),
        holder_rate in 0.5f64..2.0,
        rate_ratio in 0.0f64..=1.0,
        delay_ms in 0u64..10_000,
    ) {
        let kappa = p.drift_bound();
        let grantor_rate = holder_rate * (1.0 + (kappa - 1.0) * rate_ratio);
        // Real seconds from the send to the end of the holder's belief...
        let belief_end = p.holder_validity().as_secs_f64() / holder_rate;
        // ...and from the send to the grantor freeing the key (it received the
        // request `delay` after the send).
        let exclusion_end = delay_ms as f64 / 1_000.0 + p.term().as_secs_f64() / grantor_rate;
        prop_assert!(belief_end <= exclusion_end * (1.0 + 1e-12), "{} > {}", belief_end, exclusion_end);
    }

    /// Renewals never shorten a lease, and the status is consistent with validity.
    #[test]
    fn renewals_never_shorten(p in policy(), sends in proptest::collection::vec(0u64..1 << 40, 1..10)) {
        let mut lease = Lease::new(p, Timestamp::from_nanos(sends[0]), FencingToken::new(1));
        let mut expiry = lease.expires_at();
        for s in &sends[1..] {
            lease.renewed(Timestamp::from_nanos(*s));
            prop_assert!(lease.expires_at() >= expiry);
            expiry = lease.expires_at();
            let probe = expiry.saturating_sub(Duration::from_nanos(1));
            let expired = matches!(lease.status(probe), LeaseStatus::Expired { .. });
            prop_assert!(!expired || probe < lease.sent_at());
        }
    }

    /// A fence's highest token is the maximum offered, and exactly the tokens
    /// not below the running maximum are admitted.
    #[test]
    fn fence_admits_the_running_maximum(tokens in proptest::collection::vec(0u64..50, 0..40)) {
        let fence = Fence::new();
        let mut highest = 0u64;
        for t in tokens {
            let admitted = fence.check(FencingToken::new(t)).is_ok();
            prop_assert_eq!(admitted, t >= highest);
            highest = highest.max(t);
            prop_assert_eq!(fence.highest().map(FencingToken::get).unwrap_or(0), highest);
        }
    }
}
