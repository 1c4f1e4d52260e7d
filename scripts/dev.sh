#!/usr/bin/env bash
# Runs edgehook locally: wrangler dev on local D1, Queues, R2 and the Worker Loader,
# migrations applied, the dev config of wrangler.toml and the dev secrets of
# dev.vars.example.
#
# examples/hook-service runs beside it: the Worker bound as HOOK_SERVICE and the consumer of
# the EVENTS_OUT queue, the dev config's destinations beyond HTTP (docs/DISPATCH.md).
#
# PLUGIN=examples/plugins/amo-scanner bash scripts/dev.sh   also builds that plugin,
# uploads it under its folder's name once the worker answers, and activates it (the dev
# collector `scanned` runs the plugin `amo-scanner`; docs/PLUGINS.md).
set -euo pipefail
bash "$(dirname "$0")/setup.sh"
source "$(dirname "$0")/env.sh"
cd "$root"
# Refresh the dev secrets when dev.vars.example changed.
[ .dev.vars -nt dev.vars.example ] || cp dev.vars.example .dev.vars
wrangler d1 migrations apply DB --local
port="${PORT:-8787}"
# edgehook first (the primary worker, on $port), then the hook service it binds.
configs=(-c wrangler.toml -c examples/hook-service/wrangler.toml)
if [ -z "${PLUGIN:-}" ]; then
  exec wrangler dev "${configs[@]}" --local --ip 127.0.0.1 --port "$port" "$@"
fi
file="$(node scripts/plugin.mjs build "$PLUGIN" | tail -n 1)"
wrangler dev "${configs[@]}" --local --ip 127.0.0.1 --port "$port" "$@" &
dev=$!
trap 'kill "$dev" 2>/dev/null || true' EXIT
until curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; do
  kill -0 "$dev" 2>/dev/null || exit 1
  sleep 1
done
token="$(sed -n 's/^ADMIN_TOKEN="\(.*\)"$/\1/p' .dev.vars)"
EDGEHOOK_URL="http://127.0.0.1:$port" EDGEHOOK_ADMIN_TOKEN="$token" \
  node scripts/plugin.mjs upload "$(basename "$PLUGIN")" "$file" --activate
wait "$dev"
