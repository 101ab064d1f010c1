//! Fencing tokens and the fence that checks them.
//!
//! A lock cannot by itself give mutual exclusion when holders can pause: a
//! process stops (a GC pause, a swapped-out VM, a slow disk) while it believes
//! it holds the lock, its lease expires, another process takes the lock, and
//! then the first one wakes up and writes. No check made *before* the pause can
//! prevent that write.
//!
//! The fix is on the resource side. Every grant of a lease comes with a
//! [`FencingToken`] that grows with every grant; holders send their token with
//! each write, and the resource keeps a [`Fence`] that remembers the highest
//! token it has seen and refuses anything lower. The paused holder's late
//! write carries an old token and is refused.
//!
//! ```
//! use steadfast_quorum::{Fence, FencingToken};
//!
//! let fence = Fence::new();
//! assert!(fence.check(FencingToken::new(33)).is_ok()); // first holder writes
//! assert!(fence.check(FencingToken::new(34)).is_ok()); // the next holder writes
//! let late = fence.check(FencingToken::new(33)).unwrap_err(); // the first wakes up
//! assert_eq!(late.to_string(), "fencing token 33 is stale: the fence has already seen 34");
//! ```

use std::fmt;

use crate::sync::{AtomicU64, Ordering};

/// A number that grows with every lease grant on a key; higher means newer.
///
/// Tokens start at 1; the value 0 is never issued by the backends of this
/// workspace (a [`Fence`] uses it to mean "nothing seen yet").
///
/// ```
/// use steadfast_quorum::FencingToken;
/// assert!(FencingToken::new(2) > FencingToken::new(1));
/// assert_eq!(FencingToken::new(7).to_string(), "7");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FencingToken(u64);

impl FencingToken {
    /// A token with the given value.
    #[must_use]
    pub const fn new(value: u64) -> FencingToken {
        FencingToken(value)
    }

    /// The token's value.
    #[must_use]
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for FencingToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// A write refused by a [`Fence`]: its token is older than one already seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("fencing token {presented} is stale: the fence has already seen {highest}")]
#[non_exhaustive]
pub struct StaleToken {
    /// The token that came with the write.
    pub presented: FencingToken,
    /// The highest token the fence had seen.
    pub highest: FencingToken,
}

impl StaleToken {
    /// Always `false`: the holder lost its lease and must not retry the write.
    #[must_use]
    pub fn is_temporary(&self) -> bool {
        false
    }
}

/// The resource side of fencing: admits a token at least as high as any seen.
///
/// One atomic `fetch_max` per check: the check and the update are one step, so
/// two writers racing through the fence cannot both slip past a higher token.
/// Equal tokens pass (one holder writes many times under one lease).
///
/// ```
/// use std::sync::Arc;
/// use steadfast_quorum::{Fence, FencingToken};
///
/// let fence = Arc::new(Fence::new());
/// assert_eq!(fence.highest(), None);
/// fence.check(FencingToken::new(5))?;
/// fence.check(FencingToken::new(5))?;
/// assert_eq!(fence.highest(), Some(FencingToken::new(5)));
/// # Ok::<(), steadfast_quorum::StaleToken>(())
/// ```
#[derive(Debug, Default)]
pub struct Fence {
    highest: AtomicU64,
}

impl Fence {
    /// A fence that has seen nothing.
    #[must_use]
    pub fn new() -> Fence {
        Fence {
            highest: AtomicU64::new(0),
        }
    }

    /// A fence that has already seen `token` (e.g. restored from storage).
    #[must_use]
    pub fn starting_at(token: FencingToken) -> Fence {
        Fence {
            highest: AtomicU64::new(token.0),
        }
    }

    /// Admits `token` if it is at least the highest seen, and remembers it.
    ///
    /// # Errors
    ///
    /// [`StaleToken`] when a higher token has been seen; nothing changes.
    pub fn check(&self, token: FencingToken) -> Result<(), StaleToken> {
        let previous = self.highest.fetch_max(token.0, Ordering::AcqRel);
        if token.0 >= previous {
            Ok(())
        } else {
            Err(StaleToken {
                presented: token,
                highest: FencingToken(previous),
            })
        }
    }

    /// The highest token seen, if any.
    #[must_use]
    pub fn highest(&self) -> Option<FencingToken> {
        match self.highest.load(Ordering::Acquire) {
            0 => None,
            n => Some(FencingToken(n)),
        }
    }
}

#[cfg(all(test, not(steadfast_loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn zero_and_max() {
        let fence = Fence::new();
        assert!(fence.check(FencingToken::new(0)).is_ok());
        assert_eq!(fence.highest(), None);
        assert!(fence.check(FencingToken::new(u64::MAX)).is_ok());
        assert!(fence.check(FencingToken::new(u64::MAX - 1)).is_err());
        let restored = Fence::starting_at(FencingToken::new(9));
        assert!(restored.check(FencingToken::new(8)).is_err());
    }

    #[test]
    fn threads_racing_never_admit_after_a_higher_token() {
        let fence = Arc::new(Fence::new());
        let admitted: Vec<Vec<u64>> = (0..4u64)
            .map(|t| {
                let fence = Arc::clone(&fence);
                std::thread::spawn(move || {
                    let mut mine = Vec::new();
                    for i in 0..2_000u64 {
                        let token = i * 4 + t;
                        if fence.check(FencingToken::new(token)).is_ok() {
                            mine.push(token);
                        }
                    }
                    mine
                })
            })
            .map(|h| h.join().expect("thread panicked"))
            .collect();
        // Each thread's admitted tokens increase, and the highest ever offered wins.
        for mine in &admitted {
            assert!(mine.windows(2).all(|w| w[0] < w[1]));
        }
        assert_eq!(fence.highest(), Some(FencingToken::new(7_999)));
    }
}

#[cfg(all(test, steadfast_loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;

    #[test]
    fn loom_fence_admits_no_token_below_one_admitted_before() {
        loom::model(|| {
            let fence = Arc::new(Fence::new());
            let other = Arc::clone(&fence);
            let t = loom::thread::spawn(move || other.check(FencingToken::new(2)).is_ok());
            let low = fence.check(FencingToken::new(1));
            let high = t.join().unwrap();
            // The higher token always passes; the lower one passes only if it
            // came first, and when refused it names the higher token.
            assert!(high);
            if let Err(stale) = low {
                assert_eq!(stale.highest, FencingToken::new(2));
            }
            assert!(fence.check(FencingToken::new(1)).is_err());
            assert_eq!(fence.highest(), Some(FencingToken::new(2)));
        });
    }
}
