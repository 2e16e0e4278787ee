//! Degrade, never stall (issue 15, item 2), through a real server with the default engines.
//!
//! Four realtime sessions stream the same recording at real-time pace at once — several times
//! what this kind of box finalizes in time — with a short partial interval and a tight finals
//! deadline (`[realtime] final_deadline_ms = 300`), while a prober keeps opening new sessions.
//! Asserted, without timing:
//!
//! * no final is lost: every committed item of every session gets its `…completed`, in commit
//!   order, with a transcript, and no item fails;
//! * partials were thinned: the degradation counters in `/metrics` moved;
//! * admission refused a new session with close 1013 because finals would miss their deadline,
//!   and counted it;
//! * the server recovers: once the load is gone the queues are empty, the cadence gauge is back
//!   at the configured interval, and a new session is admitted and gets deltas and its finals.

mod common;

use std::time::Duration;

use common::{Server, fixture, pcm16, read_wav, reference, wer, ws_connect};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

const DELTA: &str = "conversation.item.input_audio_transcription.delta";
const COMPLETED: &str = "conversation.item.input_audio_transcription.completed";
const FAILED: &str = "conversation.item.input_audio_transcription.failed";
const SESSIONS: usize = 4;
const CHUNK_MS: u64 = 40;
const INTERVAL_MS: u64 = 100;

/// The sum of every sample of a metric family, labelled or not (0 when absent).
fn metric_sum(body: &str, name: &str) -> f64 {
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let rest = l.strip_prefix(name)?;
            let value = if rest.starts_with('{') {
                rest.split_once("} ")?.1
            } else {
                rest.strip_prefix(' ')?
            };
            value.trim().parse::<f64>().ok()
        })
        .sum()
}

/// The values of every sample of a labelled metric family.
fn metric_values(body: &str, name: &str) -> Vec<f64> {
    body.lines()
        .filter_map(|l| l.strip_prefix(name)?.strip_prefix('{')?.split_once("} "))
        .map(|(_, v)| v.trim().parse().unwrap())
        .collect()
}

/// The next text event of a session (pings skipped); `None` when the socket ends or stays quiet
/// for two minutes.
async fn next(rx: &mut futures_util::stream::SplitStream<common::Ws>) -> Option<Value> {
    loop {
        match tokio::time::timeout(Duration::from_secs(120), rx.next()).await.ok()?? {
            Ok(Message::Text(t)) => return serde_json::from_str::<Value>(t.as_str()).ok(),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
}

/// Streams `audio` at real-time pace through one session while reading it; returns every text
/// event once each started utterance completed (or failed) and the socket went quiet.
async fn stream_session(s: &Server, audio: &[f32]) -> Vec<Value> {
    let ws = ws_connect(s).await;
    let (mut tx, mut rx) = ws.split();
    let created = next(&mut rx).await.expect("session.created");
    assert_eq!(created["type"], "session.created", "{created}");
    let setup = json!({"type": "session.update", "session": {"type": "transcription",
        "audio": {"input": {
            "format": {"type": "audio/pcm", "rate": 16000},
            "transcription": {"model": "auto", "language": "en"},
            "turn_detection": {"type": "server_vad", "silence_duration_ms": 500}}}}});
    tx.send(Message::Text(setup.to_string().into())).await.unwrap();
    let updated = next(&mut rx).await.expect("session.updated");
    assert_eq!(updated["type"], "session.updated", "{updated}");

    let bytes = pcm16(audio);
    let sender = async move {
        let chunk = (16 * CHUNK_MS * 2) as usize;
        let t0 = tokio::time::Instant::now();
        for (i, c) in bytes.chunks(chunk).enumerate() {
            tx.send(Message::Binary(c.to_vec().into())).await.unwrap();
            tokio::time::sleep_until(t0 + Duration::from_millis(CHUNK_MS * (i as u64 + 1))).await;
        }
        tx
    };
    tokio::pin!(sender);
    let mut events: Vec<Value> = Vec::new();
    let mut tx = loop {
        tokio::select! {
            tx = &mut sender => break tx,
            ev = next(&mut rx) => events.push(ev.expect("the socket ended while streaming")),
        }
    };
    // read on until every started utterance completed and the socket is quiet
    loop {
        let of = |t: &str| events.iter().filter(|e| e["type"] == t).count();
        let pending = of("input_audio_buffer.speech_started") > of(COMPLETED) + of(FAILED);
        let quiet = if pending { 120 } else { 3 };
        match tokio::time::timeout(Duration::from_secs(quiet), next(&mut rx)).await {
            Ok(Some(ev)) => events.push(ev),
            _ => break,
        }
    }
    let _ = tx.close().await;
    events
}

/// Checks that every committed item of a session completed, in commit order, with a transcript;
/// returns the session's transcript.
fn check_finals(events: &[Value]) -> String {
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap_or("?")).collect();
    assert!(!types.contains(&"error"), "errors: {events:?}");
    assert!(!types.contains(&FAILED), "failed items: {events:?}");
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
        "every committed item completes, in commit order: {types:?}"
    );
    for (id, text) in &completed {
        assert!(!text.trim().is_empty(), "empty transcript for {id}");
    }
    completed.iter().map(|c| c.1).collect::<Vec<_>>().join(" ")
}

/// Tries to open a session: `Some(reason)` when it was refused with close 1013, `None` when it
/// was admitted (it is closed again at once).
async fn probe(s: &Server) -> Option<String> {
    let mut ws = ws_connect(s).await;
    let first = tokio::time::timeout(Duration::from_secs(30), ws.next()).await.ok()??;
    match first {
        Ok(Message::Close(Some(f))) if f.code == CloseCode::Again => Some(f.reason.to_string()),
        _ => {
            let _ = ws.close(None).await;
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overload_thins_partials_refuses_for_the_deadline_loses_no_final_and_recovers() {
    let toml = format!("[realtime]\npartial_interval_ms = {INTERVAL_MS}\nfinal_deadline_ms = 300\n");
    let s = Server::start(&toml, &[]);
    let (mut audio, rate) = read_wav(&fixture("en_jfk.wav"));
    assert_eq!(rate, 16_000);
    audio.extend(std::iter::repeat_n(0.0, 24_000));
    let before = s.metrics().await;
    for name in [
        "asr_router_realtime_partials_stretched_total",
        "asr_router_realtime_partials_skipped_total",
        "asr_router_sessions_refused_deadline_total",
    ] {
        assert!(before.contains(name), "no {name} in /metrics:\n{before}");
        assert_eq!(metric_sum(&before, name), 0.0, "{name}");
    }
    assert!(
        metric_values(&before, "asr_router_realtime_partial_cadence_ms")
            .iter()
            .all(|v| *v == INTERVAL_MS as f64),
        "an idle server runs partials at the configured interval:\n{before}"
    );

    // Overload: every session at once, and a prober asking for more.
    let load = futures_util::future::join_all((0..SESSIONS).map(|_| stream_session(&s, &audio)));
    let done = std::sync::atomic::AtomicBool::new(false);
    let prober = async {
        let mut refusals = Vec::new();
        while !done.load(std::sync::atomic::Ordering::SeqCst) && refusals.is_empty() {
            if let Some(reason) = probe(&s).await {
                refusals.push(reason);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        refusals
    };
    let load = async {
        let r = load.await;
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        r
    };
    let (sessions, refusals) = tokio::join!(load, prober);

    // No final lost, and the finals are real transcripts.
    for events in &sessions {
        let text = check_finals(events);
        let w = wer(&reference("en_jfk"), &text);
        assert!(w <= 0.3, "WER {w:.2}: {text:?}");
    }
    let after = s.metrics().await;
    let stretched = metric_sum(&after, "asr_router_realtime_partials_stretched_total");
    let skipped = metric_sum(&after, "asr_router_realtime_partials_skipped_total");
    assert!(
        stretched + skipped > 0.0,
        "partials were neither stretched nor skipped under overload:\n{after}"
    );
    assert!(!refusals.is_empty(), "no session was refused while finals were late");
    assert!(refusals[0].contains("too busy"), "{refusals:?}");
    assert!(metric_sum(&after, "asr_router_sessions_refused_deadline_total") >= 1.0);
    assert_eq!(
        metric_sum(&after, "asr_router_sessions_refused_total"),
        0.0,
        "nobody hit the session limit"
    );
    let deltas: usize = sessions
        .iter()
        .map(|e| e.iter().filter(|e| e["type"] == DELTA).count())
        .sum();
    eprintln!(
        "{SESSIONS} sessions: {stretched} partials stretched, {skipped} skipped, {deltas} deltas, {} refused",
        metric_sum(&after, "asr_router_sessions_refused_deadline_total")
    );

    // Recovery: the queues drain, the cadence is back, a new session gets partials and finals.
    let mut idle = String::new();
    for _ in 0..600 {
        idle = s.metrics().await;
        if metric_sum(&idle, "asr_router_queue_depth") == 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(metric_sum(&idle, "asr_router_queue_depth"), 0.0, "{idle}");
    assert_eq!(metric_sum(&idle, "asr_router_engine_final_wait_estimate_seconds"), 0.0);
    assert!(
        metric_values(&idle, "asr_router_realtime_partial_cadence_ms")
            .iter()
            .all(|v| *v == INTERVAL_MS as f64),
        "{idle}"
    );
    assert_eq!(probe(&s).await, None, "an idle server admits");
    let events = stream_session(&s, &audio).await;
    let text = check_finals(&events);
    assert!(wer(&reference("en_jfk"), &text) <= 0.3, "{text:?}");
    assert!(
        events.iter().any(|e| e["type"] == DELTA),
        "partials resumed after the load"
    );
}
