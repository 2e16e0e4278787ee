"""`response_format="diarized_json"` through the official openai Python SDK: two real voices come
back as the SDK's `TranscriptionDiarized` with two speakers, each turn heard as its speaker, and a
known speaker named by a reference clip sent as a data URL."""
import base64

import openai
import pytest
from openai.types.audio import TranscriptionDiarized

from conftest import read_wav, two_speaker_wav, wav_bytes, wer


@pytest.fixture()
def client(base_url, api_key):
    return openai.OpenAI(api_key=api_key, base_url=f"{base_url}/v1", max_retries=0)


def _speaker_of(segments, a: float, b: float) -> str:
    """The speaker covering most of [a, b)."""
    cover = {}
    for s in segments:
        cover[s.speaker] = cover.get(s.speaker, 0.0) + max(0.0, min(s.end, b) - max(s.start, a))
    return max(cover, key=cover.get)


def test_two_voices_are_two_speakers(client):
    wav, turns, text = two_speaker_wav()
    t = client.audio.transcriptions.create(
        file=("meeting.wav", wav, "audio/wav"), model="auto", language="en",
        response_format="diarized_json")
    assert isinstance(t, TranscriptionDiarized), type(t)
    assert t.task == "transcribe"
    assert abs(t.duration - turns[-1][1]) < 0.02, t.duration
    assert t.usage is not None and t.usage.type == "duration"
    assert {s.speaker for s in t.segments} == {"A", "B"}, t.segments
    assert all(s.type == "transcript.text.segment" and s.end > s.start and s.text for s in t.segments)
    assert len({s.id for s in t.segments}) == len(t.segments)
    labels = [_speaker_of(t.segments, a, b) for a, b, _ in turns]
    assert labels == ["A", "B", "A", "B"], (labels, t.segments)
    assert wer(text, t.text) <= 0.3, t.text
    jfk = " ".join(s.text for s in t.segments if s.speaker == "B").lower()
    assert "fellow americans" in jfk, jfk


def test_a_known_speaker_is_named(client):
    wav, turns, _ = two_speaker_wav()
    jfk, rate = read_wav("en_jfk.wav")
    ref = "data:audio/wav;base64," + base64.b64encode(wav_bytes(jfk[: 4 * rate], rate)).decode()
    t = client.audio.transcriptions.create(
        file=("meeting.wav", wav, "audio/wav"), model="auto", language="en",
        response_format="diarized_json",
        known_speaker_names=["jfk"], known_speaker_references=[ref])
    labels = [_speaker_of(t.segments, a, b) for a, b, _ in turns]
    assert labels == ["A", "jfk", "A", "jfk"], (labels, t.segments)


def test_diarized_translation_is_refused(client):
    wav, _, _ = two_speaker_wav()
    with pytest.raises(openai.BadRequestError) as e:
        client.audio.translations.create(
            file=("meeting.wav", wav, "audio/wav"), model="auto",
            extra_body={"response_format": "diarized_json"})
    assert e.value.body["param"] == "response_format", e.value.body
