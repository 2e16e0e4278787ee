//! One realtime transcription session: the state machine between the client's events and the
//! engines.
//!
//! ```text
//!  client frames ─► parse ─► input decoder ─► 16 kHz buffer ─► VAD ─► open utterance
//!                                                     │                   │ every partial_interval
//!                                                     │                   ├─► fast engine ─► stabilizer ─► deltas
//!                                                     │ speech_stopped / commit
//!                                                     └─► finalizer (ordered) ─► engine ─► completed / failed
//! ```
//!
//! Outbound events go through one bounded queue, in the order they were produced, so a delta
//! never arrives after its item's `completed`. Events that must arrive (session, VAD, committed,
//! completed, errors) wait for room; partial deltas may hold at most `outbound_queue` places in
//! it (until written), and a delta that finds no place is dropped: a slow reader loses partials
//! first, never finals. Once a delta of an item is lost, that item sends no further deltas
//! (clients concatenate them), and its `completed` still arrives.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::stream::{FuturesOrdered, SplitSink};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use super::input::InputDecoder;
use super::protocol::{self, ClientEvent, CompletedExtras, ErrorCode, ProtocolError, ServerEvent, SessionConfig};
use super::stabilizer::Stabilizer;
use crate::config::FinalWindow;
use crate::engine::recognizer::{DecodeOptions, Utterance};
use crate::engine::scheduler::{EngineHandle, PartialTicket, Priority, SchedError};
use crate::engine::vad::{Segmenter, SegmenterConfig, SileroStream, VadEvent};
use super::context::SessionContext;

const RATE: usize = 16_000;
/// Audio needed for a commit (OpenAI: 100 ms).
const MIN_COMMIT_SAMPLES: usize = RATE / 10;
/// Longest manual-mode buffer kept, seconds.
const MAX_MANUAL_BUFFER_S: usize = 300;
/// How long an expiring session waits for its pending finals before it closes anyway.
const EXPIRY_DRAIN: Duration = Duration::from_secs(30);
/// How long the server waits for its last frames to be written, and for the client's close frame.
const CLOSE_HANDSHAKE: Duration = Duration::from_secs(2);

/// How a session was opened.
#[derive(Debug, Clone)]
pub struct SessionParams {
    /// Speak the beta dialect (`transcription_session.*`).
    pub beta: bool,
    /// Model named in the URL, if any.
    pub url_model: Option<String>,
    /// The configuration of the ephemeral secret that opened the session, if it was minted with
    /// one; it replaces the defaults (and `url_model`).
    pub preset: Option<SessionConfig>,
}

/// Must-deliver events buffered per client before the session stops reading it.
const MUST_DELIVER_QUEUE: usize = 1024;

/// One queued outbound frame; a partial delta holds one of the session's delta places until it
/// has been written.
struct Outgoing {
    msg: Message,
    _place: Option<OwnedSemaphorePermit>,
}

struct Outbound {
    queue: mpsc::Sender<Outgoing>,
    delta_places: Arc<Semaphore>,
}

impl Outbound {
    fn new(queue: mpsc::Sender<Outgoing>, delta_places: usize) -> Self {
        Self {
            queue,
            delta_places: Arc::new(Semaphore::new(delta_places)),
        }
    }

    async fn send(&self, ev: ServerEvent) {
        let msg = Message::Text(ev.to_json().into());
        let _ = self.queue.send(Outgoing { msg, _place: None }).await;
    }

    /// Sends a droppable event; `false` when it was dropped.
    fn try_send_partial(&self, ev: ServerEvent) -> bool {
        let Ok(place) = self.delta_places.clone().try_acquire_owned() else {
            return false;
        };
        let msg = Message::Text(ev.to_json().into());
        self.queue
            .try_send(Outgoing {
                msg,
                _place: Some(place),
            })
            .is_ok()
    }

    /// Queues a control frame (ping) if there is room; it is not worth waiting for.
    fn try_send_control(&self, msg: Message) {
        let _ = self.queue.try_send(Outgoing { msg, _place: None });
    }

    async fn close(&self, code: u16, reason: &str) {
        let frame = CloseFrame {
            code,
            reason: Utf8Bytes::from(reason.to_string()),
        };
        let msg = Message::Close(Some(frame));
        let _ = self.queue.send(Outgoing { msg, _place: None }).await;
    }
}

/// The utterance currently open (speech started, not yet committed).
struct OpenItem {
    id: String,
    /// Absolute sample index where the utterance starts (padding included).
    start: usize,
    stabilizer: Stabilizer,
    deltas_broken: bool,
    partial_inflight: bool,
    last_partial_at: Option<Instant>,
    last_partial_len: usize,
}

struct FinalJob {
    item_id: String,
    samples: Arc<[f32]>,
    stabilizer: Stabilizer,
    deltas_broken: bool,
    options: DecodeOptions,
    engine: EngineHandle,
    stopped_at: Instant,
}

enum Internal {
    Partial {
        item_id: String,
        result: Result<String, SchedError>,
    },
}

/// Why the read loop of a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// The client closed the socket, reset it, or stopped answering pings: nobody reads the
    /// finals any more, so queued ones are cancelled and running ones abandoned.
    ClientGone,
    /// The session reached `max_session_s`.
    Expired,
    /// The server is shutting down.
    Shutdown,
    /// The client sent a frame over the size limit (close 1009).
    TooBig,
}

impl Ending {
    /// The error event and close frame that end a session the server ends, after its finals.
    fn farewell(self, max_session_s: u64, max_frame: usize) -> Option<(ProtocolError, u16, &'static str)> {
        match self {
            Ending::ClientGone => None,
            Ending::Expired => {
                let minutes = max_session_s as f64 / 60.0;
                let err = ProtocolError::new(
                    ErrorCode::SessionExpired,
                    format!("Your session hit the maximum duration of {minutes} minutes."),
                );
                Some((err, 1001, "session expired"))
            }
            Ending::Shutdown => {
                let err = ProtocolError::server_error(
                    ErrorCode::Other("server_shutting_down".into()),
                    "The server is shutting down. Finals of committed audio were delivered; reconnect to continue.",
                );
                Some((err, 1001, "server shutting down"))
            }
            Ending::TooBig => {
                let err = ProtocolError::new(
                    ErrorCode::InvalidValue,
                    format!(
                        "A WebSocket message exceeded the maximum size of {max_frame} bytes; the session is closed."
                    ),
                );
                Some((err, 1009, "message too big"))
            }
        }
    }
}

/// Whether a read error is a frame or message over the configured size limit.
fn is_too_big(e: &axum::Error) -> bool {
    use tokio_tungstenite::tungstenite::Error as WsError;
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if matches!(err.downcast_ref::<WsError>(), Some(WsError::Capacity(_))) {
            return true;
        }
        source = err.source();
    }
    false
}

/// Runs a session on an upgraded socket until either side ends it.
///
/// Invariant: a session the server ends (length cap, shutdown, oversize frame) first ends the
/// utterance in progress, then delivers every final it accepted (bounded by [`EXPIRY_DRAIN`], and
/// only while the client is still there), then sends an `error` event and its close frame. A
/// session whose client is gone delivers nothing: its queued finals are cancelled in the engine
/// queues (counted in `/metrics`).
pub async fn run(socket: WebSocket, ctx: Arc<SessionContext>, params: SessionParams, max_frame: usize) {
    let (sink, mut stream) = socket.split();
    // Deltas hold at most `outbound_queue` places, so must-deliver events always have theirs.
    let delta_places = ctx.limits.outbound_queue.max(1);
    let (qtx, qrx) = mpsc::channel::<Outgoing>(MUST_DELIVER_QUEUE + delta_places);
    let writer = tokio::spawn(write_loop(sink, qrx));
    let out = Arc::new(Outbound::new(qtx, delta_places));

    let (ftx, frx) = mpsc::channel::<FinalJob>(64);
    let mut finalizer = tokio::spawn(finalize_loop(frx, out.clone()));

    let mut s = Session::new(ctx.clone(), params, out.clone(), ftx);
    s.send_created().await;

    let (itx, mut irx) = mpsc::channel::<Internal>(16);
    let expiry = tokio::time::sleep(Duration::from_secs(ctx.limits.max_session_s));
    tokio::pin!(expiry);
    let mut tick = tokio::time::interval(Duration::from_millis(40));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_heard = Instant::now();
    let mut ping = tokio::time::interval(Duration::from_secs(20));
    let shutdown = ctx.shutdown.clone();

    let ending = loop {
        tokio::select! {
            msg = stream.next() => {
                last_heard = Instant::now();
                match msg {
                    Some(Ok(Message::Text(t))) => s.on_text(t.as_str()).await,
                    Some(Ok(Message::Binary(b))) => s.on_audio(None, &b).await,
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Err(e)) if is_too_big(&e) => {
                        tracing::info!("realtime session {}: {e}", s.id);
                        break Ending::TooBig;
                    }
                    Some(Ok(Message::Close(_)) | Err(_)) | None => break Ending::ClientGone,
                }
            }
            Some(m) = irx.recv() => s.on_internal(m).await,
            _ = tick.tick() => {
                s.maybe_partial(&itx);
                s.check_idle().await;
            }
            _ = ping.tick() => {
                if last_heard.elapsed() > Duration::from_secs(60) {
                    tracing::info!("realtime session {} timed out (no pong)", s.id);
                    break Ending::ClientGone;
                }
                out.try_send_control(Message::Ping(Vec::new().into()));
            }
            _ = &mut expiry => break Ending::Expired,
            _ = shutdown.cancelled() => break Ending::Shutdown,
        }
    };
    if matches!(ending, Ending::Expired | Ending::Shutdown) {
        // Speech in progress is accepted work: end it as if VAD had heard it stop.
        s.finish_open_item().await;
    }
    // Teardown: no task outlives the session. Dropping the session drops the only sender of
    // final jobs, so the finalizer ends once the finals already accepted are reported.
    let id = s.id.clone();
    drop(s);
    match ending.farewell(ctx.limits.max_session_s, max_frame) {
        None => {
            // Dropping the pending decodes closes their reply channels: the engine skips the
            // queued ones and discards the running ones.
            finalizer.abort();
        }
        Some((err, code, reason)) => {
            let drained = tokio::select! {
                r = &mut finalizer => r.is_ok(),
                _ = tokio::time::sleep(EXPIRY_DRAIN) => false,
                _ = out.queue.closed() => false,
            };
            if !drained {
                finalizer.abort();
            }
            tracing::info!(session = %id, ?ending, drained, "realtime session ended by the server");
            out.send(ServerEvent::error(&err)).await;
            out.close(code, reason).await;
        }
    }
    drop(out);
    let _ = tokio::time::timeout(CLOSE_HANDSHAKE, writer).await;
    match ending {
        Ending::ClientGone => {}
        // The rest of the oversize message was never read and the stream cannot be resynced:
        // closing now would reset the connection (unread data) and the client could lose the
        // 1009 frame, so linger while it reads the close frame.
        Ending::TooBig => tokio::time::sleep(CLOSE_HANDSHAKE).await,
        // Complete the close handshake: read (and discard) until the client's close frame, so the
        // socket is not torn down with unread client data (the kernel would answer with a reset,
        // and the client could lose the finals just sent).
        Ending::Expired | Ending::Shutdown => {
            let _ = tokio::time::timeout(CLOSE_HANDSHAKE, async {
                while let Some(Ok(_)) = stream.next().await {}
            })
            .await;
        }
    }
}

/// Writes queued frames in order; a delta gives its place back once written. Ends (closing the
/// queue, which tells the session its client is gone) when a write fails or after a close frame.
async fn write_loop(mut sink: SplitSink<WebSocket, Message>, mut queue: mpsc::Receiver<Outgoing>) {
    while let Some(Outgoing { msg, _place: place }) = queue.recv().await {
        let closing = matches!(msg, Message::Close(_));
        let sent = sink.send(msg).await.is_ok();
        drop(place);
        if !sent || closing {
            break;
        }
    }
    queue.close();
    let _ = sink.close().await;
}

/// Runs finals concurrently but reports them in commit order; ends when the session has dropped
/// its sender and every accepted final is reported.
async fn finalize_loop(mut jobs: mpsc::Receiver<FinalJob>, out: Arc<Outbound>) {
    let mut pending = FuturesOrdered::new();
    let mut open = true;
    while open || !pending.is_empty() {
        tokio::select! {
            job = jobs.recv(), if open => {
                let Some(job) = job else { open = false; continue };
                pending.push_back(async move {
                    let utt = Utterance { samples: job.samples.clone(), options: job.options.clone() };
                    let r = job.engine.recognize_final(utt).await;
                    (job, r)
                });
            }
            Some((job, r)) = pending.next(), if !pending.is_empty() => report_final(job, r, &out).await,
        }
    }
}

/// Sends the outcome of one final: the last delta and `completed`, or `failed`.
async fn report_final(mut job: FinalJob, r: Result<crate::engine::recognizer::Hypothesis, SchedError>, out: &Outbound) {
    let seconds = job.samples.len() as f64 / RATE as f64;
    match r {
        Ok(h) => {
            let text = h.text.trim().to_string();
            if !job.deltas_broken
                && let Some(d) = job.stabilizer.finish(&text)
            {
                out.send(ServerEvent::delta(&job.item_id, d)).await;
            }
            let extras = CompletedExtras {
                language: h.language.clone(),
                latency_ms: Some(job.stopped_at.elapsed().as_millis() as u64),
                ..Default::default()
            };
            out.send(ServerEvent::completed_with(&job.item_id, text, seconds, extras))
                .await;
        }
        Err(e) => {
            let err = ProtocolError::server_error(
                ErrorCode::Other("transcription_failed".into()),
                format!("Transcription failed: {e}"),
            );
            out.send(ServerEvent::failed(&job.item_id, &err)).await;
        }
    }
}

struct Session {
    ctx: Arc<SessionContext>,
    id: String,
    beta: bool,
    expires_at: u64,
    cfg: SessionConfig,
    out: Arc<Outbound>,
    finals: mpsc::Sender<FinalJob>,
    /// In a mutex only so that the session is `Sync` (libopus state is not); never contended.
    decoder: std::sync::Mutex<Option<InputDecoder>>,
    /// Audio not yet committed, 16 kHz; `buffer[0]` is absolute sample `buffer_start`.
    buffer: VecDeque<f32>,
    buffer_start: usize,
    total: usize,
    vad: Option<(SileroStream, Segmenter)>,
    /// Absolute sample index where the current VAD stream started.
    vad_offset: usize,
    open: Option<OpenItem>,
    previous_item: Option<String>,
    partial_gen: Arc<AtomicU64>,
    /// Absolute sample where the current silence began, and whether `timeout_triggered` was sent.
    idle_since: usize,
    idle_reported: bool,
    scratch: Vec<f32>,
}

impl Session {
    fn new(ctx: Arc<SessionContext>, params: SessionParams, out: Arc<Outbound>, finals: mpsc::Sender<FinalJob>) -> Self {
        let mut cfg = match params.preset.clone() {
            Some(c) => c,
            None => SessionConfig::with_model(params.url_model.clone().unwrap_or_else(|| "auto".into())),
        };
        if ctx.limits.partial_interval_ms == 0 {
            cfg.partial_interval_ms = Some(0);
        }
        let expires_at = crate::ids::now_s() + ctx.limits.max_session_s;
        let mut s = Self {
            id: protocol::new_session_id(),
            beta: params.beta,
            expires_at,
            cfg,
            out,
            finals,
            decoder: std::sync::Mutex::new(None),
            buffer: VecDeque::new(),
            buffer_start: 0,
            total: 0,
            vad: None,
            vad_offset: 0,
            open: None,
            previous_item: None,
            partial_gen: Arc::new(AtomicU64::new(0)),
            idle_since: 0,
            idle_reported: false,
            scratch: Vec::new(),
            ctx,
        };
        s.reconfigure();
        s
    }

    fn session_json(&self) -> serde_json::Value {
        if self.beta {
            self.cfg.to_beta_json(&self.id, self.expires_at)
        } else {
            self.cfg.to_ga_json(&self.id, self.expires_at)
        }
    }

    async fn send_created(&self) {
        let ev = if self.beta {
            ServerEvent::transcription_session_created(self.session_json())
        } else {
            ServerEvent::session_created(self.session_json())
        };
        self.out.send(ev).await;
    }

    async fn error(&self, err: ProtocolError) {
        self.out.send(ServerEvent::error(&err)).await;
    }

    /// Rebuilds decoder and VAD after a configuration change.
    fn reconfigure(&mut self) {
        let mut dec = self.decoder.lock().unwrap_or_else(|p| p.into_inner());
        if dec.as_ref().map(|d| d.format()) != Some(self.cfg.format) {
            *dec = InputDecoder::new(self.cfg.format).ok();
        }
        drop(dec);
        match self.cfg.turn_detection.effective_vad() {
            Some(v) => {
                let seg = SegmenterConfig {
                    threshold: v.threshold as f32,
                    min_speech_ms: 200,
                    min_silence_ms: v.silence_duration_ms,
                    max_segment_s: self.ctx.limits.partial_window_s.max(2.0),
                    padding_ms: v.prefix_padding_ms,
                };
                match self.vad.as_mut() {
                    Some((_, s)) => s.set_config(seg),
                    None => {
                        self.vad = Some((self.ctx.engines.vad.stream(), Segmenter::new(seg)));
                        self.vad_offset = self.total;
                    }
                }
            }
            None => self.vad = None,
        }
    }

    fn language(&self) -> Option<String> {
        self.cfg
            .transcription
            .language
            .clone()
            .or_else(|| self.ctx.engines.default_language().map(str::to_string))
    }

    fn options(&self) -> DecodeOptions {
        let mut prompt = self.cfg.transcription.prompt.clone().filter(|p| !p.is_empty());
        if let Some(k) = &self.cfg.transcription.keywords
            && !k.is_empty()
        {
            let joined = k.join(", ");
            prompt = Some(match prompt {
                Some(p) => format!("{p} {joined}"),
                None => joined,
            });
        }
        DecodeOptions {
            language: self.language(),
            prompt,
            ..Default::default()
        }
    }

    fn final_engine(&self, duration_s: f32) -> EngineHandle {
        let lang = self.language();
        if let Some(m) = self.cfg.transcription.model.as_deref()
            && let Some(h) = self.ctx.engines.get(m)
        {
            return h.clone();
        }
        self.ctx.engines.finalizer(lang.as_deref(), duration_s).clone()
    }

    async fn on_text(&mut self, text: &str) {
        let ev = match protocol::parse_client_event(text) {
            Ok(ev) => ev,
            Err(e) => return self.error(e).await,
        };
        let event_id = ev.event_id().map(str::to_string);
        match ev {
            ClientEvent::SessionUpdate { session, .. } => {
                let mut next = self.cfg.clone();
                if let Err(e) = next.apply_ga_update(&session) {
                    return self.error(e.with_event_id(event_id)).await;
                }
                self.apply(next, event_id, false).await;
            }
            ClientEvent::TranscriptionSessionUpdate { session, .. }
            | ClientEvent::LegacySessionUpdate { session, .. } => {
                let mut next = self.cfg.clone();
                if let Err(e) = next.apply_beta_update(&session) {
                    return self.error(e.with_event_id(event_id)).await;
                }
                self.apply(next, event_id, true).await;
            }
            ClientEvent::InputAudioBufferAppend { audio, .. } => self.on_audio(event_id, &audio).await,
            ClientEvent::InputAudioBufferCommit { .. } => self.commit(event_id).await,
            ClientEvent::InputAudioBufferClear { .. } => {
                self.buffer.clear();
                self.buffer_start = self.total;
                self.open = None;
                if let Some((_, seg)) = self.vad.as_mut() {
                    seg.force_end();
                }
                self.out.send(ServerEvent::cleared()).await;
            }
            ClientEvent::Unsupported { event, .. } => {
                if let Some(e) = event.reply_error(event_id.as_deref()) {
                    self.error(e).await;
                }
            }
        }
    }

    async fn apply(&mut self, next: SessionConfig, event_id: Option<String>, beta_reply: bool) {
        if let Some(m) = next.transcription.model.as_deref()
            && !crate::engine::is_auto_alias(m)
            && self.ctx.engines.get(m).is_none()
        {
            let names = self.ctx.engines.names().join(", ");
            let e = ProtocolError::new(
                ErrorCode::InvalidModel,
                format!("Model \"{m}\" is not available. Available models: auto, {names}."),
            )
            .with_param("session.audio.input.transcription.model")
            .with_event_id(event_id);
            return self.error(e).await;
        }
        if next.transcription.language.as_deref().is_some_and(|l| l != "en")
            && next.transcription.model.as_deref() == Some(crate::engine::TINY_EN)
        {
            let e = ProtocolError::new(ErrorCode::InvalidValue, "whisper-tiny.en only transcribes English")
                .with_param("session.audio.input.transcription.language")
                .with_event_id(event_id);
            return self.error(e).await;
        }
        if next.format != self.cfg.format
            && let Err(e) = InputDecoder::new(next.format)
        {
            let e = ProtocolError::new(ErrorCode::InvalidValue, e.to_string())
                .with_param("session.audio.input.format")
                .with_event_id(event_id);
            return self.error(e).await;
        }
        self.cfg = next;
        self.reconfigure();
        let ev = if beta_reply {
            ServerEvent::transcription_session_updated(self.cfg.to_beta_json(&self.id, self.expires_at))
        } else {
            ServerEvent::session_updated(self.session_json())
        };
        self.out.send(ev).await;
    }

    async fn on_audio(&mut self, event_id: Option<String>, bytes: &[u8]) {
        if bytes.len() > self.ctx.limits.max_append_bytes {
            let e = ProtocolError::new(
                ErrorCode::InvalidValue,
                format!(
                    "Audio chunk of {} bytes exceeds the maximum of {} bytes per append.",
                    bytes.len(),
                    self.ctx.limits.max_append_bytes
                ),
            )
            .with_param("audio")
            .with_event_id(event_id);
            return self.error(e).await;
        }
        self.scratch.clear();
        let pushed = {
            let mut guard = self.decoder.lock().unwrap_or_else(|p| p.into_inner());
            let Some(dec) = guard.as_mut() else { return };
            dec.push(bytes, &mut self.scratch)
        };
        if let Err(e) = pushed {
            let e = ProtocolError::new(ErrorCode::InvalidValue, format!("Invalid audio: {e}"))
                .with_param("audio")
                .with_event_id(event_id);
            return self.error(e).await;
        }
        let chunk = std::mem::take(&mut self.scratch);
        self.buffer.extend(chunk.iter().copied());
        self.total += chunk.len();
        match self.vad.take() {
            Some((mut stream, mut seg)) => {
                let c2 = chunk.clone();
                let r = tokio::task::spawn_blocking(move || {
                    let probs = stream.push(&c2);
                    (stream, probs)
                })
                .await;
                let Ok((stream, probs)) = r else { return };
                let mut events = Vec::new();
                match probs {
                    Ok(p) => {
                        for prob in p {
                            events.extend(seg.push(prob));
                        }
                    }
                    Err(e) => tracing::warn!("VAD failed: {e}"),
                }
                self.vad = Some((stream, seg));
                for ev in events {
                    self.on_vad(ev).await;
                }
                if self.open.is_none() {
                    self.trim_idle_buffer();
                }
            }
            None => {
                if self.open.is_none() && !chunk.is_empty() {
                    self.open = Some(self.new_item(self.buffer_start));
                }
                let max = MAX_MANUAL_BUFFER_S * RATE;
                if self.buffer.len() > max {
                    let drop = self.buffer.len() - max;
                    self.buffer.drain(..drop);
                    self.buffer_start += drop;
                    if let Some(o) = self.open.as_mut() {
                        o.start = o.start.max(self.buffer_start);
                    }
                }
            }
        }
        self.scratch = chunk;
    }

    fn new_item(&self, start: usize) -> OpenItem {
        OpenItem {
            id: protocol::new_item_id(),
            start,
            stabilizer: Stabilizer::new(),
            deltas_broken: false,
            partial_inflight: false,
            last_partial_at: None,
            last_partial_len: 0,
        }
    }

    /// Keeps only the prefix padding (plus slack) while nobody speaks.
    fn trim_idle_buffer(&mut self) {
        let keep = (self
            .cfg
            .turn_detection
            .effective_vad()
            .map(|v| v.prefix_padding_ms)
            .unwrap_or(300) as usize
            * 16)
            + RATE;
        if self.buffer.len() > keep {
            let drop = self.buffer.len() - keep;
            self.buffer.drain(..drop);
            self.buffer_start += drop;
        }
    }

    fn slice(&self, start: usize, end: usize) -> Arc<[f32]> {
        let a = start.saturating_sub(self.buffer_start).min(self.buffer.len());
        let b = end.saturating_sub(self.buffer_start).min(self.buffer.len()).max(a);
        self.buffer.range(a..b).copied().collect::<Vec<f32>>().into()
    }

    async fn on_vad(&mut self, ev: VadEvent) {
        match ev {
            VadEvent::SpeechStarted { start } => {
                let start = (start + self.vad_offset).max(self.buffer_start);
                let item = self.new_item(start);
                self.idle_reported = false;
                self.out
                    .send(ServerEvent::speech_started(&item.id, (start / 16) as u64))
                    .await;
                self.open = Some(item);
            }
            VadEvent::SpeechStopped { end, .. } => {
                let end = end + self.vad_offset;
                self.idle_since = end;
                if let Some(item) = self.open.take() {
                    self.out
                        .send(ServerEvent::speech_stopped(&item.id, (end / 16) as u64))
                        .await;
                    self.finalize(item, end).await;
                }
            }
        }
    }

    /// Commits an item: `committed`, then the final decode is queued (in order).
    async fn finalize(&mut self, item: OpenItem, end: usize) {
        let samples = self.slice(item.start, end);
        self.out
            .send(ServerEvent::committed(&item.id, self.previous_item.clone()))
            .await;
        self.previous_item = Some(item.id.clone());
        // everything up to `end` is consumed
        let consumed = end.saturating_sub(self.buffer_start).min(self.buffer.len());
        self.buffer.drain(..consumed);
        self.buffer_start += consumed;
        let engine = self.final_engine(samples.len() as f32 / RATE as f32);
        let job = FinalJob {
            item_id: item.id,
            samples,
            stabilizer: item.stabilizer,
            deltas_broken: item.deltas_broken,
            options: DecodeOptions {
                short_window: self.ctx.limits.final_window == FinalWindow::Short,
                ..self.options()
            },
            engine,
            stopped_at: Instant::now(),
        };
        let _ = self.finals.send(job).await;
    }

    /// At the session length cap: ends an utterance still in progress as if VAD had heard it
    /// stop, so its audio is transcribed before the session closes. Manual-commit sessions
    /// keep their uncommitted buffer uncommitted (the client decides what a turn is).
    async fn finish_open_item(&mut self) {
        let Some(item) = self.open.take() else { return };
        let end = self.total;
        if end.saturating_sub(item.start.max(self.buffer_start)) < MIN_COMMIT_SAMPLES {
            return;
        }
        if let Some((_, seg)) = self.vad.as_mut() {
            seg.force_end();
        }
        self.out
            .send(ServerEvent::speech_stopped(&item.id, (end / 16) as u64))
            .await;
        self.finalize(item, end).await;
    }

    async fn commit(&mut self, event_id: Option<String>) {
        let vad_mode = self.vad.is_some();
        let (start, end) = match (&self.open, vad_mode) {
            (Some(o), _) => (o.start, self.total),
            (None, false) => (self.buffer_start, self.total),
            (None, true) => (self.total, self.total),
        };
        let n = end.saturating_sub(start.max(self.buffer_start));
        if n < MIN_COMMIT_SAMPLES {
            return self
                .error(ProtocolError::commit_empty(n as f64 / 16.0).with_event_id(event_id))
                .await;
        }
        let item = match self.open.take() {
            Some(i) => i,
            None => self.new_item(start),
        };
        if let Some((_, seg)) = self.vad.as_mut() {
            seg.force_end();
        }
        self.finalize(item, end).await;
    }

    /// Server VAD's `idle_timeout_ms`: after that much audio without speech, one
    /// `input_audio_buffer.timeout_triggered` per silent stretch (there is no response to trigger
    /// in a transcription session, so nothing is committed).
    async fn check_idle(&mut self) {
        let Some(idle_ms) = self.cfg.turn_detection.effective_vad().and_then(|v| v.idle_timeout_ms) else {
            return;
        };
        if self.open.is_some() || self.idle_reported {
            return;
        }
        if self.total.saturating_sub(self.idle_since) >= idle_ms as usize * 16 {
            self.idle_reported = true;
            let item = protocol::new_item_id();
            let ev = ServerEvent::timeout_triggered(item, (self.idle_since / 16) as u64, (self.total / 16) as u64);
            self.out.send(ev).await;
        }
    }

    fn partial_interval(&self) -> Option<Duration> {
        let base = self
            .cfg
            .partial_interval_ms
            .map(u64::from)
            .unwrap_or(self.ctx.limits.partial_interval_ms);
        if base == 0 {
            return None;
        }
        // Under pressure, partials slow down before finals suffer.
        let fast = self.ctx.engines.fast(self.language().as_deref());
        let (finals, partials) = fast.queue_depth();
        let factor = (1 + finals * 2 + partials / 2).min(8) as u64;
        Some(Duration::from_millis(base * factor))
    }

    fn maybe_partial(&mut self, itx: &mpsc::Sender<Internal>) {
        let Some(interval) = self.partial_interval() else {
            return;
        };
        let window = (self.ctx.limits.partial_window_s * RATE as f32) as usize;
        let total = self.total;
        let Some(item) = self.open.as_ref() else { return };
        if item.partial_inflight || item.deltas_broken {
            return;
        }
        if item.last_partial_at.is_some_and(|t| t.elapsed() < interval) {
            return;
        }
        let len = total.saturating_sub(item.start);
        if len < RATE * 3 / 10 || len <= item.last_partial_len || len > window {
            return;
        }
        let samples = self.slice(item.start, total);
        let engine = self.ctx.engines.fast(self.language().as_deref()).clone();
        let options = DecodeOptions {
            language: self.language(),
            draft: true,
            ..Default::default()
        };
        let ticket = PartialTicket::issue(&self.partial_gen);
        let item_id = item.id.clone();
        let itx = itx.clone();
        tokio::spawn(async move {
            let r = engine
                .try_recognize(Utterance { samples, options }, Priority::Partial, Some(ticket))
                .await;
            let _ = itx
                .send(Internal::Partial {
                    item_id,
                    result: r.map(|h| h.text),
                })
                .await;
        });
        if let Some(item) = self.open.as_mut() {
            item.partial_inflight = true;
            item.last_partial_at = Some(Instant::now());
            item.last_partial_len = len;
        }
    }

    async fn on_internal(&mut self, m: Internal) {
        match m {
            Internal::Partial { item_id, result } => {
                let Some(item) = self.open.as_mut().filter(|i| i.id == item_id) else {
                    return;
                };
                item.partial_inflight = false;
                let Ok(text) = result else { return };
                if let Some(delta) = item.stabilizer.update(text.trim())
                    && !self.out.try_send_partial(ServerEvent::delta(&item.id, delta))
                {
                    item.deltas_broken = true;
                    self.ctx.partials_dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}
