//! Runnable examples of the steadfast crates.
//!
//! Each example is a small program against real parts (a clock, a socket on
//! loopback, a process); run one with
//! `cargo run -p steadfast-examples --example NAME`.
//!
//! | example | shows |
//! |---|---|
//! | `clock_jump` | code written against `Clock` surviving a clock that steps backwards |
//! | `leader_election` | workers elect a leader and write through a fence, in process or on etcd (`--etcd URL`); a frozen leader's late write is refused |
//! | `heartbeat_udp` | processes on loopback exchanging UDP heartbeats, watching each other with phi accrual |
//! | `replicas` | three replicas diverge in a partition and converge through read-repair and a Merkle exchange |
//! | `http_resilience` | an HTTP client behind the steadfast tower pipeline against faulty servers on loopback: breaker, retry budget, hedging, rate limit, bulkhead; a server limiting each client with `RateLimit-*` headers |
#![forbid(unsafe_code)]
