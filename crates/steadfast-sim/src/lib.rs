//! A deterministic discrete-event simulator for steadfast policies.
//!
//! Resilience policies are judged by how they behave when things go wrong:
//! how fast a detector notices a crash and how often it is wrong, how much a
//! retry policy amplifies load during an outage, whether two leaders can ever
//! overlap. This crate runs such questions in virtual time: nodes exchange
//! messages over a modelled network (latency distributions, independent and
//! bursty loss, partitions), while scheduled faults crash, restart and pause
//! nodes and make their clocks drift and jump. One seed determines every
//! random draw, so a run replays bit for bit, and many seeds run in parallel
//! for confidence intervals.
//!
//! # Quick example
//!
//! ```
//! use std::time::Duration;
//! use steadfast_core::{Clock, NodeId};
//! use steadfast_sim::{Context, Fault, Latency, Loss, Network, Process, SimConfig, Simulation, Timer};
//!
//! /// Sends a heartbeat every 100 ms of local time; remembers when it last heard each peer.
//! struct Beater { last_heard: Vec<Option<steadfast_core::Timestamp>> }
//!
//! impl Process for Beater {
//!     type Message = ();
//!     fn on_start(&mut self, ctx: &mut Context<'_, ()>) {
//!         ctx.set_timer(Duration::from_millis(100), 0);
//!     }
//!     fn on_timer(&mut self, ctx: &mut Context<'_, ()>, _: Timer) {
//!         ctx.broadcast(|| ());
//!         ctx.set_timer(Duration::from_millis(100), 0);
//!     }
//!     fn on_message(&mut self, ctx: &mut Context<'_, ()>, from: NodeId, _: ()) {
//!         self.last_heard[from.get() as usize] = Some(ctx.clock().now());
//!     }
//! }
//!
//! let network = Network::new(
//!     Latency::LogNormal { median: Duration::from_millis(2), sigma: 0.3 },
//!     Loss::Independent(0.01),
//! ).unwrap();
//! let config = SimConfig::builder(3).seed(7).network(network).build().unwrap();
//! let mut sim = Simulation::new(config, |_| Beater { last_heard: vec![None; 3] });
//! sim.schedule(Duration::from_secs(5), Fault::Crash(NodeId::new(2)));
//! sim.run_for(Duration::from_secs(10));
//!
//! let heard = sim.process(NodeId::new(0)).last_heard[2].unwrap();
//! assert!(heard.as_secs_f64() < 5.01, "nothing arrives from a crashed node");
//! ```
//!
//! # Map of the crate
//!
//! | item | what it is |
//! |---|---|
//! | [`Simulation`] | the event queue, nodes, network and faults; `run_for`, `step`, `trace_hash` |
//! | [`SimConfig`] | nodes, seed, network, clock drift; validated by `build()` |
//! | [`Process`], [`Context`], [`Timer`] | what a node does, and what it may do |
//! | [`Network`], [`Latency`], [`Loss`] | normal, lognormal, Pareto delays; independent and Gilbert–Elliott loss |
//! | [`Fault`] | crash, restart, pause, partition, heal, clock jump, network change |
//! | [`NodeClock`] | a node's drifting, jumping clock (a `steadfast_core::Clock`) |
//! | [`SimEvent`], [`SimStats`] | what happened, for observers and counters |
//! | [`run_seeds`], [`run_seeds_with_progress`], [`Summary`] | many seeds across cores; mean and 95% confidence interval |
//! | [`Table`], [`LinePlot`], [`HtmlReport`], [`ScenarioReport`] | results as CSV, SVG plots (plotters) and one self-contained HTML page |
//! | [`scenario`] | the scenarios that measure steadfast's policies |
//!
//! # Determinism
//!
//! Events at the same instant run in the order they were scheduled. The
//! random generator is a seeded `SmallRng` used only by the engine, in event
//! order. Processes must draw randomness from [`Context::rng`] and time from
//! [`Context::clock`] to stay reproducible.
#![forbid(unsafe_code)]

mod clock;
mod engine;
mod fault;
mod network;
mod report;
pub mod scenario;
mod stats;

pub use clock::NodeClock;
pub use engine::{
    Context, DropReason, Process, SimConfig, SimConfigBuilder, SimEvent, SimStats, Simulation,
    Timer, TimerId,
};
pub use fault::Fault;
pub use network::{Latency, Loss, Network};
pub use report::{HtmlReport, LinePlot, PlotError, ScenarioReport, Section, Series, Table};
pub use stats::{Summary, default_threads, run_seeds, run_seeds_with_progress};
