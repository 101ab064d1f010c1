//! The engine's guarantees, through the public API.

use std::time::Duration;

use proptest::prelude::*;
use steadfast_core::{Clock, NodeId, Recorder, Timestamp};
use steadfast_sim::{
    Context, DropReason, Fault, Latency, Loss, Network, Process, SimConfig, SimEvent, Simulation,
    Timer,
};

/// Broadcasts every `period` of local time and logs what it hears.
struct Gossip {
    period: Duration,
    heard: Vec<(Timestamp, NodeId)>,
    starts: u32,
    crashes: u32,
    ticks: u32,
}

impl Gossip {
    fn new(period: Duration) -> Gossip {
        Gossip {
            period,
            heard: Vec::new(),
            starts: 0,
            crashes: 0,
            ticks: 0,
        }
    }
}

impl Process for Gossip {
    type Message = u64;

    fn on_start(&mut self, ctx: &mut Context<'_, u64>) {
        self.starts += 1;
        ctx.set_timer(self.period, 1);
    }

    fn on_message(&mut self, ctx: &mut Context<'_, u64>, from: NodeId, _msg: u64) {
        self.heard.push((ctx.clock().now(), from));
    }

    fn on_timer(&mut self, ctx: &mut Context<'_, u64>, _timer: Timer) {
        self.ticks += 1;
        let n = u64::from(self.ticks);
        ctx.broadcast(|| n);
        ctx.set_timer(self.period, 1);
    }

    fn on_crash(&mut self) {
        self.crashes += 1;
    }
}

fn lossy(seed: u64, nodes: usize) -> Simulation<Gossip> {
    let network = Network::new(
        Latency::Pareto {
            scale: Duration::from_micros(500),
            shape: 2.0,
        },
        Loss::GilbertElliott {
            enter_bad: 0.05,
            leave_bad: 0.3,
            loss_good: 0.01,
            loss_bad: 0.6,
        },
    )
    .unwrap();
    let config = SimConfig::builder(nodes)
        .seed(seed)
        .network(network)
        .build()
        .unwrap();
    Simulation::new(config, |_| Gossip::new(Duration::from_millis(10)))
}

#[test]
fn same_seed_same_run_different_seed_different_run() {
    let run = |seed| {
        let mut sim = lossy(seed, 5);
        sim.schedule(Duration::from_millis(300), Fault::Crash(NodeId::new(1)));
        sim.schedule(Duration::from_millis(600), Fault::Restart(NodeId::new(1)));
        sim.run_for(Duration::from_secs(1));
        (sim.trace_hash(), sim.stats().clone())
    };
    assert_eq!(run(11), run(11));
    assert_ne!(run(11).0, run(12).0);
}

#[test]
fn partitions_cut_links_until_healed() {
    let recorder = Recorder::new();
    let config = SimConfig::builder(4).build().unwrap();
    let mut sim = Simulation::with_observer(
        config,
        |_| Gossip::new(Duration::from_millis(10)),
        recorder.clone(),
    );
    let (a, b) = (NodeId::new(0), NodeId::new(1));
    sim.schedule(
        Duration::from_millis(100),
        Fault::Partition(vec![vec![a, b]]),
    );
    sim.schedule(Duration::from_millis(200), Fault::Heal);
    sim.run_for(Duration::from_millis(300));
    // Inside the partition, 0 hears only 1, and nodes 2 and 3 hear only each other.
    let during =
        |t: &Timestamp| *t > Timestamp::from_millis(102) && *t < Timestamp::from_millis(200);
    let zero = sim.process(a);
    assert!(
        zero.heard
            .iter()
            .filter(|(t, _)| during(t))
            .all(|(_, from)| *from == b)
    );
    assert!(zero.heard.iter().filter(|(t, _)| during(t)).count() >= 8);
    let three = sim.process(NodeId::new(3));
    assert!(
        three
            .heard
            .iter()
            .filter(|(t, _)| during(t))
            .all(|(_, from)| *from == NodeId::new(2))
    );
    // After healing, 0 hears 3 again.
    assert!(
        zero.heard
            .iter()
            .any(|(t, from)| *t > Timestamp::from_millis(205) && *from == NodeId::new(3))
    );
    assert!(sim.stats().partitioned > 0);
    let events = recorder.take();
    assert!(events.iter().any(|e| matches!(
        e,
        SimEvent::Dropped {
            reason: DropReason::Partition,
            ..
        }
    )));
}

#[test]
fn crashed_nodes_hear_nothing_and_restart_fresh() {
    let config = SimConfig::builder(3).build().unwrap();
    let mut sim = Simulation::new(config, |_| Gossip::new(Duration::from_millis(10)));
    let victim = NodeId::new(2);
    sim.schedule(Duration::from_millis(100), Fault::Crash(victim));
    sim.schedule(Duration::from_millis(300), Fault::Restart(victim));
    sim.run_for(Duration::from_millis(250));
    assert!(!sim.is_up(victim));
    let ticks_while_down = sim.process(victim).ticks;
    let heard_while_down = sim.process(victim).heard.len();
    let others_heard_victim_late = sim
        .process(NodeId::new(0))
        .heard
        .iter()
        .any(|(t, from)| *from == victim && *t > Timestamp::from_millis(102));
    assert!(!others_heard_victim_late, "a crashed node sent a message");
    sim.run_for(Duration::from_millis(50)); // 300 ms: restarted
    assert!(sim.is_up(victim));
    let p = sim.process(victim);
    assert_eq!((p.starts, p.crashes), (2, 1));
    assert_eq!(
        ticks_while_down, 9,
        "timers set before the crash must not fire after it"
    );
    assert_eq!(heard_while_down, p.heard.len().min(heard_while_down));
    sim.run_for(Duration::from_millis(100));
    assert!(sim.process(victim).ticks > ticks_while_down);
    assert!(sim.stats().to_down_node > 0);
}

#[test]
fn paused_nodes_defer_work_until_they_resume() {
    let config = SimConfig::builder(2).build().unwrap();
    let mut sim = Simulation::new(config, |_| Gossip::new(Duration::from_millis(10)));
    let sleeper = NodeId::new(1);
    sim.schedule(
        Duration::from_millis(50),
        Fault::Pause {
            node: sleeper,
            duration: Duration::from_millis(100),
        },
    );
    sim.run_for(Duration::from_millis(149));
    let p = sim.process(sleeper);
    // It handled nothing in (50, 150) ms of true time...
    assert!(
        p.heard
            .iter()
            .all(|(t, _)| *t <= Timestamp::from_millis(50))
    );
    assert_eq!(p.ticks, 4);
    sim.run_for(Duration::from_millis(2));
    // ...and everything queued for it runs at the resume instant.
    let p = sim.process(sleeper);
    assert!(
        p.heard
            .iter()
            .filter(|(t, _)| *t == Timestamp::from_millis(150))
            .count()
            >= 9
    );
    assert_eq!(sim.stats().lost, 0);
}

#[test]
fn drifting_clocks_fire_timers_on_local_time() {
    let config = SimConfig::builder(2).drift(vec![1.0, 2.0]).build().unwrap();
    let mut sim = Simulation::new(config, |_| Gossip::new(Duration::from_millis(10)));
    sim.run_for(Duration::from_millis(100));
    assert_eq!(sim.process(NodeId::new(0)).ticks, 10);
    assert_eq!(sim.process(NodeId::new(1)).ticks, 20);
    assert_eq!(sim.clock(NodeId::new(1)).now(), Timestamp::from_millis(200));
}

#[test]
fn clocks_can_jump_backwards() {
    let config = SimConfig::builder(1).build().unwrap();
    let mut sim = Simulation::new(config, |_| Gossip::new(Duration::from_millis(10)));
    sim.schedule(
        Duration::from_millis(500),
        Fault::ClockJump {
            node: NodeId::new(0),
            nanos: -2_000_000_000,
        },
    );
    sim.run_for(Duration::from_secs(1));
    assert_eq!(
        sim.clock(NodeId::new(0)).now(),
        Timestamp::ZERO,
        "saturates at zero"
    );
    assert_eq!(
        sim.process(NodeId::new(0)).ticks,
        100,
        "timers run on true intervals"
    );
}

#[test]
fn network_changes_apply_mid_run() {
    let config = SimConfig::builder(2).build().unwrap();
    let mut sim = Simulation::new(config, |_| Gossip::new(Duration::from_millis(10)));
    let blackhole = Network::new(
        Latency::Constant(Duration::from_millis(1)),
        Loss::Independent(1.0),
    )
    .unwrap();
    sim.schedule(Duration::from_millis(100), Fault::Network(blackhole));
    sim.run_for(Duration::from_millis(200));
    let heard = &sim.process(NodeId::new(0)).heard;
    assert!(heard.iter().all(|(t, _)| *t <= Timestamp::from_millis(101)));
    // Ticks at 100, 110, ..., 200 ms on both nodes: the fault, scheduled first, runs first at 100 ms.
    assert_eq!(sim.stats().lost, 22);
}

#[test]
fn bad_configs_are_refused() {
    assert_eq!(
        SimConfig::builder(3)
            .drift(vec![1.0])
            .build()
            .unwrap_err()
            .to_string(),
        "sim.drift.len must be 0 or the node count (3), got 1"
    );
    assert_eq!(
        SimConfig::builder(2)
            .drift(vec![1.0, f64::NAN])
            .build()
            .unwrap_err()
            .to_string(),
        "sim.drift[1] must be finite and > 0, got NaN"
    );
    assert!(SimConfig::builder(2).drift(vec![1.0, 0.0]).build().is_err());
}

#[test]
fn faults_naming_unknown_nodes_are_harmless() {
    let config = SimConfig::builder(2).build().unwrap();
    let mut sim = Simulation::new(config, |_| Gossip::new(Duration::from_millis(10)));
    let ghost = NodeId::new(99);
    sim.schedule(Duration::from_millis(1), Fault::Crash(ghost));
    sim.schedule(
        Duration::from_millis(2),
        Fault::Pause {
            node: ghost,
            duration: Duration::MAX,
        },
    );
    sim.schedule(
        Duration::from_millis(3),
        Fault::ClockJump {
            node: ghost,
            nanos: i64::MIN,
        },
    );
    sim.schedule(
        Duration::from_millis(4),
        Fault::Partition(vec![vec![ghost]]),
    );
    sim.run_for(Duration::from_millis(50));
    assert_eq!(sim.stats().faults, 4);
    assert!(sim.process(NodeId::new(0)).ticks >= 4);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Whatever the faults, observed time never goes backwards and counters add up.
    #[test]
    fn time_is_monotone_and_messages_are_accounted(
        seed in any::<u64>(),
        faults in proptest::collection::vec((0u64..1_000, 0u8..6, 0u64..4), 0..12),
    ) {
        let recorder = Recorder::new();
        let network = Network::new(
            Latency::Normal { mean: Duration::from_millis(3), std_dev: Duration::from_millis(2) },
            Loss::Independent(0.05),
        ).unwrap();
        let config = SimConfig::builder(4).seed(seed).network(network).build().unwrap();
        let mut sim = Simulation::with_observer(config, |_| Gossip::new(Duration::from_millis(20)), recorder.clone());
        for (at, kind, node) in faults {
            let node = NodeId::new(node);
            let fault = match kind {
                0 => Fault::Crash(node),
                1 => Fault::Restart(node),
                2 => Fault::Pause { node, duration: Duration::from_millis(at % 200) },
                3 => Fault::Partition(vec![vec![node]]),
                4 => Fault::Heal,
                _ => Fault::ClockJump { node, nanos: -(at as i64) * 1_000_000 },
            };
            sim.schedule(Duration::from_millis(at), fault);
        }
        sim.run_for(Duration::from_secs(2));
        let mut last = Timestamp::ZERO;
        for event in recorder.take() {
            let at = match event {
                SimEvent::Delivered { at, .. } | SimEvent::Dropped { at, .. } | SimEvent::TimerFired { at, .. } | SimEvent::Fault { at, .. } => at,
                _ => last,
            };
            prop_assert!(at >= last);
            last = at;
        }
        let s = sim.stats();
        // Every message sent was delivered, dropped, or is still queued.
        prop_assert!(s.delivered + s.lost + s.partitioned + s.to_down_node <= s.sent);
    }
}
