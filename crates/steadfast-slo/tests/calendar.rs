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
    // Late events for a closed minute are dropped.
    assert_eq!(b.record(at(2, 0), 0, 100).unwrap(), Recorded::TooOld);
    let s = b.status(at(3, 59)).unwrap();
    assert_eq!(s.budget.total, 3);
    assert!(
        (s.budget.sli.unwrap() - 0.5).abs() < 1e-12,
        "{:?}",
        s.budget
    );
    // Nothing recorded yet in a new day: no SLI, not NaN.
    let s = b.status(ts("2024-01-02T00:00:01Z")).unwrap();
    assert_eq!(s.budget.sli, None);
}
