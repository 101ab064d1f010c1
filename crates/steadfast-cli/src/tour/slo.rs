//! steadfast-slo: a 99.9% objective over 30 days, an outage and a slow leak,
//! which burn-rate tiers fire when, and how much budget each costs.

use std::io::{self, Write};
use std::time::Duration;

use steadfast_core::{Clock, ManualClock, Recorder, Timestamp};
use steadfast_slo::{
    AlertEvent, AlertEventKind, AlertPolicy, BudgetingMethod, BurnRateMonitor, Objective,
    RollingBudget, workbook_tiers,
};

use crate::slo::human;

/// 100 requests per second, in steps of 10 seconds (a minute during the quiet month).
const RATE: u64 = 100;

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

pub(crate) fn run(out: &mut dyn Write) -> io::Result<()> {
    let days30 = Duration::from_secs(30 * 86_400);
    let slo = Objective::new(0.999).map_err(invalid)?;
    writeln!(
        out,
        "objective 99.9% over 30 days: {} of downtime, or {} failures per million requests",
        human(slo.allowed_downtime(days30)),
        slo.allowed_failures(1_000_000)
    )?;
    for t in workbook_tiers(days30) {
        writeln!(
            out,
            "  tier {:<10} burn rate {:>4.1} over {} and {} -> {}",
            t.name(),
            t.burn_rate(),
            human(t.long()),
            human(t.short()),
            t.severity()
        )?;
    }

    let clock = ManualClock::new();
    let events = Recorder::<AlertEvent>::new();
    let policy = AlertPolicy::builder(slo, days30)
        .min_events(1000)
        .build()
        .map_err(invalid)?;
    let mut monitor =
        BurnRateMonitor::with_clock(policy, clock.clone()).with_observer(events.clone());
    let mut budget = RollingBudget::new(
        slo,
        Duration::from_secs(3600),
        720,
        BudgetingMethod::Occurrences,
    )
    .map_err(invalid)?;

    // A quiet month at 0.05% errors fills every window, then the incident profile.
    let hours = |h: f64| Duration::from_secs_f64(h * 3600.0);
    let profile: [(Duration, u64, &str); 5] = [
        (days30, 0, "quiet: 0.01% errors"),
        (
            hours(0.5),
            200,
            "outage: 20% of requests fail for 30 minutes",
        ),
        (hours(3.5), 0, "recovered: back to 0.01%"),
        (
            hours(24.0),
            8,
            "slow leak: 0.8% errors (burn rate 8) for a day",
        ),
        (hours(12.0), 0, "fixed"),
    ];
    let start = Timestamp::from_duration(days30);
    let since = |at: Timestamp| human(at.saturating_duration_since(start));
    let mut served = 0u64;
    for (length, bad_per_mille, label) in profile {
        let now = clock.now();
        if now >= start {
            writeln!(out, "t+{:<12} {label}", since(now))?;
        }
        let step_len = if now < start { 60 } else { 10 };
        let per_step = RATE * step_len;
        for _ in 0..length.as_secs() / step_len {
            clock.advance(Duration::from_secs(step_len));
            // 0.01% background: one failure in every 10,000 requests.
            served += per_step;
            let background = served / 10_000;
            served %= 10_000;
            let bad = (bad_per_mille * per_step / 1000 + background).min(per_step);
            let at = clock.now();
            let _ = monitor.record(per_step - bad, per_step);
            let _ = budget.record(at, per_step - bad, per_step);
            let _ = monitor.evaluate();
            // A tier resolves when either window's burn falls below its
            // threshold: the outage leaving the 6h window resolves that tier
            // even while the leak goes on, until the leak alone fills enough
            // of the window to fire it again.
            for e in events.take() {
                let verb = match e.kind {
                    AlertEventKind::Fired => "fires",
                    AlertEventKind::Resolved => "resolves",
                    _ => "changes",
                };
                let consumed = budget.status_at(at).consumed.unwrap_or(0.0);
                writeln!(
                    out,
                    "t+{:<12} {verb:<8} {:<9} ({}) burn {:>5.1} long / {:>5.1} short; budget spent {:.1}%",
                    since(e.at),
                    e.name,
                    e.severity,
                    e.long_burn.unwrap_or(0.0),
                    e.short_burn.unwrap_or(0.0),
                    consumed * 100.0
                )?;
            }
        }
    }
    let status = budget.status_at(clock.now());
    writeln!(
        out,
        "after the incident: {:.1}% of the 30-day budget spent, {:.1}% left",
        status.consumed.unwrap_or(0.0) * 100.0,
        status.remaining.unwrap_or(1.0) * 100.0
    )?;
    Ok(())
}
