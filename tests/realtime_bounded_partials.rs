//! Bounded-cost partials (`[realtime] partial_tail_s`) on a real server whose fast engine is
//! SenseVoice: the tiny random-weight stand-in built by `tools/sensevoice-parity-setup.sh`
//! (`ASR_ROUTER_SV_TINY`), since SenseVoice's real weights cannot be had here. Its text is
//! meaningless; what is checked is the audio each partial decodes (from the engine's exact
//! `/metrics` counters), which the tail window keeps bounded while whole re-decodes grow with the
//! utterance, and that the final still decodes the whole utterance. The splicing itself is
//! tested in `realtime::tail` and `realtime::session::turns`. Whisper drafts get the same with
//! `partial_tail_prompted` (their segments' times, the settled text as the prompt); that test
//! needs no stand-in.

mod common;

use std::time::Duration;

use common::{Server, fixture, next_event, pcm16, read_wav, ws_connect};
use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::Message;

fn standin() -> String {
    std::env::var("ASR_ROUTER_SV_TINY").expect(
        "ASR_ROUTER_SV_TINY is not set: run scripts/test (tools/sensevoice-parity-setup.sh builds the stand-in)",
    )
}

/// What one manual-commit session of 8 s of JFK at real-time pace cost the SenseVoice engine.
struct Cost {
    /// Partial decodes that ran.
    partials: f64,
    /// Audio they decoded, seconds.
    partial_audio_s: f64,
    /// `usage.seconds` of the final.
    final_s: f64,
}

async fn one_session(tail_s: f32) -> Cost {
    let config = format!(
        "[engines]\nsensevoice_dir = {:?}\n[realtime]\npartial_tail_s = {tail_s}\npartial_context_s = 0.5\n",
        standin()
    );
    session_cost(&config, "sensevoice-small", 8).await
}

/// The cost of one manual-commit session of the first `seconds` of JFK at real-time pace to
/// `engine` on a server with `config`.
async fn session_cost(config: &str, engine: &str, seconds: usize) -> Cost {
    let s = Server::start(config, &[]);
    let engine = format!("{{engine=\"{engine}\"}}");
    let mut ws = ws_connect(&s).await;
    let quiet = Duration::from_secs(30);
    assert_eq!(next_event(&mut ws, quiet).await.unwrap()["type"], "session.created");
    let setup = serde_json::json!({"type": "session.update", "session": {"type": "transcription",
        "partial_interval_ms": 200,
        "audio": {"input": {
            "format": {"type": "audio/pcm", "rate": 16000},
            "transcription": {"model": "auto", "language": "en"},
            "turn_detection": null}}}});
    ws.send(Message::Text(setup.to_string().into())).await.unwrap();
    assert_eq!(next_event(&mut ws, quiet).await.unwrap()["type"], "session.updated");

    // 8 s in 40 ms chunks at real-time pace: one open item in manual mode
    let (samples, rate) = read_wav(&fixture("en_jfk.wav"));
    assert_eq!(rate, 16_000);
    let pcm = pcm16(&samples[..seconds * 16_000]);
    let mut tick = tokio::time::interval(Duration::from_millis(40));
    for c in pcm.chunks(1280) {
        tick.tick().await;
        if let Err(e) = ws.send(Message::Binary(c.to_vec().into())).await {
            panic!("{e}; the server's log:\n{}", s.log());
        }
    }
    ws.send(Message::Text(r#"{"type":"input_audio_buffer.commit"}"#.into()))
        .await
        .unwrap();
    let final_s = loop {
        let ev = next_event(&mut ws, quiet)
            .await
            .unwrap_or_else(|| panic!("no completed event; the server's log:\n{}", s.log()));
        match ev["type"].as_str() {
            Some("conversation.item.input_audio_transcription.completed") => {
                break ev["usage"]["seconds"].as_f64().unwrap();
            }
            Some("conversation.item.input_audio_transcription.failed" | "error") => panic!("{ev}"),
            _ => {}
        }
    };
    let audio = s
        .metric(&format!("asr_router_engine_audio_seconds_total{engine}"))
        .await;
    let runs = s.metric(&format!("asr_router_engine_utterances{engine}")).await;
    Cost {
        partials: runs - 1.0,
        partial_audio_s: audio - final_s,
        final_s,
    }
}

/// Each session's final decoded the whole item of `seconds`, and at least five `what` (partials
/// or drafts) ran before it.
fn finals_heard_everything(costs: [&Cost; 2], seconds: f64, what: &str) {
    for c in costs {
        assert!(
            (c.final_s - seconds).abs() < 0.01,
            "the final decodes the whole item: {}",
            c.final_s
        );
        assert!(c.partials >= 5.0, "{what} ran: {}", c.partials);
    }
}

#[tokio::test]
async fn the_tail_window_bounds_what_a_partial_decodes_and_the_final_hears_everything() {
    let bounded = one_session(1.0).await;
    let whole = one_session(0.0).await;
    finals_heard_everything([&bounded, &whole], 8.0, "partials");
    let mean = |c: &Cost| c.partial_audio_s / c.partials;
    eprintln!(
        "audio per partial: bounded {:.2} s over {} partials, whole {:.2} s over {}",
        mean(&bounded),
        bounded.partials,
        mean(&whole),
        whole.partials
    );
    // whole re-decodes: the mean partial hears about half the item (it grows from 0.3 to 8 s)
    assert!(
        mean(&whole) > 3.0,
        "whole re-decodes: {:.2} s per partial",
        mean(&whole)
    );
    // the tail window: 0.5 s context + 1 s tail + the audio since the last settle
    assert!(
        mean(&bounded) < 2.5,
        "bounded partials: {:.2} s per partial",
        mean(&bounded)
    );
}

#[tokio::test]
async fn whisper_drafts_with_the_prompted_tail_decode_less_and_the_final_hears_everything() {
    // tiny.en drafts and finals; JFK's 11 s as one item, so that drafts have several segments
    let cfg = |on: bool| format!("[realtime]\npartial_tail_prompted = {on}\n");
    let bounded = session_cost(&cfg(true), "whisper-tiny.en", 11).await;
    let whole = session_cost(&cfg(false), "whisper-tiny.en", 11).await;
    let mean = |c: &Cost| c.partial_audio_s / c.partials;
    eprintln!(
        "audio per draft: prompted tail {:.2} s over {} drafts, whole {:.2} s over {}",
        mean(&bounded),
        bounded.partials,
        mean(&whole),
        whole.partials
    );
    finals_heard_everything([&bounded, &whole], 11.0, "drafts");
    // whole re-decodes hear ~5.3 s per draft here, the prompted tail 2.7–4.0 s (10 runs)
    assert!(
        mean(&bounded) < mean(&whole) * 0.9,
        "{:.2} vs {:.2}",
        mean(&bounded),
        mean(&whole)
    );
}
