//! A slow reader against a real server: while the client does not read its socket, the server's
//! outbound partial-delta budget (`outbound_queue`, set to 1 here) runs out and deltas are dropped
//! (counted in `asr_router_realtime_partials_dropped_total`), but every committed item still gets
//! its `…transcription.completed`, in commit order, with a real transcript, and no delta of an
//! item arrives after that item's `completed`.
//!
//! Loopback TCP buffers absorb megabytes, far more than a session's deltas, so the client first
//! fills the pipe the way a slow link would be filled: it asks for large `session.updated` echoes
//! (a big `prompt`, reset before any audio) worth twice the kernel's largest send buffer, and its
//! own receive buffer is set small. Then it streams a real recording at real-time pace without
//! reading, and only afterwards reads everything.

mod common;

use std::time::Duration;

use common::{KEY, Server, fixture, pcm16, read_wav, reference, wer};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

const DELTA: &str = "conversation.item.input_audio_transcription.delta";
const COMPLETED: &str = "conversation.item.input_audio_transcription.completed";
const FAILED: &str = "conversation.item.input_audio_transcription.failed";
/// Size of the `prompt` echoed by each filler `session.updated`.
const FILLER_BYTES: usize = 256 * 1024;
/// Audio sent per binary frame (16 kHz PCM16).
const CHUNK_MS: u64 = 40;

/// The largest send buffer the kernel may give the server's socket (autotuned or set), bytes.
fn max_send_buffer() -> usize {
    let read = |p: &str| std::fs::read_to_string(p).ok();
    let tcp = read("/proc/sys/net/ipv4/tcp_wmem")
        .and_then(|s| s.split_whitespace().nth(2).and_then(|v| v.parse().ok()))
        .unwrap_or(4 << 20);
    let core = read("/proc/sys/net/core/wmem_max")
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(4 << 20);
    // SO_SNDBUF is doubled by the kernel; autotuning stops at tcp_wmem[2]
    usize::max(tcp, 2 * core)
}

/// The next text event (pings and other frames are skipped); `None` when the socket ends or
/// stays quiet for a minute.
async fn next(rx: &mut (impl StreamExt<Item = Result<Message, WsError>> + Unpin)) -> Option<Value> {
    loop {
        match tokio::time::timeout(Duration::from_secs(60), rx.next()).await.ok()? {
            Some(Ok(Message::Text(t))) => return Some(serde_json::from_str(t.as_str()).unwrap()),
            Some(Ok(_)) => continue,
            _ => return None,
        }
    }
}

#[tokio::test]
async fn slow_reader_loses_partials_never_finals() {
    let s = Server::start("[realtime]\noutbound_queue = 1\n", &[]);
    assert_eq!(s.metric("asr_router_realtime_partials_dropped_total").await, 0.0);

    // A client socket with a small receive buffer (set before connecting, so the window stays small).
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(16 * 1024).unwrap();
    let tcp = sock
        .connect(format!("127.0.0.1:{}", s.port).parse().unwrap())
        .await
        .unwrap();
    let mut req = format!("ws://127.0.0.1:{}/v1/realtime?intent=transcription", s.port)
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("Authorization", format!("Bearer {KEY}").parse().unwrap());
    let (ws, _) = tokio_tungstenite::client_async(req, tcp).await.expect("handshake");
    let (mut tx, mut rx) = ws.split();
    let created = next(&mut rx).await.unwrap();
    assert_eq!(created["type"], "session.created", "{created}");

    let setup = json!({"type": "session.update", "session": {"type": "transcription",
        "partial_interval_ms": 100,
        "audio": {"input": {
            "format": {"type": "audio/pcm", "rate": 16000},
            "transcription": {"model": "auto", "language": "en"},
            "turn_detection": {"type": "server_vad", "silence_duration_ms": 500}}}}});
    tx.send(Message::Text(setup.to_string().into())).await.unwrap();
    let upd = next(&mut rx).await.unwrap();
    assert_eq!(upd["type"], "session.updated", "{upd}");

    // From here on the client does not read until all audio is sent.
    let fillers = 2 * max_send_buffer() / FILLER_BYTES + 4;
    let pad = "slow ".repeat(FILLER_BYTES / 5);
    for _ in 0..fillers {
        let ev = json!({"type": "session.update", "session": {"type": "transcription",
            "audio": {"input": {"transcription": {"prompt": pad}}}}});
        tx.send(Message::Text(ev.to_string().into())).await.unwrap();
    }
    let reset = json!({"type": "session.update", "session": {"type": "transcription",
        "audio": {"input": {"transcription": {"prompt": ""}}}}});
    tx.send(Message::Text(reset.to_string().into())).await.unwrap();

    let mut audio = Vec::new();
    for f in ["en_jfk.wav", "en_librivox_sense_0870.wav"] {
        let (samples, rate) = read_wav(&fixture(f));
        assert_eq!(rate, 16_000);
        audio.extend(samples);
        audio.extend(std::iter::repeat_n(0.0, 24_000));
    }
    let bytes = pcm16(&audio);
    let chunk = (16 * CHUNK_MS * 2) as usize;
    let t0 = tokio::time::Instant::now();
    for (i, c) in bytes.chunks(chunk).enumerate() {
        tx.send(Message::Binary(c.to_vec().into())).await.unwrap();
        tokio::time::sleep_until(t0 + Duration::from_millis(CHUNK_MS * (i as u64 + 1))).await;
    }

    // Now read everything: all items must complete; then wait until the socket is quiet so a
    // delta that comes late is seen too.
    let mut events: Vec<Value> = Vec::new();
    loop {
        let Some(ev) = next(&mut rx).await else {
            panic!(
                "socket ended or went quiet before every item completed; events: {:?}",
                events.iter().map(|e| e["type"].clone()).collect::<Vec<_>>()
            )
        };
        events.push(ev);
        let of = |t: &str| events.iter().filter(|e| e["type"] == t).count();
        let started = of("input_audio_buffer.speech_started");
        if started > 0 && of(COMPLETED) + of(FAILED) >= started {
            break;
        }
    }
    while let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_secs(2), rx.next()).await {
        if let Message::Text(t) = m {
            events.push(serde_json::from_str(t.as_str()).unwrap());
        }
    }

    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert!(!types.contains(&"error"), "errors: {events:?}");
    assert!(!types.contains(&FAILED), "failed items: {events:?}");
    // every must-deliver event arrived, the big ones included
    let updated = types.iter().filter(|t| **t == "session.updated").count();
    assert_eq!(updated, fillers + 1, "session.updated echoes lost");

    let committed: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] == "input_audio_buffer.committed")
        .map(|e| e["item_id"].as_str().unwrap())
        .collect();
    let completed: Vec<(&str, &str)> = events
        .iter()
        .filter(|e| e["type"] == COMPLETED)
        .map(|e| (e["item_id"].as_str().unwrap(), e["transcript"].as_str().unwrap()))
        .collect();
    assert!(committed.len() >= 2, "expected several utterances: {types:?}");
    assert_eq!(
        completed.iter().map(|c| c.0).collect::<Vec<_>>(),
        committed,
        "every committed item completes, in commit order"
    );
    for (id, text) in &completed {
        assert!(!text.trim().is_empty(), "empty transcript for {id}");
        let done_at = events
            .iter()
            .position(|e| e["type"] == COMPLETED && e["item_id"] == *id)
            .unwrap();
        let late: Vec<&Value> = events[done_at..]
            .iter()
            .filter(|e| e["type"] == DELTA && e["item_id"] == *id)
            .collect();
        assert!(late.is_empty(), "deltas of {id} after its completed: {late:?}");
    }
    let text: Vec<&str> = completed.iter().map(|c| c.1).collect();
    let text = text.join(" ");
    let want = format!("{} {}", reference("en_jfk"), reference("en_librivox_sense_0870"));
    let w = wer(&want, &text);
    assert!(w <= 0.25, "WER {w:.2}: {text:?}");

    // the slow reader really lost partials
    let dropped = s.metric("asr_router_realtime_partials_dropped_total").await;
    assert!(dropped > 0.0, "no partial delta was dropped; events: {types:?}");
    let delivered = types.iter().filter(|t| **t == DELTA).count();
    eprintln!(
        "{} items completed; {delivered} deltas delivered, {dropped} dropped; {fillers} filler echoes",
        committed.len()
    );
    let _ = tx.close().await;
}
