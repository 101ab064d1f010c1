//! The tour of `steadfast-detect`.

use std::io::{self, Write};
use std::time::Duration;

use steadfast_core::{Clock, ManualClock};
use steadfast_detect::{
    ChenConfig, ChenDetector, FixedTimeout, Jitter, Loss, Monitor, MonitorConfig, PeerState,
    PhiAccrual, PhiAccrualConfig, QosReport, Sequence, TraceConfig, TransitionReason,
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
    for extra_ms in [4_000u64, 4_300, 4_500] {
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

    // 3. Over UDP a copy of an old heartbeat can arrive late; numbered, it cannot revive a dead peer.
    let numbered = timeout_monitor(Duration::from_secs(2))?;
    for n in 0..5 {
        numbered.heartbeat_with_sequence("api-3", Sequence::new(1, n), clock.now());
        clock.advance(Duration::from_secs(1));
    }
    clock.advance(Duration::from_secs(2));
    writeln!(
        out,
        "api-3 sends numbered heartbeats #0 to #4 over UDP, then crashes (2s timeout):"
    )?;
    for t in numbered.sweep(clock.now()) {
        writeln!(out, "  {}: {} {} -> {}", t.at, t.peer, t.from, t.to)?;
    }
    let late = numbered.heartbeat_with_sequence("api-3", Sequence::new(1, 3), clock.now());
    let state = numbered
        .status(&"api-3", clock.now())
        .map_or(PeerState::Healthy, |s| s.state);
    writeln!(
        out,
        "  {}: a duplicated copy of #3 arrives late: {}, api-3 stays {state}",
        clock.now(),
        if late.is_none() {
            "dropped as stale"
        } else {
            "taken as a sign of life"
        }
    )?;

    // 4. A flapping peer: three short outages in a row, and damping holds it down.
    let flappy = timeout_monitor(Duration::from_millis(1500))?;
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

    // 5. Comparing detectors on one seeded trace: bursty loss, heavy-tailed delay, a crash.
    let trace = TraceConfig::builder()
        .heartbeats(3_600)
        .jitter(Jitter::LogNormal {
            median: Duration::from_millis(20),
            sigma: 1.0,
        })
        .loss(Loss::GilbertElliott {
            good_to_bad: 0.01,
            bad_to_good: 0.4,
            loss_in_good: 0.0,
            loss_in_bad: 0.8,
        })
        .crash_at(steadfast_core::Timestamp::from_secs(3_000))
        .seed(7)
        .build()
        .map_err(io::Error::other)?
        .generate();
    writeln!(
        out,
        "QoS on one seeded trace (1/s heartbeats, bursty loss, heavy-tailed delay, crash at 3000s):"
    )?;
    let fixed = FixedTimeout::new(Duration::from_millis(2_500)).map_err(io::Error::other)?;
    let chen = ChenDetector::new(
        ChenConfig::builder()
            .safety_margin(Duration::from_millis(1_500))
            .build()
            .map_err(io::Error::other)?,
    );
    let phi = PhiAccrual::new(
        PhiAccrualConfig::builder()
            .build()
            .map_err(io::Error::other)?,
    );
    qos_line(out, "fixed 2.5s     ", QosReport::evaluate(fixed, &trace))?;
    qos_line(out, "chen +1.5s     ", QosReport::evaluate(chen, &trace))?;
    qos_line(out, "phi (Pekko)    ", QosReport::evaluate(phi, &trace))?;
    Ok(())
}

/// A monitor with a fixed-timeout detector and no pause guard (the tour
/// moves its clock by hand, in jumps a pause guard would take for pauses).
fn timeout_monitor(timeout: Duration) -> io::Result<Monitor<&'static str, FixedTimeout>> {
    Ok(Monitor::new(
        MonitorConfig::builder()
            .pause_threshold(None)
            .build()
            .map_err(io::Error::other)?,
        FixedTimeout::new(timeout).map_err(io::Error::other)?,
    ))
}

/// One detector's QoS on one line.
fn qos_line(out: &mut dyn Write, name: &str, report: QosReport) -> io::Result<()> {
    let detection = report
        .detection_time
        .map_or_else(|| "-".to_string(), |d| format!("{:.2}s", d.as_secs_f64()));
    writeln!(
        out,
        "  {name} detection {detection}, {} mistakes, accuracy {:.5}",
        report.mistake_count(),
        report.query_accuracy()
    )
}
