//! Three `heartbeat_udp` processes on 127.0.0.1: kill one, and the other two
//! must suspect it within the bound the detector's parameters imply, without
//! ever suspecting each other.

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use steadfast_core::Timestamp;
use steadfast_detect::{FailureDetector, PhiAccrual, PhiAccrualConfig};

const INTERVAL_MS: u64 = 100;
const PAUSE_MS: u64 = 1000;
const MIN_STD_MS: u64 = 100;
/// Scheduling slack on a loaded machine: the processes, the sweeps and this
/// test's own reader threads all wait for a CPU.
const SLACK: Duration = Duration::from_millis(1500);

/// The example's binary, built on demand if `cargo test` did not build it.
fn example_binary() -> PathBuf {
    let mut dir = std::env::current_exe().expect("test binary path");
    dir.pop();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir
        .join("examples")
        .join(format!("heartbeat_udp{}", std::env::consts::EXE_SUFFIX));
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "build",
                "-p",
                "steadfast-examples",
                "--example",
                "heartbeat_udp",
            ])
            .status()
            .expect("cargo build");
        assert!(status.success());
    }
    path
}

/// Free loopback ports: bind port 0, note the port, release it.
fn free_ports(n: usize) -> Vec<u16> {
    let sockets: Vec<_> = (0..n)
        .map(|_| UdpSocket::bind("127.0.0.1:0").expect("bind"))
        .collect();
    sockets
        .iter()
        .map(|s| s.local_addr().expect("addr").port())
        .collect()
}

/// Kills every child on drop, so a failing assertion leaves no process behind.
struct Cluster(Vec<Child>);

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

type Lines = Arc<Mutex<Vec<(Instant, String)>>>;

/// The silence after which the detector suspects a peer that heartbeated
/// regularly: what the parameters imply.
fn nominal_silence() -> Duration {
    let mut phi = PhiAccrual::new(
        PhiAccrualConfig::builder()
            .acceptable_heartbeat_pause(Duration::from_millis(PAUSE_MS))
            .min_std_deviation(Duration::from_millis(MIN_STD_MS))
            .first_heartbeat_estimate(Duration::from_millis(INTERVAL_MS))
            .build()
            .unwrap(),
    );
    for i in 0..100 {
        let _ = phi.heartbeat(Timestamp::from_millis(i * INTERVAL_MS));
    }
    let last = phi.last_heartbeat().unwrap();
    phi.suspect_at().unwrap().saturating_duration_since(last)
}

fn wait_for(
    lines: &Lines,
    limit: Instant,
    mut done: impl FnMut(&[(Instant, String)]) -> bool,
) -> bool {
    while Instant::now() < limit {
        if done(&lines.lock().unwrap()) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    done(&lines.lock().unwrap())
}

#[test]
fn killed_process_is_detected_within_the_bound_and_nobody_else_is_suspected() {
    let binary = example_binary();
    let ports = free_ports(3);
    let addr = |p: u16| format!("127.0.0.1:{p}");
    let lines: Lines = Arc::new(Mutex::new(Vec::new()));
    let mut children = Vec::new();
    for (i, &port) in ports.iter().enumerate() {
        let peers: Vec<_> = ports
            .iter()
            .filter(|&&p| p != port)
            .map(|&p| addr(p))
            .collect();
        let mut child = Command::new(&binary)
            .args([
                "--id",
                &(i + 1).to_string(),
                "--bind",
                &addr(port),
                "--peers",
                &peers.join(","),
                "--interval-ms",
                &INTERVAL_MS.to_string(),
                "--pause-ms",
                &PAUSE_MS.to_string(),
                "--min-std-ms",
                &MIN_STD_MS.to_string(),
                "--run-ms",
                "30000",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start heartbeat_udp");
        let stdout = child.stdout.take().expect("stdout");
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().unwrap().push((Instant::now(), line));
            }
        });
        children.push(child);
    }
    let mut cluster = Cluster(children);

    // Everyone hears from everyone, then runs long enough to learn the rate.
    let all_met = wait_for(&lines, Instant::now() + Duration::from_secs(15), |l| {
        l.iter()
            .filter(|(_, s)| s.ends_with("first-heartbeat"))
            .count()
            == 6
    });
    assert!(all_met, "{:?}", lines.lock().unwrap());
    std::thread::sleep(Duration::from_secs(2));

    // Kill node 3.
    cluster.0[2].kill().expect("kill node 3");
    let killed = Instant::now();
    let bound = nominal_silence() + Duration::from_millis(INTERVAL_MS) + SLACK;
    let detected = wait_for(&lines, killed + bound + Duration::from_secs(5), |l| {
        (1..=2).all(|n| {
            l.iter()
                .any(|(_, s)| s.starts_with(&format!("node={n} peer=3 healthy->suspect")))
        })
    });
    let snapshot = lines.lock().unwrap().clone();
    assert!(detected, "node 3 not suspected by both: {snapshot:?}");
    for n in 1..=2 {
        let (at, line) = snapshot
            .iter()
            .find(|(_, s)| s.starts_with(&format!("node={n} peer=3 healthy->suspect")))
            .unwrap();
        let latency = at.saturating_duration_since(killed);
        eprintln!("node {n} suspected node 3 {latency:?} after the kill (bound {bound:?}): {line}");
        assert!(
            latency <= bound,
            "node {n} took {latency:?} (bound {bound:?}): {line}"
        );
    }

    // Keep running a little: the two survivors never suspect each other.
    std::thread::sleep(Duration::from_secs(1));
    let snapshot = lines.lock().unwrap().clone();
    let false_suspicions: Vec<_> = snapshot
        .iter()
        .filter(|(_, s)| {
            (s.contains("peer=1 ") || s.contains("peer=2 ")) && s.contains("->suspect")
        })
        .collect();
    assert!(false_suspicions.is_empty(), "{false_suspicions:?}");
}
