"""Strict shapes: every realtime server event and every REST body the server emits, validated
against the official SDK's pydantic models in strict mode (`model_validate_json(..., strict=True)`,
no type coercion), with no field beyond the documented extensions.

A typed client in another language (generated from OpenAI's OpenAPI document) rejects a body that
misses a required field, has a value outside an enum, or a `null` where an object is required; the
Python SDK itself never validates, so the other SDK tests cannot see such faults. This file can.

The SDK models keep undeclared fields in `model_extra`; every such field must be listed in
EXTENSIONS (the one place, mirrored by docs/api.md, "Strict clients"). A required field the server
leaves out on purpose must be listed in OMITTED.

`conversation.item.input_audio_transcription.failed` cannot be provoked from a client (it reports
an engine failure); its exact shape is pinned by the `server_event_shapes` unit test in
src/realtime/protocol.rs.
"""
import asyncio
import json
import re
import time
import urllib.error
import urllib.request
import uuid
from typing import Literal

import openai
import pydantic
import pytest
import websockets

from openai.types import Model
from openai.types.audio import (
    Transcription,
    TranscriptionDiarized,
    TranscriptionTextDeltaEvent,
    TranscriptionTextDoneEvent,
    TranscriptionVerbose,
    Translation,
    TranslationVerbose,
)
from openai.types.shared.error_object import ErrorObject
from openai.types import realtime as ga
from openai.types.beta import realtime as beta
from openai.types.beta.realtime.transcription_session import TranscriptionSession

from conftest import FIXTURES, b64, pcm24k

CHUNK_MS = 40

# ───────────────────────────── the documented deviations ─────────────────────────────

_SESSION_IDS = {
    "id": "session id; in OpenAI's RealtimeTranscriptionSessionCreateResponse, not in the request "
          "type the SDK's session.* event models use",
    "object": "`realtime.transcription_session`; as `id`",
    "expires_at": "session expiry (unix s); as `id`",
}
_GA_SESSION = {
    **{f"session.{k}": v for k, v in _SESSION_IDS.items()},
    "session.partial_interval_ms": "extension: interval of partial deltas (only when set)",
    "session.audio.input.transcription.glossary_id": "extension: the named glossary (only when set)",
    "session.audio.input.transcription.review": "extension: `none` | `glossary` | `llm` (only when set)",
    "session.audio.input.transcription.diarization": "extension: live speaker labels (only when set)",
}
_BETA_SESSION = {
    **{f"session.{k}": v for k, v in _SESSION_IDS.items()},
    "session.include": "OpenAI's beta server sends it (always null here: logprobs are refused)",
    "session.input_audio_noise_reduction": "beta request field, echoed",
    "session.partial_interval_ms": "extension (only when set)",
    "session.input_audio_transcription.router_model": "extension: the configured model when it is "
        "not one of the beta enum's (`auto`, an engine name); `model` is null then",
    "session.input_audio_transcription.languages": "GA field, echoed when a client sets it",
    "session.input_audio_transcription.keywords": "GA field, echoed when a client sets it",
    "session.input_audio_transcription.delay": "GA field, echoed when a client sets it",
    "session.input_audio_transcription.glossary_id": "extension: the named glossary (only when set)",
    "session.input_audio_transcription.review": "extension: `none` | `glossary` | `llm` (only when set)",
    "session.input_audio_transcription.diarization": "extension: live speaker labels (only when set)",
    "session.turn_detection.idle_timeout_ms": "GA server_vad field, echoed when set",
    "session.turn_detection.eagerness": "GA semantic_vad field, echoed when set",
    "session.turn_detection.create_response": "echoed when set",
    "session.turn_detection.interrupt_response": "echoed when set",
}
_COMPLETED = {
    "language": "extension: detected language (ISO-639-1)",
    "latency_ms": "extension: ms from the end of the utterance to this event",
    "processing_ms": "extension: model compute spent on this final, ms (its real-time factor's numerator)",
    "speaker": "extension: speaker label (only when known)",
    "raw_transcript": "extension: the recognizer's text before review (when a review ran)",
    "edits": "extension: the review's audit trail (start/end in characters of raw_transcript, from, to, "
             "reviewer, term; when a review ran)",
}

EXTENSIONS: dict[str, dict[str, str]] = {
    # realtime, GA dialect
    "session.created": _GA_SESSION,
    "session.updated": _GA_SESSION,
    "conversation.item.input_audio_transcription.completed": _COMPLETED,
    "transcription_session.updated": _BETA_SESSION,  # the beta reply to a beta update on a GA socket
    # realtime, beta dialect
    "beta:transcription_session.created": _BETA_SESSION,
    "beta:transcription_session.updated": _BETA_SESSION,
    "beta:conversation.item.input_audio_transcription.completed": {
        **_COMPLETED,
        "languages": "GA field (`[{code}]`), also sent on beta sockets",
    },
    # REST
    "verbose_json": {
        "task": "`transcribe`; OpenAI's whisper-1 sends it, the SDK model lacks it",
        "raw_text": "extension: the recognizer's text before review (when a review ran)",
        "edits": "extension: the review's audit trail (start/end in characters of raw_text, from, to, "
                 "reviewer, term)",
        "fallbacks": "extension: windows the fallback engine decoded, with why (only when any)",
    },
    "translation.verbose_json": {"task": "`translate`; as for transcriptions"},
    "model": {
        "roles": "extension: the engine's roles (`fast`, `strong`, …)",
        "languages": "extension: languages the engine transcribes",
    },
    "client_secrets": {
        "session.partial_interval_ms": "extension (only when set)",
        "session.audio.input.turn_detection.idle_timeout_ms": "GA server_vad field (only when set); "
            "the response type's turn_detection lacks it",
        "session.audio.input.turn_detection.create_response": "as idle_timeout_ms",
        "session.audio.input.turn_detection.interrupt_response": "as idle_timeout_ms",
        "session.audio.input.turn_detection.eagerness": "semantic_vad field (only when set)",
        "session.audio.input.transcription.glossary_id": _GA_SESSION["session.audio.input.transcription.glossary_id"],
        "session.audio.input.transcription.review": _GA_SESSION["session.audio.input.transcription.review"],
        "session.audio.input.transcription.diarization":
            _GA_SESSION["session.audio.input.transcription.diarization"],
    },
    "transcription_sessions": {k.removeprefix("session."): v for k, v in _BETA_SESSION.items()},
}

# Required fields (by the SDK model) that the server leaves out rather than invent.
OMITTED: dict[str, dict[str, str]] = {
    "verbose_json": {
        "segments[].compression_ratio": "not measured by SenseVoice (Whisper sends it)",
        "segments[].avg_logprob": "not measured by SenseVoice (Whisper sends it)",
        "segments[].no_speech_prob": "not measured by SenseVoice (Whisper sends it)",
    },
}
OMITTED["translation.verbose_json"] = OMITTED["verbose_json"]


# ───────────────────────────── validation ─────────────────────────────

def _extras(obj, path=""):
    """Dotted paths of the fields no model declared (`[]` for list elements)."""
    join = (lambda k: f"{path}.{k}" if path else k)
    out = []
    if isinstance(obj, pydantic.BaseModel):
        out += [join(k) for k in (obj.model_extra or {})]
        for name in type(obj).model_fields:
            out += _extras(getattr(obj, name), join(name))
    elif isinstance(obj, (list, tuple)):
        for x in obj:
            out += _extras(x, f"{path}[]")
    elif isinstance(obj, dict):
        for k, x in obj.items():
            out += _extras(x, join(k))
    return out


def _fill_omitted(obj, path: str):
    """Puts a typed stand-in where a documented omission applies, so that everything else of the
    object is still validated strictly."""
    head, _, rest = path.partition(".")
    if head.endswith("[]"):
        for x in obj.get(head[:-2]) or []:
            _fill_omitted(x, rest)
    elif rest:
        if isinstance(obj.get(head), dict):
            _fill_omitted(obj[head], rest)
    elif head not in obj:
        obj[head] = 0.0


def check(label: str, model, text: str):
    """Validates one wire body (JSON text) strictly against `model`; returns the parsed dict."""
    obj = json.loads(text)
    filled = json.loads(text)
    for path in OMITTED.get(label, {}):
        _fill_omitted(filled, path)
    try:
        parsed = model.model_validate_json(json.dumps(filled), strict=True)
    except pydantic.ValidationError as e:
        raise AssertionError(f"{label}: not a valid {model.__name__}: {e}\n{text}") from None
    allowed = EXTENSIONS.get(label, {})
    unknown = sorted(set(_extras(parsed)) - set(allowed))
    assert not unknown, f"{label}: fields the {model.__name__} model does not have: {unknown}\n{text}"
    return obj


def check_error_body(resp_text: str, status: int, code=None, param=None):
    """REST error: exactly `{"error": {message, type, param, code}}` (OpenAI's ErrorObject)."""
    obj = json.loads(resp_text)
    assert set(obj) == {"error"}, obj
    check("error", ErrorObject, json.dumps(obj["error"]))
    err = obj["error"]
    assert set(err) == {"message", "type", "param", "code"}, err
    assert err["message"], err
    if code is not None:
        assert err["code"] == code, (status, err)
    if param is not None:
        assert err["param"] == param, (status, err)
    return err


# The server's events, by dialect: (label, model). Every event a socket receives must be here.
class TranscriptionSessionCreatedEvent(beta.TranscriptionSessionUpdatedEvent):
    """OpenAPI's `RealtimeServerEventTranscriptionSessionCreated` (the SDK has no class for it):
    the updated event's shape with its own type."""
    type: Literal["transcription_session.created"]


GA_EVENTS = {
    "session.created": ga.SessionCreatedEvent,
    "session.updated": ga.SessionUpdatedEvent,
    "input_audio_buffer.speech_started": ga.InputAudioBufferSpeechStartedEvent,
    "input_audio_buffer.speech_stopped": ga.InputAudioBufferSpeechStoppedEvent,
    "input_audio_buffer.committed": ga.InputAudioBufferCommittedEvent,
    "input_audio_buffer.cleared": ga.InputAudioBufferClearedEvent,
    "input_audio_buffer.timeout_triggered": ga.InputAudioBufferTimeoutTriggered,
    "conversation.item.input_audio_transcription.delta": ga.ConversationItemInputAudioTranscriptionDeltaEvent,
    "conversation.item.input_audio_transcription.completed": ga.ConversationItemInputAudioTranscriptionCompletedEvent,
    "conversation.item.input_audio_transcription.failed": ga.ConversationItemInputAudioTranscriptionFailedEvent,
    "conversation.item.input_audio_transcription.segment": ga.ConversationItemInputAudioTranscriptionSegment,
    "conversation.item.added": ga.ConversationItemAdded,
    "conversation.item.done": ga.ConversationItemDone,
    "error": ga.RealtimeErrorEvent,
    # a beta `transcription_session.update` on a GA socket is answered in the beta dialect
    "transcription_session.updated": beta.TranscriptionSessionUpdatedEvent,
}
BETA_EVENTS = {
    "transcription_session.created": TranscriptionSessionCreatedEvent,
    "transcription_session.updated": beta.TranscriptionSessionUpdatedEvent,
    "input_audio_buffer.speech_started": beta.InputAudioBufferSpeechStartedEvent,
    "input_audio_buffer.speech_stopped": beta.InputAudioBufferSpeechStoppedEvent,
    "input_audio_buffer.committed": beta.InputAudioBufferCommittedEvent,
    "input_audio_buffer.cleared": beta.InputAudioBufferClearedEvent,
    "conversation.item.created": beta.ConversationItemCreatedEvent,
    "conversation.item.input_audio_transcription.delta": beta.ConversationItemInputAudioTranscriptionDeltaEvent,
    "conversation.item.input_audio_transcription.completed": beta.ConversationItemInputAudioTranscriptionCompletedEvent,
    "conversation.item.input_audio_transcription.failed": beta.ConversationItemInputAudioTranscriptionFailedEvent,
    # live speakers (`diarization: true`): the beta SDK has no model for it; the GA shape is sent
    "conversation.item.input_audio_transcription.segment": ga.ConversationItemInputAudioTranscriptionSegment,
    "error": beta.ErrorEvent,
}


class Socket:
    """A raw WebSocket whose every received event is validated for its dialect."""

    def __init__(self, ws, dialect: str):
        self.ws, self.dialect, self.seen = ws, dialect, []

    @classmethod
    async def open(cls, base_url, api_key, dialect="ga", token=None):
        headers = {"Authorization": f"Bearer {token or api_key}"}
        if dialect == "beta":
            headers["OpenAI-Beta"] = "realtime=v1"
        url = base_url.replace("http://", "ws://") + "/v1/realtime?intent=transcription"
        return cls(await websockets.connect(url, additional_headers=headers, max_size=None), dialect)

    async def recv(self, timeout=60):
        text = await asyncio.wait_for(self.ws.recv(), timeout)
        t = json.loads(text)["type"]
        events = BETA_EVENTS if self.dialect == "beta" else GA_EVENTS
        assert t in events, f"{self.dialect} socket: no SDK model for event type {t!r}: {text}"
        label = f"beta:{t}" if self.dialect == "beta" else t
        ev = check(label, events[t], text)
        self.seen.append(t)
        return ev

    async def until(self, t, timeout=60):
        """Validates events until one of type `t` (an unexpected `error` fails)."""
        deadline = time.monotonic() + timeout
        while True:
            ev = await self.recv(max(0.1, deadline - time.monotonic()))
            if ev["type"] == t:
                return ev
            assert ev["type"] != "error", ev

    async def send(self, ev: dict):
        await self.ws.send(json.dumps(ev))

    async def stream(self, audio: bytes, paced=True):
        step = 24000 * 2 * CHUNK_MS // 1000
        t0 = time.monotonic()
        for i, off in enumerate(range(0, len(audio), step)):
            await self.send({"type": "input_audio_buffer.append", "audio": b64(audio[off:off + step])})
            if paced:
                delay = t0 + (i + 1) * CHUNK_MS / 1000 - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)

    async def close(self):
        await self.ws.close()


def ga_update(**input_fields):
    return {"type": "session.update", "session": {"type": "transcription", "audio": {"input": input_fields}}}


# ───────────────────────────── realtime ─────────────────────────────

def test_ga_events_are_strictly_valid(base_url, api_key):
    async def main():
        s = await Socket.open(base_url, api_key)
        created = await s.recv()
        assert created["type"] == "session.created"
        # idle timeout: timeout_triggered on 1.6 s of silence
        await s.send(ga_update(format={"type": "audio/pcm", "rate": 24000},
                               transcription={"model": "auto", "language": "en"},
                               turn_detection={"type": "server_vad", "silence_duration_ms": 500,
                                               "idle_timeout_ms": 1000}))
        upd = await s.until("session.updated")
        assert upd["session"]["audio"]["input"]["turn_detection"]["idle_timeout_ms"] == 1000
        await s.send({"type": "input_audio_buffer.append", "audio": b64(bytes(24000 * 2 * 16 // 10))})
        await s.until("input_audio_buffer.timeout_triggered", timeout=10)
        # speech: speech_started, deltas, speech_stopped, committed, completed
        await s.send({"type": "session.update", "session": {"type": "transcription", "partial_interval_ms": 200,
                      "audio": {"input": {"turn_detection": {"type": "server_vad", "idle_timeout_ms": None}}}}})
        upd = await s.until("session.updated")
        assert "idle_timeout_ms" not in upd["session"]["audio"]["input"]["turn_detection"], upd
        await s.stream(pcm24k("en_librivox_sense_0880.wav"))
        done = await s.until("conversation.item.input_audio_transcription.completed", timeout=120)
        assert done["transcript"].strip() and done["usage"]["type"] == "duration"
        for t in ("input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped",
                  "input_audio_buffer.committed", "conversation.item.input_audio_transcription.delta"):
            assert t in s.seen, (t, s.seen)
        # clear
        await s.send({"type": "input_audio_buffer.append", "audio": b64(bytes(4800))})
        await s.send({"type": "input_audio_buffer.clear"})
        await s.until("input_audio_buffer.cleared")
        # errors keep the socket open; each is a valid error event
        for bad, code, param in [
            ("{not json", "invalid_json", None),
            (json.dumps({"type": "no.such.event", "event_id": "e1"}), "invalid_value", "type"),
            (json.dumps({"type": "input_audio_buffer.append"}), "missing_required_parameter", "audio"),
            (json.dumps({"type": "input_audio_buffer.commit"}), "input_audio_buffer_commit_empty", None),
            # logprobs are refused, not accepted and never sent
            (json.dumps({"type": "session.update", "session": {"type": "transcription",
                         "include": ["item.input_audio_transcription.logprobs"]}}), "invalid_value", "session.include[0]"),
        ]:
            await s.ws.send(bad)
            err = await s.recv()
            assert err["type"] == "error", err
            assert err["error"]["code"] == code, (bad, err)
            if param:
                assert err["error"]["param"] == param, (bad, err)
        # a beta update on a GA socket: a beta `transcription_session.updated`, beta-shaped
        await s.send({"type": "transcription_session.update", "session": {
            "input_audio_transcription": {"model": "whisper-1", "language": "en"}}})
        upd = await s.until("transcription_session.updated")
        assert upd["session"]["input_audio_transcription"]["model"] == "whisper-1", upd
        await s.close()
    asyncio.run(main())


def test_beta_events_are_strictly_valid(base_url, api_key):
    async def main():
        s = await Socket.open(base_url, api_key, dialect="beta")
        created = await s.recv()
        assert created["type"] == "transcription_session.created"
        # a socket session has no ephemeral key: the required object says so
        assert created["session"]["client_secret"] == {"value": "", "expires_at": 0}, created
        # a model outside the beta enum is null there, and kept in `router_model`
        await s.send({"type": "transcription_session.update", "session": {
            "input_audio_format": "pcm16",
            "input_audio_transcription": {"model": "auto", "language": "en"},
            "turn_detection": {"type": "server_vad", "silence_duration_ms": 500}}})
        upd = await s.until("transcription_session.updated")
        t = upd["session"]["input_audio_transcription"]
        assert t["model"] is None and t["router_model"] == "auto", upd
        # a beta enum model is echoed as asked
        await s.send({"type": "transcription_session.update", "session": {
            "input_audio_transcription": {"model": "gpt-4o-mini-transcribe", "language": "en"}}})
        upd = await s.until("transcription_session.updated")
        t = upd["session"]["input_audio_transcription"]
        assert t["model"] == "gpt-4o-mini-transcribe" and "router_model" not in t, upd
        await s.stream(pcm24k("en_librivox_sense_0880.wav"))
        done = await s.until("conversation.item.input_audio_transcription.completed", timeout=120)
        assert done["transcript"].strip()
        for ty in ("input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped",
                   "input_audio_buffer.committed"):
            assert ty in s.seen, (ty, s.seen)
        await s.send({"type": "transcription_session.update", "session": {
            "include": ["item.input_audio_transcription.logprobs"]}})
        err = await s.recv()
        while err["type"] != "error":
            err = await s.recv()
        assert err["type"] == "error" and err["error"]["code"] == "invalid_value", err
        assert err["error"]["param"] == "session.include[0]", err
        await s.close()
    asyncio.run(main())


def test_live_speaker_events_are_strictly_valid(base_url, api_key):
    """`diarization: true` (extension): echoed in session.updated, and each item's `segment` event
    is exactly the SDK's ConversationItemInputAudioTranscriptionSegment, right before its
    `completed` (which carries `speaker`), in both dialects."""
    async def one_item(s, updated):
        upd = await s.until(updated)
        await s.stream(pcm24k("en_librivox_sense_0880.wav"))
        seg = await s.until("conversation.item.input_audio_transcription.segment", timeout=120)
        done = await s.recv(120)
        assert done["type"] == "conversation.item.input_audio_transcription.completed", done
        assert seg["item_id"] == done["item_id"] and seg["speaker"] == done["speaker"] == "A", (seg, done)
        assert seg["text"] == done["transcript"] and "young man" in seg["text"].lower(), seg
        assert seg["start"] == 0.0 and abs(seg["end"] - done["usage"]["seconds"]) < 0.01, (seg, done)
        assert seg["id"].startswith("seg_") and seg["content_index"] == 0, seg
        return upd

    async def main():
        s = await Socket.open(base_url, api_key)
        await s.until("session.created")
        await s.send(ga_update(format={"type": "audio/pcm", "rate": 24000},
                               transcription={"model": "auto", "language": "en", "diarization": True},
                               turn_detection={"type": "server_vad", "silence_duration_ms": 500}))
        upd = await one_item(s, "session.updated")
        assert upd["session"]["audio"]["input"]["transcription"]["diarization"] is True, upd
        await s.close()

        s = await Socket.open(base_url, api_key, dialect="beta")
        await s.until("transcription_session.created")
        await s.send({"type": "transcription_session.update", "session": {
            "input_audio_format": "pcm16",
            "input_audio_transcription": {"model": "auto", "language": "en", "diarization": True},
            "turn_detection": {"type": "server_vad", "silence_duration_ms": 500}}})
        upd = await one_item(s, "transcription_session.updated")
        assert upd["session"]["input_audio_transcription"]["diarization"] is True, upd
        await s.close()
    asyncio.run(main())


# ───────────────────────────── REST ─────────────────────────────

def _client(base_url, api_key):
    return openai.OpenAI(api_key=api_key, base_url=f"{base_url}/v1", max_retries=0)


def _models(base_url, api_key):
    raw = _client(base_url, api_key).models.with_raw_response.list()
    return json.loads(raw.http_response.text)


def test_models_list_is_strictly_valid(base_url, api_key):
    body = _models(base_url, api_key)
    assert set(body) == {"object", "data"} and body["object"] == "list", body
    assert body["data"]
    for m in body["data"]:
        check("model", Model, json.dumps(m))


def _transcribe(base_url, api_key, fixture="en_librivox_sense_0880.wav", translate=False, **kw):
    client = _client(base_url, api_key)
    api = client.audio.translations if translate else client.audio.transcriptions
    with open(FIXTURES / fixture, "rb") as f:
        raw = api.with_raw_response.create(file=f, **kw)
    return raw.http_response


def test_transcription_bodies_are_strictly_valid(base_url, api_key):
    r = _transcribe(base_url, api_key, model="auto", language="en")
    body = check("json", Transcription, r.text)
    assert body["text"].strip() and body["usage"]["type"] == "duration"

    # verbose_json from every installed engine that transcribes English
    engines = [m["id"] for m in _models(base_url, api_key)["data"]
               if m["id"] != "auto" and ("en" in (m.get("languages") or []) or not m.get("languages"))]
    for model in ["auto"] + engines:
        r = _transcribe(base_url, api_key, model=model, language="en", response_format="verbose_json",
                        timestamp_granularities=["word", "segment"])
        engine = r.headers["x-asr-router-model"]
        body = check("verbose_json", TranscriptionVerbose, r.text)
        assert body["task"] == "transcribe" and body["words"], body
        assert body["segments"], body
        for seg in body["segments"]:
            # real decoder values, never placeholders
            assert seg["tokens"], (engine, seg)
            assert "temperature" in seg, (engine, seg)
            for k in ("avg_logprob", "no_speech_prob", "compression_ratio"):
                assert seg.get(k) != 0.0, f"{engine}: {k} is a 0.0 placeholder: {seg}"
            if engine.startswith("whisper"):
                assert seg["avg_logprob"] < 0 and 0 < seg["no_speech_prob"] < 1, (engine, seg)

    # diarized_json: exactly the SDK's TranscriptionDiarized, no extension fields
    r = _transcribe(base_url, api_key, model="auto", language="en", response_format="diarized_json")
    body = check("diarized_json", TranscriptionDiarized, r.text)
    assert body["task"] == "transcribe" and body["segments"], body
    assert {s["speaker"] for s in body["segments"]} == {"A"}, body

    for fmt, ctype in [("text", "text/plain"), ("srt", "text/plain"), ("vtt", "text/vtt")]:
        r = _transcribe(base_url, api_key, model="auto", language="en", response_format=fmt)
        assert r.headers["content-type"].startswith(ctype), (fmt, r.headers)
        text = r.text
        if fmt == "srt":
            assert re.match(r"1\n\d\d:\d\d:\d\d,\d{3} --> \d\d:\d\d:\d\d,\d{3}\n\S", text), text
        elif fmt == "vtt":
            assert re.match(r"WEBVTT\n\n\d\d:\d\d:\d\d\.\d{3} --> \d\d:\d\d:\d\d\.\d{3}\n\S", text), text
        else:
            assert text.strip() and not text.lstrip().startswith("{"), text


def test_transcription_stream_events_are_strictly_valid(base_url, api_key):
    client = _client(base_url, api_key)
    with open(FIXTURES / "en_jfk.wav", "rb") as f:
        with client.audio.transcriptions.with_streaming_response.create(
                file=f, model="auto", language="en", stream=True) as r:
            lines = list(r.iter_lines())
    data = [l[len("data:"):].strip() for l in lines if l.startswith("data:")]
    assert data and data[-1] == "[DONE]", lines
    types = []
    for d in data[:-1]:
        t = json.loads(d)["type"]
        model = {"transcript.text.delta": TranscriptionTextDeltaEvent,
                 "transcript.text.done": TranscriptionTextDoneEvent}.get(t)
        assert model, f"no SDK model for stream event {t!r}: {d}"
        check(t, model, d)
        types.append(t)
    assert types[-1] == "transcript.text.done" and types.count("transcript.text.done") == 1, types


def test_translation_bodies_are_strictly_valid(base_url, api_key):
    r = _transcribe(base_url, api_key, translate=True, model="auto")
    if r.status_code != 200:
        pytest.skip(f"no engine here translates: {r.text}")
    check("translation.json", Translation, r.text)
    r = _transcribe(base_url, api_key, translate=True, model="auto", response_format="verbose_json")
    body = check("translation.verbose_json", TranslationVerbose, r.text)
    assert body["task"] == "translate" and body["segments"], body


def test_client_secret_bodies_are_strictly_valid(base_url, api_key):
    client = _client(base_url, api_key)
    raw = client.realtime.client_secrets.with_raw_response.create(
        expires_after={"anchor": "created_at", "seconds": 60},
        session={"type": "transcription", "audio": {"input": {
            "transcription": {"model": "auto", "language": "en"},
            "turn_detection": {"type": "server_vad", "silence_duration_ms": 500}}}})
    check("client_secrets", ga.ClientSecretCreateResponse, raw.http_response.text)

    # a preset with live speakers (extension) echoes `diarization` and stays strictly valid
    raw = client.realtime.client_secrets.with_raw_response.create(
        expires_after={"anchor": "created_at", "seconds": 60},
        session={"type": "transcription", "audio": {"input": {
            "transcription": {"model": "auto", "language": "en", "diarization": True}}}})
    body = check("client_secrets", ga.ClientSecretCreateResponse, raw.http_response.text)
    assert body["session"]["audio"]["input"]["transcription"]["diarization"] is True, body
    raw = client.beta.realtime.transcription_sessions.with_raw_response.create(
        extra_body={"input_audio_transcription": {"model": "whisper-1", "language": "en", "diarization": True}})
    body = check("transcription_sessions", TranscriptionSession, raw.http_response.text)
    assert body["input_audio_transcription"]["diarization"] is True, body

    raw = client.beta.realtime.transcription_sessions.with_raw_response.create(
        client_secret={"expires_at": {"anchor": "created_at", "seconds": 60}},
        input_audio_transcription={"model": "whisper-1", "language": "en"})
    body = check("transcription_sessions", TranscriptionSession, raw.http_response.text)
    assert body["client_secret"]["value"].startswith("ek_"), body
    assert body["input_audio_transcription"]["model"] == "whisper-1", body

    # the session a minted beta secret opens is strictly valid too, and its own client_secret is
    # the "none" object (the secret is not echoed back over the socket)
    async def main():
        s = await Socket.open(base_url, api_key, dialect="beta", token=body["client_secret"]["value"])
        created = await s.recv()
        assert created["session"]["input_audio_transcription"]["model"] == "whisper-1", created
        await s.close()
    asyncio.run(main())


def _request(base_url, path, method="GET", key=None, data=None, headers=None):
    h = dict(headers or {})
    if key is not None:
        h["Authorization"] = f"Bearer {key}"
    req = urllib.request.Request(f"{base_url}{path}", method=method, data=data, headers=h)
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, e.headers, e.read().decode()


def _multipart(fields: dict, file_name="en_librivox_sense_0880.wav"):
    boundary = uuid.uuid4().hex
    parts = []
    for k, v in fields.items():
        for x in (v if isinstance(v, list) else [v]):
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{x}\r\n'.encode())
    audio = (FIXTURES / file_name).read_bytes()
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{file_name}"\r\n'
                 f'Content-Type: audio/wav\r\n\r\n'.encode() + audio + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def test_error_bodies_are_strictly_valid(base_url, api_key):
    # wrong method on a known route: 405 with a body, not an empty one
    for method, path in [("GET", "/v1/audio/transcriptions"), ("DELETE", "/v1/models"),
                         ("GET", "/v1/realtime/client_secrets")]:
        status, headers, text = _request(base_url, path, method=method, key=api_key)
        assert status == 405, (method, path, status, text)
        assert headers.get("content-type", "").startswith("application/json"), headers
        check_error_body(text, status, code="method_not_allowed")
    # unknown URL
    status, _, text = _request(base_url, "/v1/no/such/route", key=api_key)
    assert status == 404
    check_error_body(text, status)
    # wrong key
    status, _, text = _request(base_url, "/v1/models", key="sk-wrong")
    assert status == 401
    check_error_body(text, status, code="invalid_api_key")
    # missing model, bad response_format, logprobs asked for
    for fields, code, param in [
        ({}, "missing_required_parameter", "model"),
        ({"model": "auto", "response_format": "xml"}, "invalid_value", "response_format"),
        ({"model": "auto", "include[]": ["logprobs"]}, "invalid_value", "include"),
    ]:
        body, h = _multipart(fields)
        status, _, text = _request(base_url, "/v1/audio/transcriptions", method="POST", key=api_key,
                                   data=body, headers=h)
        assert status == 400, (fields, status, text)
        check_error_body(text, status, code=code, param=param)
    # client secret with an out-of-range lifetime
    status, _, text = _request(base_url, "/v1/realtime/client_secrets", method="POST", key=api_key,
                               data=json.dumps({"expires_after": {"anchor": "created_at", "seconds": 5}}).encode(),
                               headers={"Content-Type": "application/json"})
    assert status == 400
    check_error_body(text, status, param="expires_after.seconds")
