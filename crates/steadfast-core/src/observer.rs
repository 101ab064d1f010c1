use alloc::boxed::Box;
use alloc::sync::Arc;

/// Receives the events a component emits: state changes with their time and reason.
///
/// Every steadfast component that changes state (a breaker opening, a peer
/// suspected, a lease lost, a budget burning) reports it to an `Observer`, so
/// that applications can log, count and audit each decision. The default
/// observer is `()`, which ignores everything and compiles away.
///
/// Implemented for:
/// - `()`: discards events;
/// - closures `Fn(&E) + Send + Sync`;
/// - [`Recorder<E>`](crate::Recorder) (with `std`): keeps events for tests;
/// - `Arc<dyn Observer<E>>` and `Box<dyn Observer<E>>`, to share or erase one.
///
/// Observers are called on the caller's thread, inside the component's
/// operation: keep them short and never call back into the component.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use steadfast_core::Observer;
///
/// #[derive(Debug)]
/// enum DoorEvent { Opened, Closed }
///
/// fn notify(observer: &impl Observer<DoorEvent>) {
///     observer.on_event(&DoorEvent::Opened);
///     observer.on_event(&DoorEvent::Closed);
/// }
///
/// let seen = AtomicUsize::new(0);
/// notify(&|_: &DoorEvent| { seen.fetch_add(1, Ordering::Relaxed); });
/// notify(&()); // ignored
/// assert_eq!(seen.load(Ordering::Relaxed), 2);
/// ```
pub trait Observer<E>: Send + Sync {
    /// Called once for each event, in the order the component emits them.
    fn on_event(&self, event: &E);

    /// Whether this observer wants events at all. Components may skip
    /// building an event (formatting a reason, cloning a name) when it is
    /// `false`. Defaults to `true`; `()` says `false`.
    ///
    /// ```
    /// use steadfast_core::Observer;
    ///
    /// assert!(!Observer::<u32>::is_enabled(&()));
    /// assert!(Observer::<u32>::is_enabled(&|_: &u32| {}));
    /// ```
    #[inline]
    fn is_enabled(&self) -> bool {
        true
    }
}

impl<E> Observer<E> for () {
    #[inline]
    fn on_event(&self, _event: &E) {}

    #[inline]
    fn is_enabled(&self) -> bool {
        false
    }
}

impl<E, F> Observer<E> for F
where
    F: Fn(&E) + Send + Sync,
{
    #[inline]
    fn on_event(&self, event: &E) {
        self(event);
    }
}

impl<E> Observer<E> for Arc<dyn Observer<E>> {
    fn on_event(&self, event: &E) {
        (**self).on_event(event);
    }

    fn is_enabled(&self) -> bool {
        (**self).is_enabled()
    }
}

impl<E> Observer<E> for Box<dyn Observer<E>> {
    fn on_event(&self, event: &E) {
        (**self).on_event(event);
    }

    fn is_enabled(&self) -> bool {
        (**self).is_enabled()
    }
}

#[cfg(feature = "std")]
pub use recorder::Recorder;

#[cfg(feature = "std")]
mod recorder {
    use super::Observer;
    use std::fmt;
    use std::sync::{Arc, Mutex, PoisonError};
    use std::vec::Vec;

    /// An observer that keeps every event it receives; clones share one list.
    ///
    /// Meant for tests and the simulator: give one clone to the component and
    /// read the events from another. It takes a lock per event, so keep it off
    /// production hot paths.
    ///
    /// # Examples
    ///
    /// ```
    /// use steadfast_core::{Observer, Recorder};
    ///
    /// let recorder = Recorder::new();
    /// let handle = recorder.clone();
    /// handle.on_event(&"breaker opened");
    /// handle.on_event(&"breaker closed");
    /// assert_eq!(recorder.events(), vec!["breaker opened", "breaker closed"]);
    /// assert_eq!(recorder.take().len(), 2);
    /// assert!(recorder.is_empty());
    /// ```
    pub struct Recorder<E> {
        events: Arc<Mutex<Vec<E>>>,
    }

    impl<E> Recorder<E> {
        /// An empty recorder.
        ///
        /// ```
        /// # use steadfast_core::Recorder;
        /// assert!(Recorder::<u32>::new().is_empty());
        /// ```
        #[must_use]
        pub fn new() -> Recorder<E> {
            Recorder {
                events: Arc::new(Mutex::new(Vec::new())),
            }
        }

        fn with<R>(&self, f: impl FnOnce(&mut Vec<E>) -> R) -> R {
            // A panic elsewhere while the lock was held leaves a valid Vec; keep it.
            let mut guard = self.events.lock().unwrap_or_else(PoisonError::into_inner);
            f(&mut guard)
        }

        /// A copy of the events recorded so far, oldest first.
        ///
        /// ```
        /// # use steadfast_core::{Observer, Recorder};
        /// let r = Recorder::new();
        /// r.on_event(&1);
        /// assert_eq!(r.events(), vec![1]);
        /// ```
        #[must_use]
        pub fn events(&self) -> Vec<E>
        where
            E: Clone,
        {
            self.with(|events| events.clone())
        }

        /// Removes and returns the events recorded so far, oldest first.
        ///
        /// ```
        /// # use steadfast_core::{Observer, Recorder};
        /// let r = Recorder::new();
        /// r.on_event(&1);
        /// assert_eq!(r.take(), vec![1]);
        /// assert!(r.take().is_empty());
        /// ```
        #[must_use]
        pub fn take(&self) -> Vec<E> {
            self.with(std::mem::take)
        }

        /// How many events are held.
        ///
        /// ```
        /// # use steadfast_core::{Observer, Recorder};
        /// let r = Recorder::new();
        /// r.on_event(&"a");
        /// assert_eq!(r.len(), 1);
        /// ```
        #[must_use]
        pub fn len(&self) -> usize {
            self.with(|events| events.len())
        }

        /// Whether no event is held.
        ///
        /// ```
        /// # use steadfast_core::Recorder;
        /// assert!(Recorder::<()>::new().is_empty());
        /// ```
        #[must_use]
        pub fn is_empty(&self) -> bool {
            self.len() == 0
        }

        /// Drops every event held.
        ///
        /// ```
        /// # use steadfast_core::{Observer, Recorder};
        /// let r = Recorder::new();
        /// r.on_event(&1);
        /// r.clear();
        /// assert!(r.is_empty());
        /// ```
        pub fn clear(&self) {
            self.with(Vec::clear);
        }
    }

    impl<E> Clone for Recorder<E> {
        fn clone(&self) -> Recorder<E> {
            Recorder {
                events: Arc::clone(&self.events),
            }
        }
    }

    impl<E> Default for Recorder<E> {
        fn default() -> Recorder<E> {
            Recorder::new()
        }
    }

    impl<E: fmt::Debug> fmt::Debug for Recorder<E> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            self.with(|events| f.debug_struct("Recorder").field("events", events).finish())
        }
    }

    impl<E: Clone + Send> Observer<E> for Recorder<E> {
        fn on_event(&self, event: &E) {
            self.with(|events| events.push(event.clone()));
        }
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use crate::Recorder;

    #[test]
    fn erased_observers_forward() {
        let recorder = Recorder::new();
        let shared: Arc<dyn Observer<u8>> = Arc::new(recorder.clone());
        let boxed: Box<dyn Observer<u8>> = Box::new(recorder.clone());
        shared.on_event(&1);
        boxed.on_event(&2);
        assert_eq!(recorder.events(), std::vec![1, 2]);
    }

    #[test]
    fn recorder_from_many_threads() {
        let recorder = Recorder::new();
        let handles: std::vec::Vec<_> = (0..4)
            .map(|t| {
                let r = recorder.clone();
                std::thread::spawn(move || {
                    for i in 0..250 {
                        r.on_event(&(t * 1000 + i));
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().expect("thread panicked");
        }
        let mut events = recorder.take();
        assert_eq!(events.len(), 1000);
        events.sort_unstable();
        events.dedup();
        assert_eq!(events.len(), 1000);
    }
}
