//! Laws of the hybrid logical clock and the Merkle tree, by proptest.

use std::collections::BTreeSet;
use std::time::Duration;

use proptest::prelude::*;
use steadfast_core::{Clock, ManualClock, Timestamp};
use steadfast_replica::{
    FrameCodec, HlcConfig, HlcTimestamp, HybridLogicalClock, MerkleDigest, MerkleMismatch,
    MerkleTree, TokenRange,
};

#[derive(Debug, Clone)]
enum ClockStep {
    Advance(u64),
    Back(u64),
    Send(usize),
    /// Node `to` receives the last stamp node `from` issued.
    Deliver {
        from: usize,
        to: usize,
    },
    /// A stamp from an arbitrary (possibly runaway) node.
    Foreign(u64),
}

fn clock_steps() -> impl Strategy<Value = Vec<ClockStep>> {
    prop::collection::vec(
        prop_oneof![
            (0u64..3_000).prop_map(ClockStep::Advance),
            (0u64..3_000).prop_map(ClockStep::Back),
            (0usize..3).prop_map(ClockStep::Send),
            (0usize..3, 0usize..3).prop_map(|(from, to)| ClockStep::Deliver { from, to }),
            any::<u64>().prop_map(ClockStep::Foreign),
        ],
        0..80,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn hlc_is_monotone_and_never_behind_physical_time(steps in clock_steps()) {
        // Three nodes, each with its own physical clock.
        let clocks: Vec<ManualClock> =
            (0..3).map(|i| ManualClock::starting_at(Timestamp::from_millis(10_000 + i * 7))).collect();
        let cfg = HlcConfig::builder().max_skew(Duration::from_millis(500)).build().unwrap();
        let nodes: Vec<_> = clocks.iter().map(|c| HybridLogicalClock::with_clock(cfg, c.clone())).collect();
        let mut last = [HlcTimestamp::ZERO; 3];
        let mut sent = [None::<HlcTimestamp>; 3];
        let mut turn = 0usize;
        for step in steps {
            turn = (turn + 1) % 3;
            let physical = |i: usize| clocks[i].now().as_nanos() / 1_000_000;
            let issued = match step {
                ClockStep::Advance(ms) => { clocks[turn].advance(Duration::from_millis(ms)); None }
                ClockStep::Back(ms) => { clocks[turn].jump_backwards(Duration::from_millis(ms)); None }
                ClockStep::Send(i) => {
                    let t = nodes[i].now();
                    sent[i] = Some(t);
                    Some((i, t, None))
                }
                ClockStep::Deliver { from, to } => match sent[from] {
                    Some(m) => match nodes[to].receive(m) {
                        Ok(t) => Some((to, t, Some(m))),
                        Err(_) => {
                            prop_assert!(m.physical_millis() > physical(to) + 500);
                            prop_assert_eq!(nodes[to].last(), last[to]);
                            None
                        }
                    },
                    None => None,
                },
                ClockStep::Foreign(raw) => {
                    let m = HlcTimestamp::from_u64(raw);
                    match nodes[turn].receive(m) {
                        Ok(t) => Some((turn, t, Some(m))),
                        Err(_) => {
                            prop_assert_eq!(nodes[turn].last(), last[turn]);
                            None
                        }
                    }
                }
            };
            if let Some((i, t, received)) = issued {
                prop_assert!(t > last[i], "clock went backwards or repeated");
                prop_assert!(t.physical_millis() >= physical(i), "behind physical time");
                if let Some(m) = received {
                    prop_assert!(t > m, "receive did not move past the message");
                }
                last[i] = t;
            }
        }
    }

    #[test]
    fn merkle_diff_is_exactly_the_changed_leaves(
        depth in 1u8..12,
        keys in prop::collection::btree_map(any::<u64>(), any::<u64>(), 0..300),
        changes in prop::collection::vec((any::<prop::sample::Index>(), any::<u64>()), 0..20),
        added in prop::collection::btree_map(any::<u64>(), any::<u64>(), 0..10),
        levels_per_round in 1u8..6,
    ) {
        let a = MerkleTree::build(depth, keys.iter().map(|(&k, &v)| (k, v))).unwrap();
        let mut b = a.clone();
        let mut changed_tokens = BTreeSet::new();
        let key_list: Vec<(u64, u64)> = keys.iter().map(|(&k, &v)| (k, v)).collect();
        let mut current = keys.clone();
        if !key_list.is_empty() {
            for (idx, new) in &changes {
                let (k, _) = key_list[idx.index(key_list.len())];
                let old = current[&k];
                if old != *new {
                    b.update(k, old, *new);
                    current.insert(k, *new);
                    changed_tokens.insert(k);
                }
            }
        }
        for (&k, &v) in &added {
            if let std::collections::btree_map::Entry::Vacant(e) = current.entry(k) {
                b.insert(k, v);
                e.insert(v);
                changed_tokens.insert(k);
            }
        }
        // Keys changed back to their original value are not changes.
        changed_tokens.retain(|k| keys.get(k) != current.get(k));
        // Incremental updates equal a rebuild.
        let rebuilt = MerkleTree::build(depth, current.iter().map(|(&k, &v)| (k, v))).unwrap();
        prop_assert_eq!(&b, &rebuilt);

        // Expected: the ranges of the leaves holding changed keys, adjacent ones merged.
        let leaves: BTreeSet<usize> = changed_tokens.iter().map(|&t| a.leaf_of(t)).collect();
        let mut expected: Vec<TokenRange> = Vec::new();
        let mut prev: Option<usize> = None;
        for leaf in leaves {
            let r = a.leaf_range(leaf);
            match (expected.last_mut(), prev) {
                (Some(last), Some(p)) if p + 1 == leaf => last.end = r.end,
                _ => expected.push(r),
            }
            prev = Some(leaf);
        }
        let diff = a.diff(&b).unwrap();
        prop_assert_eq!(&diff, &expected);
        let report = a.exchange(&b, levels_per_round).unwrap();
        prop_assert_eq!(report.ranges(), &expected[..]);
        prop_assert!(report.total_bytes() > 0);
    }

    #[test]
    fn merkle_messages_round_trip(depth in 1u8..=20, level_pick in any::<u8>(), picks in prop::collection::btree_set(any::<u64>(), 0..50)) {
        let tree = MerkleTree::new(depth).unwrap();
        let level = level_pick % (depth + 1);
        let indices: Vec<u64> = picks.into_iter().map(|p| p % (1 << level)).collect::<BTreeSet<_>>().into_iter().collect();
        let digest = tree.digest(level, indices).unwrap();
        prop_assert_eq!(MerkleDigest::from_frame(&digest.to_frame()).unwrap(), digest.clone());
        let m = tree.compare(&digest).unwrap();
        prop_assert!(m.indices().is_empty());
        prop_assert_eq!(MerkleMismatch::from_frame(&m.to_frame()).unwrap(), m);
    }
}

#[test]
fn exchange_rejects_replies_to_other_requests() {
    use steadfast_replica::{MerkleError, MerkleExchange};
    let a = MerkleTree::build(6, [(1, 1)]).unwrap();
    let b = MerkleTree::new(6).unwrap();
    let mut ex = MerkleExchange::new(&a, 2);
    let first = ex.start();
    let reply = b.respond(&first).unwrap();
    let step = ex.on_reply(&reply).unwrap();
    // Replaying the root reply answers the wrong level.
    assert_eq!(ex.on_reply(&reply), Err(MerkleError::UnexpectedReply));
    assert!(matches!(step, steadfast_replica::ExchangeStep::Send(_)));
    let mut corrupt = reply.clone();
    corrupt[7] ^= 0xff;
    assert!(matches!(ex.on_reply(&corrupt), Err(MerkleError::Decode(_))));
    assert!(matches!(
        a.diff(&MerkleTree::new(7).unwrap()),
        Err(MerkleError::DepthMismatch {
            local: 6,
            remote: 7
        })
    ));
}
