//! Leases under bounded clock drift: when may a holder believe it holds?
//!
//! A lease of term `T` is granted by one node (the grantor: the in-memory
//! backend, an etcd cluster) and believed by another (the holder). They read
//! different clocks, and clocks run at slightly different rates. Let `κ ≥ 1`
//! bound how much faster one clock may run than another (`κ = 1.0002` is a
//! 200 ppm drift bound; virtual machines call for more). The safety rule:
//!
//! 1. the holder reads its monotonic clock **before it sends** the request
//!    (`s`), and believes the lease valid only while its elapsed time since
//!    `s` is below `T/κ − margin`;
//! 2. the grantor receives the request at some instant after `s`, and grants
//!    nothing conflicting until **its own** clock has moved `T` past the grant.
//!
//! The holder's belief ends, in real time, at most `(T/κ)/r_h` after `s`, where
//! `r_h` is the holder clock's rate; the grantor's exclusion lasts at least
//! `T/r_g` after the grant, which is after `s`. Since `r_g/r_h ≤ κ`, the belief
//! always ends first: no two holders ever believe at the same instant. The
//! margin covers the gap between checking validity and using it. The same rule
//! applies after each renewal, measured from the renewal's send time.
//!
//! A clock that runs backwards (which a monotonic clock never does) makes the
//! holder's lease look expired, the safe answer.
//!
//! ```
//! use std::time::Duration;
//! use steadfast_core::Timestamp;
//! use steadfast_quorum::{Lease, LeasePolicy, LeaseStatus, FencingToken};
//!
//! let policy = LeasePolicy::builder(Duration::from_secs(10))
//!     .drift_bound(1.25)
//!     .safety_margin(Duration::from_millis(500))
//!     .build()?;
//! // Believed for 10 s / 1.25 - 0.5 s = 7.5 s after the request was sent.
//! assert_eq!(policy.holder_validity(), Duration::from_millis(7_500));
//!
//! let lease = Lease::new(policy, Timestamp::from_secs(100), FencingToken::new(1));
//! assert!(lease.is_valid(Timestamp::from_millis(107_499)));
//! assert!(matches!(lease.status(Timestamp::from_millis(107_500)), LeaseStatus::Expired { .. }));
//! # Ok::<(), steadfast_core::ConfigError>(())
//! ```

use std::time::Duration;

use steadfast_core::{ConfigError, Timestamp};

use crate::fence::FencingToken;

/// The term, drift bound, safety margin and renewal point of leases.
///
/// Built with [`LeasePolicy::builder`]; see the [module docs](crate::lease)
/// for the rule it implements.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LeasePolicy {
    term: Duration,
    drift_bound: f64,
    safety_margin: Duration,
    renew_fraction: f64,
    validity: Duration,
}

/// Builds a [`LeasePolicy`]; validation happens in [`build`](Self::build).
#[derive(Clone, Copy, Debug)]
#[must_use = "a builder does nothing until build() is called"]
pub struct LeasePolicyBuilder {
    term: Duration,
    drift_bound: f64,
    safety_margin: Option<Duration>,
    renew_fraction: f64,
}

impl LeasePolicyBuilder {
    /// κ, the bound on how much faster one clock may run than another
    /// (default `1.01`, i.e. 1% drift). Must be finite and at least 1.
    pub fn drift_bound(mut self, kappa: f64) -> LeasePolicyBuilder {
        self.drift_bound = kappa;
        self
    }

    /// Time subtracted from the holder's validity to cover the gap between
    /// checking the lease and acting on it (default `T/100`).
    pub fn safety_margin(mut self, margin: Duration) -> LeasePolicyBuilder {
        self.safety_margin = Some(margin);
        self
    }

    /// When to renew, as a fraction of the term after the last send
    /// (default `1/3`, as etcd's client does). Must be in `(0, 1)` and fall
    /// before the holder's validity ends.
    pub fn renew_fraction(mut self, fraction: f64) -> LeasePolicyBuilder {
        self.renew_fraction = fraction;
        self
    }

    /// Validates and builds the policy.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when the term is zero or above one year, the drift
    /// bound is not a finite number ≥ 1, the margin leaves no validity, or the
    /// renewal point is outside `(0, 1)` or not before the validity ends.
    pub fn build(self) -> Result<LeasePolicy, ConfigError> {
        const YEAR: Duration = Duration::from_secs(365 * 24 * 3600);
        ConfigError::ensure(
            !self.term.is_zero() && self.term <= YEAR,
            "lease.term",
            format_args!("{:?}", self.term),
            "above zero and at most one year",
        )?;
        ConfigError::ensure(
            self.drift_bound.is_finite() && self.drift_bound >= 1.0,
            "lease.drift_bound",
            self.drift_bound,
            "a finite number at least 1",
        )?;
        let margin = self.safety_margin.unwrap_or(self.term / 100);
        let believed = self.term.div_f64(self.drift_bound);
        ConfigError::ensure(
            margin < believed,
            "lease.safety_margin",
            format_args!("{margin:?}"),
            format!("below term / drift_bound ({believed:?})"),
        )?;
        let validity = believed - margin;
        ConfigError::ensure(
            self.renew_fraction.is_finite()
                && self.renew_fraction > 0.0
                && self.renew_fraction < 1.0,
            "lease.renew_fraction",
            self.renew_fraction,
            "in (0, 1)",
        )?;
        ConfigError::ensure(
            self.term.mul_f64(self.renew_fraction) < validity,
            "lease.renew_fraction",
            self.renew_fraction,
            format!("such that renewal comes before the holder's validity ({validity:?}) ends"),
        )?;
        Ok(LeasePolicy {
            term: self.term,
            drift_bound: self.drift_bound,
            safety_margin: margin,
            renew_fraction: self.renew_fraction,
            validity,
        })
    }
}

impl LeasePolicy {
    /// A builder for leases of term `term`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use steadfast_quorum::LeasePolicy;
    ///
    /// let err = LeasePolicy::builder(Duration::from_secs(1)).drift_bound(f64::NAN).build();
    /// assert_eq!(err.unwrap_err().to_string(), "lease.drift_bound must be a finite number at least 1, got NaN");
    /// ```
    pub fn builder(term: Duration) -> LeasePolicyBuilder {
        LeasePolicyBuilder {
            term,
            drift_bound: 1.01,
            safety_margin: None,
            renew_fraction: 1.0 / 3.0,
        }
    }

    /// The term `T` the grantor enforces.
    #[must_use]
    pub fn term(&self) -> Duration {
        self.term
    }

    /// The drift bound κ.
    #[must_use]
    pub fn drift_bound(&self) -> f64 {
        self.drift_bound
    }

    /// The safety margin.
    #[must_use]
    pub fn safety_margin(&self) -> Duration {
        self.safety_margin
    }

    /// How long after sending its request the holder may believe it holds:
    /// `T/κ − margin`.
    #[must_use]
    pub fn holder_validity(&self) -> Duration {
        self.validity
    }

    /// How long after the last send the holder should renew: `T × fraction`.
    #[must_use]
    pub fn renew_after(&self) -> Duration {
        self.term.mul_f64(self.renew_fraction)
    }
}

/// Where a held lease stands, from the holder's side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
#[must_use]
pub enum LeaseStatus {
    /// Valid, and no need to renew yet.
    Valid {
        /// Time left before the holder must stop believing.
        remaining: Duration,
    },
    /// Still valid, but the renewal point has passed.
    RenewDue {
        /// Time left before the holder must stop believing.
        remaining: Duration,
    },
    /// No longer valid: the holder must step down.
    Expired {
        /// How long ago validity ended (zero when the clock went backwards).
        since: Duration,
    },
}

impl LeaseStatus {
    /// Whether the holder may still act on the lease.
    #[must_use]
    pub fn is_valid(&self) -> bool {
        !matches!(self, LeaseStatus::Expired { .. })
    }
}

/// The holder's view of one lease: its token and when its last request was sent.
///
/// Pure: it never reads a clock; pass the holder's `now`.
///
/// ```
/// use std::time::Duration;
/// use steadfast_core::Timestamp;
/// use steadfast_quorum::{FencingToken, Lease, LeasePolicy, LeaseStatus};
///
/// let policy = LeasePolicy::builder(Duration::from_secs(9)).drift_bound(1.0).safety_margin(Duration::ZERO).build()?;
/// let mut lease = Lease::new(policy, Timestamp::ZERO, FencingToken::new(4));
/// assert!(matches!(lease.status(Timestamp::from_secs(3)), LeaseStatus::RenewDue { .. }));
/// lease.renewed(Timestamp::from_secs(3)); // the renewal request was sent at t = 3 s
/// assert_eq!(lease.expires_at(), Timestamp::from_secs(12));
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Lease {
    policy: LeasePolicy,
    sent_at: Timestamp,
    token: FencingToken,
}

impl Lease {
    /// A lease whose grant request was sent at `sent_at` (holder's clock).
    #[must_use]
    pub fn new(policy: LeasePolicy, sent_at: Timestamp, token: FencingToken) -> Lease {
        Lease {
            policy,
            sent_at,
            token,
        }
    }

    /// The fencing token of the grant.
    #[must_use]
    pub fn token(&self) -> FencingToken {
        self.token
    }

    /// The policy.
    #[must_use]
    pub fn policy(&self) -> &LeasePolicy {
        &self.policy
    }

    /// When the last successful request (grant or renewal) was sent.
    #[must_use]
    pub fn sent_at(&self) -> Timestamp {
        self.sent_at
    }

    /// The holder-clock instant at which the holder must stop believing.
    #[must_use]
    pub fn expires_at(&self) -> Timestamp {
        self.sent_at + self.policy.validity
    }

    /// A successful renewal whose request was sent at `sent_at`; an older
    /// send time than the current one changes nothing.
    pub fn renewed(&mut self, sent_at: Timestamp) {
        self.sent_at = self.sent_at.max(sent_at);
    }

    /// The status at `now` (holder's clock).
    pub fn status(&self, now: Timestamp) -> LeaseStatus {
        if now < self.sent_at {
            return LeaseStatus::Expired {
                since: Duration::ZERO,
            };
        }
        let elapsed = now.saturating_duration_since(self.sent_at);
        if elapsed >= self.policy.validity {
            LeaseStatus::Expired {
                since: elapsed - self.policy.validity,
            }
        } else if elapsed >= self.policy.renew_after() {
            LeaseStatus::RenewDue {
                remaining: self.policy.validity - elapsed,
            }
        } else {
            LeaseStatus::Valid {
                remaining: self.policy.validity - elapsed,
            }
        }
    }

    /// Whether the holder may act on the lease at `now`.
    #[must_use]
    pub fn is_valid(&self, now: Timestamp) -> bool {
        self.status(now).is_valid()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_policies() {
        let b = || LeasePolicy::builder(Duration::from_secs(3));
        assert_eq!(
            LeasePolicy::builder(Duration::ZERO)
                .build()
                .unwrap_err()
                .field(),
            "lease.term"
        );
        assert_eq!(
            LeasePolicy::builder(Duration::MAX)
                .build()
                .unwrap_err()
                .field(),
            "lease.term"
        );
        for k in [0.5, f64::NAN, f64::INFINITY, -1.0] {
            assert_eq!(
                b().drift_bound(k).build().unwrap_err().field(),
                "lease.drift_bound"
            );
        }
        assert_eq!(
            b().safety_margin(Duration::from_secs(3))
                .build()
                .unwrap_err()
                .field(),
            "lease.safety_margin"
        );
        for f in [0.0, 1.0, f64::NAN, 0.99] {
            assert_eq!(
                b().renew_fraction(f).build().unwrap_err().field(),
                "lease.renew_fraction"
            );
        }
        let p = b().build().unwrap();
        assert_eq!(p.renew_after(), Duration::from_secs(1));
        assert_eq!(p.safety_margin(), Duration::from_millis(30));
    }

    #[test]
    fn backwards_clock_means_expired() {
        let p = LeasePolicy::builder(Duration::from_secs(3))
            .build()
            .unwrap();
        let lease = Lease::new(p, Timestamp::from_secs(10), FencingToken::new(1));
        assert_eq!(
            lease.status(Timestamp::from_secs(9)),
            LeaseStatus::Expired {
                since: Duration::ZERO
            }
        );
        assert!(lease.is_valid(Timestamp::from_secs(10)));
        let mut l = lease;
        l.renewed(Timestamp::from_secs(5));
        assert_eq!(l.sent_at(), Timestamp::from_secs(10));
    }

    #[test]
    fn validity_is_term_over_kappa_minus_margin() {
        let p = LeasePolicy::builder(Duration::from_secs(10))
            .drift_bound(2.0)
            .safety_margin(Duration::from_secs(1))
            .build()
            .unwrap();
        assert_eq!(p.holder_validity(), Duration::from_secs(4));
        let lease = Lease::new(p, Timestamp::ZERO, FencingToken::new(1));
        assert!(lease.is_valid(Timestamp::from_nanos(3_999_999_999)));
        assert!(!lease.is_valid(Timestamp::from_secs(4)));
        assert_eq!(
            lease.status(Timestamp::MAX),
            LeaseStatus::Expired {
                since: Timestamp::MAX.as_duration() - Duration::from_secs(4)
            }
        );
    }
}
