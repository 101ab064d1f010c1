//! The monitor through the public API: transitions at exact times, the pause
//! guard, flap damping, classification, deadlines and many threads.

use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use steadfast_core::{Clock, ManualClock, Recorder, Timestamp};
use steadfast_detect::{
    ChenConfig, ChenDetector, FailureClass, FailureDetector, FixedTimeout, FlapControl,
    FlapDampingConfig, Monitor, MonitorConfig, MonitorEvent, PeerState, PhiAccrual,
    PhiAccrualConfig, Sequence, Transition, TransitionReason,
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
    for control in [
        FlapControl::None,
        FlapControl::Hysteresis {
            enter: 8.0,
            exit: 1.0,
        },
        FlapControl::ConsecutiveSweeps {
            n: 1,
            m: 1,
            recover_after: 1,
        },
        FlapControl::Damping(FlapDampingConfig::builder().build().unwrap()),
    ] {
        let counted = matches!(control, FlapControl::ConsecutiveSweeps { .. });
        let monitor = Arc::new(Monitor::new(
            MonitorConfig::builder()
                .shards(8)
                .pause_threshold(None)
                .flap_control(control.clone())
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
        assert!(monitor.sweep(s(49)).is_empty(), "{control:?}");
        // Then everyone goes silent: all 400 are suspected, each at its own
        // exact deadline (at the deciding sweep when sweeps are counted).
        let changes = monitor.sweep(s(100));
        assert!(changes.windows(2).all(|w| w[0].at <= w[1].at));
        let count = |state| changes.iter().filter(|c| c.to == state).count();
        assert_eq!(count(PeerState::Suspect), 400, "{control:?}");
        let escalated = if counted { 0 } else { 400 };
        assert_eq!(count(PeerState::Unreachable), escalated, "{control:?}");
        assert_eq!(count(PeerState::Down), escalated, "{control:?}");
        if counted {
            let later = monitor.sweep(s(140));
            assert_eq!(later.len(), 800, "{control:?}");
        }
    }
}

fn monitor_with(control: FlapControl, timeout: Duration) -> Monitor<&'static str, FixedTimeout> {
    Monitor::new(
        MonitorConfig::builder()
            .pause_threshold(None)
            .flap_control(control)
            .build()
            .unwrap(),
        FixedTimeout::new(timeout).unwrap(),
    )
}

fn summary(changes: &[Transition<&'static str>]) -> Vec<(PeerState, Timestamp, TransitionReason)> {
    changes.iter().map(|c| (c.to, c.at, c.reason)).collect()
}

#[test]
fn flap_control_none_follows_every_blip() {
    let clock = ManualClock::new();
    let monitor = monitor_with(FlapControl::None, Duration::from_secs(2));
    for _ in 0..5 {
        monitor.heartbeat("p", clock.now());
        let outage_at = clock.now() + Duration::from_secs(2);
        clock.advance(Duration::from_secs(3));
        let changes = monitor.sweep(clock.now());
        assert_eq!(
            summary(&changes),
            vec![(
                PeerState::Suspect,
                outage_at,
                TransitionReason::ThresholdCrossed { suspicion: 1.0 }
            )]
        );
        assert!(!changes[0].flapping);
        // Back at once, however often it flaps.
        let back = monitor.heartbeat("p", clock.now()).unwrap();
        assert_eq!((back.to, back.flapping), (PeerState::Healthy, false));
        assert!(!monitor.status(&"p", clock.now()).unwrap().flapping);
    }
}

#[test]
fn flap_control_hysteresis_enters_at_its_threshold_and_needs_a_timely_heartbeat() {
    let clock = ManualClock::new();
    // Timeout 2 s: suspicion is elapsed / 2 s. Suspect at 1.5 (3 s of
    // silence); trusted again after a heartbeat that ends a silence below
    // 0.5 (1 s).
    let monitor = monitor_with(
        FlapControl::Hysteresis {
            enter: 1.5,
            exit: 0.5,
        },
        Duration::from_secs(2),
    );
    let start = clock.now();
    monitor.heartbeat("p", start);
    // Past the detector's own threshold, not past the enter threshold.
    assert_eq!(
        monitor.next_deadline(),
        Some(start + Duration::from_secs(3))
    );
    clock.advance(Duration::from_millis(2500));
    assert!(monitor.sweep(clock.now()).is_empty());
    assert_eq!(
        monitor.status(&"p", clock.now()).unwrap().state,
        PeerState::Healthy
    );
    clock.advance(Duration::from_millis(600));
    let changes = monitor.sweep(clock.now());
    assert_eq!(
        summary(&changes),
        vec![(
            PeerState::Suspect,
            start + Duration::from_secs(3),
            TransitionReason::ThresholdCrossed { suspicion: 1.5 }
        )]
    );
    assert!(!changes[0].flapping);
    // The heartbeat that ends the outage is late: held Suspect.
    clock.advance(Duration::from_millis(900));
    assert!(monitor.heartbeat("p", clock.now()).is_none());
    let status = monitor.status(&"p", clock.now()).unwrap();
    assert_eq!((status.state, status.flapping), (PeerState::Suspect, true));
    assert_eq!(status.held_until, None);
    assert!(
        monitor
            .sweep(clock.now() + Duration::from_millis(500))
            .is_empty()
    );
    // Late again (1.2 s, suspicion 0.6): still held.
    clock.advance(Duration::from_millis(1200));
    assert!(monitor.heartbeat("p", clock.now()).is_none());
    // On time (0.8 s, suspicion 0.4): trusted again.
    clock.advance(Duration::from_millis(800));
    let back = monitor.heartbeat("p", clock.now()).unwrap();
    assert_eq!(
        (back.from, back.to, back.reason, back.flapping),
        (
            PeerState::Suspect,
            PeerState::Healthy,
            TransitionReason::HeartbeatResumed,
            false
        )
    );
    // Once trusted, a late heartbeat below the enter threshold changes nothing.
    clock.advance(Duration::from_millis(2900));
    assert!(monitor.heartbeat("p", clock.now()).is_none());
    assert!(monitor.sweep(clock.now()).is_empty());
    assert!(!monitor.status(&"p", clock.now()).unwrap().flapping);
}

#[test]
fn flap_control_hysteresis_can_enter_below_the_detector_threshold() {
    let clock = ManualClock::new();
    let monitor = monitor_with(
        FlapControl::Hysteresis {
            enter: 0.5,
            exit: 0.1,
        },
        Duration::from_secs(2),
    );
    clock.advance(Duration::from_secs(7));
    let start = clock.now();
    monitor.heartbeat("p", start);
    // Suspicion is elapsed / 2 s: it reaches 0.5 after exactly 1 s.
    assert_eq!(
        monitor.next_deadline(),
        Some(start + Duration::from_secs(1))
    );
    let changes = monitor.sweep(start + Duration::from_millis(1200));
    assert_eq!(
        summary(&changes),
        vec![(
            PeerState::Suspect,
            start + Duration::from_secs(1),
            TransitionReason::ThresholdCrossed { suspicion: 0.5 }
        )]
    );
}

#[test]
fn flap_control_hysteresis_held_peer_escalates_when_silent_again() {
    let clock = ManualClock::new();
    let monitor = monitor_with(
        FlapControl::Hysteresis {
            enter: 1.0,
            exit: 0.25,
        },
        Duration::from_secs(2),
    );
    monitor.heartbeat("p", clock.now());
    clock.advance(Duration::from_secs(3));
    assert_eq!(monitor.sweep(clock.now()).len(), 1);
    assert!(monitor.heartbeat("p", clock.now()).is_none());
    // Silent again: it was held Suspect, so only the escalations follow.
    let silent_from = clock.now();
    clock.advance(Duration::from_secs(40));
    let changes = monitor.sweep(clock.now());
    assert_eq!(
        changes.iter().map(|c| (c.to, c.at)).collect::<Vec<_>>(),
        vec![
            (PeerState::Unreachable, silent_from + Duration::from_secs(7)),
            (PeerState::Down, silent_from + Duration::from_secs(32)),
        ]
    );
}

#[test]
fn flap_control_consecutive_sweeps_counts_failed_checks() {
    let clock = ManualClock::new();
    let recorder = Recorder::new();
    let monitor = Monitor::with_observer(
        MonitorConfig::builder()
            .pause_threshold(None)
            .flap_control(FlapControl::ConsecutiveSweeps {
                n: 2,
                m: 3,
                recover_after: 2,
            })
            .build()
            .unwrap(),
        FixedTimeout::new(Duration::from_millis(1500)).unwrap(),
        recorder.clone(),
    );
    let second = Duration::from_secs(1);
    let start = clock.now();
    monitor.heartbeat("p", start);
    assert_eq!(
        monitor.next_deadline(),
        Some(start + Duration::from_millis(1500))
    );
    // One blip: a single failed sweep, then heartbeats again.
    clock.advance(second * 2);
    assert!(monitor.sweep(clock.now()).is_empty());
    monitor.heartbeat("p", clock.now());
    for _ in 0..3 {
        clock.advance(second);
        monitor.heartbeat("p", clock.now());
        assert!(monitor.sweep(clock.now()).is_empty());
    }
    // The failure has left the window: the peer is due at its deadline again.
    assert_eq!(
        monitor.next_deadline(),
        Some(clock.now() + Duration::from_millis(1500))
    );
    // A real outage: suspected at the second failed sweep.
    clock.advance(second * 2);
    assert!(monitor.sweep(clock.now()).is_empty());
    clock.advance(second);
    let decided = clock.now();
    let changes = monitor.sweep(decided);
    assert_eq!(changes.len(), 1);
    assert_eq!(
        (changes[0].to, changes[0].at),
        (PeerState::Suspect, decided)
    );
    assert!(matches!(
        changes[0].reason,
        TransitionReason::ThresholdCrossed { suspicion } if suspicion == 2.0
    ));
    // Escalation counts from that sweep.
    clock.advance(second * 5);
    let changes = monitor.sweep(clock.now());
    assert_eq!(
        changes.iter().map(|c| (c.to, c.at)).collect::<Vec<_>>(),
        vec![(PeerState::Unreachable, decided + second * 5)]
    );
    // Heartbeats resume: held Suspect until two checks pass in a row.
    let back = monitor.heartbeat("p", clock.now()).unwrap();
    assert_eq!((back.to, back.flapping), (PeerState::Suspect, true));
    assert!(monitor.status(&"p", clock.now()).unwrap().flapping);
    assert!(monitor.sweep(clock.now()).is_empty());
    clock.advance(second);
    monitor.heartbeat("p", clock.now());
    let changes = monitor.sweep(clock.now());
    assert_eq!(
        summary(&changes),
        vec![(
            PeerState::Healthy,
            clock.now(),
            TransitionReason::DampingReleased
        )]
    );
    assert!(!monitor.status(&"p", clock.now()).unwrap().flapping);
    assert_eq!(
        monitor.status(&"p", clock.now()).unwrap().class,
        Some(FailureClass::Transient)
    );
    let seen = recorder
        .events()
        .iter()
        .filter(|e| matches!(e, MonitorEvent::Transition(_)))
        .count();
    assert_eq!(seen, 4);
}

#[test]
fn flap_control_damping_is_the_default_and_the_damping_shorthand() {
    let default = MonitorConfig::builder().build().unwrap();
    let damping = FlapDampingConfig::builder().build().unwrap();
    assert_eq!(
        default.flap_control(),
        &FlapControl::Damping(damping.clone())
    );
    let explicit = MonitorConfig::builder()
        .flap_control(FlapControl::Damping(damping.clone()))
        .build()
        .unwrap();
    assert_eq!(explicit, default);
    let none = MonitorConfig::builder().damping(None).build().unwrap();
    assert_eq!(none.flap_control(), &FlapControl::None);
    // Held after three quick flaps, released when the penalty decays.
    let clock = ManualClock::new();
    let monitor = monitor_with(FlapControl::Damping(damping), Duration::from_secs(1));
    let mut held = false;
    for _ in 0..3 {
        monitor.heartbeat("p", clock.now());
        clock.advance(Duration::from_secs(2));
        let _ = monitor.sweep(clock.now());
        held = monitor.heartbeat("p", clock.now()).is_none();
    }
    assert!(held);
    let status = monitor.status(&"p", clock.now()).unwrap();
    assert!(status.flapping);
    let release = status.held_until.unwrap();
    let mut released = Vec::new();
    while clock.now() < release + Duration::from_secs(1) {
        clock.advance(Duration::from_millis(500));
        // The sweep comes first: it releases the peer at the exact instant.
        released.extend(monitor.sweep(clock.now()));
        assert!(monitor.heartbeat("p", clock.now()).is_none());
    }
    assert_eq!(
        summary(&released),
        vec![(
            PeerState::Healthy,
            release,
            TransitionReason::DampingReleased
        )]
    );
}

#[test]
fn flap_control_settings_are_validated_by_name() {
    let bad = [
        (
            FlapControl::Hysteresis {
                enter: f64::NAN,
                exit: 0.0,
            },
            "monitor.flap_control.enter",
        ),
        (
            FlapControl::Hysteresis {
                enter: 1.0,
                exit: 2.0,
            },
            "monitor.flap_control.exit",
        ),
        (
            FlapControl::Hysteresis {
                enter: 1.0,
                exit: f64::NEG_INFINITY,
            },
            "monitor.flap_control.exit",
        ),
        (
            FlapControl::ConsecutiveSweeps {
                n: 1,
                m: 0,
                recover_after: 1,
            },
            "monitor.flap_control.m",
        ),
        (
            FlapControl::ConsecutiveSweeps {
                n: 1,
                m: 65,
                recover_after: 1,
            },
            "monitor.flap_control.m",
        ),
        (
            FlapControl::ConsecutiveSweeps {
                n: 4,
                m: 3,
                recover_after: 1,
            },
            "monitor.flap_control.n",
        ),
        (
            FlapControl::ConsecutiveSweeps {
                n: 0,
                m: 3,
                recover_after: 1,
            },
            "monitor.flap_control.n",
        ),
        (
            FlapControl::ConsecutiveSweeps {
                n: 1,
                m: 3,
                recover_after: 0,
            },
            "monitor.flap_control.recover_after",
        ),
    ];
    for (control, field) in bad {
        let err = MonitorConfig::builder()
            .flap_control(control.clone())
            .build()
            .unwrap_err();
        assert_eq!(err.field(), field, "{control:?}");
    }
    let err = MonitorConfig::builder()
        .flap_control(FlapControl::Hysteresis {
            enter: 1.0,
            exit: 2.0,
        })
        .build()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "monitor.flap_control.exit must be finite and at most monitor.flap_control.enter, got 2"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// The deadline the monitor reports is never later than the earliest
    /// deadline of any peer, and a sweep at it reports exactly the peers
    /// whose detectors stopped trusting them.
    #[test]
    fn next_deadline_never_misses_a_conviction(
        shards in 1usize..4,
        ops in proptest::collection::vec((0u8..6, 0u64..3_000), 1..120)
    ) {
        let monitor = Monitor::new(
            MonitorConfig::builder().shards(shards).pause_threshold(None).damping(None).build().unwrap(),
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
                // Right after a sweep the deadline is exact: the earliest
                // pending suspicion or escalation.
                let pending = (0..6)
                    .filter_map(|p| {
                        let model = models[p].as_ref()?;
                        let deadline = model.suspect_at()?;
                        Some(if suspected[p] {
                            // Unreachable 5 s after the suspicion, Down 30 s after.
                            let unreachable = deadline + Duration::from_secs(5);
                            if unreachable > at { unreachable } else { deadline + Duration::from_secs(30) }
                        } else {
                            deadline
                        })
                    })
                    .filter(|&t| t > at)
                    .min();
                if let Some(pending) = pending {
                    prop_assert_eq!(monitor.next_deadline(), Some(pending));
                }
            } else if step % 7 == 1 {
                let _ = monitor.remove(&peer);
                models[peer as usize] = None;
                suspected[peer as usize] = false;
            } else {
                let _ = monitor.heartbeat(peer, at);
                let model = models[peer as usize].get_or_insert_with(|| FixedTimeout::new(Duration::from_millis(700)).unwrap());
                let _ = model.heartbeat(at);
                suspected[peer as usize] = false;
            }
        }
    }
}

fn sequenced_monitor<D: FailureDetector + Clone>(detector: D) -> Monitor<&'static str, D> {
    Monitor::new(
        MonitorConfig::builder()
            .pause_threshold(None)
            .flap_control(FlapControl::None)
            .build()
            .unwrap(),
        detector,
    )
}

#[test]
fn stale_heartbeats_do_not_keep_a_silent_peer_alive() {
    let numbered = sequenced_monitor(fixed(2));
    let plain = sequenced_monitor(fixed(2));
    for n in 0..=4 {
        numbered.heartbeat_with_sequence("a", Sequence::new(1, n), s(n));
        plain.heartbeat("a", s(n));
    }
    // The sender dies after heartbeat 4; copies of old heartbeats keep
    // arriving (a retransmitting relay, a duplicating network).
    for t in 5..=12 {
        assert!(
            numbered
                .heartbeat_with_sequence("a", Sequence::new(1, t % 5), s(t))
                .is_none()
        );
        plain.heartbeat("a", s(t));
    }
    let changes = numbered.sweep(s(12));
    assert_eq!(
        summary(&changes),
        vec![
            (
                PeerState::Suspect,
                s(6),
                TransitionReason::ThresholdCrossed { suspicion: 1.0 }
            ),
            (
                PeerState::Unreachable,
                s(11),
                // As observed by the sweep at 12 s.
                TransitionReason::StillSilent {
                    silence: Duration::from_secs(6)
                }
            ),
        ]
    );
    // Without numbers, every copy looks like a sign of life.
    assert!(plain.sweep(s(12)).is_empty());
    let status = numbered.status(&"a", s(12)).unwrap();
    assert_eq!(status.last_heartbeat, Some(s(4)));
    assert_eq!(status.sequence, Some(Sequence::new(1, 4)));
    assert_eq!(status.stale_heartbeats, 8);
    assert_eq!(plain.status(&"a", s(12)).unwrap().stale_heartbeats, 0);
}

#[test]
fn an_overtaken_heartbeat_is_dropped_and_counted() {
    let monitor = sequenced_monitor(fixed(2));
    monitor.heartbeat_with_sequence("a", Sequence::new(0, 5), ms(1_000));
    // Heartbeat 4 was overtaken by 5 on the way.
    assert!(
        monitor
            .heartbeat_with_sequence("a", Sequence::new(0, 4), ms(1_010))
            .is_none()
    );
    // Exactly the highest number again: a duplicate.
    assert!(
        monitor
            .heartbeat_with_sequence("a", Sequence::new(0, 5), ms(1_020))
            .is_none()
    );
    let status = monitor.status(&"a", ms(1_020)).unwrap();
    assert_eq!(status.stale_heartbeats, 2);
    assert_eq!(status.last_heartbeat, Some(ms(1_000)));
    assert_eq!(status.suspect_at, Some(ms(3_000)));
}

#[test]
fn a_restarted_sender_is_taken_back_with_a_fresh_detector() {
    // Chen's detector estimates from the sender's numbers: had it kept the
    // old process's history, it would ignore the new process's heartbeat 0.
    let monitor = sequenced_monitor(ChenDetector::new(ChenConfig::builder().build().unwrap()));
    for n in 0..=20 {
        monitor.heartbeat_with_sequence("a", Sequence::new(7, n), s(n));
    }
    let changes = monitor.sweep(s(40));
    assert_eq!(changes.first().map(|c| c.to), Some(PeerState::Suspect));
    assert_eq!(
        monitor.status(&"a", s(40)).unwrap().state,
        PeerState::Unreachable
    );
    let back = monitor
        .heartbeat_with_sequence("a", Sequence::new(8, 0), s(41))
        .expect("the new process brings the peer back");
    assert_eq!(back.to, PeerState::Healthy);
    monitor.heartbeat_with_sequence("a", Sequence::new(8, 1), s(42));
    let status = monitor.status(&"a", s(42)).unwrap();
    assert_eq!(status.last_heartbeat, Some(s(42)));
    assert_eq!(status.sequence, Some(Sequence::new(8, 1)));
    assert!(status.suspect_at.is_some_and(|at| at > s(42)));
    // A heartbeat of the old process still in flight changes nothing.
    assert!(
        monitor
            .heartbeat_with_sequence("a", Sequence::new(7, 21), s(43))
            .is_none()
    );
    assert_eq!(monitor.status(&"a", s(43)).unwrap().stale_heartbeats, 1);
}

proptest! {
    /// Heartbeats numbered in the order they arrive change nothing: the
    /// monitor makes the same transitions as with plain heartbeats.
    #[test]
    fn in_order_numbers_make_the_same_transitions(
        gaps in proptest::collection::vec(100u64..6_000, 1..40),
        sweep_every in 500u64..3_000,
    ) {
        let detector = PhiAccrual::new(PhiAccrualConfig::builder().build().unwrap());
        let numbered = sequenced_monitor(detector.clone());
        let plain = sequenced_monitor(detector);
        let mut t = 0;
        let mut next_sweep = sweep_every;
        for (n, gap) in gaps.iter().enumerate() {
            t += gap;
            while next_sweep < t {
                prop_assert_eq!(numbered.sweep(ms(next_sweep)), plain.sweep(ms(next_sweep)));
                next_sweep += sweep_every;
            }
            prop_assert_eq!(
                numbered.heartbeat_with_sequence("a", Sequence::new(3, n as u64), ms(t)),
                plain.heartbeat("a", ms(t))
            );
        }
        prop_assert_eq!(numbered.sweep(ms(t + 60_000)), plain.sweep(ms(t + 60_000)));
    }
}

#[test]
fn duplicated_heartbeats_from_two_threads_are_accepted_once_at_most() {
    let monitor = Arc::new(sequenced_monitor(fixed(2)));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let monitor = Arc::clone(&monitor);
            std::thread::spawn(move || {
                for n in 0..1_000u64 {
                    monitor.heartbeat_with_sequence("a", Sequence::new(0, n), ms(n));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let status = monitor.status(&"a", ms(1_000)).unwrap();
    assert_eq!(status.sequence, Some(Sequence::new(0, 999)));
    // Every number arrived twice; at most one copy of each was accepted
    // (fewer when the other thread had already moved past it).
    assert!(status.stale_heartbeats >= 1_000, "{status:?}");
    assert!(status.stale_heartbeats < 2_000, "{status:?}");
}
