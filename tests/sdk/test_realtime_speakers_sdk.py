"""Live speakers through the official openai Python SDK: a GA transcription session with the
extension `diarization: true` streams the LibriVox reader, JFK and the reader again; the SDK
parses every `conversation.item.input_audio_transcription.segment` into its own model, each item
with text gets one right before its `completed`, and the labels are stable: the reader's turns
share one, JFK has another."""
import asyncio

import openai
from openai.types.realtime import (
    ConversationItemInputAudioTranscriptionCompletedEvent,
    ConversationItemInputAudioTranscriptionSegment,
    InputAudioBufferSpeechStartedEvent,
)

from conftest import b64, pcm16, read_wav, resample

RATE = 24000


def three_turns(gap_s=3.0):
    """The reader, JFK, the reader again at 24 kHz with `gap_s` of silence after each; the
    clips' (start_ms, end_ms, voice) in the stream (voice 0: reader, 1: JFK)."""
    samples, clips = [0] * (RATE // 2), []
    for name, voice in [("en_librivox_sense_0870.wav", 0), ("en_jfk.wav", 1), ("en_librivox_sense_0880.wav", 0)]:
        s, rate = read_wav(name)
        start = len(samples) * 1000 // RATE
        samples += resample(s, rate, RATE)
        clips.append((start, len(samples) * 1000 // RATE, voice))
        samples += [0] * int(RATE * gap_s)
    return pcm16(samples), clips


def test_python_sdk_receives_segment_events_with_stable_speaker_labels(base_url, api_key):
    async def main():
        ws_base = base_url.replace("http://", "ws://") + "/v1"
        client = openai.AsyncOpenAI(api_key=api_key, base_url=f"{base_url}/v1", websocket_base_url=ws_base)
        audio, clips = three_turns()
        async with client.realtime.connect(model="auto", extra_query={"intent": "transcription"}) as conn:
            created = await asyncio.wait_for(conn.recv(), 30)
            assert created.type == "session.created", created
            await conn.send({"type": "session.update", "session": {"type": "transcription", "audio": {"input": {
                "format": {"type": "audio/pcm", "rate": RATE},
                "transcription": {"model": "auto", "language": "en", "diarization": True},
                "turn_detection": {"type": "server_vad", "silence_duration_ms": 1500}}}}})
            upd = await asyncio.wait_for(conn.recv(), 30)
            assert upd.type == "session.updated", upd
            assert upd.to_dict()["session"]["audio"]["input"]["transcription"]["diarization"] is True, upd

            async def send():
                step = RATE * 2 // 5
                for off in range(0, len(audio), step):
                    await conn.send({"type": "input_audio_buffer.append", "audio": b64(audio[off:off + step])})
            sender = asyncio.create_task(send())

            events, committed, finished = [], 0, 0
            while committed == 0 or finished < committed or not sender.done():
                ev = await asyncio.wait_for(conn.recv(), 120)
                assert ev.type not in ("error", "conversation.item.input_audio_transcription.failed"), ev
                if ev.type == "input_audio_buffer.committed":
                    committed += 1
                elif ev.type == "conversation.item.input_audio_transcription.completed":
                    finished += 1
                events.append(ev)
            await sender

        voice_of = {}
        for ev in events:
            if isinstance(ev, InputAudioBufferSpeechStartedEvent):
                at = ev.audio_start_ms + 300  # the prefix padding
                voice_of[ev.item_id] = next(v for s, e, v in clips if s - 200 <= at < e + 200)

        label_of = {}
        for i, ev in enumerate(events):
            if not isinstance(ev, ConversationItemInputAudioTranscriptionCompletedEvent) or not ev.transcript.strip():
                continue
            seg = events[i - 1]
            assert isinstance(seg, ConversationItemInputAudioTranscriptionSegment), (seg, ev)
            assert seg.item_id == ev.item_id and seg.content_index == 0, seg
            assert seg.id.startswith("seg_") and seg.text == ev.transcript, seg
            assert seg.start == 0.0 and abs(seg.end - ev.usage.seconds) < 0.01, (seg, ev.usage)
            assert ev.to_dict().get("speaker") == seg.speaker, ev
            label_of[seg.item_id] = seg.speaker

        reader = {label_of[i] for i in label_of if voice_of[i] == 0}
        jfk = {label_of[i] for i in label_of if voice_of[i] == 1}
        assert reader == {"A"}, (label_of, voice_of)
        assert jfk == {"B"}, (label_of, voice_of)
        assert sum(1 for i in label_of if voice_of[i] == 0) >= 2, (label_of, voice_of)
    asyncio.run(main())
