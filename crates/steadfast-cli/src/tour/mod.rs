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

/// The scripted day: every crate together, narrated, with its report written to disk.
fn day(args: &TourArgs, out: &mut dyn Write) -> io::Result<()> {
    let config = TourConfig::builder().build().map_err(io::Error::other)?;
    let result = scenario::tour::run(&config, args.seed);
    writeln!(
        out,
        "5 nodes heartbeat each other (phi accrual); node 3 leads under a 10s lease with fencing;"
    )?;
    writeln!(
        out,
        "clients call their home node through a breaker, retrying within a 20% budget;"
    )?;
    writeln!(
        out,
        "replicas run Merkle anti-entropy; paging burn-rate alerts watch a 99.9% objective (seed {}).",
        args.seed
    )?;
    writeln!(out)?;
    for line in result.narrative() {
        writeln!(out, "  {line}")?;
    }
    writeln!(out)?;
    write!(out, "{}", result.summary())?;
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("target").join("steadfast").join("tour"));
    crate::sim::write_report(out, &result.report(), &dir)
}
