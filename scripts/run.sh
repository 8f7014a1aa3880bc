#!/usr/bin/env bash
# Runs Aula on the embedded default: the teacher app, hosting its own class server (SFU,
# SQLite and local files on 127.0.0.1). Installs missing system packages and builds first.
# With no display (no DISPLAY or WAYLAND_DISPLAY) it says so and runs the server headless,
# printing a teacher link and a student link to open in a browser.
# Settings: AULA_* environment variables (see README), or AULA_SERVER_URL to use a
# school's server instead of the embedded one.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
npm run --prefix ui build
# custom-protocol: the window serves the UI from the binary, not a dev server.
cargo build --release --locked -p aula-teacher --features custom-protocol
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
  echo "run: no display found, so no teacher window; running the Aula server headless." >&2
  exec target/release/aula-teacher --headless "$@"
fi
exec target/release/aula-teacher "$@"
