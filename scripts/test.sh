#!/usr/bin/env bash
# Every test of Aula: formatting and lints, Rust unit/property/integration tests,
# the drift check of the TypeScript bindings, the web client's build and unit tests,
# the fuzz target's build, and the end-to-end suite (browsers and the teacher window).
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

step "fuzz target builds"
(cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz build --dev decode_client)

step "end-to-end (real aula-server, teacher core and window under Xvfb, headless Chromium)"
npm test --prefix tests

step "done"
