//! The monitor through the public API: transitions at exact times, the pause
//! guard, flap damping, classification, deadlines and many threads.

use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use steadfast_core::{Recorder, Timestamp};
use steadfast_detect::{
    FailureClass, FailureDetector, FixedTimeout, FlapDampingConfig, Monitor, MonitorConfig,
    MonitorEvent, PeerState, PhiAccrual, PhiAccrualConfig, TransitionReason,
};

fn s(secs: u64) -> Timestamp {
    Timestamp::from_secs(secs)
}

fn ms(n: u64) -> Timestamp {
    Timestamp::from_millis(n)
}

fn fixed(secs: u64) -> FixedTimeout {
    FixedTimeout::new(Duration::from_secs(secs)).unwrap()
}

#[test]
fn a_crashed_peer_goes_suspect_unreachable_down_at_exact_times() {
    let recorder = Recorder::new();
    let monitor = Monitor::with_observer(
        MonitorConfig::builder()
            .pause_threshold(None)
            .build()
            .unwrap(),
        fixed(2),
        recorder.clone(),
    );
    for t in 0..=10 {
        monitor.heartbeat(1u32, s(t));
        monitor.heartbeat(2u32, s(t));
        assert!(monitor.sweep(s(t)).is_empty());
    }
    // Peer 1 crashes after its heartbeat at 10 s; peer 2 keeps going.
    for t in 11..=50 {
        monitor.heartbeat(2u32, s(t));
        let _ = monitor.sweep(s(t));
    }
    let transitions: Vec<_> = recorder
        .events()
        .into_iter()
        .filter_map(|e| match e {
            MonitorEvent::Transition(t) => Some(t),
            _ => None,
        })
        .collect();
    let summary: Vec<_> = transitions.iter().map(|t| (t.peer, t.to, t.at)).collect();
    assert_eq!(
        summary,
        vec![
            (1, PeerState::Suspect, s(12)),
            (1, PeerState::Unreachable, s(17)),
            (1, PeerState::Down, s(42)),
        ]
    );
    assert!(matches!(
        transitions[0].reason,
        TransitionReason::ThresholdCrossed { suspicion } if suspicion == 1.0
    ));
    let status = monitor.status(&1, s(400)).unwrap();
    assert_eq!(status.state, PeerState::Down);
    assert_eq!(status.class, Some(FailureClass::Permanent));
    assert_eq!(monitor.status(&2, s(50)).unwrap().state, PeerState::Healthy);
    // Coming back from Down.
    let back = monitor.heartbeat(1, s(60)).unwrap();
    assert_eq!((back.from, back.to), (PeerState::Down, PeerState::Healthy));
    assert_eq!(back.reason, TransitionReason::HeartbeatResumed);
    assert_eq!(
        monitor.status(&1, s(61)).unwrap().class,
        Some(FailureClass::Transient)
    );
}

#[test]
fn the_pause_guard_holds_back_convictions_for_one_threshold() {
    let recorder = Recorder::new();
    let monitor = Monitor::with_observer(
        MonitorConfig::builder().build().unwrap(),
        fixed(2),
        recorder.clone(),
    );
    for t in 0..=10 {
        monitor.heartbeat("a", s(t));
        monitor.heartbeat("b", s(t));
        let _ = monitor.sweep(s(t));
    }
    // The monitoring process stops for 8 s: its next sweep is at 18 s.
    let held = monitor.sweep(s(18));
    assert!(held.is_empty(), "{held:?}");
    assert!(monitor.is_holding_back(s(18)));
    assert!(recorder.events().iter().any(|e| matches!(
        e,
        MonitorEvent::ConvictionsHeldBack { at, pause, until }
            if *at == s(18) && *pause == Duration::from_secs(8) && *until == s(23)
    )));
    // Held convictions are due when the hold ends.
    assert_eq!(monitor.next_deadline(), Some(s(23)));
    // The heartbeats queued during the pause arrive: peer a was fine.
    monitor.heartbeat("a", s(18));
    for t in 19..=25 {
        monitor.heartbeat("a", s(t));
        let changes = monitor.sweep(s(t));
        if t < 23 {
            assert!(changes.is_empty(), "t={t} {changes:?}");
        } else if t == 23 {
            // Peer b really is gone: convicted once the hold ends, with the
            // times it really crossed each limit.
            let summary: Vec<_> = changes
                .iter()
                .map(|c| (c.peer, c.to, c.at, c.observed))
                .collect();
            assert_eq!(
                summary,
                vec![
                    ("b", PeerState::Suspect, s(12), s(23)),
                    ("b", PeerState::Unreachable, s(17), s(23)),
                ]
            );
        }
    }
    assert_eq!(monitor.status(&"a", s(25)).unwrap().class, None);
}

#[test]
fn a_flapping_peer_is_held_suspect_then_released() {
    let monitor = Monitor::new(
        MonitorConfig::builder()
            .pause_threshold(None)
            .damping(Some(FlapDampingConfig::builder().build().unwrap()))
            .build()
            .unwrap(),
        FixedTimeout::new(Duration::from_millis(1500)).unwrap(),
    );
    let mut t = 0;
    let mut recovered = 0;
    // Three outages of 2 s each, one second apart.
    for _ in 0..3 {
        monitor.heartbeat(7, ms(t));
        let _ = monitor.sweep(ms(t));
        t += 3500;
        let _ = monitor.sweep(ms(t - 1));
        if monitor.heartbeat(7, ms(t)).is_some() {
            recovered += 1;
        }
    }
    assert_eq!(recovered, 2, "the third recovery is damped");
    let status = monitor.status(&7, ms(t)).unwrap();
    assert_eq!(status.state, PeerState::Suspect);
    assert!(status.flapping);
    assert_eq!(status.class, Some(FailureClass::Intermittent));
    // It keeps heartbeating, held, until the sweep at the reuse time releases it.
    let until = status.held_until.unwrap();
    assert!(until > ms(t));
    while ms(t + 500) < until {
        t += 500;
        assert!(monitor.heartbeat(7, ms(t)).is_none());
        assert!(monitor.sweep(ms(t)).is_empty());
    }
    assert_eq!(monitor.next_deadline(), Some(until));
    let released = monitor.sweep(until);
    assert_eq!(released.len(), 1);
    assert_eq!(released[0].reason, TransitionReason::DampingReleased);
    assert_eq!(
        (released[0].to, released[0].at),
        (PeerState::Healthy, until)
    );
    let status = monitor.status(&7, until).unwrap();
    assert!(!status.flapping && status.held_until.is_none());
}

#[test]
fn next_deadline_follows_the_earliest_peer() {
    let monitor = Monitor::new(MonitorConfig::builder().build().unwrap(), fixed(5));
    assert_eq!(monitor.next_deadline(), None);
    monitor.heartbeat("x", s(10));
    assert_eq!(monitor.next_deadline(), Some(s(15)));
    monitor.heartbeat("y", s(12));
    assert_eq!(monitor.next_deadline(), Some(s(15)));
    monitor.heartbeat("x", s(13));
    // Conservative until the next sweep.
    assert_eq!(monitor.next_deadline(), Some(s(15)));
    assert!(monitor.sweep(s(14)).is_empty());
    assert_eq!(monitor.next_deadline(), Some(s(17)));
    assert!(monitor.remove(&"y"));
    assert!(!monitor.remove(&"y"));
    assert_eq!(monitor.len(), 1);
}

#[test]
fn removing_peers_keeps_the_others_intact() {
    let monitor = Monitor::new(
        MonitorConfig::builder().shards(1).build().unwrap(),
        fixed(5),
    );
    for peer in 0..10u32 {
        monitor.heartbeat(peer, s(u64::from(peer)));
    }
    for peer in [0u32, 4, 9, 5] {
        assert!(monitor.remove(&peer));
    }
    assert_eq!(monitor.len(), 6);
    for peer in [1u32, 2, 3, 6, 7, 8] {
        let status = monitor.status(&peer, s(20)).unwrap();
        assert_eq!(status.last_heartbeat, Some(s(u64::from(peer))));
    }
    let changes = monitor.sweep(s(20));
    let peers: Vec<_> = changes
        .iter()
        .filter(|c| c.to == PeerState::Suspect)
        .map(|c| c.peer)
        .collect();
    assert_eq!(peers, vec![1, 2, 3, 6, 7, 8]);
    assert!(monitor.status(&4, s(20)).is_none());
}

#[test]
fn backwards_heartbeats_and_sweeps_are_harmless() {
    let monitor = Monitor::new(MonitorConfig::builder().build().unwrap(), fixed(2));
    monitor.heartbeat(1, s(10));
    assert!(monitor.heartbeat(1, s(5)).is_none());
    let _ = monitor.sweep(s(11));
    assert!(monitor.sweep(s(3)).is_empty());
    assert!(!monitor.is_holding_back(s(3)));
    let status = monitor.status(&1, s(11)).unwrap();
    assert_eq!(status.last_heartbeat, Some(s(10)));
}

#[test]
fn config_errors_name_the_field() {
    let err = MonitorConfig::builder().shards(0).build().unwrap_err();
    assert_eq!(
        err.to_string(),
        "monitor.shards must be in [1, 4096], got 0"
    );
    let err = MonitorConfig::builder()
        .pause_threshold(Some(Duration::ZERO))
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "monitor.pause_threshold");
}

#[test]
fn many_threads_share_one_monitor() {
    let monitor = Arc::new(Monitor::new(
        MonitorConfig::builder()
            .shards(8)
            .pause_threshold(None)
            .build()
            .unwrap(),
        PhiAccrual::new(PhiAccrualConfig::builder().build().unwrap()),
    ));
    let threads: Vec<_> = (0..4u64)
        .map(|thread| {
            let monitor = Arc::clone(&monitor);
            std::thread::spawn(move || {
                for round in 0..50u64 {
                    for peer in 0..100u64 {
                        monitor.heartbeat(thread * 1000 + peer, s(round));
                    }
                    // Sweeps race with heartbeats; at time zero they convict nobody.
                    let _ = monitor.sweep(s(0));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(monitor.len(), 400);
    // Nobody was suspected while everyone heartbeated every second.
    assert!(monitor.sweep(s(49)).is_empty());
    // Then everyone goes silent: all 400 are suspected, each at its own
    // exact deadline.
    let changes = monitor.sweep(s(100));
    assert!(changes.windows(2).all(|w| w[0].at <= w[1].at));
    for state in [PeerState::Suspect, PeerState::Unreachable, PeerState::Down] {
        assert_eq!(changes.iter().filter(|c| c.to == state).count(), 400);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// The deadline the monitor reports is never later than the earliest
    /// deadline of any peer, and a sweep at it reports exactly the peers
    /// whose detectors stopped trusting them.
    #[test]
    fn next_deadline_never_misses_a_conviction(
        ops in proptest::collection::vec((0u8..6, 0u64..3_000), 1..120)
    ) {
        let monitor = Monitor::new(
            MonitorConfig::builder().pause_threshold(None).damping(None).build().unwrap(),
            FixedTimeout::new(Duration::from_millis(700)).unwrap(),
        );
        let mut models: Vec<Option<FixedTimeout>> = vec![None; 6];
        let mut suspected = [false; 6];
        let mut now = 0u64;
        for (peer, step) in ops {
            now += step;
            let at = ms(now);
            if step % 3 == 0 {
                let expected: Vec<u8> = (0..6u8)
                    .filter(|&p| !suspected[p as usize]
                        && models[p as usize].as_ref().is_some_and(|m| !m.is_available(at)))
                    .collect();
                let earliest = (0..6)
                    .filter(|&p| !suspected[p])
                    .filter_map(|p| models[p].as_ref().and_then(|m| m.suspect_at()))
                    .min();
                if let (Some(next), Some(earliest)) = (monitor.next_deadline(), earliest) {
                    prop_assert!(next <= earliest);
                }
                let mut got: Vec<u8> = monitor.sweep(at).into_iter()
                    .filter(|t| t.to == PeerState::Suspect).map(|t| t.peer).collect();
                got.sort_unstable();
                prop_assert_eq!(&got, &expected);
                for p in got { suspected[p as usize] = true; }
            } else {
                let _ = monitor.heartbeat(peer, at);
                let model = models[peer as usize].get_or_insert_with(|| FixedTimeout::new(Duration::from_millis(700)).unwrap());
                let _ = model.heartbeat(at);
                suspected[peer as usize] = false;
            }
        }
    }
}
