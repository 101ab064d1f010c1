//! `retry-storm`: clients calling a server that fails for a while, with plain
//! retries, retries under a budget, and a budget plus a circuit breaker.
//!
//! Clients send requests at a fixed rate (each with a seeded phase). The
//! server has a capacity per second, enforced per 100 ms slot, and fails every
//! attempt during the failure window. Failed attempts are retried with
//! steadfast-guard's [`Backoff`] (full jitter, seeded); the budgeted policy asks
//! a [`PercentBudget`] before each retry and the third policy also asks a
//! [`CircuitBreaker`] before each attempt. Budgets and breakers read the
//! simulation's [`ManualClock`], so the run is deterministic.
//!
//! Measured per policy: load amplification (attempts the server received per
//! client request, overall and during the failure window), goodput (successful
//! client requests per second) and time to recover (from the end of the
//! failure until the first one-second bin whose client success rate is at
//! least the recovery threshold).
//!
//! ```
//! use std::time::Duration;
//! use steadfast_sim::scenario::retry_storm::{self, RetryStormConfig};
//!
//! let config = RetryStormConfig::builder()
//!     .clients(5)
//!     .duration(Duration::from_secs(10))
//!     .failure(Duration::from_secs(3), Duration::from_secs(3))
//!     .build()
//!     .unwrap();
//! let result = retry_storm::run(&config, 1);
//! let plain = &result.policies[0];
//! let budget = &result.policies[1];
//! assert!(budget.window_amplification < plain.window_amplification);
//! ```

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use steadfast_core::{ConfigError, ManualClock, Timestamp};
use steadfast_guard::backoff::{Backoff, Jitter};
use steadfast_guard::breaker::{BreakerConfig, CircuitBreaker};
use steadfast_guard::budget::{PercentBudget, PercentBudgetConfig, RetryBudget, RetryKind};

use crate::{LinePlot, ScenarioReport, Summary, Table, run_seeds};

const SLOT_NANOS: u64 = 100_000_000;
const BIN_NANOS: u64 = 1_000_000_000;

/// The client policy being measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Policy {
    /// Retries with backoff up to the attempt limit.
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
#[derive(Debug, Clone)]
pub struct RetryStormConfig {
    clients: usize,
    rate_per_client: f64,
    duration: Duration,
    failure_start: Duration,
    failure_length: Duration,
    capacity_per_sec: f64,
    max_attempts: u32,
    initial_backoff: Duration,
    budget: PercentBudgetConfig,
    breaker: BreakerConfig,
    recovery_threshold: f64,
}

/// Builds a [`RetryStormConfig`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build()` is called"]
pub struct RetryStormConfigBuilder {
    config: RetryStormConfig,
}

impl RetryStormConfig {
    /// Defaults: 20 clients at 10 requests/s for 30 s, the server failing
    /// from 10 s for 5 s with capacity 400/s, 4 attempts, 10 ms initial
    /// backoff, a budget of 10% plus 1 retry/s per client (the default floor
    /// of 10 retries/s would allow every retry at this rate) and a breaker opening at 50% failures over 20
    /// calls (at least 10) for 1 s with 3 half-open trials; recovered at 99%
    /// success.
    pub fn builder() -> RetryStormConfigBuilder {
        RetryStormConfigBuilder {
            config: RetryStormConfig {
                clients: 20,
                rate_per_client: 10.0,
                duration: Duration::from_secs(30),
                failure_start: Duration::from_secs(10),
                failure_length: Duration::from_secs(5),
                capacity_per_sec: 400.0,
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
    /// The server fails every attempt from `start` for `length` (non-empty,
    /// ending within the duration).
    pub fn failure(mut self, start: Duration, length: Duration) -> Self {
        self.config.failure_start = start;
        self.config.failure_length = length;
        self
    }
    /// Attempts per second the server can handle (finite, positive).
    pub fn capacity_per_sec(mut self, c: f64) -> Self {
        self.config.capacity_per_sec = c;
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
            c.capacity_per_sec.is_finite() && c.capacity_per_sec > 0.0,
            "capacity_per_sec",
            c.capacity_per_sec,
            "finite and positive",
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
            total <= 50_000_000.0,
            "clients * rate_per_client * duration",
            total,
            "at most 50000000 requests",
        )?;
        Ok(c)
    }
}

/// What one policy did in one run.
#[derive(Debug, Clone, PartialEq)]
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
    /// Successful client requests per second.
    pub goodput: f64,
    /// From the end of the failure to the first bin at or above the
    /// threshold; `None` if it never recovered.
    pub recovery: Option<Duration>,
    /// Attempts the server received per second, one entry per second.
    pub load: Vec<u64>,
}

/// One run of every policy.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryStormResult {
    /// The seed.
    pub seed: u64,
    /// One entry per [`Policy::ALL`], in that order.
    pub policies: Vec<PolicyResult>,
}

enum Budgets {
    None,
    Percent(Vec<PercentBudget<ManualClock>>),
}

struct Pending {
    client: usize,
    attempt: u32,
    backoff: Backoff,
    retried: bool,
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn run_policy(config: &RetryStormConfig, seed: u64, policy: Policy) -> PolicyResult {
    let clock = ManualClock::new();
    let mut rng = SmallRng::seed_from_u64(seed);
    let budgets = match policy {
        Policy::PlainRetries => Budgets::None,
        _ => Budgets::Percent(
            (0..config.clients)
                .map(|_| PercentBudget::with_clock(config.budget, clock.clone()))
                .collect(),
        ),
    };
    let breakers: Vec<CircuitBreaker<ManualClock>> = if policy == Policy::BudgetAndBreaker {
        (0..config.clients)
            .map(|_| CircuitBreaker::with_clock(config.breaker.clone(), clock.clone()))
            .collect()
    } else {
        Vec::new()
    };
    let template = Backoff::exponential(config.initial_backoff)
        .jitter(Jitter::Full)
        .build()
        .expect("validated backoff");
    let end = nanos(config.duration);
    let fail_from = nanos(config.failure_start);
    let fail_to = fail_from + nanos(config.failure_length);
    let period = (1e9 / config.rate_per_client) as u64;
    let slot_capacity = (config.capacity_per_sec * SLOT_NANOS as f64 / 1e9).max(1.0) as u64;
    let bins = usize::try_from(end.div_ceil(BIN_NANOS)).unwrap_or(usize::MAX);
    let mut load = vec![0u64; bins];
    let mut done_ok = vec![0u64; bins];
    let mut done_err = vec![0u64; bins];

    // Events: (time, sequence) -> Some(pending attempt) or None for a new
    // request of the client at that index.
    let mut queue: BinaryHeap<Reverse<(u64, u64, usize)>> = BinaryHeap::new();
    let mut pendings: Vec<Option<Pending>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut seq = 0u64;
    for _ in 0..config.clients {
        let phase = rng.random_range(0..period.max(1));
        pendings.push(None);
        queue.push(Reverse((phase, seq, pendings.len() - 1)));
        seq += 1;
    }
    let (mut client_requests, mut server_requests, mut successes) = (0u64, 0u64, 0u64);
    let (mut window_client, mut window_server) = (0u64, 0u64);
    let mut slot = (u64::MAX, 0u64);
    while let Some(Reverse((now, _, index))) = queue.pop() {
        if now >= end {
            break;
        }
        clock.advance_to(Timestamp::from_nanos(now));
        let in_window = (fail_from..fail_to).contains(&now);
        let mut pending = match pendings[index].take() {
            Some(p) => {
                free.push(index);
                p
            }
            None => {
                // A new request from client `index` (the first `clients` slots).
                let client = index;
                client_requests += 1;
                if in_window {
                    window_client += 1;
                }
                if let Budgets::Percent(b) = &budgets {
                    b[client].deposit();
                }
                pendings[index] = None;
                queue.push(Reverse((now + period, seq, index)));
                seq += 1;
                Pending {
                    client,
                    attempt: 0,
                    backoff: template.reseeded(rng.random()),
                    retried: false,
                }
            }
        };
        pending.attempt += 1;
        let bin = usize::try_from(now / BIN_NANOS)
            .unwrap_or(usize::MAX)
            .min(bins - 1);
        let permit = if breakers.is_empty() {
            None
        } else {
            match breakers[pending.client].try_acquire() {
                Ok(p) => Some(p),
                Err(_) => {
                    done_err[bin] += 1;
                    continue;
                }
            }
        };
        server_requests += 1;
        load[bin] += 1;
        if in_window {
            window_server += 1;
        }
        let this_slot = now / SLOT_NANOS;
        if slot.0 != this_slot {
            slot = (this_slot, 0);
        }
        slot.1 += 1;
        let ok = !in_window && slot.1 <= slot_capacity;
        if let Some(p) = permit {
            if ok {
                p.success();
            } else {
                p.failure();
            }
        }
        if ok {
            successes += 1;
            done_ok[bin] += 1;
            if let Budgets::Percent(b) = &budgets {
                b[pending.client].record_success(pending.retried.then_some(RetryKind::Error));
            }
            continue;
        }
        let allowed = pending.attempt < config.max_attempts
            && match &budgets {
                Budgets::None => true,
                Budgets::Percent(b) => b[pending.client].try_withdraw(RetryKind::Error),
            };
        match pending.backoff.next().filter(|_| allowed) {
            Some(delay) => {
                pending.retried = true;
                // Reuse a freed retry slot so memory follows the retries in flight.
                let slot_index = if let Some(i) = free.pop() {
                    pendings[i] = Some(pending);
                    i
                } else {
                    pendings.push(Some(pending));
                    pendings.len() - 1
                };
                queue.push(Reverse((now + nanos(delay).max(1), seq, slot_index)));
                seq += 1;
            }
            None => done_err[bin] += 1,
        }
    }
    let first_after = usize::try_from(fail_to.div_ceil(BIN_NANOS)).unwrap_or(usize::MAX);
    let recovery = (first_after..bins)
        .find(|&b| {
            let total = done_ok[b] + done_err[b];
            total > 0 && done_ok[b] as f64 / total as f64 >= config.recovery_threshold
        })
        .map(|b| Duration::from_nanos((b as u64 * BIN_NANOS).saturating_sub(fail_to)));
    let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    PolicyResult {
        policy,
        client_requests,
        server_requests,
        successes,
        amplification: ratio(server_requests, client_requests),
        window_amplification: ratio(window_server, window_client),
        goodput: successes as f64 / config.duration.as_secs_f64(),
        recovery,
        load,
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
#[derive(Debug, Clone)]
pub struct PolicySummary {
    /// The policy.
    pub policy: Policy,
    /// Overall amplification.
    pub amplification: Option<Summary>,
    /// Amplification during the failure window.
    pub window_amplification: Option<Summary>,
    /// Goodput, requests per second.
    pub goodput: Option<Summary>,
    /// Recovery time in seconds, over the runs that recovered.
    pub recovery_secs: Option<Summary>,
}

/// Many runs aggregated.
#[derive(Debug, Clone)]
pub struct RetryStormSummary {
    /// One entry per [`Policy::ALL`].
    pub policies: Vec<PolicySummary>,
    /// Every run, in seed order.
    pub runs: Vec<RetryStormResult>,
}

/// Runs every seed on `threads` threads and aggregates.
#[must_use]
pub fn run_many(config: &RetryStormConfig, seeds: &[u64], threads: usize) -> RetryStormSummary {
    let runs = run_seeds(seeds, threads, |seed| run(config, seed));
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
                goodput: pick(&|p| Some(p.goodput)),
                recovery_secs: pick(&|p| p.recovery.map(|d| d.as_secs_f64())),
            }
        })
        .collect();
    RetryStormSummary { policies, runs }
}

fn load_plot(result: &RetryStormResult) -> LinePlot {
    let mut plot = LinePlot::new("server load per policy", "time (s)", "attempts per second");
    for p in &result.policies {
        let points = p
            .load
            .iter()
            .enumerate()
            .map(|(s, &n)| (s as f64, n as f64))
            .collect();
        plot.series(p.policy.as_str(), points);
    }
    plot
}

fn load_table(result: &RetryStormResult) -> Table {
    let mut header = vec!["second".to_owned()];
    header.extend(result.policies.iter().map(|p| p.policy.as_str().to_owned()));
    let mut table = Table::new(header);
    let seconds = result.policies.first().map_or(0, |p| p.load.len());
    for s in 0..seconds {
        let mut row = vec![s.to_string()];
        row.extend(result.policies.iter().map(|p| p.load[s].to_string()));
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
    /// Narrative, summary table, per-second load CSV and the load plot.
    #[must_use]
    pub fn report(&self) -> ScenarioReport {
        let mut summary = Table::new([
            "policy",
            "client requests",
            "server attempts",
            "amplification",
            "in failure",
            "goodput/s",
            "recovery",
        ]);
        for p in &self.policies {
            summary.push([
                p.policy.as_str().to_owned(),
                p.client_requests.to_string(),
                p.server_requests.to_string(),
                format!("{:.2}", p.amplification),
                format!("{:.2}", p.window_amplification),
                format!("{:.1}", p.goodput),
                recovery_text(p.recovery),
            ]);
        }
        let mut report = ScenarioReport::new("retry-storm", summary);
        for p in &self.policies {
            report = report.narrate(format!(
                "seed {}: {} sent {:.2} attempts per request during the failure, recovered after {}",
                self.seed,
                p.policy.as_str(),
                p.window_amplification,
                recovery_text(p.recovery)
            ));
        }
        report
            .data("load", load_table(self))
            .plot("load", load_plot(self))
    }
}

impl RetryStormSummary {
    /// Narrative, summary table with 95% intervals, the first run's load CSV
    /// and plot.
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
            "goodput/s",
            "recovery s (recovered runs)",
        ]);
        for p in &self.policies {
            summary.push([
                p.policy.as_str().to_owned(),
                fmt(p.amplification),
                fmt(p.window_amplification),
                fmt(p.goodput),
                format!(
                    "{} (n={})",
                    fmt(p.recovery_secs),
                    p.recovery_secs.map_or(0, |s| s.n)
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
                .plot("load", load_plot(first));
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

    #[test]
    fn same_seed_same_result_and_seeds_differ() {
        let c = small();
        assert_eq!(run(&c, 7), run(&c, 7));
        assert_ne!(run(&c, 7), run(&c, 8));
    }

    #[test]
    fn budget_amplifies_less_and_breaker_less_still() {
        let r = run(&small(), 3);
        let [plain, budget, breaker] = [&r.policies[0], &r.policies[1], &r.policies[2]];
        assert!(plain.window_amplification > 3.0, "{plain:?}");
        assert!(budget.window_amplification < plain.window_amplification);
        assert!(
            breaker.window_amplification < budget.window_amplification,
            "{breaker:?}"
        );
        for p in &r.policies {
            assert!(p.recovery.is_some(), "{p:?}");
            assert!(p.goodput > 0.0);
        }
    }

    #[test]
    fn validation_rejects_nan_zero_and_huge() {
        let b = RetryStormConfig::builder;
        assert_eq!(
            b().rate_per_client(f64::NAN).build().unwrap_err().field(),
            "rate_per_client"
        );
        assert_eq!(b().clients(0).build().unwrap_err().field(), "clients");
        assert_eq!(
            b().capacity_per_sec(f64::INFINITY)
                .build()
                .unwrap_err()
                .field(),
            "capacity_per_sec"
        );
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
    fn defaults_show_each_policy_cutting_load_and_recovering() {
        let r = run(&RetryStormConfig::builder().build().unwrap(), 1);
        let [plain, budget, breaker] = [&r.policies[0], &r.policies[1], &r.policies[2]];
        assert!(budget.window_amplification < plain.window_amplification);
        assert!(breaker.window_amplification < budget.window_amplification);
        for p in &r.policies {
            assert!(p.recovery.is_some(), "{p:?}");
        }
    }

    #[test]
    fn reports_render() {
        let c = small();
        let one = run(&c, 1).report();
        assert_eq!(one.summary().rows().len(), 3);
        assert!(one.plots()[0].1.to_svg().unwrap().contains("<svg"));
        let many = run_many(&c, &[1, 2, 3], 2).report();
        assert_eq!(many.summary().rows().len(), 3);
    }
}
