//! Retry budgets: how many retries the whole client may send.
//!
//! A cap of N retries per request looks safe, but when a dependency fails
//! every request retries N times and the load on the struggling dependency
//! multiplies by N + 1, the retry storm that keeps it down. A budget bounds
//! retries for the *client as a whole*: a share of recent traffic, plus a
//! small floor so that a quiet client can still retry. When the dependency
//! is healthy almost nothing is retried and the budget is full; when it
//! fails, extra load stays within the share.
//!
//! Three implementations of [`RetryBudget`]:
//!
//! - [`PercentBudget`], after Finagle: every request deposits, every retry
//!   withdraws; deposits expire after a time window (`ttl`); a floor of
//!   retries per second. Lock-free fixed-point accounting on a clock.
//! - [`TokenBucketBudget::aws`], the AWS SDK retry quota: 500 tokens, a
//!   retry costs 5 (a timeout retry 10), a success refunds the retry's cost,
//!   or 1 token when no retry was needed.
//! - [`TokenBucketBudget::grpc`], gRPC retry throttling: every failure takes
//!   one token, every success adds `token_ratio`, and retries are allowed
//!   only while more than half of `max_tokens` remain.
//!
//! Budgets are shared: clones of one budget (and `Arc`s or references to
//! it) draw on the same account, across threads.
//!
//! # Sizing
//!
//! [`PercentBudget`]'s defaults are Finagle's (and tower's `TpsBudget`'s): a
//! 10 s ttl, 20 % of requests retried, a floor of 10 retries per second.
//! Like the breaker's Resilience4j defaults they suit **one large client**
//! (all the traffic of a process to a dependency, hundreds of requests a
//! second): the floor is then a small part of the traffic, and the 20 %
//! share bounds the extra load a failing dependency sees to 1.2 times.
//!
//! A budget per client (per connection, per tenant, per caller) sees a
//! small share of the traffic, and a floor of 10 retries a second may then
//! be larger than the client's whole rate, so it bounds nothing: a client
//! sending 2 requests a second could retry every one of them several times.
//! Size the floor to a fraction of that client's rate (or 0, relying on the
//! percentage alone), and keep the ttl long enough to hold a few dozen of
//! its requests:
//!
//! ```
//! use std::time::Duration;
//! use steadfast_guard::budget::PercentBudget;
//!
//! // One client sending ~2 requests a second: up to 20 % of the requests
//! // of the last 30 s (about 60) retried. No floor: the smallest one, a
//! // retry per second, would be half the client's rate.
//! let per_client = PercentBudget::builder()
//!     .ttl(Duration::from_secs(30))
//!     .min_retries_per_sec(0)
//!     .percent_can_retry(0.2)
//!     .build()?;
//! let budget = PercentBudget::new(per_client);
//! assert_eq!(budget.available_retries(), 0); // only its own traffic pays
//! # Ok::<(), steadfast_core::ConfigError>(())
//! ```
//!
//! The token buckets need no sizing by rate: [`TokenBucketBudget::aws`] is
//! already per client in the AWS SDKs (one quota per client object), and
//! [`TokenBucketBudget::grpc`] per channel.
//!
//! ```
//! use std::time::Duration;
//! use steadfast_core::ManualClock;
//! use steadfast_guard::budget::{PercentBudget, RetryBudget, RetryKind};
//!
//! let clock = ManualClock::new();
//! let config = PercentBudget::builder()
//!     .ttl(Duration::from_secs(10))
//!     .min_retries_per_sec(0)
//!     .percent_can_retry(0.5)
//!     .build()?;
//! let budget = PercentBudget::with_clock(config, clock.clone());
//! let shared = budget.clone(); // another handle on the same account
//! for _ in 0..4 {
//!     budget.deposit();
//! }
//! // Half of four requests: two retries.
//! assert!(shared.try_withdraw(RetryKind::Error));
//! assert!(budget.try_withdraw(RetryKind::Error));
//! assert!(!shared.try_withdraw(RetryKind::Error));
//! // Deposits expire after the ttl.
//! clock.advance(Duration::from_secs(11));
//! budget.deposit();
//! budget.deposit();
//! assert!(budget.try_withdraw(RetryKind::Error));
//! assert!(!budget.try_withdraw(RetryKind::Error));
//! # Ok::<(), steadfast_core::ConfigError>(())
//! ```

use std::fmt;
use std::time::Duration;

use steadfast_core::{Clock, ConfigError, MonotonicClock};

use crate::slices::Slices;
use crate::sync::{Arc, AtomicU64, Ordering, fence};

/// Why a retry is wanted; some budgets charge timeouts more.
///
/// ```
/// use steadfast_guard::budget::{RetryBudget, RetryKind, TokenBucketBudget};
/// let quota = TokenBucketBudget::aws();
/// assert!(quota.try_withdraw(RetryKind::Timeout));
/// assert_eq!(quota.tokens(), 490.0); // a timeout retry costs 10, others 5
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum RetryKind {
    /// The attempt failed with an error.
    Error,
    /// The attempt timed out.
    Timeout,
}

/// An account of retries shared by every request of a client.
///
/// The retry loop calls [`deposit`](RetryBudget::deposit) once per request
/// (before the first attempt), [`try_withdraw`](RetryBudget::try_withdraw)
/// before each retry (never before the first attempt), and
/// [`record_success`](RetryBudget::record_success) when an attempt succeeds.
///
/// ```
/// use steadfast_guard::budget::{RetryBudget, RetryKind, TokenBucketBudget};
///
/// let quota = TokenBucketBudget::aws();
/// assert!(quota.try_withdraw(RetryKind::Timeout)); // 500 -> 490 tokens
/// quota.record_success(Some(RetryKind::Timeout)); // refunded: 500
/// assert_eq!(quota.tokens(), 500.0);
/// ```
pub trait RetryBudget: Send + Sync {
    /// A request is about to make its first attempt.
    fn deposit(&self);

    /// Asks for one retry; `false` means the budget refuses it.
    fn try_withdraw(&self, kind: RetryKind) -> bool;

    /// An attempt succeeded; `last_retry` is the kind of the retry that led
    /// to it, `None` if it was the first attempt.
    fn record_success(&self, last_retry: Option<RetryKind>) {
        let _ = last_retry;
    }
}

impl<B: RetryBudget + ?Sized> RetryBudget for &B {
    #[inline]
    fn deposit(&self) {
        (**self).deposit();
    }
    #[inline]
    fn try_withdraw(&self, kind: RetryKind) -> bool {
        (**self).try_withdraw(kind)
    }
    #[inline]
    fn record_success(&self, last_retry: Option<RetryKind>) {
        (**self).record_success(last_retry);
    }
}

impl<B: RetryBudget + ?Sized> RetryBudget for std::sync::Arc<B> {
    #[inline]
    fn deposit(&self) {
        (**self).deposit();
    }
    #[inline]
    fn try_withdraw(&self, kind: RetryKind) -> bool {
        (**self).try_withdraw(kind)
    }
    #[inline]
    fn record_success(&self, last_retry: Option<RetryKind>) {
        (**self).record_success(last_retry);
    }
}

/// No budget: every retry is allowed (bounded only by the backoff).
///
/// ```
/// use steadfast_guard::budget::{RetryBudget, RetryKind, Unlimited};
/// assert!(Unlimited.try_withdraw(RetryKind::Error));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Unlimited;

impl RetryBudget for Unlimited {
    #[inline]
    fn deposit(&self) {}
    #[inline]
    fn try_withdraw(&self, _kind: RetryKind) -> bool {
        true
    }
}

/// One deposit, in fixed-point units.
const SCALE: i64 = 1000;
const TAG_BITS: u32 = 24;
const TAG_SHIFT: u32 = 64 - TAG_BITS;
/// Set on a closed slice once summed (see [`ClosedSum`]): it never changes
/// again, and writes meant for it go to the current slice.
const SEALED: u64 = 1 << (TAG_SHIFT - 1);
const VALUE_BITS: u32 = TAG_SHIFT - 1;
const TAG_MASK: u64 = (1 << TAG_BITS) - 1;
const VALUE_MASK: u64 = (1 << VALUE_BITS) - 1;
const VALUE_MAX: i64 = (1 << (VALUE_BITS - 1)) - 1;
/// The most slices a [`PercentBudget`] may have.
const MAX_SLICES: u32 = 1000;
// A balance adds up at most `MAX_SLICES` slice values without overflow.
const _: () = assert!((MAX_SLICES as i128) * (VALUE_MAX as i128) < i64::MAX as i128);

#[inline]
fn pack(tag: u64, value: i64) -> u64 {
    let value = value.clamp(-VALUE_MAX, VALUE_MAX);
    ((tag & TAG_MASK) << TAG_SHIFT) | (value as u64 & VALUE_MASK)
}

#[inline]
fn unpack(word: u64) -> (u64, i64) {
    let tag = word >> TAG_SHIFT;
    // Sign-extend the low VALUE_BITS bits (below the seal).
    let value = ((word << (64 - VALUE_BITS)) as i64) >> (64 - VALUE_BITS);
    (tag, value)
}

/// Settings of a [`PercentBudget`], built by [`PercentBudget::builder`].
///
/// ```
/// use std::time::Duration;
/// use steadfast_guard::budget::PercentBudget;
///
/// let err = PercentBudget::builder().percent_can_retry(f64::NAN).build().unwrap_err();
/// assert_eq!(err.field(), "budget.percent_can_retry");
/// let err = PercentBudget::builder().ttl(Duration::ZERO).build().unwrap_err();
/// assert_eq!(err.to_string(), "budget.ttl must be between 1s and 60s, got 0ns");
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PercentBudgetConfig {
    ttl: Duration,
    min_retries_per_sec: u32,
    percent_can_retry: f64,
    slices: u32,
}

/// Builds a [`PercentBudgetConfig`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build()` is called"]
pub struct PercentBudgetBuilder {
    config: PercentBudgetConfig,
}

impl PercentBudgetBuilder {
    /// How long a deposit counts (default 10 s, between 1 s and 60 s).
    pub fn ttl(mut self, ttl: Duration) -> PercentBudgetBuilder {
        self.config.ttl = ttl;
        self
    }

    /// Retries per second allowed even with no traffic, averaged over the
    /// ttl (default 10).
    pub fn min_retries_per_sec(mut self, n: u32) -> PercentBudgetBuilder {
        self.config.min_retries_per_sec = n;
        self
    }

    /// Retries allowed per request, as a fraction of requests (default 0.2:
    /// one retry per five requests), between 0 and 1000.
    pub fn percent_can_retry(mut self, fraction: f64) -> PercentBudgetBuilder {
        self.config.percent_can_retry = fraction;
        self
    }

    /// How finely the ttl is divided for expiry (default 10, at most 1000):
    /// deposits expire one slice at a time.
    pub fn slices(mut self, slices: u32) -> PercentBudgetBuilder {
        self.config.slices = slices;
        self
    }

    /// Validates the settings.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when the ttl is outside 1 s ..= 60 s, the fraction
    /// is NaN, negative or above 1000, or `slices` is 0 or above 1000.
    pub fn build(self) -> Result<PercentBudgetConfig, ConfigError> {
        let c = self.config;
        ConfigError::ensure(
            c.ttl >= Duration::from_secs(1) && c.ttl <= Duration::from_secs(60),
            "budget.ttl",
            format_args!("{:?}", c.ttl),
            "between 1s and 60s",
        )?;
        ConfigError::ensure(
            (0.0..=1000.0).contains(&c.percent_can_retry),
            "budget.percent_can_retry",
            c.percent_can_retry,
            "between 0 and 1000",
        )?;
        ConfigError::ensure(
            (1..=MAX_SLICES).contains(&c.slices),
            "budget.slices",
            c.slices,
            "between 1 and 1000",
        )?;
        Ok(c)
    }
}

impl Default for PercentBudgetConfig {
    fn default() -> PercentBudgetConfig {
        PercentBudgetConfig {
            ttl: Duration::from_secs(10),
            min_retries_per_sec: 10,
            percent_can_retry: 0.2,
            slices: 10,
        }
    }
}

struct PercentInner<K> {
    clock: K,
    /// A power-of-two ring of slices; the last `live` of them count.
    slots: Box<[AtomicU64]>,
    mask: u64,
    live: u64,
    slices: Slices,
    /// The latest slice seen, so a clock stepping back cannot revive expired deposits.
    latest: AtomicU64,
    /// The sum of the closed slices in the window of one slice.
    closed: ClosedSum,
    deposit: i64,
    withdrawal: i64,
    reserve: i64,
}

/// The sum of a window's closed slices (all but the current one), for the
/// window ending at slice `epoch`, computed once and read by every later
/// call in that slice: a balance then reads one slice, not all of them.
///
/// Whoever sums the closed slices seals each of them (one compare-and-swap
/// on its word, which reads its final value), and a sealed slice never
/// changes: a write meant for it (its writer read the time just before the
/// slice turned) goes to the current slice instead. So every sum of one
/// window's closed slices is the same, and stays right.
///
/// Published like a sequence lock, without ever waiting: a reader that
/// overlaps a publication, or finds another slice's sum, sums the slices
/// itself; a publisher that finds another publishing leaves it to them.
struct ClosedSum {
    seq: AtomicU64,
    epoch: AtomicU64,
    sum: AtomicU64,
}

impl ClosedSum {
    fn new() -> ClosedSum {
        ClosedSum {
            seq: AtomicU64::new(0),
            // No slice's: the first read of every slice misses.
            epoch: AtomicU64::new(u64::MAX),
            sum: AtomicU64::new(0),
        }
    }

    /// The sum for the window ending at `epoch`, if published (and not
    /// overlapping a publication).
    #[inline]
    fn read(&self, epoch: u64) -> Option<i64> {
        let before = self.seq.load(Ordering::Acquire);
        if before & 1 == 1 {
            return None;
        }
        let published = self.epoch.load(Ordering::Relaxed);
        let sum = self.sum.load(Ordering::Relaxed);
        fence(Ordering::Acquire);
        let unchanged = self.seq.load(Ordering::Relaxed) == before;
        // The sum was stored from an `i64`: the cast gives it back.
        (unchanged && published == epoch).then_some(sum as i64)
    }

    fn publish(&self, epoch: u64, sum: i64) {
        let seq = self.seq.load(Ordering::Relaxed);
        if seq & 1 == 1
            || self
                .seq
                // Acquire: the previous publication's stores come before ours.
                .compare_exchange(seq, seq + 1, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        fence(Ordering::Release);
        self.epoch.store(epoch, Ordering::Relaxed);
        // Kept as the `i64`'s bits; `read` casts them back.
        self.sum.store(sum as u64, Ordering::Relaxed);
        self.seq.store(seq + 2, Ordering::Release);
    }
}

/// What became of a write to a slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Write {
    /// Added to the slice.
    Done,
    /// The slice was already reused for a later one: the change expired.
    Expired,
    /// The slice is closed and sealed: write to the current one.
    Sealed,
}

/// A Finagle-style retry budget: a share of recent requests, plus a floor.
///
/// Each request deposits one unit; each retry withdraws `1 / percent`
/// units; deposits and withdrawals expire after the ttl, slice by slice. A
/// reserve of `min_retries_per_sec * ttl` retries is always available over
/// any ttl. Accounting is in integers, with atomics only (no lock); a retry
/// is granted only if the balance stays non-negative, so concurrent
/// withdrawals never overdraw it (under contention, a withdrawal may be
/// refused that a sequential run would grant). One clock read per call.
///
/// A balance reads the reserve, the current slice and one sum of the closed
/// slices, computed once per slice by the first call that needs it (which
/// seals them: a closed slice never changes again). A deposit or withdrawal
/// whose slice closes while it is being made counts in the current slice,
/// and expires one slice later.
///
/// The budget reads its clock's [coarse reading](Clock::now_coarse): a
/// budget's slices are at least a millisecond long (the ttl is 1 s to 60 s,
/// in at most 1000 slices), so a reading at the kernel tick's resolution
/// places every deposit in its slice (up to one tick late; deposits and
/// expiry are both placed on that reading) at a fraction of the cost of a
/// nanosecond read. This is Finagle's choice too: its retry budget reads a
/// millisecond clock. The default clock is [`MonotonicClock`], whose coarse
/// reading on Linux is `CLOCK_MONOTONIC_COARSE`; pass any other clock to
/// [`with_clock`](Self::with_clock).
///
/// Clones share the account. See the [module docs](self) for an example.
pub struct PercentBudget<K: Clock = MonotonicClock> {
    inner: Arc<PercentInner<K>>,
}

impl<K: Clock> Clone for PercentBudget<K> {
    fn clone(&self) -> Self {
        PercentBudget {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<K: Clock> fmt::Debug for PercentBudget<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PercentBudget")
            .field("available_retries", &self.available_retries())
            .finish()
    }
}

impl PercentBudget<MonotonicClock> {
    /// Starts building a config.
    pub fn builder() -> PercentBudgetBuilder {
        PercentBudgetBuilder {
            config: PercentBudgetConfig::default(),
        }
    }

    /// A budget on the process's monotonic clock, read coarsely (see the
    /// type's docs for why that is enough).
    #[must_use]
    pub fn new(config: PercentBudgetConfig) -> PercentBudget<MonotonicClock> {
        PercentBudget::with_clock(config, MonotonicClock::new())
    }
}

impl<K: Clock> PercentBudget<K> {
    /// A budget reading `clock`.
    #[must_use]
    pub fn with_clock(config: PercentBudgetConfig, clock: K) -> PercentBudget<K> {
        let slice_nanos = (u64::try_from(config.ttl.as_nanos()).unwrap_or(u64::MAX)
            / u64::from(config.slices))
        .max(1);
        let (deposit, withdrawal) = if config.percent_can_retry > 0.0 {
            // `as` saturates; the fraction is in (0, 1000], so this is in [1, i64::MAX].
            let w = (SCALE as f64 / config.percent_can_retry).ceil() as i64;
            (SCALE, w.max(1))
        } else {
            (0, SCALE)
        };
        let reserve = i64::from(config.min_retries_per_sec)
            .saturating_mul(i64::try_from(config.ttl.as_secs()).unwrap_or(i64::MAX))
            .saturating_mul(withdrawal);
        let ring = config.slices.next_power_of_two();
        PercentBudget {
            inner: Arc::new(PercentInner {
                clock,
                slots: (0..ring).map(|_| AtomicU64::new(0)).collect(),
                mask: u64::from(ring - 1),
                live: u64::from(config.slices),
                slices: Slices::new(slice_nanos),
                latest: AtomicU64::new(0),
                closed: ClosedSum::new(),
                deposit,
                withdrawal,
                reserve,
            }),
        }
    }

    #[inline]
    fn slice_now(&self) -> u64 {
        let inner = &*self.inner;
        let now = inner.slices.index(inner.clock.now_coarse());
        let latest = inner.latest.load(Ordering::Relaxed);
        if now > latest {
            inner.latest.fetch_max(now, Ordering::Relaxed);
            now
        } else {
            latest
        }
    }

    /// Adds `delta` to slice `epoch`, unless it was reused for a later
    /// slice (the change has expired) or is sealed.
    #[inline]
    fn add(&self, epoch: u64, delta: i64) -> Write {
        let inner = &*self.inner;
        let slot = &inner.slots[(epoch & inner.mask) as usize];
        let tag = epoch & TAG_MASK;
        let mut word = slot.load(Ordering::Relaxed);
        loop {
            let (old_tag, value) = unpack(word);
            let new = if old_tag == tag {
                if word & SEALED != 0 {
                    return Write::Sealed;
                }
                pack(tag, value.saturating_add(delta))
            } else if tag.wrapping_sub(old_tag) & TAG_MASK < (1 << (TAG_BITS - 1)) {
                pack(tag, delta)
            } else {
                return Write::Expired;
            };
            match slot.compare_exchange_weak(word, new, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => return Write::Done,
                Err(actual) => word = actual,
            }
        }
    }

    /// Adds `delta` to slice `epoch`, or to the current slice if `epoch`
    /// was closed and sealed meanwhile. The slice written, or `None` if the
    /// change expired.
    #[inline]
    fn write(&self, mut epoch: u64, delta: i64) -> Option<u64> {
        loop {
            match self.add(epoch, delta) {
                Write::Done => return Some(epoch),
                Write::Expired => return None,
                // Sealed means a later slice was current: this moves on.
                Write::Sealed => epoch = self.slice_now().max(epoch + 1),
            }
        }
    }

    /// The final value of closed slice `epoch`, sealing it.
    fn seal(&self, epoch: u64) -> i64 {
        let inner = &*self.inner;
        let slot = &inner.slots[(epoch & inner.mask) as usize];
        let tag = epoch & TAG_MASK;
        let mut word = slot.load(Ordering::Acquire);
        loop {
            let (old_tag, value) = unpack(word);
            let (value, sealed) = if old_tag == tag {
                if word & SEALED != 0 {
                    return value;
                }
                (value, word | SEALED)
            } else if tag.wrapping_sub(old_tag) & TAG_MASK < (1 << (TAG_BITS - 1)) {
                // Not written in its slice: an empty slice, sealed as such.
                (0, pack(tag, 0) | SEALED)
            } else {
                // Already reused for a later slice: its value is gone.
                return 0;
            };
            match slot.compare_exchange_weak(word, sealed, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return value,
                Err(actual) => word = actual,
            }
        }
    }

    /// The balance of the window ending at slice `epoch`: the reserve, the
    /// closed slices' sum (published once per slice) and the current slice.
    fn balance(&self, epoch: u64) -> i64 {
        let inner = &*self.inner;
        let closed = match inner.closed.read(epoch) {
            Some(sum) => sum,
            None => {
                let sum = (epoch.saturating_sub(inner.live - 1)..epoch)
                    .map(|e| self.seal(e))
                    .sum();
                inner.closed.publish(epoch, sum);
                sum
            }
        };
        let (tag, value) =
            unpack(inner.slots[(epoch & inner.mask) as usize].load(Ordering::Acquire));
        let current = if tag == epoch & TAG_MASK { value } else { 0 };
        // At most `MAX_SLICES` live slices of at most `VALUE_MAX` each (see
        // the assertion there): only adding the reserve can saturate.
        inner.reserve.saturating_add(closed + current)
    }

    /// Retries the budget would grant now, one after another.
    #[must_use]
    pub fn available_retries(&self) -> u64 {
        let balance = self.balance(self.slice_now());
        u64::try_from(balance / self.inner.withdrawal).unwrap_or(0)
    }
}

impl<K: Clock> RetryBudget for PercentBudget<K> {
    #[inline]
    fn deposit(&self) {
        if self.inner.deposit != 0 {
            self.write(self.slice_now(), self.inner.deposit);
        }
    }

    fn try_withdraw(&self, _kind: RetryKind) -> bool {
        let epoch = self.slice_now();
        let w = self.inner.withdrawal;
        // A balance that cannot cover the retry refuses it without writing:
        // an exhausted budget (a retry storm, when every thread is being
        // refused) then costs reads only, and no cache line moves between
        // the threads. Sequentially this decides exactly as booking first.
        if self.balance(epoch).saturating_sub(w) < 0 {
            return false;
        }
        // A withdrawal that could not be booked (its slice already expired
        // under a fast-moving clock) is refused rather than granted for free.
        let Some(booked) = self.write(epoch, -w) else {
            return false;
        };
        if self.balance(booked) >= 0 {
            true
        } else {
            self.write(booked, w);
            false
        }
    }
}

/// Tokens are counted in thousandths.
const MILLI: u64 = 1000;

#[derive(Debug)]
struct BucketRules {
    max: u64,
    retry_cost: u64,
    timeout_cost: u64,
    /// Added on a success that needed no retry.
    reward: u64,
    /// On a success after a retry: refund the retry's cost (AWS) or add `reward` (gRPC).
    refund_on_success: bool,
    /// A retry is allowed only if the tokens left after paying are at least this.
    floor_after: u64,
    /// Whether a refused retry still pays (gRPC counts every failure).
    charge_refused: bool,
}

/// A token-bucket retry budget, with the AWS SDK and gRPC presets.
///
/// Tokens are fixed-point integers in one atomic word, updated by
/// compare-and-swap; no clock. Clones share the bucket.
///
/// ```
/// use steadfast_guard::budget::{RetryBudget, RetryKind, TokenBucketBudget};
///
/// // gRPC: maxTokens 10, tokenRatio 0.1; retries only above 5 tokens.
/// let throttle = TokenBucketBudget::grpc(10.0, 0.1)?;
/// for _ in 0..4 {
///     assert!(throttle.try_withdraw(RetryKind::Error)); // 9, 8, 7, 6
/// }
/// assert!(!throttle.try_withdraw(RetryKind::Error)); // 5 is not above half
/// throttle.record_success(None); // 5.1
/// assert!((throttle.tokens() - 5.1).abs() < 1e-9);
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct TokenBucketBudget {
    tokens: Arc<AtomicU64>,
    rules: Arc<BucketRules>,
}

impl fmt::Debug for TokenBucketBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenBucketBudget")
            .field("tokens", &self.tokens())
            .field("rules", &self.rules)
            .finish()
    }
}

impl TokenBucketBudget {
    fn from_rules(rules: BucketRules) -> TokenBucketBudget {
        TokenBucketBudget {
            tokens: Arc::new(AtomicU64::new(rules.max)),
            rules: Arc::new(rules),
        }
    }

    /// The AWS SDK standard retry quota: 500 tokens; a retry costs 5, a
    /// timeout retry 10; a success refunds its retry's cost, or adds 1 when
    /// no retry was needed; a retry is refused when the cost is not there.
    #[must_use]
    pub fn aws() -> TokenBucketBudget {
        TokenBucketBudget::from_rules(BucketRules {
            max: 500 * MILLI,
            retry_cost: 5 * MILLI,
            timeout_cost: 10 * MILLI,
            reward: MILLI,
            refund_on_success: true,
            floor_after: 0,
            charge_refused: false,
        })
    }

    /// gRPC retry throttling: starts at `max_tokens`; each failed attempt
    /// takes one token (even when the retry is refused); each success adds
    /// `token_ratio`; a retry is allowed only while more than
    /// `max_tokens / 2` remain.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] unless `max_tokens` is in (0, 1000] and
    /// `token_ratio` is in (0, 1000] (both finite; precision 0.001).
    pub fn grpc(max_tokens: f64, token_ratio: f64) -> Result<TokenBucketBudget, ConfigError> {
        ConfigError::ensure(
            max_tokens > 0.0 && max_tokens <= 1000.0,
            "budget.max_tokens",
            max_tokens,
            "in (0, 1000]",
        )?;
        ConfigError::ensure(
            token_ratio > 0.0 && token_ratio <= 1000.0,
            "budget.token_ratio",
            token_ratio,
            "in (0, 1000]",
        )?;
        let max = (max_tokens * MILLI as f64).round() as u64;
        Ok(TokenBucketBudget::from_rules(BucketRules {
            max,
            retry_cost: MILLI,
            timeout_cost: MILLI,
            reward: ((token_ratio * MILLI as f64).round() as u64).max(1),
            refund_on_success: false,
            floor_after: max / 2 + 1,
            charge_refused: true,
        }))
    }

    /// The tokens in the bucket now.
    #[must_use]
    pub fn tokens(&self) -> f64 {
        self.tokens.load(Ordering::Relaxed) as f64 / MILLI as f64
    }

    fn update(&self, f: impl Fn(u64) -> u64) -> u64 {
        let mut current = self.tokens.load(Ordering::Relaxed);
        loop {
            let new = f(current);
            match self.tokens.compare_exchange_weak(
                current,
                new,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return current,
                Err(actual) => current = actual,
            }
        }
    }
}

impl RetryBudget for TokenBucketBudget {
    #[inline]
    fn deposit(&self) {}

    fn try_withdraw(&self, kind: RetryKind) -> bool {
        let r = &*self.rules;
        let cost = match kind {
            RetryKind::Timeout => r.timeout_cost,
            _ => r.retry_cost,
        };
        let before = self.update(|t| {
            let after = t.saturating_sub(cost);
            if t >= cost && after >= r.floor_after || r.charge_refused {
                after
            } else {
                t
            }
        });
        before >= cost && before - cost >= r.floor_after
    }

    fn record_success(&self, last_retry: Option<RetryKind>) {
        let r = &*self.rules;
        let gain = match last_retry {
            Some(RetryKind::Timeout) if r.refund_on_success => r.timeout_cost,
            Some(_) if r.refund_on_success => r.retry_cost,
            _ => r.reward,
        };
        self.update(|t| t.saturating_add(gain).min(r.max));
    }
}

/// A budget of two one-second slices, one retry per deposit, no reserve.
#[cfg(test)]
fn two_slices(clock: &steadfast_core::ManualClock) -> PercentBudget<steadfast_core::ManualClock> {
    let config = PercentBudget::builder()
        .percent_can_retry(1.0)
        .min_retries_per_sec(0)
        .ttl(Duration::from_secs(2))
        .slices(2)
        .build()
        .unwrap();
    PercentBudget::with_clock(config, clock.clone())
}

#[cfg(all(test, not(steadfast_loom)))]
mod tests {
    use super::*;
    use steadfast_core::{ManualClock, Timestamp};

    fn budget(percent: f64, floor: u32, clock: &ManualClock) -> PercentBudget<ManualClock> {
        let config = PercentBudget::builder()
            .percent_can_retry(percent)
            .min_retries_per_sec(floor)
            .build()
            .unwrap();
        PercentBudget::with_clock(config, clock.clone())
    }

    #[test]
    fn pack_round_trips_signed_values() {
        for v in [0, 1, -1, VALUE_MAX, -VALUE_MAX, 123_456] {
            assert_eq!(unpack(pack(77, v)), (77, v));
        }
        assert_eq!(unpack(pack(5, i64::MAX)).1, VALUE_MAX);
        // The seal is not part of the value.
        for v in [0, 1, -1, VALUE_MAX, -VALUE_MAX] {
            assert_eq!(unpack(pack(77, v) | SEALED), (77, v));
        }
    }

    #[test]
    fn a_write_meant_for_a_sealed_slice_lands_in_the_current_one() {
        let clock = ManualClock::new();
        let b = two_slices(&clock);
        b.deposit();
        assert_eq!(b.slice_now(), 0);
        clock.advance(Duration::from_secs(1));
        // Summing the window of slice 1 seals slice 0 (one deposit).
        assert_eq!(b.available_retries(), 1);
        // A deposit whose writer read the time in slice 0 arrives late.
        assert_eq!(b.write(0, b.inner.deposit), Some(1));
        assert_eq!(b.available_retries(), 2);
        // Slice 0 expires first, the late deposit a slice later.
        clock.advance(Duration::from_secs(1));
        assert_eq!(b.available_retries(), 1);
        clock.advance(Duration::from_secs(1));
        assert_eq!(b.available_retries(), 0);
        // A closed slice nobody wrote is sealed empty, and stays so.
        assert_eq!(b.slice_now(), 3);
        assert_eq!(b.write(2, b.inner.deposit), Some(3));
        assert_eq!(b.available_retries(), 1);
    }

    #[test]
    fn floor_allows_retries_without_traffic() {
        let clock = ManualClock::new();
        let b = budget(0.2, 1, &clock);
        // 1 retry/s over a 10 s ttl.
        for _ in 0..10 {
            assert!(b.try_withdraw(RetryKind::Error));
        }
        assert!(!b.try_withdraw(RetryKind::Error));
        clock.advance(Duration::from_secs(10));
        assert!(b.try_withdraw(RetryKind::Error));
    }

    #[test]
    fn zero_percent_means_floor_only() {
        let clock = ManualClock::new();
        let b = budget(0.0, 0, &clock);
        for _ in 0..100 {
            b.deposit();
        }
        assert!(!b.try_withdraw(RetryKind::Error));
        assert_eq!(b.available_retries(), 0);
    }

    #[test]
    fn clock_going_backwards_does_not_revive_deposits() {
        let clock = ManualClock::new();
        let b = budget(1.0, 0, &clock);
        b.deposit();
        clock.advance(Duration::from_secs(20));
        assert_eq!(b.available_retries(), 0);
        clock.jump_backwards(Duration::from_secs(15));
        assert!(!b.try_withdraw(RetryKind::Error));
        b.deposit();
        assert!(b.try_withdraw(RetryKind::Error));
    }

    #[test]
    fn aws_quota_drains_and_refunds() {
        let q = TokenBucketBudget::aws();
        let mut granted = 0;
        while q.try_withdraw(RetryKind::Error) {
            granted += 1;
        }
        assert_eq!(granted, 100);
        assert_eq!(q.tokens(), 0.0);
        q.record_success(None);
        assert_eq!(q.tokens(), 1.0);
        assert!(!q.try_withdraw(RetryKind::Error));
        for _ in 0..1000 {
            q.record_success(None);
        }
        assert_eq!(q.tokens(), 500.0);
    }

    #[test]
    fn grpc_config_errors() {
        assert_eq!(
            TokenBucketBudget::grpc(0.0, 0.1).unwrap_err().field(),
            "budget.max_tokens"
        );
        assert_eq!(
            TokenBucketBudget::grpc(f64::NAN, 0.1).unwrap_err().field(),
            "budget.max_tokens"
        );
        assert_eq!(
            TokenBucketBudget::grpc(10.0, f64::INFINITY)
                .unwrap_err()
                .field(),
            "budget.token_ratio"
        );
        let err = PercentBudget::builder().slices(0).build().unwrap_err();
        assert_eq!(err.field(), "budget.slices");
        let err = PercentBudget::builder()
            .percent_can_retry(-0.1)
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "budget.percent_can_retry");
        let err = PercentBudget::builder()
            .ttl(Duration::MAX)
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "budget.ttl");
    }

    #[test]
    fn shared_across_threads_never_overdraws() {
        let clock = ManualClock::new();
        let b = budget(0.5, 0, &clock);
        for _ in 0..200 {
            b.deposit();
        }
        let granted: usize = (0..2)
            .map(|_| {
                let b = b.clone();
                std::thread::spawn(move || {
                    (0..500)
                        .filter(|_| b.try_withdraw(RetryKind::Error))
                        .count()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .sum();
        assert!(granted <= 100, "granted {granted}");
        assert!(granted >= 1);
    }

    #[test]
    fn no_deposit_or_withdrawal_is_lost_while_slices_close_under_threads() {
        for _ in 0..20 {
            // 60 ms slices in a 60 s window: the clock crosses hundreds of
            // slices while threads write, and nothing expires.
            let clock = ManualClock::new();
            let config = PercentBudget::builder()
                .ttl(Duration::from_secs(60))
                .slices(1000)
                .min_retries_per_sec(0)
                .percent_can_retry(0.5)
                .build()
                .unwrap();
            let b = PercentBudget::with_clock(config, clock.clone());
            let start = std::sync::Barrier::new(2);
            let granted: u64 = std::thread::scope(|scope| {
                let workers: Vec<_> = (0..2)
                    .map(|_| {
                        let (b, clock, start) = (b.clone(), &clock, &start);
                        scope.spawn(move || {
                            start.wait();
                            let mut granted = 0_u64;
                            for i in 0..6_000 {
                                if i % 3 == 0 {
                                    granted += u64::from(b.try_withdraw(RetryKind::Error));
                                } else {
                                    b.deposit();
                                }
                                // Each thread moves the clock too: slices
                                // close under the other's writes.
                                if i % 10 == 0 {
                                    clock.advance(Duration::from_millis(7));
                                }
                            }
                            granted
                        })
                    })
                    .collect();
                workers.into_iter().map(|w| w.join().unwrap()).sum()
            });
            assert_eq!(clock.now(), Timestamp::from_millis(2 * 600 * 7));
            assert!(granted > 0);
            // Every deposit (4,000 a thread) and every granted withdrawal
            // is in the balance: two deposits pay for one retry.
            let balance = 2 * 4_000 * SCALE - i64::try_from(granted).unwrap() * 2 * SCALE;
            assert_eq!(b.balance(b.slice_now()), balance);
        }
    }
}

#[cfg(all(test, steadfast_loom))]
mod loom_tests {
    use super::*;
    use steadfast_core::ManualClock;

    /// A preemption bound keeps the budget's models (a dozen atomic
    /// operations a call) small enough to explore.
    fn bounded() -> loom::model::Builder {
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound = Some(3);
        builder
    }

    #[test]
    fn loom_budget_withdrawals_never_overdraw() {
        bounded().check(|| {
            let config = PercentBudget::builder()
                .percent_can_retry(1.0)
                .min_retries_per_sec(0)
                .slices(1)
                .build()
                .unwrap();
            let b = PercentBudget::with_clock(config, ManualClock::new());
            b.deposit();
            let other = b.clone();
            let t = loom::thread::spawn(move || other.try_withdraw(RetryKind::Error));
            let mine = b.try_withdraw(RetryKind::Error);
            let theirs = t.join().unwrap();
            assert!(!(mine && theirs), "one deposit paid for two retries");
            assert_eq!(b.available_retries(), u64::from(!(mine || theirs)));
        });
    }

    #[test]
    fn loom_a_late_write_to_a_closed_slice_is_never_lost() {
        bounded().check(|| {
            let clock = ManualClock::new();
            let b = two_slices(&clock);
            assert_eq!(b.slice_now(), 0);
            // A deposit whose writer read the time in slice 0 lands while
            // the slice turns and another call sums slice 0 as closed.
            let late = b.clone();
            let t =
                loom::thread::spawn(move || assert!(late.write(0, late.inner.deposit).is_some()));
            clock.advance(Duration::from_secs(1));
            let _ = b.available_retries();
            t.join().unwrap();
            assert_eq!(b.available_retries(), 1, "the late deposit was lost");
        });
    }

    #[test]
    fn loom_a_closed_sum_is_never_read_torn() {
        bounded().check(|| {
            let sums = Arc::new(ClosedSum::new());
            let other = Arc::clone(&sums);
            let t = loom::thread::spawn(move || other.publish(7, -70));
            sums.publish(8, 80);
            for (epoch, sum) in [(7, -70), (8, 80)] {
                if let Some(read) = sums.read(epoch) {
                    assert_eq!(read, sum, "a sum read with another slice's key");
                }
            }
            t.join().unwrap();
            // Once both are done, the last published is read whole.
            let last = [(7, -70), (8, 80)]
                .into_iter()
                .filter_map(|(epoch, sum)| sums.read(epoch).map(|read| (read, sum)))
                .collect::<Vec<_>>();
            assert!(last.len() <= 1);
            for (read, sum) in last {
                assert_eq!(read, sum);
            }
        });
    }

    #[test]
    fn loom_token_bucket_never_overdraws() {
        loom::model(|| {
            let q = TokenBucketBudget::grpc(4.0, 1.0).unwrap();
            let other = q.clone();
            let t = loom::thread::spawn(move || other.try_withdraw(RetryKind::Error));
            let mine = q.try_withdraw(RetryKind::Error);
            let theirs = t.join().unwrap();
            // 4 -> 3 (allowed), 3 -> 2 (not above half).
            assert!(mine ^ theirs);
            assert_eq!(q.tokens(), 2.0);
        });
    }
}
