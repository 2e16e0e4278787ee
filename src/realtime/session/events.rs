//! The session proper: client events in, server events out. It owns the session's
//! configuration, its input decoder and its [`Turns`], reads each client event into a change of
//! configuration or of turns, and speaks every [`TurnEvent`] on the wire in the session's
//! dialect, choosing engines and decode options for partials and finals on the way.
//!
//! ```text
//!  text frame ─► parse ─► session.update / transcription_session.update ─► checks ─► config
//!                   └───► append / binary frame ─► decoder ─► Turns::push_audio ─┐
//!                   └───► commit / clear ───────────────────► Turns::commit|clear ┤
//!  tick (40 ms) ─► Turns::poll_partial, Turns::check_idle ────────────────────────┤
//!                                                                                  ▼
//!         TurnEvent ─► wire event ─► Outbound      PartialDue ─► fast engine ─► partial_result
//!                                                  FinalLikely ─► early final (own task)
//!                                                  FinalReady ─► FinalJob ─► finalizer
//! ```
//!
//! # Invariants
//!
//! * **Turn events are spoken in the order they happened**, each as it is handled: a
//!   `committed` is queued before its final job goes to the finalizer, so the item's `completed`
//!   can only follow it.
//! * **A refused update changes nothing.** An unknown model, a non-English language on the
//!   English-only model, an input format the decoder cannot read, or a review the server cannot
//!   do (a `glossary_id` that names no usable glossary, `review: "llm"` without an LLM reviewer,
//!   `diarization: true` without a speaker model) is answered with an `error` (param named,
//!   event id echoed) and the configuration, its review plan, decoder and VAD stay as they were.
//! * **One review per configuration.** Every accepted update rebuilds the session's review plan;
//!   partials go through its deterministic reviewers before the stabiliser (so live deltas carry
//!   corrected terms and stay append-only), and each final job carries the plan in force when
//!   its item was committed. An accepted one is answered in the dialect of the update event (GA `session.updated`,
//!   beta `transcription_session.updated`), whatever dialect the socket opened with.
//! * **Finals may start in the speaker's pause** ([`super::early`], `[realtime] early_finals`):
//!   a `FinalLikely` starts the item's final job on its likely audio while the final's engine
//!   has nothing queued; the commit hands that decode to the finalizer only when its audio is
//!   the committed item's, and an accepted update or a clear drops it.
//! * **Bad client input never ends the session**: oversize appends, undecodable audio and
//!   unsupported events are answered with an `error` and the session goes on.
//! * **Bounded partials on CTC engines**: when the session's fast engine has CTC word times and
//!   `[realtime] partial_tail_s` is set, partials decode the unsettled tail only and splice
//!   their words onto the settled prefix (`crate::realtime::tail`) before review and stabiliser.
//! * **Partials yield to finals** (`crate::realtime::degrade`): on every tick the degradation
//!   policy reads the fast engine's load and the session's caption lag and says whether the next
//!   partial runs at a (possibly stretched) cadence or is skipped (counted in
//!   `partials_stretched`, `partials_skipped_behind`, `partials_skipped_late`); finals are never
//!   held back. A delta the outbound queue cannot take is dropped (counted in
//!   `partials_dropped`) and ends its item's deltas. How long new speech waits for a partial
//!   that covers it ([`TurnEvent::PartialRefreshed`]) goes to the `partial_refresh` histogram.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::SessionParams;
use super::early::EarlyFinal;
use super::finals::FinalJob;
use super::outbound::Outbound;
use super::speakers;
use super::turns::{FinalAudio, RATE, SpeechDetector, TurnEvent, Turns, VadSettings};
use crate::batch::request::check_languages;
use crate::config::{FinalWindow, PartialDelay};
use crate::engine::recognizer::{DecodeOptions, Hypothesis, Task, Utterance};
use crate::engine::scheduler::{EngineHandle, PartialTicket, Priority, SchedError};
use crate::finalize::{PlanError, ReviewPlan};
use crate::realtime::context::SessionContext;
use crate::realtime::degrade::{EngineLoad, PartialPlan, SkipReason};
use crate::realtime::input::InputDecoder;
use crate::realtime::protocol::{self, ClientEvent, ErrorCode, ProtocolError, ServerEvent, SessionConfig};
use crate::realtime::stabilizer::Stability;
use crate::realtime::tail::{TailConfig, Window, timed_units};

/// The outcome of a partial decode, back from its task.
pub struct PartialDone {
    item: String,
    /// The tail window decoded (`None`: the whole item).
    window: Option<Window>,
    result: Result<Hypothesis, SchedError>,
}

/// The wire event of a turn event that maps to one (`None` for the turn engine's requests to
/// the caller: partials, deltas and finals, and for `CommitTooShort`, whose error needs the
/// client's event id). The same in both dialects.
pub fn wire_event(ev: &TurnEvent) -> Option<ServerEvent> {
    Some(match ev {
        TurnEvent::SpeechStarted { item, audio_start_ms } => ServerEvent::speech_started(item, *audio_start_ms),
        TurnEvent::SpeechStopped { item, audio_end_ms } => ServerEvent::speech_stopped(item, *audio_end_ms),
        TurnEvent::Committed { item, previous } => ServerEvent::committed(item, previous.clone()),
        TurnEvent::Cleared => ServerEvent::cleared(),
        TurnEvent::IdleTimeout {
            item,
            audio_start_ms,
            audio_end_ms,
        } => ServerEvent::timeout_triggered(item, *audio_start_ms, *audio_end_ms),
        TurnEvent::CommitTooShort { .. }
        | TurnEvent::PartialDue { .. }
        | TurnEvent::Delta { .. }
        | TurnEvent::PartialRefreshed { .. }
        | TurnEvent::FinalReady(_)
        | TurnEvent::FinalLikely { .. } => return None,
    })
}

/// The language of a configuration: its own, else the server's default.
fn language_of(ctx: &SessionContext, cfg: &SessionConfig) -> Option<String> {
    cfg.transcription
        .language
        .clone()
        .or_else(|| ctx.routes.default_language().map(str::to_string))
}

/// The review a configuration asks for, checked against the server (named glossary, LLM).
fn review_plan(ctx: &SessionContext, cfg: &SessionConfig) -> Result<ReviewPlan, PlanError> {
    ctx.second
        .plan(&cfg.transcription.review_fields(), language_of(ctx, cfg).as_deref())
}

/// The `error` of a review that cannot be done, naming the transcription field in the dialect
/// of the update (`session.audio.input.transcription.glossary_id`,
/// `session.input_audio_transcription.review`).
fn plan_error(e: &PlanError, beta: bool) -> ProtocolError {
    let at = if beta {
        "session.input_audio_transcription"
    } else {
        "session.audio.input.transcription"
    };
    ProtocolError::new(ErrorCode::InvalidValue, e.to_string()).with_param(format!("{at}.{}", e.param()))
}

/// Why `cfg` cannot open a session as it asks: a review this server cannot do (a `glossary_id`
/// that names no usable glossary, `review: "llm"` without an LLM reviewer), or live speakers
/// without a speaker model. Client secrets check their preset with it when they are minted, so
/// the mint request fails rather than the sessions it would open; [`Session::new`] checks again
/// (a named glossary may have gone since).
pub fn check_preset(ctx: &SessionContext, cfg: &SessionConfig, beta: bool) -> Result<(), ProtocolError> {
    review_plan(ctx, cfg).map_err(|e| plan_error(&e, beta))?;
    speakers::check_available(cfg, ctx.engines.speaker.is_some(), beta)
}

/// The VAD settings of a configuration (`None`: manual commit).
fn vad_settings(cfg: &SessionConfig) -> Option<VadSettings> {
    cfg.turn_detection.effective_vad().map(|v| VadSettings {
        threshold: v.threshold as f32,
        prefix_padding_ms: v.prefix_padding_ms,
        silence_duration_ms: v.silence_duration_ms,
        idle_timeout_ms: v.idle_timeout_ms,
    })
}

/// One session's state between its client and the engines.
pub struct Session {
    ctx: Arc<SessionContext>,
    id: String,
    beta: bool,
    expires_at: u64,
    cfg: SessionConfig,
    out: Arc<Outbound>,
    finals: mpsc::Sender<FinalJob>,
    partials: mpsc::Sender<PartialDone>,
    /// In a mutex only so that the session is `Sync` (libopus state is not); never contended.
    decoder: std::sync::Mutex<Option<InputDecoder>>,
    turns: Turns,
    scratch: Vec<f32>,
    /// The review of the current configuration (rebuilt on every accepted update).
    review: ReviewPlan,
    /// Why the configuration the session opened with could not be reviewed as it asked (sent
    /// after `created`).
    refused_preset: Option<ProtocolError>,
    /// The open item's final, decoding ahead of its commit ([`super::early`]).
    early: Option<EarlyFinal>,
}

impl Session {
    /// A session opened with `params`, speaking through `out`, handing finals to `finals` and
    /// sending the outcomes of its partial decodes to `partials`.
    pub fn new(
        ctx: Arc<SessionContext>,
        params: SessionParams,
        out: Arc<Outbound>,
        finals: mpsc::Sender<FinalJob>,
        partials: mpsc::Sender<PartialDone>,
    ) -> Self {
        let mut cfg = match params.preset.clone() {
            Some(c) => c,
            None => SessionConfig::with_model(params.url_model.clone().unwrap_or_else(|| "auto".into())),
        };
        if ctx.limits.partial_interval_ms == 0 {
            cfg.partial_interval_ms = Some(0);
        }
        // A preset was checked when its secret was minted, but a named glossary may have gone
        // since: the session opens without the review extensions and says why.
        let (review, refused_preset) = match review_plan(&ctx, &cfg) {
            Ok(plan) => (plan, None),
            Err(e) => {
                let err = plan_error(&e, params.beta);
                cfg.transcription.glossary_id = None;
                cfg.transcription.review = None;
                (
                    review_plan(&ctx, &cfg).unwrap_or_else(|_| ReviewPlan::none()),
                    Some(err),
                )
            }
        };
        // Live speakers need a speaker model: without one the preset's `diarization` is dropped.
        let refused_preset = match speakers::check_available(&cfg, ctx.engines.speaker.is_some(), params.beta) {
            Ok(()) => refused_preset,
            Err(e) => {
                cfg.transcription.diarization = None;
                refused_preset.or(Some(e))
            }
        };
        let expires_at = crate::ids::now_s() + ctx.limits.max_session_s;
        let turns = Turns::new(ctx.limits.partial_window_s, Box::new(protocol::new_item_id));
        let mut s = Self {
            id: protocol::new_session_id(),
            beta: params.beta,
            expires_at,
            cfg,
            out,
            finals,
            partials,
            decoder: std::sync::Mutex::new(None),
            turns,
            scratch: Vec::new(),
            review,
            refused_preset,
            early: None,
            ctx,
        };
        s.reconfigure();
        s
    }

    /// The session id (`sess_…`).
    pub fn id(&self) -> &str {
        &self.id
    }

    fn session_json(&self) -> serde_json::Value {
        if self.beta {
            self.cfg.to_beta_json(&self.id, self.expires_at)
        } else {
            self.cfg.to_ga_json(&self.id, self.expires_at)
        }
    }

    /// Sends `session.created` (GA) or `transcription_session.created` (beta).
    pub async fn send_created(&mut self) {
        let ev = if self.beta {
            ServerEvent::transcription_session_created(self.session_json())
        } else {
            ServerEvent::session_created(self.session_json())
        };
        self.out.send(ev).await;
        if let Some(e) = self.refused_preset.take() {
            self.error(e).await;
        }
    }

    async fn error(&self, err: ProtocolError) {
        self.out.send(ServerEvent::error(&err)).await;
    }

    /// Rebuilds decoder and VAD, and sets the stabiliser's `delay`, after a configuration change.
    fn reconfigure(&mut self) {
        let mut dec = self.decoder.lock().unwrap_or_else(|p| p.into_inner());
        if dec.as_ref().map(|d| d.format()) != Some(self.cfg.format) {
            *dec = InputDecoder::new(self.cfg.format).ok();
        }
        drop(dec);
        let delay = self.cfg.transcription.delay.map(PartialDelay::from);
        self.turns
            .set_stability(Stability::from(delay.unwrap_or(self.ctx.limits.partial_delay)));
        let vad = &self.ctx.engines.vad;
        self.turns.configure(vad_settings(&self.cfg), || {
            Box::new(vad.stream()) as Box<dyn SpeechDetector>
        });
    }

    fn language(&self) -> Option<String> {
        language_of(&self.ctx, &self.cfg)
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
            languages: self
                .cfg
                .transcription
                .languages
                .clone()
                .and_then(|l| check_languages(l).ok())
                .filter(|l| !l.is_empty()),
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
        self.ctx.routes.finalizer(lang.as_deref(), duration_s).clone()
    }

    /// Handles one text frame.
    pub async fn on_text(&mut self, text: &str) {
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
            ClientEvent::InputAudioBufferCommit { .. } => {
                let events = self.turns.commit();
                self.emit(events, event_id).await;
            }
            ClientEvent::InputAudioBufferClear { .. } => {
                let events = self.turns.clear();
                self.emit(events, event_id).await;
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
        // The model's own abilities decide, as for REST (`routing`), never its name.
        if let Some(h) = next
            .transcription
            .model
            .as_deref()
            .and_then(|m| self.ctx.engines.get(m))
            && let Err(refused) = crate::routing::check_language(h, next.transcription.language.as_deref())
        {
            let e = ProtocolError::new(ErrorCode::InvalidValue, refused.to_string())
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
        if let Err(e) = speakers::check_available(&next, self.ctx.engines.speaker.is_some(), beta_reply) {
            return self.error(e.with_event_id(event_id)).await;
        }
        let review = match review_plan(&self.ctx, &next) {
            Ok(plan) => plan,
            Err(e) => return self.error(plan_error(&e, beta_reply).with_event_id(event_id)).await,
        };
        self.review = review;
        self.cfg = next;
        // an early final was started under the old configuration
        self.early = None;
        self.reconfigure();
        let ev = if beta_reply {
            ServerEvent::transcription_session_updated(self.cfg.to_beta_json(&self.id, self.expires_at))
        } else {
            ServerEvent::session_updated(self.session_json())
        };
        self.out.send(ev).await;
    }

    /// Handles the audio of an `append` (`event_id` set) or of a binary frame.
    pub async fn on_audio(&mut self, event_id: Option<String>, bytes: &[u8]) {
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
        let events = self.turns.push_audio(&chunk, Instant::now()).await;
        self.scratch = chunk;
        self.emit(events, None).await;
    }

    /// The session's clock: a partial when one is due (paced, stretched or skipped by the
    /// degradation policy), and the idle timeout.
    pub async fn on_tick(&mut self) {
        self.turns.set_partial_tail(self.partial_tail());
        let now = Instant::now();
        let fast = self.ctx.routes.fast(self.language().as_deref());
        let load = EngineLoad::of(fast);
        let plan = self
            .ctx
            .limits
            .degrade
            .partial(self.base_interval(), &load, self.turns.caption_lag_s());
        match plan {
            PartialPlan::Off => {}
            PartialPlan::Skip { cadence, why } => {
                if self.turns.skip_partial(now, cadence) {
                    let counter = match why {
                        SkipReason::FarBehind => &self.ctx.partials_skipped_behind,
                        SkipReason::FinalsLate => &self.ctx.partials_skipped_late,
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            }
            PartialPlan::Run { cadence, stretch } => {
                if let Some(ev) = self.turns.poll_partial(now, Some(cadence)) {
                    if stretch > 1 {
                        self.ctx.partials_stretched.fetch_add(1, Ordering::Relaxed);
                    }
                    self.emit(vec![ev], None).await;
                }
            }
        }
        if let Some(ev) = self.turns.check_idle() {
            self.emit(vec![ev], None).await;
        }
    }

    /// A partial decode came back.
    pub async fn on_partial(&mut self, done: PartialDone) {
        // The glossary corrects the partial before the stabiliser sees it, so the stable prefix
        // (and the deltas) already carry the terms, and the final's review agrees with it.
        let (text, probabilities) = match (done.result, done.window) {
            (Ok(h), Some(w)) => (self.turns.splice_partial(&done.item, w, &timed_units(&h)), Vec::new()),
            (Ok(h), None) => (Some(h.text), h.word_probabilities),
            (Err(_), _) => (None, Vec::new()),
        };
        let text = text.map(|t| self.ctx.second.review_partial(&self.review, t.trim()).text);
        let events = self
            .turns
            .partial_result(&done.item, text.as_deref(), &probabilities, Instant::now());
        self.emit(events, None).await;
    }

    /// At the end of a session the server ends: the utterance in progress is committed and
    /// handed to the finalizer (see [`Turns::finish_open_item`]).
    pub async fn finish_open_item(&mut self) {
        let events = self.turns.finish_open_item();
        self.emit(events, None).await;
    }

    /// The tail window of partials: the configured one when the fast engine has CTC word times;
    /// with `partial_tail_prompted`, one without left context when its decoder takes a prompt
    /// (Whisper drafts, cut at segment times).
    fn partial_tail(&self) -> Option<TailConfig> {
        let tail = self.ctx.limits.partial_tail?;
        let fast = self.ctx.routes.fast(self.language().as_deref());
        if fast.ctc_word_times() {
            Some(tail)
        } else if self.ctx.limits.partial_tail_prompted && fast.abilities().prompt {
            Some(TailConfig { context_s: 0.0, ..tail })
        } else {
            None
        }
    }

    /// The session's own partial cadence (`None`: partials off), before the degradation policy.
    fn base_interval(&self) -> Option<Duration> {
        let base = self
            .cfg
            .partial_interval_ms
            .map(u64::from)
            .unwrap_or(self.ctx.limits.partial_interval_ms);
        (base > 0).then(|| Duration::from_millis(base))
    }

    /// Speaks turn events, in order; `event_id` is the client event that caused them.
    async fn emit(&mut self, events: Vec<TurnEvent>, event_id: Option<String>) {
        for ev in events {
            if matches!(ev, TurnEvent::Cleared) {
                // the open item's audio is gone, and with it its early final
                self.early = None;
            }
            match ev {
                TurnEvent::CommitTooShort { ms } => {
                    self.error(ProtocolError::commit_empty(ms).with_event_id(event_id.clone()))
                        .await
                }
                TurnEvent::PartialDue {
                    item,
                    samples,
                    ticket,
                    window,
                    settled,
                    word_probabilities,
                } => self.start_partial(item, samples, ticket, window, settled, word_probabilities),
                TurnEvent::Delta { item, text } => self.send_delta(&item, text),
                TurnEvent::PartialRefreshed { after, .. } => self.ctx.partial_refresh.observe(after.as_secs_f64()),
                TurnEvent::FinalLikely { item, samples } => self.start_early_final(item, samples),
                TurnEvent::FinalReady(audio) => {
                    let mut job = self.final_job(audio);
                    job.early = self
                        .early
                        .take()
                        .filter(|e| e.decodes(&job.audio.item, &job.audio.samples));
                    if job.early.is_some() {
                        self.ctx.early_finals_used.fetch_add(1, Ordering::Relaxed);
                    }
                    let _ = self.finals.send(job).await;
                }
                other => {
                    if let Some(wire) = wire_event(&other) {
                        self.out.send(wire).await;
                    }
                }
            }
        }
    }

    /// Starts the final of the open `item` on `samples`, its audio should the speaker's pause
    /// end the turn ([`super::early`]), when `[realtime] early_finals` is on and the engine that
    /// would decode it has nothing queued. It replaces (and so stops) any earlier one.
    fn start_early_final(&mut self, item: String, samples: Arc<[f32]>) {
        self.early = None;
        if !self.ctx.limits.early_finals {
            return;
        }
        let job = self.final_job(FinalAudio {
            item,
            samples,
            stabilizer: Default::default(),
            deltas_broken: false,
        });
        // nothing queued: the early final runs next, ahead of no waiting work
        let load = EngineLoad::of(&job.engine);
        if load.finals_queued > 0 || load.partials_queued > 0 {
            return;
        }
        self.ctx.early_finals_started.fetch_add(1, Ordering::Relaxed);
        let vad = Some(self.ctx.engines.vad.clone());
        self.early = Some(EarlyFinal::start(job, self.ctx.second.clone(), vad));
    }

    /// Decodes a partial of `item` on the fast engine; the outcome comes back as [`PartialDone`].
    /// A tail window is spliced by its words' frame times (CTC engines), or by its segments'
    /// times with the settled text as the prompt (prompted engines, `crate::realtime::tail`).
    fn start_partial(
        &self,
        item: String,
        samples: Arc<[f32]>,
        ticket: PartialTicket,
        window: Option<Window>,
        settled: String,
        word_probabilities: bool,
    ) {
        let engine = self.ctx.routes.fast(self.language().as_deref()).clone();
        let ctc = engine.ctc_word_times();
        // how sure the engine is of each word, where it can say and the stabiliser can use it
        // (a whole-item draft: a tail window's words are spliced onto text decoded before)
        let word_probabilities = word_probabilities && window.is_none() && engine.abilities().word_probabilities;
        let options = DecodeOptions {
            language: self.language(),
            draft: true,
            // a tail window is spliced by timed units (CTC words; a Whisper draft's segments)
            word_timestamps: window.is_some(),
            prompt: (window.is_some() && !ctc && !settled.is_empty()).then_some(settled),
            word_probabilities,
            ..Default::default()
        };
        let partials = self.partials.clone();
        tokio::spawn(async move {
            let r = engine
                .try_recognize(Utterance { samples, options }, Priority::Partial, Some(ticket))
                .await;
            let done = PartialDone {
                item,
                window,
                result: r,
            };
            let _ = partials.send(done).await;
        });
    }

    /// Queues a delta if a delta place is free; otherwise drops it, which ends the item's deltas.
    fn send_delta(&mut self, item: &str, text: String) {
        if !self.out.try_send_partial(ServerEvent::delta(item, text)) {
            self.turns.delta_dropped(item);
            self.ctx.partials_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The final job of a committed item: engine by model, language and length, the engine
    /// that answers if it fails, and the session's review.
    fn final_job(&self, audio: FinalAudio) -> FinalJob {
        let engine = self.final_engine(audio.samples.len() as f32 / RATE as f32);
        let language = self.language();
        let fallback = self
            .ctx
            .routes
            .fallback(&engine, language.as_deref(), Task::Transcribe)
            .cloned();
        FinalJob {
            audio,
            options: DecodeOptions {
                short_window: self.ctx.limits.final_window == FinalWindow::Short,
                ..self.options()
            },
            engine,
            fallback,
            review: self.review.clone(),
            stopped_at: Instant::now(),
            diarize: self.cfg.transcription.diarization(),
            early: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(ev: &TurnEvent) -> serde_json::Value {
        serde_json::from_str(&wire_event(ev).expect("a wire event").to_json()).unwrap()
    }

    #[test]
    fn turn_events_map_onto_openai_events() {
        let v = json(&TurnEvent::SpeechStarted {
            item: "item_1".into(),
            audio_start_ms: 340,
        });
        assert_eq!(
            (v["type"].as_str(), v["item_id"].as_str(), v["audio_start_ms"].as_u64()),
            (Some("input_audio_buffer.speech_started"), Some("item_1"), Some(340))
        );
        let v = json(&TurnEvent::SpeechStopped {
            item: "item_1".into(),
            audio_end_ms: 2220,
        });
        assert_eq!(
            (v["type"].as_str(), v["audio_end_ms"].as_u64()),
            (Some("input_audio_buffer.speech_stopped"), Some(2220))
        );
        let v = json(&TurnEvent::Committed {
            item: "item_2".into(),
            previous: Some("item_1".into()),
        });
        assert_eq!(v["type"], "input_audio_buffer.committed");
        assert_eq!(v["previous_item_id"], "item_1");
        let v = json(&TurnEvent::Committed {
            item: "item_1".into(),
            previous: None,
        });
        assert!(v["previous_item_id"].is_null() && v.get("previous_item_id").is_some());
        assert_eq!(json(&TurnEvent::Cleared)["type"], "input_audio_buffer.cleared");
        let v = json(&TurnEvent::IdleTimeout {
            item: "item_9".into(),
            audio_start_ms: 0,
            audio_end_ms: 1024,
        });
        assert_eq!(v["type"], "input_audio_buffer.timeout_triggered");
        assert_eq!(
            (v["audio_start_ms"].as_u64(), v["audio_end_ms"].as_u64()),
            (Some(0), Some(1024))
        );
        assert!(wire_event(&TurnEvent::CommitTooShort { ms: 50.0 }).is_none());
    }

    #[test]
    fn a_short_commit_is_answered_with_openais_commit_empty_error() {
        let v: serde_json::Value = serde_json::from_str(
            &ServerEvent::error(&ProtocolError::commit_empty(99.0).with_event_id(Some("evt_1"))).to_json(),
        )
        .unwrap();
        assert_eq!(v["error"]["code"], "input_audio_buffer_commit_empty");
        assert_eq!(v["error"]["event_id"], "evt_1");
        assert!(v["error"]["message"].as_str().unwrap().contains("99.00ms"));
    }
}
