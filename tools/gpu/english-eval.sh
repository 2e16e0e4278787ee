#!/usr/bin/env bash
# Copies the English rows of ../shared/eval/manifest.jsonl and their recordings into DEST (as
# DEST/manifest.jsonl, paths unchanged), for the packers of device runs (pack.sh, pack-cpu.sh).
#
#   tools/gpu/english-eval.sh DEST
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
dst=${1:?usage: tools/gpu/english-eval.sh DEST}
mkdir -p "$dst"
grep '"lang": "en"' "$root/../shared/eval/manifest.jsonl" >"$dst/manifest.jsonl"
python3 - "$root/../shared/eval" "$dst" <<'PY'
import json, os, shutil, sys
src, dst = sys.argv[1:]
for line in open(os.path.join(dst, "manifest.jsonl")):
    p = json.loads(line)["path"]
    os.makedirs(os.path.join(dst, os.path.dirname(p)), exist_ok=True)
    shutil.copy(os.path.join(src, p), os.path.join(dst, p))
PY
