#!/usr/bin/env bash
# Device stage B (after stage-a.sh, on the same warm machine): unpacks the binaries into this
# checkout and runs loadtest/capacity.sh for SenseVoice with ONNX Runtime from /opt/ortgpu and the
# machine's CUDA 13 and cuDNN 9 (the Python packages' libraries; not the driver's compat folder, which
# fails with CUDA error 803). The environment passes through to capacity.sh (DEVICE, SWEEP, ...).
# Then (unless BENCH=0) `bench transcribe` with the same settings: the English files one at a
# time, RTF per file.
#
#   tools/gpu/stage-b.sh PACKED_B OUTDIR
set -euo pipefail
b=${1:?usage: tools/gpu/stage-b.sh PACKED_B OUTDIR}
out=${2:?usage: tools/gpu/stage-b.sh PACKED_B OUTDIR}
[ -x target/release/asr-router ] || tar -xJf "$b/payload.tar.xz"
nv=$(python3 -c 'import nvidia; print(list(nvidia.__path__)[0])')
export LD_LIBRARY_PATH=$nv/cu13/lib:$nv/cudnn/lib:$PWD/vendor/onednn/lib  # the build's run path is absolute
export ORT_DYLIB_PATH=$(ls /opt/ortgpu/libonnxruntime.so.*)
export ASR_ROUTER_MODELS=$PWD/models
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
# GPU load every 2 s while the sweep runs (utilization, memory in use), next to the results.
nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 2 >"$out/gpu-util.csv" &
smi=$!
SV_DIR=/opt/sv/sherpa MANIFEST=$PWD/eval/manifest.jsonl loadtest/capacity.sh "$out" sv
kill $smi
# Files one at a time through the batch service with the same engine settings: RTF per file.
[ "${BENCH:-1}" = 0 ] || target/release/asr-router --config "$out/sv.toml" bench transcribe --manifest eval/manifest.jsonl \
    --lang en --engine sensevoice-small --max-duration 600 --json "$out/bench.json" | tee "$out/bench.txt"
