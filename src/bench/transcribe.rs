//! `bench transcribe`: WER/CER and RTF per engine and language over a manifest, optionally with
//! faster-whisper (the peer) run on the same CTranslate2 model in the same run.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;

use super::wer::{cer, wer};
use crate::batch::pipeline::Admission;
use crate::batch::request::{TranscriptionParams, TranscriptionRequest};
use crate::batch::service::BatchService;
use crate::config::{
    ComputeType, Config, EngineKind, EnginesConfig, FAST_COMPUTE, ReviewConfig, ReviewMode, STRONG_COMPUTE,
    WhisperConfig,
};
use crate::engine::Engines;
use crate::engine::recognizer::{DecodeOptions, Task, Utterance};
use crate::eval::ManifestRow;
use crate::finalize::SecondPass;

/// Arguments of `bench transcribe`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Manifest (JSON lines: `path` relative to the manifest, `lang`, `text`).
    #[arg(long)]
    pub manifest: PathBuf,
    /// Engines to measure (default: every installed Whisper).
    #[arg(long)]
    pub engine: Vec<String>,
    /// Only rows of these languages.
    #[arg(long)]
    pub lang: Vec<String>,
    /// Skip rows longer than this (seconds).
    #[arg(long, default_value_t = 60.0)]
    pub max_duration: f64,
    /// Python interpreter with `faster-whisper` installed: run it as the peer.
    #[arg(long)]
    pub peer_python: Option<PathBuf>,
    /// Run the peer as faster-whisper's `BatchedInferencePipeline` with this batch size (its VAD
    /// cuts the file, the chunks are decoded in batches) instead of its sequential `transcribe`.
    #[arg(long, default_value_t = 0)]
    pub peer_batch_size: usize,
    /// Write the per-file results as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Decode each file with the engine itself (one window per 30 s, no VAD, no review): the
    /// path the peer's `transcribe` takes, and the only one that honours `--languages`.
    #[arg(long)]
    pub direct: bool,
    /// Give no language hint for any row (detect), not even for single-language rows.
    #[arg(long)]
    pub no_language_hint: bool,
    /// Detect among these languages only (OpenAI's `languages`, e.g. `zh,en`); implies no hint.
    /// Needs `--direct`. The peer mirrors it by detecting first and passing the best allowed one.
    #[arg(long, value_delimiter = ',')]
    pub languages: Vec<String>,
}

impl Args {
    /// The language hint for a row: its own language, unless detection is asked for or the row
    /// is code-switched.
    fn hint(&self, r: &ManifestRow) -> Option<String> {
        let detect = self.no_language_hint || !self.languages.is_empty();
        Some(r.lang.clone()).filter(|l| !detect && !l.contains('+'))
    }
}

struct Agg {
    errors: f64,
    n: usize,
    audio_s: f64,
    compute_s: f64,
}

fn is_cjk(lang: &str) -> bool {
    matches!(lang, "zh" | "ja" | "yue" | "ko" | "zh+en")
}

fn score(lang: &str, reference: &str, hyp: &str) -> f64 {
    if is_cjk(lang) {
        // the eval set's rule: traditional characters folded to simplified before scoring
        cer(&hanconv::t2s(reference), &hanconv::t2s(hyp))
    } else {
        wer(reference, hyp)
    }
}

/// Runs the benchmark and prints a table.
pub async fn run(args: Args, cfg: &Config) -> anyhow::Result<()> {
    let base = args.manifest.parent().unwrap_or(Path::new(".")).to_path_buf();
    let text =
        std::fs::read_to_string(&args.manifest).with_context(|| format!("reading {}", args.manifest.display()))?;
    let rows: Vec<ManifestRow> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| serde_json::from_str::<ManifestRow>(l).ok())
        .filter(|r| r.text.is_some() && r.duration_s <= args.max_duration)
        .filter(|r| !r.tags.iter().any(|t| t == "possible-training-data"))
        .filter(|r| args.lang.is_empty() || args.lang.contains(&r.lang))
        .collect();
    anyhow::ensure!(
        args.languages.is_empty() || args.direct,
        "--languages needs --direct (the bench sends no languages through the batch service)"
    );
    let engines = Engines::load(cfg)?;
    // the bench measures the recognizers alone, as the peer runs them: no review
    let service = BatchService::new(
        &engines,
        cfg,
        std::sync::Arc::new(SecondPass::new(
            &ReviewConfig {
                default: ReviewMode::None,
                ..Default::default()
            },
            None,
        )),
    );
    let names: Vec<String> = if args.engine.is_empty() {
        engines.names()
    } else {
        args.engine.clone()
    };
    let rss_before = super::peak_rss_bytes().unwrap_or(0);
    let mut results = Vec::new();
    println!(
        "{:<18} {:<6} {:>5} {:>8} {:>8} {:>8}",
        "engine", "lang", "files", "WER/CER", "audio_s", "RTF"
    );
    for name in &names {
        let abilities = engines
            .get(name)
            .with_context(|| format!("no engine {name}"))?
            .abilities();
        let mut by_lang: std::collections::BTreeMap<String, Agg> = Default::default();
        for r in &rows {
            // only rows in languages the model knows (`zh+en`: code-switched, all of them)
            if !r.lang.split('+').all(|l| abilities.transcribes(l)) {
                continue;
            }
            let req = TranscriptionRequest::validate(
                TranscriptionParams {
                    file: Some(r.path.clone()),
                    model: Some(name.clone()),
                    // code-switched rows: let the model detect
                    language: args.hint(r),
                    ..Default::default()
                },
                Task::Transcribe,
            )?;
            let bytes = std::fs::read(base.join(&r.path)).with_context(|| format!("reading {}", r.path))?;
            let audio = crate::audio::decode_bytes(bytes, 3600.0)?;
            let t0 = Instant::now();
            let (text, duration_s) = if args.direct {
                let options = DecodeOptions {
                    language: args.hint(r),
                    languages: Some(args.languages.clone()).filter(|l| !l.is_empty()),
                    ..Default::default()
                };
                let samples: std::sync::Arc<[f32]> = audio.samples.into();
                let duration_s = samples.len() as f64 / 16_000.0;
                let h = engines
                    .get(name)
                    .with_context(|| format!("no engine {name}"))?
                    .recognize_final(Utterance { samples, options })
                    .await
                    .with_context(|| format!("{name} on {}", r.path))?;
                (h.text, duration_s)
            } else {
                let t = service
                    .transcribe(&req, audio.samples.into(), Admission::Wait, |_, _, _| {})
                    .await
                    .with_context(|| format!("{name} on {}", r.path))?;
                (t.text, t.duration_s)
            };
            let secs = t0.elapsed().as_secs_f64();
            let reference = r.text.clone().unwrap_or_default();
            let e = score(&r.lang, &reference, &text);
            let a = by_lang.entry(r.lang.clone()).or_insert(Agg {
                errors: 0.0,
                n: 0,
                audio_s: 0.0,
                compute_s: 0.0,
            });
            a.errors += e;
            a.n += 1;
            a.audio_s += duration_s;
            a.compute_s += secs;
            results.push(serde_json::json!({"engine": name, "id": r.id, "lang": r.lang, "error_rate": e, "audio_s": duration_s, "compute_s": secs, "hyp": text, "ref": reference}));
        }
        for (lang, a) in by_lang {
            println!(
                "{:<18} {:<6} {:>5} {:>8.3} {:>8.1} {:>8.3}",
                name,
                lang,
                a.n,
                a.errors / a.n as f64,
                a.audio_s,
                a.compute_s / a.audio_s
            );
        }
    }
    let peak = super::peak_rss_bytes().unwrap_or(0);
    println!(
        "peak RSS: {:.0} MB (before loading the eval set: {:.0} MB)",
        peak as f64 / 1e6,
        rss_before as f64 / 1e6
    );
    if let Some(py) = &args.peer_python {
        let p = peer(py, &args, cfg, &rows, &base, &results)?;
        results.extend(p);
    }
    if let Some(j) = &args.json {
        std::fs::write(j, serde_json::to_string_pretty(&results)?)?;
    }
    Ok(())
}

/// The section that configures `engine` and its role's default compute type: the strong
/// engine's (whisper-base) or the fast one's.
fn section_of<'a>(engines: &'a EnginesConfig, engine: &str) -> (&'a WhisperConfig, ComputeType) {
    match engine {
        "whisper-base" => (&engines.strong, STRONG_COMPUTE),
        _ => (&engines.fast, FAST_COMPUTE),
    }
}

/// The compute type our side runs `engine` with, which the peer is given too.
fn peer_compute_type(engines: &EnginesConfig, engine: &str) -> ComputeType {
    let (section, default) = section_of(engines, engine);
    section.compute_type.unwrap_or(default)
}

/// The CPU threads the peer gets for `engine`: every core our side decodes it on (its workers
/// times their threads), since the peer runs one batch at a time on one model.
fn peer_threads(engines: &EnginesConfig, engine: &str) -> usize {
    let (section, _) = section_of(engines, engine);
    let (workers, threads) = engines.split(section, EngineKind::Whisper, crate::config::host_cores());
    workers * threads
}

/// Runs faster-whisper on the same files and models, prints its error rates per language next to
/// ours and the RTF ratio, and returns its per-file results.
fn peer(
    py: &Path,
    args: &Args,
    cfg: &Config,
    rows: &[ManifestRow],
    base: &Path,
    ours: &[serde_json::Value],
) -> anyhow::Result<Vec<serde_json::Value>> {
    let mut peer_rows = Vec::new();
    let peer_label = match args.peer_batch_size {
        0 => "faster-whisper".to_string(),
        b => format!("faster-whisper batched({b})"),
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/faster_whisper_peer.py");
    let list: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            serde_json::json!({"id": r.id, "path": base.join(&r.path), "lang": r.lang,
                "language": args.hint(r), "languages": args.languages})
        })
        .collect();
    let names: Vec<String> = if args.engine.is_empty() {
        vec!["whisper-tiny.en".into(), "whisper-base".into()]
    } else {
        args.engine.clone()
    };
    for name in names {
        let out = std::process::Command::new(py)
            .arg(&script)
            .arg(cfg.engines.models_dir.join(&name))
            .arg(serde_json::to_string(&list)?)
            .arg(format!("{:?}", peer_compute_type(&cfg.engines, &name)).to_lowercase())
            // the peer gets as many cores as our engine occupies: its batches run one at a time
            .arg(peer_threads(&cfg.engines, &name).to_string())
            .arg(
                cfg.engines
                    .strong
                    .beam_size
                    .unwrap_or(crate::config::STRONG_BEAM)
                    .to_string(),
            )
            .arg(args.peer_batch_size.to_string())
            .output()
            .with_context(|| format!("running {}", py.display()))?;
        if !out.status.success() {
            anyhow::bail!("peer failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        let peer: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout)?;
        let (mut pc, mut pa, mut pe, mut n) = (0.0, 0.0, 0.0, 0);
        let (mut oc, mut oa) = (0.0, 0.0);
        // per language: (peer errors, our errors, files)
        let mut by_lang: std::collections::BTreeMap<String, (f64, f64, usize)> = Default::default();
        for p in &peer {
            let id = p["id"].as_str().unwrap_or_default();
            let Some(o) = ours.iter().find(|o| o["engine"] == name.as_str() && o["id"] == id) else {
                continue;
            };
            let r = rows
                .iter()
                .find(|r| r.id == id)
                .map(|r| r.text.clone().unwrap_or_default())
                .unwrap_or_default();
            let lang = p["lang"].as_str().unwrap_or("en");
            let e = score(lang, &r, p["text"].as_str().unwrap_or(""));
            let l = by_lang.entry(lang.to_string()).or_default();
            (l.0, l.1, l.2) = (l.0 + e, l.1 + o["error_rate"].as_f64().unwrap_or(0.0), l.2 + 1);
            peer_rows.push(
                serde_json::json!({"engine": format!("{peer_label} {name}"), "id": id, "lang": lang,
                "error_rate": e, "hyp": p["text"], "language": p["language"], "compute_s": p["compute_s"]}),
            );
            pe += e;
            pc += p["compute_s"].as_f64().unwrap_or(0.0);
            pa += o["audio_s"].as_f64().unwrap_or(0.0);
            oc += o["compute_s"].as_f64().unwrap_or(0.0);
            oa += o["audio_s"].as_f64().unwrap_or(0.0);
            n += 1;
        }
        if n > 0 {
            println!(
                "peer {peer_label} {name}: {n} files, mean WER/CER {:.3}, RTF {:.3}; asr-router RTF {:.3}; speed ratio (peer time / ours) {:.2}",
                pe / n as f64,
                pc / pa,
                oc / oa,
                pc / oc
            );
            for (lang, (p, o, k)) in by_lang {
                println!(
                    "  {lang:<6} {k:>4} files: faster-whisper {:.3}, asr-router {:.3}",
                    p / k as f64,
                    o / k as f64
                );
            }
        }
    }
    Ok(peer_rows)
}
