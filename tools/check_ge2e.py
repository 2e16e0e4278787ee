#!/usr/bin/env python3
"""Checks the converted GE2E ONNX model against a numpy re-implementation of Resemblyzer's PyTorch
network, on real speech.

    python3 -m venv /tmp/ge2e-venv && /tmp/ge2e-venv/bin/pip install -r tools/speaker-requirements.txt
    /tmp/ge2e-venv/bin/python tools/check_ge2e.py pretrained.pt models/speaker/ge2e.onnx a.wav b.wav ...
        [--dump-reference OUT.json]

For each WAV (16 kHz mono): Resemblyzer's features (librosa power mel, 40 bands, n_fft 400, hop 160;
volume normalised to -30 dBFS, increase only; partials of 160 frames at 1.3 per second), then the
partials through (a) ONNX Runtime on the converted model and (b) numpy: PyTorch's LSTM equations
with PyTorch's gate order (i, f, g, o) and both biases, the last layer's final hidden state,
linear, ReLU, L2 norm. Prints the max absolute difference per file and overall, and the cosine
similarity matrix of the utterance embeddings. `--dump-reference` writes each file's numpy
utterance embedding (for the Rust parity test). Exit status 1 when the max difference exceeds 1e-4.
(webrtcvad silence trimming, which Resemblyzer's `preprocess_wav` also does, is left out on both
sides: in asr-router Silero VAD decides what is speech.)
"""

import argparse
import json
import os
import sys
import wave

import librosa
import numpy as np
import onnxruntime as ort

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from convert_ge2e import read_legacy_checkpoint  # noqa: E402

SR = 16000
HOP = 160
PARTIAL = 160


def load_wav(path):
    with wave.open(path, "rb") as w:
        if w.getframerate() != SR or w.getnchannels() != 1 or w.getsampwidth() != 2:
            raise SystemExit(f"{path}: need 16 kHz mono 16-bit PCM")
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return pcm.astype(np.float32) / 32768.0


def normalize_volume(wav, target_dbfs=-30.0):
    rms = np.sqrt(np.mean((wav * 32767.0) ** 2))
    if rms == 0:
        return wav
    change = target_dbfs - 20 * np.log10(rms / 32767.0)
    return wav if change < 0 else wav * (10 ** (change / 20))


def partial_slices(n_samples, rate=1.3, min_coverage=0.75):
    n_frames = int(np.ceil((n_samples + 1) / HOP))
    step = int(np.round((SR / rate) / HOP))
    steps = max(1, n_frames - PARTIAL + step + 1)
    slices = [(i, i + PARTIAL) for i in range(0, steps, step)]
    start, stop = slices[-1][0] * HOP, slices[-1][1] * HOP
    if (n_samples - start) / (stop - start) < min_coverage and len(slices) > 1:
        slices = slices[:-1]
    return slices


def partial_mels(wav):
    wav = normalize_volume(wav)
    slices = partial_slices(len(wav))
    need = slices[-1][1] * HOP
    if need >= len(wav):
        wav = np.pad(wav, (0, need - len(wav)))
    mel = librosa.feature.melspectrogram(y=wav, sr=SR, n_fft=400, hop_length=HOP, n_mels=40)
    mel = mel.astype(np.float32).T
    return np.stack([mel[a:b] for a, b in slices])


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def reference(state, mels):
    """PyTorch nn.LSTM (3 layers, batch_first) + linear + ReLU + L2, in float64 numpy."""
    x = mels.astype(np.float64)
    batch, frames, _ = x.shape
    for layer in range(3):
        w_ih = np.array(state[f"lstm.weight_ih_l{layer}"][1], dtype=np.float64).reshape(1024, -1)
        w_hh = np.array(state[f"lstm.weight_hh_l{layer}"][1], dtype=np.float64).reshape(1024, 256)
        b = np.array(state[f"lstm.bias_ih_l{layer}"][1], dtype=np.float64) + np.array(
            state[f"lstm.bias_hh_l{layer}"][1], dtype=np.float64)
        h = np.zeros((batch, 256))
        c = np.zeros((batch, 256))
        ys = []
        for t in range(frames):
            g = x[:, t] @ w_ih.T + h @ w_hh.T + b
            i, f, gg, o = g[:, :256], g[:, 256:512], g[:, 512:768], g[:, 768:]
            c = sigmoid(f) * c + sigmoid(i) * np.tanh(gg)
            h = sigmoid(o) * np.tanh(c)
            ys.append(h)
        x = np.stack(ys, axis=1)
    lw = np.array(state["linear.weight"][1], dtype=np.float64).reshape(256, 256)
    lb = np.array(state["linear.bias"][1], dtype=np.float64)
    e = np.maximum(h @ lw.T + lb, 0)
    return e / np.linalg.norm(e, axis=1, keepdims=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("pt")
    ap.add_argument("onnx")
    ap.add_argument("wavs", nargs="+")
    ap.add_argument("--dump-reference")
    a = ap.parse_args()
    state = read_legacy_checkpoint(a.pt)
    sess = ort.InferenceSession(a.onnx, providers=["CPUExecutionProvider"])
    worst = 0.0
    utter = {}
    for path in a.wavs:
        mels = partial_mels(load_wav(path))
        got = sess.run(["embedding"], {"mels": mels})[0]
        want = reference(state, mels)
        diff = float(np.max(np.abs(got - want)))
        worst = max(worst, diff)
        u = want.mean(axis=0)
        utter[path] = u / np.linalg.norm(u)
        print(f"{os.path.basename(path)}: {len(mels)} partials, max |onnx - numpy| = {diff:.3e}")
    print(f"overall max abs diff: {worst:.3e}")
    names = list(utter)
    print("cosine similarity of utterance embeddings:")
    for n in names:
        row = " ".join(f"{float(utter[n] @ utter[m]):.3f}" for m in names)
        print(f"  {os.path.basename(n):40s} {row}")
    if a.dump_reference:
        with open(a.dump_reference, "w") as f:
            json.dump({os.path.basename(k): [round(float(x), 7) for x in v] for k, v in utter.items()}, f)
    return 0 if worst <= 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main())
