//! Invariants of `Timestamp` arithmetic on arbitrary input.
//!
//! Shared by the fuzz target `timestamp` and by the corpus replay test in
//! `steadfast-core`, so the same logic runs under the fuzzer and in `cargo test`.

use std::time::Duration;

use steadfast_core::Timestamp;

fn u64_at(data: &[u8], at: usize) -> u64 {
    let mut bytes = [0u8; 8];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = data.get(at + i).copied().unwrap_or(0);
    }
    u64::from_le_bytes(bytes)
}

/// Decodes two timestamps and a duration from `data` and checks that every
/// operation saturates, never panics, and agrees with its checked twin.
pub fn check(data: &[u8]) {
    let a = Timestamp::from_nanos(u64_at(data, 0));
    let b = Timestamp::from_nanos(u64_at(data, 8));
    let d = Duration::new(u64_at(data, 16), (u64_at(data, 24) % 1_000_000_000) as u32);

    let sum = a + d;
    assert!(sum >= a, "adding a duration moved time backwards");
    match a.checked_add(d) {
        Some(exact) => assert_eq!(exact, sum),
        None => assert_eq!(sum, Timestamp::MAX),
    }
    let diff = a - d;
    assert!(diff <= a, "subtracting a duration moved time forwards");
    match a.checked_sub(d) {
        Some(exact) => assert_eq!(exact, diff),
        None => assert_eq!(diff, Timestamp::ZERO),
    }

    let since = a.saturating_duration_since(b);
    match a.checked_duration_since(b) {
        Some(exact) => {
            assert_eq!(exact, since);
            assert_eq!(b + since, a, "b + (a - b) must give back a");
        }
        None => assert_eq!(since, Duration::ZERO),
    }
    assert_eq!(a - b, since);
    assert!(a.saturating_duration_since(b).is_zero() || b.saturating_duration_since(a).is_zero());
}
