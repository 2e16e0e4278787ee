//! The turn engine: a session's audio buffer, voice activity detection, the open item, manual
//! commit and clear, and the pacing of partial decodes, as plain Rust values in and
//! [`TurnEvent`]s out. No socket, no wire types, no engines: speech probabilities come from a
//! [`SpeechDetector`] the caller supplies (Silero in the server, a script in tests), decodes are
//! requested as [`TurnEvent::PartialDue`] / [`TurnEvent::FinalReady`] and run by the caller,
//! time is passed in, and item ids come from the id source given at construction.
//!
//! ```text
//!  16 kHz audio ─► buffer ─► detector ─► segmenter ─► SpeechStarted ─► open item
//!                    │                                                   │ poll_partial: PartialDue
//!                    │                         SpeechStopped / commit ─► Committed, FinalReady
//!                    └─ trimmed to the prefix padding (+1 s) while nobody speaks
//! ```
//!
//! # Invariants
//!
//! * **Sample clock.** Positions are absolute 16 kHz sample indices since the session's first
//!   audio (`total` counts every sample pushed). `buffer[0]` is sample `buffer_start`; the VAD
//!   stream, which may start later (VAD switched on mid-session), reports positions relative to
//!   `vad_offset`. Event times are `sample / 16` ms.
//! * **Every committed item is announced, then handed over.** [`TurnEvent::Committed`] is always
//!   followed at once by the item's [`TurnEvent::FinalReady`] with its audio; the caller queues
//!   the final after it queued `committed`. `previous` is the item committed before it (`None`
//!   for the first).
//! * **A commit needs 100 ms.** A manual commit with less uncommitted audio changes nothing and
//!   yields [`TurnEvent::CommitTooShort`]; the end of a session ([`Turns::finish_open_item`])
//!   quietly drops such a fragment, and commits anything longer that is open.
//! * **Partials are paced and never stale.** At most one partial of the open item is in flight;
//!   the next is due once the interval has passed since the last one *and* there is new audio;
//!   none before 300 ms of speech and none once the item is longer than the partial window.
//!   With server VAD the new audio must also hold sound: while the detector hears only quiet
//!   (below its end threshold) since the last partial's audio, no partial is due, since a pause
//!   or the silence that ends a turn adds no word (at best the same text again, at worst
//!   a word the model makes up from noise).
//!   Each [`TurnEvent::PartialDue`] carries a fresh ticket that makes the session's earlier ones
//!   stale in the engine queues, and a result for an item that is no longer open is dropped.
//! * **How long new speech waits for a partial is reported.** From an item's second returned
//!   partial on, each one that comes back with text yields [`TurnEvent::PartialRefreshed`]: the
//!   time since the item first had sound (any audio in manual mode) past what its previous
//!   returned partial covered, or since that partial came back if the sound came sooner. A
//!   pause heard as quiet does not count; a failed, stale or skipped partial does.
//! * **A skipped partial counts as run for pacing.** [`Turns::skip_partial`] (the degradation
//!   policy, `crate::realtime::degrade`) restarts the interval without decoding, so a skip
//!   happens at most once per interval; [`Turns::caption_lag_s`] is the open item's audio past
//!   what its last returned partial covered.
//! * **Bounded partials.** With a tail window set ([`Turns::set_partial_tail`]), a partial
//!   decodes only the item's unsettled tail plus left context (its [`Window`] rides along), and
//!   its words are spliced onto the item's settled prefix ([`Turns::splice_partial`],
//!   `crate::realtime::tail`) before the stabiliser sees the text. Finals always get the whole
//!   item.
//! * **Dropped deltas end an item's deltas.** After [`Turns::delta_dropped`] the item asks for no
//!   more partials, and its final reports that no closing delta may be sent (clients concatenate
//!   deltas, so a gap would corrupt the text).
//! * **Early finals are announced, never assumed.** With server VAD, once the open item's
//!   speaker has paused for the prefix padding, [`TurnEvent::FinalLikely`] carries the audio its
//!   final will have if the pause ends the turn (once per distinct end). Speech that resumes
//!   moves the end; only a [`TurnEvent::FinalReady`] commits, and its audio says whether the
//!   early one still holds.
//! * **Bounded buffer.** With server VAD, only the prefix padding plus 1 s is kept while nobody
//!   speaks, and utterances are cut at the segmenter's maximum length; in manual mode the buffer
//!   keeps the newest 300 s.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use crate::engine::recognizer::EngineError;
use crate::engine::recognizer::{Word, WordProbability};
use crate::engine::scheduler::PartialTicket;
use crate::engine::vad::{Segmenter, SegmenterConfig, SileroStream, VadEvent};
use crate::realtime::stabilizer::{Stability, Stabilizer};
use crate::realtime::tail::{TailConfig, TailSplicer, Window};

/// Samples per second of session audio.
pub const RATE: usize = 16_000;
/// Audio needed for a commit (OpenAI: 100 ms).
pub const MIN_COMMIT_SAMPLES: usize = RATE / 10;
/// Longest manual-mode buffer kept, seconds.
const MAX_MANUAL_BUFFER_S: usize = 300;
/// Speech needed before the first partial of an item (300 ms).
const MIN_PARTIAL_SAMPLES: usize = RATE * 3 / 10;
/// Shortest speech the segmenter accepts as a turn, ms.
const MIN_SPEECH_MS: u32 = 200;

/// Speech probabilities of a stream of 16 kHz audio: one per completed 512-sample frame, state
/// carried between calls. Called on a blocking thread.
pub trait SpeechDetector: Send + Sync {
    /// Feeds samples of any length; returns the probabilities of the frames they completed.
    fn push(&mut self, samples: &[f32]) -> Result<Vec<f32>, EngineError>;
}

impl SpeechDetector for SileroStream {
    fn push(&mut self, samples: &[f32]) -> Result<Vec<f32>, EngineError> {
        SileroStream::push(self, samples)
    }
}

/// Server VAD settings, as the turn engine reads them (`None` in [`Turns::configure`] means
/// manual commit).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VadSettings {
    /// Speech probability threshold, 0..=1.
    pub threshold: f32,
    /// Audio kept before detected speech, ms.
    pub prefix_padding_ms: u32,
    /// Silence that ends a turn, ms.
    pub silence_duration_ms: u32,
    /// Report an idle stretch after this much audio without speech, ms.
    pub idle_timeout_ms: Option<u32>,
}

/// The audio of a committed item, for its final decode.
#[derive(Debug)]
pub struct FinalAudio {
    /// Item id.
    pub item: String,
    /// The item's audio, 16 kHz.
    pub samples: Arc<[f32]>,
    /// The partial stabiliser of the item (what its deltas already said).
    pub stabilizer: Stabilizer,
    /// A delta of this item was dropped: its final must not send a closing delta.
    pub deltas_broken: bool,
}

/// What the turn engine tells its caller, in the order it happened.
#[derive(Debug)]
pub enum TurnEvent {
    /// Server VAD heard speech begin; `item` is the id the utterance will have.
    SpeechStarted {
        /// Item id.
        item: String,
        /// Start of the utterance (prefix padding included), ms of session audio.
        audio_start_ms: u64,
    },
    /// Server VAD heard speech end (or the session ended while it went on).
    SpeechStopped {
        /// Item id.
        item: String,
        /// End of the utterance, ms of session audio.
        audio_end_ms: u64,
    },
    /// An item was committed; its [`TurnEvent::FinalReady`] follows.
    Committed {
        /// Item id.
        item: String,
        /// The item committed before it.
        previous: Option<String>,
    },
    /// A manual commit found less than 100 ms of audio; nothing changed.
    CommitTooShort {
        /// Uncommitted audio, ms.
        ms: f64,
    },
    /// The uncommitted audio and the open item were discarded.
    Cleared,
    /// Server VAD heard no speech for `idle_timeout_ms` (once per silent stretch).
    IdleTimeout {
        /// A fresh item id (nothing is committed).
        item: String,
        /// Start of the silence, ms.
        audio_start_ms: u64,
        /// Now, ms.
        audio_end_ms: u64,
    },
    /// Decode `samples` as a partial of the open item and report it with
    /// [`Turns::partial_result`].
    PartialDue {
        /// Item id.
        item: String,
        /// The item's audio so far, or with a tail window set, the window's audio.
        samples: Arc<[f32]>,
        /// Makes every earlier partial ticket of the session stale.
        ticket: PartialTicket,
        /// The tail window `samples` are (item-relative); `None`: the whole item. Hand it back
        /// to [`Turns::splice_partial`] with the decoded words.
        window: Option<Window>,
        /// The item's settled text (empty without a tail window, or before anything settled):
        /// the prompt of a prompted engine's tail decode.
        settled: String,
        /// The stabiliser can use word probabilities now ([`Stabilizer::wants_probabilities`]):
        /// ask the engine for them if it reports them, and pass them to
        /// [`Turns::partial_result`].
        word_probabilities: bool,
    },
    /// A partial of the open item came back with text, `after` the item first had speech that
    /// its previous partial did not cover (or after that partial came back, if the speech came
    /// sooner): how long new speech waited for a decode, the live caption's refresh interval.
    /// Not reported for an item's first partial (its wait is the first delta's) nor for a
    /// partial that failed or went stale (the wait runs on to the next one that comes back).
    PartialRefreshed {
        /// Item id.
        item: String,
        /// New speech → this partial's result.
        after: Duration,
    },
    /// New stable text of the open item, to be sent as a delta (droppable; report a drop with
    /// [`Turns::delta_dropped`]).
    Delta {
        /// Item id.
        item: String,
        /// The text to append.
        text: String,
    },
    /// A committed item's audio, to be decoded as its final.
    FinalReady(FinalAudio),
    /// Server VAD hears the open item's speaker pause long enough that the item's audio, should
    /// the pause end the turn, is all here: `samples` is what its [`TurnEvent::FinalReady`] will
    /// carry then. The caller may decode it early and use that decode when the final's audio is
    /// the same; speech that resumes withdraws it (a later `FinalLikely` of the item, or a
    /// `FinalReady` of other audio, says so).
    FinalLikely {
        /// Item id.
        item: String,
        /// The audio the item's final will have if the turn ends in this pause.
        samples: Arc<[f32]>,
    },
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
    /// Audio of the item (samples) covered by the last partial that came back with text.
    shown_len: usize,
    /// When the last partial came back with text.
    shown_at: Option<Instant>,
    /// Since the last partial came back: when speech beyond `shown_len` was first heard.
    news_at: Option<Instant>,
    /// The settled prefix of bounded partials.
    splicer: TailSplicer,
    /// The absolute end of the last [`TurnEvent::FinalLikely`] of the item.
    likely_end: Option<usize>,
}

/// Server VAD state: the detector and the segmenter over its probabilities.
struct Vad {
    detector: Box<dyn SpeechDetector>,
    segmenter: Segmenter,
    settings: VadSettings,
}

/// A source of fresh item ids.
pub type ItemIds = Box<dyn FnMut() -> String + Send + Sync>;

/// One session's turn state.
pub struct Turns {
    new_id: ItemIds,
    /// Longest item that still gets partials, samples.
    partial_window: usize,
    /// The segmenter cuts utterances at this length, seconds.
    max_segment_s: f32,
    /// Audio not yet committed; `buffer[0]` is absolute sample `buffer_start`.
    buffer: VecDeque<f32>,
    buffer_start: usize,
    total: usize,
    vad: Option<Vad>,
    /// Absolute sample index where the current VAD stream started.
    vad_offset: usize,
    open: Option<OpenItem>,
    previous_item: Option<String>,
    partial_gen: Arc<AtomicU64>,
    /// Absolute sample where the current silence began, and whether it was reported.
    idle_since: usize,
    idle_reported: bool,
    /// Bounded partials: decode the unsettled tail only (`None`: the whole item).
    tail: Option<TailConfig>,
    /// How many partials must agree on a word before it is sent (the session's `delay`).
    stability: Stability,
}

impl Turns {
    /// A manual-commit turn engine (call [`Turns::configure`] for server VAD). Partials stop once
    /// an item is longer than `partial_window_s`; the VAD cuts utterances at that length (at least
    /// 2 s).
    pub fn new(partial_window_s: f32, new_id: ItemIds) -> Self {
        Self {
            new_id,
            partial_window: (partial_window_s * RATE as f32) as usize,
            max_segment_s: partial_window_s.max(2.0),
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
            tail: None,
            stability: Stability::default(),
        }
    }

    /// Sets how many partials must agree on a word before it goes out as a delta, for the open
    /// item from its next partial on and for every later item.
    pub fn set_stability(&mut self, stability: Stability) {
        self.stability = stability;
        if let Some(open) = self.open.as_mut() {
            open.stabilizer.set_stability(stability);
        }
    }

    /// Sets how partials decode from now on: `Some` decodes only the unsettled tail of the open
    /// item plus left context (for engines with CTC word times), `None` the whole item. An item
    /// keeps its settled prefix across changes.
    pub fn set_partial_tail(&mut self, tail: Option<TailConfig>) {
        self.tail = tail;
    }

    /// Switches turn detection: `Some` runs server VAD with these settings (a running VAD keeps
    /// its detector state; a new one gets `detector()` and starts at the current sample), `None`
    /// selects manual commit. The open item, if any, stays open.
    pub fn configure(&mut self, vad: Option<VadSettings>, detector: impl FnOnce() -> Box<dyn SpeechDetector>) {
        let Some(settings) = vad else {
            self.vad = None;
            return;
        };
        let cfg = SegmenterConfig {
            threshold: settings.threshold,
            min_speech_ms: MIN_SPEECH_MS,
            min_silence_ms: settings.silence_duration_ms,
            max_segment_s: self.max_segment_s,
            padding_ms: settings.prefix_padding_ms,
        };
        match self.vad.as_mut() {
            Some(v) => {
                v.segmenter.set_config(cfg);
                v.settings = settings;
            }
            None => {
                self.vad = Some(Vad {
                    detector: detector(),
                    segmenter: Segmenter::new(cfg),
                    settings,
                });
                self.vad_offset = self.total;
            }
        }
    }

    /// The open item's id, if an utterance is open.
    pub fn open_item(&self) -> Option<&str> {
        self.open.as_ref().map(|o| o.id.as_str())
    }

    /// Appends 16 kHz audio that arrived at `now`. With server VAD the detector runs on a
    /// blocking thread and the segmenter's events become turn events; in manual mode the audio
    /// joins the open item (opened by the first audio, without an event).
    pub async fn push_audio(&mut self, chunk: &[f32], now: Instant) -> Vec<TurnEvent> {
        let events = self.append(chunk).await;
        if self.has_news()
            && let Some(open) = self.open.as_mut()
            && open.shown_at.is_some()
        {
            open.news_at.get_or_insert(now);
        }
        events
    }

    /// Whether the open item has speech its last returned partial did not cover: with server
    /// VAD, sound the detector heard past it; in manual mode, any audio past it.
    fn has_news(&self) -> bool {
        let Some(item) = self.open.as_ref() else { return false };
        let shown = item.start + item.shown_len;
        match self.vad.as_ref() {
            Some(v) => self.vad_offset + v.segmenter.sound_end() > shown,
            None => self.total > shown,
        }
    }

    /// [`Turns::push_audio`] without the clock.
    async fn append(&mut self, chunk: &[f32]) -> Vec<TurnEvent> {
        let mut events = Vec::new();
        self.buffer.extend(chunk.iter().copied());
        self.total += chunk.len();
        let Some(mut vad) = self.vad.take() else {
            if self.open.is_none() && !chunk.is_empty() {
                self.open = Some(self.new_item(self.buffer_start));
            }
            let max = MAX_MANUAL_BUFFER_S * RATE;
            if self.buffer.len() > max {
                self.drop_front(self.buffer.len() - max);
                if let Some(o) = self.open.as_mut() {
                    o.start = o.start.max(self.buffer_start);
                }
            }
            return events;
        };
        let samples = chunk.to_vec();
        let Ok((vad_back, probs)) = tokio::task::spawn_blocking(move || {
            let probs = vad.detector.push(&samples);
            (vad, probs)
        })
        .await
        else {
            // the detector panicked: the session goes on without VAD
            return events;
        };
        let mut vad = vad_back;
        let mut seen = Vec::new();
        match probs {
            Ok(p) => {
                for prob in p {
                    seen.extend(vad.segmenter.push(prob));
                }
            }
            Err(e) => tracing::warn!("VAD failed: {e}"),
        }
        let likely_end = vad.segmenter.likely_end().map(|end| end + self.vad_offset);
        self.vad = Some(vad);
        for ev in seen {
            self.on_vad(ev, &mut events);
        }
        if self.open.is_none() {
            self.trim_idle_buffer();
        }
        if let Some(end) = likely_end {
            self.final_likely(end, &mut events);
        }
        events
    }

    /// Announces the open item's audio up to `end` as its likely final, once per end.
    fn final_likely(&mut self, end: usize, events: &mut Vec<TurnEvent>) {
        let Some(item) = self
            .open
            .as_mut()
            .filter(|o| o.likely_end != Some(end) && end > o.start)
        else {
            return;
        };
        item.likely_end = Some(end);
        let (id, start) = (item.id.clone(), item.start);
        events.push(TurnEvent::FinalLikely {
            item: id,
            samples: self.slice(start, end),
        });
    }

    fn on_vad(&mut self, ev: VadEvent, events: &mut Vec<TurnEvent>) {
        match ev {
            VadEvent::SpeechStarted { start } => {
                let start = (start + self.vad_offset).max(self.buffer_start);
                let item = self.new_item(start);
                self.idle_reported = false;
                events.push(TurnEvent::SpeechStarted {
                    item: item.id.clone(),
                    audio_start_ms: (start / 16) as u64,
                });
                self.open = Some(item);
            }
            VadEvent::SpeechStopped { end, .. } => {
                let end = end + self.vad_offset;
                self.idle_since = end;
                if let Some(item) = self.open.take() {
                    events.push(TurnEvent::SpeechStopped {
                        item: item.id.clone(),
                        audio_end_ms: (end / 16) as u64,
                    });
                    self.commit_item(item, end, events);
                }
            }
        }
    }

    /// The client's `input_audio_buffer.commit`: commits the open item (or, in manual mode, the
    /// whole buffer; with VAD and no open item there is nothing), or reports it too short.
    pub fn commit(&mut self) -> Vec<TurnEvent> {
        let (start, end) = match (&self.open, self.vad.is_some()) {
            (Some(o), _) => (o.start, self.total),
            (None, false) => (self.buffer_start, self.total),
            (None, true) => (self.total, self.total),
        };
        let n = end.saturating_sub(start.max(self.buffer_start));
        if n < MIN_COMMIT_SAMPLES {
            return vec![TurnEvent::CommitTooShort { ms: n as f64 / 16.0 }];
        }
        let item = match self.open.take() {
            Some(i) => i,
            None => self.new_item(start),
        };
        if let Some(v) = self.vad.as_mut() {
            v.segmenter.force_end();
        }
        let mut events = Vec::new();
        self.commit_item(item, end, &mut events);
        events
    }

    /// The client's `input_audio_buffer.clear`: drops the uncommitted audio and the open item.
    pub fn clear(&mut self) -> Vec<TurnEvent> {
        self.buffer.clear();
        self.buffer_start = self.total;
        self.open = None;
        if let Some(v) = self.vad.as_mut() {
            v.segmenter.force_end();
        }
        vec![TurnEvent::Cleared]
    }

    /// At the end of a session the server ends: the open item is ended as if speech had stopped
    /// (`SpeechStopped`, `Committed`, `FinalReady`), so its audio is transcribed; a fragment under
    /// 100 ms is dropped. In manual mode the open item is the uncommitted buffer, so it is
    /// committed the same way (this is what the server has always done, although `docs/api.md`
    /// says a manual buffer stays uncommitted).
    pub fn finish_open_item(&mut self) -> Vec<TurnEvent> {
        let mut events = Vec::new();
        let Some(item) = self.open.take() else { return events };
        let end = self.total;
        if end.saturating_sub(item.start.max(self.buffer_start)) < MIN_COMMIT_SAMPLES {
            return events;
        }
        if let Some(v) = self.vad.as_mut() {
            v.segmenter.force_end();
        }
        events.push(TurnEvent::SpeechStopped {
            item: item.id.clone(),
            audio_end_ms: (end / 16) as u64,
        });
        self.commit_item(item, end, &mut events);
        events
    }

    /// Server VAD's `idle_timeout_ms`: after that much audio without speech, one
    /// [`TurnEvent::IdleTimeout`] per silent stretch (nothing is committed).
    pub fn check_idle(&mut self) -> Option<TurnEvent> {
        let idle_ms = self.vad.as_ref()?.settings.idle_timeout_ms?;
        if self.open.is_some() || self.idle_reported {
            return None;
        }
        if self.total.saturating_sub(self.idle_since) < idle_ms as usize * 16 {
            return None;
        }
        self.idle_reported = true;
        Some(TurnEvent::IdleTimeout {
            item: (self.new_id)(),
            audio_start_ms: (self.idle_since / 16) as u64,
            audio_end_ms: (self.total / 16) as u64,
        })
    }

    /// Whether a partial of the open item is due at `now`, partials being `interval` apart
    /// (`None`: no partials). When it is, the item's partial is marked in flight and the request
    /// returned.
    pub fn poll_partial(&mut self, now: Instant, interval: Option<Duration>) -> Option<TurnEvent> {
        let len = self.partial_due(now, interval?)?;
        let item = self.open.as_ref()?;
        let window = self.tail.map(|cfg| item.splicer.window(&cfg, len));
        let settled = item.splicer.settled_text();
        let from = window.map_or(0, |w| w.start);
        let samples = self.slice(item.start + from, self.total);
        let ticket = PartialTicket::issue(&self.partial_gen);
        let word_probabilities = item.stabilizer.wants_probabilities();
        let item = self.open.as_mut()?;
        item.partial_inflight = true;
        item.last_partial_at = Some(now);
        item.last_partial_len = len;
        Some(TurnEvent::PartialDue {
            item: item.id.clone(),
            samples,
            ticket,
            window,
            settled,
            word_probabilities,
        })
    }

    /// Skips the partial of the open item that would be due at `now` (see
    /// [`Turns::poll_partial`]): the interval starts again as if it had run, nothing is decoded.
    /// Returns whether one was due (and so skipped).
    pub fn skip_partial(&mut self, now: Instant, interval: Duration) -> bool {
        let Some(len) = self.partial_due(now, interval) else {
            return false;
        };
        if let Some(item) = self.open.as_mut() {
            item.last_partial_at = Some(now);
            item.last_partial_len = len;
        }
        true
    }

    /// How far the open item's captions trail its live audio, seconds: its audio beyond what the
    /// last partial that came back covered (0 without an open item).
    pub fn caption_lag_s(&self) -> f32 {
        self.open.as_ref().map_or(0.0, |item| {
            let len = self.total.saturating_sub(item.start);
            len.saturating_sub(item.shown_len) as f32 / RATE as f32
        })
    }

    /// The open item's length (samples) when a partial of it is due at `now`.
    fn partial_due(&self, now: Instant, interval: Duration) -> Option<usize> {
        let item = self.open.as_ref()?;
        if item.partial_inflight || item.deltas_broken {
            return None;
        }
        if item
            .last_partial_at
            .is_some_and(|t| now.saturating_duration_since(t) < interval)
        {
            return None;
        }
        let len = self.total.saturating_sub(item.start);
        if len < MIN_PARTIAL_SAMPLES || len <= item.last_partial_len || len > self.partial_window {
            return None;
        }
        let covered = item.start + item.last_partial_len;
        if self
            .vad
            .as_ref()
            .is_some_and(|v| self.vad_offset + v.segmenter.sound_end() <= covered)
        {
            return None;
        }
        Some(len)
    }

    /// The words of a bounded partial of `item` that decoded `window` (times relative to the
    /// window's start): spliced onto the item's settled prefix, they give the item's whole
    /// partial text, which goes on to [`Turns::partial_result`]. `None` when the item is no
    /// longer open (the result is dropped; the caller still reports it).
    pub fn splice_partial(&mut self, item: &str, window: Window, words: &[Word]) -> Option<String> {
        let cfg = self.tail?;
        let open = self.open.as_mut().filter(|o| o.id == item)?;
        Some(open.splicer.splice(&cfg, window, words))
    }

    /// The outcome of a partial decode of `item` (`None`: it failed or went stale), back at
    /// `now`, with the engine's word probabilities when it gave some (see
    /// [`Stabilizer::update_scored`]). Returns [`TurnEvent::PartialRefreshed`] (from the item's
    /// second returned partial on) and the newly stable text as a [`TurnEvent::Delta`]; a result
    /// for an item no longer open is dropped.
    pub fn partial_result(
        &mut self,
        item: &str,
        text: Option<&str>,
        probabilities: &[WordProbability],
        now: Instant,
    ) -> Vec<TurnEvent> {
        let mut events = Vec::new();
        let Some(open) = self.open.as_mut().filter(|o| o.id == item) else {
            return events;
        };
        open.partial_inflight = false;
        let Some(text) = text else { return events };
        open.shown_len = open.last_partial_len;
        if let (Some(_), Some(news)) = (open.shown_at, open.news_at.take()) {
            events.push(TurnEvent::PartialRefreshed {
                item: open.id.clone(),
                after: now.saturating_duration_since(news),
            });
        }
        open.shown_at = Some(now);
        if let Some(delta) = open.stabilizer.update_scored(text.trim(), probabilities) {
            events.push(TurnEvent::Delta {
                item: open.id.clone(),
                text: delta,
            });
        }
        // speech heard while this partial ran is news for the next one from now on
        if self.has_news()
            && let Some(open) = self.open.as_mut()
        {
            open.news_at = Some(now);
        }
        events
    }

    /// A delta of `item` could not be delivered: the item sends no more deltas.
    pub fn delta_dropped(&mut self, item: &str) {
        if let Some(open) = self.open.as_mut().filter(|o| o.id == item) {
            open.deltas_broken = true;
        }
    }

    fn new_item(&mut self, start: usize) -> OpenItem {
        OpenItem {
            id: (self.new_id)(),
            start,
            stabilizer: Stabilizer::with(self.stability),
            deltas_broken: false,
            partial_inflight: false,
            last_partial_at: None,
            last_partial_len: 0,
            shown_len: 0,
            shown_at: None,
            news_at: None,
            splicer: TailSplicer::new(),
            likely_end: None,
        }
    }

    /// Commits `item` up to `end`: `Committed`, then `FinalReady` with its audio.
    fn commit_item(&mut self, item: OpenItem, end: usize, events: &mut Vec<TurnEvent>) {
        let samples = self.slice(item.start, end);
        events.push(TurnEvent::Committed {
            item: item.id.clone(),
            previous: self.previous_item.replace(item.id.clone()),
        });
        // everything up to `end` is consumed
        self.drop_front(end.saturating_sub(self.buffer_start));
        events.push(TurnEvent::FinalReady(FinalAudio {
            item: item.id,
            samples,
            stabilizer: item.stabilizer,
            deltas_broken: item.deltas_broken,
        }));
    }

    /// Keeps only the prefix padding (plus 1 s of slack) while nobody speaks.
    fn trim_idle_buffer(&mut self) {
        let padding_ms = self.vad.as_ref().map_or(300, |v| v.settings.prefix_padding_ms);
        let keep = padding_ms as usize * 16 + RATE;
        self.drop_front(self.buffer.len().saturating_sub(keep));
    }

    /// Drops up to `n` samples from the front of the buffer.
    fn drop_front(&mut self, n: usize) {
        let n = n.min(self.buffer.len());
        self.buffer.drain(..n);
        self.buffer_start += n;
    }

    /// The buffered audio between absolute samples `start` and `end` (clamped to the buffer).
    fn slice(&self, start: usize, end: usize) -> Arc<[f32]> {
        let a = start.saturating_sub(self.buffer_start).min(self.buffer.len());
        let b = end.saturating_sub(self.buffer_start).min(self.buffer.len()).max(a);
        self.buffer.range(a..b).copied().collect::<Vec<f32>>().into()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::engine::vad::FRAME;

    /// A detector that answers from a script: the speech probability of each frame by its index.
    pub(crate) struct ScriptedVad {
        frames: usize,
        pending: usize,
        script: fn(usize) -> f32,
    }

    impl ScriptedVad {
        pub(crate) fn boxed(script: fn(usize) -> f32) -> Box<dyn SpeechDetector> {
            Box::new(Self {
                frames: 0,
                pending: 0,
                script,
            })
        }
    }

    impl SpeechDetector for ScriptedVad {
        fn push(&mut self, samples: &[f32]) -> Result<Vec<f32>, EngineError> {
            self.pending += samples.len();
            let mut probs = Vec::new();
            while self.pending >= FRAME {
                self.pending -= FRAME;
                probs.push((self.script)(self.frames));
                self.frames += 1;
            }
            Ok(probs)
        }
    }

    /// Item ids `item_1`, `item_2`, … in the order they are minted.
    pub(crate) fn counting_ids() -> ItemIds {
        let mut n = 0;
        Box::new(move || {
            n += 1;
            format!("item_{n}")
        })
    }

    /// Default server VAD: threshold 0.5, 300 ms padding, 500 ms silence.
    pub(crate) fn server_vad() -> VadSettings {
        VadSettings {
            threshold: 0.5,
            prefix_padding_ms: 300,
            silence_duration_ms: 500,
            idle_timeout_ms: None,
        }
    }

    /// A turn engine with server VAD driven by `script` (partial window 15 s).
    pub(crate) fn vad_turns(script: fn(usize) -> f32) -> Turns {
        let mut t = Turns::new(15.0, counting_ids());
        t.configure(Some(server_vad()), || ScriptedVad::boxed(script));
        t
    }

    /// Pushes `frames` VAD frames of audio, one frame per call; returns every event.
    pub(crate) async fn push_frames(t: &mut Turns, frames: usize) -> Vec<TurnEvent> {
        let mut all = Vec::new();
        for _ in 0..frames {
            all.extend(t.push_audio(&[0.1; FRAME], Instant::now()).await);
        }
        all
    }

    fn speech_20_to_60(frame: usize) -> f32 {
        if (20..60).contains(&frame) { 0.9 } else { 0.0 }
    }

    fn names(events: &[TurnEvent]) -> Vec<&'static str> {
        events
            .iter()
            .map(|e| match e {
                TurnEvent::SpeechStarted { .. } => "started",
                TurnEvent::SpeechStopped { .. } => "stopped",
                TurnEvent::Committed { .. } => "committed",
                TurnEvent::CommitTooShort { .. } => "too_short",
                TurnEvent::Cleared => "cleared",
                TurnEvent::IdleTimeout { .. } => "idle",
                TurnEvent::PartialDue { .. } => "partial_due",
                TurnEvent::Delta { .. } => "delta",
                TurnEvent::PartialRefreshed { .. } => "refreshed",
                TurnEvent::FinalReady(_) => "final",
                TurnEvent::FinalLikely { .. } => "likely",
            })
            .collect()
    }

    #[tokio::test]
    async fn speech_start_and_stop_carry_padded_times_and_commit_the_item() {
        let mut t = vad_turns(speech_20_to_60);
        let events = push_frames(&mut t, 100).await;
        assert_eq!(names(&events), ["started", "likely", "stopped", "committed", "final"]);
        let events: Vec<TurnEvent> = events
            .into_iter()
            .filter(|e| !matches!(e, TurnEvent::FinalLikely { .. }))
            .collect();
        // speech from frame 20 (10240 samples), confirmed after 200 ms; 300 ms of padding before
        match &events[0] {
            TurnEvent::SpeechStarted { item, audio_start_ms } => {
                assert_eq!(item, "item_1");
                assert_eq!(*audio_start_ms, (20 * FRAME as u64 - 4800) / 16); // 340 ms
            }
            e => panic!("{e:?}"),
        }
        // last speech frame 59, 300 ms of padding after, reported after 500 ms of silence
        match &events[1] {
            TurnEvent::SpeechStopped { item, audio_end_ms } => {
                assert_eq!(item, "item_1");
                assert_eq!(*audio_end_ms, (60 * FRAME as u64 + 4800) / 16); // 2220 ms
            }
            e => panic!("{e:?}"),
        }
        match &events[2] {
            TurnEvent::Committed { item, previous } => assert_eq!((item.as_str(), previous), ("item_1", &None)),
            e => panic!("{e:?}"),
        }
        match &events[3] {
            TurnEvent::FinalReady(f) => {
                assert_eq!(f.item, "item_1");
                assert_eq!(f.samples.len(), 60 * FRAME + 4800 - (20 * FRAME - 4800));
                assert!(!f.deltas_broken);
            }
            e => panic!("{e:?}"),
        }
        assert_eq!(t.open_item(), None);
    }

    /// Speech from frame 20 to 700 (~22 s) with one 160 ms breath at frames 380..385.
    fn monologue_with_a_breath(frame: usize) -> f32 {
        match frame {
            380..385 => 0.1,
            20..700 => 0.9,
            _ => 0.0,
        }
    }

    #[tokio::test]
    async fn a_monologue_past_the_window_is_cut_in_its_breath_into_items_that_do_not_overlap() {
        let mut t = vad_turns(monologue_with_a_breath);
        let events = push_frames(&mut t, 760).await;
        assert_eq!(
            names(&events),
            [
                "started",
                "stopped",
                "committed",
                "final",
                "started",
                "likely",
                "stopped",
                "committed",
                "final"
            ]
        );
        let ms = |frame: usize| (frame * FRAME / 16) as u64;
        // the breath is shorter than the 500 ms of silence, so only the 15 s limit ends the first
        // item, and it ends in the breath (half of it, 80 ms, as padding), not at 15 s
        let times: Vec<u64> = events
            .iter()
            .filter_map(|e| match e {
                TurnEvent::SpeechStarted { audio_start_ms, .. } => Some(*audio_start_ms),
                TurnEvent::SpeechStopped { audio_end_ms, .. } => Some(*audio_end_ms),
                _ => None,
            })
            .collect();
        assert_eq!(times, [ms(20) - 300, ms(380) + 80, ms(385) - 80, ms(700) + 300]);
        let finals: Vec<usize> = events
            .iter()
            .filter_map(|e| match e {
                TurnEvent::FinalReady(f) => Some(f.samples.len()),
                _ => None,
            })
            .collect();
        // the two items' audio adds up to the speech, the breath and the outer padding: no sample
        // twice, none lost
        assert_eq!(finals.iter().sum::<usize>(), (700 - 20) * FRAME + 2 * 4800);
        assert_eq!(finals[0], 380 * FRAME + 1280 - (20 * FRAME - 4800));
    }

    #[tokio::test]
    async fn times_count_from_the_session_start_when_vad_starts_late() {
        let mut t = Turns::new(15.0, counting_ids());
        t.configure(None, || unreachable!());
        assert!(t.push_audio(&[0.0; 10 * FRAME], Instant::now()).await.is_empty());
        let _ = t.clear();
        t.configure(Some(server_vad()), || ScriptedVad::boxed(speech_20_to_60));
        let events = push_frames(&mut t, 100).await;
        match &events[0] {
            TurnEvent::SpeechStarted { audio_start_ms, .. } => {
                assert_eq!(*audio_start_ms, (30 * FRAME as u64 - 4800) / 16)
            }
            e => panic!("{e:?}"),
        }
        match &events[2] {
            TurnEvent::SpeechStopped { audio_end_ms, .. } => assert_eq!(*audio_end_ms, (70 * FRAME as u64 + 4800) / 16),
            e => panic!("{e:?}"),
        }
        // the likely final's audio is the final's, whatever the VAD stream's offset
        match (&events[1], &events[4]) {
            (TurnEvent::FinalLikely { samples, .. }, TurnEvent::FinalReady(f)) => {
                assert_eq!(samples.len(), (70 - 30) * FRAME + 2 * 4800);
                assert_eq!(samples, &f.samples);
            }
            e => panic!("{e:?}"),
        }
    }

    #[tokio::test]
    async fn successive_items_name_their_predecessor() {
        fn two_turns(frame: usize) -> f32 {
            if (10..30).contains(&frame) || (60..80).contains(&frame) {
                0.9
            } else {
                0.0
            }
        }
        let mut t = vad_turns(two_turns);
        let events = push_frames(&mut t, 120).await;
        let committed: Vec<(String, Option<String>)> = events
            .iter()
            .filter_map(|e| match e {
                TurnEvent::Committed { item, previous } => Some((item.clone(), previous.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(
            committed,
            [("item_1".into(), None), ("item_2".into(), Some("item_1".to_string()))]
        );
    }

    /// [`Turns::partial_result`] now, less its [`TurnEvent::PartialRefreshed`]: the delta, if any.
    fn delta_of(t: &mut Turns, item: &str, text: Option<&str>, probs: &[WordProbability]) -> Option<TurnEvent> {
        t.partial_result(item, text, probs, Instant::now())
            .into_iter()
            .find(|e| matches!(e, TurnEvent::Delta { .. }))
    }

    /// A manual-commit engine with a partial window of `window_s`.
    fn manual(window_s: f32) -> Turns {
        Turns::new(window_s, counting_ids())
    }

    async fn push_ms(t: &mut Turns, ms: usize) -> Vec<TurnEvent> {
        t.push_audio(&vec![0.1; ms * 16], Instant::now()).await
    }

    #[tokio::test]
    async fn partials_wait_for_300_ms_and_the_interval_and_stop_past_the_window() {
        let mut t = manual(1.0);
        let every = Some(Duration::from_millis(200));
        let t0 = Instant::now();
        assert!(
            push_ms(&mut t, 280).await.is_empty(),
            "manual mode opens an item silently"
        );
        assert_eq!(t.open_item(), Some("item_1"));
        assert!(t.poll_partial(t0, every).is_none(), "no partial before 300 ms");
        push_ms(&mut t, 40).await;
        let Some(TurnEvent::PartialDue { item, samples, .. }) = t.poll_partial(t0, every) else {
            panic!("a partial is due at 320 ms")
        };
        assert_eq!((item.as_str(), samples.len()), ("item_1", 320 * 16));
        push_ms(&mut t, 100).await;
        let later = t0 + Duration::from_millis(500);
        assert!(
            t.poll_partial(later, every).is_none(),
            "one partial in flight at a time"
        );
        assert!(
            delta_of(&mut t, "item_1", Some("hello"), &[]).is_none(),
            "newest word held back"
        );
        assert!(
            t.poll_partial(t0 + Duration::from_millis(199), every).is_none(),
            "interval not over"
        );
        let Some(TurnEvent::PartialDue { samples, .. }) = t.poll_partial(t0 + Duration::from_millis(200), every) else {
            panic!("due once the interval passed")
        };
        assert_eq!(samples.len(), 420 * 16);
        match delta_of(&mut t, "item_1", Some(" hello world "), &[]) {
            Some(TurnEvent::Delta { item, text }) => assert_eq!((item.as_str(), text.as_str()), ("item_1", "hello")),
            e => panic!("{e:?}"),
        }
        let t1 = t0 + Duration::from_millis(400);
        assert!(t.poll_partial(t1, every).is_none(), "no new audio, no partial");
        assert!(t.poll_partial(t1, None).is_none(), "partials off");
        push_ms(&mut t, 600).await; // 1020 ms: past the 1 s window
        assert!(t.poll_partial(t1, every).is_none(), "no partial past the window");
    }

    /// Runs one partial of the open item over 100 ms more audio, 200 ms after the last, and
    /// returns its delta's text (`None`: no delta).
    async fn partial(t: &mut Turns, now: &mut Instant, text: &str) -> Option<String> {
        push_ms(t, 100).await;
        *now += Duration::from_millis(200);
        let Some(TurnEvent::PartialDue { item, .. }) = t.poll_partial(*now, Some(Duration::from_millis(200))) else {
            panic!("a partial is due")
        };
        match delta_of(t, &item, Some(text), &[]) {
            Some(TurnEvent::Delta { text, .. }) => Some(text),
            None => None,
            e => panic!("{e:?}"),
        }
    }

    #[tokio::test]
    async fn the_delay_sets_how_many_partials_must_agree_from_the_next_one_on() {
        use crate::config::PartialDelay;
        let mut t = manual(15.0);
        let mut now = Instant::now();
        t.set_stability(Stability::from(PartialDelay::Minimal));
        push_ms(&mut t, 220).await;
        assert_eq!(
            partial(&mut t, &mut now, "hello world").await.as_deref(),
            Some("hello"),
            "one partial"
        );
        // raised mid-item: the partials seen so far count, and three must now agree
        t.set_stability(Stability::from(PartialDelay::High));
        assert_eq!(partial(&mut t, &mut now, "hello world wide").await, None);
        assert_eq!(
            partial(&mut t, &mut now, "hello world wide web").await.as_deref(),
            Some(" world")
        );
        t.commit();
        // the next item starts with the session's level and no history
        push_ms(&mut t, 220).await;
        assert_eq!(t.open_item(), Some("item_2"));
        assert_eq!(partial(&mut t, &mut now, "one two").await, None);
        assert_eq!(partial(&mut t, &mut now, "one two three").await, None);
        assert_eq!(
            partial(&mut t, &mut now, "one two three four").await.as_deref(),
            Some("one two")
        );
    }

    #[tokio::test]
    async fn word_probabilities_are_asked_for_until_the_item_sends_its_first_delta() {
        use crate::config::PartialDelay;
        let mut t = manual(15.0);
        let every = Some(Duration::from_millis(200));
        let mut now = Instant::now();
        push_ms(&mut t, 320).await;
        let Some(TurnEvent::PartialDue {
            item,
            word_probabilities: true,
            ..
        }) = t.poll_partial(now, every)
        else {
            panic!("the first partial asks for word probabilities")
        };
        let sure = |w: &str| WordProbability {
            word: w.to_string(),
            probability: 0.95,
        };
        match delta_of(
            &mut t,
            &item,
            Some("ask not what"),
            &[sure("ask"), sure("not"), sure("what")],
        ) {
            Some(TurnEvent::Delta { text, .. }) => assert_eq!(text, "ask not", "sure words, newest held"),
            e => panic!("{e:?}"),
        }
        push_ms(&mut t, 100).await;
        now += Duration::from_millis(200);
        assert!(
            matches!(
                t.poll_partial(now, every),
                Some(TurnEvent::PartialDue {
                    word_probabilities: false,
                    ..
                })
            ),
            "after the first delta, agreement sends the rest"
        );
        delta_of(&mut t, &item, Some("ask not what your"), &[]);
        // a level without sure words does not ask (minimal sends one draft's words anyway)
        t.commit();
        t.set_stability(Stability::from(PartialDelay::Minimal));
        push_ms(&mut t, 320).await;
        now += Duration::from_millis(200);
        assert!(matches!(
            t.poll_partial(now, every),
            Some(TurnEvent::PartialDue {
                word_probabilities: false,
                ..
            })
        ));
    }

    #[tokio::test]
    async fn a_skipped_partial_restarts_the_interval_and_the_lag_grows_until_one_returns() {
        let mut t = manual(15.0);
        let every = Duration::from_millis(200);
        let t0 = Instant::now();
        assert_eq!(t.caption_lag_s(), 0.0, "no open item, no lag");
        assert!(!t.skip_partial(t0, every), "nothing open: nothing to skip");
        push_ms(&mut t, 400).await;
        assert!((t.caption_lag_s() - 0.4).abs() < 1e-6);
        assert!(t.skip_partial(t0, every), "a partial was due and is skipped");
        assert!(
            !t.skip_partial(t0 + Duration::from_millis(199), every),
            "once per interval"
        );
        assert!(
            t.poll_partial(t0 + Duration::from_millis(199), Some(every)).is_none(),
            "the skip counts as a run"
        );
        push_ms(&mut t, 600).await;
        assert!((t.caption_lag_s() - 1.0).abs() < 1e-6, "skipped partials show nothing");
        let at = t0 + Duration::from_millis(200);
        let Some(TurnEvent::PartialDue { item, .. }) = t.poll_partial(at, Some(every)) else {
            panic!("due again after the interval")
        };
        push_ms(&mut t, 200).await;
        delta_of(&mut t, &item, Some("one two three"), &[]);
        assert!(
            (t.caption_lag_s() - 0.2).abs() < 1e-6,
            "the returned partial covered 1 s of 1.2 s"
        );
        // a failed or stale partial shows nothing new
        let Some(TurnEvent::PartialDue { item, .. }) = t.poll_partial(at + every, Some(every)) else {
            panic!("due")
        };
        push_ms(&mut t, 100).await;
        delta_of(&mut t, &item, None, &[]);
        assert!((t.caption_lag_s() - 0.3).abs() < 1e-6);
    }

    /// Speech in frames 20..40 and 52..70: a 12-frame (384 ms) breath between, longer than the
    /// prefix padding and shorter than the silence that ends a turn; then silence.
    fn speech_with_a_breath(frame: usize) -> f32 {
        if (20..40).contains(&frame) || (52..70).contains(&frame) {
            0.9
        } else {
            0.0
        }
    }

    #[tokio::test]
    async fn a_pause_announces_the_likely_final_and_the_final_that_follows_has_its_audio() {
        let mut t = vad_turns(speech_with_a_breath);
        let events = push_frames(&mut t, 100).await;
        let likely: Vec<(usize, &str, &Arc<[f32]>)> = events
            .iter()
            .enumerate()
            .filter_map(|(i, e)| match e {
                TurnEvent::FinalLikely { item, samples } => Some((i, item.as_str(), samples)),
                _ => None,
            })
            .collect();
        let finals: Vec<(usize, &FinalAudio)> = events
            .iter()
            .enumerate()
            .filter_map(|(i, e)| match e {
                TurnEvent::FinalReady(f) => Some((i, f)),
                _ => None,
            })
            .collect();
        let stopped = events
            .iter()
            .position(|e| matches!(e, TurnEvent::SpeechStopped { .. }))
            .expect("the turn ends");
        assert_eq!(finals.len(), 1, "the breath does not end the turn");
        assert_eq!(
            likely.len(),
            2,
            "one in the breath, one in the silence that ends the turn: {likely:?}"
        );
        let (_, f) = finals[0];
        assert!(likely.iter().all(|(_, item, _)| *item == f.item));
        assert!(
            likely[0].2.len() < f.samples.len(),
            "the speech after the breath withdrew the first"
        );
        assert_eq!(likely[1].2, &f.samples, "the second is the final's audio");
        assert!(likely[1].0 < stopped, "announced before the turn ends");
        // a new item starts with nothing announced
        assert!(
            events[stopped..]
                .iter()
                .all(|e| !matches!(e, TurnEvent::FinalLikely { .. }))
        );
    }

    /// Speech in frames 20..40 and 60..80: a 20-frame (640 ms) pause between, then silence.
    fn speech_with_a_pause(frame: usize) -> f32 {
        if (20..40).contains(&frame) || (60..80).contains(&frame) {
            0.9
        } else {
            0.0
        }
    }

    #[tokio::test]
    async fn no_partial_is_due_while_the_vad_hears_only_quiet() {
        let mut t = vad_turns(speech_with_a_pause);
        let every = Some(Duration::from_millis(100));
        let t0 = Instant::now();
        let mut step = 0;
        // one 100 ms poll per ~3 frames of audio; each due partial comes back at once
        let mut due = Vec::new();
        for frame in (0..110).step_by(3) {
            push_frames(&mut t, 3).await;
            step += 1;
            if let Some(TurnEvent::PartialDue { item, .. }) =
                t.poll_partial(t0 + Duration::from_millis(100 * step), every)
            {
                due.push(frame + 3);
                delta_of(&mut t, &item, Some("words"), &[]);
            }
        }
        assert!(due.iter().any(|&f| f <= 40), "partials while speaking: {due:?}");
        // frames 40..60 are quiet: the first partial after frame 40 covers the last sound,
        // then none until speech resumes at frame 60
        let in_pause: Vec<_> = due.iter().filter(|&&f| (44..=60).contains(&f)).collect();
        assert!(in_pause.is_empty(), "no partial in the pause: {due:?}");
        assert!(
            due.iter().any(|&f| (61..=81).contains(&f)),
            "partials again once speech resumes: {due:?}"
        );
        assert!(
            !due.iter().any(|&f| f > 84),
            "none in the silence that ends the turn: {due:?}"
        );
    }

    /// The [`TurnEvent::PartialRefreshed`] waits among `events`, ms.
    fn refreshed_ms(events: &[TurnEvent]) -> Vec<u128> {
        events
            .iter()
            .filter_map(|e| match e {
                TurnEvent::PartialRefreshed { after, .. } => Some(after.as_millis()),
                _ => None,
            })
            .collect()
    }

    #[tokio::test]
    async fn a_refresh_counts_from_the_speech_it_shows_across_failed_partials() {
        let mut t = manual(15.0);
        let every = Some(Duration::from_millis(200));
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let audio = |ms: usize| vec![0.1; ms * 16];
        t.push_audio(&audio(320), at(0)).await;
        let Some(TurnEvent::PartialDue { item, .. }) = t.poll_partial(at(0), every) else {
            panic!("due at 320 ms")
        };
        let first = t.partial_result(&item, Some("one two"), &[], at(50));
        assert!(
            refreshed_ms(&first).is_empty(),
            "the first partial's wait is the first delta's"
        );
        t.push_audio(&audio(100), at(100)).await;
        assert!(t.poll_partial(at(200), every).is_some());
        let stale = t.partial_result(&item, None, &[], at(260));
        assert!(refreshed_ms(&stale).is_empty(), "a stale partial shows nothing");
        t.push_audio(&audio(50), at(300)).await;
        assert!(t.poll_partial(at(400), every).is_some());
        let shown = t.partial_result(&item, Some("one two three"), &[], at(450));
        assert_eq!(refreshed_ms(&shown), [350], "the speech of 100 ms waited until 450 ms");
        // nothing new: the next wait starts with the next audio, not with the last partial
        t.push_audio(&audio(100), at(500)).await;
        assert!(t.poll_partial(at(600), every).is_some());
        let next = t.partial_result(&item, Some("one two three four"), &[], at(620));
        assert_eq!(refreshed_ms(&next), [120]);
        assert!(
            t.partial_result("item_9", Some("other"), &[], at(700)).is_empty(),
            "no item, no refresh"
        );
    }

    #[tokio::test]
    async fn a_pause_is_not_counted_in_the_refresh_interval() {
        // speech, 320 ms of quiet (shorter than the 500 ms that end a turn), speech
        fn breath(frame: usize) -> f32 {
            if (20..40).contains(&frame) || (50..80).contains(&frame) {
                0.9
            } else {
                0.0
            }
        }
        let mut t = vad_turns(breath);
        let every = Some(Duration::from_millis(100));
        let t0 = Instant::now();
        let mut refreshed = Vec::new();
        let mut items = std::collections::HashSet::new();
        let mut inflight: Option<(String, Instant)> = None;
        // real-time pace: a 32 ms frame every 32 ms; a partial comes back 40 ms after it is due
        for frame in 0..110u64 {
            let now = t0 + Duration::from_millis(32 * frame);
            t.push_audio(&[0.1; FRAME], now).await;
            if let Some((item, back)) = inflight.take_if(|(_, back)| *back <= now) {
                refreshed.extend(refreshed_ms(&t.partial_result(&item, Some("words"), &[], back)));
            }
            if let Some(TurnEvent::PartialDue { item, .. }) = t.poll_partial(now, every) {
                items.insert(item.clone());
                inflight = Some((item, now + Duration::from_millis(40)));
            }
        }
        assert_eq!(items.len(), 1, "one turn across the breath");
        assert!(
            refreshed.len() >= 5,
            "refreshes before and after the pause: {refreshed:?}"
        );
        // a refresh is due every 100 ms, polled each 32 ms, back 40 ms later: under 200 ms, where
        // counting the 320 ms of quiet (frames 40..50) would give more
        assert!(refreshed.iter().all(|&ms| ms < 200), "{refreshed:?}");
    }

    #[tokio::test]
    async fn stale_partials_are_dropped() {
        let mut t = manual(15.0);
        let every = Some(Duration::from_millis(100));
        let t0 = Instant::now();
        push_ms(&mut t, 400).await;
        let Some(TurnEvent::PartialDue { ticket: old, .. }) = t.poll_partial(t0, every) else {
            panic!()
        };
        assert_eq!(names(&t.commit()), ["committed", "final"]);
        // the result of a committed item's partial is dropped
        assert!(delta_of(&mut t, "item_1", Some("one two three"), &[]).is_none());
        push_ms(&mut t, 400).await;
        assert_eq!(t.open_item(), Some("item_2"));
        let Some(TurnEvent::PartialDue { .. }) = t.poll_partial(t0, every) else {
            panic!()
        };
        // a failed (or engine-dropped stale) partial frees the item for the next one
        assert!(delta_of(&mut t, "item_2", None, &[]).is_none());
        push_ms(&mut t, 100).await;
        let Some(TurnEvent::PartialDue { .. }) = t.poll_partial(t0 + Duration::from_millis(100), every) else {
            panic!()
        };
        // the newer tickets made item_1's stale: the engine drops it unrun
        let stub = crate::realtime::session::finals::tests::StubRecognizer::new(&[]);
        let engine = stub.spawn(1);
        let utt = crate::engine::recognizer::Utterance {
            samples: vec![0.0; 1600].into(),
            options: Default::default(),
        };
        let r = engine
            .try_recognize(utt, crate::engine::scheduler::Priority::Partial, Some(old))
            .await;
        assert!(matches!(r, Err(crate::engine::scheduler::SchedError::Stale)), "{r:?}");
    }

    #[tokio::test]
    async fn bounded_partials_decode_the_tail_and_splice_onto_the_settled_prefix() {
        use crate::engine::recognizer::Word;
        let w = |word: &str, start: f32, end: f32| Word {
            word: word.into(),
            start,
            end,
        };
        let mut t = manual(15.0);
        t.set_partial_tail(Some(TailConfig {
            tail_s: 1.0,
            context_s: 0.5,
        }));
        let every = Some(Duration::from_millis(100));
        let t0 = Instant::now();
        push_ms(&mut t, 3000).await;
        let Some(TurnEvent::PartialDue {
            samples,
            window,
            settled,
            ..
        }) = t.poll_partial(t0, every)
        else {
            panic!("a partial is due")
        };
        // nothing settled yet: the window is the whole item
        assert_eq!(window, Some(Window { start: 0, end: 48_000 }));
        assert_eq!(settled, "");
        assert_eq!(samples.len(), 48_000);
        let words = [w("one", 0.2, 0.6), w("two", 0.9, 1.3), w("three", 2.2, 2.6)];
        let text = t.splice_partial("item_1", window.unwrap(), &words);
        assert_eq!(text.as_deref(), Some("one two three"));
        // the stabiliser waits for a second hypothesis to agree
        assert!(delta_of(&mut t, "item_1", text.as_deref(), &[]).is_none());
        // "one" and "two" settled (they end ≥ 1 s before 3 s); the boundary lies between
        // "two" (1.3 s) and "three" (2.2 s), so the next window starts 0.5 s before 1.75 s
        push_ms(&mut t, 1000).await;
        let Some(TurnEvent::PartialDue {
            samples,
            window,
            settled,
            ..
        }) = t.poll_partial(t0 + Duration::from_secs(1), every)
        else {
            panic!("a partial is due")
        };
        // the settled text rides along (a prompted engine's prompt)
        assert_eq!(settled, "one two");
        let win = window.unwrap();
        assert_eq!((win.start, win.end), (20_000, 64_000));
        assert_eq!(samples.len(), 64_000 - 20_000);
        // the window re-hears "two" in its context (dropped) and hears "three four"
        let words = [w("two", 0.0, 0.05), w("three", 0.95, 1.35), w("four", 2.0, 2.4)];
        let text = t.splice_partial("item_1", win, &words);
        assert_eq!(text.as_deref(), Some("one two three four"));
        // both agree on "one two three"; "four" is the newest word, held back
        match delta_of(&mut t, "item_1", text.as_deref(), &[]) {
            Some(TurnEvent::Delta { text, .. }) => assert_eq!(text, "one two three"),
            e => panic!("{e:?}"),
        }
        // the final still gets the whole item
        match t.commit().pop() {
            Some(TurnEvent::FinalReady(f)) => assert_eq!(f.samples.len(), 64_000),
            e => panic!("{e:?}"),
        }
        // a result for an item no longer open is dropped
        assert!(t.splice_partial("item_1", win, &words).is_none());
        // without a tail window the whole item is decoded again
        t.set_partial_tail(None);
        push_ms(&mut t, 2000).await;
        let Some(TurnEvent::PartialDue { samples, window, .. }) = t.poll_partial(t0 + Duration::from_secs(2), every)
        else {
            panic!("a partial is due")
        };
        assert_eq!((window, samples.len()), (None, 32_000));
    }

    #[tokio::test]
    async fn a_dropped_delta_ends_the_items_partials_and_its_closing_delta() {
        let mut t = manual(15.0);
        let every = Some(Duration::from_millis(100));
        let t0 = Instant::now();
        push_ms(&mut t, 400).await;
        assert!(t.poll_partial(t0, every).is_some());
        let _ = delta_of(&mut t, "item_1", Some("a b c"), &[]);
        t.delta_dropped("item_1");
        push_ms(&mut t, 400).await;
        assert!(t.poll_partial(t0 + Duration::from_secs(1), every).is_none());
        match t.commit().pop() {
            Some(TurnEvent::FinalReady(f)) => assert!(f.deltas_broken),
            e => panic!("{e:?}"),
        }
    }

    #[tokio::test]
    async fn manual_commit_takes_the_whole_buffer_and_clear_discards_it() {
        let mut t = manual(15.0);
        push_ms(&mut t, 500).await;
        let events = t.commit();
        assert_eq!(names(&events), ["committed", "final"]);
        match &events[1] {
            TurnEvent::FinalReady(f) => assert_eq!((f.item.as_str(), f.samples.len()), ("item_1", 500 * 16)),
            e => panic!("{e:?}"),
        }
        // the next audio opens the next item, which names the first
        push_ms(&mut t, 300).await;
        assert_eq!(names(&t.clear()), ["cleared"]);
        assert_eq!(t.open_item(), None);
        push_ms(&mut t, 200).await;
        let events = t.commit();
        match (&events[0], &events[1]) {
            (TurnEvent::Committed { item, previous }, TurnEvent::FinalReady(f)) => {
                assert_eq!((item.as_str(), previous.as_deref()), ("item_3", Some("item_1")));
                assert_eq!(f.samples.len(), 200 * 16, "cleared audio is gone");
            }
            e => panic!("{e:?}"),
        }
    }

    #[tokio::test]
    async fn a_commit_under_100_ms_is_refused_and_changes_nothing() {
        let mut t = manual(15.0);
        push_ms(&mut t, 99).await;
        match t.commit().as_slice() {
            [TurnEvent::CommitTooShort { ms }] => assert_eq!(*ms, 99.0),
            e => panic!("{e:?}"),
        }
        assert_eq!(t.open_item(), Some("item_1"));
        push_ms(&mut t, 1).await;
        assert_eq!(names(&t.commit()), ["committed", "final"]);
        // nothing left
        assert!(matches!(t.commit().as_slice(), [TurnEvent::CommitTooShort { ms }] if *ms == 0.0));
    }

    #[tokio::test]
    async fn with_vad_a_commit_takes_the_open_utterance_only() {
        fn speech_from_10(frame: usize) -> f32 {
            if frame >= 10 { 0.9 } else { 0.0 }
        }
        let mut t = vad_turns(speech_from_10);
        assert!(matches!(t.commit().as_slice(), [TurnEvent::CommitTooShort { .. }]));
        let events = push_frames(&mut t, 40).await;
        assert_eq!(names(&events), ["started"]);
        let events = t.commit();
        assert_eq!(names(&events), ["committed", "final"]);
        match &events[1] {
            TurnEvent::FinalReady(f) => assert_eq!(f.samples.len(), 40 * FRAME - (10 * FRAME - 4800)),
            e => panic!("{e:?}"),
        }
    }

    #[tokio::test]
    async fn the_end_of_a_session_finishes_the_open_utterance() {
        fn speech_from_10(frame: usize) -> f32 {
            if frame >= 10 { 0.9 } else { 0.0 }
        }
        let mut t = vad_turns(speech_from_10);
        push_frames(&mut t, 40).await;
        let events = t.finish_open_item();
        assert_eq!(names(&events), ["stopped", "committed", "final"]);
        assert!(matches!(&events[0], TurnEvent::SpeechStopped { audio_end_ms, .. } if *audio_end_ms == 40 * 32));
        assert!(t.finish_open_item().is_empty());
        // manual mode: the uncommitted buffer is the open item; under 100 ms it is dropped
        let mut m = manual(15.0);
        push_ms(&mut m, 50).await;
        assert!(m.finish_open_item().is_empty());
        push_ms(&mut m, 500).await;
        assert_eq!(names(&m.finish_open_item()), ["stopped", "committed", "final"]);
    }

    #[tokio::test]
    async fn idle_timeout_is_reported_once_per_silent_stretch() {
        let mut t = Turns::new(15.0, counting_ids());
        let vad = VadSettings {
            idle_timeout_ms: Some(1000),
            ..server_vad()
        };
        t.configure(Some(vad), || ScriptedVad::boxed(|_| 0.0));
        push_frames(&mut t, 30).await; // 960 ms
        assert!(t.check_idle().is_none());
        push_frames(&mut t, 2).await; // 1024 ms
        match t.check_idle() {
            Some(TurnEvent::IdleTimeout {
                audio_start_ms,
                audio_end_ms,
                ..
            }) => assert_eq!((audio_start_ms, audio_end_ms), (0, 1024)),
            e => panic!("{e:?}"),
        }
        push_frames(&mut t, 40).await;
        assert!(t.check_idle().is_none());
    }
}
