//! `steadfast sim SCENARIO ...`: run a seeded scenario, print what happened,
//! and write the report (CSV, SVG, HTML) to a directory.

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use steadfast_sim::ScenarioReport;
use steadfast_sim::scenario::anti_entropy::{self, AntiEntropyConfig, Strategy};
use steadfast_sim::scenario::detector_qos::{self, DetectorKind, DetectorQosConfig, TraceKind};
use steadfast_sim::scenario::lease_safety::{self, LeaseSafetyConfig};
use steadfast_sim::scenario::retry_storm::{self, RetryStormConfig};
use steadfast_sim::scenario::slo_burn::{self, SloBurnConfig, TierPreset};
use steadfast_slo::openslo::{OpenSloDuration, parse_duration};

/// Options every scenario takes.
#[derive(Debug, Args)]
pub(crate) struct SimArgs {
    #[command(subcommand)]
    scenario: Scenario,
    /// The seed of the first run; a seed reproduces a run bit for bit.
    #[arg(long, global = true, default_value_t = 1)]
    seed: u64,
    /// How many runs, with seeds seed, seed+1, ...; more than one reports means and 95% confidence intervals.
    #[arg(long, global = true, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    runs: u64,
    /// Threads for many runs (default: the machine's available parallelism).
    #[arg(long, global = true, value_parser = clap::value_parser!(u64).range(1..=1024))]
    threads: Option<u64>,
    /// Where to write the report (default: target/steadfast/SCENARIO in the current directory).
    #[arg(long, global = true)]
    out: Option<PathBuf>,
}

/// The scenarios.
#[derive(Debug, Subcommand)]
enum Scenario {
    /// An outage against an objective: which burn-rate alert tiers fire and clear when, budget spent, time to detect.
    SloBurn(SloBurnArgs),
    /// Every failure detector over a sweep of thresholds on each kind of heartbeat trace: detection time against mistake rate.
    DetectorQos(DetectorQosArgs),
    /// Leader leases with fencing under partitions, pauses and clock drift: overlapping holders, failover time, stale writes refused.
    LeaseSafety(LeaseSafetyArgs),
    /// Replicas diverging in a partition and converging by read-repair, Merkle exchange or both: time to converge and bytes sent.
    AntiEntropy(AntiEntropyArgs),
    /// Clients retrying against a server that fails for a while, with plain retries, a retry budget, or a budget and a breaker: load amplification, goodput, time to recover.
    RetryStorm(RetryStormArgs),
}

/// Options of `retry-storm`.
#[derive(Debug, Args)]
struct RetryStormArgs {
    /// Clients.
    #[arg(long, default_value_t = 20)]
    clients: usize,
    /// Requests per second each client sends.
    #[arg(long, default_value_t = 10.0)]
    rate: f64,
    /// Length of the run.
    #[arg(long, default_value = "30s", value_parser = duration)]
    duration: Duration,
    /// When the server starts failing.
    #[arg(long, default_value = "10s", value_parser = duration)]
    failure_start: Duration,
    /// How long the server fails.
    #[arg(long, default_value = "5s", value_parser = duration)]
    failure_length: Duration,
    /// Attempts per second the server completes; beyond that, attempts queue and every call slows down.
    #[arg(long, default_value_t = 400.0)]
    capacity: f64,
    /// Attempts the server queues at most before it refuses new ones at once.
    #[arg(long, default_value_t = 4000)]
    queue_limit: usize,
    /// How long a client waits for one attempt before giving up on it, such as 500ms or 2s.
    #[arg(long, default_value = "1s", value_parser = fine_duration)]
    timeout: Duration,
    /// How long a client request may take across all its attempts (at least --timeout).
    #[arg(long, default_value = "5s", value_parser = fine_duration)]
    deadline: Duration,
    /// Attempts per request, the first included.
    #[arg(long, default_value_t = 4)]
    max_attempts: u32,
}

fn retry_storm_config(a: &RetryStormArgs) -> io::Result<RetryStormConfig> {
    RetryStormConfig::builder()
        .clients(a.clients)
        .rate_per_client(a.rate)
        .duration(a.duration)
        .failure(a.failure_start, a.failure_length)
        .capacity_per_sec(a.capacity)
        .queue_limit(a.queue_limit)
        .timeout(a.timeout)
        .deadline(a.deadline)
        .max_attempts(a.max_attempts)
        .build()
        .map_err(invalid)
}

/// Options of `lease-safety`.
#[derive(Debug, Args)]
struct LeaseSafetyArgs {
    /// Contending nodes.
    #[arg(long, default_value_t = 3)]
    candidates: usize,
    /// Grantor nodes, each enforcing the lease on its own clock; a lease needs grants from a majority of them (1 to 9).
    #[arg(long, default_value_t = 3)]
    grantors: usize,
    /// Lease term.
    #[arg(long, default_value = "2s", value_parser = duration)]
    term: Duration,
    /// The drift bound kappa the holders assume (1.01 = clocks may differ in rate by 1%).
    #[arg(long, default_value_t = 1.01)]
    drift_bound: f64,
    /// The real spread of clock rates (default 1.005; above --drift-bound breaks the assumption).
    #[arg(long)]
    clock_spread: Option<f64>,
    /// Length of the run.
    #[arg(long, default_value = "120s", value_parser = duration)]
    duration: Duration,
    /// Time between injected faults: a holder paused or partitioned away, a grantor crashed or partitioned away (default 10s).
    #[arg(long, value_parser = duration)]
    fault_every: Option<Duration>,
}

/// Options of `anti-entropy`.
#[derive(Debug, Args)]
struct AntiEntropyArgs {
    /// Replicas of the store.
    #[arg(long, default_value_t = 3)]
    replicas: usize,
    /// Keys in the store.
    #[arg(long)]
    keys: Option<u64>,
    /// Strategies to compare: read-repair, merkle, both (comma separated; default all).
    #[arg(long, value_delimiter = ',', value_parser = strategy)]
    strategies: Vec<Strategy>,
    /// Length of the run.
    #[arg(long, value_parser = duration)]
    duration: Option<Duration>,
}

/// A strategy name as the scenario spells it.
fn strategy(text: &str) -> Result<Strategy, String> {
    text.parse()
        .map_err(|e: steadfast_core::ConfigError| e.to_string())
}

fn lease_safety_config(a: &LeaseSafetyArgs) -> io::Result<LeaseSafetyConfig> {
    let mut b = LeaseSafetyConfig::builder()
        .candidates(a.candidates)
        .grantors(a.grantors)
        .term(a.term)
        .drift_bound(a.drift_bound)
        .duration(a.duration);
    if let Some(spread) = a.clock_spread {
        b = b.clock_spread(spread);
    }
    if let Some(every) = a.fault_every {
        b = b.fault_every(every);
    }
    b.build().map_err(invalid)
}

fn anti_entropy_config(a: &AntiEntropyArgs) -> io::Result<AntiEntropyConfig> {
    let mut b = AntiEntropyConfig::builder().replicas(a.replicas);
    if let Some(keys) = a.keys {
        b = b.keys(keys);
    }
    if !a.strategies.is_empty() {
        b = b.strategies(a.strategies.clone());
    }
    if let Some(d) = a.duration {
        b = b.duration(d);
    }
    b.build().map_err(invalid)
}

/// A duration such as 90s, 5m, 12h, 3d or 2w.
fn duration(text: &str) -> Result<Duration, String> {
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    match parse_duration(text)? {
        OpenSloDuration::Fixed(d) => Ok(d),
        _ => Err(format!(
            "a month, quarter or year is ambiguous; give days, such as 30d, got {text:?}"
        )),
    }
}

/// A duration that may also be given in milliseconds: 250ms, 2s, 1m.
fn fine_duration(text: &str) -> Result<Duration, String> {
    match text.strip_suffix("ms") {
        Some(digits) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => digits
            .parse()
            .map(Duration::from_millis)
            .map_err(|_| format!("{text:?} is too large")),
        _ => duration(text)
            .map_err(|_| format!("must be a duration such as 250ms, 2s or 1m, got {text:?}")),
    }
}

/// A fraction (0.999) or a percentage (99.9% or 99.9).
fn fraction(text: &str) -> Result<f64, String> {
    let percent = text.ends_with('%');
    let v: f64 = text
        .trim_end_matches('%')
        .parse()
        .map_err(|_| format!("must be a fraction or a percentage, got {text:?}"))?;
    if percent || v > 1.0 {
        // 99.9 / 100 is 0.9990000000000001 in binary; round to the digits a person types.
        let f = v / 100.0;
        Ok(format!("{f:.13e}").parse().unwrap_or(f))
    } else {
        Ok(v)
    }
}

/// A ratio in [0, 1], or a percentage with `%`.
fn ratio(text: &str) -> Result<f64, String> {
    match text.strip_suffix('%') {
        Some(p) => p
            .parse::<f64>()
            .map(|v| v / 100.0)
            .map_err(|_| format!("must be a ratio such as 0.05 or 5%, got {text:?}")),
        None => text
            .parse()
            .map_err(|_| format!("must be a ratio such as 0.05 or 5%, got {text:?}")),
    }
}

/// Burn-rate tier presets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Preset {
    /// SRE Workbook: 2% of the budget in 1h or 5% in 6h page, 10% in 3d tickets.
    Workbook,
    /// sloth: the Workbook's pages, tickets on 10% in 1d and 3d.
    Sloth,
    /// pyrra: burn rates 14, 7, 2 and 1, scaled from 28 days.
    Pyrra,
}

/// Options of `slo-burn`.
#[derive(Debug, Args)]
struct SloBurnArgs {
    /// The objective, as a percentage (99.9) or a fraction (0.999).
    #[arg(long, default_value = "99.9", value_parser = fraction)]
    target: f64,
    /// The budget period.
    #[arg(long, default_value = "30d", value_parser = duration)]
    period: Duration,
    /// Which burn-rate tiers to evaluate.
    #[arg(long, value_enum, default_value_t = Preset::Workbook)]
    preset: Preset,
    /// Time between evaluations.
    #[arg(long, default_value = "1m", value_parser = duration)]
    step: Duration,
    /// Length of the run.
    #[arg(long, default_value = "4d", value_parser = duration)]
    duration: Duration,
    /// Mean requests per step (Poisson).
    #[arg(long, default_value_t = 1000.0)]
    requests_per_step: f64,
    /// Serve exactly the mean number of requests each step instead of a Poisson draw.
    #[arg(long)]
    steady_traffic: bool,
    /// Share of requests failing outside the outage.
    #[arg(long, default_value = "0.0002", value_parser = ratio)]
    baseline: f64,
    /// When the outage starts.
    #[arg(long, default_value = "12h", value_parser = duration)]
    outage_start: Duration,
    /// How long the outage lasts.
    #[arg(long, default_value = "1h", value_parser = duration)]
    outage_length: Duration,
    /// Share of requests failing during the outage (added to the baseline).
    #[arg(long, default_value = "0.05", value_parser = ratio)]
    outage_ratio: f64,
    /// A slow leak: share of requests failing from --leak-start for --leak-length (added).
    #[arg(long, value_parser = ratio)]
    leak_ratio: Option<f64>,
    /// When the leak starts.
    #[arg(long, default_value = "0", value_parser = duration, requires = "leak_ratio")]
    leak_start: Duration,
    /// How long the leak lasts (default: to the end of the run).
    #[arg(long, value_parser = duration, requires = "leak_ratio")]
    leak_length: Option<Duration>,
}

/// Trace kinds on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum TraceArg {
    /// Normal delay jitter.
    NormalJitter,
    /// Lognormal delays.
    HeavyTail,
    /// Pareto delays (infinite variance).
    Pareto,
    /// Gilbert–Elliott bursty loss.
    BurstyLoss,
    /// Sender pauses.
    Pauses,
    /// Through the simulator's network: latency, loss, a partition, a pause, drift.
    SimNetwork,
}

/// Detectors on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum DetectorArg {
    /// A fixed timeout.
    FixedTimeout,
    /// Chen's estimated arrival plus a safety margin.
    Chen,
    /// Phi accrual (Akka/Pekko).
    PhiAccrual,
    /// Phi with an exponential model (Cassandra).
    ExponentialPhi,
}

/// Options of `detector-qos`.
#[derive(Debug, Args)]
struct DetectorQosArgs {
    /// The heartbeat interval.
    #[arg(long, default_value = "1s", value_parser = duration)]
    interval: Duration,
    /// Heartbeats before the crash.
    #[arg(long, default_value_t = 2000)]
    heartbeats: usize,
    /// Trace kinds (comma-separated; default all).
    #[arg(long, value_enum, value_delimiter = ',')]
    traces: Vec<TraceArg>,
    /// Detectors (comma-separated; default all).
    #[arg(long, value_enum, value_delimiter = ',')]
    detectors: Vec<DetectorArg>,
    /// Thresholds to sweep for every chosen detector (comma-separated; default each detector's own sweep).
    #[arg(long, value_delimiter = ',')]
    thresholds: Vec<f64>,
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, e.to_string())
}

fn slo_burn_config(a: &SloBurnArgs) -> io::Result<SloBurnConfig> {
    let mut b = SloBurnConfig::builder()
        .target(a.target)
        .period(a.period)
        .preset(match a.preset {
            Preset::Workbook => TierPreset::Workbook,
            Preset::Sloth => TierPreset::Sloth,
            Preset::Pyrra => TierPreset::Pyrra,
        })
        .step(a.step)
        .duration(a.duration)
        .requests_per_step(a.requests_per_step)
        .poisson_traffic(!a.steady_traffic)
        .baseline_error_ratio(a.baseline)
        .outage(a.outage_start, a.outage_length, a.outage_ratio);
    if let Some(r) = a.leak_ratio {
        let length = a
            .leak_length
            .unwrap_or_else(|| a.duration.saturating_sub(a.leak_start));
        b = b.leak(a.leak_start, length, r);
    }
    b.build().map_err(invalid)
}

fn detector_qos_config(a: &DetectorQosArgs) -> io::Result<DetectorQosConfig> {
    let mut b = DetectorQosConfig::builder()
        .interval(a.interval)
        .heartbeats(a.heartbeats);
    if !a.traces.is_empty() {
        b = b.trace_kinds(
            a.traces
                .iter()
                .map(|t| match t {
                    TraceArg::NormalJitter => TraceKind::NormalJitter,
                    TraceArg::HeavyTail => TraceKind::HeavyTail,
                    TraceArg::Pareto => TraceKind::Pareto,
                    TraceArg::BurstyLoss => TraceKind::BurstyLoss,
                    TraceArg::Pauses => TraceKind::Pauses,
                    TraceArg::SimNetwork => TraceKind::SimulatedNetwork,
                })
                .collect(),
        );
    }
    let detectors: Vec<DetectorKind> = if a.detectors.is_empty() {
        DetectorKind::ALL.to_vec()
    } else {
        a.detectors
            .iter()
            .map(|d| match d {
                DetectorArg::FixedTimeout => DetectorKind::FixedTimeout,
                DetectorArg::Chen => DetectorKind::Chen,
                DetectorArg::PhiAccrual => DetectorKind::PhiAccrual,
                DetectorArg::ExponentialPhi => DetectorKind::ExponentialPhi,
            })
            .collect()
    };
    if !a.thresholds.is_empty() {
        let mut sorted = a.thresholds.clone();
        sorted.sort_by(f64::total_cmp);
        sorted.dedup();
        for &d in &detectors {
            b = b.sweep(d, sorted.clone());
        }
    }
    b.detectors(detectors).build().map_err(invalid)
}

/// Draws a progress bar of finished runs on stderr when it is a terminal and
/// there is more than one run; silent otherwise (pipes, files, CI logs).
pub(crate) fn progress(total: usize) -> impl Fn(usize) + Sync {
    let bar = (total > 1 && io::stderr().is_terminal()).then(|| {
        let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(
            "  runs {bar:32.cyan/blue} {pos}/{len}  {elapsed_precise} elapsed, eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style.progress_chars("=> "));
        bar
    });
    move |_done| {
        // Runs finish on several threads and report in any order: count them
        // rather than trusting the order of the counts.
        if let Some(bar) = &bar {
            bar.inc(1);
            if bar.position() >= total as u64 {
                bar.finish_and_clear();
            }
        }
    }
}

/// Runs one scenario, prints its report and writes it to the output directory.
pub(crate) fn run(args: SimArgs, out: &mut dyn Write) -> io::Result<()> {
    let seeds: Vec<u64> = (0..args.runs).map(|i| args.seed.wrapping_add(i)).collect();
    let threads = args
        .threads
        .map_or_else(steadfast_sim::default_threads, |t| t as usize);
    let (name, report): (&str, ScenarioReport) = match &args.scenario {
        Scenario::SloBurn(a) => {
            let config = slo_burn_config(a)?;
            let report = if seeds.len() == 1 {
                slo_burn::run(&config, seeds[0]).report()
            } else {
                slo_burn::run_many_with_progress(&config, &seeds, threads, progress(seeds.len()))
                    .report()
            };
            ("slo-burn", report)
        }
        Scenario::DetectorQos(a) => {
            let config = detector_qos_config(a)?;
            let report = if seeds.len() == 1 {
                detector_qos::run(&config, seeds[0]).report()
            } else {
                detector_qos::run_many_with_progress(
                    &config,
                    &seeds,
                    threads,
                    progress(seeds.len()),
                )
                .report()
            };
            ("detector-qos", report)
        }
        Scenario::LeaseSafety(a) => {
            let config = lease_safety_config(a)?;
            let report = if seeds.len() == 1 {
                lease_safety::run(&config, seeds[0]).report()
            } else {
                lease_safety::run_many_with_progress(
                    &config,
                    &seeds,
                    threads,
                    progress(seeds.len()),
                )
                .report()
            };
            ("lease-safety", report)
        }
        Scenario::AntiEntropy(a) => {
            let config = anti_entropy_config(a)?;
            let report = if seeds.len() == 1 {
                anti_entropy::run(&config, seeds[0]).report()
            } else {
                anti_entropy::run_many(&config, &seeds, threads).report()
            };
            ("anti-entropy", report)
        }
        Scenario::RetryStorm(a) => {
            let config = retry_storm_config(a)?;
            let report = if seeds.len() == 1 {
                retry_storm::run(&config, seeds[0]).report()
            } else {
                retry_storm::run_many_with_progress(&config, &seeds, threads, progress(seeds.len()))
                    .report()
            };
            ("retry-storm", report)
        }
    };
    let dir = args
        .out
        .unwrap_or_else(|| PathBuf::from("target").join("steadfast").join(name));
    writeln!(out, "steadfast sim {name}")?;
    writeln!(out)?;
    write!(out, "{report}")?;
    write_report(out, &report, &dir)
}

/// Writes a report's files into `dir` and says where they are.
pub(crate) fn write_report(
    out: &mut dyn Write,
    report: &steadfast_sim::ScenarioReport,
    dir: &std::path::Path,
) -> io::Result<()> {
    let written = report.write_to(dir).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("could not write the report to {}: {e}", dir.display()),
        )
    })?;
    writeln!(out)?;
    writeln!(
        out,
        "wrote {} files to {} (open {})",
        written.len(),
        dir.display(),
        dir.join("report.html").display()
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_durations_and_ratios() {
        assert_eq!(duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(duration("0"), Ok(Duration::ZERO));
        assert!(duration("1M").unwrap_err().contains("ambiguous"));
        assert!(duration("1.5h").is_err());
        assert_eq!(fraction("99.9"), Ok(0.999));
        assert_eq!(fraction("0.99"), Ok(0.99));
        assert_eq!(fraction("1%"), Ok(0.01));
        assert!(fraction("x").is_err());
        assert_eq!(ratio("5%"), Ok(0.05));
        assert_eq!(ratio("0.05"), Ok(0.05));
        assert!(ratio("five").is_err());
        assert_eq!(fine_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(fine_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(fine_duration("0"), Ok(Duration::ZERO));
        assert!(fine_duration("ms").unwrap_err().contains("250ms"));
        assert!(fine_duration("1.5s").unwrap_err().contains("250ms"));
        assert!(fine_duration("99999999999999999999ms").is_err());
    }
}
