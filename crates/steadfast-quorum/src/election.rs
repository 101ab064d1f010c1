//! Leader election over any [`LeaseBackend`].
//!
//! The leader is whoever holds the lease on the election's key. Candidates
//! [`campaign`](Election::campaign); the winner gets a [`Leadership`] carrying
//! its fencing token and must [`maintain`](Leadership::maintain) it; anyone
//! can ask who leads and [`observe`](Election::observe) changes, each reported
//! as a [`LeaseEvent::LeaderChanged`] for the audit log.

use std::fmt;
use std::time::Duration;

use parking_lot::Mutex as PlMutex;
use steadfast_core::{Clock, MonotonicClock, Observer};

use crate::backend::{BackendError, Holder, LeaseBackend};
use crate::event::LeaseEvent;
use crate::fence::FencingToken;
use crate::lease::{LeasePolicy, LeaseStatus};
use crate::mutex::{LockError, Mutex, MutexGuard};
use crate::sleeper::BlockingSleeper;

/// A change of leader seen by [`Election::observe`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LeaderChange {
    /// The leader seen before, if any.
    pub previous: Option<Holder>,
    /// The leader now, if any.
    pub current: Option<Holder>,
}

/// One candidate's handle on an election.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use steadfast_core::ManualClock;
/// use steadfast_quorum::{Election, InMemoryBackend, LeasePolicy};
///
/// let clock = ManualClock::new();
/// let backend = Arc::new(InMemoryBackend::with_clock(clock.clone()));
/// let policy = LeasePolicy::builder(Duration::from_secs(5)).build()?;
/// let a = Election::with_clock(Arc::clone(&backend), "svc", "a", policy, clock.clone());
/// let b = Election::with_clock(Arc::clone(&backend), "svc", "b", policy, clock.clone());
///
/// let leadership = a.try_campaign()?;
/// assert_eq!(b.leader()?.map(|h| h.owner), Some("a".to_string()));
/// assert!(b.observe()?.is_some()); // b sees a become leader
/// leadership.resign()?;
/// let change = b.observe()?.expect("a resigned");
/// assert_eq!(change.current, None);
/// let b_leads = b.campaign(Duration::from_secs(1), &clock)?;
/// assert_eq!(b_leads.token().get(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Election<B, C = MonotonicClock, O = ()> {
    mutex: Mutex<B, C, O>,
    last_seen: PlMutex<Option<Holder>>,
}

impl<B, C, O> fmt::Debug for Election<B, C, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Election")
            .field("key", &self.mutex.key())
            .field("candidate", &self.mutex.owner())
            .field("last_seen", &*self.last_seen.lock())
            .finish()
    }
}

impl<B: LeaseBackend> Election<B> {
    /// An election on `key` for `candidate`, on the monotonic clock.
    #[must_use]
    pub fn new(
        backend: B,
        key: impl Into<String>,
        candidate: impl Into<String>,
        policy: LeasePolicy,
    ) -> Election<B> {
        Election::with_clock(backend, key, candidate, policy, MonotonicClock::new())
    }
}

impl<B: LeaseBackend, C: Clock> Election<B, C> {
    /// An election on `key` for `candidate`, measuring leases on `clock`.
    #[must_use]
    pub fn with_clock(
        backend: B,
        key: impl Into<String>,
        candidate: impl Into<String>,
        policy: LeasePolicy,
        clock: C,
    ) -> Election<B, C> {
        Election::from_mutex(Mutex::with_clock(backend, key, candidate, policy, clock))
    }
}

impl<B, C, O> Election<B, C, O> {
    fn from_mutex(mutex: Mutex<B, C, O>) -> Election<B, C, O> {
        Election {
            mutex,
            last_seen: PlMutex::new(None),
        }
    }

    /// The same election, reporting events to `observer`.
    #[must_use]
    pub fn with_observer<O2>(self, observer: O2) -> Election<B, C, O2> {
        Election::from_mutex(self.mutex.with_observer(observer))
    }

    /// The election's key.
    #[must_use]
    pub fn key(&self) -> &str {
        self.mutex.key()
    }

    /// This candidate's name.
    #[must_use]
    pub fn candidate(&self) -> &str {
        self.mutex.owner()
    }
}

impl<B: LeaseBackend, C: Clock, O: Observer<LeaseEvent>> Election<B, C, O> {
    /// Tries once to become leader.
    ///
    /// # Errors
    ///
    /// As [`Mutex::try_lock`]: [`LockError::Held`] when someone else leads.
    pub fn try_campaign(&self) -> Result<Leadership<'_, B, C, O>, LockError> {
        self.mutex.try_lock().map(|guard| Leadership { guard })
    }

    /// Campaigns until elected or `timeout` passes.
    ///
    /// # Errors
    ///
    /// As [`Mutex::lock`]: [`LockError::Timeout`] when another candidate kept leading.
    pub fn campaign(
        &self,
        timeout: Duration,
        sleeper: &dyn BlockingSleeper,
    ) -> Result<Leadership<'_, B, C, O>, LockError> {
        self.mutex
            .lock(timeout, sleeper)
            .map(|guard| Leadership { guard })
    }

    /// The current leader according to the backend.
    ///
    /// # Errors
    ///
    /// A [`BackendError`] when the backend cannot answer.
    pub fn leader(&self) -> Result<Option<Holder>, BackendError> {
        self.mutex.holder()
    }

    /// Reads the leader and, if it differs from the last one this handle saw,
    /// returns the change and reports a [`LeaseEvent::LeaderChanged`].
    ///
    /// # Errors
    ///
    /// A [`BackendError`] when the backend cannot answer.
    pub fn observe(&self) -> Result<Option<LeaderChange>, BackendError> {
        let current = self.mutex.holder()?;
        let mut last = self.last_seen.lock();
        if *last == current {
            return Ok(None);
        }
        let previous = std::mem::replace(&mut *last, current.clone());
        drop(last);
        self.mutex.report(LeaseEvent::LeaderChanged {
            at: self.mutex.now(),
            key: self.mutex.shared_key(),
            previous: previous.clone(),
            current: current.clone(),
        });
        Ok(Some(LeaderChange { previous, current }))
    }
}

/// Being the leader: the token to fence writes with, and the duty to renew.
///
/// Dropping it resigns.
#[must_use = "leadership is resigned when dropped"]
pub struct Leadership<'a, B, C, O>
where
    B: LeaseBackend,
    C: Clock,
    O: Observer<LeaseEvent>,
{
    guard: MutexGuard<'a, B, C, O>,
}

impl<B, C, O> fmt::Debug for Leadership<'_, B, C, O>
where
    B: LeaseBackend,
    C: Clock,
    O: Observer<LeaseEvent>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Leadership")
            .field("guard", &self.guard)
            .finish()
    }
}

impl<B, C, O> Leadership<'_, B, C, O>
where
    B: LeaseBackend,
    C: Clock,
    O: Observer<LeaseEvent>,
{
    /// The fencing token of this term of leadership.
    #[must_use]
    pub fn token(&self) -> FencingToken {
        self.guard.token()
    }

    /// Whether we may still act as leader (the drift rule, see [`Lease`](crate::Lease)).
    pub fn is_leader(&mut self) -> bool {
        self.guard.is_held()
    }

    /// The token, if we are still leader.
    ///
    /// # Errors
    ///
    /// [`LockError::Lost`] once leadership is gone.
    pub fn check(&mut self) -> Result<FencingToken, LockError> {
        self.guard.check()
    }

    /// Renews when due; reports loss. See [`MutexGuard::maintain`].
    ///
    /// # Errors
    ///
    /// [`LockError::Lost`] once leadership is gone.
    pub fn maintain(&mut self) -> Result<LeaseStatus, LockError> {
        self.guard.maintain()
    }

    /// Steps down now.
    ///
    /// # Errors
    ///
    /// A [`BackendError`] when the backend did not answer; leadership then
    /// ends when the lease expires.
    pub fn resign(self) -> Result<(), BackendError> {
        self.guard.release()
    }
}
