//! steadfast-guard's whole tower pipeline on the success path.
//!
//! Peers in the same run: `tower-resilience-circuitbreaker` 0.14's breaker
//! layer alone, and a bare tower `service_fn` call. Every contender is made
//! ready and called once per iteration, its future polled to completion
//! inside a tokio runtime context (the pipeline's timeouts and hedge timer
//! are real tokio timers).

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use steadfast_guard::TokioSleeper;
use steadfast_guard::backoff::Backoff;
use steadfast_guard::breaker::{BreakerConfig, CircuitBreaker};
use steadfast_guard::budget::PercentBudget;
use steadfast_guard::bulkhead::{Bulkhead, BulkheadConfig};
use steadfast_guard::hedge::{HedgeConfig, HedgeDelay, Hedger};
use steadfast_guard::pipeline::Pipeline;
use steadfast_guard::rate_limit::{Quota, RateLimiter};
use steadfast_guard::shed::{LoadShedder, ShedConfig};
use steadfast_guard::tower::{CircuitBreakerLayer, PipelineLayer};
use tower::{Layer, Service, service_fn};

/// Makes `service` ready and calls it once, polling on a no-op waker; every
/// contender here completes without waiting.
fn ready_call<S: Service<u64>>(service: &mut S, req: u64) -> Result<S::Response, S::Error> {
    let mut cx = Context::from_waker(Waker::noop());
    match service.poll_ready(&mut cx) {
        Poll::Ready(Ok(())) => {}
        Poll::Ready(Err(e)) => return Err(e),
        Poll::Pending => panic!("service not ready"),
    }
    let mut fut = pin!(service.call(req));
    match fut.as_mut().poll(&mut cx) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("success path must not wait"),
    }
}

fn echo() -> impl Service<
    u64,
    Response = u64,
    Error = Infallible,
    Future = std::future::Ready<Result<u64, Infallible>>,
> + Clone
+ Send
+ Sync
+ 'static {
    service_fn(|x: u64| std::future::ready(Ok::<_, Infallible>(x)))
}

fn pipeline_success(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _context = rt.enter();
    let mut group = c.benchmark_group("guard/pipeline_success");

    let pipeline = Pipeline::builder()
        .shed(LoadShedder::new(
            ShedConfig::builder().capacity(1_000).build().unwrap(),
        ))
        .rate_limit(RateLimiter::new(Quota::per_second(1_000_000_000).unwrap()))
        .total_timeout(Duration::from_secs(10))
        .retry(
            Backoff::exponential(Duration::from_millis(10))
                .build()
                .unwrap(),
            3,
            PercentBudget::new(PercentBudget::builder().build().unwrap()),
        )
        .breaker(CircuitBreaker::new(BreakerConfig::default()))
        .bulkhead(Bulkhead::new(
            BulkheadConfig::builder()
                .max_concurrent(1_000)
                .build()
                .unwrap(),
        ))
        .attempt_timeout(Duration::from_secs(1))
        .hedge(Hedger::new(
            HedgeConfig::builder()
                .max_hedges(1)
                .delay(HedgeDelay::Fixed(Duration::from_millis(500)))
                .build()
                .unwrap(),
        ))
        .build()
        .unwrap();
    let mut ours = PipelineLayer::new(pipeline, TokioSleeper).layer(echo());
    let mut n = 0_u64;
    group.bench_function("steadfast PipelineLayer (all stages)", |b| {
        b.iter(|| {
            n = n.wrapping_add(1);
            black_box(ready_call(&mut ours, black_box(n)).unwrap())
        })
    });

    // The same stages without hedging, whose attempt and timer allocations
    // are the largest single cost.
    let unhedged = Pipeline::builder()
        .shed(LoadShedder::new(
            ShedConfig::builder().capacity(1_000).build().unwrap(),
        ))
        .rate_limit(RateLimiter::new(Quota::per_second(1_000_000_000).unwrap()))
        .total_timeout(Duration::from_secs(10))
        .retry(
            Backoff::exponential(Duration::from_millis(10))
                .build()
                .unwrap(),
            3,
            PercentBudget::new(PercentBudget::builder().build().unwrap()),
        )
        .breaker(CircuitBreaker::new(BreakerConfig::default()))
        .bulkhead(Bulkhead::new(
            BulkheadConfig::builder()
                .max_concurrent(1_000)
                .build()
                .unwrap(),
        ))
        .attempt_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let blocking = unhedged.clone();
    let mut ours_unhedged = PipelineLayer::new(unhedged, TokioSleeper).layer(echo());
    group.bench_function("steadfast PipelineLayer (all stages but hedging)", |b| {
        b.iter(|| {
            n = n.wrapping_add(1);
            black_box(ready_call(&mut ours_unhedged, black_box(n)).unwrap())
        })
    });

    // The same stages on a blocking call: no future, no box.
    group.bench_function(
        "steadfast Pipeline::call (blocking, all stages but hedging)",
        |b| {
            b.iter(|| {
                n = n.wrapping_add(1);
                let x = black_box(n);
                black_box(blocking.call(|| Ok::<_, Infallible>(x)).unwrap())
            })
        },
    );

    let mut theirs = tower_resilience_circuitbreaker::CircuitBreakerLayer::builder()
        .build()
        .unwrap()
        .layer(echo());
    group.bench_function(
        "tower-resilience-circuitbreaker 0.14 (breaker alone)",
        |b| {
            b.iter(|| {
                n = n.wrapping_add(1);
                black_box(ready_call(&mut theirs, black_box(n)).unwrap())
            })
        },
    );

    let mut breaker_only =
        CircuitBreakerLayer::new(CircuitBreaker::new(BreakerConfig::default())).layer(echo());
    group.bench_function("steadfast CircuitBreakerLayer (breaker alone)", |b| {
        b.iter(|| {
            n = n.wrapping_add(1);
            black_box(ready_call(&mut breaker_only, black_box(n)).unwrap())
        })
    });

    let mut bare = echo();
    group.bench_function("tower service_fn (bare)", |b| {
        b.iter(|| {
            n = n.wrapping_add(1);
            black_box(ready_call(&mut bare, black_box(n)).unwrap())
        })
    });
    group.finish();
}

criterion_group!(benches, pipeline_success);
criterion_main!(benches);
