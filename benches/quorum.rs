//! steadfast-quorum: vote tallies, the fence check, and in-memory leases.
//!
//! - `quorum/tally_5`, `quorum/tally_101`: a fresh decision (reset, one vote
//!   per member, yes from a majority, outcome after each vote), by node id
//!   (binary search) and by member index (no search), against a naive
//!   tally that recounts a `HashSet` after every vote, and against a bare
//!   counter that only adds (the floor: no membership, no decision).
//! - `quorum/fence_check`: `Fence::check` against one bare `fetch_max` (the
//!   floor) and a `Mutex<u64>` compare-and-store.
//! - `quorum/inmemory_acquire_renew`: acquire, renew and release one key on the
//!   in-memory backend, bare and through `Mutex`, against a `Mutex<HashMap>`
//!   doing insert, update and remove (the floor for a map behind a lock).

use std::collections::{HashMap, HashSet};
use std::hint::black_box;
use std::sync::Mutex as StdMutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use steadfast_core::{ManualClock, NodeId};
use steadfast_quorum::{
    AcquireOutcome, Fence, FencingToken, InMemoryBackend, LeaseBackend, LeasePolicy, Mutex,
    QuorumKind, QuorumSystem, TallyOutcome, Vote,
};

fn tally(c: &mut Criterion, n: u64) {
    let mut group = c.benchmark_group(format!("quorum/tally_{n}"));
    let members: Vec<NodeId> = (0..n).map(NodeId::new).collect();
    let system = QuorumSystem::majority(members.iter().copied()).expect("valid system");
    let votes: Vec<(NodeId, Vote)> = members
        .iter()
        .enumerate()
        .map(|(i, m)| (*m, if i % 3 == 2 { Vote::No } else { Vote::Yes }))
        .collect();
    let mut tally = system.tally(QuorumKind::Write);
    group.bench_function("steadfast VoteTally", |b| {
        b.iter(|| {
            tally.reset();
            let mut outcome = TallyOutcome::Pending;
            for (node, vote) in black_box(&votes) {
                outcome = tally.record(*node, *vote).expect("member");
            }
            outcome
        })
    });
    let indexed: Vec<(usize, Vote)> = votes
        .iter()
        .map(|(node, vote)| (system.index_of(*node).expect("member"), *vote))
        .collect();
    group.bench_function("steadfast VoteTally::record_index", |b| {
        b.iter(|| {
            tally.reset();
            let mut outcome = TallyOutcome::Pending;
            for (index, vote) in black_box(&indexed) {
                outcome = tally.record_index(*index, *vote).expect("member");
            }
            outcome
        })
    });
    let needed = system.threshold(QuorumKind::Write) as usize;
    group.bench_function("naive HashSet recount", |b| {
        let mut yes: HashSet<NodeId> = HashSet::with_capacity(n as usize);
        let mut no: HashSet<NodeId> = HashSet::with_capacity(n as usize);
        b.iter(|| {
            yes.clear();
            no.clear();
            let mut outcome = TallyOutcome::Pending;
            for (node, vote) in black_box(&votes) {
                match vote {
                    Vote::Yes => yes.insert(*node),
                    _ => no.insert(*node),
                };
                let yes_count = members.iter().filter(|m| yes.contains(m)).count();
                let no_count = members.iter().filter(|m| no.contains(m)).count();
                outcome = if yes_count >= needed {
                    TallyOutcome::Won
                } else if members.len() - no_count < needed {
                    TallyOutcome::Lost
                } else {
                    TallyOutcome::Pending
                };
            }
            outcome
        })
    });
    group.bench_function("bare counter (floor)", |b| {
        b.iter(|| {
            let mut yes = 0u64;
            for (_, vote) in black_box(&votes) {
                yes += u64::from(*vote == Vote::Yes);
            }
            yes
        })
    });
    group.finish();
}

fn tally_5(c: &mut Criterion) {
    tally(c, 5);
}

fn tally_101(c: &mut Criterion) {
    tally(c, 101);
}

fn fence_check(c: &mut Criterion) {
    let mut group = c.benchmark_group("quorum/fence_check");
    let fence = Fence::new();
    let token = FencingToken::new(42);
    group.bench_function("steadfast Fence::check", |b| {
        b.iter(|| black_box(&fence).check(black_box(token)))
    });
    let atomic = AtomicU64::new(0);
    group.bench_function("AtomicU64::fetch_max (floor)", |b| {
        b.iter(|| black_box(&atomic).fetch_max(black_box(42), Ordering::AcqRel))
    });
    let locked = StdMutex::new(0u64);
    group.bench_function("std Mutex<u64> compare-and-store", |b| {
        b.iter(|| {
            let mut highest = black_box(&locked).lock().expect("not poisoned");
            let t = black_box(42u64);
            if t >= *highest {
                *highest = t;
                true
            } else {
                false
            }
        })
    });
    group.finish();
}

fn inmemory_acquire_renew(c: &mut Criterion) {
    let mut group = c.benchmark_group("quorum/inmemory_acquire_renew");
    let term = Duration::from_secs(10);
    let clock = ManualClock::new();
    let backend = InMemoryBackend::with_clock(clock.clone());
    group.bench_function("steadfast InMemoryBackend", |b| {
        b.iter(|| {
            let AcquireOutcome::Granted(grant) = backend
                .acquire(black_box("orders/leader"), "worker-1", term)
                .expect("in memory")
            else {
                panic!("key held");
            };
            let renewed = backend.renew(&grant).expect("in memory");
            backend.release(&grant).expect("in memory");
            renewed
        })
    });
    let policy = LeasePolicy::builder(term).build().expect("valid policy");
    let lock = Mutex::with_clock(&backend, "orders/mutex", "worker-1", policy, clock.clone());
    group.bench_function("steadfast Mutex try_lock+renew+release", |b| {
        b.iter(|| {
            let mut guard = lock.try_lock().expect("free");
            let status = guard.renew().expect("renewed");
            guard.release().expect("in memory");
            status
        })
    });
    let map: StdMutex<HashMap<String, (String, u64)>> = StdMutex::new(HashMap::new());
    group.bench_function("std Mutex<HashMap> insert+update+remove (floor)", |b| {
        let mut n = 0u64;
        b.iter(|| {
            n += 1;
            map.lock().expect("not poisoned").insert(
                black_box("orders/leader").to_owned(),
                ("worker-1".to_owned(), n),
            );
            if let Some(e) = map.lock().expect("not poisoned").get_mut("orders/leader") {
                e.1 += 1;
            }
            map.lock().expect("not poisoned").remove("orders/leader")
        })
    });
    group.finish();
}

criterion_group!(
    benches,
    tally_5,
    tally_101,
    fence_check,
    inmemory_acquire_renew
);
criterion_main!(benches);
