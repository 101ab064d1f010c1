//! A real HTTP dependency behind the steadfast tower pipeline.
//!
//! Starts HTTP servers on 127.0.0.1 with injectable faults (an error rate,
//! added latency, an outage, one slow replica) and calls them through
//! `steadfast_guard::tower::PipelineLayer`, printing what each guard does:
//! the breaker failing fast during an outage, retries held to their budget,
//! hedging hiding a slow replica, and the rate limiter and bulkhead
//! refusing overload with typed errors.
//!
//! Run with `cargo run -p steadfast-examples --example http_resilience`.
//! `tests/http_resilience.rs` drives the same code and checks the claims.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use steadfast_core::{Clock, ManualClock, MonotonicClock, Observer};
use steadfast_guard::TokioSleeper;
use steadfast_guard::backoff::Backoff;
use steadfast_guard::breaker::{BreakerConfig, BreakerEvent, BreakerState, CircuitBreaker};
use steadfast_guard::budget::PercentBudget;
use steadfast_guard::bulkhead::{Bulkhead, BulkheadConfig};
use steadfast_guard::hedge::{HedgeBudget, HedgeConfig, HedgeDelay, Hedger};
use steadfast_guard::pipeline::{Pipeline, PipelineError};
use steadfast_guard::rate_limit::{Quota, RateLimiter};
use steadfast_guard::tower::{PipelineLayer, RetryAllErrors};
use tokio::net::{TcpListener, TcpStream};
use tower_service::Service;

// ------------------------------------------------------------------ server

/// Faults a server injects, changeable while it runs.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    /// Requests answered 500, per thousand (picked by a seeded hash of the request number).
    pub(crate) error_per_mille: AtomicU32,
    /// Added latency per request, in milliseconds.
    pub(crate) latency_ms: AtomicU64,
    /// While set, every request is answered 503.
    pub(crate) outage: AtomicBool,
}

/// What a server saw.
#[derive(Debug, Default)]
pub(crate) struct ServerStats {
    /// Requests received.
    pub(crate) requests: AtomicU64,
    /// Requests being handled now.
    pub(crate) in_flight: AtomicU64,
    /// The most requests handled at once.
    pub(crate) max_in_flight: AtomicU64,
}

impl ServerStats {
    /// Requests received so far.
    pub(crate) fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }
    /// The most requests handled at once so far.
    pub(crate) fn max_in_flight(&self) -> u64 {
        self.max_in_flight.load(Ordering::SeqCst)
    }
}

/// A running HTTP server with faults; stopped when dropped.
#[derive(Debug)]
pub(crate) struct FaultyServer {
    /// Where it listens (127.0.0.1, a free port).
    pub(crate) addr: SocketAddr,
    /// Its faults.
    pub(crate) faults: Arc<Faults>,
    /// What it saw.
    pub(crate) stats: Arc<ServerStats>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultyServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct InFlight(Arc<ServerStats>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

fn scramble(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

async fn handle(faults: Arc<Faults>, stats: Arc<ServerStats>) -> Response<Full<Bytes>> {
    let n = stats.requests.fetch_add(1, Ordering::SeqCst);
    let now = stats.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    stats.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let _in_flight = InFlight(Arc::clone(&stats));
    let latency = faults.latency_ms.load(Ordering::SeqCst);
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    let status = if faults.outage.load(Ordering::SeqCst) {
        StatusCode::SERVICE_UNAVAILABLE
    } else if scramble(n) % 1000 < u64::from(faults.error_per_mille.load(Ordering::SeqCst)) {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    };
    let mut response = Response::new(Full::new(Bytes::from_static(b"steadfast")));
    *response.status_mut() = status;
    response
}

/// Starts a server on 127.0.0.1 with a free port.
///
/// # Errors
///
/// When the port cannot be bound.
pub(crate) async fn start_server(faults: Faults) -> io::Result<FaultyServer> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let faults = Arc::new(faults);
    let stats = Arc::new(ServerStats::default());
    let (f, s) = (Arc::clone(&faults), Arc::clone(&stats));
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (f, s) = (Arc::clone(&f), Arc::clone(&s));
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |_req: Request<hyper::body::Incoming>| {
                        let (f, s) = (Arc::clone(&f), Arc::clone(&s));
                        async move { Ok::<_, Infallible>(handle(f, s).await) }
                    });
                // A client hanging up mid-request is not the server's failure.
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(FaultyServer {
        addr,
        faults,
        stats,
        task,
    })
}

// ------------------------------------------------------------------ client

/// Why an HTTP call failed.
#[derive(Debug)]
pub(crate) enum ClientError {
    /// Connecting failed.
    Io(io::Error),
    /// The HTTP exchange failed.
    Http(hyper::Error),
    /// The server answered with a 5xx status.
    Status(u16),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Io(e) => write!(f, "connect: {e}"),
            ClientError::Http(e) => write!(f, "http: {e}"),
            ClientError::Status(s) => write!(f, "server answered {s}"),
        }
    }
}

impl std::error::Error for ClientError {}

/// A tower service sending `GET path` to its replicas in turn (one
/// connection per call, so a cancelled hedge closes its connection).
#[derive(Debug, Clone)]
pub(crate) struct HttpClient {
    replicas: Arc<Vec<SocketAddr>>,
    next: Arc<AtomicUsize>,
}

impl HttpClient {
    /// A client for these replicas.
    pub(crate) fn new(replicas: Vec<SocketAddr>) -> HttpClient {
        HttpClient {
            replicas: Arc::new(replicas),
            next: Arc::default(),
        }
    }
}

async fn get(addr: SocketAddr, path: &'static str) -> Result<u16, ClientError> {
    let stream = TcpStream::connect(addr).await.map_err(ClientError::Io)?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(ClientError::Http)?;
    tokio::spawn(connection);
    let request = Request::get(path)
        .header(hyper::header::HOST, addr.to_string())
        .body(Empty::<Bytes>::new())
        .expect("a GET with a static path is a valid request");
    let response = sender
        .send_request(request)
        .await
        .map_err(ClientError::Http)?;
    let status = response.status().as_u16();
    response
        .into_body()
        .collect()
        .await
        .map_err(ClientError::Http)?;
    if status >= 500 {
        Err(ClientError::Status(status))
    } else {
        Ok(status)
    }
}

impl Service<&'static str> for HttpClient {
    type Response = u16;
    type Error = ClientError;
    type Future = Pin<Box<dyn Future<Output = Result<u16, ClientError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ClientError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, path: &'static str) -> Self::Future {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.replicas.len();
        Box::pin(get(self.replicas[i], path))
    }
}

type Guarded<K, O, H> =
    steadfast_guard::tower::PipelineService<HttpClient, K, O, H, TokioSleeper, RetryAllErrors>;

fn guard<K: Clock, O: Observer<BreakerEvent>, H>(
    pipeline: Pipeline<K, O, H>,
    client: HttpClient,
) -> Guarded<K, O, H> {
    tower_layer::Layer::layer(&PipelineLayer::new(pipeline, TokioSleeper), client)
}

/// Runs `n` calls at once through clones of `service`.
async fn burst<K, O, H>(
    service: &Guarded<K, O, H>,
    n: usize,
) -> Vec<Result<u16, PipelineError<ClientError>>>
where
    K: Clock + 'static,
    O: Observer<BreakerEvent> + 'static,
    H: HedgeBudget + 'static,
{
    let calls: Vec<_> = (0..n)
        .map(|_| {
            let mut service = service.clone();
            tokio::spawn(async move { service.call("/").await })
        })
        .collect();
    let mut out = Vec::with_capacity(n);
    for call in calls {
        out.push(call.await.expect("call task panicked"));
    }
    out
}

// ------------------------------------------------------------------ scenarios

/// What the outage scenario saw.
#[derive(Debug)]
pub(crate) struct OutageReport {
    /// Failed calls before the breaker opened.
    pub(crate) failures_to_open: u32,
    /// Calls made while open, all refused by the breaker.
    pub(crate) refused_while_open: usize,
    /// Requests the server saw while the breaker was open.
    pub(crate) server_requests_while_open: u64,
    /// Trial calls configured in half-open.
    pub(crate) trials_configured: u32,
    /// Concurrent calls sent once the open wait had passed.
    pub(crate) half_open_burst: usize,
    /// Of those, requests the server saw.
    pub(crate) half_open_admitted: u64,
    /// Of those, calls the breaker refused.
    pub(crate) half_open_refused: usize,
    /// The breaker's state after the outage ended and the trials passed.
    pub(crate) state_after_recovery: BreakerState,
}

/// An outage: the breaker opens, fails fast, and lets through only its
/// half-open trials. The breaker's time is a [`ManualClock`] so that the
/// open wait passes exactly when the scenario says.
///
/// # Errors
///
/// When the server cannot start.
pub(crate) async fn outage() -> io::Result<OutageReport> {
    let server = start_server(Faults::default()).await?;
    server.faults.outage.store(true, Ordering::SeqCst);
    server.faults.latency_ms.store(50, Ordering::SeqCst);
    let clock = ManualClock::new();
    let trials = 2;
    let breaker = CircuitBreaker::with_clock(
        BreakerConfig::builder()
            .count_window(10)
            .minimum_calls(10)
            .failure_rate_threshold(0.5)
            .wait_in_open(Duration::from_secs(30))
            .half_open_trials(trials)
            .build()
            .expect("valid breaker config"),
        clock.clone(),
    );
    let pipeline = Pipeline::builder_with_clock(clock.clone())
        .breaker(breaker)
        .attempt_timeout(Duration::from_secs(5))
        .build()
        .expect("valid pipeline");
    let breaker = pipeline.breaker().expect("configured").clone();
    let mut service = guard(pipeline, HttpClient::new(vec![server.addr]));

    let mut failures_to_open = 0;
    while breaker.state() != BreakerState::Open && failures_to_open < 100 {
        let _ = service.call("/").await;
        failures_to_open += 1;
    }
    let before = server.stats.requests();
    let mut refused_while_open = 0;
    for _ in 0..50 {
        if let Err(PipelineError::CircuitOpen(_)) = service.call("/").await {
            refused_while_open += 1;
        }
    }
    let server_requests_while_open = server.stats.requests() - before;

    clock.advance(Duration::from_secs(30));
    let before = server.stats.requests();
    let half_open_burst = 10;
    let results = burst(&service, half_open_burst).await;
    let half_open_admitted = server.stats.requests() - before;
    let half_open_refused = results
        .iter()
        .filter(|r| matches!(r, Err(PipelineError::CircuitOpen(_))))
        .count();

    server.faults.outage.store(false, Ordering::SeqCst);
    server.faults.latency_ms.store(0, Ordering::SeqCst);
    clock.advance(Duration::from_secs(30));
    for _ in 0..trials {
        let _ = service.call("/").await;
    }
    Ok(OutageReport {
        failures_to_open,
        refused_while_open,
        server_requests_while_open,
        trials_configured: trials,
        half_open_burst,
        half_open_admitted,
        half_open_refused,
        state_after_recovery: breaker.state(),
    })
}

/// What the retry budget scenario saw.
#[derive(Debug)]
pub(crate) struct BudgetReport {
    /// Calls the client made.
    pub(crate) client_calls: u64,
    /// Requests the server saw (first attempts and retries).
    pub(crate) server_requests: u64,
    /// The budget's share of retries per call.
    pub(crate) percent_can_retry: f64,
    /// The budget's floor: retries allowed with no traffic over its ttl.
    pub(crate) floor: u64,
}

/// A dependency failing every request, called with up to 4 attempts per
/// call: the retry budget keeps the extra load to its share plus the floor.
///
/// # Errors
///
/// When the server cannot start.
pub(crate) async fn retry_budget() -> io::Result<BudgetReport> {
    let server = start_server(Faults::default()).await?;
    server.faults.outage.store(true, Ordering::SeqCst);
    let (percent, per_sec, ttl_secs) = (0.1, 1, 10);
    let budget = PercentBudget::new(
        PercentBudget::builder()
            .percent_can_retry(percent)
            .min_retries_per_sec(per_sec)
            .ttl(Duration::from_secs(ttl_secs))
            .build()
            .expect("valid budget"),
    );
    let pipeline = Pipeline::builder()
        .retry(
            Backoff::constant(Duration::from_millis(1))
                .build()
                .expect("valid backoff"),
            4,
            budget,
        )
        .build()
        .expect("valid pipeline");
    let mut service = guard(pipeline, HttpClient::new(vec![server.addr]));
    let client_calls = 100;
    for _ in 0..client_calls {
        let _ = service.call("/").await;
    }
    Ok(BudgetReport {
        client_calls,
        server_requests: server.stats.requests(),
        percent_can_retry: percent,
        floor: u64::from(per_sec) * ttl_secs,
    })
}

/// What the hedging scenario saw.
#[derive(Debug)]
pub(crate) struct HedgeReport {
    /// The slow replica's added latency.
    pub(crate) slow_delay: Duration,
    /// p99 of calls without hedging.
    pub unhedged_p99: Duration,
    /// p99 of calls with hedging.
    pub hedged_p99: Duration,
    /// Calls in each measurement.
    pub(crate) calls: (usize, usize),
}

fn p99(mut latencies: Vec<Duration>) -> Duration {
    latencies.sort();
    let rank = (latencies.len() * 99).div_ceil(100).max(1);
    latencies[rank - 1]
}

async fn timed<S: Service<&'static str>>(service: &mut S, calls: usize) -> Vec<Duration> {
    let mut latencies = Vec::with_capacity(calls);
    for _ in 0..calls {
        let started = Instant::now();
        let _ = service.call("/").await;
        latencies.push(started.elapsed());
    }
    latencies
}

/// Two replicas, one slow, called in turn: without hedging half the calls
/// wait for the slow one; with a hedge after 30 ms the fast one answers.
///
/// # Errors
///
/// When a server cannot start.
pub(crate) async fn hedging() -> io::Result<HedgeReport> {
    let slow_delay = Duration::from_millis(600);
    let fast = start_server(Faults::default()).await?;
    let slow = start_server(Faults::default()).await?;
    slow.faults
        .latency_ms
        .store(slow_delay.as_millis() as u64, Ordering::SeqCst);
    let replicas = vec![fast.addr, slow.addr];

    let plain = Pipeline::builder().build().expect("valid pipeline");
    let mut unhedged = guard(plain, HttpClient::new(replicas.clone()));
    let unhedged_calls = 10;
    let unhedged_p99 = p99(timed(&mut unhedged, unhedged_calls).await);

    let hedger = Hedger::new(
        HedgeConfig::builder()
            .max_hedges(1)
            .delay(HedgeDelay::Fixed(Duration::from_millis(30)))
            .build()
            .expect("valid hedge config"),
    );
    let pipeline = Pipeline::builder_with_clock(MonotonicClock::new())
        .attempt_timeout(Duration::from_secs(5))
        .hedge(hedger)
        .build()
        .expect("valid pipeline");
    let mut hedged = guard(pipeline, HttpClient::new(replicas));
    let hedged_calls = 40;
    let hedged_p99 = p99(timed(&mut hedged, hedged_calls).await);
    Ok(HedgeReport {
        slow_delay,
        unhedged_p99,
        hedged_p99,
        calls: (unhedged_calls, hedged_calls),
    })
}

/// What the overload scenario saw.
#[derive(Debug)]
pub(crate) struct OverloadReport {
    /// Concurrent calls in each burst.
    pub(crate) burst: usize,
    /// The rate limiter's burst size.
    pub(crate) rate_burst: u32,
    /// Calls the rate limiter refused.
    pub(crate) rate_limited: usize,
    /// Requests the server behind the rate limiter saw.
    pub(crate) rate_server_requests: u64,
    /// The bulkhead's cap.
    pub(crate) bulkhead_limit: usize,
    /// Calls the bulkhead refused.
    pub(crate) bulkhead_full: usize,
    /// The most requests the server behind the bulkhead handled at once.
    pub(crate) bulkhead_server_max_in_flight: u64,
}

/// Bursts of concurrent calls against a rate limiter and a bulkhead.
///
/// # Errors
///
/// When a server cannot start.
pub(crate) async fn overload() -> io::Result<OverloadReport> {
    let burst_size = 30;
    let server = start_server(Faults::default()).await?;
    server.faults.latency_ms.store(100, Ordering::SeqCst);
    let rate_burst = 5;
    let pipeline = Pipeline::builder()
        .rate_limit(RateLimiter::new(
            Quota::per_second(rate_burst).expect("valid quota"),
        ))
        .build()
        .expect("valid pipeline");
    let results = burst(
        &guard(pipeline, HttpClient::new(vec![server.addr])),
        burst_size,
    )
    .await;
    let rate_limited = results
        .iter()
        .filter(|r| matches!(r, Err(PipelineError::RateLimited(_))))
        .count();
    let rate_server_requests = server.stats.requests();

    let server = start_server(Faults::default()).await?;
    server.faults.latency_ms.store(100, Ordering::SeqCst);
    let bulkhead_limit = 4;
    let pipeline = Pipeline::builder()
        .bulkhead(Bulkhead::new(
            BulkheadConfig::builder()
                .max_concurrent(bulkhead_limit)
                .build()
                .expect("valid bulkhead"),
        ))
        .build()
        .expect("valid pipeline");
    let results = burst(
        &guard(pipeline, HttpClient::new(vec![server.addr])),
        burst_size,
    )
    .await;
    let bulkhead_full = results
        .iter()
        .filter(|r| matches!(r, Err(PipelineError::BulkheadFull(_))))
        .count();
    Ok(OverloadReport {
        burst: burst_size,
        rate_burst,
        rate_limited,
        rate_server_requests,
        bulkhead_limit,
        bulkhead_full,
        bulkhead_server_max_in_flight: server.stats.max_in_flight(),
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> io::Result<()> {
    println!("outage: the dependency answers 503 to everything");
    let r = outage().await?;
    println!("  breaker opened after {} failed calls", r.failures_to_open);
    println!(
        "  {} calls while open: {} refused at once, {} reached the server",
        50, r.refused_while_open, r.server_requests_while_open
    );
    println!(
        "  open wait over, {} calls at once: {} reached the server (trials: {}), {} refused",
        r.half_open_burst, r.half_open_admitted, r.trials_configured, r.half_open_refused
    );
    println!(
        "  outage over, trials passed: breaker {:?}",
        r.state_after_recovery
    );

    println!("retry budget: every request fails, up to 4 attempts per call");
    let r = retry_budget().await?;
    println!(
        "  {} calls made {} requests (cap {:.0} % + floor {} = {})",
        r.client_calls,
        r.server_requests,
        r.percent_can_retry * 100.0,
        r.floor,
        (r.client_calls as f64 * (1.0 + r.percent_can_retry)) as u64 + r.floor
    );

    let r = hedging().await?;
    println!("hedging: two replicas, one {:?} slower", r.slow_delay);
    println!(
        "  without hedging: p99 {:?} over {} calls",
        r.unhedged_p99, r.calls.0
    );
    println!(
        "  hedged after 30ms: p99 {:?} over {} calls",
        r.hedged_p99, r.calls.1
    );

    println!("overload: bursts of concurrent calls, 100ms each");
    let r = overload().await?;
    println!(
        "  rate limit {}/s: {} of {} refused (RateLimited), server saw {}",
        r.rate_burst, r.rate_limited, r.burst, r.rate_server_requests
    );
    println!(
        "  bulkhead of {}: {} of {} refused (BulkheadFull), server peak concurrency {}",
        r.bulkhead_limit, r.bulkhead_full, r.burst, r.bulkhead_server_max_in_flight
    );
    Ok(())
}
