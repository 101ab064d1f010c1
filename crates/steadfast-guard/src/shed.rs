//! Load shedding with priority classes.
//!
//! When a service is over capacity, queueing only makes every request late.
//! A [`LoadShedder`] rejects at once instead, and it rejects the least
//! important work first: each [`Priority`] may only fill the capacity up to
//! its own share, so the top of the capacity stays reserved for critical
//! requests (health checks, payments, control traffic) however much
//! low-priority traffic arrives.
//!
//! ```
//! use steadfast_guard::shed::{LoadShedder, Priority, ShedConfig};
//!
//! // 10 slots; background work may use 5 of them, normal work 8, critical all 10.
//! let config = ShedConfig::builder()
//!     .capacity(10)
//!     .share(Priority::Background, 0.5)
//!     .share(Priority::Normal, 0.8)
//!     .build()?;
//! let shedder = LoadShedder::new(config);
//! let mut held = Vec::new();
//! while let Ok(p) = shedder.try_admit(Priority::Background) {
//!     held.push(p);
//! }
//! assert_eq!(held.len(), 5);
//! assert!(shedder.try_admit(Priority::Normal).is_ok());
//! assert!(shedder.try_admit(Priority::Critical).is_ok());
//! # Ok::<(), steadfast_core::ConfigError>(())
//! ```

use std::fmt;
use std::sync::Arc;

use steadfast_core::{Clock, ConfigError, MonotonicClock, Observer, Timestamp};

use crate::sync::{AtomicUsize, Ordering};

/// How important a request is; higher priorities keep a reserved share of capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Priority {
    /// Work that can always be retried later (batch jobs, prefetching).
    Background,
    /// Ordinary traffic.
    Normal,
    /// Important user-facing traffic.
    High,
    /// Must get through: health checks, control traffic.
    Critical,
}

impl Priority {
    /// Every priority, lowest first.
    pub const ALL: [Priority; 4] = [
        Priority::Background,
        Priority::Normal,
        Priority::High,
        Priority::Critical,
    ];

    fn index(self) -> usize {
        match self {
            Priority::Background => 0,
            Priority::Normal => 1,
            Priority::High => 2,
            Priority::Critical => 3,
        }
    }
}

/// Settings of a [`LoadShedder`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShedConfig {
    capacity: usize,
    shares: [f64; 4],
}

impl ShedConfig {
    /// Defaults: capacity 100; shares Background 0.5, Normal 0.8, High 0.9, Critical 1.0.
    #[must_use]
    pub fn builder() -> ShedConfigBuilder {
        ShedConfigBuilder(ShedConfig {
            capacity: 100,
            shares: [0.5, 0.8, 0.9, 1.0],
        })
    }

    /// The total capacity (concurrent requests).
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The most requests in flight at which `priority` is still admitted.
    #[must_use]
    pub fn threshold(&self, priority: Priority) -> usize {
        (self.capacity as f64 * self.shares[priority.index()]).floor() as usize
    }
}

/// Builds a [`ShedConfig`].
#[derive(Debug, Clone)]
pub struct ShedConfigBuilder(ShedConfig);

impl ShedConfigBuilder {
    /// The total capacity (at least 1).
    #[must_use]
    pub fn capacity(mut self, n: usize) -> Self {
        self.0.capacity = n;
        self
    }

    /// The share of capacity `priority` may fill, in `(0, 1]`.
    #[must_use]
    pub fn share(mut self, priority: Priority, share: f64) -> Self {
        self.0.shares[priority.index()] = share;
        self
    }

    /// Validates the settings.
    ///
    /// # Errors
    ///
    /// `shed.capacity` at least 1 (and at most `usize::MAX / 4`); every
    /// `shed.share.<priority>` in `(0, 1]` and not below the share of a lower priority.
    ///
    /// ```
    /// use steadfast_guard::shed::{Priority, ShedConfig};
    /// let err = ShedConfig::builder().share(Priority::Critical, 0.7).build().unwrap_err();
    /// assert_eq!(err.to_string(), "shed.share.Critical must be at least the share of High (0.9), got 0.7");
    /// ```
    pub fn build(self) -> Result<ShedConfig, ConfigError> {
        let c = self.0;
        ConfigError::ensure(
            (1..=usize::MAX / 4).contains(&c.capacity),
            "shed.capacity",
            c.capacity,
            "in [1, usize::MAX / 4]",
        )?;
        for p in Priority::ALL {
            let share = c.shares[p.index()];
            ConfigError::ensure(
                share > 0.0 && share <= 1.0,
                format!("shed.share.{p:?}"),
                share,
                "in (0, 1]",
            )?;
            if p.index() > 0 {
                let lower = Priority::ALL[p.index() - 1];
                let lower_share = c.shares[lower.index()];
                ConfigError::ensure(
                    share >= lower_share,
                    format!("shed.share.{p:?}"),
                    share,
                    format!("at least the share of {lower:?} ({lower_share})"),
                )?;
            }
        }
        Ok(c)
    }
}

/// What a [`LoadShedder`] reports to its observer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ShedEvent {
    /// A request was shed.
    Shed {
        /// When.
        at: Timestamp,
        /// Its priority.
        priority: Priority,
        /// Requests in flight at the time.
        in_flight: usize,
    },
}

/// The request was shed: its priority's share of capacity is in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("shed {priority:?} request: {in_flight} in flight, its share allows {threshold}")]
#[non_exhaustive]
pub struct Shed {
    /// The request's priority.
    pub priority: Priority,
    /// Requests in flight.
    pub in_flight: usize,
    /// The most in flight at which this priority is admitted.
    pub threshold: usize,
}

impl Shed {
    /// `true`: capacity frees up as requests finish.
    #[must_use]
    pub fn is_temporary(&self) -> bool {
        true
    }
}

struct Inner {
    in_flight: AtomicUsize,
    thresholds: [usize; 4],
    config: ShedConfig,
    clock: Arc<dyn Clock>,
    observer: Arc<dyn Observer<ShedEvent>>,
}

/// Admits requests by priority against one shared in-flight count. Clones share it.
#[derive(Clone)]
pub struct LoadShedder {
    inner: Arc<Inner>,
}

impl fmt::Debug for LoadShedder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadShedder")
            .field("config", &self.inner.config)
            .field("in_flight", &self.in_flight())
            .finish()
    }
}

impl LoadShedder {
    /// A shedder on the real clock (the clock only timestamps events).
    #[must_use]
    pub fn new(config: ShedConfig) -> LoadShedder {
        LoadShedder::observed(config, MonotonicClock::new(), ())
    }

    /// A shedder reporting shed requests to `observer`, timestamped on `clock`.
    #[must_use]
    pub fn observed(
        config: ShedConfig,
        clock: impl Clock + 'static,
        observer: impl Observer<ShedEvent> + 'static,
    ) -> LoadShedder {
        let thresholds = Priority::ALL.map(|p| config.threshold(p));
        LoadShedder {
            inner: Arc::new(Inner {
                in_flight: AtomicUsize::new(0),
                thresholds,
                config,
                clock: Arc::new(clock),
                observer: Arc::new(observer),
            }),
        }
    }

    /// Requests in flight.
    #[must_use]
    pub fn in_flight(&self) -> usize {
        self.inner.in_flight.load(Ordering::Acquire)
    }

    /// Admits a request of `priority`, or sheds it at once. The permit
    /// borrows the shedder; see [`try_admit_owned`](Self::try_admit_owned)
    /// for one that can be moved into a `'static` task.
    ///
    /// # Errors
    ///
    /// [`Shed`] when the priority's share of capacity is in use.
    #[inline]
    pub fn try_admit(&self, priority: Priority) -> Result<ShedPermit<'_>, Shed> {
        self.admit(priority)?;
        Ok(ShedPermit { inner: &self.inner })
    }

    /// Like [`try_admit`](Self::try_admit), with a permit that owns a handle
    /// on the shedder (one reference-count increment more).
    ///
    /// ```
    /// use steadfast_guard::shed::{LoadShedder, Priority, ShedConfig};
    /// let shedder = LoadShedder::new(ShedConfig::builder().capacity(1).build()?);
    /// let permit = shedder.try_admit_owned(Priority::Critical).expect("room");
    /// let task = std::thread::spawn(move || drop(permit));
    /// task.join().unwrap();
    /// assert_eq!(shedder.in_flight(), 0);
    /// # Ok::<(), steadfast_core::ConfigError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`try_admit`](Self::try_admit).
    pub fn try_admit_owned(&self, priority: Priority) -> Result<OwnedShedPermit, Shed> {
        self.admit(priority)?;
        Ok(OwnedShedPermit {
            inner: Arc::clone(&self.inner),
        })
    }

    /// The permit of a request admitted by a [`ShedPermit`] that was
    /// [detached](ShedPermit::detach).
    #[inline]
    pub(crate) fn resume_permit(&self) -> ShedPermit<'_> {
        ShedPermit { inner: &self.inner }
    }

    /// Takes one slot of `priority`'s share, or reports the shed request.
    #[inline]
    fn admit(&self, priority: Priority) -> Result<(), Shed> {
        let threshold = self.inner.thresholds[priority.index()];
        let mut current = self.inner.in_flight.load(Ordering::Acquire);
        loop {
            if current >= threshold {
                return Err(self.shed(priority, current, threshold));
            }
            match self.inner.in_flight.compare_exchange_weak(
                current,
                current + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(()),
                Err(actual) => current = actual,
            }
        }
    }

    #[cold]
    fn shed(&self, priority: Priority, in_flight: usize, threshold: usize) -> Shed {
        self.inner.observer.on_event(&ShedEvent::Shed {
            at: self.inner.clock.now(),
            priority,
            in_flight,
        });
        Shed {
            priority,
            in_flight,
            threshold,
        }
    }
}

/// An admitted request; its slot is released on drop.
#[must_use = "the slot is released as soon as the permit is dropped"]
pub struct ShedPermit<'a> {
    inner: &'a Inner,
}

impl fmt::Debug for ShedPermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShedPermit").finish_non_exhaustive()
    }
}

impl Drop for ShedPermit<'_> {
    #[inline]
    fn drop(&mut self) {
        self.inner.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

impl ShedPermit<'_> {
    /// Keeps the request admitted without borrowing the shedder;
    /// [`LoadShedder::resume_permit`] gives the permit back.
    #[inline]
    pub(crate) fn detach(self) {
        std::mem::forget(self);
    }
}

/// An admitted request holding a handle on its shedder; its slot is
/// released on drop.
#[must_use = "the slot is released as soon as the permit is dropped"]
pub struct OwnedShedPermit {
    inner: Arc<Inner>,
}

impl fmt::Debug for OwnedShedPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedShedPermit").finish_non_exhaustive()
    }
}

impl Drop for OwnedShedPermit {
    fn drop(&mut self) {
        self.inner.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(all(test, not(steadfast_loom)))]
mod tests {
    use super::*;
    use steadfast_core::{ManualClock, Recorder};

    #[test]
    fn config_validation() {
        assert!(ShedConfig::builder().capacity(0).build().is_err());
        assert!(
            ShedConfig::builder()
                .share(Priority::Background, 0.0)
                .build()
                .is_err()
        );
        assert!(
            ShedConfig::builder()
                .share(Priority::Normal, f64::NAN)
                .build()
                .is_err()
        );
        assert!(
            ShedConfig::builder()
                .share(Priority::High, 1.5)
                .build()
                .is_err()
        );
    }

    #[test]
    fn critical_keeps_its_reserve_under_flood() {
        let events = Recorder::new();
        let s = LoadShedder::observed(
            ShedConfig::builder().capacity(10).build().unwrap(),
            ManualClock::new(),
            events.clone(),
        );
        let mut held = Vec::new();
        for p in [Priority::Background, Priority::Normal, Priority::High] {
            while let Ok(permit) = s.try_admit(p) {
                held.push(permit);
            }
        }
        assert_eq!(s.in_flight(), 9);
        let err = s.try_admit(Priority::High).unwrap_err();
        assert_eq!((err.in_flight, err.threshold), (9, 9));
        held.push(s.try_admit(Priority::Critical).unwrap());
        assert!(s.try_admit(Priority::Critical).is_err());
        assert_eq!(events.len(), 5);
        held.clear();
        assert_eq!(s.in_flight(), 0);
    }

    #[test]
    fn threads_never_exceed_thresholds() {
        let s = LoadShedder::new(ShedConfig::builder().capacity(8).build().unwrap());
        let threads: Vec<_> = (0..4)
            .map(|i| {
                let s = s.clone();
                std::thread::spawn(move || {
                    for _ in 0..1_000 {
                        let p = Priority::ALL[i];
                        if let Ok(permit) = s.try_admit(p) {
                            assert!(s.in_flight() <= 8);
                            drop(permit);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(s.in_flight(), 0);
    }
}
