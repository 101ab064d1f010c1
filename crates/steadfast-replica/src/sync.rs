//! The atomics this crate uses, from one place so that loom can stand in for
//! them under `cfg(steadfast_loom)`.

#[cfg(steadfast_loom)]
pub(crate) use loom::sync::atomic::{AtomicU64, Ordering};

#[cfg(not(steadfast_loom))]
pub(crate) use core::sync::atomic::{AtomicU64, Ordering};
