#!/usr/bin/env bash
# Runs criterion benches and rewrites the result tables in BENCHMARKS.md.
#
#   scripts/bench-report.sh            # every bench file, short measurement
#   scripts/bench-report.sh core guard # only these bench files
#
# BENCH_TIME (seconds of measurement per benchmark, default 2) trades
# precision for time. Results land in target/criterion; bench-report then
# replaces each crate's section of BENCHMARKS.md that has results.
set -euo pipefail
cd "$(dirname "$0")/.."

measure="${BENCH_TIME:-2}"
started=$(date +%s)
benches=("$@")
if [ ${#benches[@]} -eq 0 ]; then
  benches=()
  for f in benches/*.rs; do
    name=$(basename "$f" .rs)
    case "$name" in lib|report) continue ;; esac
    benches+=("$name")
  done
fi

for b in "${benches[@]}"; do
  echo "==> cargo bench --bench $b"
  cargo bench -p steadfast-benches --bench "$b" -- --warm-up-time 1 --measurement-time "$measure"
done

echo "==> writing BENCHMARKS.md"
BENCH_REPORT_SINCE="$started" cargo run --quiet -p steadfast-benches --bin bench-report
