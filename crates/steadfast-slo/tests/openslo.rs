//! OpenSLO v1 documents: the specification's budgeting-method examples, and errors naming the field.

use std::time::Duration;

use steadfast_core::Timestamp;
use steadfast_slo::BudgetingMethod;
use steadfast_slo::calendar::CalendarUnit;
use steadfast_slo::openslo::{
    BudgetingMethodName, Indicator, Operator, TimeWindow, parse, parse_slo,
};

fn example(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/openslo/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[test]
fn occurrences_example() {
    let slo = parse_slo(&example("occurrences.yaml")).unwrap();
    assert_eq!(slo.name, "search-slo");
    assert_eq!(slo.service, "web-shop");
    assert_eq!(
        slo.time_window,
        TimeWindow::Rolling(Duration::from_secs(14 * 86_400))
    );
    assert_eq!(slo.budgeting_method, BudgetingMethodName::Occurrences);
    let o = &slo.objectives[0];
    assert_eq!(
        (o.op, o.value, o.objective.target()),
        (Some(Operator::Lt), Some(500.0), 0.99)
    );
    assert!(matches!(slo.indicator, Some(Indicator::Threshold(_))));
    let budget = slo.rolling_budget(0, 336).unwrap().unwrap();
    assert_eq!(budget.window(), Duration::from_secs(14 * 86_400));
}

#[test]
fn timeslices_example_with_calendar_window() {
    let slo = parse_slo(&example("timeslices.yaml")).unwrap();
    match &slo.time_window {
        TimeWindow::Calendar {
            count,
            unit,
            start,
            time_zone,
        } => {
            assert_eq!((*count, *unit), (1, CalendarUnit::Month));
            assert_eq!(start.to_string(), "2022-01-01T12:00:00");
            assert_eq!(time_zone, "America/New_York");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(slo.objectives.len(), 2);
    assert_eq!(
        slo.objectives[0].time_slice_window,
        Some(Duration::from_secs(60))
    );
    assert_eq!(
        slo.budgeting_method(0),
        Some(BudgetingMethod::Timeslices { slice_target: 0.99 })
    );
    let window = slo.calendar_window().unwrap().unwrap();
    let at: steadfast_slo::jiff::Timestamp = "2022-03-20T00:00:00Z".parse().unwrap();
    let p = window.period_containing(at).unwrap();
    // Periods start on the 1st at 12:00 New York time.
    assert_eq!(p.start.to_string(), "2022-03-01T17:00:00Z");
    assert_eq!(p.end.to_string(), "2022-04-01T16:00:00Z");
    assert!(slo.rolling_budget(0, 10).unwrap().is_none());
}

#[test]
fn ratio_timeslices_example_builds_a_budget_of_minute_slices() {
    let slo = parse_slo(&example("ratio-timeslices.yaml")).unwrap();
    assert!(matches!(
        slo.indicator,
        Some(Indicator::Ratio {
            good: Some(_),
            bad: None,
            ..
        })
    ));
    let mut budget = slo.rolling_budget(0, 0).unwrap().unwrap();
    assert_eq!(budget.method(), BudgetingMethod::RatioTimeslices);
    assert_eq!(budget.window(), Duration::from_secs(14 * 86_400));
    let _ = budget.record(Timestamp::from_secs(0), 99, 100);
    let _ = budget.record(Timestamp::from_secs(60), 1, 1);
    assert!((budget.status().sli.unwrap() - 0.995).abs() < 1e-9);
}

#[test]
fn multi_document_streams_skip_other_kinds() {
    let stream = format!(
        "apiVersion: openslo/v1\nkind: Service\nmetadata:\n  name: web-shop\nspec: {{}}\n---\n{}---\n{}",
        example("occurrences.yaml"),
        example("ratio-timeslices.yaml")
    );
    let slos = parse(&stream).unwrap();
    assert_eq!(
        slos.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["search-slo", "main-page"]
    );
    let broken = stream.replace("target: 0.99\n", "target: high\n");
    let err = parse(&broken).unwrap_err();
    assert_eq!(err.path(), "documents[1].spec.objectives[0].target");
    assert!(err.message().contains("finite number"), "{err}");
}

#[test]
fn errors_name_the_field() {
    let base = example("timeslices.yaml");
    let cases = [
        (
            base.replace("apiVersion: openslo/v1", "apiVersion: openslo/v2"),
            "apiVersion",
        ),
        (
            base.replace("  service: web-availability\n", ""),
            "spec.service",
        ),
        (
            base.replace("duration: 1M", "duration: 0M"),
            "spec.timeWindow[0].duration",
        ),
        (
            base.replace("duration: 1M", "duration: 1x"),
            "spec.timeWindow[0].duration",
        ),
        (
            base.replace("timeZone: America/New_York", "timeZone: Nowhere/Land"),
            "spec.timeWindow[0].calendar.timeZone",
        ),
        (
            base.replace("startTime: 2022-01-01 12:00:00", "startTime: yesterday"),
            "spec.timeWindow[0].calendar.startTime",
        ),
        (
            base.replace("budgetingMethod: Timeslices", "budgetingMethod: Sometimes"),
            "spec.budgetingMethod",
        ),
        (
            base.replace(
                "timeSliceTarget: 0.99\n      timeSliceWindow: 1m\n    - displayName: SLA",
                "timeSliceTarget: 1.5\n      timeSliceWindow: 1m\n    - displayName: SLA",
            ),
            "spec.objectives[0].timeSliceTarget",
        ),
        (
            base.replace(
                "      target: 0.99\n",
                "      targetPercent: 99\n      target: 0.99\n",
            ),
            "spec.objectives[1]",
        ),
        (
            base.replace("op: gt", "op: between"),
            "spec.objectives[0].op",
        ),
        (
            base.replace(
                "      timeSliceWindow: 1m\n  alertPolicies",
                "  alertPolicies",
            ),
            "spec.objectives[1].timeSliceWindow",
        ),
        (
            base.replace("isRolling: false", "isRolling: maybe"),
            "spec.timeWindow[0].isRolling",
        ),
        ("kind: SLO\n: : :".to_string(), "yaml"),
        ("[1, 2]".to_string(), "document"),
    ];
    for (yaml, path) in cases {
        let err = parse_slo(&yaml).unwrap_err();
        assert_eq!(err.path(), path, "{err}");
    }
    // A rolling window takes every unit of the spec's shorthand: M, Q and Y
    // roll over 30, 90 and 365 days, as the reference implementation reads them.
    for (text, days) in [("1M", 30), ("1Q", 90), ("1Y", 365), ("4w", 28), ("36h", 0)] {
        let yaml =
            example("ratio-timeslices.yaml").replace("duration: 2w", &format!("duration: {text}"));
        let expect = if days == 0 { 36 * 3600 } else { days * 86_400 };
        assert_eq!(
            parse_slo(&yaml).unwrap().time_window,
            TimeWindow::Rolling(Duration::from_secs(expect)),
            "{text}"
        );
    }
    // Seconds are not in the spec's shorthand; nor are other units.
    for text in ["30s", "5y", "1.5h", "0d", "h"] {
        let yaml =
            example("ratio-timeslices.yaml").replace("duration: 2w", &format!("duration: {text}"));
        let err = parse_slo(&yaml).unwrap_err();
        assert_eq!(err.path(), "spec.timeWindow[0].duration", "{text}: {err}");
    }
    // targetPercent works in place of target.
    let pct = example("occurrences.yaml").replace("target: 0.99", "targetPercent: 99.9");
    assert!((parse_slo(&pct).unwrap().objectives[0].objective.target() - 0.999).abs() < 1e-12);
}

#[test]
fn indicator_refs_resolve_to_sli_documents() {
    let stream = r#"
apiVersion: openslo/v1
kind: SLI
metadata:
  name: ok-ratio
spec:
  ratioMetric:
    counter: true
    bad:
      metricSource:
        type: Prometheus
        spec:
          query: sum(rate(http_requests_total{code=~"5.."}[1m]))
    total:
      metricSource:
        type: Prometheus
        spec:
          query: sum(rate(http_requests_total[1m]))
---
apiVersion: openslo/v1
kind: SLO
metadata:
  name: api
spec:
  service: api
  indicatorRef: ok-ratio
  timeWindow:
    - duration: 30d
      isRolling: true
  budgetingMethod: Occurrences
  objectives:
    - targetPercent: 99.95
"#;
    let slos = parse(stream).unwrap();
    assert_eq!(slos.len(), 1);
    match &slos[0].indicator {
        Some(Indicator::Ratio {
            good: None,
            bad: Some(bad),
            total,
        }) => {
            assert_eq!(bad.source_type.as_deref(), Some("Prometheus"));
            assert!(bad.query.as_deref().unwrap().contains("5.."));
            assert!(total.query.is_some());
        }
        other => panic!("{other:?}"),
    }
    let broken = stream.replace("    total:\n", "    sum:\n");
    assert_eq!(
        parse(&broken).unwrap_err().path(),
        "documents[0].spec.ratioMetric.total"
    );
}
