#![no_main]

#[path = "../checks/replica_merkle.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
