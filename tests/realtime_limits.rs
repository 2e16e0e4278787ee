//! Realtime limits against a real server: the session cap (close 1013), the session length cap
//! (`session_expired`, close 1001, after the speech it accepted is transcribed), and the
//! live-session gauge after abrupt disconnects, an oversize message (close 1009), and the work of a
//! client that left (cancelled, not decoded for nobody).

mod common;

use std::time::Duration;

use common::{Server, Ws, fixture, next_event, pcm16, read_to_close, read_wav, reference, wer, ws_connect};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

async fn next_json(ws: &mut Ws) -> Option<serde_json::Value> {
    next_event(ws, Duration::from_secs(20)).await
}

async fn connect(s: &Server) -> Ws {
    ws_connect(s).await
}

async fn close_code(ws: &mut Ws) -> Option<CloseCode> {
    read_to_close(ws).await.0
}

#[tokio::test]
async fn session_cap_expiry_and_cleanup() {
    let s = Server::start("[realtime]\nmax_sessions = 2\nmax_session_s = 3\n", &[]);
    let mut a = connect(&s).await;
    assert_eq!(next_json(&mut a).await.unwrap()["type"], "session.created");
    let mut b = connect(&s).await;
    assert_eq!(next_json(&mut b).await.unwrap()["type"], "session.created");
    // the third is refused cleanly: close 1013 (try again later)
    let mut c = connect(&s).await;
    assert_eq!(close_code(&mut c).await, Some(CloseCode::Again));
    let metrics = s.metrics().await;
    assert!(metrics.contains("asr_router_sessions_refused_total 1"), "{metrics}");

    // abrupt disconnect frees the slot
    drop(b);
    for _ in 0..50 {
        if s.metric("asr_router_live_sessions").await == 1.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(s.metric("asr_router_live_sessions").await, 1.0);

    // the session length cap: error session_expired, then close 1001
    a.send(Message::Text(r#"{"type":"input_audio_buffer.clear"}"#.into()))
        .await
        .unwrap();
    let mut saw_expired = false;
    let code = loop {
        match tokio::time::timeout(Duration::from_secs(20), a.next()).await.unwrap() {
            Some(Ok(Message::Text(t))) => {
                let v: serde_json::Value = serde_json::from_str(t.as_str()).unwrap();
                if v["type"] == "error" && v["error"]["code"] == "session_expired" {
                    saw_expired = true;
                }
            }
            Some(Ok(Message::Close(f))) => break f.map(|f| f.code),
            Some(Ok(_)) => {}
            other => panic!("unexpected end {other:?}"),
        }
    };
    assert!(saw_expired);
    assert_eq!(code, Some(CloseCode::Away));
    for _ in 0..50 {
        if s.metric("asr_router_live_sessions").await == 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(s.metric("asr_router_live_sessions").await, 0.0);
}

#[tokio::test]
async fn expiry_transcribes_the_speech_it_accepted_first() {
    let s = Server::start("[realtime]\nmax_session_s = 4\n", &[]);
    let mut ws = connect(&s).await;
    assert_eq!(next_json(&mut ws).await.unwrap()["type"], "session.created");
    let setup = serde_json::json!({"type": "session.update", "session": {"type": "transcription",
        "audio": {"input": {
            "format": {"type": "audio/pcm", "rate": 16000},
            "transcription": {"model": "auto", "language": "en"},
            "turn_detection": {"type": "server_vad", "silence_duration_ms": 500}}}}});
    ws.send(Message::Text(setup.to_string().into())).await.unwrap();
    assert_eq!(next_json(&mut ws).await.unwrap()["type"], "session.updated");

    // All of JFK at once and no trailing silence: the last utterance is still open when the
    // 4 s cap hits, and earlier ones may still be decoding.
    let (samples, rate) = read_wav(&fixture("en_jfk.wav"));
    assert_eq!(rate, 16_000);
    let pcm = pcm16(&samples);
    for c in pcm.chunks(32_000) {
        ws.send(Message::Binary(c.to_vec().into())).await.unwrap();
    }

    let (mut started, mut texts, mut expired_after) = (0, Vec::new(), None);
    let code = loop {
        match tokio::time::timeout(Duration::from_secs(60), ws.next()).await.unwrap() {
            Some(Ok(Message::Text(t))) => {
                let v: serde_json::Value = serde_json::from_str(t.as_str()).unwrap();
                match v["type"].as_str().unwrap_or_default() {
                    "input_audio_buffer.speech_started" => started += 1,
                    "conversation.item.input_audio_transcription.completed" => {
                        texts.push(v["transcript"].as_str().unwrap().to_string())
                    }
                    "error" => {
                        assert_eq!(v["error"]["code"], "session_expired", "{v}");
                        expired_after = Some(texts.len());
                    }
                    _ => {}
                }
            }
            Some(Ok(Message::Close(f))) => break f.map(|f| f.code),
            Some(Ok(_)) => {}
            other => panic!("unexpected end {other:?}"),
        }
    };
    assert_eq!(code, Some(CloseCode::Away));
    assert!(started > 0);
    // every utterance was transcribed, all before the expiry error
    assert_eq!(texts.len(), started, "completed {texts:?} of {started} utterances");
    assert_eq!(
        expired_after,
        Some(started),
        "session_expired must come after the finals"
    );
    let heard = texts.join(" ");
    let e = wer(&reference("en_jfk"), &heard);
    assert!(e < 0.35, "WER {e} for {heard:?}");
}

#[tokio::test]
async fn an_oversize_message_closes_with_1009_and_an_error() {
    // max_append_bytes = 3000 gives a frame limit of 3000 * 4/3 + 64 KiB
    let s = Server::start("[realtime]\nmax_append_bytes = 3000\n", &[]);
    let mut ws = connect(&s).await;
    assert_eq!(next_json(&mut ws).await.unwrap()["type"], "session.created");
    ws.send(Message::Binary(vec![0u8; 200_000].into())).await.unwrap();
    let (code, events) = read_to_close(&mut ws).await;
    assert_eq!(code, Some(CloseCode::Size), "events {events:?}; log:\n{}", s.log());
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "error" && e["error"]["code"] == "invalid_value"),
        "an error event says why: {events:?}"
    );
}

#[tokio::test]
async fn work_of_a_departed_client_is_cancelled() {
    // One worker on the strong engine: ten 11 s utterances are far more than it decodes before
    // the client leaves, so some of them are still queued then.
    let s = Server::start("[engines]\nworkers_per_engine = 1\n", &[]);
    let mut ws = connect(&s).await;
    assert_eq!(next_json(&mut ws).await.unwrap()["type"], "session.created");
    let setup = serde_json::json!({"type": "session.update", "session": {"type": "transcription",
        "audio": {"input": {
            "format": {"type": "audio/pcm", "rate": 16000},
            "transcription": {"model": "whisper-base", "language": "en"},
            "turn_detection": null}}}});
    ws.send(Message::Text(setup.to_string().into())).await.unwrap();
    assert_eq!(next_json(&mut ws).await.unwrap()["type"], "session.updated");
    let (samples, _) = read_wav(&fixture("en_jfk.wav"));
    let pcm = pcm16(&samples);
    let commit = r#"{"type":"input_audio_buffer.commit"}"#;
    for _ in 0..10 {
        for c in pcm.chunks(64_000) {
            ws.send(Message::Binary(c.to_vec().into())).await.unwrap();
        }
        ws.send(Message::Text(commit.into())).await.unwrap();
    }
    let mut committed = 0;
    while committed < 10 {
        let ev = next_json(&mut ws).await.expect("events until the tenth commit");
        if ev["type"] == "input_audio_buffer.committed" {
            committed += 1;
        }
    }
    drop(ws);
    let cancelled = r#"asr_router_engine_cancelled{engine="whisper-base"}"#;
    let abandoned = r#"asr_router_engine_abandoned{engine="whisper-base"}"#;
    let utterances = r#"asr_router_engine_utterances{engine="whisper-base"}"#;
    // the engine settles: every one of the ten is decoded, cancelled or abandoned
    let mut settled = (0.0, 0.0, 0.0);
    for _ in 0..600 {
        settled = (
            s.metric(cancelled).await,
            s.metric(abandoned).await,
            s.metric(utterances).await,
        );
        let (c, _, u) = settled;
        if c + u >= 10.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (c, _, u) = settled;
    assert_eq!(
        c + u,
        10.0,
        "cancelled {c} + decoded {u} must account for the ten finals"
    );
    assert!(
        c >= 1.0,
        "queued finals of a departed client must be cancelled (decoded {u})"
    );
    assert_eq!(s.metric("asr_router_live_sessions").await, 0.0);
}
