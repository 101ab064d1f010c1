//! Events: the audit log of every acquire, renewal, loss, release and failover.

use std::sync::Arc;
use std::time::Duration;

use steadfast_core::Timestamp;

use crate::backend::{BackendError, Holder};
use crate::fence::FencingToken;

/// Why a holder stopped holding.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LossReason {
    /// The holder's own clock passed `T/κ − margin` since its last successful send.
    Expired {
        /// How long ago validity ended when the loss was noticed.
        since: Duration,
    },
    /// The grant arrived already too old to believe (the backend was slow).
    ExpiredOnArrival,
    /// The backend refused a renewal: the lease had expired or been taken over.
    RenewRefused,
}

/// Something that happened to a lease, with the holder-clock time it happened.
///
/// Keys and owner names are shared (`Arc<str>`), so reporting an event to an
/// observer costs no string copies.
///
/// ```
/// use std::time::Duration;
/// use steadfast_core::{ManualClock, Recorder};
/// use steadfast_quorum::{InMemoryBackend, LeaseEvent, LeasePolicy, Mutex};
///
/// let clock = ManualClock::new();
/// let events = Recorder::new();
/// let policy = LeasePolicy::builder(Duration::from_secs(3)).build()?;
/// let mutex = Mutex::with_clock(InMemoryBackend::with_clock(clock.clone()), "k", "me", policy, clock.clone())
///     .with_observer(events.clone());
/// drop(mutex.try_lock()?);
/// assert!(matches!(events.events()[0], LeaseEvent::Acquired { .. }));
/// assert!(matches!(events.events()[1], LeaseEvent::Released { .. }));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LeaseEvent {
    /// A lease was granted to us.
    Acquired {
        /// When the grant arrived.
        at: Timestamp,
        /// The key.
        key: Arc<str>,
        /// Us.
        owner: Arc<str>,
        /// The grant's token.
        token: FencingToken,
        /// When our belief ends unless renewed.
        valid_until: Timestamp,
    },
    /// A renewal succeeded.
    Renewed {
        /// When the answer arrived.
        at: Timestamp,
        /// The key.
        key: Arc<str>,
        /// Us.
        owner: Arc<str>,
        /// The grant's token.
        token: FencingToken,
        /// When our belief now ends unless renewed again.
        valid_until: Timestamp,
    },
    /// A renewal got no answer; the lease stays valid until its own time.
    RenewFailed {
        /// When the renewal failed.
        at: Timestamp,
        /// The key.
        key: Arc<str>,
        /// Us.
        owner: Arc<str>,
        /// The grant's token.
        token: FencingToken,
        /// What the backend said.
        error: BackendError,
    },
    /// We stopped holding the lease (and stepped down).
    Lost {
        /// When the loss was noticed.
        at: Timestamp,
        /// The key.
        key: Arc<str>,
        /// Us.
        owner: Arc<str>,
        /// The grant's token.
        token: FencingToken,
        /// Why.
        reason: LossReason,
    },
    /// We gave the lease up.
    Released {
        /// When.
        at: Timestamp,
        /// The key.
        key: Arc<str>,
        /// Us.
        owner: Arc<str>,
        /// The grant's token.
        token: FencingToken,
    },
    /// An election observer saw the leader change.
    LeaderChanged {
        /// When it was seen.
        at: Timestamp,
        /// The election's key.
        key: Arc<str>,
        /// The leader seen before, if any.
        previous: Option<Holder>,
        /// The leader now, if any.
        current: Option<Holder>,
    },
}
