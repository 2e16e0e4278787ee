//! Live speakers: the `diarization` extension of a transcription session. Each completed item
//! gets a speaker label, kept consistent for the whole session, carried by OpenAI's
//! `conversation.item.input_audio_transcription.segment` event (and the `completed` event's
//! extension `speaker`).
//!
//! ```text
//!  committed item ─► decode ┐ (concurrent, finals.rs)
//!                 └► embed ─┴► in commit order: assign to the session's centroids ─► segment, completed
//!                   (blocking thread)
//! ```
//!
//! The item's audio is embedded by the server's [`SpeakerEmbedder`] on a blocking thread
//! ([`embed`]), beside its decode; the embedding is assigned to a speaker by the session's
//! [`OnlineClusterer`] ([`SessionSpeakers::assign`]) when the finalizer reports the item, so in
//! commit order.
//!
//! # Invariants
//!
//! * **Labels are stable**: speaker `i` (in order of first appearance, in commit order) is
//!   labelled [`speaker_label`]`(i)` — `A`, `B`, … as OpenAI's diarizing model labels them —
//!   for the whole session; a label never changes meaning or gets reused.
//! * **Short items never create speakers**: an item shorter than [`MIN_NEW_SPEAKER_S`] joins
//!   the nearest existing speaker without moving its centroid (its embedding is too noisy to
//!   found or shift a voice); only when the session has no speaker yet does it found one.
//! * **At most [`MAX_LIVE_SPEAKERS`]** speakers per session; past that an item goes to the
//!   nearest one.
//! * **A failure costs the item its label, nothing more**: an embedding that fails (audio the
//!   model refuses) is logged and the item is reported without a segment.
//! * **Never on the async runtime**: the embedder is synchronous and CPU-bound; [`embed`] runs it
//!   with `spawn_blocking`. Assigning is a few dot products and runs inline.
//! * **Refused when it cannot be served**: without a speaker model, an update asking for
//!   `diarization: true` is refused by [`check_available`] with an `invalid_request_error` of
//!   code [`MODEL_MISSING`] (as REST's `diarized_json`) naming the param, and the configuration
//!   stays as it was.

use std::sync::Arc;

use crate::engine::recognizer::EngineError;
use crate::engine::speaker::{SpeakerEmbedder, cosine};
use crate::meeting::diarize::online::OnlineError;
use crate::meeting::diarize::{DEFAULT_ONLINE_THRESHOLD, OnlineClusterer, speaker_label};
use crate::realtime::protocol::{ErrorCode, ProtocolError, SessionConfig};

/// Most speakers one session tells apart.
pub const MAX_LIVE_SPEAKERS: usize = 16;

/// Items shorter than this (seconds) join the nearest existing speaker and never found one.
pub const MIN_NEW_SPEAKER_S: f32 = 1.0;

/// Why an item got no speaker.
#[derive(Debug, thiserror::Error)]
pub enum SpeakerError {
    /// The embedder refused the audio or failed.
    #[error("speaker embedding failed: {0}")]
    Embed(#[from] EngineError),
    /// The blocking task running the embedder panicked or was cancelled.
    #[error("speaker embedding task ended: {0}")]
    Task(String),
    /// The embedding does not fit the session's speakers.
    #[error("speaker assignment failed: {0}")]
    Assign(#[from] OnlineError),
}

/// The error code of a `diarization` the server cannot serve (the same as REST's `diarized_json`).
pub use crate::meeting::diarize::SPEAKER_MODEL_MISSING as MODEL_MISSING;

/// Refuses a configuration asking for `diarization: true` when the server has no speaker model
/// (`available` false); the error names the param in the update's dialect.
pub fn check_available(cfg: &SessionConfig, available: bool, beta: bool) -> Result<(), ProtocolError> {
    if !cfg.transcription.diarization() || available {
        return Ok(());
    }
    let param = if beta {
        "session.input_audio_transcription.diarization"
    } else {
        "session.audio.input.transcription.diarization"
    };
    Err(ProtocolError::new(
        ErrorCode::Other(MODEL_MISSING.into()),
        format!(
            "Live speaker labels ('diarization') need a speaker model, and none is \
             installed on this server (<models>/{}; scripts/fetch-models installs it). Set 'diarization' \
             to false or leave it out.",
            crate::engine::SPEAKER_MODEL
        ),
    )
    .with_param(param))
}

/// Embeds an item's audio (16 kHz) on a blocking thread.
pub async fn embed(embedder: Arc<dyn SpeakerEmbedder>, samples: Arc<[f32]>) -> Result<Vec<f32>, SpeakerError> {
    tokio::task::spawn_blocking(move || embedder.embed(&samples))
        .await
        .map_err(|e| SpeakerError::Task(e.to_string()))?
        .map_err(SpeakerError::from)
}

/// The speaker of one item, as its `segment` event says it.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemSpeaker {
    /// The label (`A`, `B`, …).
    pub label: String,
    /// The segment id (`seg_1`, `seg_2`, … in the session).
    pub segment_id: String,
}

/// A session's speakers: the embedder and the centroids of the voices heard so far.
pub struct SessionSpeakers {
    embedder: Arc<dyn SpeakerEmbedder>,
    clusterer: OnlineClusterer,
    segments: u64,
}

impl SessionSpeakers {
    /// No speakers yet; items are embedded by `embedder`.
    pub fn new(embedder: Arc<dyn SpeakerEmbedder>) -> Self {
        let clusterer = OnlineClusterer::new(embedder.dim(), DEFAULT_ONLINE_THRESHOLD, MAX_LIVE_SPEAKERS);
        Self {
            embedder,
            clusterer,
            segments: 0,
        }
    }

    /// The embedder (for [`embed`]).
    pub fn embedder(&self) -> Arc<dyn SpeakerEmbedder> {
        self.embedder.clone()
    }

    /// Speakers heard so far.
    pub fn len(&self) -> usize {
        self.clusterer.len()
    }

    /// Whether no speaker has been heard.
    pub fn is_empty(&self) -> bool {
        self.clusterer.is_empty()
    }

    /// The speaker of an item of `seconds` whose audio embedded to `embedding` (call in commit
    /// order); see the module invariants for short items.
    pub fn assign(&mut self, embedding: &[f32], seconds: f32) -> Result<ItemSpeaker, SpeakerError> {
        let speaker = match self.nearest(embedding) {
            Some(i) if seconds < MIN_NEW_SPEAKER_S => i,
            _ => self.clusterer.assign(embedding, seconds)?.speaker,
        };
        self.segments += 1;
        Ok(ItemSpeaker {
            label: speaker_label(speaker),
            segment_id: format!("seg_{}", self.segments),
        })
    }

    /// The most similar existing speaker (`None` when there is none or the vector does not fit).
    fn nearest(&self, embedding: &[f32]) -> Option<usize> {
        if embedding.len() != self.embedder.dim() {
            return None;
        }
        self.clusterer
            .centroids()
            .iter()
            .map(|c| cosine(c, embedding))
            .enumerate()
            .filter(|(_, s)| s.is_finite())
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(i, _)| i)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An embedder standing in for GE2E in unit tests (the real model is exercised by
    /// `tests/realtime_speakers.rs`): the "voice" of a clip is its first sample, mapped onto one
    /// of three orthogonal directions with a little of the clip's length mixed in.
    pub(crate) struct ToneEmbedder;

    impl SpeakerEmbedder for ToneEmbedder {
        fn name(&self) -> &str {
            "tone"
        }

        fn dim(&self) -> usize {
            3
        }

        fn embed(&self, samples: &[f32]) -> Result<Vec<f32>, EngineError> {
            crate::engine::speaker::check_input(samples)?;
            let voice = (samples[0] * 10.0).round() as usize;
            let jitter = (samples.len() % 7) as f32 * 0.02;
            let mut v = vec![jitter; 3];
            *v.get_mut(voice)
                .ok_or_else(|| EngineError::InvalidInput("no such voice".into()))? = 1.0;
            Ok(v)
        }
    }

    fn speakers() -> SessionSpeakers {
        SessionSpeakers::new(Arc::new(ToneEmbedder))
    }

    fn voice(v: usize, len: usize) -> Vec<f32> {
        ToneEmbedder.embed(&vec![v as f32 / 10.0; len]).unwrap()
    }

    #[test]
    fn a_voice_keeps_its_label_and_a_new_voice_gets_the_next_letter() {
        let mut s = speakers();
        let labels: Vec<(String, String)> = [(0, 3.0), (1, 2.0), (0, 4.0), (2, 1.5), (1, 2.5)]
            .iter()
            .enumerate()
            .map(|(i, &(v, secs))| {
                let a = s.assign(&voice(v, 100 + i), secs).unwrap();
                (a.label, a.segment_id)
            })
            .collect();
        let just: Vec<&str> = labels.iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(just, ["A", "B", "A", "C", "B"]);
        let ids: Vec<&str> = labels.iter().map(|(_, id)| id.as_str()).collect();
        assert_eq!(ids, ["seg_1", "seg_2", "seg_3", "seg_4", "seg_5"]);
        assert_eq!(s.len(), 3);
    }

    #[test]
    fn a_short_item_joins_the_nearest_speaker_and_founds_none() {
        let mut s = speakers();
        // the first item founds a speaker whatever its length
        assert_eq!(s.assign(&voice(1, 10), 0.4).unwrap().label, "A");
        assert_eq!(s.assign(&voice(0, 10), 3.0).unwrap().label, "B");
        let before = s.clusterer.centroids().to_vec();
        // a short item of another voice (nearest A, but below the threshold): too little to
        // found a speaker; the centroids stay put
        let other = [0.3, 0.6, 0.7];
        assert!(cosine(&other, &s.clusterer.centroids()[0]) < DEFAULT_ONLINE_THRESHOLD);
        assert_eq!(s.assign(&other, 0.5).unwrap().label, "A");
        assert_eq!(s.len(), 2);
        assert_eq!(s.clusterer.centroids(), before.as_slice());
        // long enough, it is a new speaker
        assert_eq!(s.assign(&other, 1.5).unwrap().label, "C");
    }

    #[test]
    fn a_misfit_embedding_is_refused_and_changes_nothing() {
        let mut s = speakers();
        s.assign(&voice(0, 10), 2.0).unwrap();
        assert!(matches!(
            s.assign(&[1.0, 0.0], 2.0),
            Err(SpeakerError::Assign(OnlineError::Dimension { want: 3, got: 2 }))
        ));
        assert!(matches!(
            s.assign(&[0.0, 0.0, 0.0], 2.0),
            Err(SpeakerError::Assign(OnlineError::NotFinite))
        ));
        assert_eq!(s.len(), 1);
        assert_eq!(s.assign(&voice(1, 10), 2.0).unwrap().segment_id, "seg_2");
    }

    #[tokio::test]
    async fn embedding_runs_off_the_runtime_and_reports_refused_audio() {
        let e: Arc<dyn SpeakerEmbedder> = Arc::new(ToneEmbedder);
        let v = embed(e.clone(), vec![0.1; 50].into()).await.unwrap();
        assert_eq!(v.len(), 3);
        let err = embed(e, Vec::new().into()).await.unwrap_err();
        assert!(
            matches!(err, SpeakerError::Embed(EngineError::InvalidInput(_))),
            "{err}"
        );
    }

    #[test]
    fn diarization_is_refused_without_a_speaker_model_naming_the_param() {
        let mut c = SessionConfig::default();
        assert!(check_available(&c, false, false).is_ok(), "off: nothing to refuse");
        c.transcription.diarization = Some(true);
        assert!(check_available(&c, true, false).is_ok());
        let e = check_available(&c, false, false).unwrap_err();
        assert_eq!(e.code, ErrorCode::Other(MODEL_MISSING.into()));
        assert_eq!(
            e.param.as_deref(),
            Some("session.audio.input.transcription.diarization")
        );
        assert!(e.message.contains("speaker model"), "{}", e.message);
        let e = check_available(&c, false, true).unwrap_err();
        assert_eq!(
            e.param.as_deref(),
            Some("session.input_audio_transcription.diarization")
        );
    }
}
