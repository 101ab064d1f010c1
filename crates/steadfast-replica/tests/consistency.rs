//! Consistency levels against a brute-force model: read/write overlap,
//! tallies, and rack-aware placement.

use proptest::prelude::*;
use steadfast_core::NodeId;
use steadfast_quorum::TallyOutcome;
use steadfast_replica::{
    ConsistencyLevel as Cl, Guarantee, NetworkTopology, Operation, Placement, Replica, Topology,
};

/// `counts[d]` replicas in `dc{d}`; node ids 0.. in order.
fn placement(counts: &[usize]) -> Placement {
    let mut replicas = Vec::new();
    for (d, n) in counts.iter().enumerate() {
        for i in 0..*n {
            let id = replicas.len() as u64;
            replicas.push(Replica::new(
                NodeId::new(id),
                format!("dc{d}"),
                format!("r{i}"),
            ));
        }
    }
    Placement::new(replicas).unwrap()
}

/// Whether the replicas in `set` (a bitmask over node ids) meet `level`
/// coordinated from `local`, counted directly from the level's definition.
fn model_meets(level: Cl, counts: &[usize], local: usize, set: u32) -> bool {
    let n: usize = counts.iter().sum();
    let mut start = 0;
    let mut per_dc = Vec::new();
    for c in counts {
        per_dc.push(((set >> start) & ((1 << c) - 1)).count_ones() as usize);
        start += c;
    }
    let total: usize = per_dc.iter().sum();
    match level {
        Cl::Any | Cl::One => total >= 1,
        Cl::Two => total >= 2,
        Cl::Three => total >= 3,
        Cl::Quorum => total > n / 2,
        Cl::All => total == n,
        Cl::LocalOne => per_dc[local] >= 1,
        Cl::LocalQuorum => per_dc[local] > counts[local] / 2,
        Cl::EachQuorum => per_dc.iter().zip(counts).all(|(k, c)| *k > c / 2),
        _ => unreachable!("no other level exists"),
    }
}

fn nodes(set: u32) -> Vec<NodeId> {
    (0..32)
        .filter(|i| set & (1 << i) != 0)
        .map(NodeId::new)
        .collect()
}

fn level() -> impl Strategy<Value = Cl> {
    prop::sample::select(Cl::LEVELS.to_vec())
}

fn counts() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1usize..=3, 1..=3)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// `always_overlaps` is exact: it holds iff no read set and write set
    /// meeting their levels are disjoint (brute force over all read sets;
    /// a disjoint write set exists iff the complement meets the write level).
    #[test]
    fn overlap_matches_brute_force(
        counts in counts(), read in level(), write in level(),
        read_dc in 0usize..3, write_dc in 0usize..3,
    ) {
        let (read_dc, write_dc) = (read_dc % counts.len(), write_dc % counts.len());
        let p = placement(&counts);
        let n: usize = counts.iter().sum();
        let all = (1u32 << n) - 1;
        let r = read.requirement(Operation::Read, &p, &format!("dc{read_dc}"));
        let w = write.requirement(Operation::Write, &p, &format!("dc{write_dc}"));
        let (Ok(r), Ok(w)) = (r, w) else {
            // Unsupported (ANY reads) or unsatisfiable: no set meets it.
            let meetable = |l: Cl, dc| (0..=all).any(|s| model_meets(l, &counts, dc, s));
            let both = read != Cl::Any && meetable(read, read_dc) && meetable(write, write_dc);
            prop_assert!(!both);
            return Ok(());
        };
        let disjoint = (0..=all).any(|a| {
            model_meets(read, &counts, read_dc, a)
                && (write == Cl::Any || model_meets(write, &counts, write_dc, all & !a))
        });
        prop_assert_eq!(r.always_overlaps(&w), !disjoint);
        // And the requirement agrees with the model on every set.
        for s in 0..=all {
            prop_assert_eq!(r.is_satisfied_by(nodes(s)), model_meets(read, &counts, read_dc, s));
        }
    }

    /// A strong guarantee means every read meets every write, whatever the
    /// coordinators; a locally strong one, whenever they share a datacentre.
    #[test]
    fn guarantee_matches_brute_force(counts in counts(), read in level(), write in level()) {
        let p = placement(&counts);
        let n: usize = counts.iter().sum();
        let all = (1u32 << n) - 1;
        let Ok(g) = Guarantee::of(read, write, &p) else {
            let unmeetable = [read, write].iter().any(|l| {
                (0..counts.len()).any(|dc| !(0..=all).any(|s| model_meets(*l, &counts, dc, s)))
            });
            prop_assert!(read == Cl::Any || unmeetable);
            return Ok(());
        };
        let overlap = |rd: usize, wd: usize| {
            write != Cl::Any && !(0..=all).any(|a| {
                model_meets(read, &counts, rd, a) && model_meets(write, &counts, wd, all & !a)
            })
        };
        let dcs = 0..counts.len();
        let strong = dcs.clone().all(|rd| dcs.clone().all(|wd| overlap(rd, wd)));
        let local: Vec<String> = dcs.filter(|d| overlap(*d, *d)).map(|d| format!("dc{d}")).collect();
        let expected = if strong {
            Guarantee::Strong
        } else if local.is_empty() {
            Guarantee::Eventual
        } else {
            Guarantee::LocallyStrong { datacenters: local }
        };
        prop_assert_eq!(g, expected);
    }

    /// After every response the tally says won exactly when the acks meet
    /// the level, lost exactly when the replicas that have not failed
    /// cannot, and pending otherwise.
    #[test]
    fn tally_decides_exactly_when_the_count_does(
        counts in counts(), level in level(), local in 0usize..3,
        responses in prop::collection::vec((0u64..9, any::<bool>()), 0..20),
    ) {
        let local = local % counts.len();
        let p = placement(&counts);
        let n = p.len() as u64;
        let Ok(req) = level.requirement(Operation::Write, &p, &format!("dc{local}")) else {
            return Ok(());
        };
        let mut tally = req.tally();
        let (mut acks, mut failures) = (0u32, 0u32);
        let all = (1u32 << n) - 1;
        for (node, ok) in responses {
            let bit = 1u32 << node;
            let got = if ok { tally.ack(NodeId::new(node)) } else { tally.fail(NodeId::new(node)) };
            if node >= n {
                prop_assert!(got.is_err());
                continue;
            }
            if (ok && failures & bit != 0) || (!ok && acks & bit != 0) {
                prop_assert!(got.is_err(), "a changed answer is refused");
                continue;
            }
            if ok { acks |= bit } else { failures |= bit }
            let expected = if model_meets(level, &counts, local, acks) {
                TallyOutcome::Won
            } else if level != Cl::Any && !model_meets(level, &counts, local, all & !failures) {
                TallyOutcome::Lost
            } else {
                TallyOutcome::Pending
            };
            prop_assert_eq!(got.unwrap(), expected);
            prop_assert_eq!(tally.finish().is_ok(), expected == TallyOutcome::Won);
        }
    }

    /// Placement never puts two replicas on one node, gives each datacentre
    /// its factor, spreads over `min(rf, racks)` racks, and is deterministic.
    #[test]
    fn placement_spreads_over_racks(
        dcs in prop::collection::vec((1usize..=6, 1usize..=3, 0usize..=6), 1..=3),
        vnodes in 1usize..=3, seed in any::<u64>(), token in any::<u64>(),
    ) {
        let mut builder = Topology::builder();
        let mut id = 0u64;
        for (d, (nodes, racks, _)) in dcs.iter().enumerate() {
            for i in 0..*nodes {
                let tokens = (0..vnodes as u64).map(|v| {
                    steadfast_replica::hash64(&[seed, id, v].map(u64::to_le_bytes).concat())
                });
                builder = builder.node_with_tokens(NodeId::new(id), format!("dc{d}"), format!("r{}", i % racks), tokens);
                id += 1;
            }
        }
        let Ok(topology) = builder.build() else {
            return Ok(()); // a 64-bit token collision
        };
        let factors: Vec<(String, usize)> =
            dcs.iter().enumerate().map(|(d, (_, _, rf))| (format!("dc{d}"), *rf)).collect();
        let too_many = dcs.iter().any(|(nodes, _, rf)| rf > nodes);
        let none = dcs.iter().all(|(_, _, rf)| *rf == 0);
        let strategy = match NetworkTopology::new(topology.clone(), factors) {
            Ok(s) => s,
            Err(e) => {
                prop_assert!(too_many || none, "{e}");
                return Ok(());
            }
        };
        prop_assert!(!too_many && !none);
        let p = strategy.place(token);
        prop_assert_eq!(&p, &strategy.place(token));
        let mut ids: Vec<NodeId> = p.replicas().iter().map(Replica::node).collect();
        ids.sort_unstable();
        ids.dedup();
        prop_assert_eq!(ids.len(), p.len());
        for (d, (_, _, rf)) in dcs.iter().enumerate() {
            let dc = format!("dc{d}");
            prop_assert_eq!(p.count_in(&dc), *rf);
            prop_assert_eq!(p.racks_in(&dc), (*rf).min(topology.racks_in(&dc)));
        }
    }
}

/// A whole read path: place a key over two datacentres, check liveness,
/// tally LOCAL_QUORUM responses, and know what the pair of levels gives.
#[test]
fn placement_to_tally() {
    let mut builder = Topology::builder();
    for i in 0..12u64 {
        let dc = if i < 6 { "east" } else { "west" };
        builder = builder.node(NodeId::new(i), dc, format!("zone-{}", i % 3));
    }
    let strategy =
        NetworkTopology::new(builder.build().unwrap(), [("east", 3), ("west", 3)]).unwrap();
    for token in [0, 1 << 40, u64::MAX] {
        let p = strategy.place(token);
        assert_eq!(p.len(), 6);
        assert_eq!((p.racks_in("east"), p.racks_in("west")), (3, 3));

        let read = Cl::LocalQuorum
            .requirement(Operation::Read, &p, "east")
            .unwrap();
        assert_eq!(read.required_acks(), 2);
        let east: Vec<NodeId> = p.replicas_in("east").map(Replica::node).collect();
        let west: Vec<NodeId> = p.replicas_in("west").map(Replica::node).collect();
        // The whole west is down: LOCAL_QUORUM in the east does not care.
        assert!(read.check_live(east.clone()).is_ok());
        let each = Cl::EachQuorum
            .requirement(Operation::Write, &p, "east")
            .unwrap();
        assert!(each.check_live(east.clone()).unwrap_err().is_unavailable());

        let mut tally = read.tally();
        assert_eq!(tally.ack(west[0]), Ok(TallyOutcome::Pending));
        assert_eq!(tally.fail(east[0]), Ok(TallyOutcome::Pending));
        assert_eq!(tally.ack(east[1]), Ok(TallyOutcome::Pending));
        assert_eq!(tally.ack(east[2]), Ok(TallyOutcome::Won));
        assert_eq!(tally.finish(), Ok(()));
    }
    let p = strategy.place(7);
    assert_eq!(
        Guarantee::of(Cl::LocalQuorum, Cl::LocalQuorum, &p)
            .unwrap()
            .to_string(),
        "strong only within east, west"
    );
    assert!(
        Guarantee::of(Cl::LocalQuorum, Cl::EachQuorum, &p)
            .unwrap()
            .is_strong()
    );
}
