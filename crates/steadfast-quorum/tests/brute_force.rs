//! Quorum systems, tallies, partition decisions and committed indices checked
//! against brute force over every subset of small clusters.

use proptest::prelude::*;
use steadfast_core::NodeId;
use steadfast_quorum::{Member, QuorumKind, QuorumSystem, TallyOutcome, Vote};

/// A plain description of one configuration, evaluated by brute force.
#[derive(Clone, Debug)]
struct Plain {
    members: Vec<Member>,
    read: u64,
    write: u64,
}

impl Plain {
    fn total(&self) -> u64 {
        self.members.iter().map(|m| u64::from(m.votes())).sum()
    }

    fn votes_in(&self, set: &[NodeId]) -> u64 {
        self.members
            .iter()
            .filter(|m| set.contains(&m.id()))
            .map(|m| u64::from(m.votes()))
            .sum()
    }

    fn is_quorum(&self, kind: QuorumKind, set: &[NodeId]) -> bool {
        let threshold = match kind {
            QuorumKind::Read => self.read,
            _ => self.write,
        };
        self.votes_in(set) >= threshold
    }

    fn build(&self) -> QuorumSystem {
        QuorumSystem::builder()
            .members(self.members.iter().copied())
            .read_quorum(self.read)
            .write_quorum(self.write)
            .build()
            .expect("generated configurations are valid")
    }
}

fn member(id: u64, votes: u32, data: bool) -> Member {
    let m = if data {
        Member::voter(NodeId::new(id))
    } else {
        Member::witness(NodeId::new(id))
    };
    m.with_votes(votes)
}

/// A valid configuration over ids drawn from 0..8.
fn plain() -> impl Strategy<Value = Plain> {
    proptest::collection::btree_map(0u64..8, (0u32..4, any::<bool>()), 1..7)
        .prop_filter("some votes", |m| m.values().any(|(v, _)| *v > 0))
        .prop_flat_map(|map| {
            let members: Vec<Member> = map.iter().map(|(id, (v, d))| member(*id, *v, *d)).collect();
            let total: u64 = members.iter().map(|m| u64::from(m.votes())).sum();
            let min_write = total / 2 + 1;
            (Just(members), min_write..=total).prop_flat_map(move |(members, write)| {
                let min_read = total + 1 - write;
                (Just(members), Just(write), min_read..=total)
            })
        })
        .prop_map(|(members, write, read)| Plain {
            members,
            read,
            write,
        })
}

fn system_and_plains() -> impl Strategy<Value = (QuorumSystem, Vec<Plain>)> {
    prop_oneof![
        plain().prop_map(|p| (p.build(), vec![p])),
        (plain(), plain()).prop_map(|(a, b)| {
            let joint = QuorumSystem::joint(&a.build(), &b.build()).expect("two single configs");
            (joint, vec![a, b])
        }),
    ]
}

fn subsets(members: &[NodeId]) -> impl Iterator<Item = Vec<NodeId>> + '_ {
    (0u32..1 << members.len()).map(move |mask| {
        members
            .iter()
            .enumerate()
            .filter(|(i, _)| mask & (1 << i) != 0)
            .map(|(_, id)| *id)
            .collect()
    })
}

fn brute_quorum(plains: &[Plain], kind: QuorumKind, set: &[NodeId]) -> bool {
    plains.iter().all(|p| p.is_quorum(kind, set))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn is_quorum_matches_brute_force((system, plains) in system_and_plains()) {
        for set in subsets(system.members()) {
            for kind in [QuorumKind::Read, QuorumKind::Write] {
                prop_assert_eq!(system.is_quorum(kind, set.iter().copied()), brute_quorum(&plains, kind, &set));
            }
        }
    }

    #[test]
    fn built_systems_intersect((system, plains) in system_and_plains()) {
        // Every read quorum meets every write quorum, and write quorums meet each other.
        let all: Vec<Vec<NodeId>> = subsets(system.members()).collect();
        let reads: Vec<&Vec<NodeId>> = all.iter().filter(|s| brute_quorum(&plains, QuorumKind::Read, s)).collect();
        let writes: Vec<&Vec<NodeId>> = all.iter().filter(|s| brute_quorum(&plains, QuorumKind::Write, s)).collect();
        for w in &writes {
            for r in reads.iter().chain(writes.iter()) {
                prop_assert!(w.iter().any(|n| r.contains(n)), "{:?} and {:?} are disjoint", w, r);
            }
        }
    }

    #[test]
    fn tally_matches_brute_force(
        (system, plains) in system_and_plains(),
        votes in proptest::collection::vec((0usize..16, any::<bool>()), 0..24),
        read in any::<bool>(),
    ) {
        let kind = if read { QuorumKind::Read } else { QuorumKind::Write };
        let members = system.members().to_vec();
        let mut tally = system.tally(kind);
        let mut yes: Vec<NodeId> = Vec::new();
        let mut no: Vec<NodeId> = Vec::new();
        for (i, say_yes) in votes {
            let node = members[i % members.len()];
            let vote = if say_yes { Vote::Yes } else { Vote::No };
            let already = if say_yes { no.contains(&node) } else { yes.contains(&node) };
            let result = tally.record(node, vote);
            if already {
                prop_assert!(result.is_err());
                continue;
            }
            let mine = if say_yes { &mut yes } else { &mut no };
            if !mine.contains(&node) {
                mine.push(node);
            }
            let not_no: Vec<NodeId> = members.iter().copied().filter(|n| !no.contains(n)).collect();
            let expected = if brute_quorum(&plains, kind, &yes) {
                TallyOutcome::Won
            } else if !brute_quorum(&plains, kind, &not_no) {
                TallyOutcome::Lost
            } else {
                TallyOutcome::Pending
            };
            prop_assert_eq!(result, Ok(expected));
        }
    }

    #[test]
    fn partition_sides_never_both_continue(
        (system, plains) in system_and_plains(),
        tie in proptest::option::of(0usize..16),
    ) {
        let members = system.members().to_vec();
        let tie_breaker = tie.map(|i| members[i % members.len()]);
        for side in subsets(&members) {
            let other: Vec<NodeId> = members.iter().copied().filter(|n| !side.contains(n)).collect();
            let a = system.partition_decision(side.iter().copied(), tie_breaker).unwrap();
            let b = system.partition_decision(other.iter().copied(), tie_breaker).unwrap();
            prop_assert!(!(a.may_continue() && b.may_continue()), "both {:?} and {:?} continue", side, other);
            let expected = plains.iter().all(|p| {
                let (votes, total) = (p.votes_in(&side), p.total());
                2 * votes > total || (2 * votes == total && tie_breaker.is_some_and(|t| side.contains(&t)))
            });
            prop_assert_eq!(a.may_continue(), expected);
        }
    }

    #[test]
    fn committed_index_matches_brute_force(
        (system, plains) in system_and_plains(),
        acks in proptest::collection::vec(0u64..6, 16),
    ) {
        let members = system.members().to_vec();
        let acked: Vec<(NodeId, u64)> = members.iter().copied().zip(acks).collect();
        let expected = (0..6u64)
            .rev()
            .find(|i| {
                let set: Vec<NodeId> = acked.iter().filter(|(_, a)| a >= i).map(|(n, _)| *n).collect();
                brute_quorum(&plains, QuorumKind::Write, &set)
                    && set.iter().any(|n| system.holds_data(*n))
            })
            .unwrap_or(0);
        prop_assert_eq!(system.committed_index(acked.iter().copied()).unwrap(), expected);
    }
}

#[test]
fn majority_tally_of_five_all_orders() {
    let system = QuorumSystem::majority((1..=5).map(NodeId::new)).unwrap();
    for mask in 0u32..32 {
        let mut tally = system.tally(QuorumKind::Write);
        for (i, node) in system.members().iter().enumerate() {
            let vote = if mask & (1 << i) != 0 {
                Vote::Yes
            } else {
                Vote::No
            };
            let _ = tally.record(*node, vote).unwrap();
        }
        let expected = if mask.count_ones() >= 3 {
            TallyOutcome::Won
        } else {
            TallyOutcome::Lost
        };
        assert_eq!(tally.outcome(), expected, "mask {mask:05b}");
    }
}
