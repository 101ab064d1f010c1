//! The processes of the `tour`: five service nodes, the coordinator (lock
//! service and fenced store) and the clients, all talking over the engine's
//! network and reading their own drifting clocks.
//!
//! Processes never see true time. What they want told (a suspicion, a lease
//! taken, a breaker opened) they append to their notes, with how long ago on
//! their own clock it took effect; the driver stamps each note with the true
//! time of the event that produced it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use steadfast_core::{Clock, NodeId, Recorder, Timestamp};
use steadfast_detect::{Monitor, MonitorConfig, PeerState, PhiAccrual, TransitionReason};
use steadfast_guard::breaker::{
    BreakerConfig, BreakerEvent, BreakerState, CircuitBreaker, OwnedPermit,
};
use steadfast_guard::budget::{PercentBudget, PercentBudgetConfig, RetryBudget, RetryKind};
use steadfast_quorum::{
    AcquireOutcome, Fence, FencingToken, InMemoryBackend, Lease, LeaseBackend, LeaseGrant,
    LeasePolicy, RenewOutcome,
};
use steadfast_replica::{MerkleTree, TokenRange, hash64};
use steadfast_slo::{AlertEvent, AlertEventKind, AlertPolicy, BurnRateMonitor};

use crate::{Context, NodeClock, Process, Timer};

/// Keys in the replicated key space.
pub(super) const KEYS: usize = 1000;
const MERKLE_DEPTH: u8 = 8;
/// Retries per request at most (the budget usually says no first).
const MAX_RETRIES: u32 = 2;
/// A service node's heartbeat, detector sweep and lease work period (local time).
const TICK: Duration = Duration::from_secs(1);
/// The clients' period (local time).
const CLIENT_TICK: Duration = Duration::from_millis(100);
/// An attempt not answered within this is a failure.
const CALL_TIMEOUT: Duration = Duration::from_millis(250);
/// A replication message not acknowledged within a tick is sent again, at most this often.
const REPLICATE_TRIES: u32 = 5;
/// A lease request still unanswered after this may be sent again.
const REQUEST_PATIENCE: Duration = Duration::from_secs(2);
const LEASE_KEY: &str = "service/leader";

const TAG_TICK: u64 = 0;
const TAG_ANTI_ENTROPY: u64 = 1;

/// What every process of one run shares: settings and precomputed key tokens.
pub(super) struct Setup {
    pub(super) nodes: usize,
    pub(super) policy: LeasePolicy,
    pub(super) monitor: MonitorConfig,
    pub(super) phi: PhiAccrual,
    pub(super) breaker: BreakerConfig,
    pub(super) budget: PercentBudgetConfig,
    pub(super) alerts: AlertPolicy,
    pub(super) requests_per_second: u32,
    pub(super) baseline_error_ratio: f64,
    pub(super) anti_entropy_every: Duration,
    /// The crash window on the clients' clock (which runs true), for outage accounting.
    pub(super) outage: (Timestamp, Timestamp),
    /// The node holding the lease at the start.
    pub(super) first_leader: usize,
    pub(super) tokens: Vec<u64>,
    pub(super) initial_tree: MerkleTree,
}

impl Setup {
    pub(super) fn coordinator(&self) -> NodeId {
        NodeId::new(self.nodes as u64)
    }

    pub(super) fn initial_tree(tokens: &[u64]) -> MerkleTree {
        MerkleTree::build(
            MERKLE_DEPTH,
            tokens
                .iter()
                .enumerate()
                .map(|(k, &t)| (t, value_hash(k, 0))),
        )
        .expect("depth 8 is valid")
    }

    pub(super) fn tokens() -> Vec<u64> {
        (0..KEYS as u64).map(|k| hash64(&k.to_le_bytes())).collect()
    }
}

/// Something a process wants told, `ago` (its own clock) before the event that produced it.
#[derive(Debug, Clone)]
pub(super) struct Noted {
    pub(super) ago: Duration,
    pub(super) note: Note,
}

#[derive(Debug, Clone)]
pub(super) enum Note {
    /// This node's detector crossed its threshold for `peer`.
    Suspected { peer: usize, phi: f64 },
    /// A heartbeat from a suspected `peer` arrived.
    Trusted { peer: usize },
    /// The lock service granted this node the lease.
    LeaseTaken { token: FencingToken },
    /// The lease ran out on this node's own clock (renewals unanswered).
    LeaseExpired { token: FencingToken },
    /// The lock service refused a renewal: the lease is gone.
    LeaseLost { token: FencingToken },
    /// After a restart, this node learned who leads now.
    Rejoined { leader: usize },
    /// The fenced store refused a write (noted by the coordinator).
    WriteRefused {
        from: usize,
        token: FencingToken,
        why: String,
        replayed: bool,
    },
    /// Anti-entropy with `peer` copied `keys` keys into this replica.
    Repaired { peer: usize, keys: u64 },
    /// The clients' breaker for `home` opened.
    BreakerOpened {
        home: usize,
        failure_rate: f64,
        calls: u64,
    },
    /// The clients' breaker for `home` closed after trial calls passed.
    BreakerClosed { home: usize },
    /// A burn-rate alert fired or resolved.
    Alert {
        name: String,
        fired: bool,
        long_burn: f64,
        short_burn: f64,
        silenced: bool,
    },
}

#[derive(Debug, Clone)]
pub(super) enum Msg {
    Heartbeat {
        leading: Option<FencingToken>,
    },
    Acquire {
        sent_at: Timestamp,
    },
    Renew {
        lease_id: u64,
        sent_at: Timestamp,
    },
    Granted {
        token: FencingToken,
        lease_id: u64,
        sent_at: Timestamp,
    },
    Refused {
        holder: Option<(usize, FencingToken)>,
    },
    Renewed {
        lease_id: u64,
        sent_at: Timestamp,
    },
    Lost {
        lease_id: u64,
    },
    FencedWrite {
        token: FencingToken,
        replayed: bool,
    },
    Call {
        id: u64,
    },
    Reply {
        id: u64,
        ok: bool,
    },
    Replicate {
        key: u32,
        version: u64,
    },
    ReplicateAck {
        key: u32,
        version: u64,
    },
    SyncTree(Box<MerkleTree>),
    /// The replier's versions of the keys in the ranges where the trees differ.
    SyncDiff(Vec<(u32, u64)>),
    /// The initiator's newer versions of those keys.
    SyncPush(Vec<(u32, u64)>),
}

/// A replica: one version per key (0: never written) and its Merkle tree.
pub(super) struct Store {
    pub(super) versions: Vec<u64>,
    pub(super) tree: MerkleTree,
}

impl Store {
    /// Keeps the newer version; returns whether it changed.
    pub(super) fn set(&mut self, key: usize, token: u64, version: u64) -> bool {
        let old = self.versions[key];
        if version > old {
            self.tree
                .update(token, value_hash(key, old), value_hash(key, version));
            self.versions[key] = version;
            true
        } else {
            false
        }
    }
}

pub(super) fn value_hash(key: usize, version: u64) -> u64 {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&(key as u64).to_le_bytes());
    bytes[8..].copy_from_slice(&version.to_le_bytes());
    hash64(&bytes)
}

struct Unacked {
    peer: usize,
    key: u32,
    version: u64,
    sent: Timestamp,
    tries: u32,
}

/// A service node: heartbeats and a phi accrual monitor, a lease candidate,
/// a replica, and the home of some clients.
pub(super) struct Service {
    me: usize,
    setup: Arc<Setup>,
    pub(super) monitor: Monitor<usize, PhiAccrual>,
    /// Who this node believes leads, and under which token.
    leader: Option<(usize, FencingToken)>,
    held: Option<(u64, Lease)>,
    acquiring: Option<Timestamp>,
    renewing: Option<Timestamp>,
    /// A write queued under the lease when the node crashed; flushed on restart.
    queued: Option<FencingToken>,
    rejoining: bool,
    lamport: u64,
    pub(super) store: Store,
    unacked: Vec<Unacked>,
    next_sync: usize,
    pub(super) keys_repaired: u64,
    pub(super) notes: Vec<Noted>,
}

impl Service {
    pub(super) fn new(me: usize, setup: &Arc<Setup>) -> Service {
        Service {
            me,
            setup: Arc::clone(setup),
            monitor: Monitor::new(setup.monitor.clone(), setup.phi.clone()),
            leader: Some((setup.first_leader, FencingToken::new(0))),
            held: None,
            acquiring: None,
            renewing: None,
            queued: None,
            rejoining: false,
            lamport: 0,
            store: Store {
                versions: vec![0; KEYS],
                tree: setup.initial_tree.clone(),
            },
            unacked: Vec::new(),
            next_sync: 0,
            keys_repaired: 0,
            notes: Vec::new(),
        }
    }

    /// The lease this node believes it holds at `now` (its clock), if any.
    pub(super) fn believes(&self, now: Timestamp) -> Option<&Lease> {
        self.held
            .as_ref()
            .map(|(_, lease)| lease)
            .filter(|lease| lease.is_valid(now))
    }

    fn note(&mut self, note: Note) {
        self.notes.push(Noted {
            ago: Duration::ZERO,
            note,
        });
    }

    fn peers(&self) -> impl Iterator<Item = usize> + use<> {
        let me = self.me;
        (0..self.setup.nodes).filter(move |&p| p != me)
    }

    fn learn_leader(&mut self, peer: usize, token: FencingToken) {
        if self.leader.is_none_or(|(_, known)| token > known) {
            self.leader = Some((peer, token));
        }
        if self.rejoining && peer != self.me {
            self.rejoining = false;
            self.note(Note::Rejoined { leader: peer });
        }
    }

    fn tick(&mut self, ctx: &mut Context<'_, Msg>) {
        let now = ctx.clock().now();
        ctx.set_timer(TICK, TAG_TICK);
        let leading = self.believes(now).map(Lease::token);
        for peer in self.peers() {
            ctx.send(NodeId::new(peer as u64), Msg::Heartbeat { leading });
        }
        for t in self.monitor.sweep(now) {
            if t.from == PeerState::Healthy && t.to != PeerState::Healthy {
                let phi = match t.reason {
                    TransitionReason::ThresholdCrossed { suspicion } => suspicion,
                    _ => f64::NAN,
                };
                self.notes.push(Noted {
                    ago: now.saturating_duration_since(t.at),
                    note: Note::Suspected { peer: t.peer, phi },
                });
            }
        }
        self.lease_work(ctx, now);
        // About one write a second across the service, replicated to every peer.
        if ctx.rng().random_range(0..self.setup.nodes) == 0 {
            let key = ctx.rng().random_range(0..KEYS);
            self.lamport += 1;
            let version = (self.lamport << 8) | self.me as u64;
            self.store.set(key, self.setup.tokens[key], version);
            for peer in self.peers() {
                self.unacked.push(Unacked {
                    peer,
                    key: key as u32,
                    version,
                    sent: now,
                    tries: 1,
                });
                ctx.send(
                    NodeId::new(peer as u64),
                    Msg::Replicate {
                        key: key as u32,
                        version,
                    },
                );
            }
        }
        // Unacknowledged replication is sent again, then given up on (anti-entropy repairs it).
        let mut resend = Vec::new();
        self.unacked.retain_mut(|u| {
            if now.saturating_duration_since(u.sent) < TICK / 2 {
                return true;
            }
            if u.tries >= REPLICATE_TRIES {
                return false;
            }
            u.tries += 1;
            u.sent = now;
            resend.push((u.peer, u.key, u.version));
            true
        });
        for (peer, key, version) in resend {
            ctx.send(NodeId::new(peer as u64), Msg::Replicate { key, version });
        }
    }

    fn lease_work(&mut self, ctx: &mut Context<'_, Msg>, now: Timestamp) {
        let patient = |since: Option<Timestamp>| {
            since.is_some_and(|s| now >= s && now.saturating_duration_since(s) < REQUEST_PATIENCE)
        };
        let coordinator = self.setup.coordinator();
        if let Some((lease_id, lease)) = self.held {
            if !lease.is_valid(now) {
                self.held = None;
                self.renewing = None;
                self.leader = None;
                // Told at the instant it ran out, which a pause may have hidden until now.
                self.notes.push(Noted {
                    ago: now.saturating_duration_since(lease.expires_at()),
                    note: Note::LeaseExpired {
                        token: lease.token(),
                    },
                });
            } else {
                if now.saturating_duration_since(lease.sent_at()) >= self.setup.policy.renew_after()
                    && !patient(self.renewing)
                {
                    self.renewing = Some(now);
                    ctx.send(
                        coordinator,
                        Msg::Renew {
                            lease_id,
                            sent_at: now,
                        },
                    );
                }
                // The leader's own work: one write a tick to the fenced store.
                ctx.send(
                    coordinator,
                    Msg::FencedWrite {
                        token: lease.token(),
                        replayed: false,
                    },
                );
                return;
            }
        }
        let wants = match self.leader {
            None => true,
            Some((l, _)) if l == self.me => true,
            Some((l, _)) => self
                .monitor
                .status(&l, now)
                .is_some_and(|s| s.state != PeerState::Healthy),
        };
        if wants && !patient(self.acquiring) {
            self.acquiring = Some(now);
            ctx.send(coordinator, Msg::Acquire { sent_at: now });
        }
    }

    fn anti_entropy(&mut self, ctx: &mut Context<'_, Msg>) {
        let others = self.setup.nodes - 1;
        ctx.set_timer(
            self.setup.anti_entropy_every / others as u32,
            TAG_ANTI_ENTROPY,
        );
        let peer = self.peers().nth(self.next_sync % others).unwrap_or(0);
        self.next_sync += 1;
        ctx.send(
            NodeId::new(peer as u64),
            Msg::SyncTree(Box::new(self.store.tree.clone())),
        );
    }

    fn merge(&mut self, entries: &[(u32, u64)]) -> u64 {
        let mut copied = 0;
        for &(key, version) in entries {
            self.lamport = self.lamport.max(version >> 8);
            let key = key as usize;
            if self.store.set(key, self.setup.tokens[key], version) {
                copied += 1;
            }
        }
        copied
    }

    fn repaired(&mut self, peer: usize, keys: u64) {
        if keys > 0 {
            self.keys_repaired += keys;
            self.note(Note::Repaired { peer, keys });
        }
    }
}

/// The coordinator: the lock service granting the leader lease on its own
/// clock, and the fenced store the leader writes to.
pub(super) struct Coordinator {
    term: Duration,
    backend: Option<InMemoryBackend<NodeClock>>,
    grant: Option<LeaseGrant>,
    fence: Fence,
    pub(super) accepted: u64,
    pub(super) notes: Vec<Noted>,
}

impl Coordinator {
    pub(super) fn new(setup: &Setup) -> Coordinator {
        Coordinator {
            term: setup.policy.term(),
            backend: None,
            grant: None,
            fence: Fence::new(),
            accepted: 0,
            notes: Vec::new(),
        }
    }

    fn handle(&mut self, ctx: &mut Context<'_, Msg>, from: NodeId, msg: Msg) {
        let Some(backend) = &self.backend else { return };
        let owner = from.get().to_string();
        let reply = match msg {
            Msg::Acquire { sent_at } => match backend.acquire(LEASE_KEY, &owner, self.term) {
                Ok(AcquireOutcome::Granted(grant)) => {
                    let reply = Msg::Granted {
                        token: grant.token(),
                        lease_id: grant.lease_id(),
                        sent_at,
                    };
                    self.grant = Some(grant);
                    reply
                }
                Ok(AcquireOutcome::Held(holder)) => Msg::Refused {
                    holder: holder.owner.parse().ok().map(|h| (h, holder.token)),
                },
                _ => Msg::Refused { holder: None },
            },
            Msg::Renew { lease_id, sent_at } => {
                let renewed = self
                    .grant
                    .as_ref()
                    .filter(|g| g.lease_id() == lease_id && g.owner() == owner)
                    .is_some_and(|g| matches!(backend.renew(g), Ok(RenewOutcome::Renewed)));
                if renewed {
                    Msg::Renewed { lease_id, sent_at }
                } else {
                    Msg::Lost { lease_id }
                }
            }
            Msg::FencedWrite { token, replayed } => {
                match self.fence.check(token) {
                    Ok(()) => self.accepted += 1,
                    Err(stale) => self.notes.push(Noted {
                        ago: Duration::ZERO,
                        note: Note::WriteRefused {
                            from: from.get() as usize,
                            token,
                            why: stale.to_string(),
                            replayed,
                        },
                    }),
                }
                return;
            }
            _ => return,
        };
        ctx.send(from, reply);
    }
}

struct Pending {
    home: usize,
    permit: OwnedPermit<NodeClock, Recorder<BreakerEvent>>,
    sent: Timestamp,
    tries: u32,
    outage: bool,
}

struct ClientState {
    breakers: Vec<CircuitBreaker<NodeClock, Recorder<BreakerEvent>>>,
    breaker_events: Vec<Recorder<BreakerEvent>>,
    budgets: Vec<PercentBudget<NodeClock>>,
    slo: BurnRateMonitor<NodeClock, Recorder<AlertEvent>>,
    alert_events: Recorder<AlertEvent>,
    thresholds: Vec<f64>,
    pending: BTreeMap<u64, Pending>,
}

/// Counters of the clients, cumulative over the run.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct ClientCounts {
    pub(super) requests: u64,
    pub(super) succeeded: u64,
    pub(super) failed: u64,
    pub(super) attempts: u64,
    pub(super) retries: u64,
    pub(super) outage_requests: u64,
    pub(super) outage_retries: u64,
    pub(super) rejected_by_breaker: u64,
}

/// The clients: requests spread over the service nodes, each home node
/// behind a breaker and a retry budget, and the SLO's burn-rate alerts.
pub(super) struct Clients {
    setup: Arc<Setup>,
    state: Option<ClientState>,
    next_id: u64,
    ticks: u64,
    owed: u64,
    good: u64,
    total: u64,
    pub(super) counts: ClientCounts,
    /// The page tier's long-window burn rate at the last evaluation.
    pub(super) burn: f64,
    pub(super) notes: Vec<Noted>,
}

impl Clients {
    pub(super) fn new(setup: &Arc<Setup>) -> Clients {
        Clients {
            setup: Arc::clone(setup),
            state: None,
            next_id: 0,
            ticks: 0,
            owed: 0,
            good: 0,
            total: 0,
            counts: ClientCounts::default(),
            burn: 0.0,
            notes: Vec::new(),
        }
    }

    fn finish(&mut self, ok: bool) {
        self.total += 1;
        if ok {
            self.good += 1;
            self.counts.succeeded += 1;
        } else {
            self.counts.failed += 1;
        }
    }

    fn attempt(
        &mut self,
        ctx: &mut Context<'_, Msg>,
        home: usize,
        tries: u32,
        outage: bool,
        now: Timestamp,
    ) {
        let Some(state) = &mut self.state else { return };
        self.counts.attempts += 1;
        match state.breakers[home].try_acquire_owned() {
            Err(_) => {
                self.counts.rejected_by_breaker += 1;
                self.finish(false);
            }
            Ok(permit) => {
                let id = self.next_id;
                self.next_id += 1;
                state.pending.insert(
                    id,
                    Pending {
                        home,
                        permit,
                        sent: now,
                        tries,
                        outage,
                    },
                );
                ctx.send(NodeId::new(home as u64), Msg::Call { id });
            }
        }
    }

    fn failed_attempt(&mut self, ctx: &mut Context<'_, Msg>, p: Pending, now: Timestamp) {
        p.permit.failure();
        let Some(state) = &self.state else { return };
        if p.tries < MAX_RETRIES && state.budgets[p.home].try_withdraw(RetryKind::Error) {
            self.counts.retries += 1;
            self.counts.outage_retries += u64::from(p.outage);
            self.attempt(ctx, p.home, p.tries + 1, p.outage, now);
        } else {
            self.finish(false);
        }
    }

    fn tick(&mut self, ctx: &mut Context<'_, Msg>) {
        let now = ctx.clock().now();
        ctx.set_timer(CLIENT_TICK, TAG_TICK);
        self.ticks += 1;
        let Some(state) = &mut self.state else { return };
        let expired: Vec<u64> = state
            .pending
            .iter()
            .filter(|(_, p)| now.saturating_duration_since(p.sent) >= CALL_TIMEOUT)
            .map(|(&id, _)| id)
            .collect();
        for id in expired {
            if let Some(p) = self.state.as_mut().and_then(|s| s.pending.remove(&id)) {
                self.failed_attempt(ctx, p, now);
            }
        }
        // Requests due by this tick: rate × ticks / 10, without drift from rounding.
        let due = u64::from(self.setup.requests_per_second) * self.ticks / 10;
        while self.owed < due {
            self.owed += 1;
            let home = ctx.rng().random_range(0..self.setup.nodes);
            let (start, end) = self.setup.outage;
            let outage = now >= start && now < end;
            self.counts.requests += 1;
            self.counts.outage_requests += u64::from(outage);
            if let Some(state) = &self.state {
                state.budgets[home].deposit();
            }
            self.attempt(ctx, home, 0, outage, now);
        }
        let Some(state) = &mut self.state else { return };
        for (home, events) in state.breaker_events.iter().enumerate() {
            for e in events.take() {
                let ago = now.saturating_duration_since(e.at);
                let note = if e.to == BreakerState::Open && e.from == BreakerState::Closed {
                    Note::BreakerOpened {
                        home,
                        failure_rate: e.figures.failure_rate(),
                        calls: u64::from(e.figures.calls),
                    }
                } else if e.to == BreakerState::Closed && e.from == BreakerState::HalfOpen {
                    Note::BreakerClosed { home }
                } else {
                    continue;
                };
                self.notes.push(Noted { ago, note });
            }
        }
        let _ = state.slo.record_at(now, self.good, self.total);
        self.good = 0;
        self.total = 0;
        if self.ticks.is_multiple_of(600) {
            let states = state.slo.evaluate_at(now);
            self.burn = states.first().and_then(|s| s.long_burn).unwrap_or(0.0);
            for e in state.alert_events.take() {
                let short_burn = e.short_burn.unwrap_or(0.0);
                let fired = e.kind == AlertEventKind::Fired;
                let silenced = !fired
                    && state
                        .thresholds
                        .get(e.tier)
                        .is_some_and(|&limit| short_burn >= limit);
                self.notes.push(Noted {
                    ago: now.saturating_duration_since(e.at),
                    note: Note::Alert {
                        name: e.name,
                        fired,
                        long_burn: e.long_burn.unwrap_or(0.0),
                        short_burn,
                        silenced,
                    },
                });
            }
        }
    }
}

/// A process of the tour.
pub(super) enum TourNode {
    Service(Box<Service>),
    Coordinator(Box<Coordinator>),
    Clients(Box<Clients>),
}

impl TourNode {
    pub(super) fn notes(&self) -> &[Noted] {
        match self {
            TourNode::Service(s) => &s.notes,
            TourNode::Coordinator(c) => &c.notes,
            TourNode::Clients(c) => &c.notes,
        }
    }

    pub(super) fn service(&self) -> Option<&Service> {
        match self {
            TourNode::Service(s) => Some(s),
            _ => None,
        }
    }

    pub(super) fn clients(&self) -> Option<&Clients> {
        match self {
            TourNode::Clients(c) => Some(c),
            _ => None,
        }
    }
}

impl Process for TourNode {
    type Message = Msg;

    fn on_start(&mut self, ctx: &mut Context<'_, Msg>) {
        match self {
            TourNode::Service(s) => {
                // Spread the nodes' ticks over the first second.
                let first = Duration::from_micros(ctx.rng().random_range(0..1_000_000));
                ctx.set_timer(first, TAG_TICK);
                let others = s.setup.nodes as u32 - 1;
                let spread = s.setup.anti_entropy_every / others;
                let first = spread.mul_f64(ctx.rng().random_range(0.0..1.0));
                ctx.set_timer(first, TAG_ANTI_ENTROPY);
                if let Some(token) = s.queued.take() {
                    ctx.send(
                        s.setup.coordinator(),
                        Msg::FencedWrite {
                            token,
                            replayed: true,
                        },
                    );
                }
            }
            TourNode::Coordinator(c) => {
                if c.backend.is_none() {
                    c.backend = Some(InMemoryBackend::with_clock(ctx.clock().clone()));
                }
            }
            TourNode::Clients(c) => {
                if c.state.is_none() {
                    let clock = ctx.clock().clone();
                    let n = c.setup.nodes;
                    let breaker_events: Vec<Recorder<BreakerEvent>> =
                        (0..n).map(|_| Recorder::new()).collect();
                    let breakers = breaker_events
                        .iter()
                        .map(|events| {
                            CircuitBreaker::with_observer(
                                c.setup.breaker.clone(),
                                clock.clone(),
                                events.clone(),
                            )
                        })
                        .collect();
                    let budgets = (0..n)
                        .map(|_| PercentBudget::with_clock(c.setup.budget, clock.clone()))
                        .collect();
                    let alert_events = Recorder::new();
                    let thresholds = c
                        .setup
                        .alerts
                        .tiers()
                        .iter()
                        .map(|t| t.burn_rate())
                        .collect();
                    let slo = BurnRateMonitor::with_clock(c.setup.alerts.clone(), clock)
                        .with_observer(alert_events.clone());
                    c.state = Some(ClientState {
                        breakers,
                        breaker_events,
                        budgets,
                        slo,
                        alert_events,
                        thresholds,
                        pending: BTreeMap::new(),
                    });
                }
                ctx.set_timer(CLIENT_TICK, TAG_TICK);
            }
        }
    }

    fn on_timer(&mut self, ctx: &mut Context<'_, Msg>, timer: Timer) {
        match self {
            TourNode::Service(s) if timer.tag == TAG_TICK => s.tick(ctx),
            TourNode::Service(s) => s.anti_entropy(ctx),
            TourNode::Clients(c) => c.tick(ctx),
            TourNode::Coordinator(_) => {}
        }
    }

    #[allow(clippy::too_many_lines)]
    fn on_message(&mut self, ctx: &mut Context<'_, Msg>, from: NodeId, msg: Msg) {
        let peer = from.get() as usize;
        match self {
            TourNode::Coordinator(c) => c.handle(ctx, from, msg),
            TourNode::Clients(c) => {
                if let Msg::Reply { id, ok } = msg {
                    let now = ctx.clock().now();
                    if let Some(p) = c.state.as_mut().and_then(|s| s.pending.remove(&id)) {
                        if ok {
                            p.permit.success();
                            c.finish(true);
                        } else {
                            c.failed_attempt(ctx, p, now);
                        }
                    }
                }
            }
            TourNode::Service(s) => {
                let now = ctx.clock().now();
                match msg {
                    Msg::Heartbeat { leading } => {
                        if let Some(t) = s.monitor.heartbeat(peer, now)
                            && t.to == PeerState::Healthy
                            && t.from != PeerState::Healthy
                        {
                            s.note(Note::Trusted { peer });
                        }
                        if let Some(token) = leading {
                            s.learn_leader(peer, token);
                        }
                    }
                    Msg::Call { id } => {
                        let ok = !ctx.rng().random_bool(s.setup.baseline_error_ratio);
                        ctx.send(from, Msg::Reply { id, ok });
                    }
                    Msg::Granted {
                        token,
                        lease_id,
                        sent_at,
                    } => {
                        s.acquiring = None;
                        if s.held.is_none() {
                            s.held = Some((lease_id, Lease::new(s.setup.policy, sent_at, token)));
                            s.leader = Some((s.me, token));
                            s.rejoining = false;
                            s.note(Note::LeaseTaken { token });
                        }
                    }
                    Msg::Refused { holder } => {
                        s.acquiring = None;
                        if let Some((h, token)) = holder
                            && h != s.me
                        {
                            s.learn_leader(h, token);
                        }
                    }
                    Msg::Renewed { lease_id, sent_at } => {
                        if let Some((id, lease)) = &mut s.held
                            && *id == lease_id
                        {
                            lease.renewed(sent_at);
                            s.renewing = None;
                        }
                    }
                    Msg::Lost { lease_id } => {
                        if let Some((id, lease)) = s.held
                            && id == lease_id
                        {
                            s.held = None;
                            s.renewing = None;
                            s.leader = None;
                            s.note(Note::LeaseLost {
                                token: lease.token(),
                            });
                        }
                    }
                    Msg::Replicate { key, version } => {
                        s.merge(&[(key, version)]);
                        ctx.send(from, Msg::ReplicateAck { key, version });
                    }
                    Msg::ReplicateAck { key, version } => {
                        s.unacked
                            .retain(|u| !(u.peer == peer && u.key == key && u.version == version));
                    }
                    Msg::SyncTree(theirs) => {
                        let Ok(ranges) = s.store.tree.diff(&theirs) else {
                            return;
                        };
                        if ranges.is_empty() {
                            return;
                        }
                        let entries = keys_in(&s.setup.tokens, &ranges)
                            .map(|k| (k as u32, s.store.versions[k]))
                            .collect();
                        ctx.send(from, Msg::SyncDiff(entries));
                    }
                    Msg::SyncDiff(theirs) => {
                        let copied = s.merge(&theirs);
                        s.repaired(peer, copied);
                        let push: Vec<(u32, u64)> = theirs
                            .iter()
                            .filter(|&&(k, v)| s.store.versions[k as usize] > v)
                            .map(|&(k, _)| (k, s.store.versions[k as usize]))
                            .collect();
                        if !push.is_empty() {
                            ctx.send(from, Msg::SyncPush(push));
                        }
                    }
                    Msg::SyncPush(entries) => {
                        let copied = s.merge(&entries);
                        s.repaired(peer, copied);
                    }
                    _ => {}
                }
            }
        }
    }

    fn on_crash(&mut self) {
        if let TourNode::Service(s) = self {
            // A write the leader had queued survives on disk; everything else in memory is gone.
            if let Some((_, lease)) = s.held.take() {
                s.queued = Some(lease.token());
            }
            s.acquiring = None;
            s.renewing = None;
            s.leader = None;
            s.rejoining = true;
            s.unacked.clear();
            s.monitor = Monitor::new(s.setup.monitor.clone(), s.setup.phi.clone());
        }
    }
}

/// The keys whose tokens fall in any of `ranges`.
fn keys_in<'a>(tokens: &'a [u64], ranges: &'a [TokenRange]) -> impl Iterator<Item = usize> + 'a {
    tokens
        .iter()
        .enumerate()
        .filter(|(_, t)| ranges.iter().any(|r| r.contains(**t)))
        .map(|(k, _)| k)
}
