//! The fixed-timeout detector: suspect a peer once no heartbeat arrived for a
//! set time.

use core::time::Duration;

use steadfast_core::{ConfigError, Timestamp};

use crate::detector::{FailureDetector, HeartbeatOutcome, classify_interval, deadline};

/// Suspects the peer when `timeout` has passed since its last heartbeat.
///
/// Its suspicion is `elapsed / timeout`, so the threshold is `1.0`.
///
/// ```
/// use std::time::Duration;
/// use steadfast_core::Timestamp;
/// use steadfast_detect::{FailureDetector, FixedTimeout};
///
/// let mut fixed = FixedTimeout::new(Duration::from_millis(500))?;
/// let _ = fixed.heartbeat(Timestamp::from_millis(100));
/// assert_eq!(fixed.suspect_at(), Some(Timestamp::from_millis(600)));
/// assert_eq!(fixed.suspicion(Timestamp::from_millis(350)), 0.5);
/// assert!(fixed.is_available(Timestamp::from_millis(599)));
/// assert!(!fixed.is_available(Timestamp::from_millis(600)));
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct FixedTimeout {
    timeout: u64,
    last: Option<Timestamp>,
    backwards: u64,
}

impl FixedTimeout {
    /// A detector that suspects after `timeout` of silence.
    ///
    /// # Errors
    ///
    /// `fixed.timeout` must be greater than zero and at most `u64::MAX` nanoseconds.
    pub fn new(timeout: Duration) -> Result<FixedTimeout, ConfigError> {
        ConfigError::ensure(
            !timeout.is_zero() && timeout.as_nanos() <= u128::from(u64::MAX),
            "fixed.timeout",
            format_args!("{timeout:?}"),
            "greater than 0 and at most u64::MAX ns",
        )?;
        Ok(FixedTimeout {
            timeout: timeout.as_nanos() as u64,
            last: None,
            backwards: 0,
        })
    }

    /// The timeout.
    pub fn timeout(&self) -> Duration {
        Duration::from_nanos(self.timeout)
    }
}

impl FailureDetector for FixedTimeout {
    fn heartbeat(&mut self, at: Timestamp) -> HeartbeatOutcome {
        match classify_interval(self.last, at) {
            Err(outcome) => {
                self.backwards += 1;
                outcome
            }
            Ok(interval) => {
                self.last = Some(at);
                match interval {
                    None => HeartbeatOutcome::First,
                    // Nothing is learned from intervals; report them as kept
                    // when the peer was still trusted.
                    Some(n) if n < self.timeout => HeartbeatOutcome::Recorded {
                        interval: Duration::from_nanos(n),
                    },
                    Some(n) => HeartbeatOutcome::NotRecorded {
                        interval: Duration::from_nanos(n),
                    },
                }
            }
        }
    }

    fn suspicion(&self, at: Timestamp) -> f64 {
        match self.last {
            None => 0.0,
            Some(last) => {
                let elapsed = at.as_nanos().saturating_sub(last.as_nanos());
                if elapsed >= self.timeout {
                    // Exactly consistent with suspect_at even where the
                    // division would round (elapsed close to 2^53).
                    (elapsed as f64 / self.timeout as f64).max(1.0)
                } else {
                    (elapsed as f64 / self.timeout as f64).min(f64::from_bits(1.0f64.to_bits() - 1))
                }
            }
        }
    }

    fn threshold(&self) -> f64 {
        1.0
    }

    fn suspect_at(&self) -> Option<Timestamp> {
        self.last.map(|last| deadline(last, Some(self.timeout)))
    }

    fn last_heartbeat(&self) -> Option<Timestamp> {
        self.last
    }

    fn backwards_heartbeats(&self) -> u64 {
        self.backwards
    }

    fn reset(&mut self) {
        self.last = None;
        self.backwards = 0;
    }
}
