//! `response_format=diarized_json`: who spoke when in a clip, then what each speaker said — the
//! meeting pipeline's steps run in memory, for clips up to the batch limit.
//!
//! 1. The known speakers' reference clips are decoded, the VAD's speech spans found
//!    ([`SpeechSpans::detect`], the meeting's `segment` cut).
//! 2. [`diarize::diarize_full`] groups the speech into speakers (with the meeting's options,
//!    [`diarize_options`]: the smallest speaker shrinks with a short clip); reference clips name the
//!    clusters they match ([`diarize::known::name_clusters`]); speakers are numbered by first
//!    appearance ([`relabel`]).
//! 3. The speech is decoded in windows ([`plan_windows`]) through the finalizer chain as a
//!    meeting's is, what each window says handed to its speakers ([`decode_windows`]), and the
//!    pieces reviewed in order with the clip so far as context ([`review`]), into a [`Timeline`].
//!
//! Layering: `batch` uses `meeting`'s diarization and pipeline steps; `meeting` never imports
//! `batch`, so there is no cycle and no second copy of the piece logic.

use std::sync::Arc;

use futures_util::StreamExt;

use super::pipeline::{Admission, Chain};
use super::request::KnownSpeakerClip;
use super::service::BatchError;
use crate::engine::recognizer::DecodeOptions;
use crate::engine::speaker::SpeakerEmbedder;
use crate::engine::vad::SileroModel;
use crate::meeting::diarize::{self, DEFAULT_KNOWN_THRESHOLD};
use crate::meeting::pipeline::SpeechSpans;
use crate::meeting::pipeline::pieces::plan_windows;
use crate::meeting::pipeline::speakers::{Diarized, diarize_options, relabel};
use crate::meeting::pipeline::transcribe::{Transcribed, WindowRoute, decode_windows, per_speaker, review};
use crate::meeting::timeline::Timeline;

/// Longest reference clip, seconds (OpenAI asks for 2 to 10 s).
pub const MAX_REFERENCE_S: f64 = 30.0;
/// Shortest reference clip, seconds: less holds too little voice to match.
pub const MIN_REFERENCE_S: f64 = 1.0;

/// Why a known speaker's reference clip cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    /// It does not decode.
    #[error("the reference clip of {name:?} cannot be read: {source}")]
    Audio {
        /// The speaker.
        name: String,
        /// Cause.
        source: crate::audio::AudioError,
    },
    /// It is too short to match.
    #[error("the reference clip of {name:?} is {seconds:.1} s; it must be at least {MIN_REFERENCE_S} s of speech")]
    TooShort {
        /// The speaker.
        name: String,
        /// Its length.
        seconds: f64,
    },
}

/// Diarizes and transcribes `samples` (16 kHz mono) through `chain`; see the module docs.
pub async fn transcribe_diarized(
    vad: &SileroModel,
    embedder: Arc<dyn SpeakerEmbedder>,
    chain: Chain<'_>,
    samples: Arc<[f32]>,
    options: &DecodeOptions,
    known: &[KnownSpeakerClip],
    admission: Admission,
) -> Result<Timeline, BatchError> {
    let (speech, who) = {
        let vad = vad.clone();
        let samples = samples.clone();
        let known = known.to_vec();
        tokio::task::spawn_blocking(move || speakers(&vad, embedder.as_ref(), &samples, &known))
            .await
            .map_err(|e| BatchError::Diarize(format!("worker thread: {e}")))??
    };
    let route = WindowRoute {
        route: chain.route(options),
        turns: &who.turns,
    };
    let plan = plan_windows(
        &speech.sample_ranges(samples.len()),
        crate::audio::SAMPLE_RATE as usize,
        per_speaker(route.route.engine, &who.turns),
    );
    let refuse_first = admission == Admission::RefuseWhenBusy;
    let pieces = decode_windows(route, samples, plan.into_iter().enumerate().collect(), refuse_first)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .flat_map(|w| w.pieces)
        .collect();
    let heard = Transcribed {
        duration_s: speech.duration_s,
        speakers: who.speakers.into_iter().map(|s| (s.id, s.name)).collect(),
        pieces,
    };
    Ok(review(chain.second, chain.review, heard, Arc::new(|_: f32| {})).await)
}

/// Step 1–2 (blocking): the speech spans and the speakers' turns, named where a reference clip
/// matched.
fn speakers(
    vad: &SileroModel,
    embedder: &dyn SpeakerEmbedder,
    samples: &[f32],
    known: &[KnownSpeakerClip],
) -> Result<(SpeechSpans, Diarized), BatchError> {
    let mut references = Vec::with_capacity(known.len());
    for k in known {
        let clip =
            crate::audio::decode_bytes(k.audio.to_vec(), MAX_REFERENCE_S).map_err(|source| ReferenceError::Audio {
                name: k.name.clone(),
                source,
            })?;
        let seconds = clip.samples.len() as f64 / crate::audio::SAMPLE_RATE as f64;
        if seconds < MIN_REFERENCE_S {
            return Err(ReferenceError::TooShort {
                name: k.name.clone(),
                seconds,
            }
            .into());
        }
        references.push(
            embedder
                .embed(&clip.samples)
                .map_err(|e| BatchError::Diarize(e.to_string()))?,
        );
    }
    let speech = SpeechSpans::detect(vad, samples).map_err(|e| BatchError::Engine(e.into()))?;
    let talk_s: f64 = speech.spans.iter().map(|(a, b)| b - a).sum();
    let opts = diarize_options(talk_s);
    let d = diarize::diarize_full(embedder, samples, &speech.sample_ranges(samples.len()), &opts)
        .map_err(|e| BatchError::Diarize(e.to_string()))?;
    let names: Vec<String> = known.iter().map(|k| k.name.clone()).collect();
    let named = diarize::known::name_clusters(&d.centroids, &references, &names, DEFAULT_KNOWN_THRESHOLD);
    Ok((speech, relabel(d.turns, &named)))
}
