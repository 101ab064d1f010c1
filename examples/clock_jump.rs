//! Code written against `steadfast_core::Clock` survives a clock that steps back.
//!
//! A rate meter computes events per second from the time elapsed since it
//! started. Run against the real clock, then against a manual clock that jumps
//! backwards mid-run: the meter keeps working instead of panicking or dividing
//! by a negative interval.
//!
//! Run with `cargo run -p steadfast-examples --example clock_jump`.

use std::time::Duration;

use steadfast_core::{Clock, ManualClock, MonotonicClock, Timestamp};

/// Counts events and reports their rate since it started.
struct RateMeter<C: Clock> {
    clock: C,
    started: Timestamp,
    events: u64,
}

impl<C: Clock> RateMeter<C> {
    fn new(clock: C) -> Self {
        let started = clock.now();
        RateMeter {
            clock,
            started,
            events: 0,
        }
    }

    fn record(&mut self) {
        self.events += 1;
    }

    /// Events per second, or `None` before any time has passed.
    fn rate(&self) -> Option<f64> {
        let elapsed = self.clock.now().saturating_duration_since(self.started);
        (!elapsed.is_zero()).then(|| self.events as f64 / elapsed.as_secs_f64())
    }
}

fn main() {
    let mut real = RateMeter::new(MonotonicClock::new());
    for _ in 0..1_000 {
        real.record();
        std::thread::sleep(Duration::from_micros(10));
    }
    match real.rate() {
        Some(rate) => println!("real clock: {rate:.0} events/s"),
        None => println!("real clock: no time has passed"),
    }

    let clock = ManualClock::starting_at(Timestamp::from_secs(100));
    let mut meter = RateMeter::new(clock.clone());
    for _ in 0..10 {
        meter.record();
        clock.advance(Duration::from_millis(100));
    }
    println!("manual clock after 1 s: {:?} events/s", meter.rate());
    clock.jump_backwards(Duration::from_secs(5));
    println!(
        "after the clock jumped back 5 s: {:?} events/s (no panic)",
        meter.rate()
    );
}
