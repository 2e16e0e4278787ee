//! The `transcribe` and `review` stages: the meeting's speech in windows ([`super::pieces`];
//! cut at speaker changes too for an engine that cannot time its words) through the finalizer
//! chain's engine (routed as batch routes a long file: the strong engine,
//! an upstream allowed, with its fallback), what each window's decode wrote handed to the
//! speakers of its turns ([`super::attribute`]; word times from a forced alignment of the final
//! text where the window holds more than one speaker), then the reviewers over the pieces in
//! order with the meeting so far as context, into the [`Timeline`].
//!
//! Resuming: every finished window is appended to `stages/transcribe.jsonl` (one JSON line,
//! flushed); a restarted stage reads the journal (a torn last line is ignored), decodes only the
//! windows it lacks and publishes `transcribe.json` from both.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use super::attribute::{HeardText, attribute, several_speakers};
use super::checkpoint::{read_json, read_wav, stages_dir, write_json};
use super::pieces::{Piece, Turn, plan_windows};
use super::speakers::Diarized;
use super::{MeetingPipeline, PipelineError, Progress, SpeechSpans, review_name};
use crate::audio::SAMPLE_RATE;
use crate::engine::recognizer::{DecodeOptions, Hypothesis, Task};
use crate::engine::scheduler::{EngineHandle, SchedError};
use crate::finalize::{DecodeRoute, ReviewPlan, SecondPass, SpeechWindow, edits_json, split_edits};
use crate::meeting::params::MeetingParams;
use crate::meeting::timeline::{Speaker, Timeline, TimelineSegment};
use crate::review::apply_edits;
use crate::routing::RouteRequest;

/// Windows decoded at once (the scheduler batches them; more only holds memory).
const IN_FLIGHT: usize = 8;

/// One speaker's part of a transcribed window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeardPiece {
    /// The index of its window in the plan.
    pub index: usize,
    /// Its stretch and speaker.
    pub piece: Piece,
    /// The engine that answered.
    pub engine: String,
    /// The language it heard.
    pub language: Option<String>,
    /// The recognizer's text.
    pub text: String,
    /// Its segments: absolute `(start, end, text)`.
    pub segments: Vec<(f64, f64, String)>,
}

/// One transcribed window: a line of the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeardWindow {
    /// Its index in the plan.
    pub index: usize,
    /// Its samples, `[start, end)`.
    pub samples: (usize, usize),
    /// What its speakers said, in time order.
    pub pieces: Vec<HeardPiece>,
}

/// `transcribe.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Transcribed {
    /// Recording length, seconds.
    pub duration_s: f64,
    /// Speakers: label and known name.
    pub speakers: Vec<(String, Option<String>)>,
    /// The pieces in time order.
    pub pieces: Vec<HeardPiece>,
}

/// The `transcribe` stage.
pub async fn transcribe(
    p: &MeetingPipeline,
    dir: &Path,
    params: &MeetingParams,
    progress: Progress,
) -> Result<(), PipelineError> {
    let stages = stages_dir(dir);
    let diarized: Diarized = read_json(&stages.join("cluster.json"))?;
    let speech: SpeechSpans = read_json(&stages.join("segment.json"))?;
    let language = params
        .language
        .clone()
        .or_else(|| p.policy.default_language().map(str::to_string));
    let model = if params.model.is_empty() { "auto" } else { &params.model };
    let engine = p
        .policy
        .route(&RouteRequest {
            model: model.to_string(),
            duration_s: speech.duration_s,
            language: language.clone(),
            quality_high: true,
            terms: false,
            task: Task::Transcribe,
        })?
        .clone();
    let fallback = p
        .policy
        .fallback(&engine, language.as_deref(), Task::Transcribe)
        .cloned();
    let options = DecodeOptions {
        language,
        languages: Some(params.languages.clone()).filter(|l| !l.is_empty()),
        use_itn: true,
        ..Default::default()
    };

    let samples: Arc<[f32]> = {
        let path = stages.join("audio.wav");
        tokio::task::spawn_blocking(move || read_wav(&path))
            .await
            .map_err(|e| PipelineError::Diarize(format!("worker thread: {e}")))??
            .into()
    };
    let plan = plan_windows(
        &speech.sample_ranges(samples.len()),
        SAMPLE_RATE as usize,
        per_speaker(&engine, &diarized.turns),
    );
    let journal_path = stages.join("transcribe.jsonl");
    let mut heard = read_journal(&journal_path, &plan);
    let todo: Vec<(usize, SpeechWindow)> = plan
        .iter()
        .cloned()
        .enumerate()
        .filter(|(i, _)| !heard.contains_key(i))
        .collect();
    let mut journal = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&journal_path)
        .map_err(|e| PipelineError::io(&journal_path, e))?;
    let total = plan.len().max(1);
    let review = p.plan(params)?;
    let route = WindowRoute {
        route: DecodeRoute {
            engine: &engine,
            fallback: fallback.as_ref(),
            stats: p.second.stats(),
            plan: &review,
            options: &options,
            glossary_budget: None,
        },
        turns: &diarized.turns,
    };
    let mut decoded = decode_windows(route, samples, todo, false);
    while let Some(r) = decoded.next().await {
        let one = r?;
        let mut line = serde_json::to_vec(&one).unwrap_or_default();
        line.push(b'\n');
        journal
            .write_all(&line)
            .and_then(|()| journal.sync_data())
            .map_err(|e| PipelineError::io(&journal_path, e))?;
        heard.insert(one.index, one);
        progress(heard.len() as f32 / total as f32);
    }
    let out = Transcribed {
        duration_s: speech.duration_s,
        speakers: diarized
            .speakers
            .iter()
            .map(|s| (s.id.clone(), s.name.clone()))
            .collect(),
        pieces: heard.into_values().flat_map(|w| w.pieces).collect(),
    };
    write_json(&stages.join("transcribe.json"), &out)
}

/// Where windows are decoded and who spoke in them: the finalizer chain's decode (engines,
/// counters, review plan, options) and the speakers' turns.
#[derive(Clone, Copy)]
pub struct WindowRoute<'a> {
    /// The decode every window goes through.
    pub route: DecodeRoute<'a>,
    /// The speakers' turns, in time order (seconds).
    pub turns: &'a [Turn],
}

/// Decodes `windows` (`(index in the plan, window)`) of `samples` (16 kHz mono) through the
/// finalizer chain's decode ([`crate::finalize::decode_with_glossary`]: the routed engine or its
/// fallback, then the glossary prompt and the term check where the plan asks for them; a window
/// whose text is far too short for its speech decoded again, [`DecodeRoute::left_out`]), at most
/// `IN_FLIGHT` at once, and hands each window's text to its speakers ([`attribute`]), yielding
/// each [`HeardWindow`] in the order given. `refuse_first`: the first window is refused at once
/// when the engine's queue is full (a REST caller gets 503 and can retry); the others wait for
/// room. Used by the `transcribe` stage and by batch's `diarized_json`.
pub fn decode_windows<'a>(
    route: WindowRoute<'a>,
    samples: Arc<[f32]>,
    windows: Vec<(usize, SpeechWindow)>,
    refuse_first: bool,
) -> impl futures_util::Stream<Item = Result<HeardWindow, SchedError>> + 'a {
    futures_util::stream::iter(windows.into_iter().enumerate().map(move |(n, (index, window))| {
        let samples = samples.clone();
        let decode = route.route;
        async move {
            let bounds = (window.start, window.end);
            let (a, b) = (bounds.0.min(samples.len()), bounds.1.min(samples.len()));
            let audio: Arc<[f32]> = samples[a..b.max(a)].into();
            let mut d = decode.decode(audio.clone(), refuse_first && n == 0).await?;
            if let Some(again) = decode.left_out(&samples, window, &d.hypothesis).await {
                d.hypothesis = again;
            }
            let offset = a as f64 / SAMPLE_RATE as f64;
            let span = (offset, b as f64 / SAMPLE_RATE as f64);
            let words = match several_speakers(route.turns, span) {
                true => aligned_words(decode, &d.engine, audio, &d.hypothesis).await,
                false => Vec::new(),
            };
            let h = &d.hypothesis;
            let segments = absolute_segments(h, span);
            let words: Vec<(f64, f64, String)> =
                words.into_iter().map(|(s, e, w)| (offset + s, offset + e, w)).collect();
            let heard = HeardText {
                window: span,
                text: &h.text,
                segments: &segments,
                words: &words,
            };
            let pieces = attribute(heard, route.turns)
                .into_iter()
                .map(|said| HeardPiece {
                    index,
                    piece: said.piece,
                    engine: d.engine.clone(),
                    language: h.language.clone(),
                    text: said.text,
                    segments: said.segments,
                })
                .collect();
            Ok(HeardWindow {
                index,
                samples: bounds,
                pieces,
            })
        }
    }))
    .buffered(IN_FLIGHT)
}

/// The turns to cut windows at ([`plan_windows`]): none when `engine` can time the words of
/// its text (windows span speakers and [`attribute`] splits them), the speakers' turns when it
/// cannot (an upstream server: one speaker per window).
pub fn per_speaker<'t>(engine: &EngineHandle, turns: &'t [Turn]) -> Option<&'t [Turn]> {
    (!engine.abilities().scores_texts).then_some(turns)
}

/// The words of `h`'s text timed against `audio` (seconds from its start) by the engine that
/// decoded it, when that engine can align texts; none otherwise or when the alignment fails
/// (the speakers then get whole segments).
async fn aligned_words(
    route: DecodeRoute<'_>,
    engine: &str,
    audio: Arc<[f32]>,
    h: &Hypothesis,
) -> Vec<(f64, f64, String)> {
    let handle = [Some(route.engine), route.fallback]
        .into_iter()
        .flatten()
        .find(|e| e.name() == engine);
    let Some(handle) = handle.filter(|e| e.abilities().scores_texts) else {
        return Vec::new();
    };
    if h.text.trim().is_empty() {
        return Vec::new();
    }
    let options = DecodeOptions {
        language: h.language.clone().or_else(|| route.options.language.clone()),
        ..Default::default()
    };
    match handle.align_text(audio, options, h.text.trim()).await {
        Ok(words) => words
            .into_iter()
            .map(|w| (w.start as f64, w.end as f64, w.word))
            .collect(),
        Err(e) => {
            tracing::warn!(engine, error = %e, "word alignment failed; speakers get whole segments");
            Vec::new()
        }
    }
}

/// `h`'s segments on the recording's axis, clamped to the window `span`; one segment of the
/// whole window when the engine gave none.
fn absolute_segments(h: &Hypothesis, span: (f64, f64)) -> Vec<(f64, f64, String)> {
    if h.segments.is_empty() {
        return vec![(span.0, span.1, h.text.trim().to_string())];
    }
    h.segments
        .iter()
        .map(|s| {
            let a = (span.0 + s.start as f64).clamp(span.0, span.1);
            let b = (span.0 + s.end as f64).clamp(a, span.1);
            (a, b, s.text.trim().to_string())
        })
        .filter(|s| !s.2.is_empty())
        .collect()
}

/// The journal's windows that belong to `plan` (same index, same samples); a torn or foreign
/// line is skipped.
fn read_journal(path: &Path, plan: &[SpeechWindow]) -> BTreeMap<usize, HeardWindow> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return BTreeMap::new();
    };
    text.lines()
        .filter_map(|l| serde_json::from_str::<HeardWindow>(l).ok())
        .filter(|h| plan.get(h.index).is_some_and(|w| (w.start, w.end) == h.samples))
        .map(|h| (h.index, h))
        .collect()
}

/// The `review` stage: the reviewers over the pieces in order, each with the reviewed pieces
/// before it as context; the result as a [`Timeline`].
pub async fn review(second: &SecondPass, plan: &ReviewPlan, heard: Transcribed, progress: Progress) -> Timeline {
    let mut previous: Vec<String> = Vec::new();
    let mut segments = Vec::new();
    let mut talk: BTreeMap<usize, f64> = BTreeMap::new();
    let mut languages: BTreeMap<String, f64> = BTreeMap::new();
    let mut models: Vec<String> = Vec::new();
    let total = heard.pieces.len().max(1);
    for (n, h) in heard.pieces.iter().enumerate() {
        let dur = h.piece.end - h.piece.start;
        *talk.entry(h.piece.speaker).or_default() += dur;
        if let Some(l) = &h.language {
            *languages.entry(l.clone()).or_default() += dur;
        }
        if !models.contains(&h.engine) {
            models.push(h.engine.clone());
        }
        let reviewed = second.review(plan, &h.text, &previous, None).await;
        if !h.text.is_empty() {
            previous.push(reviewed.text.clone());
        }
        let texts: Vec<&str> = h.segments.iter().map(|s| s.2.as_str()).collect();
        let per = split_edits(&h.text, &reviewed.edits, &texts);
        let speaker = heard
            .speakers
            .get(h.piece.speaker)
            .map_or_else(|| format!("SPEAKER_{:02}", h.piece.speaker), |s| s.0.clone());
        // One segment whose text is the whole piece takes the whole review (edits across the
        // recognizer's segment boundaries included).
        let whole = h.segments.len() == 1 && h.segments[0].2 == h.text;
        for ((a, b, raw), inside) in h.segments.iter().zip(per) {
            let (text, edits) = if whole {
                (reviewed.text.clone(), reviewed.edits.clone())
            } else {
                (apply_edits(raw, &inside), inside)
            };
            segments.push(TimelineSegment {
                speaker: speaker.clone(),
                start: *a,
                end: *b,
                language: h.language.clone(),
                raw_text: raw.clone(),
                text,
                edits: edits_json(raw, &edits).as_array().cloned().unwrap_or_default(),
            });
        }
        progress((n + 1) as f32 / total as f32);
    }
    // Speakers in order of first appearance; those who never got a piece are left out.
    let mut order: Vec<String> = Vec::new();
    for s in &segments {
        if !order.contains(&s.speaker) {
            order.push(s.speaker.clone());
        }
    }
    let speakers = order
        .iter()
        .map(|id| {
            let idx = heard.speakers.iter().position(|s| &s.0 == id);
            Speaker {
                id: id.clone(),
                name: idx.and_then(|i| heard.speakers[i].1.clone()),
                talk_s: idx.and_then(|i| talk.get(&i)).copied().unwrap_or(0.0),
            }
        })
        .collect();
    Timeline {
        duration_s: heard.duration_s,
        language: languages.into_iter().max_by(|a, b| a.1.total_cmp(&b.1)).map(|l| l.0),
        review: review_name(plan.mode()).into(),
        models,
        speakers,
        segments,
    }
}
