//! Heartbeat failure detection: deciding when a peer is dead.
#![forbid(unsafe_code)]

extern crate alloc;

mod chen;
mod detector;
mod exponential;
mod fixed;
mod phi;

pub use chen::{ChenConfig, ChenConfigBuilder, ChenDetector};
pub use detector::{FailureDetector, HeartbeatOutcome, MAX_INTERVAL_NANOS, MAX_SAMPLE_SIZE};
pub use exponential::{ExponentialPhi, ExponentialPhiConfig, ExponentialPhiConfigBuilder, PHI_FACTOR};
pub use fixed::FixedTimeout;
pub use phi::{PhiAccrual, PhiAccrualConfig, PhiAccrualConfigBuilder, PhiMode, phi_of_y};
mod classification;
mod damping;
mod monitor;
pub use classification::{ClassificationConfig, ClassificationConfigBuilder, FailureClass, Outage, OutageHistory, PeerState};
pub use damping::{ConsecutiveChecks, FlapDamper, FlapDampingConfig, FlapDampingConfigBuilder, Hysteresis};
pub use monitor::{Monitor, MonitorConfig, MonitorConfigBuilder, MonitorEvent, PeerStatus, Transition, TransitionReason};
mod qos;
mod trace;
pub use qos::QosReport;
pub use trace::{HeartbeatTrace, Jitter, Loss, SenderPause, TraceConfig, TraceConfigBuilder};
