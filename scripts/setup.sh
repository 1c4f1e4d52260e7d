#!/usr/bin/env bash
# Installs everything edgehook's build, dev server and tests need, on a fresh machine.
# Every step is skipped when its result is already there, so running it again is cheap.
set -euo pipefail
cd "$(dirname "$0")/.."

WORKER_BUILD_VERSION=0.8.7
# wasm-bindgen-cli must be exactly the wasm-bindgen version in Cargo.lock.
WASM_BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)

step() { printf '\n== %s\n' "$*" >&2; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  step "rustup target add wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

if ! wasm-bindgen --version 2>/dev/null | grep -qx "wasm-bindgen $WASM_BINDGEN_VERSION"; then
  step "cargo install wasm-bindgen-cli $WASM_BINDGEN_VERSION (several minutes)"
  # Not --locked: its lockfile names a crate version missing from the index here.
  cargo install wasm-bindgen-cli --version "=$WASM_BINDGEN_VERSION"
fi

if ! worker-build --version 2>/dev/null | grep -q "$WORKER_BUILD_VERSION"; then
  step "cargo install worker-build $WORKER_BUILD_VERSION (several minutes)"
  cargo install worker-build --version "=$WORKER_BUILD_VERSION"
fi

# npm packages at the versions in package-lock.json: wrangler, miniflare, Node 22
# (wrangler needs it; the machines have Node 20), binaryen's wasm-opt, test clients.
# `npm install`, not `npm ci`: npm leaves other platforms' optional workerd binaries out
# of a lockfile written on Linux, and `npm ci` then refuses it as out of sync. With every
# version pinned exactly and a lockfile present, `npm install` installs the locked tree.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  step "npm install (locked versions)"
  npm install --no-audit --no-fund
fi

# Debian's chromium for the admin page test (miniflare/admin_page.test.mjs drives it with
# playwright-core). Installed only when missing; CHROMIUM_BIN points at another build.
if [ -z "${CHROMIUM_BIN:-}" ] && ! command -v chromium >/dev/null 2>&1; then
  step "apt-get install chromium"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium
fi
