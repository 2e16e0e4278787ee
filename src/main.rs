//! The `asr-router` command: `serve`, `transcribe`, `models`, `bench`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};

use asr_router::batch::{formats, pipeline};
use asr_router::config::Config;
use asr_router::engine::Engines;
use asr_router::engine::recognizer::DecodeOptions;

#[derive(Parser)]
#[command(name = "asr-router", version, about = "Local, OpenAI-compatible speech server")]
struct Cli {
    /// TOML configuration file.
    #[arg(long, global = true, env = "ASR_ROUTER_CONFIG")]
    config: Option<PathBuf>,
    /// Models directory (default ./models).
    #[arg(long, global = true)]
    models: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP and WebSocket server.
    Serve {
        /// Address to listen on (default 127.0.0.1:18081).
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// PEM certificate chain: serve HTTPS and wss://.
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// PEM private key.
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
    },
    /// Transcribe a file offline with the same pipeline as the server.
    Transcribe {
        /// Audio file (wav, flac, mp3, ogg, m4a, opus, webm).
        file: PathBuf,
        /// Output format.
        #[arg(long, default_value = "txt", value_parser = ["txt", "srt", "vtt", "json"])]
        format: String,
        /// Model name or `auto`.
        #[arg(long, default_value = "auto")]
        model: String,
        /// Language code (default: detect).
        #[arg(long)]
        language: Option<String>,
    },
    /// Inspect installed models.
    Models {
        #[command(subcommand)]
        cmd: ModelsCmd,
    },
    /// Benchmarks (numbers for docs/benchmarks.md).
    Bench {
        #[command(subcommand)]
        cmd: asr_router_bench::BenchCmd,
    },
}

#[derive(Subcommand)]
enum ModelsCmd {
    /// List installed models with their role and size.
    List,
}

mod asr_router_bench {
    pub use asr_router::bench::BenchCmd;
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,ort=warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let mut cfg = Config::load(cli.config.as_deref())?;
    if let Some(m) = cli.models {
        cfg.models_dir = m;
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match cli.cmd {
        Command::Serve {
            listen,
            tls_cert,
            tls_key,
        } => {
            if let Some(l) = listen {
                cfg.listen = l;
            }
            cfg.tls_cert = tls_cert.or(cfg.tls_cert);
            cfg.tls_key = tls_key.or(cfg.tls_key);
            if cfg.api_key.is_none() {
                tracing::warn!(
                    "NO API KEY CONFIGURED: every endpoint is open to anyone who can reach {}. Set ASR_ROUTER_API_KEY.",
                    cfg.listen
                );
            }
            let engines = Arc::new(Engines::load(&cfg).context("loading models (run scripts/fetch-models)")?);
            for m in engines.models() {
                tracing::info!(model = %m.id, roles = ?m.role, "loaded");
            }
            let state = asr_router::server::AppState::new(cfg, engines);
            rt.block_on(asr_router::server::serve(state))?;
        }
        Command::Transcribe {
            file,
            format,
            model,
            language,
        } => {
            let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let decoded = asr_router::audio::decode_bytes(bytes, cfg.max_audio_s)
                .with_context(|| format!("decoding {}", file.display()))?;
            let engines = Arc::new(Engines::load(&cfg).context("loading models (run scripts/fetch-models)")?);
            let language = language.or_else(|| cfg.default_language.clone());
            let engine = match engines.route(&model, decoded.duration_s(), language.as_deref(), false, false) {
                Ok(e) => e.clone(),
                Err(m) => bail!(m),
            };
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} windows {elapsed}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            let options = DecodeOptions {
                language,
                ..Default::default()
            };
            let samples: Arc<[f32]> = decoded.samples.into();
            let t = rt.block_on(pipeline::transcribe(
                &engines,
                &engine,
                samples,
                options,
                false,
                |done, total, _| {
                    if total > 1 {
                        bar.set_length(total as u64);
                        bar.set_position(done as u64);
                    }
                },
            ))?;
            bar.finish_and_clear();
            let out = match format.as_str() {
                "srt" => formats::srt(&t),
                "vtt" => formats::vtt(&t),
                "json" => serde_json::to_string_pretty(&formats::verbose_json(&t, "transcribe", true, false))?,
                _ => format!("{}\n", t.text),
            };
            print!("{out}");
        }
        Command::Models { cmd: ModelsCmd::List } => {
            let engines = Engines::load(&cfg).context("loading models (run scripts/fetch-models)")?;
            println!(
                "{:<20} {:<14} {:>10}  {:<14} path",
                "model", "role", "size", "languages"
            );
            for m in engines.models() {
                let roles: Vec<String> = m.role.iter().map(|r| format!("{r:?}").to_lowercase()).collect();
                println!(
                    "{:<20} {:<14} {:>8.1}MB  {:<14} {}",
                    m.id,
                    roles.join(","),
                    m.size_bytes as f64 / 1e6,
                    m.languages.join(","),
                    m.path
                );
            }
        }
        Command::Bench { cmd } => rt.block_on(asr_router::bench::run(cmd, &cfg))?,
    }
    Ok(())
}
