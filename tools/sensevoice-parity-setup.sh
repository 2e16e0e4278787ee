#!/usr/bin/env bash
# Builds everything tests/sensevoice_parity.rs needs and prints the variables to export:
#   1. a venv with the pinned reference packages (tools/sensevoice-requirements.txt),
#   2. the ONNX Runtime library models/lib/libonnxruntime.so.1.31.1 (from the PyPI wheel),
#   3. the tiny random-weight SenseVoice stand-in in both packagings,
#   4. reference features and token ids from kaldi-native-fbank, sherpa-onnx and funasr-onnx.
#
# Environment (all optional):
#   ASR_ROUTER_SV_DIR    output dir            (default: <repo>/models/sv-parity)
#   ASR_ROUTER_SV_VENV   venv dir              (default: $ASR_ROUTER_SV_DIR/venv)
#   ASR_ROUTER_EVAL_AUDIO  wav dir             (default: <repo>/../shared/eval/audio)
#   ASR_ROUTER_SV_FULL=1 also build the full-size stand-in (for the benchmark; ~1.2 GB)
# Re-running is cheap: each step is skipped when its output exists.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${ASR_ROUTER_SV_DIR:-$ROOT/models/sv-parity}
VENV=${ASR_ROUTER_SV_VENV:-$OUT/venv}
AUDIO=${ASR_ROUTER_EVAL_AUDIO:-$ROOT/../shared/eval/audio}
ORT_LIB=$ROOT/models/lib/libonnxruntime.so.1.31.1
mkdir -p "$OUT" "$ROOT/models/lib"
# the reference decodes real speech: without it there is nothing to compare, so say so and stop
if ! compgen -G "$AUDIO/*/*.wav" >/dev/null; then
  echo "sensevoice-parity-setup: no WAV files under $AUDIO/*/ (the eval set beside the checkout;" \
    "set ASR_ROUTER_EVAL_AUDIO to its audio folder)" >&2
  exit 1
fi

if [ ! -x "$VENV/bin/python" ] || ! cmp -s "$ROOT/tools/sensevoice-requirements.txt" "$VENV/.requirements"; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$ROOT/tools/sensevoice-requirements.txt"
  cp "$ROOT/tools/sensevoice-requirements.txt" "$VENV/.requirements"
fi

if [ ! -f "$ORT_LIB" ]; then
  tmp=$(mktemp -d)
  "$VENV/bin/pip" download --quiet --no-deps --only-binary=:all: --platform manylinux_2_28_x86_64 \
    --python-version 3.11 -d "$tmp" onnxruntime==1.31.1
  unzip -q -j -o "$tmp"/onnxruntime-1.31.1-*.whl 'onnxruntime/capi/libonnxruntime.so.1.31.1' -d "$ROOT/models/lib/"
  rm -rf "$tmp"
fi

gen=$(sha256sum "$ROOT/tools/make-sensevoice-standin.py" | cut -c1-16)
if [ ! -f "$OUT/tiny/.gen-$gen" ]; then
  rm -rf "$OUT/tiny"
  "$VENV/bin/python" "$ROOT/tools/make-sensevoice-standin.py" --tiny --out "$OUT/tiny" >&2 2>/dev/null
  touch "$OUT/tiny/.gen-$gen"
fi
if [ "${ASR_ROUTER_SV_FULL:-0}" = 1 ] && [ ! -f "$OUT/full/.gen-$gen" ]; then
  rm -rf "$OUT/full"
  "$VENV/bin/python" "$ROOT/tools/make-sensevoice-standin.py" --out "$OUT/full" >&2 2>/dev/null
  touch "$OUT/full/.gen-$gen"
fi

refsum=$( (cat "$ROOT/tools/sensevoice_reference.py"; echo "$gen"; ls "$AUDIO"/*/*.wav) | sha256sum | cut -c1-16)
if [ ! -f "$OUT/reference/.ref-$refsum" ]; then
  rm -rf "$OUT/reference"
  "$VENV/bin/python" "$ROOT/tools/sensevoice_reference.py" --model "$OUT/tiny" --audio "$AUDIO" \
    --out "$OUT/reference" >&2
  touch "$OUT/reference/.ref-$refsum"
fi

echo "export ASR_ROUTER_SV_REFERENCE=$OUT/reference/reference.json"
echo "export ORT_DYLIB_PATH=$ORT_LIB"
echo "export ASR_ROUTER_SV_TINY=$OUT/tiny/sherpa"
