//! `steadfast sim ...`, run as a user would.

use std::path::PathBuf;
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

fn out_dir(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("steadfast-cli-sim-{name}-{}", std::process::id()))
}

#[test]
fn slo_burn_prints_the_timeline_and_writes_the_report() {
    let dir = out_dir("slo");
    let dir_arg = dir.to_str().unwrap();
    let args = [
        "sim",
        "slo-burn",
        "--duration",
        "8h",
        "--outage-start",
        "2h",
        "--outage-length",
        "1h",
        "--outage-ratio",
        "100%",
        "--baseline",
        "0",
        "--seed",
        "3",
        "--out",
        dir_arg,
    ];
    let (ok, text, err) = steadfast(&args);
    assert!(ok, "{err}");
    assert!(
        text.contains("t+2h  outage starts: 100.00% more requests fail for 1h"),
        "{text}"
    );
    // A total outage against 99.9%: the 1h tier fires within the first one-minute step.
    assert!(text.contains("t+2h 1m  2% in 1h (page) fired"), "{text}");
    assert!(
        text.contains("the outage was detected after 1m (the arithmetic predicts 51s"),
        "{text}"
    );
    assert!(
        text.contains(&format!("wrote 5 files to {dir_arg}")),
        "{text}"
    );
    for file in [
        "report.html",
        "summary.csv",
        "timeline.csv",
        "steps.csv",
        "budget-and-burn.svg",
    ] {
        assert!(dir.join(file).is_file(), "{file} missing");
    }
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("2% in 1h"));
    // Same seed, same output.
    let (_, again, _) = steadfast(&args);
    assert_eq!(text, again);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn many_runs_report_confidence_intervals() {
    let dir = out_dir("many");
    let (ok, text, err) = steadfast(&[
        "sim",
        "--runs",
        "4",
        "--threads",
        "2",
        "--out",
        dir.to_str().unwrap(),
        "slo-burn",
        "--duration",
        "6h",
        "--outage-start",
        "1h",
    ]);
    assert!(ok, "{err}");
    assert!(
        text.contains("4 runs; the outage was detected in 4 of them"),
        "{text}"
    );
    assert!(
        text.contains("ci95 low") && text.contains("time to detect (s)"),
        "{text}"
    );
    assert!(dir.join("runs.csv").is_file());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn detector_qos_writes_one_tradeoff_plot_per_trace() {
    let dir = out_dir("qos");
    let (ok, text, err) = steadfast(&[
        "sim",
        "detector-qos",
        "--heartbeats",
        "200",
        "--traces",
        "pauses,bursty-loss",
        "--detectors",
        "fixed-timeout,phi-accrual",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert!(text.contains("the sender crashes at t+199.5s"), "{text}");
    assert!(
        text.contains("pauses") && text.contains("phi-accrual"),
        "{text}"
    );
    assert!(dir.join("tradeoff-pauses.svg").is_file());
    assert!(dir.join("tradeoff-bursty-loss.svg").is_file());
    let points = std::fs::read_to_string(dir.join("points.csv")).unwrap();
    // Two traces, six settings for each of the two detectors.
    assert_eq!(points.lines().count(), 1 + 2 * 12);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_arguments_get_clear_errors() {
    let (ok, _, err) = steadfast(&["sim", "slo-burn", "--target", "120"]);
    assert!(!ok);
    assert!(
        err.contains("objective.target must be in (0, 1), got 1.2"),
        "{err}"
    );
    let (ok, _, err) = steadfast(&["sim", "slo-burn", "--outage-ratio", "2"]);
    assert!(!ok);
    assert!(
        err.contains("slo_burn.outage.error_ratio must be in [0, 1], got 2"),
        "{err}"
    );
    let (ok, _, err) = steadfast(&["sim", "slo-burn", "--period", "1M"]);
    assert!(!ok);
    assert!(err.contains("ambiguous"), "{err}");
    let (ok, _, err) = steadfast(&["sim", "detector-qos", "--thresholds", "0"]);
    assert!(!ok);
    assert!(err.contains("must be"), "{err}");
    let (ok, _, err) = steadfast(&["sim", "--runs", "0", "slo-burn"]);
    assert!(!ok);
    assert!(err.contains("--runs"), "{err}");
    let (ok, _, err) = steadfast(&["sim", "retry-nonsense"]);
    assert!(!ok);
    assert!(err.contains("unrecognized subcommand"), "{err}");
}

#[test]
fn help_explains_each_scenario() {
    let (ok, text, _) = steadfast(&["sim", "--help"]);
    assert!(ok);
    assert!(
        text.contains("slo-burn") && text.contains("which burn-rate alert tiers fire"),
        "{text}"
    );
    assert!(
        text.contains("detector-qos") && text.contains("detection time against mistake rate"),
        "{text}"
    );
}

#[test]
fn the_report_goes_under_target_in_the_current_directory_by_default() {
    let cwd = out_dir("cwd");
    std::fs::create_dir_all(&cwd).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_steadfast"))
        .args([
            "sim",
            "detector-qos",
            "--heartbeats",
            "20",
            "--traces",
            "normal-jitter",
        ])
        .current_dir(&cwd)
        .output()
        .expect("failed to start steadfast");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let expected = PathBuf::from("target")
        .join("steadfast")
        .join("detector-qos");
    assert!(
        text.contains(&format!("wrote 4 files to {}", expected.display())),
        "{text}"
    );
    assert!(cwd.join(&expected).join("report.html").is_file());
    std::fs::remove_dir_all(&cwd).unwrap();
}

#[test]
fn lease_safety_and_anti_entropy_run_from_the_command_line() {
    let dir = std::env::temp_dir().join(format!("steadfast-sim-cli-{}", std::process::id()));
    let out = dir.join("lease");
    let output = Command::new(env!("CARGO_BIN_EXE_steadfast"))
        .args(["sim", "lease-safety", "--duration", "30s", "--out"])
        .arg(&out)
        .output()
        .expect("failed to start steadfast");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(out.join("report.html").is_file());
    let out = dir.join("ae");
    let output = Command::new(env!("CARGO_BIN_EXE_steadfast"))
        .args(["sim", "anti-entropy", "--strategies", "merkle", "--out"])
        .arg(&out)
        .output()
        .expect("failed to start steadfast");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(out.join("summary.csv").is_file());
    let bad = Command::new(env!("CARGO_BIN_EXE_steadfast"))
        .args(["sim", "anti-entropy", "--strategies", "gossip"])
        .output()
        .expect("failed to start steadfast");
    assert!(!bad.status.success());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn retry_storm_runs_from_the_command_line() {
    let out = std::env::temp_dir().join(format!("steadfast-sim-storm-{}", std::process::id()));
    let output = Command::new(env!("CARGO_BIN_EXE_steadfast"))
        .args([
            "sim",
            "retry-storm",
            "--clients",
            "5",
            "--duration",
            "6s",
            "--failure-start",
            "2s",
            "--failure-length",
            "2s",
            "--out",
        ])
        .arg(&out)
        .output()
        .expect("failed to start steadfast");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("budget + breaker"), "{stdout}");
    assert!(out.join("report.html").is_file());
    let bad = Command::new(env!("CARGO_BIN_EXE_steadfast"))
        .args(["sim", "retry-storm", "--rate", "NaN"])
        .output()
        .expect("failed to start steadfast");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("rate_per_client"));
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn retry_storm_takes_timeout_capacity_and_deadline() {
    let out = out_dir("storm-options");
    let out_arg = out.to_str().unwrap();
    let args = [
        "sim",
        "retry-storm",
        "--clients",
        "5",
        "--rate",
        "20",
        "--capacity",
        "150",
        "--timeout",
        "800ms",
        "--deadline",
        "4s",
        "--queue-limit",
        "3000",
        "--duration",
        "14s",
        "--failure-start",
        "3s",
        "--failure-length",
        "3s",
        "--out",
        out_arg,
    ];
    let (ok, text, err) = steadfast(&args);
    assert!(ok, "{err}");
    // Plain retries keep the slow, overloaded server from recovering.
    let plain = text
        .lines()
        .find(|l| l.trim_start().starts_with("plain retries"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(plain.contains("never"), "{text}");
    assert!(
        text.contains("peak queue delay") && text.contains("goodput"),
        "{text}"
    );
    assert!(out.join("goodput.svg").is_file() && out.join("load.csv").is_file());
    let (_, again, _) = steadfast(&args);
    assert_eq!(text, again, "same seed, same output");
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn retry_storm_and_lease_safety_reject_bad_values_clearly() {
    let cases: [(&[&str], &str); 8] = [
        (
            &["sim", "retry-storm", "--timeout", "0"],
            "timeout must be between 1ms and 1h, got 0ns",
        ),
        (
            &["sim", "retry-storm", "--timeout", "fast"],
            "must be a duration such as 250ms, 2s or 1m, got \"fast\"",
        ),
        (
            &["sim", "retry-storm", "--timeout", "3s", "--deadline", "2s"],
            "deadline must be at least the timeout (3s) and at most 1h, got 2s",
        ),
        (
            &["sim", "retry-storm", "--capacity", "0"],
            "capacity_per_sec must be finite and in (0, 1000000], got 0",
        ),
        (
            &["sim", "retry-storm", "--capacity", "inf"],
            "capacity_per_sec must be finite",
        ),
        (
            &["sim", "retry-storm", "--queue-limit", "0"],
            "queue_limit must be between 1 and 10000000, got 0",
        ),
        (
            &["sim", "lease-safety", "--grantors", "0"],
            "lease_safety.grantors must be in 1..=9, got 0",
        ),
        (
            &["sim", "lease-safety", "--grantors", "three"],
            "--grantors",
        ),
    ];
    for (args, expected) in cases {
        let (ok, _, err) = steadfast(args);
        assert!(!ok, "{args:?} should fail");
        assert!(err.contains(expected), "{args:?}: {err}");
    }
}

#[test]
fn lease_safety_runs_with_five_grantors() {
    let out = out_dir("grantors");
    let (ok, text, err) = steadfast(&[
        "sim",
        "lease-safety",
        "--grantors",
        "5",
        "--duration",
        "40s",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert!(text.contains("5 grantor(s)"), "{text}");
    assert!(text.contains("0 overlap episode(s)"), "{text}");
    assert!(out.join("report.html").is_file());
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn help_explains_the_new_options_in_one_sentence() {
    let (ok, text, _) = steadfast(&["sim", "retry-storm", "--help"]);
    assert!(ok);
    for needle in [
        "--timeout <TIMEOUT>",
        "How long a client waits for one attempt before giving up on it",
        "--capacity <CAPACITY>",
        "attempts queue and every call slows down",
        "--deadline <DEADLINE>",
        "--queue-limit <QUEUE_LIMIT>",
    ] {
        assert!(text.contains(needle), "{needle}: {text}");
    }
    let (ok, text, _) = steadfast(&["sim", "lease-safety", "--help"]);
    assert!(ok);
    assert!(
        text.contains("--grantors <GRANTORS>")
            && text.contains("a lease needs grants from a majority"),
        "{text}"
    );
}
