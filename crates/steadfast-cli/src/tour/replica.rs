//! The tour of `steadfast-replica`.

use std::io::{self, Write};
use std::time::Duration;

use steadfast_core::{ManualClock, NodeId, Timestamp};
use steadfast_replica::{
    ConsistencyLevel, DvvSet, Guarantee, HlcConfig, HlcTimestamp, HybridLogicalClock, MerkleTree,
    Operation, Placement, Replica, hash64,
};

fn values(set: &DvvSet<&str>) -> String {
    format!("{:?}", set.values())
}

/// Siblings in a DVVSet, an HLC refusing a runaway clock, a Merkle exchange.
pub(crate) fn run(out: &mut dyn Write) -> io::Result<()> {
    // Two clients write the same key concurrently through replica 1.
    let r1 = NodeId::new(1);
    let stored = DvvSet::new("blue").update_as(r1);
    let seen = stored.join();
    writeln!(
        out,
        "alice writes \"blue\" through replica 1: {}",
        values(&stored)
    )?;
    let stored = stored.update(&seen, "green", r1);
    writeln!(
        out,
        "alice, having read it, writes \"green\": {}",
        values(&stored)
    )?;
    let stored = stored.update(&seen, "red", r1);
    writeln!(
        out,
        "bob writes \"red\" from the same old read: siblings {} under clock {:?}",
        values(&stored),
        stored.join()
    )?;
    let stored = stored.update(&stored.join(), "purple", r1);
    writeln!(
        out,
        "a client that read both writes \"purple\": {}",
        values(&stored)
    )?;

    // A hybrid logical clock refusing a stamp from a node an hour ahead.
    let clock = ManualClock::starting_at(Timestamp::from_secs(1_000));
    let config = HlcConfig::builder()
        .max_skew(Duration::from_millis(500))
        .build()
        .map_err(io::Error::other)?;
    let hlc = HybridLogicalClock::with_clock(config, clock);
    writeln!(out, "hlc stamps a local event: {}", hlc.now())?;
    let near = HlcTimestamp::new(1_000_200, 3).ok_or_else(|| io::Error::other("stamp"))?;
    let got = hlc.receive(near).map_err(io::Error::other)?;
    writeln!(out, "receives {near} from a node 200ms ahead -> {got}")?;
    let runaway = HlcTimestamp::new(4_600_000, 0).ok_or_else(|| io::Error::other("stamp"))?;
    match hlc.receive(runaway) {
        Ok(t) => writeln!(out, "unexpectedly adopted {t}")?,
        Err(e) => writeln!(out, "refused: {e}")?,
    }
    writeln!(out, "clock still at {}", hlc.last())?;

    // Two replicas of 100 000 keys differ in 3; a Merkle exchange finds them.
    let keys = |k: u64| (hash64(&k.to_le_bytes()), k);
    let a = MerkleTree::build(15, (0..100_000).map(keys)).map_err(io::Error::other)?;
    let mut b = a.clone();
    for k in [17u64, 4_242, 99_999] {
        let (token, v) = keys(k);
        b.update(token, v, v + 1);
    }
    let report = a.exchange(&b, 3).map_err(io::Error::other)?;
    writeln!(
        out,
        "merkle exchange over 100000 keys (depth 15, 3 levels per round):"
    )?;
    for round in report.rounds() {
        writeln!(
            out,
            "  level {:2}: {:2} hashes sent, {} differ, {} bytes",
            round.level,
            round.hashes_sent,
            round.mismatched,
            round.bytes_sent + round.bytes_received
        )?;
    }
    writeln!(
        out,
        "  {} differing ranges found with {} bytes exchanged",
        report.ranges().len(),
        report.total_bytes()
    )?;

    // Consistency levels over two datacentres of three replicas each.
    let dc = |i: u64| if i <= 3 { "dc1" } else { "dc2" };
    let replicas = (1..=6).map(|i| Replica::new(NodeId::new(i), dc(i), format!("rack{}", i % 3)));
    let placement = Placement::new(replicas).map_err(io::Error::other)?;
    for level in [ConsistencyLevel::LocalQuorum, ConsistencyLevel::EachQuorum] {
        let need = level
            .requirement(Operation::Write, &placement, "dc1")
            .map_err(io::Error::other)?;
        let strong = Guarantee::of(level, level, &placement).map_err(io::Error::other)?;
        writeln!(
            out,
            "{level} write over 2 datacentres x 3 replicas waits for {} acks; {level} reads after it: {strong}",
            need.required_acks()
        )?;
    }
    Ok(())
}
