//! `asr-router models list|pull`: what is installed, and verified installs from a model hub.

use anyhow::Context;

use super::{ModelsCmd, PackagingArg, PrecisionArg, PullArgs};
use asr_router::config::Config;
use asr_router::engine::Engines;
use asr_router::engine::sensevoice::Packaging;
use asr_router::models;

/// Runs `models list` or `models pull`.
pub fn run(cmd: ModelsCmd, cfg: &Config) -> anyhow::Result<()> {
    match cmd {
        ModelsCmd::List => list(cfg),
        ModelsCmd::Pull(args) => pull(args, cfg),
    }
}

/// Installed models with their roles, sizes and languages.
fn list(cfg: &Config) -> anyhow::Result<()> {
    let engines = Engines::load(cfg).context("loading models (run scripts/fetch-models)")?;
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
    Ok(())
}

/// Downloads, verifies and installs a model.
fn pull(args: PullArgs, cfg: &Config) -> anyhow::Result<()> {
    let PullArgs {
        name,
        from,
        packaging,
        precision,
        revision,
        repo,
        sha256,
        insecure_no_checksum,
        force,
    } = args;
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
    let mut req = models::PullRequest::new(source, precision, model.install_dir(cfg));
    if let Some(hub) = from.or(cfg.engines.hub_url.clone()) {
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
        let sums = models::checksum::parse_sums(&text).with_context(|| format!("parsing {}", path.display()))?;
        for (file, hex) in sums {
            // `sha256sum dir/file` output names files with their directory
            let base = file.rsplit('/').next().unwrap_or(&file).to_string();
            req.sha256.insert(base, hex);
        }
    }
    req.insecure_no_checksum = insecure_no_checksum;
    req.force = force;
    let outcome = super::runtime()?.block_on(pull_model(&req, &name))?;
    print_pull_outcome(&req, &outcome);
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
