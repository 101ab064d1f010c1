//! An event counter that threads bump without a locked instruction.
//!
//! A rejected call is the one place where a breaker counts something on
//! every call of a state that otherwise only reads: one `fetch_add` there is
//! a locked instruction (a full barrier on x86, tens of cycles) and, with
//! several threads rejecting, a cache line that moves between cores on every
//! call. A [`Tally`] instead gives each live thread a lane of its own (up to
//! [`LANES`] threads at a time; lane numbers are handed back when a thread
//! exits), which only that thread writes, with a plain load and store.
//! Threads beyond that share one atomic counter. Sums are exact: no update
//! is ever lost; a read while others count sees each lane as of some recent
//! moment, as `LongAdder::sum` does in Java.

#[cfg(not(steadfast_loom))]
mod imp {
    use std::cell::Cell;
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
    use std::sync::{Mutex, OnceLock, PoisonError};

    /// Threads that can hold a lane at the same time.
    pub(crate) const LANES: usize = 32;

    /// One lane on its own cache line.
    #[repr(align(64))]
    #[derive(Default)]
    struct Lane(AtomicU64);

    /// Lane numbers: never handed out yet (from `NEXT`), or handed back.
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    static FREE: Mutex<Vec<usize>> = Mutex::new(Vec::new());

    /// `LANE` before this thread has asked for a lane.
    const UNASKED: usize = usize::MAX;
    /// `LANE` when this thread has no lane: more than `LANES` threads were
    /// alive when it asked, or its lane was handed back at thread exit.
    const NONE: usize = usize::MAX - 1;

    /// This thread's lane number, handed back when the thread exits.
    struct LaneNumber(Cell<usize>);

    impl LaneNumber {
        fn take() -> usize {
            let reused = FREE.lock().unwrap_or_else(PoisonError::into_inner).pop();
            reused
                .or_else(|| {
                    let n = NEXT.fetch_add(1, Ordering::Relaxed);
                    (n < LANES).then_some(n)
                })
                .unwrap_or(NONE)
        }

        /// Hands lane number `n` back for another thread (no-op for `NONE`).
        fn give_back(n: usize) {
            if n < LANES {
                FREE.lock().unwrap_or_else(PoisonError::into_inner).push(n);
            }
        }
    }

    impl Drop for LaneNumber {
        fn drop(&mut self) {
            // Counts made from here on (by other thread-local destructors)
            // go to the shared counter.
            let _ = LANE.try_with(|lane| lane.set(NONE));
            // Every store this thread made to its lanes happens before the
            // unlock, and so before the next owner's first load.
            LaneNumber::give_back(self.0.get());
        }
    }

    thread_local! {
        /// The lane number, read on every count: a constant-initialised
        /// cell without a destructor costs one thread-local load.
        static LANE: Cell<usize> = const { Cell::new(UNASKED) };
        /// Owns the lane number, to hand it back when the thread exits.
        static OWNER: LaneNumber = const { LaneNumber(Cell::new(NONE)) };
    }

    /// This thread's lane, asking for one on its first count.
    #[cold]
    fn ask_for_lane() -> usize {
        let n = LaneNumber::take();
        // Registering the owner fails once the thread is being torn down;
        // then the number goes straight back and the thread counts shared.
        let owned = OWNER.try_with(|owner| owner.0.set(n)).is_ok();
        if !owned {
            LaneNumber::give_back(n);
            let _ = LANE.try_with(|lane| lane.set(NONE));
            return NONE;
        }
        let _ = LANE.try_with(|lane| lane.set(n));
        n
    }

    /// An exact event counter; see the module docs.
    #[derive(Default)]
    pub(crate) struct Tally {
        /// Allocated on the first count by a thread with a lane.
        lanes: OnceLock<Box<[Lane; LANES]>>,
        /// Threads without a lane (more than `LANES` alive, or a count made
        /// while this thread's locals are being torn down).
        shared: AtomicU64,
    }

    impl Tally {
        /// Counts one event.
        #[inline]
        pub(crate) fn add_one(&self) {
            let mut n = LANE.with(Cell::get);
            if n == UNASKED {
                n = ask_for_lane();
            }
            if n < LANES {
                let lane = &self.lanes.get_or_init(Default::default)[n].0;
                // This thread alone writes this lane: no lost update.
                lane.store(lane.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
            } else {
                self.shared.fetch_add(1, Ordering::Relaxed);
            }
        }

        /// Events counted so far.
        pub(crate) fn sum(&self) -> u64 {
            let lanes = self.lanes.get().map_or(0, |lanes| {
                lanes
                    .iter()
                    .map(|l| l.0.load(Ordering::Relaxed))
                    .fold(0u64, u64::wrapping_add)
            });
            lanes.wrapping_add(self.shared.load(Ordering::Relaxed))
        }
    }
}

/// Under loom: one atomic counter (loom models neither thread-locals nor
/// the lane registry; the breaker's models do not depend on how rejections
/// are counted).
#[cfg(steadfast_loom)]
mod imp {
    use crate::sync::{AtomicU64, Ordering};

    #[derive(Default)]
    pub(crate) struct Tally(AtomicU64);

    impl Tally {
        pub(crate) fn add_one(&self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }

        pub(crate) fn sum(&self) -> u64 {
            self.0.load(Ordering::Relaxed)
        }
    }
}

pub(crate) use imp::Tally;

#[cfg(all(test, not(steadfast_loom)))]
mod tests {
    use super::imp::LANES;
    use super::*;
    use std::sync::Arc;

    #[test]
    fn counts_from_one_thread() {
        let t = Tally::default();
        assert_eq!(t.sum(), 0);
        for _ in 0..1_000 {
            t.add_one();
        }
        assert_eq!(t.sum(), 1_000);
    }

    #[test]
    fn loses_nothing_with_more_threads_than_lanes_and_lanes_reused() {
        let t = Arc::new(Tally::default());
        // Two waves of more threads than lanes, all alive at once within a
        // wave, so some share the fallback counter; the second wave reuses
        // the first wave's lane numbers.
        for _wave in 0..2 {
            let barrier = Arc::new(std::sync::Barrier::new(LANES + 8));
            let threads: Vec<_> = (0..LANES + 8)
                .map(|_| {
                    let (t, barrier) = (Arc::clone(&t), Arc::clone(&barrier));
                    std::thread::spawn(move || {
                        barrier.wait();
                        for _ in 0..10_000 {
                            t.add_one();
                        }
                        barrier.wait();
                    })
                })
                .collect();
            for th in threads {
                th.join().unwrap();
            }
        }
        assert_eq!(t.sum(), 2 * (LANES as u64 + 8) * 10_000);
    }

    #[test]
    fn counts_made_by_thread_local_destructors_are_kept() {
        struct CountsOnExit(Arc<Tally>);
        impl Drop for CountsOnExit {
            fn drop(&mut self) {
                for _ in 0..10 {
                    self.0.add_one();
                }
            }
        }
        thread_local! {
            static ON_EXIT: std::cell::RefCell<Option<CountsOnExit>> =
                const { std::cell::RefCell::new(None) };
        }
        let t = Arc::new(Tally::default());
        for first_count_in_destructor in [false, true] {
            let t2 = Arc::clone(&t);
            std::thread::spawn(move || {
                if !first_count_in_destructor {
                    t2.add_one();
                }
                ON_EXIT.with(|slot| *slot.borrow_mut() = Some(CountsOnExit(t2)));
            })
            .join()
            .unwrap();
        }
        assert_eq!(t.sum(), 21);
    }

    #[test]
    fn a_reused_lane_continues_from_the_previous_owner() {
        let t = Arc::new(Tally::default());
        for _ in 0..50 {
            let t2 = Arc::clone(&t);
            std::thread::spawn(move || {
                for _ in 0..100 {
                    t2.add_one();
                }
            })
            .join()
            .unwrap();
        }
        assert_eq!(t.sum(), 5_000);
    }
}
