//! Live speakers against the real server and the real GE2E model: a session with the extension
//! `diarization: true` streams the LibriVox reader, JFK, then the reader again (another
//! sentence), with silences that end each turn; every completed item gets one
//! `conversation.item.input_audio_transcription.segment` right before its `completed`, the two
//! voices get two labels, and the reader's two turns share one. Without a speaker model the
//! extension is refused naming the param, in both dialects, and the session goes on.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use common::{Server, Ws, fixture, next_event, pcm16, read_wav, ws_connect};
use futures_util::SinkExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const SEGMENT: &str = "conversation.item.input_audio_transcription.segment";
const COMPLETED: &str = "conversation.item.input_audio_transcription.completed";

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

async fn next(ws: &mut Ws) -> Value {
    next_event(ws, Duration::from_secs(30)).await.expect("an event")
}

/// The reader, JFK and the reader again, each followed by `gap_s` of silence; the clips'
/// `(start_ms, end_ms, voice)` in the stream (voice 0: reader, 1: JFK).
fn three_turns(gap_s: f64) -> (Vec<f32>, Vec<(u64, u64, usize)>) {
    let mut samples = vec![0.0f32; 8_000];
    let mut clips = Vec::new();
    for (id, voice) in [
        ("en_librivox_sense_0870", 0),
        ("en_jfk", 1),
        ("en_librivox_sense_0880", 0),
    ] {
        let (s, rate) = read_wav(&fixture(&format!("{id}.wav")));
        assert_eq!(rate, 16_000);
        let start = samples.len() as u64 / 16;
        samples.extend(s);
        clips.push((start, samples.len() as u64 / 16, voice));
        samples.extend(std::iter::repeat_n(0.0, (gap_s * 16_000.0) as usize));
    }
    (samples, clips)
}

fn update(transcription: Value) -> Value {
    json!({"type": "session.update", "event_id": "evt_setup", "session": {"type": "transcription",
        "audio": {"input": {
            "format": {"type": "audio/pcm", "rate": 16000},
            "transcription": transcription,
            "turn_detection": {"type": "server_vad", "silence_duration_ms": 1500}}}}})
}

#[tokio::test(flavor = "multi_thread")]
async fn two_voices_get_two_stable_labels_in_segment_events_before_completed() {
    let s = Server::start("", &[]);
    let mut ws = ws_connect(&s).await;
    assert_eq!(next(&mut ws).await["type"], "session.created");
    send(
        &mut ws,
        update(json!({"model": "auto", "language": "en", "diarization": true})),
    )
    .await;
    let updated = next(&mut ws).await;
    assert_eq!(updated["type"], "session.updated", "{updated}");
    assert_eq!(
        updated["session"]["audio"]["input"]["transcription"]["diarization"],
        true
    );

    let (samples, clips) = three_turns(3.0);
    for c in pcm16(&samples).chunks(32_000) {
        ws.send(Message::Binary(c.to_vec().into())).await.unwrap();
    }

    // read until every committed item is completed (or failed)
    let mut events = Vec::new();
    let (mut committed, mut finished) = (0, 0);
    while committed == 0 || finished < committed {
        let Some(v) = next_event(&mut ws, Duration::from_secs(90)).await else {
            panic!("stream ended: {committed} committed, {finished} finished; {events:?}")
        };
        match v["type"].as_str().unwrap_or_default() {
            "input_audio_buffer.committed" => committed += 1,
            COMPLETED | "conversation.item.input_audio_transcription.failed" => finished += 1,
            "error" => panic!("{v}"),
            _ => {}
        }
        events.push(v);
    }

    // which clip each item came from: the clip its speech started in
    let mut voice_of: HashMap<String, usize> = HashMap::new();
    for e in events
        .iter()
        .filter(|e| e["type"] == "input_audio_buffer.speech_started")
    {
        // audio_start_ms includes the 300 ms prefix padding
        let at = e["audio_start_ms"].as_u64().unwrap() + 300;
        let voice = clips
            .iter()
            .find(|(s, e, _)| (s.saturating_sub(200)..e + 200).contains(&at))
            .map(|c| c.2)
            .unwrap_or_else(|| panic!("speech at {at} ms is in no clip {clips:?}"));
        voice_of.insert(e["item_id"].as_str().unwrap().to_string(), voice);
    }

    // per item: one segment, right before its completed, with the same speaker and text
    let mut label_of: HashMap<String, String> = HashMap::new();
    for (i, e) in events.iter().enumerate().filter(|(_, e)| e["type"] == COMPLETED) {
        let item = e["item_id"].as_str().unwrap();
        if e["transcript"].as_str().unwrap().trim().is_empty() {
            continue;
        }
        let seg = &events[i - 1];
        assert_eq!(
            (seg["type"].as_str(), seg["item_id"].as_str()),
            (Some(SEGMENT), Some(item)),
            "the segment comes right before its completed: {events:?}"
        );
        assert_eq!(seg["content_index"], 0);
        assert!(seg["id"].as_str().unwrap().starts_with("seg_"), "{seg}");
        assert_eq!(seg["text"], e["transcript"]);
        assert_eq!(seg["speaker"], e["speaker"], "completed carries the label too");
        let (start, end) = (seg["start"].as_f64().unwrap(), seg["end"].as_f64().unwrap());
        assert_eq!(start, 0.0);
        assert!(
            (end - e["usage"]["seconds"].as_f64().unwrap()).abs() < 0.01,
            "the segment spans the item: {seg} {e}"
        );
        label_of.insert(item.to_string(), seg["speaker"].as_str().unwrap().to_string());
    }
    let segments = events.iter().filter(|e| e["type"] == SEGMENT).count();
    assert_eq!(segments, label_of.len(), "one segment per item with text");

    // the voices' labels
    let mut by_voice: [BTreeSet<&str>; 2] = Default::default();
    for (item, label) in &label_of {
        by_voice[voice_of[item]].insert(label.as_str());
    }
    assert!(
        by_voice.iter().all(|l| !l.is_empty()),
        "both voices labelled: {label_of:?}"
    );
    assert_eq!(
        by_voice[0].len(),
        1,
        "the reader's turns share one label: {label_of:?} {voice_of:?}"
    );
    assert_eq!(by_voice[1].len(), 1, "JFK has one label: {label_of:?}");
    assert_ne!(by_voice[0], by_voice[1], "two voices, two labels");
    let first = events.iter().find(|e| e["type"] == SEGMENT).unwrap();
    assert_eq!(first["speaker"], "A", "labels are OpenAI's letters by first appearance");
    assert_eq!(by_voice[0].iter().next(), Some(&"A"), "the reader speaks first");
    assert_eq!(by_voice[1].iter().next(), Some(&"B"));
    // the reader came back in a later item with the same label
    let reader_items = voice_of.values().filter(|v| **v == 0).count();
    assert!(reader_items >= 2, "{voice_of:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_speaker_model_diarization_is_refused_naming_the_param() {
    // the installed models minus the speaker model
    let models = common::ModelsWithout::new(&["speaker"]);
    let s = Server::start("", &["--models", models.path()]);
    let mut ws = ws_connect(&s).await;
    assert_eq!(next(&mut ws).await["type"], "session.created");
    send(&mut ws, update(json!({"language": "en", "diarization": true}))).await;
    let e = next(&mut ws).await;
    assert_eq!(e["type"], "error", "{e}");
    assert_eq!(e["error"]["param"], "session.audio.input.transcription.diarization");
    assert_eq!(e["error"]["code"], "speaker_model_missing");
    assert_eq!(e["error"]["event_id"], "evt_setup");
    let msg = e["error"]["message"].as_str().unwrap();
    assert!(msg.contains("speaker/ge2e.onnx"), "{msg}");

    // beta dialect: its own path
    send(
        &mut ws,
        json!({"type": "transcription_session.update", "session": {
            "input_audio_transcription": {"diarization": true}}}),
    )
    .await;
    let e = next(&mut ws).await;
    assert_eq!(
        (e["type"].as_str(), e["error"]["param"].as_str()),
        (Some("error"), Some("session.input_audio_transcription.diarization")),
        "{e}"
    );

    // nothing changed, and the session goes on: diarization off is accepted, JFK transcribed
    send(&mut ws, update(json!({"language": "en", "diarization": false}))).await;
    let u = next(&mut ws).await;
    assert_eq!(u["type"], "session.updated", "{u}");
    assert_eq!(u["session"]["audio"]["input"]["transcription"]["diarization"], false);
    let (jfk, _) = read_wav(&fixture("en_jfk.wav"));
    let mut audio = jfk;
    audio.extend(std::iter::repeat_n(0.0, 40_000));
    for c in pcm16(&audio).chunks(32_000) {
        ws.send(Message::Binary(c.to_vec().into())).await.unwrap();
    }
    let mut texts = Vec::new();
    while let Some(v) = next_event(&mut ws, Duration::from_secs(15)).await {
        assert_ne!(v["type"], SEGMENT, "{v}");
        if v["type"] == COMPLETED {
            assert!(v.get("speaker").is_none(), "{v}");
            texts.push(v["transcript"].as_str().unwrap().to_string());
        }
    }
    let heard = texts.join(" ").to_lowercase();
    assert!(heard.contains("country"), "{heard}");
}
