//! The batch transcription service: one path from a checked [`TranscriptionRequest`] and decoded
//! audio to a [`Transcript`], shared by REST, the `transcribe` and `eval` commands and
//! `bench transcribe`: route ([`RoutePolicy`]) → decoding options → the windowed [`pipeline`],
//! whose windows go through the finalizer chain ([`crate::finalize`]: the routed engine with its
//! fallback, then the reviewers).
//!
//! [`BatchService::prepare`] routes, checks the review and builds the options without running
//! anything, so that a caller can refuse a request (unknown model, a language the model does not
//! know, an unknown glossary) before it commits to an answer (REST's event stream);
//! [`Job::run`] then transcribes. [`BatchService::transcribe`] does both. A `diarized_json`
//! request runs [`Job::run_diarized`] instead ([`super::diarized`]).

use std::sync::Arc;

use super::diarized::ReferenceError;
use super::formats::ResponseFormat;
use super::pipeline::{self, Admission, Transcript};
use super::request::{KnownSpeakerClip, TranscriptionRequest};
use crate::audio::SAMPLE_RATE;
use crate::config::Config;
use crate::engine::Engines;
use crate::engine::recognizer::{DecodeOptions, Task};
use crate::engine::scheduler::{EngineHandle, SchedError};
use crate::engine::speaker::SpeakerEmbedder;
use crate::engine::vad::SileroModel;
use crate::finalize::{PlanError, ReviewPlan, SecondPass};
use crate::meeting::timeline::Timeline;
use crate::routing::{RouteError, RoutePolicy, RouteRequest};

/// Why a request got no transcript.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// No engine can serve it.
    #[error(transparent)]
    Route(#[from] RouteError),
    /// Its review cannot be done (unknown glossary, no LLM reviewer).
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The engine refused or failed.
    #[error(transparent)]
    Engine(#[from] SchedError),
    /// `diarized_json` on a server without a speaker model.
    #[error(
        "response_format=diarized_json needs a speaker model, and none is installed on this server \
         (models/{}; scripts/fetch-models installs it)",
        crate::engine::SPEAKER_MODEL
    )]
    NoSpeakerModel,
    /// A known speaker's reference clip cannot be used.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// Speaker embeddings or clustering failed.
    #[error("diarization failed: {0}")]
    Diarize(String),
}

/// Routes checked requests to engines and runs them through the pipeline.
#[derive(Clone)]
pub struct BatchService {
    policy: RoutePolicy,
    vad: SileroModel,
    speaker: Option<Arc<dyn SpeakerEmbedder>>,
    second: Arc<SecondPass>,
}

/// A request routed to its engine with its decoding options and review, ready to run.
pub struct Job {
    engine: EngineHandle,
    fallback: Option<EngineHandle>,
    options: DecodeOptions,
    samples: Arc<[f32]>,
    vad: SileroModel,
    admission: Admission,
    review: ReviewPlan,
    second: Arc<SecondPass>,
    /// `diarized_json`: the speaker embedder and the known speakers.
    diarize: Option<(Arc<dyn SpeakerEmbedder>, Vec<KnownSpeakerClip>)>,
}

impl BatchService {
    /// The service over `engines` with the routing rules of `cfg` and the reviewers of `second`.
    pub fn new(engines: &Engines, cfg: &Config, second: Arc<SecondPass>) -> Self {
        Self {
            policy: RoutePolicy::new(engines, cfg),
            vad: engines.vad.clone(),
            speaker: engines.speaker.clone(),
            second,
        }
    }

    /// The reviewers.
    pub fn second_pass(&self) -> &Arc<SecondPass> {
        &self.second
    }

    /// Routes `req` for `samples` (16 kHz mono), checks its review and builds its decoding
    /// options. A transcription without a language gets the configured default; a translation
    /// never has one (and is not reviewed: the reviewers know the source language's terms).
    /// `diarized_json` needs the speaker model ([`BatchError::NoSpeakerModel`]).
    pub fn prepare(
        &self,
        req: &TranscriptionRequest,
        samples: Arc<[f32]>,
        admission: Admission,
    ) -> Result<Job, BatchError> {
        let diarize = match req.response_format() {
            ResponseFormat::DiarizedJson => Some((
                self.speaker.clone().ok_or(BatchError::NoSpeakerModel)?,
                req.known_speakers().to_vec(),
            )),
            _ => None,
        };
        let language = match req.task() {
            Task::Translate => None,
            Task::Transcribe => req
                .language()
                .or_else(|| self.policy.default_language())
                .map(str::to_string),
        };
        let review = match req.task() {
            Task::Translate => ReviewPlan::none(),
            Task::Transcribe => self.second.plan(req.review(), language.as_deref())?,
        };
        let engine = self
            .policy
            .route(&RouteRequest {
                model: req.model().to_string(),
                duration_s: samples.len() as f64 / SAMPLE_RATE as f64,
                language: language.clone(),
                quality_high: req.quality_high(),
                terms: review.corrects_terms(),
                task: req.task(),
            })?
            .clone();
        let fallback = self.policy.fallback(&engine, language.as_deref(), req.task()).cloned();
        let options = DecodeOptions {
            languages: Some(req.languages().to_vec()).filter(|l| !l.is_empty()),
            language,
            prompt: req.prompt().map(str::to_string),
            task: req.task(),
            temperature: req.temperature(),
            word_timestamps: req.word_timestamps(),
            use_itn: true,
            draft: false,
            short_window: false,
            // Translations decode greedily: under beam search Whisper base kept the source script
            // for a Mandarin clip ("Guangzhou市房地产中间协会分析") that greedy decoding translates.
            beam_size: (req.task() == Task::Translate).then_some(1),
            score_texts: None,
            max_tokens: None,
            word_probabilities: false,
        };
        Ok(Job {
            engine,
            fallback,
            options,
            samples,
            vad: self.vad.clone(),
            admission,
            review,
            second: self.second.clone(),
            diarize,
        })
    }

    /// Routes and transcribes: [`BatchService::prepare`], then [`Job::run`].
    pub async fn transcribe(
        &self,
        req: &TranscriptionRequest,
        samples: Arc<[f32]>,
        admission: Admission,
        progress: impl Fn(usize, usize, &str),
    ) -> Result<Transcript, BatchError> {
        Ok(self.prepare(req, samples, admission)?.run(progress).await?)
    }
}

impl Job {
    /// The engine the request was routed to.
    pub fn engine(&self) -> &EngineHandle {
        &self.engine
    }

    /// Whether the request asked for speakers (`diarized_json`): run it with
    /// [`Job::run_diarized`].
    pub fn diarizes(&self) -> bool {
        self.diarize.is_some()
    }

    /// Diarizes, transcribes per speaker piece and reviews ([`super::diarized`]). A job that was
    /// not prepared for `diarized_json` is refused with [`BatchError::NoSpeakerModel`] rather
    /// than answered without speakers.
    pub async fn run_diarized(self) -> Result<Timeline, BatchError> {
        let Some((embedder, known)) = &self.diarize else {
            return Err(BatchError::NoSpeakerModel);
        };
        let chain = pipeline::Chain {
            engine: &self.engine,
            fallback: self.fallback.as_ref(),
            review: &self.review,
            second: &self.second,
        };
        super::diarized::transcribe_diarized(
            &self.vad,
            embedder.clone(),
            chain,
            self.samples.clone(),
            &self.options,
            known,
            self.admission,
        )
        .await
    }

    /// Transcribes and reviews. `progress(done, total, text)` is told after each window, in
    /// order, with that window's reviewed text.
    pub async fn run(self, progress: impl Fn(usize, usize, &str)) -> Result<Transcript, SchedError> {
        let chain = pipeline::Chain {
            engine: &self.engine,
            fallback: self.fallback.as_ref(),
            review: &self.review,
            second: &self.second,
        };
        pipeline::transcribe(&self.vad, chain, self.samples, self.options, self.admission, progress).await
    }
}
