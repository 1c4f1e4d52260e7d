#!/usr/bin/env bash
# Fuzzes every target for FUZZ_SECONDS seconds each (default 60) with cargo-fuzz
# (libFuzzer + AddressSanitizer, nightly toolchain). Installs what is missing. New
# inputs that grow coverage go to fuzz/corpus/<target>/ (committed); a crash stops the run
# and is saved under fuzz/artifacts/<target>/ — fix it and add it as a regression test.
#   bash scripts/fuzz.sh                 # all targets, 60 s each
#   FUZZ_SECONDS=10 bash scripts/fuzz.sh steps jwt
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-60}"
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --version 0.13.2
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(signatures jwt config steps)
cargo +nightly fuzz build
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t"
  printf '\n== fuzz %s for %ss\n' "$t" "$seconds"
  cargo +nightly fuzz run "$t" "fuzz/corpus/$t" -- -max_total_time="$seconds" -print_final_stats=1 2>&1 \
    | grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|Done|==[0-9]+==ERROR|SUMMARY)|#[0-9]+\s+DONE' || true
  [ ! -d "fuzz/artifacts/$t" ] || [ -z "$(ls -A "fuzz/artifacts/$t" 2>/dev/null)" ] || { echo "crash in $t: see fuzz/artifacts/$t"; exit 1; }
done
