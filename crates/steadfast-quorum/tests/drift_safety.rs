//! The drift rule, simulated: holders and a grantor on clocks running at
//! different rates, with random message delays and holder pauses.
//!
//! Within the drift bound κ no two holders ever believe their lease valid at
//! the same real instant. With clocks drifting beyond κ the very same
//! simulation finds such an instant, which shows the check can fail.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex as PlMutex;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use steadfast_core::{Clock, ManualClock, Timestamp};
use steadfast_quorum::{
    AcquireOutcome, BackendError, Holder, InMemoryBackend, LeaseBackend, LeaseGrant, LeasePolicy,
    Mutex, MutexGuard, RenewOutcome,
};

/// Real time, and every node's clock derived from it by its own rate.
struct World {
    real_nanos: PlMutex<u64>,
    clocks: Vec<(ManualClock, f64, u64)>,
}

impl World {
    fn advance(&self, nanos: u64) {
        let mut real = self.real_nanos.lock();
        *real += nanos;
        for (clock, rate, offset) in &self.clocks {
            // Truncation makes every clock read slightly slow, never fast.
            let reading = offset + (*real as f64 * rate) as u64;
            clock.advance_to(Timestamp::from_nanos(reading));
        }
    }
}

/// The grantor behind a network that delays each request and each answer.
struct Network {
    grantor: InMemoryBackend<ManualClock>,
    world: Arc<World>,
    rng: PlMutex<SmallRng>,
    max_delay_nanos: u64,
}

impl Network {
    fn delay(&self) {
        let d = self.rng.lock().random_range(0..=self.max_delay_nanos);
        self.world.advance(d);
    }

    fn round_trip<T>(&self, f: impl FnOnce(&InMemoryBackend<ManualClock>) -> T) -> T {
        self.delay();
        let answer = f(&self.grantor);
        self.delay();
        answer
    }
}

impl LeaseBackend for Network {
    fn acquire(
        &self,
        key: &str,
        owner: &str,
        term: Duration,
    ) -> Result<AcquireOutcome, BackendError> {
        self.round_trip(|g| g.acquire(key, owner, term))
    }
    fn renew(&self, grant: &LeaseGrant) -> Result<RenewOutcome, BackendError> {
        self.round_trip(|g| g.renew(grant))
    }
    fn release(&self, grant: &LeaseGrant) -> Result<(), BackendError> {
        self.round_trip(|g| g.release(grant))
    }
    fn holder(&self, key: &str) -> Result<Option<Holder>, BackendError> {
        self.round_trip(|g| g.holder(key))
    }
}

/// Runs one simulation; returns the number of instants with two believers
/// and the number of grants.
fn simulate(seed: u64, kappa: f64, actual_drift: f64) -> (usize, usize) {
    const HOLDERS: usize = 3;
    let mut rng = SmallRng::seed_from_u64(seed);
    let term = Duration::from_secs(1);
    let policy = LeasePolicy::builder(term)
        .drift_bound(kappa)
        .safety_margin(Duration::ZERO)
        .build()
        .expect("valid policy");
    // Node 0 is the grantor. Every rate lies in [1, actual_drift], so any two
    // clocks differ in rate by a factor of at most `actual_drift`.
    let mut clocks = Vec::new();
    for node in 0..=HOLDERS {
        let rate = match node {
            // Put the extremes on the grantor (fast) and holder 1 (slow) so
            // the worst case is always present.
            0 => actual_drift,
            1 => 1.0,
            _ => rng.random_range(1.0..=actual_drift),
        };
        let offset = rng.random_range(0..1_000_000_000u64);
        clocks.push((
            ManualClock::starting_at(Timestamp::from_nanos(offset)),
            rate,
            offset,
        ));
    }
    let world = Arc::new(World {
        real_nanos: PlMutex::new(0),
        clocks,
    });
    let network = Arc::new(Network {
        grantor: InMemoryBackend::with_clock(world.clocks[0].0.clone()),
        world: Arc::clone(&world),
        rng: PlMutex::new(SmallRng::seed_from_u64(seed ^ 0x5eed)),
        max_delay_nanos: 30_000_000,
    });
    let mutexes: Vec<_> = (1..=HOLDERS)
        .map(|i| {
            Mutex::with_clock(
                Arc::clone(&network),
                "leader",
                format!("holder-{i}"),
                policy,
                world.clocks[i].0.clone(),
            )
        })
        .collect();
    let mut guards: Vec<Option<MutexGuard<'_, Arc<Network>, ManualClock, ()>>> =
        (0..HOLDERS).map(|_| None).collect();
    let mut paused_until = [0u64; HOLDERS];
    let mut overlaps = 0;
    let mut grants = 0;
    for _step in 0..3_000 {
        world.advance(rng.random_range(1_000_000..20_000_000));
        let real = *world.real_nanos.lock();
        for h in 0..HOLDERS {
            if paused_until[h] > real {
                continue; // a paused holder does nothing, not even look at its lease
            }
            if rng.random_bool(0.01) {
                paused_until[h] = real + rng.random_range(0..3 * term.as_nanos() as u64);
                continue;
            }
            match guards[h].as_mut() {
                Some(guard) => {
                    if guard.maintain().is_err() {
                        guards[h] = None;
                    } else if rng.random_bool(0.002) {
                        guards[h] = None; // resign
                    }
                }
                None => {
                    if let Ok(guard) = mutexes[h].try_lock() {
                        grants += 1;
                        guards[h] = Some(guard);
                    }
                }
            }
        }
        // Who believes, right now, by their own clock (even if paused: a
        // paused holder that wakes up would act on this belief)?
        let believers = guards
            .iter()
            .enumerate()
            .filter(|(h, g)| {
                g.as_ref()
                    .is_some_and(|g| g.lease().is_valid(world.clocks[h + 1].0.now()))
            })
            .count();
        if believers > 1 {
            overlaps += 1;
        }
    }
    (overlaps, grants)
}

#[test]
fn within_the_drift_bound_no_two_holders_ever_believe() {
    for seed in 0..24 {
        // Actual drift up to just below κ.
        let kappa = 1.0 + (seed % 4) as f64 * 0.1;
        let actual = 1.0 + (kappa - 1.0) * 0.999;
        let (overlaps, grants) = simulate(seed, kappa, actual);
        assert_eq!(overlaps, 0, "seed {seed}, κ {kappa}");
        // Not vacuous: the lease changed hands many times.
        assert!(grants >= 5, "seed {seed}: only {grants} grants");
    }
}

#[test]
fn beyond_the_drift_bound_the_simulation_finds_an_overlap() {
    let found: usize = (0..24).map(|seed| simulate(seed, 1.05, 1.5).0).sum();
    println!("{found} instants with two believers over 24 runs");
    assert!(
        found > 0,
        "drift beyond κ should produce two believing holders"
    );
}

#[test]
fn holders_do_take_turns() {
    // Guard against a vacuous safety test: leadership must change hands.
    let policy = LeasePolicy::builder(Duration::from_secs(1))
        .build()
        .unwrap();
    let clock = ManualClock::new();
    let backend = InMemoryBackend::with_clock(clock.clone());
    let a = Mutex::with_clock(&backend, "k", "a", policy, clock.clone());
    let b = Mutex::with_clock(&backend, "k", "b", policy, clock.clone());
    let ga = a.try_lock().unwrap();
    clock.advance(Duration::from_secs(2));
    let gb = b.try_lock().unwrap();
    assert!(gb.token() > ga.token());
}
