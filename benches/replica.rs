//! steadfast-replica: version vectors against the `crdts` crate's `VClock`,
//! Merkle tree build / update / diff, and CRC32C against a plain memory read.
//!
//! Version vectors are compared where the whole vector must be scanned (the
//! two differ only in the last node), and merged where half the counters
//! move. `crdts`' `merge` takes the other clock by value, so its clone is
//! made outside the timed routine; only the consumption is timed.
//!
//! CRC32C is measured against the physical floor of reading the same buffer
//! (`floor: sum of u64`) and against the crates it could have used.
//!
//! Consistency levels: turning a level into required acknowledgements for a
//! placement and tallying three responses, with no peer.

use std::hint::black_box;

use crdts::{CvRDT, Dot, VClock};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use steadfast_core::NodeId;
use steadfast_quorum::TallyOutcome;
use steadfast_replica::{
    ConsistencyLevel, MerkleTree, Operation, Placement, Replica, VersionVector, crc32c, hash64,
};

/// Two vectors over `n` nodes, `b` ahead of `a` in the last node only.
fn vv_pair(n: u64) -> (VersionVector, VersionVector) {
    let a: VersionVector = (0..n).map(|i| (NodeId::new(i * 7 + 1), i + 10)).collect();
    let mut b = a.clone();
    b.increment(NodeId::new((n - 1) * 7 + 1));
    (a, b)
}

fn vclock_pair(n: u64) -> (VClock<u64>, VClock<u64>) {
    let a: VClock<u64> = (0..n).map(|i| Dot::new(i * 7 + 1, i + 10)).collect();
    let mut b = a.clone();
    b.merge(VClock::from(Dot::new((n - 1) * 7 + 1, n + 10)));
    (a, b)
}

/// Two vectors over `n` nodes; `b` is ahead in every other node.
fn merge_pair(n: u64) -> (VersionVector, VersionVector, VClock<u64>, VClock<u64>) {
    let a: VersionVector = (0..n).map(|i| (NodeId::new(i * 7 + 1), 10)).collect();
    let b: VersionVector = (0..n)
        .map(|i| (NodeId::new(i * 7 + 1), 10 + (i % 2) * 5))
        .collect();
    let ca: VClock<u64> = (0..n).map(|i| Dot::new(i * 7 + 1, 10)).collect();
    let cb: VClock<u64> = (0..n)
        .map(|i| Dot::new(i * 7 + 1, 10 + (i % 2) * 5))
        .collect();
    (a, b, ca, cb)
}

fn vv_compare(c: &mut Criterion) {
    for n in [3u64, 16, 64] {
        let mut group = c.benchmark_group(format!("replica/vv_compare_{n}"));
        let (a, b) = vv_pair(n);
        let (ca, cb) = vclock_pair(n);
        assert!(a < b && ca < cb);
        group.bench_function("steadfast VersionVector::compare", |bench| {
            bench.iter(|| black_box(&a).compare(black_box(&b)))
        });
        group.bench_function("crdts 7.3 VClock::partial_cmp", |bench| {
            bench.iter(|| black_box(&ca).partial_cmp(black_box(&cb)))
        });
        group.finish();
    }
}

fn vv_merge(c: &mut Criterion) {
    for n in [3u64, 16, 64] {
        let mut group = c.benchmark_group(format!("replica/vv_merge_{n}"));
        let (a, b, ca, cb) = merge_pair(n);
        group.bench_function("steadfast VersionVector::merge", |bench| {
            bench.iter_batched_ref(
                || a.clone(),
                |x| x.merge(black_box(&b)),
                BatchSize::SmallInput,
            )
        });
        group.bench_function("crdts 7.3 VClock::merge", |bench| {
            bench.iter_batched_ref(
                || (ca.clone(), Some(cb.clone())),
                |(x, y)| x.merge(black_box(y.take().unwrap_or_default())),
                BatchSize::SmallInput,
            )
        });
        group.finish();
    }
}

fn items(n: u64) -> Vec<(u64, u64)> {
    (0..n)
        .map(|k| {
            (
                hash64(&k.to_le_bytes()),
                hash64(&(k ^ 0xdead_beef).to_le_bytes()),
            )
        })
        .collect()
}

fn merkle(c: &mut Criterion) {
    let keys = items(1_000_000);
    let mut group = c.benchmark_group("replica/merkle_build_1e6");
    group.sample_size(10);
    group.throughput(Throughput::Elements(keys.len() as u64));
    group.bench_function("steadfast MerkleTree::build (depth 15)", |b| {
        b.iter(|| MerkleTree::build(15, black_box(&keys).iter().copied()))
    });
    group.bench_function("steadfast 1e6 x MerkleTree::insert (depth 15)", |b| {
        b.iter(|| {
            let mut t = MerkleTree::new(15).unwrap_or_else(|e| panic!("{e}"));
            for &(k, v) in black_box(&keys) {
                t.insert(k, v);
            }
            t
        })
    });
    group.finish();

    let base = MerkleTree::build(15, keys.iter().copied()).unwrap_or_else(|e| panic!("{e}"));
    let mut group = c.benchmark_group("replica/merkle_update");
    let mut tree = base.clone();
    let mut i = 0usize;
    group.bench_function("steadfast MerkleTree::update (depth 15)", |b| {
        b.iter(|| {
            let (k, v) = keys[i % keys.len()];
            i += 1;
            tree.update(black_box(k), v, v ^ 1);
            tree.update(black_box(k), v ^ 1, v);
        })
    });
    group.finish();

    let mut changed = base.clone();
    for &(k, v) in keys.iter().step_by(10_000) {
        changed.update(k, v, v.wrapping_add(1));
    }
    let mut group = c.benchmark_group("replica/merkle_diff_100");
    group.bench_function("steadfast MerkleTree::diff (depth 15)", |b| {
        b.iter(|| black_box(&base).diff(black_box(&changed)))
    });
    group.bench_function("steadfast MerkleTree::exchange (3 levels/round)", |b| {
        b.iter(|| black_box(&base).exchange(black_box(&changed), 3))
    });
    group.finish();
}

/// Reads every byte of `buf` once, 8 at a time: the memory-bandwidth floor
/// of any checksum.
fn sum_u64(buf: &[u8]) -> u64 {
    let mut acc = [0u64; 4];
    let mut chunks = buf.chunks_exact(32);
    for c in &mut chunks {
        for (lane, word) in acc.iter_mut().zip(c.chunks_exact(8)) {
            let mut w = [0u8; 8];
            w.copy_from_slice(word);
            *lane = lane.wrapping_add(u64::from_le_bytes(w));
        }
    }
    let mut total = acc.iter().fold(0u64, |s, &x| s.wrapping_add(x));
    for &b in chunks.remainder() {
        total = total.wrapping_add(u64::from(b));
    }
    total
}

fn crc(c: &mut Criterion) {
    for (name, size) in [("4k", 4usize << 10), ("1m", 1 << 20), ("256m", 256 << 20)] {
        let buf: Vec<u8> = (0..size)
            .map(|i| (i.wrapping_mul(31) ^ (i >> 9)) as u8)
            .collect();
        let mut group = c.benchmark_group(format!("replica/crc32c_{name}"));
        group.throughput(Throughput::Bytes(size as u64));
        if size > 1 << 20 {
            group.sample_size(10);
        }
        let expected = crc32c::crc32c(&buf);
        assert_eq!(crc32c(&buf), expected);
        group.bench_function("steadfast crc32c (crc-fast)", |b| {
            b.iter(|| crc32c(black_box(&buf)))
        });
        group.bench_function("floor: sum of u64", |b| b.iter(|| sum_u64(black_box(&buf))));
        group.bench_function("crc32c 0.6", |b| b.iter(|| crc32c::crc32c(black_box(&buf))));
        group.bench_function("crc-fast 1.10 (direct)", |b| {
            b.iter(|| crc_fast::checksum(crc_fast::CrcAlgorithm::Crc32Iscsi, black_box(&buf)))
        });
        group.bench_function("crc32fast 1.5 (CRC-32/IEEE)", |b| {
            b.iter(|| crc32fast::hash(black_box(&buf)))
        });
        group.finish();
    }
}

/// `dcs` datacentres of `per_dc` replicas, one rack each.
fn consistency_placement(dcs: u64, per_dc: u64) -> Placement {
    let replicas = (0..dcs * per_dc).map(|i| {
        let dc = format!("dc{}", i / per_dc);
        Replica::new(NodeId::new(i + 1), dc, format!("rack{}", i % per_dc))
    });
    Placement::new(replicas).expect("valid placement")
}

/// Turning a level into required acknowledgements (quorum systems per
/// group) and tallying three acknowledgements; then the tally alone on a
/// prebuilt requirement. No peer: nothing else offers this.
fn consistency_tally(c: &mut Criterion) {
    let mut group = c.benchmark_group("replica/consistency_tally");
    let cases = [
        (
            "QUORUM, 3 replicas",
            ConsistencyLevel::Quorum,
            consistency_placement(1, 3),
        ),
        (
            "EACH_QUORUM, 3x3 replicas",
            ConsistencyLevel::EachQuorum,
            consistency_placement(3, 3),
        ),
    ];
    // Acks from the first replica of each datacentre (or the first three).
    let responders = |p: &Placement| -> Vec<NodeId> {
        let step = if p.datacenters().len() > 1 { 3 } else { 1 };
        (0..3).map(|i| p.replicas()[i * step].node()).collect()
    };
    for (name, level, placement) in &cases {
        let acks = responders(placement);
        group.bench_function(format!("steadfast {name}: level -> acks + tally 3"), |b| {
            b.iter(|| {
                let req = black_box(*level)
                    .requirement(Operation::Write, black_box(placement), "dc0")
                    .expect("satisfiable");
                let mut tally = req.tally();
                let mut outcome = TallyOutcome::Pending;
                for node in &acks {
                    outcome = tally.ack(black_box(*node)).expect("a replica");
                }
                black_box((req.required_acks(), outcome))
            })
        });
    }
    for (name, level, placement) in &cases {
        let acks = responders(placement);
        let req = level
            .requirement(Operation::Write, placement, "dc0")
            .expect("satisfiable");
        group.bench_function(format!("steadfast {name}: tally 3 only"), |b| {
            b.iter(|| {
                let mut tally = black_box(&req).tally();
                let mut outcome = TallyOutcome::Pending;
                for node in &acks {
                    outcome = tally.ack(black_box(*node)).expect("a replica");
                }
                black_box(outcome)
            })
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    vv_compare,
    vv_merge,
    merkle,
    crc,
    consistency_tally
);
criterion_main!(benches);
