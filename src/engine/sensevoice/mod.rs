//! SenseVoice-Small (FunAudioLLM) on ONNX Runtime: a non-autoregressive SAN-M encoder with a
//! CTC head, decoded greedily.
//!
//! [`SenseVoice::load`] accepts either ONNX packaging (sherpa-onnx or FunASR, see
//! [`packaging`]), computes Kaldi-compatible fbank -> LFR -> CMVN features in Rust
//! ([`frontend`]), pads several utterances into one ONNX run, and turns the greedy CTC output
//! into text, language/emotion/event tags and token timestamps ([`decode`]).
//!
//! ONNX Runtime must be initialised once per process (`ort::init_from(path)...build()`); hand
//! the resulting environment to [`register_ort_environment`] before loading. Without a
//! registered environment, loading builds one itself (honouring `ORT_DYLIB_PATH`).

mod argmax_graph;
pub mod decode;
pub mod frontend;
pub mod packaging;
pub mod vocab;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Mutex, OnceLock};

use ort::environment::Environment;
use ort::session::Session;
use ort::value::TensorRef;

use crate::config::Device;
use crate::engine::recognizer::{EngineError, Hypothesis, ModelAbilities, Recognizer, Utterance};
use crate::kernels::cmvn::Cmvn;
use crate::kernels::ctc::{self, CtcToken, greedy_decode};
use crate::kernels::fbank::FbankOptions;
use crate::kernels::lfr::{LfrOptions, LfrPadding};

pub use frontend::{FrontendConfig, SenseVoiceFrontend};
pub use packaging::{Packaging, Precision};
use vocab::Vocab;

static ORT_ENV: OnceLock<Environment> = OnceLock::new();

/// Hands the process-wide ONNX Runtime environment to this engine. Call it once at start-up,
/// after `ort::init_from(..).build()`. Later calls are ignored (returns `false`).
pub fn register_ort_environment(env: Environment) -> bool {
    ORT_ENV.set(env).is_ok()
}

fn ort_environment() -> Result<Environment, String> {
    if let Some(env) = ORT_ENV.get() {
        return Ok(env.clone());
    }
    let env = ort::init()
        .with_name("asr-router-sensevoice")
        .build()
        .map_err(|e| format!("ONNX Runtime environment: {e} (register the server's environment first)"))?;
    Ok(ORT_ENV.get_or_init(|| env).clone())
}

/// Whether `dir` looks like a SenseVoice model directory of either packaging.
pub fn is_sensevoice_dir(dir: &Path) -> bool {
    Packaging::detect(dir).is_some()
}

/// Loading options.
#[derive(Debug, Clone)]
pub struct SenseVoiceConfig {
    /// Intra-op threads per ONNX session.
    pub num_threads: usize,
    /// Which weights to load.
    pub precision: Precision,
    /// Number of sessions (concurrent runs); each holds its own copy of the weights.
    pub sessions: usize,
    /// Largest batch one run takes (the scheduler's `max_batch`).
    pub max_batch: usize,
    /// LFR edge rule; `None` uses FunASR's padding, which both reference pipelines use
    /// (verified against sherpa-onnx 2.0.1 and funasr-onnx 0.4.3).
    pub lfr_padding: Option<LfrPadding>,
    /// Model name shown to clients; `None` uses `sensevoice-small`.
    pub name: Option<String>,
    /// Where the sessions run. On a GPU, [`Precision::Auto`] takes the fp32 model when there
    /// is one: the int8 graph quantises its activations at run time, an operator ONNX
    /// Runtime's CUDA provider may leave on the CPU, with copies both ways around it.
    pub device: Device,
    /// Whether the graph itself picks each frame's best token (an `ArgMax` appended at load,
    /// see `argmax_graph`), so that only token ids leave the session instead of every score;
    /// `None`: on a GPU only, where copying the scores out costs more than computing them.
    pub argmax_in_graph: Option<bool>,
    /// Threads that compute one batch's features side by side. `None`: on a GPU, the host's
    /// cores shared out among the sessions (one per worker), where the model's run is short
    /// next to a batch's features computed one after another (on an H200 the workers spent
    /// 5-13 % less time per second of audio; `docs/benchmarks.md`, "More GPU workers"); on the
    /// CPU one, as the other workers' runs already fill the cores.
    pub feature_threads: Option<usize>,
}

impl Default for SenseVoiceConfig {
    fn default() -> Self {
        Self {
            num_threads: 1,
            precision: Precision::Auto,
            sessions: 1,
            max_batch: 8,
            lfr_padding: None,
            name: None,
            device: Device::Cpu,
            argmax_in_graph: None,
            feature_threads: None,
        }
    }
}

/// Per-utterance query settings for [`SenseVoice::recognize_features`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QueryOptions {
    /// Language code (`zh`, `en`, `yue`, `ja`, `ko`) or `None` for auto-detection.
    pub language: Option<String>,
    /// Inverse text normalisation (`<|withitn|>`).
    pub use_itn: bool,
    /// Fill [`Hypothesis::words`].
    pub word_timestamps: bool,
}

/// One utterance's precomputed model input.
#[derive(Debug, Clone, Copy)]
pub struct FeatureInput<'a> {
    /// `frames * dim` LFR+CMVN features.
    pub features: &'a [f32],
    /// Number of frames.
    pub frames: usize,
    /// Audio length in seconds (caps timestamps).
    pub duration: f32,
    /// Query settings.
    pub options: &'a QueryOptions,
}

/// A loaded SenseVoice-Small model.
pub struct SenseVoice {
    name: String,
    packaging: Packaging,
    model_path: String,
    sessions: Vec<Mutex<Session>>,
    vocab: Vocab,
    frontend: FrontendConfig,
    languages: HashMap<String, i32>,
    with_itn: i32,
    without_itn: i32,
    max_batch: usize,
    /// The session outputs [`argmax_graph::TOKEN_IDS`] instead of the scores.
    argmax_in_graph: bool,
    /// Threads computing one batch's features ([`SenseVoiceConfig::feature_threads`]).
    feature_threads: usize,
}

impl std::fmt::Debug for SenseVoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SenseVoice")
            .field("name", &self.name)
            .field("packaging", &self.packaging)
            .field("model", &self.model_path)
            .field("sessions", &self.sessions.len())
            .finish_non_exhaustive()
    }
}

fn load_err(dir: &Path, reason: impl Into<String>) -> EngineError {
    EngineError::Load {
        model: dir.display().to_string(),
        reason: reason.into(),
    }
}

fn meta_i32(meta: &HashMap<String, String>, key: &str) -> Option<i32> {
    meta.get(key).and_then(|v| v.trim().parse().ok())
}

impl SenseVoice {
    /// Loads a model directory of either packaging with default options and `num_threads`
    /// intra-op threads.
    pub fn load(dir: &Path, num_threads: usize) -> Result<SenseVoice, EngineError> {
        Self::load_with(
            dir,
            &SenseVoiceConfig {
                num_threads,
                ..Default::default()
            },
        )
    }

    /// Loads a model directory with explicit options.
    pub fn load_with(dir: &Path, config: &SenseVoiceConfig) -> Result<SenseVoice, EngineError> {
        let packaging = Packaging::detect(dir)
            .ok_or_else(|| load_err(dir, "not a SenseVoice directory (no sherpa-onnx or FunASR file set)"))?;
        let precision = match (config.precision, config.device) {
            (Precision::Auto, Device::Cuda(_)) if packaging.model_file(dir, Precision::Fp32).is_some() => {
                Precision::Fp32
            }
            (p, _) => p,
        };
        let model_path = packaging
            .model_file(dir, precision)
            .ok_or_else(|| load_err(dir, format!("no model file for precision {precision:?}")))?;
        let env = ort_environment().map_err(|e| load_err(dir, e))?;
        let names = packaging.io_names();
        // the model with an ArgMax appended, when asked for; a model it cannot be appended to
        // runs as it is (the host picks the best tokens)
        let in_graph_model = if config.argmax_in_graph.unwrap_or(config.device != Device::Cpu) {
            let bytes =
                std::fs::read(&model_path).map_err(|e| load_err(dir, format!("{}: {e}", model_path.display())))?;
            match argmax_graph::append_argmax(&bytes, names.scores) {
                Ok(m) => Some(m),
                Err(e) => {
                    tracing::warn!(model = %model_path.display(), error = %e, "best tokens are picked on the host: the model could not take an ArgMax");
                    None
                }
            }
        } else {
            None
        };
        let scores_output = if in_graph_model.is_some() {
            argmax_graph::TOKEN_IDS
        } else {
            names.scores
        };
        let mut sessions = Vec::new();
        for _ in 0..config.sessions.max(1) {
            let session = Session::builder(&env)
                .and_then(|b| b.with_intra_threads(config.num_threads.max(1)).map_err(|e| e.into()))
                .and_then(|b| b.with_inter_threads(1).map_err(|e| e.into()))
                .map_err(|e| load_err(dir, format!("{}: {e}", model_path.display())))?;
            let mut builder = super::ort_runtime::on_device(session, config.device).map_err(|e| load_err(dir, e))?;
            let session = match &in_graph_model {
                Some(bytes) => builder.commit_from_memory(bytes),
                None => builder.commit_from_file(&model_path),
            }
            .map_err(|e| load_err(dir, format!("{}: {e}", model_path.display())))?;
            sessions.push(session);
        }
        let argmax_in_graph = in_graph_model.is_some();
        drop(in_graph_model); // the sessions hold their own copies of the weights
        let first = &sessions[0];
        for want in [names.features, names.lengths, names.language, names.text_norm] {
            if !first.inputs().iter().any(|i| i.name() == want) {
                return Err(load_err(
                    dir,
                    format!("model has no input {want:?} ({packaging:?} packaging)"),
                ));
            }
        }
        if !first.outputs().iter().any(|o| o.name() == scores_output) {
            return Err(load_err(dir, format!("model has no output {scores_output:?}")));
        }
        let meta: HashMap<String, String> = {
            let m = first.metadata().map_err(|e| load_err(dir, format!("metadata: {e}")))?;
            let keys = m.custom_keys().unwrap_or_default();
            keys.into_iter().filter_map(|k| m.custom(&k).map(|v| (k, v))).collect()
        };
        let vocab = Vocab::load_dir(dir).map_err(|e| load_err(dir, e.to_string()))?;

        let mut fbank = FbankOptions::sensevoice();
        let (lfr, cmvn, languages, with_itn, without_itn) = match packaging {
            Packaging::Sherpa => {
                let get = |k: &str| {
                    meta.get(k)
                        .ok_or_else(|| load_err(dir, format!("metadata key {k:?} missing")))
                };
                let cmvn = Cmvn::from_metadata(get("neg_mean")?, get("inv_stddev")?)
                    .map_err(|e| load_err(dir, e.to_string()))?;
                let m = meta_i32(&meta, "lfr_window_size").unwrap_or(7);
                let n = meta_i32(&meta, "lfr_window_shift").unwrap_or(6);
                if meta_i32(&meta, "normalize_samples").unwrap_or(0) != 0 {
                    fbank.sample_scale = 1.0;
                }
                let mut langs = HashMap::new();
                for (k, v) in &meta {
                    if let (Some(code), Ok(id)) = (k.strip_prefix("lang_"), v.trim().parse::<i32>()) {
                        langs.insert(code.to_string(), id);
                    }
                }
                langs.entry("auto".to_string()).or_insert(0);
                let lfr = LfrOptions {
                    m: m.max(1) as usize,
                    n: n.max(1) as usize,
                    padding: config.lfr_padding.unwrap_or(LfrPadding::FunAsr),
                };
                (
                    lfr,
                    cmvn,
                    langs,
                    meta_i32(&meta, "with_itn").unwrap_or(14),
                    meta_i32(&meta, "without_itn").unwrap_or(15),
                )
            }
            Packaging::FunAsr => {
                let mvn =
                    std::fs::read_to_string(dir.join("am.mvn")).map_err(|e| load_err(dir, format!("am.mvn: {e}")))?;
                let cmvn = Cmvn::from_am_mvn(&mvn).map_err(|e| load_err(dir, format!("am.mvn: {e}")))?;
                let conf = std::fs::read_to_string(dir.join("config.yaml"))
                    .map(|y| packaging::frontend_conf(&y))
                    .unwrap_or_default();
                let num = |k: &str, d: usize| {
                    conf.get(k)
                        .and_then(|v| v.parse::<f32>().ok())
                        .map_or(d, |v| v as usize)
                };
                let lfr = LfrOptions {
                    m: num("lfr_m", 7).max(1),
                    n: num("lfr_n", 6).max(1),
                    padding: config.lfr_padding.unwrap_or(LfrPadding::FunAsr),
                };
                fbank.num_bins = num("n_mels", 80);
                if let Some(w) = conf.get("window")
                    && w != "hamming"
                {
                    return Err(load_err(dir, format!("unsupported window {w:?}")));
                }
                let (langs, with_itn, without_itn) = packaging::funasr_query_ids();
                (lfr, cmvn, langs, with_itn, without_itn)
            }
        };
        let frontend = FrontendConfig { fbank, lfr, cmvn };
        if frontend.cmvn.dim() != frontend.dim() {
            return Err(load_err(
                dir,
                format!("CMVN has {} dims, features {}", frontend.cmvn.dim(), frontend.dim()),
            ));
        }
        if let Some(v) = meta_i32(&meta, "vocab_size")
            && v as usize != vocab.len()
        {
            return Err(load_err(
                dir,
                format!("vocab_size {v} but the token table has {}", vocab.len()),
            ));
        }
        let feature_threads = config.feature_threads.unwrap_or_else(|| match config.device {
            Device::Cpu => 1,
            Device::Cuda(_) => {
                let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
                cores / config.sessions.max(1)
            }
        });
        Ok(SenseVoice {
            name: config.name.clone().unwrap_or_else(|| "sensevoice-small".to_string()),
            packaging,
            model_path: model_path.display().to_string(),
            sessions: sessions.into_iter().map(Mutex::new).collect(),
            vocab,
            frontend,
            languages,
            with_itn,
            without_itn,
            max_batch: config.max_batch.max(1),
            argmax_in_graph,
            feature_threads: feature_threads.max(1),
        })
    }

    /// Whether the loaded graph picks the best token per frame itself
    /// ([`SenseVoiceConfig::argmax_in_graph`]).
    pub fn argmax_in_graph(&self) -> bool {
        self.argmax_in_graph
    }

    /// The packaging that was loaded.
    pub fn packaging(&self) -> Packaging {
        self.packaging
    }

    /// The ONNX file in use.
    pub fn model_path(&self) -> &str {
        &self.model_path
    }

    /// The vocabulary.
    pub fn vocab(&self) -> &Vocab {
        &self.vocab
    }

    /// Feature settings (for building [`SenseVoiceFrontend`]s).
    pub fn frontend_config(&self) -> &FrontendConfig {
        &self.frontend
    }

    /// A new incremental frontend for one growing utterance.
    pub fn new_frontend(&self) -> Result<SenseVoiceFrontend, EngineError> {
        SenseVoiceFrontend::new(&self.frontend).map_err(|e| EngineError::Inference(e.to_string()))
    }

    /// Maps a requested language to the model's query id; `None`/`auto` is auto-detection.
    pub fn language_id(&self, language: Option<&str>) -> Result<(i32, Option<String>), EngineError> {
        let Some(raw) = language.map(str::trim).filter(|l| !l.is_empty()) else {
            return Ok((self.languages.get("auto").copied().unwrap_or(0), None));
        };
        let lower = raw.to_ascii_lowercase();
        let code = match lower.as_str() {
            "auto" => return Ok((self.languages.get("auto").copied().unwrap_or(0), None)),
            "cantonese" | "zh-yue" | "yue-hk" => "yue",
            "mandarin" | "chinese" | "cmn" => "zh",
            "english" => "en",
            "japanese" => "ja",
            "korean" => "ko",
            other => other.split(['-', '_']).next().unwrap_or(other),
        };
        match self.languages.get(code) {
            Some(&id) if code != "nospeech" => Ok((id, Some(code.to_string()))),
            _ => Err(EngineError::InvalidInput(format!(
                "SenseVoice does not support language {raw:?} (auto, zh, en, yue, ja, ko)"
            ))),
        }
    }

    /// Runs the model on precomputed features (one ONNX run, padded to the longest input)
    /// and decodes each item. Items with no frames give an empty hypothesis.
    pub fn recognize_features(&self, items: &[FeatureInput<'_>]) -> Vec<Result<Hypothesis, EngineError>> {
        let dim = self.frontend.dim();
        let mut results: Vec<Option<Result<Hypothesis, EngineError>>> = (0..items.len()).map(|_| None).collect();
        let mut run_idx = Vec::new();
        let mut langs = Vec::new();
        let mut norms = Vec::new();
        let mut forced = Vec::new();
        for (i, it) in items.iter().enumerate() {
            if it.features.len() != it.frames * dim {
                results[i] = Some(Err(EngineError::InvalidInput(format!(
                    "{} feature values for {} frames of {dim}",
                    it.features.len(),
                    it.frames
                ))));
                continue;
            }
            match self.language_id(it.options.language.as_deref()) {
                Err(e) => results[i] = Some(Err(e)),
                Ok(_) if it.frames == 0 => results[i] = Some(Ok(Hypothesis::default())),
                Ok((id, code)) => {
                    run_idx.push(i);
                    langs.push(id);
                    norms.push(if it.options.use_itn {
                        self.with_itn
                    } else {
                        self.without_itn
                    });
                    forced.push(code);
                }
            }
        }
        for chunk_start in (0..run_idx.len()).step_by(self.max_batch) {
            let chunk_end = (chunk_start + self.max_batch).min(run_idx.len());
            let idx = &run_idx[chunk_start..chunk_end];
            let outcome = self.run_batch(
                &idx.iter().map(|&i| items[i]).collect::<Vec<_>>(),
                &langs[chunk_start..chunk_end],
                &norms[chunk_start..chunk_end],
                &forced[chunk_start..chunk_end],
            );
            match outcome {
                Ok(hyps) => {
                    for (&i, h) in idx.iter().zip(hyps) {
                        results[i] = Some(Ok(h));
                    }
                }
                Err(e) => {
                    for &i in idx {
                        results[i] = Some(Err(EngineError::Inference(e.clone())));
                    }
                }
            }
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(EngineError::Inference("internal: item not processed".into()))))
            .collect()
    }

    fn run_batch(
        &self,
        items: &[FeatureInput<'_>],
        langs: &[i32],
        norms: &[i32],
        forced: &[Option<String>],
    ) -> Result<Vec<Hypothesis>, String> {
        let dim = self.frontend.dim();
        let n = items.len();
        let t_max = items.iter().map(|i| i.frames).max().unwrap_or(0);
        let mut x = vec![0.0f32; n * t_max * dim];
        for (b, it) in items.iter().enumerate() {
            x[b * t_max * dim..b * t_max * dim + it.features.len()].copy_from_slice(it.features);
        }
        let lengths: Vec<i32> = items.iter().map(|i| i.frames as i32).collect();
        let names = self.packaging.io_names();
        let session_slot = self
            .sessions
            .iter()
            .find_map(|s| s.try_lock().ok())
            .map_or_else(|| self.sessions[0].lock(), Ok);
        let mut session = session_slot.map_err(|_| "session lock poisoned".to_string())?;
        let tensor = |e: ort::Error| e.to_string();
        let inputs = ort::inputs![
            names.features => TensorRef::from_array_view(([n, t_max, dim], &x[..])).map_err(tensor)?,
            names.lengths => TensorRef::from_array_view(([n], &lengths[..])).map_err(tensor)?,
            names.language => TensorRef::from_array_view(([n], langs)).map_err(tensor)?,
            names.text_norm => TensorRef::from_array_view(([n], norms)).map_err(tensor)?,
        ];
        let outputs = session.run(inputs).map_err(|e| e.to_string())?;
        let out_lens: Option<Vec<usize>> = match names.out_lengths.and_then(|k| outputs.get(k)) {
            Some(v) => match v.try_extract_tensor::<i32>() {
                Ok((_, l)) => Some(l.iter().map(|&x| x.max(0) as usize).collect()),
                Err(_) => v
                    .try_extract_tensor::<i64>()
                    .ok()
                    .map(|(_, l)| l.iter().map(|&x| x.max(0) as usize).collect()),
            },
            None => None,
        };
        let valid = |b: usize, t_out: usize| {
            out_lens
                .as_ref()
                .and_then(|l| l.get(b).copied())
                .unwrap_or(items[b].frames + decode::NUM_QUERY_FRAMES as usize)
                .min(t_out)
        };
        let tokens: Vec<Vec<CtcToken>> = if self.argmax_in_graph {
            let ids = outputs
                .get(argmax_graph::TOKEN_IDS)
                .ok_or_else(|| format!("no output {:?}", argmax_graph::TOKEN_IDS))?;
            let (shape, data) = ids.try_extract_tensor::<i64>().map_err(|e| e.to_string())?;
            if shape.len() != 2 || shape[0] as usize != n || data.len() != n * shape[1] as usize {
                return Err(format!("unexpected {} shape {:?}", argmax_graph::TOKEN_IDS, &shape[..]));
            }
            let t_out = shape[1] as usize;
            (0..n)
                .map(|b| {
                    let row = &data[b * t_out..b * t_out + valid(b, t_out)];
                    ctc::collapse(row.iter().map(|&y| usize::try_from(y).ok()), 0)
                })
                .collect()
        } else {
            let scores = outputs
                .get(names.scores)
                .ok_or_else(|| format!("no output {:?}", names.scores))?;
            let (shape, data) = scores.try_extract_tensor::<f32>().map_err(|e| e.to_string())?;
            if shape.len() != 3 || shape[0] as usize != n {
                return Err(format!("unexpected {} shape {:?}", names.scores, &shape[..]));
            }
            let (t_out, vocab) = (shape[1] as usize, shape[2] as usize);
            if data.len() != n * t_out * vocab {
                return Err("output size does not match its shape".into());
            }
            (0..n)
                .map(|b| {
                    greedy_decode(
                        &data[b * t_out * vocab..(b + 1) * t_out * vocab],
                        valid(b, t_out),
                        vocab,
                        0,
                    )
                })
                .collect()
        };
        let hyps = items
            .iter()
            .zip(tokens)
            .enumerate()
            .map(|(b, (it, tokens))| {
                decode::build_hypothesis(
                    &self.vocab,
                    &tokens,
                    it.duration,
                    forced[b].as_deref(),
                    it.options.word_timestamps,
                )
            })
            .collect();
        Ok(hyps)
    }
}

impl Recognizer for SenseVoice {
    fn name(&self) -> &str {
        &self.name
    }

    fn recognize(&self, batch: &[Utterance]) -> Vec<Result<Hypothesis, EngineError>> {
        let sr = self.frontend.fbank.sample_rate as f32;
        let prepare = |u: &Utterance| -> Result<Prepared, EngineError> {
            if u.samples.iter().any(|s| !s.is_finite()) {
                return Err(EngineError::InvalidInput(
                    "audio contains NaN or infinite samples".into(),
                ));
            }
            let (feats, frames) = frontend::compute_features(&self.frontend, &u.samples)
                .map_err(|e| EngineError::Inference(e.to_string()))?;
            let opts = QueryOptions {
                language: u.options.language.clone(),
                use_itn: u.options.use_itn,
                word_timestamps: u.options.word_timestamps,
            };
            Ok((feats, frames, opts))
        };
        let prepared = map_in_threads(batch, self.feature_threads, prepare);
        let mut inputs = Vec::new();
        let mut slots = Vec::new();
        let mut results: Vec<Option<Result<Hypothesis, EngineError>>> = (0..batch.len()).map(|_| None).collect();
        for (i, p) in prepared.iter().enumerate() {
            match p {
                Ok((feats, frames, opts)) => {
                    inputs.push(FeatureInput {
                        features: feats,
                        frames: *frames,
                        duration: batch[i].samples.len() as f32 / sr,
                        options: opts,
                    });
                    slots.push(i);
                }
                Err(e) => results[i] = Some(Err(clone_err(e))),
            }
        }
        for (slot, r) in slots.into_iter().zip(self.recognize_features(&inputs)) {
            results[slot] = Some(r);
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(EngineError::Inference("internal: item not processed".into()))))
            .collect()
    }

    fn max_batch(&self) -> usize {
        self.max_batch
    }

    fn abilities(&self) -> ModelAbilities {
        ModelAbilities {
            languages: Some(&LANGUAGES),
            translation: false,
            prompt: false,
            scores_texts: false,
            word_probabilities: false,
        }
    }

    fn ctc_word_times(&self) -> bool {
        true
    }
}

/// The languages SenseVoice-Small transcribes (besides auto-detection among them).
pub const LANGUAGES: [&str; 5] = ["zh", "en", "yue", "ja", "ko"];

/// Features, frame count and query options of one utterance.
type Prepared = (Vec<f32>, usize, QueryOptions);

/// `f` over `items` in order, on up to `threads` threads (the calling one among them), each
/// taking a run of neighbouring items; run lengths differ by at most one.
fn map_in_threads<T: Sync, R: Send>(items: &[T], threads: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = threads.clamp(1, items.len().max(1));
    if threads == 1 {
        return items.iter().map(&f).collect();
    }
    let run = |i: usize| &items[i * items.len() / threads..(i + 1) * items.len() / threads];
    let f = &f;
    std::thread::scope(|scope| {
        let others: Vec<_> = (1..threads)
            .map(|i| {
                let chunk = run(i);
                scope.spawn(move || chunk.iter().map(f).collect::<Vec<R>>())
            })
            .collect();
        let mut out: Vec<R> = run(0).iter().map(f).collect();
        for handle in others {
            match handle.join() {
                Ok(part) => out.extend(part),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        out
    })
}

fn clone_err(e: &EngineError) -> EngineError {
    match e {
        EngineError::Load { model, reason } => EngineError::Load {
            model: model.clone(),
            reason: reason.clone(),
        },
        EngineError::Inference(s) => EngineError::Inference(s.clone()),
        EngineError::InvalidInput(s) => EngineError::InvalidInput(s.clone()),
        EngineError::Unavailable(s) => EngineError::Unavailable(s.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::map_in_threads;

    #[test]
    fn threads_keep_the_items_order_and_see_each_item_once() {
        let items: Vec<u32> = (0..23).collect();
        let seen = std::sync::atomic::AtomicUsize::new(0);
        for threads in [0, 1, 2, 4, 7, 23, 64] {
            seen.store(0, std::sync::atomic::Ordering::SeqCst);
            let out = map_in_threads(&items, threads, |&x| {
                seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                (x * 3, std::thread::current().id())
            });
            assert_eq!(
                out.iter().map(|o| o.0).collect::<Vec<_>>(),
                (0..23).map(|x| x * 3).collect::<Vec<_>>()
            );
            assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), items.len());
            let distinct: std::collections::HashSet<_> = out.iter().map(|o| o.1).collect();
            assert_eq!(distinct.len(), threads.clamp(1, items.len()), "threads {threads}");
            // the calling thread takes the first run
            assert_eq!(out[0].1, std::thread::current().id());
        }
        assert!(map_in_threads(&[] as &[u32], 4, |&x| x).is_empty());
    }

    #[test]
    fn a_panicking_item_panics_the_caller() {
        let r = std::panic::catch_unwind(|| {
            map_in_threads(&[1, 2, 3, 4], 4, |&x| {
                assert_ne!(x, 3, "item three");
                x
            })
        });
        assert!(r.is_err());
    }
}
