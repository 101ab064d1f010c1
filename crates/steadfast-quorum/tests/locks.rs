//! Mutex and Election through the public API: threads, events, lock-delay.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use steadfast_core::{Clock, ManualClock, MonotonicClock, Recorder};
use steadfast_quorum::{
    Election, Fence, InMemoryBackend, InMemoryConfig, LeaseEvent, LeasePolicy, LockError,
    LossReason, Mutex, ThreadSleeper,
};

#[test]
fn threads_contending_for_one_lock_never_overlap() {
    let backend = Arc::new(InMemoryBackend::with_clock(MonotonicClock::new()));
    let policy = LeasePolicy::builder(Duration::from_secs(5))
        .build()
        .unwrap();
    let inside = Arc::new(AtomicUsize::new(0));
    let fence = Arc::new(Fence::new());
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let (backend, inside, fence) = (
                Arc::clone(&backend),
                Arc::clone(&inside),
                Arc::clone(&fence),
            );
            std::thread::spawn(move || {
                let lock = Mutex::new(backend, "shared", format!("t{i}"), policy);
                let mut held = 0;
                while held < 50 {
                    if let Ok(mut guard) = lock.try_lock() {
                        assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two holders");
                        fence.check(guard.check().unwrap()).unwrap();
                        inside.fetch_sub(1, Ordering::SeqCst);
                        guard.release().unwrap();
                        held += 1;
                    } else {
                        std::thread::yield_now();
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("thread panicked");
    }
    assert_eq!(fence.highest().map(|t| t.get()), Some(200));
}

#[test]
fn lock_with_a_real_sleeper_waits_for_release() {
    let backend = Arc::new(InMemoryBackend::new());
    let policy = LeasePolicy::builder(Duration::from_secs(5))
        .build()
        .unwrap();
    let a = Mutex::new(Arc::clone(&backend), "k", "a", policy);
    let guard = a.try_lock().unwrap();
    let waiter = {
        let backend = Arc::clone(&backend);
        std::thread::spawn(move || {
            let b = Mutex::new(backend, "k", "b", policy);
            b.lock(Duration::from_secs(30), &ThreadSleeper)
                .map(|g| g.token())
        })
    };
    std::thread::sleep(Duration::from_millis(20));
    guard.release().unwrap();
    let token = waiter
        .join()
        .expect("thread panicked")
        .expect("b gets the lock");
    assert!(token.get() > 1);
}

#[test]
fn lock_delay_after_a_failed_holder() {
    let clock = ManualClock::new();
    let config = InMemoryConfig::builder()
        .lock_delay(Duration::from_secs(5))
        .build()
        .unwrap();
    let backend = Arc::new(InMemoryBackend::with_config_and_clock(
        config,
        clock.clone(),
    ));
    let policy = LeasePolicy::builder(Duration::from_secs(2))
        .build()
        .unwrap();
    let a = Mutex::with_clock(Arc::clone(&backend), "k", "a", policy, clock.clone());
    let b = Mutex::with_clock(Arc::clone(&backend), "k", "b", policy, clock.clone());

    // A clean release frees the key at once.
    a.try_lock().unwrap().release().unwrap();
    let guard = b.try_lock().unwrap();
    guard.release().unwrap();

    // A failure (expiry without release) holds it for the lock-delay.
    let failed = a.try_lock().unwrap();
    std::mem::forget(failed);
    clock.advance(Duration::from_secs(2));
    match b.try_lock() {
        Err(LockError::Delayed { retry_after }) => assert_eq!(retry_after, Duration::from_secs(5)),
        other => panic!("expected lock-delay, got {other:?}"),
    }
    let started = clock.now();
    let guard = b.lock(Duration::from_secs(60), &clock).unwrap();
    assert_eq!(clock.now() - started, Duration::from_secs(5));
    assert!(guard.token().get() == 4);
}

#[test]
fn election_reports_every_change_as_an_event() {
    let clock = ManualClock::new();
    let backend = Arc::new(InMemoryBackend::with_clock(clock.clone()));
    let policy = LeasePolicy::builder(Duration::from_secs(3))
        .build()
        .unwrap();
    let events = Recorder::new();
    let watcher = Election::with_clock(
        Arc::clone(&backend),
        "svc",
        "watcher",
        policy,
        clock.clone(),
    )
    .with_observer(events.clone());
    let a = Election::with_clock(Arc::clone(&backend), "svc", "a", policy, clock.clone())
        .with_observer(events.clone());
    let b = Election::with_clock(Arc::clone(&backend), "svc", "b", policy, clock.clone());

    assert_eq!(watcher.observe().unwrap(), None);
    let mut leading = a.try_campaign().unwrap();
    assert!(matches!(b.try_campaign(), Err(LockError::Held { .. })));
    let change = watcher.observe().unwrap().unwrap();
    assert_eq!(change.current.unwrap().owner, "a");
    assert_eq!(watcher.observe().unwrap(), None);

    // a stops renewing; its lease runs out; it must step down before b leads.
    clock.advance(Duration::from_secs(3));
    assert!(!leading.is_leader());
    assert!(leading.check().is_err());
    let b_leads = b.try_campaign().unwrap();
    assert!(b_leads.token() > leading.token());
    let change = watcher.observe().unwrap().unwrap();
    assert_eq!(change.previous.unwrap().owner, "a");
    assert_eq!(change.current.unwrap().owner, "b");

    let log = events.events();
    assert!(matches!(log[0], LeaseEvent::Acquired { ref owner, .. } if &**owner == "a"));
    assert!(matches!(
        log[1],
        LeaseEvent::LeaderChanged { previous: None, .. }
    ));
    assert!(matches!(
        log[2],
        LeaseEvent::Lost {
            reason: LossReason::Expired { .. },
            ..
        }
    ));
    assert!(matches!(
        log[3],
        LeaseEvent::LeaderChanged {
            previous: Some(_),
            ..
        }
    ));
    assert_eq!(log.len(), 4);
}

#[test]
fn resigning_hands_over_at_once() {
    let clock = ManualClock::new();
    let backend = InMemoryBackend::with_clock(clock.clone());
    let policy = LeasePolicy::builder(Duration::from_secs(3))
        .build()
        .unwrap();
    let a = Election::with_clock(&backend, "svc", "a", policy, clock.clone());
    let b = Election::with_clock(&backend, "svc", "b", policy, clock.clone());
    a.try_campaign().unwrap().resign().unwrap();
    assert!(b.try_campaign().is_ok());
    assert_eq!(a.candidate(), "a");
    assert_eq!(a.key(), "svc");
}
