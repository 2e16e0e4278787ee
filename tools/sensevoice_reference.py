#!/usr/bin/env python3
"""Reference outputs of the upstream SenseVoice pipelines, for tests/sensevoice_parity.rs.

For a stand-in (or real) model directory with ``sherpa/`` and ``funasr/`` packagings and a
folder of 16 kHz mono 16-bit WAV files, this writes:

* ``<out>/features/<n>.funasr.f32`` and ``<n>.sherpa.f32``: the model input features
  computed with ``kaldi-native-fbank`` (dither 0, Hamming, snip_edges, samples x 32768) and
  FunASR's LFR rule (``WavFrontend.apply_lfr`` padding; sherpa-onnx 2.0.1 pads the same way)
  followed by CMVN (``(x + neg_mean) * inv_stddev``) from ``am.mvn`` (computed in float64 as
  funasr-onnx does) and from the sherpa metadata (float32), little-endian f32;
* ``<out>/rfft/<n>.in.f32`` and ``<n>.out.f32``: frames (seeded random ones and real audio
  frames) and their single-precision FFT from ``kaldi_native_fbank.Rfft`` in its packed
  layout ``[re0, re(n/2), re1, im1, ...]``, for the bit-exact FFT test;
* ``<out>/reference.json``: per file and option set, the token ids decoded by
  ``sherpa_onnx.OfflineRecognizer.from_sense_voice`` (fp32 and int8 models; its result
  drops the first four decoded tokens and reports them as lang/emotion/event) and by
  ``funasr_onnx.SenseVoiceSmall`` (fp32 and quantised models; all ids, captured at its
  tokenizer), plus batched runs of both pipelines.

Usage:
    python tools/sensevoice_reference.py --model DIR --audio DIR --out DIR [--max-files N]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import wave

import numpy as np

SUPPORTED = {"zh", "en", "yue", "ja", "ko"}


def read_wav(path: str) -> np.ndarray:
    with wave.open(path) as w:
        if w.getframerate() != 16000 or w.getnchannels() != 1 or w.getsampwidth() != 2:
            raise ValueError(f"{path}: need 16 kHz mono 16-bit")
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
    return pcm.astype(np.float32) / 32768.0


def fbank(samples: np.ndarray) -> np.ndarray:
    import kaldi_native_fbank as knf

    o = knf.FbankOptions()
    o.frame_opts.samp_freq = 16000
    o.frame_opts.dither = 0.0
    o.frame_opts.window_type = "hamming"
    o.frame_opts.frame_shift_ms = 10.0
    o.frame_opts.frame_length_ms = 25.0
    o.frame_opts.snip_edges = True
    o.mel_opts.num_bins = 80
    o.energy_floor = 0.0
    f = knf.OnlineFbank(o)
    f.accept_waveform(16000, (samples * 32768.0).tolist())
    f.input_finished()
    n = f.num_frames_ready
    return np.array([f.get_frame(i) for i in range(n)], dtype=np.float32).reshape(n, 80)


def lfr_funasr(x: np.ndarray, m: int = 7, n: int = 6) -> np.ndarray:
    # FunASR WavFrontend.apply_lfr, restated.
    t = x.shape[0]
    if t == 0:
        return np.zeros((0, 80 * m), np.float32)
    t_lfr = int(np.ceil(t / n))
    left = (m - 1) // 2
    padded = np.vstack([np.tile(x[0], (left, 1)), x])
    tp = t + left
    out = []
    for i in range(t_lfr):
        if m <= tp - i * n:
            out.append(padded[i * n : i * n + m].reshape(-1))
        else:
            frame = padded[i * n :].reshape(-1)
            frame = np.hstack([frame] + [padded[-1]] * (m - (tp - i * n)))
            out.append(frame)
    return np.vstack(out).astype(np.float32)


def lfr_unpadded(x: np.ndarray, m: int = 7, n: int = 6) -> np.ndarray:
    t = x.shape[0]
    if t < m:
        return np.zeros((0, 80 * m), np.float32)
    k = (t - m) // n + 1
    return np.vstack([x[i * n : i * n + m].reshape(-1) for i in range(k)]).astype(np.float32)


def load_am_mvn(path: str) -> tuple[np.ndarray, np.ndarray]:
    toks = open(path, encoding="utf-8").read().split()

    def after(marker: str) -> np.ndarray:
        i = toks.index(marker)
        j = toks.index("[", i) + 1
        k = toks.index("]", j)
        return np.array([float(v) for v in toks[j:k]], np.float64)

    return after("<AddShift>"), after("<Rescale>")


def sherpa_meta_cmvn(model_path: str) -> tuple[np.ndarray, np.ndarray]:
    import onnx

    m = onnx.load(model_path, load_external_data=False)
    meta = {p.key: p.value for p in m.metadata_props}
    return (np.array([float(v) for v in meta["neg_mean"].split(",")], np.float32),
            np.array([float(v) for v in meta["inv_stddev"].split(",")], np.float32))


def sherpa_decode(model: str, tokens: str, wavs: list[np.ndarray], language: str, use_itn: bool, batched: bool):
    rec = _sherpa_recognizer(model, tokens, language, use_itn)
    streams = []
    for w in wavs:
        s = rec.create_stream()
        s.accept_waveform(16000, w)
        streams.append(s)
    if batched:
        rec.decode_streams(streams)
    else:
        for s in streams:
            rec.decode_stream(s)
    # sherpa-onnx's symbol table shows the word mark as a space; map strings back to ids.
    table = _sherpa_table(tokens)
    out = []
    for s in streams:
        r = s.result
        out.append({
            "tokens": list(r.tokens),
            "token_ids": [table.get(t, -1) for t in r.tokens],
            "tag_ids": [table.get(t, -1) for t in (r.lang, r.emotion, r.event) if t],
            "timestamps": [float(t) for t in r.timestamps],
            "lang": r.lang,
            "emotion": r.emotion,
            "event": r.event,
        })
    return out


def funasr_decode(model_dir: str, wavs: list, language: str, use_itn: bool, quantize: bool, batch: int):
    """`wavs`: one array (batch 1) or a list of file paths (funasr-onnx loads lists itself)."""
    m = _funasr_model(model_dir, quantize, batch)
    captured: list[list[int]] = []
    orig = m.tokenizer.decode

    def capture(ids):
        captured.append([int(i) for i in ids])
        return orig(ids)

    m.tokenizer.decode = capture
    m.frontend.opts.frame_opts.dither = 0.0  # never dither, whatever config.yaml says
    try:
        texts = m(list(wavs) if batch > 1 else wavs[0], language=language, textnorm="withitn" if use_itn else "woitn")
    finally:
        m.tokenizer.decode = orig
    return captured, texts


_CACHE: dict = {}


def _sherpa_table(tokens: str) -> dict:
    key = ("table", tokens)
    if key not in _CACHE:
        table = {}
        with open(tokens, encoding="utf-8") as f:
            for line in f:
                piece, _, idx = line.rstrip("\n").rpartition(" ")
                table[piece.replace("\u2581", " ")] = int(idx)
        _CACHE[key] = table
    return _CACHE[key]


def _sherpa_recognizer(model: str, tokens: str, language: str, use_itn: bool):
    import sherpa_onnx

    key = ("sherpa", model, language, use_itn)
    if key not in _CACHE:
        _CACHE[key] = sherpa_onnx.OfflineRecognizer.from_sense_voice(
            model=model, tokens=tokens, num_threads=1, use_itn=use_itn, language=language, debug=False
        )
    return _CACHE[key]


def _funasr_model(model_dir: str, quantize: bool, batch: int):
    from funasr_onnx import SenseVoiceSmall

    key = ("funasr", model_dir, quantize, batch)
    if key not in _CACHE:
        _CACHE[key] = SenseVoiceSmall(model_dir, batch_size=batch, quantize=quantize, intra_op_num_threads=1)
    return _CACHE[key]


def rfft_cases(out: str, wavs: list) -> list:
    """Writes kaldi-native-fbank's FFT of seeded random and real frames; returns the index."""
    import kaldi_native_fbank as knf

    os.makedirs(os.path.join(out, "rfft"), exist_ok=True)
    rng = np.random.default_rng(20261126)
    audio = np.concatenate(wavs) * 32768.0
    cases = []
    for n in (4, 8, 16, 64, 128, 256, 512):
        frames = [
            (rng.standard_normal(n) * 1000.0 * np.exp(2.0 * rng.standard_normal(n))).astype(np.float32)
            for _ in range(64)
        ]
        step = max(1, (audio.shape[0] - n) // 64)
        frames += [audio[i * step : i * step + n].astype(np.float32) for i in range(64)]
        rf = knf.Rfft(n)
        inp = np.stack(frames).astype("<f4")
        res = np.stack([np.array(rf.compute(f.tolist()), dtype=np.float32) for f in frames]).astype("<f4")
        fi = os.path.join(out, "rfft", f"{n}.in.f32")
        fo = os.path.join(out, "rfft", f"{n}.out.f32")
        inp.tofile(fi)
        res.tofile(fo)
        cases.append({"n": n, "count": len(frames), "input": os.path.abspath(fi), "output": os.path.abspath(fo)})
    return cases


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="dir with sherpa/ and funasr/ packagings")
    ap.add_argument("--audio", required=True, help="dir searched recursively for *.wav")
    ap.add_argument("--out", required=True)
    ap.add_argument("--max-files", type=int, default=0)
    ap.add_argument("--no-int8", action="store_true")
    args = ap.parse_args()

    model = os.path.abspath(args.model)
    sherpa_dir, funasr_dir = os.path.join(model, "sherpa"), os.path.join(model, "funasr")
    files = sorted(glob.glob(os.path.join(args.audio, "**", "*.wav"), recursive=True))
    if args.max_files:
        files = files[: args.max_files]
    if not files:
        print(f"no wav files under {args.audio}", file=sys.stderr)
        return 1
    os.makedirs(os.path.join(args.out, "features"), exist_ok=True)

    neg_mean_f, inv_std_f = load_am_mvn(os.path.join(funasr_dir, "am.mvn"))
    neg_mean_s, inv_std_s = sherpa_meta_cmvn(os.path.join(sherpa_dir, "model.onnx"))
    wavs = [read_wav(f) for f in files]

    entries = []
    for n, (path, w) in enumerate(zip(files, wavs)):
        fb = fbank(w)
        # FunASR computes CMVN in float64 and casts to float32 when padding the batch.
        feat_f = ((lfr_funasr(fb).astype(np.float64) + neg_mean_f) * inv_std_f).astype(np.float32)
        feat_s = ((lfr_funasr(fb) + neg_mean_s) * inv_std_s).astype(np.float32)
        ff = os.path.join(args.out, "features", f"{n:03d}.funasr.f32")
        fs = os.path.join(args.out, "features", f"{n:03d}.sherpa.f32")
        feat_f.astype("<f4").tofile(ff)
        feat_s.astype("<f4").tofile(fs)
        folder = os.path.basename(os.path.dirname(path))
        entries.append({
            "path": os.path.abspath(path),
            "num_samples": int(w.shape[0]),
            "fbank_frames": int(fb.shape[0]),
            "features": {
                "funasr": {"file": os.path.abspath(ff), "frames": int(feat_f.shape[0])},
                "sherpa": {"file": os.path.abspath(fs), "frames": int(feat_s.shape[0])},
            },
            "hint_language": folder if folder in SUPPORTED else None,
            "runs": [],
        })

    option_sets = [("auto", False)]
    # A second set forces each file's language (when known) with ITN on.
    variants = [("fp32", "model.onnx", False)]
    if not args.no_int8:
        variants.append(("int8", "model.int8.onnx", True))
    for language_mode, use_itn in option_sets + [("hint", True)]:
        for prec, sherpa_file, quant in variants:
            for i, e in enumerate(entries):
                lang = e["hint_language"] if language_mode == "hint" else language_mode
                if lang is None:
                    continue
                s = sherpa_decode(os.path.join(sherpa_dir, sherpa_file), os.path.join(sherpa_dir, "tokens.txt"),
                                  [wavs[i]], lang, use_itn, False)[0]
                ids, _ = funasr_decode(funasr_dir, [wavs[i]], lang, use_itn, quant, 1)
                e["runs"].append({
                    "language": lang,
                    "use_itn": use_itn,
                    "precision": prec,
                    "sherpa": s,
                    "funasr_ids": ids[0] if ids else [],
                })
            print(f"decoded {len(entries)} files: {language_mode} itn={use_itn} {prec}", flush=True)

    # Batched runs: groups of 4 consecutive files, auto language, no ITN, fp32.
    batches = []
    for start in range(0, min(len(entries), 12), 4):
        idx = list(range(start, min(start + 4, len(entries))))
        group = [wavs[i] for i in idx]
        s = sherpa_decode(os.path.join(sherpa_dir, "model.onnx"), os.path.join(sherpa_dir, "tokens.txt"),
                          group, "auto", False, True)
        ids, _ = funasr_decode(funasr_dir, [files[i] for i in idx], "auto", False, False, len(group))
        batches.append({"files": idx, "sherpa": s, "funasr_ids": ids})

    import kaldi_native_fbank
    import onnxruntime
    import sherpa_onnx

    versions = {
        "sherpa_onnx": getattr(sherpa_onnx, "__version__", "?"),
        "funasr_onnx": _dist_version("funasr_onnx"),
        "kaldi_native_fbank": getattr(kaldi_native_fbank, "__version__", _dist_version("kaldi-native-fbank")),
        "onnxruntime": onnxruntime.__version__,
        "numpy": np.__version__,
    }
    doc = {
        "model_dir": model,
        "sherpa_dir": sherpa_dir,
        "funasr_dir": funasr_dir,
        "versions": versions,
        "int8": not args.no_int8,
        "files": entries,
        "batches": batches,
        "rfft": rfft_cases(args.out, wavs),
    }
    with open(os.path.join(args.out, "reference.json"), "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False)
    print(f"wrote {os.path.join(args.out, 'reference.json')} ({len(entries)} files)")
    return 0


def _dist_version(name: str) -> str:
    try:
        from importlib.metadata import version

        return version(name)
    except Exception:  # noqa: BLE001 - informational only
        return "?"


if __name__ == "__main__":
    sys.exit(main())
