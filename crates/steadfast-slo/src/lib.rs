//! Service level objectives, in numbers: nines and downtime, error budgets over
//! rolling and calendar windows, multiwindow burn-rate alerts, composite
//! availability, incident statistics, RTO/RPO planning, anomaly baselines,
//! OpenSLO import and Prometheus rule export.
//!
//! # Quick example
//!
//! ```
//! use std::time::Duration;
//! use steadfast_core::Timestamp;
//! use steadfast_slo::{AlertPolicy, BurnRateMonitor, Objective};
//!
//! let days30 = Duration::from_secs(30 * 86_400);
//! let slo = Objective::new(0.999)?;
//! assert_eq!(slo.allowed_downtime(days30).as_secs(), 2592); // 43.2 minutes
//!
//! // Workbook tiers: 2% of the budget in 1h or 5% in 6h pages, 10% in 3d tickets.
//! let policy = AlertPolicy::builder(slo, days30).build()?;
//! let mut monitor = BurnRateMonitor::new(policy);
//! // 5% of requests failing for ten minutes, in one-second batches.
//! for s in 0..600 {
//!     let _ = monitor.record_at(Timestamp::from_secs(s), 95, 100);
//! }
//! let states = monitor.evaluate_at(Timestamp::from_secs(599));
//! assert!(states[0].firing); // burn rate 50 over both 1h and 5m
//! # Ok::<(), steadfast_core::ConfigError>(())
//! ```
//!
//! # Map of the crate
//!
//! | module | what |
//! | --- | --- |
//! | [`objective`] | [`Objective`]: nines, allowed downtime and failures, burn rate, [`time_to_exhaustion`] |
//! | [`window`] | [`RollingCounts`]: good/total in a ring of buckets with running sums, O(1) |
//! | [`budget`] | [`RollingBudget`] with OpenSLO's [`BudgetingMethod`]s, [`BudgetStatus`], [`budget::BudgetWatch`] (threshold events) |
//! | [`calendar`] | calendar windows in a time zone and [`calendar::CalendarBudget`] (late events placed into their slice, unplaceable ones tallied) |
//! | [`alert`] | [`BurnRateTier`], [`AlertPolicy`], presets ([`workbook_tiers`], [`sloth_tiers`], [`pyrra_tiers`]), [`BurnRateMonitor`]; strict `>` thresholds as the exported rules; guards: minimum traffic, warm-up, latched silencing |
//! | [`availability`] | [`Availability`]: series, parallel, k-of-n, MTBF/MTTR, dependency budgets |
//! | [`incident`] | [`Incident`], [`IncidentStats`], [`DurationStats`] (medians and percentiles) |
//! | [`recovery`] | RPO/RTO: data at risk, bandwidth, backup windows, recovery plans |
//! | [`anomaly`] | [`Ewma`], [`StreamingMad`] (O(1) estimate, P-square), [`RollingMad`] (exact, windowed), [`DoubleExponentialSmoothing`], [`LinearTrend`] |
//! | [`openslo`] | OpenSLO v1 from YAML: `SLO` (composite too), `SLI`, `Service`, `AlertPolicy`, `AlertCondition`, `AlertNotificationTarget`, references resolved, errors naming the field |
//! | [`prometheus`] | Prometheus recording and alerting rules (YAML) in sloth's or pyrra's conventions, and OpenMetrics text |
//!
//! # Conventions
//!
//! Periods are always arguments ("a month" is ambiguous). Time is passed in:
//! [`steadfast_core::Timestamp`] for rolling windows and alerts (or a
//! [`steadfast_core::Clock`] for [`BurnRateMonitor`]), wall-clock
//! [`jiff::Timestamp`] for calendar windows. No traffic gives `None`, never NaN.
#![forbid(unsafe_code)]

pub mod alert;
pub mod anomaly;
pub mod availability;
pub mod budget;
pub mod calendar;
pub mod incident;
pub mod objective;
pub mod openslo;
pub mod prometheus;
pub mod recovery;
pub mod window;

pub use alert::{
    AlertEvent, AlertEventKind, AlertPolicy, AlertPolicyBuilder, BurnRateMonitor, BurnRateTier,
    Detection, Severity, TierState, pyrra_tiers, sloth_tiers, workbook_tiers,
};
pub use anomaly::{DoubleExponentialSmoothing, Ewma, LinearTrend, RollingMad, StreamingMad};
pub use availability::Availability;
pub use budget::{BudgetStatus, BudgetingMethod, RollingBudget};
pub use incident::{DurationStats, Incident, IncidentStats};
pub use jiff;
pub use objective::{Objective, time_to_exhaustion};
pub use window::{Counts, Recorded, RollingCounts};
