//! Time cut into equal slices, numbered without a division per call.

use steadfast_core::Timestamp;

/// Numbers the slices of `width` nanoseconds that time is cut into.
///
/// `index(t)` is `t / width` computed as a multiply by a 64.64 fixed-point
/// reciprocal: exact while `t * width < 2^64`, and beyond that never more
/// than one slice early, within `t * width / 2^64` ns of a boundary (under
/// a millisecond after a day at 100 ms slices). It never decreases as `t`
/// grows, which is all the windows need.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Slices {
    reciprocal: u128,
}

impl Slices {
    pub(crate) fn new(width_nanos: u64) -> Slices {
        Slices {
            reciprocal: (1u128 << 64).div_ceil(u128::from(width_nanos.max(1))),
        }
    }

    #[inline]
    pub(crate) fn index(&self, t: Timestamp) -> u64 {
        ((u128::from(t.as_nanos()) * self.reciprocal) >> 64) as u64
    }
}

#[cfg(all(test, not(steadfast_loom)))]
mod tests {
    use super::*;

    #[test]
    fn exact_where_promised_at_most_one_early_and_monotone() {
        for width in [1u64, 3, 1_000, 100_000_000, 1_000_000_000, 60_000_000_000] {
            let s = Slices::new(width);
            for t in [
                0u64,
                1,
                width - 1,
                width,
                width + 1,
                7 * width - 1,
                1_000_003,
            ] {
                if u128::from(t) * u128::from(width) < 1 << 64 {
                    assert_eq!(s.index(Timestamp::from_nanos(t)), t / width);
                }
            }
            let step = u64::MAX / 997;
            let mut previous = 0;
            for k in 0..997 {
                let t = k * step + k;
                let i = s.index(Timestamp::from_nanos(t));
                assert!(i == t / width || i == t / width + 1, "{t} / {width} -> {i}");
                assert!(i >= previous);
                previous = i;
            }
        }
    }
}
