//! Prometheus rules for an SLO, and an OpenMetrics exposition of budget figures.
//!
//! [`rules_yaml`] writes a rule file in the shape the sloth generator uses:
//! one recording rule per window for the error ratio
//! (`slo:sli_error:ratio_rate<window>`), metadata rules (objective, error
//! budget, period, current and period burn rates, budget remaining), and the
//! multiwindow alerts: either one alert per severity whose expression is the
//! **or** of its tiers (sloth's style), or one alert per tier with a `for:`
//! hold (pyrra's style). Conditions are strict (`>`), as sloth and pyrra
//! write them and as [`crate::BurnRateMonitor`] evaluates them.
//!
//! [`rules_yaml_as`] with [`RuleConvention::Pyrra`] writes pyrra's own names
//! instead: recording rules `<metric>:burnrate<window>` (the total metric's
//! name without `_total` or `_count`), alerts `ErrorBudgetBurn` per tier with
//! `severity` `critical` or `warning`, `long`, `short` and `exhaustion`
//! labels, and the generic `pyrra_objective` and `pyrra_window` rules.
//!
//! Queries are templates in which `{{window}}` is
//! replaced by each window, as in `sum(rate(http_requests_total{code=~"5.."}[{{window}}]))`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;
use steadfast_core::ConfigError;

use crate::alert::{BurnRateTier, Severity};
use crate::budget::BudgetStatus;
use crate::objective::Objective;

/// What to write rules for.
#[derive(Debug, Clone, PartialEq)]
pub struct PrometheusSlo {
    /// The SLO's name, used in the `slo` label and in group names.
    pub name: String,
    /// The objective.
    pub objective: Objective,
    /// The budget period (such as 30 days).
    pub period: Duration,
    /// Bad events over `{{window}}`, such as `sum(rate(errors_total[{{window}}]))`.
    pub errors_query: String,
    /// All events over `{{window}}`.
    pub total_query: String,
    /// Extra labels on every rule.
    pub labels: BTreeMap<String, String>,
}

/// How alerts are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AlertStyle {
    /// One alert per severity, its tiers joined with `or` (as sloth writes).
    PerSeverity,
    /// One alert per tier, with the tier's `for:` hold (as pyrra writes).
    PerTier,
}

#[derive(Serialize)]
struct RuleFile {
    groups: Vec<Group>,
}

#[derive(Serialize)]
struct Group {
    name: String,
    rules: Vec<Rule>,
}

#[derive(Serialize)]
struct Rule {
    #[serde(skip_serializing_if = "Option::is_none")]
    record: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    alert: Option<String>,
    expr: String,
    #[serde(rename = "for", skip_serializing_if = "Option::is_none")]
    hold: Option<String>,
    labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
}

/// A duration in Prometheus notation: `5m`, `1h`, `30d`, `1h4m`.
///
/// ```
/// use std::time::Duration;
/// use steadfast_slo::prometheus::prometheus_duration;
/// assert_eq!(prometheus_duration(Duration::from_secs(300)), "5m");
/// assert_eq!(prometheus_duration(Duration::from_secs(30 * 86_400)), "30d");
/// assert_eq!(prometheus_duration(Duration::from_secs(3840)), "1h4m");
/// assert_eq!(prometheus_duration(Duration::ZERO), "0s");
/// ```
#[must_use]
pub fn prometheus_duration(d: Duration) -> String {
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, len) in [
        ("d", 86_400_000u128),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ] {
        if ms >= len {
            let _ = write!(out, "{}{unit}", ms / len);
            ms %= len;
        }
    }
    out
}

fn label_matcher(name: &str) -> String {
    format!("{{slo=\"{}\"}}", escape_label(name))
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Shortest text for `x` after rounding to 12 significant digits, so that
/// `1 - 0.999` prints as `0.001` and not `0.0010000000000000009`.
fn fmt_f64(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let rounded: f64 = format!("{x:.11e}").parse().unwrap_or(x);
    format!("{rounded}")
}

/// Writes the recording and alerting rules for `slo` with `tiers` as a Prometheus rule file.
///
/// # Errors
///
/// The name must be non-empty, the period positive, both queries must contain
/// `{{window}}`, and there must be at least one enabled tier.
///
/// ```
/// use std::time::Duration;
/// use steadfast_slo::prometheus::{rules_yaml, AlertStyle, PrometheusSlo};
/// use steadfast_slo::{workbook_tiers, Objective};
///
/// let days30 = Duration::from_secs(30 * 86_400);
/// let slo = PrometheusSlo {
///     name: "checkout".into(),
///     objective: Objective::new(0.999)?,
///     period: days30,
///     errors_query: r#"sum(rate(http_requests_total{code=~"5.."}[{{window}}]))"#.into(),
///     total_query: "sum(rate(http_requests_total[{{window}}]))".into(),
///     labels: Default::default(),
/// };
/// let yaml = rules_yaml(&slo, &workbook_tiers(days30), AlertStyle::PerSeverity)?;
/// assert!(yaml.contains("record: slo:sli_error:ratio_rate5m"));
/// assert!(yaml.contains("slo:sli_error:ratio_rate1h{slo=\"checkout\"} > (14.4 * 0.001)"));
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
pub fn rules_yaml(
    slo: &PrometheusSlo,
    tiers: &[BurnRateTier],
    style: AlertStyle,
) -> Result<String, ConfigError> {
    ConfigError::ensure(!slo.name.is_empty(), "prometheus.name", "\"\"", "non-empty")?;
    ConfigError::ensure(
        !slo.period.is_zero(),
        "prometheus.period",
        format!("{:?}", slo.period),
        "positive",
    )?;
    for (field, q) in [
        ("prometheus.errors_query", &slo.errors_query),
        ("prometheus.total_query", &slo.total_query),
    ] {
        ConfigError::ensure(
            q.contains("{{window}}"),
            field,
            q,
            "a query containing {{window}}",
        )?;
    }
    let tiers: Vec<&BurnRateTier> = tiers.iter().filter(|t| t.is_enabled()).collect();
    ConfigError::ensure(
        !tiers.is_empty(),
        "prometheus.tiers",
        0,
        "at least one enabled tier",
    )?;

    let mut base = slo.labels.clone();
    base.insert("slo".into(), slo.name.clone());
    let matcher = label_matcher(&slo.name);
    let mut windows: Vec<Duration> = tiers.iter().flat_map(|t| [t.short(), t.long()]).collect();
    windows.push(slo.period);
    windows.sort_unstable();
    windows.dedup();

    let record = |name: String, expr: String| Rule {
        record: Some(name),
        alert: None,
        expr,
        hold: None,
        labels: base.clone(),
        annotations: BTreeMap::new(),
    };
    let sli_rules = windows
        .iter()
        .map(|&w| {
            let pw = prometheus_duration(w);
            record(
                format!("slo:sli_error:ratio_rate{pw}"),
                format!(
                    "({})\n/\n({})",
                    slo.errors_query.replace("{{window}}", &pw),
                    slo.total_query.replace("{{window}}", &pw)
                ),
            )
        })
        .collect();
    let budget = fmt_f64(slo.objective.error_budget());
    let shortest = prometheus_duration(windows[0]);
    let period = prometheus_duration(slo.period);
    let meta_rules = vec![
        record(
            "slo:objective:ratio".into(),
            format!("vector({})", fmt_f64(slo.objective.target())),
        ),
        record("slo:error_budget:ratio".into(), format!("vector({budget})")),
        record(
            "slo:time_period:days".into(),
            format!("vector({})", fmt_f64(slo.period.as_secs_f64() / 86_400.0)),
        ),
        record(
            "slo:current_burn_rate:ratio".into(),
            format!(
                "slo:sli_error:ratio_rate{shortest}{matcher}\n/ on(slo) group_left\nslo:error_budget:ratio{matcher}"
            ),
        ),
        record(
            "slo:period_burn_rate:ratio".into(),
            format!(
                "slo:sli_error:ratio_rate{period}{matcher}\n/ on(slo) group_left\nslo:error_budget:ratio{matcher}"
            ),
        ),
        record(
            "slo:period_error_budget_remaining:ratio".into(),
            format!("1 - slo:period_burn_rate:ratio{matcher}"),
        ),
    ];

    let condition = |t: &BurnRateTier| {
        let rate = fmt_f64(t.burn_rate());
        format!(
            "(slo:sli_error:ratio_rate{long}{matcher} > ({rate} * {budget})\nand\nslo:sli_error:ratio_rate{short}{matcher} > ({rate} * {budget}))",
            long = prometheus_duration(t.long()),
            short = prometheus_duration(t.short()),
        )
    };
    let alert_name = |suffix: &str| {
        let camel: String = slo
            .name
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|p| !p.is_empty())
            .map(|p| {
                let mut cs = p.chars();
                cs.next()
                    .map(|c| c.to_ascii_uppercase().to_string() + cs.as_str())
                    .unwrap_or_default()
            })
            .collect();
        format!("{camel}{suffix}")
    };
    let mut alerts = Vec::new();
    match style {
        AlertStyle::PerSeverity => {
            for sev in [Severity::Page, Severity::Ticket] {
                let group: Vec<&&BurnRateTier> =
                    tiers.iter().filter(|t| t.severity() == sev).collect();
                if group.is_empty() {
                    continue;
                }
                let mut labels = base.clone();
                labels.insert("severity".into(), sev.as_str().into());
                let mut annotations = BTreeMap::new();
                annotations.insert(
                    "summary".into(),
                    format!("{} is burning its error budget too fast", slo.name),
                );
                alerts.push(Rule {
                    record: None,
                    alert: Some(alert_name(if sev == Severity::Page {
                        "BurnRatePage"
                    } else {
                        "BurnRateTicket"
                    })),
                    expr: group
                        .iter()
                        .map(|t| condition(t))
                        .collect::<Vec<_>>()
                        .join("\nor\n"),
                    hold: None,
                    labels,
                    annotations,
                });
            }
        }
        AlertStyle::PerTier => {
            for t in &tiers {
                let mut labels = base.clone();
                labels.insert("severity".into(), t.severity().as_str().into());
                labels.insert("long".into(), prometheus_duration(t.long()));
                labels.insert("short".into(), prometheus_duration(t.short()));
                let mut annotations = BTreeMap::new();
                annotations.insert("summary".into(), format!("{}: {}", slo.name, t.name()));
                alerts.push(Rule {
                    record: None,
                    alert: Some(alert_name("ErrorBudgetBurn")),
                    expr: condition(t),
                    hold: (!t.hold().is_zero()).then(|| prometheus_duration(t.hold())),
                    labels,
                    annotations,
                });
            }
        }
    }
    let group = |suffix: &str, rules| Group {
        name: format!("steadfast-slo-{}-{suffix}", slo.name),
        rules,
    };
    let file = RuleFile {
        groups: vec![
            group("sli-recordings", sli_rules),
            group("meta-recordings", meta_rules),
            group("alerts", alerts),
        ],
    };
    serde_yaml_ng::to_string(&file)
        .map_err(|e| ConfigError::new("prometheus.rules", e, "serializable"))
}

/// OpenMetrics text exposition of budget figures, one set of samples per named SLO.
/// Figures that are `None` (no traffic) are left out rather than written as NaN.
///
/// ```
/// use steadfast_slo::{BudgetStatus, Counts, Objective};
/// use steadfast_slo::prometheus::openmetrics;
/// let status = BudgetStatus::from_counts(Objective::new(0.99)?, Counts { good: 995, total: 1000 });
/// let text = openmetrics(&[("checkout", status)]);
/// assert!(text.contains("steadfast_slo_error_budget_remaining_ratio{slo=\"checkout\"} 0.5"));
/// assert!(text.ends_with("# EOF\n"));
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[must_use]
pub fn openmetrics(slos: &[(&str, BudgetStatus)]) -> String {
    type Getter = fn(&BudgetStatus) -> Option<f64>;
    let families: [(&str, &str, Getter); 7] = [
        (
            "steadfast_slo_objective_ratio",
            "The objective: promised good fraction.",
            |s| Some(s.objective.target()),
        ),
        (
            "steadfast_slo_sli_ratio",
            "Measured good fraction in the window.",
            |s| s.sli,
        ),
        (
            "steadfast_slo_error_budget_consumed_ratio",
            "Fraction of the error budget consumed.",
            |s| s.consumed,
        ),
        (
            "steadfast_slo_error_budget_remaining_ratio",
            "Fraction of the error budget left.",
            |s| s.remaining,
        ),
        (
            "steadfast_slo_burn_rate_ratio",
            "Error ratio over the error budget.",
            |s| s.burn_rate,
        ),
        (
            "steadfast_slo_window_good_units",
            "Good units (events or slices) in the window.",
            |s| Some(s.good as f64),
        ),
        (
            "steadfast_slo_window_units",
            "Counted units (events or slices) in the window.",
            |s| Some(s.total as f64),
        ),
    ];
    let mut out = String::new();
    for (name, help, get) in families {
        let _ = writeln!(out, "# TYPE {name} gauge");
        let _ = writeln!(out, "# HELP {name} {help}");
        for (slo, status) in slos {
            if let Some(v) = get(status) {
                let _ = writeln!(
                    out,
                    "{name}{{slo=\"{}\"}} {}",
                    escape_label(slo),
                    fmt_f64(v)
                );
            }
        }
    }
    out.push_str("# EOF\n");
    out
}

/// Whose naming and label conventions a rule file follows; see [`rules_yaml_as`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RuleConvention {
    /// sloth's: `slo:sli_error:ratio_rate<window>` recordings, `slo:*` metadata
    /// rules, one alert per severity (`page`, `ticket`) joining its tiers with `or`.
    Sloth,
    /// pyrra's: `<metric>:burnrate<window>` recordings, one `ErrorBudgetBurn`
    /// alert per tier with its `for:` hold and `severity` `critical` (pages) or
    /// `warning` (tickets), and the generic `pyrra_objective` and `pyrra_window`.
    Pyrra,
}

/// The metric pyrra names its recording rules after: the first metric inside
/// `rate(`, `irate(` or `increase(` in `query`, without a `_total` or `_count` suffix.
///
/// ```
/// use steadfast_slo::prometheus::pyrra_metric_name;
/// let q = r#"sum(rate(http_requests_total{job="api"}[{{window}}]))"#;
/// assert_eq!(pyrra_metric_name(q).as_deref(), Some("http_requests"));
/// assert_eq!(pyrra_metric_name("vector(1)"), None);
/// ```
#[must_use]
pub fn pyrra_metric_name(query: &str) -> Option<String> {
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    for func in ["rate(", "increase("] {
        let mut rest = query;
        while let Some(i) = rest.find(func) {
            // Skip longer names ending in the function's name, other than `irate`.
            let before = rest[..i].chars().next_back();
            let ok = before.is_none_or(|c| !is_name(c) || (func == "rate(" && c == 'i'));
            let after = rest[i + func.len()..].trim_start();
            let name: String = after.chars().take_while(|&c| is_name(c)).collect();
            if ok && !name.is_empty() && !name.starts_with(|c: char| c.is_ascii_digit()) {
                let name = name
                    .strip_suffix("_total")
                    .or_else(|| name.strip_suffix("_count"))
                    .unwrap_or(&name);
                return Some(name.to_string());
            }
            rest = &rest[i + func.len()..];
        }
    }
    None
}

/// Writes the rules for `slo` with `tiers` following `convention`.
/// [`RuleConvention::Sloth`] is [`rules_yaml`] with [`AlertStyle::PerSeverity`].
///
/// # Errors
///
/// As [`rules_yaml`]; for [`RuleConvention::Pyrra`] the total query must also
/// name a metric inside `rate(...)` or `increase(...)` (see [`pyrra_metric_name`]).
///
/// ```
/// use std::time::Duration;
/// use steadfast_slo::prometheus::{rules_yaml_as, PrometheusSlo, RuleConvention};
/// use steadfast_slo::{pyrra_tiers, Objective};
///
/// let days28 = Duration::from_secs(28 * 86_400);
/// let slo = PrometheusSlo {
///     name: "checkout".into(),
///     objective: Objective::new(0.999)?,
///     period: days28,
///     errors_query: r#"sum(rate(http_requests_total{code=~"5.."}[{{window}}]))"#.into(),
///     total_query: "sum(rate(http_requests_total[{{window}}]))".into(),
///     labels: Default::default(),
/// };
/// let yaml = rules_yaml_as(&slo, &pyrra_tiers(days28), RuleConvention::Pyrra)?;
/// assert!(yaml.contains("record: http_requests:burnrate5m"));
/// assert!(yaml.contains(
///     "http_requests:burnrate5m{slo=\"checkout\"} > (14 * (1-0.999)) and http_requests:burnrate1h{slo=\"checkout\"} > (14 * (1-0.999))"
/// ));
/// assert!(yaml.contains("record: pyrra_objective"));
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
pub fn rules_yaml_as(
    slo: &PrometheusSlo,
    tiers: &[BurnRateTier],
    convention: RuleConvention,
) -> Result<String, ConfigError> {
    match convention {
        RuleConvention::Sloth => rules_yaml(slo, tiers, AlertStyle::PerSeverity),
        RuleConvention::Pyrra => pyrra_rules_yaml(slo, tiers),
    }
}

fn pyrra_rules_yaml(slo: &PrometheusSlo, tiers: &[BurnRateTier]) -> Result<String, ConfigError> {
    // The shared checks (name, period, {{window}} in the queries, an enabled tier).
    rules_yaml(slo, tiers, AlertStyle::PerTier)?;
    let metric = pyrra_metric_name(&slo.total_query).ok_or_else(|| {
        ConfigError::new(
            "prometheus.total_query",
            &slo.total_query,
            "a query naming a metric inside rate(...) or increase(...)",
        )
    })?;
    let tiers: Vec<&BurnRateTier> = tiers.iter().filter(|t| t.is_enabled()).collect();
    let mut base = slo.labels.clone();
    base.insert("slo".into(), slo.name.clone());
    let matcher = label_matcher(&slo.name);
    let mut windows: Vec<Duration> = tiers.iter().flat_map(|t| [t.short(), t.long()]).collect();
    windows.sort_unstable();
    windows.dedup();
    let burnrate = |w: Duration| format!("{metric}:burnrate{}", prometheus_duration(w));
    let mut rules: Vec<Rule> = windows
        .iter()
        .map(|&w| {
            let pw = prometheus_duration(w);
            Rule {
                record: Some(burnrate(w)),
                alert: None,
                expr: format!(
                    "({})\n/\n({})",
                    slo.errors_query.replace("{{window}}", &pw),
                    slo.total_query.replace("{{window}}", &pw)
                ),
                hold: None,
                labels: base.clone(),
                annotations: BTreeMap::new(),
            }
        })
        .collect();
    let target = fmt_f64(slo.objective.target());
    for t in &tiers {
        let rate = fmt_f64(t.burn_rate());
        let mut labels = base.clone();
        labels.insert(
            "severity".into(),
            match t.severity() {
                Severity::Page => "critical",
                Severity::Ticket => "warning",
            }
            .into(),
        );
        labels.insert("long".into(), prometheus_duration(t.long()));
        labels.insert("short".into(), prometheus_duration(t.short()));
        // How long the whole budget lasts at this burn rate.
        let exhaustion = Duration::from_secs_f64(slo.period.as_secs_f64() / t.burn_rate());
        labels.insert(
            "exhaustion".into(),
            prometheus_duration(Duration::from_secs(exhaustion.as_secs())),
        );
        let mut annotations = BTreeMap::new();
        annotations.insert("summary".into(), format!("{}: {}", slo.name, t.name()));
        rules.push(Rule {
            record: None,
            alert: Some("ErrorBudgetBurn".into()),
            expr: format!(
                "{short}{matcher} > ({rate} * (1-{target})) and {long}{matcher} > ({rate} * (1-{target}))",
                short = burnrate(t.short()),
                long = burnrate(t.long()),
            ),
            hold: (!t.hold().is_zero()).then(|| prometheus_duration(t.hold())),
            labels,
            annotations,
        });
    }
    let generic = vec![
        Rule {
            record: Some("pyrra_objective".into()),
            alert: None,
            expr: target.clone(),
            hold: None,
            labels: base.clone(),
            annotations: BTreeMap::new(),
        },
        Rule {
            record: Some("pyrra_window".into()),
            alert: None,
            expr: slo.period.as_secs().to_string(),
            hold: None,
            labels: base.clone(),
            annotations: BTreeMap::new(),
        },
    ];
    let file = RuleFile {
        groups: vec![
            Group {
                name: slo.name.clone(),
                rules,
            },
            Group {
                name: format!("{}-generic", slo.name),
                rules: generic,
            },
        ],
    };
    serde_yaml_ng::to_string(&file)
        .map_err(|e| ConfigError::new("prometheus.rules", e, "serializable"))
}
