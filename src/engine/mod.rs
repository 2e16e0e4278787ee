//! Model backends behind traits, and the scheduler that feeds them.
//!
//! [`Engines`] is what the transports see: named recognizers behind bounded queues, the VAD model,
//! and the routing rules (`model=auto`, fast vs strong). Nothing here knows about HTTP.

pub mod metrics;
pub mod ort_runtime;
pub mod recognizer;
pub mod scheduler;
pub mod sensevoice;
pub mod vad;
pub mod whisper;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{Config, Finalizer, WhisperConfig};
use recognizer::EngineError;
use scheduler::{BatchPolicy, EngineHandle};
use vad::SileroModel;
use whisper::{WhisperEngine, WhisperSettings};

/// The role a model plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Live partials and short clips.
    Fast,
    /// Finals, long and high-quality jobs.
    Strong,
    /// Voice activity detection.
    Vad,
}

/// A model known to the server.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModelInfo {
    /// Name used in requests.
    pub id: String,
    /// What it is used for.
    pub role: Vec<Role>,
    /// Directory or file.
    pub path: String,
    /// Bytes on disk.
    pub size_bytes: u64,
    /// Languages: `["en"]` or `["multilingual"]`.
    pub languages: Vec<String>,
}

/// Every loaded engine and the routing rules.
pub struct Engines {
    by_name: BTreeMap<String, EngineHandle>,
    infos: Vec<ModelInfo>,
    /// Fast engine for English.
    fast_en: String,
    /// Fast engine for other or unknown languages.
    fast_any: String,
    /// Strong engine.
    strong: String,
    /// The VAD model.
    pub vad: SileroModel,
    short_clip_s: f64,
    finalizer: Finalizer,
    default_language: Option<String>,
}

/// Model names of the default installation.
pub const TINY_EN: &str = "whisper-tiny.en";
/// Whisper base, multilingual.
pub const BASE: &str = "whisper-base";
/// SenseVoice-Small, when the user installed its weights.
pub const SENSEVOICE: &str = "sensevoice-small";

fn policy_base(cfg: &Config) -> BatchPolicy {
    BatchPolicy {
        max_batch: 16,
        max_wait: Duration::from_millis(cfg.batch_wait_ms),
        final_queue: cfg.queue_capacity,
        partial_queue: cfg.queue_capacity,
    }
}

fn sv_policy(c: &WhisperConfig, base: &BatchPolicy) -> BatchPolicy {
    BatchPolicy {
        max_batch: c.max_batch.max(1),
        ..base.clone()
    }
}

fn dir_size(p: &Path) -> u64 {
    std::fs::read_dir(p)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn whisper_settings(name: &str, c: &WhisperConfig) -> WhisperSettings {
    WhisperSettings {
        name: name.into(),
        compute_type: c.compute_type,
        threads: c.threads,
        beam_size: c.beam_size,
        max_batch: c.max_batch,
    }
}

impl Engines {
    /// Loads every installed model under `cfg.models_dir` and starts its workers.
    pub fn load(cfg: &Config) -> Result<Self, EngineError> {
        let dir = &cfg.models_dir;
        ort_runtime::init(dir)?;
        let vad_path = dir.join("silero-vad/silero_vad.onnx");
        let vad = SileroModel::load(&vad_path)?;
        let policy = BatchPolicy {
            max_batch: 16,
            max_wait: Duration::from_millis(cfg.batch_wait_ms),
            final_queue: cfg.queue_capacity,
            partial_queue: cfg.queue_capacity,
        };
        let mut by_name = BTreeMap::new();
        let mut infos = vec![ModelInfo {
            id: "silero-vad".into(),
            role: vec![Role::Vad],
            path: vad_path.display().to_string(),
            size_bytes: std::fs::metadata(&vad_path).map(|m| m.len()).unwrap_or(0),
            languages: vec!["any".into()],
        }];
        let base_dir = dir.join(BASE);
        let base = Arc::new(WhisperEngine::load(&base_dir, whisper_settings(BASE, &cfg.strong))?);
        by_name.insert(
            BASE.to_string(),
            EngineHandle::spawn(base, policy.clone(), cfg.workers_per_engine),
        );
        infos.push(ModelInfo {
            id: BASE.into(),
            role: vec![Role::Strong, Role::Fast],
            path: base_dir.display().to_string(),
            size_bytes: dir_size(&base_dir),
            languages: vec!["multilingual".into()],
        });
        let tiny_dir = dir.join(TINY_EN);
        let fast_en = if tiny_dir.join("model.bin").exists() {
            let tiny = Arc::new(WhisperEngine::load(&tiny_dir, whisper_settings(TINY_EN, &cfg.fast))?);
            by_name.insert(
                TINY_EN.to_string(),
                EngineHandle::spawn(tiny, policy, cfg.workers_per_engine),
            );
            infos.push(ModelInfo {
                id: TINY_EN.into(),
                role: vec![Role::Fast],
                path: tiny_dir.display().to_string(),
                size_bytes: dir_size(&tiny_dir),
                languages: vec!["en".into()],
            });
            TINY_EN.to_string()
        } else {
            BASE.to_string()
        };
        // SenseVoice, when installed, is the fast engine for every language it knows.
        let sv_dir = cfg.sensevoice_dir.clone().unwrap_or_else(|| dir.join(SENSEVOICE));
        let mut fast_any = BASE.to_string();
        let mut fast_en = fast_en;
        if sensevoice::is_sensevoice_dir(&sv_dir) {
            let sv = Arc::new(sensevoice::SenseVoice::load(&sv_dir, cfg.fast.threads)?);
            by_name.insert(
                SENSEVOICE.to_string(),
                EngineHandle::spawn(sv, sv_policy(&cfg.fast, &policy_base(cfg)), cfg.workers_per_engine),
            );
            infos.push(ModelInfo {
                id: SENSEVOICE.into(),
                role: vec![Role::Fast],
                path: sv_dir.display().to_string(),
                size_bytes: dir_size(&sv_dir),
                languages: ["zh", "en", "yue", "ja", "ko"].iter().map(|s| s.to_string()).collect(),
            });
            fast_en = SENSEVOICE.to_string();
            fast_any = SENSEVOICE.to_string();
        }
        Ok(Self {
            by_name,
            infos,
            fast_en,
            fast_any,
            strong: BASE.into(),
            vad,
            short_clip_s: cfg.short_clip_s,
            finalizer: cfg.finalizer,
            default_language: cfg.default_language.clone(),
        })
    }

    /// Installed models with roles and sizes.
    pub fn models(&self) -> &[ModelInfo] {
        &self.infos
    }

    /// Names a request may use in `model`, besides the aliases.
    pub fn names(&self) -> Vec<String> {
        self.by_name.keys().cloned().collect()
    }

    /// An engine by exact name.
    pub fn get(&self, name: &str) -> Option<&EngineHandle> {
        self.by_name.get(name)
    }

    /// The language to use when the request names none.
    pub fn default_language(&self) -> Option<&str> {
        self.default_language.as_deref()
    }

    /// The fast engine for a language.
    pub fn fast(&self, language: Option<&str>) -> &EngineHandle {
        let name = match language {
            Some("en") => &self.fast_en,
            // SenseVoice knows five languages; anything else goes to multilingual Whisper
            Some(l) if self.fast_any == SENSEVOICE && !matches!(l, "zh" | "yue" | "ja" | "ko") => &self.strong,
            _ => &self.fast_any,
        };
        &self.by_name[name]
    }

    /// The strong engine.
    pub fn strong(&self) -> &EngineHandle {
        &self.by_name[&self.strong]
    }

    /// The engine that finalizes a realtime utterance of `duration_s`.
    pub fn finalizer(&self, language: Option<&str>, duration_s: f32) -> &EngineHandle {
        match self.finalizer {
            Finalizer::Strong => self.strong(),
            Finalizer::Fast => self.fast(language),
            Finalizer::StrongAbove(s) if duration_s >= s => self.strong(),
            Finalizer::StrongAbove(_) => self.fast(language),
        }
    }

    /// Picks the engine for a batch request: `auto` routes by duration and quality; a model name
    /// picks that engine; OpenAI's names count as `auto`. `Err` lists what is available.
    pub fn route(
        &self,
        model: &str,
        duration_s: f64,
        language: Option<&str>,
        high_quality: bool,
        translate: bool,
    ) -> Result<&EngineHandle, String> {
        if let Some(h) = self.by_name.get(model) {
            if translate && !h.supports_translation() {
                return Err(format!("model '{model}' cannot translate; use {}", self.strong));
            }
            return Ok(h);
        }
        if is_auto_alias(model) {
            if translate || high_quality || duration_s > self.short_clip_s {
                return Ok(self.strong());
            }
            return Ok(self.fast(language));
        }
        Err(format!(
            "The model '{model}' does not exist. Available models: auto, {}",
            self.names().join(", ")
        ))
    }
}

/// Model names that mean "let the server choose": `auto` and OpenAI's own transcription models.
pub fn is_auto_alias(model: &str) -> bool {
    matches!(
        model,
        "auto"
            | "whisper-1"
            | "gpt-4o-transcribe"
            | "gpt-4o-mini-transcribe"
            | "gpt-4o-transcribe-diarize"
            | "gpt-transcribe"
            | "gpt-live-transcribe"
            | "gpt-realtime-whisper"
    ) || model.starts_with("gpt-4o-mini-transcribe-")
        || model.starts_with("gpt-4o-transcribe-")
}
