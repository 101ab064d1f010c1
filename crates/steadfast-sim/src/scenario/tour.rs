//! `tour`: a five-node service through a scripted day of faults, using every crate together.
//!
//! Five nodes heartbeat each other every second and watch each other with
//! phi accrual detectors (`steadfast-detect`). One of them holds the leader
//! lease (`steadfast-quorum`) and writes through a fence. Clients send
//! requests to their home node through a circuit breaker, retrying failures
//! under a percent retry budget (`steadfast-guard`). Every node replicates a
//! key space and runs Merkle anti-entropy with its peers every few minutes
//! (`steadfast-replica`). The service's success ratio is watched by the SRE
//! Workbook's paging burn-rate tiers (`steadfast-slo`).
//!
//! The script: the leader crashes (its clients fail until it restarts); the
//! others suspect it, one of them takes over the lease once it expires; on
//! restart the old leader flushes a write queued under its old token and the
//! fence refuses it. Later the network splits two nodes from three; writes
//! land on one side only, and anti-entropy reconciles the replicas after the
//! heal. The result narrates the day as a timeline and sums it up.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use steadfast_sim::scenario::tour::{self, TourConfig};
//!
//! let config = TourConfig::builder()
//!     .day(Duration::from_secs(3 * 3600))
//!     .crash(Duration::from_secs(1800), Duration::from_secs(900))
//!     .partition(Duration::from_secs(5400), Duration::from_secs(1200))
//!     .build()?;
//! let result = tour::run(&config, 7);
//! assert!(result.detection.is_some() && result.failover.is_some());
//! assert_eq!(result.stale_writes_refused, 1);
//! assert_eq!(result.divergent_after, 0);
//! assert!(result.max_believing_holders <= 1);
//! println!("{}", result.report());
//! # Ok::<(), steadfast_core::ConfigError>(())
//! ```

use std::sync::Arc;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use steadfast_core::{ConfigError, ManualClock, Recorder, Timestamp};
use steadfast_detect::{
    Monitor, MonitorConfig, PeerState, PhiAccrual, PhiAccrualConfig, TransitionReason,
};
use steadfast_guard::breaker::{BreakerConfig, BreakerEvent, BreakerState, CircuitBreaker};
use steadfast_guard::budget::{PercentBudget, RetryBudget, RetryKind};
use steadfast_quorum::{Fence, InMemoryBackend, LeasePolicy, Mutex};
use steadfast_replica::{MerkleTree, hash64};
use steadfast_slo::{
    AlertEvent, AlertEventKind, AlertPolicy, BurnRateMonitor, Objective, Severity, workbook_tiers,
};

use crate::{LinePlot, ScenarioReport, Table};

const STEP: Duration = Duration::from_secs(1);
const KEYS: u64 = 1000;
const MERKLE_DEPTH: u8 = 8;
const MAX_RETRIES: u32 = 2;

/// Settings of the `tour` scenario. Build with [`TourConfig::builder`].
///
/// ```
/// use std::time::Duration;
/// use steadfast_sim::scenario::tour::TourConfig;
///
/// let config = TourConfig::builder().build()?;
/// assert_eq!(config.nodes(), 5);
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
    requests_per_second: u32,
    baseline_error_ratio: f64,
    anti_entropy_every: Duration,
    retry_percent: f64,
}

/// Builder of [`TourConfig`]; validation happens in [`build`](Self::build).
#[derive(Debug, Clone)]
pub struct TourConfigBuilder {
    config: TourConfig,
}

impl TourConfig {
    /// A builder with the defaults: five nodes, a 24-hour day, the leader
    /// crashing at 02:13:05 for 20 minutes, nodes 1 and 2 cut off from the
    /// rest at 09:00 for 30 minutes, 10 requests a second with 0.05%
    /// baseline errors, anti-entropy every 10 minutes, retries budgeted at
    /// 20% of requests.
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
                requests_per_second: 10,
                baseline_error_ratio: 0.0005,
                anti_entropy_every: Duration::from_secs(600),
                retry_percent: 0.2,
            },
        }
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

    /// When the network splits the first two nodes from the rest, and for how long.
    #[must_use]
    pub fn partition(mut self, at: Duration, length: Duration) -> Self {
        self.config.partition_at = at;
        self.config.partition_for = length;
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

    /// How often replicas run Merkle anti-entropy (default 10 minutes, 1 s to 1 h).
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

    /// Validates the settings.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first setting out of its range (see each
    /// setter); the crash must end before the partition starts, and the
    /// partition must heal at least 20 minutes before the day ends, so that
    /// each act of the script has time to play out.
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
            c.anti_entropy_every >= STEP && c.anti_entropy_every <= Duration::from_secs(3600),
            "tour.anti_entropy_every",
            dur(c.anti_entropy_every),
            "between 1s and 1h",
        )?;
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
            !c.partition_for.is_zero()
                && c.partition_at + c.partition_for + Duration::from_secs(1200) <= c.day,
            "tour.partition.length",
            dur(c.partition_for),
            "positive, healing at least 20 minutes before the day ends",
        )?;
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
    /// Burn rate over the page tier's long window, if known.
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
    /// Crash to the first suspicion by any peer.
    pub detection: Option<Duration>,
    /// The phi accrual detectors' own deadline for that suspicion, from the crash:
    /// when the first peer's detector predicted, at its last heartbeat, that phi
    /// would cross the threshold.
    pub detection_bound: Option<Duration>,
    /// Crash to another node holding the lease.
    pub failover: Option<Duration>,
    /// The node that took over.
    pub new_leader: Option<u64>,
    /// Writes refused by the fence.
    pub stale_writes_refused: u64,
    /// Most nodes believing at once that they hold the lease.
    pub max_believing_holders: usize,
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
        t.push(["lease failover after".to_owned(), secs(self.failover)]);
        t.push([
            "stale writes refused".to_owned(),
            self.stale_writes_refused.to_string(),
        ]);
        t.push([
            "most believing lease holders".to_owned(),
            self.max_believing_holders.to_string(),
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
            if e.what.contains("crashed") || e.what.contains("partition") {
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

/// A node's replica: one version per key (0: never written) and its Merkle tree.
struct Store {
    versions: Vec<u64>,
    tree: MerkleTree,
}

impl Store {
    fn set(&mut self, key: usize, token: u64, version: u64) {
        let old = self.versions[key];
        if version > old {
            self.tree
                .update(token, value_hash(key, old), value_hash(key, version));
            self.versions[key] = version;
        }
    }
}

fn value_hash(key: usize, version: u64) -> u64 {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&(key as u64).to_le_bytes());
    bytes[8..].copy_from_slice(&version.to_le_bytes());
    hash64(&bytes)
}

fn divergent(stores: &[Store]) -> u64 {
    (0..KEYS as usize)
        .filter(|&k| {
            stores
                .iter()
                .any(|s| s.versions[k] != stores[0].versions[k])
        })
        .count() as u64
}

/// Runs the scripted day once. The same config and seed give the same result.
///
/// # Panics
///
/// Never for a config that [`TourConfigBuilder::build`] accepted.
#[must_use]
#[allow(clippy::too_many_lines)]
pub fn run(config: &TourConfig, seed: u64) -> TourResult {
    let n = config.nodes as usize;
    let mut rng = SmallRng::seed_from_u64(seed);
    let clock = ManualClock::new();
    let mut timeline = Vec::new();
    let mut say = |t: Duration, what: String| timeline.push(TimelineEntry { at: t, what });

    // Detection: every node watches every other with phi accrual.
    let monitor_config = MonitorConfig::builder()
        .damping(None)
        .build()
        .expect("default monitor settings are valid");
    let phi = PhiAccrual::new(
        PhiAccrualConfig::builder()
            .build()
            .expect("default phi settings are valid"),
    );
    let monitors: Vec<Monitor<usize, PhiAccrual>> = (0..n)
        .map(|_| Monitor::new(monitor_config.clone(), phi.clone()))
        .collect();

    // The leader lease, granted by one backend, and the fence in front of storage.
    let backend = Arc::new(InMemoryBackend::with_clock(clock.clone()));
    let policy = LeasePolicy::builder(Duration::from_secs(10))
        .drift_bound(1.25)
        .safety_margin(Duration::from_millis(500))
        .build()
        .expect("lease settings are valid");
    let mutexes: Vec<_> = (0..n)
        .map(|i| {
            Mutex::with_clock(
                Arc::clone(&backend),
                "leader",
                format!("node {}", i + 1),
                policy,
                clock.clone(),
            )
        })
        .collect();
    let fence = Fence::new();

    // Clients: one group per home node, with a breaker and a retry budget.
    let breaker_events: Vec<Recorder<BreakerEvent>> = (0..n).map(|_| Recorder::new()).collect();
    let breaker_config = BreakerConfig::builder()
        .count_window(20)
        .failure_rate_threshold(0.5)
        .wait_in_open(Duration::from_secs(30))
        .half_open_trials(2)
        .build()
        .expect("breaker settings are valid");
    let breakers: Vec<_> = breaker_events
        .iter()
        .map(|events| {
            CircuitBreaker::with_observer(breaker_config.clone(), clock.clone(), events.clone())
        })
        .collect();
    let budget_config = PercentBudget::builder()
        .percent_can_retry(config.retry_percent)
        .min_retries_per_sec(0)
        .build()
        .expect("budget settings are valid");
    let budgets: Vec<_> = (0..n)
        .map(|_| PercentBudget::with_clock(budget_config, clock.clone()))
        .collect();

    // Burn-rate alerts: the Workbook's paging tiers over 30 days at 99.9%.
    let objective = Objective::new(0.999).expect("0.999 is a valid target");
    let period = Duration::from_secs(30 * 86_400);
    let tiers = workbook_tiers(period)
        .into_iter()
        .filter(|t| t.severity() == Severity::Page)
        .collect();
    let alert_policy = AlertPolicy::builder(objective, period)
        .tiers(tiers)
        .build()
        .expect("the Workbook's page tiers are valid");
    let thresholds: Vec<f64> = alert_policy.tiers().iter().map(|t| t.burn_rate()).collect();
    let alert_events = Recorder::<AlertEvent>::new();
    let mut slo = BurnRateMonitor::with_clock(alert_policy, clock.clone())
        .with_observer(alert_events.clone());

    // Replicas.
    let tokens: Vec<u64> = (0..KEYS).map(|k| hash64(&k.to_le_bytes())).collect();
    let initial = MerkleTree::build(
        MERKLE_DEPTH,
        tokens
            .iter()
            .enumerate()
            .map(|(k, &t)| (t, value_hash(k, 0))),
    )
    .expect("depth 8 is valid");
    let mut stores: Vec<Store> = (0..n)
        .map(|_| Store {
            versions: vec![0; KEYS as usize],
            tree: initial.clone(),
        })
        .collect();
    let mut version = 0_u64;

    // The script.
    let leader0 = n / 2; // node 3 of 5
    let mut guards: Vec<Option<_>> = (0..n).map(|_| None).collect();
    guards[leader0] = mutexes[leader0].try_lock().ok();
    if let Some(g) = &guards[leader0] {
        say(
            Duration::ZERO,
            format!(
                "node {} holds the leader lease (token {})",
                leader0 + 1,
                g.token()
            ),
        );
    }
    let crash_end = config.crash_at + config.down_for;
    let heal = config.partition_at + config.partition_for;
    let minority = |i: usize| i < 2;
    let mut up = vec![true; n];
    let mut queued_token = None;
    let mut leader = Some(leader0);
    let mut result = TourResult {
        seed,
        timeline: Vec::new(),
        samples: Vec::new(),
        crashed_node: leader0 as u64 + 1,
        detection: None,
        detection_bound: None,
        failover: None,
        new_leader: None,
        stale_writes_refused: 0,
        max_believing_holders: 1,
        requests: 0,
        retries: 0,
        outage_requests: 0,
        outage_retries: 0,
        rejected_by_breaker: 0,
        breaker_opens: 0,
        failed: 0,
        divergent_at_heal: 0,
        divergent_after: 0,
        keys_repaired: 0,
        alerts_fired: Vec::new(),
        alerts_cleared: Vec::new(),
        budget_consumed: 0.0,
        retry_percent: config.retry_percent,
    };
    let mut minute = MinuteSample {
        at: Duration::ZERO,
        requests: 0,
        succeeded: 0,
        attempts: 0,
        burn: 0.0,
        divergent_keys: 0,
    };
    let mut partition_suspicions = 0_u64;
    let mut partition_recoveries = 0_u64;
    let steps = config.day.as_secs();
    for step in 0..steps {
        let now = STEP * step as u32;
        clock.advance_to(at(now));
        let partitioned = now >= config.partition_at && now < heal;
        let connected = |a: usize, b: usize| !partitioned || minority(a) == minority(b);

        // Scripted faults.
        if now == config.crash_at {
            up[leader0] = false;
            queued_token = guards[leader0].as_ref().map(|g| g.token());
            // Its deadline was fixed by the last heartbeats the others received.
            let bound = (0..n)
                .filter(|&i| i != leader0)
                .filter_map(|i| monitors[i].status(&leader0, at(now)))
                .filter_map(|s| s.suspect_at)
                .min();
            result.detection_bound = bound.map(|d| since_start(d).saturating_sub(now));
            say(
                now,
                format!("node {} crashed (it held the lease)", leader0 + 1),
            );
        }
        if now == crash_end {
            up[leader0] = true;
            say(now, format!("node {} restarts", leader0 + 1));
            if let Some(token) = queued_token.take() {
                match fence.check(token) {
                    Ok(()) => say(
                        now,
                        format!(
                            "node {} flushed a queued write under token {token}: accepted",
                            leader0 + 1
                        ),
                    ),
                    Err(stale) => {
                        result.stale_writes_refused += 1;
                        say(
                            now,
                            format!(
                                "node {} flushes a write queued under token {token}: refused ({stale})",
                                leader0 + 1
                            ),
                        );
                    }
                }
            }
            if let Some(mut g) = guards[leader0].take()
                && !g.is_held()
            {
                say(
                    now,
                    format!(
                        "node {} sees its lease is gone and rejoins as a follower",
                        leader0 + 1
                    ),
                );
            }
        }
        if now == config.partition_at {
            say(
                now,
                "network partition: nodes 1-2 cut off from the rest".to_owned(),
            );
        }
        if now == heal {
            result.divergent_at_heal = divergent(&stores);
            say(
                now,
                format!(
                    "partition healed ({partition_suspicions} suspicions across it); {} keys divergent",
                    result.divergent_at_heal
                ),
            );
        }

        // Heartbeats, then each node's detector sweep.
        for (i, monitor) in monitors.iter().enumerate() {
            if !up[i] {
                continue;
            }
            for j in (0..n).filter(|&j| j != i && up[j] && connected(i, j)) {
                let delay = Duration::from_micros(rng.random_range(500..20_000));
                if let Some(t) = monitor.heartbeat(j, at(now + delay)) {
                    if t.to != PeerState::Healthy {
                        // Heartbeats never make a peer less trusted.
                    } else if now >= config.partition_at {
                        partition_recoveries += 1;
                    } else if j == leader0 {
                        say(now, format!("node {} trusts node {} again", i + 1, j + 1));
                    }
                }
            }
            for t in monitor.sweep(at(now + STEP)) {
                let t_at = since_start(t.at);
                if t.peer == leader0 && !up[leader0] && now < crash_end {
                    if let TransitionReason::ThresholdCrossed { suspicion } = t.reason {
                        if result.detection.is_none() {
                            result.detection = Some(t_at.saturating_sub(config.crash_at));
                        }
                        say(
                            t_at,
                            format!(
                                "node {} suspects node {} (phi {suspicion:.1})",
                                i + 1,
                                t.peer + 1
                            ),
                        );
                    } else {
                        say(
                            t_at,
                            format!("node {} marks node {} {}", i + 1, t.peer + 1, t.to),
                        );
                    }
                } else if partitioned && t.from == PeerState::Healthy {
                    partition_suspicions += 1;
                }
            }
        }
        if now == heal + Duration::from_secs(60) {
            say(
                now,
                format!("all nodes trust each other again ({partition_recoveries} recoveries)"),
            );
        }

        // The lease: the holder renews; followers that suspect the leader try to take over.
        for i in 0..n {
            if !up[i] {
                continue;
            }
            if let Some(g) = guards[i].as_mut() {
                if step % 3 == 0 && g.renew().is_err() {
                    guards[i] = None;
                    say(now, format!("node {} lost the lease", i + 1));
                }
                continue;
            }
            let suspects = leader.is_none_or(|l| {
                monitors[i]
                    .status(&l, at(now + STEP))
                    .is_some_and(|s| s.state != PeerState::Healthy)
            });
            if suspects && let Ok(g) = mutexes[i].try_lock() {
                let token = g.token();
                fence
                    .check(token)
                    .expect("a new token is newer than every earlier one");
                if leader != Some(i) && result.failover.is_none() && now > config.crash_at {
                    result.failover = Some(now - config.crash_at);
                    result.new_leader = Some(i as u64 + 1);
                }
                say(
                    now,
                    format!(
                        "node {} takes the leader lease (token {token}); the fence now refuses older tokens",
                        i + 1
                    ),
                );
                leader = Some(i);
                guards[i] = Some(g);
            }
        }
        let believers = guards
            .iter_mut()
            .enumerate()
            .filter(|(i, _)| up[*i])
            .filter_map(|(_, g)| g.as_mut())
            .map(|g| usize::from(g.is_held()))
            .sum();
        result.max_believing_holders = result.max_believing_holders.max(believers);

        // Client traffic.
        let (mut good, mut total) = (0_u64, 0_u64);
        for _ in 0..config.requests_per_second {
            let home = rng.random_range(0..n);
            result.requests += 1;
            let in_outage = now >= config.crash_at && now < crash_end;
            result.outage_requests += u64::from(in_outage);
            minute.requests += 1;
            total += 1;
            budgets[home].deposit();
            let mut tries = 0;
            let ok = loop {
                minute.attempts += 1;
                let Ok(permit) = breakers[home].try_acquire() else {
                    result.rejected_by_breaker += 1;
                    break false;
                };
                if up[home] && !rng.random_bool(config.baseline_error_ratio) {
                    permit.success();
                    break true;
                }
                permit.failure();
                if tries == MAX_RETRIES || !budgets[home].try_withdraw(RetryKind::Error) {
                    break false;
                }
                tries += 1;
                result.retries += 1;
                result.outage_retries += u64::from(in_outage);
            };
            if ok {
                good += 1;
                minute.succeeded += 1;
            } else {
                result.failed += 1;
            }
        }
        for (e, home) in breaker_events
            .iter()
            .enumerate()
            .flat_map(|(home, events)| events.take().into_iter().map(move |e| (e, home + 1)))
        {
            if e.to == BreakerState::Open && e.from == BreakerState::Closed {
                result.breaker_opens += 1;
                say(
                    since_start(e.at),
                    format!(
                        "clients of node {home} open their breaker ({:.0}% of {} calls failed)",
                        e.figures.failure_rate() * 100.0,
                        e.figures.calls
                    ),
                );
            } else if e.to == BreakerState::Closed && e.from == BreakerState::HalfOpen {
                say(
                    since_start(e.at),
                    format!("clients of node {home} close their breaker: trial calls passed"),
                );
            }
        }
        let _ = slo.record_at(at(now + STEP), good, total);

        // Writes: one a second, by the leader's side; they reach the replicas it can reach.
        let live: Vec<usize> = (0..n).filter(|&i| up[i]).collect();
        if !live.is_empty() {
            let writer = live[rng.random_range(0..live.len())];
            let key = rng.random_range(0..KEYS as usize);
            version += 1;
            for (i, store) in stores.iter_mut().enumerate() {
                if up[i] && connected(writer, i) {
                    store.set(key, tokens[key], version);
                }
            }
        }

        // Anti-entropy between every connected pair of live replicas.
        if step % config.anti_entropy_every.as_secs() == 0 && step > 0 {
            let mut repaired = 0_u64;
            for a in 0..n {
                for b in a + 1..n {
                    if !(up[a] && up[b] && connected(a, b)) {
                        continue;
                    }
                    let Ok(ranges) = stores[a].tree.diff(&stores[b].tree) else {
                        continue;
                    };
                    for (key, &token) in tokens.iter().enumerate() {
                        if !ranges.iter().any(|r| r.contains(token)) {
                            continue;
                        }
                        let (va, vb) = (stores[a].versions[key], stores[b].versions[key]);
                        if va != vb {
                            repaired += 1;
                            let newest = va.max(vb);
                            stores[a].set(key, token, newest);
                            stores[b].set(key, token, newest);
                        }
                    }
                }
            }
            result.keys_repaired += repaired;
            if repaired > 0 && now >= heal && now < heal + config.anti_entropy_every {
                say(
                    now,
                    format!(
                        "Merkle anti-entropy copies {repaired} keys between replicas; {} divergent keys left",
                        divergent(&stores)
                    ),
                );
            }
        }

        // Alerts, evaluated every minute.
        if (step + 1) % 60 == 0 {
            let states = slo.evaluate_at(at(now + STEP));
            minute.at = now + STEP;
            minute.burn = states.first().and_then(|s| s.long_burn).unwrap_or(0.0);
            minute.divergent_keys = divergent(&stores);
            result.samples.push(minute);
            minute = MinuteSample {
                at: Duration::ZERO,
                requests: 0,
                succeeded: 0,
                attempts: 0,
                burn: 0.0,
                divergent_keys: 0,
            };
            for e in alert_events.take() {
                let t = since_start(e.at);
                let burn = e.long_burn.unwrap_or(0.0);
                if e.kind == AlertEventKind::Fired {
                    result.alerts_fired.push(t);
                    say(
                        t,
                        format!(
                            "alert {} fires (page; burn rate {burn:.1}x long, {:.1}x short)",
                            e.name,
                            e.short_burn.unwrap_or(0.0)
                        ),
                    );
                } else {
                    result.alerts_cleared.push(t);
                    let short = e.short_burn.unwrap_or(0.0);
                    let silenced = thresholds.get(e.tier).is_some_and(|&limit| short >= limit);
                    let why = if silenced {
                        "silenced by a faster tier"
                    } else {
                        "windows recovered"
                    };
                    say(
                        t,
                        format!(
                            "alert {} resolves ({why}; burn rate {burn:.1}x long, {short:.1}x short)",
                            e.name
                        ),
                    );
                }
            }
        }
    }
    result.divergent_after = divergent(&stores);
    let budget_requests = result.requests as f64 * period.as_secs_f64() / config.day.as_secs_f64()
        * objective.error_budget();
    result.budget_consumed = if budget_requests > 0.0 {
        result.failed as f64 / budget_requests
    } else {
        0.0
    };
    say(
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

#[cfg(test)]
mod tests {
    use super::*;

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
        a.set(1, tokens[1], 5);
        assert_ne!(a.tree.root(), b.tree.root());
        b.set(1, tokens[1], 7);
        b.set(1, tokens[1], 5); // an older version never replaces a newer one
        assert_eq!(b.versions[1], 7);
        a.set(1, tokens[1], 7);
        assert_eq!(a.tree.root(), b.tree.root());
        assert!(a.tree.diff(&b.tree).expect("same depth").is_empty());
    }

    #[test]
    fn three_nodes_play_the_same_script() {
        let config = TourConfig::builder()
            .nodes(3)
            .day(Duration::from_secs(2 * 3600))
            .crash(Duration::from_secs(1200), Duration::from_secs(600))
            .partition(Duration::from_secs(3600), Duration::from_secs(1200))
            .build()
            .expect("valid");
        let r = run(&config, 5);
        assert_eq!(r.crashed_node, 2);
        assert!(r.failover.is_some());
        assert_eq!(r.stale_writes_refused, 1);
        assert_eq!(r.max_believing_holders, 1);
        assert_eq!(r.divergent_after, 0);
    }
}
