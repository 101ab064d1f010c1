//! Timeouts and deadlines that need no particular async runtime.
//!
//! [`timeout`] races a future against a sleep from any [`Sleeper`]; the loser
//! is dropped. A [`Deadline`] is an absolute instant on a [`Clock`] that a
//! caller passes down a call chain: each layer asks how much time is left
//! and can tighten it for its own work, never extend it.
//!
//! ```
//! use std::time::Duration;
//! use steadfast_core::{ManualClock, Timestamp};
//! use steadfast_guard::timeout::Deadline;
//!
//! let clock = ManualClock::new();
//! let request = Deadline::after(&clock, Duration::from_secs(2));
//! // A sub-call wants at most 500 ms, but never more than the request has left.
//! let sub_call = request.tightened(&clock, Duration::from_millis(500));
//! assert_eq!(sub_call.at(), Timestamp::from_millis(500));
//! clock.advance(Duration::from_millis(1_900));
//! assert_eq!(request.remaining(&clock), Duration::from_millis(100));
//! assert!(sub_call.check(&clock).is_err());
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use steadfast_core::{Clock, Timestamp};

use crate::Sleeper;

/// The operation did not finish in time.
///
/// ```
/// use std::time::Duration;
/// use steadfast_guard::timeout::Elapsed;
/// let e = Elapsed::new(Duration::from_millis(250));
/// assert_eq!(e.to_string(), "timed out after 250ms");
/// assert!(e.is_temporary());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("timed out after {after:?}")]
#[non_exhaustive]
pub struct Elapsed {
    after: Duration,
}

impl Elapsed {
    /// An error for a limit of `after`.
    #[must_use]
    pub fn new(after: Duration) -> Elapsed {
        Elapsed { after }
    }

    /// The limit that was exceeded.
    #[must_use]
    pub fn after(&self) -> Duration {
        self.after
    }

    /// `true`: the same call may succeed when tried again.
    #[must_use]
    pub fn is_temporary(&self) -> bool {
        true
    }
}

/// Runs `future` for at most `limit`, sleeping through `sleeper`.
///
/// The future is polled first, so a ready future wins even with a zero
/// limit. When time runs out the future is dropped (cancelled).
///
/// The sleep is started only when the future first returns `Pending`: a
/// future that completes on its first poll (the common success path of a
/// fast dependency) costs no timer at all. The limit therefore counts from
/// the end of that first poll; work a future does synchronously inside a
/// poll cannot be interrupted by any async timeout, so nothing is lost. To
/// bound time from an earlier instant, pass the time left on a [`Deadline`]
/// (see [`Deadline::run`]).
///
/// # Errors
///
/// [`Elapsed`] when the sleep finishes first.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::time::Duration;
/// use steadfast_guard::timeout::timeout;
///
/// let slow = tokio::time::sleep(Duration::from_secs(60));
/// let err = timeout(&tokio::time::sleep, Duration::from_millis(1), slow).await.unwrap_err();
/// assert_eq!(err.after(), Duration::from_millis(1));
/// assert_eq!(timeout(&tokio::time::sleep, Duration::from_secs(1), async { 7 }).await, Ok(7));
/// # }
/// ```
pub fn timeout<S, F>(sleeper: &S, limit: Duration, future: F) -> Timeout<'_, S, F>
where
    S: Sleeper + ?Sized,
    F: Future,
{
    Timeout {
        future,
        sleep: None,
        sleeper,
        limit,
    }
}

/// The future returned by [`timeout`]: the inner future's output, or
/// [`Elapsed`].
#[pin_project::pin_project]
#[must_use = "futures do nothing unless polled"]
pub struct Timeout<'a, S: Sleeper + ?Sized, F> {
    #[pin]
    future: F,
    /// Armed on the first pending poll, on the heap: a future that answers
    /// at once pays neither for the timer nor for carrying its bytes.
    sleep: Option<Pin<Box<S::Sleep>>>,
    sleeper: &'a S,
    limit: Duration,
}

impl<S: Sleeper + ?Sized, F> fmt::Debug for Timeout<'_, S, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeout")
            .field("limit", &self.limit)
            .field("timer_started", &self.sleep.is_some())
            .finish_non_exhaustive()
    }
}

impl<S: Sleeper + ?Sized, F: Future> Future for Timeout<'_, S, F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(out) = this.future.poll(cx) {
            return Poll::Ready(Ok(out));
        }
        if poll_timer(this.sleep, *this.sleeper, *this.limit, cx) {
            return Poll::Ready(Err(Elapsed { after: *this.limit }));
        }
        Poll::Pending
    }
}

/// Polls a timer armed on first use: sleeps `limit` on `sleeper` from the
/// first call, `true` once that sleep is over.
pub(crate) fn poll_timer<S: Sleeper + ?Sized>(
    timer: &mut Option<Pin<Box<S::Sleep>>>,
    sleeper: &S,
    limit: Duration,
    cx: &mut Context<'_>,
) -> bool {
    timer
        .get_or_insert_with(|| Box::pin(sleeper.sleep(limit)))
        .as_mut()
        .poll(cx)
        .is_ready()
}

/// The deadline has passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("deadline {deadline} passed (now {now})")]
#[non_exhaustive]
pub struct DeadlineExceeded {
    /// The deadline.
    pub deadline: Timestamp,
    /// When it was checked.
    pub now: Timestamp,
}

/// An absolute instant by which work must finish, passed down a call chain.
///
/// `Copy`, eight bytes. Tighten it with [`tightened`](Self::tightened) or
/// [`min`](Self::min); nothing in this type can push it later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Deadline {
    at: Timestamp,
}

impl Deadline {
    /// No deadline at all (the end of time).
    pub const NEVER: Deadline = Deadline { at: Timestamp::MAX };

    /// The deadline at instant `at`.
    #[must_use]
    pub const fn at_instant(at: Timestamp) -> Deadline {
        Deadline { at }
    }

    /// `budget` from now on `clock` (saturating).
    #[must_use]
    pub fn after(clock: &dyn Clock, budget: Duration) -> Deadline {
        Deadline {
            at: clock.now().saturating_add(budget),
        }
    }

    /// The instant of the deadline.
    #[must_use]
    pub fn at(&self) -> Timestamp {
        self.at
    }

    /// Time left on `clock`; zero once passed.
    #[must_use]
    pub fn remaining(&self, clock: &dyn Clock) -> Duration {
        self.at.saturating_duration_since(clock.now())
    }

    /// `true` once `clock` has reached the deadline.
    #[must_use]
    pub fn is_expired(&self, clock: &dyn Clock) -> bool {
        clock.now() >= self.at
    }

    /// The time left, or an error once the deadline has passed.
    ///
    /// # Errors
    ///
    /// [`DeadlineExceeded`] when `clock` has reached the deadline.
    pub fn check(&self, clock: &dyn Clock) -> Result<Duration, DeadlineExceeded> {
        let now = clock.now();
        if now >= self.at {
            Err(DeadlineExceeded {
                deadline: self.at,
                now,
            })
        } else {
            Ok(self.at.saturating_duration_since(now))
        }
    }

    /// The earlier of two deadlines.
    #[must_use]
    pub fn min(self, other: Deadline) -> Deadline {
        if other.at < self.at { other } else { self }
    }

    /// At most `budget` from now, and never later than `self`.
    #[must_use]
    pub fn tightened(&self, clock: &dyn Clock, budget: Duration) -> Deadline {
        Deadline::min(*self, Deadline::after(clock, budget))
    }

    /// Runs `future` until the deadline, sleeping through `sleeper`.
    ///
    /// # Errors
    ///
    /// [`Elapsed`] (carrying the time that was left at the start) when the
    /// deadline passes first. An already-passed deadline still polls the
    /// future once.
    ///
    /// ```
    /// use std::time::Duration;
    /// use steadfast_core::ManualClock;
    /// use steadfast_guard::timeout::Deadline;
    ///
    /// let clock = ManualClock::new();
    /// let deadline = Deadline::after(&clock, Duration::from_secs(1));
    /// let instant = |_d: Duration| std::future::ready(());
    /// let never_done = std::future::pending::<()>();
    /// let out = futures::executor::block_on(deadline.run(&clock, &instant, never_done));
    /// assert_eq!(out.unwrap_err().after(), Duration::from_secs(1));
    /// ```
    pub async fn run<S, F>(
        &self,
        clock: &dyn Clock,
        sleeper: &S,
        future: F,
    ) -> Result<F::Output, Elapsed>
    where
        S: Sleeper + ?Sized,
        F: Future,
    {
        timeout(sleeper, self.remaining(clock), future).await
    }
}

#[cfg(all(test, not(steadfast_loom)))]
mod tests {
    use super::*;
    use steadfast_core::ManualClock;

    #[test]
    fn ready_future_wins_even_with_zero_limit() {
        let instant = |_d: Duration| std::future::ready(());
        let out = futures::executor::block_on(timeout(&instant, Duration::ZERO, async { 3 }));
        assert_eq!(out, Ok(3));
    }

    #[test]
    fn pending_future_times_out_and_is_dropped() {
        struct DropFlag(std::sync::Arc<std::sync::atomic::AtomicBool>);
        impl Drop for DropFlag {
            fn drop(&mut self) {
                self.0.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        }
        let dropped = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = DropFlag(dropped.clone());
        let work = async move {
            let _flag = flag;
            std::future::pending::<()>().await;
        };
        let instant = |_d: Duration| std::future::ready(());
        let out = futures::executor::block_on(timeout(&instant, Duration::from_millis(5), work));
        assert_eq!(out, Err(Elapsed::new(Duration::from_millis(5))));
        assert!(dropped.load(std::sync::atomic::Ordering::SeqCst));
    }

    #[test]
    fn a_ready_future_starts_no_timer_and_a_pending_one_starts_one() {
        let started = std::sync::atomic::AtomicUsize::new(0);
        let counting = |_d: Duration| {
            started.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            std::future::ready(())
        };
        let out =
            futures::executor::block_on(timeout(&counting, Duration::from_secs(1), async { 1 }));
        assert_eq!(out, Ok(1));
        assert_eq!(started.load(std::sync::atomic::Ordering::SeqCst), 0);
        let out = futures::executor::block_on(timeout(
            &counting,
            Duration::from_secs(1),
            std::future::pending::<()>(),
        ));
        assert!(out.is_err());
        assert_eq!(started.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[test]
    fn deadlines_only_tighten() {
        let clock = ManualClock::new();
        let d = Deadline::after(&clock, Duration::from_secs(1));
        assert_eq!(d.tightened(&clock, Duration::from_secs(5)), d);
        assert_eq!(
            d.tightened(&clock, Duration::from_millis(10)).at(),
            Timestamp::from_millis(10)
        );
        assert_eq!(d.min(Deadline::NEVER), d);
        assert_eq!(
            Deadline::NEVER.remaining(&clock),
            Duration::from_nanos(u64::MAX)
        );
        assert_eq!(
            Deadline::after(&clock, Duration::MAX).at(),
            Timestamp::MAX,
            "a huge budget saturates"
        );
    }

    #[test]
    fn expiry_and_clock_going_backwards() {
        let clock = ManualClock::new();
        let d = Deadline::after(&clock, Duration::from_millis(100));
        assert!(!d.is_expired(&clock));
        clock.advance(Duration::from_millis(100));
        assert!(d.is_expired(&clock));
        let err = d.check(&clock).unwrap_err();
        assert_eq!(err.deadline, Timestamp::from_millis(100));
        assert_eq!(d.remaining(&clock), Duration::ZERO);
        clock.jump_backwards(Duration::from_millis(60));
        assert_eq!(d.check(&clock), Ok(Duration::from_millis(60)));
    }

    #[test]
    fn expired_deadline_still_polls_once() {
        let clock = ManualClock::starting_at(Timestamp::from_secs(9));
        let d = Deadline::at_instant(Timestamp::from_secs(1));
        let instant = |_d: Duration| std::future::ready(());
        let out = futures::executor::block_on(d.run(&clock, &instant, async { "done" }));
        assert_eq!(out, Ok("done"));
    }
}
