//! Monitoring many peers: one detector per peer in sharded maps, swept on a
//! schedule the detectors themselves dictate.
//!
//! Every detector knows the exact instant it will start suspecting its peer
//! ([`FailureDetector::suspect_at`]), so the monitor keeps one deadline per
//! peer and [`Monitor::next_deadline`] tells the caller when the next sweep
//! can change anything: a timer loop sleeps until then instead of polling.
//!
//! The monitor also guards against its own pauses. If the process hosting it
//! was stopped (a GC pause, a VM migration, a laptop lid), every peer looks
//! silent when it wakes up. When two sweeps are further apart than the pause
//! threshold, convictions are held back for one pause threshold, as
//! Cassandra's failure detector does, and a
//! [`MonitorEvent::ConvictionsHeldBack`] says why.
//!
//! Over a transport that duplicates or reorders (UDP, gossip), feed
//! heartbeats with their sender's [`Sequence`] number
//! ([`Monitor::heartbeat_with_sequence`]): a stale copy that arrives after
//! the sender died is dropped instead of bringing it back, and a restarted
//! sender (a new generation) starts with a fresh detector.

use core::hash::{BuildHasher, BuildHasherDefault, Hash};
use core::time::Duration;
use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::sync::PoisonError;

use steadfast_core::{ConfigError, Observer, Timestamp};

use crate::classification::{ClassificationConfig, FailureClass, OutageHistory, PeerState};
use crate::damping::{ConsecutiveChecks, FlapDamper, FlapDampingConfig, Hysteresis};
use crate::detector::{FailureDetector, first_crossing};
use crate::sync::{AtomicU64, Mutex, MutexGuard, Ordering};

/// Settings of a [`Monitor`].
///
/// ```
/// use std::time::Duration;
/// use steadfast_detect::MonitorConfig;
///
/// let config = MonitorConfig::builder()
///     .unreachable_after(Duration::from_secs(2))
///     .down_after(Duration::from_secs(10))
///     .build()?;
/// assert_eq!(config.pause_threshold(), Some(Duration::from_secs(5)));
///
/// let err = MonitorConfig::builder().down_after(Duration::from_secs(1)).build().unwrap_err();
/// assert_eq!(err.field(), "monitor.down_after");
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct MonitorConfig {
    shards: usize,
    unreachable_after: Duration,
    down_after: Duration,
    pause_threshold: Option<Duration>,
    flap_control: FlapControl,
    classification: ClassificationConfig,
}

/// How a [`Monitor`] keeps a peer that goes up and down from toggling its
/// state with every blip. Chosen per monitor with
/// [`MonitorConfigBuilder::flap_control`]; BGP-style damping is the default.
///
/// - [`None`](FlapControl::None): Suspect when the detector crosses its
///   threshold, Healthy again at the next heartbeat.
/// - [`Hysteresis`](FlapControl::Hysteresis): Suspect when the detector's
///   suspicion reaches `enter` (at that exact instant, found by search when
///   `enter` differs from the detector's threshold); Healthy again only at a
///   heartbeat that ends a silence whose suspicion stayed below `exit`, that
///   is, a heartbeat on time. The heartbeat that ends an outage is late by
///   definition, so a peer needs one timely heartbeat after it to recover.
/// - [`ConsecutiveSweeps`](FlapControl::ConsecutiveSweeps): each sweep is a
///   check of every peer it visits (a peer is visited at its detector's
///   deadline, then at every sweep while it has failed checks in its
///   window); Suspect once `n` of the last `m` checks found the detector
///   suspecting, Healthy again after `recover_after` passing checks in a row.
///   Transitions take effect at the sweep that decides them. Since a peer with
///   recent failures is due at every sweep, [`Monitor::next_deadline`] then
///   lies in the past: sweep on a fixed period with this control.
/// - [`Damping`](FlapControl::Damping): BGP route-flap dampening
///   ([`FlapDamper`]): every outage adds a decaying penalty; above the
///   suppress limit a recovered peer is held Suspect until the penalty decays
///   below the reuse limit.
///
/// ```
/// use std::time::Duration;
/// use steadfast_core::Timestamp;
/// use steadfast_detect::{FixedTimeout, FlapControl, Monitor, MonitorConfig, PeerState};
///
/// let monitor = Monitor::new(
///     MonitorConfig::builder()
///         .flap_control(FlapControl::ConsecutiveSweeps { n: 2, m: 3, recover_after: 2 })
///         .pause_threshold(None)
///         .build()?,
///     FixedTimeout::new(Duration::from_secs(2))?,
/// );
/// let s = Timestamp::from_secs;
/// monitor.heartbeat("a", s(0));
/// assert!(monitor.sweep(s(2)).is_empty()); // one failed check
/// let changes = monitor.sweep(s(3)); // two of the last three
/// assert_eq!((changes[0].to, changes[0].at), (PeerState::Suspect, s(3)));
/// monitor.heartbeat("a", s(4));
/// assert!(monitor.sweep(s(4)).is_empty()); // one passing check
/// assert_eq!(monitor.sweep(s(5))[0].to, PeerState::Healthy);
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum FlapControl {
    /// No flap control.
    None,
    /// Enter and exit thresholds on the detector's suspicion.
    Hysteresis {
        /// The suspicion at which the peer becomes Suspect (finite).
        enter: f64,
        /// A heartbeat ending a silence whose suspicion stayed below this
        /// brings the peer back (finite, at most `enter`).
        exit: f64,
    },
    /// `n` failed checks among the last `m` sweeps.
    ConsecutiveSweeps {
        /// Failed checks that make the peer Suspect, in [1, m].
        n: u32,
        /// Checks remembered, in [1, 64].
        m: u32,
        /// Passing checks in a row that make it Healthy again, at least 1.
        recover_after: u32,
    },
    /// BGP-style damping with these settings.
    Damping(FlapDampingConfig),
}

impl MonitorConfig {
    /// 16 shards; unreachable 5 s and down 30 s after the first suspicion;
    /// pause guard at 5 s (Cassandra's `max_local_pause`); default flap
    /// damping and classification.
    pub fn builder() -> MonitorConfigBuilder {
        MonitorConfigBuilder {
            config: MonitorConfig {
                shards: 16,
                unreachable_after: Duration::from_secs(5),
                down_after: Duration::from_secs(30),
                pause_threshold: Some(Duration::from_secs(5)),
                flap_control: FlapControl::Damping(
                    FlapDampingConfig::builder()
                        .build()
                        .unwrap_or_else(|_| unreachable!("the damping defaults are valid")),
                ),
                classification: ClassificationConfig::builder()
                    .build()
                    .unwrap_or_else(|_| unreachable!("the classification defaults are valid")),
            },
        }
    }

    /// Number of independently locked shards.
    pub fn shards(&self) -> usize {
        self.shards
    }

    /// Silence after the first suspicion that makes a peer unreachable.
    pub fn unreachable_after(&self) -> Duration {
        self.unreachable_after
    }

    /// Silence after the first suspicion that makes a peer down.
    pub fn down_after(&self) -> Duration {
        self.down_after
    }

    /// Gap between sweeps that counts as a local pause (`None`: no guard).
    pub fn pause_threshold(&self) -> Option<Duration> {
        self.pause_threshold
    }

    /// How flapping peers are handled.
    pub fn flap_control(&self) -> &FlapControl {
        &self.flap_control
    }
}

/// Builder of [`MonitorConfig`].
#[derive(Debug, Clone)]
pub struct MonitorConfigBuilder {
    config: MonitorConfig,
}

impl MonitorConfigBuilder {
    /// Number of shards (default 16).
    pub fn shards(mut self, shards: usize) -> Self {
        self.config.shards = shards;
        self
    }

    /// Suspect → Unreachable after this much time suspected (default 5 s).
    pub fn unreachable_after(mut self, d: Duration) -> Self {
        self.config.unreachable_after = d;
        self
    }

    /// Suspect → Down after this much time suspected (default 30 s).
    pub fn down_after(mut self, d: Duration) -> Self {
        self.config.down_after = d;
        self
    }

    /// The pause guard threshold, or `None` to disable it (default 5 s).
    pub fn pause_threshold(mut self, d: Option<Duration>) -> Self {
        self.config.pause_threshold = d;
        self
    }

    /// Flap damping, or `None` to disable it (default on). Shorthand for
    /// [`flap_control`](Self::flap_control) with [`FlapControl::Damping`] or
    /// [`FlapControl::None`].
    pub fn damping(mut self, damping: Option<FlapDampingConfig>) -> Self {
        self.config.flap_control = damping.map_or(FlapControl::None, FlapControl::Damping);
        self
    }

    /// How flapping peers are handled (default [`FlapControl::Damping`]
    /// with the default [`FlapDampingConfig`]).
    pub fn flap_control(mut self, control: FlapControl) -> Self {
        self.config.flap_control = control;
        self
    }

    /// Outage classification limits.
    pub fn classification(mut self, c: ClassificationConfig) -> Self {
        self.config.classification = c;
        self
    }

    /// Validates the settings.
    ///
    /// # Errors
    ///
    /// Shards in [1, 4096]; `down_after >= unreachable_after`; a pause
    /// threshold, when set, greater than zero; for [`FlapControl::Hysteresis`]
    /// both thresholds finite and `exit <= enter`; for
    /// [`FlapControl::ConsecutiveSweeps`] `m` in [1, 64], `n` in [1, m] and
    /// `recover_after` at least 1.
    pub fn build(self) -> Result<MonitorConfig, ConfigError> {
        let c = self.config;
        ConfigError::ensure(
            (1..=4096).contains(&c.shards),
            "monitor.shards",
            c.shards,
            "in [1, 4096]",
        )?;
        ConfigError::ensure(
            c.down_after >= c.unreachable_after,
            "monitor.down_after",
            format_args!("{:?}", c.down_after),
            "at least monitor.unreachable_after",
        )?;
        if let Some(p) = c.pause_threshold {
            ConfigError::ensure(
                !p.is_zero(),
                "monitor.pause_threshold",
                format_args!("{p:?}"),
                "greater than 0",
            )?;
        }
        match c.flap_control {
            FlapControl::Hysteresis { enter, exit } => {
                ConfigError::ensure(
                    enter.is_finite(),
                    "monitor.flap_control.enter",
                    enter,
                    "finite",
                )?;
                ConfigError::ensure(
                    exit.is_finite() && exit <= enter,
                    "monitor.flap_control.exit",
                    exit,
                    "finite and at most monitor.flap_control.enter",
                )?;
            }
            FlapControl::ConsecutiveSweeps {
                n,
                m,
                recover_after,
            } => {
                ConfigError::ensure(
                    (1..=64).contains(&m),
                    "monitor.flap_control.m",
                    m,
                    "in [1, 64]",
                )?;
                ConfigError::ensure(
                    (1..=m).contains(&n),
                    "monitor.flap_control.n",
                    n,
                    "in [1, monitor.flap_control.m]",
                )?;
                ConfigError::ensure(
                    recover_after >= 1,
                    "monitor.flap_control.recover_after",
                    recover_after,
                    "at least 1",
                )?;
            }
            FlapControl::None | FlapControl::Damping(_) => {}
        }
        Ok(c)
    }
}

/// Why a peer changed state.
///
/// ```
/// use std::time::Duration;
/// use steadfast_core::{Recorder, Timestamp};
/// use steadfast_detect::{
///     FixedTimeout, Monitor, MonitorConfig, MonitorEvent, PeerState, TransitionReason,
/// };
///
/// let events = Recorder::new();
/// let monitor = Monitor::with_observer(
///     MonitorConfig::builder().build()?,
///     FixedTimeout::new(Duration::from_secs(2))?,
///     events.clone(),
/// );
/// let s = Timestamp::from_secs;
/// monitor.heartbeat(42u64, s(0));
/// let _ = monitor.sweep(s(3));
/// let status = monitor.status(&42, s(3)).unwrap();
/// assert_eq!(status.state, PeerState::Suspect);
/// match &events.events()[0] {
///     MonitorEvent::Transition(t) => {
///         assert_eq!((t.peer, t.from, t.to, t.at, t.observed), (42, PeerState::Healthy, PeerState::Suspect, s(2), s(3)));
///         assert_eq!(t.reason, TransitionReason::ThresholdCrossed { suspicion: 1.0 });
///     }
///     other => panic!("{other:?}"),
/// }
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum TransitionReason {
    /// The detector crossed its threshold.
    ThresholdCrossed {
        /// The detector's suspicion at the crossing.
        suspicion: f64,
    },
    /// The peer stayed silent past a limit.
    StillSilent {
        /// Time since the first suspicion.
        silence: Duration,
    },
    /// A heartbeat arrived.
    HeartbeatResumed,
    /// The flap control released a peer that had been heartbeating while
    /// held: the damping penalty decayed, or enough checks passed in a row.
    DampingReleased,
}

/// A peer's change of state.
///
/// See [`TransitionReason`] for an example.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition<K> {
    /// The peer.
    pub peer: K,
    /// State before.
    pub from: PeerState,
    /// State after.
    pub to: PeerState,
    /// When the change took effect: the exact crossing instant for
    /// suspicions, the heartbeat time for recoveries.
    pub at: Timestamp,
    /// When the monitor noticed it (the sweep or heartbeat time).
    pub observed: Timestamp,
    /// Why.
    pub reason: TransitionReason,
    /// Whether the flap control holds the peer.
    pub flapping: bool,
}

/// What a [`Monitor`] reports to its observer.
///
/// See [`TransitionReason`] for an example.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum MonitorEvent<K> {
    /// A peer changed state.
    Transition(Transition<K>),
    /// The monitor itself was paused; convictions wait until `until`.
    ConvictionsHeldBack {
        /// The sweep that noticed the pause.
        at: Timestamp,
        /// The gap since the previous sweep.
        pause: Duration,
        /// Convictions resume at this time.
        until: Timestamp,
    },
}

/// The sequence number a heartbeat carries, ordered by `generation`, then
/// `number`.
///
/// A sender numbers its heartbeats `0, 1, 2, ...`; over a lossy transport
/// (UDP, gossip) a heartbeat can arrive twice, or after a later one. Feeding
/// [`Monitor::heartbeat_with_sequence`] lets the monitor drop such a stale
/// heartbeat instead of taking it as a sign of life: a duplicate that
/// wanders in after the sender crashed must not bring it back. The
/// generation tells a restarted sender (whose numbers start again at 0)
/// from a stale one: raise it on every start, for example to the start time
/// in seconds, as Cassandra's gossip does.
///
/// ```
/// use steadfast_detect::Sequence;
///
/// assert!(Sequence::new(1, 9) < Sequence::new(1, 10));
/// // A restart: a new generation outranks every number of the old one.
/// assert!(Sequence::new(2, 0) > Sequence::new(1, u64::MAX));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Sequence {
    /// Raised each time the sender starts.
    pub generation: u64,
    /// The heartbeat's number within the generation.
    pub number: u64,
}

impl Sequence {
    /// The heartbeat numbered `number` in the sender's `generation`.
    #[must_use]
    pub const fn new(generation: u64, number: u64) -> Sequence {
        Sequence { generation, number }
    }
}

/// A snapshot of one peer.
///
/// See [`TransitionReason`] for an example.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerStatus {
    /// The state.
    pub state: PeerState,
    /// Whether the flap control holds it.
    pub flapping: bool,
    /// When flap damping releases it, while it is held (`None` for the
    /// other flap controls, which release on heartbeats or checks).
    pub held_until: Option<Timestamp>,
    /// The class of its recent outages at the time asked.
    pub class: Option<FailureClass>,
    /// The detector's suspicion at the time asked.
    pub suspicion: f64,
    /// When the detector will suspect it if it stays silent.
    pub suspect_at: Option<Timestamp>,
    /// Its last heartbeat.
    pub last_heartbeat: Option<Timestamp>,
    /// The highest sequence number accepted from it (heartbeats recorded
    /// with [`Monitor::heartbeat_with_sequence`]).
    pub sequence: Option<Sequence>,
    /// How many of its heartbeats were dropped as stale: numbered at or
    /// below one already accepted.
    pub stale_heartbeats: u64,
}

/// The flap control state of one peer.
#[derive(Debug, Clone)]
enum Flap {
    None,
    Hysteresis(Hysteresis),
    Checks(ConsecutiveChecks),
    Damping(FlapDamper),
}

impl Flap {
    fn new(control: &FlapControl) -> Flap {
        match control {
            FlapControl::Hysteresis { enter, exit } => Flap::Hysteresis(
                Hysteresis::new(*enter, *exit)
                    .unwrap_or_else(|_| unreachable!("validated by MonitorConfigBuilder::build")),
            ),
            FlapControl::ConsecutiveSweeps {
                n,
                m,
                recover_after,
            } => Flap::Checks(
                ConsecutiveChecks::new(*n, *m, *recover_after)
                    .unwrap_or_else(|_| unreachable!("validated by MonitorConfigBuilder::build")),
            ),
            FlapControl::Damping(config) => Flap::Damping(FlapDamper::new(config.clone())),
            FlapControl::None => Flap::None,
        }
    }

    fn damper(&self) -> Option<&FlapDamper> {
        match self {
            Flap::Damping(d) => Some(d),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
struct Peer<D> {
    detector: D,
    state: PeerState,
    outage_start: Option<Timestamp>,
    flap: Flap,
    outages: OutageHistory,
    sequence: Option<Sequence>,
    stale_heartbeats: u64,
}

impl<D: FailureDetector> Peer<D> {
    /// Whether the flap control holds the peer at `at`: for damping, while
    /// it is suppressed; for the others, while it heartbeats but has not
    /// yet met the condition to be trusted again.
    fn flapping(&self, at: Timestamp) -> bool {
        match &self.flap {
            Flap::None => false,
            Flap::Hysteresis(h) => h.is_active() && self.outage_start.is_none(),
            Flap::Checks(c) => c.is_failing() && self.outage_start.is_none(),
            Flap::Damping(d) => d.is_suppressed(at),
        }
    }

    /// When the monitor starts suspecting the peer if it stays silent: the
    /// detector's deadline, or for hysteresis the exact instant its suspicion
    /// reaches the enter threshold; `None` before the first heartbeat, and
    /// for the sweep-counting control (whose checks are the sweeps).
    fn suspect_deadline(&self) -> Option<Timestamp> {
        match &self.flap {
            Flap::Checks(_) => None,
            Flap::Hysteresis(h) if h.enter() != self.detector.threshold() => {
                let last = self.detector.last_heartbeat()?;
                let candidate = self
                    .detector
                    .suspect_at()?
                    .as_nanos()
                    .saturating_sub(last.as_nanos());
                let limit = u64::MAX - last.as_nanos();
                let enter = h.enter();
                let elapsed = first_crossing(candidate as f64, limit, |e| {
                    self.detector
                        .suspicion(Timestamp::from_nanos(last.as_nanos() + e))
                        >= enter
                });
                Some(elapsed.map_or(Timestamp::MAX, |e| {
                    Timestamp::from_nanos(last.as_nanos() + e)
                }))
            }
            _ => self.detector.suspect_at(),
        }
    }

    /// The next instant at which a sweep can change this peer.
    fn compute_next(&self, unreachable_after: Duration, down_after: Duration) -> Timestamp {
        if let Flap::Checks(c) = &self.flap
            && (c.is_failing() || c.recent_failures() > 0)
        {
            // Every sweep is a check that matters.
            return Timestamp::ZERO;
        }
        match self.outage_start {
            Some(start) => match self.state {
                PeerState::Healthy | PeerState::Suspect => start.saturating_add(unreachable_after),
                PeerState::Unreachable => start.saturating_add(down_after),
                _ => Timestamp::MAX,
            },
            None => {
                let suspect = match &self.flap {
                    Flap::Checks(_) => self.detector.suspect_at(),
                    _ => self.suspect_deadline(),
                }
                .unwrap_or(Timestamp::MAX);
                let release = match &self.flap {
                    Flap::Damping(d) if self.state != PeerState::Healthy => {
                        d.reuse_at().unwrap_or(Timestamp::ZERO)
                    }
                    _ => Timestamp::MAX,
                };
                suspect.min(release)
            }
        }
    }
}

/// One shard: peers in a dense array, found by key through an index, with
/// their deadlines in a separate contiguous array so that a sweep reads
/// 8 bytes per peer and touches a peer's state only when it is due.
#[derive(Debug)]
struct Shard<K, D> {
    index: HashMap<K, usize, BuildHasherDefault<DefaultHasher>>,
    keys: Vec<K>,
    peers: Vec<Peer<D>>,
    next: Vec<u64>,
    /// A lower bound on every entry of `next`, and the minimum itself when
    /// `exact`. A sweep skips an exact shard whose minimum lies in the
    /// future without reading `next`; it becomes inexact only when the peer
    /// holding the minimum moves its deadline later or leaves.
    earliest: u64,
    exact: bool,
}

impl<K: Hash + Eq + Clone, D> Shard<K, D> {
    fn new() -> Shard<K, D> {
        Shard {
            index: HashMap::default(),
            keys: Vec::new(),
            peers: Vec::new(),
            next: Vec::new(),
            earliest: u64::MAX,
            exact: true,
        }
    }

    /// Sets peer `i`'s deadline, keeping `earliest` a lower bound (exact
    /// unless the minimum itself moved later).
    fn set_next(&mut self, i: usize, next: u64) {
        let old = core::mem::replace(&mut self.next[i], next);
        if next < self.earliest {
            self.earliest = next;
        } else if old == self.earliest && next != old {
            self.exact = false;
        }
    }

    fn position(&self, key: &K) -> Option<usize> {
        self.index.get(key).copied()
    }

    fn insert(&mut self, key: K, peer: Peer<D>, next: Timestamp) {
        self.index.insert(key.clone(), self.keys.len());
        self.keys.push(key);
        self.peers.push(peer);
        self.next.push(next.as_nanos());
        self.earliest = self.earliest.min(next.as_nanos());
    }

    fn remove(&mut self, key: &K) -> bool {
        let Some(i) = self.index.remove(key) else {
            return false;
        };
        self.keys.swap_remove(i);
        self.peers.swap_remove(i);
        if self.next.swap_remove(i) == self.earliest {
            self.exact = false;
        }
        if let Some(moved) = self.keys.get(i) {
            self.index.insert(moved.clone(), i);
        }
        true
    }
}

/// Failure detection for many peers, shared between threads.
///
/// Each peer gets a clone of the prototype detector on its first heartbeat.
/// Peers live in `shards` shards, each behind its own mutex, so heartbeats
/// for different peers rarely contend; a sweep locks one shard at a time.
/// Each shard keeps its peers' next deadlines in one contiguous array, so a
/// sweep reads 8 bytes per peer and touches a peer's state only when it is
/// due: its cost is linear in the number of peers with a small constant. A
/// shard also remembers its earliest deadline, so a sweep skips (in O(1)) a
/// shard with nothing due whose earliest peer has not moved since the last
/// scan.
///
/// Memory: a peer costs its detector (for [`PhiAccrual`](crate::PhiAccrual),
/// 8 bytes per interval in its window, allocated as the window fills) plus
/// a few hundred bytes of monitor state (flap damper, outage history, index).
/// Pekko's window of 1000 intervals is 8 KB per peer once full; for 10^5
/// peers a window of about 100 keeps the whole monitor near 100 MB.
///
/// ```
/// use std::time::Duration;
/// use steadfast_core::Timestamp;
/// use steadfast_detect::{FixedTimeout, Monitor, MonitorConfig, PeerState};
///
/// let monitor = Monitor::new(
///     MonitorConfig::builder().build()?,
///     FixedTimeout::new(Duration::from_secs(3))?,
/// );
/// let s = Timestamp::from_secs;
/// monitor.heartbeat("a", s(0));
/// monitor.heartbeat("b", s(0));
/// monitor.heartbeat("b", s(2));
/// assert_eq!(monitor.next_deadline(), Some(s(3)));
///
/// let changes = monitor.sweep(s(3));
/// assert_eq!(changes.len(), 1);
/// assert_eq!((changes[0].peer, changes[0].to, changes[0].at), ("a", PeerState::Suspect, s(3)));
/// assert_eq!(monitor.next_deadline(), Some(s(5)));
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[derive(Debug)]
pub struct Monitor<K, D, O = ()> {
    config: MonitorConfig,
    prototype: D,
    shards: Box<[Mutex<Shard<K, D>>]>,
    hasher: BuildHasherDefault<DefaultHasher>,
    next_deadline: AtomicU64,
    last_sweep: Mutex<Option<Timestamp>>,
    /// End of the current hold in nanoseconds; 0 when none.
    hold_until: AtomicU64,
    observer: O,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic in an observer must not take the whole monitor down.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<K, D> Monitor<K, D, ()>
where
    K: Hash + Eq + Clone,
    D: FailureDetector + Clone,
{
    /// A monitor with no peers, reporting to no observer.
    pub fn new(config: MonitorConfig, prototype: D) -> Monitor<K, D, ()> {
        Monitor::with_observer(config, prototype, ())
    }
}

impl<K, D, O> Monitor<K, D, O>
where
    K: Hash + Eq + Clone,
    D: FailureDetector + Clone,
    O: Observer<MonitorEvent<K>>,
{
    /// A monitor with no peers, reporting every transition and pause to `observer`.
    pub fn with_observer(config: MonitorConfig, prototype: D, observer: O) -> Monitor<K, D, O> {
        let shards = (0..config.shards)
            .map(|_| Mutex::new(Shard::new()))
            .collect();
        Monitor {
            config,
            prototype,
            shards,
            hasher: BuildHasherDefault::default(),
            next_deadline: AtomicU64::new(u64::MAX),
            last_sweep: Mutex::new(None),
            hold_until: AtomicU64::new(0),
            observer,
        }
    }

    fn shard(&self, key: &K) -> &Mutex<Shard<K, D>> {
        let index = (self.hasher.hash_one(key) % self.shards.len() as u64) as usize;
        &self.shards[index]
    }

    fn new_peer(&self) -> Peer<D> {
        Peer {
            detector: self.prototype.clone(),
            state: PeerState::Healthy,
            outage_start: None,
            flap: Flap::new(&self.config.flap_control),
            outages: OutageHistory::new(self.config.classification.clone()),
            sequence: None,
            stale_heartbeats: 0,
        }
    }

    /// Records a heartbeat from `peer` at `at`, registering the peer on its
    /// first heartbeat. Returns the transition if the heartbeat brought the
    /// peer back.
    pub fn heartbeat(&self, peer: K, at: Timestamp) -> Option<Transition<K>> {
        self.beat(peer, None, at)
    }

    /// Records a heartbeat that carries the sender's [`Sequence`] number,
    /// registering the peer on its first heartbeat. Returns the transition
    /// if the heartbeat brought the peer back.
    ///
    /// A heartbeat numbered at or below the highest one accepted from the
    /// peer is stale (a duplicate, or overtaken by a later one): it is
    /// dropped and counted ([`PeerStatus::stale_heartbeats`]), and changes
    /// nothing, so a stale heartbeat cannot bring back a peer that has gone
    /// silent since. A heartbeat from a newer generation is a restarted
    /// sender: the peer's detector starts afresh (its old arrival history
    /// described the previous process). The detector is fed the number
    /// ([`FailureDetector::heartbeat_with_sequence`]), so a detector that
    /// estimates from the sender's schedule (Chen's) sees lost heartbeats as
    /// gaps.
    ///
    /// Use one of the two methods per peer: a heartbeat without a number
    /// is always accepted.
    ///
    /// ```
    /// use std::time::Duration;
    /// use steadfast_core::Timestamp;
    /// use steadfast_detect::{FixedTimeout, Monitor, MonitorConfig, PeerState, Sequence};
    ///
    /// let monitor = Monitor::new(
    ///     MonitorConfig::builder().build()?,
    ///     FixedTimeout::new(Duration::from_secs(2))?,
    /// );
    /// let s = Timestamp::from_secs;
    /// monitor.heartbeat_with_sequence("db-1", Sequence::new(1, 0), s(0));
    /// monitor.heartbeat_with_sequence("db-1", Sequence::new(1, 1), s(1));
    /// assert_eq!(monitor.sweep(s(5))[0].to, PeerState::Suspect);
    /// // Heartbeat 0, delivered twice, arrives late: it is not a sign of life.
    /// assert!(monitor.heartbeat_with_sequence("db-1", Sequence::new(1, 0), s(6)).is_none());
    /// assert_eq!(monitor.status(&"db-1", s(6)).unwrap().state, PeerState::Suspect);
    /// // A fresh one is.
    /// let back = monitor.heartbeat_with_sequence("db-1", Sequence::new(1, 2), s(7)).unwrap();
    /// assert_eq!(back.to, PeerState::Healthy);
    /// # Ok::<(), steadfast_core::ConfigError>(())
    /// ```
    pub fn heartbeat_with_sequence(
        &self,
        peer: K,
        sequence: Sequence,
        at: Timestamp,
    ) -> Option<Transition<K>> {
        self.beat(peer, Some(sequence), at)
    }

    fn beat(&self, peer: K, sequence: Option<Sequence>, at: Timestamp) -> Option<Transition<K>> {
        let mut guard = lock(self.shard(&peer));
        let shard = &mut *guard;
        let (transition, next) = match shard.position(&peer) {
            Some(i) => {
                let entry = &mut shard.peers[i];
                let mut restart = false;
                if let Some(seq) = sequence {
                    match entry.sequence {
                        Some(latest) if seq <= latest => {
                            entry.stale_heartbeats = entry.stale_heartbeats.saturating_add(1);
                            return None;
                        }
                        Some(latest) => restart = seq.generation > latest.generation,
                        None => {}
                    }
                    entry.sequence = Some(seq);
                }
                let (transition, next) =
                    self.heartbeat_entry(&peer, entry, at, sequence.map(|s| s.number), restart);
                shard.set_next(i, next.as_nanos());
                (transition, next)
            }
            None => {
                let mut entry = self.new_peer();
                entry.sequence = sequence;
                let _ = match sequence {
                    Some(seq) => entry.detector.heartbeat_with_sequence(at, seq.number),
                    None => entry.detector.heartbeat(at),
                };
                let next =
                    entry.compute_next(self.config.unreachable_after, self.config.down_after);
                shard.insert(peer, entry, next);
                (None, next)
            }
        };
        drop(guard);
        self.next_deadline
            .fetch_min(next.as_nanos(), Ordering::AcqRel);
        if let Some(t) = &transition {
            self.observer.on_event(&MonitorEvent::Transition(t.clone()));
        }
        transition
    }

    /// A heartbeat from a known peer: `number` is its sequence number, if it
    /// has one; `restart` says it comes from a new generation of the sender.
    fn heartbeat_entry(
        &self,
        key: &K,
        entry: &mut Peer<D>,
        at: Timestamp,
        number: Option<u64>,
        restart: bool,
    ) -> (Option<Transition<K>>, Timestamp) {
        let feed = |detector: &mut D| match number {
            Some(n) => detector.heartbeat_with_sequence(at, n),
            None => detector.heartbeat(at),
        };
        if entry
            .detector
            .last_heartbeat()
            .is_some_and(|last| at < last)
        {
            if restart {
                entry.detector = self.prototype.clone();
            }
            let _ = feed(&mut entry.detector);
            let next = entry.compute_next(self.config.unreachable_after, self.config.down_after);
            return (None, next);
        }
        // A silence that crossed the threshold but was not swept yet still
        // counts as an outage, so damping and classification see it; not
        // while the monitor recovers from its own pause. (Sweep-counted
        // checks only happen in sweeps.)
        let holding = self.is_holding_back(at);
        let silent_too_long = match &entry.flap {
            Flap::Checks(_) => false,
            Flap::Hysteresis(h) => entry.detector.suspicion(at) >= h.enter(),
            Flap::None | Flap::Damping(_) => !entry.detector.is_available(at),
        };
        if entry.outage_start.is_none()
            && silent_too_long
            && !holding
            && let Some(deadline) = entry.suspect_deadline()
        {
            entry.outage_start = Some(deadline);
            entry.outages.begin(deadline);
            if let Flap::Damping(d) = &mut entry.flap {
                d.record_flap(deadline);
            }
        }
        // How late this heartbeat is: the suspicion it puts an end to.
        if let Flap::Hysteresis(h) = &mut entry.flap
            && !holding
        {
            let lateness = entry.detector.suspicion(at);
            if entry.outage_start.is_some() {
                // At or past the enter threshold, even if the detector's
                // own scale says otherwise at this instant.
                let _ = h.update(h.enter());
            }
            let _ = h.update(lateness);
        }
        // A restarted sender's old arrival history says nothing about the
        // new process: its detector starts afresh (after the silence before
        // the restart was judged above).
        if restart {
            entry.detector = self.prototype.clone();
        }
        let _ = feed(&mut entry.detector);
        let mut transition = None;
        if entry.outage_start.take().is_some() {
            entry.outages.end(at);
        }
        if entry.state != PeerState::Healthy && !entry.flapping(at) {
            transition = Some(Transition {
                peer: key.clone(),
                from: entry.state,
                to: PeerState::Healthy,
                at,
                observed: at,
                reason: TransitionReason::HeartbeatResumed,
                flapping: false,
            });
            entry.state = PeerState::Healthy;
        } else if entry.state != PeerState::Healthy {
            // Held by the flap control: it stays Suspect (even if it had
            // escalated).
            if entry.state != PeerState::Suspect {
                transition = Some(Transition {
                    peer: key.clone(),
                    from: entry.state,
                    to: PeerState::Suspect,
                    at,
                    observed: at,
                    reason: TransitionReason::HeartbeatResumed,
                    flapping: true,
                });
                entry.state = PeerState::Suspect;
            }
        }
        let next = entry.compute_next(self.config.unreachable_after, self.config.down_after);
        (transition, next)
    }

    /// Stops monitoring `peer`; returns whether it was monitored.
    pub fn remove(&self, peer: &K) -> bool {
        lock(self.shard(peer)).remove(peer)
    }

    /// How many peers are monitored.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).keys.len()).sum()
    }

    /// Whether no peer is monitored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A snapshot of `peer` at `now`.
    pub fn status(&self, peer: &K, now: Timestamp) -> Option<PeerStatus> {
        let shard = lock(self.shard(peer));
        shard
            .position(peer)
            .map(|i| &shard.peers[i])
            .map(|p| PeerStatus {
                state: p.state,
                flapping: p.flapping(now),
                held_until: p
                    .flap
                    .damper()
                    .filter(|d| d.is_suppressed(now))
                    .and_then(FlapDamper::reuse_at),
                class: p.outages.classify(now),
                suspicion: p.detector.suspicion(now),
                suspect_at: p.detector.suspect_at(),
                last_heartbeat: p.detector.last_heartbeat(),
                sequence: p.sequence,
                stale_heartbeats: p.stale_heartbeats,
            })
    }

    /// The earliest time at which [`sweep`](Self::sweep) can report a
    /// transition; `None` when nothing is pending.
    ///
    /// Exact after a sweep; heartbeats since then can only have moved deadlines
    /// later, so the value is never later than the true earliest deadline and
    /// a caller that sleeps until it never misses a conviction.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        let nanos = self.next_deadline.load(Ordering::Acquire);
        (nanos != u64::MAX).then(|| Timestamp::from_nanos(nanos))
    }

    /// Whether convictions are currently held back by the pause guard.
    pub fn is_holding_back(&self, now: Timestamp) -> bool {
        now.as_nanos() < self.hold_until.load(Ordering::Acquire)
    }

    /// Applies every change due at `now` and returns the transitions, ordered
    /// by the time they took effect.
    pub fn sweep(&self, now: Timestamp) -> Vec<Transition<K>> {
        let hold_until = self.check_pause(now);
        let holding = hold_until.is_some_and(|until| now < until);
        self.next_deadline.store(u64::MAX, Ordering::Release);
        let mut transitions = Vec::new();
        let mut earliest = u64::MAX;
        let now_nanos = now.as_nanos();
        let held_until = hold_until.map_or(u64::MAX, Timestamp::as_nanos);
        for shard in self.shards.iter() {
            let mut guard = lock(shard);
            let shard = &mut *guard;
            // Most sweeps find nothing due in most shards: skip a shard
            // whose lower bound lies ahead without reading its deadlines,
            // then try a branch-free pass for the exact minimum.
            if shard.exact && shard.earliest > now_nanos {
                earliest = earliest.min(shard.earliest);
                continue;
            }
            let shard_earliest = shard.next.iter().copied().min().unwrap_or(u64::MAX);
            shard.exact = true;
            if shard_earliest > now_nanos {
                shard.earliest = shard_earliest;
                earliest = earliest.min(shard_earliest);
                continue;
            }
            let mut exact = u64::MAX;
            for (i, slot) in shard.next.iter_mut().enumerate() {
                let mut next = *slot;
                if next <= now_nanos {
                    let entry = &mut shard.peers[i];
                    self.advance(&shard.keys[i], entry, now, holding, &mut transitions);
                    next = entry
                        .compute_next(self.config.unreachable_after, self.config.down_after)
                        .as_nanos();
                    *slot = next;
                    exact = exact.min(next);
                    if holding && next <= now_nanos {
                        // Held convictions become due when the hold ends.
                        next = held_until;
                    }
                } else {
                    exact = exact.min(next);
                }
                earliest = earliest.min(next);
            }
            shard.earliest = exact;
        }
        self.next_deadline.fetch_min(earliest, Ordering::AcqRel);
        transitions.sort_by_key(|t| t.at);
        for t in &transitions {
            self.observer.on_event(&MonitorEvent::Transition(t.clone()));
        }
        transitions
    }

    fn check_pause(&self, now: Timestamp) -> Option<Timestamp> {
        let mut last_sweep = lock(&self.last_sweep);
        if let (Some(threshold), Some(last)) = (self.config.pause_threshold, *last_sweep) {
            let gap = now.saturating_duration_since(last);
            if gap > threshold {
                let until = now.saturating_add(threshold);
                self.hold_until.store(until.as_nanos(), Ordering::Release);
                self.observer.on_event(&MonitorEvent::ConvictionsHeldBack {
                    at: now,
                    pause: gap,
                    until,
                });
            }
        }
        *last_sweep = Some(last_sweep.map_or(now, |last| last.max(now)));
        let until = self.hold_until.load(Ordering::Acquire);
        (until != 0).then(|| Timestamp::from_nanos(until))
    }

    fn advance(
        &self,
        key: &K,
        entry: &mut Peer<D>,
        now: Timestamp,
        holding: bool,
        out: &mut Vec<Transition<K>>,
    ) {
        if let Flap::Checks(checks) = &mut entry.flap {
            if holding {
                return;
            }
            let ok = entry.detector.is_available(now);
            let failing = checks.record(ok);
            if failing && !ok && entry.outage_start.is_none() {
                entry.outage_start = Some(now);
                entry.outages.begin(now);
            }
            if failing && entry.state == PeerState::Healthy {
                out.push(Transition {
                    peer: key.clone(),
                    from: PeerState::Healthy,
                    to: PeerState::Suspect,
                    at: now,
                    observed: now,
                    reason: TransitionReason::ThresholdCrossed {
                        suspicion: entry.detector.suspicion(now),
                    },
                    flapping: false,
                });
                entry.state = PeerState::Suspect;
            } else if !failing && entry.state != PeerState::Healthy {
                out.push(Transition {
                    peer: key.clone(),
                    from: entry.state,
                    to: PeerState::Healthy,
                    at: now,
                    observed: now,
                    reason: TransitionReason::DampingReleased,
                    flapping: false,
                });
                entry.state = PeerState::Healthy;
            }
        }
        // Flap damping releases a held peer that kept heartbeating.
        if let Flap::Damping(damper) = &entry.flap
            && entry.outage_start.is_none()
            && entry.state != PeerState::Healthy
            && !damper.is_suppressed(now)
            && entry.detector.is_available(now)
        {
            out.push(Transition {
                peer: key.clone(),
                from: entry.state,
                to: PeerState::Healthy,
                at: damper.reuse_at().unwrap_or(now),
                observed: now,
                reason: TransitionReason::DampingReleased,
                flapping: false,
            });
            entry.state = PeerState::Healthy;
        }
        if holding {
            return;
        }
        if entry.outage_start.is_none() {
            let Some(deadline) = entry.suspect_deadline() else {
                return;
            };
            if deadline > now {
                return;
            }
            entry.outage_start = Some(deadline);
            entry.outages.begin(deadline);
            match &mut entry.flap {
                Flap::Damping(d) => {
                    d.record_flap(deadline);
                }
                Flap::Hysteresis(h) => {
                    // The suspicion reached the enter threshold.
                    let _ = h.update(h.enter());
                }
                Flap::None | Flap::Checks(_) => {}
            }
            if entry.state == PeerState::Healthy {
                out.push(Transition {
                    peer: key.clone(),
                    from: PeerState::Healthy,
                    to: PeerState::Suspect,
                    at: deadline,
                    observed: now,
                    reason: TransitionReason::ThresholdCrossed {
                        suspicion: entry.detector.suspicion(deadline),
                    },
                    flapping: entry.flapping(now),
                });
                entry.state = PeerState::Suspect;
            }
        }
        let Some(start) = entry.outage_start else {
            return;
        };
        let silence = now.saturating_duration_since(start);
        // Escalate one level at a time so observers see every state.
        for (target, limit) in [
            (PeerState::Unreachable, self.config.unreachable_after),
            (PeerState::Down, self.config.down_after),
        ] {
            if silence >= limit && target > entry.state && entry.state != PeerState::Healthy {
                out.push(Transition {
                    peer: key.clone(),
                    from: entry.state,
                    to: target,
                    at: start.saturating_add(limit),
                    observed: now,
                    reason: TransitionReason::StillSilent { silence },
                    flapping: entry.flapping(now),
                });
                entry.state = target;
            }
        }
    }
}

#[cfg(all(test, steadfast_loom))]
mod loom_tests {
    use std::sync::Arc;

    use super::*;
    use crate::FixedTimeout;

    fn monitor() -> Monitor<u8, FixedTimeout> {
        Monitor::new(
            MonitorConfig::builder()
                .shards(2)
                .pause_threshold(None)
                .damping(None)
                .build()
                .unwrap(),
            FixedTimeout::new(Duration::from_secs(10)).unwrap(),
        )
    }

    /// A sweep racing with heartbeats (one moving a deadline later, one
    /// adding an earlier peer) never leaves `next_deadline` later than the
    /// earliest real deadline.
    #[test]
    fn loom_next_deadline_is_never_later_than_the_earliest_peer() {
        loom::model(|| {
            let monitor = Arc::new(monitor());
            monitor.heartbeat(1, Timestamp::from_secs(0));
            let other = Arc::clone(&monitor);
            let beats = loom::thread::spawn(move || {
                other.heartbeat(2, Timestamp::from_secs(2));
                other.heartbeat(1, Timestamp::from_secs(5));
            });
            let changes = monitor.sweep(Timestamp::from_secs(3));
            beats.join().unwrap();
            assert!(changes.is_empty());
            let next = monitor.next_deadline().unwrap();
            assert!(next <= Timestamp::from_secs(12), "{next:?}");
        });
    }

    /// Two sweeps at once report each conviction exactly once.
    #[test]
    fn loom_concurrent_sweeps_convict_once() {
        loom::model(|| {
            let monitor = Arc::new(monitor());
            monitor.heartbeat(1, Timestamp::from_secs(0));
            let other = Arc::clone(&monitor);
            let sweeper = loom::thread::spawn(move || other.sweep(Timestamp::from_secs(11)).len());
            let mine = monitor.sweep(Timestamp::from_secs(11)).len();
            let theirs = sweeper.join().unwrap();
            assert_eq!(mine + theirs, 1);
        });
    }
}
