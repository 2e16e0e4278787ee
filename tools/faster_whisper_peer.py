#!/usr/bin/env python3
"""Peer for `asr-router bench transcribe --peer-python`: faster-whisper on the same CTranslate2
model directory, the same files, compute type and thread count. Prints a JSON list of
{id, lang, text, compute_s} on stdout.

usage: faster_whisper_peer.py MODEL_DIR FILES_JSON COMPUTE_TYPE THREADS
"""
import json
import sys
import time

from faster_whisper import WhisperModel, decode_audio


def main() -> None:
    model_dir, files, compute_type, threads = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    english_only = model_dir.rstrip("/").endswith(".en")
    model = WhisperModel(model_dir, device="cpu", compute_type=compute_type, cpu_threads=threads)
    out = []
    for f in files:
        if english_only and f["lang"] != "en":
            continue
        audio = decode_audio(str(f["path"]), sampling_rate=16000)
        lang = None if "+" in f["lang"] else f["lang"]
        t0 = time.perf_counter()
        segments, _info = model.transcribe(audio, language=lang, beam_size=1, vad_filter=len(audio) > 30 * 16000,
                                           condition_on_previous_text=False)
        text = " ".join(s.text.strip() for s in segments)
        out.append({"id": f["id"], "lang": f["lang"], "text": text, "compute_s": time.perf_counter() - t0})
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
