//! Service level objectives, in numbers.
//!
//! **Status: planned.** This crate is reserved in the workspace and holds no
//! code yet. It will contain:
//!
//! - nines and allowed downtime, error budgets over rolling and calendar windows;
//! - multiwindow multi-burn-rate alerts as the SRE Workbook recommends;
//! - availability arithmetic (series, parallel, k-of-n), incident statistics,
//!   RTO/RPO planning and anomaly baselines;
//! - OpenSLO import and Prometheus rule export.
#![forbid(unsafe_code)]
