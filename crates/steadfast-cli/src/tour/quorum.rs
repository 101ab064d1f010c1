//! The tour of `steadfast-quorum`.

use std::io::{self, Write};
use std::sync::Arc;
use std::time::Duration;

use steadfast_core::{Clock, ManualClock, NodeId};
use steadfast_quorum::{
    Fence, InMemoryBackend, LeasePolicy, LockError, Mutex, QuorumKind, QuorumSystem, Vote,
};

/// Runs this crate's part of the tour.
pub(crate) fn run(out: &mut dyn Write) -> io::Result<()> {
    let fail = |e: &dyn std::fmt::Display| io::Error::other(e.to_string());

    // A five-node majority tally.
    let system = QuorumSystem::majority((1..=5).map(NodeId::new)).map_err(|e| fail(&e))?;
    let mut tally = system.tally(QuorumKind::Write);
    for (node, vote) in [
        (1, Vote::Yes),
        (2, Vote::Yes),
        (3, Vote::No),
        (4, Vote::Yes),
    ] {
        let outcome = tally
            .record(NodeId::new(node), vote)
            .map_err(|e| fail(&e))?;
        writeln!(
            out,
            "5-node majority: node {node} votes {vote:?} -> {outcome:?}"
        )?;
    }

    // An even split settled by a tie-breaker.
    let four = QuorumSystem::majority((1..=4).map(NodeId::new)).map_err(|e| fail(&e))?;
    let tie_breaker = Some(NodeId::new(1));
    for side in [[1, 2], [3, 4]] {
        let decision = four
            .partition_decision(side.map(NodeId::new), tie_breaker)
            .map_err(|e| fail(&e))?;
        let verdict = if decision.may_continue() {
            "continues"
        } else {
            "steps down"
        };
        writeln!(
            out,
            "partition 2|2, tie-breaker node 1: side {side:?} {verdict} ({:?})",
            decision.reason()
        )?;
    }

    // A lease under drift: believed for T/κ - margin, granted away only after T.
    let clock = ManualClock::new();
    let backend = Arc::new(InMemoryBackend::with_clock(clock.clone()));
    let policy = LeasePolicy::builder(Duration::from_secs(10))
        .drift_bound(1.25)
        .safety_margin(Duration::from_millis(500))
        .build()
        .map_err(|e| fail(&e))?;
    let a = Mutex::with_clock(Arc::clone(&backend), "orders", "a", policy, clock.clone());
    let b = Mutex::with_clock(Arc::clone(&backend), "orders", "b", policy, clock.clone());
    let mut guard_a = a.try_lock().map_err(|e| fail(&e))?;
    writeln!(
        out,
        "lease T=10s, kappa=1.25, margin 0.5s: a holds token {} and believes it for {:?}",
        guard_a.token(),
        policy.holder_validity()
    )?;
    clock.advance(Duration::from_millis(7_500));
    writeln!(
        out,
        "at {} a (paused, never renewed) still holds? {}",
        clock.now(),
        guard_a.is_held()
    )?;
    clock.advance(Duration::from_millis(1_500));
    if let Err(LockError::Held { holder }) = b.try_lock() {
        writeln!(
            out,
            "at {} b is refused: the grantor keeps the key for {} until T has passed",
            clock.now(),
            holder.owner
        )?;
    }
    clock.advance(Duration::from_secs(1));
    let guard_b = b.try_lock().map_err(|e| fail(&e))?;
    writeln!(out, "at {} b holds token {}", clock.now(), guard_b.token())?;

    // The fence refuses the stale token.
    let fence = Fence::new();
    fence.check(guard_b.token()).map_err(|e| fail(&e))?;
    match fence.check(guard_a.token()) {
        Ok(()) => writeln!(out, "fence: a's late write was accepted (unexpected)")?,
        Err(stale) => writeln!(out, "fence: a's late write refused: {stale}")?,
    }
    Ok(())
}
