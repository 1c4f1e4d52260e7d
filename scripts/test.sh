#!/usr/bin/env bash
# Runs every test: native cargo tests, clippy and fmt, the release wasm build, and the
# miniflare suite against that build.
set -euo pipefail
bash "$(dirname "$0")/setup.sh"
source "$(dirname "$0")/env.sh"
cd "$root"

printf '\n== cargo fmt --check\n'
cargo fmt --check
printf '\n== cargo clippy\n'
cargo clippy --all-targets -- -D warnings
printf '\n== cargo test\n'
cargo test
printf '\n== release wasm build\n'
bash scripts/build.sh
ls -l build/index_bg.wasm
printf 'wasm: %s bytes raw, %s bytes gzip\n' "$(wc -c < build/index_bg.wasm)" "$(gzip -9c build/index_bg.wasm | wc -c)"
printf '\n== miniflare suite\n'
node --test --test-concurrency=1 "miniflare/*.test.mjs"
