//! Laws of `Timestamp` arithmetic, for all inputs.

use std::time::Duration;

use proptest::prelude::*;
use steadfast_core::Timestamp;

fn duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        (0u64..10_000_000_000).prop_map(Duration::from_nanos),
        any::<u64>().prop_map(Duration::from_nanos),
        (any::<u64>(), 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
    ]
}

proptest! {
    #[test]
    fn add_is_saturating_and_monotone(t in any::<u64>(), d in duration(), e in duration()) {
        let t = Timestamp::from_nanos(t);
        let sum = t + d;
        prop_assert!(sum >= t);
        let exact = u128::from(t.as_nanos()) + d.as_nanos();
        prop_assert_eq!(u128::from(sum.as_nanos()), exact.min(u128::from(u64::MAX)));
        // Monotone in the duration.
        if d <= e {
            prop_assert!(t + d <= t + e);
        }
    }

    #[test]
    fn sub_is_saturating_and_monotone(t in any::<u64>(), d in duration(), e in duration()) {
        let t = Timestamp::from_nanos(t);
        let diff = t - d;
        prop_assert!(diff <= t);
        let exact = i128::from(t.as_nanos()) - d.as_nanos() as i128;
        prop_assert_eq!(i128::from(diff.as_nanos()), exact.max(0));
        if d <= e {
            prop_assert!(t - d >= t - e);
        }
    }

    #[test]
    fn duration_since_never_panics_and_round_trips(a in any::<u64>(), b in any::<u64>()) {
        let (a, b) = (Timestamp::from_nanos(a), Timestamp::from_nanos(b));
        let since = a.saturating_duration_since(b);
        if a >= b {
            prop_assert_eq!(b + since, a);
        } else {
            prop_assert_eq!(since, Duration::ZERO);
        }
        // Monotone in the later instant.
        let later = a + Duration::from_nanos(1);
        prop_assert!(later.saturating_duration_since(b) >= since);
    }

    #[test]
    fn order_matches_nanos(a in any::<u64>(), b in any::<u64>()) {
        prop_assert_eq!(Timestamp::from_nanos(a).cmp(&Timestamp::from_nanos(b)), a.cmp(&b));
    }
}
