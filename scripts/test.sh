#!/usr/bin/env bash
# Runs every test: native cargo tests, clippy and fmt, the release wasm build, and the
# miniflare suite against that build.
set -euo pipefail
bash "$(dirname "$0")/setup.sh"
source "$(dirname "$0")/env.sh"
cd "$root"

printf '\n== cargo fmt --all --check\n'
cargo fmt --all --check
printf '\n== cargo clippy\n'
cargo clippy --workspace --all-targets -- -D warnings
printf '\n== cargo test (edgehook, the plugin SDK, the example plugins)\n'
cargo test --workspace
printf '\n== release wasm build\n'
bash scripts/build.sh
ls -l build/index_bg.wasm
printf 'wasm: %s bytes raw, %s bytes gzip\n' "$(wc -c < build/index_bg.wasm)" "$(gzip -9c build/index_bg.wasm | wc -c)"
printf '\n== example plugins (wasm, for miniflare/plugins.test.mjs)\n'
node scripts/plugin.mjs build examples/plugins/amo-scanner examples/plugins/enricher examples/plugins/secret-scrubber
printf '\n== miniflare suite\n'
node --test --test-concurrency=1 "miniflare/*.test.mjs"
