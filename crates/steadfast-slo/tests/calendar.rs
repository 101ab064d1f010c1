//! Calendar windows in a time zone, and budgets that reset with them.

use steadfast_slo::calendar::{CalendarBudget, CalendarUnit, CalendarWindow};
use steadfast_slo::jiff::Timestamp;
use steadfast_slo::jiff::civil::date;
use steadfast_slo::{Objective, Recorded};

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

#[test]
fn quarters_years_and_weeks_align_on_the_anchor() {
    let q = CalendarWindow::new(
        1,
        CalendarUnit::Quarter,
        "UTC",
        date(2024, 1, 1).at(0, 0, 0, 0),
    )
    .unwrap();
    let p = q.period_containing(ts("2024-05-17T10:00:00Z")).unwrap();
    assert_eq!(
        (p.start.to_string().as_str(), p.end.to_string().as_str()),
        ("2024-04-01T00:00:00Z", "2024-07-01T00:00:00Z")
    );
    let y = CalendarWindow::new(
        1,
        CalendarUnit::Year,
        "Asia/Tokyo",
        date(2020, 1, 1).at(0, 0, 0, 0),
    )
    .unwrap();
    let p = y.period_containing(ts("2024-12-31T16:00:00Z")).unwrap();
    // Already 2025 in Tokyo.
    assert_eq!(p.start.to_string(), "2024-12-31T15:00:00Z");
    // Two-week sprints starting on a Monday.
    let w = CalendarWindow::new(
        2,
        CalendarUnit::Week,
        "UTC",
        date(2024, 1, 1).at(0, 0, 0, 0),
    )
    .unwrap();
    let p = w.period_containing(ts("2024-01-20T00:00:00Z")).unwrap();
    assert_eq!(p.start.to_string(), "2024-01-15T00:00:00Z");
    assert_eq!(p.length().as_secs(), 14 * 86_400);
}

#[test]
fn month_lengths_follow_the_calendar() {
    let m = CalendarWindow::new(
        1,
        CalendarUnit::Month,
        "UTC",
        date(2024, 1, 1).at(0, 0, 0, 0),
    )
    .unwrap();
    let feb = m.period_containing(ts("2024-02-29T23:59:59Z")).unwrap();
    assert_eq!(feb.length().as_secs(), 29 * 86_400);
    let feb_2023 = m.period_containing(ts("2023-02-10T00:00:00Z")).unwrap();
    assert_eq!(feb_2023.length().as_secs(), 28 * 86_400);
    // A boundary instant belongs to the period it starts.
    let p = m.period_containing(ts("2024-03-01T00:00:00Z")).unwrap();
    assert_eq!(p.start, ts("2024-03-01T00:00:00Z"));
    assert!((p.elapsed_fraction(ts("2024-03-16T12:00:00Z")) - 0.5).abs() < 1e-12);
}

#[test]
fn calendar_budget_resets_and_drops_the_past() {
    let w = CalendarWindow::new(
        1,
        CalendarUnit::Day,
        "Europe/Paris",
        date(2024, 1, 1).at(0, 0, 0, 0),
    )
    .unwrap();
    let mut b = CalendarBudget::new(Objective::new(0.99).unwrap(), w);
    assert_eq!(
        b.record(ts("2024-06-01T10:00:00Z"), 98, 100).unwrap(),
        Recorded::Counted
    );
    let s = b.status(ts("2024-06-01T21:00:00Z")).unwrap();
    assert!((s.budget.consumed.unwrap() - 2.0).abs() < 1e-9);
    // 21:00 UTC is 23:00 in Paris (summer time): one hour left.
    assert_eq!(s.time_left.as_secs(), 3600);
    // Midnight in Paris: a new day, a fresh budget.
    let s = b.status(ts("2024-06-01T22:30:00Z")).unwrap();
    assert_eq!(s.budget.total, 0);
    assert_eq!(s.budget.consumed, None);
    // An event from yesterday is dropped.
    assert_eq!(
        b.record(ts("2024-06-01T12:00:00Z"), 0, 100).unwrap(),
        Recorded::TooOld
    );
    assert_eq!(
        b.status(ts("2024-06-01T23:00:00Z")).unwrap().budget.total,
        0
    );
    // Huge counts saturate instead of overflowing.
    let _ = b
        .record(ts("2024-06-02T01:00:00Z"), u64::MAX, u64::MAX)
        .unwrap();
    let _ = b.record(ts("2024-06-02T01:00:00Z"), 0, u64::MAX).unwrap();
    let s = b.status(ts("2024-06-02T02:00:00Z")).unwrap();
    assert_eq!(s.budget.total, u64::MAX);
    assert!(s.budget.good <= s.budget.total);
}

#[test]
fn calendar_time_slices() {
    use std::time::Duration;
    use steadfast_slo::BudgetingMethod;
    use steadfast_slo::jiff::SignedDuration;

    let w =
        CalendarWindow::new(1, CalendarUnit::Day, "UTC", date(2024, 1, 1).at(0, 0, 0, 0)).unwrap();
    let o = Objective::new(0.9).unwrap();
    let minute = Duration::from_secs(60);
    assert!(
        CalendarBudget::with_method(
            o,
            w.clone(),
            BudgetingMethod::RatioTimeslices,
            Duration::ZERO
        )
        .is_err()
    );
    assert!(
        CalendarBudget::with_method(
            o,
            w.clone(),
            BudgetingMethod::Timeslices {
                slice_target: f64::NAN
            },
            minute
        )
        .is_err()
    );
    let mut b =
        CalendarBudget::with_method(o, w, BudgetingMethod::RatioTimeslices, minute).unwrap();
    let t0 = ts("2024-01-01T00:00:00Z");
    let at = |m: i64, s: i64| t0 + SignedDuration::from_mins(m) + SignedDuration::from_secs(s);
    // A busy good minute, a quiet bad one, an empty one, then a half-good minute in two batches.
    let _ = b.record(at(0, 5), 1000, 1000).unwrap();
    let _ = b.record(at(1, 5), 0, 1).unwrap();
    let _ = b.record(at(3, 5), 1, 2).unwrap();
    let _ = b.record(at(3, 50), 1, 2).unwrap();
    let s = b.status(at(3, 59)).unwrap();
    assert_eq!(s.budget.total, 3);
    assert!(
        (s.budget.sli.unwrap() - 0.5).abs() < 1e-12,
        "{:?}",
        s.budget
    );
    // A late batch for the empty minute counts into it (a fourth, bad slice) ...
    assert_eq!(b.record(at(2, 0), 0, 100).unwrap(), Recorded::Counted);
    let s = b.status(at(3, 59)).unwrap();
    assert_eq!(s.budget.total, 4);
    assert!((s.budget.sli.unwrap() - 1.5 / 4.0).abs() < 1e-12);
    // ... and a late good batch revises the quiet bad minute to 99/100.
    assert_eq!(b.record(at(1, 30), 99, 99).unwrap(), Recorded::Counted);
    let s = b.status(at(3, 59)).unwrap();
    assert!((s.budget.sli.unwrap() - 2.49 / 4.0).abs() < 1e-12);
    assert_eq!(b.too_old().total, 0);
    // Nothing recorded yet in a new day: no SLI, not NaN.
    let s = b.status(ts("2024-01-02T00:00:01Z")).unwrap();
    assert_eq!(s.budget.sli, None);
}

#[test]
fn late_events_revise_their_slice_and_too_old_ones_are_tallied() {
    use std::time::Duration;
    use steadfast_slo::jiff::SignedDuration;
    use steadfast_slo::{BudgetingMethod, Counts};

    let w =
        CalendarWindow::new(1, CalendarUnit::Day, "UTC", date(2024, 1, 1).at(0, 0, 0, 0)).unwrap();
    let o = Objective::new(0.99).unwrap();
    let method = BudgetingMethod::Timeslices { slice_target: 0.95 };
    let minute = Duration::from_secs(60);
    let mut b = CalendarBudget::with_method(o, w.clone(), method, minute).unwrap();
    let t0 = ts("2024-01-01T10:00:00Z");
    let at = |m: i64| t0 + SignedDuration::from_mins(m);
    for m in 0..60 {
        let _ = b.record(at(m), 100, 100).unwrap();
    }
    let s = b.status(at(60)).unwrap();
    assert_eq!((s.budget.good, s.budget.total), (60, 60));
    // A batch of failures arriving an hour late turns minute 5 bad (100/200 < 95%).
    assert_eq!(b.record(at(5), 0, 100).unwrap(), Recorded::Counted);
    let s = b.status(at(60)).unwrap();
    assert_eq!((s.budget.good, s.budget.total), (59, 60));
    // A late success batch for it brings it back over the slice target (1900/2000).
    assert_eq!(b.record(at(5), 1800, 1800).unwrap(), Recorded::Counted);
    let s = b.status(at(60)).unwrap();
    assert_eq!((s.budget.good, s.budget.total), (60, 60));
    // Events from the previous day cannot be placed: tallied, not counted.
    assert_eq!(
        b.record(ts("2023-12-31T23:59:00Z"), 3, 7).unwrap(),
        Recorded::TooOld
    );
    assert_eq!(b.too_old(), Counts { good: 3, total: 7 });
    let s = b.status(at(60)).unwrap();
    assert_eq!((s.budget.good, s.budget.total), (60, 60));

    // With only ten revisable slices, minute 5 is settled after an hour.
    let mut small = CalendarBudget::with_method(o, w.clone(), method, minute)
        .unwrap()
        .with_late_slices(10)
        .unwrap();
    for m in 0..60 {
        let _ = small.record(at(m), 100, 100).unwrap();
    }
    assert_eq!(small.record(at(5), 0, 100).unwrap(), Recorded::TooOld);
    assert_eq!(small.record(at(55), 0, 100).unwrap(), Recorded::Counted);
    let s = small.status(at(60)).unwrap();
    assert_eq!((s.budget.good, s.budget.total), (59, 60));
    assert_eq!(small.too_old().total, 100);
    assert!(
        CalendarBudget::with_method(o, w, method, minute)
            .unwrap()
            .with_late_slices(0)
            .is_err()
    );
}

#[test]
fn calendar_slices_match_a_model_in_any_arrival_order() {
    use std::collections::BTreeMap;
    use std::time::Duration;
    use steadfast_slo::BudgetingMethod;
    use steadfast_slo::jiff::SignedDuration;

    let w =
        CalendarWindow::new(1, CalendarUnit::Day, "UTC", date(2024, 1, 1).at(0, 0, 0, 0)).unwrap();
    let o = Objective::new(0.9).unwrap();
    let t0 = ts("2024-01-01T00:00:00Z");
    // A seeded shuffle of 500 batches over 50 minutes.
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    let batches: Vec<(i64, u64, u64)> = (0..500)
        .map(|_| {
            let total = 1 + next(20);
            (next(3000) as i64, next(total + 1), total)
        })
        .collect();
    for method in [
        BudgetingMethod::Timeslices { slice_target: 0.8 },
        BudgetingMethod::RatioTimeslices,
    ] {
        let mut b =
            CalendarBudget::with_method(o, w.clone(), method, Duration::from_secs(60)).unwrap();
        let mut model = BTreeMap::<i64, (u64, u64)>::new();
        for &(s, g, t) in &batches {
            assert_eq!(
                b.record(t0 + SignedDuration::from_secs(s), g, t).unwrap(),
                Recorded::Counted
            );
            let e = model.entry(s / 60).or_default();
            e.0 += g;
            e.1 += t;
        }
        let status = b.status(t0 + SignedDuration::from_secs(3000)).unwrap();
        let n = model.len() as f64;
        let expect = match method {
            BudgetingMethod::Timeslices { slice_target } => {
                model
                    .values()
                    .filter(|c| c.0 as f64 >= slice_target * c.1 as f64)
                    .count() as f64
                    / n
            }
            _ => model.values().map(|c| c.0 as f64 / c.1 as f64).sum::<f64>() / n,
        };
        assert!((status.budget.sli.unwrap() - expect).abs() < 1e-9);
        assert_eq!(status.budget.total, model.len() as u64);
    }
}
