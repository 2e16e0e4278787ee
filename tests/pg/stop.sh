#!/usr/bin/env bash
# Stops the PostgreSQL server tests/pg/start.sh DIR started, and removes DIR.
set -euo pipefail
dir=${1:?usage: tests/pg/stop.sh DIR}
[ -d "$dir/data" ] || exit 0
bin=${PG_BIN:-}
if [ -z "$bin" ]; then
    for d in /usr/lib/postgresql/*/bin; do [ -x "$d/pg_ctl" ] && bin=$d; done
fi
as_pg=()
[ "$(id -u)" = 0 ] && as_pg=(runuser -u postgres --)
"${as_pg[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
rm -rf "$dir"
