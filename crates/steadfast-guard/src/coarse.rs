//! When a clock's coarse reading is fine enough: one rule for the rate
//! limiter's decisions, the breaker's open wait and a blocking call's
//! timeouts.

use std::time::Duration;

use steadfast_core::{Clock, Timestamp};

/// A span may be measured on a clock's [coarse
/// reading](Clock::now_coarse) when it is at least this many times the
/// clock's [coarse lag](Clock::coarse_lag): the reading is then off by at
/// most 1/25 (4%) of the span.
const COARSE_RATIO: u128 = 25;

/// Whether spans of `span_nanos` may be measured on `clock`'s coarse
/// reading (always, on clocks without lag).
#[inline]
pub(crate) fn coarse_suffices<K: Clock>(clock: &K, span_nanos: u128) -> bool {
    clock.coarse_lag().as_nanos().saturating_mul(COARSE_RATIO) <= span_nanos
}

/// A reading fine enough to measure spans of `span`: the coarse one when it
/// suffices, the precise one otherwise.
#[inline]
pub(crate) fn reading_for<K: Clock>(clock: &K, span: Duration) -> Timestamp {
    if coarse_suffices(clock, span.as_nanos()) {
        clock.now_coarse()
    } else {
        clock.now()
    }
}
