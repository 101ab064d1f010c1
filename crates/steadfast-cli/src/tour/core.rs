//! The tour of `steadfast-core`.

use std::io::{self, Write};
use std::time::Duration;

use steadfast_core::{
    Clock, ConfigError, ManualClock, MonotonicClock, NodeId, Observer, Recorder, Timestamp,
};

/// A toy component that reports its state changes, as every steadfast component does.
#[derive(Debug, Clone, PartialEq)]
enum LinkEvent {
    Down {
        at: Timestamp,
        peer: NodeId,
        reason: &'static str,
    },
    Up {
        at: Timestamp,
        peer: NodeId,
        after: Duration,
    },
}

/// Declares a link down when no heartbeat arrived within `timeout`.
fn watch_link(
    observer: &dyn Observer<LinkEvent>,
    peer: NodeId,
    heartbeats: &[Timestamp],
    timeout: Duration,
) -> Vec<(Timestamp, Timestamp)> {
    let mut outages = Vec::new();
    let mut last = Timestamp::ZERO;
    for &beat in heartbeats {
        let gap = beat.saturating_duration_since(last);
        if gap > timeout {
            let down_at = last + timeout;
            observer.on_event(&LinkEvent::Down {
                at: down_at,
                peer,
                reason: "no heartbeat within timeout",
            });
            observer.on_event(&LinkEvent::Up {
                at: beat,
                peer,
                after: beat - down_at,
            });
            outages.push((down_at, beat));
        }
        last = beat;
    }
    outages
}

pub(crate) fn run(out: &mut dyn Write) -> io::Result<()> {
    // 1. A manual clock: clones share one time, so a test moves time for everyone.
    let clock = ManualClock::new();
    let handle = clock.clone();
    let mut beats = Vec::new();
    for step in [1_000u64, 1_000, 1_000, 4_500, 1_000] {
        handle.advance(Duration::from_millis(step));
        beats.push(clock.now());
    }
    writeln!(
        out,
        "A peer sent heartbeats at {} (virtual time).",
        beats
            .iter()
            .map(|t| t.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )?;

    // 2. Events go to an observer; a Recorder keeps them.
    let recorder = Recorder::new();
    let outages = watch_link(&recorder, NodeId::new(7), &beats, Duration::from_secs(2));
    writeln!(
        out,
        "With a 2 s timeout the watcher saw {} outage(s) and emitted:",
        outages.len()
    )?;
    for event in recorder.events() {
        match event {
            LinkEvent::Down { at, peer, reason } => {
                writeln!(out, "  {at}  peer {peer} down ({reason})")?
            }
            LinkEvent::Up { at, peer, after } => {
                writeln!(out, "  {at}  peer {peer} up again after {after:?}")?
            }
        }
    }

    // 3. Time that goes backwards saturates instead of panicking.
    let before = clock.now();
    handle.jump_backwards(Duration::from_secs(30));
    let after = clock.now();
    writeln!(
        out,
        "The clock jumped back 30 s ({before} -> {after}); elapsed reads {:?}, not a panic.",
        after.saturating_duration_since(before)
    )?;
    writeln!(
        out,
        "Timestamp::MAX + 1 s = {:?} (saturating).",
        Timestamp::MAX + Duration::from_secs(1)
    )?;

    // 4. Bad configuration is refused with a sentence naming field, value and rule.
    let threshold = 1.5;
    if let Err(e) = ConfigError::ensure(
        threshold > 0.0 && threshold <= 1.0,
        "breaker.failure_rate_threshold",
        threshold,
        "in (0, 1]",
    ) {
        writeln!(out, "A bad setting is refused: {e}")?;
    }

    // 5. The real clock: every MonotonicClock in the process shares one origin.
    let real = MonotonicClock::new();
    let start = real.now();
    let mut spins = 0u64;
    while real.now().saturating_duration_since(start) < Duration::from_millis(2) {
        spins += 1;
    }
    let per_read = Duration::from_millis(2).as_nanos() as f64 / spins.max(1) as f64;
    writeln!(
        out,
        "MonotonicClock: {spins} reads in 2 ms of real time (about {per_read:.0} ns per read, loop included)."
    )?;
    Ok(())
}
