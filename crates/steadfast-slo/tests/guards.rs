//! The guards around burn-rate tiers: the strict threshold, latched silencing
//! after an outage, and the warm-up guard, on a manual clock.

use std::time::Duration;

use steadfast_core::{ManualClock, Recorder, Timestamp};
use steadfast_slo::prometheus::{AlertStyle, PrometheusSlo, rules_yaml};
use steadfast_slo::{
    AlertEvent, AlertEventKind, AlertPolicy, BurnRateMonitor, BurnRateTier, Objective, Severity,
};

const DAY: Duration = Duration::from_secs(86_400);

fn days30() -> Duration {
    DAY * 30
}

fn slo() -> Objective {
    Objective::new(0.999).unwrap()
}

#[test]
fn threshold_is_strict_as_in_the_exported_rules() {
    let o = Objective::new(0.99).unwrap();
    let minute = Duration::from_secs(60);
    let tier = BurnRateTier::new("t", minute, minute, 10.0, Severity::Page);
    // The boundary is exact in binary: 10 bad of 100 is the threshold 10 * 0.01.
    assert_eq!(10.0_f64 / 100.0, 10.0 * 0.01);
    let policy = AlertPolicy::builder(o, days30())
        .tiers(vec![tier.clone()])
        .build()
        .unwrap();
    let mut at_threshold = BurnRateMonitor::new(policy.clone());
    let _ = at_threshold.record_at(Timestamp::from_secs(1), 90, 100);
    let s = at_threshold.evaluate_at(Timestamp::from_secs(1))[0];
    assert!((s.long_burn.unwrap() - 10.0).abs() < 1e-9);
    assert!(!s.active && !s.firing, "equal to the threshold: {s:?}");

    let mut above = BurnRateMonitor::new(policy);
    let _ = above.record_at(Timestamp::from_secs(1), 89, 100);
    assert!(above.evaluate_at(Timestamp::from_secs(1))[0].firing);

    // The rule file says the same: `>` against 10 * 0.01.
    let yaml = rules_yaml(
        &PrometheusSlo {
            name: "x".into(),
            objective: o,
            period: days30(),
            errors_query: "sum(rate(e[{{window}}]))".into(),
            total_query: "sum(rate(t[{{window}}]))".into(),
            labels: Default::default(),
        },
        &[tier],
        AlertStyle::PerSeverity,
    )
    .unwrap();
    assert!(
        yaml.contains("slo:sli_error:ratio_rate1m{slo=\"x\"} > (10 * 0.01)"),
        "{yaml}"
    );
    assert!(!yaml.contains(">="));
}

/// Four days of clean traffic, a ten-minute total outage, then clean traffic for
/// seven hours; one batch of 100 requests every ten seconds, evaluated each time.
fn outage(policy: AlertPolicy) -> (Vec<(usize, AlertEventKind, u64)>, u64) {
    let clock = ManualClock::new();
    let events = Recorder::<AlertEvent>::new();
    let mut m = BurnRateMonitor::with_clock(policy, clock.clone()).with_observer(events.clone());
    let step = Duration::from_secs(10);
    let start = 4 * 86_400;
    for _ in 0..start / 10 {
        clock.advance(step);
        let _ = m.record(100, 100);
    }
    let _ = m.evaluate();
    assert!(events.is_empty());
    let outage_start = clock.now_secs();
    for _ in 0..60 {
        clock.advance(step);
        let _ = m.record(0, 100);
        let _ = m.evaluate();
    }
    let recovered = clock.now_secs();
    for _ in 0..7 * 360 {
        clock.advance(step);
        let _ = m.record(100, 100);
        let _ = m.evaluate();
    }
    let log = events
        .events()
        .iter()
        .map(|e| {
            (
                e.tier,
                e.kind,
                e.at.as_nanos() / 1_000_000_000 - outage_start,
            )
        })
        .collect();
    (log, recovered - outage_start)
}

trait NowSecs {
    fn now_secs(&self) -> u64;
}

impl NowSecs for ManualClock {
    fn now_secs(&self) -> u64 {
        use steadfast_core::Clock;
        self.now().as_nanos() / 1_000_000_000
    }
}

#[test]
fn latched_silence_keeps_slower_tiers_quiet_after_recovery() {
    let policy = AlertPolicy::builder(slo(), days30()).build().unwrap();
    assert!(policy.latches_silence());
    let (log, recovered) = outage(policy);
    // Only the fast page fires, and it resolves within its 5-minute short window
    // of the recovery; the 6h page and the 3d ticket, silenced during the outage,
    // stay silent until their own windows clear.
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!((log[0].0, log[0].1), (0, AlertEventKind::Fired));
    assert!(log[0].2 <= 60, "{log:?}");
    assert_eq!((log[1].0, log[1].1), (0, AlertEventKind::Resolved));
    assert!(
        log[1].2 > recovered && log[1].2 <= recovered + 310,
        "{log:?}"
    );
}

#[test]
fn unlatched_silence_pages_after_recovery() {
    // The behaviour latching prevents: once the fast tier clears, the 6h tier,
    // whose 30-minute short window still holds the outage, pages after recovery.
    let policy = AlertPolicy::builder(slo(), days30())
        .latch_silence(false)
        .build()
        .unwrap();
    let (log, recovered) = outage(policy);
    let late_page = log
        .iter()
        .find(|e| e.0 == 1 && e.1 == AlertEventKind::Fired)
        .expect("the 6h tier fires once the 1h tier clears");
    assert!(late_page.2 > recovered, "{log:?}");
    // ... and once that clears too, the 3-day ticket opens hours after recovery.
    assert!(
        log.iter()
            .any(|e| e.0 == 2 && e.1 == AlertEventKind::Fired && e.2 > recovered + 1700),
        "{log:?}"
    );
}

#[test]
fn latched_tier_fires_again_in_a_later_episode() {
    // The latch lasts one episode: after the 6h tier has cleared, a new slow burn
    // with no fast tier active fires it.
    let clock = ManualClock::new();
    let policy = AlertPolicy::builder(slo(), days30()).build().unwrap();
    let mut m = BurnRateMonitor::with_clock(policy, clock.clone());
    let step = Duration::from_secs(10);
    for _ in 0..4 * 8640 {
        clock.advance(step);
        let _ = m.record(1000, 1000);
    }
    for _ in 0..60 {
        clock.advance(step);
        let _ = m.record(0, 1000);
        let _ = m.evaluate();
    }
    assert!(m.states()[1].silenced);
    // Eight clean hours: every short window and the 6h window clear.
    for _ in 0..8 * 360 {
        clock.advance(step);
        let _ = m.record(1000, 1000);
        let _ = m.evaluate();
    }
    assert!(m.states().iter().all(|s| !s.active && !s.silenced));
    // 1% errors: burn rate 10, above the 6h tier (6) and below the 1h tier (14.4).
    let mut fired = false;
    for _ in 0..6 * 360 {
        clock.advance(step);
        let _ = m.record(990, 1000);
        fired |= m.evaluate()[1].firing;
    }
    assert!(fired);
}

#[test]
fn warm_up_waits_for_the_long_window() {
    let run = |warm_up: bool, backfill: bool| {
        let clock = ManualClock::starting_at(Timestamp::from_secs(1_000_000));
        let policy = AlertPolicy::builder(slo(), days30())
            .warm_up(warm_up)
            .build()
            .unwrap();
        let events = Recorder::<AlertEvent>::new();
        let mut m =
            BurnRateMonitor::with_clock(policy, clock.clone()).with_observer(events.clone());
        if backfill {
            // Clean traffic from an hour and a half before the start, replayed.
            for s in (0..5400).step_by(10) {
                let _ = m.record_at(Timestamp::from_secs(1_000_000 - 5400 + s), 100, 100);
            }
        }
        // A total outage from the start, evaluated every ten seconds for two hours.
        let mut warming = Vec::new();
        for _ in 0..720 {
            clock.advance(Duration::from_secs(10));
            let _ = m.record(0, 100);
            warming.push(m.evaluate()[0].warming_up);
        }
        let first = events
            .events()
            .iter()
            .find(|e| e.tier == 0 && e.kind == AlertEventKind::Fired)
            .map(|e| e.at.as_nanos() / 1_000_000_000 - 1_000_000);
        (first, warming)
    };
    let (cold, warming) = run(false, false);
    assert_eq!(cold, Some(10), "an empty window fires at once");
    assert!(warming.iter().all(|w| !w));
    let (warm, warming) = run(true, false);
    // Observed since the first record at +10 s: the 1h window is full at +3610 s.
    assert_eq!(warm, Some(3610));
    assert!(warming[0] && warming[359] && !warming[360]);
    // A backfill of older traffic counts as observed history.
    let (backfilled, _) = run(true, true);
    assert!(backfilled.is_some_and(|s| s < 300), "{backfilled:?}");
}

#[test]
fn warm_up_and_traffic_guards_together() {
    let policy = AlertPolicy::builder(slo(), days30())
        .warm_up(true)
        .min_events(1000)
        .build()
        .unwrap();
    assert!(policy.warms_up());
    let mut m = BurnRateMonitor::new(policy);
    // A full hour observed, but only 400 events in it: the traffic guard holds.
    for s in (0..=3600).step_by(9) {
        let _ = m.record_at(Timestamp::from_secs(s), 0, 1);
    }
    let s = m.evaluate_at(Timestamp::from_secs(3600))[0];
    assert!(!s.warming_up && !s.active, "{s:?}");
    let _ = m.record_at(Timestamp::from_secs(3600), 0, 1000);
    assert!(m.evaluate_at(Timestamp::from_secs(3600))[0].firing);
    assert_eq!(m.observed_since(), Some(Timestamp::from_secs(0)));
}

#[test]
fn warm_up_is_not_shortened_by_time_going_backwards() {
    let policy = AlertPolicy::builder(slo(), days30())
        .warm_up(true)
        .build()
        .unwrap();
    let mut m = BurnRateMonitor::new(policy);
    let _ = m.evaluate_at(Timestamp::from_secs(10_000));
    // An evaluation stamped earlier does not extend the observed history ...
    let _ = m.evaluate_at(Timestamp::from_secs(1_000));
    assert_eq!(m.observed_since(), Some(Timestamp::from_secs(10_000)));
    let _ = m.record_at(Timestamp::from_secs(10_010), 0, 100);
    assert!(m.evaluate_at(Timestamp::from_secs(10_010))[0].warming_up);
    // ... and a full hour later the tier may fire.
    let _ = m.record_at(Timestamp::from_secs(13_600), 0, 100);
    let s = m.evaluate_at(Timestamp::from_secs(13_600))[0];
    assert!(!s.warming_up && s.firing, "{s:?}");
}
