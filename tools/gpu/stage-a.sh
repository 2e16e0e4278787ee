#!/usr/bin/env bash
# Device stage A (run from the repository root on the GPU machine, with the packed folder carried):
# unpacks ONNX Runtime into /opt/ortgpu and builds the full-size SenseVoice-Small stand-in in /opt/sv
# with the machine's Python (numpy + onnx). A following stage must come while the machine is warm.
# Without the CUDA provider in PACKED_A (a CPU-only run on that host) only the core is unpacked.
#
#   tools/gpu/stage-a.sh PACKED_A [--no-int8]   (further arguments go to make-sensevoice-standin.py)
set -euo pipefail
a=${1:?usage: tools/gpu/stage-a.sh PACKED_A}
mkdir -p /opt/ortgpu
if [ -f "$a/libonnxruntime_providers_cuda.so.xz" ]; then
    xz -dc "$a/libonnxruntime_providers_cuda.so.xz" >/opt/ortgpu/libonnxruntime_providers_cuda.so
fi
tar -C /opt/ortgpu -xJf "$a/ort-core.tar.xz"
python3 tools/make-sensevoice-standin.py --out /opt/sv "${@:2}"
ls -la /opt/ortgpu /opt/sv/sherpa
