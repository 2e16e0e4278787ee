#!/usr/bin/env python3
"""Peer for `asr-router bench transcribe --peer-python`: faster-whisper on the same CTranslate2
model directory, the same files, compute type, thread count and beam size, with faster-whisper's
own guards (temperature fallback 0.0-1.0 with best_of=5, compression-ratio 2.4, log-prob -1.0 and
no-speech 0.6 thresholds: its defaults). Prints a JSON list of {id, lang, text, compute_s, language}.

Each entry of FILES_JSON has `path`, `lang`, and optionally `language` (a hint; null = detect) and
`languages` (detect among these only: faster-whisper has no such option, so it is mirrored by
running its language detection first and passing the most probable allowed language as the hint).

BATCH_SIZE > 0 runs faster-whisper's BatchedInferencePipeline instead (its own VAD cuts every file
into chunks of up to 30 s, decoded BATCH_SIZE at a time, with that pipeline's defaults).

usage: faster_whisper_peer.py MODEL_DIR FILES_JSON COMPUTE_TYPE THREADS [BEAM_SIZE [BATCH_SIZE]]
"""
import json
import sys
import time

from faster_whisper import BatchedInferencePipeline, WhisperModel, decode_audio


def main() -> None:
    model_dir, files, compute_type, threads = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    beam_size = int(sys.argv[5]) if len(sys.argv) > 5 else 1
    batch_size = int(sys.argv[6]) if len(sys.argv) > 6 else 0
    english_only = model_dir.rstrip("/").endswith(".en")
    model = WhisperModel(model_dir, device="cpu", compute_type=compute_type, cpu_threads=threads)
    batched = BatchedInferencePipeline(model=model)
    out = []
    for f in files:
        if english_only and f["lang"] != "en":
            continue
        audio = decode_audio(str(f["path"]), sampling_rate=16000)
        if "language" in f:
            lang = f["language"]
        else:
            lang = None if "+" in f["lang"] else f["lang"]
        t0 = time.perf_counter()
        allowed = [a.split("-")[0].lower() for a in f.get("languages") or []]
        if lang is None and allowed and not english_only:
            _best, _p, probs = model.detect_language(audio)
            known = [(p, code) for code, p in probs if code in allowed]
            if known:
                lang = max(known)[1]
        if batch_size > 0:
            segments, info = batched.transcribe(audio, language=lang, beam_size=beam_size, batch_size=batch_size)
        else:
            segments, info = model.transcribe(audio, language=lang, beam_size=beam_size,
                                              vad_filter=len(audio) > 30 * 16000, condition_on_previous_text=False)
        text = " ".join(s.text.strip() for s in segments)
        out.append({"id": f["id"], "lang": f["lang"], "text": text, "compute_s": time.perf_counter() - t0,
                    "language": info.language})
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
