//! An [`Observer`] that turns events into `tracing` events (feature `tracing`).

use core::fmt;

use crate::Observer;

/// How loud a [`TracingObserver`]'s events are.
///
/// ```
/// use steadfast_core::TracingLevel;
/// assert_eq!(TracingLevel::default(), TracingLevel::Info);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum TracingLevel {
    /// `tracing::Level::TRACE`.
    Trace,
    /// `tracing::Level::DEBUG`.
    Debug,
    /// `tracing::Level::INFO`.
    #[default]
    Info,
    /// `tracing::Level::WARN`.
    Warn,
    /// `tracing::Level::ERROR`.
    Error,
}

/// Emits every event it receives as a `tracing` event with target
/// `steadfast`, a `component` field naming its source and the event's
/// `Debug` form in an `event` field.
///
/// Plug it in wherever a component takes an observer. [`is_enabled`](Observer::is_enabled)
/// asks `tracing` whether anyone listens at this level, so components skip
/// building events nobody will see.
///
/// ```
/// use steadfast_core::{Observer, TracingLevel, TracingObserver};
///
/// #[derive(Debug)]
/// enum DoorEvent { Opened }
///
/// let observer = TracingObserver::new("front-door").with_level(TracingLevel::Warn);
/// assert_eq!(observer.component(), "front-door");
/// // With no subscriber installed nobody listens, and the event costs nothing.
/// assert!(!Observer::<DoorEvent>::is_enabled(&observer));
/// observer.on_event(&DoorEvent::Opened);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TracingObserver {
    component: &'static str,
    level: TracingLevel,
}

impl TracingObserver {
    /// An observer naming its events' source `component`, at
    /// [`TracingLevel::Info`].
    #[must_use]
    pub const fn new(component: &'static str) -> TracingObserver {
        TracingObserver {
            component,
            level: TracingLevel::Info,
        }
    }

    /// The same observer emitting at `level`.
    #[must_use]
    pub const fn with_level(self, level: TracingLevel) -> TracingObserver {
        TracingObserver { level, ..self }
    }

    /// The component name put on every event.
    #[must_use]
    pub const fn component(&self) -> &'static str {
        self.component
    }

    /// The level events are emitted at.
    #[must_use]
    pub const fn level(&self) -> TracingLevel {
        self.level
    }
}

impl<E: fmt::Debug> Observer<E> for TracingObserver {
    fn on_event(&self, event: &E) {
        let component = self.component;
        match self.level {
            TracingLevel::Trace => {
                tracing::trace!(target: "steadfast", component, event = ?event);
            }
            TracingLevel::Debug => {
                tracing::debug!(target: "steadfast", component, event = ?event);
            }
            TracingLevel::Info => tracing::info!(target: "steadfast", component, event = ?event),
            TracingLevel::Warn => tracing::warn!(target: "steadfast", component, event = ?event),
            TracingLevel::Error => {
                tracing::error!(target: "steadfast", component, event = ?event);
            }
        }
    }

    fn is_enabled(&self) -> bool {
        match self.level {
            TracingLevel::Trace => tracing::enabled!(target: "steadfast", tracing::Level::TRACE),
            TracingLevel::Debug => tracing::enabled!(target: "steadfast", tracing::Level::DEBUG),
            TracingLevel::Info => tracing::enabled!(target: "steadfast", tracing::Level::INFO),
            TracingLevel::Warn => tracing::enabled!(target: "steadfast", tracing::Level::WARN),
            TracingLevel::Error => tracing::enabled!(target: "steadfast", tracing::Level::ERROR),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;
    use alloc::sync::Arc;
    use alloc::vec::Vec;
    use std::sync::Mutex;
    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Metadata, Subscriber};

    /// Keeps (level, target, fields) of every event.
    #[derive(Default)]
    struct Keep {
        seen: Mutex<Vec<(tracing::Level, String, String)>>,
        min: Option<tracing::Level>,
    }

    struct Fields(String);
    impl Visit for Fields {
        fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
            use core::fmt::Write;
            let _ = write!(self.0, "{}={:?};", field.name(), value);
        }
        fn record_str(&mut self, field: &Field, value: &str) {
            use core::fmt::Write;
            let _ = write!(self.0, "{}={};", field.name(), value);
        }
    }

    #[derive(Clone)]
    struct Keeper(Arc<Keep>);

    impl Subscriber for Keeper {
        fn enabled(&self, metadata: &Metadata<'_>) -> bool {
            self.0.min.is_none_or(|min| *metadata.level() <= min)
        }
        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            let mut fields = Fields(String::new());
            event.record(&mut fields);
            self.0.seen.lock().unwrap().push((
                *event.metadata().level(),
                event.metadata().target().into(),
                fields.0,
            ));
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }

    #[derive(Debug)]
    #[allow(dead_code)]
    enum Door {
        Opened { by: u32 },
    }

    #[test]
    fn events_reach_the_subscriber_with_level_target_and_fields() {
        let keep = Arc::new(Keep::default());
        tracing::subscriber::with_default(Keeper(Arc::clone(&keep)), || {
            let observer = TracingObserver::new("door").with_level(TracingLevel::Warn);
            assert!(Observer::<Door>::is_enabled(&observer));
            observer.on_event(&Door::Opened { by: 7 });
            TracingObserver::new("door").on_event(&Door::Opened { by: 8 });
        });
        let seen = keep.seen.lock().unwrap();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].0, tracing::Level::WARN);
        assert_eq!(seen[0].1, "steadfast");
        assert!(seen[0].2.contains("component=door"), "{:?}", seen[0]);
        assert!(seen[0].2.contains("Opened { by: 7 }"), "{:?}", seen[0]);
        assert_eq!(seen[1].0, tracing::Level::INFO);
    }

    #[test]
    fn a_quiet_subscriber_disables_the_observer() {
        let keep = Arc::new(Keep {
            min: Some(tracing::Level::WARN),
            ..Keep::default()
        });
        tracing::subscriber::with_default(Keeper(Arc::clone(&keep)), || {
            let debug = TracingObserver::new("door").with_level(TracingLevel::Debug);
            assert!(!Observer::<Door>::is_enabled(&debug));
            let error = debug.with_level(TracingLevel::Error);
            assert!(Observer::<Door>::is_enabled(&error));
            assert_eq!(error.level(), TracingLevel::Error);
        });
    }
}
