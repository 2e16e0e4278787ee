#!/usr/bin/env bash
# Packs what a Whisper run on the GPU machine's host CPU needs (docs/benchmarks.md, "Whisper on
# sixteen cores") into four folders, each small enough for one device call (64 MiB):
#
#   tools/gpu/pack-cpu.sh WHEELS OUTDIR
#
# WHEELS holds faster-whisper's wheels for Python 3.12 (ctranslate2, faster-whisper, av), e.g. from
# `python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --platform
# manylinux_2_28_x86_64 -d WHEELS ctranslate2==4.8.5 faster-whisper==1.2.1 av==18.1.0` (av 19 dropped an argument
# faster-whisper 1.2.1 passes).
# OUTDIR/1: the release binary (stripped), oneDNN, ONNX Runtime, Silero VAD, the English rows of
#           ../shared/eval, and the first third of whisper-tiny.en; OUTDIR/2: the rest of the model,
#           the long English file (/tmp/lf/concat.flac and its manifest, section 10) and
#           faster-whisper; OUTDIR/3 and OUTDIR/4: ctranslate2's and av's wheels.
# On the machine, stage-cpu.sh unpacks each in turn (the calls must follow each other while it is warm).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
wheels=${1:?usage: tools/gpu/pack-cpu.sh WHEELS OUTDIR}
out=${2:?usage: tools/gpu/pack-cpu.sh WHEELS OUTDIR}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rm -rf "$out"
mkdir -p "$out/1" "$out/2" "$out/3" "$out/4" "$tmp/p/models/lib" "$tmp/p/eval" "$tmp/q/lf"
strip -o "$tmp/p/asr-router" "$root/target/release/asr-router"
cp -L "$root/vendor/onednn/lib/libdnnl.so.3" "$(ldconfig -p | awk '$1 == "libgomp.so.1" {print $NF; exit}')" "$tmp/p/models/lib/"
cp -L "$root"/models/lib/libonnxruntime.so.* "$tmp/p/models/lib/"
cp -r "$root/models/silero-vad" "$tmp/p/models/"
mkdir -p "$tmp/p/models/whisper-tiny.en"
cp "$root"/models/whisper-tiny.en/*.json "$root"/models/whisper-tiny.en/*.txt "$tmp/p/models/whisper-tiny.en/"
cp /tmp/lf/concat.flac "$tmp/q/lf/"
sed 's#/tmp/lf/concat.wav#concat.flac#' /tmp/lf/concat.jsonl >"$tmp/q/lf/concat.jsonl"
tar -C "$tmp/q" -cf "$out/2/lf.tar" lf
"$root/tools/gpu/english-eval.sh" "$tmp/p/eval"
tar -C "$tmp/p" -cJf "$out/1/payload.tar.xz" .
xz -T0 -1 -c "$root/models/whisper-tiny.en/model.bin" >"$tmp/model.xz"
split -n 3 "$tmp/model.xz" "$tmp/model.xz."
mv "$tmp/model.xz.aa" "$out/1/"
mv "$tmp/model.xz.ab" "$tmp/model.xz.ac" "$out/2/"
cp "$wheels"/faster_whisper-*.whl "$out/2/"
cp "$wheels"/ctranslate2-*.whl "$out/3/"
cp "$wheels"/av-*.whl "$out/4/"
du -sh "$out"/*
