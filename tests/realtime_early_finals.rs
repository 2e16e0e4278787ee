//! Early finals (`[realtime] early_finals`) on a real server: the default tiny.en engine and
//! Silero VAD, JFK's speech streamed with server VAD. A final started in the speaker's pause
//! must be the final a commit-time decode gives, and the server must use such decodes where the
//! pause did end the turn (`/metrics`). The turn engine's announcement of the likely final and
//! the finalizer's use of it are unit-tested in `realtime::session::{turns, early}`.

mod common;

use std::time::Duration;

use common::{Server, fixture, next_event, pcm16, read_wav, ws_connect};
use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::Message;

/// What a session of JFK gave: its transcripts in commit order, and the server's early-final
/// counters (started, used) afterwards.
struct Run {
    transcripts: Vec<String>,
    started: f64,
    used: f64,
}

/// Streams JFK (then 1.5 s of silence, so that its last turn ends) at twice real-time pace to a
/// server with `early_finals` set as given and partials off (so the engine is idle in pauses),
/// and collects every final.
async fn jfk_session(early_finals: bool) -> Run {
    let s = Server::start(
        &format!("[realtime]\nearly_finals = {early_finals}\npartial_interval_ms = 0\n"),
        &[],
    );
    let mut ws = ws_connect(&s).await;
    let quiet = Duration::from_secs(30);
    assert_eq!(next_event(&mut ws, quiet).await.unwrap()["type"], "session.created");
    let setup = serde_json::json!({"type": "session.update", "session": {"type": "transcription",
        "audio": {"input": {
            "format": {"type": "audio/pcm", "rate": 16000},
            "transcription": {"model": "auto", "language": "en"},
            "turn_detection": {"type": "server_vad"}}}}});
    ws.send(Message::Text(setup.to_string().into())).await.unwrap();
    assert_eq!(next_event(&mut ws, quiet).await.unwrap()["type"], "session.updated");

    let (mut samples, rate) = read_wav(&fixture("en_jfk.wav"));
    assert_eq!(rate, 16_000);
    samples.extend(std::iter::repeat_n(0.0, 24_000));
    let pcm = pcm16(&samples);
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    for c in pcm.chunks(1280) {
        tick.tick().await;
        ws.send(Message::Binary(c.to_vec().into())).await.unwrap();
    }
    // every committed item gets its final; read until the socket has been quiet for a while
    let (mut committed, mut transcripts) = (0, Vec::new());
    while let Some(ev) = next_event(&mut ws, Duration::from_secs(5)).await {
        match ev["type"].as_str() {
            Some("input_audio_buffer.committed") => committed += 1,
            Some("conversation.item.input_audio_transcription.completed") => {
                transcripts.push(ev["transcript"].as_str().unwrap().to_string())
            }
            Some("conversation.item.input_audio_transcription.failed" | "error") => {
                panic!("{ev}; the server's log:\n{}", s.log())
            }
            _ => {}
        }
    }
    assert_eq!(transcripts.len(), committed, "a final for every committed item");
    let counter = |outcome: &str| format!("asr_router_realtime_early_finals_total{{outcome=\"{outcome}\"}}");
    Run {
        transcripts,
        started: s.metric(&counter("started")).await,
        used: s.metric(&counter("used")).await,
    }
}

#[tokio::test]
async fn finals_started_in_the_pause_are_the_finals_a_commit_gives() {
    let late = jfk_session(false).await;
    let early = jfk_session(true).await;
    assert!(
        late.transcripts.len() >= 2,
        "JFK's pauses end several turns: {:?}",
        late.transcripts
    );
    assert_eq!((late.started, late.used), (0.0, 0.0), "off means off");
    eprintln!(
        "{} finals; early finals started {}, used {}",
        early.transcripts.len(),
        early.started,
        early.used
    );
    assert_eq!(
        early.transcripts, late.transcripts,
        "the same finals, started sooner or not"
    );
    assert!(
        early.used >= 1.0 && early.used <= early.started,
        "turns that ended in a pause took its early final: started {}, used {}",
        early.started,
        early.used
    );
    assert!(
        early.used <= early.transcripts.len() as f64,
        "at most one early final per item is used"
    );
}
