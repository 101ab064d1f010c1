//! `lease-safety`: leader election with leases and fencing under partitions,
//! pauses and clock drift, inside and outside the drift bound.
//!
//! A lease comes from a quorum of grantor nodes (3 by default; any number
//! from 1 to 9), each running steadfast-quorum's [`InMemoryBackend`] on its
//! own drifting clock and so enforcing its own expiry. A candidate without a
//! lease campaigns: it asks every grantor for the lease under a fencing token
//! one above the highest it has seen, and counts the answers with a
//! [`VoteTally`] over a majority [`QuorumSystem`]. A grantor grants only if
//! its own lease table is free and the token is above every token it has
//! granted, so two majorities always share a grantor that saw both tokens:
//! tokens grow from holder to holder. A candidate holds the lease once a
//! majority granted it; a campaign that can no longer win gives its grants
//! back and waits one to four ticks (randomised, so rivals stop splitting
//! the votes). The holder measures its [`Lease`] from the instant it sent
//! the request, on its own clock, and believes it only while the
//! `T/κ − margin` rule allows; it renews from a majority when due. While it
//! believes, it writes to a resource node every tick with its token, a short
//! while after checking its lease (the window where a pause makes a write
//! stale), and the resource's [`Fence`] refuses stale tokens.
//!
//! Every `fault_every` a fault lands, exactly at its planned instant (an
//! engine event at that instant, aimed at whoever holds the lease then): the
//! holder is paused or partitioned away from everyone; a grantor crashes
//! (losing its lease table, keeping its highest token, and granting nothing
//! for a term after it restarts) or is partitioned away; optionally every
//! grantor's clock steps forward (a clock jump, which the rule does not allow
//! for). Grantors' clocks run in the faster half of the spread (the first
//! grantor the fastest) and each candidate's clock runs at a rate drawn
//! log-uniformly so that the fastest and slowest clocks differ by at most
//! `clock_spread`: the worst case for safety is a fast grantor.
//!
//! What is measured, exactly (belief changes only at events and at expiry
//! instants, which are computed from each node's clock, so nothing is
//! sampled):
//!
//! - **overlaps**: episodes during which two candidates both believe they
//!   hold a valid lease, and their total duration. The rule makes this zero
//!   while `clock_spread ≤ κ` and clocks do not jump; beyond the bound, or
//!   with the grantors' clocks stepping forward, the scenario finds overlaps;
//! - **failover time**: how long the cluster has no believing holder after a
//!   holder's belief ended (the first election excluded), to compare with
//!   [`LeaseSafetyConfig::failover_bound`];
//! - **writes**: those the fence admitted and the stale ones it refused.
//!
//! Measured with the defaults (3 grantors) over seeds 1 to 10: no overlap in
//! any run, failover in 0.16 s on average (95% CI 0.13–0.19 s, at most
//! 0.51 s, against a bound of 3.6 s), 1.2 stale writes refused per run. With
//! `clock_spread(1.5)` against `κ = 1.01`, 9 of 10 runs overlapped, 3.3
//! episodes per run on average.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use steadfast_sim::scenario::lease_safety::{self, LeaseSafetyConfig};
//!
//! let config = LeaseSafetyConfig::builder()
//!     .candidates(3)
//!     .grantors(5)
//!     .drift_bound(1.05)
//!     .clock_spread(1.04)
//!     .duration(Duration::from_secs(60))
//!     .build()?;
//! let result = lease_safety::run(&config, 7);
//! assert_eq!(result.overlaps, 0);
//! assert!(result.writes_accepted > 0);
//! println!("{}", result.report());
//! # Ok::<(), steadfast_core::ConfigError>(())
//! ```

use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use steadfast_core::{Clock, ConfigError, NodeId, Timestamp};
use steadfast_quorum::{
    AcquireOutcome, Fence, FencingToken, InMemoryBackend, Lease, LeaseBackend, LeaseGrant,
    LeasePolicy, QuorumKind, QuorumSystem, RenewOutcome, TallyOutcome, Vote, VoteTally,
};

use crate::{
    Context, Fault, LinePlot, Network, NodeClock, Process, ScenarioReport, SimConfig, Simulation,
    Summary, Table, Timer, run_seeds_with_progress,
};

const KEY: &str = "leader";
const TICK: u64 = 0;

/// The `lease-safety` scenario's parameters; built with [`LeaseSafetyConfig::builder`].
#[derive(Debug, Clone, PartialEq)]
pub struct LeaseSafetyConfig {
    candidates: usize,
    grantors: usize,
    grantor_faults: bool,
    grantor_down_for: Duration,
    policy: LeasePolicy,
    clock_spread: f64,
    tick: Duration,
    write_delay: Duration,
    duration: Duration,
    fault_every: Duration,
    pauses: bool,
    partitions: bool,
    pause_for: Duration,
    partition_for: Duration,
    grantor_jump: Option<Duration>,
    network: Network,
}

/// Builds a [`LeaseSafetyConfig`]; every setting has a default.
#[derive(Debug, Clone)]
#[must_use]
pub struct LeaseSafetyConfigBuilder {
    candidates: usize,
    grantors: usize,
    grantor_faults: bool,
    grantor_down_for: Duration,
    term: Duration,
    drift_bound: f64,
    clock_spread: f64,
    tick: Duration,
    write_delay: Duration,
    duration: Duration,
    fault_every: Duration,
    pauses: bool,
    partitions: bool,
    pause_for: Duration,
    partition_for: Duration,
    grantor_jump: Option<Duration>,
    network: Network,
}

impl LeaseSafetyConfig {
    /// Defaults: 3 candidates, 3 grantors, a 2 s term with `κ = 1.01`,
    /// clocks within `1.005` of each other, a 100 ms tick with writes 40 ms
    /// after each check, 120 s of simulated time with a fault every 10 s
    /// (holder pauses of 6 s, partitions of 6 s, grantor crashes of 6 s), on
    /// a 1 ms LAN.
    ///
    /// ```
    /// # use steadfast_sim::scenario::lease_safety::LeaseSafetyConfig;
    /// let config = LeaseSafetyConfig::builder().build().unwrap();
    /// assert_eq!(config.candidates(), 3);
    /// ```
    pub fn builder() -> LeaseSafetyConfigBuilder {
        LeaseSafetyConfigBuilder {
            candidates: 3,
            grantors: 3,
            grantor_faults: true,
            grantor_down_for: Duration::from_secs(6),
            term: Duration::from_secs(2),
            drift_bound: 1.01,
            clock_spread: 1.005,
            tick: Duration::from_millis(100),
            write_delay: Duration::from_millis(40),
            duration: Duration::from_secs(120),
            fault_every: Duration::from_secs(10),
            pauses: true,
            partitions: true,
            pause_for: Duration::from_secs(6),
            partition_for: Duration::from_secs(6),
            grantor_jump: None,
            network: Network::lan(),
        }
    }

    /// How many candidates compete for the lease.
    #[must_use]
    pub fn candidates(&self) -> usize {
        self.candidates
    }

    /// How many grantors the lease needs a majority of.
    #[must_use]
    pub fn grantors(&self) -> usize {
        self.grantors
    }

    /// The longest leaderless gap the parameters allow after a holder's
    /// belief ends, unless faults keep a majority of grantors away: a full
    /// term at the grantors (they may have received a renewal just before
    /// the belief ended), then three campaigns of at most five ticks each
    /// (a random wait of up to four ticks, then one tick to be refused),
    /// all on the slowest clock the spread allows, plus 100 ms for the
    /// network's round trips.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use steadfast_sim::scenario::lease_safety::LeaseSafetyConfig;
    /// let config = LeaseSafetyConfig::builder().clock_spread(1.0).build().unwrap();
    /// // 2 s + 15 ticks of 100 ms + 100 ms.
    /// assert_eq!(config.failover_bound(), Duration::from_millis(3_600));
    /// ```
    #[must_use]
    pub fn failover_bound(&self) -> Duration {
        let local = self.policy.term() + self.tick * 15;
        local.mul_f64(self.clock_spread.sqrt()) + Duration::from_millis(100)
    }

    /// The lease policy (term, drift bound `κ`, margin, renewal point).
    #[must_use]
    pub fn policy(&self) -> &LeasePolicy {
        &self.policy
    }

    /// The ratio between the fastest and the slowest clock.
    #[must_use]
    pub fn clock_spread(&self) -> f64 {
        self.clock_spread
    }

    /// Whether the clocks' spread lies within the policy's drift bound.
    #[must_use]
    pub fn within_bound(&self) -> bool {
        self.clock_spread <= self.policy.drift_bound()
    }
}

impl LeaseSafetyConfigBuilder {
    /// Candidates competing for the lease (2 to 32).
    pub fn candidates(mut self, n: usize) -> Self {
        self.candidates = n;
        self
    }

    /// Grantor nodes (1 to 9); a lease needs grants from a majority of them.
    pub fn grantors(mut self, n: usize) -> Self {
        self.grantors = n;
        self
    }

    /// Whether faults include crashing a grantor (it loses its lease table)
    /// and partitioning a grantor away.
    pub fn grantor_faults(mut self, on: bool) -> Self {
        self.grantor_faults = on;
        self
    }

    /// How long a crashed grantor stays down.
    pub fn grantor_down_for(mut self, d: Duration) -> Self {
        self.grantor_down_for = d;
        self
    }

    /// The lease term `T` each grantor enforces.
    pub fn term(mut self, term: Duration) -> Self {
        self.term = term;
        self
    }

    /// The drift bound `κ` the holders assume.
    pub fn drift_bound(mut self, kappa: f64) -> Self {
        self.drift_bound = kappa;
        self
    }

    /// The actual ratio between the fastest clock (the grantor's) and the
    /// slowest one: at most `κ` is inside the bound, more is outside.
    pub fn clock_spread(mut self, spread: f64) -> Self {
        self.clock_spread = spread;
        self
    }

    /// How often (local time) candidates campaign, renew and write.
    pub fn tick(mut self, tick: Duration) -> Self {
        self.tick = tick;
        self
    }

    /// The gap between a holder's lease check and its write.
    pub fn write_delay(mut self, delay: Duration) -> Self {
        self.write_delay = delay;
        self
    }

    /// Simulated time of one run.
    pub fn duration(mut self, duration: Duration) -> Self {
        self.duration = duration;
        self
    }

    /// The interval between faults aimed at the current holder.
    pub fn fault_every(mut self, every: Duration) -> Self {
        self.fault_every = every;
        self
    }

    /// Whether faults include pausing the holder.
    pub fn pauses(mut self, on: bool) -> Self {
        self.pauses = on;
        self
    }

    /// Whether faults include partitioning the holder away from everyone else.
    pub fn partitions(mut self, on: bool) -> Self {
        self.partitions = on;
        self
    }

    /// How long a paused holder stays paused.
    pub fn pause_for(mut self, d: Duration) -> Self {
        self.pause_for = d;
        self
    }

    /// How long a partition lasts before it heals.
    pub fn partition_for(mut self, d: Duration) -> Self {
        self.partition_for = d;
        self
    }

    /// Adds a kind of fault: every grantor's clock steps forward by `jump`
    /// (wall clocks corrected by NTP), so leases expire early at the
    /// grantors. The `T/κ` rule assumes clocks that do not step, so this finds
    /// overlaps even with drift inside the bound. `None` (the default) turns
    /// it off.
    pub fn grantor_jump(mut self, jump: Option<Duration>) -> Self {
        self.grantor_jump = jump;
        self
    }

    /// The network model.
    pub fn network(mut self, network: Network) -> Self {
        self.network = network;
        self
    }

    /// Validates the configuration.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] if candidates lie outside 2..=32 or grantors
    /// outside 1..=9; the lease policy
    /// is invalid (term, `κ`); `clock_spread` is not finite or lies outside
    /// `[1, 4]`; the tick is zero or leaves no room to renew before the
    /// holder's validity ends; `write_delay` is not below the tick; the
    /// duration is zero or above a day; `fault_every` is zero or not above
    /// the pause, partition and grantor-down durations; those are zero; the
    /// grantors' clock jump is zero or above an hour.
    pub fn build(self) -> Result<LeaseSafetyConfig, ConfigError> {
        ConfigError::ensure(
            (2..=32).contains(&self.candidates),
            "lease_safety.candidates",
            self.candidates,
            "in 2..=32",
        )?;
        ConfigError::ensure(
            (1..=9).contains(&self.grantors),
            "lease_safety.grantors",
            self.grantors,
            "in 1..=9",
        )?;
        let policy = LeasePolicy::builder(self.term)
            .drift_bound(self.drift_bound)
            .build()?;
        ConfigError::ensure(
            self.clock_spread.is_finite() && (1.0..=4.0).contains(&self.clock_spread),
            "lease_safety.clock_spread",
            self.clock_spread,
            "a finite number in [1, 4]",
        )?;
        let renew_window = policy.holder_validity() - policy.renew_after();
        ConfigError::ensure(
            !self.tick.is_zero() && self.tick * 2 <= renew_window,
            "lease_safety.tick",
            format_args!("{:?}", self.tick),
            format!("above zero and at most half the renewal window ({renew_window:?})"),
        )?;
        ConfigError::ensure(
            self.write_delay < self.tick,
            "lease_safety.write_delay",
            format_args!("{:?}", self.write_delay),
            format!("below the tick ({:?})", self.tick),
        )?;
        ConfigError::ensure(
            !self.duration.is_zero() && self.duration <= Duration::from_secs(86_400),
            "lease_safety.duration",
            format_args!("{:?}", self.duration),
            "above zero and at most one day",
        )?;
        for (field, d) in [
            ("lease_safety.pause_for", self.pause_for),
            ("lease_safety.partition_for", self.partition_for),
            ("lease_safety.grantor_down_for", self.grantor_down_for),
        ] {
            ConfigError::ensure(!d.is_zero(), field, format_args!("{d:?}"), "above zero")?;
        }
        if let Some(jump) = self.grantor_jump {
            ConfigError::ensure(
                !jump.is_zero() && jump <= Duration::from_secs(3600),
                "lease_safety.grantor_jump",
                format_args!("{jump:?}"),
                "above zero and at most one hour",
            )?;
        }
        let longest = self
            .pause_for
            .max(self.partition_for)
            .max(self.grantor_down_for);
        ConfigError::ensure(
            self.fault_every > longest,
            "lease_safety.fault_every",
            format_args!("{:?}", self.fault_every),
            format!("above the longest pause, partition or grantor crash ({longest:?})"),
        )?;
        Ok(LeaseSafetyConfig {
            candidates: self.candidates,
            grantors: self.grantors,
            grantor_faults: self.grantor_faults,
            grantor_down_for: self.grantor_down_for,
            policy,
            clock_spread: self.clock_spread,
            tick: self.tick,
            write_delay: self.write_delay,
            duration: self.duration,
            fault_every: self.fault_every,
            pauses: self.pauses,
            partitions: self.partitions,
            pause_for: self.pause_for,
            partition_for: self.partition_for,
            grantor_jump: self.grantor_jump,
            network: self.network,
        })
    }
}

/// What one seeded run of `lease-safety` measured.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct LeaseSafetyResult {
    /// The seed.
    pub seed: u64,
    /// Whether the clocks' spread lay within the drift bound.
    pub within_bound: bool,
    /// How many grantors voted on leases.
    pub grantors: usize,
    /// Clock rates: each grantor, the resource, then each candidate.
    pub clock_rates: Vec<f64>,
    /// Episodes during which two or more candidates believed they held the lease.
    pub overlaps: u64,
    /// Their total duration.
    pub overlap_time: Duration,
    /// When the first holder began to believe.
    pub first_leader_at: Option<Duration>,
    /// Each leaderless gap after a belief ended, until the next belief began.
    pub failovers: Vec<Duration>,
    /// Grants the grantors made, counted per grantor.
    pub grants: u64,
    /// Campaigns the candidates started.
    pub campaigns: u64,
    /// Campaigns given up (refused by too many grantors, or unanswered).
    pub lost_campaigns: u64,
    /// Writes the fence admitted.
    pub writes_accepted: u64,
    /// Writes the fence refused because a newer token had written.
    pub stale_writes_refused: u64,
    /// Writes sent after the writer's own belief had ended (a pause between
    /// check and write); the fence refuses them once a newer holder wrote.
    pub late_writes: u64,
    /// The faults injected: when and what.
    pub faults: Vec<(Duration, String)>,
    /// The number of believing candidates after each change: `(time, count)`.
    pub believers: Vec<(Duration, usize)>,
    /// The simulation's event-log hash (equal runs, equal hashes).
    pub trace_hash: u64,
}

/// Many runs of `lease-safety`, aggregated.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct LeaseSafetySummary {
    /// Every run, in seed order.
    pub runs: Vec<LeaseSafetyResult>,
    /// Overlap episodes per run.
    pub overlaps: Option<Summary>,
    /// Runs with at least one overlap.
    pub runs_with_overlap: usize,
    /// Failover times in seconds, pooled over runs.
    pub failover_secs: Option<Summary>,
    /// Stale writes refused per run.
    pub stale_writes_refused: Option<Summary>,
}

#[derive(Debug, Clone, Copy)]
enum Msg {
    /// A candidate asks a grantor for the lease under `token`.
    Acquire { token: u64, sent_at: Timestamp },
    /// The grantor granted `token`.
    Granted { token: u64, sent_at: Timestamp },
    /// The grantor refused; `promised` is the highest token it has granted.
    Refused { token: u64, promised: u64 },
    /// A holder asks a grantor to extend `token`.
    Renew { token: u64, sent_at: Timestamp },
    /// The grantor extended `token` by a full term from its receipt.
    Renewed { token: u64, sent_at: Timestamp },
    /// The grantor no longer holds `token`.
    Lost { token: u64, sent_at: Timestamp },
    /// A candidate that lost its campaign gives a grant back.
    Release { token: u64 },
    /// A holder's write to the resource.
    Write { token: FencingToken },
}

/// Grantor votes, one slot per grantor, counted with a [`VoteTally`].
#[derive(Debug, Clone)]
struct Round {
    token: u64,
    sent_at: Timestamp,
    votes: Vec<Option<Vote>>,
}

impl Round {
    fn new(token: u64, sent_at: Timestamp, grantors: usize) -> Round {
        Round {
            token,
            sent_at,
            votes: vec![None; grantors],
        }
    }

    /// Records `from`'s vote (the first one stands) and counts the round.
    fn vote(&mut self, system: &QuorumSystem, from: NodeId, vote: Vote) -> TallyOutcome {
        if let Some(slot) = self.votes.get_mut(from.get() as usize) {
            slot.get_or_insert(vote);
        }
        let mut tally = VoteTally::new(system, QuorumKind::Write);
        for (i, v) in self.votes.iter().enumerate() {
            if let Some(v) = v {
                // Members are the grantors 0..n: a vote is never refused.
                let _ = tally.record(NodeId::new(i as u64), *v);
            }
        }
        tally.outcome()
    }

    fn yes_voters(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.votes
            .iter()
            .enumerate()
            .filter(|(_, v)| **v == Some(Vote::Yes))
            .map(|(i, _)| NodeId::new(i as u64))
    }
}

struct Candidate {
    policy: LeasePolicy,
    tick: Duration,
    write_delay: Duration,
    system: QuorumSystem,
    resource: NodeId,
    held: Option<Lease>,
    campaign: Option<Round>,
    renewal: Option<Round>,
    /// The highest token this candidate has seen (its own or a grantor's).
    max_seen: u64,
    /// Ticks to wait before the next campaign (randomised, so rivals split less).
    wait_ticks: u32,
    campaigns: u64,
    lost_campaigns: u64,
    late_writes: u64,
}

impl Candidate {
    fn believes(&self, now: Timestamp) -> Option<&Lease> {
        self.held.as_ref().filter(|l| l.is_valid(now))
    }

    fn grantors(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.system.members().iter().copied()
    }

    /// Ends a campaign that cannot win: gives its grants back and waits 1 to 4 ticks.
    fn abandon(&mut self, ctx: &mut Context<'_, Msg>) {
        if let Some(round) = self.campaign.take() {
            for g in round.yes_voters() {
                ctx.send(g, Msg::Release { token: round.token });
            }
        }
        self.lost_campaigns += 1;
        self.wait_ticks = ctx.rng().random_range(1..=4);
    }

    fn on_tick(&mut self, ctx: &mut Context<'_, Msg>) {
        let now = ctx.clock().now();
        ctx.set_timer(self.tick, TICK);
        if self.held.as_ref().is_some_and(|l| !l.is_valid(now)) {
            self.held = None;
            self.renewal = None;
        }
        let Some(lease) = self.held else {
            if let Some(round) = &self.campaign {
                if now.saturating_duration_since(round.sent_at) < self.tick * 2
                    && now >= round.sent_at
                {
                    return;
                }
                self.abandon(ctx);
            }
            if self.wait_ticks > 0 {
                self.wait_ticks -= 1;
                return;
            }
            self.max_seen += 1;
            let token = self.max_seen;
            self.campaigns += 1;
            self.campaign = Some(Round::new(token, now, self.system.len()));
            for g in self.grantors().collect::<Vec<_>>() {
                ctx.send(
                    g,
                    Msg::Acquire {
                        token,
                        sent_at: now,
                    },
                );
            }
            return;
        };
        let token = lease.token();
        let outstanding = self.renewal.as_ref().is_some_and(|r| {
            now.saturating_duration_since(r.sent_at) < self.tick * 2 && now >= r.sent_at
        });
        if now.saturating_duration_since(lease.sent_at()) >= self.policy.renew_after()
            && !outstanding
        {
            self.renewal = Some(Round::new(token.get(), now, self.system.len()));
            for g in self.grantors().collect::<Vec<_>>() {
                ctx.send(
                    g,
                    Msg::Renew {
                        token: token.get(),
                        sent_at: now,
                    },
                );
            }
        }
        ctx.set_timer(self.write_delay, token.get() + 1);
    }

    fn on_message(&mut self, ctx: &mut Context<'_, Msg>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Granted { token, sent_at } => {
                self.max_seen = self.max_seen.max(token);
                let current = self
                    .campaign
                    .as_ref()
                    .is_some_and(|r| r.token == token && r.sent_at == sent_at);
                if !current {
                    // A grant for a campaign already given up: give it back.
                    if self.held.is_none_or(|l| l.token().get() != token) {
                        ctx.send(from, Msg::Release { token });
                    }
                    return;
                }
                let won = self
                    .campaign
                    .as_mut()
                    .map(|r| r.vote(&self.system, from, Vote::Yes));
                if won == Some(TallyOutcome::Won) {
                    self.campaign = None;
                    self.held = Some(Lease::new(self.policy, sent_at, FencingToken::new(token)));
                    self.renewal = None;
                }
            }
            Msg::Refused { token, promised } => {
                self.max_seen = self.max_seen.max(promised);
                let outcome = self
                    .campaign
                    .as_mut()
                    .filter(|r| r.token == token)
                    .map(|r| r.vote(&self.system, from, Vote::No));
                if outcome == Some(TallyOutcome::Lost) {
                    self.abandon(ctx);
                }
            }
            Msg::Renewed { token, sent_at } | Msg::Lost { token, sent_at } => {
                let vote = if matches!(msg, Msg::Renewed { .. }) {
                    Vote::Yes
                } else {
                    Vote::No
                };
                let holds = self.held.is_some_and(|l| l.token().get() == token);
                let outcome = self
                    .renewal
                    .as_mut()
                    .filter(|r| holds && r.token == token && r.sent_at == sent_at)
                    .map(|r| r.vote(&self.system, from, vote));
                match outcome {
                    Some(TallyOutcome::Won) => {
                        if let Some(lease) = &mut self.held {
                            lease.renewed(sent_at);
                        }
                        self.renewal = None;
                    }
                    Some(TallyOutcome::Lost) => {
                        // A majority no longer holds the lease: stop believing now.
                        self.held = None;
                        self.renewal = None;
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }

    fn on_write_timer(&mut self, ctx: &mut Context<'_, Msg>, tag: u64) {
        // A write prepared after a check: sent without checking again.
        let token = FencingToken::new(tag - 1);
        let now = ctx.clock().now();
        if self.believes(now).is_none_or(|l| l.token() != token) {
            self.late_writes += 1;
        }
        ctx.send(self.resource, Msg::Write { token });
    }
}

/// One member of the grantor quorum: a lease table on its own drifting clock.
struct Grantor {
    term: Duration,
    backend: Option<InMemoryBackend<NodeClock>>,
    /// The grant this grantor holds, with the token it was granted under.
    current: Option<(u64, LeaseGrant)>,
    /// The highest token ever granted; kept across crashes (on disk).
    promised: u64,
    /// `promised` before the latest grant, to go back to if that grant is
    /// released: a campaign that lost never used its token.
    promised_before: u64,
    /// After a restart the lease table is empty: grant nothing until a full
    /// term has passed, so a grant made before the crash has expired.
    quiet_until: Timestamp,
    started: bool,
    grants: u64,
}

impl Grantor {
    fn on_message(&mut self, ctx: &mut Context<'_, Msg>, from: NodeId, msg: Msg) {
        let Some(backend) = &self.backend else { return };
        let now = ctx.clock().now();
        let reply = match msg {
            Msg::Acquire { token, sent_at } => {
                let refused = Msg::Refused {
                    token,
                    promised: self.promised,
                };
                if now < self.quiet_until || token <= self.promised {
                    refused
                } else {
                    match backend.acquire(KEY, &owner(from), self.term) {
                        Ok(AcquireOutcome::Granted(grant)) => {
                            self.promised_before = self.promised;
                            self.promised = token;
                            self.current = Some((token, grant));
                            self.grants += 1;
                            Msg::Granted { token, sent_at }
                        }
                        _ => refused,
                    }
                }
            }
            Msg::Renew { token, sent_at } => {
                let extended = self
                    .current
                    .as_ref()
                    .filter(|(t, _)| *t == token)
                    .is_some_and(|(_, grant)| backend.renew(grant) == Ok(RenewOutcome::Renewed));
                // A grantor whose grant lapsed, or that missed the campaign
                // (busy, down or cut off), joins the holder's majority if it
                // is free and has granted no higher token: the same as
                // granting this token now.
                let renewed = extended
                    || (now >= self.quiet_until
                        && token >= self.promised
                        && match backend.acquire(KEY, &owner(from), self.term) {
                            Ok(AcquireOutcome::Granted(grant)) => {
                                self.promised_before = self.promised;
                                self.promised = token;
                                self.current = Some((token, grant));
                                self.grants += 1;
                                true
                            }
                            _ => false,
                        });
                if renewed {
                    Msg::Renewed { token, sent_at }
                } else {
                    Msg::Lost { token, sent_at }
                }
            }
            Msg::Release { token } => {
                if let Some((_, grant)) = self.current.as_ref().filter(|(t, _)| *t == token) {
                    // The in-memory backend cannot fail.
                    let _ = backend.release(grant);
                    self.current = None;
                    if self.promised == token {
                        self.promised = self.promised_before;
                    }
                }
                return;
            }
            _ => return,
        };
        ctx.send(from, reply);
    }
}

enum Node {
    Grantor(Box<Grantor>),
    Resource {
        fence: Fence,
        accepted: u64,
        refused: u64,
    },
    Candidate(Box<Candidate>),
}

fn owner(node: NodeId) -> String {
    format!("node-{}", node.get())
}

impl Process for Node {
    type Message = Msg;

    fn on_start(&mut self, ctx: &mut Context<'_, Msg>) {
        match self {
            Node::Grantor(g) => {
                if g.backend.is_none() {
                    g.backend = Some(InMemoryBackend::with_clock(ctx.clock().clone()));
                }
                if g.started {
                    g.quiet_until = ctx.clock().now() + g.term;
                }
                g.started = true;
            }
            Node::Resource { .. } => {}
            Node::Candidate(c) => {
                c.wait_ticks = ctx.rng().random_range(0..=3);
                ctx.set_timer(c.tick, TICK);
            }
        }
    }

    fn on_timer(&mut self, ctx: &mut Context<'_, Msg>, timer: Timer) {
        let Node::Candidate(c) = self else { return };
        if timer.tag == TICK {
            c.on_tick(ctx);
        } else {
            c.on_write_timer(ctx, timer.tag);
        }
    }

    fn on_message(&mut self, ctx: &mut Context<'_, Msg>, from: NodeId, msg: Msg) {
        match self {
            Node::Grantor(g) => g.on_message(ctx, from, msg),
            Node::Resource {
                fence,
                accepted,
                refused,
            } => {
                if let Msg::Write { token } = msg {
                    match fence.check(token) {
                        Ok(()) => *accepted += 1,
                        Err(_) => *refused += 1,
                    }
                }
            }
            Node::Candidate(c) => c.on_message(ctx, from, msg),
        }
    }

    fn on_crash(&mut self) {
        match self {
            Node::Candidate(c) => {
                c.held = None;
                c.campaign = None;
                c.renewal = None;
            }
            Node::Grantor(g) => {
                // The lease table is in memory; the promised token is on disk.
                g.backend = None;
                g.current = None;
            }
            Node::Resource { .. } => {}
        }
    }
}

/// Clock rates: grantors in the faster half of the spread (the first one the
/// fastest: the worst case for safety), the resource at 1, candidates drawn
/// log-uniformly within the whole spread.
fn clock_rates(config: &LeaseSafetyConfig, seed: u64) -> Vec<f64> {
    let mut rng = SmallRng::seed_from_u64(seed ^ 0x5EED_C10C_D21F_7A7E);
    let half = config.clock_spread.ln() / 2.0;
    let mut draw = |lo: f64, hi: f64| -> f64 {
        if hi > lo {
            rng.random_range(lo..=hi).exp()
        } else {
            lo.exp()
        }
    };
    let mut rates = vec![half.exp()];
    for _ in 1..config.grantors {
        rates.push(draw(0.0, half));
    }
    rates.push(1.0);
    for _ in 0..config.candidates {
        rates.push(draw(-half, half));
    }
    rates
}

/// The running tally of beliefs, overlaps and gaps, updated after every event.
#[derive(Default)]
struct Tally {
    last_at: Timestamp,
    /// True instants at which each current believer's belief ends.
    ends: Vec<Timestamp>,
    overlapping: bool,
    overlaps: u64,
    overlap_time: Duration,
    first_leader_at: Option<Timestamp>,
    gap_since: Option<Timestamp>,
    failovers: Vec<Duration>,
    believers: Vec<(Duration, usize)>,
}

impl Tally {
    fn record_count(&mut self, at: Timestamp, count: usize) {
        if self.believers.last().is_none_or(|&(_, c)| c != count) {
            self.believers
                .push((at.saturating_duration_since(Timestamp::ZERO), count));
        }
    }

    /// Accounts for `[last_at, now)`, where beliefs only end, then takes the
    /// believers observed at `now`.
    fn observe(&mut self, now: Timestamp, mut ends: Vec<Timestamp>) {
        let mut previous = std::mem::take(&mut self.ends);
        previous.sort_unstable_by(|a, b| b.cmp(a));
        if previous.len() >= 2 {
            let overlap_end = previous[1].min(now);
            self.overlap_time += overlap_end.saturating_duration_since(self.last_at);
        }
        let still_overlapping = previous.len() >= 2 && previous[1] > now;
        // Beliefs that ended between the events.
        let mut by_time = previous.clone();
        by_time.sort_unstable();
        for (i, end) in by_time.iter().enumerate() {
            if *end <= now {
                self.record_count(*end, by_time.len() - i - 1);
            }
        }
        let last_end = previous.first().copied();
        ends.sort_unstable_by(|a, b| b.cmp(a));
        let count = ends.len();
        if count >= 2 && !still_overlapping {
            self.overlaps += 1;
        }
        self.overlapping = count >= 2;
        if count == 0 {
            if self.gap_since.is_none() && self.first_leader_at.is_some() {
                self.gap_since = Some(last_end.map_or(now, |e| e.min(now)));
            }
        } else {
            if self.first_leader_at.is_none() {
                self.first_leader_at = Some(now);
            }
            if let Some(since) = self.gap_since.take() {
                self.failovers.push(now.saturating_duration_since(since));
            }
        }
        self.record_count(now, count);
        self.ends = ends;
        self.last_at = now;
    }
}

/// One deterministic run: the same configuration and seed give the same result.
///
/// # Panics
///
/// Never for a configuration built by [`LeaseSafetyConfigBuilder::build`].
///
/// ```
/// use std::time::Duration;
/// use steadfast_sim::scenario::lease_safety::{self, LeaseSafetyConfig};
/// let config = LeaseSafetyConfig::builder().duration(Duration::from_secs(30)).build().unwrap();
/// assert_eq!(lease_safety::run(&config, 1), lease_safety::run(&config, 1));
/// ```
#[must_use]
pub fn run(config: &LeaseSafetyConfig, seed: u64) -> LeaseSafetyResult {
    let rates = clock_rates(config, seed);
    let grantors = config.grantors;
    let resource = NodeId::new(grantors as u64);
    let first_candidate = grantors as u64 + 1;
    let nodes = grantors + 1 + config.candidates;
    let sim_config = SimConfig::builder(nodes)
        .seed(seed)
        .network(config.network.clone())
        .drift(rates.clone())
        .build()
        .expect("a validated scenario makes a valid simulation");
    let system = QuorumSystem::majority((0..grantors as u64).map(NodeId::new))
        .expect("at least one grantor, each once");
    let mut sim = Simulation::new(sim_config, |id| {
        if id.get() < grantors as u64 {
            Node::Grantor(Box::new(Grantor {
                term: config.policy.term(),
                backend: None,
                current: None,
                promised: 0,
                promised_before: 0,
                quiet_until: Timestamp::ZERO,
                started: false,
                grants: 0,
            }))
        } else if id == resource {
            Node::Resource {
                fence: Fence::new(),
                accepted: 0,
                refused: 0,
            }
        } else {
            Node::Candidate(Box::new(Candidate {
                policy: config.policy,
                tick: config.tick,
                write_delay: config.write_delay,
                system: system.clone(),
                resource,
                held: None,
                campaign: None,
                renewal: None,
                max_seen: 0,
                wait_ticks: 0,
                campaigns: 0,
                lost_campaigns: 0,
                late_writes: 0,
            }))
        }
    });
    let mut faults_rng = SmallRng::seed_from_u64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 1);
    let kinds: Vec<FaultKind> = [
        (config.pauses, FaultKind::PauseHolder),
        (config.partitions, FaultKind::PartitionHolder),
        (config.grantor_faults, FaultKind::CrashGrantor),
        (
            config.grantor_faults && grantors > 1,
            FaultKind::PartitionGrantor,
        ),
        (config.grantor_jump.is_some(), FaultKind::JumpGrantors),
    ]
    .into_iter()
    .filter_map(|(on, kind)| on.then_some(kind))
    .collect();
    let end = Timestamp::ZERO + config.duration;
    let mut next_fault = Timestamp::ZERO + config.fault_every;
    let mut tally = Tally::default();
    let mut faults = Vec::new();
    let believers = |sim: &Simulation<Node>| {
        let now = sim.now();
        let mut ends = Vec::new();
        let mut holder = None;
        for i in 0..config.candidates as u64 {
            let id = NodeId::new(first_candidate + i);
            if !sim.is_up(id) {
                continue;
            }
            let Node::Candidate(c) = sim.process(id) else {
                continue;
            };
            let clock = sim.clock(id);
            let local = clock.now();
            if let Some(lease) = c.believes(local) {
                let left = lease.expires_at().saturating_duration_since(local);
                ends.push(now + clock.to_true(left));
                holder = Some(id);
            }
        }
        (ends, holder)
    };
    loop {
        let next = sim.next_event_at();
        let fault_due =
            !kinds.is_empty() && next_fault <= end && next.is_none_or(|t| t > next_fault);
        if fault_due {
            // Stop at the planned instant itself and aim at whoever holds then;
            // the fault is queued as an engine event at that instant.
            sim.run_until(next_fault);
            let (ends, holder) = believers(&sim);
            tally.observe(next_fault, ends);
            let at = next_fault.saturating_duration_since(Timestamp::ZERO);
            let target = holder.unwrap_or_else(|| {
                NodeId::new(first_candidate + faults_rng.random_range(0..config.candidates as u64))
            });
            let grantor = NodeId::new(faults_rng.random_range(0..grantors as u64));
            let what = match kinds[faults_rng.random_range(0..kinds.len())] {
                FaultKind::PauseHolder => {
                    sim.schedule(
                        at,
                        Fault::Pause {
                            node: target,
                            duration: config.pause_for,
                        },
                    );
                    format!("pause node {} for {:?}", target.get(), config.pause_for)
                }
                FaultKind::PartitionHolder => {
                    sim.schedule(at, Fault::Partition(vec![vec![target]]));
                    sim.schedule(at + config.partition_for, Fault::Heal);
                    format!(
                        "partition node {} away for {:?}",
                        target.get(),
                        config.partition_for
                    )
                }
                FaultKind::CrashGrantor => {
                    sim.schedule(at, Fault::Crash(grantor));
                    sim.schedule(at + config.grantor_down_for, Fault::Restart(grantor));
                    format!(
                        "crash grantor {} for {:?}",
                        grantor.get(),
                        config.grantor_down_for
                    )
                }
                FaultKind::PartitionGrantor => {
                    sim.schedule(at, Fault::Partition(vec![vec![grantor]]));
                    sim.schedule(at + config.partition_for, Fault::Heal);
                    format!(
                        "partition grantor {} away for {:?}",
                        grantor.get(),
                        config.partition_for
                    )
                }
                FaultKind::JumpGrantors => {
                    let jump = config.grantor_jump.unwrap_or_default();
                    let nanos = i64::try_from(jump.as_nanos()).unwrap_or(i64::MAX);
                    for g in 0..grantors as u64 {
                        sim.schedule(
                            at,
                            Fault::ClockJump {
                                node: NodeId::new(g),
                                nanos,
                            },
                        );
                    }
                    format!("step every grantor's clock forward by {jump:?}")
                }
            };
            faults.push((at, what));
            next_fault += config.fault_every;
            continue;
        }
        if next.is_none_or(|t| t > end) {
            break;
        }
        sim.step();
        let (ends, _) = believers(&sim);
        tally.observe(sim.now(), ends);
    }
    let mut grants = 0;
    let (mut writes_accepted, mut stale_writes_refused) = (0, 0);
    let (mut late_writes, mut campaigns, mut lost_campaigns) = (0, 0, 0);
    for (_, node) in sim.processes() {
        match node {
            Node::Grantor(g) => grants += g.grants,
            Node::Resource {
                accepted, refused, ..
            } => {
                writes_accepted = *accepted;
                stale_writes_refused = *refused;
            }
            Node::Candidate(c) => {
                late_writes += c.late_writes;
                campaigns += c.campaigns;
                lost_campaigns += c.lost_campaigns;
            }
        }
    }
    LeaseSafetyResult {
        seed,
        within_bound: config.within_bound(),
        grantors,
        clock_rates: rates,
        overlaps: tally.overlaps,
        overlap_time: tally.overlap_time,
        first_leader_at: tally
            .first_leader_at
            .map(|t| t.saturating_duration_since(Timestamp::ZERO)),
        failovers: tally.failovers,
        grants,
        campaigns,
        lost_campaigns,
        writes_accepted,
        stale_writes_refused,
        late_writes,
        faults,
        believers: tally.believers,
        trace_hash: sim.trace_hash(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FaultKind {
    PauseHolder,
    PartitionHolder,
    CrashGrantor,
    PartitionGrantor,
    JumpGrantors,
}

/// Runs every seed across `threads` threads and aggregates the results.
///
/// ```
/// use std::time::Duration;
/// use steadfast_sim::scenario::lease_safety::{self, LeaseSafetyConfig};
/// let config = LeaseSafetyConfig::builder().duration(Duration::from_secs(30)).build().unwrap();
/// let summary = lease_safety::run_many(&config, &[1, 2], 2);
/// assert_eq!(summary.runs.len(), 2);
/// assert_eq!(summary.runs_with_overlap, 0);
/// ```
#[must_use]
pub fn run_many(config: &LeaseSafetyConfig, seeds: &[u64], threads: usize) -> LeaseSafetySummary {
    run_many_with_progress(config, seeds, threads, |_| {})
}

/// Like [`run_many`], calling `progress(done)` after each run (see
/// [`run_seeds_with_progress`]).
#[must_use]
pub fn run_many_with_progress(
    config: &LeaseSafetyConfig,
    seeds: &[u64],
    threads: usize,
    progress: impl Fn(usize) + Sync,
) -> LeaseSafetySummary {
    let runs = run_seeds_with_progress(seeds, threads, |seed| run(config, seed), progress);
    let per_run = |f: &dyn Fn(&LeaseSafetyResult) -> f64| {
        Summary::of(&runs.iter().map(f).collect::<Vec<_>>())
    };
    let failovers: Vec<f64> = runs
        .iter()
        .flat_map(|r| r.failovers.iter().map(Duration::as_secs_f64))
        .collect();
    LeaseSafetySummary {
        overlaps: per_run(&|r| r.overlaps as f64),
        runs_with_overlap: runs.iter().filter(|r| r.overlaps > 0).count(),
        failover_secs: Summary::of(&failovers),
        stale_writes_refused: per_run(&|r| r.stale_writes_refused as f64),
        runs,
    }
}

/// The empirical CDF of `values` as plot points.
fn cdf(mut values: Vec<f64>) -> Vec<(f64, f64)> {
    values.sort_by(f64::total_cmp);
    let n = values.len() as f64;
    values
        .iter()
        .enumerate()
        .map(|(i, v)| (*v, (i + 1) as f64 / n))
        .collect()
}

fn secs(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64())
}

fn fmt_summary(s: Option<Summary>) -> [String; 3] {
    match s {
        Some(s) => [
            format!("{:.3}", s.mean),
            format!("[{:.3}, {:.3}]", s.ci95.0, s.ci95.1),
            format!("{:.3}", s.max),
        ],
        None => ["-".into(), "-".into(), "-".into()],
    }
}

impl LeaseSafetyResult {
    /// The run as a report: narrative, summary, failover CDF and holders over time.
    ///
    /// ```
    /// use std::time::Duration;
    /// use steadfast_sim::scenario::lease_safety::{self, LeaseSafetyConfig};
    /// let config = LeaseSafetyConfig::builder().duration(Duration::from_secs(30)).build().unwrap();
    /// let report = lease_safety::run(&config, 3).report();
    /// assert_eq!(report.name(), "lease-safety");
    /// assert!(report.plots().len() == 2);
    /// ```
    #[must_use]
    pub fn report(&self) -> ScenarioReport {
        let mut summary = Table::new(["metric", "value"]);
        summary.push(["seed".to_owned(), self.seed.to_string()]);
        summary.push([
            "drift within bound".to_owned(),
            self.within_bound.to_string(),
        ]);
        summary.push(["overlap episodes".to_owned(), self.overlaps.to_string()]);
        summary.push(["overlap time (s)".to_owned(), secs(self.overlap_time)]);
        summary.push(["grantors".to_owned(), self.grantors.to_string()]);
        summary.push(["grants".to_owned(), self.grants.to_string()]);
        summary.push([
            "campaigns (given up)".to_owned(),
            format!("{} ({})", self.campaigns, self.lost_campaigns),
        ]);
        summary.push(["failovers".to_owned(), self.failovers.len().to_string()]);
        let failover_secs: Vec<f64> = self.failovers.iter().map(Duration::as_secs_f64).collect();
        let [mean, ci, max] = fmt_summary(Summary::of(&failover_secs));
        summary.push(["failover mean (s)".to_owned(), mean]);
        summary.push(["failover mean 95% CI (s)".to_owned(), ci]);
        summary.push(["failover max (s)".to_owned(), max]);
        summary.push([
            "writes accepted".to_owned(),
            self.writes_accepted.to_string(),
        ]);
        summary.push([
            "stale writes refused".to_owned(),
            self.stale_writes_refused.to_string(),
        ]);
        summary.push(["late writes sent".to_owned(), self.late_writes.to_string()]);

        let mut faults = Table::new(["t (s)", "fault"]);
        for (at, what) in &self.faults {
            faults.push([secs(*at), what.clone()]);
        }
        let mut believers = Table::new(["t (s)", "believing holders"]);
        for (at, n) in &self.believers {
            believers.push([secs(*at), n.to_string()]);
        }
        let mut cdf_plot = LinePlot::new("Failover time CDF", "failover time (s)", "fraction");
        cdf_plot.series("failover", cdf(failover_secs));
        let mut holders = LinePlot::new("Holders over time", "t (s)", "believing holders");
        let mut steps = Vec::new();
        for (at, n) in &self.believers {
            if let Some(&(_, prev)) = steps.last() {
                steps.push((at.as_secs_f64(), prev));
            }
            steps.push((at.as_secs_f64(), *n as f64));
        }
        holders.series("holders", steps);

        let mut report = ScenarioReport::new("lease-safety", summary).narrate(format!(
            "seed {}: {} grantor(s); clock rates {} (grantors first, then the resource); drift {} the bound",
            self.seed,
            self.grantors,
            self.clock_rates
                .iter()
                .map(|r| format!("{r:.4}"))
                .collect::<Vec<_>>()
                .join(", "),
            if self.within_bound {
                "within"
            } else {
                "outside"
            }
        ));
        for (at, what) in self.faults.iter().take(12) {
            report = report.narrate(format!("t+{:.1}s  {what}", at.as_secs_f64()));
        }
        report
            .narrate(format!(
                "{} overlap episode(s) lasting {:.3} s in all; {} stale write(s) refused by the fence",
                self.overlaps,
                self.overlap_time.as_secs_f64(),
                self.stale_writes_refused
            ))
            .table("faults", faults)
            .table("believers", believers)
            .plot("failover-cdf", cdf_plot)
            .plot("holders", holders)
    }
}

impl LeaseSafetySummary {
    /// The runs as a report: per-run table, summary with 95% intervals, pooled failover CDF.
    ///
    /// ```
    /// use std::time::Duration;
    /// use steadfast_sim::scenario::lease_safety::{self, LeaseSafetyConfig};
    /// let config = LeaseSafetyConfig::builder().duration(Duration::from_secs(30)).build().unwrap();
    /// let report = lease_safety::run_many(&config, &[1, 2], 1).report();
    /// assert_eq!(report.tables()[0].1.rows().len(), 2);
    /// ```
    #[must_use]
    pub fn report(&self) -> ScenarioReport {
        let mut summary = Table::new(["metric", "mean", "95% CI", "max"]);
        for (name, s) in [
            ("overlap episodes per run", self.overlaps),
            ("failover time (s)", self.failover_secs),
            ("stale writes refused per run", self.stale_writes_refused),
        ] {
            let [mean, ci, max] = fmt_summary(s);
            summary.push([name.to_owned(), mean, ci, max]);
        }
        let mut runs = Table::new([
            "seed",
            "within bound",
            "overlaps",
            "overlap time (s)",
            "failovers",
            "writes accepted",
            "stale writes refused",
        ]);
        for r in &self.runs {
            runs.push([
                r.seed.to_string(),
                r.within_bound.to_string(),
                r.overlaps.to_string(),
                secs(r.overlap_time),
                r.failovers.len().to_string(),
                r.writes_accepted.to_string(),
                r.stale_writes_refused.to_string(),
            ]);
        }
        let pooled: Vec<f64> = self
            .runs
            .iter()
            .flat_map(|r| r.failovers.iter().map(Duration::as_secs_f64))
            .collect();
        let mut plot = LinePlot::new("Failover time CDF", "failover time (s)", "fraction");
        plot.series(format!("{} runs", self.runs.len()), cdf(pooled));
        ScenarioReport::new("lease-safety", summary)
            .narrate(format!(
                "{} of {} runs had overlapping holders",
                self.runs_with_overlap,
                self.runs.len()
            ))
            .table("runs", runs)
            .plot("failover-cdf", plot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_configs() {
        let b = LeaseSafetyConfig::builder;
        assert!(b().candidates(1).build().is_err());
        assert!(b().drift_bound(f64::NAN).build().is_err());
        assert!(b().clock_spread(f64::NAN).build().is_err());
        assert!(b().clock_spread(0.5).build().is_err());
        assert!(b().tick(Duration::ZERO).build().is_err());
        assert!(b().tick(Duration::from_secs(1)).build().is_err());
        assert!(b().write_delay(Duration::from_millis(100)).build().is_err());
        assert!(b().duration(Duration::ZERO).build().is_err());
        assert!(b().duration(Duration::MAX).build().is_err());
        assert!(b().term(Duration::MAX).build().is_err());
        assert!(b().term(Duration::ZERO).build().is_err());
        assert!(b().clock_spread(f64::INFINITY).build().is_err());
        assert!(b().grantor_jump(Some(Duration::ZERO)).build().is_err());
        assert!(b().grantor_jump(Some(Duration::MAX)).build().is_err());
        assert!(b().pause_for(Duration::ZERO).build().is_err());
        assert!(b().fault_every(Duration::from_secs(5)).build().is_err());
        assert!(b().grantors(0).build().is_err());
        assert!(b().grantors(10).build().is_err());
        assert!(b().grantor_down_for(Duration::ZERO).build().is_err());
        let e = b()
            .grantor_down_for(Duration::from_secs(10))
            .build()
            .unwrap_err();
        assert_eq!(e.field(), "lease_safety.fault_every");
        let e = b().grantors(12).build().unwrap_err();
        assert!(e.to_string().contains("lease_safety.grantors"), "{e}");
        let e = b().candidates(40).build().unwrap_err();
        assert!(e.to_string().contains("lease_safety.candidates"));
    }

    #[test]
    fn rates_respect_the_spread() {
        let config = LeaseSafetyConfig::builder()
            .clock_spread(1.5)
            .build()
            .unwrap();
        let rates = clock_rates(&config, 9);
        let max = rates.iter().copied().fold(0.0, f64::max);
        let min = rates.iter().copied().fold(f64::INFINITY, f64::min);
        assert!(max / min <= 1.5 + 1e-12);
        assert_eq!(max, rates[0]);
        // Grantors run in the faster half; the resource at 1.
        assert!(rates[..3].iter().all(|&r| r >= 1.0));
        assert_eq!(rates[3], 1.0);
        assert_eq!(rates.len(), 3 + 1 + 3);
    }

    #[test]
    fn tally_counts_overlap_exactly() {
        let t = Timestamp::from_secs;
        let mut tally = Tally::default();
        tally.observe(t(1), vec![t(5)]);
        tally.observe(t(2), vec![t(5), t(4)]);
        // Between 2 and 6 both beliefs end (at 4 and 5): overlap lasted 2 s.
        tally.observe(t(6), vec![]);
        assert_eq!(tally.overlaps, 1);
        assert_eq!(tally.overlap_time, Duration::from_secs(2));
        tally.observe(t(8), vec![t(9)]);
        assert_eq!(tally.failovers, vec![Duration::from_secs(3)]);
    }
}
