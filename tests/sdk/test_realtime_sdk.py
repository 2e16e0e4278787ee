"""Realtime transcription with the official openai Python SDK (GA and beta) and a raw WebSocket
client, streaming real recordings at real-time pace."""
import asyncio
import json
import re
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import openai
import pytest
import websockets
import websockets.exceptions

from conftest import FIXTURES, b64, normalize, pcm16, pcm24k, prefix_letter_edits, read_wav, reference, resample, ulaw_encode, wer

CHUNK_MS = 40


def ga_update(fmt=None, turn_detection="server", language="en"):
    td = {"type": "server_vad", "silence_duration_ms": 500} if turn_detection == "server" else None
    return {"type": "session.update", "session": {"type": "transcription", "audio": {"input": {
        "format": fmt or {"type": "audio/pcm", "rate": 24000},
        "transcription": {"model": "auto", "language": language},
        "turn_detection": td}}}}


async def send_paced(send, audio: bytes, bytes_per_chunk: int, binary=False):
    t0 = time.monotonic()
    for i, off in enumerate(range(0, len(audio), bytes_per_chunk)):
        chunk = audio[off:off + bytes_per_chunk]
        if binary:
            await send(chunk)
        else:
            await send({"type": "input_audio_buffer.append", "audio": b64(chunk)})
        delay = t0 + (i + 1) * CHUNK_MS / 1000 - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)


class Collector:
    """Records server events with arrival times and checks per-item order."""

    def __init__(self):
        self.events = []

    def add(self, ev: dict):
        ev["_t"] = time.monotonic()
        self.events.append(ev)

    def of(self, t):
        return [e for e in self.events if e["type"] == t]

    def completed(self):
        return self.of("conversation.item.input_audio_transcription.completed")

    def check_items(self):
        items = [e["item_id"] for e in self.of("input_audio_buffer.committed")]
        assert items, [e["type"] for e in self.events]
        for item in items:
            seq = [e["type"] for e in self.events if e.get("item_id") == item]
            order = [t for t in seq if t in ("input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped",
                                             "input_audio_buffer.committed",
                                             "conversation.item.input_audio_transcription.completed")]
            assert order == sorted(order, key=["input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped",
                                               "input_audio_buffer.committed",
                                               "conversation.item.input_audio_transcription.completed"].index), seq
            deltas = "".join(e["delta"] for e in self.events if e.get("item_id") == item and e["type"].endswith(".delta"))
            final = next(e["transcript"] for e in self.completed() if e["item_id"] == item)
            d = normalize(deltas)
            # The final is authoritative and may revise the partials (e.g. add a first word the
            # drafts missed), so the deltas must be close to a prefix of it, not equal.
            if d:
                # Edit distance in letters to the closest prefix of the final: at most two, or a
                # third of a longer partial. Letters, not words: a draft of the first second may
                # hear "what you are" where the whole turn decodes "what your country", which is
                # one sound and two words apart.
                best = prefix_letter_edits(deltas, final)
                assert best <= max(2, 0.34 * len("".join(d))), f"deltas {deltas!r} are not close to a prefix of the final {final!r}"
        return items


async def collect_until(conn_iter, col: Collector, sender: asyncio.Task, timeout: float = 120):
    """Collects events until the audio is all sent and every started item has completed."""
    def done():
        started = len(col.of("input_audio_buffer.speech_started"))
        finished = len(col.completed()) + len(col.of("conversation.item.input_audio_transcription.failed"))
        return sender.done() and started > 0 and finished >= started

    async def run():
        # The last final may arrive before the sender finishes; then no further event comes, so
        # wake up on the sender too, not only on events.
        it = conn_iter.__aiter__()
        nxt = asyncio.ensure_future(it.__anext__())
        try:
            while True:
                await asyncio.wait({nxt, sender}, return_when=asyncio.FIRST_COMPLETED)
                if nxt.done():
                    col.add(nxt.result())
                    if done():
                        return
                    nxt = asyncio.ensure_future(it.__anext__())
                elif done():
                    return
                else:
                    # sender finished, items still open: only events can end the wait now
                    col.add(await nxt)
                    if done():
                        return
                    nxt = asyncio.ensure_future(it.__anext__())
        finally:
            if not nxt.done():
                nxt.cancel()
    await asyncio.wait_for(run(), timeout)


async def stream_sdk(conn, audio, col: Collector):
    """Streams PCM16 at real-time pace through an SDK connection while collecting its events,
    until the audio is sent and every started item has finished."""
    async def events():
        async for ev in conn:
            yield as_dict(ev)
    sender = asyncio.create_task(send_paced(conn.send, audio, 24000 * 2 * CHUNK_MS // 1000))
    await collect_until(events(), col, sender)
    await sender


def as_dict(ev):
    return ev.model_dump(exclude_none=True) if hasattr(ev, "model_dump") else ev




def test_python_sdk_ga_live_partials_and_finals(base_url, api_key):
    async def main():
        ws_base = base_url.replace("http://", "ws://") + "/v1"
        client = openai.AsyncOpenAI(api_key=api_key, base_url=f"{base_url}/v1", websocket_base_url=ws_base)
        col = Collector()
        async with client.realtime.connect(model="auto", extra_query={"intent": "transcription"}) as conn:
            first = as_dict(await conn.recv())
            assert first["type"] == "session.created", first
            await conn.send(ga_update())
            upd = as_dict(await conn.recv())
            assert upd["type"] == "session.updated", upd
            assert upd["session"]["audio"]["input"]["transcription"]["language"] == "en"
            audio = pcm24k("en_jfk.wav") + pcm24k("en_librivox_sense_0870.wav")

            await stream_sdk(conn, audio, col)
        col.check_items()
        text = " ".join(e["transcript"] for e in col.completed())
        assert wer(reference("en_jfk") + " " + reference("en_librivox_sense_0870"), text) <= 0.2, text
        # partials arrived while the speaker was still talking
        first_stop = col.of("input_audio_buffer.speech_stopped")[0]
        early = [e for e in col.events if e["type"].endswith(".delta") and e["_t"] < first_stop["_t"]]
        assert early, "no delta before speech_stopped"
        assert all(e["usage"]["type"] == "duration" for e in col.completed())
    asyncio.run(main())


def test_python_sdk_beta(base_url, api_key):
    async def main():
        ws_base = base_url.replace("http://", "ws://") + "/v1"
        client = openai.AsyncOpenAI(api_key=api_key, base_url=f"{base_url}/v1", websocket_base_url=ws_base)
        col = Collector()
        async with client.beta.realtime.connect(model="auto", extra_query={"intent": "transcription"}) as conn:
            first = as_dict(await conn.recv())
            assert first["type"] == "transcription_session.created", first
            await conn.send({"type": "transcription_session.update", "session": {
                "input_audio_format": "pcm16",
                "input_audio_transcription": {"model": "whisper-1", "language": "en"},
                "turn_detection": {"type": "server_vad", "silence_duration_ms": 500}}})
            upd = as_dict(await conn.recv())
            assert upd["type"] == "transcription_session.updated", upd
            assert upd["session"]["input_audio_format"] == "pcm16"

            await stream_sdk(conn, pcm24k("en_librivox_sense_0870.wav"), col)
        col.check_items()
        text = " ".join(e["transcript"] for e in col.completed())
        assert wer(reference("en_librivox_sense_0870"), text) <= 0.2, text
    asyncio.run(main())


def test_python_sdk_ga_delay_sets_how_many_drafts_must_agree(base_url, api_key):
    """OpenAI's `delay` through the SDK: with drafts 1.5 s apart, `xhigh` (four drafts must agree
    on a word) sends no delta before any of JFK's turns (each under 4 s) has ended, where
    `minimal` (one draft) sends words while they are spoken. The finals are the same."""
    async def session(delay):
        ws_base = base_url.replace("http://", "ws://") + "/v1"
        client = openai.AsyncOpenAI(api_key=api_key, base_url=f"{base_url}/v1", websocket_base_url=ws_base)
        col = Collector()
        async with client.realtime.connect(model="auto", extra_query={"intent": "transcription"}) as conn:
            assert as_dict(await conn.recv())["type"] == "session.created"
            update = ga_update()
            update["session"]["audio"]["input"]["transcription"]["delay"] = delay
            update["session"]["partial_interval_ms"] = 1500
            await conn.send(update)
            upd = as_dict(await conn.recv())
            assert upd["type"] == "session.updated", upd
            assert upd["session"]["audio"]["input"]["transcription"]["delay"] == delay
            await stream_sdk(conn, pcm24k("en_jfk.wav"), col)
        return col

    def deltas_while_speaking(col):
        stopped = {e["item_id"]: e["_t"] for e in col.of("input_audio_buffer.speech_stopped")}
        return [e for e in col.of("conversation.item.input_audio_transcription.delta")
                if e["_t"] < stopped.get(e["item_id"], float("inf"))]

    async def main():
        return await asyncio.gather(session("minimal"), session("xhigh"))
    minimal, xhigh = asyncio.run(main())
    assert deltas_while_speaking(minimal), [e["type"] for e in minimal.events]
    assert not deltas_while_speaking(xhigh), deltas_while_speaking(xhigh)
    xhigh.check_items()
    for col in (minimal, xhigh):
        text = " ".join(e["transcript"] for e in col.completed())
        assert wer(reference("en_jfk"), text) <= 0.2, text


# ───────────── the glossary review on reviewed finals (issue 13) ─────────────

async def commit_and_wait(conn, audio: bytes):
    """Appends `audio` (no pacing: the session is in manual-commit mode), commits it and returns
    the item's `completed` event as a dict (fails on an `error` or `failed`)."""
    for off in range(0, len(audio), 24000 * 2):
        await conn.send({"type": "input_audio_buffer.append", "audio": b64(audio[off:off + 24000 * 2])})
    await conn.send({"type": "input_audio_buffer.commit"})
    while True:
        ev = as_dict(await asyncio.wait_for(conn.recv(), 120))
        assert ev["type"] not in ("error", "conversation.item.input_audio_transcription.failed"), ev
        if ev["type"] == "conversation.item.input_audio_transcription.completed":
            return ev


async def next_update(conn, kind: str):
    ev = as_dict(await asyncio.wait_for(conn.recv(), 30))
    assert ev["type"] == kind, ev
    return ev


def made_up_term(transcript: str):
    """The longest word the model actually wrote, and a glossary that names it a
    misrecognition of the made-up term `Zorblax` (no model writes that on its own)."""
    word = max(re.findall(r"[A-Za-z]{5,}", transcript), key=len)
    return word, [{"term": "Zorblax", "misrecognitions": [word], "lang": "en"}]


def assert_reviewed(done: dict, word: str):
    assert "Zorblax" in done["transcript"], done
    assert word in done["raw_transcript"], done
    assert done["edits"][0]["to"] == "Zorblax", done
    assert done["edits"][0]["from"].lower() == word.lower(), done


def test_python_sdk_ga_glossary_extension_reviews_the_final(base_url, api_key):
    """A GA session with an inline `glossary`: the final carries the term, the recognizer's text
    rides in `raw_transcript` and the edit in `edits`."""
    async def main():
        ws_base = base_url.replace("http://", "ws://") + "/v1"
        client = openai.AsyncOpenAI(api_key=api_key, base_url=f"{base_url}/v1", websocket_base_url=ws_base)
        audio = pcm24k("en_jfk.wav", silence_s=0.3)
        async with client.realtime.connect(model="auto", extra_query={"intent": "transcription"}) as conn:
            await next_update(conn, "session.created")

            def update(**transcription):
                return {"type": "session.update", "session": {"type": "transcription", "audio": {"input": {
                    "transcription": {"model": "auto", "language": "en", **transcription},
                    "turn_detection": None}}}}
            await conn.send(update(review="none"))
            upd = await next_update(conn, "session.updated")
            assert upd["session"]["audio"]["input"]["transcription"]["review"] == "none", upd
            plain = await commit_and_wait(conn, audio)
            assert "raw_transcript" not in plain and "edits" not in plain, plain
            word, glossary = made_up_term(plain["transcript"])

            # a glossary the server does not have refuses the whole update
            await conn.send({**update(glossary=glossary, glossary_id="no-such-glossary"), "event_id": "evt_g"})
            err = await next_update(conn, "error")
            assert err["error"]["param"] == "session.audio.input.transcription.glossary_id", err
            assert err["error"]["event_id"] == "evt_g", err

            await conn.send(update(glossary=glossary, review="glossary"))
            upd = await next_update(conn, "session.updated")
            echoed = upd["session"]["audio"]["input"]["transcription"]
            assert echoed["review"] == "glossary" and "glossary" not in echoed, upd
            done = await commit_and_wait(conn, audio)
        assert_reviewed(done, word)
    asyncio.run(main())


def test_python_sdk_beta_glossary_extension_reviews_the_final(base_url, api_key):
    async def main():
        ws_base = base_url.replace("http://", "ws://") + "/v1"
        client = openai.AsyncOpenAI(api_key=api_key, base_url=f"{base_url}/v1", websocket_base_url=ws_base)
        audio = pcm24k("en_jfk.wav", silence_s=0.3)
        async with client.beta.realtime.connect(model="auto", extra_query={"intent": "transcription"}) as conn:
            await next_update(conn, "transcription_session.created")

            def update(**transcription):
                return {"type": "transcription_session.update", "session": {
                    "input_audio_format": "pcm16", "turn_detection": None,
                    "input_audio_transcription": {"model": "whisper-1", "language": "en", **transcription}}}
            await conn.send(update(review="none"))
            await next_update(conn, "transcription_session.updated")
            plain = await commit_and_wait(conn, audio)
            word, glossary = made_up_term(plain["transcript"])
            # `review: null` goes back to the server's default review (`glossary`)
            await conn.send(update(glossary=glossary, review=None))
            upd = await next_update(conn, "transcription_session.updated")
            assert "glossary" not in upd["session"]["input_audio_transcription"], upd
            done = await commit_and_wait(conn, audio)
        assert_reviewed(done, word)
    asyncio.run(main())


def raw_url(base_url):
    return base_url.replace("http://", "ws://") + "/v1/realtime?intent=transcription"


async def raw_session(base_url, api_key, **kw):
    ws = await websockets.connect(raw_url(base_url), additional_headers={"Authorization": f"Bearer {api_key}"},
                                  max_size=None, **kw)
    created = json.loads(await ws.recv())
    assert created["type"] == "session.created"
    return ws


async def next_of(ws, t, timeout=60):
    async def run():
        while True:
            ev = json.loads(await ws.recv())
            if ev["type"] == t:
                return ev
            if ev["type"] == "error" and t != "error":
                raise AssertionError(ev)
    return await asyncio.wait_for(run(), timeout)


def test_manual_commit_and_errors(base_url, api_key):
    async def main():
        ws = await raw_session(base_url, api_key)
        await ws.send(json.dumps(ga_update(turn_detection=None)))
        upd = await next_of(ws, "session.updated")
        assert upd["session"]["audio"]["input"]["turn_detection"] is None
        # commit with nothing buffered
        await ws.send(json.dumps({"type": "input_audio_buffer.commit", "event_id": "c1"}))
        err = await next_of(ws, "error")
        assert err["error"]["code"] == "input_audio_buffer_commit_empty" and err["error"]["event_id"] == "c1"
        # clear is acknowledged
        await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": b64(b"\x00" * 4800)}))
        await ws.send(json.dumps({"type": "input_audio_buffer.clear"}))
        await next_of(ws, "input_audio_buffer.cleared")
        # no VAD: the whole buffer is one item at commit time (no pacing needed)
        await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": b64(pcm24k("en_librivox_sense_0880.wav", 0.2))}))
        await ws.send(json.dumps({"type": "input_audio_buffer.commit"}))
        committed = await next_of(ws, "input_audio_buffer.committed")
        done = await next_of(ws, "conversation.item.input_audio_transcription.completed")
        assert done["item_id"] == committed["item_id"]
        assert wer(reference("en_librivox_sense_0880"), done["transcript"]) <= 0.3, done  # 8 words, tiny.en
        # bad inputs keep the socket open
        for bad, code in [
            ("{not json", "invalid_json"),
            (json.dumps({"type": "no.such.event"}), "invalid_value"),
            (json.dumps({"type": "input_audio_buffer.append", "audio": "@@not base64@@"}), "invalid_value"),
            (json.dumps({"type": "input_audio_buffer.append"}), "missing_required_parameter"),
            (json.dumps({"type": "session.update", "session": {"type": "transcription", "audio": {"input": {"turn_detection": {"type": "server_vad", "threshold": "high"}}}}}), "invalid_type"),
            (json.dumps({"type": "session.update", "session": {"type": "transcription", "audio": {"input": {"format": {"type": "audio/pcm", "rate": 44100}}}}}), None),
            (json.dumps({"type": "session.update", "session": {"type": "transcription", "audio": {"input": {"transcription": {"model": "no-such-model"}}}}}), "invalid_model"),
            # an English-only model asked for Chinese: refused from the model's abilities, as REST does
            (json.dumps({"type": "session.update", "session": {"type": "transcription", "audio": {"input": {"transcription": {"model": "whisper-tiny.en", "language": "zh"}}}}}), "invalid_value"),
            (json.dumps({"type": "response.create"}), None),
        ]:
            await ws.send(bad)
            err = await next_of(ws, "error")
            assert err["error"]["message"], err
            if code:
                assert err["error"]["code"] == code, (bad, err)
        await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": b64(pcm24k("en_librivox_sense_0880.wav", 0.2))}))
        await ws.send(json.dumps({"type": "input_audio_buffer.commit"}))
        done = await next_of(ws, "conversation.item.input_audio_transcription.completed")
        assert wer(reference("en_librivox_sense_0880"), done["transcript"]) <= 0.3
        await ws.close()
    asyncio.run(main())


def test_g711_ulaw_and_pcm16k(base_url, api_key):
    async def main():
        s, rate = read_wav("en_librivox_sense_0870.wav")
        ulaw = bytes(ulaw_encode(x) for x in resample(s, rate, 8000) + [0] * 12000)
        ws = await raw_session(base_url, api_key)
        await ws.send(json.dumps(ga_update(fmt={"type": "audio/pcmu"})))
        await next_of(ws, "session.updated")
        await send_paced(lambda m: ws.send(json.dumps(m)), ulaw, 8000 * CHUNK_MS // 1000)
        done = await next_of(ws, "conversation.item.input_audio_transcription.completed")
        assert wer(reference("en_librivox_sense_0870"), done["transcript"]) <= 0.3, done
        await ws.close()
        # 16 kHz PCM (extension) sent as binary frames (extension)
        ws = await raw_session(base_url, api_key)
        await ws.send(json.dumps(ga_update(fmt={"type": "audio/pcm", "rate": 16000})))
        await next_of(ws, "session.updated")
        audio = pcm16(s + [0] * 24000)
        await send_paced(ws.send, audio, 16000 * 2 * CHUNK_MS // 1000, binary=True)
        done = await next_of(ws, "conversation.item.input_audio_transcription.completed")
        assert wer(reference("en_librivox_sense_0870"), done["transcript"]) <= 0.2, done
        await ws.close()
    asyncio.run(main())


def ogg_packets(data: bytes):
    out, partial, off = [], b"", 0
    while off < len(data):
        assert data[off:off + 4] == b"OggS"
        nseg = data[off + 26]
        lacing = data[off + 27: off + 27 + nseg]
        p = off + 27 + nseg
        for l in lacing:
            partial += data[p:p + l]
            p += l
            if l < 255:
                out.append(partial)
                partial = b""
        off = p
    return out


def test_opus_raw_packets_and_ogg_stream(base_url, api_key):
    with tempfile.TemporaryDirectory() as d:
        src = FIXTURES / "en_librivox_sense_0870.wav"
        opus = f"{d}/a.opus"
        subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(src), "-af", "apad=pad_dur=1.5", "-c:a", "libopus",
                        "-b:a", "24k", "-frame_duration", "20", opus], check=True)
        data = open(opus, "rb").read()

    async def main():
        # raw packets, one per binary frame
        ws = await raw_session(base_url, api_key)
        await ws.send(json.dumps(ga_update(fmt={"type": "audio/opus", "container": "raw"})))
        await next_of(ws, "session.updated")
        packets = [p for p in ogg_packets(data) if not p.startswith(b"OpusHead") and not p.startswith(b"OpusTags")]
        for p in packets:
            await ws.send(p)
            await asyncio.sleep(0.01)
        done = await next_of(ws, "conversation.item.input_audio_transcription.completed")
        assert wer(reference("en_librivox_sense_0870"), done["transcript"]) <= 0.2, done
        await ws.close()
        # an Ogg/Opus byte stream in base64 appends of arbitrary size
        ws = await raw_session(base_url, api_key)
        await ws.send(json.dumps(ga_update(fmt={"type": "audio/opus", "container": "ogg"})))
        await next_of(ws, "session.updated")
        for off in range(0, len(data), 1000):
            await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": b64(data[off:off + 1000])}))
            await asyncio.sleep(0.01)
        done = await next_of(ws, "conversation.item.input_audio_transcription.completed")
        assert wer(reference("en_librivox_sense_0870"), done["transcript"]) <= 0.2, done
        await ws.close()
    asyncio.run(main())


def live_sessions(base_url, api_key) -> int:
    req = urllib.request.Request(f"{base_url}/metrics", headers={"Authorization": f"Bearer {api_key}"})
    body = urllib.request.urlopen(req).read().decode()
    return int(next(l.split()[-1] for l in body.splitlines() if l.startswith("asr_router_live_sessions ")))


def test_auth_subprotocol_ephemeral_oversize_and_disconnect(base_url, api_key):
    async def main():
        # wrong key: refused at the handshake
        with pytest.raises(websockets.exceptions.InvalidStatus) as e:
            await websockets.connect(raw_url(base_url), additional_headers={"Authorization": "Bearer sk-wrong"})
        assert e.value.response.status_code == 401
        # browser-style subprotocol auth: the server answers with exactly `realtime`
        ws = await websockets.connect(raw_url(base_url), subprotocols=["realtime", f"openai-insecure-api-key.{api_key}"])
        assert ws.subprotocol == "realtime"
        assert json.loads(await ws.recv())["type"] == "session.created"
        await ws.close()
        # an ephemeral secret works and does not contain the key
        req = urllib.request.Request(f"{base_url}/v1/realtime/client_secrets", method="POST",
                                     data=json.dumps({"expires_after": {"anchor": "created_at", "seconds": 60},
                                                      "session": {"type": "transcription"}}).encode(),
                                     headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"})
        secret = json.loads(urllib.request.urlopen(req).read())
        assert secret["value"].startswith("ek_") and secret["value"] != api_key
        if len(api_key) >= 12:
            assert api_key not in json.dumps(secret)
        ws = await websockets.connect(raw_url(base_url), subprotocols=["realtime", f"openai-insecure-api-key.{secret['value']}"])
        assert json.loads(await ws.recv())["type"] == "session.created"
        await ws.close()
        # an oversize frame closes that socket (1009), the server keeps serving
        ws = await raw_session(base_url, api_key)
        huge = json.dumps({"type": "input_audio_buffer.append", "audio": "A" * (22 * 1024 * 1024)})
        with pytest.raises(websockets.exceptions.ConnectionClosed):
            await ws.send(huge)
            await asyncio.wait_for(ws.recv(), 10)
        # disconnect mid-utterance: no leaked session
        ws = await raw_session(base_url, api_key)
        await ws.send(json.dumps(ga_update()))
        audio = pcm24k("en_jfk.wav", 0)
        await send_paced(lambda m: ws.send(json.dumps(m)), audio[: len(audio) // 3], 1920)
        ws.transport.abort()  # abrupt: no close frame
        for _ in range(50):
            if live_sessions(base_url, api_key) == 0:
                break
            await asyncio.sleep(0.1)
        assert live_sessions(base_url, api_key) == 0
        ws = await raw_session(base_url, api_key)
        await ws.close()
    asyncio.run(main())


def test_idle_timeout_and_semantic_vad(base_url, api_key):
    async def main():
        ws = await raw_session(base_url, api_key)
        upd = {"type": "session.update", "session": {"type": "transcription", "audio": {"input": {
            "turn_detection": {"type": "server_vad", "idle_timeout_ms": 1000}}}}}
        await ws.send(json.dumps(upd))
        await next_of(ws, "session.updated")
        # 1.6 s of silence: one timeout_triggered, no speech
        await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": b64(bytes(24000 * 2 * 16 // 10))}))
        ev = await next_of(ws, "input_audio_buffer.timeout_triggered", timeout=10)
        assert ev["audio_end_ms"] - ev["audio_start_ms"] >= 1000
        # semantic_vad is accepted and reported back
        await ws.send(json.dumps({"type": "session.update", "session": {"type": "transcription", "audio": {"input": {
            "turn_detection": {"type": "semantic_vad", "eagerness": "high"}}}}}))
        upd = await next_of(ws, "session.updated")
        assert upd["session"]["audio"]["input"]["turn_detection"]["type"] == "semantic_vad"
        await ws.close()
    asyncio.run(main())


def assert_rest_refuses(base_url, secret):
    """An ephemeral secret opens realtime sessions only: every REST endpoint answers 401."""
    client = openai.OpenAI(api_key=secret, base_url=f"{base_url}/v1", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as e:
        with open(FIXTURES / "en_librivox_sense_0880.wav", "rb") as f:
            client.audio.transcriptions.create(file=f, model="whisper-1")
    assert "realtime" in e.value.message, e.value.message
    with pytest.raises(openai.AuthenticationError):
        client.models.list()
    # a secret cannot mint its own successor (that would outlive its expiry)
    with pytest.raises(openai.AuthenticationError):
        client.realtime.client_secrets.create(expires_after={"anchor": "created_at", "seconds": 600})
    with pytest.raises(openai.AuthenticationError):
        client.beta.realtime.transcription_sessions.create()
    req = urllib.request.Request(f"{base_url}/metrics", headers={"Authorization": f"Bearer {secret}"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req)
    assert e.value.code == 401
    e.value.close()


async def assert_ws_refuses(base_url, token):
    with pytest.raises(websockets.exceptions.InvalidStatus) as e:
        await websockets.connect(raw_url(base_url), additional_headers={"Authorization": f"Bearer {token}"})
    assert e.value.response.status_code == 401
    with pytest.raises(websockets.exceptions.InvalidStatus) as e:
        await websockets.connect(raw_url(base_url), subprotocols=["realtime", f"openai-insecure-api-key.{token}"])
    assert e.value.response.status_code == 401


def test_python_sdk_beta_ephemeral_transcription_session(base_url, api_key):
    """`client.beta.realtime.transcription_sessions.create` mints an `ek_` secret; the beta SDK
    connects with it as its API key, gets the minted configuration, and transcribes."""
    client = openai.OpenAI(api_key=api_key, base_url=f"{base_url}/v1")
    t0 = int(time.time())
    raw = client.beta.realtime.transcription_sessions.with_raw_response.create(
        client_secret={"expires_at": {"anchor": "created_at", "seconds": 120}},
        input_audio_format="pcm16",
        input_audio_transcription={"model": "whisper-1", "language": "en"},
        turn_detection={"type": "server_vad", "silence_duration_ms": 500},
    )
    assert raw.http_response.status_code == 200
    body = raw.http_response.text
    sess = raw.parse()
    secret = sess.client_secret.value
    assert secret.startswith("ek_") and len(secret) >= 20 and secret != api_key
    assert t0 + 110 <= sess.client_secret.expires_at <= int(time.time()) + 121, (t0, sess.client_secret)
    # the body never reveals the main key
    assert api_key and api_key not in body and api_key not in secret
    # the session object echoes what was asked for
    assert sess.input_audio_format == "pcm16"
    assert sess.input_audio_transcription.language == "en"
    assert sess.turn_detection.type == "server_vad" and sess.turn_detection.silence_duration_ms == 500
    assert json.loads(body)["object"] == "realtime.transcription_session"

    async def main():
        ws_base = base_url.replace("http://", "ws://") + "/v1"
        browser = openai.AsyncOpenAI(api_key=secret, base_url=f"{base_url}/v1", websocket_base_url=ws_base)
        col = Collector()
        async with browser.beta.realtime.connect(model="auto", extra_query={"intent": "transcription"}) as conn:
            first = as_dict(await conn.recv())
            assert first["type"] == "transcription_session.created", first
            # the session starts with the configuration the secret was minted with
            assert first["session"]["input_audio_transcription"]["language"] == "en", first
            assert first["session"]["turn_detection"]["silence_duration_ms"] == 500, first

            # no session update: the minted configuration is the one in force
            await stream_sdk(conn, pcm24k("en_jfk.wav"), col)
        col.check_items()
        text = " ".join(e["transcript"] for e in col.completed())
        assert wer(reference("en_jfk"), text) <= 0.2, text
        assert all(e["transcript"].strip() for e in col.completed())
        # a made-up secret of the right shape is refused at the handshake
        await assert_ws_refuses(base_url, "ek_" + "A1b2C3d4E5" * 4)
        await assert_ws_refuses(base_url, "ek_")
    asyncio.run(main())
    assert_rest_refuses(base_url, secret)


def test_python_sdk_ga_client_secret(base_url, api_key):
    """GA: `client.realtime.client_secrets.create` mints a secret with a session; the GA SDK
    connects with it, gets that session, and transcribes a real recording."""
    client = openai.OpenAI(api_key=api_key, base_url=f"{base_url}/v1")
    t0 = int(time.time())
    raw = client.realtime.client_secrets.with_raw_response.create(
        expires_after={"anchor": "created_at", "seconds": 300},
        session={"type": "transcription", "audio": {"input": {
            "format": {"type": "audio/pcm", "rate": 24000},
            "transcription": {"model": "gpt-4o-mini-transcribe", "language": "en"},
            "turn_detection": {"type": "server_vad", "silence_duration_ms": 500}}}},
    )
    body = raw.http_response.text
    cs = raw.parse()
    assert cs.value.startswith("ek_") and cs.value != api_key
    assert t0 + 290 <= cs.expires_at <= int(time.time()) + 301, (t0, cs.expires_at)
    assert api_key and api_key not in body
    assert cs.session.type == "transcription"
    assert cs.session.audio.input.transcription.language == "en"
    # out-of-range lifetimes are refused with OpenAI's error shape
    with pytest.raises(openai.BadRequestError) as e:
        client.realtime.client_secrets.create(expires_after={"anchor": "created_at", "seconds": 5})
    assert e.value.body["param"] == "expires_after.seconds", e.value.body
    # a preset this server cannot serve is refused when minted, not after a session opens
    with pytest.raises(openai.BadRequestError) as e:
        client.realtime.client_secrets.create(session={"type": "transcription", "audio": {"input": {
            "transcription": {"model": "auto", "glossary_id": "no-such-glossary"}}}})
    assert e.value.body["param"] == "session.audio.input.transcription.glossary_id", e.value.body
    assert e.value.body["code"] == "invalid_value", e.value.body
    with pytest.raises(openai.BadRequestError) as e:
        client.beta.realtime.transcription_sessions.create(
            extra_body={"input_audio_transcription": {"model": "whisper-1", "glossary_id": "no-such-glossary"}})
    assert e.value.body["param"] == "input_audio_transcription.glossary_id", e.value.body

    async def main():
        ws_base = base_url.replace("http://", "ws://") + "/v1"
        browser = openai.AsyncOpenAI(api_key=cs.value, base_url=f"{base_url}/v1", websocket_base_url=ws_base)
        col = Collector()
        async with browser.realtime.connect(model="auto", extra_query={"intent": "transcription"}) as conn:
            first = as_dict(await conn.recv())
            assert first["type"] == "session.created", first
            assert first["session"]["audio"]["input"]["transcription"]["language"] == "en", first

            await stream_sdk(conn, pcm24k("en_librivox_sense_0870.wav"), col)
        col.check_items()
        text = " ".join(e["transcript"] for e in col.completed())
        assert wer(reference("en_librivox_sense_0870"), text) <= 0.2, text
    asyncio.run(main())
    assert_rest_refuses(base_url, cs.value)
