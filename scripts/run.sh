#!/usr/bin/env bash
# Runs Aula on the embedded default: one process with the SFU, SQLite and local files,
# on 127.0.0.1. Prints a teacher link and a student link. Extra arguments go to
# aula-server (see `aula-server --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
npm run --prefix ui build
cargo build --release -p aula-server
exec target/release/aula-server --ui-dir ui/dist "$@"
