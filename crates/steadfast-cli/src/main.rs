//! The `steadfast` command: a guided tour of the steadfast crates, seeded
//! simulations of their policies, and SLO arithmetic.
#![forbid(unsafe_code)]

use std::io::{self, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod sim;
mod slo;
mod tour;

/// Embeddable resilience libraries: see them work.
#[derive(Debug, Parser)]
#[command(name = "steadfast", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Walk through every crate, then run a five-node service through a scripted day of faults.
    Tour(tour::TourArgs),
    /// SLO arithmetic: nines, budgets, burn-rate tiers, composite availability.
    #[command(subcommand)]
    Slo(slo::SloCommand),
    /// Run a seeded simulation scenario; print the results and write CSV, SVG and HTML.
    Sim(sim::SimArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let result = match cli.command {
        Command::Tour(args) => tour::run(&args, &mut out),
        Command::Slo(cmd) => slo::run(cmd, &mut out),
        Command::Sim(args) => sim::run(args, &mut out),
    };
    match result.and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        // A closed pipe (`steadfast tour | head`) is not an error worth reporting.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("steadfast: {e}");
            ExitCode::FAILURE
        }
    }
}
