//! The `asr-router` command: `serve`, `transcribe`, `models`, `bench`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};

use asr_router::batch::formats::{self, ResponseFormat};
use asr_router::batch::pipeline::Admission;
use asr_router::batch::request::{TranscriptionParams, TranscriptionRequest};
use asr_router::batch::service::BatchService;
use asr_router::config::Config;
use asr_router::engine::Engines;
use asr_router::engine::recognizer::Task;
use asr_router::engine::sensevoice::Packaging;
use asr_router::models;

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
    /// Download a model from a model hub, check every file's checksum and install it atomically
    /// where the server looks for it (`sensevoice-small` -> <models>/sensevoice-small).
    Pull {
        /// Model to install (`sensevoice-small`).
        name: String,
        /// Hub base URL; files come from URL/REPO/resolve/REVISION/FILE. Default: `hub_url` in
        /// the config, `ASR_ROUTER_HUB_URL`, else the packaging's hub (https://huggingface.co
        /// for sherpa).
        #[arg(long = "from", value_name = "URL")]
        from: Option<String>,
        /// Packaging (default: sherpa).
        #[arg(long, value_enum)]
        packaging: Option<PackagingArg>,
        /// Which weights.
        #[arg(long, value_enum, default_value_t = PrecisionArg::Int8)]
        precision: PrecisionArg,
        /// Branch, tag or commit (default: the packaging's, `main` on Hugging Face).
        #[arg(long)]
        revision: Option<String>,
        /// Repository id on the hub, e.g. a mirror (default: the packaging's).
        #[arg(long)]
        repo: Option<String>,
        /// `sha256sum`-style file (`<sha256>  <file>` lines) whose entries override the hub's
        /// checksums.
        #[arg(long, value_name = "FILE")]
        sha256: Option<PathBuf>,
        /// Install files for which no checksum is known instead of refusing.
        #[arg(long)]
        insecure_no_checksum: bool,
        /// Replace a target directory that `models pull` did not install.
        #[arg(long)]
        force: bool,
    },
}

/// `--packaging`.
#[derive(Clone, Copy, clap::ValueEnum)]
enum PackagingArg {
    /// sherpa-onnx export: model(.int8).onnx + tokens.txt.
    Sherpa,
    /// FunASR export: model(_quant).onnx + am.mvn + config.yaml + tokens.json.
    Funasr,
}

/// `--precision`.
#[derive(Clone, Copy, clap::ValueEnum)]
enum PrecisionArg {
    Int8,
    Fp32,
    Both,
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
            let state = asr_router::http::AppState::new(cfg, engines);
            rt.block_on(asr_router::http::serve(state))?;
            // Whatever is left (a task past the shutdown deadline, a blocking VAD call) must not
            // keep the process alive; the engine threads end with the process.
            rt.shutdown_timeout(std::time::Duration::from_secs(1));
            return Ok(());
        }
        Command::Transcribe {
            file,
            format,
            model,
            language,
        } => {
            let format = match format.as_str() {
                "json" => "verbose_json",
                other => other,
            };
            let req = TranscriptionRequest::validate(
                TranscriptionParams {
                    file: Some(file.display().to_string()),
                    model: Some(model),
                    language,
                    response_format: Some(format.into()),
                    ..Default::default()
                },
                Task::Transcribe,
            )?;
            let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let decoded = asr_router::audio::decode_bytes(bytes, cfg.max_audio_s)
                .with_context(|| format!("decoding {}", file.display()))?;
            let engines = Engines::load(&cfg).context("loading models (run scripts/fetch-models)")?;
            let service = BatchService::new(&engines, &cfg);
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} windows {elapsed}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            let t = rt
                .block_on(
                    service.transcribe(&req, decoded.samples.into(), Admission::Wait, |done, total, _| {
                        if total > 1 {
                            bar.set_length(total as u64);
                            bar.set_position(done as u64);
                        }
                    }),
                )
                .with_context(|| format!("transcribing {}", file.display()))?;
            bar.finish_and_clear();
            let out = match req.response_format() {
                ResponseFormat::Srt => formats::srt(&t),
                ResponseFormat::Vtt => formats::vtt(&t),
                ResponseFormat::VerboseJson => {
                    serde_json::to_string_pretty(&formats::verbose_json(&t, "transcribe", true, false))?
                }
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
        Command::Models {
            cmd:
                ModelsCmd::Pull {
                    name,
                    from,
                    packaging,
                    precision,
                    revision,
                    repo,
                    sha256,
                    insecure_no_checksum,
                    force,
                },
        } => {
            let model = models::catalog::find(&name).with_context(|| {
                let known: Vec<&str> = models::catalog::MODELS.iter().map(|m| m.name).collect();
                format!("unknown model '{name}'; models pull knows: {}", known.join(", "))
            })?;
            let source = match packaging {
                None => model.default_source(),
                Some(p) => {
                    let p = match p {
                        PackagingArg::Sherpa => Packaging::Sherpa,
                        PackagingArg::Funasr => Packaging::FunAsr,
                    };
                    model
                        .source(p)
                        .with_context(|| format!("{name} is not published in that packaging"))?
                }
            };
            let precision = match precision {
                PrecisionArg::Int8 => models::Precision::Int8,
                PrecisionArg::Fp32 => models::Precision::Fp32,
                PrecisionArg::Both => models::Precision::Both,
            };
            let mut req = models::PullRequest::new(source, precision, model.install_dir(&cfg));
            if let Some(hub) = from.or(cfg.hub_url.clone()) {
                req.hub = hub;
            }
            if let Some(r) = repo {
                req.repo = r;
            }
            if let Some(r) = revision {
                req.revision = r;
            }
            if let Some(path) = sha256 {
                let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
                let sums =
                    models::checksum::parse_sums(&text).with_context(|| format!("parsing {}", path.display()))?;
                for (file, hex) in sums {
                    // `sha256sum dir/file` output names files with their directory
                    let base = file.rsplit('/').next().unwrap_or(&file).to_string();
                    req.sha256.insert(base, hex);
                }
            }
            req.insecure_no_checksum = insecure_no_checksum;
            req.force = force;
            let outcome = rt.block_on(pull_model(&req, &name))?;
            print_pull_outcome(&req, &outcome);
        }
        Command::Bench { cmd } => rt.block_on(asr_router::bench::run(cmd, &cfg))?,
    }
    Ok(())
}

/// Runs a pull with a progress bar per file; Ctrl-C drops it, which removes the partial download.
async fn pull_model(req: &models::PullRequest, name: &str) -> anyhow::Result<models::Outcome> {
    let mut bar: Option<indicatif::ProgressBar> = None;
    let mut on_progress = |p: models::Progress<'_>| match p {
        models::Progress::Start { file, url, size } => {
            eprintln!("downloading {url}");
            let b = match size {
                Some(n) => indicatif::ProgressBar::new(n),
                None => indicatif::ProgressBar::new_spinner(),
            };
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{msg:<18} {bar:30} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            b.set_message(file.to_string());
            bar = Some(b);
        }
        models::Progress::Bytes { done, .. } => {
            if let Some(b) = &bar {
                b.set_position(done);
            }
        }
        models::Progress::Kept { file } => eprintln!("keeping {file}: unchanged since the last pull"),
        models::Progress::Done { .. } => {
            if let Some(b) = bar.take() {
                b.finish_and_clear();
            }
        }
    };
    let result = tokio::select! {
        r = models::pull(req, &mut on_progress) => r.map_err(anyhow::Error::from),
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    result.with_context(|| format!("models pull {name}: nothing was installed"))
}

fn print_pull_outcome(req: &models::PullRequest, outcome: &models::Outcome) {
    let (installed, fresh) = match outcome {
        models::Outcome::Installed(i) => (i, true),
        models::Outcome::AlreadyInstalled(i) => (i, false),
    };
    if !fresh {
        println!(
            "already installed: {} ({} files match its {}); nothing downloaded",
            installed.dir.display(),
            installed.files.len(),
            models::SUMS_FILE
        );
        return;
    }
    let commit = installed
        .commit
        .as_deref()
        .map(|c| format!(" (commit {c})"))
        .unwrap_or_default();
    println!(
        "installed {} {} into {}",
        req.source.label,
        format!("{:?}", req.precision).to_lowercase(),
        installed.dir.display()
    );
    println!(
        "  from {}/{} at {}{commit}",
        req.hub.trim_end_matches('/'),
        req.repo,
        req.revision
    );
    for f in &installed.files {
        let check = match f.check {
            models::Check::Sha256File => "sha256 matches --sha256 file",
            models::Check::HubSha256 => "sha256 matches the hub",
            models::Check::HubGitBlob => "git blob id matches the hub",
            models::Check::Sums => "sha256 matches SHA256SUMS",
            models::Check::Unchecked => "NOT CHECKED (--insecure-no-checksum)",
        };
        let kept = if f.reused {
            " (kept from the previous installation)"
        } else {
            ""
        };
        println!("  {:<20} {:>10}  {check}{kept}", f.name, human_size(f.size));
    }
    println!("  {:<20} written", models::SUMS_FILE);
    println!("restart the server to use it (SenseVoice becomes the fast engine)");
}

fn human_size(bytes: u64) -> String {
    match bytes {
        b if b >= 1_000_000 => format!("{:.1} MB", b as f64 / 1e6),
        b if b >= 1_000 => format!("{:.1} kB", b as f64 / 1e3),
        b => format!("{b} B"),
    }
}
