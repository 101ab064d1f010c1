//! Prometheus rule files and OpenMetrics text.

use std::time::Duration;

use serde_yaml_ng::Value;
use steadfast_slo::prometheus::{
    AlertStyle, PrometheusSlo, RuleConvention, openmetrics, pyrra_metric_name, rules_yaml,
    rules_yaml_as,
};
use steadfast_slo::{BudgetStatus, Counts, Objective, pyrra_tiers, sloth_tiers};

fn slo() -> PrometheusSlo {
    PrometheusSlo {
        name: "checkout-api".into(),
        objective: Objective::new(0.999).unwrap(),
        period: Duration::from_secs(30 * 86_400),
        errors_query: r#"sum(rate(http_requests_total{job="checkout",code=~"5.."}[{{window}}]))"#
            .into(),
        total_query: r#"sum(rate(http_requests_total{job="checkout"}[{{window}}]))"#.into(),
        labels: [("team".to_string(), "payments".to_string())]
            .into_iter()
            .collect(),
    }
}

fn rules(yaml: &str) -> Vec<Value> {
    let doc: Value = serde_yaml_ng::from_str(yaml).unwrap();
    doc["groups"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_sequence().unwrap().clone())
        .collect()
}

#[test]
fn sloth_style_rules() {
    let yaml = rules_yaml(&slo(), &sloth_tiers(slo().period), AlertStyle::PerSeverity).unwrap();
    let rules = rules(&yaml);
    let records: Vec<&str> = rules.iter().filter_map(|r| r["record"].as_str()).collect();
    for w in ["5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d"] {
        assert!(
            records.contains(&format!("slo:sli_error:ratio_rate{w}").as_str()),
            "{w}: {records:?}"
        );
    }
    assert!(records.contains(&"slo:period_error_budget_remaining:ratio"));
    let five = rules
        .iter()
        .find(|r| r["record"].as_str() == Some("slo:sli_error:ratio_rate5m"))
        .unwrap();
    assert!(
        five["expr"]
            .as_str()
            .unwrap()
            .contains(r#"code=~"5.."}[5m]"#)
    );
    assert_eq!(five["labels"]["team"].as_str(), Some("payments"));
    let alerts: Vec<&Value> = rules.iter().filter(|r| r["alert"].is_string()).collect();
    assert_eq!(alerts.len(), 2);
    assert_eq!(alerts[0]["alert"].as_str(), Some("CheckoutApiBurnRatePage"));
    assert_eq!(alerts[0]["labels"]["severity"].as_str(), Some("page"));
    let page = alerts[0]["expr"].as_str().unwrap();
    assert!(
        page.contains("slo:sli_error:ratio_rate1h{slo=\"checkout-api\"} > (14.4 * 0.001)"),
        "{page}"
    );
    assert!(
        page.contains("slo:sli_error:ratio_rate30m{slo=\"checkout-api\"} > (6 * 0.001)"),
        "{page}"
    );
    assert_eq!(page.matches("\nor\n").count(), 1);
    let ticket = alerts[1]["expr"].as_str().unwrap();
    assert!(
        ticket.contains("ratio_rate1d{slo=\"checkout-api\"} > (3 * 0.001)"),
        "{ticket}"
    );
}

#[test]
fn pyrra_style_rules_have_holds() {
    let yaml = rules_yaml(
        &slo(),
        &pyrra_tiers(Duration::from_secs(28 * 86_400)),
        AlertStyle::PerTier,
    )
    .unwrap();
    let alerts: Vec<Value> = rules(&yaml)
        .into_iter()
        .filter(|r| r["alert"].is_string())
        .collect();
    assert_eq!(alerts.len(), 4);
    assert_eq!(alerts[0]["for"].as_str(), Some("2m"));
    assert_eq!(alerts[3]["for"].as_str(), Some("3h"));
    assert_eq!(alerts[3]["labels"]["long"].as_str(), Some("4d"));
    assert!(
        alerts[0]["expr"]
            .as_str()
            .unwrap()
            .contains("> (14 * 0.001)")
    );
}

#[test]
fn bad_inputs_are_config_errors() {
    let mut s = slo();
    s.errors_query = "sum(rate(errors[5m]))".into();
    assert_eq!(
        rules_yaml(&s, &sloth_tiers(s.period), AlertStyle::PerSeverity)
            .unwrap_err()
            .field(),
        "prometheus.errors_query"
    );
    let disabled: Vec<_> = sloth_tiers(slo().period)
        .into_iter()
        .map(|t| t.enabled(false))
        .collect();
    assert!(rules_yaml(&slo(), &disabled, AlertStyle::PerSeverity).is_err());
    let mut s = slo();
    s.name.clear();
    assert!(rules_yaml(&s, &sloth_tiers(s.period), AlertStyle::PerSeverity).is_err());
}

#[test]
fn openmetrics_exposition() {
    let o = Objective::new(0.99).unwrap();
    let busy = BudgetStatus::from_counts(
        o,
        Counts {
            good: 990,
            total: 1000,
        },
    );
    let idle = BudgetStatus::from_counts(o, Counts::default());
    let text = openmetrics(&[("a\"b", busy), ("idle", idle)]);
    assert!(
        text.contains("steadfast_slo_burn_rate_ratio{slo=\"a\\\"b\"} 1\n"),
        "{text}"
    );
    assert!(text.contains("steadfast_slo_window_units{slo=\"idle\"} 0\n"));
    assert!(
        !text.contains("steadfast_slo_sli_ratio{slo=\"idle\"}"),
        "no NaN samples: {text}"
    );
    assert!(!text.contains("NaN"));
    assert_eq!(text.matches("# TYPE").count(), 7);
    assert!(text.ends_with("# EOF\n"));
}

#[test]
fn pyrra_convention_uses_pyrra_names_and_labels() {
    let mut s = slo();
    s.period = Duration::from_secs(28 * 86_400);
    let yaml = rules_yaml_as(&s, &pyrra_tiers(s.period), RuleConvention::Pyrra).unwrap();
    let doc: Value = serde_yaml_ng::from_str(&yaml).unwrap();
    let groups = doc["groups"].as_sequence().unwrap();
    assert_eq!(groups[0]["name"].as_str(), Some("checkout-api"));
    assert_eq!(groups[1]["name"].as_str(), Some("checkout-api-generic"));
    let rules = rules(&yaml);
    let records: Vec<&str> = rules.iter().filter_map(|r| r["record"].as_str()).collect();
    // pyrra's windows for 28 days: 5m, 30m, 1h, 2h, 6h, 1d, 4d; named after the metric.
    for w in ["5m", "30m", "1h", "2h", "6h", "1d", "4d"] {
        assert!(
            records.contains(&format!("http_requests:burnrate{w}").as_str()),
            "{w}: {records:?}"
        );
    }
    assert!(records.contains(&"pyrra_objective") && records.contains(&"pyrra_window"));
    assert!(
        !records.iter().any(|r| r.starts_with("slo:")),
        "{records:?}"
    );
    let window = rules
        .iter()
        .find(|r| r["record"].as_str() == Some("pyrra_window"))
        .unwrap();
    assert_eq!(window["expr"].as_str(), Some("2419200"));
    let alerts: Vec<&Value> = rules.iter().filter(|r| r["alert"].is_string()).collect();
    assert_eq!(alerts.len(), 4);
    for a in &alerts {
        assert_eq!(a["alert"].as_str(), Some("ErrorBudgetBurn"));
        assert_eq!(a["labels"]["slo"].as_str(), Some("checkout-api"));
        assert_eq!(a["labels"]["team"].as_str(), Some("payments"));
    }
    let severities: Vec<&str> = alerts
        .iter()
        .map(|a| a["labels"]["severity"].as_str().unwrap())
        .collect();
    assert_eq!(severities, ["critical", "critical", "warning", "warning"]);
    assert_eq!(alerts[0]["for"].as_str(), Some("2m"));
    assert_eq!(alerts[1]["for"].as_str(), Some("15m"));
    assert_eq!(alerts[0]["labels"]["exhaustion"].as_str(), Some("2d"));
    assert_eq!(alerts[3]["labels"]["exhaustion"].as_str(), Some("28d"));
    assert_eq!(
        alerts[0]["expr"].as_str(),
        Some(
            "http_requests:burnrate5m{slo=\"checkout-api\"} > (14 * (1-0.999)) and http_requests:burnrate1h{slo=\"checkout-api\"} > (14 * (1-0.999))"
        )
    );
    // The sloth convention is the sloth-style file.
    assert_eq!(
        rules_yaml_as(&s, &sloth_tiers(s.period), RuleConvention::Sloth).unwrap(),
        rules_yaml(&s, &sloth_tiers(s.period), AlertStyle::PerSeverity).unwrap()
    );
    // pyrra names rules after a metric: a query without one is a config error.
    s.total_query = "vector({{window}})".into();
    assert_eq!(
        rules_yaml_as(&s, &pyrra_tiers(s.period), RuleConvention::Pyrra)
            .unwrap_err()
            .field(),
        "prometheus.total_query"
    );
}

#[test]
fn pyrra_metric_names() {
    for (q, m) in [
        ("sum(rate(http_requests_total[5m]))", Some("http_requests")),
        (
            "sum by (le) (irate(rpc_duration_seconds_count{a=\"b\"}[1m]))",
            Some("rpc_duration_seconds"),
        ),
        ("sum(increase( jobs_total [1h]))", Some("jobs")),
        ("sum(up)", None),
        ("rate()", None),
    ] {
        assert_eq!(pyrra_metric_name(q).as_deref(), m, "{q}");
    }
}
