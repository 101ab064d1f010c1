#!/usr/bin/env bash
# The one test command: installs what the tests need when it is missing, then
# runs every check in order and stops at the first failure.
#
#   scripts/test.sh
#
# Needs only the Rust toolchain (rustup) and, for the missing system packages,
# root or sudo with apt-get (Debian/Ubuntu).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }
started=$SECONDS

# --- What the tests need -----------------------------------------------------
# protoc builds etcd-client's protocol code, which imports protobuf's
# well-known types (libprotobuf-dev, only a recommendation of
# protobuf-compiler); etcd runs the etcd integration tests; valgrind runs the
# clock smoke test.
missing=()
command -v protoc >/dev/null 2>&1 || missing+=(protobuf-compiler)
[ -f /usr/include/google/protobuf/descriptor.proto ] || missing+=(libprotobuf-dev)
command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)
command -v valgrind >/dev/null 2>&1 || missing+=(valgrind)
if [ ${#missing[@]} -gt 0 ]; then
  step "installing Debian packages: ${missing[*]}"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  # etcd-server's package may try to start a system service; our tests start their own.
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
for component in rustfmt clippy; do
  if ! rustup component list --installed 2>/dev/null | grep -q "^${component}"; then
    step "installing rustup component $component"
    rustup component add "$component"
  fi
done
if ! cargo fuzz --version >/dev/null 2>&1; then
  step "installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

# --- The checks --------------------------------------------------------------
step "cargo fmt --all --check"
cargo fmt --all --check

step "cargo clippy --workspace --all-targets --all-features -- -D warnings"
cargo clippy --workspace --all-targets --all-features -- -D warnings

step "cargo test --workspace --all-features"
# The etcd integration tests must really run here, not skip.
STEADFAST_REQUIRE_ETCD=1 cargo test --workspace --all-features

# Every crate with loom models (tests named loom_* under cfg(steadfast_loom)).
loom_crates=()
for dir in crates/*/; do
  if grep -rqs 'steadfast_loom' "$dir/src"; then loom_crates+=(-p "$(basename "$dir")"); fi
done
step "loom models (cfg steadfast_loom, release): ${loom_crates[*]}"
RUSTFLAGS="--cfg steadfast_loom" CARGO_TARGET_DIR=target/loom \
  cargo test --release "${loom_crates[@]}" --lib loom_

step "the real clocks run under valgrind (no vDSO there)"
cargo build -q -p steadfast-core --example clocks
valgrind -q --error-exitcode=1 target/debug/examples/clocks

step "steadfast-core builds no_std (--no-default-features)"
cargo build -p steadfast-core --no-default-features

step "cargo doc --workspace --no-deps --all-features (warnings denied)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --all-features

step "cargo bench --workspace --no-run"
cargo bench --workspace --no-run

step "fuzz smoke run: every target for 10 s"
scripts/fuzz.sh 10

printf '\n==> all checks passed in %d s\n' $((SECONDS - started))
