#!/usr/bin/env bash
# Runs every cargo-fuzz target for SECONDS seconds (default 10).
#
#   scripts/fuzz.sh 60
#
# cargo-fuzz needs nightly features; RUSTC_BOOTSTRAP=1 lets the stable
# toolchain provide them. New inputs the fuzzer finds go to a temporary
# directory, so the committed seed corpus in fuzz/corpus/ stays as it is.
# A crash leaves its input in fuzz/artifacts/<target>/ and fails the script.
set -euo pipefail
seconds="${1:-10}"
cd "$(dirname "$0")/../fuzz"
export RUSTC_BOOTSTRAP=1

# safe Rust needs no AddressSanitizer; coverage-guided fuzzing still applies.
targets=$(cargo fuzz list)
cargo fuzz build --sanitizer none
for target in $targets; do
  echo "--> fuzzing $target for ${seconds}s"
  scratch=$(mktemp -d)
  trap 'rm -rf "$scratch" "$scratch.log"' EXIT
  mkdir -p "corpus/$target"
  log="$scratch.log"
  status=0
  cargo fuzz run --sanitizer none "$target" "$scratch" "corpus/$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=4096 -print_final_stats=1 >"$log" 2>&1 || status=$?
  grep -E '^(stat::number_of_executed_units|stat::new_units_added|Done [0-9]+ runs)' "$log" || true
  if [ "$status" -ne 0 ]; then
    tail -n 60 "$log" >&2
    echo "fuzz target $target failed; the crashing input is in fuzz/artifacts/$target/" >&2
    exit 1
  fi
  rm -rf "$scratch" "$scratch.log"
  trap - EXIT
done
echo "fuzz smoke run passed: $(echo $targets | wc -w) target(s), ${seconds}s each"
