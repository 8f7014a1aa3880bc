#!/usr/bin/env bash
# The bench suite (not part of the tests). Loopback only; every run is bounded in time.
#   scripts/bench.sh [fanout] [args...]    SFU fan-out, e.g. --subscribers 50,200,500 --janus
#   scripts/bench.sh encode [args...]      teacher app capture + convert + encode CPU per frame
#   scripts/bench.sh teacher-live [args]   glass-to-glass latency and the teacher core's memory
#                                          live with Chromium students (--students 10)
#   scripts/bench.sh board [args...]       whiteboard/chat WebSocket fan-out; with no args runs
#                                          1 room × 200 clients, then 100 rooms × 100 clients
#   scripts/bench.sh eraser [args...]      one area-eraser command, worst cases (ms on the room's task)
#   scripts/bench.sh report [args...]      a term of one class: rebuild, session/weekly reports,
#                                          CSV and PDF (--students 40 --sessions 60)
#   scripts/bench.sh layers [--cycles 8]  time from a link change to the simulcast layer change
#                                          (network namespaces: needs root)
# Needs ffmpeg (test stream, x264 reference), Xvfb + ImageMagick (screen capture) and,
# for --janus, Debian's janus.
set -euo pipefail
cd "$(dirname "$0")/.."
what=fanout
case "${1:-}" in fanout|encode|teacher-live|board|report|eraser|layers) what=$1; shift ;; esac
need=()
for tool in ffmpeg:ffmpeg Xvfb:xvfb convert:imagemagick; do
  command -v "${tool%%:*}" >/dev/null || need+=("${tool#*:}")
done
if [[ " $* " == *" --janus "* ]] && ! command -v janus >/dev/null; then need+=(janus); fi
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -q
  $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "${need[@]}"
fi
case $what in
  fanout)
    cargo build --release --locked -p aula-server -p aula-bench
    exec target/release/aula-bench fanout "$@" ;;
  encode)
    cargo build --release --locked -p aula-bench
    exec target/release/aula-bench encode "$@" ;;
  report)
    cargo build --release --locked -p aula-bench
    exec target/release/aula-bench report "$@" ;;
  eraser)
    cargo build --release --locked -p aula-bench
    exec target/release/aula-bench eraser "$@" ;;
  board)
    cargo build --release --locked -p aula-server -p aula-bench
    if [ $# -gt 0 ]; then exec target/release/aula-bench board "$@"; fi
    target/release/aula-bench board --rooms 1 --clients-per-room 200 --seconds 20
    exec target/release/aula-bench board --rooms 100 --clients-per-room 100 --chat-per-sec 0.5 --seconds 20 ;;
  layers)
    scripts/setup.sh --test
    npm run --prefix ui build
    cargo build --release --locked -p aula-server
    AULA_SERVER_BIN=target/release/aula-server exec node crates/bench/browser/layers.mjs "$@" ;;
  teacher-live)
    scripts/setup.sh --test
    npm run --prefix ui build
    cargo build --release --locked -p aula-server -p aula-client --bins
    AULA_SERVER_BIN=target/release/aula-server exec node crates/bench/browser/teacher-live.mjs "$@" ;;
esac
