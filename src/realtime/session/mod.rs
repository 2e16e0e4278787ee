//! One realtime transcription session: the select loop that joins a client's socket to its
//! [`events::Session`], and the ways a session ends.
//!
//! ```text
//!  socket ─► select loop ─► Session (events.rs) ─► Turns (turns.rs): buffer, VAD, open item
//!     ▲          │ tick, ping,                │ PartialDue ─► fast engine ─► deltas
//!     │          │ expiry, shutdown           │ FinalReady ─► finalizer (finals.rs) ─► completed / failed
//!     └── write loop ◄── Outbound (outbound.rs): one ordered queue ◄──────────┘
//! ```
//!
//! * [`outbound`]: the ordered outbound queue, delta places, the write loop;
//! * [`turns`]: the turn engine (buffer, VAD, open item, commit/clear, partial pacing) as plain
//!   [`turns::TurnEvent`]s, unit-tested with a scripted VAD;
//! * [`finals`]: final jobs decoded concurrently and reported in commit order;
//! * [`speakers`]: live speaker labels (the `diarization` extension): embedding and online
//!   assignment to the session's speakers;
//! * [`events`]: client events into configuration and turns, turn events onto the wire.
//!
//! # Invariants
//!
//! * **Ordered outbound.** Every event leaves in the order it was produced, so a delta never
//!   arrives after its item's `completed`; a slow reader loses partial deltas, never finals.
//! * **The server's endings deliver accepted speech first.** A session the server ends (length
//!   cap, shutdown, oversize frame) first ends the utterance in progress (length cap and
//!   shutdown), then delivers every final it accepted (bounded by `EXPIRY_DRAIN`, and only
//!   while the client is still there), then sends an `error` event and its close frame.
//! * **A departed client takes its work with it.** When the client closes, resets or stops
//!   answering pings, nothing more is delivered: its queued finals are cancelled in the engine
//!   queues and a running one is abandoned (counted in `/metrics`).
//! * **No task outlives its session**: the writer, the finalizer and the partial decodes end
//!   with it.

pub mod early;
pub mod events;
pub mod finals;
pub mod outbound;
pub mod speakers;
pub mod turns;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{Message, WebSocket};
use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::context::SessionContext;
use super::protocol::{ErrorCode, ProtocolError, ServerEvent, SessionConfig};
use events::{PartialDone, Session};
use finals::Finalizer;
use outbound::Outbound;

/// How long an expiring session waits for its pending finals before it closes anyway.
const EXPIRY_DRAIN: Duration = Duration::from_secs(30);
/// How long the server waits for its last frames to be written, and for the client's close frame.
const CLOSE_HANDSHAKE: Duration = Duration::from_secs(2);
/// The session's clock: partial pacing and the idle timeout.
const TICK: Duration = Duration::from_millis(40);
/// Ping interval; a client silent for [`CLIENT_SILENCE`] is gone.
const PING: Duration = Duration::from_secs(20);
const CLIENT_SILENCE: Duration = Duration::from_secs(60);

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

/// What the server says when it ends a session: the `error` event and the close frame.
struct Farewell {
    error: ProtocolError,
    code: u16,
    reason: &'static str,
}

impl Ending {
    /// The error event and close frame that end a session the server ends, after its finals.
    fn farewell(self, max_session_s: u64, max_frame: usize) -> Option<Farewell> {
        let (error, code, reason) = match self {
            Ending::ClientGone => return None,
            Ending::Expired => {
                let minutes = max_session_s as f64 / 60.0;
                let err = ProtocolError::new(
                    ErrorCode::SessionExpired,
                    format!("Your session hit the maximum duration of {minutes} minutes."),
                );
                (err, 1001, "session expired")
            }
            Ending::Shutdown => {
                let err = ProtocolError::server_error(
                    ErrorCode::Other("server_shutting_down".into()),
                    "The server is shutting down. Finals of committed audio were delivered; reconnect to continue.",
                );
                (err, 1001, "server shutting down")
            }
            Ending::TooBig => {
                let err = ProtocolError::new(
                    ErrorCode::InvalidValue,
                    format!(
                        "A WebSocket message exceeded the maximum size of {max_frame} bytes; the session is closed."
                    ),
                );
                (err, 1009, "message too big")
            }
        };
        Some(Farewell { error, code, reason })
    }

    /// Whether the utterance in progress is accepted work to be finished before the end.
    fn finishes_open_item(self) -> bool {
        matches!(self, Ending::Expired | Ending::Shutdown)
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

/// Ends the finals of a session whose sender of final jobs is already dropped. Without a
/// farewell (the client is gone) the finalizer is cancelled: the engine skips the queued finals
/// and discards the running ones, and counts them. With one, every accepted final is delivered
/// first (for at most `drain`, and only while the client is there; past that the rest are
/// cancelled the same way), then the `error` event and the close frame are queued. Returns
/// whether every final was delivered.
async fn end_finals(mut finalizer: Finalizer, out: &Outbound, farewell: Option<Farewell>, drain: Duration) -> bool {
    let Some(Farewell { error, code, reason }) = farewell else {
        finalizer.cancel().await;
        return false;
    };
    let drained = tokio::select! {
        done = finalizer.finished() => done,
        _ = tokio::time::sleep(drain) => false,
        _ = out.closed() => false,
    };
    if !drained {
        finalizer.cancel().await;
    }
    out.send(ServerEvent::error(&error)).await;
    out.close(code, reason).await;
    drained
}

/// Runs a session on an upgraded socket until either side ends it (see the module invariants).
pub async fn run(socket: WebSocket, ctx: Arc<SessionContext>, params: SessionParams, max_frame: usize) {
    let (sink, mut stream) = socket.split();
    let (out, queue) = Outbound::channel(ctx.limits.outbound_queue);
    let writer = tokio::spawn(outbound::write_loop(sink, queue));
    let (finals_tx, finalizer) = finals::spawn(
        out.clone(),
        finals::FinalizerParts {
            second: ctx.second.clone(),
            speaker: ctx.engines.speaker.clone(),
            vad: Some(ctx.engines.vad.clone()),
        },
    );
    let (ptx, mut prx) = mpsc::channel::<PartialDone>(16);

    let mut s = Session::new(ctx.clone(), params, out.clone(), finals_tx, ptx);
    s.send_created().await;

    let expiry = tokio::time::sleep(Duration::from_secs(ctx.limits.max_session_s));
    tokio::pin!(expiry);
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_heard = Instant::now();
    let mut ping = tokio::time::interval(PING);
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
                        tracing::info!("realtime session {}: {e}", s.id());
                        break Ending::TooBig;
                    }
                    Some(Ok(Message::Close(_)) | Err(_)) | None => break Ending::ClientGone,
                }
            }
            Some(done) = prx.recv() => s.on_partial(done).await,
            _ = tick.tick() => s.on_tick().await,
            _ = ping.tick() => {
                if last_heard.elapsed() > CLIENT_SILENCE {
                    tracing::info!("realtime session {} timed out (no pong)", s.id());
                    break Ending::ClientGone;
                }
                out.try_send_control(Message::Ping(Vec::new().into()));
            }
            _ = &mut expiry => break Ending::Expired,
            _ = shutdown.cancelled() => break Ending::Shutdown,
        }
    };
    if ending.finishes_open_item() {
        // Speech in progress is accepted work: end it as if VAD had heard it stop.
        s.finish_open_item().await;
    }
    // Teardown: dropping the session drops the only sender of final jobs, so the finalizer ends
    // once the finals already accepted are reported.
    let id = s.id().to_string();
    drop(s);
    let farewell = ending.farewell(ctx.limits.max_session_s, max_frame);
    let by_server = farewell.is_some();
    let drained = end_finals(finalizer, &out, farewell, EXPIRY_DRAIN).await;
    if by_server {
        tracing::info!(session = %id, ?ending, drained, "realtime session ended by the server");
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    use super::finals::FinalJob;
    use super::finals::tests::{Script, StubRecognizer, drain, job, parts, second_pass};
    use super::turns::TurnEvent;
    use super::turns::tests::{push_frames, vad_turns};
    use super::*;
    use crate::engine::vad::FRAME;

    const MS: Duration = Duration::from_millis(1);

    #[tokio::test]
    async fn expiry_delivers_the_open_utterance_and_pending_finals_before_the_error() {
        // one turn (frames 10..40), then speech from frame 80 that is still going at the expiry
        fn script(frame: usize) -> f32 {
            if (10..40).contains(&frame) || frame >= 80 {
                0.9
            } else {
                0.0
            }
        }
        let mut turns = vad_turns(script);
        let mut events = push_frames(&mut turns, 120).await;
        assert_eq!(turns.open_item(), Some("item_2"));
        // the session hits its length cap: the utterance in progress is accepted work
        events.extend(turns.finish_open_item());
        let first = 40 * FRAME + 4800 - (10 * FRAME - 4800);
        let second = 120 * FRAME - (80 * FRAME - 4800);
        // the first final is slow: the goodbye must wait for it
        let stub = StubRecognizer::new(&[
            (first, Script::Text("first turn", 300 * MS)),
            (second, Script::Text("second turn", 10 * MS)),
        ]);
        let engine = stub.spawn(2);
        let (out, mut rx) = Outbound::channel(8);
        let (finals_tx, finalizer) = finals::spawn(out.clone(), parts(second_pass(), None));
        for ev in events {
            if let Some(wire) = events::wire_event(&ev) {
                out.send(wire).await;
            } else if let TurnEvent::FinalReady(audio) = ev {
                let job = FinalJob {
                    audio,
                    options: Default::default(),
                    engine: engine.clone(),
                    fallback: None,
                    review: crate::finalize::ReviewPlan::none(),
                    stopped_at: Instant::now(),
                    diarize: false,
                    early: None,
                };
                finals_tx.send(job).await.unwrap();
            }
        }
        drop(finals_tx);
        let farewell = Ending::Expired.farewell(1800, 1 << 20);
        assert!(end_finals(finalizer, &out, farewell, EXPIRY_DRAIN).await);
        let got = drain(&mut rx);
        let kinds: Vec<&str> = got
            .iter()
            .map(|e| e["type"].as_str().or(e["frame"].as_str()).unwrap())
            .collect();
        let at = |kind: &str, item: &str| {
            got.iter()
                .position(|e| e["type"] == kind && e["item_id"] == item)
                .unwrap_or_else(|| panic!("no {kind} of {item}: {kinds:?}"))
        };
        let completed = "conversation.item.input_audio_transcription.completed";
        assert!(at("input_audio_buffer.speech_stopped", "item_2") < at("input_audio_buffer.committed", "item_2"));
        assert_eq!(
            got[at("input_audio_buffer.speech_stopped", "item_2")]["audio_end_ms"],
            120 * 32
        );
        assert!(
            at(completed, "item_1") < at(completed, "item_2"),
            "commit order: {kinds:?}"
        );
        assert_eq!(got[at(completed, "item_2")]["transcript"], "second turn");
        let n = got.len();
        assert_eq!(kinds[n - 2], "error", "{kinds:?}");
        assert_eq!(got[n - 2]["error"]["code"], "session_expired");
        assert!(at(completed, "item_2") < n - 2);
        assert_eq!((kinds[n - 1], got[n - 1]["code"].as_u64()), ("close", Some(1001)));
    }

    #[tokio::test]
    async fn a_departed_client_gets_nothing_and_its_queued_finals_are_cancelled() {
        let stub = StubRecognizer::new(&[
            (1000, Script::Text("slow", 200 * MS)),
            (2000, Script::Text("queued", MS)),
        ]);
        let engine = stub.spawn(1);
        let (out, mut rx) = Outbound::channel(8);
        let (finals_tx, finalizer) = finals::spawn(out.clone(), parts(second_pass(), None));
        finals_tx.send(job("item_1", 1000, &engine)).await.unwrap();
        finals_tx.send(job("item_2", 2000, &engine)).await.unwrap();
        drop(finals_tx);
        // the client leaves while the first is running and the second is queued
        let m = engine.metrics();
        while m.queue_wait.snapshot().count == 0 {
            tokio::time::sleep(MS).await;
        }
        assert!(!end_finals(finalizer, &out, Ending::ClientGone.farewell(1800, 0), EXPIRY_DRAIN).await);
        let settled = || m.cancelled.load(Ordering::Relaxed) + m.abandoned.load(Ordering::Relaxed);
        for _ in 0..5000 {
            if settled() == 2 {
                break;
            }
            tokio::time::sleep(MS).await;
        }
        assert!(drain(&mut rx).is_empty(), "nothing is delivered to a departed client");
        assert_eq!(engine.metrics().cancelled.load(Ordering::Relaxed), 1);
        assert_eq!(engine.metrics().abandoned.load(Ordering::Relaxed), 1);
        assert_eq!(stub.answered(), [1000]);
    }

    #[tokio::test]
    async fn finals_a_departed_client_left_unsubmitted_are_counted_cancelled() {
        let stub = StubRecognizer::new(&[(1000, Script::Text("slow", 100 * MS))]);
        let engine = stub.spawn(1);
        let (out, mut rx) = Outbound::channel(8);
        let (finals_tx, finalizer) = finals::spawn(out.clone(), parts(second_pass(), None));
        for i in 0..5 {
            finals_tx.send(job(&format!("item_{i}"), 1000, &engine)).await.unwrap();
        }
        drop(finals_tx);
        // the client leaves before the finalizer has even taken the jobs
        assert!(!end_finals(finalizer, &out, Ending::ClientGone.farewell(1800, 0), EXPIRY_DRAIN).await);
        let m = engine.metrics();
        let settled = || m.cancelled.load(Ordering::Relaxed) + m.utterances.load(Ordering::Relaxed);
        for _ in 0..5000 {
            if settled() == 5 {
                break;
            }
            tokio::time::sleep(MS).await;
        }
        assert_eq!(settled(), 5, "each accepted final is decoded or cancelled");
        assert!(m.cancelled.load(Ordering::Relaxed) >= 4, "at most one ran");
        assert!(drain(&mut rx).is_empty(), "nothing is delivered to a departed client");
    }

    #[tokio::test]
    async fn shutdown_and_oversize_say_why_and_close_with_their_codes() {
        for (ending, code, err) in [
            (Ending::Shutdown, 1001, "server_shutting_down"),
            (Ending::TooBig, 1009, "invalid_value"),
        ] {
            let (out, mut rx) = Outbound::channel(8);
            let (no_jobs, finalizer) = finals::spawn(out.clone(), parts(second_pass(), None));
            drop(no_jobs);
            assert!(end_finals(finalizer, &out, ending.farewell(1800, 1 << 20), EXPIRY_DRAIN).await);
            let got = drain(&mut rx);
            assert_eq!(got.len(), 2, "{got:?}");
            assert_eq!(got[0]["error"]["code"], err);
            assert_eq!(got[1]["code"], code);
        }
        assert!(Ending::Expired.finishes_open_item() && Ending::Shutdown.finishes_open_item());
        assert!(!Ending::TooBig.finishes_open_item() && !Ending::ClientGone.finishes_open_item());
    }
}
