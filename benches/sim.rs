//! steadfast-sim: cost of one simulated event.
//!
//! Target: at least 10^6 simulated events per second per core, i.e. at most
//! 1 µs per event. The workload keeps 64 nodes busy: every delivered message
//! is answered to a random node over a lognormal-latency, lossy network, and
//! every node also runs a periodic timer. The floor is one push and one pop
//! on a `BinaryHeap` of the same size, the data structure under the engine.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use rand::Rng;
use steadfast_core::NodeId;
use steadfast_sim::{Context, Latency, Loss, Network, Process, SimConfig, Simulation, Timer};

struct Relay;

impl Process for Relay {
    type Message = u64;

    fn on_start(&mut self, ctx: &mut Context<'_, u64>) {
        ctx.set_timer(Duration::from_millis(10), 0);
        let n = ctx.node_count() as u64;
        let to = NodeId::new(ctx.rng().random_range(0..n));
        ctx.send(to, 0);
    }

    fn on_message(&mut self, ctx: &mut Context<'_, u64>, _from: NodeId, hops: u64) {
        let n = ctx.node_count() as u64;
        let to = NodeId::new(ctx.rng().random_range(0..n));
        ctx.send(to, hops + 1);
    }

    fn on_timer(&mut self, ctx: &mut Context<'_, u64>, _timer: Timer) {
        ctx.set_timer(Duration::from_millis(10), 0);
    }
}

fn events(c: &mut Criterion) {
    let mut group = c.benchmark_group("sim/event");
    let network = Network::new(
        Latency::LogNormal {
            median: Duration::from_micros(500),
            sigma: 0.5,
        },
        Loss::Independent(0.001),
    )
    .expect("valid network");
    let config = SimConfig::builder(64)
        .seed(1)
        .network(network)
        .build()
        .expect("valid config");
    let mut sim = Simulation::new(config, |_| Relay);
    // Reach a steady state before measuring.
    for _ in 0..100_000 {
        sim.step();
    }
    group.bench_function("steadfast Simulation::step (64 nodes)", |b| {
        b.iter(|| black_box(sim.step()))
    });

    let mut heap: BinaryHeap<Reverse<(u64, u64)>> =
        (0..128u64).map(|i| Reverse((i * 7919 % 1000, i))).collect();
    let mut seq = 1_000u64;
    group.bench_function("floor: BinaryHeap pop+push (128 entries)", |b| {
        b.iter(|| {
            let Reverse((at, _)) = heap.pop().expect("never empty");
            seq += 1;
            heap.push(Reverse((at + 500 + seq % 97, seq)));
            black_box(at)
        })
    });
    group.finish();
}

criterion_group!(benches, events);
criterion_main!(benches);
