//! Where leases live: the [`LeaseBackend`] trait and the in-memory backend.
//!
//! A backend is the *grantor*: it decides who holds a key, issues a
//! [`FencingToken`] with every grant, and refuses a conflicting grant until its
//! own clock has moved a full term past the last grant or renewal. The
//! holder's side of the rule (believe only for `T/κ − margin` after sending)
//! lives in [`Lease`](crate::Lease) and [`Mutex`](crate::Mutex), so it holds
//! for every backend.
//!
//! [`InMemoryBackend`] serves one process (threads, tasks, tests, the
//! simulator); `steadfast-etcd` serves many machines.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use parking_lot::Mutex as PlMutex;
use steadfast_core::{Clock, ConfigError, MonotonicClock, Timestamp};

use crate::fence::FencingToken;

/// A granted lease on a key, as the backend issued it.
///
/// ```
/// use std::time::Duration;
/// use steadfast_quorum::{FencingToken, LeaseGrant};
///
/// let grant = LeaseGrant::new("jobs/leader", "worker-1", FencingToken::new(3), 42, Duration::from_secs(5));
/// assert_eq!(grant.key(), "jobs/leader");
/// assert_eq!(grant.token(), FencingToken::new(3));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LeaseGrant {
    key: String,
    owner: String,
    token: FencingToken,
    lease_id: u64,
    term: Duration,
}

impl LeaseGrant {
    /// A grant record; for backend implementations.
    #[must_use]
    pub fn new(
        key: impl Into<String>,
        owner: impl Into<String>,
        token: FencingToken,
        lease_id: u64,
        term: Duration,
    ) -> LeaseGrant {
        LeaseGrant {
            key: key.into(),
            owner: owner.into(),
            token,
            lease_id,
            term,
        }
    }

    /// The key.
    #[must_use]
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Who holds it.
    #[must_use]
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// The fencing token of this grant.
    #[must_use]
    pub fn token(&self) -> FencingToken {
        self.token
    }

    /// The backend's identifier of the lease (not monotonic; never a token).
    #[must_use]
    pub fn lease_id(&self) -> u64 {
        self.lease_id
    }

    /// The term the grantor enforces.
    #[must_use]
    pub fn term(&self) -> Duration {
        self.term
    }
}

/// The current holder of a key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Holder {
    /// Who holds it.
    pub owner: String,
    /// The token of its grant.
    pub token: FencingToken,
}

/// The answer to an acquire.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
#[must_use]
pub enum AcquireOutcome {
    /// The lease is ours.
    Granted(LeaseGrant),
    /// Someone else holds the key.
    Held(Holder),
    /// Nobody holds the key, but its last holder failed (its lease expired
    /// without a release) and the lock-delay has not passed.
    Delayed {
        /// Time until the key can be granted again, on the grantor's clock.
        retry_after: Duration,
    },
}

/// The answer to a renewal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
#[must_use]
pub enum RenewOutcome {
    /// The grantor extended the lease by a full term from its receipt.
    Renewed,
    /// The lease had already expired or was taken over.
    Lost,
}

/// A backend could not answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// The backend could not be reached or did not answer in time.
    #[error("lease backend unavailable: {reason}")]
    Unavailable {
        /// What went wrong.
        reason: String,
    },
    /// The backend answered, but not in a way this client understands.
    #[error("lease backend protocol error: {reason}")]
    Protocol {
        /// What went wrong.
        reason: String,
    },
    /// The backend cannot grant the term asked for.
    #[error("lease backend cannot grant a term of {requested:?}: {reason}")]
    UnsupportedTerm {
        /// The requested term.
        requested: Duration,
        /// Why.
        reason: String,
    },
}

impl BackendError {
    /// Whether retrying later may succeed.
    #[must_use]
    pub fn is_temporary(&self) -> bool {
        matches!(self, BackendError::Unavailable { .. })
    }
}

/// A store of leases on keys: the grantor side of locks and elections.
///
/// Implementations must keep these promises, which [`Mutex`](crate::Mutex) and
/// [`Election`](crate::Election) rely on:
///
/// - at most one live grant per key;
/// - tokens on a key strictly increase from grant to grant;
/// - a grant or renewal received at grantor time `g` excludes every other
///   grant on the key until the grantor's clock passes `g + term`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use steadfast_core::ManualClock;
/// use steadfast_quorum::{AcquireOutcome, InMemoryBackend, LeaseBackend};
///
/// let clock = ManualClock::new();
/// let backend = InMemoryBackend::with_clock(clock.clone());
/// let term = Duration::from_secs(5);
/// let AcquireOutcome::Granted(grant) = backend.acquire("k", "a", term)? else { panic!() };
/// assert!(matches!(backend.acquire("k", "b", term)?, AcquireOutcome::Held(_)));
/// clock.advance(term);
/// assert!(matches!(backend.acquire("k", "b", term)?, AcquireOutcome::Granted(g) if g.token() > grant.token()));
/// # Ok::<(), steadfast_quorum::BackendError>(())
/// ```
pub trait LeaseBackend: Send + Sync {
    /// Grants `key` to `owner` for `term` if nobody holds it.
    ///
    /// # Errors
    ///
    /// A [`BackendError`] when the backend cannot answer.
    fn acquire(
        &self,
        key: &str,
        owner: &str,
        term: Duration,
    ) -> Result<AcquireOutcome, BackendError>;

    /// Extends `grant` by a full term from the grantor's receipt.
    ///
    /// # Errors
    ///
    /// A [`BackendError`] when the backend cannot answer (the lease may or may
    /// not have been renewed: the holder's validity is unchanged).
    fn renew(&self, grant: &LeaseGrant) -> Result<RenewOutcome, BackendError>;

    /// Gives `grant` up; releasing a lease already lost is not an error.
    ///
    /// # Errors
    ///
    /// A [`BackendError`] when the backend cannot answer (the lease then
    /// expires on its own).
    fn release(&self, grant: &LeaseGrant) -> Result<(), BackendError>;

    /// The current holder of `key`, if any.
    ///
    /// # Errors
    ///
    /// A [`BackendError`] when the backend cannot answer.
    fn holder(&self, key: &str) -> Result<Option<Holder>, BackendError>;
}

impl<B: LeaseBackend + ?Sized> LeaseBackend for &B {
    fn acquire(
        &self,
        key: &str,
        owner: &str,
        term: Duration,
    ) -> Result<AcquireOutcome, BackendError> {
        (**self).acquire(key, owner, term)
    }
    fn renew(&self, grant: &LeaseGrant) -> Result<RenewOutcome, BackendError> {
        (**self).renew(grant)
    }
    fn release(&self, grant: &LeaseGrant) -> Result<(), BackendError> {
        (**self).release(grant)
    }
    fn holder(&self, key: &str) -> Result<Option<Holder>, BackendError> {
        (**self).holder(key)
    }
}

impl<B: LeaseBackend + ?Sized> LeaseBackend for std::sync::Arc<B> {
    fn acquire(
        &self,
        key: &str,
        owner: &str,
        term: Duration,
    ) -> Result<AcquireOutcome, BackendError> {
        (**self).acquire(key, owner, term)
    }
    fn renew(&self, grant: &LeaseGrant) -> Result<RenewOutcome, BackendError> {
        (**self).renew(grant)
    }
    fn release(&self, grant: &LeaseGrant) -> Result<(), BackendError> {
        (**self).release(grant)
    }
    fn holder(&self, key: &str) -> Result<Option<Holder>, BackendError> {
        (**self).holder(key)
    }
}

/// Settings of an [`InMemoryBackend`].
///
/// ```
/// use std::time::Duration;
/// use steadfast_quorum::InMemoryConfig;
///
/// let config = InMemoryConfig::builder().lock_delay(Duration::from_secs(2)).build()?;
/// assert_eq!(config.lock_delay(), Duration::from_secs(2));
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InMemoryConfig {
    lock_delay: Duration,
}

/// Builds an [`InMemoryConfig`].
#[derive(Clone, Copy, Debug, Default)]
#[must_use = "a builder does nothing until build() is called"]
pub struct InMemoryConfigBuilder {
    lock_delay: Duration,
}

impl InMemoryConfigBuilder {
    /// After a holder *fails* (its lease expires without a release), keep the
    /// key ungranted for this long more, as Chubby does, so that requests the
    /// failed holder sent before dying drain away (default zero).
    pub fn lock_delay(mut self, delay: Duration) -> InMemoryConfigBuilder {
        self.lock_delay = delay;
        self
    }

    /// Validates and builds.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when the lock-delay is above one hour.
    pub fn build(self) -> Result<InMemoryConfig, ConfigError> {
        ConfigError::ensure(
            self.lock_delay <= Duration::from_secs(3600),
            "in_memory.lock_delay",
            format_args!("{:?}", self.lock_delay),
            "at most one hour",
        )?;
        Ok(InMemoryConfig {
            lock_delay: self.lock_delay,
        })
    }
}

impl InMemoryConfig {
    /// A builder with the defaults.
    pub fn builder() -> InMemoryConfigBuilder {
        InMemoryConfigBuilder::default()
    }

    /// The lock-delay after a failed holder.
    #[must_use]
    pub fn lock_delay(&self) -> Duration {
        self.lock_delay
    }
}

#[derive(Debug)]
struct Entry {
    owner: String,
    token: FencingToken,
    lease_id: u64,
    expires_at: Timestamp,
    lock_delay: Duration,
    released: bool,
}

#[derive(Debug, Default)]
struct State {
    keys: HashMap<String, Entry>,
    last_token: u64,
}

/// A thread-safe, clock-injected [`LeaseBackend`] for one process.
///
/// Keys live in a map behind one lock; every operation reads the injected
/// clock once. Tokens come from one counter, so they grow on every key.
///
/// ```
/// use std::time::Duration;
/// use steadfast_core::ManualClock;
/// use steadfast_quorum::{AcquireOutcome, InMemoryBackend, InMemoryConfig, LeaseBackend, RenewOutcome};
///
/// let clock = ManualClock::new();
/// let config = InMemoryConfig::builder().lock_delay(Duration::from_secs(1)).build()?;
/// let backend = InMemoryBackend::with_config_and_clock(config, clock.clone());
/// let term = Duration::from_secs(3);
/// let AcquireOutcome::Granted(a) = backend.acquire("k", "a", term)? else { panic!() };
/// clock.advance(Duration::from_secs(3)); // a died without releasing
/// assert_eq!(backend.renew(&a)?, RenewOutcome::Lost);
/// assert!(matches!(backend.acquire("k", "b", term)?, AcquireOutcome::Delayed { .. }));
/// clock.advance(Duration::from_secs(1));
/// assert!(matches!(backend.acquire("k", "b", term)?, AcquireOutcome::Granted(_)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct InMemoryBackend<C = MonotonicClock> {
    clock: C,
    config: InMemoryConfig,
    state: PlMutex<State>,
}

impl<C> fmt::Debug for InMemoryBackend<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.lock();
        f.debug_struct("InMemoryBackend")
            .field("config", &self.config)
            .field("keys", &state.keys.len())
            .field("last_token", &state.last_token)
            .finish()
    }
}

impl InMemoryBackend<MonotonicClock> {
    /// A backend on the monotonic clock, without lock-delay.
    #[must_use]
    pub fn new() -> InMemoryBackend<MonotonicClock> {
        InMemoryBackend::with_clock(MonotonicClock::new())
    }
}

impl Default for InMemoryBackend<MonotonicClock> {
    fn default() -> Self {
        InMemoryBackend::new()
    }
}

impl<C: Clock> InMemoryBackend<C> {
    /// A backend on `clock`, without lock-delay.
    #[must_use]
    pub fn with_clock(clock: C) -> InMemoryBackend<C> {
        InMemoryBackend::with_config_and_clock(InMemoryConfig::default(), clock)
    }

    /// A backend with `config` on `clock`.
    #[must_use]
    pub fn with_config_and_clock(config: InMemoryConfig, clock: C) -> InMemoryBackend<C> {
        InMemoryBackend {
            clock,
            config,
            state: PlMutex::new(State::default()),
        }
    }

    /// The grantor's clock.
    pub fn clock(&self) -> &C {
        &self.clock
    }
}

impl<C: Clock> LeaseBackend for InMemoryBackend<C> {
    fn acquire(
        &self,
        key: &str,
        owner: &str,
        term: Duration,
    ) -> Result<AcquireOutcome, BackendError> {
        let mut state = self.state.lock();
        let now = self.clock.now();
        if let Some(entry) = state.keys.get(key) {
            if now < entry.expires_at && !entry.released {
                return Ok(AcquireOutcome::Held(Holder {
                    owner: entry.owner.clone(),
                    token: entry.token,
                }));
            }
            if !entry.released {
                let free_at = entry.expires_at + entry.lock_delay;
                if now < free_at {
                    return Ok(AcquireOutcome::Delayed {
                        retry_after: free_at.saturating_duration_since(now),
                    });
                }
            }
        }
        state.last_token += 1;
        let token = FencingToken::new(state.last_token);
        let entry = Entry {
            owner: owner.to_owned(),
            token,
            lease_id: token.get(),
            expires_at: now + term,
            lock_delay: self.config.lock_delay,
            released: false,
        };
        state.keys.insert(key.to_owned(), entry);
        Ok(AcquireOutcome::Granted(LeaseGrant::new(
            key,
            owner,
            token,
            token.get(),
            term,
        )))
    }

    fn renew(&self, grant: &LeaseGrant) -> Result<RenewOutcome, BackendError> {
        let mut state = self.state.lock();
        let now = self.clock.now();
        match state.keys.get_mut(grant.key()) {
            Some(e) if e.lease_id == grant.lease_id() && !e.released && now < e.expires_at => {
                e.expires_at = e.expires_at.max(now + grant.term());
                Ok(RenewOutcome::Renewed)
            }
            _ => Ok(RenewOutcome::Lost),
        }
    }

    fn release(&self, grant: &LeaseGrant) -> Result<(), BackendError> {
        let mut state = self.state.lock();
        let now = self.clock.now();
        if let Some(e) = state.keys.get_mut(grant.key()) {
            // A release after expiry is too late to skip the lock-delay.
            if e.lease_id == grant.lease_id() && now < e.expires_at {
                e.released = true;
            }
        }
        Ok(())
    }

    fn holder(&self, key: &str) -> Result<Option<Holder>, BackendError> {
        let state = self.state.lock();
        let now = self.clock.now();
        Ok(state
            .keys
            .get(key)
            .filter(|e| !e.released && now < e.expires_at)
            .map(|e| Holder {
                owner: e.owner.clone(),
                token: e.token,
            }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use steadfast_core::ManualClock;

    fn granted(o: AcquireOutcome) -> LeaseGrant {
        match o {
            AcquireOutcome::Granted(g) => g,
            other => panic!("expected a grant, got {other:?}"),
        }
    }

    #[test]
    fn release_frees_at_once_and_renew_extends() {
        let clock = ManualClock::new();
        let b = InMemoryBackend::with_clock(clock.clone());
        let t = Duration::from_secs(2);
        let g = granted(b.acquire("k", "a", t).unwrap());
        clock.advance(Duration::from_secs(1));
        assert_eq!(b.renew(&g).unwrap(), RenewOutcome::Renewed);
        clock.advance(Duration::from_millis(1500));
        assert_eq!(b.holder("k").unwrap().unwrap().owner, "a");
        b.release(&g).unwrap();
        assert_eq!(b.holder("k").unwrap(), None);
        assert_eq!(b.renew(&g).unwrap(), RenewOutcome::Lost);
        let g2 = granted(b.acquire("k", "b", t).unwrap());
        assert!(g2.token() > g.token());
        // Releasing the old grant does not touch the new one.
        b.release(&g).unwrap();
        assert_eq!(b.holder("k").unwrap().unwrap().owner, "b");
    }

    #[test]
    fn huge_and_zero_terms_saturate() {
        let clock = ManualClock::starting_at(Timestamp::from_secs(1));
        let b = InMemoryBackend::with_clock(clock.clone());
        let g = granted(b.acquire("forever", "a", Duration::MAX).unwrap());
        clock.advance(Duration::from_secs(1 << 30));
        assert_eq!(b.renew(&g).unwrap(), RenewOutcome::Renewed);
        // A zero term expires at once: the next contender gets the key.
        let _z = granted(b.acquire("brief", "a", Duration::ZERO).unwrap());
        let z2 = granted(b.acquire("brief", "b", Duration::ZERO).unwrap());
        assert_eq!(z2.owner(), "b");
    }

    #[test]
    fn clock_going_backwards_keeps_the_holder() {
        let clock = ManualClock::starting_at(Timestamp::from_secs(10));
        let b = InMemoryBackend::with_clock(clock.clone());
        let _g = granted(b.acquire("k", "a", Duration::from_secs(1)).unwrap());
        clock.jump_backwards(Duration::from_secs(5));
        assert!(matches!(
            b.acquire("k", "b", Duration::from_secs(1)).unwrap(),
            AcquireOutcome::Held(_)
        ));
    }

    #[test]
    fn lock_delay_config() {
        assert_eq!(
            InMemoryConfig::builder()
                .lock_delay(Duration::MAX)
                .build()
                .unwrap_err()
                .field(),
            "in_memory.lock_delay"
        );
        assert!(InMemoryBackend::new().holder("x").unwrap().is_none());
    }

    #[test]
    fn threads_contending_get_one_holder() {
        let b = std::sync::Arc::new(InMemoryBackend::with_clock(ManualClock::new()));
        let wins: usize = (0..4)
            .map(|i| {
                let b = std::sync::Arc::clone(&b);
                std::thread::spawn(move || {
                    (0..100)
                        .filter(|j| {
                            matches!(
                                b.acquire(
                                    &format!("k{j}"),
                                    &format!("t{i}"),
                                    Duration::from_secs(1)
                                ),
                                Ok(AcquireOutcome::Granted(_))
                            )
                        })
                        .count()
                })
            })
            .map(|h| h.join().expect("thread panicked"))
            .sum();
        assert_eq!(wins, 100);
    }
}
