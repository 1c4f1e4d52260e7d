#!/usr/bin/env bash
# edgehook's benchmark: builds the release wasm and a bench build (cargo feature `bench`,
# which adds /__bench/crypto), checks the release build has no bench route, then prints
# one Markdown table: native micro-benchmarks (cargo bench --bench core), crypto inside
# workerd, end to end over loopback HTTP (autocannon in a second process) next to the
# floor workers of bench/floors/, ingest throughput, wasm size and cold start; then what
# each kind of webhook costs, counted at the bindings (bench/cost.mjs); then a second
# table: deliveries per second through the per-subscription Durable Objects
# (bench/dispatch.mjs: one endpoint, then 100, a mock subscriber answering 204).
#
#   bash bench/run.sh                  # the full run, about 7 minutes
#   BENCH_SMOKE=1 bash bench/run.sh    # tiny counts, one round: checks that it all works
#   BENCH_NO_BUILD=1 bash bench/run.sh # reuse build/ and bench/out/build-bench/
#
# The table is also written to bench/out/latest.md, the figures to bench/out/results.json.
set -euo pipefail
bash "$(dirname "$0")/../scripts/setup.sh"
source "$(dirname "$0")/../scripts/env.sh"
cd "$root"
mkdir -p bench/out

if [ "${BENCH_NO_BUILD:-}" != 1 ]; then
  printf '\n== release wasm build\n' >&2
  bash scripts/build.sh >&2
  printf '\n== bench wasm build (--features bench)\n' >&2
  worker-build --release -d bench/out/build-bench --features bench >&2
fi

# The release build must not carry the bench route. Its error code is a string the bench
# module alone contains; bench.mjs also checks the release build answers it 404.
if grep -qa bench_failed build/index_bg.wasm; then
  echo "build/index_bg.wasm contains the bench route: was it built with --features bench?" >&2
  exit 1
fi
grep -qa bench_failed bench/out/build-bench/index_bg.wasm || {
  echo "bench/out/build-bench lacks the bench route" >&2
  exit 1
}

if [ "${BENCH_SMOKE:-}" = 1 ]; then export BENCH_MS=20 BENCH_N=20; fi
cpu="$(lscpu | awk -F: '/Model name/ { gsub(/^ +/, "", $2); print $2; exit }')"
export BENCH_MACHINE="$cpu, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
{
  printf '\nedgehook bench, %s, %s\n\n' "$(date -u +%Y-%m-%dT%H:%MZ)" "$BENCH_MACHINE"
  printf '| where | what | result | detail | vs floor / goal |\n| --- | --- | --- | --- | --- |\n'
  printf '\n== cargo bench --bench core\n' >&2
  cargo bench --quiet --bench core 2>/dev/null
  printf '\n== workerd (bench/bench.mjs)\n' >&2
  node bench/bench.mjs
  printf '\n== cost per webhook kind (bench/cost.mjs)\n' >&2
  if [ "${BENCH_SMOKE:-}" = 1 ]; then COST_N=100 node bench/cost.mjs; else node bench/cost.mjs; fi
} | tee bench/out/latest.md
{
  printf '\n== dispatch (bench/dispatch.mjs)\n' >&2
  printf '\nDeliveries through the per-subscription Durable Objects (bench/dispatch.mjs), %s\n\n' "$BENCH_MACHINE"
  node bench/dispatch.mjs
} | tee -a bench/out/latest.md
