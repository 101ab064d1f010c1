//! Replays the committed fuzz corpora through the fuzz targets' checks, so
//! the fuzz logic runs in every `cargo test`, even without the fuzzer.

use std::path::Path;

#[path = "../../../fuzz/checks/replica_dvv.rs"]
pub mod dvv_check;
#[path = "../../../fuzz/checks/replica_frame.rs"]
pub mod frame_check;
#[path = "../../../fuzz/checks/replica_merkle.rs"]
pub mod merkle_check;
#[path = "../../../fuzz/checks/replica_version_vector.rs"]
pub mod version_vector_check;

fn replay(target: &str, check: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut replayed = 0;
    for entry in std::fs::read_dir(&dir).expect("fuzz corpus directory is missing") {
        let path = entry.expect("unreadable corpus entry").path();
        let data = std::fs::read(&path).expect("unreadable corpus file");
        check(&data);
        // Every prefix too: truncation must never panic.
        for cut in 0..data.len() {
            check(&data[..cut]);
        }
        replayed += 1;
    }
    assert!(
        replayed >= 3,
        "expected a seed corpus for {target}, found {replayed} file(s)"
    );
}

#[test]
fn replica_frame_corpus_replays_clean() {
    replay("replica_frame", frame_check::check);
}

#[test]
fn replica_version_vector_corpus_replays_clean() {
    replay("replica_version_vector", version_vector_check::check);
}

#[test]
fn replica_dvv_corpus_replays_clean() {
    replay("replica_dvv", dvv_check::check);
}

#[test]
fn replica_merkle_corpus_replays_clean() {
    replay("replica_merkle", merkle_check::check);
}
