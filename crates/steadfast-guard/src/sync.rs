//! The atomics this crate uses, from one place so that loom can stand in for
//! them under `cfg(steadfast_loom)`.

#[cfg(steadfast_loom)]
pub(crate) use loom::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering, fence};
#[cfg(steadfast_loom)]
pub(crate) use loom::sync::{Arc, Mutex};

#[cfg(not(steadfast_loom))]
pub(crate) use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering, fence};
#[cfg(not(steadfast_loom))]
pub(crate) use std::sync::{Arc, Mutex};

/// Keeps a hot atomic on its own cache lines (two, for adjacent-line
/// prefetching), so that writers of one word do not slow readers of another.
#[repr(align(128))]
pub(crate) struct Padded<T>(pub(crate) T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        &self.0
    }
}
