#!/usr/bin/env bash
# Installs what building and testing Aula needs on a fresh Debian 12 machine.
# Idempotent and quick when everything is already there.
#   scripts/setup.sh          build tools (to run the server)
#   scripts/setup.sh --test   also Chromium (end-to-end tests) and cargo-fuzz
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

packages=(build-essential pkg-config cmake nasm clang libclang-dev nodejs npm
  # The teacher app: Tauri 2 (WebKitGTK) ...
  libwebkit2gtk-4.1-dev libxdo-dev libayatana-appindicator3-dev librsvg2-dev libssl-dev file
  # ... and its capture backends: cpal (ALSA), xcap (xcb, pipewire, gbm), nokhwa (V4L2 via bindgen).
  libasound2-dev libpipewire-0.3-dev libspa-0.2-dev libxcb1-dev libxcb-randr0-dev libgbm-dev libdbus-1-dev
  # ... and its decoder of students' VP8 video (libvpx).
  libvpx-dev
  # PDF reports draw names in any script from DejaVu Sans (without it: Latin-1 only).
  fonts-dejavu-core)
# Tests drive Chromium, run the teacher window under Xvfb through WebKitWebDriver, and
# screenshot it; ffmpeg makes the benchmark's test stream; poppler reads exported PDFs back.
[ $want_test = 1 ] && packages+=(chromium xvfb xauth imagemagick x11-utils xdotool dbus-x11 at-spi2-core
  webkit2gtk-driver ffmpeg poppler-utils
  # TURN: the tests relay students' media through a real coturn; the two-host test puts
  # server and students in network namespaces joined by a veth pair and blocks UDP; the
  # LAN test asks the server from the student's namespace with curl.
  coturn iproute2 nftables curl
  # ACME: the server gets its certificate from pebble, Let's Encrypt's test CA.
  pebble)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm may come with a Node.js that is not from Debian; then do not ask apt for it.
if command -v node >/dev/null && command -v npm >/dev/null; then
  missing=("${missing[@]/nodejs}"); missing=("${missing[@]/npm}")
fi
read -r -a missing <<<"${missing[*]}"
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -q
  $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null; then
  echo "setup: Rust is missing; install it with rustup (https://rustup.rs) and run this again" >&2
  exit 1
fi

# The web client (and, for tests, playwright-core). package-lock.json pins both.
[ -d ui/node_modules ] || npm ci --prefix ui --no-audit --no-fund
if [ $want_test = 1 ]; then
  [ -d tests/node_modules ] || npm ci --prefix tests --no-audit --no-fund
  if ! command -v cargo-fuzz >/dev/null; then
    cargo install cargo-fuzz --locked --version 0.13.2
  fi
  # Drives the real teacher window through WebKitWebDriver.
  if ! command -v tauri-driver >/dev/null; then
    cargo install tauri-driver --locked --version 2.1.0
  fi
fi
