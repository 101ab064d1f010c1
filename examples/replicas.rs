//! Three replicas take concurrent writes during a partition, then converge
//! through read-repair and a Merkle anti-entropy exchange.
//!
//! Run with `cargo run -p steadfast-examples --example replicas`.
//!
//! Each replica stores every key as a DVVSet, so concurrent writes survive
//! as siblings; each keeps a Merkle tree over its keys, updated in O(depth)
//! on every write.

use std::collections::BTreeMap;

use steadfast_core::NodeId;
use steadfast_replica::{
    DvvSet, FrameCodec, MerkleTree, ReadRepairPlan, RepairMode, ReplicaReply, VersionVector,
    Versioned, hash64,
};

/// One replica: its node id, its keys and its Merkle tree.
struct Replica {
    name: &'static str,
    id: NodeId,
    store: BTreeMap<String, DvvSet<String>>,
    tree: MerkleTree,
}

/// Hash of a key's whole state (history and values), for the Merkle tree.
fn state_hash(set: &DvvSet<String>) -> u64 {
    let mut bytes = set.join().to_frame();
    let mut values: Vec<&String> = set.values();
    values.sort();
    for v in values {
        bytes.extend_from_slice(v.as_bytes());
        bytes.push(0);
    }
    hash64(&bytes)
}

impl Replica {
    fn new(name: &'static str, id: u64) -> Replica {
        Replica {
            name,
            id: NodeId::new(id),
            store: BTreeMap::new(),
            tree: MerkleTree::new(10).expect("depth 10 is valid"),
        }
    }

    /// Replaces a key's state, keeping the tree in step.
    fn put_state(&mut self, key: &str, state: DvvSet<String>) {
        let token = hash64(key.as_bytes());
        let new = state_hash(&state);
        match self.store.insert(key.to_string(), state) {
            Some(old) => self.tree.update(token, state_hash(&old), new),
            None => self.tree.insert(token, new),
        }
    }

    /// A client write coordinated by this replica, with the context the
    /// client read earlier.
    fn write(&mut self, key: &str, context: &VersionVector, value: &str) {
        let current = self.store.get(key).cloned().unwrap_or_default();
        let next = current.update(context, value.to_string(), self.id);
        self.put_state(key, next);
    }

    /// Merges a state received from another replica.
    fn merge(&mut self, key: &str, incoming: &DvvSet<String>) {
        let merged = match self.store.get(key) {
            Some(mine) => mine.sync(incoming),
            None => incoming.clone(),
        };
        self.put_state(key, merged);
    }

    fn read(&self, key: &str) -> ReplicaReply<DvvSet<String>> {
        match self.store.get(key) {
            Some(set) => ReplicaReply::Found(vec![Versioned::new(set.join(), set.clone())]),
            None => ReplicaReply::NotFound,
        }
    }
}

fn show(set: &DvvSet<String>) -> String {
    let values: Vec<&str> = set.values().into_iter().map(String::as_str).collect();
    format!("{values:?}")
}

fn main() {
    let mut replicas = [
        Replica::new("A", 1),
        Replica::new("B", 2),
        Replica::new("C", 3),
    ];

    // Before the partition: ten keys written through A and replicated.
    for k in 0..10 {
        let key = format!("item-{k}");
        replicas[0].write(&key, &VersionVector::new(), &format!("v{k}"));
        let state = replicas[0].store[&key].clone();
        replicas[1].merge(&key, &state);
        replicas[2].merge(&key, &state);
    }
    replicas[0].write("cart", &VersionVector::new(), "[]");
    let cart = replicas[0].store["cart"].clone();
    for r in &mut replicas[1..] {
        r.merge("cart", &cart);
    }
    let read_context = cart.join();
    println!(
        "before the partition every replica holds cart = {}",
        show(&cart)
    );

    // Partition {A} | {B, C}: two clients write the cart concurrently, both
    // having read the same version; B's side also changes item-3.
    println!("\npartition: A | B C");
    replicas[0].write("cart", &read_context, "[apples]");
    println!("  client 1 writes cart = [apples] through A");
    replicas[1].write("cart", &read_context, "[pears]");
    println!("  client 2 writes cart = [pears] through B");
    let item3 = replicas[1].store["item-3"].join();
    replicas[1].write("item-3", &item3, "v3-updated");
    for key in ["cart", "item-3"] {
        let state = replicas[1].store[key].clone();
        replicas[2].merge(key, &state);
    }

    // Healed: a read of the cart at all three replicas plans its repair.
    println!("\npartition healed; reading cart from A, B, C");
    let replies: Vec<_> = replicas.iter().map(|r| (r.id, r.read("cart"))).collect();
    let plan = ReadRepairPlan::plan(replies, RepairMode::Blocking);
    let mut merged = DvvSet::<String>::empty();
    for version in plan.values() {
        merged = merged.sync(&version.value);
    }
    println!(
        "  {} concurrent versions; the reader sees siblings {}",
        plan.values().len(),
        show(&merged)
    );
    for repair in plan.repairs() {
        let r = replicas
            .iter_mut()
            .find(|r| r.id == repair.replica)
            .expect("repairs name known replicas");
        for version in &repair.send {
            r.merge("cart", &version.value);
        }
        println!(
            "  read-repair: sent {} version(s) to {}, now {}",
            repair.send.len(),
            r.name,
            show(&r.store["cart"])
        );
    }
    println!(
        "  blocking mode: the reader waits for the repairs: {}",
        plan.must_wait_for_repairs()
    );

    // The client that saw both siblings resolves them.
    let context = merged.join();
    replicas[0].write("cart", &context, "[apples, pears]");
    let resolved = replicas[0].store["cart"].clone();
    for r in &mut replicas[1..] {
        r.merge("cart", &resolved);
    }
    println!("  client 1 resolves: cart = {}", show(&resolved));

    // Anti-entropy: A compares its tree with B's and repairs what differs.
    println!("\nMerkle exchange A <-> B (depth 10, 2 levels per round)");
    let report = replicas[0]
        .tree
        .exchange(&replicas[1].tree, 2)
        .expect("same depth");
    for round in report.rounds() {
        println!(
            "  level {:2}: {:3} hashes sent, {} differ, {} + {} bytes",
            round.level,
            round.hashes_sent,
            round.mismatched,
            round.bytes_sent,
            round.bytes_received
        );
    }
    let full_tree_bytes = replicas[0].tree.leaf_count() * 2 * 8;
    println!(
        "  {} differing range(s), {} bytes in total (sending every hash would take {} bytes)",
        report.ranges().len(),
        report.total_bytes(),
        full_tree_bytes
    );
    let keys: Vec<String> = replicas[1].store.keys().cloned().collect();
    for key in keys {
        let token = hash64(key.as_bytes());
        if report.ranges().iter().any(|r| r.contains(token)) {
            let theirs = replicas[1].store[&key].clone();
            let mine = replicas[0].store.get(&key).cloned().unwrap_or_default();
            replicas[0].merge(&key, &theirs);
            replicas[1].merge(&key, &mine);
            println!("  repaired {key}: {}", show(&replicas[0].store[&key]));
        }
    }
    let converged = replicas
        .iter()
        .all(|r| r.tree.root() == replicas[0].tree.root());
    println!("\nall three Merkle roots equal: {converged}");
    assert!(converged, "replicas did not converge");
}
