//! A distributed mutex over any [`LeaseBackend`].
//!
//! Taking the lock means acquiring a lease on a key. The guard carries the
//! grant's [`FencingToken`], believes the lease only by the drift rule of
//! [`Lease`] (measured from the moment each request was *sent*), renews it
//! with [`MutexGuard::maintain`], and reports its loss the moment the rule
//! says so: [`MutexGuard::check`] then fails and a [`LeaseEvent::Lost`] goes
//! to the observer.
//!
//! A lock alone still cannot stop a holder that pauses right after `check`
//! returned: send the token with every write and check it with a
//! [`Fence`](crate::Fence) at the resource.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use steadfast_core::{Clock, MonotonicClock, Observer};

use crate::backend::{
    AcquireOutcome, BackendError, Holder, LeaseBackend, LeaseGrant, RenewOutcome,
};
use crate::event::{LeaseEvent, LossReason};
use crate::fence::FencingToken;
use crate::lease::{Lease, LeasePolicy, LeaseStatus};
use crate::sleeper::BlockingSleeper;

/// Why a lock (or leadership) could not be taken or kept.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    /// Someone else holds the key.
    #[error("held by {} (token {})", holder.owner, holder.token)]
    Held {
        /// The current holder.
        holder: Holder,
    },
    /// The last holder failed and the lock-delay has not passed.
    #[error("in lock-delay after a failed holder; retry after {retry_after:?}")]
    Delayed {
        /// Time until the key may be granted.
        retry_after: Duration,
    },
    /// The timeout passed before the lock was free.
    #[error("timed out after {waited:?} waiting for the lock")]
    Timeout {
        /// How long we waited.
        waited: Duration,
        /// The last holder seen, if any.
        holder: Option<Holder>,
    },
    /// The lease is no longer ours; step down.
    #[error("lease on {key} (token {token}) lost: {reason:?}")]
    Lost {
        /// The key.
        key: String,
        /// The token of the lost grant.
        token: FencingToken,
        /// Why.
        reason: LossReason,
    },
    /// The backend did not answer.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

impl LockError {
    /// Whether trying again later may succeed.
    #[must_use]
    pub fn is_temporary(&self) -> bool {
        match self {
            LockError::Held { .. } | LockError::Delayed { .. } | LockError::Timeout { .. } => true,
            LockError::Lost { .. } => false,
            LockError::Backend(e) => e.is_temporary(),
        }
    }
}

/// A lock on one key, held by one named owner.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use steadfast_core::ManualClock;
/// use steadfast_quorum::{Fence, InMemoryBackend, LeasePolicy, LockError, Mutex};
///
/// let clock = ManualClock::new();
/// let backend = Arc::new(InMemoryBackend::with_clock(clock.clone()));
/// let policy = LeasePolicy::builder(Duration::from_secs(10)).build()?;
/// let a = Mutex::with_clock(Arc::clone(&backend), "jobs", "a", policy, clock.clone());
/// let b = Mutex::with_clock(Arc::clone(&backend), "jobs", "b", policy, clock.clone());
/// let fence = Fence::new();
///
/// let mut guard = a.try_lock()?;
/// assert!(matches!(b.try_lock(), Err(LockError::Held { .. })));
/// fence.check(guard.check()?)?; // a writes with its token
///
/// clock.advance(Duration::from_secs(30)); // a pauses past its lease
/// assert!(guard.check().is_err()); // a knows it lost, once it looks
/// let b_guard = b.try_lock()?;
/// fence.check(b_guard.token())?;
/// assert!(fence.check(guard.token()).is_err()); // a's late write is refused
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Mutex<B, C = MonotonicClock, O = ()> {
    backend: B,
    clock: C,
    observer: O,
    key: Arc<str>,
    owner: Arc<str>,
    policy: LeasePolicy,
}

impl<B, C, O> fmt::Debug for Mutex<B, C, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mutex")
            .field("key", &self.key)
            .field("owner", &self.owner)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl<B: LeaseBackend> Mutex<B> {
    /// A lock on `key` for `owner`, on the monotonic clock.
    #[must_use]
    pub fn new(
        backend: B,
        key: impl Into<String>,
        owner: impl Into<String>,
        policy: LeasePolicy,
    ) -> Mutex<B> {
        Mutex::with_clock(backend, key, owner, policy, MonotonicClock::new())
    }
}

impl<B: LeaseBackend, C: Clock> Mutex<B, C> {
    /// A lock on `key` for `owner`, measuring its leases on `clock`.
    #[must_use]
    pub fn with_clock(
        backend: B,
        key: impl Into<String>,
        owner: impl Into<String>,
        policy: LeasePolicy,
        clock: C,
    ) -> Mutex<B, C> {
        Mutex {
            backend,
            clock,
            observer: (),
            key: Arc::from(key.into()),
            owner: Arc::from(owner.into()),
            policy,
        }
    }
}

impl<B, C, O> Mutex<B, C, O> {
    /// The same lock, reporting its events to `observer`.
    #[must_use]
    pub fn with_observer<O2>(self, observer: O2) -> Mutex<B, C, O2> {
        Mutex {
            backend: self.backend,
            clock: self.clock,
            observer,
            key: self.key,
            owner: self.owner,
            policy: self.policy,
        }
    }

    /// The key.
    #[must_use]
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The owner name this lock acquires under.
    #[must_use]
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// The lease policy.
    #[must_use]
    pub fn policy(&self) -> &LeasePolicy {
        &self.policy
    }

    /// The backend.
    pub fn backend(&self) -> &B {
        &self.backend
    }
}

impl<B: LeaseBackend, C: Clock, O: Observer<LeaseEvent>> Mutex<B, C, O> {
    /// Tries once to take the lock.
    ///
    /// # Errors
    ///
    /// [`LockError::Held`] or [`LockError::Delayed`] when the key is not free,
    /// [`LockError::Lost`] when the grant arrived too late to believe,
    /// [`LockError::Backend`] when the backend failed or granted a shorter
    /// term than the policy's.
    pub fn try_lock(&self) -> Result<MutexGuard<'_, B, C, O>, LockError> {
        let sent_at = self.clock.now();
        match self
            .backend
            .acquire(&self.key, &self.owner, self.policy.term())?
        {
            AcquireOutcome::Granted(grant) => {
                let lease = Lease::new(self.policy, sent_at, grant.token());
                let now = self.clock.now();
                if grant.term() < self.policy.term() {
                    let _ = self.backend.release(&grant);
                    return Err(BackendError::UnsupportedTerm {
                        requested: self.policy.term(),
                        reason: format!("granted only {:?}", grant.term()),
                    }
                    .into());
                }
                if !lease.is_valid(now) {
                    let _ = self.backend.release(&grant);
                    self.lost(grant.token(), LossReason::ExpiredOnArrival);
                    return Err(LockError::Lost {
                        key: self.key.to_string(),
                        token: grant.token(),
                        reason: LossReason::ExpiredOnArrival,
                    });
                }
                self.observer.on_event(&LeaseEvent::Acquired {
                    at: now,
                    key: self.key.clone(),
                    owner: self.owner.clone(),
                    token: grant.token(),
                    valid_until: lease.expires_at(),
                });
                Ok(MutexGuard {
                    mutex: self,
                    grant,
                    lease,
                    done: false,
                    loss: None,
                })
            }
            AcquireOutcome::Held(holder) => Err(LockError::Held { holder }),
            AcquireOutcome::Delayed { retry_after } => Err(LockError::Delayed { retry_after }),
        }
    }

    /// Takes the lock, retrying until `timeout` has passed on this lock's
    /// clock. Waits with `sleeper` between attempts: a twentieth of the term,
    /// or the lock-delay's remaining time, capped by the time left.
    ///
    /// # Errors
    ///
    /// [`LockError::Timeout`] when the lock stayed taken; other errors of
    /// [`try_lock`](Self::try_lock) that are not temporary.
    pub fn lock(
        &self,
        timeout: Duration,
        sleeper: &dyn BlockingSleeper,
    ) -> Result<MutexGuard<'_, B, C, O>, LockError> {
        let start = self.clock.now();
        let poll = (self.policy.term() / 20).max(Duration::from_millis(1));
        let mut last_holder = None;
        loop {
            let wait = match self.try_lock() {
                Ok(guard) => return Ok(guard),
                Err(LockError::Held { holder }) => {
                    last_holder = Some(holder);
                    poll
                }
                Err(LockError::Delayed { retry_after }) => {
                    retry_after.max(Duration::from_millis(1))
                }
                Err(LockError::Backend(e)) if e.is_temporary() => poll,
                Err(LockError::Lost { .. }) => poll,
                Err(e) => return Err(e),
            };
            let waited = self.clock.now().saturating_duration_since(start);
            if waited >= timeout {
                return Err(LockError::Timeout {
                    waited,
                    holder: last_holder,
                });
            }
            sleeper.sleep(wait.min(timeout - waited));
        }
    }

    /// The key's current holder according to the backend.
    ///
    /// # Errors
    ///
    /// A [`BackendError`] when the backend cannot answer.
    pub fn holder(&self) -> Result<Option<Holder>, BackendError> {
        self.backend.holder(&self.key)
    }

    pub(crate) fn now(&self) -> steadfast_core::Timestamp {
        self.clock.now()
    }

    pub(crate) fn shared_key(&self) -> Arc<str> {
        Arc::clone(&self.key)
    }

    pub(crate) fn report(&self, event: LeaseEvent) {
        self.observer.on_event(&event);
    }

    fn lost(&self, token: FencingToken, reason: LossReason) {
        self.observer.on_event(&LeaseEvent::Lost {
            at: self.clock.now(),
            key: self.key.clone(),
            owner: self.owner.clone(),
            token,
            reason,
        });
    }
}

/// A held lock: its token, its lease, and the duty to renew or step down.
///
/// Dropping the guard releases the lease (errors ignored: the lease then
/// expires on its own); [`release`](Self::release) reports them.
#[must_use = "the lock is released when the guard is dropped"]
pub struct MutexGuard<'a, B, C, O>
where
    B: LeaseBackend,
    C: Clock,
    O: Observer<LeaseEvent>,
{
    mutex: &'a Mutex<B, C, O>,
    grant: LeaseGrant,
    lease: Lease,
    done: bool,
    loss: Option<LossReason>,
}

impl<B, C, O> fmt::Debug for MutexGuard<'_, B, C, O>
where
    B: LeaseBackend,
    C: Clock,
    O: Observer<LeaseEvent>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MutexGuard")
            .field("grant", &self.grant)
            .field("lease", &self.lease)
            .field("lost_or_released", &self.done)
            .field("loss", &self.loss)
            .finish()
    }
}

impl<B, C, O> MutexGuard<'_, B, C, O>
where
    B: LeaseBackend,
    C: Clock,
    O: Observer<LeaseEvent>,
{
    /// The fencing token of this grant: send it with every write.
    #[must_use]
    pub fn token(&self) -> FencingToken {
        self.grant.token()
    }

    /// The grant as the backend issued it.
    #[must_use]
    pub fn grant(&self) -> &LeaseGrant {
        &self.grant
    }

    /// The holder-side lease.
    #[must_use]
    pub fn lease(&self) -> &Lease {
        &self.lease
    }

    /// The lease's status now; the first time it shows expiry, reports the loss.
    pub fn status(&mut self) -> LeaseStatus {
        if self.done {
            return LeaseStatus::Expired {
                since: Duration::ZERO,
            };
        }
        let status = self.lease.status(self.mutex.clock.now());
        if let LeaseStatus::Expired { since } = status {
            self.done = true;
            self.loss = Some(LossReason::Expired { since });
            self.mutex.lost(self.token(), LossReason::Expired { since });
        }
        status
    }

    /// Whether we may still act as the holder.
    pub fn is_held(&mut self) -> bool {
        self.status().is_valid()
    }

    /// The token, if the lease is still valid by the drift rule.
    ///
    /// # Errors
    ///
    /// [`LockError::Lost`] once the lease is no longer valid: step down.
    pub fn check(&mut self) -> Result<FencingToken, LockError> {
        if self.is_held() {
            Ok(self.token())
        } else {
            let reason = self.loss.clone().unwrap_or(LossReason::Expired {
                since: self
                    .mutex
                    .clock
                    .now()
                    .saturating_duration_since(self.lease.expires_at()),
            });
            Err(self.lost_error(reason))
        }
    }

    /// Renews now, measuring the new validity from this send.
    ///
    /// # Errors
    ///
    /// [`LockError::Lost`] when the lease had expired (by our clock or the
    /// backend's); [`LockError::Backend`] when the backend did not answer
    /// (the lease stays valid until its current end).
    pub fn renew(&mut self) -> Result<LeaseStatus, LockError> {
        let before = self.status();
        if !before.is_valid() {
            return Err(self.lost_error(LossReason::Expired {
                since: Duration::ZERO,
            }));
        }
        let sent_at = self.mutex.clock.now();
        match self.mutex.backend.renew(&self.grant) {
            Ok(RenewOutcome::Renewed) => {
                self.lease.renewed(sent_at);
                let status = self.status();
                if status.is_valid() {
                    self.mutex.observer.on_event(&LeaseEvent::Renewed {
                        at: self.mutex.clock.now(),
                        key: self.mutex.key.clone(),
                        owner: self.mutex.owner.clone(),
                        token: self.token(),
                        valid_until: self.lease.expires_at(),
                    });
                    Ok(status)
                } else {
                    Err(self.lost_error(LossReason::Expired {
                        since: Duration::ZERO,
                    }))
                }
            }
            Ok(RenewOutcome::Lost) => {
                self.done = true;
                self.loss = Some(LossReason::RenewRefused);
                self.mutex.lost(self.token(), LossReason::RenewRefused);
                Err(self.lost_error(LossReason::RenewRefused))
            }
            Err(error) => {
                self.mutex.observer.on_event(&LeaseEvent::RenewFailed {
                    at: self.mutex.clock.now(),
                    key: self.mutex.key.clone(),
                    owner: self.mutex.owner.clone(),
                    token: self.token(),
                    error: error.clone(),
                });
                Err(LockError::Backend(error))
            }
        }
    }

    /// Call often: renews when the renewal point has passed, reports loss.
    /// A backend that does not answer is retried on the next call; the lease
    /// stays valid until its own end.
    ///
    /// # Errors
    ///
    /// [`LockError::Lost`] once the lease is gone: step down.
    pub fn maintain(&mut self) -> Result<LeaseStatus, LockError> {
        match self.status() {
            LeaseStatus::RenewDue { .. } => match self.renew() {
                Err(LockError::Backend(_)) => {
                    let status = self.status();
                    if status.is_valid() {
                        Ok(status)
                    } else {
                        Err(self.lost_error(LossReason::Expired {
                            since: Duration::ZERO,
                        }))
                    }
                }
                other => other,
            },
            status @ LeaseStatus::Valid { .. } => Ok(status),
            _ => Err(self.lost_error(LossReason::Expired {
                since: Duration::ZERO,
            })),
        }
    }

    /// Releases the lease now.
    ///
    /// # Errors
    ///
    /// A [`BackendError`] when the backend did not answer; the lease then
    /// expires on its own.
    pub fn release(mut self) -> Result<(), BackendError> {
        self.release_inner()
    }

    fn release_inner(&mut self) -> Result<(), BackendError> {
        if std::mem::replace(&mut self.done, true) {
            return Ok(());
        }
        let result = self.mutex.backend.release(&self.grant);
        self.mutex.observer.on_event(&LeaseEvent::Released {
            at: self.mutex.clock.now(),
            key: self.mutex.key.clone(),
            owner: self.mutex.owner.clone(),
            token: self.token(),
        });
        result
    }

    fn lost_error(&mut self, reason: LossReason) -> LockError {
        self.done = true;
        self.loss.get_or_insert_with(|| reason.clone());
        LockError::Lost {
            key: self.mutex.key.to_string(),
            token: self.token(),
            reason,
        }
    }
}

impl<B, C, O> Drop for MutexGuard<'_, B, C, O>
where
    B: LeaseBackend,
    C: Clock,
    O: Observer<LeaseEvent>,
{
    fn drop(&mut self) {
        let _ = self.release_inner();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::InMemoryBackend;
    use std::sync::Arc;
    use steadfast_core::{ManualClock, Recorder};

    fn setup() -> (ManualClock, Arc<InMemoryBackend<ManualClock>>, LeasePolicy) {
        let clock = ManualClock::new();
        let backend = Arc::new(InMemoryBackend::with_clock(clock.clone()));
        let policy = LeasePolicy::builder(Duration::from_secs(3))
            .drift_bound(1.5)
            .safety_margin(Duration::ZERO)
            .build()
            .unwrap();
        (clock, backend, policy)
    }

    #[test]
    fn maintain_renews_at_a_third_and_steps_down_on_expiry() {
        let (clock, backend, policy) = setup();
        let events = Recorder::new();
        let m = Mutex::with_clock(Arc::clone(&backend), "k", "a", policy, clock.clone())
            .with_observer(events.clone());
        let mut g = m.try_lock().unwrap();
        assert!(matches!(g.maintain(), Ok(LeaseStatus::Valid { .. })));
        clock.advance(Duration::from_secs(1));
        assert!(matches!(g.maintain(), Ok(LeaseStatus::Valid { .. })));
        assert!(matches!(events.events()[1], LeaseEvent::Renewed { .. }));
        // Validity is 3 s / 1.5 = 2 s from the renewal at t = 1 s.
        clock.advance(Duration::from_secs(2));
        assert!(matches!(g.maintain(), Err(LockError::Lost { .. })));
        assert!(matches!(
            events.events()[2],
            LeaseEvent::Lost {
                reason: LossReason::Expired { .. },
                ..
            }
        ));
        drop(g);
        // No release event after a loss.
        assert_eq!(events.len(), 3);
    }

    #[test]
    fn lock_waits_for_the_holder_to_expire() {
        let (clock, backend, policy) = setup();
        let a = Mutex::with_clock(Arc::clone(&backend), "k", "a", policy, clock.clone());
        let b = Mutex::with_clock(Arc::clone(&backend), "k", "b", policy, clock.clone());
        let ga = a.try_lock().unwrap();
        let err = b.lock(Duration::from_secs(1), &clock).unwrap_err();
        assert!(matches!(err, LockError::Timeout { holder: Some(ref h), .. } if h.owner == "a"));
        let gb = b.lock(Duration::from_secs(10), &clock).unwrap();
        assert!(gb.token() > ga.token());
        // a's backend lease is gone: renewing is refused.
        let mut ga = ga;
        assert!(matches!(ga.renew(), Err(LockError::Lost { .. })));
    }

    #[test]
    fn renew_refused_by_backend() {
        let (clock, backend, policy) = setup();
        let m = Mutex::with_clock(Arc::clone(&backend), "k", "a", policy, clock.clone());
        let mut g = m.try_lock().unwrap();
        let grant = g.grant().clone();
        backend.release(&grant).unwrap();
        assert!(matches!(
            g.renew(),
            Err(LockError::Lost {
                reason: LossReason::RenewRefused,
                ..
            })
        ));
        assert!(!g.is_held());
        assert!(matches!(
            g.check(),
            Err(LockError::Lost {
                reason: LossReason::RenewRefused,
                ..
            })
        ));
    }
}
