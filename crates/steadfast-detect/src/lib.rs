//! Heartbeat failure detection: deciding when a peer is dead, how sure to be,
//! and how good the decision is.
//!
//! Every detector here answers one more question than usual: **at what exact
//! instant will it start suspecting the peer if no further heartbeat
//! arrives?** ([`FailureDetector::suspect_at`]). A [`Monitor`] of 10^5 peers
//! uses it to sleep until the next deadline instead of polling, and
//! [`QosReport`] uses it to compute the standard quality-of-service metrics
//! exactly, event by event.
//!
//! # Quick example
//!
//! ```
//! use std::time::Duration;
//! use steadfast_core::{Clock, ManualClock};
//! use steadfast_detect::{FailureDetector, PhiAccrual, PhiAccrualConfig};
//!
//! let clock = ManualClock::new();
//! // Pekko's defaults: threshold 8, 1000 samples, 100 ms min deviation,
//! // 3 s acceptable pause, 1 s first estimate.
//! let mut phi = PhiAccrual::new(PhiAccrualConfig::builder().build()?);
//! for _ in 0..20 {
//!     clock.advance(Duration::from_secs(1));
//!     let _ = phi.heartbeat(clock.now());
//! }
//! let last = clock.now();
//! assert!(phi.is_available(last + Duration::from_secs(3)));
//!
//! // The peer crashes. The detector already knows when it will notice.
//! let deadline = phi.suspect_at().unwrap();
//! assert!(phi.suspicion(deadline) >= 8.0 && phi.is_available(deadline - Duration::from_nanos(1)));
//! assert!(!phi.is_available(deadline));
//! # Ok::<(), steadfast_core::ConfigError>(())
//! ```
//!
//! # Map of the crate
//!
//! | item | what it is |
//! |---|---|
//! | [`FailureDetector`] | the trait: heartbeat, suspicion, availability and the exact `suspect_at` |
//! | [`FixedTimeout`] | suspect after a fixed silence |
//! | [`ChenDetector`] | expected arrival from a window, plus a safety margin; with sequence numbers ([`FailureDetector::heartbeat_with_sequence`]) or without |
//! | [`PhiAccrual`] | phi accrual, Akka/Pekko-compatible or exact ([`PhiMode`]) |
//! | [`ExponentialPhi`] | phi as Cassandra computes it (exponential model, `PHI_FACTOR`) |
//! | [`Monitor`], [`FlapControl`] | many peers, sharded, `sweep`, `next_deadline`, pause guard, events; flap control per monitor |
//! | [`PeerState`], [`FailureClass`], [`OutageHistory`] | Healthy/Suspect/Unreachable/Down; Transient/Intermittent/Permanent |
//! | [`Hysteresis`], [`ConsecutiveChecks`], [`FlapDamper`] | flap damping: two thresholds, N of M, BGP-style penalties |
//! | [`SuspicionTimeout`], [`Suspicion`], [`LocalHealth`] | SWIM/Lifeguard suspicion timeouts and local health (memberlist) |
//! | [`HealthChecks`], [`HealthReport`] | liveness/readiness checks rolled up for a `/health` endpoint |
//! | [`QosReport`] | detection time, mistake duration/recurrence/rate, query accuracy (numbered traces too) |
//! | [`TraceConfig`], [`HeartbeatTrace`] | seeded traces: jitter, heavy tails, bursty loss, pauses, delay steps |
//!
//! # Numerical corners
//!
//! - Interval windows are rings with running sums kept in integers: O(1) per
//!   heartbeat and per query, exact however long they run.
//! - Heartbeats stamped earlier than the previous one are ignored and counted
//!   ([`FailureDetector::backwards_heartbeats`]); queries before the last
//!   heartbeat see zero elapsed time. A zero interval is an ordinary sample.
//! - The interval that spans a suspicion is not recorded, so an outage does
//!   not teach the detector that silence is normal.
//! - Phi never returns NaN or infinity: the Akka-compatible logistic form is
//!   evaluated stably, and the exact normal tail uses a Chebyshev `ln erfc`
//!   that stays finite and monotone far beyond phi 300.
//!
//! # Features
//!
//! - `serde`: `Serialize`/`Deserialize` for the health report and the peer
//!   state and failure class enums.
#![forbid(unsafe_code)]

extern crate alloc;

mod chen;
mod classification;
mod damping;
mod detector;
mod exponential;
mod fixed;
mod health;
mod lifeguard;
mod monitor;
mod phi;
mod qos;
mod sync;
mod trace;

pub use chen::{ChenConfig, ChenConfigBuilder, ChenDetector};
pub use classification::{
    ClassificationConfig, ClassificationConfigBuilder, FailureClass, Outage, OutageHistory,
    PeerState,
};
pub use damping::{
    ConsecutiveChecks, FlapDamper, FlapDampingConfig, FlapDampingConfigBuilder, Hysteresis,
};
pub use detector::{FailureDetector, HeartbeatOutcome, MAX_INTERVAL_NANOS, MAX_SAMPLE_SIZE};
pub use exponential::{
    ExponentialPhi, ExponentialPhiConfig, ExponentialPhiConfigBuilder, PHI_FACTOR,
};
pub use fixed::FixedTimeout;
pub use health::{
    CheckReport, CheckResult, CheckStatus, Criticality, HealthChecks, HealthReport, HealthStatus,
    Probe,
};
pub use lifeguard::{LocalHealth, Suspicion, SuspicionTimeout};
pub use monitor::{
    FlapControl, Monitor, MonitorConfig, MonitorConfigBuilder, MonitorEvent, PeerStatus, Sequence,
    Transition, TransitionReason,
};
pub use phi::{PhiAccrual, PhiAccrualConfig, PhiAccrualConfigBuilder, PhiMode, phi_of_y};
pub use qos::QosReport;
pub use trace::{HeartbeatTrace, Jitter, Loss, SenderPause, TraceConfig, TraceConfigBuilder};
