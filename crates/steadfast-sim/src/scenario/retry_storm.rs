//! `retry-storm`: clients calling a server that fails for a while, with plain
//! retries, retries under a budget, and a budget plus a circuit breaker.
//!
//! Everything runs on the simulator's engine. Node 0 is the server; every
//! other node is a client sending requests at a fixed rate (each with a
//! seeded phase) over the modelled network. The server works through one
//! FIFO queue at a finite capacity (attempts per second), so its queueing
//! delay grows with the load: an overload makes calls slow, not only
//! failing. Its queue has a limit, past which it refuses attempts at once.
//! During the failure window every attempt it completes fails, after the
//! same work as a success.
//!
//! Each client request carries a steadfast-guard [`Deadline`]; each attempt
//! gets a per-attempt timeout, tightened so it never outlives the request's
//! deadline. A failed or timed-out attempt is retried after a
//! [`Backoff`] delay (exponential, full jitter, seeded) while attempts and
//! the deadline allow. The budgeted policy asks a [`PercentBudget`] before
//! each retry; the third policy also asks a [`CircuitBreaker`] before each
//! attempt and records every outcome, timeouts included, on its permit.
//! Budgets and breakers read the client's own node clock.
//!
//! Why this shows a storm: while the server fails, plain retries multiply
//! the load; if the multiplied load exceeds the capacity the queue grows,
//! and once its delay exceeds the timeout every attempt times out. The
//! server then spends its capacity on attempts whose callers have already
//! given up, the timeouts cause more retries, and the overload outlives the
//! failure (a metastable failure). A budget caps retries to a share of the
//! requests, so the load stays below the capacity; a breaker sheds load
//! while calls fail.
//!
//! Measured per policy: load amplification (attempts the server received
//! per client request, overall, during the failure window and after it),
//! goodput (successful client requests per second), time to recover (from
//! the end of the failure until the start of the first one-second bin from
//! which every bin's client success rate stays at or above the recovery
//! threshold), timeouts, attempts the server completed for callers that had
//! already given up on them (wasted work), attempts refused by the full
//! queue or by the breaker, and the longest queueing delay.
//!
//! Measured with the defaults over seeds 1 to 10: plain retries sent 2.84
//! attempts per request during the failure and 4.18 after it, and never
//! recovered within the run (goodput 66.7/s); the budget sent 1.40 and
//! 1.00, recovered at once (166.6/s); budget and breaker sent 0.49 and
//! 0.94, recovered after 1.0 s, the breaker's open wait (160.5/s). With a
//! 3 s timeout instead of 1 s, the queue's delay never outgrew the timeout
//! and plain retries recovered at once too.
//!
//! ```
//! use std::time::Duration;
//! use steadfast_sim::scenario::retry_storm::{self, RetryStormConfig};
//!
//! let config = RetryStormConfig::builder()
//!     .clients(5)
//!     .rate_per_client(20.0)
//!     .capacity_per_sec(150.0)
//!     .duration(Duration::from_secs(12))
//!     .failure(Duration::from_secs(3), Duration::from_secs(3))
//!     .build()
//!     .unwrap();
//! let result = retry_storm::run(&config, 1);
//! let plain = &result.policies[0];
//! let budget = &result.policies[1];
//! assert!(budget.window_amplification < plain.window_amplification);
//! // Plain retries keep the server overloaded after the failure ends.
//! assert!(plain.recovery.is_none() && budget.recovery.is_some());
//! ```

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use rand::Rng;
use steadfast_core::{Clock, ConfigError, NodeId, Timestamp};
use steadfast_guard::backoff::{Backoff, Jitter};
use steadfast_guard::breaker::{BreakerConfig, CircuitBreaker, OwnedPermit};
use steadfast_guard::budget::{PercentBudget, PercentBudgetConfig, RetryBudget, RetryKind};
use steadfast_guard::timeout::Deadline;

use crate::{
    Context, Latency, LinePlot, Loss, Network, NodeClock, Process, ScenarioReport, SimConfig,
    Simulation, Summary, Table, Timer, TimerId, run_seeds_with_progress,
};

const BIN_NANOS: u64 = 1_000_000_000;
const SERVER: NodeId = NodeId::new(0);

/// The client policy being measured.
///
/// ```
/// use steadfast_sim::scenario::retry_storm::Policy;
/// assert_eq!(Policy::ALL.len(), 3);
/// assert_eq!(Policy::Budget.as_str(), "budget");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Policy {
    /// Retries with backoff up to the attempt limit and the deadline.
    PlainRetries,
    /// Retries that each need a budget's permission.
    Budget,
    /// A budget plus a circuit breaker asked before every attempt.
    BudgetAndBreaker,
}

impl Policy {
    /// Every policy, in report order.
    pub const ALL: [Policy; 3] = [
        Policy::PlainRetries,
        Policy::Budget,
        Policy::BudgetAndBreaker,
    ];

    /// A short name for tables and plots.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::PlainRetries => "plain retries",
            Policy::Budget => "budget",
            Policy::BudgetAndBreaker => "budget + breaker",
        }
    }
}

/// A validated scenario configuration; see [`RetryStormConfig::builder`].
///
/// ```
/// use std::time::Duration;
/// use steadfast_sim::scenario::retry_storm::RetryStormConfig;
///
/// let config = RetryStormConfig::builder().timeout(Duration::from_millis(500)).build().unwrap();
/// assert_eq!(config.timeout(), Duration::from_millis(500));
/// assert_eq!(config.clients(), 20);
/// ```
#[derive(Debug, Clone)]
pub struct RetryStormConfig {
    clients: usize,
    rate_per_client: f64,
    duration: Duration,
    failure_start: Duration,
    failure_length: Duration,
    capacity_per_sec: f64,
    queue_limit: usize,
    timeout: Duration,
    deadline: Duration,
    max_attempts: u32,
    initial_backoff: Duration,
    budget: PercentBudgetConfig,
    breaker: BreakerConfig,
    recovery_threshold: f64,
    network: Network,
}

/// Builds a [`RetryStormConfig`].
///
/// ```
/// use steadfast_sim::scenario::retry_storm::RetryStormConfig;
/// let err = RetryStormConfig::builder().capacity_per_sec(0.0).build().unwrap_err();
/// assert_eq!(err.field(), "capacity_per_sec");
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build()` is called"]
pub struct RetryStormConfigBuilder {
    config: RetryStormConfig,
}

impl RetryStormConfig {
    /// Defaults: 20 clients at 10 requests/s for 30 s over a LAN (lognormal
    /// latency, median 1 ms); the server fails from 10 s for 5 s, completes
    /// 400 attempts/s and queues at most 4 000; a 1 s timeout per attempt and
    /// a 5 s deadline per request, 4 attempts, 10 ms initial backoff; a budget
    /// of 10% plus 1 retry/s per client (the default floor of 10 retries/s
    /// would allow every retry at this rate) and a breaker opening at 50%
    /// failures over 20 calls (at least 10) for 1 s with 3 half-open trials;
    /// recovered at 99% success.
    ///
    /// With these numbers plain retries send 4 attempts per request while the
    /// server fails (800/s against a capacity of 400/s), which is enough to
    /// fill the queue past the timeout and keep it full after the failure.
    pub fn builder() -> RetryStormConfigBuilder {
        RetryStormConfigBuilder {
            config: RetryStormConfig {
                clients: 20,
                rate_per_client: 10.0,
                duration: Duration::from_secs(30),
                failure_start: Duration::from_secs(10),
                failure_length: Duration::from_secs(5),
                capacity_per_sec: 400.0,
                queue_limit: 4_000,
                timeout: Duration::from_secs(1),
                deadline: Duration::from_secs(5),
                max_attempts: 4,
                initial_backoff: Duration::from_millis(10),
                budget: PercentBudget::builder()
                    .min_retries_per_sec(1)
                    .percent_can_retry(0.1)
                    .build()
                    .expect("valid budget"),
                breaker: BreakerConfig::builder()
                    .count_window(20)
                    .minimum_calls(10)
                    .wait_in_open(Duration::from_secs(1))
                    .half_open_trials(3)
                    .build()
                    .expect("valid breaker"),
                recovery_threshold: 0.99,
                network: Network::new(
                    Latency::LogNormal {
                        median: Duration::from_millis(1),
                        sigma: 0.5,
                    },
                    Loss::None,
                )
                .expect("valid network"),
            },
        }
    }

    /// Clients.
    #[must_use]
    pub fn clients(&self) -> usize {
        self.clients
    }

    /// Simulated time.
    #[must_use]
    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// Attempts per second the server completes.
    #[must_use]
    pub fn capacity_per_sec(&self) -> f64 {
        self.capacity_per_sec
    }

    /// The per-attempt timeout.
    #[must_use]
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The deadline of each client request, across its attempts.
    #[must_use]
    pub fn deadline(&self) -> Duration {
        self.deadline
    }
}

impl RetryStormConfigBuilder {
    /// Number of clients (1 ..= 10 000).
    pub fn clients(mut self, n: usize) -> Self {
        self.config.clients = n;
        self
    }
    /// Requests per second each client sends (finite, in (0, 10 000]).
    pub fn rate_per_client(mut self, rate: f64) -> Self {
        self.config.rate_per_client = rate;
        self
    }
    /// Simulated time (1 s ..= 1 hour).
    pub fn duration(mut self, d: Duration) -> Self {
        self.config.duration = d;
        self
    }
    /// The server fails every attempt it completes from `start` for `length`
    /// (non-empty, ending within the duration).
    pub fn failure(mut self, start: Duration, length: Duration) -> Self {
        self.config.failure_start = start;
        self.config.failure_length = length;
        self
    }
    /// Attempts per second the server completes (finite, in (0, 1 000 000]);
    /// each attempt takes `1 / capacity` of the server's time, in arrival order.
    pub fn capacity_per_sec(mut self, c: f64) -> Self {
        self.config.capacity_per_sec = c;
        self
    }
    /// Attempts the server queues at most (1 ..= 10 000 000); it refuses
    /// attempts that arrive while the queue is full.
    pub fn queue_limit(mut self, n: usize) -> Self {
        self.config.queue_limit = n;
        self
    }
    /// How long a client waits for one attempt's answer (1 ms ..= 1 hour).
    pub fn timeout(mut self, d: Duration) -> Self {
        self.config.timeout = d;
        self
    }
    /// How long a client request may take across all its attempts (at least
    /// the timeout, at most 1 hour).
    pub fn deadline(mut self, d: Duration) -> Self {
        self.config.deadline = d;
        self
    }
    /// Attempts per request, first included (1 ..= 100).
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.config.max_attempts = n;
        self
    }
    /// First backoff delay (1 µs ..= 60 s); doubles per retry.
    pub fn initial_backoff(mut self, d: Duration) -> Self {
        self.config.initial_backoff = d;
        self
    }
    /// The budget used by the budgeted policies.
    pub fn budget(mut self, b: PercentBudgetConfig) -> Self {
        self.config.budget = b;
        self
    }
    /// The breaker used by the third policy.
    pub fn breaker(mut self, b: BreakerConfig) -> Self {
        self.config.breaker = b;
        self
    }
    /// Success rate of a one-second bin that counts as recovered (in (0, 1]).
    pub fn recovery_threshold(mut self, t: f64) -> Self {
        self.config.recovery_threshold = t;
        self
    }
    /// The network between clients and server.
    pub fn network(mut self, network: Network) -> Self {
        self.config.network = network;
        self
    }

    /// Validates the configuration.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first setting out of range.
    pub fn build(self) -> Result<RetryStormConfig, ConfigError> {
        let c = self.config;
        ConfigError::ensure(
            (1..=10_000).contains(&c.clients),
            "clients",
            c.clients,
            "between 1 and 10000",
        )?;
        ConfigError::ensure(
            c.rate_per_client.is_finite()
                && c.rate_per_client > 0.0
                && c.rate_per_client <= 10_000.0,
            "rate_per_client",
            c.rate_per_client,
            "finite and in (0, 10000]",
        )?;
        ConfigError::ensure(
            c.duration >= Duration::from_secs(1) && c.duration <= Duration::from_secs(3600),
            "duration",
            format_args!("{:?}", c.duration),
            "between 1s and 1h",
        )?;
        ConfigError::ensure(
            !c.failure_length.is_zero()
                && c.failure_start
                    .checked_add(c.failure_length)
                    .is_some_and(|end| end <= c.duration),
            "failure",
            format_args!("{:?} for {:?}", c.failure_start, c.failure_length),
            "non-empty and ending within the duration",
        )?;
        ConfigError::ensure(
            c.capacity_per_sec.is_finite()
                && c.capacity_per_sec > 0.0
                && c.capacity_per_sec <= 1_000_000.0,
            "capacity_per_sec",
            c.capacity_per_sec,
            "finite and in (0, 1000000]",
        )?;
        ConfigError::ensure(
            (1..=10_000_000).contains(&c.queue_limit),
            "queue_limit",
            c.queue_limit,
            "between 1 and 10000000",
        )?;
        ConfigError::ensure(
            c.timeout >= Duration::from_millis(1) && c.timeout <= Duration::from_secs(3600),
            "timeout",
            format_args!("{:?}", c.timeout),
            "between 1ms and 1h",
        )?;
        ConfigError::ensure(
            c.deadline >= c.timeout && c.deadline <= Duration::from_secs(3600),
            "deadline",
            format_args!("{:?}", c.deadline),
            format!("at least the timeout ({:?}) and at most 1h", c.timeout),
        )?;
        ConfigError::ensure(
            (1..=100).contains(&c.max_attempts),
            "max_attempts",
            c.max_attempts,
            "between 1 and 100",
        )?;
        ConfigError::ensure(
            c.initial_backoff >= Duration::from_micros(1)
                && c.initial_backoff <= Duration::from_secs(60),
            "initial_backoff",
            format_args!("{:?}", c.initial_backoff),
            "between 1µs and 60s",
        )?;
        ConfigError::ensure(
            c.recovery_threshold > 0.0 && c.recovery_threshold <= 1.0,
            "recovery_threshold",
            c.recovery_threshold,
            "in (0, 1]",
        )?;
        let total = c.clients as f64 * c.rate_per_client * c.duration.as_secs_f64();
        ConfigError::ensure(
            total <= 10_000_000.0,
            "clients * rate_per_client * duration",
            total,
            "at most 10000000 requests",
        )?;
        Ok(c)
    }
}

/// What one policy did in one run.
///
/// ```
/// use std::time::Duration;
/// use steadfast_sim::scenario::retry_storm::{self, RetryStormConfig};
/// let config = RetryStormConfig::builder().clients(2).duration(Duration::from_secs(3))
///     .failure(Duration::from_secs(1), Duration::from_secs(1)).build().unwrap();
/// let plain = &retry_storm::run(&config, 1).policies[0];
/// assert!(plain.server_requests >= plain.successes);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PolicyResult {
    /// The policy.
    pub policy: Policy,
    /// Requests the clients made.
    pub client_requests: u64,
    /// Attempts the server received.
    pub server_requests: u64,
    /// Client requests that succeeded.
    pub successes: u64,
    /// `server_requests / client_requests` over the run.
    pub amplification: f64,
    /// Server attempts received during the failure window per client request
    /// made in it.
    pub window_amplification: f64,
    /// Server attempts received after the failure window per client request
    /// made after it: near 1 once recovered, higher while a storm lasts.
    pub after_amplification: f64,
    /// Successful client requests per second.
    pub goodput: f64,
    /// From the end of the failure to the start of the first one-second bin
    /// from which every bin's success rate stays at or above the threshold;
    /// `None` if the run ended before that.
    pub recovery: Option<Duration>,
    /// Attempts that timed out at the client.
    pub timeouts: u64,
    /// Answers that reached a client after it had stopped waiting for them:
    /// server work wasted.
    pub wasted: u64,
    /// Attempts the server refused because its queue was full.
    pub refused_by_server: u64,
    /// Attempts the breaker refused (the request then fails at once).
    pub refused_by_breaker: u64,
    /// The longest an attempt waited in the server's queue.
    pub peak_queue_delay: Duration,
    /// Attempts the server received per second, one entry per second.
    pub load: Vec<u64>,
    /// Client requests that succeeded per second, one entry per second.
    pub goodput_per_sec: Vec<u64>,
}

/// One run of every policy.
///
/// ```
/// use std::time::Duration;
/// use steadfast_sim::scenario::retry_storm::{self, RetryStormConfig};
/// let config = RetryStormConfig::builder().clients(2).duration(Duration::from_secs(3))
///     .failure(Duration::from_secs(1), Duration::from_secs(1)).build().unwrap();
/// let result = retry_storm::run(&config, 4);
/// assert_eq!((result.seed, result.policies.len()), (4, 3));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RetryStormResult {
    /// The seed.
    pub seed: u64,
    /// One entry per [`Policy::ALL`], in that order.
    pub policies: Vec<PolicyResult>,
}

#[derive(Debug, Clone, Copy)]
enum Msg {
    Request { id: u64, attempt: u32 },
    Response { id: u64, attempt: u32, ok: bool },
}

/// The time windows and bins every node agrees on. Every clock in this
/// scenario runs at the true rate, so local time is true time.
#[derive(Debug, Clone, Copy)]
struct Frame {
    fail_from: Timestamp,
    fail_to: Timestamp,
    bins: usize,
}

impl Frame {
    fn bin(&self, at: Timestamp) -> usize {
        usize::try_from(at.as_nanos() / BIN_NANOS)
            .unwrap_or(usize::MAX)
            .min(self.bins - 1)
    }

    fn failing(&self, at: Timestamp) -> bool {
        (self.fail_from..self.fail_to).contains(&at)
    }
}

struct Server {
    frame: Frame,
    service: Duration,
    queue_limit: usize,
    /// Attempts waiting or in service, in completion order: sender, request, attempt, arrival.
    queue: VecDeque<(NodeId, u64, u32, Timestamp)>,
    free_at: Timestamp,
    received: u64,
    received_in_window: u64,
    received_after_window: u64,
    refused: u64,
    peak_delay: Duration,
    load: Vec<u64>,
}

impl Server {
    fn on_request(&mut self, ctx: &mut Context<'_, Msg>, from: NodeId, id: u64, attempt: u32) {
        let now = ctx.clock().now();
        self.received += 1;
        self.load[self.frame.bin(now)] += 1;
        if self.frame.failing(now) {
            self.received_in_window += 1;
        } else if now >= self.frame.fail_to {
            self.received_after_window += 1;
        }
        if self.queue.len() >= self.queue_limit {
            self.refused += 1;
            ctx.send(
                from,
                Msg::Response {
                    id,
                    attempt,
                    ok: false,
                },
            );
            return;
        }
        let start = self.free_at.max(now);
        let done = start + self.service;
        self.peak_delay = self.peak_delay.max(start.saturating_duration_since(now));
        self.free_at = done;
        self.queue.push_back((from, id, attempt, now));
        ctx.set_timer(done.saturating_duration_since(now), 0);
    }

    /// Completions fire in arrival order: each ends one service time after
    /// the previous one or after its own arrival.
    fn on_done(&mut self, ctx: &mut Context<'_, Msg>) {
        let Some((to, id, attempt, _)) = self.queue.pop_front() else {
            return;
        };
        let ok = !self.frame.failing(ctx.clock().now());
        ctx.send(to, Msg::Response { id, attempt, ok });
    }
}

/// One client request in flight.
struct Request {
    deadline: Deadline,
    attempt: u32,
    backoff: Backoff,
    last_retry: Option<RetryKind>,
    timer: Option<TimerId>,
    permit: Option<OwnedPermit<NodeClock, ()>>,
}

const TICK: u64 = 0;
const TIMEOUT: u64 = 1;
const RETRY: u64 = 2;

fn tag(kind: u64, id: u64, attempt: u32) -> u64 {
    (id << 10) | (u64::from(attempt) << 2) | kind
}

struct Client {
    frame: Frame,
    period: Duration,
    timeout: Duration,
    deadline: Duration,
    max_attempts: u32,
    backoff: Backoff,
    budgeted: bool,
    budget: Option<PercentBudget<NodeClock>>,
    breaker: Option<CircuitBreaker<NodeClock>>,
    budget_config: PercentBudgetConfig,
    breaker_config: Option<BreakerConfig>,
    requests: HashMap<u64, Request>,
    next_id: u64,
    made: u64,
    made_in_window: u64,
    made_after_window: u64,
    successes: u64,
    timeouts: u64,
    wasted: u64,
    refused_by_breaker: u64,
    ok: Vec<u64>,
    failed: Vec<u64>,
}

impl Client {
    fn start_attempt(&mut self, ctx: &mut Context<'_, Msg>, id: u64) {
        let clock = ctx.clock().clone();
        let Some(req) = self.requests.get_mut(&id) else {
            return;
        };
        let permit = match &self.breaker {
            Some(breaker) => match breaker.try_acquire_owned() {
                Ok(p) => Some(p),
                Err(_) => {
                    self.refused_by_breaker += 1;
                    self.finish(&clock, id, false);
                    return;
                }
            },
            None => None,
        };
        let limit = req.deadline.tightened(&clock, self.timeout);
        let wait = limit.remaining(&clock);
        if wait.is_zero() {
            self.finish(&clock, id, false);
            return;
        }
        req.attempt += 1;
        req.permit = permit;
        req.timer = Some(ctx.set_timer(wait, tag(TIMEOUT, id, req.attempt)));
        ctx.send(
            SERVER,
            Msg::Request {
                id,
                attempt: req.attempt,
            },
        );
    }

    /// After a failed or timed-out attempt: schedules a retry or gives up.
    fn after_failure(&mut self, ctx: &mut Context<'_, Msg>, id: u64, kind: RetryKind) {
        let clock = ctx.clock().clone();
        let Some(req) = self.requests.get_mut(&id) else {
            return;
        };
        if let Some(p) = req.permit.take() {
            p.failure();
        }
        req.timer = None;
        let delay = if req.attempt < self.max_attempts {
            req.backoff.next()
        } else {
            None
        };
        let retry = delay.filter(|d| {
            *d < req.deadline.remaining(&clock)
                && self.budget.as_ref().is_none_or(|b| b.try_withdraw(kind))
        });
        match retry {
            Some(d) => {
                req.last_retry = Some(kind);
                ctx.set_timer(d, tag(RETRY, id, req.attempt));
            }
            None => self.finish(&clock, id, false),
        }
    }

    fn finish(&mut self, clock: &NodeClock, id: u64, ok: bool) {
        let Some(req) = self.requests.remove(&id) else {
            return;
        };
        let bin = self.frame.bin(clock.now());
        if ok {
            self.successes += 1;
            self.ok[bin] += 1;
            if let Some(b) = &self.budget {
                b.record_success(req.last_retry);
            }
        } else {
            self.failed[bin] += 1;
        }
    }

    fn new_request(&mut self, ctx: &mut Context<'_, Msg>) {
        let now = ctx.clock().now();
        self.made += 1;
        if self.frame.failing(now) {
            self.made_in_window += 1;
        } else if now >= self.frame.fail_to {
            self.made_after_window += 1;
        }
        if let Some(b) = &self.budget {
            b.deposit();
        }
        let id = self.next_id;
        self.next_id += 1;
        let seed = ctx.rng().random();
        self.requests.insert(
            id,
            Request {
                deadline: Deadline::after(ctx.clock(), self.deadline),
                attempt: 0,
                backoff: self.backoff.reseeded(seed),
                last_retry: None,
                timer: None,
                permit: None,
            },
        );
        self.start_attempt(ctx, id);
    }
}

enum Node {
    Server(Server),
    Client(Box<Client>),
}

impl Process for Node {
    type Message = Msg;

    fn on_start(&mut self, ctx: &mut Context<'_, Msg>) {
        if let Node::Client(c) = self {
            let clock = ctx.clock().clone();
            // Budgets and breakers read the node's own clock, known only here.
            if c.budgeted && c.budget.is_none() {
                c.budget = Some(PercentBudget::with_clock(c.budget_config, clock.clone()));
            }
            if let Some(b) = c.breaker_config.as_ref().filter(|_| c.breaker.is_none()) {
                c.breaker = Some(CircuitBreaker::with_clock(b.clone(), clock));
            }
            let period = nanos(c.period).max(1);
            let phase = ctx.rng().random_range(0..period);
            ctx.set_timer(Duration::from_nanos(phase), TICK);
        }
    }

    fn on_message(&mut self, ctx: &mut Context<'_, Msg>, from: NodeId, msg: Msg) {
        match (self, msg) {
            (Node::Server(s), Msg::Request { id, attempt }) => s.on_request(ctx, from, id, attempt),
            (Node::Client(c), Msg::Response { id, attempt, ok }) => {
                let current = c
                    .requests
                    .get(&id)
                    .is_some_and(|r| r.attempt == attempt && r.timer.is_some());
                if !current {
                    c.wasted += 1;
                    return;
                }
                let Some(req) = c.requests.get_mut(&id) else {
                    return;
                };
                if let Some(t) = req.timer.take() {
                    ctx.cancel_timer(t);
                }
                if ok {
                    if let Some(p) = req.permit.take() {
                        p.success();
                    }
                    let clock = ctx.clock().clone();
                    c.finish(&clock, id, true);
                } else {
                    c.after_failure(ctx, id, RetryKind::Error);
                }
            }
            _ => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Context<'_, Msg>, timer: Timer) {
        match self {
            Node::Server(s) => s.on_done(ctx),
            Node::Client(c) => {
                let (kind, id, attempt) = (timer.tag & 3, timer.tag >> 10, (timer.tag >> 2) & 0xff);
                match kind {
                    TICK => {
                        ctx.set_timer(c.period, TICK);
                        c.new_request(ctx);
                    }
                    TIMEOUT => {
                        let current = c.requests.get_mut(&id).filter(|r| {
                            u64::from(r.attempt) == attempt && r.timer == Some(timer.id)
                        });
                        if let Some(req) = current {
                            req.timer = None;
                            c.timeouts += 1;
                            c.after_failure(ctx, id, RetryKind::Timeout);
                        }
                    }
                    _ => c.start_attempt(ctx, id),
                }
            }
        }
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn run_policy(config: &RetryStormConfig, seed: u64, policy: Policy) -> PolicyResult {
    let end = nanos(config.duration);
    let fail_from = Timestamp::ZERO + config.failure_start;
    let frame = Frame {
        fail_from,
        fail_to: fail_from + config.failure_length,
        bins: usize::try_from(end.div_ceil(BIN_NANOS))
            .unwrap_or(usize::MAX)
            .max(1),
    };
    let backoff = Backoff::exponential(config.initial_backoff)
        .jitter(Jitter::Full)
        .build()
        .expect("validated backoff");
    let period = Duration::from_secs_f64(1.0 / config.rate_per_client);
    let service =
        Duration::from_secs_f64(1.0 / config.capacity_per_sec).max(Duration::from_nanos(1));
    let sim_config = SimConfig::builder(config.clients + 1)
        .seed(seed)
        .network(config.network.clone())
        .build()
        .expect("a validated scenario makes a valid simulation");
    let mut sim = Simulation::new(sim_config, |id| {
        if id == SERVER {
            Node::Server(Server {
                frame,
                service,
                queue_limit: config.queue_limit,
                queue: VecDeque::new(),
                free_at: Timestamp::ZERO,
                received: 0,
                received_in_window: 0,
                received_after_window: 0,
                refused: 0,
                peak_delay: Duration::ZERO,
                load: vec![0; frame.bins],
            })
        } else {
            Node::Client(Box::new(Client {
                frame,
                period,
                timeout: config.timeout,
                deadline: config.deadline,
                max_attempts: config.max_attempts,
                backoff: backoff.clone(),
                budgeted: policy != Policy::PlainRetries,
                budget: None,
                breaker: None,
                budget_config: config.budget,
                breaker_config: (policy == Policy::BudgetAndBreaker)
                    .then(|| config.breaker.clone()),
                requests: HashMap::new(),
                next_id: 0,
                made: 0,
                made_in_window: 0,
                made_after_window: 0,
                successes: 0,
                timeouts: 0,
                wasted: 0,
                refused_by_breaker: 0,
                ok: vec![0; frame.bins],
                failed: vec![0; frame.bins],
            }))
        }
    });
    sim.run_until(Timestamp::from_nanos(end));
    collect(config, policy, frame, &sim)
}

fn collect(
    config: &RetryStormConfig,
    policy: Policy,
    frame: Frame,
    sim: &Simulation<Node>,
) -> PolicyResult {
    let mut ok = vec![0u64; frame.bins];
    let mut failed = vec![0u64; frame.bins];
    let (mut made, mut made_in_window, mut made_after_window) = (0u64, 0u64, 0u64);
    let (mut successes, mut timeouts, mut wasted, mut refused_by_breaker) = (0u64, 0, 0, 0);
    let mut server = None;
    for (_, node) in sim.processes() {
        match node {
            Node::Server(s) => server = Some(s),
            Node::Client(c) => {
                made += c.made;
                made_in_window += c.made_in_window;
                made_after_window += c.made_after_window;
                successes += c.successes;
                timeouts += c.timeouts;
                wasted += c.wasted;
                refused_by_breaker += c.refused_by_breaker;
                for (total, n) in ok.iter_mut().zip(&c.ok) {
                    *total += n;
                }
                for (total, n) in failed.iter_mut().zip(&c.failed) {
                    *total += n;
                }
            }
        }
    }
    let server = server.expect("node 0 is the server");
    // Recovered from the first bin after the failure from which every bin
    // with finished requests stays at or above the threshold.
    let first_after =
        frame.bin(frame.fail_to) + usize::from(!frame.fail_to.as_nanos().is_multiple_of(BIN_NANOS));
    let good = |b: usize| {
        let total = ok[b] + failed[b];
        total > 0 && ok[b] as f64 / total as f64 >= config.recovery_threshold
    };
    let last_bad = (first_after..frame.bins)
        .rev()
        .find(|&b| !good(b) && ok[b] + failed[b] > 0);
    let from = last_bad.map_or(first_after, |b| b + 1);
    let recovery = (from..frame.bins).find(|&b| good(b)).map(|b| {
        Duration::from_nanos((b as u64 * BIN_NANOS).saturating_sub(frame.fail_to.as_nanos()))
    });
    let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    PolicyResult {
        policy,
        client_requests: made,
        server_requests: server.received,
        successes,
        amplification: ratio(server.received, made),
        window_amplification: ratio(server.received_in_window, made_in_window),
        after_amplification: ratio(server.received_after_window, made_after_window),
        goodput: successes as f64 / config.duration.as_secs_f64(),
        recovery,
        timeouts,
        wasted,
        refused_by_server: server.refused,
        refused_by_breaker,
        peak_queue_delay: server.peak_delay,
        load: server.load.clone(),
        goodput_per_sec: ok,
    }
}

/// One deterministic run of every policy with `seed`.
#[must_use]
pub fn run(config: &RetryStormConfig, seed: u64) -> RetryStormResult {
    RetryStormResult {
        seed,
        policies: Policy::ALL
            .iter()
            .map(|&p| run_policy(config, seed, p))
            .collect(),
    }
}

/// Per-policy aggregates over many seeds.
///
/// ```
/// use std::time::Duration;
/// use steadfast_sim::scenario::retry_storm::{self, Policy, RetryStormConfig};
/// let config = RetryStormConfig::builder().clients(2).duration(Duration::from_secs(3))
///     .failure(Duration::from_secs(1), Duration::from_secs(1)).build().unwrap();
/// let summary = retry_storm::run_many(&config, &[1, 2], 2);
/// assert_eq!(summary.policies[0].policy, Policy::PlainRetries);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PolicySummary {
    /// The policy.
    pub policy: Policy,
    /// Overall amplification.
    pub amplification: Option<Summary>,
    /// Amplification during the failure window.
    pub window_amplification: Option<Summary>,
    /// Amplification after the failure window.
    pub after_amplification: Option<Summary>,
    /// Goodput, requests per second.
    pub goodput: Option<Summary>,
    /// Recovery time in seconds, over the runs that recovered.
    pub recovery_secs: Option<Summary>,
    /// Runs that recovered before the end.
    pub recovered_runs: usize,
}

/// Many runs aggregated.
///
/// ```
/// use std::time::Duration;
/// use steadfast_sim::scenario::retry_storm::{self, RetryStormConfig};
/// let config = RetryStormConfig::builder().clients(2).duration(Duration::from_secs(3))
///     .failure(Duration::from_secs(1), Duration::from_secs(1)).build().unwrap();
/// let summary = retry_storm::run_many(&config, &[1, 2, 3], 2);
/// assert_eq!(summary.runs.len(), 3);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RetryStormSummary {
    /// One entry per [`Policy::ALL`].
    pub policies: Vec<PolicySummary>,
    /// Every run, in seed order.
    pub runs: Vec<RetryStormResult>,
}

/// Runs every seed on `threads` threads and aggregates.
#[must_use]
pub fn run_many(config: &RetryStormConfig, seeds: &[u64], threads: usize) -> RetryStormSummary {
    run_many_with_progress(config, seeds, threads, |_| {})
}

/// Like [`run_many`], calling `progress(done)` after each run (see
/// [`run_seeds_with_progress`]).
#[must_use]
pub fn run_many_with_progress(
    config: &RetryStormConfig,
    seeds: &[u64],
    threads: usize,
    progress: impl Fn(usize) + Sync,
) -> RetryStormSummary {
    let runs = run_seeds_with_progress(seeds, threads, |seed| run(config, seed), progress);
    let policies = Policy::ALL
        .iter()
        .enumerate()
        .map(|(i, &policy)| {
            let pick = |f: &dyn Fn(&PolicyResult) -> Option<f64>| {
                Summary::of(
                    &runs
                        .iter()
                        .filter_map(|r| f(&r.policies[i]))
                        .collect::<Vec<_>>(),
                )
            };
            PolicySummary {
                policy,
                amplification: pick(&|p| Some(p.amplification)),
                window_amplification: pick(&|p| Some(p.window_amplification)),
                after_amplification: pick(&|p| Some(p.after_amplification)),
                goodput: pick(&|p| Some(p.goodput)),
                recovery_secs: pick(&|p| p.recovery.map(|d| d.as_secs_f64())),
                recovered_runs: runs
                    .iter()
                    .filter(|r| r.policies[i].recovery.is_some())
                    .count(),
            }
        })
        .collect();
    RetryStormSummary { policies, runs }
}

fn per_second_plot(
    result: &RetryStormResult,
    title: &str,
    y: &str,
    f: fn(&PolicyResult) -> &[u64],
) -> LinePlot {
    let mut plot = LinePlot::new(title, "time (s)", y);
    for p in &result.policies {
        let points = f(p)
            .iter()
            .enumerate()
            .map(|(s, &n)| (s as f64, n as f64))
            .collect();
        plot.series(p.policy.as_str(), points);
    }
    plot
}

fn load_plot(result: &RetryStormResult) -> LinePlot {
    per_second_plot(
        result,
        "server load per policy",
        "attempts per second",
        |p| &p.load,
    )
}

fn goodput_plot(result: &RetryStormResult) -> LinePlot {
    per_second_plot(
        result,
        "goodput per policy",
        "successful requests per second",
        |p| &p.goodput_per_sec,
    )
}

fn load_table(result: &RetryStormResult) -> Table {
    let mut header = vec!["second".to_owned()];
    for p in &result.policies {
        header.push(format!("{} attempts", p.policy.as_str()));
        header.push(format!("{} successes", p.policy.as_str()));
    }
    let mut table = Table::new(header);
    let seconds = result.policies.first().map_or(0, |p| p.load.len());
    for s in 0..seconds {
        let mut row = vec![s.to_string()];
        for p in &result.policies {
            row.push(p.load[s].to_string());
            row.push(p.goodput_per_sec[s].to_string());
        }
        table.push(row);
    }
    table
}

fn recovery_text(r: Option<Duration>) -> String {
    r.map_or_else(
        || "never".to_owned(),
        |d| format!("{:.1}s", d.as_secs_f64()),
    )
}

impl RetryStormResult {
    /// Narrative, summary table, per-second load and goodput CSV, and plots.
    ///
    /// ```
    /// use std::time::Duration;
    /// use steadfast_sim::scenario::retry_storm::{self, RetryStormConfig};
    /// let config = RetryStormConfig::builder().clients(2).duration(Duration::from_secs(3))
    ///     .failure(Duration::from_secs(1), Duration::from_secs(1)).build().unwrap();
    /// let report = retry_storm::run(&config, 1).report();
    /// assert_eq!(report.summary().rows().len(), 3);
    /// ```
    #[must_use]
    pub fn report(&self) -> ScenarioReport {
        let mut summary = Table::new([
            "policy",
            "client requests",
            "server attempts",
            "amplification",
            "in failure",
            "after failure",
            "goodput/s",
            "recovery",
            "timeouts",
            "wasted",
            "refused",
            "peak queue delay",
        ]);
        for p in &self.policies {
            summary.push([
                p.policy.as_str().to_owned(),
                p.client_requests.to_string(),
                p.server_requests.to_string(),
                format!("{:.2}", p.amplification),
                format!("{:.2}", p.window_amplification),
                format!("{:.2}", p.after_amplification),
                format!("{:.1}", p.goodput),
                recovery_text(p.recovery),
                p.timeouts.to_string(),
                p.wasted.to_string(),
                (p.refused_by_server + p.refused_by_breaker).to_string(),
                format!("{:.3}s", p.peak_queue_delay.as_secs_f64()),
            ]);
        }
        let mut report = ScenarioReport::new("retry-storm", summary);
        for p in &self.policies {
            report = report.narrate(format!(
                "seed {}: {} sent {:.2} attempts per request during the failure and {:.2} after it, \
                 queued up to {:.2}s, recovered after {}",
                self.seed,
                p.policy.as_str(),
                p.window_amplification,
                p.after_amplification,
                p.peak_queue_delay.as_secs_f64(),
                recovery_text(p.recovery)
            ));
        }
        report
            .data("load", load_table(self))
            .plot("load", load_plot(self))
            .plot("goodput", goodput_plot(self))
    }
}

impl RetryStormSummary {
    /// Narrative, summary table with 95% intervals, the first run's load CSV
    /// and plots.
    ///
    /// ```
    /// use std::time::Duration;
    /// use steadfast_sim::scenario::retry_storm::{self, RetryStormConfig};
    /// let config = RetryStormConfig::builder().clients(2).duration(Duration::from_secs(3))
    ///     .failure(Duration::from_secs(1), Duration::from_secs(1)).build().unwrap();
    /// let report = retry_storm::run_many(&config, &[1, 2], 1).report();
    /// assert_eq!(report.summary().rows().len(), 3);
    /// ```
    #[must_use]
    pub fn report(&self) -> ScenarioReport {
        let fmt = |s: Option<Summary>| {
            s.map_or_else(
                || "-".to_owned(),
                |s| format!("{:.2} [{:.2}, {:.2}]", s.mean, s.ci95.0, s.ci95.1),
            )
        };
        let mut summary = Table::new([
            "policy",
            "amplification",
            "in failure",
            "after failure",
            "goodput/s",
            "recovery s (recovered runs)",
        ]);
        for p in &self.policies {
            summary.push([
                p.policy.as_str().to_owned(),
                fmt(p.amplification),
                fmt(p.window_amplification),
                fmt(p.after_amplification),
                fmt(p.goodput),
                format!(
                    "{} ({} of {})",
                    fmt(p.recovery_secs),
                    p.recovered_runs,
                    self.runs.len()
                ),
            ]);
        }
        let mut report = ScenarioReport::new("retry-storm", summary).narrate(format!(
            "{} runs; means with 95% intervals",
            self.runs.len()
        ));
        if let Some(first) = self.runs.first() {
            report = report
                .data("load", load_table(first))
                .plot("load", load_plot(first))
                .plot("goodput", goodput_plot(first));
        }
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> RetryStormConfig {
        RetryStormConfig::builder()
            .clients(8)
            .rate_per_client(20.0)
            .duration(Duration::from_secs(8))
            .failure(Duration::from_secs(2), Duration::from_secs(3))
            .capacity_per_sec(1000.0)
            .breaker(
                BreakerConfig::builder()
                    .count_window(10)
                    .minimum_calls(5)
                    .wait_in_open(Duration::from_millis(500))
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap()
    }

    /// 100 requests/s against 150 attempts/s: plain retries overload it.
    fn storm() -> RetryStormConfig {
        RetryStormConfig::builder()
            .clients(5)
            .rate_per_client(20.0)
            .capacity_per_sec(150.0)
            .duration(Duration::from_secs(14))
            .failure(Duration::from_secs(3), Duration::from_secs(3))
            .build()
            .unwrap()
    }

    #[test]
    fn same_seed_same_result_and_seeds_differ() {
        let c = small();
        assert_eq!(run(&c, 7), run(&c, 7));
        assert_ne!(run(&c, 7), run(&c, 8));
    }

    #[test]
    fn with_spare_capacity_every_policy_recovers_at_once() {
        let r = run(&small(), 3);
        let [plain, budget, _] = [&r.policies[0], &r.policies[1], &r.policies[2]];
        assert!(plain.window_amplification > 3.0, "{plain:?}");
        assert!(budget.window_amplification < plain.window_amplification);
        for p in &r.policies {
            assert!(
                p.recovery.is_some_and(|d| d <= Duration::from_secs(2)),
                "{p:?}"
            );
            assert!(p.goodput > 0.0);
            assert_eq!(p.timeouts, 0, "{p:?}");
            assert!(p.peak_queue_delay < Duration::from_millis(100), "{p:?}");
        }
    }

    #[test]
    fn an_overload_makes_calls_slow_and_outlives_the_failure() {
        let c = storm();
        let r = run(&c, 5);
        let [plain, budget, breaker] = [&r.policies[0], &r.policies[1], &r.policies[2]];
        // The queue grew past the timeout: calls timed out, and the server
        // answered callers that had given up.
        assert!(plain.peak_queue_delay > c.timeout(), "{plain:?}");
        assert!(plain.timeouts > 0 && plain.wasted > 0, "{plain:?}");
        assert!(plain.after_amplification > 2.0, "{plain:?}");
        assert_eq!(plain.recovery, None, "{plain:?}");
        assert!(budget.window_amplification < plain.window_amplification);
        assert!(breaker.window_amplification < budget.window_amplification);
        assert!(budget.recovery.is_some() && breaker.recovery.is_some());
        assert!(budget.after_amplification < 1.1, "{budget:?}");
        assert!(budget.goodput > plain.goodput && breaker.goodput > plain.goodput);
        // The load never exceeds what the server was sent.
        assert_eq!(plain.load.iter().sum::<u64>(), plain.server_requests);
    }

    #[test]
    fn validation_rejects_nan_zero_and_huge() {
        let b = RetryStormConfig::builder;
        assert_eq!(
            b().rate_per_client(f64::NAN).build().unwrap_err().field(),
            "rate_per_client"
        );
        assert_eq!(b().clients(0).build().unwrap_err().field(), "clients");
        for c in [f64::INFINITY, 0.0, -1.0, 2e6] {
            assert_eq!(
                b().capacity_per_sec(c).build().unwrap_err().field(),
                "capacity_per_sec"
            );
        }
        assert_eq!(
            b().queue_limit(0).build().unwrap_err().field(),
            "queue_limit"
        );
        assert_eq!(
            b().timeout(Duration::ZERO).build().unwrap_err().field(),
            "timeout"
        );
        assert_eq!(
            b().timeout(Duration::MAX).build().unwrap_err().field(),
            "timeout"
        );
        let e = b()
            .timeout(Duration::from_secs(2))
            .deadline(Duration::from_secs(1))
            .build()
            .unwrap_err();
        assert_eq!(e.field(), "deadline");
        assert!(e.to_string().contains("at least the timeout"), "{e}");
        assert_eq!(
            b().max_attempts(0).build().unwrap_err().field(),
            "max_attempts"
        );
        assert_eq!(
            b().recovery_threshold(f64::NAN)
                .build()
                .unwrap_err()
                .field(),
            "recovery_threshold"
        );
        assert_eq!(
            b().failure(Duration::from_secs(29), Duration::from_secs(5))
                .build()
                .unwrap_err()
                .field(),
            "failure"
        );
        assert_eq!(
            b().duration(Duration::from_secs(u64::MAX))
                .build()
                .unwrap_err()
                .field(),
            "duration"
        );
        assert!(
            b().clients(10_000)
                .rate_per_client(10_000.0)
                .build()
                .is_err()
        );
    }

    #[test]
    fn defaults_show_the_storm() {
        let r = run(&RetryStormConfig::builder().build().unwrap(), 1);
        let [plain, budget, breaker] = [&r.policies[0], &r.policies[1], &r.policies[2]];
        assert!(budget.window_amplification < plain.window_amplification);
        assert!(breaker.window_amplification < budget.window_amplification);
        assert_eq!(plain.recovery, None, "{plain:?}");
        assert!(budget.recovery.is_some() && breaker.recovery.is_some());
    }

    #[test]
    fn reports_render() {
        let c = small();
        let one = run(&c, 1).report();
        assert_eq!(one.summary().rows().len(), 3);
        assert!(one.plots()[0].1.to_svg().unwrap().contains("<svg"));
        assert_eq!(one.plots().len(), 2);
        let many = run_many(&c, &[1, 2, 3], 2).report();
        assert_eq!(many.summary().rows().len(), 3);
    }
}
