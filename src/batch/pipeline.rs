//! The whole-file pipeline behind [`crate::batch::service`]. Short clips are one utterance;
//! longer audio is cut at VAD pauses into windows of at most 30 s, decoded as a batch through the
//! scheduler, and stitched back together with time offsets.

use std::sync::Arc;

use futures_util::StreamExt;
use futures_util::stream::FuturesOrdered;

use crate::audio::SAMPLE_RATE;
use crate::engine::recognizer::{DecodeOptions, Hypothesis, Utterance};
use crate::engine::scheduler::{EngineHandle, Priority, SchedError};
use crate::engine::vad::{SileroModel, segmenter};

/// Longest window handed to the recognizer, seconds. Whisper sees 30 s, but tends to drop speech
/// that ends near the edge of its window, so windows keep a margin.
pub const WINDOW_S: f64 = 25.0;

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
    /// The engine that produced it.
    pub model: String,
}

/// Cuts a long recording into `(start, end)` sample windows of at most [`WINDOW_S`], at VAD pauses
/// where possible. Runs Silero over the whole file (blocking; call from a blocking thread).
pub fn plan_windows(
    vad: &SileroModel,
    samples: &[f32],
) -> Result<Vec<(usize, usize)>, crate::engine::recognizer::EngineError> {
    let max = (WINDOW_S * SAMPLE_RATE as f64) as usize;
    if samples.len() <= (30 * SAMPLE_RATE) as usize {
        return Ok(vec![(0, samples.len())]);
    }
    let mut stream = vad.stream();
    let probs = stream.push(samples)?;
    let cfg = segmenter::SegmenterConfig {
        min_silence_ms: 300,
        padding_ms: 200,
        max_segment_s: WINDOW_S as f32,
        ..Default::default()
    };
    let speech = segmenter::segments(&probs, &cfg);
    // Greedily merge speech segments into windows no longer than `max`.
    let mut windows: Vec<(usize, usize)> = Vec::new();
    for (s, e) in speech {
        let e = e.min(samples.len());
        match windows.last_mut() {
            Some(w) if e - w.0 <= max => w.1 = e,
            _ => windows.push((s, e)),
        }
    }
    Ok(windows)
}

/// Transcribes decoded 16 kHz audio with `engine`, cutting it into windows with `vad`.
/// `progress(done, total, text)` is told after each window, in order, with that window's text
/// (SSE streams it as deltas).
pub async fn transcribe(
    vad: &SileroModel,
    engine: &EngineHandle,
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
    let mut pending = FuturesOrdered::new();
    for (i, &(s, e)) in windows.iter().enumerate() {
        let utt = Utterance {
            samples: samples[s..e].into(),
            options: options.clone(),
        };
        let h = engine.clone();
        let refuse = admission == Admission::RefuseWhenBusy && i == 0;
        pending.push_back(async move {
            if refuse {
                h.try_recognize(utt, Priority::Final, None).await
            } else {
                h.recognize_final(utt).await
            }
        });
    }
    let mut out = Transcript {
        duration_s,
        model: engine.name().to_string(),
        ..Default::default()
    };
    let mut done = 0;
    let mut iter_windows = windows.iter();
    while let Some(r) = pending.next().await {
        let h: Hypothesis = r?;
        let (s, _) = iter_windows.next().copied().unwrap_or((0, 0));
        let off = s as f32 / SAMPLE_RATE as f32;
        done += 1;
        progress(done, total, h.text.trim());
        if !h.text.is_empty() {
            if !out.text.is_empty() {
                out.text.push(' ');
            }
            out.text.push_str(h.text.trim());
        }
        out.language = out.language.take().or(h.language);
        out.segments.extend(h.segments.into_iter().map(|mut x| {
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
