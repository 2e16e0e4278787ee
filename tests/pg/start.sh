#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server (Debian's package) for the job-store tests and prints its
# URL on stdout. Usage: tests/pg/start.sh DIR   (DIR: an empty or absent folder; stop.sh DIR stops it)
# The cluster lives in DIR/data, listens on 127.0.0.1 at a free port and on a socket in DIR, and
# trusts local connections (test only). PostgreSQL refuses to run as root: as root, the server runs
# as the `postgres` system user.
set -euo pipefail
dir=${1:?usage: tests/pg/start.sh DIR}
bin=${PG_BIN:-}
if [ -z "$bin" ]; then
    for d in /usr/lib/postgresql/*/bin; do [ -x "$d/initdb" ] && bin=$d; done
fi
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
    echo "PostgreSQL server binaries not found (install Debian's postgresql package, or set PG_BIN)" >&2
    exit 1
fi
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
as_pg=()
if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || { echo "no 'postgres' system user to run the server as" >&2; exit 1; }
    chown postgres: "$dir"
    # the server user must be able to reach DIR
    p=$dir; while [ "$p" != / ]; do p=$(dirname "$p"); [ -x "$p" ] || chmod o+x "$p"; done
    as_pg=(runuser -u postgres --)
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
if [ ! -f "$dir/data/PG_VERSION" ]; then
    "${as_pg[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
fi
"${as_pg[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c max_connections=100" start >/dev/null \
    || { cat "$dir/server.log" >&2; exit 1; }
echo "$port" >"$dir/port"
echo "postgresql://postgres@127.0.0.1:$port/postgres"
