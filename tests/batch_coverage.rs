//! A file window whose decode leaves most of its speech out: on the first 23 s of the
//! code-switched meeting of the shared terminology set
//! (`../shared/eval/terminology/meetings/mtg_mx_a.wav`), `whisper-base` writes the first sentence
//! (13 characters for 21 s of talk) and stops. The batch pipeline decodes that window again in
//! pieces cut at its pauses (`asr_router::finalize::coverage`); over REST, with the real model.
//! A live final of the same talk (one manually committed item of a realtime session) stopped the
//! same way until its finals got the same check. And on the English meeting, the window that
//! begins at 30.2 s ends its last segment at "it runs fine," and drops the sentence after it,
//! which the tail check hears again.

mod common;

use std::time::Duration;

use common::{Server, next_event, pcm16, read_wav, ws_connect};
use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::Message;

/// Redecoded windows whose pieces replaced the first decode.
const KEPT: &str = r#"asr_router_window_redecodes_total{outcome="kept"}"#;

/// Window tails decoded on their own and appended.
const TAILS: &str = r#"asr_router_window_tail_decodes_total{outcome="kept"}"#;

/// The code-switched meeting's first 23 s, where `whisper-base` writes one sentence and stops.
fn first_23_s() -> Vec<f32> {
    let (samples, rate) = read_wav(&common::shared_eval("terminology/meetings/mtg_mx_a.wav"));
    assert_eq!(rate, 16_000);
    samples[..23 * 16_000].to_vec()
}

#[tokio::test]
async fn a_window_whose_text_is_too_short_for_its_speech_is_decoded_again_in_pieces() {
    let s = Server::start("", &[]);
    // one window: a file of 30 s or less is decoded whole
    let clip = std::env::temp_dir().join(format!("mtg_mx_a_23s_{}.wav", std::process::id()));
    std::fs::write(&clip, common::wav_bytes(&first_23_s(), 16_000)).unwrap();
    let fields = [("model", "whisper-base"), ("response_format", "verbose_json")];
    let (status, v) = common::transcribe_path(&s, &clip, &fields).await;
    let _ = std::fs::remove_file(&clip);
    assert_eq!(status, 200, "{v}");
    let text = v["text"].as_str().unwrap();
    // spoken between 10 and 20 s: "那个 OOM 的问题呢？ 是 JVM 的 heap 设小了，已经改了"
    assert!(text.contains("问题呢") && text.contains("已经改了"), "{v}");
    // the talk is in the segments, not only its first sentence
    let segments = v["segments"].as_array().expect("segments");
    assert!(segments.len() >= 3, "{} segments: {v}", segments.len());
    assert!(s.metric(KEPT).await >= 1.0, "{}", s.log());
}

#[tokio::test]
async fn speech_after_a_windows_last_segment_is_decoded_on_its_own() {
    let s = Server::start("", &[]);
    let meeting = common::shared_eval("terminology/meetings/mtg_en_a.wav");
    let fields = [("model", "whisper-base"), ("response_format", "verbose_json")];
    let (status, v) = common::transcribe_path(&s, &meeting, &fields).await;
    assert_eq!(status, 200, "{v}");
    let text = v["text"].as_str().unwrap().to_lowercase();
    // "Also, the ONNX export of the ranking model is ready, and it runs fine in INT8 on the CPU.
    // Nice." — the window's decode stops after "it runs fine,"
    assert!(text.contains("runs fine") && text.contains("on the cpu"), "{v}");
    assert_eq!(text.matches("runs fine").count(), 1, "{v}");
    assert!(s.metric(TAILS).await >= 1.0, "{}", s.log());
}

#[tokio::test]
async fn a_live_final_too_short_for_its_speech_is_decoded_again_in_pieces() {
    let s = Server::start("", &[]);
    let mut ws = ws_connect(&s).await;
    let quiet = Duration::from_secs(120);
    assert_eq!(next_event(&mut ws, quiet).await.unwrap()["type"], "session.created");
    let setup = serde_json::json!({"type": "session.update", "session": {"type": "transcription",
        "audio": {"input": {
            "format": {"type": "audio/pcm", "rate": 16000},
            "transcription": {"model": "whisper-base"},
            "turn_detection": null}}}});
    ws.send(Message::Text(setup.to_string().into())).await.unwrap();
    assert_eq!(next_event(&mut ws, quiet).await.unwrap()["type"], "session.updated");
    // the first 23 s as one item: whisper-base alone writes its first sentence (13 characters)
    for c in pcm16(&first_23_s()).chunks(32_000) {
        ws.send(Message::Binary(c.to_vec().into())).await.unwrap();
    }
    ws.send(Message::Text(r#"{"type":"input_audio_buffer.commit"}"#.into()))
        .await
        .unwrap();
    let done = loop {
        let ev = next_event(&mut ws, quiet)
            .await
            .unwrap_or_else(|| panic!("no completed event; the server's log:\n{}", s.log()));
        match ev["type"].as_str() {
            Some("conversation.item.input_audio_transcription.completed") => break ev,
            Some("conversation.item.input_audio_transcription.failed" | "error") => panic!("{ev}"),
            _ => {}
        }
    };
    let text = done["transcript"].as_str().unwrap();
    // spoken between 10 and 20 s, after the first sentence
    assert!(text.contains("问题呢") && text.contains("已经改了"), "{done}");
    assert!(s.metric(KEPT).await >= 1.0, "{}", s.log());
}
