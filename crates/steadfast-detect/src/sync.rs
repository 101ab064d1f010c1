//! The synchronization primitives the monitor shares between threads, from
//! one place so that loom can stand in for them under `cfg(steadfast_loom)`.

#[cfg(steadfast_loom)]
pub(crate) use loom::sync::atomic::{AtomicU64, Ordering};
#[cfg(steadfast_loom)]
pub(crate) use loom::sync::{Mutex, MutexGuard};

#[cfg(not(steadfast_loom))]
pub(crate) use std::sync::atomic::{AtomicU64, Ordering};
#[cfg(not(steadfast_loom))]
pub(crate) use std::sync::{Mutex, MutexGuard};
