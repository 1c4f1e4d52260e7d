#!/usr/bin/env bash
# Runs edgehook locally: wrangler dev on local D1, Queues and R2, migrations applied,
# the dev config of wrangler.toml and the dev secrets of dev.vars.example.
set -euo pipefail
bash "$(dirname "$0")/setup.sh"
source "$(dirname "$0")/env.sh"
cd "$root"
# Refresh the dev secrets when dev.vars.example changed.
[ .dev.vars -nt dev.vars.example ] || cp dev.vars.example .dev.vars
wrangler d1 migrations apply DB --local
exec wrangler dev --local --ip 127.0.0.1 --port "${PORT:-8787}" "$@"
