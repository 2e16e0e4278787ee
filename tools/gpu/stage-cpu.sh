#!/usr/bin/env bash
# Device step for a folder of pack-cpu.sh: unpacks it into /opt/w (kept while the machine is
# warm); wheels go to /opt/w/site.
#
#   tools/gpu/stage-cpu.sh PACKED_N
set -euo pipefail
d=${1:?usage: tools/gpu/stage-cpu.sh PACKED_N}
mkdir -p /opt/w/site
for t in "$d"/*.tar*; do [ -e "$t" ] && tar -C /opt/w -xf "$t"; done
for p in "$d"/model.xz.*; do [ -e "$p" ] && cp "$p" /opt/w/; done
if ls /opt/w/model.xz.* >/dev/null 2>&1 && [ "$(ls /opt/w/model.xz.* | wc -l)" = 3 ]; then
    cat /opt/w/model.xz.* | xz -d >/opt/w/models/whisper-tiny.en/model.bin
    rm /opt/w/model.xz.*
    # The server needs a strong engine; only tiny.en travels (whisper-base is 145 MB), so a copy
    # of it stands in as whisper-base, loaded but not measured.
    cp -r /opt/w/models/whisper-tiny.en /opt/w/models/whisper-base
fi
for w in "$d"/*.whl; do
    [ -e "$w" ] && python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /opt/w/site "$w"
done
ls -la /opt/w /opt/w/models/whisper-tiny.en
