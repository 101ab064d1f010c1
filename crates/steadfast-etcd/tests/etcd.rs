//! Locks and elections against a real etcd server started by the test.
//!
//! Each test starts its own `etcd` on 127.0.0.1 with free ports and a
//! temporary data directory, and stops it at the end. Without an `etcd`
//! binary the tests print a loud notice and pass, unless
//! `STEADFAST_REQUIRE_ETCD=1` is set, in which case they fail.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use steadfast_core::{Clock, MonotonicClock};
use steadfast_etcd::{EtcdBackend, EtcdConfig, FencedWrite};
use steadfast_quorum::{Fence, LeaseBackend, LeasePolicy, LockError, Mutex, ThreadSleeper};

/// A private etcd process.
struct EtcdServer {
    binary: PathBuf,
    dir: PathBuf,
    client_port: u16,
    peer_port: u16,
    child: Option<Child>,
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

fn find_etcd() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("STEADFAST_ETCD_BIN") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("etcd"))
        .find(|candidate| candidate.is_file())
}

impl EtcdServer {
    /// Starts etcd, or returns `None` (after a loud notice) when it is missing.
    fn start(test: &str) -> Option<EtcdServer> {
        let Some(binary) = find_etcd() else {
            let required = std::env::var("STEADFAST_REQUIRE_ETCD").is_ok_and(|v| v == "1");
            assert!(
                !required,
                "STEADFAST_REQUIRE_ETCD=1 but no `etcd` binary was found on PATH \
                 (install the etcd-server package)"
            );
            eprintln!(
                "\n!!!!!!!! SKIPPED {test}: no `etcd` binary on PATH. Install the \
                 etcd-server package, or set STEADFAST_REQUIRE_ETCD=1 to make this fatal. !!!!!!!!\n"
            );
            return None;
        };
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "steadfast-etcd-{}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            test
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the data directory");
        let mut server = EtcdServer {
            binary,
            dir,
            client_port: free_port(),
            peer_port: free_port(),
            child: None,
        };
        server.spawn();
        Some(server)
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    fn spawn(&mut self) {
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("etcd.log"))
            .expect("open the etcd log");
        let child = Command::new(&self.binary)
            .arg("--name")
            .arg("steadfast-test")
            .arg("--data-dir")
            .arg(self.dir.join("data"))
            .arg("--listen-client-urls")
            .arg(self.url())
            .arg("--advertise-client-urls")
            .arg(self.url())
            .arg("--listen-peer-urls")
            .arg(&peer)
            .arg("--initial-advertise-peer-urls")
            .arg(&peer)
            .arg("--initial-cluster")
            .arg(format!("steadfast-test={peer}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start etcd");
        self.child = Some(child);
        self.wait_ready();
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if EtcdBackend::connect(&[self.url()], quick()).is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "etcd did not start within 30 s; log in {}",
                self.dir.join("etcd.log").display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn backend(&self) -> EtcdBackend {
        EtcdBackend::connect(&[self.url()], quick()).expect("connect to the test etcd")
    }
}

impl Drop for EtcdServer {
    fn drop(&mut self) {
        self.stop();
        remove_dir(&self.dir);
    }
}

fn remove_dir(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
}

fn quick() -> EtcdConfig {
    EtcdConfig::builder()
        .request_timeout(Duration::from_millis(500))
        .connect_timeout(Duration::from_millis(500))
        .build()
        .expect("valid config")
}

fn policy() -> LeasePolicy {
    LeasePolicy::builder(Duration::from_secs(2))
        .drift_bound(1.01)
        .safety_margin(Duration::from_millis(100))
        .build()
        .expect("valid policy")
}

#[test]
fn two_contenders_never_hold_at_once() {
    let Some(server) = EtcdServer::start("contenders") else {
        return;
    };
    let inside = Arc::new(AtomicUsize::new(0));
    let fence = Arc::new(Fence::new());
    let barrier = Arc::new(Barrier::new(2));
    let url = server.url();
    let threads: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|name| {
            let (inside, fence, barrier, url) = (
                Arc::clone(&inside),
                Arc::clone(&fence),
                Arc::clone(&barrier),
                url.clone(),
            );
            std::thread::spawn(move || {
                let backend = EtcdBackend::connect(&[url], quick()).expect("connect");
                let lock = Mutex::new(&backend, "/steadfast/contenders", name, policy());
                barrier.wait();
                let mut held = 0;
                let deadline = Instant::now() + Duration::from_secs(20);
                while held < 5 && Instant::now() < deadline {
                    match lock.lock(Duration::from_secs(5), &ThreadSleeper) {
                        Ok(mut guard) => {
                            let before = inside.fetch_add(1, Ordering::SeqCst);
                            assert_eq!(before, 0, "two holders at once");
                            let token = guard.check().expect("fresh lease is valid");
                            fence
                                .check(token)
                                .expect("tokens grow from holder to holder");
                            std::thread::sleep(Duration::from_millis(30));
                            inside.fetch_sub(1, Ordering::SeqCst);
                            guard.release().expect("release");
                            held += 1;
                        }
                        Err(LockError::Timeout { .. }) => {}
                        Err(e) if e.is_temporary() => {}
                        Err(e) => panic!("{name}: {e}"),
                    }
                }
                held
            })
        })
        .collect();
    let held: Vec<usize> = threads
        .into_iter()
        .map(|t| t.join().expect("contender panicked"))
        .collect();
    assert!(
        held.iter().all(|h| *h > 0),
        "both contenders got the lock: {held:?}"
    );
}

#[test]
fn a_holder_that_stops_renewing_is_replaced_and_fenced() {
    let Some(server) = EtcdServer::start("takeover") else {
        return;
    };
    let (backend_a, backend_b) = (server.backend(), server.backend());
    let key = "/steadfast/takeover";
    let a = Mutex::new(&backend_a, key, "a", policy());
    let b = Mutex::new(&backend_b, key, "b", policy());
    let mut guard_a = a.try_lock().expect("a acquires");
    assert!(matches!(b.try_lock(), Err(LockError::Held { holder }) if holder.owner == "a"));
    // a stops renewing (a long pause); b waits for the TTL to run out.
    let guard_b = b
        .lock(Duration::from_secs(15), &ThreadSleeper)
        .expect("b acquires after the TTL");
    // By the drift rule, a stopped believing before etcd let b in.
    assert!(!guard_a.is_held(), "a still believes while b holds");
    assert!(guard_b.token() > guard_a.token());
    // a's late writes are refused: by an in-process fence and by etcd itself.
    let fence = Fence::new();
    fence.check(guard_b.token()).expect("b writes");
    let stale = fence
        .check(guard_a.token())
        .expect_err("a's token is stale");
    assert_eq!(stale.highest, guard_b.token());
    let late = backend_a
        .fenced_put(key, guard_a.token(), "/steadfast/data", "from a")
        .expect("etcd answers");
    assert!(
        matches!(late, FencedWrite::Rejected { holder: Some(ref h) } if h.owner == "b"),
        "{late:?}"
    );
    let ok = backend_b
        .fenced_put(key, guard_b.token(), "/steadfast/data", "from b")
        .expect("etcd answers");
    assert!(matches!(ok, FencedWrite::Written { .. }), "{ok:?}");
    // a's renewal is refused too.
    assert!(matches!(guard_a.renew(), Err(LockError::Lost { .. })));
}

#[test]
fn restarting_etcd_mid_lease_never_yields_two_believers_and_recovers() {
    let Some(mut server) = EtcdServer::start("restart") else {
        return;
    };
    let clock = MonotonicClock::new();
    let (backend_a, backend_b) = (server.backend(), server.backend());
    let key = "/steadfast/restart";
    let a = Mutex::with_clock(&backend_a, key, "a", policy(), clock);
    let b = Mutex::with_clock(&backend_b, key, "b", policy(), clock);
    let mut guards = [Some(a.try_lock().expect("a acquires")), None];
    let mutexes = [&a, &b];
    let mut stopped = false;
    let mut restarted = false;
    let mut a_lost_while_down = false;
    let mut recovered_after_restart = false;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(40) {
        // etcd goes down mid-lease for longer than the lease, then comes back.
        if !stopped && start.elapsed() > Duration::from_millis(500) {
            server.stop();
            stopped = true;
        }
        if stopped && !restarted && start.elapsed() > Duration::from_millis(3_500) {
            a_lost_while_down = guards[0].is_none();
            server.spawn();
            restarted = true;
        }
        for (i, mutex) in mutexes.iter().enumerate() {
            match guards[i].as_mut() {
                Some(guard) => {
                    if guard.maintain().is_err() {
                        guards[i] = None;
                    }
                }
                None => {
                    if let Ok(guard) = mutex.try_lock() {
                        if restarted {
                            recovered_after_restart = true;
                        }
                        guards[i] = Some(guard);
                    }
                }
            }
        }
        let believers = guards
            .iter()
            .flatten()
            .filter(|g| g.lease().is_valid(clock.now()))
            .count();
        assert!(believers <= 1, "two holders believe at once");
        if recovered_after_restart && start.elapsed() > Duration::from_secs(8) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(restarted);
    assert!(
        a_lost_while_down,
        "a must step down by its own clock while etcd is unreachable"
    );
    let holder = backend_a
        .holder(key)
        .expect("etcd answers after the restart");
    assert!(
        holder.is_some() || recovered_after_restart,
        "nobody holds the lock after the restart"
    );
    assert!(
        guards.iter().flatten().count() == 1,
        "the system recovered with exactly one holder"
    );
}

#[test]
fn reports_acquire_and_renew_latency() {
    let Some(server) = EtcdServer::start("latency") else {
        return;
    };
    let backend = server.backend();
    let lock = Mutex::new(&backend, "/steadfast/latency", "me", policy());
    let mut acquire = Vec::new();
    let mut renew = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let mut guard = lock.try_lock().expect("acquire");
        acquire.push(t.elapsed());
        let t = Instant::now();
        let _ = guard.renew().expect("renew");
        renew.push(t.elapsed());
        guard.release().expect("release");
    }
    acquire.sort();
    renew.sort();
    // Reported, not asserted: machines are noisy.
    eprintln!(
        "etcd on loopback: acquire (grant + txn + verify) median {:?}, renew (keep-alive + verify) median {:?}",
        acquire[acquire.len() / 2],
        renew[renew.len() / 2]
    );
}

#[test]
fn backend_contract_on_etcd() {
    let Some(server) = EtcdServer::start("contract") else {
        return;
    };
    let backend = server.backend();
    let key = "/steadfast/contract";
    let term = Duration::from_secs(2);
    let first = match backend.acquire(key, "a", term).expect("etcd answers") {
        steadfast_quorum::AcquireOutcome::Granted(grant) => grant,
        other => panic!("expected a grant, got {other:?}"),
    };
    assert!(first.term() >= term);
    assert_eq!(
        backend
            .holder(key)
            .expect("etcd answers")
            .map(|h| (h.owner, h.token)),
        Some(("a".to_owned(), first.token()))
    );
    assert!(matches!(
        backend.acquire(key, "b", term).expect("etcd answers"),
        steadfast_quorum::AcquireOutcome::Held(h) if h.owner == "a"
    ));
    assert_eq!(
        backend.renew(&first).expect("etcd answers"),
        steadfast_quorum::RenewOutcome::Renewed
    );
    backend.release(&first).expect("etcd answers");
    // Releasing twice is fine; renewing a released lease reports the loss.
    backend.release(&first).expect("etcd answers");
    assert_eq!(
        backend.renew(&first).expect("etcd answers"),
        steadfast_quorum::RenewOutcome::Lost
    );
    assert_eq!(backend.holder(key).expect("etcd answers"), None);
    let second = match backend.acquire(key, "b", term).expect("etcd answers") {
        steadfast_quorum::AcquireOutcome::Granted(grant) => grant,
        other => panic!("expected a grant, got {other:?}"),
    };
    assert!(second.token() > first.token(), "create revisions grow");
    // A term etcd cannot represent is refused with a clear error.
    let err = backend
        .acquire("/steadfast/huge", "c", Duration::MAX)
        .expect_err("too long a term");
    assert!(!err.is_temporary(), "{err}");
}
