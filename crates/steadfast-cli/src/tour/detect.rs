//! The tour of `steadfast-detect`.

use std::io::{self, Write};
use std::time::Duration;

use steadfast_core::{Clock, ManualClock};
use steadfast_detect::{
    FixedTimeout, Monitor, MonitorConfig, PhiAccrual, PhiAccrualConfig, TransitionReason,
};

pub(crate) fn run(out: &mut dyn Write) -> io::Result<()> {
    let clock = ManualClock::new();
    // 1. A peer heartbeats every second; a phi accrual detector with Pekko's defaults watches it.
    let config = PhiAccrualConfig::builder()
        .build()
        .map_err(io::Error::other)?;
    let monitor = Monitor::new(
        MonitorConfig::builder().build().map_err(io::Error::other)?,
        PhiAccrual::new(config),
    );
    for _ in 0..30 {
        clock.advance(Duration::from_secs(1));
        monitor.heartbeat("db-1", clock.now());
        let _ = monitor.sweep(clock.now());
    }
    let last = clock.now();
    writeln!(
        out,
        "db-1 heartbeats every 1s until {last}, then crashes (phi accrual, Pekko defaults)"
    )?;
    // 2. It crashes. The detector already knows the exact instant it will suspect it.
    let deadline = monitor.next_deadline().unwrap_or(last);
    writeln!(out, "  next deadline: {deadline} (no polling needed)")?;
    for extra_ms in [2_000u64, 4_000, 4_300, 4_500] {
        let at = last + Duration::from_millis(extra_ms);
        let status = monitor.status(&"db-1", at);
        let phi = status.map_or(0.0, |s| s.suspicion);
        writeln!(out, "  {at}: phi = {phi:.2}")?;
    }
    clock.advance_to(deadline);
    for t in monitor.sweep(clock.now()) {
        if let TransitionReason::ThresholdCrossed { suspicion } = t.reason {
            writeln!(
                out,
                "  {}: {} {} -> {} (phi {suspicion:.3} >= 8)",
                t.at, t.peer, t.from, t.to
            )?;
        }
    }
    // A timer loop sweeping every second sees the silence escalate.
    for _ in 0..31 {
        clock.advance(Duration::from_secs(1));
        for t in monitor.sweep(clock.now()) {
            writeln!(out, "  {}: {} {} -> {}", t.at, t.peer, t.from, t.to)?;
        }
    }

    // 3. A flapping peer: three short outages in a row, and damping holds it down.
    let flappy = Monitor::new(
        MonitorConfig::builder()
            .pause_threshold(None)
            .build()
            .map_err(io::Error::other)?,
        FixedTimeout::new(Duration::from_millis(1500)).map_err(io::Error::other)?,
    );
    writeln!(
        out,
        "cache-2 goes silent for 2s three times (1.5s timeout):"
    )?;
    for _ in 0..3 {
        flappy.heartbeat("cache-2", clock.now());
        clock.advance(Duration::from_millis(3500));
        for t in flappy.sweep(clock.now() - Duration::from_millis(1)) {
            writeln!(out, "  {}: {} {} -> {}", t.at, t.peer, t.from, t.to)?;
        }
        match flappy.heartbeat("cache-2", clock.now()) {
            Some(t) => writeln!(out, "  {}: {} {} -> {}", t.at, t.peer, t.from, t.to)?,
            None => {
                if let Some(s) = flappy.status(&"cache-2", clock.now())
                    && let Some(until) = s.held_until
                {
                    writeln!(
                        out,
                        "  {}: cache-2 is back but flapping: held {} until {until}",
                        clock.now(),
                        s.state
                    )?;
                }
            }
        }
    }
    // It keeps heartbeating; the penalty decays and the hold ends on schedule.
    for _ in 0..40 {
        clock.advance(Duration::from_secs(1));
        let released = flappy.sweep(clock.now());
        let _ = flappy.heartbeat("cache-2", clock.now());
        for t in released {
            writeln!(
                out,
                "  {}: {} {} -> {} (damping released)",
                t.at, t.peer, t.from, t.to
            )?;
        }
    }
    Ok(())
}
