#!/usr/bin/env bash
# Packs what a GPU capacity run needs into two folders small enough for one device call each
# (64 MiB apiece), for docs/benchmarks.md "SenseVoice on a GPU":
#
#   tools/gpu/pack.sh WHEEL OUTDIR
#
# WHEEL is the onnxruntime-gpu wheel (CUDA 13 build, the version the `ort` crate expects), e.g. from
# `python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 onnxruntime-gpu==1.31.1`.
# OUTDIR/a: ONNX Runtime with its CUDA provider cut to sm_90 (trim-fatbin.py; 284 MB -> a few MB of
#           xz), for stage-a.sh.
# OUTDIR/b: the release binaries (stripped) and the libraries they load from this checkout, Silero
#           VAD, and the English items of ../shared/eval, for stage-b.sh.
# Needs a release build (target/release/asr-router, asr-router-loadtest) and scripts/fetch-models.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
wheel=${1:?usage: tools/gpu/pack.sh WHEEL OUTDIR}
out=${2:?usage: tools/gpu/pack.sh WHEEL OUTDIR}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out/a" "$out/b"

# a: ONNX Runtime, CUDA provider trimmed to the H100/H200's architecture.
unzip -q -o "$wheel" 'onnxruntime/capi/libonnxruntime*' -d "$tmp"
capi=$tmp/onnxruntime/capi
python3 "$root/tools/gpu/trim-fatbin.py" "$capi/libonnxruntime_providers_cuda.so" 90 "$tmp/cuda.so"
xz -T0 -6 -c "$tmp/cuda.so" >"$out/a/libonnxruntime_providers_cuda.so.xz"
tar -C "$capi" -cJf "$out/a/ort-core.tar.xz" \
    "$(cd "$capi" && ls libonnxruntime.so.*)" libonnxruntime_providers_shared.so

# b: binaries, the libraries they resolve inside this checkout, the VAD, the English eval items.
stage=$tmp/b
mkdir -p "$stage/target/release" "$stage/models" "$stage/eval"
for bin in asr-router asr-router-loadtest; do
    strip -o "$stage/target/release/$bin" "$root/target/release/$bin"
done
libs=$(ldd "$root/target/release/asr-router")
for lib in $(awk -v r="$root/" '$3 ~ "^"r {print $3}' <<<"$libs"); do
    rel=${lib#"$root"/}
    mkdir -p "$stage/$(dirname "$rel")"
    cp -L "$lib" "$stage/$rel"
    libdir=$(dirname "$rel")
done
# OpenMP may be missing on the GPU machine; it goes beside oneDNN, where the run path finds it.
cp -L "$(awk '$1 == "libgomp.so.1" {print $3}' <<<"$libs")" "$stage/${libdir:?no library of this checkout is linked}/"
cp -r "$root/models/silero-vad" "$stage/models/"
"$root/tools/gpu/english-eval.sh" "$stage/eval"
tar -C "$stage" -cJf "$out/b/payload.tar.xz" .
du -sh "$out/a" "$out/b"
