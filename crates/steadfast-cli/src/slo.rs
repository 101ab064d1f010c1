//! `steadfast slo ...`: SLO arithmetic from the command line.

use std::io::{self, Write};
use std::time::Duration;

use clap::{Subcommand, ValueEnum};
use steadfast_slo::openslo::{OpenSloDuration, parse_duration};
use steadfast_slo::{
    Availability, BurnRateTier, Objective, pyrra_tiers, sloth_tiers, workbook_tiers,
};

/// SLO arithmetic.
#[derive(Debug, Subcommand)]
pub(crate) enum SloCommand {
    /// Allowed downtime of the common objectives over a period.
    Nines {
        /// The period, such as 30d, 28d, 4w or 365d.
        #[arg(long, default_value = "30d")]
        period: String,
    },
    /// Error budget of one objective: downtime over a period and failures per request count.
    Budget {
        /// The objective, as a percentage (99.9) or a fraction (0.999).
        #[arg(long)]
        target: String,
        /// The period, such as 30d.
        #[arg(long, default_value = "30d")]
        period: String,
        /// A request count to compute the allowed failures for.
        #[arg(long)]
        requests: Option<u64>,
    },
    /// Multiwindow burn-rate tiers for an objective, with detection times.
    Tiers {
        /// The objective, as a percentage (99.9) or a fraction (0.999).
        #[arg(long)]
        target: String,
        /// The period, such as 30d.
        #[arg(long, default_value = "30d")]
        period: String,
        /// Which tier set to use.
        #[arg(long, value_enum, default_value_t = Preset::Workbook)]
        preset: Preset,
    },
    /// Availability of parts composed in series, in parallel, or k of n.
    Composite {
        /// The parts' availabilities, as percentages (99.9) or fractions (0.999).
        #[arg(required = true)]
        parts: Vec<String>,
        /// How the parts combine.
        #[arg(long, value_enum, default_value_t = Mode::Series)]
        mode: Mode,
        /// For k-of-n: how many parts must be up.
        #[arg(long)]
        k: Option<usize>,
        /// The period over which to state the downtime.
        #[arg(long, default_value = "30d")]
        period: String,
    },
}

/// Burn-rate tier presets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Preset {
    /// SRE Workbook: 2% in 1h, 5% in 6h, 10% in 3d.
    Workbook,
    /// sloth: adds 10% in 1d.
    Sloth,
    /// pyrra: 14x, 7x, 2x, 1x scaled from 28 days.
    Pyrra,
}

/// How composite parts combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Mode {
    /// Every part is needed.
    Series,
    /// Any one part suffices.
    Parallel,
    /// At least k parts are needed.
    KOfN,
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

fn period(text: &str) -> io::Result<Duration> {
    match parse_duration(text) {
        Ok(OpenSloDuration::Fixed(d)) => Ok(d),
        Ok(_) => Err(invalid(format!(
            "--period {text}: a month is ambiguous; give days, such as 30d"
        ))),
        Err(e) => Err(invalid(format!("--period {e}"))),
    }
}

fn fraction(text: &str) -> io::Result<f64> {
    let v: f64 = text
        .trim_end_matches('%')
        .parse()
        .map_err(|_| invalid(format!("{text:?} is not a number")))?;
    if v > 1.0 {
        // 99.9 / 100 is 0.9990000000000001 in binary; round to the digits a person types.
        let f = v / 100.0;
        Ok(format!("{f:.13e}").parse().unwrap_or(f))
    } else {
        Ok(v)
    }
}

fn objective(text: &str) -> io::Result<Objective> {
    Objective::new(fraction(text)?).map_err(|e| invalid(e.to_string()))
}

/// `1d 2h 3m 4.5s`, down to tenths of seconds.
pub(crate) fn human(d: Duration) -> String {
    let mut secs = d.as_secs_f64();
    let mut parts = Vec::new();
    for (unit, len) in [("d", 86_400.0), ("h", 3600.0), ("m", 60.0)] {
        if secs >= len {
            let n = (secs / len).floor();
            parts.push(format!("{n}{unit}"));
            secs -= n * len;
        }
    }
    if secs >= 0.05 || parts.is_empty() {
        let s = format!("{secs:.1}");
        parts.push(format!("{}s", s.trim_end_matches(".0")));
    }
    parts.join(" ")
}

/// Runs one `slo` subcommand.
pub(crate) fn run(cmd: SloCommand, out: &mut dyn Write) -> io::Result<()> {
    match cmd {
        SloCommand::Nines { period: p } => {
            let p = period(&p)?;
            writeln!(
                out,
                "{:>10}  {:>6}  allowed downtime over {}",
                "objective",
                "nines",
                human(p)
            )?;
            for row in steadfast_slo::objective::nines_table(p) {
                writeln!(
                    out,
                    "{:>9}%  {:>6.2}  {}",
                    fmt_frac(row.objective.target() * 100.0),
                    row.objective.nines(),
                    human(row.downtime)
                )?;
            }
        }
        SloCommand::Budget {
            target,
            period: p,
            requests,
        } => {
            let o = objective(&target)?;
            let p = period(&p)?;
            writeln!(
                out,
                "objective        {}% ({:.2} nines)",
                fmt_frac(o.target() * 100.0),
                o.nines()
            )?;
            writeln!(out, "error budget     {}", fmt_frac(o.error_budget()))?;
            writeln!(
                out,
                "downtime         {} over {}",
                human(o.allowed_downtime(p)),
                human(p)
            )?;
            for per in [Duration::from_secs(86_400), Duration::from_secs(7 * 86_400)] {
                writeln!(
                    out,
                    "  per {:<10}   {}",
                    human(per),
                    human(o.allowed_downtime(per))
                )?;
            }
            if let Some(n) = requests {
                writeln!(
                    out,
                    "failures         {} of {n} requests",
                    o.allowed_failures(n)
                )?;
            }
        }
        SloCommand::Tiers {
            target,
            period: p,
            preset,
        } => {
            let o = objective(&target)?;
            let p = period(&p)?;
            let tiers: Vec<BurnRateTier> = match preset {
                Preset::Workbook => workbook_tiers(p),
                Preset::Sloth => sloth_tiers(p),
                Preset::Pyrra => pyrra_tiers(p),
            };
            writeln!(
                out,
                "{:<14} {:<7} {:>10} {:>8} {:>9} {:>11} {:>15}",
                "tier", "sev", "long", "short", "burn", "budget", "detect at 100%"
            )?;
            for t in &tiers {
                let detect = t
                    .detection_time(o, 1.0)
                    .map_or_else(|| "never".to_string(), human);
                writeln!(
                    out,
                    "{:<14} {:<7} {:>10} {:>8} {:>9.2} {:>10.1}% {:>15}",
                    t.name(),
                    t.severity().as_str(),
                    human(t.long()),
                    human(t.short()),
                    t.burn_rate(),
                    t.budget_consumed(p) * 100.0,
                    detect
                )?;
            }
            writeln!(
                out,
                "a tier fires when the error ratio over both windows reaches burn x {}",
                fmt_frac(o.error_budget())
            )?;
        }
        SloCommand::Composite {
            parts,
            mode,
            k,
            period: p,
        } => {
            let p = period(&p)?;
            let parts = parts
                .iter()
                .map(|s| {
                    Availability::from_availability(fraction(s)?)
                        .map_err(|e| invalid(e.to_string()))
                })
                .collect::<io::Result<Vec<_>>>()?;
            let (label, a) = match mode {
                Mode::Series => (
                    format!("series of {}", parts.len()),
                    Availability::series(&parts),
                ),
                Mode::Parallel => (
                    format!("parallel of {}", parts.len()),
                    Availability::parallel(&parts),
                ),
                Mode::KOfN => {
                    let k = k.ok_or_else(|| invalid("--mode k-of-n needs --k".into()))?;
                    (
                        format!("at least {k} of {}", parts.len()),
                        Availability::k_of(k, &parts),
                    )
                }
            };
            writeln!(out, "{label} parts")?;
            writeln!(out, "availability     {:.9}%", a.availability() * 100.0)?;
            writeln!(out, "unavailability   {}", fmt_frac(a.unavailability()))?;
            writeln!(out, "nines            {:.2}", a.nines())?;
            writeln!(
                out,
                "downtime         {} over {}",
                human(a.downtime(p)),
                human(p)
            )?;
        }
    }
    Ok(())
}

fn fmt_frac(x: f64) -> String {
    let rounded: f64 = format!("{x:.9e}").parse().unwrap_or(x);
    format!("{rounded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations() {
        assert_eq!(human(Duration::from_secs(2592)), "43m 12s");
        assert_eq!(human(Duration::from_secs(86_400 * 30)), "30d");
        assert_eq!(human(Duration::from_millis(51_840)), "51.8s");
        assert_eq!(human(Duration::ZERO), "0s");
    }

    #[test]
    fn targets_as_percent_or_fraction() {
        assert_eq!(fraction("99.9").unwrap(), 0.999);
        assert_eq!(fraction("0.999").unwrap(), 0.999);
        assert!(fraction("lots").is_err());
        assert!(period("1M").is_err());
    }
}
