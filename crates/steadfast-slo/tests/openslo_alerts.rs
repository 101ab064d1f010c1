//! OpenSLO v1 alerting documents, services and composite SLOs, from the
//! specification's examples, and errors naming the field.

use std::time::Duration;

use steadfast_slo::Severity;
use steadfast_slo::openslo::{Indicator, Operator, TimeWindow, parse, parse_documents, parse_slo};

fn example(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/openslo/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

const HOUR: Duration = Duration::from_secs(3600);
const FIVE_MINUTES: Duration = Duration::from_secs(300);

#[test]
fn alerting_documents_resolve_across_the_stream() {
    let docs = parse_documents(&example("alerting.yaml")).unwrap();
    assert_eq!(docs.services.len(), 1);
    assert_eq!(docs.services[0].name, "my-rad-service");
    assert_eq!(
        docs.services[0].display_name.as_deref(),
        Some("My Rad Service")
    );
    assert_eq!(docs.notification_targets[0].target, "email");

    let c = &docs.alert_conditions[0];
    assert_eq!(c.name, "cpu-usage-breach");
    assert_eq!(c.severity, "page");
    assert_eq!(c.op, Some(Operator::Lte));
    assert_eq!(c.threshold, 2.0);
    assert_eq!(c.lookback_window, HOUR);
    assert_eq!(c.alert_after, FIVE_MINUTES);
    // `lte` asks for a burn rate below the threshold: not a burn-rate tier.
    assert_eq!(c.to_tier(), None);

    let p = &docs.alert_policies[0];
    assert_eq!(p.name, "AlertPolicy");
    assert!(p.alert_when_breaching && !p.alert_when_resolved && !p.alert_when_no_data);
    assert_eq!(p.condition_refs, ["cpu-usage-breach"]);
    assert_eq!(p.conditions.len(), 1);
    assert_eq!(&p.conditions[0], c);
    assert_eq!(p.target_refs, ["OnCallDevopsMailNotification"]);
    assert_eq!(
        p.notification_targets[0].name,
        "OnCallDevopsMailNotification"
    );

    let slo = &docs.slos[0];
    assert_eq!(slo.service, "my-rad-service");
    // By reference (resolved), inline, and a plain name defined elsewhere.
    assert_eq!(slo.alert_policy_refs, ["AlertPolicy", "defined-elsewhere"]);
    let names: Vec<&str> = slo.alert_policies.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["AlertPolicy", "high-priority"]);
    let inline = &slo.alert_policies[1];
    assert_eq!(inline.notification_targets[0].target, "slack");
    let tier = inline.conditions[0].to_tier().unwrap();
    assert_eq!(tier.name(), "memory-usage-breach");
    assert_eq!((tier.long(), tier.short()), (HOUR, FIVE_MINUTES));
    assert_eq!(tier.burn_rate(), 2.0);
    assert_eq!(tier.hold(), FIVE_MINUTES);
    assert_eq!(tier.severity(), Severity::Page);

    // parse() returns the same SLOs.
    assert_eq!(parse(&example("alerting.yaml")).unwrap(), docs.slos);
}

#[test]
fn composite_slo_objectives_carry_indicators_and_weights() {
    let slos = parse(&example("composite.yaml")).unwrap();
    let slo = &slos[0];
    assert!(slo.is_composite());
    assert_eq!(slo.indicator, None);
    assert_eq!(
        slo.time_window,
        TimeWindow::Rolling(Duration::from_secs(30 * 86_400))
    );
    let (a, b) = (&slo.objectives[0], &slo.objectives[1]);
    assert!(matches!(a.indicator, Some(Indicator::Ratio { .. })));
    assert_eq!(a.composite_weight, 3.0);
    assert_eq!(b.indicator_ref.as_deref(), Some("search-latency"));
    assert!(
        matches!(&b.indicator, Some(Indicator::Threshold(m)) if m.query.as_deref().unwrap().contains("search_seconds"))
    );
    assert_eq!(b.composite_weight, 1.0);
    assert_eq!(slo.composite_weights(), [0.75, 0.25]);
}

#[test]
fn composite_and_alerting_errors_name_the_field() {
    let composite = example("composite.yaml");
    let alerting = example("alerting.yaml");
    let cases: Vec<(String, &str)> = vec![
        (
            composite.replace("compositeWeight: 3", "compositeWeight: 0"),
            "documents[1].spec.objectives[0].compositeWeight",
        ),
        (
            composite.replace("compositeWeight: 3", "compositeWeight: fat"),
            "documents[1].spec.objectives[0].compositeWeight",
        ),
        (
            composite.replace("      indicatorRef: search-latency\n", ""),
            "documents[1].spec.objectives[1].indicator",
        ),
        (
            composite.replace(
                "  service: web-shop\n",
                "  service: web-shop\n  indicatorRef: search-latency\n",
            ),
            "documents[1].spec.indicatorRef",
        ),
        (
            alerting.replace(
                "threshold: 2\n    lookbackWindow",
                "threshold: -2\n    lookbackWindow",
            ),
            "documents[2].spec.condition.threshold",
        ),
        (
            alerting.replace(
                "lookbackWindow: 1h\n    alertAfter",
                "lookbackWindow: 60s\n    alertAfter",
            ),
            "documents[2].spec.condition.lookbackWindow",
        ),
        (
            alerting.replace("    alertAfter: 5m\n---", "    alertAfter: soon\n---"),
            "documents[2].spec.condition.alertAfter",
        ),
        (
            alerting.replace(
                "kind: burnrate\n    op: lte",
                "kind: errorrate\n    op: lte",
            ),
            "documents[2].spec.condition.kind",
        ),
        (
            alerting.replace("op: lte", "op: about"),
            "documents[2].spec.condition.op",
        ),
        (
            alerting.replace(
                "  severity: page\n  condition:\n    kind: burnrate\n    op: lte",
                "  condition:\n    kind: burnrate\n    op: lte",
            ),
            "documents[2].spec.severity",
        ),
        (
            alerting.replace("  target: email\n", ""),
            "documents[1].spec.target",
        ),
        (
            alerting.replace(
                "  alertWhenResolved: false\n",
                "  alertWhenResolved: nope\n",
            ),
            "documents[3].spec.alertWhenResolved",
        ),
        (
            alerting.replace(
                "    - conditionRef: cpu-usage-breach\n",
                "    - conditionRef: cpu-usage-breach\n    - conditionRef: another\n",
            ),
            "documents[3].spec.conditions",
        ),
        (
            alerting
                .replace(
                    "                op: gt\n",
                    "                op: gt\n                threshold: x\n",
                )
                .replace("                threshold: 2\n", ""),
            "documents[4].spec.alertPolicies[1].spec.conditions[0].spec.condition.threshold",
        ),
        (
            alerting.replace("              target: slack\n", ""),
            "documents[4].spec.alertPolicies[1].spec.notificationTargets[0].spec.target",
        ),
        (
            alerting.replace("kind: Service", "kind: Servce"),
            "documents[0].kind",
        ),
        (
            alerting.replace(
                "apiVersion: openslo/v1\nkind: Service",
                "apiVersion: openslo/v2\nkind: Service",
            ),
            "documents[0].apiVersion",
        ),
    ];
    for (yaml, path) in cases {
        let err = parse_documents(&yaml).unwrap_err();
        assert_eq!(err.path(), path, "{err}");
    }
}

#[test]
fn alert_after_defaults_to_zero_and_takes_zero() {
    let yaml = r#"
apiVersion: openslo/v1
kind: AlertCondition
metadata: { name: slow-burn }
spec:
  severity: ticket
  condition: { op: gt, threshold: 1, lookbackWindow: 3d }
"#;
    let docs = parse_documents(yaml).unwrap();
    let c = &docs.alert_conditions[0];
    assert_eq!(c.alert_after, Duration::ZERO);
    let tier = c.to_tier().unwrap();
    assert_eq!(tier.severity(), Severity::Ticket);
    assert_eq!(tier.short(), Duration::from_secs(6 * 3600));
    let zero =
        parse_documents(&yaml.replace("lookbackWindow: 3d", "lookbackWindow: 3d, alertAfter: 0m"))
            .unwrap();
    assert_eq!(zero.alert_conditions[0].alert_after, Duration::ZERO);
    // Rolling windows of a quarter or a year, and a numeric time slice in minutes.
    let slo = parse_slo(
        r#"
apiVersion: openslo/v1
kind: SLO
metadata: { name: q }
spec:
  service: s
  indicatorRef: x
  timeWindow: [{ duration: 1Q, isRolling: true }]
  budgetingMethod: Timeslices
  objectives: [{ target: 0.99, timeSliceTarget: 0.9, timeSliceWindow: 5 }]
"#,
    )
    .unwrap();
    assert_eq!(
        slo.time_window,
        TimeWindow::Rolling(Duration::from_secs(90 * 86_400))
    );
    assert_eq!(
        slo.objectives[0].time_slice_window,
        Some(Duration::from_secs(300))
    );
}
