# Sourced by the other scripts: local tool paths and quiet wrangler.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$root/node_modules/.bin:$HOME/.cargo/bin:$PATH"
# worker-build would download these from GitHub; use the local ones instead.
WASM_BINDGEN_BIN="$(command -v wasm-bindgen || true)"
export WASM_BINDGEN_BIN
export WASM_OPT_BIN="$root/node_modules/.bin/wasm-opt"
export ESBUILD_BIN="$root/node_modules/.bin/esbuild"
export WRANGLER_SEND_METRICS=false
