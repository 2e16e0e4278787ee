#!/usr/bin/env python3
"""Peer for `tests/sensevoice_bench.rs`: sherpa-onnx's own SenseVoice pipeline
(`OfflineRecognizer.from_sense_voice`, fbank + LFR + CMVN + ONNX Runtime + CTC) decoding the same
model files and the same audio windows, so the two times can be put side by side.

usage: sensevoice_peer.py MODEL_DIR WAV WINDOWS BATCHES THREADS PRECISIONS REPS
  MODEL_DIR   sherpa-onnx packaging (model.onnx, model.int8.onnx, tokens.txt)
  WAV         16 kHz mono PCM16 audio, at least as long as the longest window
  WINDOWS     comma-separated seconds, e.g. 1,2,4,6,10
  BATCHES     comma-separated batch sizes (N copies decoded in one decode_streams call)
  THREADS     comma-separated thread counts
  PRECISIONS  comma-separated: fp32 (model.onnx), int8 (model.int8.onnx)
  REPS        timed repetitions per configuration (one untimed warm-up first)
Prints one JSON object per configuration on stdout: precision, threads, window_s, batch, median_ms.
"""
import json
import statistics
import sys
import time
import wave

import numpy as np
import sherpa_onnx


def read_wav(path: str) -> np.ndarray:
    with wave.open(path, "rb") as w:
        assert w.getframerate() == 16000 and w.getnchannels() == 1 and w.getsampwidth() == 2, "16 kHz mono PCM16"
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return pcm.astype(np.float32) / 32768.0


def nums(arg: str, cast):
    return [cast(v) for v in arg.split(",") if v.strip()]


def main() -> None:
    model_dir, wav, windows, batches, threads, precisions, reps = sys.argv[1:8]
    audio = read_wav(wav)
    files = {"fp32": "model.onnx", "int8": "model.int8.onnx"}
    for precision in nums(precisions, str):
        for t in nums(threads, int):
            rec = sherpa_onnx.OfflineRecognizer.from_sense_voice(
                model=f"{model_dir}/{files[precision]}", tokens=f"{model_dir}/tokens.txt", num_threads=t,
                language="auto", use_itn=False)
            for window in nums(windows, float):
                samples = audio[: int(window * 16000)]
                for batch in nums(batches, int):
                    def run() -> float:
                        streams = [rec.create_stream() for _ in range(batch)]
                        t0 = time.perf_counter()
                        for s in streams:
                            s.accept_waveform(16000, samples)
                        rec.decode_streams(streams)
                        return (time.perf_counter() - t0) * 1000.0
                    run()
                    med = statistics.median(run() for _ in range(int(reps)))
                    print(json.dumps({"precision": precision, "threads": t, "window_s": window, "batch": batch,
                                      "median_ms": med}), flush=True)


if __name__ == "__main__":
    main()
