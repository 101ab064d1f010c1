//! Replays the committed fuzz corpus through the fuzz target's checks, so the
//! fuzz logic runs in every `cargo test`, even without the fuzzer.

#[path = "../../../fuzz/checks/timestamp.rs"]
mod check;

#[test]
fn timestamp_corpus_replays_clean() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/corpus/timestamp");
    let mut replayed = 0;
    for entry in std::fs::read_dir(dir).expect("fuzz corpus directory is missing") {
        let path = entry.expect("unreadable corpus entry").path();
        let data = std::fs::read(&path).expect("unreadable corpus file");
        check::check(&data);
        replayed += 1;
    }
    assert!(
        replayed >= 3,
        "expected a seed corpus, found {replayed} file(s)"
    );
}
