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
    let dir = std::env::temp_dir().join(format!("steadfast-tour-test-{}", std::process::id()));
    let output = steadfast(&[
        "tour",
        "--seed",
        "3",
        "--short",
        "--out",
        dir.to_str().expect("utf-8 path"),
    ]);
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
    assert!(text.contains("fires    2% in 1h  (page)"), "{text}");
    // Per-client limits: the busy client's fourth call is refused, the other
    // client keeps its own budget.
    assert!(
        text.contains("ok, 0 of 3 left (all back in 3s); refused, retry at t+1.200000000s"),
        "{text}"
    );
    assert!(text.contains("10.0.0.9: ok, 2 of 3 left"), "{text}");
    // The 6h tier resolves once the outage leaves its window and fires again
    // when the leak alone has filled enough of it.
    let tier_6h: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("5% in 6h  (page) burn"))
        .filter_map(|l| {
            l.split_whitespace()
                .find(|w| *w == "fires" || *w == "resolves")
        })
        .collect();
    assert_eq!(
        tier_6h,
        ["fires", "resolves", "fires", "resolves"],
        "{text}"
    );
    assert!(
        text.contains(
            "fence: a's late write refused: fencing token 1 is stale: the fence has already seen 2"
        ),
        "{text}"
    );
    assert!(
        text.contains("db-1 healthy -> suspect (phi 8.000 >= 8)"),
        "{text}"
    );
    assert!(
        text.contains("dropped as stale, api-3 stays suspect"),
        "{text}"
    );
    assert!(text.contains("siblings [\"red\", \"green\"]"), "{text}");
    assert!(
        text.contains("HalfOpen -> Closed (TrialsPassed; 2 calls, failure rate 0%)"),
        "{text}"
    );
    assert!(
        text.contains(
            "Bulkhead of 2 with 2 calls running: bulkhead full: 2 calls already in flight"
        ),
        "{text}"
    );
    // The scripted day, on the engine: a timeline whose milestones happen in
    // order, a summary and the report on disk.
    let line = |what: &str| {
        text.lines()
            .position(|l| l.contains(what))
            .unwrap_or_else(|| panic!("the day never says {what:?}:\n{text}"))
    };
    let crash = line("t+00:04:05  node 3 crashed (it held the lease)");
    let suspected = line("suspects node 3 (phi");
    let taken = line("takes the leader lease (token 2)");
    let refused = line("node 3 flushes a write queued under token 1: refused");
    let rejoined = line("node 3 sees its lease is gone and rejoins as a follower");
    let breaker = line("clients of node 3 open their breaker");
    let alert = line("fires (page; burn rate");
    let cut = line("t+00:20:00  network partition");
    let expired = line("runs out on its own clock: it stops acting as leader");
    let healed = line("t+00:25:00  partition healed");
    let converged = line("the replicas agree on every key again");
    let frozen = line("t+00:35:00  node ");
    let resumed = line("t+00:35:15  node ");
    assert!(
        text.lines()
            .nth(frozen)
            .is_some_and(|l| l.contains("(the leader) freezes for 15s")),
        "{text}"
    );
    assert!(
        text.lines()
            .nth(resumed)
            .is_some_and(|l| l.ends_with("resumes")),
        "{text}"
    );
    assert!(converged < frozen && frozen < resumed, "{text}");
    assert!(
        crash < breaker && crash < suspected && suspected < taken,
        "{text}"
    );
    assert!(
        taken < refused && refused <= rejoined && alert < cut,
        "{text}"
    );
    assert!(
        cut < expired && expired < healed && healed < converged,
        "{text}"
    );
    assert!(
        text.contains("lease overlaps                   0 (most believing holders 1"),
        "{text}"
    );
    assert!(
        text.contains("stale writes refused             1"),
        "{text}"
    );
    assert!(text.contains("divergent keys at heal / at end"), "{text}");
    assert!(text.contains("steadfast-sim      ready"), "{text}");
    let html = std::fs::read_to_string(dir.join("report.html")).expect("report.html written");
    assert!(html.contains("<svg"), "report without plots");
    assert!(dir.join("minutes.csv").exists());
    assert!(
        text.contains(&dir.join("report.html").display().to_string()),
        "{text}"
    );
    // Sections in order: core, guard, detect, quorum, replica, slo, the day.
    let at = |s: &str| text.find(s).unwrap_or_else(|| panic!("missing {s}"));
    assert!(at("== steadfast-core") < at("== steadfast-guard"));
    assert!(at("== steadfast-guard: limits") < at("== steadfast-detect"));
    assert!(at("== steadfast-detect") < at("== steadfast-quorum"));
    assert!(at("== steadfast-quorum") < at("== steadfast-replica"));
    assert!(at("== steadfast-replica") < at("== steadfast-slo"));
    assert!(at("== steadfast-slo") < at("== steadfast-sim"));
    std::fs::remove_dir_all(&dir).expect("clean up the output directory");
}

#[test]
fn many_tour_days_report_confidence_intervals() {
    let dir = std::env::temp_dir().join(format!("steadfast-tour-runs-{}", std::process::id()));
    let output = steadfast(&[
        "tour",
        "--short",
        "--runs",
        "2",
        "--threads",
        "2",
        "--out",
        dir.to_str().expect("utf-8 path"),
    ]);
    assert!(
        output.status.success(),
        "tour --runs failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).expect("tour printed invalid UTF-8");
    // No walkthrough, no progress bar (stderr is not a terminal): the table.
    assert!(!text.contains("== steadfast-core"), "{text}");
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(text.contains("2 days, seeds 1..=2, on 2 threads"), "{text}");
    for row in [
        "crash detected after (s)",
        "lease failover after crash (s)",
        "retry amplification (day)",
        "replica convergence (s)",
        "page alerts fired",
    ] {
        let line = text
            .lines()
            .find(|l| l.contains(row))
            .unwrap_or_else(|| panic!("no row {row:?}:\n{text}"));
        assert!(line.contains(" 2/2 "), "{line}");
    }
    let csv = std::fs::read_to_string(dir.join("runs.csv")).expect("runs.csv written");
    assert_eq!(csv.lines().count(), 3, "{csv}");
    std::fs::remove_dir_all(&dir).expect("clean up the output directory");
}

#[test]
fn tour_rejects_zero_runs() {
    let output = steadfast(&["tour", "--runs", "0"]);
    assert!(!output.status.success());
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
