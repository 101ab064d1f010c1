//! Laws of version vectors, dotted version vectors and DVVSets, by proptest.

use std::collections::BTreeMap;

use proptest::prelude::*;
use steadfast_core::NodeId;
use steadfast_replica::{Causality, DottedVersionVector, DvvSet, FrameCodec, VersionVector};

fn vv_strategy(max_nodes: u64, max_len: usize) -> impl Strategy<Value = VersionVector> {
    prop::collection::vec((0..max_nodes, 0u64..5), 0..max_len)
        .prop_map(|e| e.into_iter().map(|(n, c)| (NodeId::new(n), c)).collect())
}

fn model_compare(a: &BTreeMap<u64, u64>, b: &BTreeMap<u64, u64>) -> Causality {
    let keys: Vec<u64> = a.keys().chain(b.keys()).copied().collect();
    let (mut ge, mut le) = (true, true);
    for k in keys {
        let (x, y) = (
            a.get(&k).copied().unwrap_or(0),
            b.get(&k).copied().unwrap_or(0),
        );
        ge &= x >= y;
        le &= x <= y;
    }
    match (ge, le) {
        (true, true) => Causality::Equal,
        (true, false) => Causality::After,
        (false, true) => Causality::Before,
        (false, false) => Causality::Concurrent,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn merge_is_commutative_associative_idempotent(
        a in vv_strategy(12, 10), b in vv_strategy(12, 10), c in vv_strategy(12, 10),
    ) {
        prop_assert_eq!(a.merged(&b), b.merged(&a));
        prop_assert_eq!(a.merged(&b).merged(&c), a.merged(&b.merged(&c)));
        prop_assert_eq!(a.merged(&a), a.clone());
        let m = a.merged(&b);
        prop_assert!(m.dominates(&a) && m.dominates(&b));
    }

    #[test]
    fn compare_is_consistent_with_merge(a in vv_strategy(8, 8), b in vv_strategy(8, 8)) {
        let m = a.merged(&b);
        let expected = match (m == a, m == b) {
            (true, true) => Causality::Equal,
            (true, false) => Causality::After,
            (false, true) => Causality::Before,
            (false, false) => Causality::Concurrent,
        };
        prop_assert_eq!(a.compare(&b), expected);
        let flipped = match expected {
            Causality::Before => Causality::After,
            Causality::After => Causality::Before,
            other => other,
        };
        prop_assert_eq!(b.compare(&a), flipped);
        prop_assert_eq!(a.dominates(&b), matches!(expected, Causality::After | Causality::Equal));
    }

    #[test]
    fn matches_a_map_model(ops in prop::collection::vec((0u8..3, 0u64..20, 0u64..6), 0..60)) {
        let mut vv = VersionVector::new();
        let mut model: BTreeMap<u64, u64> = BTreeMap::new();
        let mut other = VersionVector::new();
        let mut other_model: BTreeMap<u64, u64> = BTreeMap::new();
        for (op, node, c) in ops {
            let id = NodeId::new(node);
            match op {
                0 => {
                    let got = vv.increment(id);
                    let m = model.entry(node).or_insert(0);
                    *m += 1;
                    prop_assert_eq!(got, *m);
                }
                1 => {
                    other.observe(id, c);
                    if c > 0 {
                        let m = other_model.entry(node).or_insert(0);
                        *m = (*m).max(c);
                    }
                }
                _ => {
                    vv.merge(&other);
                    for (&k, &v) in &other_model {
                        let m = model.entry(k).or_insert(0);
                        *m = (*m).max(v);
                    }
                }
            }
            prop_assert_eq!(vv.compare(&other), model_compare(&model, &other_model));
        }
        let expected: Vec<(NodeId, u64)> = model.iter().map(|(&n, &c)| (NodeId::new(n), c)).collect();
        prop_assert_eq!(vv.as_slice(), &expected[..]);
        prop_assert_eq!(vv.spilled(), vv.len() > VersionVector::INLINE_CAPACITY);
    }

    #[test]
    fn frames_round_trip(a in vv_strategy(u64::MAX, 70), node in any::<u64>(), extra in 1u64..1_000) {
        prop_assert_eq!(VersionVector::from_frame(&a.to_frame()).unwrap(), a.clone());
        let dvv = DottedVersionVector::event(&a, NodeId::new(node), extra);
        prop_assert_eq!(DottedVersionVector::from_frame(&dvv.to_frame()).unwrap(), dvv);
    }

    #[test]
    fn dvv_compare_matches_explicit_histories(
        ctx_a in vv_strategy(4, 4), ctx_b in vv_strategy(4, 4),
        na in 0u64..4, nb in 0u64..4, ma in 0u64..6, mb in 0u64..6,
    ) {
        let a = DottedVersionVector::event(&ctx_a, NodeId::new(na), ma);
        let b = DottedVersionVector::event(&ctx_b, NodeId::new(nb), mb);
        let history = |d: &DottedVersionVector| {
            let mut h: Vec<(NodeId, u64)> = d
                .context()
                .iter()
                .flat_map(|(n, c)| (1..=c).map(move |i| (n, i)))
                .collect();
            h.push((d.dot().node, d.dot().counter));
            h.sort();
            h.dedup();
            h
        };
        let (ha, hb) = (history(&a), history(&b));
        let a_in_b = ha.iter().all(|e| hb.binary_search(e).is_ok());
        let b_in_a = hb.iter().all(|e| ha.binary_search(e).is_ok());
        let expected = match (a_in_b, b_in_a) {
            (true, true) => Causality::Equal,
            (true, false) => Causality::Before,
            (false, true) => Causality::After,
            (false, false) => Causality::Concurrent,
        };
        prop_assert_eq!(a.compare(&b), expected);
    }
}

/// A DVVSet with anonymous values sorted, so sets compare as sets.
fn normalized(s: &DvvSet<u32>) -> (VersionVector, Vec<u32>) {
    let mut values: Vec<u32> = s.values().into_iter().copied().collect();
    values.sort_unstable();
    (s.join(), values)
}

/// A random history of writes on three replicas: each write is coordinated
/// by one replica with the context of an earlier read of some replica.
#[derive(Debug, Clone)]
enum Step {
    /// Client reads replica `read`, then writes through replica `write`.
    Write {
        read: usize,
        write: usize,
        blind: bool,
    },
    /// Replica `to` pulls replica `from`'s state.
    Sync { from: usize, to: usize },
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        prop_oneof![
            (0usize..3, 0usize..3, any::<bool>()).prop_map(|(read, write, blind)| Step::Write {
                read,
                write,
                blind
            }),
            (0usize..3, 0usize..3).prop_map(|(from, to)| Step::Sync { from, to }),
        ],
        0..25,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]

    #[test]
    fn dvvset_sync_laws(history in steps(), picks in prop::collection::vec(0usize..3, 3)) {
        let replicas = run(&history);
        let (a, b, c) = (&replicas[picks[0]], &replicas[picks[1]], &replicas[picks[2]]);
        prop_assert_eq!(normalized(&a.sync(b)), normalized(&b.sync(a)));
        prop_assert_eq!(normalized(&a.sync(b).sync(c)), normalized(&a.sync(&b.sync(c))));
        prop_assert_eq!(a.sync(a), a.clone());
        // The synced set has the history of both.
        let s = a.sync(b);
        prop_assert!(s.join().dominates(&a.join()) && s.join().dominates(&b.join()));
    }

    #[test]
    fn dvvset_update_laws(history in steps(), node in 0u64..3) {
        let replicas = run(&history);
        let server = &replicas[0];
        let ctx = server.join();
        let updated = server.update(&ctx, 9_999, NodeId::new(node));
        // A write with the full context replaces every value: no false conflict.
        prop_assert_eq!(updated.values(), vec![&9_999]);
        prop_assert!(server.less(&updated));
        // A blind write keeps everything and adds itself.
        let blind = server.update(&VersionVector::new(), 9_998, NodeId::new(node));
        prop_assert_eq!(blind.size(), server.size() + 1);
        prop_assert!(server.less(&blind));
        // No sibling explosion: values never exceed the writes made.
        let writes = history.iter().filter(|s| matches!(s, Step::Write { .. })).count();
        for r in &replicas {
            prop_assert!(r.size() <= writes);
        }
    }
}

/// Runs `history` over three replicas; values are the write's index.
fn run(history: &[Step]) -> Vec<DvvSet<u32>> {
    let mut replicas = vec![DvvSet::<u32>::empty(); 3];
    for (i, step) in history.iter().enumerate() {
        match *step {
            Step::Write { read, write, blind } => {
                let ctx = if blind {
                    VersionVector::new()
                } else {
                    replicas[read].join()
                };
                replicas[write] = replicas[write].update(&ctx, i as u32, NodeId::new(write as u64));
            }
            Step::Sync { from, to } => {
                replicas[to] = replicas[to].sync(&replicas[from]);
            }
        }
    }
    replicas
}

#[test]
fn concurrent_writes_survive_until_a_client_reads_them() {
    let r = NodeId::new(1);
    let base = DvvSet::new(0u32).update_as(r);
    let ctx = base.join();
    let x = base.update(&ctx, 1, r);
    let y = x.update(&ctx, 2, r); // same context: concurrent with 1
    let mut values: Vec<u32> = y.values().into_iter().copied().collect();
    values.sort_unstable();
    assert_eq!(values, vec![1, 2]);
    assert_eq!(y.update(&y.join(), 3, r).values(), vec![&3]);
}
