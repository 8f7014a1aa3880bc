#!/usr/bin/env bash
# The bench suite (not part of the tests). Loopback only; every run is bounded in time.
#   scripts/bench.sh [fanout args...]     e.g. --subscribers 50,200,500 --janus
# Needs ffmpeg (to encode the H.264 test stream) and, for --janus, Debian's janus.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v ffmpeg >/dev/null || need+=(ffmpeg)
if [[ " $* " == *" --janus "* ]] && ! command -v janus >/dev/null; then need+=(janus); fi
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -q
  $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "${need[@]}"
fi
cargo build --release --locked -p aula-server -p aula-bench
exec target/release/aula-bench fanout "$@"
