//! The `asr-router` command line: the clap definitions here, one file per subcommand.

pub mod bench;
pub mod eval;
pub mod meeting;
pub mod models;
pub mod serve;
pub mod transcribe;

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use asr_router::config::{Config, Overrides};

#[derive(Parser)]
#[command(name = "asr-router", version, about = "Local, OpenAI-compatible speech server")]
pub struct Cli {
    /// TOML configuration file.
    #[arg(long, global = true, env = "ASR_ROUTER_CONFIG")]
    config: Option<PathBuf>,
    /// Models directory (default ./models).
    #[arg(long, global = true)]
    models: Option<PathBuf>,
    #[command(subcommand)]
    pub cmd: Command,
}

impl Cli {
    /// The effective configuration: defaults < `--config` file < environment < flags.
    pub fn config(&self) -> anyhow::Result<Config> {
        let serve = match &self.cmd {
            Command::Serve(a)
            | Command::Config {
                cmd: ConfigCmd::Print(a),
            } => Some(a),
            _ => None,
        };
        let flags = Overrides {
            models_dir: self.models.clone(),
            listen: serve.and_then(|a| a.listen),
            tls_cert: serve.and_then(|a| a.tls_cert.clone()),
            tls_key: serve.and_then(|a| a.tls_key.clone()),
        };
        Ok(Config::resolve(self.config.as_deref(), &flags)?)
    }
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the HTTP and WebSocket server.
    Serve(ServeArgs),
    /// Transcribe a file offline with the same pipeline as the server.
    Transcribe(TranscribeArgs),
    /// Inspect installed models.
    Models {
        #[command(subcommand)]
        cmd: ModelsCmd,
    },
    /// Benchmarks (numbers for docs/benchmarks.md).
    Bench {
        #[command(subcommand)]
        cmd: asr_router::bench::BenchCmd,
    },
    /// Accuracy of the finalizer chain on an eval manifest: WER/CER and term recall per
    /// language group, before and after review (docs/benchmarks.md).
    Eval(eval::EvalArgs),
    /// A meeting recording through the meeting pipeline offline (speakers, transcript,
    /// review): transcript.txt, transcript.md, timeline.json, subtitles.srt and summary.md.
    Meeting(meeting::MeetingArgs),
    /// Inspect the configuration.
    Config {
        #[command(subcommand)]
        cmd: ConfigCmd,
    },
}

#[derive(Subcommand)]
pub enum ConfigCmd {
    /// Print the effective configuration (defaults < file < environment < flags) as TOML, with
    /// the API key masked. Takes `serve`'s flags, to show what `serve` with them would use.
    Print(ServeArgs),
}

/// `serve` (and `config print`).
#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on (default 127.0.0.1:18081).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// PEM certificate chain: serve HTTPS and wss://.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

/// `transcribe`.
#[derive(Args)]
pub struct TranscribeArgs {
    /// Audio file (wav, flac, mp3, ogg, m4a, opus, webm).
    pub file: PathBuf,
    /// Output format (`diarized_json`: speaker-labelled segments; needs the speaker model).
    #[arg(long, default_value = "txt", value_parser = ["txt", "srt", "vtt", "json", "diarized_json"])]
    pub format: String,
    /// Model name or `auto`.
    #[arg(long, default_value = "auto")]
    pub model: String,
    /// Language code (default: detect).
    #[arg(long)]
    pub language: Option<String>,
}

#[derive(Subcommand)]
pub enum ModelsCmd {
    /// List installed models with their role and size.
    List,
    /// Download a model from a model hub, check every file's checksum and install it atomically
    /// where the server looks for it (`sensevoice-small` -> <models>/sensevoice-small).
    Pull(PullArgs),
}

/// `models pull`.
#[derive(Args)]
pub struct PullArgs {
    /// Model to install (`sensevoice-small`).
    pub name: String,
    /// Hub base URL; files come from URL/REPO/resolve/REVISION/FILE. Default: `hub_url` in
    /// the config, `ASR_ROUTER_HUB_URL`, else the packaging's hub (https://huggingface.co
    /// for sherpa).
    #[arg(long = "from", value_name = "URL")]
    pub from: Option<String>,
    /// Packaging (default: sherpa).
    #[arg(long, value_enum)]
    pub packaging: Option<PackagingArg>,
    /// Which weights.
    #[arg(long, value_enum, default_value_t = PrecisionArg::Int8)]
    pub precision: PrecisionArg,
    /// Branch, tag or commit (default: the packaging's, `main` on Hugging Face).
    #[arg(long)]
    pub revision: Option<String>,
    /// Repository id on the hub, e.g. a mirror (default: the packaging's).
    #[arg(long)]
    pub repo: Option<String>,
    /// `sha256sum`-style file (`<sha256>  <file>` lines) whose entries override the hub's
    /// checksums.
    #[arg(long, value_name = "FILE")]
    pub sha256: Option<PathBuf>,
    /// Install files for which no checksum is known instead of refusing.
    #[arg(long)]
    pub insecure_no_checksum: bool,
    /// Replace a target directory that `models pull` did not install.
    #[arg(long)]
    pub force: bool,
}

/// `--packaging`.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum PackagingArg {
    /// sherpa-onnx export: model(.int8).onnx + tokens.txt.
    Sherpa,
    /// FunASR export: model(_quant).onnx + am.mvn + config.yaml + tokens.json.
    Funasr,
}

/// `--precision`.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum PrecisionArg {
    Int8,
    Fp32,
    Both,
}

/// The multi-threaded runtime the subcommands run their async work on.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}
