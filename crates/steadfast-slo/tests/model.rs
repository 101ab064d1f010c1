//! Property tests: bucketed windows, budgets and alert evaluation agree with a
//! brute-force recomputation from the raw events.

use std::time::Duration;

use proptest::prelude::*;
use steadfast_core::Timestamp;
use steadfast_slo::anomaly::{double_exponential_smoothing, predict_linear};
use steadfast_slo::{
    AlertPolicy, Availability, BudgetingMethod, BurnRateMonitor, BurnRateTier, Counts,
    DoubleExponentialSmoothing, LinearTrend, Objective, RollingBudget, RollingCounts, RollingMad,
    Severity,
};

#[derive(Debug, Clone)]
enum Op {
    Record { dt: i64, good: u64, bad: u64 },
    Advance(u64),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![
            4 => (-30i64..40, 0u64..50, 0u64..20).prop_map(|(dt, good, bad)| Op::Record { dt, good, bad }),
            1 => (0u64..200).prop_map(Op::Advance),
        ],
        1..120,
    )
}

/// Events stamped in whole seconds; `dt` moves a cursor (possibly backwards).
struct Model {
    events: Vec<(u64, u64, u64)>,
    head: Option<u64>,
}

impl Model {
    fn head_epoch(&mut self, t: u64, width: u64) -> u64 {
        let e = t / width;
        let h = self.head.map_or(e, |h| h.max(e));
        self.head = Some(h);
        h
    }
}

fn in_window(epoch: u64, head: u64, n: u64) -> bool {
    epoch <= head && epoch + n > head
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn rolling_counts_match_brute_force(ops in ops(), width in 1u64..20, n in 1usize..30) {
        let mut w = RollingCounts::new(Duration::from_secs(width), n).unwrap();
        let mut model = Model { events: Vec::new(), head: None };
        let mut t: u64 = 1000;
        for op in ops {
            match op {
                Op::Record { dt, good, bad } => {
                    t = t.saturating_add_signed(dt);
                    let _ = w.record(Timestamp::from_secs(t), good, good + bad);
                    let head = model.head_epoch(t, width);
                    if in_window(t / width, head, n as u64) {
                        model.events.push((t, good, good + bad));
                    }
                }
                Op::Advance(d) => {
                    t += d;
                    w.advance_to(Timestamp::from_secs(t));
                    model.head_epoch(t, width);
                }
            }
            let head = model.head.unwrap();
            let mut expect = Counts::default();
            for &(et, g, tot) in &model.events {
                if in_window(et / width, head, n as u64) {
                    expect.good += g;
                    expect.total += tot;
                }
            }
            prop_assert_eq!(w.counts(), expect);
        }
    }

    #[test]
    fn rolling_budgets_match_brute_force(ops in ops(), width in 1u64..10, n in 1usize..20, method in 0u8..3, slice_target in 0.5f64..1.0) {
        let objective = Objective::new(0.9).unwrap();
        let m = match method {
            0 => BudgetingMethod::Occurrences,
            1 => BudgetingMethod::Timeslices { slice_target },
            _ => BudgetingMethod::RatioTimeslices,
        };
        let mut b = RollingBudget::new(objective, Duration::from_secs(width), n, m).unwrap();
        let mut model = Model { events: Vec::new(), head: None };
        let mut t: u64 = 1000;
        for op in ops {
            match op {
                Op::Record { dt, good, bad } => {
                    t = t.saturating_add_signed(dt);
                    let _ = b.record(Timestamp::from_secs(t), good, good + bad);
                    let head = model.head_epoch(t, width);
                    if in_window(t / width, head, n as u64) {
                        model.events.push((t, good, good + bad));
                    }
                }
                Op::Advance(d) => {
                    t += d;
                    b.advance_to(Timestamp::from_secs(t));
                    model.head_epoch(t, width);
                }
            }
            let head = model.head.unwrap();
            let mut slices = std::collections::BTreeMap::<u64, (u64, u64)>::new();
            for &(et, g, tot) in &model.events {
                if in_window(et / width, head, n as u64) {
                    let s = slices.entry(et / width).or_default();
                    s.0 += g;
                    s.1 += tot;
                }
            }
            let busy: Vec<(u64, u64)> = slices.values().copied().filter(|s| s.1 > 0).collect();
            let expect_sli = match m {
                BudgetingMethod::Occurrences => {
                    let (g, tot) = slices.values().fold((0, 0), |a, s| (a.0 + s.0, a.1 + s.1));
                    (tot > 0).then(|| g as f64 / tot as f64)
                }
                BudgetingMethod::Timeslices { slice_target } => (!busy.is_empty()).then(|| {
                    busy.iter().filter(|s| s.0 as f64 >= slice_target * s.1 as f64).count() as f64 / busy.len() as f64
                }),
                _ => (!busy.is_empty()).then(|| busy.iter().map(|s| s.0 as f64 / s.1 as f64).sum::<f64>() / busy.len() as f64),
            };
            let got = b.status().sli;
            match (got, expect_sli) {
                (None, None) => {}
                (Some(a), Some(e)) => prop_assert!((a - e).abs() < 1e-9, "{} vs {}", a, e),
                other => prop_assert!(false, "{:?}", other),
            }
        }
    }

    #[test]
    fn monitor_matches_brute_force_burn_rates(ops in ops()) {
        // Two tiers over small windows, 10 buckets each, 1-second resolution for the short ones.
        let period = Duration::from_secs(10_000);
        let tiers = vec![
            BurnRateTier::new("fast", Duration::from_secs(100), Duration::from_secs(10), 5.0, Severity::Page),
            BurnRateTier::new("slow", Duration::from_secs(600), Duration::from_secs(50), 2.0, Severity::Ticket),
        ];
        let objective = Objective::new(0.9).unwrap();
        let policy = AlertPolicy::builder(objective, period).tiers(tiers.clone()).buckets_per_window(10).silence_slower(false).build().unwrap();
        let mut monitor = BurnRateMonitor::new(policy);
        let mut events: Vec<(u64, u64, u64)> = Vec::new();
        let mut t: u64 = 10_000;
        let mut latest = 0;
        for op in ops {
            match op {
                Op::Record { dt, good, bad } => {
                    t = t.saturating_add_signed(dt);
                    let _ = monitor.record_at(Timestamp::from_secs(t), good, good + bad);
                    events.push((t, good, good + bad));
                }
                Op::Advance(d) => t += d,
            }
            latest = latest.max(t);
            let states = monitor.evaluate_at(Timestamp::from_secs(t)).to_vec();
            let error_ratio = |w: u64| {
                let width = w / 10;
                let head = latest / width;
                let (mut g, mut tot) = (0u64, 0u64);
                for &(et, eg, etot) in &events {
                    // An event counts if it was inside the window when recorded and still is.
                    if in_window(et / width, head, 10) {
                        g += eg;
                        tot += etot;
                    }
                }
                (tot > 0).then(|| (tot - g) as f64 / tot as f64)
            };
            let burn = |w: u64| error_ratio(w).map(|e| e / 0.1);
            for (s, tier) in states.iter().zip(&tiers) {
                let l = burn(tier.long().as_secs());
                let sh = burn(tier.short().as_secs());
                prop_assert!(s.long_burn.zip(l).is_none_or(|(a, b)| (a - b).abs() < 1e-9));
                prop_assert_eq!(s.long_burn.is_some(), l.is_some());
                prop_assert_eq!(s.short_burn.is_some(), sh.is_some());
                // Strictly above the threshold, compared on the error ratio as the
                // exported rules do: `error_ratio > burn_rate * 0.1`.
                let over = |e: Option<f64>| e.is_some_and(|e| e > tier.burn_rate() * 0.1);
                let active = over(error_ratio(tier.long().as_secs())) && over(error_ratio(tier.short().as_secs()));
                prop_assert_eq!(s.firing, active);
            }
        }
    }

    #[test]
    fn streaming_smoothing_matches_batch(xs in prop::collection::vec(-1e6f64..1e6, 0..50), sf in 0.01f64..0.99, tf in 0.01f64..0.99) {
        let mut s = DoubleExponentialSmoothing::new(sf, tf).unwrap();
        for &x in &xs {
            s.update(x);
        }
        prop_assert_eq!(s.value(), double_exponential_smoothing(&xs, sf, tf));
    }

    #[test]
    fn sliding_regression_matches_batch(vs in prop::collection::vec(-1e3f64..1e3, 2..60), cap in 2usize..20) {
        let mut lt = LinearTrend::new(cap).unwrap();
        let pts: Vec<(f64, f64)> = vs.iter().enumerate().map(|(i, &v)| (i as f64 * 15.0, v)).collect();
        for (i, &(t, v)) in pts.iter().enumerate() {
            lt.update(t, v);
            let lo = (i + 1).saturating_sub(cap);
            let a = lt.predict(t, 600.0);
            let b = predict_linear(&pts[lo..=i], t, 600.0);
            match (a, b) {
                (Some(a), Some(b)) => prop_assert!((a - b).abs() <= 1e-6 * (1.0 + b.abs()), "{} vs {}", a, b),
                (None, None) => {}
                other => prop_assert!(false, "{:?}", other),
            }
        }
    }

    #[test]
    fn rolling_mad_matches_sorting(xs in prop::collection::vec(prop_oneof![(-5i32..5).prop_map(f64::from), -1e3f64..1e3], 1..80), cap in 1usize..16) {
        let mut m = RollingMad::new(cap).unwrap();
        for (i, &x) in xs.iter().enumerate() {
            m.update(x);
            let lo = (i + 1).saturating_sub(cap);
            let mut w = xs[lo..=i].to_vec();
            w.sort_unstable_by(f64::total_cmp);
            let med = |v: &[f64]| if v.len() % 2 == 1 { v[v.len() / 2] } else { (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0 };
            let median = med(&w);
            let mut dev: Vec<f64> = w.iter().map(|v| (v - median).abs()).collect();
            dev.sort_unstable_by(f64::total_cmp);
            prop_assert_eq!(m.median(), Some(median));
            prop_assert_eq!(m.mad(), Some(med(&dev)));
        }
    }

    #[test]
    fn k_of_n_matches_enumeration(us in prop::collection::vec(0.0f64..0.5, 1..8), k in 0usize..9) {
        let parts: Vec<Availability> = us.iter().map(|&u| Availability::from_unavailability(u).unwrap()).collect();
        let n = parts.len();
        let mut down = 0.0;
        for mask in 0u32..(1 << n) {
            let up = mask.count_ones() as usize;
            let p: f64 = (0..n).map(|i| if mask & (1 << i) != 0 { 1.0 - us[i] } else { us[i] }).product();
            if up < k {
                down += p;
            }
        }
        let got = Availability::k_of(k, &parts).unavailability();
        prop_assert!((got - down).abs() < 1e-12, "{} vs {}", got, down);
    }
}
