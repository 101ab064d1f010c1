//! A real HTTP dependency behind the steadfast tower pipeline.
//!
//! Starts HTTP servers on 127.0.0.1 with injectable faults (an error rate,
//! added latency, latency that grows with load, an outage, one slow replica)
//! and calls them through `steadfast_guard::tower::PipelineLayer`, printing
//! what each guard does: the breaker failing fast during an outage, retries
//! held to their budget, hedging hiding a slow replica, the rate limiter and
//! bulkhead refusing overload with typed errors, and the adaptive limit
//! finding a concurrency the server can take. One server limits each of
//! its clients with a keyed rate limiter and tells them what they have left
//! in `RateLimit-*` headers; a client's pipeline honours its `Retry-After`.
//! One scenario calls the same pipeline from a plain thread with a blocking
//! client ([`Pipeline::call`]).
//!
//! Run with `cargo run -p steadfast-examples --example http_resilience`.
//! `tests/http_resilience.rs` drives the same code and checks the claims.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Bytes;
use hyper::header::HeaderValue;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use steadfast_core::{Clock, ManualClock, MonotonicClock, Observer, Recorder};
use steadfast_guard::TokioSleeper;
use steadfast_guard::adaptive::{AdaptiveEvent, AdaptiveLimiter, Aimd, AimdConfig};
use steadfast_guard::backoff::Backoff;
use steadfast_guard::breaker::{BreakerConfig, BreakerEvent, BreakerState, CircuitBreaker};
use steadfast_guard::budget::{PercentBudget, RetryKind, Unlimited};
use steadfast_guard::bulkhead::{Bulkhead, BulkheadConfig};
use steadfast_guard::hedge::{HedgeBudget, HedgeConfig, HedgeDelay, Hedger};
use steadfast_guard::pipeline::{Pipeline, PipelineError};
use steadfast_guard::rate_limit::{Headroom, KeyedRateLimiter, Quota, RateLimitError, RateLimiter};
use steadfast_guard::retry::Verdict;
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
    /// Added latency per request in flight when a request arrives (itself
    /// included), in milliseconds: a server that slows down as work piles up.
    pub(crate) latency_per_in_flight_ms: AtomicU64,
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
    /// Requests the server's own per-client limiter answered 429, before
    /// any work (not counted in `requests`).
    pub(crate) refused: AtomicU64,
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
    /// Requests answered 429 by the server's per-client limiter so far.
    pub(crate) fn refused(&self) -> u64 {
        self.refused.load(Ordering::SeqCst)
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
    let latency = faults.latency_ms.load(Ordering::SeqCst).saturating_add(
        faults
            .latency_per_in_flight_ms
            .load(Ordering::SeqCst)
            .saturating_mul(now),
    );
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

/// A server's own admission control: one GCRA budget per client, named by
/// the request's `x-client` header.
pub(crate) type ClientLimiter = KeyedRateLimiter<String>;

/// Whole seconds, rounded up (HTTP's delta-seconds).
fn seconds_up(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// `RateLimit-Limit`, `-Remaining` and `-Reset` (seconds until the client's
/// whole burst is back) from what its limiter has left.
fn rate_limit_headers(response: &mut Response<Full<Bytes>>, left: Headroom) {
    let headers = response.headers_mut();
    headers.insert("ratelimit-limit", HeaderValue::from(left.burst()));
    headers.insert("ratelimit-remaining", HeaderValue::from(left.remaining()));
    headers.insert(
        "ratelimit-reset",
        HeaderValue::from(seconds_up(left.full_in())),
    );
}

/// Admits the request against `client`'s budget, if the server limits
/// clients: a 429 with `Retry-After` before any work when over it, the
/// handler's reply with the headroom left otherwise.
async fn admit_and_handle(
    faults: Arc<Faults>,
    stats: Arc<ServerStats>,
    limiter: Option<Arc<ClientLimiter>>,
    client: String,
) -> Response<Full<Bytes>> {
    let Some(limiter) = limiter else {
        return handle(faults, stats).await;
    };
    match limiter.check_n_headroom(&client, 1) {
        Ok(left) => {
            let mut response = handle(faults, stats).await;
            rate_limit_headers(&mut response, left);
            response
        }
        Err(refused) => {
            stats.refused.fetch_add(1, Ordering::SeqCst);
            let mut response = Response::new(Full::new(Bytes::from_static(b"slow down")));
            *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            // One cell never exceeds the burst: the refusal says when.
            if let RateLimitError::NotUntil(not_until) = refused {
                response.headers_mut().insert(
                    hyper::header::RETRY_AFTER,
                    HeaderValue::from(seconds_up(not_until.wait_time())),
                );
            }
            rate_limit_headers(&mut response, limiter.headroom(&client));
            response
        }
    }
}

/// Starts a server on 127.0.0.1 with a free port.
///
/// # Errors
///
/// When the port cannot be bound.
pub(crate) async fn start_server(faults: Faults) -> io::Result<FaultyServer> {
    start_server_limiting(faults, None).await
}

/// Starts a server on 127.0.0.1 with a free port that admits each client
/// (its `x-client` header) through `limiter`, when given.
///
/// # Errors
///
/// When the port cannot be bound.
pub(crate) async fn start_server_limiting(
    faults: Faults,
    limiter: Option<Arc<ClientLimiter>>,
) -> io::Result<FaultyServer> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let faults = Arc::new(faults);
    let stats = Arc::new(ServerStats::default());
    let (f, s) = (Arc::clone(&faults), Arc::clone(&stats));
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (f, s, l) = (Arc::clone(&f), Arc::clone(&s), limiter.clone());
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                        let (f, s, l) = (Arc::clone(&f), Arc::clone(&s), l.clone());
                        let client = req
                            .headers()
                            .get("x-client")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("anonymous")
                            .to_owned();
                        async move { Ok::<_, Infallible>(admit_and_handle(f, s, l, client).await) }
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
    /// A blocking exchange failed after connecting: writing the request,
    /// reading the reply, or an unreadable status line.
    Exchange(io::Error),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Io(e) => write!(f, "connect: {e}"),
            ClientError::Http(e) => write!(f, "http: {e}"),
            ClientError::Status(s) => write!(f, "server answered {s}"),
            ClientError::Exchange(e) => write!(f, "exchange: {e}"),
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

/// A reply's status and the rate-limit headers a server sent with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LimitedReply {
    /// The HTTP status.
    pub(crate) status: u16,
    /// `RateLimit-Limit`: the most requests admitted at once.
    pub(crate) limit: Option<u64>,
    /// `RateLimit-Remaining`: requests still admitted at once.
    pub(crate) remaining: Option<u64>,
    /// `RateLimit-Reset`: seconds until the whole burst is back.
    pub(crate) reset: Option<u64>,
    /// `Retry-After` (seconds), on a 429.
    pub(crate) retry_after: Option<u64>,
}

/// `GET /` as client `client` (the `x-client` header), keeping the
/// rate-limit headers of the reply.
///
/// # Errors
///
/// When connecting or the HTTP exchange fails.
pub(crate) async fn get_as(addr: SocketAddr, client: &str) -> Result<LimitedReply, ClientError> {
    let stream = TcpStream::connect(addr).await.map_err(ClientError::Io)?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(ClientError::Http)?;
    tokio::spawn(connection);
    let request = Request::get("/")
        .header(hyper::header::HOST, addr.to_string())
        .header("x-client", client)
        .body(Empty::<Bytes>::new())
        .expect("a GET with a plain header is a valid request");
    let response = sender
        .send_request(request)
        .await
        .map_err(ClientError::Http)?;
    let number = |name: &str| -> Option<u64> {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
    };
    let reply = LimitedReply {
        status: response.status().as_u16(),
        limit: number("ratelimit-limit"),
        remaining: number("ratelimit-remaining"),
        reset: number("ratelimit-reset"),
        retry_after: number("retry-after"),
    };
    response
        .into_body()
        .collect()
        .await
        .map_err(ClientError::Http)?;
    Ok(reply)
}

/// A tower service calling `GET /` on one server as a named client (the
/// `x-client` header), answering with the reply's rate-limit headers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NamedClient {
    addr: SocketAddr,
    name: &'static str,
}

impl Service<()> for NamedClient {
    type Response = LimitedReply;
    type Error = ClientError;
    type Future = Pin<Box<dyn Future<Output = Result<LimitedReply, ClientError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ClientError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, (): ()) -> Self::Future {
        let NamedClient { addr, name } = *self;
        Box::pin(async move { get_as(addr, name).await })
    }
}

/// Retries a 429 after the server's `Retry-After` (a second when it sends
/// none) and a failed exchange after the backoff; returns everything else.
fn honour_retry_after(outcome: &Result<LimitedReply, ClientError>) -> Verdict {
    match outcome {
        Ok(reply) if reply.status == 429 => {
            Verdict::RetryAfter(Duration::from_secs(reply.retry_after.unwrap_or(1)))
        }
        Ok(_) => Verdict::Return,
        Err(_) => Verdict::Retry(RetryKind::Error),
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

/// `GET path` over a blocking socket: one connection per call
/// (`Connection: close`), every step bounded by `limit`. Returns the status,
/// with 5xx as [`ClientError::Status`].
///
/// # Errors
///
/// When connecting, writing or reading fails or takes longer than `limit`,
/// when the status line cannot be read, or when the server answers 5xx.
pub(crate) fn blocking_get(
    addr: SocketAddr,
    path: &str,
    limit: Duration,
) -> Result<u16, ClientError> {
    let stream = std::net::TcpStream::connect_timeout(&addr, limit).map_err(ClientError::Io)?;
    stream
        .set_read_timeout(Some(limit))
        .and_then(|()| stream.set_write_timeout(Some(limit)))
        .map_err(ClientError::Exchange)?;
    let mut writer = &stream;
    write!(
        writer,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .and_then(|()| writer.flush())
    .map_err(ClientError::Exchange)?;
    // A status line is short; a peer sending more without a line end is not HTTP.
    let mut reader = BufReader::new(stream.take(64 * 1024));
    let mut line = String::new();
    reader
        .by_ref()
        .take(256)
        .read_line(&mut line)
        .map_err(ClientError::Exchange)?;
    let mut parts = line.split(' ');
    let status = match (parts.next(), parts.next()) {
        (Some(version), Some(code)) if version.starts_with("HTTP/1.") => code.parse::<u16>().ok(),
        _ => None,
    }
    .ok_or_else(|| {
        ClientError::Exchange(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("not an HTTP/1.x status line: {line:?}"),
        ))
    })?;
    // Read the rest so the server's close is orderly; the server closes
    // after the reply, so this ends at its end (or at the read timeout).
    io::copy(&mut reader, &mut io::sink()).map_err(ClientError::Exchange)?;
    if status >= 500 {
        Err(ClientError::Status(status))
    } else {
        Ok(status)
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

/// What the blocking scenario saw.
#[derive(Debug)]
pub(crate) struct BlockingReport {
    /// The breaker's count window (and minimum calls): failed attempts that open it.
    pub(crate) window: u32,
    /// Attempts per call (the first and its retries).
    pub(crate) max_attempts: u32,
    /// Whether the breaker opened during the outage.
    pub(crate) opened: bool,
    /// Calls made until it opened.
    pub(crate) calls_to_open: u32,
    /// Requests the server saw until it opened (every attempt, retries included).
    pub(crate) requests_to_open: u64,
    /// The breaker's open wait.
    pub(crate) open_wait: Duration,
    /// Calls made while the breaker stayed open.
    pub(crate) calls_while_open: usize,
    /// Of those, calls refused with [`PipelineError::CircuitOpen`].
    pub(crate) refused_while_open: usize,
    /// Requests the server saw from the calls made while open.
    pub(crate) server_requests_while_open: u64,
    /// The longest a refused call took.
    pub(crate) slowest_refusal: Duration,
    /// Waits of an open wait (plus a margin) until a trial closed the breaker.
    pub(crate) recovery_rounds: u32,
    /// What the last call after an open wait returned (`None` for an error):
    /// the call whose trial closed the breaker, when one did.
    pub(crate) recovery_status: Option<u16>,
    /// The breaker's state at the end.
    pub(crate) state_after_recovery: BreakerState,
    /// Every transition the breaker reported, in order.
    pub(crate) transitions: Vec<(BreakerState, BreakerState)>,
}

/// The outage again, from a plain thread with a blocking HTTP/1.1 client
/// called through [`Pipeline::call`], on the real clock: retries with a
/// budget, a breaker and a measured attempt timeout. The breaker opens,
/// refuses calls without touching the server for its open wait, and after
/// the outage and the wait, a trial call closes it.
///
/// # Errors
///
/// When the server cannot start.
pub(crate) async fn blocking() -> io::Result<BlockingReport> {
    let server = start_server(Faults::default()).await?;
    let (addr, faults, stats) = (
        server.addr,
        Arc::clone(&server.faults),
        Arc::clone(&server.stats),
    );
    // The client blocks its thread, so it runs on a thread of its own while
    // the server keeps running on the runtime's workers.
    let report = tokio::task::spawn_blocking(move || blocking_calls(addr, &faults, &stats))
        .await
        .expect("blocking scenario panicked");
    drop(server);
    Ok(report)
}

fn blocking_calls(addr: SocketAddr, faults: &Faults, stats: &ServerStats) -> BlockingReport {
    let (window, max_attempts) = (6, 3);
    let open_wait = Duration::from_millis(250);
    let attempt_limit = Duration::from_secs(2);
    let transitions = Recorder::<BreakerEvent>::new();
    let breaker = CircuitBreaker::with_observer(
        BreakerConfig::builder()
            .count_window(window)
            .minimum_calls(window)
            .failure_rate_threshold(0.5)
            .wait_in_open(open_wait)
            .half_open_trials(1)
            .build()
            .expect("valid breaker config"),
        MonotonicClock::new(),
        transitions.clone(),
    );
    let budget = PercentBudget::new(
        PercentBudget::builder()
            .percent_can_retry(0.2)
            .min_retries_per_sec(10)
            .ttl(Duration::from_secs(1))
            .build()
            .expect("valid budget"),
    );
    let pipeline = Pipeline::builder()
        .retry(
            Backoff::exponential(Duration::from_millis(10))
                .build()
                .expect("valid backoff"),
            max_attempts,
            budget,
        )
        .breaker(breaker)
        .attempt_timeout(attempt_limit)
        .build()
        .expect("valid pipeline");
    let breaker = pipeline.breaker().expect("configured").clone();
    let get = || blocking_get(addr, "/", attempt_limit);

    faults.outage.store(true, Ordering::SeqCst);
    let mut calls_to_open = 0;
    while breaker.state() != BreakerState::Open && calls_to_open < 20 {
        let _ = pipeline.call(get);
        calls_to_open += 1;
    }
    let opened = breaker.state() == BreakerState::Open;
    let requests_to_open = stats.requests();

    // A call counts as made while open only if the breaker reported no
    // transition during it: should the thread stall past the open wait, the
    // call that let a trial through is left out rather than miscounted.
    let (mut calls_while_open, mut refused_while_open) = (0, 0);
    let mut server_requests_while_open = 0;
    let mut slowest_refusal = Duration::ZERO;
    for _ in 0..20 {
        let (seen, before) = (transitions.len(), stats.requests());
        let started = Instant::now();
        let result = pipeline.call(get);
        let took = started.elapsed();
        if transitions.len() != seen {
            break;
        }
        calls_while_open += 1;
        server_requests_while_open += stats.requests() - before;
        if let Err(PipelineError::CircuitOpen(_)) = result {
            refused_while_open += 1;
            slowest_refusal = slowest_refusal.max(took);
        }
    }

    faults.outage.store(false, Ordering::SeqCst);
    let (mut recovery_rounds, mut recovery_status) = (0, None);
    while breaker.state() != BreakerState::Closed && recovery_rounds < 5 {
        // The breaker last opened before this sleep, so its open wait is over
        // when the sleep ends, whatever the thread did meanwhile.
        std::thread::sleep(open_wait + Duration::from_millis(50));
        recovery_rounds += 1;
        recovery_status = pipeline.call(get).ok();
    }
    BlockingReport {
        window,
        max_attempts,
        opened,
        calls_to_open,
        requests_to_open,
        open_wait,
        calls_while_open,
        refused_while_open,
        server_requests_while_open,
        slowest_refusal,
        recovery_rounds,
        recovery_status,
        state_after_recovery: breaker.state(),
        transitions: transitions
            .events()
            .into_iter()
            .map(|e| (e.from, e.to))
            .collect(),
    }
}

/// What the adaptive concurrency scenario saw.
#[derive(Debug)]
pub(crate) struct AdaptiveReport {
    /// Concurrent callers.
    pub(crate) callers: usize,
    /// Calls in all (bounded: each caller makes the same number).
    pub(crate) calls: usize,
    /// The server's added latency per request in flight.
    pub(crate) latency_per_in_flight: Duration,
    /// The round-trip time over which AIMD counts a call as dropped.
    pub(crate) slow_rtt: Duration,
    /// The limit before the first call.
    pub(crate) initial_limit: usize,
    /// The lowest limit the limiter reported.
    pub(crate) lowest_limit: usize,
    /// The highest limit the limiter reported (the initial one included).
    pub(crate) highest_limit: usize,
    /// The limit after the last call.
    pub(crate) final_limit: usize,
    /// How many times the limit moved.
    pub(crate) limit_changes: usize,
    /// Calls answered by the server.
    pub(crate) served: usize,
    /// Calls refused with [`PipelineError::LimitReached`].
    pub(crate) refused: usize,
    /// Calls that failed otherwise.
    pub(crate) failed: usize,
    /// Requests the server saw.
    pub(crate) server_requests: u64,
    /// The most requests the server handled at once.
    pub(crate) server_max_in_flight: u64,
}

/// Many callers against a server that slows down with every request in
/// flight, through an adaptive limit (AIMD counting a round trip over
/// 100 ms as a drop): the limit comes down from its initial value to what
/// the server answers in time, and calls over it are refused.
///
/// # Errors
///
/// When the server cannot start.
pub(crate) async fn adaptive() -> io::Result<AdaptiveReport> {
    let server = start_server(Faults::default()).await?;
    let per_in_flight_ms = 10;
    server
        .faults
        .latency_per_in_flight_ms
        .store(per_in_flight_ms, Ordering::SeqCst);
    let (initial, slow_rtt) = (40, Duration::from_millis(100));
    // Every limit the limiter sets, as it sets it: the highest bounds the
    // calls it can have admitted at once, even between two reads of `limit()`.
    let highest = Arc::new(AtomicUsize::new(initial));
    let lowest = Arc::new(AtomicUsize::new(initial));
    let changes = Arc::new(AtomicUsize::new(0));
    let observer = {
        let (highest, lowest, changes) = (
            Arc::clone(&highest),
            Arc::clone(&lowest),
            Arc::clone(&changes),
        );
        move |event: &AdaptiveEvent| {
            if let AdaptiveEvent::LimitChanged { to, .. } = event {
                highest.fetch_max(*to, Ordering::SeqCst);
                lowest.fetch_min(*to, Ordering::SeqCst);
                changes.fetch_add(1, Ordering::SeqCst);
            }
        }
    };
    let limiter = AdaptiveLimiter::observed(
        Aimd::new(
            AimdConfig::builder()
                .initial_limit(initial)
                .timeout(slow_rtt)
                .build()
                .expect("valid AIMD config"),
        ),
        MonotonicClock::new(),
        observer,
    );
    let initial_limit = limiter.limit();
    // No attempt timeout: an attempt holds its slot until the server has
    // answered, so the server never works on more requests than the limiter
    // admitted (a cancelled request could keep the server busy after its
    // slot was freed). The fault bounds the latency anyway.
    let pipeline = Pipeline::builder()
        .adaptive_limit(limiter.clone())
        .build()
        .expect("valid pipeline");
    let service = guard(pipeline, HttpClient::new(vec![server.addr]));

    let (callers, calls_per_caller) = (48, 6);
    let tasks: Vec<_> = (0..callers)
        .map(|_| {
            let mut service = service.clone();
            tokio::spawn(async move {
                let (mut served, mut refused, mut failed) = (0, 0, 0);
                for _ in 0..calls_per_caller {
                    match service.call("/").await {
                        Ok(_) => served += 1,
                        Err(PipelineError::LimitReached(_)) => {
                            refused += 1;
                            // A refused caller backs off a little before its next call.
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                        Err(_) => failed += 1,
                    }
                }
                (served, refused, failed)
            })
        })
        .collect();
    let (mut served, mut refused, mut failed) = (0, 0, 0);
    for task in tasks {
        let (s, r, f) = task.await.expect("caller task panicked");
        served += s;
        refused += r;
        failed += f;
    }
    Ok(AdaptiveReport {
        callers,
        calls: callers * calls_per_caller,
        latency_per_in_flight: Duration::from_millis(per_in_flight_ms),
        slow_rtt,
        initial_limit,
        lowest_limit: lowest.load(Ordering::SeqCst),
        highest_limit: highest.load(Ordering::SeqCst),
        final_limit: limiter.limit(),
        limit_changes: changes.load(Ordering::SeqCst),
        served,
        refused,
        failed,
        server_requests: server.stats.requests(),
        server_max_in_flight: server.stats.max_in_flight(),
    })
}

/// What the server's per-client limit did to a noisy and a quiet client.
#[derive(Debug)]
pub(crate) struct PerClientReport {
    /// Requests each client may send at once.
    pub(crate) burst: u32,
    /// How often a client earns one more request.
    pub(crate) interval: Duration,
    /// The noisy client's back-to-back calls, in order.
    pub(crate) noisy: Vec<LimitedReply>,
    /// The quiet client's calls, made after the noisy ones.
    pub(crate) quiet: Vec<LimitedReply>,
    /// A polite client's calls through a retrying pipeline that honours
    /// `Retry-After`: each call's final reply.
    pub(crate) polite: Vec<LimitedReply>,
    /// How long the polite client's last call took (it met a 429 first).
    pub(crate) polite_last_call: Duration,
    /// Requests the server did work for.
    pub(crate) server_requests: u64,
    /// Requests its limiter answered 429 before any work.
    pub(crate) server_refused: u64,
}

/// A server limiting each client to bursts of 5 and one request a second,
/// answering with `RateLimit-*` headers: a noisy client sends 8 requests
/// back to back, then a quiet one sends 3.
///
/// # Errors
///
/// When the server cannot start or a call fails to connect.
pub(crate) async fn per_client_limits() -> io::Result<PerClientReport> {
    let burst = 5;
    let quota = Quota::per_minute(60)
        .and_then(|q| q.with_burst(burst))
        .expect("valid quota");
    let limiter = Arc::new(ClientLimiter::new(
        quota,
        std::num::NonZeroUsize::new(10_000).expect("nonzero"),
    ));
    let server = start_server_limiting(Faults::default(), Some(limiter)).await?;
    let call = |client: &'static str| {
        let addr = server.addr;
        async move { get_as(addr, client).await.map_err(io::Error::other) }
    };
    let mut noisy = Vec::new();
    for _ in 0..8 {
        noisy.push(call("noisy").await?);
    }
    let mut quiet = Vec::new();
    for _ in 0..3 {
        quiet.push(call("quiet").await?);
    }
    // A polite client: one more call than its burst, through a pipeline
    // that retries a 429 after the server's Retry-After.
    let pipeline = Pipeline::builder()
        .retry(
            Backoff::exponential(Duration::from_millis(10))
                .max_delay(Duration::from_secs(2))
                .build()
                .expect("valid backoff"),
            3,
            Unlimited,
        )
        .build()
        .expect("valid pipeline");
    let mut polite_service = tower_layer::Layer::layer(
        &PipelineLayer::new(pipeline, TokioSleeper).classify(honour_retry_after),
        NamedClient {
            addr: server.addr,
            name: "polite",
        },
    );
    let mut polite = Vec::new();
    let mut polite_last_call = Duration::ZERO;
    for _ in 0..=burst {
        let started = Instant::now();
        let reply = polite_service.call(()).await.map_err(io::Error::other)?;
        polite_last_call = started.elapsed();
        polite.push(reply);
    }
    Ok(PerClientReport {
        burst,
        interval: quota.interval(),
        noisy,
        quiet,
        polite,
        polite_last_call,
        server_requests: server.stats.requests(),
        server_refused: server.stats.refused(),
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

    println!("blocking calls: the outage again, from a plain thread over std::net::TcpStream");
    let r = blocking().await?;
    println!(
        "  breaker opened: {} after {} calls, {} requests ({} attempts per call, window {})",
        r.opened, r.calls_to_open, r.requests_to_open, r.max_attempts, r.window
    );
    println!(
        "  {} calls while open ({:?} wait): {} refused (CircuitOpen), slowest in {:?}, {} reached the server",
        r.calls_while_open,
        r.open_wait,
        r.refused_while_open,
        r.slowest_refusal,
        r.server_requests_while_open
    );
    println!(
        "  outage over: after {} open wait(s) a trial answered {:?}, breaker {:?}",
        r.recovery_rounds, r.recovery_status, r.state_after_recovery
    );
    let path: Vec<String> = std::iter::once(r.transitions.first().map(|t| t.0))
        .chain(r.transitions.iter().map(|t| Some(t.1)))
        .flatten()
        .map(|s| format!("{s:?}"))
        .collect();
    println!("  transitions: {}", path.join(" -> "));

    let r = per_client_limits().await?;
    println!(
        "per-client limits on the server: bursts of {} per client (x-client header), then one every {:?}",
        r.burst, r.interval
    );
    let show = |replies: &[LimitedReply]| -> String {
        replies
            .iter()
            .map(|r| match (r.status, r.remaining, r.retry_after) {
                (429, _, Some(after)) => format!("429 (retry after {after}s)"),
                (status, Some(left), _) => format!("{status} ({left} left)"),
                (status, None, _) => status.to_string(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "  noisy, {} calls back to back: {}",
        r.noisy.len(),
        show(&r.noisy)
    );
    println!(
        "  quiet, {} calls after it: {}",
        r.quiet.len(),
        show(&r.quiet)
    );
    println!(
        "  polite, {} calls through a pipeline that honours Retry-After: {}; the last took {:.1?} (a 429, then the wait)",
        r.polite.len(),
        show(&r.polite),
        r.polite_last_call
    );
    println!(
        "  the server did work for {} requests and answered {} with 429 before any",
        r.server_requests, r.server_refused
    );

    let r = adaptive().await?;
    println!(
        "adaptive limit: {} callers, {} calls, server slower by {:?} per request in flight",
        r.callers, r.calls, r.latency_per_in_flight
    );
    println!(
        "  AIMD (round trip over {:?} = drop): limit {} -> {} (lowest {}, highest {}, {} changes)",
        r.slow_rtt,
        r.initial_limit,
        r.final_limit,
        r.lowest_limit,
        r.highest_limit,
        r.limit_changes
    );
    println!(
        "  {} served, {} refused (LimitReached), {} failed; server saw {}, peak concurrency {}",
        r.served, r.refused, r.failed, r.server_requests, r.server_max_in_flight
    );
    Ok(())
}
