//! `steadfast tour`: one short, real demonstration per crate.

use std::io::{self, Write};
use std::path::PathBuf;

use steadfast_sim::scenario::{self, tour::TourConfig};

mod core;
mod detect;
mod guard;
mod guard_limits;
mod quorum;
mod replica;
mod slo;

/// A crate of the workspace and what it does, for the map at the end of the tour.
struct CrateEntry {
    name: &'static str,
    purpose: &'static str,
    ready: bool,
}

const CRATES: &[CrateEntry] = &[
    CrateEntry {
        name: "steadfast-core",
        purpose: "clocks, timestamps, node ids, observers, config errors",
        ready: true,
    },
    CrateEntry {
        name: "steadfast-guard",
        purpose: "backoff, retry, budgets, breaker, limits, hedging, tower",
        ready: true,
    },
    CrateEntry {
        name: "steadfast-detect",
        purpose: "heartbeat failure detectors, flap damping, QoS metrics",
        ready: true,
    },
    CrateEntry {
        name: "steadfast-quorum",
        purpose: "quorums, leases under drift, fencing, locks, election",
        ready: true,
    },
    CrateEntry {
        name: "steadfast-etcd",
        purpose: "the lease backend on a real etcd cluster",
        ready: true,
    },
    CrateEntry {
        name: "steadfast-replica",
        purpose: "version vectors, HLC, read-repair, Merkle anti-entropy",
        ready: true,
    },
    CrateEntry {
        name: "steadfast-slo",
        purpose: "nines, error budgets, burn-rate alerts, availability math",
        ready: true,
    },
    CrateEntry {
        name: "steadfast-sim",
        purpose: "deterministic simulator measuring every policy",
        ready: true,
    },
    CrateEntry {
        name: "steadfast-cli",
        purpose: "this command",
        ready: true,
    },
    CrateEntry {
        name: "steadfast",
        purpose: "facade re-exporting every crate by feature",
        ready: true,
    },
];

/// Prints a section heading.
fn heading(out: &mut dyn Write, title: &str) -> io::Result<()> {
    writeln!(out)?;
    writeln!(out, "== {title} ==")?;
    Ok(())
}

/// Options of `steadfast tour`.
#[derive(Debug, clap::Args)]
pub(crate) struct TourArgs {
    /// The seed of the scripted day; a seed reproduces it bit for bit.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Play the scripted day this many times (seeds seed, seed+1, ...) and
    /// print means with 95% confidence intervals instead of the walkthrough.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    runs: u64,
    /// Threads for many runs (default: the machine's available parallelism).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1024))]
    threads: Option<u64>,
    /// Play a 75-minute day with the same acts (crash at 00:04:05, partition
    /// at 00:20, 5 minutes each) instead of 24 hours.
    #[arg(long)]
    short: bool,
    /// Where to write report.html, the CSVs and the SVG plots [default: target/steadfast/tour].
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Runs the whole tour, writing to `out`.
pub(crate) fn run(args: &TourArgs, out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "steadfast {}: a tour of embeddable resilience libraries",
        env!("CARGO_PKG_VERSION")
    )?;
    if args.runs > 1 {
        return many_days(args, out);
    }
    heading(
        out,
        "steadfast-core: injected time, events and config errors",
    )?;
    core::run(out)?;
    heading(
        out,
        "steadfast-guard: circuit breaker, backoff and retry budgets",
    )?;
    guard::run(out)?;
    heading(
        out,
        "steadfast-guard: limits, hedging, adaptive concurrency",
    )?;
    guard_limits::run(out)?;
    heading(
        out,
        "steadfast-detect: when is a peer dead? exact deadlines, phi, damping",
    )?;
    detect::run(out)?;
    heading(
        out,
        "steadfast-quorum: quorums, leases under clock drift, fencing",
    )?;
    quorum::run(out)?;
    heading(
        out,
        "steadfast-replica: siblings, hybrid clocks and Merkle anti-entropy",
    )?;
    replica::run(out)?;
    heading(out, "steadfast-slo: error budgets and burn-rate alerts")?;
    slo::run(out)?;
    heading(
        out,
        "steadfast-sim: a five-node service through a scripted day of faults",
    )?;
    day(args, out)?;
    heading(out, "crate map")?;
    for entry in CRATES {
        let status = if entry.ready { "ready" } else { "planned" };
        writeln!(out, "  {:<18} {:<8} {}", entry.name, status, entry.purpose)?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "Run the test suite with scripts/test.sh; benchmarks are in BENCHMARKS.md."
    )?;
    Ok(())
}

/// The day's cast, in words.
fn describe(config: &TourConfig, out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "{} nodes heartbeat each other (phi accrual); node {} leads under a 10s lease from a lock service, with fencing;",
        config.nodes(),
        config.nodes() / 2 + 1
    )?;
    writeln!(
        out,
        "clients call the nodes through a breaker each, retrying within a {:.0}% budget; writes replicate to every node",
        config.retry_percent() * 100.0
    )?;
    writeln!(
        out,
        "and replicas run Merkle anti-entropy; paging burn-rate alerts watch a 99.9% objective. Every message crosses"
    )?;
    writeln!(
        out,
        "a simulated network (1 ms median, 0.02% loss) and every clock drifts (up to {:.1}% apart; the lease allows {:.1}%).",
        (config.worst_clock_ratio() - 1.0) * 100.0,
        (config.lease_drift_bound() - 1.0) * 100.0
    )
}

fn config(args: &TourArgs) -> io::Result<TourConfig> {
    let builder = if args.short {
        TourConfig::short()
    } else {
        TourConfig::builder()
    };
    builder.build().map_err(io::Error::other)
}

fn output_dir(args: &TourArgs) -> PathBuf {
    args.out
        .clone()
        .unwrap_or_else(|| PathBuf::from("target").join("steadfast").join("tour"))
}

/// The scripted day: every crate together, narrated, with its report written to disk.
fn day(args: &TourArgs, out: &mut dyn Write) -> io::Result<()> {
    let config = config(args)?;
    let result = scenario::tour::run(&config, args.seed);
    describe(&config, out)?;
    writeln!(out, "The day, seed {}:", args.seed)?;
    writeln!(out)?;
    for line in result.narrative() {
        writeln!(out, "  {line}")?;
    }
    writeln!(out)?;
    write!(out, "{}", result.summary())?;
    crate::sim::write_report(out, &result.report(), &output_dir(args))
}

/// The scripted day over many seeds, in parallel: means and 95% confidence intervals.
fn many_days(args: &TourArgs, out: &mut dyn Write) -> io::Result<()> {
    let config = config(args)?;
    let seeds: Vec<u64> = (0..args.runs).map(|i| args.seed.wrapping_add(i)).collect();
    let threads = args
        .threads
        .map_or_else(steadfast_sim::default_threads, |t| t as usize);
    heading(
        out,
        "steadfast-sim: a five-node service through a scripted day of faults",
    )?;
    describe(&config, out)?;
    writeln!(
        out,
        "{} days, seeds {}..={}, on {threads} threads:",
        seeds.len(),
        seeds[0],
        seeds[seeds.len() - 1]
    )?;
    writeln!(out)?;
    let summary = scenario::tour::run_many_with_progress(
        &config,
        &seeds,
        threads,
        crate::sim::progress(seeds.len()),
    );
    write!(out, "{}", summary.summary())?;
    crate::sim::write_report(out, &summary.report(), &output_dir(args))
}
