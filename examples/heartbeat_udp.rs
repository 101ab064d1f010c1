//! Processes on 127.0.0.1 exchange UDP heartbeats and watch each other with
//! phi accrual, printing every state change.
//!
//! Each process sends `hb <id> <generation> <n>` to every peer each
//! interval, feeds the heartbeats it receives into a [`Monitor`] with their
//! sequence numbers (so a duplicated or overtaken datagram is not taken for
//! a sign of life), and sweeps it in its receive loop. The generation is the
//! process's start time in milliseconds: a restarted process outranks its
//! old numbers. Start three in three terminals:
//!
//! ```text
//! cargo run -p steadfast-examples --example heartbeat_udp -- --id 1 --bind 127.0.0.1:7001 --peers 127.0.0.1:7002,127.0.0.1:7003
//! cargo run -p steadfast-examples --example heartbeat_udp -- --id 2 --bind 127.0.0.1:7002 --peers 127.0.0.1:7001,127.0.0.1:7003
//! cargo run -p steadfast-examples --example heartbeat_udp -- --id 3 --bind 127.0.0.1:7003 --peers 127.0.0.1:7001,127.0.0.1:7002
//! ```
//!
//! then stop one and watch the others suspect it. Options (defaults in
//! brackets): `--interval-ms` [100], `--pause-ms` acceptable heartbeat pause
//! [1000], `--min-std-ms` [100], `--threshold` [8], `--run-ms` how long to run
//! [60000].
//!
//! Output lines, one per event:
//!
//! ```text
//! node=1 listening=127.0.0.1:7001
//! node=1 peer=2 first-heartbeat
//! node=1 peer=3 healthy->suspect silence_ms=1624 phi=8.000
//! node=1 peer=3 suspect->unreachable silence_ms=6624
//! ```
//!
//! Only loopback addresses are accepted.

use std::net::{SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use steadfast_core::{Clock, MonotonicClock};
use steadfast_detect::{
    Monitor, MonitorConfig, PhiAccrual, PhiAccrualConfig, Sequence, Transition, TransitionReason,
};

/// Command-line settings.
#[derive(Debug)]
struct Args {
    id: u64,
    bind: SocketAddr,
    peers: Vec<SocketAddr>,
    interval: Duration,
    pause: Duration,
    min_std: Duration,
    threshold: f64,
    run: Duration,
}

fn parse_args() -> Result<Args, String> {
    let mut id = None;
    let mut bind = None;
    let mut peers = Vec::new();
    let mut interval = Duration::from_millis(100);
    let mut pause = Duration::from_millis(1000);
    let mut min_std = Duration::from_millis(100);
    let mut threshold = 8.0;
    let mut run = Duration::from_secs(60);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let millis = |v: &str| {
            v.parse::<u64>()
                .map(Duration::from_millis)
                .map_err(|e| format!("{flag}: {e}"))
        };
        match flag.as_str() {
            "--id" => id = Some(value.parse::<u64>().map_err(|e| format!("--id: {e}"))?),
            "--bind" => bind = Some(loopback(&value)?),
            "--peers" => {
                for p in value.split(',').filter(|p| !p.is_empty()) {
                    peers.push(loopback(p)?);
                }
            }
            "--interval-ms" => interval = millis(&value)?,
            "--pause-ms" => pause = millis(&value)?,
            "--min-std-ms" => min_std = millis(&value)?,
            "--run-ms" => run = millis(&value)?,
            "--threshold" => {
                threshold = value
                    .parse::<f64>()
                    .map_err(|e| format!("--threshold: {e}"))?
            }
            other => return Err(format!("unknown option {other}")),
        }
    }
    if interval.is_zero() {
        return Err("--interval-ms must be greater than 0".into());
    }
    Ok(Args {
        id: id.ok_or("--id is required")?,
        bind: bind.ok_or("--bind is required")?,
        peers,
        interval,
        pause,
        min_std,
        threshold,
        run,
    })
}

fn loopback(text: &str) -> Result<SocketAddr, String> {
    let addr: SocketAddr = text.parse().map_err(|e| format!("{text}: {e}"))?;
    if addr.ip().is_loopback() {
        Ok(addr)
    } else {
        Err(format!("{text}: only loopback addresses are allowed"))
    }
}

fn print_transition(node: u64, t: &Transition<u64>, last: Option<steadfast_core::Timestamp>) {
    let silence = last.map_or(0, |l| t.at.saturating_duration_since(l).as_millis());
    match t.reason {
        TransitionReason::ThresholdCrossed { suspicion } => println!(
            "node={node} peer={} {}->{} silence_ms={silence} phi={suspicion:.3}",
            t.peer, t.from, t.to
        ),
        _ => println!(
            "node={node} peer={} {}->{} silence_ms={silence}",
            t.peer, t.from, t.to
        ),
    }
}

fn run(args: Args) -> Result<(), String> {
    let detector = PhiAccrual::new(
        PhiAccrualConfig::builder()
            .threshold(args.threshold)
            .acceptable_heartbeat_pause(args.pause)
            .min_std_deviation(args.min_std)
            .first_heartbeat_estimate(args.interval)
            .build()
            .map_err(|e| e.to_string())?,
    );
    let monitor: Monitor<u64, PhiAccrual> = Monitor::new(
        MonitorConfig::builder()
            .build()
            .map_err(|e| e.to_string())?,
        detector,
    );
    let socket = UdpSocket::bind(args.bind).map_err(|e| format!("bind {}: {e}", args.bind))?;
    let tick = (args.interval / 4).clamp(Duration::from_millis(1), Duration::from_millis(20));
    socket
        .set_read_timeout(Some(tick))
        .map_err(|e| e.to_string())?;
    println!("node={} listening={}", args.id, args.bind);
    let clock = MonotonicClock::new();
    let start = clock.now();
    let stop = start.saturating_add(args.run);
    let mut next_send = start;
    // Wall-clock milliseconds at start: only compared with this sender's
    // own earlier generations.
    let generation = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let mut number = 0u64;
    let mut buffer = [0u8; 96];
    loop {
        let now = clock.now();
        if now >= stop {
            return Ok(());
        }
        if now >= next_send {
            let message = format!("hb {} {generation} {number}", args.id);
            number += 1;
            for peer in &args.peers {
                // A peer that is down refuses the datagram; that is expected.
                let _ = socket.send_to(message.as_bytes(), peer);
            }
            next_send = next_send.saturating_add(args.interval).max(now);
        }
        if let Ok((n, from)) = socket.recv_from(&mut buffer) {
            let heartbeat = std::str::from_utf8(&buffer[..n])
                .ok()
                .and_then(parse_heartbeat);
            match heartbeat {
                Some((peer, sequence)) if from.ip().is_loopback() && peer != args.id => {
                    let at = clock.now();
                    let known = monitor.status(&peer, at).is_some();
                    let last = monitor.status(&peer, at).and_then(|s| s.last_heartbeat);
                    if let Some(t) = monitor.heartbeat_with_sequence(peer, sequence, at) {
                        print_transition(args.id, &t, last);
                    }
                    if !known {
                        println!("node={} peer={peer} first-heartbeat", args.id);
                    }
                }
                _ => eprintln!("node={} ignored a datagram from {from}", args.id),
            }
        }
        let now = clock.now();
        for t in monitor.sweep(now) {
            let last = monitor.status(&t.peer, now).and_then(|s| s.last_heartbeat);
            print_transition(args.id, &t, last);
        }
    }
}

/// `hb <id> <generation> <n>` as the sender's id and sequence number.
fn parse_heartbeat(text: &str) -> Option<(u64, Sequence)> {
    let mut fields = text.strip_prefix("hb ")?.split(' ');
    let mut next = || fields.next()?.parse::<u64>().ok();
    let (id, generation, number) = (next()?, next()?, next()?);
    Some((id, Sequence::new(generation, number)))
}

fn main() -> ExitCode {
    match parse_args().and_then(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("heartbeat_udp: {e}");
            ExitCode::FAILURE
        }
    }
}
