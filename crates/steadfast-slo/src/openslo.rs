//! OpenSLO v1 documents, read from YAML.
//!
//! [`parse_documents`] reads a multi-document stream of `SLO`, `SLI`,
//! `Service`, `AlertPolicy`, `AlertCondition` and `AlertNotificationTarget`
//! documents and resolves the references between them (`indicatorRef`,
//! `alertPolicyRef`, `conditionRef`, `targetRef`); [`parse`] returns only the
//! SLOs. Alert conditions are `burnrate` conditions (`op`, `threshold`,
//! `lookbackWindow`, `alertAfter`); [`OpenSloAlertCondition::to_tier`] turns one
//! into a [`crate::BurnRateTier`]. Composite SLOs are read as the spec shapes
//! them: each objective carries its own `indicator` or `indicatorRef` and an
//! optional `compositeWeight` (default 1).
//!
//! For `SLO` documents: the time window (rolling, or
//! calendar-aligned with a start time and a time zone), the budgeting method
//! (`Occurrences`, `Timeslices`, `RatioTimeslices`), the objectives (`target`
//! or `targetPercent`, `op`, `value`, `timeSliceTarget`, `timeSliceWindow`)
//! and an inline `ratioMetric` or `thresholdMetric` indicator. Errors name the
//! field by its path, such as `spec.objectives[0].target`.
//!
//! Durations use OpenSLO's shorthand: a positive whole number and one of `m`,
//! `h`, `d`, `w`, `M`, `Q` or `Y` (the spec's list; [`parse_duration`] also
//! takes `s`, but time windows, look-back windows and `alertAfter` do not). A
//! rolling window of `M`, `Q` or `Y` has the fixed length the reference
//! implementation gives it (30, 90 and 365 days); a calendar window follows the
//! calendar. A numeric `timeSliceWindow` is in minutes, as the spec says.

use core::fmt;
use core::time::Duration;

use jiff::civil::DateTime;
use serde_yaml_ng::Value;

use crate::budget::{BudgetingMethod, RollingBudget};
use crate::calendar::{CalendarUnit, CalendarWindow};
use crate::objective::Objective;

/// A document that is not a valid OpenSLO v1 SLO: where and why.
///
/// ```
/// let err = steadfast_slo::openslo::parse_slo("apiVersion: openslo/v1\nkind: SLO\n").unwrap_err();
/// assert_eq!(err.path(), "metadata");
/// assert_eq!(err.to_string(), "metadata: required field is missing");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
#[non_exhaustive]
pub struct OpenSloError {
    path: String,
    message: String,
}

impl OpenSloError {
    fn new(path: impl Into<String>, message: impl Into<String>) -> OpenSloError {
        OpenSloError {
            path: path.into(),
            message: message.into(),
        }
    }

    /// The path of the bad field (`"yaml"` for a syntax error).
    #[must_use]
    pub fn path(&self) -> &str {
        &self.path
    }

    /// What is wrong with it.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// An OpenSLO duration: a fixed length, or a count of calendar units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OpenSloDuration {
    /// `s`, `m`, `h`, `d` or `w`.
    Fixed(Duration),
    /// `M`, `Q` or `Y`.
    Calendar(u32, CalendarUnit),
}

/// Parses OpenSLO duration shorthand such as `30d`, `1w`, `1M`.
///
/// # Errors
///
/// Anything but a positive whole number followed by one of `smhdwMQY`.
///
/// ```
/// use std::time::Duration;
/// use steadfast_slo::openslo::{parse_duration, OpenSloDuration};
/// assert_eq!(parse_duration("2w")?, OpenSloDuration::Fixed(Duration::from_secs(14 * 86_400)));
/// assert!(parse_duration("0d").is_err());
/// assert!(parse_duration("1.5h").is_err());
/// # Ok::<(), String>(())
/// ```
pub fn parse_duration(text: &str) -> Result<OpenSloDuration, String> {
    let bad = || format!("must be a duration such as 30d, 2w or 1M, got {text:?}");
    let unit = text.chars().last().ok_or_else(bad)?;
    let digits = &text[..text.len() - unit.len_utf8()];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.starts_with('0') {
        return Err(bad());
    }
    let n: u32 = digits.parse().map_err(|_| bad())?;
    let secs = |mult: u64| OpenSloDuration::Fixed(Duration::from_secs(u64::from(n) * mult));
    Ok(match unit {
        's' => secs(1),
        'm' => secs(60),
        'h' => secs(3600),
        'd' => secs(86_400),
        'w' => secs(7 * 86_400),
        'M' => OpenSloDuration::Calendar(n, CalendarUnit::Month),
        'Q' => OpenSloDuration::Calendar(n, CalendarUnit::Quarter),
        'Y' => OpenSloDuration::Calendar(n, CalendarUnit::Year),
        _ => return Err(bad()),
    })
}

/// The time window of an SLO.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum TimeWindow {
    /// A rolling window of a fixed length.
    Rolling(Duration),
    /// Calendar-aligned periods.
    Calendar {
        /// Units per period.
        count: u32,
        /// The unit.
        unit: CalendarUnit,
        /// The anchor, a civil date-time in the zone.
        start: DateTime,
        /// The IANA time zone.
        time_zone: String,
    },
}

/// An objective's comparison operator for threshold metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Operator {
    /// `lt`
    Lt,
    /// `lte`
    Lte,
    /// `gt`
    Gt,
    /// `gte`
    Gte,
}

/// One objective of an SLO.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenSloObjective {
    /// `displayName`.
    pub display_name: Option<String>,
    /// `op`.
    pub op: Option<Operator>,
    /// `value`: the threshold for threshold metrics.
    pub value: Option<f64>,
    /// The target (from `target`, or `targetPercent / 100`).
    pub objective: Objective,
    /// `timeSliceTarget`.
    pub time_slice_target: Option<f64>,
    /// `timeSliceWindow`.
    pub time_slice_window: Option<Duration>,
    /// `indicator`: the objective's own indicator, in a composite SLO.
    pub indicator: Option<Indicator>,
    /// `indicatorRef`: the name of the objective's indicator, in a composite SLO.
    pub indicator_ref: Option<String>,
    /// `compositeWeight`, in (0, inf); 1 when not given.
    pub composite_weight: f64,
}

/// Where an indicator's numbers come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricSource {
    /// `metricSource.type` (such as `Prometheus`).
    pub source_type: Option<String>,
    /// `metricSource.spec.query`, when it is a string.
    pub query: Option<String>,
}

/// An inline indicator.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Indicator {
    /// `ratioMetric`: good or bad events over total.
    Ratio {
        /// `good`.
        good: Option<MetricSource>,
        /// `bad`.
        bad: Option<MetricSource>,
        /// `total`.
        total: MetricSource,
    },
    /// `thresholdMetric`: one metric compared with each objective's `value`.
    Threshold(MetricSource),
}

/// An OpenSLO v1 SLO.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenSloSlo {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.displayName`.
    pub display_name: Option<String>,
    /// `spec.description`.
    pub description: Option<String>,
    /// `spec.service`.
    pub service: String,
    /// `spec.indicator`, when inline.
    pub indicator: Option<Indicator>,
    /// `spec.indicatorRef`.
    pub indicator_ref: Option<String>,
    /// `spec.timeWindow[0]`.
    pub time_window: TimeWindow,
    /// `spec.budgetingMethod`; time-slice targets come from the objective.
    pub budgeting_method: BudgetingMethodName,
    /// `spec.objectives`.
    pub objectives: Vec<OpenSloObjective>,
    /// `spec.alertPolicies`: inline policies, and referenced ones found in the same stream.
    pub alert_policies: Vec<OpenSloAlertPolicy>,
    /// The names in `spec.alertPolicies[].alertPolicyRef` (resolved or not).
    pub alert_policy_refs: Vec<String>,
}

/// The value of `spec.budgetingMethod`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BudgetingMethodName {
    /// `Occurrences`
    Occurrences,
    /// `Timeslices`
    Timeslices,
    /// `RatioTimeslices`
    RatioTimeslices,
}

impl fmt::Display for BudgetingMethodName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BudgetingMethodName::Occurrences => "Occurrences",
            BudgetingMethodName::Timeslices => "Timeslices",
            BudgetingMethodName::RatioTimeslices => "RatioTimeslices",
        })
    }
}

impl OpenSloSlo {
    /// The budgeting method of objective `i`, with its slice target.
    #[must_use]
    pub fn budgeting_method(&self, i: usize) -> Option<BudgetingMethod> {
        let o = self.objectives.get(i)?;
        Some(match self.budgeting_method {
            BudgetingMethodName::Occurrences => BudgetingMethod::Occurrences,
            BudgetingMethodName::Timeslices => BudgetingMethod::Timeslices {
                slice_target: o.time_slice_target?,
            },
            BudgetingMethodName::RatioTimeslices => BudgetingMethod::RatioTimeslices,
        })
    }

    /// Whether the objectives carry their own indicators (a composite SLO).
    #[must_use]
    pub fn is_composite(&self) -> bool {
        self.objectives
            .iter()
            .any(|o| o.indicator.is_some() || o.indicator_ref.is_some())
    }

    /// The objectives' weights normalised to sum to 1 (each `compositeWeight`
    /// over their sum), as a composite SLO weighs its objectives.
    #[must_use]
    pub fn composite_weights(&self) -> Vec<f64> {
        let sum: f64 = self.objectives.iter().map(|o| o.composite_weight).sum();
        self.objectives
            .iter()
            .map(|o| o.composite_weight / sum)
            .collect()
    }

    /// The calendar window, when the SLO has one.
    ///
    /// # Errors
    ///
    /// When the zone is unknown or the start is not valid in it.
    pub fn calendar_window(&self) -> Result<Option<CalendarWindow>, steadfast_core::ConfigError> {
        match &self.time_window {
            TimeWindow::Calendar {
                count,
                unit,
                start,
                time_zone,
            } => CalendarWindow::new(*count, *unit, time_zone, *start).map(Some),
            TimeWindow::Rolling(_) => Ok(None),
        }
    }

    /// A rolling budget for objective `i`: slices of `timeSliceWindow` for the time-slice
    /// methods, `buckets` buckets for occurrences. `None` for calendar windows or a missing objective.
    ///
    /// # Errors
    ///
    /// When the window and slice sizes make an invalid budget (such as a slice longer than the window).
    pub fn rolling_budget(
        &self,
        i: usize,
        buckets: usize,
    ) -> Result<Option<RollingBudget>, steadfast_core::ConfigError> {
        let TimeWindow::Rolling(window) = self.time_window else {
            return Ok(None);
        };
        let (Some(o), Some(method)) = (self.objectives.get(i), self.budgeting_method(i)) else {
            return Ok(None);
        };
        let (slice, n) = match (method, o.time_slice_window) {
            (BudgetingMethod::Occurrences, _) | (_, None) => {
                let n = buckets.max(1);
                (window / u32::try_from(n).unwrap_or(u32::MAX), n)
            }
            (_, Some(slice)) => {
                steadfast_core::ConfigError::ensure(
                    !slice.is_zero() && slice <= window,
                    "openslo.timeSliceWindow",
                    format!("{slice:?}"),
                    "positive and at most the time window",
                )?;
                (
                    slice,
                    usize::try_from(window.as_nanos() / slice.as_nanos()).unwrap_or(usize::MAX),
                )
            }
        };
        RollingBudget::new(o.objective, slice, n, method).map(Some)
    }
}

/// Parses every `kind: SLO` document of a YAML stream, as
/// [`parse_documents`] reads them (indicators and alert policies of the stream
/// resolved), and returns the SLOs.
///
/// # Errors
///
/// As [`parse_documents`].
pub fn parse(yaml: &str) -> Result<Vec<OpenSloSlo>, OpenSloError> {
    parse_documents(yaml).map(|d| d.slos)
}

/// The comparison of a `burnrate` alert condition.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenSloAlertCondition {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.displayName`.
    pub display_name: Option<String>,
    /// `spec.description`.
    pub description: Option<String>,
    /// `spec.severity`, free text such as `page` or `sev1`.
    pub severity: String,
    /// `spec.condition.op`; the spec's examples use `gt` and `lte`.
    pub op: Option<Operator>,
    /// `spec.condition.threshold`: the burn rate compared.
    pub threshold: f64,
    /// `spec.condition.lookbackWindow`.
    pub lookback_window: Duration,
    /// `spec.condition.alertAfter` (0 when not given).
    pub alert_after: Duration,
}

impl OpenSloAlertCondition {
    /// A tier firing when the burn rate over the look-back window (and a short
    /// window of 1/12 of it) exceeds the threshold, held for `alertAfter`.
    /// `page`, `critical` and `sev1` map to [`crate::Severity::Page`], anything
    /// else to [`crate::Severity::Ticket`]. `None` when `op` is `lt` or `lte`
    /// (an alert on a burn rate falling below a threshold is not a burn-rate tier).
    ///
    /// ```
    /// let yaml = r#"
    /// apiVersion: openslo/v1
    /// kind: AlertCondition
    /// metadata: { name: fast-burn }
    /// spec:
    ///   severity: page
    ///   condition: { kind: burnrate, op: gt, threshold: 14.4, lookbackWindow: 1h, alertAfter: 2m }
    /// "#;
    /// let docs = steadfast_slo::openslo::parse_documents(yaml)?;
    /// let tier = docs.alert_conditions[0].to_tier().unwrap();
    /// assert_eq!(tier.burn_rate(), 14.4);
    /// assert_eq!(tier.short().as_secs(), 300);
    /// assert_eq!(tier.severity(), steadfast_slo::Severity::Page);
    /// # Ok::<(), steadfast_slo::openslo::OpenSloError>(())
    /// ```
    #[must_use]
    pub fn to_tier(&self) -> Option<crate::BurnRateTier> {
        if matches!(self.op, Some(Operator::Lt | Operator::Lte)) {
            return None;
        }
        let severity = match self.severity.to_ascii_lowercase().as_str() {
            "page" | "critical" | "sev1" => crate::Severity::Page,
            _ => crate::Severity::Ticket,
        };
        Some(
            crate::BurnRateTier::new(
                self.name.clone(),
                self.lookback_window,
                self.lookback_window / 12,
                self.threshold,
                severity,
            )
            .with_hold(self.alert_after),
        )
    }
}

/// Where alert notifications go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenSloNotificationTarget {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.displayName`.
    pub display_name: Option<String>,
    /// `spec.description`.
    pub description: Option<String>,
    /// `spec.target`, such as `email` or `slack`.
    pub target: String,
}

/// An alert policy: when to alert, on which condition, and whom to notify.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenSloAlertPolicy {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.displayName`.
    pub display_name: Option<String>,
    /// `spec.description`.
    pub description: Option<String>,
    /// `spec.alertWhenNoData` (false when not given).
    pub alert_when_no_data: bool,
    /// `spec.alertWhenResolved` (false when not given).
    pub alert_when_resolved: bool,
    /// `spec.alertWhenBreaching` (false when not given).
    pub alert_when_breaching: bool,
    /// `spec.conditions`: inline, or referenced and found in the same stream.
    pub conditions: Vec<OpenSloAlertCondition>,
    /// The names in `spec.conditions[].conditionRef` (resolved or not).
    pub condition_refs: Vec<String>,
    /// `spec.notificationTargets`: inline, or referenced and found in the same stream.
    pub notification_targets: Vec<OpenSloNotificationTarget>,
    /// The names in `spec.notificationTargets[].targetRef` (resolved or not).
    pub target_refs: Vec<String>,
}

/// A service: a named group of SLOs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenSloService {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.displayName`.
    pub display_name: Option<String>,
    /// `spec.description`.
    pub description: Option<String>,
}

/// Every document of a stream, by kind, with references resolved.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct OpenSloDocuments {
    /// `kind: SLO`.
    pub slos: Vec<OpenSloSlo>,
    /// `kind: Service`.
    pub services: Vec<OpenSloService>,
    /// `kind: AlertPolicy`.
    pub alert_policies: Vec<OpenSloAlertPolicy>,
    /// `kind: AlertCondition`.
    pub alert_conditions: Vec<OpenSloAlertCondition>,
    /// `kind: AlertNotificationTarget`.
    pub notification_targets: Vec<OpenSloNotificationTarget>,
}

/// Parses every document of a YAML stream: SLOs, services, alert policies,
/// alert conditions and notification targets (`SLI` documents serve
/// `indicatorRef`; `DataSource` documents are skipped). References to
/// documents of the stream are resolved; a reference to a name not in the
/// stream is kept as a name only (the spec lets it be a path).
///
/// # Errors
///
/// The first problem found, with the path of the field (prefixed with
/// `documents[i].` when the stream holds several documents). Unknown kinds and
/// other API versions are errors.
///
/// ```
/// let yaml = r#"
/// apiVersion: openslo/v1
/// kind: AlertNotificationTarget
/// metadata: { name: on-call-mail }
/// spec: { target: email }
/// ---
/// apiVersion: openslo/v1
/// kind: AlertPolicy
/// metadata: { name: page-on-fast-burn }
/// spec:
///   alertWhenBreaching: true
///   conditions:
///     - kind: AlertCondition
///       metadata: { name: fast-burn }
///       spec:
///         severity: page
///         condition: { kind: burnrate, op: gt, threshold: 14.4, lookbackWindow: 1h, alertAfter: 5m }
///   notificationTargets:
///     - targetRef: on-call-mail
/// "#;
/// let docs = steadfast_slo::openslo::parse_documents(yaml)?;
/// let policy = &docs.alert_policies[0];
/// assert_eq!(policy.conditions[0].threshold, 14.4);
/// assert_eq!(policy.notification_targets[0].target, "email");
/// # Ok::<(), steadfast_slo::openslo::OpenSloError>(())
/// ```
pub fn parse_documents(yaml: &str) -> Result<OpenSloDocuments, OpenSloError> {
    let docs: Vec<Value> = serde_yaml_ng::Deserializer::from_str(yaml)
        .map(|d| {
            serde::Deserialize::deserialize(d).map_err(|e| OpenSloError::new("yaml", e.to_string()))
        })
        .collect::<Result<_, _>>()?;
    let many = docs.len() > 1;
    let prefix = |i: usize| {
        if many {
            format!("documents[{i}]")
        } else {
            String::new()
        }
    };
    let at = |i: usize, e: OpenSloError| {
        let p = prefix(i);
        OpenSloError::new(
            if p.is_empty() {
                e.path
            } else {
                format!("{p}.{}", e.path)
            },
            e.message,
        )
    };
    let kind = |doc: &Value| get(doc, "kind").and_then(Value::as_str).map(str::to_string);
    let mut out = OpenSloDocuments::default();
    // Pass 1: the documents others refer to.
    for (i, doc) in docs.iter().enumerate() {
        if doc.is_null() {
            continue;
        }
        let k = kind(doc);
        match k.as_deref() {
            Some("AlertNotificationTarget") => out
                .notification_targets
                .push(notification_target(doc, "", true).map_err(|e| at(i, e))?),
            Some("AlertCondition") => out
                .alert_conditions
                .push(alert_condition(doc, "", true).map_err(|e| at(i, e))?),
            Some("Service") => out.services.push(service(doc).map_err(|e| at(i, e))?),
            Some("SLO" | "SLI" | "DataSource" | "AlertPolicy") => {}
            Some(other) => {
                return Err(at(
                    i,
                    OpenSloError::new(
                        "kind",
                        format!(
                            "must be one of SLO, SLI, Service, DataSource, AlertPolicy, AlertCondition or AlertNotificationTarget, got {other:?}"
                        ),
                    ),
                ));
            }
            None => {
                // Only SLO documents may leave out their kind (parse_slo's leniency).
                if get(doc, "kind").is_some() {
                    return Err(at(i, OpenSloError::new("kind", "must be a string")));
                }
            }
        }
    }
    for (i, doc) in docs.iter().enumerate() {
        if kind(doc).as_deref() == Some("AlertPolicy") {
            let policy = alert_policy(doc, "", true, &out).map_err(|e| at(i, e))?;
            out.alert_policies.push(policy);
        }
    }
    // Pass 2: SLOs, with their indicators and policies resolved.
    let slis: Vec<(usize, &Value)> = docs
        .iter()
        .enumerate()
        .filter(|(_, d)| kind(d).as_deref() == Some("SLI"))
        .collect();
    let find_sli = |name: &str| {
        slis.iter().find(|(_, d)| {
            get(d, "metadata")
                .and_then(|m| get(m, "name"))
                .and_then(Value::as_str)
                == Some(name)
        })
    };
    for (i, doc) in docs.iter().enumerate() {
        if doc.is_null() || (kind(doc).as_deref() != Some("SLO") && get(doc, "kind").is_some()) {
            continue;
        }
        let mut slo = slo_from_value(doc).map_err(|e| at(i, e))?;
        if slo.indicator.is_none()
            && let Some(name) = &slo.indicator_ref
            && let Some(&(j, sli)) = find_sli(name)
        {
            slo.indicator = Some(indicator(sli, &prefix(j))?);
        }
        for o in &mut slo.objectives {
            if o.indicator.is_none()
                && let Some(name) = &o.indicator_ref
                && let Some(&(j, sli)) = find_sli(name)
            {
                o.indicator = Some(indicator(sli, &prefix(j))?);
            }
        }
        let spec = get(doc, "spec");
        if let Some(list) = spec.and_then(|s| get(s, "alertPolicies")) {
            let (inline, refs) = alert_policy_list(list, &out).map_err(|e| at(i, e))?;
            slo.alert_policies = inline;
            slo.alert_policy_refs = refs;
        }
        out.slos.push(slo);
    }
    Ok(out)
}

fn header(
    doc: &Value,
    want: &str,
    path: &str,
    top: bool,
) -> Result<(String, Option<String>), OpenSloError> {
    if doc.as_mapping().is_none() {
        return Err(OpenSloError::new(
            if path.is_empty() { "document" } else { path },
            format!("must be a mapping, got {}", kind_of(doc)),
        ));
    }
    if top {
        let api = string(
            required(doc, "apiVersion", path)?,
            &join(path, "apiVersion"),
        )?;
        if api != "openslo/v1" {
            return Err(OpenSloError::new(
                join(path, "apiVersion"),
                format!("must be \"openslo/v1\", got {api:?}"),
            ));
        }
    }
    if let Some(k) = get(doc, "kind") {
        let k = string(k, &join(path, "kind"))?;
        if k != want {
            return Err(OpenSloError::new(
                join(path, "kind"),
                format!("must be {want:?}, got {k:?}"),
            ));
        }
    } else if top {
        return Err(OpenSloError::new(
            join(path, "kind"),
            "required field is missing",
        ));
    }
    let mpath = join(path, "metadata");
    let metadata = required(doc, "metadata", path)?;
    let name = string(required(metadata, "name", &mpath)?, &join(&mpath, "name"))?;
    if name.is_empty() || name.len() > 255 {
        return Err(OpenSloError::new(
            join(&mpath, "name"),
            format!("must be 1 to 255 characters, got {name:?}"),
        ));
    }
    Ok((name, opt_string(metadata, "displayName", &mpath)?))
}

fn opt_bool(v: &Value, key: &str, path: &str) -> Result<bool, OpenSloError> {
    match get(v, key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(OpenSloError::new(
            join(path, key),
            format!("must be true or false, got {}", kind_of(other)),
        )),
    }
}

/// A duration in the spec's shorthand (`m`, `h`, `d`, `w`, `M`, `Q`, `Y`), with
/// `M`, `Q` and `Y` as 30, 90 and 365 days; `zero_ok` also takes `0m` and the like.
fn spec_duration(text: &str, path: &str, zero_ok: bool) -> Result<Duration, OpenSloError> {
    let bad = || {
        OpenSloError::new(
            path,
            format!(
                "must be a whole number and one of m, h, d, w, M, Q or Y (such as 5m, 1h, 4w), got {text:?}"
            ),
        )
    };
    if text.ends_with('s') {
        return Err(bad());
    }
    // `0m` and the like: parse_duration wants a positive count, so check the unit on `1<unit>`.
    let (digits, unit) = text.split_at(text.len().saturating_sub(1));
    if zero_ok && !digits.is_empty() && digits.bytes().all(|b| b == b'0') {
        return parse_duration(&format!("1{unit}"))
            .map(|_| Duration::ZERO)
            .map_err(|_| bad());
    }
    match parse_duration(text).map_err(|_| bad())? {
        OpenSloDuration::Fixed(d) => Ok(d),
        OpenSloDuration::Calendar(n, unit) => {
            let days = match unit {
                CalendarUnit::Month => 30,
                CalendarUnit::Quarter => 90,
                _ => 365,
            };
            Ok(Duration::from_secs(u64::from(n) * days * 86_400))
        }
    }
}

fn alert_condition(
    doc: &Value,
    path: &str,
    top: bool,
) -> Result<OpenSloAlertCondition, OpenSloError> {
    let (name, display_name) = header(doc, "AlertCondition", path, top)?;
    let spath = join(path, "spec");
    let spec = required(doc, "spec", path)?;
    let severity = string(
        required(spec, "severity", &spath)?,
        &join(&spath, "severity"),
    )?;
    let cpath = join(&spath, "condition");
    let c = required(spec, "condition", &spath)?;
    if let Some(k) = get(c, "kind").filter(|k| !k.is_null()) {
        let k = string(k, &join(&cpath, "kind"))?;
        if k != "burnrate" {
            return Err(OpenSloError::new(
                join(&cpath, "kind"),
                format!("must be \"burnrate\", got {k:?}"),
            ));
        }
    }
    let op = operator(c, &cpath)?;
    let tpath = join(&cpath, "threshold");
    let threshold = number(required(c, "threshold", &cpath)?, &tpath)?;
    if threshold < 0.0 {
        return Err(OpenSloError::new(
            tpath,
            format!("must be at least 0, got {threshold}"),
        ));
    }
    let lpath = join(&cpath, "lookbackWindow");
    let lookback_window = spec_duration(
        &string(required(c, "lookbackWindow", &cpath)?, &lpath)?,
        &lpath,
        false,
    )?;
    let apath = join(&cpath, "alertAfter");
    let alert_after = match get(c, "alertAfter") {
        None | Some(Value::Null) => Duration::ZERO,
        Some(x) => spec_duration(&string(x, &apath)?, &apath, true)?,
    };
    Ok(OpenSloAlertCondition {
        name,
        display_name,
        description: opt_string(spec, "description", &spath)?,
        severity,
        op,
        threshold,
        lookback_window,
        alert_after,
    })
}

fn notification_target(
    doc: &Value,
    path: &str,
    top: bool,
) -> Result<OpenSloNotificationTarget, OpenSloError> {
    let (name, display_name) = header(doc, "AlertNotificationTarget", path, top)?;
    let spath = join(path, "spec");
    let spec = required(doc, "spec", path)?;
    Ok(OpenSloNotificationTarget {
        name,
        display_name,
        description: opt_string(spec, "description", &spath)?,
        target: string(required(spec, "target", &spath)?, &join(&spath, "target"))?,
    })
}

fn service(doc: &Value) -> Result<OpenSloService, OpenSloError> {
    let (name, display_name) = header(doc, "Service", "", true)?;
    let description = match get(doc, "spec") {
        Some(spec) if !spec.is_null() => opt_string(spec, "description", "spec")?,
        _ => None,
    };
    Ok(OpenSloService {
        name,
        display_name,
        description,
    })
}

fn list<'a>(v: &'a Value, path: &str) -> Result<&'a Vec<Value>, OpenSloError> {
    v.as_sequence()
        .ok_or_else(|| OpenSloError::new(path, format!("must be a list, got {}", kind_of(v))))
}

fn alert_policy(
    doc: &Value,
    path: &str,
    top: bool,
    known: &OpenSloDocuments,
) -> Result<OpenSloAlertPolicy, OpenSloError> {
    let (name, display_name) = header(doc, "AlertPolicy", path, top)?;
    let spath = join(path, "spec");
    let spec = required(doc, "spec", path)?;
    let cpath = join(&spath, "conditions");
    let items = list(required(spec, "conditions", &spath)?, &cpath)?;
    if items.len() != 1 {
        return Err(OpenSloError::new(
            cpath,
            format!("must hold exactly one condition, got {}", items.len()),
        ));
    }
    let (mut conditions, mut condition_refs) = (Vec::new(), Vec::new());
    for (i, item) in items.iter().enumerate() {
        let ipath = format!("{cpath}[{i}]");
        if let Some(r) = get(item, "conditionRef") {
            let r = string(r, &join(&ipath, "conditionRef"))?;
            if let Some(c) = known.alert_conditions.iter().find(|c| c.name == r) {
                conditions.push(c.clone());
            }
            condition_refs.push(r);
        } else {
            conditions.push(alert_condition(item, &ipath, false)?);
        }
    }
    let tpath = join(&spath, "notificationTargets");
    let items = list(required(spec, "notificationTargets", &spath)?, &tpath)?;
    let (mut notification_targets, mut target_refs) = (Vec::new(), Vec::new());
    for (i, item) in items.iter().enumerate() {
        let ipath = format!("{tpath}[{i}]");
        if let Some(r) = get(item, "targetRef") {
            let r = string(r, &join(&ipath, "targetRef"))?;
            if let Some(t) = known.notification_targets.iter().find(|t| t.name == r) {
                notification_targets.push(t.clone());
            }
            target_refs.push(r);
        } else {
            notification_targets.push(notification_target(item, &ipath, false)?);
        }
    }
    Ok(OpenSloAlertPolicy {
        name,
        display_name,
        description: opt_string(spec, "description", &spath)?,
        alert_when_no_data: opt_bool(spec, "alertWhenNoData", &spath)?,
        alert_when_resolved: opt_bool(spec, "alertWhenResolved", &spath)?,
        alert_when_breaching: opt_bool(spec, "alertWhenBreaching", &spath)?,
        conditions,
        condition_refs,
        notification_targets,
        target_refs,
    })
}

/// `spec.alertPolicies`: inline policies, `alertPolicyRef: name` items, or plain names.
fn alert_policy_list(
    v: &Value,
    known: &OpenSloDocuments,
) -> Result<(Vec<OpenSloAlertPolicy>, Vec<String>), OpenSloError> {
    let path = "spec.alertPolicies";
    if v.is_null() {
        return Ok((Vec::new(), Vec::new()));
    }
    let (mut policies, mut refs) = (Vec::new(), Vec::new());
    for (i, item) in list(v, path)?.iter().enumerate() {
        let ipath = format!("{path}[{i}]");
        let name = match item {
            Value::String(s) => Some(s.clone()),
            _ => match get(item, "alertPolicyRef") {
                Some(r) => Some(string(r, &join(&ipath, "alertPolicyRef"))?),
                None => None,
            },
        };
        match name {
            Some(r) => {
                if let Some(p) = known.alert_policies.iter().find(|p| p.name == r) {
                    policies.push(p.clone());
                }
                refs.push(r);
            }
            None => policies.push(alert_policy(item, &ipath, false, known)?),
        }
    }
    Ok((policies, refs))
}

fn operator(v: &Value, path: &str) -> Result<Option<Operator>, OpenSloError> {
    Ok(match get(v, "op") {
        None | Some(Value::Null) => None,
        Some(x) => Some(match string(x, &join(path, "op"))?.as_str() {
            "lt" => Operator::Lt,
            "lte" => Operator::Lte,
            "gt" => Operator::Gt,
            "gte" => Operator::Gte,
            other => {
                return Err(OpenSloError::new(
                    join(path, "op"),
                    format!("must be lt, lte, gt or gte, got {other:?}"),
                ));
            }
        }),
    })
}

/// Parses one `kind: SLO` document.
///
/// # Errors
///
/// As [`parse`]; also when the document is not an SLO.
///
/// ```
/// let yaml = r#"
/// apiVersion: openslo/v1
/// kind: SLO
/// metadata:
///   name: checkout-availability
/// spec:
///   service: checkout
///   indicator:
///     metadata: { name: ok-requests }
///     spec:
///       ratioMetric:
///         counter: true
///         good: { metricSource: { type: Prometheus, spec: { query: 'sum(rate(http_requests_total{code!~"5.."}[1m]))' } } }
///         total: { metricSource: { type: Prometheus, spec: { query: 'sum(rate(http_requests_total[1m]))' } } }
///   timeWindow:
///     - duration: 28d
///       isRolling: true
///   budgetingMethod: Occurrences
///   objectives:
///     - displayName: Good
///       target: 0.999
/// "#;
/// let slo = steadfast_slo::openslo::parse_slo(yaml)?;
/// assert_eq!(slo.name, "checkout-availability");
/// assert_eq!(slo.objectives[0].objective.target(), 0.999);
/// let err = steadfast_slo::openslo::parse_slo(&yaml.replace("0.999", "1.5")).unwrap_err();
/// assert_eq!(err.path(), "spec.objectives[0].target");
/// # Ok::<(), steadfast_slo::openslo::OpenSloError>(())
/// ```
pub fn parse_slo(yaml: &str) -> Result<OpenSloSlo, OpenSloError> {
    let doc: Value =
        serde_yaml_ng::from_str(yaml).map_err(|e| OpenSloError::new("yaml", e.to_string()))?;
    slo_from_value(&doc)
}

fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.as_mapping()?.get(key)
}

fn required<'a>(v: &'a Value, key: &str, path: &str) -> Result<&'a Value, OpenSloError> {
    get(v, key)
        .filter(|x| !x.is_null())
        .ok_or_else(|| OpenSloError::new(join(path, key), "required field is missing"))
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn string(v: &Value, path: &str) -> Result<String, OpenSloError> {
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| OpenSloError::new(path, format!("must be a string, got {}", kind_of(v))))
}

fn opt_string(v: &Value, key: &str, path: &str) -> Result<Option<String>, OpenSloError> {
    match get(v, key) {
        None | Some(Value::Null) => Ok(None),
        Some(x) => string(x, &join(path, key)).map(Some),
    }
}

fn number(v: &Value, path: &str) -> Result<f64, OpenSloError> {
    v.as_f64().filter(|x| x.is_finite()).ok_or_else(|| {
        OpenSloError::new(path, format!("must be a finite number, got {}", kind_of(v)))
    })
}

fn kind_of(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("{b}"),
        Value::Number(n) => format!("{n}"),
        Value::String(s) => format!("{s:?}"),
        Value::Sequence(_) => "a list".into(),
        Value::Mapping(_) => "a mapping".into(),
        Value::Tagged(_) => "a tagged value".into(),
    }
}

fn slo_from_value(doc: &Value) -> Result<OpenSloSlo, OpenSloError> {
    if doc.as_mapping().is_none() {
        return Err(OpenSloError::new(
            "document",
            format!("must be a mapping, got {}", kind_of(doc)),
        ));
    }
    let api = string(required(doc, "apiVersion", "")?, "apiVersion")?;
    if api != "openslo/v1" {
        return Err(OpenSloError::new(
            "apiVersion",
            format!("must be \"openslo/v1\", got {api:?}"),
        ));
    }
    let kind = string(required(doc, "kind", "")?, "kind")?;
    if kind != "SLO" {
        return Err(OpenSloError::new(
            "kind",
            format!("must be \"SLO\", got {kind:?}"),
        ));
    }
    let metadata = required(doc, "metadata", "")?;
    let name = string(required(metadata, "name", "metadata")?, "metadata.name")?;
    if name.is_empty() || name.len() > 63 {
        return Err(OpenSloError::new(
            "metadata.name",
            format!("must be 1 to 63 characters, got {name:?}"),
        ));
    }
    let display_name = opt_string(metadata, "displayName", "metadata")?;
    let spec = required(doc, "spec", "")?;
    let description = opt_string(spec, "description", "spec")?;
    let service = string(required(spec, "service", "spec")?, "spec.service")?;
    let indicator = match get(spec, "indicator") {
        None | Some(Value::Null) => None,
        Some(ind) => Some(indicator(ind, "spec.indicator")?),
    };
    let indicator_ref = opt_string(spec, "indicatorRef", "spec")?;
    let composite = get(spec, "objectives")
        .and_then(Value::as_sequence)
        .is_some_and(|l| {
            l.iter()
                .any(|o| get(o, "indicator").is_some() || get(o, "indicatorRef").is_some())
        });
    if composite && (indicator.is_some() || indicator_ref.is_some()) {
        return Err(OpenSloError::new(
            if indicator.is_some() {
                "spec.indicator"
            } else {
                "spec.indicatorRef"
            },
            "a composite SLO takes its indicators from its objectives, not from spec",
        ));
    }
    if !composite && indicator.is_none() && indicator_ref.is_none() {
        return Err(OpenSloError::new(
            "spec.indicator",
            "one of indicator or indicatorRef is required",
        ));
    }
    let time_window = time_window(required(spec, "timeWindow", "spec")?)?;
    let method_text = string(
        required(spec, "budgetingMethod", "spec")?,
        "spec.budgetingMethod",
    )?;
    let budgeting_method = match method_text.as_str() {
        "Occurrences" => BudgetingMethodName::Occurrences,
        "Timeslices" => BudgetingMethodName::Timeslices,
        "RatioTimeslices" => BudgetingMethodName::RatioTimeslices,
        other => {
            return Err(OpenSloError::new(
                "spec.budgetingMethod",
                format!("must be Occurrences, Timeslices or RatioTimeslices, got {other:?}"),
            ));
        }
    };
    let objectives_v = required(spec, "objectives", "spec")?;
    let list = objectives_v.as_sequence().ok_or_else(|| {
        OpenSloError::new(
            "spec.objectives",
            format!("must be a list, got {}", kind_of(objectives_v)),
        )
    })?;
    if list.is_empty() {
        return Err(OpenSloError::new(
            "spec.objectives",
            "must hold at least one objective",
        ));
    }
    let mut objectives = Vec::with_capacity(list.len());
    for (i, o) in list.iter().enumerate() {
        let path = format!("spec.objectives[{i}]");
        let obj = objective(o, &path)?;
        if composite && obj.indicator.is_none() && obj.indicator_ref.is_none() {
            return Err(OpenSloError::new(
                join(&path, "indicator"),
                "every objective of a composite SLO needs indicator or indicatorRef",
            ));
        }
        if !composite && list.len() < 2 && get(o, "compositeWeight").is_some() {
            return Err(OpenSloError::new(
                join(&path, "compositeWeight"),
                "is supported only with several objectives",
            ));
        }
        if budgeting_method != BudgetingMethodName::Occurrences && obj.time_slice_window.is_none() {
            return Err(OpenSloError::new(
                join(&path, "timeSliceWindow"),
                format!("is required with {budgeting_method}"),
            ));
        }
        if budgeting_method == BudgetingMethodName::Timeslices && obj.time_slice_target.is_none() {
            return Err(OpenSloError::new(
                join(&path, "timeSliceTarget"),
                "is required with Timeslices",
            ));
        }
        objectives.push(obj);
    }
    let (alert_policies, alert_policy_refs) = match get(spec, "alertPolicies") {
        None => (Vec::new(), Vec::new()),
        Some(v) => alert_policy_list(v, &OpenSloDocuments::default())?,
    };
    Ok(OpenSloSlo {
        name,
        display_name,
        description,
        service,
        indicator,
        indicator_ref,
        time_window,
        budgeting_method,
        objectives,
        alert_policies,
        alert_policy_refs,
    })
}

fn metric_source(v: &Value, path: &str) -> Result<MetricSource, OpenSloError> {
    let ms = required(v, "metricSource", path)?;
    let mpath = join(path, "metricSource");
    Ok(MetricSource {
        source_type: opt_string(ms, "type", &mpath)?,
        query: get(ms, "spec")
            .and_then(|s| get(s, "query"))
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

fn indicator(v: &Value, path: &str) -> Result<Indicator, OpenSloError> {
    let spec = required(v, "spec", path)?;
    let spath = join(path, "spec");
    if let Some(ratio) = get(spec, "ratioMetric") {
        let rpath = join(&spath, "ratioMetric");
        let side = |key: &str| -> Result<Option<MetricSource>, OpenSloError> {
            match get(ratio, key) {
                None | Some(Value::Null) => Ok(None),
                Some(x) => metric_source(x, &join(&rpath, key)).map(Some),
            }
        };
        let good = side("good")?;
        let bad = side("bad")?;
        let total = side("total")?
            .ok_or_else(|| OpenSloError::new(join(&rpath, "total"), "required field is missing"))?;
        if good.is_some() == bad.is_some() {
            return Err(OpenSloError::new(rpath, "needs exactly one of good or bad"));
        }
        return Ok(Indicator::Ratio { good, bad, total });
    }
    if let Some(th) = get(spec, "thresholdMetric") {
        let tpath = join(&spath, "thresholdMetric");
        return Ok(Indicator::Threshold(match get(th, "metricSource") {
            Some(_) => metric_source(th, &tpath)?,
            None => {
                return Err(OpenSloError::new(
                    join(&tpath, "metricSource"),
                    "required field is missing",
                ));
            }
        }));
    }
    Err(OpenSloError::new(
        spath,
        "needs ratioMetric or thresholdMetric",
    ))
}

fn time_window(v: &Value) -> Result<TimeWindow, OpenSloError> {
    let list = v.as_sequence().ok_or_else(|| {
        OpenSloError::new(
            "spec.timeWindow",
            format!("must be a list, got {}", kind_of(v)),
        )
    })?;
    if list.len() != 1 {
        return Err(OpenSloError::new(
            "spec.timeWindow",
            format!("must hold exactly one window, got {}", list.len()),
        ));
    }
    let w = &list[0];
    let path = "spec.timeWindow[0]";
    let dur_text = string(required(w, "duration", path)?, &join(path, "duration"))?;
    if dur_text.ends_with('s') {
        return Err(OpenSloError::new(
            join(path, "duration"),
            format!("must use one of the units m, h, d, w, M, Q or Y, got {dur_text:?}"),
        ));
    }
    let dur =
        parse_duration(&dur_text).map_err(|m| OpenSloError::new(join(path, "duration"), m))?;
    let rolling = match get(w, "isRolling") {
        None | Some(Value::Null) => get(w, "calendar").is_none(),
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(OpenSloError::new(
                join(path, "isRolling"),
                format!("must be true or false, got {}", kind_of(other)),
            ));
        }
    };
    if rolling {
        if get(w, "calendar").is_some_and(|c| !c.is_null()) {
            return Err(OpenSloError::new(
                join(path, "calendar"),
                "a rolling window (isRolling: true) takes no calendar",
            ));
        }
        // M, Q and Y roll over 30, 90 and 365 days, as the reference implementation reads them.
        return spec_duration(&dur_text, &join(path, "duration"), false).map(TimeWindow::Rolling);
    }
    let cal = required(w, "calendar", path)?;
    let cpath = join(path, "calendar");
    let start_text = string(
        required(cal, "startTime", &cpath)?,
        &join(&cpath, "startTime"),
    )?;
    let start: DateTime = start_text
        .trim()
        .replacen(' ', "T", 1)
        .parse()
        .map_err(|_| {
            OpenSloError::new(
                join(&cpath, "startTime"),
                format!("must be a date-time such as 2024-01-01 00:00:00, got {start_text:?}"),
            )
        })?;
    let time_zone = string(
        required(cal, "timeZone", &cpath)?,
        &join(&cpath, "timeZone"),
    )?;
    if jiff::tz::TimeZone::get(&time_zone).is_err() {
        return Err(OpenSloError::new(
            join(&cpath, "timeZone"),
            format!("must be an IANA time zone, got {time_zone:?}"),
        ));
    }
    let (count, unit) = match dur {
        OpenSloDuration::Calendar(n, u) => (n, u),
        OpenSloDuration::Fixed(d) => {
            let s = d.as_secs();
            let (n, u) = if s % (7 * 86_400) == 0 {
                (s / (7 * 86_400), CalendarUnit::Week)
            } else if s % 86_400 == 0 {
                (s / 86_400, CalendarUnit::Day)
            } else if s % 3600 == 0 {
                (s / 3600, CalendarUnit::Hour)
            } else if s % 60 == 0 {
                (s / 60, CalendarUnit::Minute)
            } else {
                return Err(OpenSloError::new(
                    join(path, "duration"),
                    "a calendar window needs whole minutes",
                ));
            };
            (u32::try_from(n).unwrap_or(u32::MAX), u)
        }
    };
    if !(1..=1000).contains(&count) {
        return Err(OpenSloError::new(
            join(path, "duration"),
            format!("must be at most 1000 units, got {dur_text:?}"),
        ));
    }
    Ok(TimeWindow::Calendar {
        count,
        unit,
        start,
        time_zone,
    })
}

fn objective(v: &Value, path: &str) -> Result<OpenSloObjective, OpenSloError> {
    if v.as_mapping().is_none() {
        return Err(OpenSloError::new(
            path,
            format!("must be a mapping, got {}", kind_of(v)),
        ));
    }
    let target = match (get(v, "target"), get(v, "targetPercent")) {
        (Some(t), None) => {
            let p = join(path, "target");
            let t = number(t, &p)?;
            Objective::new(t)
                .map_err(|_| OpenSloError::new(p, format!("must be in (0, 1), got {t}")))?
        }
        (None, Some(t)) => {
            let p = join(path, "targetPercent");
            let t = number(t, &p)?;
            Objective::from_percent(t)
                .map_err(|_| OpenSloError::new(p, format!("must be in (0, 100), got {t}")))?
        }
        (Some(_), Some(_)) => {
            return Err(OpenSloError::new(path, "has both target and targetPercent"));
        }
        (None, None) => {
            return Err(OpenSloError::new(
                join(path, "target"),
                "required field is missing",
            ));
        }
    };
    let op = operator(v, path)?;
    let value = match get(v, "value") {
        None | Some(Value::Null) => None,
        Some(x) => Some(number(x, &join(path, "value"))?),
    };
    let time_slice_target = match get(v, "timeSliceTarget") {
        None | Some(Value::Null) => None,
        Some(x) => {
            let p = join(path, "timeSliceTarget");
            let t = number(x, &p)?;
            if !(t > 0.0 && t <= 1.0) {
                return Err(OpenSloError::new(p, format!("must be in (0, 1], got {t}")));
            }
            Some(t)
        }
    };
    let time_slice_window = match get(v, "timeSliceWindow") {
        None | Some(Value::Null) => None,
        Some(x) => {
            let p = join(path, "timeSliceWindow");
            let d = match x {
                Value::Number(_) => {
                    // A bare number is in minutes, as the spec says.
                    let mins = number(x, &p)?;
                    if !(mins > 0.0 && mins <= 1e7) {
                        return Err(OpenSloError::new(
                            p,
                            format!("must be a number of minutes in (0, 1e7], got {mins}"),
                        ));
                    }
                    Duration::from_secs_f64(mins * 60.0)
                }
                _ => match parse_duration(&string(x, &p)?)
                    .map_err(|m| OpenSloError::new(p.clone(), m))?
                {
                    OpenSloDuration::Fixed(d) => d,
                    OpenSloDuration::Calendar(..) => {
                        return Err(OpenSloError::new(
                            p,
                            "must be a fixed length (s, m, h, d or w)",
                        ));
                    }
                },
            };
            Some(d)
        }
    };
    let indicator = match get(v, "indicator") {
        None | Some(Value::Null) => None,
        Some(ind) => Some(indicator(ind, &join(path, "indicator"))?),
    };
    let composite_weight = match get(v, "compositeWeight") {
        None | Some(Value::Null) => 1.0,
        Some(x) => {
            let p = join(path, "compositeWeight");
            let w = number(x, &p)?;
            if w <= 0.0 {
                return Err(OpenSloError::new(p, format!("must be above 0, got {w}")));
            }
            w
        }
    };
    Ok(OpenSloObjective {
        display_name: opt_string(v, "displayName", path)?,
        op,
        value,
        objective: target,
        time_slice_target,
        time_slice_window,
        indicator,
        indicator_ref: opt_string(v, "indicatorRef", path)?,
        composite_weight,
    })
}
