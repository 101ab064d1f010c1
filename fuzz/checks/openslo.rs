//! OpenSLO parsing never panics, and what it accepts is valid.
//!
//! Shared by the fuzz target `openslo` and by the corpus replay test in
//! `steadfast-slo`, so the same logic runs under the fuzzer and in `cargo test`.

use steadfast_slo::openslo::{TimeWindow, parse, parse_documents};

pub(crate) fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(docs) = parse_documents(text) {
        for c in docs
            .alert_conditions
            .iter()
            .chain(docs.alert_policies.iter().flat_map(|p| &p.conditions))
        {
            assert!(c.threshold >= 0.0 && c.threshold.is_finite());
            assert!(!c.lookback_window.is_zero());
            let _ = c.to_tier();
        }
        for p in &docs.alert_policies {
            assert!(p.conditions.len() + p.condition_refs.len() >= 1);
        }
    }
    let Ok(slos) = parse(text) else { return };
    for slo in slos {
        if slo.is_composite() {
            let w = slo.composite_weights();
            let sum: f64 = w.iter().sum();
            assert!(
                w.iter().all(|x| *x > 0.0) && (sum - 1.0).abs() < 1e-9,
                "{w:?}"
            );
        }
        assert!(!slo.name.is_empty());
        assert!(!slo.objectives.is_empty());
        for (i, o) in slo.objectives.iter().enumerate() {
            let t = o.objective.target();
            assert!(t > 0.0 && t < 1.0, "accepted target {t}");
            if let Some(st) = o.time_slice_target {
                assert!(st > 0.0 && st <= 1.0, "accepted slice target {st}");
            }
            // Building a budget either works or reports a config error.
            let _ = slo.rolling_budget(i, 64);
        }
        if let TimeWindow::Calendar { .. } = slo.time_window
            && let Ok(Some(w)) = slo.calendar_window()
        {
            let at = steadfast_slo::jiff::Timestamp::from_second(1_700_000_000).unwrap();
            if let Ok(p) = w.period_containing(at) {
                assert!(p.contains(at), "{p:?}");
            }
        }
    }
}
