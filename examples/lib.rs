//! Runnable examples of the steadfast crates.
//!
//! Each example is a small program against real parts (a clock, a socket on
//! loopback, a process); run one with
//! `cargo run -p steadfast-examples --example NAME`.
//!
//! | example | shows |
//! |---|---|
//! | `clock_jump` | code written against `Clock` surviving a clock that steps backwards |
//! | `heartbeat_udp` | processes on loopback exchanging UDP heartbeats, watching each other with phi accrual |
#![forbid(unsafe_code)]
