//! `steadfast slo ...`, run as a user would.

use std::process::Command;

fn steadfast(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_steadfast"))
        .args(args)
        .output()
        .expect("failed to start steadfast");
    (
        out.status.success(),
        String::from_utf8(out.stdout).expect("invalid UTF-8"),
        String::from_utf8(out.stderr).expect("invalid UTF-8"),
    )
}

#[test]
fn nines_table() {
    let (ok, text, err) = steadfast(&["slo", "nines", "--period", "30d"]);
    assert!(ok, "{err}");
    assert!(text.contains("99.9%") && text.contains("43m 12s"), "{text}");
    assert!(text.contains("99.999%") && text.contains("25.9s"), "{text}");
}

#[test]
fn budget_for_a_target() {
    let (ok, text, err) = steadfast(&[
        "slo",
        "budget",
        "--target",
        "99.9",
        "--period",
        "28d",
        "--requests",
        "1000000",
    ]);
    assert!(ok, "{err}");
    assert!(text.contains("40m 19.2s over 28d"), "{text}");
    assert!(text.contains("1000 of 1000000 requests"), "{text}");
}

#[test]
fn workbook_tiers() {
    let (ok, text, err) = steadfast(&["slo", "tiers", "--target", "0.999"]);
    assert!(ok, "{err}");
    assert!(text.contains("14.40") && text.contains("51.8s"), "{text}");
    assert!(
        text.contains("10% in 3d") && text.contains("ticket"),
        "{text}"
    );
    let (ok, text, _) = steadfast(&[
        "slo", "tiers", "--target", "99.9", "--preset", "pyrra", "--period", "28d",
    ]);
    assert!(ok);
    assert!(
        text.contains("critical 1h") && text.contains("14.00"),
        "{text}"
    );
}

#[test]
fn composite_availability() {
    let (ok, text, err) = steadfast(&["slo", "composite", "99.9", "99.9"]);
    assert!(ok, "{err}");
    assert!(text.contains("99.800100000%"), "{text}");
    let (ok, text, _) = steadfast(&["slo", "composite", "--mode", "parallel", "99.9", "99.9"]);
    assert!(ok);
    assert!(text.contains("unavailability   0.000001"), "{text}");
    let (ok, text, _) = steadfast(&[
        "slo",
        "composite",
        "--mode",
        "k-of-n",
        "--k",
        "2",
        "99",
        "99",
        "99",
    ]);
    assert!(ok);
    assert!(text.contains("at least 2 of 3 parts"), "{text}");
}

#[test]
fn bad_input_fails_with_a_message() {
    let (ok, _, err) = steadfast(&["slo", "budget", "--target", "100"]);
    assert!(!ok);
    assert!(
        err.contains("objective.target must be in (0, 1), got 1"),
        "{err}"
    );
    let (ok, _, err) = steadfast(&["slo", "nines", "--period", "1M"]);
    assert!(!ok);
    assert!(err.contains("ambiguous"), "{err}");
    let (ok, _, err) = steadfast(&["slo", "composite", "--mode", "k-of-n", "99"]);
    assert!(!ok);
    assert!(err.contains("--k"), "{err}");
}
