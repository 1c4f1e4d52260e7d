#!/usr/bin/env bash
# Builds the release worker into build/ (index.js + index_bg.wasm) with worker-build.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$root"
worker-build --release "$@"
