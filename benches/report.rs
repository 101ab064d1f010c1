//! `bench-report`: writes criterion's latest results into `BENCHMARKS.md`.
//!
//! Reads `<target>/criterion/**/new/{benchmark,estimates}.json`, groups the
//! results by crate (the part of the group id before `/`), and replaces the
//! text between `<!-- results:<crate>:begin -->` and `<!-- results:<crate>:end -->`
//! in `BENCHMARKS.md` with a table. Sections with no results are left as they
//! are, so benches of one crate can be rerun without losing the others.
//!
//! Usage: `bench-report [BENCHMARKS.md] [CRITERION_DIR]`. With
//! `BENCH_REPORT_SINCE=<unix seconds>`, only sections with a result measured
//! since then are rewritten (scripts/bench-report.sh sets it to its start).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::Value;

/// One measured function of one group.
#[derive(Debug)]
struct Row {
    group: String,
    function: String,
    median_ns: f64,
    low_ns: f64,
    high_ns: f64,
    /// When criterion wrote the result: benches run in the order they are written.
    measured: std::time::SystemTime,
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn collect(dir: &Path, rows: &mut Vec<Row>) -> Result<(), String> {
    let entries = fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        if !path.is_dir() {
            continue;
        }
        let bench = path.join("new").join("benchmark.json");
        let estimates = path.join("new").join("estimates.json");
        if bench.is_file() && estimates.is_file() {
            let b = read_json(&bench)?;
            let e = read_json(&estimates)?;
            let text = |v: &Value| v.as_str().map(str::to_owned);
            let (Some(group), Some(function)) = (
                text(&b["group_id"]),
                text(&b["function_id"]).or_else(|| text(&b["value_str"])),
            ) else {
                continue;
            };
            let measured = fs::metadata(&estimates)
                .and_then(|m| m.modified())
                .map_err(|e| e.to_string())?;
            let num = |v: &Value| {
                v.as_f64()
                    .ok_or_else(|| format!("{}: missing median", estimates.display()))
            };
            rows.push(Row {
                group,
                function,
                median_ns: num(&e["median"]["point_estimate"])?,
                low_ns: num(&e["median"]["confidence_interval"]["lower_bound"])?,
                high_ns: num(&e["median"]["confidence_interval"]["upper_bound"])?,
                measured,
            });
        } else {
            collect(&path, rows)?;
        }
    }
    Ok(())
}

fn human(ns: f64) -> String {
    if ns < 1_000.0 {
        format!("{ns:.2} ns")
    } else if ns < 1_000_000.0 {
        format!("{:.2} µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.2} s", ns / 1e9)
    }
}

/// The table of a section: fresh results, plus the rows already in the
/// section for groups this run did not measure (benches of the same crate
/// run separately, or on another machine, keep their last results).
fn table(rows: &[&Row], previous: &str) -> String {
    let mut by_group: BTreeMap<&str, Vec<&Row>> = BTreeMap::new();
    for row in rows {
        by_group.entry(row.group.as_str()).or_default().push(row);
    }
    let mut kept: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for line in previous.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // A data row: | group | implementation | ... |, not the header or the rule.
        let data_row = cells.len() > 2
            && cells[1] != "group"
            && !cells[1].starts_with("---")
            && !cells[1].is_empty();
        if data_row && !by_group.contains_key(cells[1]) {
            kept.entry(cells[1].to_owned()).or_default().push(line);
        }
    }
    let mut sections: BTreeMap<String, String> = BTreeMap::new();
    for (group, lines) in kept {
        let mut text = String::new();
        for line in lines {
            text.push_str(line);
            text.push('\n');
        }
        sections.insert(group, text);
    }
    let mut out = String::from(
        "| group | implementation | median | 95% CI | relative to steadfast |\n|---|---|---:|---:|---:|\n",
    );
    for (group, mut rows) in by_group {
        let mut text = String::new();
        // The reference is the first steadfast implementation the bench file measures.
        rows.sort_by_key(|r| r.measured);
        let reference = rows
            .iter()
            .find(|r| r.function.starts_with("steadfast"))
            .map(|r| r.median_ns);
        rows.sort_by(|a, b| a.median_ns.total_cmp(&b.median_ns));
        for row in rows {
            let relative = match reference {
                Some(base) if base > 0.0 => format!("{:.2}×", row.median_ns / base),
                _ => "n/a".to_owned(),
            };
            text.push_str(&format!(
                "| {group} | {} | {} | {} – {} | {relative} |\n",
                row.function,
                human(row.median_ns),
                human(row.low_ns),
                human(row.high_ns)
            ));
        }
        sections.insert(group.to_owned(), text);
    }
    for text in sections.values() {
        out.push_str(text);
    }
    out
}

fn run() -> Result<usize, String> {
    let mut args = std::env::args_os().skip(1);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let doc = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("BENCHMARKS.md"));
    let criterion = args.next().map(PathBuf::from).unwrap_or_else(|| {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"));
        target.join("criterion")
    });
    let mut rows = Vec::new();
    collect(&criterion, &mut rows)?;
    let mut text = fs::read_to_string(&doc).map_err(|e| format!("{}: {e}", doc.display()))?;
    let mut crates: BTreeMap<&str, Vec<&Row>> = BTreeMap::new();
    for row in &rows {
        let krate = row.group.split('/').next().unwrap_or(&row.group);
        crates.entry(krate).or_default().push(row);
    }
    let mut updated = 0;
    // Only sections with a result newer than BENCH_REPORT_SINCE (Unix seconds)
    // are rewritten, so old results of other crates never overwrite a section.
    let since = match std::env::var("BENCH_REPORT_SINCE") {
        Ok(secs) => {
            let secs: u64 = secs
                .parse()
                .map_err(|e| format!("BENCH_REPORT_SINCE={secs}: {e}"))?;
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs)
        }
        Err(_) => std::time::UNIX_EPOCH,
    };
    for (krate, rows) in crates {
        if !rows.iter().any(|r| r.measured >= since) {
            continue;
        }
        let begin = format!("<!-- results:{krate}:begin -->");
        let end = format!("<!-- results:{krate}:end -->");
        let (Some(b), Some(e)) = (text.find(&begin), text.find(&end)) else {
            eprintln!(
                "bench-report: no section markers for `{krate}` in {}; skipped",
                doc.display()
            );
            continue;
        };
        if e < b {
            return Err(format!("section `{krate}`: end marker before begin marker"));
        }
        let previous = &text[b + begin.len()..e];
        let replacement = format!("{begin}\n{}{end}", table(&rows, previous));
        text.replace_range(b..e + end.len(), &replacement);
        updated += 1;
    }
    fs::write(&doc, text).map_err(|e| format!("{}: {e}", doc.display()))?;
    Ok(updated)
}

fn main() -> ExitCode {
    match run() {
        Ok(n) => {
            println!("bench-report: updated {n} section(s)");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench-report: {e}");
            ExitCode::FAILURE
        }
    }
}
