//! serde round trips of every data type, and refusal of values that break
//! the invariants the operations rely on.
#![cfg(feature = "serde")]

use serde::Serialize;
use serde::de::DeserializeOwned;
use steadfast_core::NodeId;
use steadfast_replica::{
    Causality, ConflictResolver, DottedVersionVector, DvvSet, ExchangeReport, HlcConfig,
    HlcTimestamp, LagConfig, MerkleDigest, MerkleMismatch, MerkleTree, ReadRepairPlan, RepairMode,
    ReplicaReply, Resolved, Stamped, TokenRange, VersionVector, Versioned,
};

fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(value: &T) {
    let json = serde_json::to_string(value).expect("serializes");
    let back: T = serde_json::from_str(&json).expect("deserializes");
    assert_eq!(&back, value, "{json}");
}

#[test]
fn every_type_round_trips() {
    let (a, b) = (NodeId::new(1), NodeId::new(2));
    let vv: VersionVector = [(a, 3), (b, 1)].into_iter().collect();
    round_trip(&vv);
    round_trip(&Causality::Concurrent);
    round_trip(&DottedVersionVector::event(&vv, a, 7));
    let set =
        DvvSet::new("x".to_string())
            .update_as(a)
            .update(&VersionVector::new(), "y".into(), b);
    round_trip(&set);
    round_trip(&HlcTimestamp::new(5, 6).unwrap());
    round_trip(&HlcConfig::default());
    round_trip(&LagConfig::default());
    let tree = MerkleTree::build(6, [(1, 2), (u64::MAX, 3)]).unwrap();
    round_trip(&tree);
    let digest = tree.digest(3, vec![0, 7]).unwrap();
    round_trip(&digest);
    round_trip(&MerkleTree::new(6).unwrap().compare(&digest).unwrap());
    round_trip(&tree.exchange(&MerkleTree::new(6).unwrap(), 2).unwrap());
    round_trip(&ExchangeReport::default());
    round_trip(&TokenRange { start: 1, end: 2 });
    let plan = ReadRepairPlan::plan(
        vec![
            (
                a,
                ReplicaReply::Found(vec![Versioned::new(vv.clone(), 1u8)]),
            ),
            (b, ReplicaReply::NotFound),
        ],
        RepairMode::Background,
    );
    round_trip(&plan);
    round_trip(&Stamped::new(HlcTimestamp::from_u64(1), a, 2u8));
    let resolved =
        ConflictResolver::LastWriterWins.resolve(vec![Stamped::new(HlcTimestamp::ZERO, a, 1u8)]);
    round_trip(&resolved);
    round_trip(&Resolved::<u8>::Empty);
}

#[test]
fn invalid_values_are_refused() {
    // A dot inside its context.
    let dvv = r#"{"dot":{"node":1,"counter":1},"context":[[1,2]]}"#;
    assert!(serde_json::from_str::<DottedVersionVector>(dvv).is_err());
    // More live values than the counter covers, and unsorted entries.
    let set = r#"{"entries":[{"node":1,"counter":1,"values":["a","b"]}],"anonymous":[]}"#;
    assert!(serde_json::from_str::<DvvSet<String>>(set).is_err());
    let set = r#"{"entries":[{"node":2,"counter":1,"values":[]},{"node":1,"counter":1,"values":[]}],"anonymous":[]}"#;
    assert!(serde_json::from_str::<DvvSet<String>>(set).is_err());
    // Configs validate like their builders.
    let hlc = r#"{"max_skew":{"secs":0,"nanos":0}}"#;
    assert!(serde_json::from_str::<HlcConfig>(hlc).is_err());
    let lag = r#"{"max_lag_bytes":1,"max_lag_time":{"secs":1,"nanos":0},"history":0}"#;
    assert!(serde_json::from_str::<LagConfig>(lag).is_err());
    // Merkle messages naming nodes outside their level.
    let digest = r#"{"depth":4,"level":1,"nodes":[[2,0]]}"#;
    assert!(serde_json::from_str::<MerkleDigest>(digest).is_err());
    let mismatch = r#"{"level":2,"indices":[3,1]}"#;
    assert!(serde_json::from_str::<MerkleMismatch>(mismatch).is_err());
    let tree = r#"{"depth":3,"leaves":[1,2]}"#;
    assert!(serde_json::from_str::<MerkleTree>(tree).is_err());
    // Version vectors are normalised: zeros dropped, duplicates keep the max.
    let vv: VersionVector = serde_json::from_str("[[2,0],[1,4],[1,2]]").unwrap();
    assert_eq!(vv.as_slice(), &[(NodeId::new(1), 4)]);
}

#[test]
fn consistency_types_round_trip() {
    use steadfast_replica::{ConsistencyLevel, Guarantee, Operation, Replica};
    for level in ConsistencyLevel::LEVELS {
        round_trip(&level);
    }
    round_trip(&Operation::Read);
    round_trip(&Replica::new(NodeId::new(3), "dc1", "rack-a"));
    round_trip(&Guarantee::LocallyStrong {
        datacenters: vec!["dc1".into()],
    });
}
