#!/usr/bin/env bash
# Device step after the four stage-cpu.sh calls: Whisper tiny.en on the host's CPU cores with the
# default split of workers and threads and with fixed ones, the long English file (two rounds,
# settings alternating, then once beside faster-whisper's batched pipeline) and the English eval
# files one at a time. Results go to OUTDIR.
#
#   tools/gpu/run-cpu.sh OUTDIR
set -uo pipefail
out=${1:?usage: tools/gpu/run-cpu.sh OUTDIR}
mkdir -p "$out"
# the peer's script is found at the build's path
[ -e /work/main ] || { mkdir -p /work && ln -s "$PWD" /work/main; }
export LD_LIBRARY_PATH=/opt/w/models/lib ASR_ROUTER_MODELS=/opt/w/models
ORT_DYLIB_PATH=$(ls /opt/w/models/lib/libonnxruntime.so.*)
export ORT_DYLIB_PATH
b=/opt/w/asr-router
{ nproc; grep -m1 'model name' /proc/cpuinfo; free -g | head -2; } | tee "$out/machine.txt"
for s in 2x1 8x2 16x1 1x16; do
    printf '[engines.fast]\nworkers = %s\nthreads = %s\n' "${s%x*}" "${s#*x}" >"/tmp/$s.toml"
done
bench() { # SETTING, then bench arguments
    local s=$1
    shift
    if [ "$s" = default ]; then "$b" bench transcribe --engine whisper-tiny.en "$@"; else
        "$b" --config "/tmp/$s.toml" bench transcribe --engine whisper-tiny.en "$@"; fi
}
for round in 1 2; do
    for s in default 2x1 8x2 16x1 1x16; do
        printf '%s round %s: ' "$s" "$round"
        bench "$s" --manifest /opt/w/lf/concat.jsonl --max-duration 600 2>&1 | grep -E '^(whisper|peak)' | tr '\n' ' '
        echo
    done
done | tee "$out/long.txt"
for s in default 2x1; do
    echo "== $s beside faster-whisper batched (8)"
    PYTHONPATH=/opt/w/site bench "$s" --manifest /opt/w/lf/concat.jsonl --max-duration 600 \
        --peer-python python3 --peer-batch-size 8 2>&1 | grep -vi debug | tail -4
done | tee "$out/peer.txt"
for s in default 2x1 1x16; do
    printf '%s, English eval files one at a time: ' "$s"
    bench "$s" --manifest /opt/w/eval/manifest.jsonl --lang en --max-duration 600 2>&1 | grep -E '^whisper'
done | tee "$out/short.txt"
