//! The small, stable types that every steadfast crate shares.
//!
//! Resilience code is full of decisions that depend on time: when a breaker may
//! close, when a peer is suspected, when a lease runs out. This crate makes
//! time (and everything else the algorithms share) explicit and injectable, so
//! that the same code runs against the real monotonic clock in production and
//! against a [`ManualClock`] in tests and in the simulator, bit for bit.
//!
//! # Quick example
//!
//! ```
//! use std::time::Duration;
//! use steadfast_core::{Clock, ManualClock, Timestamp};
//!
//! let clock = ManualClock::new();
//! let start = clock.now();
//! clock.advance(Duration::from_millis(250));
//! assert_eq!(clock.now().saturating_duration_since(start), Duration::from_millis(250));
//!
//! // Time never panics: going "backwards" saturates at zero.
//! assert_eq!(start.saturating_duration_since(clock.now()), Duration::ZERO);
//! assert_eq!(Timestamp::MAX + Duration::from_secs(1), Timestamp::MAX);
//! ```
//!
//! # Map of the crate
//!
//! | item | what it is |
//! |---|---|
//! | [`Timestamp`] | monotonic nanoseconds since a process-wide origin; saturating arithmetic |
//! | [`Clock`] | the injected source of time (`now()`, and `now_coarse()` where a tick-old reading is cheaper), object safe, `Send + Sync` |
//! | [`MonotonicClock`] | the real clock (`CLOCK_MONOTONIC` on Linux, `std::time::Instant` elsewhere, against one origin); needs `std` |
//! | [`WallClock`] | the system clock as Unix-epoch nanoseconds (can step back); needs `std` |
//! | [`ManualClock`] | a clock you move by hand; clones share one time |
//! | [`LaggingClock`] | a hand-moved clock whose coarse reading lags its precise one, for tests |
//! | [`NodeId`] | a `Copy` identifier of a node or peer |
//! | [`Observer`] | where every crate reports its events; `()` ignores them |
//! | [`Recorder`] | an observer that keeps events, for tests; needs `std` |
//! | `TracingObserver` | an observer emitting events as `tracing` events; feature `tracing` |
//! | [`ConfigError`] | what `build()` returns for a bad setting: field, value and rule |
//!
//! # Features
//!
//! - `std` (default): [`MonotonicClock`], [`WallClock`] and [`Recorder`]. Without it the crate
//!   is `no_std` + `alloc`. On Linux and Android it brings in `rustix`, through which
//!   `MonotonicClock` reads the kernel's clocks.
//! - `serde`: `Serialize`/`Deserialize` for [`Timestamp`] and [`NodeId`].
//! - `quanta`: `QuantaClock`, a clock on the CPU's time-stamp counter, for hot
//!   paths on machines where `Instant::now` is slow.
//! - `tracing`: [`TracingObserver`], an observer that emits every event as a
//!   `tracing` event (target `steadfast`), for any component of any crate.
//! - `coarse`: `CoarseClock`, the OS's coarse monotonic clock (millisecond
//!   resolution, a few nanoseconds to read), for decisions at
//!   millisecond-to-second scale.
//!
//! # Stability
//!
//! Every other steadfast crate depends on this one, so it grows only by
//! additions: public enums and errors are `#[non_exhaustive]`, and no item is
//! renamed or removed within a major version.
#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

mod clock;
mod error;
mod node;
mod observer;
mod sync;
mod timestamp;
#[cfg(feature = "tracing")]
mod tracing_observer;

#[cfg(feature = "coarse")]
pub use clock::CoarseClock;
#[cfg(feature = "quanta")]
pub use clock::QuantaClock;
pub use clock::{Clock, LaggingClock, ManualClock};
#[cfg(feature = "std")]
pub use clock::{MonotonicClock, WallClock};
pub use error::ConfigError;
pub use node::NodeId;
pub use observer::Observer;
#[cfg(feature = "std")]
pub use observer::Recorder;
pub use timestamp::Timestamp;
#[cfg(feature = "tracing")]
pub use tracing_observer::{TracingLevel, TracingObserver};
