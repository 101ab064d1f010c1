//! The `steadfast` binary, run as a user would.

use std::process::Command;

fn steadfast(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_steadfast"))
        .args(args)
        .output()
        .expect("failed to start steadfast")
}

#[test]
fn tour_runs_and_shows_the_crate_map() {
    let output = steadfast(&["tour"]);
    assert!(
        output.status.success(),
        "tour failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).expect("tour printed invalid UTF-8");
    assert!(text.contains("crate map"), "{text}");
    assert!(text.contains("steadfast-core"), "{text}");
    assert!(
        text.contains("breaker.failure_rate_threshold must be in (0, 1], got 1.5"),
        "{text}"
    );
    assert!(text.contains("peer 7 down"), "{text}");
    assert!(text.contains("fires 2% in 1h  (page)"), "{text}");
    assert!(
        text.contains("db-1 healthy -> suspect (phi 8.000 >= 8)"),
        "{text}"
    );
}

#[test]
fn help_lists_subcommands() {
    let output = steadfast(&["--help"]);
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).expect("help printed invalid UTF-8");
    assert!(text.contains("tour"), "{text}");
}

#[test]
fn unknown_subcommand_fails() {
    let output = steadfast(&["no-such-command"]);
    assert!(!output.status.success());
}
