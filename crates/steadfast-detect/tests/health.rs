//! The health report as a `/health` endpoint would serve it.
#![cfg(feature = "serde")]

use std::time::Duration;

use steadfast_core::ManualClock;
use steadfast_detect::{CheckResult, Criticality, HealthChecks, HealthReport, HealthStatus, Probe};

#[test]
fn the_report_serializes_to_json_and_back() {
    let clock = ManualClock::new();
    let mut health = HealthChecks::with_clock(clock.clone());
    health
        .add(
            "main-loop",
            Probe::Liveness,
            Criticality::Critical,
            CheckResult::pass,
        )
        .unwrap();
    let slow = clock.clone();
    health
        .add_dependency(
            "postgres",
            Criticality::Critical,
            Duration::from_millis(200),
            move || {
                slow.advance(Duration::from_millis(250));
                CheckResult::pass()
            },
        )
        .unwrap();
    health
        .add("disk", Probe::Readiness, Criticality::NonCritical, || {
            CheckResult::warn("91% full")
        })
        .unwrap();
    let report = health.report(Probe::Readiness);
    assert_eq!(report.status, HealthStatus::Unhealthy);
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["status"], "unhealthy");
    assert_eq!(json["probe"], "readiness");
    assert_eq!(json["checks"][1]["name"], "postgres");
    assert_eq!(json["checks"][1]["status"], "fail");
    assert_eq!(json["checks"][1]["duration_ms"], 250.0);
    assert_eq!(json["checks"][2]["status"], "warn");
    assert_eq!(
        json["reasons"][0],
        "postgres (critical): timed out: took 250ms, limit 200ms"
    );
    let back: HealthReport = serde_json::from_value(json).unwrap();
    assert_eq!(back, report);

    let live = health.report(Probe::Liveness);
    assert_eq!(live.checks.len(), 1);
    assert_eq!(live.status.http_status(), 200);
}
