//! `tour`: a five-node service through a scripted day of faults, using every crate together.
//!
//! The day runs on the simulator's engine: every message (heartbeats, lease
//! requests and renewals, fenced writes, client calls, replication and
//! anti-entropy) crosses the modelled network with its latency and loss, and
//! the faults are the engine's (a crash and restart, a partition and its heal),
//! while every clock drifts.
//!
//! Five service nodes heartbeat each other every second and watch each other
//! with phi accrual detectors (`steadfast-detect`). One of them holds the
//! leader lease from a lock service (`steadfast-quorum`'s in-memory backend
//! on the coordinator's own clock) and writes through a fence. Clients call
//! the service through a circuit breaker per node, retrying failures under a
//! percent retry budget (`steadfast-guard`). Every write is replicated to every
//! node, and replicas run Merkle anti-entropy with each other
//! (`steadfast-replica`). The clients' success ratio is watched by the SRE
//! Workbook's paging burn-rate tiers (`steadfast-slo`).
//!
//! The script: the leader crashes (its clients fail until it restarts); the
//! others suspect it and one takes over the lease once the lock service lets
//! it expire; on restart the old leader flushes a write queued under its old
//! token and the fence refuses it. Later the network cuts the current leader
//! and one other node off from the rest: the leader stops believing in its
//! lease when its own clock says so, the majority takes over, writes land on
//! one side only, and anti-entropy reconciles the replicas after the heal.
//!
//! Clocks: the coordinator's runs `drift` fast and the service nodes' run
//! between `drift / 2` and `drift` slow, so the worst pair differs by
//! `(1 + drift) / (1 - drift)`; the lease assumes at most its drift bound κ.
//! Inside the bound no two nodes ever believe they hold the lease at once,
//! which the run checks after every event; set the drift beyond the bound and
//! the check finds the overlap.
//!
//! # Example
//!
//! ```
//! use steadfast_sim::scenario::tour::{self, TourConfig};
//!
//! // A 75-minute day with the same acts (the default is 24 hours).
//! let config = TourConfig::short().build()?;
//! let result = tour::run(&config, 7);
//! assert!(result.detection.is_some() && result.failover.is_some());
//! assert_eq!(result.stale_writes_refused, 1);
//! assert_eq!(result.divergent_after, 0);
//! assert_eq!(result.lease_overlaps, 0);
//! println!("{}", result.report());
//! # Ok::<(), steadfast_core::ConfigError>(())
//! ```

mod node;

use std::sync::Arc;
use std::time::Duration;

use steadfast_core::{Clock, ConfigError, NodeId, Timestamp};
use steadfast_detect::{MonitorConfig, PeerState, PhiAccrual, PhiAccrualConfig};
use steadfast_guard::breaker::BreakerConfig;
use steadfast_guard::budget::PercentBudget;
use steadfast_quorum::LeasePolicy;
use steadfast_slo::{AlertPolicy, Objective, Severity, workbook_tiers};

use self::node::{KEYS, Note, Setup, TourNode};
use crate::{
    Fault, Latency, LinePlot, Loss, Network, ScenarioReport, SimConfig, Simulation, Summary, Table,
    run_seeds_with_progress,
};

const MINUTE: Duration = Duration::from_secs(60);
/// The lease term the lock service enforces.
const LEASE_TERM: Duration = Duration::from_secs(10);
const LEASE_MARGIN: Duration = Duration::from_millis(500);

/// Settings of the `tour` scenario. Build with [`TourConfig::builder`].
///
/// ```
/// use std::time::Duration;
/// use steadfast_sim::scenario::tour::TourConfig;
///
/// let config = TourConfig::builder().build()?;
/// assert_eq!(config.nodes(), 5);
/// assert!(config.worst_clock_ratio() <= config.lease_drift_bound());
/// let err = TourConfig::builder().requests_per_second(0).build().unwrap_err();
/// assert_eq!(err.to_string(), "tour.requests_per_second must be in 1..=10000, got 0");
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct TourConfig {
    nodes: u64,
    day: Duration,
    crash_at: Duration,
    down_for: Duration,
    partition_at: Duration,
    partition_for: Duration,
    pause: Option<(Duration, Duration)>,
    requests_per_second: u32,
    baseline_error_ratio: f64,
    anti_entropy_every: Duration,
    retry_percent: f64,
    clock_drift: f64,
    lease_drift_bound: f64,
    network: Network,
}

/// Builder of [`TourConfig`]; validation happens in [`build`](Self::build).
#[derive(Debug, Clone)]
pub struct TourConfigBuilder {
    config: TourConfig,
}

impl TourConfig {
    /// A builder with the defaults: five nodes, a 24-hour day, the leader
    /// crashing at 02:13:05 for 20 minutes, the leader and one other node
    /// cut off from the rest at 09:00 for 30 minutes, the leader of the
    /// moment frozen for 15 seconds at 15:00, 10 requests a second
    /// with 0.05% baseline errors, anti-entropy every 10 minutes, retries
    /// budgeted at 20% of requests, clocks drifting by up to 0.4% under a
    /// lease that assumes at most 1% between any two, and a network of
    /// lognormal latency (median 1 ms) losing 0.02% of messages.
    #[must_use]
    pub fn builder() -> TourConfigBuilder {
        TourConfigBuilder {
            config: TourConfig {
                nodes: 5,
                day: Duration::from_secs(24 * 3600),
                crash_at: Duration::from_secs(2 * 3600 + 13 * 60 + 5),
                down_for: Duration::from_secs(20 * 60),
                partition_at: Duration::from_secs(9 * 3600),
                partition_for: Duration::from_secs(30 * 60),
                pause: Some((Duration::from_secs(15 * 3600), Duration::from_secs(15))),
                requests_per_second: 10,
                baseline_error_ratio: 0.0005,
                anti_entropy_every: Duration::from_secs(600),
                retry_percent: 0.2,
                clock_drift: 0.004,
                lease_drift_bound: 1.01,
                network: Network::new(
                    Latency::LogNormal {
                        median: Duration::from_millis(1),
                        sigma: 0.5,
                    },
                    Loss::Independent(0.0002),
                )
                .expect("the default network is valid"),
            },
        }
    }

    /// A builder for a short day with the same acts: 75 minutes, the
    /// leader crashing at 00:04:05 for 5 minutes, the partition at 00:20
    /// for 5 minutes, the pause at 00:35, anti-entropy every 4 minutes; everything else as in
    /// [`builder`](Self::builder). For a quick look, and for tests.
    ///
    /// ```
    /// use std::time::Duration;
    /// use steadfast_sim::scenario::tour::TourConfig;
    ///
    /// let config = TourConfig::short().build()?;
    /// assert_eq!(config.day(), Duration::from_secs(75 * 60));
    /// # Ok::<(), steadfast_core::ConfigError>(())
    /// ```
    #[must_use]
    pub fn short() -> TourConfigBuilder {
        TourConfig::builder()
            .day(Duration::from_secs(75 * 60))
            .crash(Duration::from_secs(4 * 60 + 5), Duration::from_secs(5 * 60))
            .partition(Duration::from_secs(20 * 60), Duration::from_secs(5 * 60))
            .pause(Duration::from_secs(35 * 60), Duration::from_secs(15))
            .anti_entropy_every(Duration::from_secs(4 * 60))
    }

    /// The number of nodes.
    #[must_use]
    pub fn nodes(&self) -> u64 {
        self.nodes
    }

    /// How long the simulated day lasts.
    #[must_use]
    pub fn day(&self) -> Duration {
        self.day
    }

    /// The retry budget, as a fraction of requests.
    #[must_use]
    pub fn retry_percent(&self) -> f64 {
        self.retry_percent
    }

    /// How far clocks drift from true time (a rate offset: 0.004 is 0.4%).
    #[must_use]
    pub fn clock_drift(&self) -> f64 {
        self.clock_drift
    }

    /// The lease's drift bound κ.
    #[must_use]
    pub fn lease_drift_bound(&self) -> f64 {
        self.lease_drift_bound
    }

    /// How much faster the fastest clock runs than the slowest:
    /// `(1 + drift) / (1 - drift)`. The lease is safe while this is at most
    /// [`lease_drift_bound`](Self::lease_drift_bound).
    #[must_use]
    pub fn worst_clock_ratio(&self) -> f64 {
        (1.0 + self.clock_drift) / (1.0 - self.clock_drift)
    }

    /// Clock rates by node id: service nodes, then the coordinator, then the clients.
    fn clock_rates(&self) -> Vec<f64> {
        let n = self.nodes as usize;
        let d = self.clock_drift;
        let mut rates: Vec<f64> = (0..n)
            .map(|i| 1.0 - d * (0.5 + 0.5 * i as f64 / (n - 1) as f64))
            .collect();
        rates.push(1.0 + d);
        rates.push(1.0);
        rates
    }

    fn lease_policy(&self) -> Result<LeasePolicy, ConfigError> {
        LeasePolicy::builder(LEASE_TERM)
            .drift_bound(self.lease_drift_bound)
            .safety_margin(LEASE_MARGIN)
            .build()
    }
}

impl TourConfigBuilder {
    /// The number of nodes (default 5, between 3 and 9).
    #[must_use]
    pub fn nodes(mut self, nodes: u64) -> Self {
        self.config.nodes = nodes;
        self
    }

    /// How long the day lasts (default 24 hours, between 10 minutes and 48 hours).
    #[must_use]
    pub fn day(mut self, day: Duration) -> Self {
        self.config.day = day;
        self
    }

    /// When the leader crashes and how long it stays down.
    #[must_use]
    pub fn crash(mut self, at: Duration, down_for: Duration) -> Self {
        self.config.crash_at = at;
        self.config.down_for = down_for;
        self
    }

    /// When the network cuts the leader and one other node off from the
    /// rest (the lock service and the clients stay with the majority), and
    /// for how long.
    #[must_use]
    pub fn partition(mut self, at: Duration, length: Duration) -> Self {
        self.config.partition_at = at;
        self.config.partition_for = length;
        self
    }

    /// When the leader of the moment freezes (a stop-the-world pause: it
    /// runs nothing while its clock keeps going), and for how long (default
    /// 15:00 for 15 s; between 1 s and 5 min).
    #[must_use]
    pub fn pause(mut self, at: Duration, length: Duration) -> Self {
        self.config.pause = Some((at, length));
        self
    }

    /// No pause in the script.
    #[must_use]
    pub fn no_pause(mut self) -> Self {
        self.config.pause = None;
        self
    }

    /// Client requests per second (default 10, between 1 and 10 000).
    #[must_use]
    pub fn requests_per_second(mut self, n: u32) -> Self {
        self.config.requests_per_second = n;
        self
    }

    /// Share of requests failing on a healthy node (default 0.0005, in [0, 0.01]).
    #[must_use]
    pub fn baseline_error_ratio(mut self, ratio: f64) -> Self {
        self.config.baseline_error_ratio = ratio;
        self
    }

    /// How often each replica runs Merkle anti-entropy with every peer in
    /// turn (default 10 minutes, 10 s to 1 h).
    #[must_use]
    pub fn anti_entropy_every(mut self, every: Duration) -> Self {
        self.config.anti_entropy_every = every;
        self
    }

    /// Retries allowed as a fraction of requests (default 0.2, in [0, 1]).
    #[must_use]
    pub fn retry_percent(mut self, fraction: f64) -> Self {
        self.config.retry_percent = fraction;
        self
    }

    /// How far clocks drift from true time, as a rate offset (default 0.004,
    /// in [0, 0.5)): the coordinator's clock runs that much fast, the service
    /// nodes' between half that and that much slow. Beyond the lease's drift
    /// bound, the lease is no longer safe, and the run shows it.
    #[must_use]
    pub fn clock_drift(mut self, drift: f64) -> Self {
        self.config.clock_drift = drift;
        self
    }

    /// The drift bound κ the lease assumes (default 1.01, in [1, 2]).
    #[must_use]
    pub fn lease_drift_bound(mut self, kappa: f64) -> Self {
        self.config.lease_drift_bound = kappa;
        self
    }

    /// The network model (default: lognormal latency with a 1 ms median, σ 0.5, 0.02% loss).
    #[must_use]
    pub fn network(mut self, network: Network) -> Self {
        self.config.network = network;
        self
    }

    /// Validates the settings.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first setting out of its range (see each
    /// setter); the crash must end at least 10 minutes before the partition
    /// starts, the partition must heal at least 20 minutes before the day
    /// ends, and the pause must start at least 10 minutes after the heal and
    /// end at least 5 minutes before the day does, so that each act of the
    /// script has time to play out.
    pub fn build(self) -> Result<TourConfig, ConfigError> {
        let c = self.config;
        let dur = |d: Duration| format!("{d:?}");
        ConfigError::ensure(
            (3..=9).contains(&c.nodes),
            "tour.nodes",
            c.nodes,
            "in 3..=9",
        )?;
        ConfigError::ensure(
            c.day >= Duration::from_secs(600) && c.day <= Duration::from_secs(48 * 3600),
            "tour.day",
            dur(c.day),
            "between 10 minutes and 48 hours",
        )?;
        ConfigError::ensure(
            (1..=10_000).contains(&c.requests_per_second),
            "tour.requests_per_second",
            c.requests_per_second,
            "in 1..=10000",
        )?;
        ConfigError::ensure(
            (0.0..=0.01).contains(&c.baseline_error_ratio),
            "tour.baseline_error_ratio",
            c.baseline_error_ratio,
            "in [0, 0.01]",
        )?;
        ConfigError::ensure(
            (0.0..=1.0).contains(&c.retry_percent),
            "tour.retry_percent",
            c.retry_percent,
            "in [0, 1]",
        )?;
        ConfigError::ensure(
            c.anti_entropy_every >= Duration::from_secs(10)
                && c.anti_entropy_every <= Duration::from_secs(3600),
            "tour.anti_entropy_every",
            dur(c.anti_entropy_every),
            "between 10s and 1h",
        )?;
        ConfigError::ensure(
            (0.0..0.5).contains(&c.clock_drift),
            "tour.clock_drift",
            c.clock_drift,
            "in [0, 0.5)",
        )?;
        ConfigError::ensure(
            (1.0..=2.0).contains(&c.lease_drift_bound),
            "tour.lease_drift_bound",
            c.lease_drift_bound,
            "in [1, 2]",
        )?;
        c.lease_policy()?;
        ConfigError::ensure(
            c.crash_at >= Duration::from_secs(60) && c.down_for >= Duration::from_secs(60),
            "tour.crash",
            dur(c.crash_at),
            "at least 1 minute into the day, down for at least 1 minute",
        )?;
        ConfigError::ensure(
            c.crash_at + c.down_for + Duration::from_secs(600) <= c.partition_at,
            "tour.partition.at",
            dur(c.partition_at),
            "at least 10 minutes after the crashed node restarts",
        )?;
        ConfigError::ensure(
            c.partition_for >= Duration::from_secs(60)
                && c.partition_at + c.partition_for + Duration::from_secs(1200) <= c.day,
            "tour.partition.length",
            dur(c.partition_for),
            "at least 1 minute, healing at least 20 minutes before the day ends",
        )?;
        if let Some((at, length)) = c.pause {
            ConfigError::ensure(
                length >= Duration::from_secs(1) && length <= Duration::from_secs(300),
                "tour.pause.length",
                dur(length),
                "between 1s and 5 minutes",
            )?;
            ConfigError::ensure(
                at >= c.partition_at + c.partition_for + Duration::from_secs(600)
                    && at + length + Duration::from_secs(300) <= c.day,
                "tour.pause.at",
                dur(at),
                "at least 10 minutes after the heal, ending at least 5 minutes before the day ends",
            )?;
        }
        Ok(c)
    }
}

/// One line of the timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineEntry {
    /// When, from the start of the day.
    pub at: Duration,
    /// What happened, in words.
    pub what: String,
}

/// Per-minute figures, for the plots and the CSV.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MinuteSample {
    /// End of the minute, from the start of the day.
    pub at: Duration,
    /// Requests sent by clients (first attempts).
    pub requests: u64,
    /// Requests that finally succeeded.
    pub succeeded: u64,
    /// Attempts including retries.
    pub attempts: u64,
    /// Burn rate over the page tier's long window, at the clients' last evaluation.
    pub burn: f64,
    /// Keys on which the replicas disagree.
    pub divergent_keys: u64,
}

/// The outcome of one scripted day.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TourResult {
    /// The seed.
    pub seed: u64,
    /// The timeline, in order.
    pub timeline: Vec<TimelineEntry>,
    /// Per-minute figures.
    pub samples: Vec<MinuteSample>,
    /// The node that held the lease and crashed.
    pub crashed_node: u64,
    /// Crash to the first suspicion by any peer (at the detector's exact crossing).
    pub detection: Option<Duration>,
    /// The phi accrual detectors' own deadline for that suspicion, from the crash:
    /// when the first peer's detector predicted, at its last heartbeat, that phi
    /// would cross the threshold.
    pub detection_bound: Option<Duration>,
    /// Crash to another node holding the lease.
    pub failover: Option<Duration>,
    /// The node that took over.
    pub new_leader: Option<u64>,
    /// The nodes cut off by the partition (the leader of the moment first).
    pub partitioned_nodes: Vec<u64>,
    /// Partition to a node of the majority holding the lease.
    pub partition_failover: Option<Duration>,
    /// The node frozen by the pause (the leader of the moment), if the script has one.
    pub paused_node: Option<u64>,
    /// Pause to another node holding the lease.
    pub pause_failover: Option<Duration>,
    /// Writes refused by the fence.
    pub stale_writes_refused: u64,
    /// Writes the fenced store accepted.
    pub fenced_writes: u64,
    /// Most nodes believing at once that they hold the lease, checked after every event.
    pub max_believing_holders: usize,
    /// Times two or more nodes began to believe at once that they hold the lease.
    pub lease_overlaps: u64,
    /// Suspicions of a live, reachable peer (a detector's mistakes).
    pub false_suspicions: u64,
    /// First attempts by clients over the day.
    pub requests: u64,
    /// Retries over the day.
    pub retries: u64,
    /// First attempts by clients while the crashed node was down.
    pub outage_requests: u64,
    /// Retries while the crashed node was down.
    pub outage_retries: u64,
    /// Calls rejected by open breakers.
    pub rejected_by_breaker: u64,
    /// Times a breaker opened.
    pub breaker_opens: u64,
    /// Requests that finally failed.
    pub failed: u64,
    /// Keys on which the replicas disagreed when the partition healed.
    pub divergent_at_heal: u64,
    /// Heal to the first instant at which every replica agrees on every key.
    pub convergence: Option<Duration>,
    /// Keys on which the replicas disagree at the end of the day.
    pub divergent_after: u64,
    /// Keys copied by anti-entropy over the day.
    pub keys_repaired: u64,
    /// Page alerts fired, with when.
    pub alerts_fired: Vec<Duration>,
    /// Page alerts cleared, with when.
    pub alerts_cleared: Vec<Duration>,
    /// Share of the 30-day error budget spent over the day, at the day's traffic.
    pub budget_consumed: f64,
    /// The retry budget, as a fraction of requests.
    pub retry_percent: f64,
    /// How much faster the fastest clock ran than the slowest.
    pub worst_clock_ratio: f64,
    /// The lease's drift bound κ.
    pub lease_drift_bound: f64,
    /// Messages the network carried, lost, and dropped at a partition or a down node.
    pub messages: (u64, u64, u64),
    /// The engine's event-log hash: equal runs give equal hashes.
    pub trace_hash: u64,
}

impl TourResult {
    /// Attempts per request: 1 plus retries per request.
    #[must_use]
    pub fn retry_amplification(&self) -> f64 {
        if self.requests == 0 {
            1.0
        } else {
            1.0 + self.retries as f64 / self.requests as f64
        }
    }

    /// Attempts per request while the crashed node was down, when the
    /// breaker and the retry budget matter.
    #[must_use]
    pub fn outage_retry_amplification(&self) -> f64 {
        if self.outage_requests == 0 {
            1.0
        } else {
            1.0 + self.outage_retries as f64 / self.outage_requests as f64
        }
    }

    /// The timeline as `t+HH:MM:SS  what` lines.
    #[must_use]
    pub fn narrative(&self) -> Vec<String> {
        self.timeline
            .iter()
            .map(|e| format!("t+{}  {}", clock_time(e.at), e.what))
            .collect()
    }

    /// The summary table.
    #[must_use]
    pub fn summary(&self) -> Table {
        let secs =
            |d: Option<Duration>| d.map_or("-".to_owned(), |d| format!("{:.1}s", d.as_secs_f64()));
        let mut t = Table::new(["measure", "value"]);
        t.push([
            "crash detected after".to_owned(),
            format!(
                "{} (detector bound {})",
                secs(self.detection),
                secs(self.detection_bound)
            ),
        ]);
        t.push([
            "lease failover after".to_owned(),
            format!(
                "{} (crash), {} (partition), {} (pause)",
                secs(self.failover),
                secs(self.partition_failover),
                secs(self.pause_failover)
            ),
        ]);
        t.push([
            "stale writes refused".to_owned(),
            self.stale_writes_refused.to_string(),
        ]);
        t.push([
            "lease overlaps".to_owned(),
            format!(
                "{} (most believing holders {}; clocks apart up to {:.2}%, lease bound {:.2}%)",
                self.lease_overlaps,
                self.max_believing_holders,
                (self.worst_clock_ratio - 1.0) * 100.0,
                (self.lease_drift_bound - 1.0) * 100.0
            ),
        ]);
        t.push([
            "false suspicions".to_owned(),
            self.false_suspicions.to_string(),
        ]);
        t.push([
            "retry amplification".to_owned(),
            format!(
                "{:.3} over the day, {:.3} in the outage (budget {:.3})",
                self.retry_amplification(),
                self.outage_retry_amplification(),
                1.0 + self.retry_percent
            ),
        ]);
        t.push([
            "breaker opens / calls rejected".to_owned(),
            format!("{} / {}", self.breaker_opens, self.rejected_by_breaker),
        ]);
        t.push([
            "divergent keys at heal / at end".to_owned(),
            format!("{} / {}", self.divergent_at_heal, self.divergent_after),
        ]);
        t.push([
            "replicas converged after heal".to_owned(),
            secs(self.convergence),
        ]);
        t.push(["keys repaired".to_owned(), self.keys_repaired.to_string()]);
        t.push([
            "page alerts fired / cleared".to_owned(),
            format!(
                "{} / {}",
                self.alerts_fired.len(),
                self.alerts_cleared.len()
            ),
        ]);
        t.push([
            "error budget consumed (30 days)".to_owned(),
            format!("{:.1}%", self.budget_consumed * 100.0),
        ]);
        t.push([
            "messages sent / lost / dropped".to_owned(),
            format!(
                "{} / {} / {}",
                self.messages.0, self.messages.1, self.messages.2
            ),
        ]);
        t
    }

    /// The narrative, summary, per-minute CSV and a plot of success rate and burn rate.
    #[must_use]
    pub fn report(&self) -> ScenarioReport {
        let mut report = ScenarioReport::new("tour", self.summary());
        for line in self.narrative() {
            report = report.narrate(line);
        }
        let mut timeline = Table::new(["t", "event"]);
        for e in &self.timeline {
            timeline.push([clock_time(e.at), e.what.clone()]);
        }
        let mut minutes = Table::new([
            "minute_end_s",
            "requests",
            "succeeded",
            "attempts",
            "burn_rate",
            "divergent_keys",
        ]);
        for s in &self.samples {
            minutes.push([
                s.at.as_secs().to_string(),
                s.requests.to_string(),
                s.succeeded.to_string(),
                s.attempts.to_string(),
                format!("{:.3}", s.burn),
                s.divergent_keys.to_string(),
            ]);
        }
        let hours = |d: Duration| d.as_secs_f64() / 3600.0;
        let mut success = LinePlot::new(
            "Request success rate over the day",
            "hours",
            "success rate (%)",
        );
        success.series(
            "success rate",
            self.samples
                .iter()
                .map(|s| {
                    let rate = if s.requests == 0 {
                        100.0
                    } else {
                        100.0 * s.succeeded as f64 / s.requests as f64
                    };
                    (hours(s.at), rate)
                })
                .collect(),
        );
        let mut burn = LinePlot::new(
            "Page-tier burn rate (1h window) and divergent keys",
            "hours",
            "burn rate / keys",
        );
        burn.series(
            "burn rate",
            self.samples.iter().map(|s| (hours(s.at), s.burn)).collect(),
        );
        burn.series(
            "divergent keys / 10",
            self.samples
                .iter()
                .map(|s| (hours(s.at), s.divergent_keys as f64 / 10.0))
                .collect(),
        );
        let top = self
            .samples
            .iter()
            .map(|s| s.burn.max(s.divergent_keys as f64 / 10.0))
            .fold(1.0_f64, f64::max);
        for e in &self.timeline {
            if e.what.contains("crashed")
                || e.what.contains("partition")
                || e.what.contains("freezes")
            {
                let x = hours(e.at);
                success.series(e.what.clone(), vec![(x, 0.0), (x, 100.0)]);
                burn.series(e.what.clone(), vec![(x, 0.0), (x, top)]);
            }
        }
        report
            .table("timeline", timeline)
            .data("minutes", minutes)
            .plot("success_rate", success)
            .plot("burn_rate", burn)
    }
}

/// `HH:MM:SS` of a duration.
fn clock_time(d: Duration) -> String {
    let s = d.as_secs();
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

fn at(d: Duration) -> Timestamp {
    Timestamp::from_nanos(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn since_start(t: Timestamp) -> Duration {
    Duration::from_nanos(t.as_nanos())
}

/// Keys on which the service nodes' replicas disagree.
fn divergent(sim: &Simulation<TourNode>, n: usize) -> u64 {
    let stores: Vec<_> = (0..n)
        .filter_map(|i| sim.process(NodeId::new(i as u64)).service())
        .map(|s| &s.store.versions)
        .collect();
    (0..KEYS)
        .filter(|&k| stores.iter().any(|v| v[k] != stores[0][k]))
        .count() as u64
}

fn name(i: usize) -> String {
    format!("node {}", i + 1)
}

fn setup(config: &TourConfig) -> Setup {
    let monitor = MonitorConfig::builder()
        .damping(None)
        .build()
        .expect("default monitor settings are valid");
    let phi = PhiAccrual::new(
        PhiAccrualConfig::builder()
            .build()
            .expect("default phi settings are valid"),
    );
    let breaker = BreakerConfig::builder()
        .count_window(20)
        .failure_rate_threshold(0.5)
        .wait_in_open(Duration::from_secs(30))
        .half_open_trials(2)
        .build()
        .expect("breaker settings are valid");
    let budget = PercentBudget::builder()
        .percent_can_retry(config.retry_percent)
        .min_retries_per_sec(0)
        .build()
        .expect("budget settings are valid");
    let (objective, period) = objective();
    let tiers = workbook_tiers(period)
        .into_iter()
        .filter(|t| t.severity() == Severity::Page)
        .collect();
    let alerts = AlertPolicy::builder(objective, period)
        .tiers(tiers)
        .build()
        .expect("the Workbook's page tiers are valid");
    let tokens = Setup::tokens();
    let initial_tree = Setup::initial_tree(&tokens);
    Setup {
        nodes: config.nodes as usize,
        policy: config
            .lease_policy()
            .expect("build() validated the lease policy"),
        monitor,
        phi,
        breaker,
        budget,
        alerts,
        requests_per_second: config.requests_per_second,
        baseline_error_ratio: config.baseline_error_ratio,
        anti_entropy_every: config.anti_entropy_every,
        outage: (at(config.crash_at), at(config.crash_at + config.down_for)),
        first_leader: config.nodes as usize / 2,
        tokens,
        initial_tree,
    }
}

/// The service's objective: 99.9% over 30 days.
fn objective() -> (Objective, Duration) {
    (
        Objective::new(0.999).expect("0.999 is a valid target"),
        Duration::from_secs(30 * 86_400),
    )
}

/// Runs the scripted day once on the engine. The same config and seed give
/// the same result, down to the engine's event-log hash
/// ([`TourResult::trace_hash`]).
///
/// # Panics
///
/// Never for a config that [`TourConfigBuilder::build`] accepted.
#[must_use]
#[allow(clippy::too_many_lines)]
pub fn run(config: &TourConfig, seed: u64) -> TourResult {
    let n = config.nodes as usize;
    let setup = Arc::new(setup(config));
    let sim_config = SimConfig::builder(n + 2)
        .seed(seed)
        .network(config.network.clone())
        .drift(config.clock_rates())
        .build()
        .expect("a validated tour makes a valid simulation");
    let mut sim = Simulation::new(sim_config, |id| {
        let i = id.get() as usize;
        if i < n {
            TourNode::Service(Box::new(node::Service::new(i, &setup)))
        } else if i == n {
            TourNode::Coordinator(Box::new(node::Coordinator::new(&setup)))
        } else {
            TourNode::Clients(Box::new(node::Clients::new(&setup)))
        }
    });
    let id = |i: usize| NodeId::new(i as u64);
    let leader0 = setup.first_leader;
    let crash_end = config.crash_at + config.down_for;
    let heal = config.partition_at + config.partition_for;
    sim.schedule(config.crash_at, Fault::Crash(id(leader0)));
    sim.schedule(crash_end, Fault::Restart(id(leader0)));
    sim.schedule(heal, Fault::Heal);

    let mut timeline = Vec::new();
    let say = |timeline: &mut Vec<TimelineEntry>, at: Duration, what: String| {
        timeline.push(TimelineEntry { at, what });
    };
    say(
        &mut timeline,
        Duration::ZERO,
        format!(
            "clocks drift: the lock service's runs {:.2}% fast, the nodes' {:.2}-{:.2}% slow; the lease allows {:.2}% between any two",
            config.clock_drift * 100.0,
            config.clock_drift * 50.0,
            config.clock_drift * 100.0,
            (config.lease_drift_bound - 1.0) * 100.0
        ),
    );
    let mut result = TourResult {
        seed,
        timeline: Vec::new(),
        samples: Vec::new(),
        crashed_node: leader0 as u64 + 1,
        detection: None,
        detection_bound: None,
        failover: None,
        new_leader: None,
        partitioned_nodes: Vec::new(),
        partition_failover: None,
        paused_node: None,
        pause_failover: None,
        stale_writes_refused: 0,
        fenced_writes: 0,
        max_believing_holders: 0,
        lease_overlaps: 0,
        false_suspicions: 0,
        requests: 0,
        retries: 0,
        outage_requests: 0,
        outage_retries: 0,
        rejected_by_breaker: 0,
        breaker_opens: 0,
        failed: 0,
        divergent_at_heal: 0,
        convergence: None,
        divergent_after: 0,
        keys_repaired: 0,
        alerts_fired: Vec::new(),
        alerts_cleared: Vec::new(),
        budget_consumed: 0.0,
        retry_percent: config.retry_percent,
        worst_clock_ratio: config.worst_clock_ratio(),
        lease_drift_bound: config.lease_drift_bound,
        messages: (0, 0, 0),
        trace_hash: 0,
    };

    let clients = id(n + 1);
    let day_end = at(config.day);
    let mut seen = vec![0_usize; n + 2];
    let mut next_sample = MINUTE;
    let mut last = node::ClientCounts::default();
    let mut crash_told = false;
    let mut restart_told = false;
    let mut partition_scheduled = false;
    let mut heal_told = false;
    let mut trust_told = false;
    let mut repair_told = false;
    let mut minority: Vec<usize> = Vec::new();
    let mut believers_before = 0_usize;
    let mut leader: Option<usize> = None;
    let mut partition_suspicions = 0_u64;
    let mut partition_recoveries = 0_u64;
    let mut cut_leader_suspected = false;
    let (pause_at, pause_for) = config.pause.unwrap_or((Duration::MAX, Duration::ZERO));
    let pause_end = pause_at.saturating_add(pause_for);
    let mut paused: Option<usize> = None;
    let mut pause_scheduled = config.pause.is_none();
    let mut resume_told = config.pause.is_none();
    let mut frozen_suspected = false;
    let mut frozen_trusted = false;
    loop {
        let next = sim.next_event_at().unwrap_or(Timestamp::MAX);
        // Minute samples due before the next event.
        while next_sample <= config.day && at(next_sample) < next {
            let c = sim.process(clients).clients().map(|c| (c.counts, c.burn));
            let (counts, burn) = c.unwrap_or_default();
            let divergent_keys = divergent(&sim, n);
            result.samples.push(MinuteSample {
                at: next_sample,
                requests: counts.requests - last.requests,
                succeeded: counts.succeeded - last.succeeded,
                attempts: counts.attempts - last.attempts,
                burn,
                divergent_keys,
            });
            last = counts;
            if heal_told && result.convergence.is_none() && divergent_keys == 0 {
                result.convergence = Some(next_sample.saturating_sub(heal));
            }
            if !trust_told && next_sample >= heal + MINUTE {
                trust_told = true;
                let doubts = (0..n)
                    .filter(|&i| sim.is_up(id(i)))
                    .filter_map(|i| {
                        let s = sim.process(id(i)).service()?;
                        let now = sim.clock(id(i)).now();
                        Some(
                            (0..n)
                                .filter(|&j| j != i)
                                .filter(|j| {
                                    s.monitor
                                        .status(j, now)
                                        .is_some_and(|st| st.state != PeerState::Healthy)
                                })
                                .count(),
                        )
                    })
                    .sum::<usize>();
                let what = if doubts == 0 {
                    format!(
                        "all nodes trust each other again ({partition_recoveries} recoveries across the partition)"
                    )
                } else {
                    format!("{doubts} suspicions still stand a minute after the heal")
                };
                say(&mut timeline, next_sample, what);
            }
            next_sample += MINUTE;
        }
        if next > day_end {
            break;
        }
        if !crash_told && next >= at(config.crash_at) {
            crash_told = true;
            // The detectors' deadline was fixed by the last heartbeats they received.
            let bound = (0..n)
                .filter(|&i| i != leader0)
                .filter_map(|i| {
                    let s = sim.process(id(i)).service()?;
                    let clock = sim.clock(id(i));
                    let local = clock.now();
                    let due = s.monitor.status(&leader0, local)?.suspect_at?;
                    let true_due = sim.now() + clock.to_true(due.saturating_duration_since(local));
                    Some(since_start(true_due))
                })
                .min();
            result.detection_bound = bound.map(|b| b.saturating_sub(config.crash_at));
            let held = if leader == Some(leader0) {
                " (it held the lease)"
            } else {
                ""
            };
            say(
                &mut timeline,
                config.crash_at,
                format!("{} crashed{held}", name(leader0)),
            );
        }
        if !restart_told && next >= at(crash_end) {
            restart_told = true;
            say(
                &mut timeline,
                crash_end,
                format!("{} restarts", name(leader0)),
            );
        }
        if !partition_scheduled && next >= at(config.partition_at) {
            partition_scheduled = true;
            let believer = (0..n).find(|&i| {
                sim.process(id(i))
                    .service()
                    .is_some_and(|s| s.believes(sim.clock(id(i)).now()).is_some())
            });
            let cut = believer.or(leader).unwrap_or(0);
            minority = vec![cut, (cut + 1) % n];
            result.partitioned_nodes = minority.iter().map(|&i| i as u64 + 1).collect();
            sim.schedule(
                config.partition_at,
                Fault::Partition(vec![minority.iter().map(|&i| id(i)).collect()]),
            );
            say(
                &mut timeline,
                config.partition_at,
                format!(
                    "network partition: {} (the leader) and {} cut off from the rest, the lock service and the clients",
                    name(minority[0]),
                    name(minority[1])
                ),
            );
            continue;
        }
        if !pause_scheduled && next >= at(pause_at) {
            pause_scheduled = true;
            let believer = (0..n).find(|&i| {
                sim.process(id(i))
                    .service()
                    .is_some_and(|s| s.believes(sim.clock(id(i)).now()).is_some())
            });
            let frozen = believer.or(leader).unwrap_or(0);
            paused = Some(frozen);
            result.paused_node = Some(frozen as u64 + 1);
            sim.schedule(
                pause_at,
                Fault::Pause {
                    node: id(frozen),
                    duration: pause_for,
                },
            );
            say(
                &mut timeline,
                pause_at,
                format!(
                    "{} (the leader) freezes for {}s in a stop-the-world pause; its clock keeps running",
                    name(frozen),
                    pause_for.as_secs()
                ),
            );
            continue;
        }
        if !resume_told && next >= at(pause_end) {
            resume_told = true;
            if let Some(frozen) = paused {
                say(
                    &mut timeline,
                    pause_end,
                    format!("{} resumes", name(frozen)),
                );
            }
        }
        sim.step();
        let now = sim.now();
        let now_d = since_start(now);
        if !heal_told && now_d >= heal {
            heal_told = true;
            result.divergent_at_heal = divergent(&sim, n);
            say(
                &mut timeline,
                heal,
                format!(
                    "partition healed ({partition_suspicions} suspicions across it); {} keys divergent",
                    result.divergent_at_heal
                ),
            );
            if result.divergent_at_heal == 0 {
                result.convergence = Some(Duration::ZERO);
            }
        }

        // What the processes noted in this event.
        for i in 0..n + 2 {
            let notes = sim.process(id(i)).notes();
            if notes.len() == seen[i] {
                continue;
            }
            let fresh = notes[seen[i]..].to_vec();
            seen[i] = notes.len();
            let clock = sim.clock(id(i)).clone();
            for noted in fresh {
                let t = since_start(now).saturating_sub(clock.to_true(noted.ago));
                let in_crash = t >= config.crash_at && t < crash_end;
                let in_partition = t >= config.partition_at && t < heal;
                // The pause, and the heartbeat or two it takes to notice the node is back.
                let in_pause =
                    t >= pause_at && t < pause_end.saturating_add(Duration::from_secs(5));
                let across = |a: usize, b: usize| minority.contains(&a) != minority.contains(&b);
                match noted.note {
                    Note::Suspected { peer, phi } => {
                        if peer == leader0 && in_crash {
                            if result.detection.is_none() {
                                result.detection = Some(t.saturating_sub(config.crash_at));
                            }
                            say(
                                &mut timeline,
                                t,
                                format!("{} suspects {} (phi {phi:.1})", name(i), name(peer)),
                            );
                        } else if in_partition && across(i, peer) {
                            partition_suspicions += 1;
                            if peer == minority[0] && !cut_leader_suspected {
                                cut_leader_suspected = true;
                                say(
                                    &mut timeline,
                                    t,
                                    format!(
                                        "{} suspects {}, the leader it no longer hears (phi {phi:.1})",
                                        name(i),
                                        name(peer)
                                    ),
                                );
                            }
                        } else if in_pause && Some(peer) == paused {
                            if !frozen_suspected {
                                frozen_suspected = true;
                                say(
                                    &mut timeline,
                                    t,
                                    format!(
                                        "{} suspects {}, frozen (phi {phi:.1})",
                                        name(i),
                                        name(peer)
                                    ),
                                );
                            }
                        } else if !(in_crash && i == leader0) && Some(i) != paused {
                            result.false_suspicions += 1;
                        }
                    }
                    Note::Trusted { peer } => {
                        if peer == leader0 && t >= crash_end && t < config.partition_at {
                            say(
                                &mut timeline,
                                t,
                                format!("{} trusts {} again", name(i), name(peer)),
                            );
                        } else if t >= heal && t < pause_at && across(i, peer) {
                            partition_recoveries += 1;
                        } else if t >= pause_end && Some(peer) == paused && !frozen_trusted {
                            frozen_trusted = true;
                            say(
                                &mut timeline,
                                t,
                                format!("{} trusts {} again", name(i), name(peer)),
                            );
                        }
                    }
                    Note::LeaseTaken { token } => {
                        leader = Some(i);
                        let what = if t < config.crash_at && result.samples.is_empty() {
                            format!("{} holds the leader lease (token {token})", name(i))
                        } else {
                            format!(
                                "{} takes the leader lease (token {token}); the fence will refuse older tokens",
                                name(i)
                            )
                        };
                        say(&mut timeline, t, what);
                        if t >= config.crash_at && i != leader0 && result.failover.is_none() {
                            result.failover = Some(t - config.crash_at);
                            result.new_leader = Some(i as u64 + 1);
                        }
                        if in_partition
                            && !minority.contains(&i)
                            && result.partition_failover.is_none()
                        {
                            result.partition_failover = Some(t - config.partition_at);
                        }
                        if t >= pause_at && Some(i) != paused && result.pause_failover.is_none() {
                            result.pause_failover = Some(t - pause_at);
                        }
                    }
                    Note::LeaseExpired { token } => say(
                        &mut timeline,
                        t,
                        format!(
                            "{}'s lease (token {token}) runs out on its own clock: it stops acting as leader",
                            name(i)
                        ),
                    ),
                    Note::LeaseLost { token } => say(
                        &mut timeline,
                        t,
                        format!(
                            "{} hears from the lock service that its lease (token {token}) is gone",
                            name(i)
                        ),
                    ),
                    Note::Rejoined { leader } => say(
                        &mut timeline,
                        t,
                        format!(
                            "{} sees its lease is gone and rejoins as a follower of {}",
                            name(i),
                            name(leader)
                        ),
                    ),
                    Note::WriteRefused {
                        from,
                        token,
                        why,
                        replayed,
                    } => {
                        result.stale_writes_refused += 1;
                        let what = if replayed {
                            format!(
                                "{} flushes a write queued under token {token}: refused ({why})",
                                name(from)
                            )
                        } else {
                            format!("{} writes under token {token}: refused ({why})", name(from))
                        };
                        say(&mut timeline, t, what);
                    }
                    Note::Repaired { peer, keys } => {
                        if heal_told && result.convergence.is_none() {
                            let left = divergent(&sim, n);
                            if !repair_told {
                                repair_told = true;
                                say(
                                    &mut timeline,
                                    t,
                                    format!(
                                        "Merkle anti-entropy: {} copies {keys} keys from {}; {left} divergent keys left",
                                        name(i),
                                        name(peer)
                                    ),
                                );
                            }
                            if left == 0 {
                                result.convergence = Some(t.saturating_sub(heal));
                                say(
                                    &mut timeline,
                                    t,
                                    "the replicas agree on every key again".to_owned(),
                                );
                            }
                        }
                    }
                    Note::BreakerOpened {
                        home,
                        failure_rate,
                        calls,
                    } => {
                        result.breaker_opens += 1;
                        say(
                            &mut timeline,
                            t,
                            format!(
                                "clients of {} open their breaker ({:.0}% of {calls} calls failed)",
                                name(home),
                                failure_rate * 100.0
                            ),
                        );
                    }
                    Note::BreakerClosed { home } => say(
                        &mut timeline,
                        t,
                        format!(
                            "clients of {} close their breaker: trial calls passed",
                            name(home)
                        ),
                    ),
                    Note::Alert {
                        name: alert,
                        fired,
                        long_burn,
                        short_burn,
                        silenced,
                    } => {
                        let what = if fired {
                            result.alerts_fired.push(t);
                            format!(
                                "alert {alert} fires (page; burn rate {long_burn:.1}x long, {short_burn:.1}x short)"
                            )
                        } else {
                            result.alerts_cleared.push(t);
                            let why = if silenced {
                                "silenced by a faster tier"
                            } else {
                                "windows recovered"
                            };
                            format!(
                                "alert {alert} resolves ({why}; burn rate {long_burn:.1}x long, {short_burn:.1}x short)"
                            )
                        };
                        say(&mut timeline, t, what);
                    }
                }
            }
        }

        // Lease safety, after every event: beliefs only start at events.
        let believers = (0..n)
            .filter(|&i| {
                sim.process(id(i))
                    .service()
                    .is_some_and(|s| s.believes(sim.clock(id(i)).now()).is_some())
            })
            .count();
        if believers >= 2 && believers_before < 2 {
            result.lease_overlaps += 1;
            say(
                &mut timeline,
                now_d,
                format!("{believers} nodes believe they hold the lease at once"),
            );
        }
        believers_before = believers;
        result.max_believing_holders = result.max_believing_holders.max(believers);
    }

    result.divergent_after = divergent(&sim, n);
    if let Some(c) = sim.process(clients).clients() {
        result.requests = c.counts.requests;
        result.retries = c.counts.retries;
        result.outage_requests = c.counts.outage_requests;
        result.outage_retries = c.counts.outage_retries;
        result.rejected_by_breaker = c.counts.rejected_by_breaker;
        result.failed = c.counts.failed;
    }
    result.keys_repaired = (0..n)
        .filter_map(|i| sim.process(id(i)).service())
        .map(|s| s.keys_repaired)
        .sum();
    if let TourNode::Coordinator(c) = sim.process(id(n)) {
        result.fenced_writes = c.accepted;
    }
    let stats = sim.stats();
    result.messages = (
        stats.sent,
        stats.lost,
        stats.partitioned + stats.to_down_node,
    );
    result.trace_hash = sim.trace_hash();
    let (objective, period) = objective();
    let budget_requests = result.requests as f64 * period.as_secs_f64() / config.day.as_secs_f64()
        * objective.error_budget();
    result.budget_consumed = if budget_requests > 0.0 {
        result.failed as f64 / budget_requests
    } else {
        0.0
    };
    say(
        &mut timeline,
        config.day,
        format!(
            "end of day: {} of {} requests failed, {:.1}% of the 30-day error budget spent",
            result.failed,
            result.requests,
            result.budget_consumed * 100.0
        ),
    );
    timeline.sort_by_key(|e| e.at);
    result.timeline = timeline;
    result
}

/// Many scripted days, aggregated: means and 95% confidence intervals.
///
/// ```
/// use std::time::Duration;
/// use steadfast_sim::scenario::tour::{self, TourConfig};
///
/// let config = TourConfig::short()
///     .day(Duration::from_secs(45 * 60))
///     .requests_per_second(1)
///     .build()?;
/// let summary = tour::run_many(&config, &[4, 5], 2);
/// let detection = summary.detection_secs.expect("both runs detect the crash");
/// assert_eq!(detection.n, 2);
/// println!("{}", summary.summary());
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TourSummary {
    /// Every run, in seed order, without its timeline and per-minute samples.
    pub runs: Vec<TourResult>,
    /// Crash to first suspicion, in seconds, over the runs that detected it.
    pub detection_secs: Option<Summary>,
    /// Crash to the new leader's lease, in seconds.
    pub failover_secs: Option<Summary>,
    /// Partition to the majority's lease, in seconds.
    pub partition_failover_secs: Option<Summary>,
    /// Pause to another node's lease, in seconds.
    pub pause_failover_secs: Option<Summary>,
    /// Retry amplification over the day.
    pub amplification: Option<Summary>,
    /// Retry amplification while the crashed node was down.
    pub outage_amplification: Option<Summary>,
    /// Heal to replicas agreeing on every key, in seconds, over the runs that converged.
    pub convergence_secs: Option<Summary>,
    /// Page alerts fired per run.
    pub alerts_fired: Option<Summary>,
    /// Lease overlaps per run.
    pub lease_overlaps: Option<Summary>,
    /// Stale writes refused per run.
    pub stale_writes_refused: Option<Summary>,
    /// Share of the 30-day error budget spent per run.
    pub budget_consumed: Option<Summary>,
}

/// Runs the scripted day for every seed on `threads` threads and aggregates.
///
/// ```
/// use std::time::Duration;
/// use steadfast_sim::scenario::tour::{self, TourConfig};
///
/// let config = TourConfig::short()
///     .day(Duration::from_secs(45 * 60))
///     .requests_per_second(2)
///     .build()?;
/// let summary = tour::run_many(&config, &[1, 2, 3], 2);
/// let failover = summary.failover_secs.unwrap();
/// assert_eq!(failover.n, 3);
/// assert!(failover.ci95.0 <= failover.mean && failover.mean <= failover.ci95.1);
/// assert_eq!(summary.lease_overlaps.unwrap().max, 0.0);
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[must_use]
pub fn run_many(config: &TourConfig, seeds: &[u64], threads: usize) -> TourSummary {
    run_many_with_progress(config, seeds, threads, |_| {})
}

/// Like [`run_many`], calling `progress(done)` after each run (see
/// [`run_seeds_with_progress`]).
#[must_use]
pub fn run_many_with_progress(
    config: &TourConfig,
    seeds: &[u64],
    threads: usize,
    progress: impl Fn(usize) + Sync,
) -> TourSummary {
    let runs = run_seeds_with_progress(
        seeds,
        threads,
        |seed| {
            let mut result = run(config, seed);
            result.samples = Vec::new();
            result.timeline = Vec::new();
            result
        },
        progress,
    );
    let of = |f: &dyn Fn(&TourResult) -> Option<f64>| {
        let values: Vec<f64> = runs.iter().filter_map(f).collect();
        Summary::of(&values)
    };
    let secs = |d: Option<Duration>| d.map(|d| d.as_secs_f64());
    TourSummary {
        detection_secs: of(&|r| secs(r.detection)),
        failover_secs: of(&|r| secs(r.failover)),
        partition_failover_secs: of(&|r| secs(r.partition_failover)),
        pause_failover_secs: of(&|r| secs(r.pause_failover)),
        amplification: of(&|r| Some(r.retry_amplification())),
        outage_amplification: of(&|r| Some(r.outage_retry_amplification())),
        convergence_secs: of(&|r| secs(r.convergence)),
        alerts_fired: of(&|r| Some(r.alerts_fired.len() as f64)),
        lease_overlaps: of(&|r| Some(r.lease_overlaps as f64)),
        stale_writes_refused: of(&|r| Some(r.stale_writes_refused as f64)),
        budget_consumed: of(&|r| Some(r.budget_consumed * 100.0)),
        runs,
    }
}

impl TourSummary {
    /// The aggregated table: per measure, how many runs had it, mean, 95% CI, min and max.
    #[must_use]
    pub fn summary(&self) -> Table {
        let n = self.runs.len();
        let mut table = Table::new([
            "measure",
            "runs",
            "mean",
            "ci95 low",
            "ci95 high",
            "min",
            "max",
        ]);
        let rows: [(&str, Option<&Summary>); 11] = [
            ("crash detected after (s)", self.detection_secs.as_ref()),
            (
                "lease failover after crash (s)",
                self.failover_secs.as_ref(),
            ),
            (
                "lease failover after partition (s)",
                self.partition_failover_secs.as_ref(),
            ),
            (
                "lease failover after pause (s)",
                self.pause_failover_secs.as_ref(),
            ),
            ("retry amplification (day)", self.amplification.as_ref()),
            (
                "retry amplification (outage)",
                self.outage_amplification.as_ref(),
            ),
            ("replica convergence (s)", self.convergence_secs.as_ref()),
            ("page alerts fired", self.alerts_fired.as_ref()),
            ("lease overlaps", self.lease_overlaps.as_ref()),
            ("stale writes refused", self.stale_writes_refused.as_ref()),
            ("error budget consumed (%)", self.budget_consumed.as_ref()),
        ];
        for (name, s) in rows {
            match s {
                Some(s) => table.push([
                    name.to_owned(),
                    format!("{}/{n}", s.n),
                    format!("{:.3}", s.mean),
                    format!("{:.3}", s.ci95.0),
                    format!("{:.3}", s.ci95.1),
                    format!("{:.3}", s.min),
                    format!("{:.3}", s.max),
                ]),
                None => table.push([name.to_owned(), format!("0/{n}")]),
            }
        }
        table
    }

    /// The aggregated table and one row per run as CSV.
    #[must_use]
    pub fn report(&self) -> ScenarioReport {
        let secs =
            |d: Option<Duration>| d.map_or(String::new(), |d| format!("{:.3}", d.as_secs_f64()));
        let mut runs = Table::new([
            "seed",
            "detection_s",
            "failover_s",
            "partition_failover_s",
            "pause_failover_s",
            "amplification",
            "outage_amplification",
            "convergence_s",
            "alerts_fired",
            "lease_overlaps",
            "stale_writes_refused",
            "budget_consumed",
            "trace_hash",
        ]);
        for r in &self.runs {
            runs.push([
                r.seed.to_string(),
                secs(r.detection),
                secs(r.failover),
                secs(r.partition_failover),
                secs(r.pause_failover),
                format!("{:.4}", r.retry_amplification()),
                format!("{:.4}", r.outage_retry_amplification()),
                secs(r.convergence),
                r.alerts_fired.len().to_string(),
                r.lease_overlaps.to_string(),
                r.stale_writes_refused.to_string(),
                format!("{:.4}", r.budget_consumed),
                format!("{:016x}", r.trace_hash),
            ]);
        }
        ScenarioReport::new("tour", self.summary()).data("runs", runs)
    }
}

#[cfg(test)]
mod tests {
    use super::node::{Store, value_hash};
    use super::*;
    use steadfast_replica::{MerkleTree, hash64};

    #[test]
    fn clock_times_read_as_hours_minutes_seconds() {
        assert_eq!(clock_time(Duration::ZERO), "00:00:00");
        assert_eq!(
            clock_time(Duration::from_secs(2 * 3600 + 13 * 60 + 5)),
            "02:13:05"
        );
        assert_eq!(clock_time(Duration::from_secs(24 * 3600)), "24:00:00");
    }

    #[test]
    fn replicas_keep_the_newest_version_and_their_trees_agree() {
        let tokens: Vec<u64> = (0..4u64).map(|k| hash64(&k.to_le_bytes())).collect();
        let tree = MerkleTree::build(
            4,
            tokens
                .iter()
                .enumerate()
                .map(|(k, &t)| (t, value_hash(k, 0))),
        )
        .expect("valid depth");
        let mut a = Store {
            versions: vec![0; 4],
            tree: tree.clone(),
        };
        let mut b = Store {
            versions: vec![0; 4],
            tree,
        };
        assert!(a.set(1, tokens[1], 5));
        assert_ne!(a.tree.root(), b.tree.root());
        assert!(b.set(1, tokens[1], 7));
        assert!(!b.set(1, tokens[1], 5)); // an older version never replaces a newer one
        assert_eq!(b.versions[1], 7);
        a.set(1, tokens[1], 7);
        assert_eq!(a.tree.root(), b.tree.root());
        assert!(a.tree.diff(&b.tree).expect("same depth").is_empty());
    }

    #[test]
    fn clock_rates_stay_within_the_drift() {
        let config = TourConfig::builder()
            .clock_drift(0.01)
            .build()
            .expect("valid");
        let rates = config.clock_rates();
        assert_eq!(rates.len(), 7);
        let fastest = rates.iter().copied().fold(f64::MIN, f64::max);
        let slowest = rates.iter().copied().fold(f64::MAX, f64::min);
        assert!((fastest / slowest - config.worst_clock_ratio()).abs() < 1e-12);
        assert_eq!(rates[6], 1.0, "the clients' clock runs true");
    }

    #[test]
    fn three_nodes_play_the_same_script() {
        let config = TourConfig::short()
            .nodes(3)
            .requests_per_second(2)
            .build()
            .expect("valid");
        let r = run(&config, 5);
        assert_eq!(r.crashed_node, 2);
        assert!(r.failover.is_some());
        assert_eq!(r.stale_writes_refused, 1);
        assert_eq!(r.max_believing_holders, 1);
        assert_eq!(r.lease_overlaps, 0);
        assert_eq!(r.divergent_after, 0);
        assert!(r.pause_failover.is_some());
    }
}
