//! OpenSLO v1 `SLO` documents, read from YAML.
//!
//! Reads `apiVersion: openslo/v1`, `kind: SLO` documents (a YAML stream may
//! hold several; other kinds are skipped): the time window (rolling, or
//! calendar-aligned with a start time and a time zone), the budgeting method
//! (`Occurrences`, `Timeslices`, `RatioTimeslices`), the objectives (`target`
//! or `targetPercent`, `op`, `value`, `timeSliceTarget`, `timeSliceWindow`)
//! and an inline `ratioMetric` or `thresholdMetric` indicator. Errors name the
//! field by its path, such as `spec.objectives[0].target`.
//!
//! Durations use OpenSLO's shorthand: a positive whole number and one of
//! `s`, `m`, `h`, `d`, `w` (fixed lengths) or `M`, `Q`, `Y` (calendar units,
//! only for calendar windows).

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

/// Parses every `kind: SLO` document of a YAML stream. An SLO whose
/// `indicatorRef` names a `kind: SLI` document of the same stream gets that
/// indicator.
///
/// # Errors
///
/// The first problem found, with the path of the field (prefixed with
/// `documents[i].` when the stream holds several documents).
pub fn parse(yaml: &str) -> Result<Vec<OpenSloSlo>, OpenSloError> {
    let mut out = Vec::new();
    let docs: Vec<Value> = serde_yaml_ng::Deserializer::from_str(yaml)
        .map(|d| {
            serde::Deserialize::deserialize(d).map_err(|e| OpenSloError::new("yaml", e.to_string()))
        })
        .collect::<Result<_, _>>()?;
    let many = docs.len() > 1;
    let prefix = |i: usize| {
        if many {
            format!("documents[{i}].")
        } else {
            String::new()
        }
    };
    let kind = |doc: &Value| get(doc, "kind").and_then(Value::as_str).map(str::to_string);
    // `kind: SLI` documents, by name, for SLOs that refer to their indicator.
    let slis: Vec<(usize, &Value)> = docs
        .iter()
        .enumerate()
        .filter(|(_, d)| kind(d).as_deref() == Some("SLI"))
        .collect();
    for (i, doc) in docs.iter().enumerate() {
        if doc.is_null() || (kind(doc).as_deref() != Some("SLO") && get(doc, "kind").is_some()) {
            continue;
        }
        let mut slo = slo_from_value(doc)
            .map_err(|e| OpenSloError::new(format!("{}{}", prefix(i), e.path), e.message))?;
        if slo.indicator.is_none()
            && let Some(name) = &slo.indicator_ref
            && let Some(&(j, sli)) = slis.iter().find(|(_, d)| {
                get(d, "metadata")
                    .and_then(|m| get(m, "name"))
                    .and_then(Value::as_str)
                    == Some(name.as_str())
            })
        {
            let path = if many {
                format!("documents[{j}]")
            } else {
                String::new()
            };
            slo.indicator = Some(indicator(sli, &path)?);
        }
        out.push(slo);
    }
    Ok(out)
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
    if indicator.is_none() && indicator_ref.is_none() {
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
        return match dur {
            OpenSloDuration::Fixed(d) => Ok(TimeWindow::Rolling(d)),
            OpenSloDuration::Calendar(..) => Err(OpenSloError::new(
                join(path, "duration"),
                format!(
                    "a rolling window needs a fixed length (s, m, h, d or w), got {dur_text:?}"
                ),
            )),
        };
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
    let op = match get(v, "op") {
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
    };
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
                    let secs = number(x, &p)?;
                    if !(1.0..=1e9).contains(&secs) {
                        return Err(OpenSloError::new(
                            p,
                            format!("must be from 1 to 1e9 seconds, got {secs}"),
                        ));
                    }
                    Duration::from_secs_f64(secs)
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
    Ok(OpenSloObjective {
        display_name: opt_string(v, "displayName", path)?,
        op,
        value,
        objective: target,
        time_slice_target,
        time_slice_window,
    })
}
