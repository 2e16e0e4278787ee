//! The batch transcription service: one path from a checked [`TranscriptionRequest`] and decoded
//! audio to a [`Transcript`], shared by REST, the `transcribe` command and `bench transcribe`:
//! route ([`RoutePolicy`]) → decoding options → the windowed [`pipeline`].
//!
//! [`BatchService::prepare`] routes and builds the options without running anything, so that a
//! caller can refuse a request (unknown model, a language the model does not know) before it
//! commits to an answer (REST's event stream); [`Job::run`] then transcribes.
//! [`BatchService::transcribe`] does both.

use std::sync::Arc;

use super::pipeline::{self, Admission, Transcript};
use super::request::TranscriptionRequest;
use crate::audio::SAMPLE_RATE;
use crate::config::Config;
use crate::engine::Engines;
use crate::engine::recognizer::{DecodeOptions, Task};
use crate::engine::scheduler::{EngineHandle, SchedError};
use crate::engine::vad::SileroModel;
use crate::routing::{RouteError, RoutePolicy, RouteRequest};

/// Why a request got no transcript.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// No engine can serve it.
    #[error(transparent)]
    Route(#[from] RouteError),
    /// The engine refused or failed.
    #[error(transparent)]
    Engine(#[from] SchedError),
}

/// Routes checked requests to engines and runs them through the pipeline.
#[derive(Clone)]
pub struct BatchService {
    policy: RoutePolicy,
    vad: SileroModel,
}

/// A request routed to its engine with its decoding options, ready to run.
pub struct Job {
    engine: EngineHandle,
    options: DecodeOptions,
    samples: Arc<[f32]>,
    vad: SileroModel,
    admission: Admission,
}

impl BatchService {
    /// The service over `engines` with the routing rules of `cfg`.
    pub fn new(engines: &Engines, cfg: &Config) -> Self {
        Self {
            policy: RoutePolicy::new(engines, cfg),
            vad: engines.vad.clone(),
        }
    }

    /// Routes `req` for `samples` (16 kHz mono) and builds its decoding options. A transcription
    /// without a language gets the configured default; a translation never has one.
    pub fn prepare(
        &self,
        req: &TranscriptionRequest,
        samples: Arc<[f32]>,
        admission: Admission,
    ) -> Result<Job, RouteError> {
        let language = match req.task() {
            Task::Translate => None,
            Task::Transcribe => req
                .language()
                .or_else(|| self.policy.default_language())
                .map(str::to_string),
        };
        let engine = self
            .policy
            .route(&RouteRequest {
                model: req.model().to_string(),
                duration_s: samples.len() as f64 / SAMPLE_RATE as f64,
                language: language.clone(),
                quality_high: req.quality_high(),
                task: req.task(),
            })?
            .clone();
        let options = DecodeOptions {
            language,
            prompt: req.prompt().map(str::to_string),
            task: req.task(),
            temperature: req.temperature(),
            word_timestamps: req.word_timestamps(),
            use_itn: true,
            draft: false,
            short_window: false,
        };
        Ok(Job {
            engine,
            options,
            samples,
            vad: self.vad.clone(),
            admission,
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

    /// Transcribes. `progress(done, total, text)` is told after each window, in order, with that
    /// window's text.
    pub async fn run(self, progress: impl Fn(usize, usize, &str)) -> Result<Transcript, SchedError> {
        pipeline::transcribe(
            &self.vad,
            &self.engine,
            self.samples,
            self.options,
            self.admission,
            progress,
        )
        .await
    }
}
