//! Realtime limits against a real server: the session cap (close 1013), the session length cap
//! (`session_expired`, close 1001, after the speech it accepted is transcribed), and the
//! live-session gauge after abrupt disconnects.

mod common;

use std::time::Duration;

use common::{KEY, Server, fixture, read_wav, reference, wer};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

async fn connect(
    s: &Server,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let mut req = format!("ws://127.0.0.1:{}/v1/realtime?intent=transcription", s.port)
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("Authorization", format!("Bearer {KEY}").parse().unwrap());
    tokio_tungstenite::connect_async(req).await.expect("handshake").0
}

async fn next_json(
    ws: &mut (impl StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin),
) -> Option<serde_json::Value> {
    loop {
        match tokio::time::timeout(Duration::from_secs(20), ws.next()).await.ok()?? {
            Ok(Message::Text(t)) => return serde_json::from_str(t.as_str()).ok(),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
}

async fn close_code(
    ws: &mut (impl StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin),
) -> Option<CloseCode> {
    loop {
        match tokio::time::timeout(Duration::from_secs(20), ws.next()).await.ok()? {
            Some(Ok(Message::Close(Some(f)))) => return Some(f.code),
            Some(Ok(_)) => continue,
            _ => return None,
        }
    }
}

#[tokio::test]
async fn session_cap_expiry_and_cleanup() {
    let s = Server::start("max_sessions = 2\nmax_session_s = 3\n", &[]);
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
    let s = Server::start("max_session_s = 4\n", &[]);
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
    let pcm: Vec<u8> = samples
        .iter()
        .flat_map(|x| ((x.clamp(-1.0, 1.0) * 32767.0) as i16).to_le_bytes())
        .collect();
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
