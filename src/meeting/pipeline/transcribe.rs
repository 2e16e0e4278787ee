//! The `transcribe` and `review` stages: each speaker piece ([`super::pieces`]) through the
//! finalizer chain's engine (routed as batch routes a long file: the strong engine, an upstream
//! allowed, with its fallback), then the reviewers over the pieces in order with the meeting so
//! far as context, into the [`Timeline`].
//!
//! Resuming: every finished piece is appended to `stages/transcribe.jsonl` (one JSON line,
//! flushed); a restarted stage reads the journal (a torn last line is ignored), decodes only the
//! pieces it lacks and publishes `transcribe.json` from both.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use super::checkpoint::{read_json, read_wav, stages_dir, write_json};
use super::pieces::{Piece, plan_pieces};
use super::speakers::Diarized;
use super::{MeetingPipeline, PipelineError, Progress, SpeechSpans, review_name};
use crate::audio::SAMPLE_RATE;
use crate::engine::recognizer::{DecodeOptions, Task};
use crate::engine::scheduler::SchedError;
use crate::finalize::coverage::speech_in;
use crate::finalize::{DecodeRoute, FinalDecode, ReviewPlan, SecondPass, SpeechWindow, edits_json, split_edits};
use crate::meeting::params::MeetingParams;
use crate::meeting::timeline::{Speaker, Timeline, TimelineSegment};
use crate::review::apply_edits;
use crate::routing::RouteRequest;

/// Pieces decoded at once (the scheduler batches them; more only holds memory).
const IN_FLIGHT: usize = 8;

/// One transcribed piece.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeardPiece {
    /// The piece's index in the plan.
    pub index: usize,
    /// The piece.
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
    let plan = plan_pieces(&diarized.turns, &speech.spans);
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

    let journal_path = stages.join("transcribe.jsonl");
    let mut heard = read_journal(&journal_path, &plan);
    let todo: Vec<(usize, Piece)> = plan
        .iter()
        .copied()
        .enumerate()
        .filter(|(i, _)| !heard.contains_key(i))
        .collect();
    let samples: Arc<[f32]> = {
        let path = stages.join("audio.wav");
        tokio::task::spawn_blocking(move || read_wav(&path))
            .await
            .map_err(|e| PipelineError::Diarize(format!("worker thread: {e}")))??
            .into()
    };
    let mut journal = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&journal_path)
        .map_err(|e| PipelineError::io(&journal_path, e))?;
    let total = plan.len().max(1);
    let review = p.plan(params)?;
    let route = PieceRoute {
        route: DecodeRoute {
            engine: &engine,
            fallback: fallback.as_ref(),
            stats: p.second.stats(),
            plan: &review,
            options: &options,
        },
        speech: &speech.spans,
    };
    let mut decoded = decode_pieces(route, samples, todo, false);
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
        pieces: heard.into_values().collect(),
    };
    write_json(&stages.join("transcribe.json"), &out)
}

/// Where pieces are decoded: the finalizer chain's decode (engines, counters, review plan,
/// options), and the recording's speech (a piece too short for its speech is decoded again).
#[derive(Clone, Copy)]
pub struct PieceRoute<'a> {
    /// The decode every piece goes through.
    pub route: DecodeRoute<'a>,
    /// The VAD's speech spans of the recording, seconds: a piece whose text is far too short
    /// for the speech in it is decoded again in shorter pieces ([`DecodeRoute::left_out`]).
    pub speech: &'a [(f64, f64)],
}

/// Decodes `pieces` (`(index in the plan, piece)`) of `samples` (16 kHz mono) through the
/// finalizer chain's decode ([`crate::finalize::decode_with_glossary`]: the routed engine or its fallback, then
/// the glossary prompt where the plan asks for it), at most [`IN_FLIGHT`] at once, yielding each
/// [`HeardPiece`] in the order given. `refuse_first`: the first piece is refused at once when the
/// engine's queue is full (a REST caller gets 503 and can retry); the others wait for room. Used
/// by the `transcribe` stage and by batch's `diarized_json`.
pub fn decode_pieces<'a>(
    route: PieceRoute<'a>,
    samples: Arc<[f32]>,
    pieces: Vec<(usize, Piece)>,
    refuse_first: bool,
) -> impl futures_util::Stream<Item = Result<HeardPiece, SchedError>> + 'a {
    let sr = SAMPLE_RATE as f64;
    // the recording's speech in samples, once for all pieces
    let speech: Vec<(usize, usize)> = route
        .speech
        .iter()
        .map(|&(a, b)| ((a * sr) as usize, (b * sr) as usize))
        .collect();
    futures_util::stream::iter(pieces.into_iter().enumerate().map(move |(n, (index, piece))| {
        let a = ((piece.start * sr) as usize).min(samples.len());
        let b = ((piece.end * sr) as usize).clamp(a, samples.len());
        let window = SpeechWindow {
            start: a,
            end: b,
            speech: speech_in(&speech, a, b),
        };
        let samples = samples.clone();
        let decode = route.route;
        async move {
            let mut d = decode.decode(samples[a..b].into(), refuse_first && n == 0).await?;
            if let Some(again) = decode.left_out(&samples, window, &d.hypothesis).await {
                d.hypothesis = again;
            }
            Ok(heard_piece(index, piece, d))
        }
    }))
    .buffered(IN_FLIGHT)
}

/// A decoded piece with its segments in absolute time, clamped to the piece (one segment of the
/// whole piece when the engine gave none).
fn heard_piece(index: usize, piece: Piece, d: FinalDecode) -> HeardPiece {
    let h = d.hypothesis;
    let segments = if h.segments.is_empty() {
        vec![(piece.start, piece.end, h.text.trim().to_string())]
    } else {
        h.segments
            .iter()
            .map(|s| {
                let a = (piece.start + s.start as f64).clamp(piece.start, piece.end);
                let b = (piece.start + s.end as f64).clamp(a, piece.end);
                (a, b, s.text.trim().to_string())
            })
            .filter(|s| !s.2.is_empty())
            .collect()
    };
    HeardPiece {
        index,
        piece,
        engine: d.engine,
        language: h.language,
        text: h.text.trim().to_string(),
        segments,
    }
}

/// The journal's pieces that belong to `plan` (same index, same piece); a torn or foreign line
/// is skipped.
fn read_journal(path: &Path, plan: &[Piece]) -> BTreeMap<usize, HeardPiece> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return BTreeMap::new();
    };
    text.lines()
        .filter_map(|l| serde_json::from_str::<HeardPiece>(l).ok())
        .filter(|h| plan.get(h.index) == Some(&h.piece))
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
