//! Reads each real clock a few times and prints what it saw: the precise
//! monotonic reading, its coarse reading (never ahead of the precise one)
//! and the coarse lag the clock declares.
//!
//! ```sh
//! cargo run -p steadfast-core --example clocks
//! ```
//!
//! The same program runs under valgrind (`scripts/test.sh` does so), which
//! gives programs no vDSO: the clocks must read the kernel through the C
//! library's `clock_gettime`, not by parsing the vDSO themselves.

use std::time::Duration;

use steadfast_core::{Clock, MonotonicClock};

fn main() {
    let clock = MonotonicClock::new();
    let first = clock.now();
    let mut previous = first;
    for i in 0..5 {
        let coarse = clock.now_coarse();
        let precise = clock.now();
        assert!(precise >= previous, "the monotonic clock went backwards");
        assert!(coarse <= precise, "the coarse reading ran ahead");
        println!(
            "reading {i}: precise {:>12} ns, coarse {:>12} ns (behind by {:?})",
            precise.as_nanos(),
            coarse.as_nanos(),
            precise.saturating_duration_since(coarse)
        );
        previous = precise;
        std::thread::sleep(Duration::from_millis(2));
    }
    println!(
        "declared coarse lag: {:?}; elapsed: {:?}",
        clock.coarse_lag(),
        clock.now().saturating_duration_since(first)
    );
}
