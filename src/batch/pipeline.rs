//! The whole-file pipeline behind [`crate::batch::service`]. Short clips are one utterance;
//! longer audio is cut at VAD pauses into windows of at most [`WINDOW_S`] (29.5 s), decoded as a batch
//! through the scheduler (each with the finalizer chain's fallback; a window whose text is far
//! too short for its speech is decoded again in pieces, [`crate::finalize::coverage`]), reviewed
//! window by window in order (each window's review sees the windows before it as context), and
//! stitched back together with time offsets.
//!
//! The transcript keeps the recognizer's text (`raw_text`) next to the reviewed one, with the
//! reviewers' edits as byte offsets into `raw_text`; segments carry the reviewed text of the
//! edits that fall inside them (an edit across a segment boundary is left out of the segments,
//! never out of `text`).

use std::sync::Arc;

use futures_util::StreamExt;
use futures_util::stream::FuturesOrdered;

use crate::audio::SAMPLE_RATE;
use crate::engine::recognizer::DecodeOptions;
use crate::engine::scheduler::{EngineHandle, SchedError};
use crate::engine::vad::SileroModel;
use crate::finalize::coverage::{MIN_SPEECH_S, WINDOW_S, merge_spans, speech_in, speech_spans};
use crate::finalize::{DecodeRoute, Fallback, FinalDecode, ReviewPlan, SecondPass, SpeechWindow, project_edits};
use crate::review::Edit;

/// How a file's windows enter a full engine queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// The first window is refused at once ([`SchedError::Busy`]) so that a caller who can retry
    /// (a REST client: 503) is not kept waiting; the rest wait for room.
    RefuseWhenBusy,
    /// Every window waits for room (the CLI, the bench).
    Wait,
}

/// A finished transcript of a file.
#[derive(Debug, Clone, Default)]
pub struct Transcript {
    /// Full text.
    pub text: String,
    /// Language detected or forced.
    pub language: Option<String>,
    /// Audio duration, seconds.
    pub duration_s: f64,
    /// Timed segments (absolute times).
    pub segments: Vec<crate::engine::recognizer::Segment>,
    /// Timed words (absolute times), when requested.
    pub words: Vec<crate::engine::recognizer::Word>,
    /// The engine that produced it (the fallback's name when every window fell back).
    pub model: String,
    /// The recognizer's text before review.
    pub raw_text: String,
    /// The reviewers' edits, byte offsets into `raw_text`.
    pub edits: Vec<Edit>,
    /// Whether a review ran (`review` was not `none`).
    pub reviewed: bool,
    /// Reviewers that failed and were skipped, with why.
    pub review_skipped: Vec<String>,
    /// Windows decoded by the fallback engine, with why.
    pub fallbacks: Vec<Fallback>,
}

/// The finalizer chain a file's windows go through.
#[derive(Clone, Copy)]
pub struct Chain<'a> {
    /// The routed engine.
    pub engine: &'a EngineHandle,
    /// The engine that answers when it fails.
    pub fallback: Option<&'a EngineHandle>,
    /// The request's review.
    pub review: &'a ReviewPlan,
    /// The reviewers.
    pub second: &'a SecondPass,
}

impl<'a> Chain<'a> {
    /// The decode of this chain with `options`.
    pub fn route(self, options: &'a DecodeOptions) -> DecodeRoute<'a> {
        DecodeRoute {
            engine: self.engine,
            fallback: self.fallback,
            stats: self.second.stats(),
            plan: self.review,
            options,
            glossary_budget: None,
        }
    }
}

/// Cuts a recording into windows of at most [`WINDOW_S`], at VAD pauses where possible (one
/// window for audio of 30 s or less), each with the speech the VAD found in it. Runs Silero over
/// the whole file (blocking; call from a blocking thread), except for audio shorter than
/// [`MIN_SPEECH_S`], which is one window without speech spans (no re-decode can apply).
pub fn plan_windows(
    vad: &SileroModel,
    samples: &[f32],
) -> Result<Vec<SpeechWindow>, crate::engine::recognizer::EngineError> {
    let max = (WINDOW_S * SAMPLE_RATE as f64) as usize;
    if (samples.len() as f32) < MIN_SPEECH_S * SAMPLE_RATE as f32 {
        // too short to hold the speech a re-decode needs: no VAD pass (REST's short clips)
        return Ok(vec![SpeechWindow {
            start: 0,
            end: samples.len(),
            speech: Vec::new(),
        }]);
    }
    let speech = speech_spans(vad, samples, WINDOW_S as f32)?;
    let inside = |start: usize, end: usize| speech_in(&speech, start, end);
    if samples.len() <= (30 * SAMPLE_RATE) as usize {
        return Ok(vec![SpeechWindow {
            start: 0,
            end: samples.len(),
            speech: inside(0, samples.len()),
        }]);
    }
    Ok(merge_spans(&speech, max)
        .into_iter()
        .map(|(start, end)| SpeechWindow {
            start,
            end,
            speech: inside(start, end),
        })
        .collect())
}

/// Transcribes decoded 16 kHz audio through `chain`, cutting it into windows with `vad`.
/// `progress(done, total, text)` is told after each window, in order, with that window's
/// reviewed text (SSE streams it as deltas).
pub async fn transcribe(
    vad: &SileroModel,
    chain: Chain<'_>,
    samples: Arc<[f32]>,
    options: DecodeOptions,
    admission: Admission,
    progress: impl Fn(usize, usize, &str),
) -> Result<Transcript, SchedError> {
    let duration_s = samples.len() as f64 / SAMPLE_RATE as f64;
    let vad = vad.clone();
    let s2 = samples.clone();
    let windows = tokio::task::spawn_blocking(move || plan_windows(&vad, &s2))
        .await
        .map_err(|e| SchedError::Engine(crate::engine::recognizer::EngineError::Inference(e.to_string())))??;
    let total = windows.len();
    let route = chain.route(&options);
    // Each window's coverage check runs as soon as its own decode is back, so the decodes it
    // adds (pieces, a tail) go to the engine while other windows are still decoding, on a free
    // worker when the engine has several; the results are still taken in window order.
    let mut pending = FuturesOrdered::new();
    for (i, w) in windows.iter().enumerate() {
        let refuse = admission == Admission::RefuseWhenBusy && i == 0;
        let (samples, window) = (samples.clone(), w.clone());
        pending.push_back(async move {
            let decoded = route.decode(samples[window.start..window.end].into(), refuse).await?;
            let again = route.left_out(&samples, window, &decoded.hypothesis).await;
            Ok::<_, SchedError>((decoded, again))
        });
    }
    let mut out = Transcript {
        duration_s,
        model: chain.engine.name().to_string(),
        reviewed: chain.review.mode() != crate::config::ReviewMode::None,
        ..Default::default()
    };
    let mut previous: Vec<String> = Vec::new();
    let mut done = 0;
    let mut iter_windows = windows.iter();
    while let Some(r) = pending.next().await {
        let (
            FinalDecode {
                hypothesis: mut h,
                engine,
                fallback,
            },
            again,
        ) = r?;
        let Some(window) = iter_windows.next() else { break };
        let off = window.start as f32 / SAMPLE_RATE as f32;
        if let Some(again) = again {
            h = again;
        }
        done += 1;
        if let Some(f) = fallback {
            out.model = engine;
            out.fallbacks.push(f);
        }
        let raw = h.text.trim();
        let reviewed = chain.second.review(chain.review, raw, &previous, None).await;
        progress(done, total, &reviewed.text);
        out.review_skipped.extend(reviewed.skipped.iter().cloned());
        if !raw.is_empty() {
            if !out.raw_text.is_empty() {
                out.raw_text.push(' ');
                out.text.push(' ');
            }
            let base = out.raw_text.len();
            out.raw_text.push_str(raw);
            out.text.push_str(&reviewed.text);
            out.edits.extend(reviewed.edits.iter().cloned().map(|mut e| {
                e.start += base;
                e.end += base;
                e
            }));
            previous.push(reviewed.text.clone());
        }
        out.language = out.language.take().or(h.language);
        let mut segments = h.segments;
        project_edits(raw, &reviewed.edits, &mut segments);
        out.segments.extend(segments.into_iter().map(|mut x| {
            x.start += off;
            x.end += off;
            x
        }));
        out.words.extend(h.words.into_iter().map(|mut w| {
            w.start += off;
            w.end += off;
            w
        }));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::recognizer::Segment;

    fn edit(raw: &str, from: &str, to: &str) -> Edit {
        let start = raw.find(from).unwrap();
        Edit {
            start,
            end: start + from.len(),
            from: from.into(),
            to: to.into(),
            reviewer: "glossary",
            term: Some(to.into()),
            score: 1.0,
        }
    }

    #[test]
    fn edits_reach_the_segments_they_fall_in() {
        let raw = "we run cube netties. on a graph fana board";
        let seg = |t: &str| Segment {
            text: t.into(),
            ..Default::default()
        };
        let mut segments = vec![seg("we run cube netties."), seg("on a graph fana board")];
        let edits = [
            edit(raw, "cube netties", "Kubernetes"),
            edit(raw, "graph fana", "Grafana"),
            // across the boundary: left out of the segments
            edit(raw, "netties. on", "x"),
        ];
        project_edits(raw, &edits[..2], &mut segments);
        assert_eq!(segments[0].text, "we run Kubernetes.");
        assert_eq!(segments[1].text, "on a Grafana board");

        let mut segments = vec![seg("we run cube netties."), seg("on a graph fana board")];
        project_edits(raw, &edits[2..], &mut segments);
        assert_eq!(segments[0].text, "we run cube netties.");
        assert_eq!(segments[1].text, "on a graph fana board");
    }
}
