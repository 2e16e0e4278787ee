#!/usr/bin/env bash
# Capacity runs for docs/benchmarks.md: for each engine setup, start a release server on a free
# loopback port with that setup's config, sweep the number of live sessions with
# asr-router-loadtest, keep the JSON and SVG, stop the server.
#
#   loadtest/capacity.sh OUTDIR SETUP [SETUP ...]
#
# Setups:
#   tiny          Whisper tiny.en partials, tiny.en finals (the default CPU setup)
#   tiny-base     Whisper tiny.en partials, Whisper base finals
#   sv            SenseVoice partials and finals
#   sv-base-long  SenseVoice partials and finals, Whisper base finals for utterances >= LONG_S
# Suffixes: `+nobatch` turns cross-stream batching off (max_batch = 1 on every engine);
# `+short` finalizes with a short encoder window (final_window = "short"), e.g. `tiny+short+nobatch`;
# `+whole` makes every partial re-decode the whole open utterance (partial_tail_s = 0; SenseVoice
# setups otherwise decode a bounded tail window, see [realtime] partial_tail_s).
#
# Environment: SWEEP (concurrency steps, default 1,2,3,4), DURATION (seconds per step, 40),
# SOAK_S (when set: one --soak run of that many seconds at SESSIONS sessions instead of a sweep),
# SV_DIR (SenseVoice model dir, default models/sv-standin/full/sherpa), LONG_S (4),
# MANIFEST (default ../shared/eval/manifest.jsonl), LANG_FILTER (default en), PARTIAL_INTERVAL_MS
# (the server's default partial interval; unset: the server's default, 200), PARTIAL_DELAY (the
# server's default `transcription.delay`, minimal ... xhigh; unset: medium), DEVICE (where
# SenseVoice runs: cpu or cuda[:N], see [engines.fast] device), MAX_BATCH (the fast engine's
# max_batch, default 8), WORKERS (each engine's workers; unset: the config's default, which follows
# the cores: 2 Whisper replicas and 1 SenseVoice worker on two, 4 SenseVoice workers on a GPU),
# THREADS (each engine's threads per worker; unset: the cores shared among the workers),
# SERVER_BIN (the server binary, default target/release/asr-router: another build side by side),
# MAX_SESSIONS (the server's [realtime] max_sessions, default 64: raise it to sweep past 64
# sessions), DEGRADE_MAX_STRETCH (the server's [realtime] degrade_max_stretch; 1: never stretch),
# EARLY_FINALS (the server's [realtime] early_finals: true or false; unset: its default, true),
# MAX_P95_FINAL_MS, MAX_P95_STALENESS_MS, MAX_P95_FIRST_DELTA_MS, MAX_P95_REFRESH_MS
# (the sweep's limits, 0: off; unset: the load generator's defaults, final 1500 and staleness
# 500), ASR_ROUTER_MODELS (models dir).
# Needs target/release/{asr-router,asr-router-loadtest} (cargo build --release).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:?usage: loadtest/capacity.sh OUTDIR SETUP [SETUP ...]}
shift
[ $# -gt 0 ] || { echo "name at least one setup" >&2; exit 2; }
mkdir -p "$out"
sv_dir=${SV_DIR:-$root/models/sv-standin/full/sherpa}
manifest=${MANIFEST:-$root/../shared/eval/manifest.jsonl}
key=cap-$RANDOM$RANDOM

config_for() { # setup -> TOML on stdout
    local setup=${1%%+*} batch=${MAX_BATCH:-8} strong_batch=4
    case $1 in *+nobatch*) batch=1; strong_batch=1 ;; esac
    echo "[realtime]"
    case $1 in *+short*) echo 'final_window = "short"' ;; esac
    case $1 in *+whole*) echo 'partial_tail_s = 0' ;; esac
    [ -z "${PARTIAL_INTERVAL_MS:-}" ] || echo "partial_interval_ms = $PARTIAL_INTERVAL_MS"
    [ -z "${PARTIAL_DELAY:-}" ] || echo "partial_delay = \"$PARTIAL_DELAY\""
    [ -z "${MAX_SESSIONS:-}" ] || echo "max_sessions = $MAX_SESSIONS"
    [ -z "${DEGRADE_MAX_STRETCH:-}" ] || echo "degrade_max_stretch = $DEGRADE_MAX_STRETCH"
    [ -z "${EARLY_FINALS:-}" ] || echo "early_finals = $EARLY_FINALS"
    case $setup in
        tiny) echo 'finalizer = "fast"' ;;
        tiny-base) echo 'finalizer = "strong"' ;;
        sv) echo 'finalizer = "fast"' ;;
        sv-base-long) echo "finalizer = { strong_above = ${LONG_S:-4} }" ;;
        *) echo "unknown setup $1" >&2; return 2 ;;
    esac
    echo "[engines]"
    case $setup in sv*) echo "sensevoice_dir = \"$sv_dir\"" ;; esac
    echo "[engines.fast]"; echo "max_batch = $batch"
    [ -z "${DEVICE:-}" ] || echo "device = \"$DEVICE\""
    [ -z "${WORKERS:-}" ] || echo "workers = $WORKERS"
    [ -z "${THREADS:-}" ] || echo "threads = $THREADS"
    echo "[engines.strong]"; echo "max_batch = $strong_batch"
    [ -z "${WORKERS:-}" ] || echo "workers = $WORKERS"
    [ -z "${THREADS:-}" ] || echo "threads = $THREADS"
}

for setup in "$@"; do
    cfg=$out/$setup.toml
    config_for "$setup" >"$cfg"
    log=$out/$setup.server.log
    ASR_ROUTER_API_KEY=$key "${SERVER_BIN:-$root/target/release/asr-router}" --config "$cfg" serve --listen 127.0.0.1:0 >"$log" 2>&1 &
    pid=$!
    addr=""
    for _ in $(seq 1 600); do
        addr=$(grep -o "listening on [a-z]*://[0-9.:]*" "$log" | head -1 | sed 's/.*:\/\///' || true)
        [ -n "$addr" ] && break
        kill -0 $pid 2>/dev/null || { cat "$log" >&2; exit 1; }
        sleep 0.5
    done
    [ -n "$addr" ] || { echo "server did not start" >&2; kill $pid; exit 1; }
    echo "== $setup on $addr (pid $pid)" >&2
    args=(--url "http://$addr" --api-key "$key" --manifest "$manifest" --lang "${LANG_FILTER:-en}"
          --server-pid $pid --json "$out/$setup.json" --svg "$out/$setup.svg")
    # sweep limits (0: off); issue 15's rule: MAX_P95_FIRST_DELTA_MS=1000 MAX_P95_REFRESH_MS=500
    for lim in final staleness first-delta refresh; do
        var=MAX_P95_$(echo "$lim" | tr a-z- A-Z_)_MS
        [ -z "${!var:-}" ] || args+=(--max-p95-$lim-ms "${!var}")
    done
    if [ -n "${SOAK_S:-}" ]; then
        args+=(--soak --sessions "${SESSIONS:-1}" --duration "$SOAK_S")
    else
        args+=(--sweep "${SWEEP:-1,2,3,4}" --duration "${DURATION:-40}")
    fi
    "$root/target/release/asr-router-loadtest" "${args[@]}" | tee "$out/$setup.txt" || true
    kill $pid; wait $pid 2>/dev/null || true
done
