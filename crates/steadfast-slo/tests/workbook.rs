//! The worked numbers of the SRE Workbook's "Alerting on SLOs" chapter.

use std::time::Duration;

use steadfast_core::{Recorder, Timestamp};
use steadfast_slo::{
    AlertEvent, AlertEventKind, AlertPolicy, BurnRateMonitor, Objective, Severity, pyrra_tiers,
    sloth_tiers, time_to_exhaustion, workbook_tiers,
};

const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);

fn days30() -> Duration {
    DAY * 30
}

fn slo() -> Objective {
    Objective::new(0.999).unwrap()
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

#[test]
fn recommended_tiers_are_14_4_6_and_1_with_short_windows_of_a_twelfth() {
    let tiers = workbook_tiers(days30());
    let expect = [
        (14.4, HOUR, Duration::from_secs(300), Severity::Page, 0.02),
        (
            6.0,
            HOUR * 6,
            Duration::from_secs(1800),
            Severity::Page,
            0.05,
        ),
        (1.0, DAY * 3, HOUR * 6, Severity::Ticket, 0.10),
    ];
    for (t, (rate, long, short, sev, spent)) in tiers.iter().zip(expect) {
        assert!(close(t.burn_rate(), rate, 1e-9), "{}", t.burn_rate());
        assert_eq!((t.long(), t.short(), t.severity()), (long, short, sev));
        assert!(close(t.budget_consumed(days30()), spent, 1e-12));
        // The error ratio threshold: 14.4 * 0.1% = 1.44%.
        assert!(close(t.error_ratio_threshold(slo()), rate * 0.001, 1e-12));
    }
}

#[test]
fn time_to_exhaustion_table() {
    // Burn rate, error ratio, time to exhaust a 30-day budget of 99.9%.
    for (rate, ratio, expect) in [
        (1.0, 0.001, DAY * 30),
        (2.0, 0.002, DAY * 15),
        (10.0, 0.01, DAY * 3),
        (1000.0, 1.0, Duration::from_secs(2592)),
    ] {
        assert!(close(slo().burn_rate(ratio), rate, 1e-9));
        let t = time_to_exhaustion(1.0, rate, days30()).unwrap();
        assert!(
            close(t.as_secs_f64(), expect.as_secs_f64(), 1e-3),
            "{rate}: {t:?}"
        );
    }
}

#[test]
fn detection_times_and_budget_consumed_at_detection() {
    let tiers = workbook_tiers(days30());
    // A 100% outage: 0.001 / 1.0 * window * burn rate.
    let outage: Vec<f64> = tiers
        .iter()
        .map(|t| t.detection_time(slo(), 1.0).unwrap().as_secs_f64())
        .collect();
    assert!(close(outage[0], 51.84, 1e-6));
    assert!(close(outage[1], 129.6, 1e-6));
    assert!(close(outage[2], 259.2, 1e-6));
    for (t, spent) in tiers.iter().zip([0.02, 0.05, 0.10]) {
        for ratio in [1.0, 0.5, 0.1, 0.05] {
            let at = t
                .budget_consumed_at_detection(slo(), days30(), ratio)
                .unwrap();
            assert!(close(at, spent, 1e-9), "{} at {ratio}: {at}", t.name());
        }
    }
    // Exactly the threshold ratio of the fast tier never exceeds it (the rules
    // compare with `>`); just above it takes (almost) the whole hour.
    assert_eq!(tiers[0].detection_time(slo(), 0.0144), None);
    assert!(close(
        tiers[0]
            .detection_time(slo(), 0.0144 * 1.001)
            .unwrap()
            .as_secs_f64(),
        3600.0 / 1.001,
        1e-6
    ));
    // 0.11% (burn rate 1.1) is only caught by the 3-day tier, after 3 days / 1.1;
    // 0.1% exactly (burn rate 1) never exceeds that tier's threshold.
    let policy = AlertPolicy::builder(slo(), days30()).build().unwrap();
    let d = policy.detection(0.0011).unwrap();
    assert_eq!(d.tier, 2);
    assert!(close(d.after.as_secs_f64(), 3.0 * 86_400.0 / 1.1, 1e-3));
    assert_eq!(policy.detection(0.001), None);
    assert_eq!(policy.detection(0.0005), None);
}

#[test]
fn sloth_and_pyrra_presets() {
    let sloth = sloth_tiers(days30());
    let rates: Vec<f64> = sloth.iter().map(|t| t.burn_rate()).collect();
    for (r, e) in rates.iter().zip([14.4, 6.0, 3.0, 1.0]) {
        assert!(close(*r, e, 1e-9), "{rates:?}");
    }
    assert_eq!(sloth[2].short(), HOUR * 2);
    let pyrra = pyrra_tiers(DAY * 28);
    let got: Vec<(f64, Duration, Duration)> = pyrra
        .iter()
        .map(|t| (t.burn_rate(), t.long(), t.short()))
        .collect();
    assert_eq!(
        got,
        [
            (14.0, HOUR, Duration::from_secs(300)),
            (7.0, HOUR * 6, Duration::from_secs(1800)),
            (2.0, DAY, HOUR * 2),
            (1.0, DAY * 4, HOUR * 6),
        ]
    );
    // Scaled to 30 days: 1h becomes 64m (rounded to the minute), 4d becomes 4d6h51m.
    let p30 = pyrra_tiers(days30());
    assert_eq!(p30[0].long(), Duration::from_secs(64 * 60));
    assert_eq!(p30[3].long(), Duration::from_secs(6171 * 60));
}

/// Feeds a clean hour-long baseline then a constant error ratio, one batch per second,
/// and returns the seconds from the start of the errors to the first firing of each tier.
fn simulate(ratio: f64, seconds: u64, policy: AlertPolicy) -> Vec<(usize, u64)> {
    let events = Recorder::<AlertEvent>::new();
    let mut m = BurnRateMonitor::new(policy).with_observer(events.clone());
    let start = 4 * 86_400; // past the longest window of clean traffic
    let mut t = 0;
    while t < start {
        let _ = m.record_at(Timestamp::from_secs(t), 1000, 1000);
        t += 10;
    }
    let _ = m.evaluate_at(Timestamp::from_secs(start));
    assert!(events.is_empty());
    let bad_per_sec = (100.0 * ratio).round() as u64;
    for s in 0..seconds {
        let at = Timestamp::from_secs(start + s);
        let _ = m.record_at(at, 100 - bad_per_sec, 100);
        let _ = m.evaluate_at(at);
    }
    events
        .events()
        .iter()
        .filter(|e| e.kind == AlertEventKind::Fired)
        .map(|e| (e.tier, e.at.as_nanos() / 1_000_000_000 - start))
        .collect()
}

#[test]
fn monitor_detects_a_total_outage_as_predicted() {
    let policy = AlertPolicy::builder(slo(), days30())
        .silence_slower(false)
        .build()
        .unwrap();
    let fired = simulate(1.0, 400, policy);
    // Baseline traffic ran at 100 events/s, the same as during the outage, so the
    // windows see the predicted ratios; buckets of 1/60 of a window bound the error.
    let first = |tier| {
        fired
            .iter()
            .find(|(t, _)| *t == tier)
            .map(|(_, s)| *s)
            .unwrap()
    };
    assert!((50..=53).contains(&first(0)), "{fired:?}");
    assert!((127..=132).contains(&first(1)), "{fired:?}");
    assert!((255..=262).contains(&first(2)), "{fired:?}");
}

#[test]
fn faster_tier_silences_slower_ones() {
    let policy = AlertPolicy::builder(slo(), days30()).build().unwrap();
    let fired = simulate(1.0, 400, policy);
    assert_eq!(
        fired.iter().map(|f| f.0).collect::<Vec<_>>(),
        [0],
        "{fired:?}"
    );
}

#[test]
fn slow_burn_only_fires_the_ticket_tier() {
    // 0.3% errors: burn rate 3, below both page tiers.
    let policy = AlertPolicy::builder(slo(), days30())
        .buckets_per_window(12)
        .build()
        .unwrap();
    let fired = simulate(0.003, 0, policy.clone());
    assert!(fired.is_empty());
    assert_eq!(policy.detection(0.003).unwrap().tier, 2);
}

#[test]
fn min_traffic_guard_and_disabled_tiers() {
    let tiers: Vec<_> = workbook_tiers(days30())
        .into_iter()
        .enumerate()
        .map(|(i, t)| t.enabled(i != 0))
        .collect();
    let policy = AlertPolicy::builder(slo(), days30())
        .tiers(tiers)
        .min_events(1_000_000)
        .build()
        .unwrap();
    let mut m = BurnRateMonitor::new(policy);
    for s in 0..600 {
        let _ = m.record_at(Timestamp::from_secs(s), 0, 10);
    }
    let states = m.evaluate_at(Timestamp::from_secs(600)).to_vec();
    assert!(states.iter().all(|s| !s.firing), "{states:?}");
    assert!(states[1].long_burn.unwrap() > 900.0);
    assert_eq!(m.firing_severity(), None);
}

#[test]
fn no_traffic_gives_none_and_no_alert() {
    let policy = AlertPolicy::builder(slo(), days30()).build().unwrap();
    let mut m = BurnRateMonitor::new(policy);
    let states = m.evaluate_at(Timestamp::from_secs(100));
    assert!(
        states
            .iter()
            .all(|s| s.long_burn.is_none() && s.short_burn.is_none() && !s.firing)
    );
}

#[test]
fn alerts_resolve_when_errors_stop_and_time_going_backwards_is_harmless() {
    let events = Recorder::<AlertEvent>::new();
    let policy = AlertPolicy::builder(slo(), days30()).build().unwrap();
    let mut m = BurnRateMonitor::new(policy).with_observer(events.clone());
    for s in 0..120 {
        let _ = m.record_at(Timestamp::from_secs(s), 0, 100);
        let _ = m.evaluate_at(Timestamp::from_secs(s));
    }
    assert_eq!(m.firing_severity(), Some(Severity::Page));
    // Evaluating in the past changes nothing.
    let _ = m.evaluate_at(Timestamp::from_secs(10));
    assert_eq!(m.firing_severity(), Some(Severity::Page));
    for s in 120..1200 {
        let _ = m.record_at(Timestamp::from_secs(s), 100, 100);
        let _ = m.evaluate_at(Timestamp::from_secs(s));
    }
    // The 5-minute window recovers, so the fast tier resolves while the hour still burns
    // (the slower tiers, no longer silenced, take over until their short windows clear).
    assert!(!m.states()[0].firing);
    assert!(m.states()[0].long_burn.unwrap() > 14.4);
    let kinds: Vec<_> = events.events().iter().map(|e| (e.tier, e.kind)).collect();
    assert_eq!(kinds.first(), Some(&(0, AlertEventKind::Fired)));
    assert!(kinds.contains(&(0, AlertEventKind::Resolved)));
}
