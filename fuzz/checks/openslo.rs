//! OpenSLO parsing never panics, and what it accepts is valid.
//!
//! Shared by the fuzz target `openslo` and by the corpus replay test in
//! `steadfast-slo`, so the same logic runs under the fuzzer and in `cargo test`.

use steadfast_slo::openslo::{TimeWindow, parse};

pub(crate) fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(slos) = parse(text) else { return };
    for slo in slos {
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
