//! One typed configuration: defaults < TOML file (`--config`) < environment < command-line flags.
//!
//! A leaf module: every layer may read it, it imports none of them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// How CTranslate2 stores and computes weights on the CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComputeType {
    /// 8-bit integer weights and matmuls (fastest on AVX-512 VNNI CPUs).
    Int8,
    /// 32-bit float everywhere.
    Float32,
    /// int8 matmuls with float32 for the rest.
    Int8Float32,
    /// Let CTranslate2 pick.
    Auto,
}

/// Which engine finalizes realtime utterances.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Finalizer {
    /// The strong engine for every utterance.
    Strong,
    /// The fast engine over the whole utterance (cheapest on a CPU box).
    Fast,
    /// The strong engine only for utterances at least this many seconds long.
    StrongAbove(f32),
}

/// How much audio the encoder sees when a realtime utterance is finalized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinalWindow {
    /// The engine's full context window (Whisper: 30 s, mostly padding for a short utterance).
    #[default]
    Full,
    /// The utterance plus a 2 s margin: several times less encoder work on short turns, at some
    /// risk to accuracy (see docs/benchmarks.md).
    Short,
}

/// How much evidence a live word needs before it is sent as a delta: the server's default for
/// OpenAI's `transcription.delay` (`realtime::stabilizer::Stability` says what each level means).
/// Lower levels send words sooner and send more words that the final then contradicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartialDelay {
    /// One draft: every word of the latest draft but its newest.
    Minimal,
    /// Two drafts agree; a newest word both end on is sent too.
    Low,
    /// Two drafts agree; the newest word is held back.
    #[default]
    Medium,
    /// Three drafts agree; the newest word is held back.
    High,
    /// Four drafts agree; the newest word is held back.
    Xhigh,
}

/// The strong engine's beam for finals when none is configured (faster-whisper's default).
pub const STRONG_BEAM: usize = 5;
/// The fast engine's beam for finals when none is configured: greedy. Its finals close
/// utterances whose greedy partials the user has already read; greedy finals agree with them (a
/// beam-5 final of tiny.en rewrote words the partials had shown in the Node SDK test) and cost a
/// fraction of the decoder time on the latency path.
pub const FAST_BEAM: usize = 1;

/// The strong engine's compute type when none is configured. It is there for accuracy: on the
/// code-switched terminology sentences whisper-base in int8 made 28.4 % CER where float32 made
/// 19.3 %, for 1.4x the time, on a CPU without VNNI (docs/benchmarks.md, "Compute type of the
/// strong engine").
pub const STRONG_COMPUTE: ComputeType = ComputeType::Float32;
/// The fast engine's compute type when none is configured: int8, for latency.
pub const FAST_COMPUTE: ComputeType = ComputeType::Int8;

/// Where an engine computes: `"cpu"` (the default), or `"cuda"` / `"cuda:N"` (GPU N).
///
/// Only the ONNX Runtime engines (SenseVoice) can run on a GPU, and only with a CUDA build of
/// ONNX Runtime (`ORT_DYLIB_PATH` pointing at the `onnxruntime-gpu` library, with CUDA 13 and
/// cuDNN 9 on the loader path). Whisper runs on CTranslate2, which this build compiles for the
/// CPU alone: a Whisper engine set to a GPU is refused at start-up, never silently moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Device {
    /// The CPU.
    #[default]
    Cpu,
    /// The CUDA GPU with this ordinal.
    Cuda(u32),
}

impl std::fmt::Display for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Device::Cpu => f.write_str("cpu"),
            Device::Cuda(0) => f.write_str("cuda"),
            Device::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

impl std::str::FromStr for Device {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("device {s:?}: expected \"cpu\", \"cuda\" or \"cuda:N\"");
        match s.trim().to_ascii_lowercase().as_str() {
            "cpu" => Ok(Device::Cpu),
            "cuda" | "gpu" => Ok(Device::Cuda(0)),
            other => other
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(Device::Cuda)
                .ok_or_else(bad),
        }
    }
}

impl Serialize for Device {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Device {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

/// Settings of one Whisper engine.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct WhisperConfig {
    /// CTranslate2 compute type; unset: [`STRONG_COMPUTE`] for the strong engine,
    /// [`FAST_COMPUTE`] for the fast one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compute_type: Option<ComputeType>,
    /// Intra-op threads per worker; unset: the host's cores shared equally among the engine's
    /// workers (see [`EnginesConfig::split`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threads: Option<usize>,
    /// Beam size of finals (1 = greedy); unset: [`STRONG_BEAM`] for the strong engine,
    /// [`FAST_BEAM`] for the fast one. Live partials (drafts) are always greedy. Finals also get
    /// temperature fallback, the no-speech rule and the repetition guard (see `engine::whisper`).
    pub beam_size: Option<usize>,
    /// Largest batch of utterances per run.
    pub max_batch: usize,
    /// Where the engine computes (see [`Device`]). `[engines.fast] device = "cuda"` puts
    /// SenseVoice, when it is installed, on the first GPU (a Whisper tiny.en loaded beside it
    /// stays on the CPU); any other engine set to a GPU is refused at start-up.
    pub device: Device,
    /// Workers of this engine (concurrent runs; Whisper gives each its own CTranslate2 replica,
    /// SenseVoice its own ONNX session: a copy of the weights each); unset: `[engines]
    /// workers_per_engine`, else the engine's own default (see [`EnginesConfig::split`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workers: Option<usize>,
}

impl Default for WhisperConfig {
    fn default() -> Self {
        Self {
            compute_type: None,
            threads: None,
            beam_size: None,
            max_batch: 8,
            device: Device::Cpu,
            workers: None,
        }
    }
}

/// The kind of engine a `[engines.fast]` or `[engines.strong]` section is resolved for: the
/// defaults of `threads` and `workers` differ between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineKind {
    /// Whisper on CTranslate2 (always on the CPU).
    Whisper,
    /// SenseVoice on ONNX Runtime, on the CPU or a GPU.
    SenseVoice {
        /// Whether the section puts it on a GPU.
        on_gpu: bool,
    },
}

/// Most workers (replicas) a Whisper engine gets from the cores alone: each holds its own copy of
/// the weights (whisper-base in float32: ~290 MB), so past four a host's further cores go to
/// each replica's threads instead.
pub const WHISPER_MAX_WORKERS: usize = 4;

/// Fewest workers of a Whisper engine: on two cores, two one-thread replicas against one of two
/// threads gave live finals sooner at 1–4 sessions, a long file as fast with whisper-base and
/// 15–25 % faster with tiny.en, and up to 1.8× as fast while the VM's neighbours were busy,
/// where a replica's two threads wait for each other; but one short request at a time, on one
/// thread, took about a quarter longer (`docs/benchmarks.md`, "Whisper replicas side by side").
pub const WHISPER_MIN_WORKERS: usize = 2;

/// Threads per worker of SenseVoice on the CPU: two workers of one thread did more partial work
/// but made finals slower at four live sessions on two cores, so a SenseVoice worker keeps two
/// threads and further cores add workers (eight on sixteen cores: `docs/benchmarks.md`,
/// "SenseVoice on a GPU", its host-CPU rows).
pub const SENSEVOICE_THREADS: usize = 2;

/// Most workers SenseVoice on the CPU gets from the cores alone (an ONNX session, a copy of the
/// weights, each).
pub const SENSEVOICE_MAX_WORKERS: usize = 8;

/// The CPU cores this process may use (its affinity mask and cgroup quota, as the standard
/// library reads them); 1 when they cannot be read.
pub fn host_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Workers and threads per worker of an engine that neither its section nor
/// `workers_per_engine` sizes, on a host of `cores` cores. The workers together take every core
/// once: a lone request gets `threads` of them, and up to `workers` requests run side by side.
///
/// | cores | Whisper | SenseVoice (CPU) |
/// | --- | --- | --- |
/// | 1 | 2 × 1 | 1 × 1 |
/// | 2 | 2 × 1 | 1 × 2 |
/// | 4 | 4 × 1 | 2 × 2 |
/// | 8 | 4 × 2 | 4 × 2 |
/// | 16 | 4 × 4 | 8 × 2 |
///
/// On a GPU SenseVoice gets [`GPU_WORKERS`] of [`SENSEVOICE_THREADS`] threads whatever the
/// host: its workers wait on the device, not on the cores.
pub fn default_split(kind: EngineKind, cores: usize) -> (usize, usize) {
    let cores = cores.max(1);
    let workers = match kind {
        EngineKind::Whisper => cores.clamp(WHISPER_MIN_WORKERS, WHISPER_MAX_WORKERS),
        EngineKind::SenseVoice { on_gpu: false } => (cores / SENSEVOICE_THREADS).clamp(1, SENSEVOICE_MAX_WORKERS),
        EngineKind::SenseVoice { on_gpu: true } => return (GPU_WORKERS, SENSEVOICE_THREADS),
    };
    (workers, threads_for(cores, workers))
}

/// Threads per worker when `workers` share `cores`: an equal share, at least one.
fn threads_for(cores: usize, workers: usize) -> usize {
    (cores / workers.max(1)).max(1)
}

/// Workers an engine on a GPU gets unless its section sets `workers`: one worker leaves an H200
/// mostly idle, since each spends most of a run on the host (features, batching, launching);
/// four did 2.6 times the partial work of one at 256 live SenseVoice sessions
/// (`docs/benchmarks.md`, "SenseVoice on a GPU").
pub const GPU_WORKERS: usize = 4;

/// Everything the server and CLI can be told, in the sections of the TOML file:
/// `[server]`, `[engines]` (with `[engines.fast]`, `[engines.strong]` and `[[engines.upstream]]`),
/// `[realtime]`, `[batch]`, `[review]` (with `[review.llm]`), `[meeting]`.
/// Unknown keys are refused, so a typo (or a key of the old flat layout) is an error at start-up
/// rather than a setting silently ignored.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Listening, keys, TLS, metrics, shutdown.
    pub server: ServerConfig,
    /// Models and the engine queues.
    pub engines: EnginesConfig,
    /// Realtime sessions.
    pub realtime: RealtimeConfig,
    /// File transcription.
    pub batch: BatchConfig,
    /// The second pass's reviewers: glossaries, script, the LLM.
    pub review: ReviewConfig,
    /// Meeting jobs: where they live, how many run, how long they are kept.
    pub meeting: MeetingConfig,
}

/// `[server]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on (`ASR_ROUTER_LISTEN`, `serve --listen`).
    pub listen: SocketAddr,
    /// The one API key (`ASR_ROUTER_API_KEY`); `None` leaves the server open (with a warning).
    pub api_key: Option<String>,
    /// TLS certificate chain (PEM); with `tls_key`, the server speaks HTTPS/WSS.
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    pub tls_key: Option<PathBuf>,
    /// Whether `/metrics` is open without the API key.
    pub metrics_open: bool,
    /// On SIGTERM/SIGINT: how long the server waits for in-flight requests, open sessions and
    /// their finals before it exits anyway, seconds.
    pub shutdown_deadline_s: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:18081".parse().expect("static address"),
            api_key: None,
            tls_cert: None,
            tls_key: None,
            metrics_open: false,
            shutdown_deadline_s: 30,
        }
    }
}

/// `[engines]`, `[engines.fast]`, `[engines.strong]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EnginesConfig {
    /// Where models live (`ASR_ROUTER_MODELS`, `--models`).
    pub models_dir: PathBuf,
    /// A SenseVoice-Small model directory (sherpa-onnx or FunASR packaging). When set, or when
    /// `<models_dir>/sensevoice-small` holds one, SenseVoice becomes the fast engine.
    pub sensevoice_dir: Option<PathBuf>,
    /// Hub base URL for `models pull` (`ASR_ROUTER_HUB_URL`, `--from`); files are fetched from
    /// `{hub_url}/{repo}/resolve/{revision}/{file}`. `None` uses each packaging's own hub
    /// (`https://huggingface.co` for the default sherpa-onnx packaging).
    pub hub_url: Option<String>,
    /// Language assumed when a request names none (`None` = detect).
    pub default_language: Option<String>,
    /// Workers of every engine (Whisper gives each its own CTranslate2 replica, SenseVoice its
    /// own ONNX session: a copy of the weights each); a section's own `workers` overrides it for
    /// that engine, and an engine on a GPU gets at least [`GPU_WORKERS`] unless its section says
    /// otherwise. Unset: each engine's own from the host's cores ([`default_split`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workers_per_engine: Option<usize>,
    /// Max time a worker waits to fill a batch, ms.
    pub batch_wait_ms: u64,
    /// Capacity of each engine queue.
    pub queue_capacity: usize,
    /// Seed of CTranslate2's sampling (the candidates Whisper's temperature fallback draws), set
    /// once at start: a server started afresh gives the same transcripts for the same requests in
    /// the same order, when each Whisper engine has one worker (each replica draws from its own
    /// generator, and which one decodes a window depends on timing); 0 to 4294967294. Negative:
    /// seeded from the OS at every start (run-to-run variation).
    pub random_seed: i64,
    /// The fast engine's settings (Whisper tiny.en until SenseVoice is installed).
    pub fast: WhisperConfig,
    /// The strong engine's settings (Whisper base).
    pub strong: WhisperConfig,
    /// Upstream OpenAI-compatible ASR servers (`[[engines.upstream]]`), each a named engine.
    pub upstream: Vec<UpstreamConfig>,
}

/// One `[[engines.upstream]]`: an OpenAI-compatible ASR server (`POST {base_url}/v1/audio/transcriptions`),
/// for example Qwen3-ASR behind vLLM, used as a named engine and, with `strong = true`, as the
/// strong pass of finals. Its failures fall back to an in-process engine (see `crate::finalize`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpstreamConfig {
    /// The engine's name in requests and `/v1/models`.
    pub name: String,
    /// Base URL, without `/v1` (`http://127.0.0.1:8000`).
    pub base_url: String,
    /// Bearer key sent upstream, if it wants one.
    pub api_key: Option<String>,
    /// The `model` field sent upstream.
    pub model: String,
    /// Whole-request timeout per attempt, ms.
    pub timeout_ms: u64,
    /// Requests in flight to this upstream at most (its worker threads).
    pub max_concurrency: usize,
    /// Retries after a failed attempt (connection error, 5xx, 429), with exponential backoff.
    pub retries: u32,
    /// First backoff, ms (doubled per retry).
    pub backoff_ms: u64,
    /// Consecutive failures that open the circuit breaker.
    pub breaker_failures: u32,
    /// How long an open breaker refuses at once before it lets one request try, seconds.
    pub breaker_cooldown_s: u64,
    /// Languages it transcribes (ISO-639-1); empty: any.
    pub languages: Vec<String>,
    /// Use it as the strong engine (finals, long files, `quality=high`) instead of Whisper base.
    pub strong: bool,
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        Self {
            name: "upstream".into(),
            base_url: "http://127.0.0.1:8000".into(),
            api_key: None,
            model: "qwen3-asr".into(),
            timeout_ms: 30_000,
            max_concurrency: 4,
            retries: 1,
            backoff_ms: 200,
            breaker_failures: 5,
            breaker_cooldown_s: 30,
            languages: Vec::new(),
            strong: false,
        }
    }
}

/// What a request without a `review` field gets, and what `review` may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewMode {
    /// The recognizer's text as it is.
    None,
    /// Script and form, then the glossary corrector (deterministic, microseconds).
    #[default]
    Glossary,
    /// The glossary reviewers, then the LLM reviewer (`[review.llm]` must be configured).
    Llm,
}

/// `[review]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReviewConfig {
    /// The review of requests that name none.
    pub default: ReviewMode,
    /// A folder of named glossaries (`<id>.json`, the eval glossary schema) for `glossary_id`;
    /// files are re-read when they change.
    pub glossary_dir: Option<PathBuf>,
    /// Mandarin in traditional characters (`zh-Hant`) instead of simplified by default.
    pub traditional_chinese: bool,
    /// How long a realtime final may wait for each stage of its second pass (the glossary stage
    /// of its decode, its LLM review) before it is sent without that stage, ms.
    pub realtime_budget_ms: u64,
    /// The LLM reviewer, if any.
    pub llm: Option<LlmReviewConfig>,
    /// The wording reviewer (Chinese words with the right sound and the wrong characters, chosen
    /// again by an in-process language model; `crate::finalize::wording`), if any. Needs a build
    /// with the `lm` feature.
    pub wording: Option<WordingReviewConfig>,
    /// Decode a final once more with the request's Latin glossary terms as Whisper's prompt
    /// (`crate::finalize::bias`; an English final keeps the second decode only when it names
    /// more terms); a request's `glossary_prompt` overrides it. Costs a second decode of such
    /// finals.
    pub glossary_prompt: bool,
    /// Most glossary terms in that prompt (the best matches of the first decode; Whisper keeps
    /// the newest 223 prompt tokens of whatever is written).
    pub glossary_prompt_terms: usize,
    /// Propose glossary terms by loose sound-alike matching and let the recognizer check each
    /// against the audio, keeping those it finds more probable than its own text
    /// (`crate::finalize::verify`; in-process Whisper). Costs an encoder pass and a short
    /// decoder pass per proposal for finals with proposals.
    pub verify_terms: bool,
}

impl Default for ReviewConfig {
    fn default() -> Self {
        Self {
            default: ReviewMode::Glossary,
            glossary_dir: None,
            traditional_chinese: false,
            realtime_budget_ms: 1500,
            llm: None,
            wording: None,
            glossary_prompt: true,
            glossary_prompt_terms: 40,
            verify_terms: true,
        }
    }
}

/// `[review.wording]`: the language model and word list of the wording reviewer. Relative paths
/// are under `[engines] models_dir` (`scripts/fetch-models --lm` fetches both defaults).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WordingReviewConfig {
    /// A GGUF language model that knows Chinese.
    pub model: PathBuf,
    /// A Chinese word list in jieba's `dict.txt` format (`word frequency [tag]` per line).
    pub lexicon: PathBuf,
    /// Least gain of the sentence's log-probability, in nats, for a replacement to be taken.
    pub min_gain: f64,
    /// Replacements per final at most.
    pub max_edits: usize,
    /// CPU threads of the language model.
    pub threads: usize,
}

impl Default for WordingReviewConfig {
    fn default() -> Self {
        Self {
            model: PathBuf::from("llm/gemma-3-270m-q4_k_m.gguf"),
            lexicon: PathBuf::from("lexicon/zh-words.txt"),
            min_gain: 8.0,
            max_edits: 3,
            threads: 2,
        }
    }
}

/// `[review.llm]`: an OpenAI-compatible `/v1/chat/completions` server (llama.cpp, vLLM, Ollama, oMLX).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LlmReviewConfig {
    /// Base URL, without `/v1`.
    pub base_url: String,
    /// Bearer key, if the server wants one.
    pub api_key: Option<String>,
    /// The `model` field sent.
    pub model: String,
    /// Time budget of one review, ms; past it the previous text is kept.
    pub timeout_ms: u64,
    /// Largest accepted change, as character edit distance over the input's length.
    pub max_edit_ratio: f32,
    /// Earlier utterances given as context.
    pub context_utterances: usize,
}

impl Default for LlmReviewConfig {
    fn default() -> Self {
        Self {
            base_url: "http://127.0.0.1:8080".into(),
            api_key: None,
            model: "gemma-3".into(),
            timeout_ms: 3000,
            max_edit_ratio: 0.3,
            context_utterances: 3,
        }
    }
}

impl EnginesConfig {
    /// Workers and threads per worker of the `kind` engine that `section` configures on a host
    /// of `cores` cores ([`host_cores`] for this one), each never 0.
    ///
    /// * Workers: the section's own `workers`, else `workers_per_engine`, else
    ///   [`default_split`]'s; at least [`GPU_WORKERS`] on a GPU unless the section sets them.
    /// * Threads: the section's own `threads`, else an equal share of the cores among those
    ///   workers (on a GPU, [`default_split`]'s).
    pub fn split(&self, section: &WhisperConfig, kind: EngineKind, cores: usize) -> (usize, usize) {
        let (auto_workers, auto_threads) = default_split(kind, cores);
        let shared = match (kind, self.workers_per_engine) {
            (EngineKind::SenseVoice { on_gpu: true }, Some(w)) => w.max(GPU_WORKERS),
            (_, Some(w)) => w,
            (_, None) => auto_workers,
        };
        let workers = section.workers.unwrap_or(shared).max(1);
        let threads = match (section.threads, kind) {
            (Some(t), _) => t,
            (None, EngineKind::SenseVoice { on_gpu: true }) => auto_threads,
            (None, _) => threads_for(cores, workers),
        };
        (workers, threads.max(1))
    }
}

impl Default for EnginesConfig {
    fn default() -> Self {
        Self {
            models_dir: PathBuf::from("models"),
            sensevoice_dir: None,
            hub_url: None,
            default_language: None,
            workers_per_engine: None,
            batch_wait_ms: 10,
            queue_capacity: 64,
            random_seed: 0,
            fast: WhisperConfig {
                max_batch: 8,
                ..Default::default()
            },
            strong: WhisperConfig {
                max_batch: 4,
                ..Default::default()
            },
            upstream: Vec::new(),
        }
    }
}

/// `[realtime]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RealtimeConfig {
    /// Maximum concurrent sessions.
    pub max_sessions: usize,
    /// Largest decoded `input_audio_buffer.append`, bytes.
    pub max_append_bytes: usize,
    /// Longest session, seconds.
    pub max_session_s: u64,
    /// Default partial interval, ms.
    pub partial_interval_ms: u64,
    /// Default `transcription.delay` of sessions that set none: how many drafts must agree on a
    /// word before it is sent.
    pub partial_delay: PartialDelay,
    /// Longest window re-decoded for a partial, seconds.
    pub partial_window_s: f32,
    /// Bounded-cost partials on engines with CTC word times (SenseVoice): a partial decodes only
    /// the unsettled tail of the utterance plus `partial_context_s`, and words with this much
    /// right context settle (seconds). 0 (or less): every partial re-decodes the whole open
    /// utterance. Engines without CTC word times (Whisper) always re-decode the whole utterance.
    pub partial_tail_s: f32,
    /// Settled audio decoded again before the unsettled tail as left context, seconds.
    pub partial_context_s: f32,
    /// Bounded partials also for engines without CTC word times whose decoder takes a prompt
    /// (Whisper drafts): a draft's segments that end `partial_tail_s` before the end settle, the
    /// next draft decodes from there with no left context and the settled text as its prompt.
    /// Off by default (measured in docs/benchmarks.md, section 7).
    pub partial_tail_prompted: bool,
    /// Who finalizes.
    pub finalizer: Finalizer,
    /// The encoder window of finals.
    pub final_window: FinalWindow,
    /// Outbound events buffered per client before partials are dropped.
    pub outbound_queue: usize,
    /// Degradation under load (`realtime::degrade`): the largest factor by which the partial
    /// cadence stretches with the fast engine's queues (1: never stretch).
    pub degrade_max_stretch: u32,
    /// A session whose captions trail its live audio by this much skips its partials while the
    /// engine is loaded, ms.
    pub degrade_skip_lag_ms: u64,
    /// The finals' deadline: when a final submitted now would wait longer than this in its
    /// engine's queue, partials on that engine are skipped and new sessions are refused (close
    /// 1013), ms. 0: no deadline.
    pub final_deadline_ms: u64,
    /// Decode an utterance's final as soon as its audio is known: once the speaker has paused
    /// for the prefix padding, in the rest of `silence_duration_ms` that ends the turn, while
    /// the engine has nothing queued. Speech that resumes drops that decode.
    pub early_finals: bool,
}

impl Default for RealtimeConfig {
    fn default() -> Self {
        Self {
            max_sessions: 64,
            max_append_bytes: 15 * 1024 * 1024,
            max_session_s: 30 * 60,
            partial_interval_ms: 200,
            partial_delay: PartialDelay::Medium,
            partial_window_s: 15.0,
            partial_tail_s: 1.0,
            partial_context_s: 0.5,
            partial_tail_prompted: false,
            finalizer: Finalizer::Fast,
            final_window: FinalWindow::Full,
            outbound_queue: 256,
            degrade_max_stretch: 8,
            degrade_skip_lag_ms: 3000,
            final_deadline_ms: 3000,
            early_finals: true,
        }
    }
}

/// `[batch]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BatchConfig {
    /// Largest accepted upload, bytes.
    pub max_upload_bytes: usize,
    /// Longest accepted audio, seconds.
    pub max_audio_s: f64,
    /// Clips up to this long go to the fast engine under `model=auto`.
    pub short_clip_s: f64,
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self {
            max_upload_bytes: 25 * 1024 * 1024,
            max_audio_s: 4.0 * 3600.0,
            short_clip_s: 30.0,
        }
    }
}

/// `[meeting]`: durable meeting jobs (`/v1/meetings`, `asr-router meeting`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MeetingConfig {
    /// Whether `/v1/meetings` is served.
    pub enabled: bool,
    /// Where each job keeps its input, checkpoints and outputs (`<jobs_dir>/<id>/`), and the
    /// SQLite job store (`<jobs_dir>/jobs.sqlite3`) (`ASR_ROUTER_MEETINGS_DIR`). Instances that
    /// share a PostgreSQL store must share this folder too.
    pub jobs_dir: PathBuf,
    /// The job store: `"sqlite"` (embedded, in `jobs_dir`) or a `postgres://` URL shared by
    /// several instances (`ASR_ROUTER_MEETINGS_DATABASE`).
    pub database: String,
    /// Jobs run at once by this instance.
    pub workers: usize,
    /// Jobs queued or running (all instances) beyond which a new one is refused (429).
    pub max_queued: usize,
    /// Largest accepted upload (the recording plus reference clips), bytes.
    pub max_upload_bytes: u64,
    /// Longest accepted recording, seconds.
    pub max_audio_s: f64,
    /// Disk space the job folders may use in all, bytes; a new job is refused (507) beyond it.
    /// 0: no limit.
    pub quota_bytes: u64,
    /// Finished jobs (and their files) are deleted this many days after they finished. 0: kept.
    pub retention_days: u64,
}

impl Default for MeetingConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            jobs_dir: PathBuf::from("data/meetings"),
            database: "sqlite".into(),
            workers: 1,
            max_queued: 16,
            max_upload_bytes: 2 * 1024 * 1024 * 1024,
            max_audio_s: 8.0 * 3600.0,
            quota_bytes: 20 * 1024 * 1024 * 1024,
            retention_days: 30,
        }
    }
}

/// Settings given on the command line; they win over the file and the environment.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--models`
    pub models_dir: Option<PathBuf>,
    /// `serve --listen`
    pub listen: Option<SocketAddr>,
    /// `serve --tls-cert`
    pub tls_cert: Option<PathBuf>,
    /// `serve --tls-key`
    pub tls_key: Option<PathBuf>,
}

/// Why the configuration could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// File path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema.
    #[error("parsing {path}: {source}")]
    Parse {
        /// File path.
        path: PathBuf,
        /// Cause.
        source: Box<toml::de::Error>,
    },
    /// An environment variable has a bad value.
    #[error("environment variable {name}: {reason}")]
    Env {
        /// Variable.
        name: &'static str,
        /// What is wrong.
        reason: String,
    },
}

impl Config {
    /// The one override path: defaults < the TOML file (if any) < the environment < flags.
    pub fn resolve(file: Option<&Path>, flags: &Overrides) -> Result<Self, ConfigError> {
        let mut cfg = Self::load(file)?;
        if let Some(m) = &flags.models_dir {
            cfg.engines.models_dir = m.clone();
        }
        if let Some(l) = flags.listen {
            cfg.server.listen = l;
        }
        if let Some(c) = &flags.tls_cert {
            cfg.server.tls_cert = Some(c.clone());
        }
        if let Some(k) = &flags.tls_key {
            cfg.server.tls_key = Some(k.clone());
        }
        Ok(cfg)
    }

    /// The effective configuration as TOML, with the API key masked (`asr-router config print`).
    pub fn to_toml_redacted(&self) -> String {
        let mut shown = self.clone();
        let mask = |k: &mut Option<String>| {
            if k.is_some() {
                *k = Some("<set>".into());
            }
        };
        mask(&mut shown.server.api_key);
        for u in &mut shown.engines.upstream {
            mask(&mut u.api_key);
        }
        if let Some(l) = &mut shown.review.llm {
            mask(&mut l.api_key);
        }
        if shown.meeting.database != "sqlite" {
            // a PostgreSQL URL may carry a password
            shown.meeting.database = "<set>".into();
        }
        toml::to_string_pretty(&shown).unwrap_or_else(|e| format!("# cannot render the configuration: {e}\n"))
    }

    /// Defaults, overlaid with the TOML file (if any) and the environment.
    fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut cfg = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.into(),
                    source,
                })?;
                toml::from_str(&text).map_err(|e| ConfigError::Parse {
                    path: path.into(),
                    source: Box::new(e),
                })?
            }
            None => Config::default(),
        };
        if let Ok(k) = std::env::var("ASR_ROUTER_API_KEY")
            && !k.is_empty()
        {
            cfg.server.api_key = Some(k);
        }
        if let Ok(d) = std::env::var("ASR_ROUTER_MODELS") {
            cfg.engines.models_dir = d.into();
        }
        if let Ok(h) = std::env::var("ASR_ROUTER_HUB_URL")
            && !h.is_empty()
        {
            cfg.engines.hub_url = Some(h);
        }
        if let Ok(d) = std::env::var("ASR_ROUTER_MEETINGS_DIR")
            && !d.is_empty()
        {
            cfg.meeting.jobs_dir = d.into();
        }
        if let Ok(d) = std::env::var("ASR_ROUTER_MEETINGS_DATABASE")
            && !d.is_empty()
        {
            cfg.meeting.database = d;
        }
        if let Ok(l) = std::env::var("ASR_ROUTER_LISTEN") {
            cfg.server.listen = l.parse().map_err(|e| ConfigError::Env {
                name: "ASR_ROUTER_LISTEN",
                reason: format!("{e}"),
            })?;
        }
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_sections_override_defaults_partially() {
        let c: Config = toml::from_str(
            "[realtime]\nmax_sessions = 3\nfinalizer = { strong_above = 4.0 }\n[engines.fast]\nthreads = 1\n",
        )
        .unwrap();
        assert_eq!(c.realtime.max_sessions, 3);
        assert_eq!(c.realtime.finalizer, Finalizer::StrongAbove(4.0));
        assert_eq!(c.realtime.partial_delay, PartialDelay::Medium, "unset: medium");
        assert_eq!(c.engines.fast.threads, Some(1));
        assert_eq!(c.engines.fast.beam_size, None, "unset: the role's default beam");
        let c: Config =
            toml::from_str("[engines.strong]\nbeam_size = 3\n[realtime]\npartial_delay = \"xhigh\"\n").unwrap();
        assert_eq!(c.engines.strong.beam_size, Some(3));
        assert_eq!(c.realtime.partial_delay, PartialDelay::Xhigh);
        let e = toml::from_str::<Config>("[realtime]\npartial_delay = \"soon\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("minimal") && e.contains("xhigh"), "{e}");
        assert_eq!(
            c.engines.fast.max_batch, 8,
            "the rest of [engines.fast] keeps its default"
        );
        assert_eq!(c.server.listen.port(), 18081);
    }

    #[test]
    fn an_engine_takes_its_own_workers_else_the_shared_count_and_more_on_a_gpu() {
        const W: EngineKind = EngineKind::Whisper;
        const SV_CPU: EngineKind = EngineKind::SenseVoice { on_gpu: false };
        const SV_GPU: EngineKind = EngineKind::SenseVoice { on_gpu: true };
        let c: Config = toml::from_str("[engines]\nworkers_per_engine = 3\n[engines.strong]\nworkers = 5\n").unwrap();
        let e = &c.engines;
        assert_eq!(e.split(&e.strong, W, 2).0, 5);
        assert_eq!(
            e.split(&e.strong, SV_GPU, 2).0,
            5,
            "set in the section: kept on a GPU too"
        );
        assert_eq!(e.split(&e.fast, W, 2).0, 3);
        assert_eq!(e.split(&e.fast, SV_CPU, 2).0, 3);
        assert_eq!(e.split(&e.fast, SV_GPU, 2).0, GPU_WORKERS);
        let c: Config = toml::from_str("[engines]\nworkers_per_engine = 6\n[engines.fast]\nworkers = 0\n").unwrap();
        assert_eq!(
            c.engines.split(&c.engines.strong, SV_GPU, 2).0,
            6,
            "more than the GPU floor: kept"
        );
        assert_eq!(c.engines.split(&c.engines.fast, SV_GPU, 2).0, 1, "0 means one");
        // nothing set: each kind's own default for the host's cores
        let d = Config::default().engines;
        assert_eq!(d.split(&d.strong, W, 2).0, 2);
        assert_eq!(d.split(&d.fast, SV_CPU, 2).0, 1);
        assert_eq!(d.split(&d.fast, SV_GPU, 2).0, GPU_WORKERS);
        assert_eq!(d.split(&d.strong, W, host_cores()), default_split(W, host_cores()));
        let e = toml::from_str::<Config>("[engines.fast]\nworkers = \"many\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("workers"), "{e}");
    }

    #[test]
    fn threads_are_the_sections_else_an_equal_share_of_the_cores() {
        const W: EngineKind = EngineKind::Whisper;
        const SV_CPU: EngineKind = EngineKind::SenseVoice { on_gpu: false };
        let c: Config = toml::from_str("[engines.fast]\nthreads = 3\n[engines.strong]\nthreads = 0\n").unwrap();
        let e = &c.engines;
        assert_eq!(e.split(&e.fast, W, 16).1, 3);
        assert_eq!(e.split(&e.fast, EngineKind::SenseVoice { on_gpu: true }, 16).1, 3);
        assert_eq!(e.split(&e.strong, W, 16).1, 1, "0 means one");
        // workers set, threads not: the cores shared among those workers
        let c: Config = toml::from_str("[engines.strong]\nworkers = 1\n[engines.fast]\nworkers = 3\n").unwrap();
        let e = &c.engines;
        assert_eq!(e.split(&e.strong, W, 2), (1, 2), "one replica gets both cores");
        assert_eq!(e.split(&e.fast, SV_CPU, 16), (3, 5));
        assert_eq!(
            e.split(&e.fast, W, 2),
            (3, 1),
            "more workers than cores: one thread each"
        );
        let c: Config = toml::from_str("[engines]\nworkers_per_engine = 8\n").unwrap();
        assert_eq!(c.engines.split(&c.engines.strong, W, 16), (8, 2));
    }

    #[test]
    fn unset_engines_take_every_core_once() {
        const W: EngineKind = EngineKind::Whisper;
        const SV_CPU: EngineKind = EngineKind::SenseVoice { on_gpu: false };
        const SV_GPU: EngineKind = EngineKind::SenseVoice { on_gpu: true };
        let whisper: Vec<_> = [1, 2, 3, 4, 6, 8, 16, 64]
            .iter()
            .map(|&c| default_split(W, c))
            .collect();
        assert_eq!(
            whisper,
            [(2, 1), (2, 1), (3, 1), (4, 1), (4, 1), (4, 2), (4, 4), (4, 16)],
            "at least two replicas, at most four; further cores go to their threads"
        );
        let sv: Vec<_> = [1, 2, 4, 8, 16, 64].iter().map(|&c| default_split(SV_CPU, c)).collect();
        assert_eq!(sv, [(1, 1), (1, 2), (2, 2), (4, 2), (8, 2), (8, 8)]);
        assert_eq!(default_split(SV_GPU, 2), (GPU_WORKERS, SENSEVOICE_THREADS));
        assert_eq!(default_split(SV_GPU, 64), (GPU_WORKERS, SENSEVOICE_THREADS));
        assert_eq!(default_split(W, 0), (2, 1), "no cores read: as one");
        // the defaults of a config with nothing set are these
        let d = Config::default().engines;
        for cores in [1, 2, 8, 16] {
            assert_eq!(d.split(&d.strong, W, cores), default_split(W, cores));
            assert_eq!(d.split(&d.fast, SV_CPU, cores), default_split(SV_CPU, cores));
            assert_eq!(d.split(&d.fast, SV_GPU, cores), default_split(SV_GPU, cores));
        }
    }

    #[test]
    fn devices_parse_print_and_refuse_what_they_do_not_know() {
        let c: Config = toml::from_str("[engines.fast]\ndevice = \"cuda:1\"\n").unwrap();
        assert_eq!(c.engines.fast.device, Device::Cuda(1));
        assert_eq!(c.engines.strong.device, Device::Cpu, "unset: the CPU");
        for (text, want) in [
            ("cpu", Device::Cpu),
            ("CUDA", Device::Cuda(0)),
            ("gpu", Device::Cuda(0)),
        ] {
            assert_eq!(text.parse::<Device>(), Ok(want), "{text}");
        }
        for d in [Device::Cpu, Device::Cuda(0), Device::Cuda(3)] {
            assert_eq!(d.to_string().parse::<Device>(), Ok(d), "{d} round-trips");
        }
        for bad in ["tpu", "cuda:", "cuda:-1", "cuda:x", ""] {
            assert!(bad.parse::<Device>().is_err(), "{bad:?}");
        }
        let e = toml::from_str::<Config>("[engines.fast]\ndevice = \"metal\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("metal") && e.contains("cuda:N"), "{e}");
    }

    #[test]
    fn unknown_and_old_flat_keys_are_refused() {
        let e = toml::from_str::<Config>("max_sessions = 3\n").unwrap_err().to_string();
        assert!(e.contains("max_sessions"), "{e}");
        let e = toml::from_str::<Config>("[realtime]\nmax_sesions = 3\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("max_sesions"), "{e}");
    }

    #[test]
    fn flags_win_and_print_round_trips_without_the_key() {
        let dir = std::env::temp_dir().join(format!("asr-router-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        std::fs::write(
            &file,
            "[server]\nlisten = \"127.0.0.1:1000\"\napi_key = \"sk-secret\"\n",
        )
        .unwrap();
        let flags = Overrides {
            listen: Some("127.0.0.1:2000".parse().unwrap()),
            ..Default::default()
        };
        let c = Config::resolve(Some(&file), &flags).unwrap();
        assert_eq!(c.server.listen.port(), 2000);
        let printed = c.to_toml_redacted();
        assert!(!printed.contains("sk-secret"), "{printed}");
        let back: Config = toml::from_str(&printed).unwrap();
        assert_eq!(back.server.listen.port(), 2000);
        assert_eq!(back.realtime.max_sessions, c.realtime.max_sessions);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
