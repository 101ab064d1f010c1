//! Three workers elect a leader; only the leader writes, through a fence.
//!
//! The first leader freezes (a stand-in for a crash, a GC pause or a stalled
//! VM) while still holding its guard. Its lease runs out, another worker is
//! elected and writes with a higher fencing token, and when the frozen leader
//! wakes up its late write is refused by the fence.
//!
//! Run in one process (the in-memory backend):
//! `cargo run -p steadfast-examples --example leader_election`
//!
//! or on etcd:
//! `cargo run -p steadfast-examples --example leader_election -- --etcd http://127.0.0.1:2379`

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};

use steadfast_core::{MonotonicClock, Observer};
use steadfast_etcd::{EtcdBackend, EtcdConfig};
use steadfast_quorum::{
    Election, Fence, FencingToken, InMemoryBackend, LeaseBackend, LeaseEvent, LeasePolicy,
    LockError, ThreadSleeper,
};

const WORKERS: usize = 3;
const WRITES_PER_TERM: usize = 3;

/// The protected resource: a log that only accepts writes through its fence.
#[derive(Default)]
struct Resource {
    fence: Fence,
    log: StdMutex<Vec<(String, FencingToken)>>,
}

impl Resource {
    fn write(&self, worker: &str, token: FencingToken) -> Result<usize, String> {
        // Check and append under one lock so the log order follows the fence.
        let mut log = self.log.lock().expect("log lock poisoned");
        self.fence.check(token).map_err(|stale| stale.to_string())?;
        log.push((worker.to_owned(), token));
        Ok(log.len())
    }

    fn highest_writer_token(&self) -> Option<FencingToken> {
        let log = self.log.lock().expect("log lock poisoned");
        log.iter().map(|(_, t)| *t).max()
    }
}

/// Prints the failover decisions as they happen.
struct AuditLog;

impl Observer<LeaseEvent> for AuditLog {
    fn on_event(&self, event: &LeaseEvent) {
        match event {
            LeaseEvent::Acquired { owner, token, .. } => {
                println!("  [audit] {owner} elected with token {token}");
            }
            LeaseEvent::Lost { owner, reason, .. } => {
                println!("  [audit] {owner} lost leadership: {reason:?}");
            }
            LeaseEvent::Released { owner, .. } => println!("  [audit] {owner} resigned"),
            _ => {}
        }
    }
}

fn worker<B: LeaseBackend>(
    name: String,
    backend: B,
    policy: LeasePolicy,
    resource: &Resource,
    frozen_once: &AtomicBool,
    done: &AtomicBool,
) {
    let election = Election::new(backend, "/steadfast/example/leader", name.clone(), policy)
        .with_observer(AuditLog);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done.load(Ordering::SeqCst) && Instant::now() < deadline {
        let mut leadership = match election.campaign(Duration::from_millis(500), &ThreadSleeper) {
            Ok(l) => l,
            Err(LockError::Timeout { .. }) => continue,
            Err(e) if e.is_temporary() => continue,
            Err(e) => panic!("{name}: {e}"),
        };
        for _ in 0..WRITES_PER_TERM {
            let Ok(token) = leadership.check() else { break };
            match resource.write(&name, token) {
                Ok(n) => println!("{name} (token {token}) wrote entry {n}"),
                Err(why) => println!("{name} write refused: {why}"),
            }
            std::thread::sleep(Duration::from_millis(100));
            if leadership.maintain().is_err() {
                break;
            }
        }
        if !frozen_once.swap(true, Ordering::SeqCst) {
            // Freeze while holding the guard: no renewals, no checks.
            let stale = leadership.token();
            println!("{name} freezes while leader (token {stale})...");
            let wait_until = Instant::now() + Duration::from_secs(30);
            while resource.highest_writer_token() <= Some(stale) && Instant::now() < wait_until {
                std::thread::sleep(Duration::from_millis(50));
            }
            println!("{name} wakes up and writes with its old token {stale}:");
            match resource.write(&name, stale) {
                Ok(n) => println!("  !! late write accepted as entry {n}: the fence failed"),
                Err(why) => println!("  refused: {why}"),
            }
            // Now it looks at its lease, finds it gone and steps down.
            println!(
                "{name} checks its lease: leader = {}",
                leadership.is_leader()
            );
            return;
        }
        done.store(true, Ordering::SeqCst);
        leadership.resign().ok();
    }
}

fn main() {
    let etcd_url = {
        let args: Vec<String> = std::env::args().collect();
        args.iter()
            .position(|a| a == "--etcd")
            .map(|i| args.get(i + 1).cloned().expect("--etcd needs a URL"))
    };
    let term = if etcd_url.is_some() {
        Duration::from_secs(2)
    } else {
        Duration::from_secs(1)
    };
    let policy = LeasePolicy::builder(term)
        .drift_bound(1.01)
        .build()
        .expect("valid lease policy");
    let resource = Resource::default();
    let frozen_once = AtomicBool::new(false);
    let done = AtomicBool::new(false);
    let in_memory = Arc::new(InMemoryBackend::with_clock(MonotonicClock::new()));
    match &etcd_url {
        Some(url) => {
            println!("{WORKERS} workers electing a leader on etcd at {url} (term {term:?})")
        }
        None => println!("{WORKERS} workers electing a leader in process (term {term:?})"),
    }
    std::thread::scope(|scope| {
        for i in 1..=WORKERS {
            let name = format!("worker-{i}");
            let (resource, frozen_once, done) = (&resource, &frozen_once, &done);
            let in_memory = Arc::clone(&in_memory);
            let etcd_url = etcd_url.clone();
            scope.spawn(move || match etcd_url {
                Some(url) => {
                    let backend = EtcdBackend::connect(&[url], EtcdConfig::default())
                        .expect("cannot reach etcd");
                    worker(name, backend, policy, resource, frozen_once, done);
                }
                None => worker(name, in_memory, policy, resource, frozen_once, done),
            });
        }
    });
    let log = resource.log.lock().expect("log lock poisoned");
    println!("final log ({} entries):", log.len());
    for (i, (writer, token)) in log.iter().enumerate() {
        println!("  {:>2}. {writer} with token {token}", i + 1);
    }
    assert!(
        log.windows(2).all(|w| w[0].1 <= w[1].1),
        "tokens in the log never go down"
    );
}
