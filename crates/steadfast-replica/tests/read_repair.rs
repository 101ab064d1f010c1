//! Read-repair planning against a model of replicas with concurrent writes:
//! applying the plan makes every answering replica hold exactly the versions
//! the reader was given.

use proptest::prelude::*;
use steadfast_core::NodeId;
use steadfast_replica::{
    Causality, DigestRead, ReadRepairPlan, RepairMode, ReplicaReply, VersionVector, Versioned,
};

type State = Vec<Versioned<u32>>;

/// Keeps only versions no other version supersedes (one copy of equals).
fn maximal(mut all: State) -> State {
    let mut out: State = Vec::new();
    for v in all.drain(..) {
        if out.iter().any(|o| o.version.dominates(&v.version)) {
            continue;
        }
        out.retain(|o| !v.version.dominates(&o.version));
        out.push(v);
    }
    out.sort_by_key(|v| v.value);
    out
}

#[derive(Debug, Clone)]
enum Step {
    Write(usize),
    Sync { from: usize, to: usize },
}

fn history() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        prop_oneof![
            (0usize..4).prop_map(Step::Write),
            (0usize..4, 0usize..4).prop_map(|(from, to)| Step::Sync { from, to }),
        ],
        0..30,
    )
}

fn run(steps: &[Step]) -> Vec<State> {
    let mut replicas: Vec<State> = vec![Vec::new(); 4];
    for (i, step) in steps.iter().enumerate() {
        match *step {
            Step::Write(r) => {
                let mut version = VersionVector::new();
                for v in &replicas[r] {
                    version.merge(&v.version);
                }
                version.increment(NodeId::new(r as u64));
                replicas[r] = vec![Versioned::new(version, i as u32)];
            }
            Step::Sync { from, to } => {
                let mut all = replicas[to].clone();
                all.extend(replicas[from].iter().cloned());
                replicas[to] = maximal(all);
            }
        }
    }
    replicas
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn applying_the_plan_converges(steps in history(), failed in prop::collection::vec(any::<bool>(), 4), blocking in any::<bool>()) {
        let replicas = run(&steps);
        let replies: Vec<(NodeId, ReplicaReply<u32>)> = replicas
            .iter()
            .enumerate()
            .map(|(i, state)| {
                let reply = if failed[i] {
                    ReplicaReply::Failed
                } else if state.is_empty() {
                    ReplicaReply::NotFound
                } else {
                    ReplicaReply::Found(state.clone())
                };
                (NodeId::new(i as u64), reply)
            })
            .collect();
        let mode = if blocking { RepairMode::Blocking } else { RepairMode::Background };
        let plan = ReadRepairPlan::plan(replies, mode);

        // The values are the maximal versions of everything that answered.
        let answered: State = replicas
            .iter()
            .enumerate()
            .filter(|(i, _)| !failed[*i])
            .flat_map(|(_, s)| s.iter().cloned())
            .collect();
        let mut values = plan.values().to_vec();
        values.sort_by_key(|v| v.value);
        prop_assert_eq!(&values, &maximal(answered));
        for (i, x) in values.iter().enumerate() {
            for y in &values[i + 1..] {
                prop_assert_eq!(x.version.compare(&y.version), Causality::Concurrent);
            }
        }

        // Applying the repairs leaves every answering replica with exactly those versions.
        for (i, state) in replicas.iter().enumerate() {
            if failed[i] {
                prop_assert!(plan.failed().contains(&NodeId::new(i as u64)));
                prop_assert!(plan.repairs().iter().all(|r| r.replica != NodeId::new(i as u64)));
                continue;
            }
            let mut all = state.clone();
            if let Some(r) = plan.repairs().iter().find(|r| r.replica == NodeId::new(i as u64)) {
                prop_assert!(!r.send.is_empty());
                all.extend(r.send.iter().cloned());
            }
            prop_assert_eq!(&maximal(all), &values);
        }
        prop_assert_eq!(plan.must_wait_for_repairs(), blocking && !plan.repairs().is_empty());
    }
}

#[test]
fn digest_reads_fetch_only_mismatches() {
    let version: VersionVector = [(NodeId::new(1), 2)].into_iter().collect();
    let data = Versioned::new(version.clone(), b"payload".to_vec());
    let same = Versioned::new(version.clone(), b"payload".to_vec());
    let other_value = Versioned::new(version, b"payloaD".to_vec());
    let older = Versioned::new(VersionVector::new(), b"payload".to_vec());
    assert_eq!(data.digest(), same.digest());
    let outcome = DigestRead::check(
        data.digest(),
        [
            (NodeId::new(2), Some(same.digest())),
            (NodeId::new(3), Some(other_value.digest())),
            (NodeId::new(4), Some(older.digest())),
            (NodeId::new(5), None),
        ],
    );
    assert_eq!(
        outcome,
        DigestRead::Mismatch {
            fetch_full_from: vec![NodeId::new(3), NodeId::new(4)]
        }
    );
    assert_eq!(DigestRead::check(7, []), DigestRead::Match);
}
