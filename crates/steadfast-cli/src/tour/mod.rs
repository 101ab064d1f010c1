//! `steadfast tour`: one short, real demonstration per crate.

use std::io::{self, Write};

mod core;
mod slo;
mod detect;

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
        ready: false,
    },
    CrateEntry {
        name: "steadfast-detect",
        purpose: "heartbeat failure detectors, flap damping, QoS metrics",
        ready: true,
    },
    CrateEntry {
        name: "steadfast-quorum",
        purpose: "quorums, leases under drift, fencing, locks, election",
        ready: false,
    },
    CrateEntry {
        name: "steadfast-etcd",
        purpose: "the lease backend on a real etcd cluster",
        ready: false,
    },
    CrateEntry {
        name: "steadfast-replica",
        purpose: "version vectors, HLC, read-repair, Merkle anti-entropy",
        ready: false,
    },
    CrateEntry {
        name: "steadfast-slo",
        purpose: "nines, error budgets, burn-rate alerts, availability math",
        ready: true,
    },
    CrateEntry {
        name: "steadfast-sim",
        purpose: "deterministic simulator measuring every policy",
        ready: false,
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

/// Runs the whole tour, writing to `out`.
pub(crate) fn run(out: &mut dyn Write) -> io::Result<()> {
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
    heading(out, "steadfast-slo: error budgets and burn-rate alerts")?;
    slo::run(out)?;
    heading(
        out,
        "steadfast-detect: when is a peer dead? exact deadlines, phi, damping",
    )?;
    detect::run(out)?;
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
