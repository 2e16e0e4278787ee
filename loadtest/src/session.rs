//! One Realtime transcription session: connect, `session.update`, stream recordings at a paced
//! rate in 40 ms appends, and time every server event against the client's own send log.
//!
//! Nothing the server sends can make this panic: unknown or malformed events are counted and
//! skipped, and every wait is bounded by the session's hard stop.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::time::{Instant, MissedTickBehavior, sleep_until, timeout_at};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::manifest::{RATE, Recording};

/// Milliseconds of audio per `input_audio_buffer.append`.
pub const CHUNK_MS: u64 = 40;
/// Bytes of 24 kHz PCM16 in one chunk.
const CHUNK_BYTES: usize = (RATE as usize / 1000) * CHUNK_MS as usize * 2;
/// Silence appended after every recording, in milliseconds.
pub const GAP_MS: u64 = 1200;
/// Longest wait for the handshake and for `session.updated`.
const SETUP_TIMEOUT: Duration = Duration::from_secs(10);
/// The server VAD's prefix padding until `session.updated` says otherwise (OpenAI's default).
const DEFAULT_PREFIX_PADDING_MS: u64 = 300;

/// What one session is asked to do.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Session number (0-based).
    pub index: usize,
    /// `ws://host:port/v1/realtime?intent=transcription`.
    pub ws_url: String,
    /// Bearer token.
    pub api_key: String,
    /// `transcription.model` sent in `session.update`.
    pub model: String,
    /// `transcription.language` sent in `session.update`.
    pub lang: String,
    /// `transcription.delay` sent in `session.update` (`None`: not sent, the server's default).
    pub delay: Option<String>,
    /// Recordings to stream, cycled in this order.
    pub recordings: Vec<Arc<Recording>>,
    /// Pace multiplier (1.0 = real time).
    pub speed: f64,
    /// When to connect.
    pub start_at: Instant,
    /// No recording is started after this instant.
    pub stop_at: Instant,
    /// Everything is dropped at this instant.
    pub hard_stop: Instant,
}

/// How the session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Ran to the end, got at least one final, saw no error event.
    Ok,
    /// The server refused it (HTTP 503 on the handshake or close code 1013).
    Refused(String),
    /// Anything else that went wrong.
    Failed(String),
}

/// Timings of one transcription item, all in milliseconds.
#[derive(Debug, Clone, Default)]
pub struct ItemTimes {
    /// First delta arrival minus the send time of the audio where the VAD heard the speech
    /// begin: `speech_started.audio_start_ms` plus the session's `prefix_padding_ms`.
    pub first_delta_ms: Option<f64>,
    /// Gaps between successive deltas.
    pub delta_intervals_ms: Vec<f64>,
    /// Partial staleness of each delta received before `speech_stopped` (see README).
    pub staleness_ms: Vec<f64>,
    /// `speech_stopped` arrival to `completed` arrival.
    pub final_ms: Option<f64>,
    /// `completed.latency_ms` as the server reports it.
    pub server_final_ms: Option<f64>,
    /// The final's real-time factor: `completed.processing_ms` / (`usage.seconds` × 1000).
    pub final_rtf: Option<f64>,
    /// Whether `completed` arrived.
    pub completed: bool,
    /// Whether `…transcription.failed` arrived.
    pub failed: bool,
}

/// A recording that was streamed completely, with the finals attributed to it.
#[derive(Debug, Clone)]
pub struct Scored {
    /// Manifest row id.
    pub id: String,
    /// Row language.
    pub lang: String,
    /// Reference transcript.
    pub reference: String,
    /// Finals of the items that started within it, joined with spaces.
    pub hypothesis: String,
}

/// Everything one session measured.
#[derive(Debug, Clone)]
pub struct SessionResult {
    /// How it ended.
    pub outcome: Outcome,
    /// Connect start to `session.updated`, in milliseconds.
    pub setup_ms: Option<f64>,
    /// Per-item timings.
    pub items: Vec<ItemTimes>,
    /// Fully streamed recordings whose items all finished.
    pub scored: Vec<Scored>,
    /// Audio sent, in milliseconds (speech and silence).
    pub audio_sent_ms: u64,
    /// Recordings started.
    pub recordings_started: usize,
    /// `error` events received.
    pub error_events: usize,
    /// `error.code` of those events, with counts.
    pub error_codes: std::collections::BTreeMap<String, usize>,
    /// Events that were not JSON objects with a string `type`.
    pub malformed_events: usize,
}

impl SessionResult {
    /// An empty result (a session that measured nothing).
    pub fn new() -> Self {
        Self {
            outcome: Outcome::Ok,
            setup_ms: None,
            items: Vec::new(),
            scored: Vec::new(),
            audio_sent_ms: 0,
            recordings_started: 0,
            error_events: 0,
            error_codes: Default::default(),
            malformed_events: 0,
        }
    }
}

/// Where a recording sits in the session's audio timeline (ms from the first append).
#[derive(Debug, Clone)]
struct Placement {
    rec: Arc<Recording>,
    start_ms: u64,
    /// End of the recording's own audio (before the silence gap).
    speech_end_ms: u64,
    /// End of the gap; the whole placement was sent once this much audio went out.
    end_ms: u64,
}

#[derive(Debug, Default)]
struct Item {
    start_ms: Option<u64>,
    end_ms: Option<u64>,
    stopped_at: Option<Instant>,
    /// (arrival, cumulative text after this delta, arrived before `speech_stopped`)
    deltas: Vec<(Instant, String, bool)>,
    completed_at: Option<Instant>,
    transcript: Option<String>,
    server_latency_ms: Option<f64>,
    rtf: Option<f64>,
    failed: bool,
}

impl Item {
    fn finished(&self) -> bool {
        self.completed_at.is_some() || self.failed
    }
}

/// The client's audio send log and the server's items.
struct State {
    epoch: Instant,
    /// The session's `turn_detection.prefix_padding_ms`: how far before the VAD's speech onset
    /// `speech_started.audio_start_ms` lies.
    prefix_padding_ms: u64,
    /// Send instant of chunk k (audio `[40k, 40k+40)` ms).
    sent: Vec<Instant>,
    placements: Vec<Placement>,
    items: HashMap<String, Item>,
    order: Vec<String>,
    setup_ms: Option<f64>,
    result: SessionResult,
}

impl State {
    /// Wall time at which the audio up to `ms` had been sent.
    fn sent_at(&self, ms: u64) -> Option<Instant> {
        let k = ms.div_ceil(CHUNK_MS).saturating_sub(1) as usize;
        self.sent.get(k).or(self.sent.last()).copied()
    }

    fn item(&mut self, id: &str) -> &mut Item {
        if !self.items.contains_key(id) {
            self.order.push(id.to_string());
        }
        self.items.entry(id.to_string()).or_default()
    }

    fn open_items(&self) -> usize {
        self.items.values().filter(|i| !i.finished()).count()
    }
}

/// Runs one session to its end; never returns an error, only an outcome.
pub async fn run(plan: Plan) -> SessionResult {
    sleep_until(plan.start_at).await;
    tracing::debug!(session = plan.index, lang = %plan.lang, "connecting");
    let t0 = Instant::now();
    let mut st = State {
        epoch: t0,
        prefix_padding_ms: DEFAULT_PREFIX_PADDING_MS,
        sent: Vec::new(),
        placements: Vec::new(),
        items: HashMap::new(),
        order: Vec::new(),
        setup_ms: None,
        result: SessionResult::new(),
    };
    let outcome = drive(&plan, &mut st).await;
    finish(st, outcome)
}

/// The first number under `key` anywhere in `v` (depth first): the session object nests
/// `turn_detection` differently in the GA and beta shapes.
fn find_u64(v: &Value, key: &str) -> Option<u64> {
    match v {
        Value::Object(m) => m
            .get(key)
            .and_then(Value::as_u64)
            .or_else(|| m.values().find_map(|x| find_u64(x, key))),
        Value::Array(a) => a.iter().find_map(|x| find_u64(x, key)),
        _ => None,
    }
}

fn ms_between(a: Instant, b: Instant) -> f64 {
    b.saturating_duration_since(a).as_secs_f64() * 1000.0 - a.saturating_duration_since(b).as_secs_f64() * 1000.0
}

async fn drive(plan: &Plan, st: &mut State) -> Outcome {
    let mut req = match plan.ws_url.as_str().into_client_request() {
        Ok(r) => r,
        Err(e) => return Outcome::Failed(format!("bad url: {e}")),
    };
    if let Ok(v) = HeaderValue::from_str(&format!("Bearer {}", plan.api_key)) {
        req.headers_mut().insert("Authorization", v);
    }
    let setup_deadline = (st.epoch + SETUP_TIMEOUT).min(plan.hard_stop);
    let ws = match timeout_at(setup_deadline, tokio_tungstenite::connect_async(req)).await {
        Err(_) => return Outcome::Failed("handshake timed out".into()),
        Ok(Err(WsError::Http(resp))) if resp.status().as_u16() == 503 => {
            return Outcome::Refused("HTTP 503 on handshake".into());
        }
        Ok(Err(WsError::Http(resp))) => {
            return Outcome::Failed(format!("HTTP {} on handshake", resp.status()));
        }
        Ok(Err(e)) => return Outcome::Failed(format!("connect: {e}")),
        Ok(Ok((ws, _))) => ws,
    };
    let (mut tx, mut rx) = ws.split();

    let mut transcription = json!({"model": plan.model, "language": plan.lang});
    if let Some(delay) = &plan.delay {
        transcription["delay"] = json!(delay);
    }
    let update = json!({"type": "session.update", "session": {"type": "transcription", "audio": {"input": {
        "format": {"type": "audio/pcm", "rate": RATE},
        "transcription": transcription,
        "turn_detection": {"type": "server_vad", "silence_duration_ms": 500}}}}});
    if let Err(e) = tx.send(Message::text(update.to_string())).await {
        return Outcome::Failed(format!("send session.update: {e}"));
    }
    // Wait for `session.updated` so the audio format applies to the first append.
    while st.setup_ms.is_none() {
        match timeout_at(setup_deadline, rx.next()).await {
            Err(_) => return Outcome::Failed("no session.updated within 10 s".into()),
            Ok(msg) => {
                if let Some(o) = on_message(st, msg) {
                    return o;
                }
                if let Some(code) = st.result.error_codes.keys().next() {
                    return Outcome::Failed(format!("error event before session.updated: {code}"));
                }
            }
        }
    }

    let period = Duration::from_secs_f64(CHUNK_MS as f64 / 1000.0 / plan.speed.max(0.01));
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let mut next_rec = 0usize;
    let mut audio_ms = 0u64;
    // (placement index, byte offset into the recording + gap)
    let mut cur: Option<(usize, usize)> = None;
    let mut sending = !plan.recordings.is_empty();
    let engine = base64::engine::general_purpose::STANDARD;
    let mut chunk = vec![0u8; CHUNK_BYTES];
    let hard = sleep_until(plan.hard_stop);
    tokio::pin!(hard);
    // After the last append, events of the last turn may still be in flight: wait a little
    // before concluding that no item is open.
    let mut quiet_until = plan.hard_stop;
    loop {
        if !sending && st.open_items() == 0 && Instant::now() >= quiet_until {
            break;
        }
        tokio::select! {
            _ = &mut hard => {
                return Outcome::Ok;
            }
            _ = sleep_until(quiet_until), if !sending && Instant::now() < quiet_until => {}
            _ = ticker.tick(), if sending => {
                if cur.is_none() {
                    if Instant::now() >= plan.stop_at {
                        sending = false;
                        quiet_until = (Instant::now() + Duration::from_secs(2)).min(plan.hard_stop);
                        continue;
                    }
                    let rec = plan.recordings[next_rec % plan.recordings.len()].clone();
                    next_rec += 1;
                    let speech_end_ms = audio_ms + rec.duration_ms();
                    let total = rec.pcm.len() + (GAP_MS as usize * RATE as usize / 1000) * 2;
                    let end_ms = audio_ms + (total as u64).div_ceil(CHUNK_BYTES as u64) * CHUNK_MS;
                    st.placements.push(Placement { rec, start_ms: audio_ms, speech_end_ms, end_ms });
                    st.result.recordings_started += 1;
                    cur = Some((st.placements.len() - 1, 0));
                }
                let Some((pi, off)) = cur else { continue };
                let pcm = &st.placements[pi].rec.pcm;
                let total = pcm.len() + (GAP_MS as usize * RATE as usize / 1000) * 2;
                chunk.fill(0);
                if off < pcm.len() {
                    let n = (pcm.len() - off).min(CHUNK_BYTES);
                    chunk[..n].copy_from_slice(&pcm[off..off + n]);
                }
                let next = off + CHUNK_BYTES;
                cur = if next >= total { None } else { Some((pi, next)) };
                let ev = json!({"type": "input_audio_buffer.append", "audio": engine.encode(&chunk)});
                if let Err(e) = tx.send(Message::text(ev.to_string())).await {
                    return Outcome::Failed(format!("send: {e}"));
                }
                st.sent.push(Instant::now());
                audio_ms += CHUNK_MS;
                st.result.audio_sent_ms = audio_ms;
            }
            msg = rx.next() => {
                if let Some(o) = on_message(st, msg) {
                    return o;
                }
            }
        }
    }
    // Polite close; the server's answer is not waited for beyond one second.
    let _ = tx.send(Message::Close(None)).await;
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        while let Some(Ok(_)) = rx.next().await {}
    })
    .await;
    Outcome::Ok
}

type WsMsg = Option<Result<Message, WsError>>;

/// Handles one incoming message; `Some` ends the session with that outcome.
fn on_message(st: &mut State, msg: WsMsg) -> Option<Outcome> {
    let now = Instant::now();
    let text = match msg {
        None => {
            return Some(Outcome::Failed("connection closed without a close frame".into()));
        }
        Some(Err(e)) => return Some(Outcome::Failed(format!("read: {e}"))),
        Some(Ok(Message::Close(frame))) => return Some(close_outcome(frame)),
        Some(Ok(Message::Text(t))) => t,
        Some(Ok(_)) => return None,
    };
    let Ok(Value::Object(ev)) = serde_json::from_str::<Value>(text.as_str()) else {
        st.result.malformed_events += 1;
        return None;
    };
    let Some(kind) = ev.get("type").and_then(Value::as_str) else {
        st.result.malformed_events += 1;
        return None;
    };
    let item_id = ev.get("item_id").and_then(Value::as_str).unwrap_or("").to_string();
    match kind {
        "session.updated" | "transcription_session.updated" => {
            st.setup_ms.get_or_insert(ms_between(st.epoch, now));
            if let Some(ms) = ev.get("session").and_then(|s| find_u64(s, "prefix_padding_ms")) {
                st.prefix_padding_ms = ms;
            }
        }
        "input_audio_buffer.speech_started" => {
            let ms = ev.get("audio_start_ms").and_then(Value::as_u64);
            st.item(&item_id).start_ms = ms;
        }
        "input_audio_buffer.speech_stopped" => {
            let ms = ev.get("audio_end_ms").and_then(Value::as_u64);
            let it = st.item(&item_id);
            it.end_ms = ms;
            it.stopped_at.get_or_insert(now);
        }
        "conversation.item.input_audio_transcription.delta" => {
            let d = ev.get("delta").and_then(Value::as_str).unwrap_or("");
            let it = st.item(&item_id);
            let mut text = it.deltas.last().map(|(_, t, _)| t.clone()).unwrap_or_default();
            text.push_str(d);
            let open = it.stopped_at.is_none();
            it.deltas.push((now, text, open));
        }
        "conversation.item.input_audio_transcription.completed" => {
            let it = st.item(&item_id);
            it.transcript = Some(ev.get("transcript").and_then(Value::as_str).unwrap_or("").to_string());
            it.server_latency_ms = ev.get("latency_ms").and_then(Value::as_f64);
            it.rtf = final_rtf(&ev);
            it.completed_at.get_or_insert(now);
        }
        "conversation.item.input_audio_transcription.failed" => st.item(&item_id).failed = true,
        "error" => {
            st.result.error_events += 1;
            let code = ev
                .get("error")
                .and_then(|e| e.get("code"))
                .and_then(Value::as_str)
                .unwrap_or("?");
            let msg = ev
                .get("error")
                .and_then(|e| e.get("message"))
                .and_then(Value::as_str)
                .unwrap_or("");
            tracing::warn!("error event: {code}: {msg}");
            *st.result.error_codes.entry(code.to_string()).or_default() += 1;
            if code == "session_expired" {
                return Some(Outcome::Failed("session_expired".into()));
            }
        }
        _ => {}
    }
    None
}

fn close_outcome(frame: Option<CloseFrame>) -> Outcome {
    match frame {
        Some(f) if u16::from(f.code) == 1013 => Outcome::Refused(format!("close 1013 {}", f.reason)),
        Some(f) => Outcome::Failed(format!("closed by server: {} {}", u16::from(f.code), f.reason)),
        None => Outcome::Failed("closed by server without a code".into()),
    }
}

/// Units a text is counted in (partials, finals, pooled references): words, or characters for CJK.
pub fn units(lang: &str, s: &str) -> usize {
    if is_cjk(lang) {
        s.chars().filter(|c| c.is_alphanumeric()).count()
    } else {
        s.split_whitespace()
            .filter(|w| w.chars().any(char::is_alphanumeric))
            .count()
    }
}

/// Languages scored per character (CER) rather than per word.
pub fn is_cjk(lang: &str) -> bool {
    matches!(lang, "zh" | "ja" | "yue" | "cmn" | "wuu")
}

fn finish(st: State, outcome: Outcome) -> SessionResult {
    let mut r = st.result.clone();
    r.setup_ms = st.setup_ms;
    let placement_of = |ms: u64| -> Option<&Placement> {
        st.placements
            .iter()
            .rev()
            .find(|p| p.start_ms <= ms)
            .or(st.placements.first())
    };
    // Items attributed to each placement, in commit order.
    let mut per_placement: Vec<Vec<&Item>> = vec![Vec::new(); st.placements.len()];
    for id in &st.order {
        let Some(it) = st.items.get(id) else { continue };
        let mut t = ItemTimes {
            completed: it.completed_at.is_some(),
            failed: it.failed,
            ..Default::default()
        };
        t.server_final_ms = it.server_latency_ms;
        t.final_rtf = it.rtf;
        if let (Some(a), Some(b)) = (it.stopped_at, it.completed_at) {
            t.final_ms = Some(ms_between(a, b));
        }
        for w in it.deltas.windows(2) {
            t.delta_intervals_ms.push(ms_between(w[0].0, w[1].0));
        }
        // The item's position in the stream: its centre decides which recording it belongs to.
        let centre = match (it.start_ms, it.end_ms) {
            (Some(a), Some(b)) => Some((a + b) / 2),
            (Some(a), None) => Some(a + 300),
            _ => None,
        };
        let placement = centre.and_then(|c| placement_of(c).map(|p| (p, c)));
        if let (Some((first, _, _)), Some(start)) = (it.deltas.first(), it.start_ms)
            && let Some(sent) = st.sent_at(start + st.prefix_padding_ms)
        {
            t.first_delta_ms = Some(ms_between(sent, *first));
        }
        if let (Some((p, _)), Some(start)) = (placement, it.start_ms) {
            // Speech span of the item: its VAD bounds clipped to the recording's own audio.
            let a = start.max(p.start_ms);
            let b = it.end_ms.unwrap_or(p.speech_end_ms).min(p.speech_end_ms).max(a);
            let lang = p.rec.lang.as_str();
            let full = it
                .transcript
                .as_deref()
                .or(it.deltas.last().map(|(_, s, _)| s.as_str()))
                .unwrap_or("");
            let n = units(lang, full).max(1);
            for (at, text, open) in &it.deltas {
                if !open {
                    continue;
                }
                let k = units(lang, text).min(n);
                let covered = a + ((b - a) as f64 * k as f64 / n as f64).round() as u64;
                if let Some(sent) = st.sent_at(covered) {
                    t.staleness_ms.push(ms_between(sent, *at));
                }
            }
        }
        if let Some((p, _)) = placement
            && let Some(i) = st.placements.iter().position(|q| std::ptr::eq(q, p))
        {
            per_placement[i].push(it);
        }
        r.items.push(t);
    }
    let streamed_ms = st.result.audio_sent_ms;
    for (p, items) in st.placements.iter().zip(per_placement) {
        if p.end_ms > streamed_ms || items.iter().any(|i| i.completed_at.is_none()) {
            continue;
        }
        let hyp: Vec<&str> = items.iter().filter_map(|i| i.transcript.as_deref()).collect();
        r.scored.push(Scored {
            id: p.rec.id.clone(),
            lang: p.rec.lang.clone(),
            reference: p.rec.text.clone(),
            hypothesis: hyp.join(" "),
        });
    }
    r.outcome = match outcome {
        Outcome::Ok if r.error_events > 0 => {
            let codes: Vec<&str> = r.error_codes.keys().map(String::as_str).collect();
            Outcome::Failed(format!("error event(s): {}", codes.join(", ")))
        }
        Outcome::Ok if !r.items.iter().any(|i| i.completed) => Outcome::Failed("no final received".into()),
        o => o,
    };
    r
}

/// A `completed` event's real-time factor: `processing_ms` / (`usage.seconds` × 1000), when the
/// server reports both and the item has audio.
fn final_rtf(ev: &serde_json::Map<String, Value>) -> Option<f64> {
    let processing = ev.get("processing_ms").and_then(Value::as_f64)?;
    let seconds = ev.get("usage").and_then(|u| u.get("seconds")).and_then(Value::as_f64)?;
    (seconds > 0.0 && processing >= 0.0).then(|| processing / (seconds * 1000.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A scripted server: one utterance per session, with two deltas.
    async fn mock(listener: TcpListener) {
        let Ok((tcp, _)) = listener.accept().await else {
            return;
        };
        let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
            return;
        };
        let mut appends = 0u32;
        while let Some(Ok(msg)) = ws.next().await {
            let Message::Text(t) = msg else { continue };
            let v: Value = serde_json::from_str(t.as_str()).unwrap_or_default();
            let out: Vec<Value> = match v["type"].as_str() {
                Some("session.update") => vec![json!({"type": "session.updated", "session": {}})],
                Some("input_audio_buffer.append") => {
                    appends += 1;
                    match appends {
                        5 => vec![
                            json!({"type": "input_audio_buffer.speech_started", "item_id": "i1", "audio_start_ms": 100}),
                        ],
                        15 => vec![
                            json!({"type": "conversation.item.input_audio_transcription.delta", "item_id": "i1", "delta": "hello"}),
                        ],
                        20 => vec![
                            json!({"type": "conversation.item.input_audio_transcription.delta", "item_id": "i1", "delta": " world"}),
                            json!("garbage"),
                        ],
                        40 => vec![
                            json!({"type": "input_audio_buffer.speech_stopped", "item_id": "i1", "audio_end_ms": 1500}),
                            json!({"type": "conversation.item.input_audio_transcription.completed", "item_id": "i1", "transcript": "Hello world.", "latency_ms": 3, "processing_ms": 70.0, "usage": {"type": "duration", "seconds": 1.4}}),
                        ],
                        _ => vec![],
                    }
                }
                _ => vec![],
            };
            for e in out {
                if ws.send(Message::text(e.to_string())).await.is_err() {
                    return;
                }
            }
        }
    }

    #[test]
    fn the_prefix_padding_is_read_from_either_session_shape() {
        let ga = json!({"type": "transcription", "audio": {"input": {"format": {"rate": 24000},
            "turn_detection": {"type": "server_vad", "prefix_padding_ms": 500}}}});
        let beta = json!({"input_audio_format": "pcm16", "turn_detection": {"prefix_padding_ms": 120}});
        assert_eq!(find_u64(&ga, "prefix_padding_ms"), Some(500));
        assert_eq!(find_u64(&beta, "prefix_padding_ms"), Some(120));
        assert_eq!(find_u64(&json!({"turn_detection": null}), "prefix_padding_ms"), None);
    }

    #[tokio::test]
    async fn one_scripted_session() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(mock(listener));
        let rec = Arc::new(Recording {
            id: "r1".into(),
            lang: "en".into(),
            text: "hello world".into(),
            pcm: vec![1; 48_000],
        });
        let now = Instant::now();
        let r = run(Plan {
            index: 0,
            ws_url: format!("ws://127.0.0.1:{port}/v1/realtime?intent=transcription"),
            api_key: "k".into(),
            model: "auto".into(),
            lang: "en".into(),
            delay: None,
            recordings: vec![rec],
            speed: 10.0,
            start_at: now,
            stop_at: now + Duration::from_millis(50),
            hard_stop: now + Duration::from_secs(10),
        })
        .await;
        assert_eq!(r.outcome, Outcome::Ok);
        assert_eq!(r.recordings_started, 1);
        // 1 s of speech + 1.2 s gap in 40 ms chunks
        assert_eq!(r.audio_sent_ms, 2200);
        assert_eq!(r.malformed_events, 1);
        assert_eq!(r.items.len(), 1);
        let it = &r.items[0];
        assert!(it.completed && it.final_ms.is_some());
        assert_eq!(it.server_final_ms, Some(3.0));
        assert!(
            it.final_rtf.is_some_and(|r| (r - 0.05).abs() < 1e-12),
            "{:?}",
            it.final_rtf
        );
        // first delta after 15 appends; audio at 100 ms went out with the 3rd: ~12 chunks × 4 ms
        let fd = it.first_delta_ms.unwrap_or(-1.0);
        assert!((30.0..200.0).contains(&fd), "first delta {fd}");
        assert_eq!(it.delta_intervals_ms.len(), 1);
        assert_eq!(it.staleness_ms.len(), 2);
        assert_eq!(r.scored.len(), 1);
        assert_eq!(r.scored[0].hypothesis, "Hello world.");
    }
}
