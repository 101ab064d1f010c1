//! Leases, locks and leader election from `steadfast-quorum`, on a real etcd cluster.
//!
//! # Quick example
//!
//! ```no_run
//! use std::time::Duration;
//! use steadfast_etcd::{EtcdBackend, EtcdConfig};
//! use steadfast_quorum::{Election, LeasePolicy};
//!
//! let backend = EtcdBackend::connect(&["http://127.0.0.1:2379"], EtcdConfig::default())?;
//! let policy = LeasePolicy::builder(Duration::from_secs(5)).build()?;
//! let election = Election::new(&backend, "/services/billing/leader", "node-a", policy);
//! let mut leadership = election.try_campaign()?;
//! let token = leadership.check()?; // send with every write; fence it at the resource
//! # let _ = token;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Map of the crate
//!
//! | item | what it is |
//! |---|---|
//! | [`EtcdBackend`] | [`LeaseBackend`] on etcd: lease grant, put-if-absent, own renewal, verification |
//! | [`EtcdConfig`] | request and connect timeouts, validated in `build()` |
//! | [`EtcdBackend::fenced_put`], [`FencedWrite`] | a write into etcd that succeeds only while a token is current |
//!
//! # How a lease maps onto etcd
//!
//! - **Grant**: an etcd lease with a TTL of the term rounded up to whole
//!   seconds (etcd may grant more, which is safe; less is refused).
//! - **Acquire**: one transaction, *if the key's create revision is 0 then put
//!   the key with the lease else read the key*: put-if-absent.
//! - **Fencing token**: the key's create revision. Lease IDs are not
//!   monotonic; revisions are, across the whole cluster.
//! - **Verification**: etcd 3.4's Lock call could report success for a lock
//!   whose lease had already expired (a Jepsen finding). After every acquire
//!   this backend reads the key back and accepts the grant only if the key
//!   still exists with our create revision and our lease.
//! - **Renewal**: one keep-alive request per [`LeaseBackend::renew`], then the
//!   key is read back again; the caller decides when to renew (the
//!   [`Mutex`](steadfast_quorum::Mutex) renews at a third of the term). There is
//!   no background keep-alive task that could keep a paused process's lease
//!   alive.
//! - **Release**: the lease is revoked, which deletes the key.
//!
//! The drift rule of `steadfast-quorum` applies unchanged: the holder believes
//! its lease for `T/κ − margin` after sending the request, etcd keeps the key
//! for at least `T` after receiving it.
//!
//! Lock-delay (see [`InMemoryConfig`](steadfast_quorum::InMemoryConfig)) is not
//! offered on etcd: etcd deletes an expired key without telling a release from
//! a failure.
//!
//! # Runtime
//!
//! The backend is synchronous, like the [`LeaseBackend`] trait. It owns a small
//! tokio runtime for the gRPC client and waits for each request with a
//! timeout, so it works from plain threads and from inside another runtime
//! (where it blocks the calling thread: call it from `spawn_blocking`).
#![forbid(unsafe_code)]

use std::fmt;
use std::future::Future;
use std::sync::mpsc;
use std::time::Duration;

use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, PutOptions, Txn, TxnOp, TxnOpResponse,
};
use steadfast_core::ConfigError;
use steadfast_quorum::{
    AcquireOutcome, BackendError, FencingToken, Holder, LeaseBackend, LeaseGrant, RenewOutcome,
};

pub use steadfast_quorum;

/// Timeouts of an [`EtcdBackend`].
///
/// ```
/// use std::time::Duration;
/// use steadfast_etcd::EtcdConfig;
///
/// let config = EtcdConfig::builder().request_timeout(Duration::from_millis(500)).build()?;
/// assert_eq!(config.request_timeout(), Duration::from_millis(500));
/// assert!(EtcdConfig::builder().request_timeout(Duration::ZERO).build().is_err());
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EtcdConfig {
    request_timeout: Duration,
    connect_timeout: Duration,
}

impl Default for EtcdConfig {
    fn default() -> EtcdConfig {
        EtcdConfig {
            request_timeout: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(2),
        }
    }
}

/// Builds an [`EtcdConfig`].
#[derive(Clone, Copy, Debug, Default)]
#[must_use = "a builder does nothing until build() is called"]
pub struct EtcdConfigBuilder {
    config: EtcdConfig,
}

impl EtcdConfigBuilder {
    /// The longest wait for one request, connection included (default 2 s).
    /// Keep it well below the lease term, so a holder hears of a failed
    /// renewal while its lease is still valid.
    pub fn request_timeout(mut self, timeout: Duration) -> EtcdConfigBuilder {
        self.config.request_timeout = timeout;
        self
    }

    /// The longest wait to open a connection (default 2 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> EtcdConfigBuilder {
        self.config.connect_timeout = timeout;
        self
    }

    /// Validates and builds.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when a timeout is zero or above one minute.
    pub fn build(self) -> Result<EtcdConfig, ConfigError> {
        for (field, value) in [
            ("etcd.request_timeout", self.config.request_timeout),
            ("etcd.connect_timeout", self.config.connect_timeout),
        ] {
            ConfigError::ensure(
                !value.is_zero() && value <= Duration::from_secs(60),
                field,
                format_args!("{value:?}"),
                "above zero and at most one minute",
            )?;
        }
        Ok(self.config)
    }
}

impl EtcdConfig {
    /// A builder with the defaults.
    pub fn builder() -> EtcdConfigBuilder {
        EtcdConfigBuilder::default()
    }

    /// The request timeout.
    #[must_use]
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// The connect timeout.
    #[must_use]
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }
}

/// The outcome of [`EtcdBackend::fenced_put`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
#[must_use]
pub enum FencedWrite {
    /// The token was current; the value is written.
    Written {
        /// The revision of the write.
        revision: i64,
    },
    /// The lock key no longer has this token's create revision: refused.
    Rejected {
        /// The lock's current holder, if any.
        holder: Option<Holder>,
    },
}

/// A [`LeaseBackend`] on an etcd cluster.
///
/// See the [crate docs](crate) for how leases map onto etcd.
pub struct EtcdBackend {
    runtime: Option<tokio::runtime::Runtime>,
    client: Client,
    config: EtcdConfig,
}

impl fmt::Debug for EtcdBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EtcdBackend")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn unavailable(e: impl fmt::Display) -> BackendError {
    BackendError::Unavailable {
        reason: e.to_string(),
    }
}

fn protocol(e: impl fmt::Display) -> BackendError {
    BackendError::Protocol {
        reason: e.to_string(),
    }
}

fn from_etcd(e: etcd_client::Error) -> BackendError {
    match e {
        etcd_client::Error::GRpcStatus(_)
        | etcd_client::Error::TransportError(_)
        | etcd_client::Error::IoError(_)
        | etcd_client::Error::LeaseKeepAliveError(_) => unavailable(e),
        other => protocol(other),
    }
}

fn token_of(revision: i64) -> Result<FencingToken, BackendError> {
    u64::try_from(revision)
        .ok()
        .filter(|r| *r > 0)
        .map(FencingToken::new)
        .ok_or_else(|| protocol(format_args!("invalid create revision {revision}")))
}

fn holder_of(kv: &etcd_client::KeyValue) -> Result<Holder, BackendError> {
    Ok(Holder {
        owner: String::from_utf8_lossy(kv.value()).into_owned(),
        token: token_of(kv.create_revision())?,
    })
}

impl EtcdBackend {
    /// Connects to the cluster at `endpoints` (e.g. `http://127.0.0.1:2379`).
    ///
    /// # Errors
    ///
    /// [`BackendError::Unavailable`] when no endpoint answers in time.
    pub fn connect<E: AsRef<str>>(
        endpoints: &[E],
        config: EtcdConfig,
    ) -> Result<EtcdBackend, BackendError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("steadfast-etcd")
            .enable_all()
            .build()
            .map_err(unavailable)?;
        let endpoints: Vec<String> = endpoints.iter().map(|e| e.as_ref().to_owned()).collect();
        let options = ConnectOptions::new()
            .with_connect_timeout(config.connect_timeout)
            .with_timeout(config.request_timeout);
        let client = run(&runtime, config.connect_timeout, async move {
            Client::connect(endpoints, Some(options)).await
        })?
        .map_err(from_etcd)?;
        let backend = EtcdBackend {
            runtime: Some(runtime),
            client,
            config,
        };
        // The connection is lazy: make sure somebody answers.
        let mut client = backend.client.clone();
        backend.call(async move { client.status().await })?;
        Ok(backend)
    }

    /// Runs one request against etcd with the request timeout.
    fn call<T: Send + 'static>(
        &self,
        fut: impl Future<Output = Result<T, etcd_client::Error>> + Send + 'static,
    ) -> Result<T, BackendError> {
        let runtime = self
            .runtime
            .as_ref()
            .ok_or_else(|| unavailable("shut down"))?;
        run(runtime, self.config.request_timeout, fut)?.map_err(from_etcd)
    }

    fn read_key(&self, key: &str) -> Result<Option<etcd_client::KeyValue>, BackendError> {
        let mut client = self.client.clone();
        let key = key.to_owned();
        let mut response = self.call(async move { client.get(key, None).await })?;
        Ok(response.take_kvs().into_iter().next())
    }

    fn revoke(&self, lease_id: i64) -> Result<(), BackendError> {
        let mut client = self.client.clone();
        match self.call(async move { client.lease_revoke(lease_id).await }) {
            Ok(_) => Ok(()),
            // Revoking a lease that already expired is fine.
            Err(BackendError::Unavailable { reason }) if reason.contains("not found") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Writes `value` at `key` only if `lock_key` still has the create
    /// revision `token`, in one transaction: a stale holder's write is refused
    /// by etcd itself.
    ///
    /// # Errors
    ///
    /// A [`BackendError`] when etcd does not answer.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use steadfast_etcd::{EtcdBackend, EtcdConfig, FencedWrite};
    /// use steadfast_quorum::{LeasePolicy, Mutex};
    ///
    /// let backend = EtcdBackend::connect(&["http://127.0.0.1:2379"], EtcdConfig::default())?;
    /// let policy = LeasePolicy::builder(Duration::from_secs(5)).build()?;
    /// let lock = Mutex::new(&backend, "/locks/config", "me", policy);
    /// let mut guard = lock.try_lock()?;
    /// let write = backend.fenced_put("/locks/config", guard.check()?, "/config/value", "42")?;
    /// assert!(matches!(write, FencedWrite::Written { .. }));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn fenced_put(
        &self,
        lock_key: &str,
        token: FencingToken,
        key: &str,
        value: impl Into<Vec<u8>>,
    ) -> Result<FencedWrite, BackendError> {
        let revision = i64::try_from(token.get()).map_err(protocol)?;
        let txn = Txn::new()
            .when([Compare::create_revision(
                lock_key,
                CompareOp::Equal,
                revision,
            )])
            .and_then([TxnOp::put(key, value.into(), None)])
            .or_else([TxnOp::get(lock_key, None)]);
        let mut client = self.client.clone();
        let response = self.call(async move { client.txn(txn).await })?;
        if response.succeeded() {
            let revision = response.header().map(|h| h.revision()).unwrap_or_default();
            return Ok(FencedWrite::Written { revision });
        }
        let holder = match response.op_responses().first() {
            Some(TxnOpResponse::Get(get)) => get.kvs().first().map(holder_of).transpose()?,
            _ => None,
        };
        Ok(FencedWrite::Rejected { holder })
    }
}

/// Spawns `fut` on `runtime` and waits for it, at most `timeout`.
fn run<T: Send + 'static>(
    runtime: &tokio::runtime::Runtime,
    timeout: Duration,
    fut: impl Future<Output = T> + Send + 'static,
) -> Result<T, BackendError> {
    let (tx, rx) = mpsc::sync_channel(1);
    runtime.spawn(async move {
        let result = tokio::time::timeout(timeout, fut).await;
        let _ = tx.send(result);
    });
    match rx.recv() {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(_elapsed)) => Err(unavailable(format_args!("no answer within {timeout:?}"))),
        Err(_) => Err(unavailable("the client runtime stopped")),
    }
}

impl Drop for EtcdBackend {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl LeaseBackend for EtcdBackend {
    fn acquire(
        &self,
        key: &str,
        owner: &str,
        term: Duration,
    ) -> Result<AcquireOutcome, BackendError> {
        // etcd's largest lease TTL, in seconds.
        const MAX_TTL: u64 = 9_000_000_000;
        let ttl = term
            .as_secs()
            .checked_add(u64::from(term.subsec_nanos() > 0))
            .filter(|secs| *secs <= MAX_TTL)
            .and_then(|secs| i64::try_from(secs).ok())
            .ok_or_else(|| BackendError::UnsupportedTerm {
                requested: term,
                reason: format!("etcd leases last at most {MAX_TTL} s"),
            })?
            .max(1);
        let mut client = self.client.clone();
        let granted = self.call(async move { client.lease_grant(ttl, None).await })?;
        let (lease_id, granted_ttl) = (granted.id(), granted.ttl());
        if granted_ttl < ttl {
            let _ = self.revoke(lease_id);
            return Err(BackendError::UnsupportedTerm {
                requested: term,
                reason: format!("etcd granted a TTL of {granted_ttl} s"),
            });
        }
        let txn = Txn::new()
            .when([Compare::create_revision(key, CompareOp::Equal, 0)])
            .and_then([TxnOp::put(
                key,
                owner,
                Some(PutOptions::new().with_lease(lease_id)),
            )])
            .or_else([TxnOp::get(key, None)]);
        let mut client = self.client.clone();
        let response = match self.call(async move { client.txn(txn).await }) {
            Ok(r) => r,
            Err(e) => {
                // The put may or may not have happened; the lease expires on its own.
                let _ = self.revoke(lease_id);
                return Err(e);
            }
        };
        if !response.succeeded() {
            let _ = self.revoke(lease_id);
            let holder = match response.op_responses().first() {
                Some(TxnOpResponse::Get(get)) => get.kvs().first().map(holder_of).transpose()?,
                _ => None,
            };
            return match holder {
                Some(holder) => Ok(AcquireOutcome::Held(holder)),
                // The holder vanished between compare and read: try again.
                None => Err(unavailable("the key changed during acquire")),
            };
        }
        let revision = response
            .header()
            .map(|h| h.revision())
            .ok_or_else(|| protocol("transaction answer without header"))?;
        let token = token_of(revision)?;
        // Verify: the key must still be ours, with our revision and lease.
        match self.read_key(key)? {
            Some(kv) if kv.create_revision() == revision && kv.lease() == lease_id => {
                let lease_u64 = u64::try_from(lease_id).map_err(protocol)?;
                let granted_term = Duration::from_secs(granted_ttl.unsigned_abs());
                Ok(AcquireOutcome::Granted(LeaseGrant::new(
                    key,
                    owner,
                    token,
                    lease_u64,
                    granted_term,
                )))
            }
            Some(kv) => {
                let _ = self.revoke(lease_id);
                Ok(AcquireOutcome::Held(holder_of(&kv)?))
            }
            None => {
                let _ = self.revoke(lease_id);
                Err(unavailable("the granted key vanished before verification"))
            }
        }
    }

    fn renew(&self, grant: &LeaseGrant) -> Result<RenewOutcome, BackendError> {
        let lease_id = i64::try_from(grant.lease_id()).map_err(protocol)?;
        let mut client = self.client.clone();
        let answer = self.call(async move {
            let (_keeper, mut stream) = client.lease_keep_alive(lease_id).await?;
            // `lease_keep_alive` already sent one request and read its answer;
            // a TTL of zero there is reported as an error.
            let _ = &mut stream;
            Ok::<_, etcd_client::Error>(())
        });
        match answer {
            Ok(()) => {}
            Err(BackendError::Unavailable { reason }) if reason.contains("lease not found") => {
                return Ok(RenewOutcome::Lost);
            }
            Err(e) => return Err(e),
        }
        match self.read_key(grant.key())? {
            Some(kv)
                if token_of(kv.create_revision()).ok() == Some(grant.token())
                    && kv.lease() == lease_id =>
            {
                Ok(RenewOutcome::Renewed)
            }
            _ => Ok(RenewOutcome::Lost),
        }
    }

    fn release(&self, grant: &LeaseGrant) -> Result<(), BackendError> {
        let lease_id = i64::try_from(grant.lease_id()).map_err(protocol)?;
        self.revoke(lease_id)
    }

    fn holder(&self, key: &str) -> Result<Option<Holder>, BackendError> {
        self.read_key(key)?.as_ref().map(holder_of).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_rejects_zero_and_huge_timeouts() {
        let err = EtcdConfig::builder()
            .connect_timeout(Duration::from_secs(3600))
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "etcd.connect_timeout");
        assert!(EtcdConfig::builder().build().is_ok());
    }

    #[test]
    fn connecting_to_nothing_fails_in_time() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let config = EtcdConfig::builder()
            .request_timeout(Duration::from_millis(300))
            .connect_timeout(Duration::from_millis(300))
            .build()
            .unwrap();
        let err = EtcdBackend::connect(&[format!("http://127.0.0.1:{port}")], config).unwrap_err();
        assert!(err.is_temporary(), "{err}");
    }

    #[test]
    fn revisions_become_tokens() {
        assert_eq!(token_of(5).unwrap(), FencingToken::new(5));
        assert!(token_of(0).is_err());
        assert!(token_of(-3).is_err());
    }
}
