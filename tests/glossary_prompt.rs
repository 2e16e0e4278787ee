//! Glossary-conditioned decoding (`crate::finalize::bias`) through REST and a realtime session,
//! against a real server with the real Whisper models: a Chinese clip with a glossary of Latin
//! terms is decoded a second time with the glossary as the decoder prompt (counted in
//! `/metrics`), and not when the request does not call for it; an English clip is decoded again
//! but keeps its first decode when the prompted one names no more terms; a realtime final's
//! glossary stage ends at the realtime budget. No model output is written into the test.

mod common;

use common::{Server, transcribe_fixture as transcribe};
use serde_json::json;

/// Second decodes with the glossary prompt so far, kept and refused together.
async fn prompted(s: &Server) -> f64 {
    s.metric_total("asr_router_glossary_prompt_decodes_total").await
}

/// The value of one labelled series of `/metrics` (`name{labels}`), if it is there.
async fn series(s: &Server, name_and_labels: &str) -> Option<f64> {
    let prefix = format!("{name_and_labels} ");
    s.metrics()
        .await
        .lines()
        .find_map(|l| l.strip_prefix(&prefix)?.trim().parse().ok())
}

/// Second decodes whose result was not kept (0 before the first).
async fn refused(s: &Server) -> f64 {
    let refused = series(s, "asr_router_glossary_prompt_decodes_total{outcome=\"refused\"}").await;
    refused.unwrap_or(0.0)
}

/// Whether `text` (a JSON string) has Chinese characters.
fn has_han(text: &serde_json::Value) -> bool {
    text.as_str()
        .unwrap()
        .chars()
        .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
}

#[tokio::test]
async fn chinese_finals_are_decoded_again_with_the_glossary_as_prompt_unless_asked_not_to() {
    let s = Server::start("", &[]);
    let zh = "zh_aishell_BAC009S0724W0121.wav";
    let g = json!([{"term": "Zorblax", "lang": "en"}, {"term": "QuillStack", "lang": "en"}]).to_string();
    let strong = ("model", "whisper-base");
    let zh_lang = ("language", "zh");
    let verbose = ("response_format", "verbose_json");

    // a glossary, Chinese speech: one more decode, with the prompt; the answer still has the speech
    let cache = "asr_router_engine_encoder_cache_hits_total{engine=\"whisper-base\"}";
    assert_eq!(series(&s, cache).await.unwrap_or(0.0), 0.0, "no encoder pass saved yet");
    let (status, v) = transcribe(&s, zh, &[strong, zh_lang, verbose, ("glossary", &g)]).await;
    assert_eq!(status, 200, "{v}");
    assert!(has_han(&v["text"]), "{v}");
    assert_eq!(prompted(&s).await, 1.0, "one prompted second decode");
    // the prompted decode of the same audio reuses the first decode's encoder pass
    let saved = series(&s, cache).await.unwrap_or(0.0);
    assert!(
        saved >= 1.0,
        "the second decode is counted as an encoder pass saved: {saved}"
    );

    // the request turns it off; review=none turns it off; no glossary, nothing to prompt with
    for fields in [
        &[strong, zh_lang, ("glossary", &g), ("glossary_prompt", "false")][..],
        &[strong, zh_lang, ("glossary", &g), ("review", "none")][..],
        &[strong, zh_lang][..],
    ] {
        let (status, v) = transcribe(&s, zh, fields).await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(prompted(&s).await, 1.0, "no second decode for {fields:?}");
    }

    // English speech is decoded again too, but the first decode stays unless the prompted one
    // names the glossary's terms more often (neither invented name was spoken)
    let (_, first) = transcribe(&s, "en_jfk.wav", &[strong, ("glossary_prompt", "false")]).await;
    let refused_before = refused(&s).await;
    let (status, v) = transcribe(&s, "en_jfk.wav", &[strong, ("glossary", &g)]).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(prompted(&s).await, 2.0, "English: {v}");
    assert_eq!(refused(&s).await, refused_before + 1.0, "English: {v}");
    assert_eq!(v["text"], first["text"], "the first decode is kept");

    // a bad value is refused before any audio is decoded
    let (status, v) = transcribe(&s, zh, &[strong, ("glossary_prompt", "sometimes")]).await;
    assert_eq!(
        (status, v["error"]["param"].as_str()),
        (400, Some("glossary_prompt")),
        "{v}"
    );

    // the server's default can be off, and a request turns it back on
    let off = Server::start("[review]\nglossary_prompt = false\n", &[]);
    let (_, v) = transcribe(&off, zh, &[strong, zh_lang, ("glossary", &g)]).await;
    assert_eq!(prompted(&off).await, 0.0, "off by default: {v}");
    let (_, v) = transcribe(
        &off,
        zh,
        &[strong, zh_lang, ("glossary", &g), ("glossary_prompt", "true")],
    )
    .await;
    assert_eq!(prompted(&off).await, 1.0, "on for the request: {v}");
}

/// One committed utterance of the AISHELL clip through a realtime session with these
/// transcription settings (manual turns); the `completed` event.
async fn realtime_final(s: &Server, transcription: serde_json::Value) -> serde_json::Value {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    let quiet = std::time::Duration::from_secs(120);
    let mut ws = common::ws_connect(s).await;
    assert_eq!(
        common::next_event(&mut ws, quiet).await.unwrap()["type"],
        "session.created"
    );
    let update = json!({"type": "session.update", "session": {"type": "transcription",
        "audio": {"input": {"format": {"type": "audio/pcm", "rate": 16000},
            "transcription": transcription, "turn_detection": null}}}});
    ws.send(Message::Text(update.to_string().into())).await.unwrap();
    let ev = common::next_event(&mut ws, quiet).await.unwrap();
    assert_eq!(ev["type"], "session.updated", "{ev}");
    let (samples, _) = common::read_wav(&common::fixture("zh_aishell_BAC009S0724W0121.wav"));
    for c in common::pcm16(&samples).chunks(32_000) {
        ws.send(Message::Binary(c.to_vec().into())).await.unwrap();
    }
    ws.send(Message::Text(r#"{"type":"input_audio_buffer.commit"}"#.into()))
        .await
        .unwrap();
    loop {
        let ev = common::next_event(&mut ws, quiet).await.expect("a final");
        if ev["type"] == "conversation.item.input_audio_transcription.completed" {
            return ev;
        }
        assert_ne!(ev["type"], "error", "{ev}");
    }
}

#[tokio::test]
async fn realtime_sessions_take_the_glossary_prompt_extension() {
    // a budget every decode fits in on a slow box: the budget has its own test below
    let s = Server::start("[review]\nrealtime_budget_ms = 60000\n", &[]);
    let g = json!([{"term": "Zorblax", "lang": "en"}]);
    let mut t = json!({"model": "whisper-base", "language": "zh", "glossary": g, "glossary_prompt": false});
    let done = realtime_final(&s, t.clone()).await;
    assert_eq!(prompted(&s).await, 0.0, "glossary_prompt: false: {done}");
    // the server's default (on) when the extension is left out
    t.as_object_mut().unwrap().remove("glossary_prompt");
    let done = realtime_final(&s, t).await;
    assert!(has_han(&done["transcript"]), "{done}");
    assert_eq!(prompted(&s).await, 1.0, "one prompted second decode: {done}");
}

/// A realtime final waits for its glossary stage only up to `[review] realtime_budget_ms`: with
/// a budget no decode fits in, the first decode goes out, the prompted one is never counted, and
/// `/metrics` counts the final under `stage="glossary_decode"`.
#[tokio::test]
async fn a_realtime_glossary_stage_past_its_budget_sends_the_first_decode() {
    let s = Server::start("[review]\nrealtime_budget_ms = 1\n", &[]);
    let over = "asr_router_review_budget_exceeded_total{stage=\"glossary_decode\"}";
    assert_eq!(series(&s, over).await, Some(0.0), "the series is there from the start");
    let g = json!([{"term": "Zorblax", "lang": "en"}]);
    let done = realtime_final(&s, json!({"model": "whisper-base", "language": "zh", "glossary": g})).await;
    assert!(has_han(&done["transcript"]), "the first decode's text: {done}");
    assert_eq!(series(&s, over).await, Some(1.0), "{done}");
    assert_eq!(prompted(&s).await, 0.0, "the prompted decode never finished: {done}");
}
