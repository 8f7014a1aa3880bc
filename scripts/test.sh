#!/usr/bin/env bash
# Every test of Aula: formatting and lints, Rust unit/property/integration tests,
# the drift check of the TypeScript bindings, the web client's build and unit tests,
# the fuzz target's build, and the browser end-to-end suite.
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

step "cargo test"
cargo test --workspace --locked

step "fuzz target builds"
(cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz build --dev decode_client)

step "end-to-end (real aula-server + headless Chromium)"
cargo build -p aula-server --locked
npm test --prefix tests

step "done"
