"""Builds recordings of continuous speech, for live streams whose turns outlast the server VAD's
15 s segment limit (docs/benchmarks.md, "Long turns").

The eval sets' English clips are single sentences or short readings, each followed by a pause
long enough (≥ 500 ms) to end a turn, so live tests never reach the limit. This joins them the
way one person talks on: each clip's leading and trailing silence trimmed (sox `silence`), then
0.25 s between clips, shorter than the 500 ms of silence that ends a turn. Clips: the English
rows of ../shared/eval/manifest.jsonl with a reference (no training-data rows, no multi-speaker
rows, none over 12 s) and the Piper-voiced English sentences of the terminology set (no noisy
copies). The order is a fixed shuffle (seed 11); recordings stop short of 28 s so the load
generator (30 s at most per recording) takes them.

    python3 tools/continuous_speech.py ../shared/eval OUT_DIR     # writes OUT_DIR/manifest.jsonl

Needs `sox` and `soxi` (run without dither, so the recordings are the same on every run). The manifest's rows carry absolute paths and the joined reference text.
"""
import json
import random
import subprocess
import sys
from pathlib import Path

GAP_S = 0.25
MAX_S = 28.0


def clips(eval_dir: Path):
    out = []
    for line in open(eval_dir / "manifest.jsonl"):
        d = json.loads(line)
        tags = d.get("tags") or []
        if (d["lang"] == "en" and d.get("text") and "possible-training-data" not in tags
                and d.get("duration_s", 99) < 12 and "segments" not in d
                and not any("noisy" in t for t in tags)):
            out.append((eval_dir / d["path"], d["text"], d["duration_s"]))
    term = eval_dir / "terminology"
    for line in open(term / "manifest.jsonl"):
        d = json.loads(line)
        if (d["lang"] == "en" and not d.get("noisy") and "segments" not in d
                and str(d["voice"]).startswith("piper")):
            out.append((term / d["path"], d["text"], d["duration_s"]))
    return out


def main() -> None:
    eval_dir, out_dir = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = clips(eval_dir)
    random.Random(11).shuffle(rows)
    groups, cur, total = [], [], 0.0
    for r in rows:
        if total + r[2] > MAX_S and cur:
            groups.append(cur)
            cur, total = [], 0.0
        cur.append(r)
        total += r[2] + GAP_S
    gap = out_dir / "gap.wav"
    subprocess.run(["sox", "-D", "-n", "-r", "16000", "-c", "1", "-b", "16", str(gap), "trim", "0", str(GAP_S)], check=True)
    trim = ["silence", "1", "0.05", "0.5%", "reverse", "silence", "1", "0.05", "0.5%", "reverse"]
    with open(out_dir / "manifest.jsonl", "w") as man:
        for gi, group in enumerate(groups):
            parts = []
            for j, (path, _text, _dur) in enumerate(group):
                part = out_dir / f"part{j}.wav"
                subprocess.run(["sox", "-D", str(path), "-r", "16000", "-c", "1", "-b", "16", str(part)] + trim, check=True)
                parts += [str(part), str(gap)]
            wav = out_dir / f"continuous_{gi}.wav"
            subprocess.run(["sox", "-D"] + parts[:-1] + [str(wav)], check=True, stderr=subprocess.DEVNULL)
            dur = float(subprocess.run(["soxi", "-D", str(wav)], capture_output=True, text=True, check=True).stdout)
            man.write(json.dumps({"id": wav.stem, "lang": "en", "path": str(wav),
                                  "text": " ".join(t for _, t, _ in group), "duration_s": dur}) + "\n")
            print(f"{wav} {dur:.1f} s, {len(group)} clips")
    for p in out_dir.glob("part*.wav"):
        p.unlink()
    gap.unlink()


if __name__ == "__main__":
    main()
