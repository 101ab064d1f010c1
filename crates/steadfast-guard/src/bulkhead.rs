//! Bulkhead: a cap on how many calls run at once.
//!
//! A slow dependency ties up whatever waits on it: threads, connections,
//! memory. A bulkhead bounds that damage by admitting at most
//! `max_concurrent` calls at a time, so one slow downstream cannot drown the
//! whole service. Calls over the cap are rejected at once, or wait up to
//! `max_wait` for a slot to free up.
//!
//! The admission counter is one atomic; a call that gets a slot never takes a
//! lock. Waiters (only when `max_wait` is non-zero and the bulkhead is full)
//! queue in FIFO order behind a mutex that the fast path never touches.
//!
//! ```
//! use steadfast_guard::bulkhead::{Bulkhead, BulkheadConfig};
//!
//! let bulkhead = Bulkhead::new(BulkheadConfig::builder().max_concurrent(2).build()?);
//! let first = bulkhead.try_acquire()?;
//! let _second = bulkhead.try_acquire()?;
//! let full = bulkhead.try_acquire().unwrap_err();
//! assert_eq!(full.max_concurrent(), 2);
//! drop(first); // a permit gives its slot back when dropped
//! assert!(bulkhead.try_acquire().is_ok());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use steadfast_core::{Clock, ConfigError, MonotonicClock, Observer, Timestamp};

use crate::Sleeper;
use crate::sync::{AtomicUsize, Ordering};

/// Settings of a [`Bulkhead`], validated by [`BulkheadConfigBuilder::build`].
///
/// ```
/// use std::time::Duration;
/// use steadfast_guard::bulkhead::BulkheadConfig;
///
/// let config = BulkheadConfig::builder()
///     .max_concurrent(16)
///     .max_wait(Duration::from_millis(50))
///     .build()?;
/// assert_eq!(config.max_concurrent(), 16);
/// assert_eq!(config.max_wait(), Duration::from_millis(50));
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BulkheadConfig {
    max_concurrent: usize,
    max_wait: Duration,
}

impl BulkheadConfig {
    /// The largest `max_concurrent` accepted (leaves headroom in the counter).
    pub const MAX_CONCURRENT: usize = usize::MAX / 4;

    /// A builder with the defaults: 25 concurrent calls, no waiting.
    #[must_use]
    pub fn builder() -> BulkheadConfigBuilder {
        BulkheadConfigBuilder {
            max_concurrent: 25,
            max_wait: Duration::ZERO,
        }
    }

    /// How many calls may run at once.
    #[must_use]
    pub fn max_concurrent(&self) -> usize {
        self.max_concurrent
    }

    /// How long a call may wait for a slot before it is rejected.
    #[must_use]
    pub fn max_wait(&self) -> Duration {
        self.max_wait
    }
}

/// Builds a [`BulkheadConfig`].
#[derive(Debug, Clone)]
pub struct BulkheadConfigBuilder {
    max_concurrent: usize,
    max_wait: Duration,
}

impl BulkheadConfigBuilder {
    /// How many calls may run at once (at least 1).
    #[must_use]
    pub fn max_concurrent(mut self, n: usize) -> Self {
        self.max_concurrent = n;
        self
    }

    /// How long a call may wait for a slot; zero (the default) rejects at once.
    #[must_use]
    pub fn max_wait(mut self, wait: Duration) -> Self {
        self.max_wait = wait;
        self
    }

    /// Validates the settings.
    ///
    /// # Errors
    ///
    /// `bulkhead.max_concurrent` must be in `[1, BulkheadConfig::MAX_CONCURRENT]`.
    ///
    /// ```
    /// use steadfast_guard::bulkhead::BulkheadConfig;
    /// let err = BulkheadConfig::builder().max_concurrent(0).build().unwrap_err();
    /// assert_eq!(err.to_string(), "bulkhead.max_concurrent must be at least 1, got 0");
    /// ```
    pub fn build(self) -> Result<BulkheadConfig, ConfigError> {
        ConfigError::ensure(
            self.max_concurrent >= 1,
            "bulkhead.max_concurrent",
            self.max_concurrent,
            "at least 1",
        )?;
        ConfigError::ensure(
            self.max_concurrent <= BulkheadConfig::MAX_CONCURRENT,
            "bulkhead.max_concurrent",
            self.max_concurrent,
            "at most usize::MAX / 4",
        )?;
        Ok(BulkheadConfig {
            max_concurrent: self.max_concurrent,
            max_wait: self.max_wait,
        })
    }
}

/// What a [`Bulkhead`] reports to its observer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BulkheadEvent {
    /// A call was turned away because every slot was taken.
    Rejected {
        /// When the call was rejected.
        at: Timestamp,
        /// The configured cap.
        max_concurrent: usize,
        /// How long the call waited before giving up (zero when it did not wait).
        waited: Duration,
    },
}

/// The bulkhead was full: the call was not admitted.
///
/// Temporary: a slot frees up as soon as a running call finishes.
///
/// ```
/// use steadfast_guard::bulkhead::{Bulkhead, BulkheadConfig};
/// let bulkhead = Bulkhead::new(BulkheadConfig::builder().max_concurrent(1).build()?);
/// let _held = bulkhead.try_acquire()?;
/// let err = bulkhead.try_acquire().unwrap_err();
/// assert!(err.is_temporary());
/// assert_eq!(err.to_string(), "bulkhead full: 1 calls already in flight (waited 0ns)");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("bulkhead full: {max_concurrent} calls already in flight (waited {waited:?})")]
#[non_exhaustive]
pub struct BulkheadFull {
    max_concurrent: usize,
    waited: Duration,
}

impl BulkheadFull {
    /// The configured cap that was reached.
    #[must_use]
    pub fn max_concurrent(&self) -> usize {
        self.max_concurrent
    }

    /// How long the call waited before it was rejected.
    #[must_use]
    pub fn waited(&self) -> Duration {
        self.waited
    }

    /// Always `true`: trying again later can succeed.
    #[must_use]
    pub fn is_temporary(&self) -> bool {
        true
    }
}

/// The lock-free admission counter.
#[derive(Debug)]
pub(crate) struct Slots {
    used: AtomicUsize,
    max: usize,
}

impl Slots {
    pub(crate) fn new(max: usize) -> Slots {
        Slots {
            used: AtomicUsize::new(0),
            max,
        }
    }

    /// Takes a slot if one is free.
    ///
    /// SeqCst pairs with [`Slots::give_back`] and the waiter count so that a
    /// waiter that registered and then failed here is always seen by the
    /// releaser (no lost wake-up).
    #[inline]
    pub(crate) fn try_take(&self) -> bool {
        let mut current = self.used.load(Ordering::SeqCst);
        loop {
            if current >= self.max {
                return false;
            }
            match self.used.compare_exchange_weak(
                current,
                current + 1,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => return true,
                Err(actual) => current = actual,
            }
        }
    }

    #[inline]
    pub(crate) fn give_back(&self) {
        self.used.fetch_sub(1, Ordering::SeqCst);
    }

    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::SeqCst)
    }
}

#[derive(Debug, Default)]
struct WaitList {
    next_id: u64,
    entries: VecDeque<(u64, Waker)>,
}

struct Inner {
    slots: Slots,
    config: BulkheadConfig,
    waiting: AtomicUsize,
    waiters: Mutex<WaitList>,
    clock: Arc<dyn Clock>,
    observer: Arc<dyn Observer<BulkheadEvent>>,
}

impl Inner {
    fn waiters(&self) -> MutexGuard<'_, WaitList> {
        // A panic while holding this lock leaves the list consistent.
        self.waiters.lock().unwrap_or_else(|e| e.into_inner())
    }

    #[inline]
    fn release(&self) {
        self.slots.give_back();
        if self.waiting.load(Ordering::SeqCst) > 0 {
            self.notify_one();
        }
    }

    fn notify_one(&self) {
        let next = {
            let mut list = self.waiters();
            let next = list.entries.pop_front();
            if next.is_some() {
                self.waiting.fetch_sub(1, Ordering::SeqCst);
            }
            next
        };
        if let Some((_, waker)) = next {
            waker.wake();
        }
    }

    fn reject(&self, waited: Duration) -> BulkheadFull {
        self.observer.on_event(&BulkheadEvent::Rejected {
            at: self.clock.now(),
            max_concurrent: self.config.max_concurrent,
            waited,
        });
        BulkheadFull {
            max_concurrent: self.config.max_concurrent,
            waited,
        }
    }
}

/// A concurrency limit shared by every clone.
///
/// Clones share one counter, so a bulkhead can be handed to many tasks or
/// threads. See the [module docs](self) for when to use one.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use steadfast_guard::bulkhead::{Bulkhead, BulkheadConfig};
///
/// let config = BulkheadConfig::builder()
///     .max_concurrent(1)
///     .max_wait(Duration::from_millis(5))
///     .build()?;
/// let bulkhead = Bulkhead::new(config);
/// let held = bulkhead.acquire(&tokio::time::sleep).await?;
/// // The only slot is held: the second call waits 5 ms, then is rejected.
/// assert!(bulkhead.acquire(&tokio::time::sleep).await.is_err());
/// drop(held);
/// assert!(bulkhead.acquire(&tokio::time::sleep).await.is_ok());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Bulkhead {
    inner: Arc<Inner>,
}

impl fmt::Debug for Bulkhead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bulkhead")
            .field("max_concurrent", &self.inner.config.max_concurrent)
            .field("in_flight", &self.in_flight())
            .field("waiting", &self.inner.waiting.load(Ordering::Relaxed))
            .finish()
    }
}

impl Bulkhead {
    /// A bulkhead on the real monotonic clock.
    #[must_use]
    pub fn new(config: BulkheadConfig) -> Bulkhead {
        Bulkhead::with_clock(config, MonotonicClock::new())
    }

    /// A bulkhead reading time (for waits and events) from `clock`.
    #[must_use]
    pub fn with_clock(config: BulkheadConfig, clock: impl Clock + 'static) -> Bulkhead {
        Bulkhead::observed(config, clock, ())
    }

    /// A bulkhead reporting rejections to `observer`.
    ///
    /// ```
    /// use steadfast_core::{ManualClock, Recorder};
    /// use steadfast_guard::bulkhead::{Bulkhead, BulkheadConfig, BulkheadEvent};
    ///
    /// let events = Recorder::new();
    /// let config = BulkheadConfig::builder().max_concurrent(1).build()?;
    /// let bulkhead = Bulkhead::observed(config, ManualClock::new(), events.clone());
    /// let _held = bulkhead.try_acquire()?;
    /// let _ = bulkhead.try_acquire();
    /// assert!(matches!(events.events()[0], BulkheadEvent::Rejected { max_concurrent: 1, .. }));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn observed(
        config: BulkheadConfig,
        clock: impl Clock + 'static,
        observer: impl Observer<BulkheadEvent> + 'static,
    ) -> Bulkhead {
        Bulkhead {
            inner: Arc::new(Inner {
                slots: Slots::new(config.max_concurrent),
                config,
                waiting: AtomicUsize::new(0),
                waiters: Mutex::new(WaitList::default()),
                clock: Arc::new(clock),
                observer: Arc::new(observer),
            }),
        }
    }

    /// The settings this bulkhead runs with.
    #[must_use]
    pub fn config(&self) -> &BulkheadConfig {
        &self.inner.config
    }

    /// How many permits are held right now.
    #[must_use]
    pub fn in_flight(&self) -> usize {
        self.inner.slots.used()
    }

    /// How many more permits could be taken right now.
    #[must_use]
    pub fn available(&self) -> usize {
        self.inner
            .config
            .max_concurrent
            .saturating_sub(self.in_flight())
    }

    /// Takes a slot without waiting; the permit borrows the bulkhead.
    ///
    /// This is the fast path: one compare-and-swap, no allocation, no lock.
    ///
    /// # Errors
    ///
    /// [`BulkheadFull`] when every slot is taken.
    #[inline]
    pub fn try_acquire(&self) -> Result<BulkheadPermit<'_>, BulkheadFull> {
        if self.inner.slots.try_take() {
            Ok(BulkheadPermit { inner: &self.inner })
        } else {
            Err(self.inner.reject(Duration::ZERO))
        }
    }

    /// Takes a slot without waiting; the permit owns a handle and can move
    /// into a spawned task.
    ///
    /// # Errors
    ///
    /// [`BulkheadFull`] when every slot is taken.
    ///
    /// ```
    /// use steadfast_guard::bulkhead::{Bulkhead, BulkheadConfig};
    /// let bulkhead = Bulkhead::new(BulkheadConfig::builder().max_concurrent(1).build()?);
    /// let permit = bulkhead.try_acquire_owned()?;
    /// std::thread::spawn(move || drop(permit)).join().unwrap();
    /// assert_eq!(bulkhead.in_flight(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_acquire_owned(&self) -> Result<OwnedBulkheadPermit, BulkheadFull> {
        if self.inner.slots.try_take() {
            Ok(OwnedBulkheadPermit {
                inner: Arc::clone(&self.inner),
            })
        } else {
            Err(self.inner.reject(Duration::ZERO))
        }
    }

    /// Takes a slot, waiting up to the configured `max_wait` for one, asynchronously.
    ///
    /// Waiters are woken first come, first served; a call that finds a slot
    /// free takes it without queueing. The wait is bounded by a sleep on
    /// `sleeper`; dropping the returned future leaves the queue.
    ///
    /// # Errors
    ///
    /// [`BulkheadFull`] when no slot freed up within `max_wait`.
    pub async fn acquire<S: Sleeper>(
        &self,
        sleeper: &S,
    ) -> Result<OwnedBulkheadPermit, BulkheadFull> {
        let mut wait = match self.begin_wait(sleeper) {
            Ok(Ok(permit)) => return Ok(permit),
            Ok(Err(wait)) => wait,
            Err(full) => return Err(full),
        };
        std::future::poll_fn(|cx| self.poll_wait(&mut wait, cx)).await
    }

    /// The permit of a slot taken by a [`BulkheadPermit`] that was
    /// [detached](BulkheadPermit::detach).
    #[inline]
    pub(crate) fn resume_permit(&self) -> BulkheadPermit<'_> {
        BulkheadPermit { inner: &self.inner }
    }

    /// Starts [`acquire`](Self::acquire): a free slot at once, or the wait
    /// for one to poll with [`poll_wait`](Self::poll_wait), or the rejection
    /// of a bulkhead that does not wait.
    #[allow(clippy::type_complexity)]
    pub(crate) fn begin_wait<S: Sleeper + ?Sized>(
        &self,
        sleeper: &S,
    ) -> Result<Result<OwnedBulkheadPermit, SlotWaiter<S::Sleep>>, BulkheadFull> {
        if let Ok(permit) = self.try_acquire_owned_quiet() {
            return Ok(Ok(permit));
        }
        let max_wait = self.inner.config.max_wait;
        if max_wait.is_zero() {
            return Err(self.inner.reject(Duration::ZERO));
        }
        Ok(Err(SlotWaiter {
            started: self.inner.clock.now(),
            waiting: self.wait_for_slot(),
            timer: Box::pin(sleeper.sleep(max_wait)),
        }))
    }

    /// Polls a wait begun by [`begin_wait`](Self::begin_wait).
    pub(crate) fn poll_wait<T: Future<Output = ()>>(
        &self,
        wait: &mut SlotWaiter<T>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<OwnedBulkheadPermit, BulkheadFull>> {
        if let Poll::Ready(permit) = Pin::new(&mut wait.waiting).poll(cx) {
            return Poll::Ready(Ok(permit));
        }
        if wait.timer.as_mut().poll(cx).is_ready() {
            let waited = self
                .inner
                .clock
                .now()
                .saturating_duration_since(wait.started);
            return Poll::Ready(Err(self.inner.reject(waited)));
        }
        Poll::Pending
    }

    /// Takes a slot, blocking the thread up to the configured `max_wait`.
    ///
    /// The deadline is measured on the bulkhead's clock: with a
    /// [`ManualClock`](steadfast_core::ManualClock) the wait ends when that
    /// clock passes it (or a slot frees up).
    ///
    /// # Errors
    ///
    /// [`BulkheadFull`] when no slot freed up within `max_wait`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use steadfast_guard::bulkhead::{Bulkhead, BulkheadConfig};
    ///
    /// let config = BulkheadConfig::builder()
    ///     .max_concurrent(1)
    ///     .max_wait(Duration::from_secs(5))
    ///     .build()?;
    /// let bulkhead = Bulkhead::new(config);
    /// let held = bulkhead.try_acquire_owned()?;
    /// let releaser = std::thread::spawn(move || drop(held));
    /// let permit = bulkhead.acquire_blocking()?; // waits for the other thread
    /// releaser.join().unwrap();
    /// drop(permit);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn acquire_blocking(&self) -> Result<OwnedBulkheadPermit, BulkheadFull> {
        if let Ok(permit) = self.try_acquire_owned_quiet() {
            return Ok(permit);
        }
        let max_wait = self.inner.config.max_wait;
        if max_wait.is_zero() {
            return Err(self.inner.reject(Duration::ZERO));
        }
        let started = self.inner.clock.now();
        let deadline = started.saturating_add(max_wait);
        let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        let mut waiting = pin!(self.wait_for_slot());
        loop {
            if let Poll::Ready(permit) = waiting.as_mut().poll(&mut cx) {
                return Ok(permit);
            }
            let now = self.inner.clock.now();
            if now >= deadline {
                return Err(self.inner.reject(now.saturating_duration_since(started)));
            }
            std::thread::park_timeout(deadline.saturating_duration_since(now));
        }
    }

    fn try_acquire_owned_quiet(&self) -> Result<OwnedBulkheadPermit, ()> {
        if self.inner.slots.try_take() {
            Ok(OwnedBulkheadPermit {
                inner: Arc::clone(&self.inner),
            })
        } else {
            Err(())
        }
    }

    /// A future that resolves when a slot is taken, queueing behind earlier waiters.
    fn wait_for_slot(&self) -> SlotWait {
        SlotWait {
            inner: Arc::clone(&self.inner),
            id: None,
        }
    }
}

struct ThreadWaker(std::thread::Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// An asynchronous wait for a slot, bounded by a timer (see
/// [`Bulkhead::begin_wait`]); dropping it leaves the queue.
pub(crate) struct SlotWaiter<T> {
    started: Timestamp,
    waiting: SlotWait,
    timer: Pin<Box<T>>,
}

/// Waits in the FIFO list for a slot.
struct SlotWait {
    inner: Arc<Inner>,
    /// Our ticket in the wait list, once registered.
    id: Option<u64>,
}

impl SlotWait {
    fn remove_entry(&mut self) -> bool {
        let Some(id) = self.id.take() else {
            return false;
        };
        let mut list = self.inner.waiters();
        if let Some(pos) = list.entries.iter().position(|(i, _)| *i == id) {
            list.entries.remove(pos);
            self.inner.waiting.fetch_sub(1, Ordering::SeqCst);
            true
        } else {
            false
        }
    }
}

impl Future for SlotWait {
    type Output = OwnedBulkheadPermit;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<OwnedBulkheadPermit> {
        let this = &mut *self;
        if this.inner.slots.try_take() {
            this.remove_entry();
            return Poll::Ready(OwnedBulkheadPermit {
                inner: Arc::clone(&this.inner),
            });
        }
        {
            let mut list = this.inner.waiters();
            let existing = this
                .id
                .and_then(|id| list.entries.iter_mut().find(|(i, _)| *i == id));
            match existing {
                Some((_, waker)) => waker.clone_from(cx.waker()),
                None => {
                    let id = list.next_id;
                    list.next_id = list.next_id.wrapping_add(1);
                    list.entries.push_back((id, cx.waker().clone()));
                    this.inner.waiting.fetch_add(1, Ordering::SeqCst);
                    this.id = Some(id);
                }
            }
        }
        // A slot may have been released between the first try and registering.
        if this.inner.slots.try_take() {
            this.remove_entry();
            return Poll::Ready(OwnedBulkheadPermit {
                inner: Arc::clone(&this.inner),
            });
        }
        Poll::Pending
    }
}

impl Drop for SlotWait {
    fn drop(&mut self) {
        if self.id.is_some() && !self.remove_entry() {
            // We were woken for a slot but are going away: pass the wake-up on.
            self.inner.notify_one();
        }
    }
}

/// A slot in a [`Bulkhead`], borrowed from it; released on drop.
#[must_use = "the slot is released as soon as the permit is dropped"]
pub struct BulkheadPermit<'a> {
    inner: &'a Inner,
}

impl fmt::Debug for BulkheadPermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BulkheadPermit").finish_non_exhaustive()
    }
}

impl Drop for BulkheadPermit<'_> {
    #[inline]
    fn drop(&mut self) {
        self.inner.release();
    }
}

impl BulkheadPermit<'_> {
    /// Keeps the slot taken without borrowing the bulkhead;
    /// [`Bulkhead::resume_permit`] gives the permit back.
    #[inline]
    pub(crate) fn detach(self) {
        std::mem::forget(self);
    }
}

/// A slot in a [`Bulkhead`] that owns a handle to it; released on drop.
#[must_use = "the slot is released as soon as the permit is dropped"]
pub struct OwnedBulkheadPermit {
    inner: Arc<Inner>,
}

impl fmt::Debug for OwnedBulkheadPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedBulkheadPermit")
            .finish_non_exhaustive()
    }
}

impl Drop for OwnedBulkheadPermit {
    fn drop(&mut self) {
        self.inner.release();
    }
}

#[cfg(all(test, not(steadfast_loom)))]
mod tests {
    use super::*;
    use steadfast_core::{ManualClock, Recorder};

    fn bulkhead(max: usize, wait: Duration) -> (Bulkhead, ManualClock) {
        let clock = ManualClock::new();
        let config = BulkheadConfig::builder()
            .max_concurrent(max)
            .max_wait(wait)
            .build()
            .unwrap();
        (Bulkhead::with_clock(config, clock.clone()), clock)
    }

    #[test]
    fn config_rejects_zero_and_huge() {
        assert!(BulkheadConfig::builder().max_concurrent(0).build().is_err());
        let err = BulkheadConfig::builder()
            .max_concurrent(usize::MAX)
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "bulkhead.max_concurrent");
    }

    #[test]
    fn permits_count_and_release() {
        let (b, _) = bulkhead(3, Duration::ZERO);
        let p1 = b.try_acquire().unwrap();
        let p2 = b.try_acquire_owned().unwrap();
        let p3 = b.try_acquire().unwrap();
        assert_eq!(b.in_flight(), 3);
        assert_eq!(b.available(), 0);
        assert!(b.try_acquire().is_err());
        drop(p2);
        assert_eq!(b.available(), 1);
        drop((p1, p3));
        assert_eq!(b.in_flight(), 0);
    }

    #[test]
    fn rejection_is_observed_with_time() {
        let clock = ManualClock::new();
        clock.advance(Duration::from_secs(3));
        let events = Recorder::new();
        let config = BulkheadConfig::builder().max_concurrent(1).build().unwrap();
        let b = Bulkhead::observed(config, clock, events.clone());
        let _p = b.try_acquire().unwrap();
        assert!(b.try_acquire_owned().is_err());
        assert_eq!(
            events.events(),
            vec![BulkheadEvent::Rejected {
                at: Timestamp::from_secs(3),
                max_concurrent: 1,
                waited: Duration::ZERO
            }]
        );
    }

    #[test]
    fn async_waiter_gets_released_slot_in_order() {
        let (b, _) = bulkhead(1, Duration::from_secs(60));
        let held = b.try_acquire_owned().unwrap();
        // A sleeper that never finishes: only a release can end the wait.
        let never = |_d: Duration| std::future::pending::<()>();
        let mut first = Box::pin(b.acquire(&never));
        let mut second = Box::pin(b.acquire(&never));
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        assert!(first.as_mut().poll(&mut cx).is_pending());
        assert!(second.as_mut().poll(&mut cx).is_pending());
        drop(held);
        let permit = match first.as_mut().poll(&mut cx) {
            Poll::Ready(r) => r.unwrap(),
            Poll::Pending => panic!("first waiter not served"),
        };
        assert!(second.as_mut().poll(&mut cx).is_pending());
        drop(permit);
        assert!(matches!(second.as_mut().poll(&mut cx), Poll::Ready(Ok(_))));
        assert_eq!(b.in_flight(), 0);
    }

    #[test]
    fn dropped_waiter_leaves_no_trace() {
        let (b, _) = bulkhead(1, Duration::from_secs(60));
        let held = b.try_acquire_owned().unwrap();
        let never = |_d: Duration| std::future::pending::<()>();
        let mut w = Box::pin(b.acquire(&never));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(w.as_mut().poll(&mut cx).is_pending());
        assert_eq!(b.inner.waiting.load(Ordering::SeqCst), 1);
        drop(w);
        assert_eq!(b.inner.waiting.load(Ordering::SeqCst), 0);
        drop(held);
        assert!(b.try_acquire().is_ok());
    }

    #[test]
    fn async_wait_times_out_with_typed_error() {
        let (b, clock) = bulkhead(1, Duration::from_millis(20));
        let _held = b.try_acquire_owned().unwrap();
        let c = clock.clone();
        // A sleeper that moves the manual clock and finishes at once.
        let sleeper = move |d: Duration| {
            c.advance(d);
            std::future::ready(())
        };
        let err = futures::executor::block_on(b.acquire(&sleeper)).unwrap_err();
        assert_eq!(err.waited(), Duration::from_millis(20));
        assert_eq!(err.max_concurrent(), 1);
    }

    #[test]
    fn zero_wait_rejects_at_once() {
        let (b, _) = bulkhead(1, Duration::ZERO);
        let _held = b.try_acquire().unwrap();
        assert!(
            futures::executor::block_on(b.acquire(&|_d: Duration| std::future::pending::<()>()))
                .is_err()
        );
        assert!(b.acquire_blocking().is_err());
    }

    #[test]
    fn blocking_wait_ends_at_clock_deadline() {
        let (b, clock) = bulkhead(1, Duration::from_millis(10));
        let _held = b.try_acquire_owned().unwrap();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mover = {
            let clock = clock.clone();
            let stop = Arc::clone(&stop);
            // Keeps the manual clock moving so the waiter's deadline passes.
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    clock.advance(Duration::from_millis(1));
                    std::thread::yield_now();
                }
            })
        };
        let err = b.acquire_blocking().unwrap_err();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        mover.join().unwrap();
        assert!(err.waited() >= Duration::from_millis(10));
    }

    #[test]
    fn threads_never_exceed_the_cap() {
        let (b, _) = bulkhead(3, Duration::ZERO);
        let peak = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let b = b.clone();
                let peak = Arc::clone(&peak);
                std::thread::spawn(move || {
                    for _ in 0..2_000 {
                        if let Ok(p) = b.try_acquire() {
                            peak.fetch_max(b.in_flight(), std::sync::atomic::Ordering::Relaxed);
                            drop(p);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert!(peak.load(std::sync::atomic::Ordering::Relaxed) <= 3);
        assert_eq!(b.in_flight(), 0);
    }

    #[test]
    fn blocking_waiters_across_threads_all_finish() {
        let clock = ManualClock::new();
        let config = BulkheadConfig::builder()
            .max_concurrent(2)
            .max_wait(Duration::from_secs(3600))
            .build()
            .unwrap();
        let b = Bulkhead::with_clock(config, clock);
        let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let b = b.clone();
                let done = Arc::clone(&done);
                std::thread::spawn(move || {
                    for _ in 0..200 {
                        let p = b
                            .acquire_blocking()
                            .expect("the clock never reaches the deadline");
                        assert!(b.in_flight() <= 2);
                        drop(p);
                        done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(done.load(std::sync::atomic::Ordering::Relaxed), 800);
        assert_eq!(b.in_flight(), 0);
    }
}

#[cfg(all(test, steadfast_loom))]
mod loom_tests {
    use super::Slots;
    use loom::sync::Arc;

    #[test]
    fn loom_slots_never_exceed_max() {
        loom::model(|| {
            let slots = Arc::new(Slots::new(1));
            let handles: Vec<_> = (0..2)
                .map(|_| {
                    let slots = Arc::clone(&slots);
                    loom::thread::spawn(move || {
                        if slots.try_take() {
                            assert!(slots.used() <= 1);
                            slots.give_back();
                            true
                        } else {
                            false
                        }
                    })
                })
                .collect();
            let taken: usize = handles
                .into_iter()
                .map(|h| usize::from(h.join().unwrap()))
                .sum();
            assert!(taken >= 1);
            assert_eq!(slots.used(), 0);
        });
    }

    #[test]
    fn loom_two_slots_three_threads() {
        // Three threads only take: exactly two succeed. A preemption bound
        // keeps the model small.
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound = Some(2);
        builder.check(|| {
            let slots = Arc::new(Slots::new(2));
            let handles: Vec<_> = (0..3)
                .map(|_| {
                    let slots = Arc::clone(&slots);
                    loom::thread::spawn(move || usize::from(slots.try_take()))
                })
                .collect();
            let taken: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
            assert_eq!(taken, 2);
            assert_eq!(slots.used(), 2);
        });
    }
}
