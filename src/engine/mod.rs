//! Model backends behind traits, and the scheduler that feeds them.
//!
//! [`Engines`] is what the transports see: named recognizers behind bounded queues, the VAD model,
//! and which engines are fast and strong. The rules that pick one for a request live in
//! [`crate::routing`]. Nothing here knows about HTTP (an [`upstream`] engine speaks HTTP to its
//! server, but never sees our own HTTP layer).
//!
//! Engines: Whisper base (always loaded: the strong engine, or, when an upstream is strong, the
//! least preferred fast engine and so the in-process fallback for every language), Whisper tiny.en
//! and SenseVoice-Small when installed, and each `[[engines.upstream]]` under its own name. The
//! speaker embedder ([`speaker`], GE2E) is loaded beside them when installed.

pub mod lm;
pub mod metrics;
pub mod ort_runtime;
pub mod recognizer;
pub mod scheduler;
pub mod sensevoice;
pub mod speaker;
pub mod upstream;
pub mod vad;
pub mod whisper;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::config::{ComputeType, Config, Device, EngineKind, EnginesConfig, Finalizer, UpstreamConfig, WhisperConfig};
use recognizer::EngineError;
use scheduler::{BatchPolicy, EngineHandle};
use speaker::SpeakerEmbedder;
use upstream::UpstreamRecognizer;
use upstream::metrics::UpstreamMetrics;
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
    /// Speaker embeddings (diarization).
    Speaker,
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

/// Every loaded engine, and which of them are fast and strong. Which engine serves a request is
/// decided by [`crate::routing::RoutePolicy`] from the [`Roster`] and each model's
/// [`ModelAbilities`](recognizer::ModelAbilities).
pub struct Engines {
    roster: Arc<Roster>,
    infos: Vec<ModelInfo>,
    upstreams: Vec<Arc<UpstreamMetrics>>,
    /// The VAD model.
    pub vad: SileroModel,
    /// The speaker embedder (`<models>/speaker/ge2e.onnx`), when installed: meeting diarization
    /// and live speaker labels need it; without it they are unavailable, nothing else changes.
    pub speaker: Option<Arc<dyn SpeakerEmbedder>>,
}

/// The recognizers by name and their roles: what routing chooses from.
pub struct Roster {
    by_name: BTreeMap<String, EngineHandle>,
    /// Fast engines, most preferred first.
    fast: Vec<String>,
    /// The strong engine.
    strong: String,
}

impl Roster {
    /// A roster of one strong engine and fast engines in order of preference.
    pub fn new(strong: EngineHandle, fast: Vec<EngineHandle>) -> Self {
        let mut by_name = BTreeMap::new();
        let strong_name = strong.name().to_string();
        by_name.insert(strong_name.clone(), strong);
        let fast_names = fast.iter().map(|h| h.name().to_string()).collect();
        for h in fast {
            by_name.insert(h.name().to_string(), h);
        }
        Self {
            by_name,
            fast: fast_names,
            strong: strong_name,
        }
    }

    /// Adds engines that answer to their names only (no fast or strong role), such as an
    /// upstream that is not the strong engine.
    pub fn with_named(mut self, named: Vec<EngineHandle>) -> Self {
        for h in named {
            self.by_name.insert(h.name().to_string(), h);
        }
        self
    }

    /// Engine names, sorted.
    pub fn names(&self) -> Vec<String> {
        self.by_name.keys().cloned().collect()
    }

    /// An engine by exact name.
    pub fn get(&self, name: &str) -> Option<&EngineHandle> {
        self.by_name.get(name)
    }

    /// The fast engine for a language: the most preferred fast engine that transcribes it (for
    /// an unknown language, one that can detect it), else the strong engine.
    pub fn fast(&self, language: Option<&str>) -> &EngineHandle {
        let fits = |h: &&EngineHandle| {
            let a = h.abilities();
            match language {
                Some(l) => a.transcribes(l),
                None => a.is_multilingual(),
            }
        };
        self.fast
            .iter()
            .map(|n| &self.by_name[n])
            .find(fits)
            .unwrap_or_else(|| self.strong())
    }

    /// The strong engine.
    pub fn strong(&self) -> &EngineHandle {
        &self.by_name[&self.strong]
    }

    /// The engine that finalizes a realtime utterance of `duration_s` under `rule`.
    pub fn finalizer(&self, rule: Finalizer, language: Option<&str>, duration_s: f32) -> &EngineHandle {
        match rule {
            Finalizer::Strong => self.strong(),
            Finalizer::Fast => self.fast(language),
            Finalizer::StrongAbove(s) if duration_s >= s => self.strong(),
            Finalizer::StrongAbove(_) => self.fast(language),
        }
    }
}

/// Whisper tiny, English-only: the fast engine of the default installation (its directory name;
/// what it can do comes from the model, see `crate::routing`).
const TINY_EN: &str = "whisper-tiny.en";
/// Whisper base, multilingual: the strong engine.
const BASE: &str = "whisper-base";
/// SenseVoice-Small, when the user installed its weights: then the preferred fast engine.
pub const SENSEVOICE: &str = "sensevoice-small";
/// The speaker embedder, relative to the models directory.
pub const SPEAKER_MODEL: &str = "speaker/ge2e.onnx";

fn policy_base(cfg: &Config) -> BatchPolicy {
    BatchPolicy {
        max_batch: 16,
        max_wait: Duration::from_millis(cfg.engines.batch_wait_ms),
        final_queue: cfg.engines.queue_capacity,
        partial_queue: cfg.engines.queue_capacity,
    }
}

/// The SenseVoice directory: the configured one, else `<models>/sensevoice-small`.
fn sv_dir(cfg: &Config) -> PathBuf {
    cfg.engines
        .sensevoice_dir
        .clone()
        .unwrap_or_else(|| cfg.engines.models_dir.join(SENSEVOICE))
}

/// Whether SenseVoice is installed (and so the preferred fast engine).
fn sv_installed(cfg: &Config) -> bool {
    sensevoice::is_sensevoice_dir(&sv_dir(cfg))
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

/// The settings of a Whisper engine that `c` (a section of `engines`) configures; `beam` and
/// `compute` are its role's when the configuration sets none. One replica per worker.
fn whisper_settings(
    name: &str,
    engines: &EnginesConfig,
    c: &WhisperConfig,
    beam: usize,
    compute: ComputeType,
) -> WhisperSettings {
    let (replicas, threads) = engines.split(c, EngineKind::Whisper, crate::config::host_cores());
    WhisperSettings {
        name: name.into(),
        compute_type: c.compute_type.unwrap_or(compute),
        threads,
        beam_size: c.beam_size.unwrap_or(beam),
        max_batch: c.max_batch,
        replicas,
    }
}

/// Loads the Whisper model in `dir` and starts its queue with one worker per replica.
fn spawn_whisper(dir: &Path, settings: WhisperSettings, policy: &BatchPolicy) -> Result<EngineHandle, EngineError> {
    let workers = settings.replicas;
    tracing::info!(engine = %settings.name, workers, threads = settings.threads, "starting a Whisper engine");
    let engine = Arc::new(WhisperEngine::load(dir, settings)?);
    Ok(EngineHandle::spawn(engine, policy.clone(), workers))
}

/// What `/v1/models` and `models list` say about an installed engine.
fn model_info(handle: &EngineHandle, role: Vec<Role>, dir: &Path) -> ModelInfo {
    ModelInfo {
        id: handle.name().to_string(),
        role,
        path: dir.display().to_string(),
        size_bytes: dir_size(dir),
        languages: languages_of(handle),
    }
}

/// `["en"]`, or `["multilingual"]` for a model that takes any language.
fn languages_of(handle: &EngineHandle) -> Vec<String> {
    match handle.abilities().languages {
        Some(l) => l.iter().map(|s| s.to_string()).collect(),
        None => vec!["multilingual".into()],
    }
}

/// One utterance per run (an upstream batches nothing) and no wait to fill a batch; its
/// `max_concurrency` worker threads are its concurrency limit.
fn upstream_policy(base: &BatchPolicy) -> BatchPolicy {
    BatchPolicy {
        max_batch: 1,
        max_wait: Duration::ZERO,
        ..base.clone()
    }
}

/// Builds every configured upstream. Refused: two upstreams of one name, a name an installed
/// engine or an alias already answers to, more than one `strong = true`.
fn load_upstreams(configs: &[UpstreamConfig]) -> Result<Vec<(&UpstreamConfig, Arc<UpstreamRecognizer>)>, EngineError> {
    let refuse = |c: &UpstreamConfig, reason: String| EngineError::Load {
        model: c.name.clone(),
        reason,
    };
    let mut out: Vec<(&UpstreamConfig, Arc<UpstreamRecognizer>)> = Vec::new();
    for c in configs {
        let reserved =
            [BASE, TINY_EN, SENSEVOICE, "silero-vad", "ge2e"].contains(&c.name.as_str()) || is_auto_alias(&c.name);
        if reserved {
            return Err(refuse(c, "that name belongs to a built-in model or alias".into()));
        }
        if out.iter().any(|(o, _)| o.name == c.name) {
            return Err(refuse(c, "two [[engines.upstream]] sections have this name".into()));
        }
        if c.strong && out.iter().any(|(o, _)| o.strong) {
            return Err(refuse(c, "only one [[engines.upstream]] may be strong".into()));
        }
        out.push((c, Arc::new(UpstreamRecognizer::new(c)?)));
    }
    Ok(out)
}

/// The GE2E speaker embedder when `<models>/speaker/ge2e.onnx` is installed; a missing or
/// unloadable file is a warning (diarization is then unavailable), never a start-up failure.
fn load_speaker(dir: &Path, infos: &mut Vec<ModelInfo>) -> Option<Arc<dyn SpeakerEmbedder>> {
    let path = dir.join(SPEAKER_MODEL);
    if !path.exists() {
        tracing::warn!(path = %path.display(), "no speaker model: diarization is unavailable (run scripts/fetch-models)");
        return None;
    }
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(4);
    match speaker::Ge2e::load(&path, threads) {
        Ok(m) => {
            infos.push(ModelInfo {
                id: "ge2e".into(),
                role: vec![Role::Speaker],
                path: path.display().to_string(),
                size_bytes: std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0),
                languages: vec!["any".into()],
            });
            Some(Arc::new(m))
        }
        Err(e) => {
            tracing::warn!(error = %e, "speaker model failed to load: diarization is unavailable");
            None
        }
    }
}

impl Engines {
    /// Loads every installed model under `cfg.engines.models_dir` and starts its workers: Whisper base
    /// (required, the strong engine), Whisper tiny.en and SenseVoice-Small when installed (fast
    /// engines, SenseVoice preferred). Each `[[engines.upstream]]` becomes an engine of its name
    /// with `max_concurrency` workers; the one with `strong = true` replaces Whisper base as the
    /// strong engine, and Whisper base becomes the last fast engine. Nothing is sent upstream here:
    /// an upstream that is down at start-up is found out by the first request.
    pub fn load(cfg: &Config) -> Result<Self, EngineError> {
        let dir = &cfg.engines.models_dir;
        ort_runtime::init(dir)?;
        let vad_path = dir.join("silero-vad/silero_vad.onnx");
        let vad = SileroModel::load(&vad_path)?;
        let policy = policy_base(cfg);
        let mut infos = vec![ModelInfo {
            id: "silero-vad".into(),
            role: vec![Role::Vad],
            path: vad_path.display().to_string(),
            size_bytes: std::fs::metadata(&vad_path).map(|m| m.len()).unwrap_or(0),
            languages: vec!["any".into()],
        }];

        // CTranslate2 reads u32::MAX as "no seed"; a negative value asks for that on purpose
        match u32::try_from(cfg.engines.random_seed) {
            Ok(seed) if seed < u32::MAX => whisper::seed_sampling(seed),
            _ if cfg.engines.random_seed < 0 => {}
            _ => tracing::warn!(
                random_seed = cfg.engines.random_seed,
                "engines.random_seed is above 4294967294: sampling is seeded from the OS instead"
            ),
        }
        let upstreams = load_upstreams(&cfg.engines.upstream)?;
        let strong_upstream = upstreams.iter().position(|(c, _)| c.strong);

        for (section, c) in [("fast", &cfg.engines.fast), ("strong", &cfg.engines.strong)] {
            if c.device != Device::Cpu && !(section == "fast" && sv_installed(cfg)) {
                return Err(EngineError::Load {
                    model: format!("[engines.{section}]"),
                    reason: format!(
                        "device = \"{}\": Whisper runs on CTranslate2, built here for the CPU only; \
                         only SenseVoice (ONNX Runtime) can run on a GPU",
                        c.device
                    ),
                });
            }
        }

        // Whisper base is the strong engine, and the in-process engine of every language the fast
        // engines lack. A SenseVoice installation may leave it out (a GPU box serving the
        // languages SenseVoice knows): then SenseVoice is the strong engine too.
        let base_dir = dir.join(BASE);
        let base = if base_dir.join("model.bin").exists() || !sv_installed(cfg) {
            let base = spawn_whisper(
                &base_dir,
                whisper_settings(
                    BASE,
                    &cfg.engines,
                    &cfg.engines.strong,
                    crate::config::STRONG_BEAM,
                    crate::config::STRONG_COMPUTE,
                ),
                &policy,
            )?;
            let base_roles = match strong_upstream {
                None => vec![Role::Strong, Role::Fast],
                Some(_) => vec![Role::Fast],
            };
            infos.push(model_info(&base, base_roles, &base_dir));
            Some(base)
        } else {
            tracing::warn!(
                dir = %base_dir.display(),
                "whisper-base is not installed: SenseVoice finalizes too, and languages it does not know are refused"
            );
            None
        };

        let mut fast = Vec::new();
        let tiny_dir = dir.join(TINY_EN);
        if tiny_dir.join("model.bin").exists() {
            let h = spawn_whisper(
                &tiny_dir,
                whisper_settings(
                    TINY_EN,
                    &cfg.engines,
                    &cfg.engines.fast,
                    crate::config::FAST_BEAM,
                    crate::config::FAST_COMPUTE,
                ),
                &policy,
            )?;
            infos.push(model_info(&h, vec![Role::Fast], &tiny_dir));
            fast.push(h);
        }
        // SenseVoice, when installed, is the fast engine for every language it knows.
        if sv_installed(cfg) {
            let sv_dir = sv_dir(cfg);
            let kind = EngineKind::SenseVoice {
                on_gpu: cfg.engines.fast.device != Device::Cpu,
            };
            let (workers, threads) = cfg.engines.split(&cfg.engines.fast, kind, crate::config::host_cores());
            tracing::info!(workers, threads, device = ?cfg.engines.fast.device, "starting SenseVoice");
            let sv = Arc::new(sensevoice::SenseVoice::load_with(
                &sv_dir,
                &sensevoice::SenseVoiceConfig {
                    num_threads: threads,
                    max_batch: cfg.engines.fast.max_batch.max(1),
                    // one ONNX session per worker, or the workers would queue on one
                    sessions: workers,
                    device: cfg.engines.fast.device,
                    ..Default::default()
                },
            )?);
            let h = EngineHandle::spawn(sv, sv_policy(&cfg.engines.fast, &policy), workers);
            let roles = match (&base, strong_upstream) {
                (None, None) => vec![Role::Strong, Role::Fast],
                _ => vec![Role::Fast],
            };
            infos.push(model_info(&h, roles, &sv_dir));
            fast.insert(0, h);
        }

        let mut named = Vec::new();
        let mut upstream_metrics = Vec::new();
        let mut strong = None;
        for (i, (c, r)) in upstreams.into_iter().enumerate() {
            upstream_metrics.push(r.metrics().clone());
            let source = r.url().to_string();
            let h = EngineHandle::spawn(r, upstream_policy(&policy), c.max_concurrency);
            let role = if c.strong { vec![Role::Strong] } else { Vec::new() };
            infos.push(ModelInfo {
                id: c.name.clone(),
                role,
                path: source,
                size_bytes: 0,
                languages: languages_of(&h),
            });
            if Some(i) == strong_upstream {
                strong = Some(h);
            } else {
                named.push(h);
            }
        }
        let strong = match (strong, base) {
            (Some(up), Some(base)) => {
                // Whisper base stays, as the last resort of the fast engines: every language
                // still has an in-process engine when the upstream is down.
                fast.push(base);
                up
            }
            (Some(up), None) => up,
            (None, Some(base)) => base,
            // no base only with SenseVoice installed, which is then the first fast engine
            (None, None) => fast[0].clone(),
        };
        let roster = Roster::new(strong, fast).with_named(named);
        let speaker = load_speaker(dir, &mut infos);
        Ok(Self {
            roster: Arc::new(roster),
            infos,
            upstreams: upstream_metrics,
            vad,
            speaker,
        })
    }

    /// The counters of every configured upstream, in configuration order.
    pub fn upstreams(&self) -> &[Arc<UpstreamMetrics>] {
        &self.upstreams
    }

    /// The engines and their roles.
    pub fn roster(&self) -> &Arc<Roster> {
        &self.roster
    }

    /// Installed models with roles and sizes.
    pub fn models(&self) -> &[ModelInfo] {
        &self.infos
    }

    /// Names a request may use in `model`, besides the aliases.
    pub fn names(&self) -> Vec<String> {
        self.roster.names()
    }

    /// An engine by exact name.
    pub fn get(&self, name: &str) -> Option<&EngineHandle> {
        self.roster.get(name)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{FAST_COMPUTE, STRONG_COMPUTE};

    #[test]
    fn an_unset_compute_type_is_the_roles_default_a_set_one_wins() {
        // a partial table leaves compute_type unset: the role decides, not WhisperConfig's default
        let c: Config =
            toml::from_str("[engines.strong]\nbeam_size = 3\n[engines.fast]\ncompute_type = \"float32\"\n").unwrap();
        let strong = whisper_settings(BASE, &c.engines, &c.engines.strong, 5, STRONG_COMPUTE);
        assert_eq!(strong.compute_type, ComputeType::Float32);
        assert_eq!(strong.beam_size, 3);
        let fast = whisper_settings(TINY_EN, &c.engines, &c.engines.fast, 1, FAST_COMPUTE);
        assert_eq!(fast.compute_type, ComputeType::Float32, "set in the file");
        let defaults = Config::default();
        let fast = whisper_settings(TINY_EN, &defaults.engines, &defaults.engines.fast, 1, FAST_COMPUTE);
        assert_eq!(fast.compute_type, ComputeType::Int8);
        let strong = whisper_settings(BASE, &defaults.engines, &defaults.engines.strong, 5, STRONG_COMPUTE);
        assert_eq!(strong.compute_type, ComputeType::Float32);
        let c: Config = toml::from_str("[engines.strong]\ncompute_type = \"int8\"\n").unwrap();
        let strong = whisper_settings(BASE, &c.engines, &c.engines.strong, 5, STRONG_COMPUTE);
        assert_eq!(strong.compute_type, ComputeType::Int8);
    }
}
