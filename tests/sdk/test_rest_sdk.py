"""The official openai Python SDK against the server's REST API."""
import openai
import pytest

from conftest import FIXTURES, reference, wer


@pytest.fixture()
def client(base_url, api_key):
    return openai.OpenAI(api_key=api_key, base_url=f"{base_url}/v1", max_retries=0)


def test_jfk_json(client):
    with open(FIXTURES / "en_jfk.wav", "rb") as f:
        t = client.audio.transcriptions.create(file=f, model="whisper-1")
    assert wer(reference("en_jfk"), t.text) <= 0.15, t.text


def test_formats_and_words(client):
    with open(FIXTURES / "en_librivox_sense_0870.wav", "rb") as f:
        srt = client.audio.transcriptions.create(file=f, model="whisper-base", response_format="srt")
    assert isinstance(srt, str) and srt.startswith("1\n00:00:0")
    with open(FIXTURES / "en_jfk.wav", "rb") as f:
        v = client.audio.transcriptions.create(
            file=f, model="whisper-base", language="en", response_format="verbose_json",
            timestamp_granularities=["word", "segment"])
    assert v.language == "english"
    assert len(v.words) >= 15 and v.segments
    assert all(w.end >= w.start for w in v.words)


def test_stream(client):
    with open(FIXTURES / "en_jfk.wav", "rb") as f:
        events = list(client.audio.transcriptions.create(file=f, model="auto", language="en", stream=True))
    types = [e.type for e in events]
    assert "transcript.text.delta" in types and types[-1] == "transcript.text.done", types
    assert wer(reference("en_jfk"), events[-1].text) <= 0.15


def test_translation(client):
    with open(FIXTURES / "zh_aishell_BAC009S0724W0121.wav", "rb") as f:
        t = client.audio.translations.create(file=f, model="whisper-1")
    assert t.text and t.text.isascii(), t.text


def test_errors_are_sdk_exceptions(client, base_url):
    bad = openai.OpenAI(api_key="sk-wrong", base_url=f"{base_url}/v1", max_retries=0)
    with open(FIXTURES / "en_jfk.wav", "rb") as f, pytest.raises(openai.AuthenticationError):
        bad.audio.transcriptions.create(file=f, model="whisper-1")
    with open(FIXTURES / "en_jfk.wav", "rb") as f, pytest.raises(openai.BadRequestError) as e:
        client.audio.transcriptions.create(file=f, model="no-such-model")
    assert "whisper-base" in str(e.value)
    with pytest.raises(openai.BadRequestError):
        client.audio.transcriptions.create(file=("x.mp3", b"\x00garbage" * 100), model="whisper-1")
    models = [m.id for m in client.models.list()]
    assert "whisper-base" in models and "auto" in models


def test_glossary_review_through_the_sdk(client):
    """The review extensions ride in `extra_body`, as an SDK user sends them. No model output is
    written here: a word the model really wrote becomes a misrecognition of a made-up term."""
    import json
    import re

    def create(**extra):
        with open(FIXTURES / "en_jfk.wav", "rb") as f:
            return client.audio.transcriptions.create(
                file=f, model="auto", language="en", response_format="verbose_json", extra_body=extra)

    # glossary terms send the clip to the strong engine (docs/api.md), so the unreviewed text to
    # compare with comes from the strong engine too
    raw = create(review="none", quality="high")
    assert (raw.model_extra or {}).get("raw_text") is None, "review=none: no audit trail"
    heard = max(re.findall(r"[A-Za-z]{4,}", raw.text), key=len)
    glossary = [{"term": "Zorblax", "lang": "en", "misrecognitions": [heard]}]
    v = create(glossary=json.dumps(glossary))
    extra = v.model_extra or {}
    assert "Zorblax" in v.text and heard not in v.text, (heard, v.text)
    assert extra["raw_text"] == raw.text
    assert any(e["to"] == "Zorblax" and e["term"] == "Zorblax" for e in extra["edits"]), extra["edits"]
    with open(FIXTURES / "en_jfk.wav", "rb") as f, pytest.raises(openai.BadRequestError) as e:
        client.audio.transcriptions.create(file=f, model="auto", extra_body={"review": "gpt"})
    assert e.value.body["param"] == "review", e.value.body
