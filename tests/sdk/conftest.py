"""Shared helpers for the SDK tests: the running server (started by scripts/test), fixtures,
audio conversion (pure Python, no numpy) and WER."""
import base64
import os
import re
import struct
import wave
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "audio"


def _manifest():
    import json
    return {r["id"]: r for r in map(json.loads, (FIXTURES / "manifest.jsonl").read_text().splitlines())}


MANIFEST = _manifest()


def reference(fid: str) -> str:
    return MANIFEST[fid]["text"]


@pytest.fixture(scope="session")
def base_url() -> str:
    url = os.environ.get("ASR_ROUTER_URL")
    if not url:
        pytest.fail("ASR_ROUTER_URL is not set: run the suite with scripts/test")
    return url.rstrip("/")


@pytest.fixture(scope="session")
def api_key() -> str:
    return os.environ.get("ASR_ROUTER_API_KEY", "")


def read_wav(name: str):
    with wave.open(str(FIXTURES / name)) as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1
        frames = w.readframes(w.getnframes())
        return list(struct.unpack(f"<{len(frames) // 2}h", frames)), w.getframerate()


def resample(samples, src: int, dst: int):
    """Linear interpolation; good enough for speech at these rates."""
    if src == dst:
        return list(samples)
    n = int(len(samples) * dst / src)
    out = []
    for i in range(n):
        x = i * src / dst
        j = int(x)
        f = x - j
        a = samples[j]
        b = samples[j + 1] if j + 1 < len(samples) else a
        out.append(int(a + (b - a) * f))
    return out


def pcm16(samples) -> bytes:
    return struct.pack(f"<{len(samples)}h", *[max(-32768, min(32767, s)) for s in samples])


def pcm24k(name: str, silence_s: float = 1.5) -> bytes:
    s, rate = read_wav(name)
    return pcm16(resample(s, rate, 24000) + [0] * int(24000 * silence_s))


def ulaw_encode(sample: int) -> int:
    """ITU-T G.711 mu-law encoder (for the G.711 test input)."""
    BIAS, CLIP = 0x84, 32635
    sign = 0x80 if sample < 0 else 0
    if sample < 0:
        sample = -sample
    sample = min(sample, CLIP) + BIAS
    exponent = 7
    mask = 0x4000
    while exponent > 0 and not (sample & mask):
        exponent -= 1
        mask >>= 1
    mantissa = (sample >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def b64(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")


def normalize(s: str):
    return re.sub(r"[^\w' ]+", " ", s.lower()).split()


def _edits_to_prefixes(a, b) -> list:
    """Levenshtein's last row: the edits from all of `a` to each prefix of `b` (`[k]`: b[:k])."""
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a):
        cur = [i + 1]
        for j, y in enumerate(b):
            cur.append(min(prev[j] + (x != y), prev[j + 1] + 1, cur[j] + 1))
        prev = cur
    return prev


def wer(ref: str, hyp: str) -> float:
    r, h = normalize(ref), normalize(hyp)
    return _edits_to_prefixes(r, h)[-1] / max(1, len(r))


def prefix_letter_edits(text: str, full: str) -> int:
    """Edits, in letters (spaces dropped, normalized), from `text` to the closest prefix of `full`."""
    return min(_edits_to_prefixes("".join(normalize(text)), "".join(normalize(full))))


def wav_bytes(samples, rate: int = 16000) -> bytes:
    """16-bit mono WAV of integer samples."""
    import io
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm16(samples))
    return buf.getvalue()


def two_speaker_wav(gap_s: float = 1.0):
    """The composed two-speaker recording of the Rust tests (tests/common two_speaker_recording):
    the LibriVox reader, JFK, the reader again, JFK again, `gap_s` of silence between. Returns the
    WAV, the turns `(start, end, speaker)` and the reference text."""
    parts = [("en_librivox_sense_0870", 0), ("en_jfk", 1), ("en_librivox_sense_0880", 0), ("en_jfk", 1)]
    samples, turns, text = [], [], []
    for i, (fid, speaker) in enumerate(parts):
        if i:
            samples += [0] * int(gap_s * 16000)
        s, rate = read_wav(f"{fid}.wav")
        assert rate == 16000
        start = len(samples) / 16000
        samples += s
        turns.append((start, len(samples) / 16000, speaker))
        text.append(reference(fid))
    return wav_bytes(samples), turns, " ".join(text)
