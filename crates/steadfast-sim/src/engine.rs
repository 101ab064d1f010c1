//! The discrete-event engine: an event queue in virtual time, nodes and faults.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashSet};
use std::fmt;
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::SmallRng;
use steadfast_core::{ConfigError, ManualClock, NodeId, Observer, Timestamp};

use crate::{Fault, Network, NodeClock};

/// A node's behaviour: reacts to start, messages, timers and crashes.
///
/// The simulator calls a process only through these methods, with a
/// [`Context`] to send messages, set timers, read the node's own (drifting)
/// clock and draw random numbers. Everything a process does is determined by
/// the seed, so a run can be replayed bit for bit.
///
/// # Examples
///
/// ```
/// use steadfast_core::NodeId;
/// use steadfast_sim::{Context, Process, Timer};
///
/// /// Answers every ping with a pong.
/// struct Echo;
///
/// impl Process for Echo {
///     type Message = &'static str;
///     fn on_message(&mut self, ctx: &mut Context<'_, &'static str>, from: NodeId, msg: &'static str) {
///         if msg == "ping" {
///             ctx.send(from, "pong");
///         }
///     }
/// }
/// ```
pub trait Process: Send {
    /// The messages nodes of this kind exchange.
    type Message: Send;

    /// Called once at the start of the run and again after every restart.
    fn on_start(&mut self, ctx: &mut Context<'_, Self::Message>) {
        let _ = ctx;
    }

    /// Called when a message from `from` is delivered.
    fn on_message(
        &mut self,
        ctx: &mut Context<'_, Self::Message>,
        from: NodeId,
        msg: Self::Message,
    );

    /// Called when a timer set with [`Context::set_timer`] fires.
    fn on_timer(&mut self, ctx: &mut Context<'_, Self::Message>, timer: Timer) {
        let _ = (ctx, timer);
    }

    /// Called when the node crashes; drop here whatever would not survive a
    /// real crash. The default keeps all state (as if it were persisted).
    fn on_crash(&mut self) {}
}

impl<M: Send> Process for Box<dyn Process<Message = M>> {
    type Message = M;

    fn on_start(&mut self, ctx: &mut Context<'_, M>) {
        (**self).on_start(ctx);
    }

    fn on_message(&mut self, ctx: &mut Context<'_, M>, from: NodeId, msg: M) {
        (**self).on_message(ctx, from, msg);
    }

    fn on_timer(&mut self, ctx: &mut Context<'_, M>, timer: Timer) {
        (**self).on_timer(ctx, timer);
    }

    fn on_crash(&mut self) {
        (**self).on_crash();
    }
}

/// A fired timer: its id and the tag given when it was set.
///
/// ```
/// use steadfast_sim::Timer;
///
/// fn handle(timer: Timer) -> &'static str {
///     match timer.tag {
///         0 => "heartbeat",
///         _ => "timeout",
///     }
/// }
/// # let _ = handle;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timer {
    /// The id [`Context::set_timer`] returned.
    pub id: TimerId,
    /// The tag passed to [`Context::set_timer`].
    pub tag: u64,
}

/// Identifies a timer, to cancel it.
///
/// ```
/// # use steadfast_sim::TimerId;
/// fn keep(_: TimerId) {}
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TimerId(u64);

/// What a process may do while it handles an event.
///
/// ```
/// # use std::time::Duration;
/// # use steadfast_core::{Clock, NodeId};
/// # use steadfast_sim::{Context, Process, Timer};
/// struct Ticker;
/// impl Process for Ticker {
///     type Message = ();
///     fn on_start(&mut self, ctx: &mut Context<'_, ()>) {
///         ctx.set_timer(Duration::from_secs(1), 0);
///     }
///     fn on_message(&mut self, _: &mut Context<'_, ()>, _: NodeId, _: ()) {}
///     fn on_timer(&mut self, ctx: &mut Context<'_, ()>, _: Timer) {
///         let _local_time = ctx.clock().now();
///         ctx.broadcast(|| ());
///         ctx.set_timer(Duration::from_secs(1), 0);
///     }
/// }
/// ```
pub struct Context<'a, M> {
    node: NodeId,
    nodes: usize,
    clock: &'a NodeClock,
    rng: &'a mut SmallRng,
    sends: &'a mut Vec<(NodeId, M)>,
    timers: &'a mut Vec<(Duration, TimerId, u64)>,
    cancelled: &'a mut HashSet<TimerId>,
    next_timer: &'a mut u64,
}

impl<M> Context<'_, M> {
    /// This node's id.
    #[must_use]
    pub fn node(&self) -> NodeId {
        self.node
    }

    /// How many nodes the simulation has (ids `0..n`).
    #[must_use]
    pub fn node_count(&self) -> usize {
        self.nodes
    }

    /// This node's local clock (drifting, possibly jumped). Clone it into any
    /// steadfast component the process owns.
    #[must_use]
    pub fn clock(&self) -> &NodeClock {
        self.clock
    }

    /// The run's random number generator (seeded; deterministic).
    pub fn rng(&mut self) -> &mut SmallRng {
        self.rng
    }

    /// Sends `msg` to `to` through the network model. Sending to oneself
    /// also goes through the network.
    pub fn send(&mut self, to: NodeId, msg: M) {
        self.sends.push((to, msg));
    }

    /// Sends a message made by `make` to every other node.
    pub fn broadcast(&mut self, mut make: impl FnMut() -> M) {
        for i in 0..self.nodes as u64 {
            if i != self.node.get() {
                self.sends.push((NodeId::new(i), make()));
            }
        }
    }

    /// Fires [`Process::on_timer`] after `after` of this node's *local* time,
    /// with `tag`. Returns the id to cancel it.
    pub fn set_timer(&mut self, after: Duration, tag: u64) -> TimerId {
        let id = TimerId(*self.next_timer);
        *self.next_timer += 1;
        self.timers.push((after, id, tag));
        id
    }

    /// Cancels a timer that has not fired yet (no effect otherwise).
    pub fn cancel_timer(&mut self, id: TimerId) {
        self.cancelled.insert(id);
    }
}

impl<M> fmt::Debug for Context<'_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("node", &self.node)
            .field("clock", self.clock)
            .finish_non_exhaustive()
    }
}

/// Why the network did not deliver a message.
///
/// ```
/// use steadfast_sim::{DropReason, SimEvent};
///
/// fn is_partition_drop(event: &SimEvent) -> bool {
///     matches!(event, SimEvent::Dropped { reason: DropReason::Partition, .. })
/// }
/// # let _ = is_partition_drop;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DropReason {
    /// The loss model dropped it.
    Loss,
    /// Sender and receiver were on different sides of a partition at delivery.
    Partition,
    /// The receiver was crashed at delivery.
    ReceiverDown,
}

/// What happened in the simulation, for observers (a narrated timeline, a trace).
///
/// ```
/// use std::time::Duration;
/// use steadfast_core::{NodeId, Recorder};
/// use steadfast_sim::{Context, Fault, Process, SimConfig, SimEvent, Simulation};
///
/// struct Idle;
/// impl Process for Idle {
///     type Message = ();
///     fn on_message(&mut self, _: &mut Context<'_, ()>, _: NodeId, _: ()) {}
/// }
///
/// let recorder = Recorder::new();
/// let mut sim = Simulation::with_observer(SimConfig::builder(2).build().unwrap(), |_| Idle, recorder.clone());
/// sim.schedule(Duration::from_secs(1), Fault::Heal);
/// sim.run_for(Duration::from_secs(2));
/// assert!(matches!(recorder.events()[0], SimEvent::Fault { fault: Fault::Heal, .. }));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SimEvent {
    /// A message reached its receiver.
    Delivered {
        /// True time of delivery.
        at: Timestamp,
        /// Sender.
        from: NodeId,
        /// Receiver.
        to: NodeId,
    },
    /// A message was lost.
    Dropped {
        /// True time the loss took effect.
        at: Timestamp,
        /// Sender.
        from: NodeId,
        /// Intended receiver.
        to: NodeId,
        /// Why.
        reason: DropReason,
    },
    /// A timer fired.
    TimerFired {
        /// True time.
        at: Timestamp,
        /// The node.
        node: NodeId,
        /// The timer's tag.
        tag: u64,
    },
    /// A scheduled fault took effect.
    Fault {
        /// True time.
        at: Timestamp,
        /// The fault.
        fault: Fault,
    },
}

/// Counters of a run.
///
/// ```
/// use std::time::Duration;
/// use steadfast_core::NodeId;
/// use steadfast_sim::{Context, Process, SimConfig, Simulation};
///
/// struct Hello;
/// impl Process for Hello {
///     type Message = ();
///     fn on_start(&mut self, ctx: &mut Context<'_, ()>) {
///         ctx.broadcast(|| ());
///     }
///     fn on_message(&mut self, _: &mut Context<'_, ()>, _: NodeId, _: ()) {}
/// }
///
/// let mut sim = Simulation::new(SimConfig::builder(3).build().unwrap(), |_| Hello);
/// sim.run_for(Duration::from_secs(1));
/// let stats = sim.stats();
/// assert_eq!((stats.sent, stats.delivered), (6, 6));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SimStats {
    /// Events taken off the queue (deliveries, timers, faults, deferrals).
    pub events: u64,
    /// Messages handed to the network.
    pub sent: u64,
    /// Messages delivered to a running process.
    pub delivered: u64,
    /// Messages dropped by the loss model.
    pub lost: u64,
    /// Messages dropped by a partition.
    pub partitioned: u64,
    /// Messages that found their receiver crashed.
    pub to_down_node: u64,
    /// Timers fired.
    pub timers: u64,
    /// Faults applied.
    pub faults: u64,
}

enum Payload<M> {
    Deliver {
        from: NodeId,
        to: NodeId,
        msg: M,
    },
    Timer {
        node: NodeId,
        incarnation: u32,
        timer: Timer,
    },
    Fault(Fault),
    Start {
        node: NodeId,
        incarnation: u32,
    },
}

struct Scheduled<M> {
    at: Timestamp,
    seq: u64,
    payload: Payload<M>,
}

impl<M> PartialEq for Scheduled<M> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl<M> Eq for Scheduled<M> {}
impl<M> PartialOrd for Scheduled<M> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<M> Ord for Scheduled<M> {
    // Reversed: BinaryHeap is a max-heap and the earliest event must come first;
    // the sequence number breaks ties in scheduling order, for determinism.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

struct Slot<P> {
    process: P,
    clock: NodeClock,
    up: bool,
    incarnation: u32,
    paused_until: Timestamp,
    side: u32,
}

/// Settings of a simulation, validated by [`SimConfigBuilder::build`].
///
/// ```
/// use steadfast_sim::SimConfig;
///
/// let config = SimConfig::builder(5).seed(42).drift(vec![1.0, 1.0001, 0.9999, 1.0, 1.0]).build().unwrap();
/// assert_eq!(config.nodes(), 5);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    nodes: usize,
    seed: u64,
    network: Network,
    drift: Vec<f64>,
}

impl SimConfig {
    /// A builder for `nodes` nodes (ids `0..nodes`), seed 0, [`Network::lan`], no drift.
    pub fn builder(nodes: usize) -> SimConfigBuilder {
        SimConfigBuilder {
            config: SimConfig {
                nodes,
                seed: 0,
                network: Network::lan(),
                drift: Vec::new(),
            },
        }
    }

    /// How many nodes.
    #[must_use]
    pub fn nodes(&self) -> usize {
        self.nodes
    }

    /// The seed.
    #[must_use]
    pub fn seed(&self) -> u64 {
        self.seed
    }
}

/// Builds a [`SimConfig`].
///
/// ```
/// use steadfast_sim::SimConfig;
///
/// let err = SimConfig::builder(0).build().unwrap_err();
/// assert_eq!(err.to_string(), "sim.nodes must be at least 1, got 0");
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct SimConfigBuilder {
    config: SimConfig,
}

impl SimConfigBuilder {
    /// The seed that determines every random draw of the run.
    pub fn seed(mut self, seed: u64) -> Self {
        self.config.seed = seed;
        self
    }

    /// The network model at the start of the run.
    pub fn network(mut self, network: Network) -> Self {
        self.config.network = network;
        self
    }

    /// Each node's clock rate (local seconds per true second), one per node.
    /// Empty means every clock runs true.
    pub fn drift(mut self, rates: Vec<f64>) -> Self {
        self.config.drift = rates;
        self
    }

    /// Validates and returns the configuration.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] if there are no nodes, if the drift list's length is
    /// neither 0 nor the node count, or a rate is not finite and positive.
    pub fn build(self) -> Result<SimConfig, ConfigError> {
        let c = self.config;
        ConfigError::ensure(c.nodes >= 1, "sim.nodes", c.nodes, "at least 1")?;
        ConfigError::ensure(
            u32::try_from(c.nodes).is_ok(),
            "sim.nodes",
            c.nodes,
            "at most 2^32 - 1",
        )?;
        ConfigError::ensure(
            c.drift.is_empty() || c.drift.len() == c.nodes,
            "sim.drift.len",
            c.drift.len(),
            format!("0 or the node count ({})", c.nodes),
        )?;
        for (i, rate) in c.drift.iter().enumerate() {
            ConfigError::ensure(
                rate.is_finite() && *rate > 0.0,
                format!("sim.drift[{i}]"),
                rate,
                "finite and > 0",
            )?;
        }
        Ok(c)
    }
}

/// A deterministic discrete-event simulation of `P` processes.
///
/// True time is virtual: it jumps from event to event, and a shared
/// [`ManualClock`] (see [`Simulation::true_clock`]) follows it. Each node
/// reads its own [`NodeClock`], which may drift and jump. One seed fixes every
/// latency, loss and random draw, so the same configuration and seed replay
/// the same run bit for bit ([`Simulation::trace_hash`] proves it).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use steadfast_core::NodeId;
/// use steadfast_sim::{Context, Process, SimConfig, Simulation};
///
/// struct PingPong { received: u32 }
///
/// impl Process for PingPong {
///     type Message = u32;
///     fn on_start(&mut self, ctx: &mut Context<'_, u32>) {
///         if ctx.node() == NodeId::new(0) {
///             ctx.send(NodeId::new(1), 0);
///         }
///     }
///     fn on_message(&mut self, ctx: &mut Context<'_, u32>, from: NodeId, n: u32) {
///         self.received += 1;
///         if n < 9 {
///             ctx.send(from, n + 1);
///         }
///     }
/// }
///
/// let config = SimConfig::builder(2).seed(1).build().unwrap();
/// let mut sim = Simulation::new(config, |_| PingPong { received: 0 });
/// sim.run_for(Duration::from_secs(1));
/// assert_eq!(sim.stats().delivered, 10);
/// assert_eq!(sim.process(NodeId::new(1)).received, 5);
/// ```
pub struct Simulation<P: Process, O = ()> {
    now: Timestamp,
    truth: ManualClock,
    queue: BinaryHeap<Scheduled<P::Message>>,
    seq: u64,
    slots: Vec<Slot<P>>,
    network: Network,
    link_bad: Vec<bool>,
    rng: SmallRng,
    stats: SimStats,
    trace: u64,
    observer: O,
    sends: Vec<(NodeId, P::Message)>,
    timers: Vec<(Duration, TimerId, u64)>,
    cancelled: HashSet<TimerId>,
    next_timer: u64,
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv(mut hash: u64, words: &[u64]) -> u64 {
    for word in words {
        for byte in word.to_le_bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(FNV_PRIME);
        }
    }
    hash
}

impl<P: Process> Simulation<P> {
    /// A simulation whose node `i` runs `make(NodeId(i))`; every node starts at time zero.
    #[must_use]
    pub fn new(config: SimConfig, make: impl FnMut(NodeId) -> P) -> Simulation<P> {
        Simulation::with_observer(config, make, ())
    }
}

impl<P: Process, O: Observer<SimEvent>> Simulation<P, O> {
    /// Like [`Simulation::new`], reporting every [`SimEvent`] to `observer`.
    ///
    /// ```
    /// use steadfast_core::{NodeId, Recorder};
    /// use steadfast_sim::{Context, Process, SimConfig, SimEvent, Simulation};
    ///
    /// struct Quiet;
    /// impl Process for Quiet {
    ///     type Message = ();
    ///     fn on_message(&mut self, _: &mut Context<'_, ()>, _: NodeId, _: ()) {}
    /// }
    ///
    /// let recorder = Recorder::new();
    /// let mut sim = Simulation::with_observer(SimConfig::builder(1).build().unwrap(), |_| Quiet, recorder.clone());
    /// sim.run_for(std::time::Duration::from_secs(1));
    /// assert!(recorder.is_empty());
    /// ```
    #[must_use]
    pub fn with_observer(
        config: SimConfig,
        mut make: impl FnMut(NodeId) -> P,
        observer: O,
    ) -> Simulation<P, O> {
        let truth = ManualClock::new();
        let slots = (0..config.nodes)
            .map(|i| {
                let rate = config.drift.get(i).copied().unwrap_or(1.0);
                Slot {
                    process: make(NodeId::new(i as u64)),
                    clock: NodeClock::new(truth.clone(), rate),
                    up: true,
                    incarnation: 0,
                    paused_until: Timestamp::ZERO,
                    side: 0,
                }
            })
            .collect();
        let mut sim = Simulation {
            now: Timestamp::ZERO,
            truth,
            queue: BinaryHeap::new(),
            seq: 0,
            slots,
            network: config.network,
            link_bad: vec![false; config.nodes * config.nodes],
            rng: SmallRng::seed_from_u64(config.seed),
            stats: SimStats::default(),
            trace: FNV_OFFSET,
            observer,
            sends: Vec::new(),
            timers: Vec::new(),
            cancelled: HashSet::new(),
            next_timer: 0,
        };
        for i in 0..config.nodes {
            sim.push(
                Timestamp::ZERO,
                Payload::Start {
                    node: NodeId::new(i as u64),
                    incarnation: 0,
                },
            );
        }
        sim
    }

    fn push(&mut self, at: Timestamp, payload: Payload<P::Message>) {
        self.seq += 1;
        self.queue.push(Scheduled {
            at,
            seq: self.seq,
            payload,
        });
    }

    /// Schedules `fault` at `at` after the start of the run.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use steadfast_core::NodeId;
    /// # use steadfast_sim::{Context, Fault, Process, SimConfig, Simulation};
    /// # struct Quiet;
    /// # impl Process for Quiet { type Message = (); fn on_message(&mut self, _: &mut Context<'_, ()>, _: NodeId, _: ()) {} }
    /// let mut sim = Simulation::new(SimConfig::builder(3).build().unwrap(), |_| Quiet);
    /// sim.schedule(Duration::from_secs(5), Fault::Crash(NodeId::new(2)));
    /// sim.run_for(Duration::from_secs(10));
    /// assert!(!sim.is_up(NodeId::new(2)));
    /// ```
    pub fn schedule(&mut self, at: Duration, fault: Fault) {
        self.push(Timestamp::ZERO + at, Payload::Fault(fault));
    }

    /// The current true time.
    #[must_use]
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// A clock that follows true time (clones share it).
    #[must_use]
    pub fn true_clock(&self) -> &ManualClock {
        &self.truth
    }

    /// The counters so far.
    #[must_use]
    pub fn stats(&self) -> &SimStats {
        &self.stats
    }

    /// A hash of every event processed so far, in order: equal runs give equal hashes.
    #[must_use]
    pub fn trace_hash(&self) -> u64 {
        self.trace
    }

    /// The process of `node`.
    ///
    /// # Panics
    ///
    /// If `node` is not a node of this simulation.
    #[must_use]
    pub fn process(&self, node: NodeId) -> &P {
        &self.slots[node.get() as usize].process
    }

    /// Every process, by node id.
    pub fn processes(&self) -> impl Iterator<Item = (NodeId, &P)> {
        self.slots
            .iter()
            .enumerate()
            .map(|(i, s)| (NodeId::new(i as u64), &s.process))
    }

    /// The local clock of `node`.
    ///
    /// # Panics
    ///
    /// If `node` is not a node of this simulation.
    #[must_use]
    pub fn clock(&self, node: NodeId) -> &NodeClock {
        &self.slots[node.get() as usize].clock
    }

    /// Whether `node` is running (not crashed).
    ///
    /// # Panics
    ///
    /// If `node` is not a node of this simulation.
    #[must_use]
    pub fn is_up(&self, node: NodeId) -> bool {
        self.slots[node.get() as usize].up
    }

    /// When the next queued event is due, in true time; `None` if the queue is empty.
    ///
    /// Lets a driver step event by event up to a boundary (to take a sample,
    /// or schedule a fault that depends on the state just before it) without
    /// running past it.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use steadfast_core::{NodeId, Timestamp};
    /// # use steadfast_sim::{Context, Fault, Process, SimConfig, Simulation};
    /// # struct Quiet;
    /// # impl Process for Quiet { type Message = (); fn on_message(&mut self, _: &mut Context<'_, ()>, _: NodeId, _: ()) {} }
    /// let mut sim = Simulation::new(SimConfig::builder(1).build().unwrap(), |_| Quiet);
    /// sim.schedule(Duration::from_secs(3), Fault::Heal);
    /// sim.step(); // the node's start
    /// assert_eq!(sim.next_event_at(), Some(Timestamp::from_secs(3)));
    /// sim.step();
    /// assert_eq!(sim.next_event_at(), None);
    /// ```
    #[must_use]
    pub fn next_event_at(&self) -> Option<Timestamp> {
        self.queue.peek().map(|next| next.at)
    }

    /// The observer.
    #[must_use]
    pub fn observer(&self) -> &O {
        &self.observer
    }

    /// Runs events until the queue is empty or the next one lies after
    /// `now + d`; true time then stands at `now + d`.
    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        self.run_until(end);
    }

    /// Runs events until the queue is empty or the next one lies after `end`;
    /// true time then stands at `end` (or later, if it already was).
    pub fn run_until(&mut self, end: Timestamp) {
        while self.queue.peek().is_some_and(|next| next.at <= end) {
            self.step();
        }
        if end > self.now {
            self.now = end;
            self.truth.advance_to(end);
        }
    }

    /// Processes the next event, if any; returns whether there was one.
    pub fn step(&mut self) -> bool {
        let Some(Scheduled { at, payload, .. }) = self.queue.pop() else {
            return false;
        };
        if at > self.now {
            self.now = at;
            self.truth.advance_to(at);
        }
        self.stats.events += 1;
        match payload {
            Payload::Deliver { from, to, msg } => self.deliver(from, to, msg),
            Payload::Timer {
                node,
                incarnation,
                timer,
            } => self.fire(node, incarnation, timer),
            Payload::Fault(fault) => self.apply(fault),
            Payload::Start { node, incarnation } => {
                let slot = &self.slots[node.get() as usize];
                if slot.up && slot.incarnation == incarnation {
                    if slot.paused_until > self.now {
                        let resume = slot.paused_until;
                        self.push(resume, Payload::Start { node, incarnation });
                    } else {
                        self.trace = fnv(self.trace, &[self.now.as_nanos(), 4, node.get()]);
                        self.dispatch(node, |p, ctx| p.on_start(ctx));
                    }
                }
            }
        }
        true
    }

    fn deliver(&mut self, from: NodeId, to: NodeId, msg: P::Message) {
        let (up, side, paused_until) = {
            let slot = &self.slots[to.get() as usize];
            (slot.up, slot.side, slot.paused_until)
        };
        let reason = if !up {
            self.stats.to_down_node += 1;
            Some(DropReason::ReceiverDown)
        } else if self.slots[from.get() as usize].side != side {
            self.stats.partitioned += 1;
            Some(DropReason::Partition)
        } else {
            None
        };
        if let Some(reason) = reason {
            self.trace = fnv(self.trace, &[self.now.as_nanos(), 2, from.get(), to.get()]);
            self.observer.on_event(&SimEvent::Dropped {
                at: self.now,
                from,
                to,
                reason,
            });
            return;
        }
        if paused_until > self.now {
            self.push(paused_until, Payload::Deliver { from, to, msg });
            return;
        }
        self.stats.delivered += 1;
        self.trace = fnv(self.trace, &[self.now.as_nanos(), 1, from.get(), to.get()]);
        self.observer.on_event(&SimEvent::Delivered {
            at: self.now,
            from,
            to,
        });
        self.dispatch(to, |p, ctx| p.on_message(ctx, from, msg));
    }

    fn fire(&mut self, node: NodeId, incarnation: u32, timer: Timer) {
        let slot = &self.slots[node.get() as usize];
        if !slot.up || slot.incarnation != incarnation || self.cancelled.remove(&timer.id) {
            return;
        }
        if slot.paused_until > self.now {
            let resume = slot.paused_until;
            self.push(
                resume,
                Payload::Timer {
                    node,
                    incarnation,
                    timer,
                },
            );
            return;
        }
        self.stats.timers += 1;
        self.trace = fnv(self.trace, &[self.now.as_nanos(), 3, node.get(), timer.tag]);
        self.observer.on_event(&SimEvent::TimerFired {
            at: self.now,
            node,
            tag: timer.tag,
        });
        self.dispatch(node, |p, ctx| p.on_timer(ctx, timer));
    }

    fn apply(&mut self, fault: Fault) {
        self.stats.faults += 1;
        self.trace = fnv(self.trace, &[self.now.as_nanos(), 5, self.stats.faults]);
        match &fault {
            Fault::Crash(node) => {
                if let Some(slot) = self.slots.get_mut(node.get() as usize)
                    && slot.up
                {
                    slot.up = false;
                    slot.incarnation = slot.incarnation.wrapping_add(1);
                    slot.process.on_crash();
                }
            }
            Fault::Restart(node) => {
                if let Some(slot) = self.slots.get_mut(node.get() as usize)
                    && !slot.up
                {
                    slot.up = true;
                    slot.paused_until = Timestamp::ZERO;
                    let incarnation = slot.incarnation;
                    let now = self.now;
                    self.push(
                        now,
                        Payload::Start {
                            node: *node,
                            incarnation,
                        },
                    );
                }
            }
            Fault::Pause { node, duration } => {
                let until = self.now + *duration;
                if let Some(slot) = self.slots.get_mut(node.get() as usize) {
                    slot.paused_until = slot.paused_until.max(until);
                }
            }
            Fault::Partition(groups) => {
                let sides = groups.len() as u32 + 1;
                for slot in &mut self.slots {
                    slot.side = sides; // the side of everyone not listed
                }
                for (side, group) in groups.iter().enumerate() {
                    for node in group {
                        if let Some(slot) = self.slots.get_mut(node.get() as usize) {
                            slot.side = side as u32;
                        }
                    }
                }
            }
            Fault::Heal => {
                for slot in &mut self.slots {
                    slot.side = 0;
                }
            }
            Fault::ClockJump { node, nanos } => {
                if let Some(slot) = self.slots.get(node.get() as usize) {
                    slot.clock.jump(*nanos);
                }
            }
            Fault::Network(network) => self.network = network.clone(),
        }
        self.observer.on_event(&SimEvent::Fault {
            at: self.now,
            fault,
        });
    }

    /// Runs a handler of `node`'s process, then routes what it sent and set.
    fn dispatch(
        &mut self,
        node: NodeId,
        handler: impl FnOnce(&mut P, &mut Context<'_, P::Message>),
    ) {
        let nodes = self.slots.len();
        let slot = &mut self.slots[node.get() as usize];
        let mut ctx = Context {
            node,
            nodes,
            clock: &slot.clock,
            rng: &mut self.rng,
            sends: &mut self.sends,
            timers: &mut self.timers,
            cancelled: &mut self.cancelled,
            next_timer: &mut self.next_timer,
        };
        handler(&mut slot.process, &mut ctx);
        let incarnation = slot.incarnation;
        let clock = slot.clock.clone();

        let mut timers = std::mem::take(&mut self.timers);
        for (after, id, tag) in timers.drain(..) {
            let at = self.now + clock.to_true(after);
            self.push(
                at,
                Payload::Timer {
                    node,
                    incarnation,
                    timer: Timer { id, tag },
                },
            );
        }
        self.timers = timers;

        let mut sends = std::mem::take(&mut self.sends);
        for (to, msg) in sends.drain(..) {
            self.stats.sent += 1;
            let index = node.get() as usize * nodes + to.get() as usize;
            let Some(bad) = self.link_bad.get_mut(index) else {
                // A send to a node that does not exist goes nowhere.
                self.stats.lost += 1;
                continue;
            };
            if self.network.loss().drops(bad, &mut self.rng) {
                self.stats.lost += 1;
                self.trace = fnv(self.trace, &[self.now.as_nanos(), 6, node.get(), to.get()]);
                self.observer.on_event(&SimEvent::Dropped {
                    at: self.now,
                    from: node,
                    to,
                    reason: DropReason::Loss,
                });
                continue;
            }
            let delay = self.network.latency().sample(&mut self.rng);
            let at = self.now + delay;
            self.push(
                at,
                Payload::Deliver {
                    from: node,
                    to,
                    msg,
                },
            );
        }
        self.sends = sends;
    }
}

impl<P: Process, O> fmt::Debug for Simulation<P, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Simulation")
            .field("now", &self.now)
            .field("nodes", &self.slots.len())
            .field("queued", &self.queue.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}
