//! Model-based test: random calls, outcomes, durations and clock moves,
//! checked step by step against a small, obviously-correct breaker.

use std::collections::VecDeque;
use std::time::Duration;

use proptest::prelude::*;
use steadfast_core::{Clock, ManualClock};
use steadfast_guard::breaker::{
    BreakerConfig, BreakerState, CircuitBreaker, Outcome, Permit, WindowFigures,
};

#[derive(Debug, Clone)]
struct Params {
    window: usize,
    minimum: usize,
    threshold: f64,
    slow: Option<(u64, f64)>,
    wait: (u64, f64, u64),
    trials: usize,
    half_open_limit: Option<u64>,
}

fn params() -> impl Strategy<Value = Params> {
    (
        1usize..8,
        any::<prop::sample::Index>(),
        prop::sample::select(vec![0.25, 0.5, 0.75, 1.0]),
        prop::option::of((1u64..50, prop::sample::select(vec![0.5, 1.0]))),
        (1u64..50, prop::sample::select(vec![1.0, 2.0]), 50u64..200),
        1usize..4,
        prop::option::of(1u64..100),
    )
        .prop_map(
            |(window, minimum, threshold, slow, wait, trials, half_open_limit)| Params {
                window,
                minimum: minimum.index(window) + 1,
                threshold,
                slow,
                wait,
                trials,
                half_open_limit,
            },
        )
}

#[derive(Debug, Clone)]
enum Op {
    /// Acquire, take `took` ms, record.
    Call {
        outcome: u8,
        took: u64,
    },
    /// Acquire and keep the permit.
    Hold,
    /// Finish a held permit: 0 success, 1 failure, 2 ignore, 3 drop.
    Finish {
        index: prop::sample::Index,
        how: u8,
    },
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..3, 0u64..80).prop_map(|(outcome, took)| Op::Call { outcome, took }),
        1 => Just(Op::Hold),
        1 => (any::<prop::sample::Index>(), 0u8..4).prop_map(|(index, how)| Op::Finish { index, how }),
        2 => (0u64..120).prop_map(Op::Advance),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum ModelState {
    Closed,
    Open {
        until: u64,
    },
    HalfOpen {
        issued: usize,
        deadline: Option<u64>,
    },
}

#[derive(Debug, Clone, Copy)]
struct ModelPermit {
    generation: u64,
    trial: bool,
    started: u64,
}

/// The breaker as a plain sequential state machine, times in ms.
struct Model {
    p: Params,
    state: ModelState,
    generation: u64,
    ring: VecDeque<(bool, bool)>,
    results: Vec<(bool, bool)>,
    openings: u32,
}

impl Model {
    fn wait(&self) -> u64 {
        let (initial, factor, max) = self.p.wait;
        let w = initial as f64 * factor.powi(self.openings as i32 - 1);
        if w < max as f64 { w as u64 } else { max }
    }

    fn rates_trip(&self, outcomes: &[(bool, bool)]) -> bool {
        let n = outcomes.len() as f64;
        let fails = outcomes.iter().filter(|o| o.0).count() as f64;
        let slow = outcomes.iter().filter(|o| o.1).count() as f64;
        fails / n >= self.p.threshold || self.p.slow.is_some_and(|(_, rate)| slow / n >= rate)
    }

    fn open(&mut self, now: u64) {
        self.generation += 1;
        self.openings += 1;
        self.state = ModelState::Open {
            until: now + self.wait(),
        };
    }

    fn close(&mut self) {
        self.generation += 1;
        self.openings = 0;
        self.ring.clear();
        self.state = ModelState::Closed;
    }

    /// `Ok(permit)` or `Err(retry_after)`.
    fn acquire(&mut self, now: u64) -> Result<ModelPermit, Option<u64>> {
        loop {
            match self.state {
                ModelState::Closed => {
                    return Ok(ModelPermit {
                        generation: self.generation,
                        trial: false,
                        started: now,
                    });
                }
                ModelState::Open { until } => {
                    if now < until {
                        return Err(Some(until - now));
                    }
                    self.generation += 1;
                    self.results.clear();
                    self.state = ModelState::HalfOpen {
                        issued: 0,
                        deadline: self.p.half_open_limit.map(|l| now + l),
                    };
                }
                ModelState::HalfOpen { issued, deadline } => {
                    if deadline.is_some_and(|d| now >= d) {
                        self.open(now);
                        continue;
                    }
                    if issued >= self.p.trials {
                        return Err(None);
                    }
                    self.state = ModelState::HalfOpen {
                        issued: issued + 1,
                        deadline,
                    };
                    return Ok(ModelPermit {
                        generation: self.generation,
                        trial: true,
                        started: now,
                    });
                }
            }
        }
    }

    fn release(&mut self, permit: ModelPermit) {
        if let ModelState::HalfOpen { issued, deadline } = self.state
            && permit.trial
            && permit.generation == self.generation
            && issued > 0
        {
            self.state = ModelState::HalfOpen {
                issued: issued - 1,
                deadline,
            };
        }
    }

    fn record(&mut self, permit: ModelPermit, failed: bool, now: u64) {
        if permit.generation != self.generation {
            return;
        }
        let slow = self
            .p
            .slow
            .is_some_and(|(ms, _)| now - permit.started >= ms);
        match self.state {
            ModelState::Closed if !permit.trial => {
                self.ring.push_back((failed, slow));
                if self.ring.len() > self.p.window {
                    self.ring.pop_front();
                }
                let outcomes: Vec<_> = self.ring.iter().copied().collect();
                if self.ring.len() >= self.p.minimum && self.rates_trip(&outcomes) {
                    self.open(now);
                }
            }
            ModelState::HalfOpen { .. } if permit.trial => {
                if self.results.len() >= self.p.trials {
                    return;
                }
                self.results.push((failed, slow));
                if self.results.len() == self.p.trials {
                    let outcomes = self.results.clone();
                    if self.rates_trip(&outcomes) {
                        self.open(now);
                    } else {
                        self.close();
                    }
                }
            }
            _ => {}
        }
    }

    fn breaker_state(&self) -> BreakerState {
        match self.state {
            ModelState::Closed => BreakerState::Closed,
            ModelState::Open { .. } => BreakerState::Open,
            ModelState::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    fn figures(&self) -> WindowFigures {
        let of = |v: &[(bool, bool)]| {
            WindowFigures::new(
                v.len() as u32,
                v.iter().filter(|o| o.0).count() as u32,
                v.iter().filter(|o| o.1).count() as u32,
            )
        };
        match self.state {
            ModelState::HalfOpen { .. } => of(&self.results),
            _ => of(&self.ring.iter().copied().collect::<Vec<_>>()),
        }
    }
}

fn config(p: &Params) -> BreakerConfig {
    let mut b = BreakerConfig::builder()
        .count_window(p.window as u32)
        .minimum_calls(p.minimum as u32)
        .failure_rate_threshold(p.threshold)
        .wait_in_open_exponential(
            Duration::from_millis(p.wait.0),
            p.wait.1,
            Duration::from_millis(p.wait.2),
        )
        .half_open_trials(p.trials as u32);
    if let Some((ms, rate)) = p.slow {
        b = b.slow_calls(Duration::from_millis(ms), rate);
    }
    if let Some(limit) = p.half_open_limit {
        b = b.max_wait_in_half_open(Duration::from_millis(limit));
    }
    b.build().expect("generated configs are valid")
}

fn now_ms(clock: &ManualClock) -> u64 {
    clock.now().as_nanos() / 1_000_000
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn breaker_matches_the_model(p in params(), ops in prop::collection::vec(op(), 1..120)) {
        let clock = ManualClock::new();
        let breaker = CircuitBreaker::with_clock(config(&p), clock.clone());
        let mut model = Model {
            p: p.clone(),
            state: ModelState::Closed,
            generation: 0,
            ring: VecDeque::new(),
            results: Vec::new(),
            openings: 0,
        };
        let mut held: Vec<(Permit<'_, ManualClock, ()>, ModelPermit)> = Vec::new();
        for op in ops {
            let now = now_ms(&clock);
            match op {
                Op::Call { outcome, took } => {
                    let real = breaker.try_acquire();
                    let expected = model.acquire(now);
                    match (real, expected) {
                        (Ok(permit), Ok(mp)) => {
                            prop_assert_eq!(permit.is_trial(), mp.trial);
                            clock.advance(Duration::from_millis(took));
                            let after = now_ms(&clock);
                            match outcome {
                                0 => { permit.success(); model.record(mp, false, after); }
                                1 => { permit.failure(); model.record(mp, true, after); }
                                _ => { permit.record(Outcome::Ignored); model.release(mp); }
                            }
                        }
                        (Err(rejected), Err(retry_after)) => {
                            prop_assert_eq!(
                                rejected.retry_after,
                                retry_after.map(Duration::from_millis)
                            );
                        }
                        (real, expected) => {
                            prop_assert!(false, "breaker {:?} but model {:?}", real.map(|p| p.is_trial()), expected);
                        }
                    }
                }
                Op::Hold => {
                    match (breaker.try_acquire(), model.acquire(now)) {
                        (Ok(permit), Ok(mp)) => held.push((permit, mp)),
                        (Err(_), Err(_)) => {}
                        (real, expected) => {
                            prop_assert!(false, "breaker {:?} but model {:?}", real.map(|p| p.is_trial()), expected);
                        }
                    }
                }
                Op::Finish { index, how } => {
                    if !held.is_empty() {
                        let (permit, mp) = held.remove(index.index(held.len()));
                        match how {
                            0 => { permit.success(); model.record(mp, false, now); }
                            1 => { permit.failure(); model.record(mp, true, now); }
                            2 => { permit.record(Outcome::Ignored); model.release(mp); }
                            _ => { drop(permit); model.release(mp); }
                        }
                    }
                }
                Op::Advance(ms) => {
                    clock.advance(Duration::from_millis(ms));
                }
            }
            prop_assert_eq!(breaker.state(), model.breaker_state());
            prop_assert_eq!(breaker.metrics().figures, model.figures());
        }
    }
}
