#!/usr/bin/env python3
"""Diarization error rate of `asr-router bench diarize` RTTMs, scored by pyannote.metrics.

    python3 -m venv /tmp/speaker-venv && /tmp/speaker-venv/bin/pip install -r tools/speaker-requirements.txt
    asr-router bench diarize --manifest ../shared/eval/manifest.jsonl \
        --manifest ../shared/eval/terminology/manifest.jsonl --out /tmp/dia
    /tmp/speaker-venv/bin/python tools/der.py --manifest ../shared/eval/manifest.jsonl \
        --manifest ../shared/eval/terminology/manifest.jsonl --hyp /tmp/dia/th-0.725 [--json out.json]

The references are the manifests' rows with an `rttm` key (path relative to the manifest); a
hypothesis is `HYP/<id>.rttm` (a missing file counts as no speech). The scored region (UEM) is the
whole recording, 0 to `duration_s`. Three settings are printed:
  - collar 0.25 s, overlapping speech scored (the issue's setting);
  - collar 0.25 s, overlapping speech skipped (the classic NIST "forgiving" setting);
  - collar 0, overlap scored ("full": pyannote's own benchmark protocol, for its published figures).
Per file: DER, its parts (miss, false alarm, confusion) and the speaker counts (reference /
hypothesis); per group and overall: DER over the pooled time (pyannote's `abs(metric)`), and the
mean absolute speaker-count error.
"""

import argparse
import json
import os
import sys

from pyannote.core import Annotation, Segment, Timeline
from pyannote.metrics.diarization import DiarizationErrorRate

SETTINGS = [
    ("collar 0.25, overlap scored", dict(collar=0.25, skip_overlap=False)),
    ("collar 0.25, overlap skipped", dict(collar=0.25, skip_overlap=True)),
    ("full (collar 0, overlap scored)", dict(collar=0.0, skip_overlap=False)),
]


def read_rttm(path, uri):
    ann = Annotation(uri=uri)
    if not os.path.exists(path):
        return ann
    with open(path) as f:
        for n, line in enumerate(f):
            p = line.split()
            if not p or p[0] != "SPEAKER":
                continue
            start, dur = float(p[3]), float(p[4])
            if dur > 0:
                ann[Segment(start, start + dur), n] = p[7]
    return ann


def group_of(rid):
    if rid.startswith("ms_ami"):
        return "AMI excerpts"
    if rid.startswith("ms_pyannote"):
        return "pyannote sample"
    if rid.startswith("syn_"):
        return "synthetic TTS meetings"
    return "terminology meetings"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--manifest", action="append", required=True)
    ap.add_argument("--hyp", required=True)
    ap.add_argument("--json")
    ap.add_argument("--quiet", action="store_true", help="only the summary lines")
    a = ap.parse_args()

    rows = []
    for m in a.manifest:
        base = os.path.dirname(os.path.abspath(m))
        with open(m) as f:
            for line in f:
                if line.strip():
                    r = json.loads(line)
                    if r.get("rttm"):
                        rows.append((r["id"], os.path.join(base, r["rttm"]), float(r["duration_s"])))
    if not rows:
        sys.exit("no manifest rows with `rttm`")

    report = {}
    for name, kw in SETTINGS:
        total = DiarizationErrorRate(**kw)
        groups = {}
        files = []
        for rid, ref_path, dur in rows:
            ref = read_rttm(ref_path, rid)
            hyp = read_rttm(os.path.join(a.hyp, f"{rid}.rttm"), rid)
            uem = Timeline([Segment(0.0, dur)])
            d = total(ref, hyp, uem=uem, detailed=True)
            g = groups.setdefault(group_of(rid), (DiarizationErrorRate(**kw), []))
            g[0](ref, hyp, uem=uem)
            n_ref, n_hyp = len(ref.labels()), len(hyp.labels())
            g[1].append(abs(n_ref - n_hyp))
            scored = d["total"]
            files.append({
                "id": rid,
                "der": d["diarization error rate"],
                "miss": d["missed detection"] / scored if scored else 0.0,
                "false_alarm": d["false alarm"] / scored if scored else 0.0,
                "confusion": d["confusion"] / scored if scored else 0.0,
                "ref_speech_s": scored,
                "ref_speakers": n_ref,
                "hyp_speakers": n_hyp,
            })
        out = {
            "overall": abs(total),
            "speaker_count_error": sum(abs(f["ref_speakers"] - f["hyp_speakers"]) for f in files) / len(files),
            "groups": {k: {"der": abs(v[0]), "speaker_count_error": sum(v[1]) / len(v[1]), "files": len(v[1])}
                       for k, v in groups.items()},
            "files": files,
        }
        report[name] = out
        print(f"== {name}")
        if not a.quiet:
            print(f"  {'file':28s} {'DER':>6s} {'miss':>6s} {'FA':>6s} {'conf':>6s}  spk ref/hyp")
            for f in files:
                print(f"  {f['id']:28s} {100 * f['der']:6.1f} {100 * f['miss']:6.1f} {100 * f['false_alarm']:6.1f}"
                      f" {100 * f['confusion']:6.1f}  {f['ref_speakers']}/{f['hyp_speakers']}")
        for k, v in sorted(out["groups"].items()):
            print(f"  {k:28s} DER {100 * v['der']:5.1f} %  speaker-count error {v['speaker_count_error']:.2f}"
                  f" ({v['files']} files)")
        print(f"  {'overall':28s} DER {100 * out['overall']:5.1f} %  speaker-count error"
              f" {out['speaker_count_error']:.2f} ({len(files)} files)")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
