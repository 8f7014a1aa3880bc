#!/usr/bin/env bash
# Every test of Aula: formatting and lints, Rust unit/property/integration tests,
# the drift check of the TypeScript bindings, the web client's build and unit tests,
# both fuzz targets for a fixed number of runs, and the end-to-end suite (browsers and the teacher window).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
step() { echo; echo "== $* ($(( $(date +%s) - start )) s)"; }

step setup
scripts/setup.sh --test

step "cargo fmt"
cargo fmt --all -- --check

step "web client (the Tauri shell embeds its build)"
npm run --prefix ui build
npm run --prefix ui test:unit

step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

# The binaries the end-to-end suite runs (server, teacher core, teacher window), built
# with the workspace's feature set so that `cargo test` reuses every dependency.
step "cargo build (binaries)"
cargo build --workspace --bins --locked

step "cargo test"
cargo test --workspace --locked

# Each target runs a fixed number of inputs from its committed seeds (about a minute in
# all here); a crash fails the run and leaves the input under fuzz/artifacts/.
step "fuzz (decode_client, room_apply)"
(cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz build --dev)
for target in decode_client:1000000 room_apply:10000; do
  name=${target%%:*}; runs=${target##*:}
  corpus=$(mktemp -d)
  (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run --dev "$name" "$corpus" "seeds/$name" -- \
    -runs="$runs" -max_total_time=120 -seed=1 -print_final_stats=1 2>&1 | tail -n 12)
  rm -rf "$corpus"
done

step "end-to-end (real aula-server, teacher core and window under Xvfb, headless Chromium)"
npm test --prefix tests

step "done"
