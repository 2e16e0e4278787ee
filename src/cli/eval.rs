//! `asr-router eval --manifest M [--glossary G.json] [--review none|glossary|llm] …`: accuracy of
//! the finalizer chain on an eval manifest, raw and reviewed, per language group (see
//! [`asr_router::eval`] for the scoring).
//!
//! Every item is one request through the [`BatchService`] with the fields a REST client would
//! send: the glossary file's JSON as the inline `glossary` field, `review`, `languages`, and the
//! item's language as `language` unless told otherwise. Both texts come from the same decode:
//! the transcript's `raw_text` (the recognizer's) and `text` (reviewed).
//!
//! **Review latency.** The pipeline does not time its review step, so after each request the
//! command runs the same review ([`SecondPass::review`] with the request's own plan) once more
//! on `raw_text` and times that call. For one-window items (everything up to 30 s) this is
//! exactly the work the request did, and `review_reproduced` in the JSON says whether it gave
//! the same text; a long file was reviewed window by window, so there the number is the cost of
//! reviewing its whole text at once. One review of a fixed sentence runs before the first item,
//! so that one-time table loading (pinyin, word lists) is not charged to an item.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;

use asr_router::batch::pipeline::Admission;
use asr_router::batch::request::{TranscriptionParams, TranscriptionRequest};
use asr_router::batch::service::BatchService;
use asr_router::config::Config;
use asr_router::engine::Engines;
use asr_router::engine::recognizer::Task;
use asr_router::eval::report::{self, ItemResult, Report};
use asr_router::eval::score::{Counts, score, speaker_attributed};
use asr_router::eval::{Item, Manifest, Metric, Normalizer};
use asr_router::finalize::SecondPass;
use asr_router::meeting::STAGES;
use asr_router::meeting::params::MeetingParams;
use asr_router::meeting::pipeline::MeetingPipeline;
use asr_router::meeting::timeline::{Timeline, join_texts};

/// `eval`.
#[derive(clap::Args)]
pub struct EvalArgs {
    /// Manifest (JSON lines: `id`, `path` relative to the manifest, `lang`, `text`, `terms`).
    #[arg(long)]
    pub manifest: PathBuf,
    /// Glossary (the eval glossary schema), sent as the request's inline `glossary` field.
    #[arg(long)]
    pub glossary: Option<PathBuf>,
    /// Review to run after recognition.
    #[arg(long, default_value = "glossary", value_parser = ["none", "glossary", "llm"])]
    pub review: String,
    /// Model name or `auto`.
    #[arg(long, default_value = "auto")]
    pub model: String,
    /// The request's `glossary_prompt`: decode Chinese finals again with the glossary as the
    /// decoder prompt (`true`), or not (`false`); unset: the server's default.
    #[arg(long, value_parser = ["true", "false"])]
    pub glossary_prompt: Option<String>,
    /// OpenAI's `languages`: the languages the audio may be in (detection picks among them),
    /// e.g. `zh,en`.
    #[arg(long, value_delimiter = ',')]
    pub languages: Vec<String>,
    /// Send a single-language item's language as `language` (the default); code-switched items
    /// are always detected.
    #[arg(long, overrides_with = "no_language_hint")]
    pub lang_hint: bool,
    /// Send no `language` for any item: detect (among `--languages` if given).
    #[arg(long, overrides_with = "lang_hint")]
    pub no_language_hint: bool,
    /// Write per-item and summary results as JSON here.
    #[arg(long, value_name = "OUT.json")]
    pub json: Option<PathBuf>,
    /// Only the first N items (after `--group`).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Only items of these groups (`en`, `zh`, `zh+en`; meetings go by their language too).
    #[arg(long, value_delimiter = ',')]
    pub group: Vec<String>,
    /// Run each item through the meeting pipeline (VAD, speakers, per-speaker transcription,
    /// review with the meeting as context) instead of the batch service; raw and reviewed texts
    /// are the timeline's, joined. Only the manifest's meetings (rows with `segments`). Stage
    /// times go to stderr.
    #[arg(long)]
    pub meeting: bool,
}

impl EvalArgs {
    /// The `language` sent for `item`.
    fn hint(&self, item: &Item) -> Option<String> {
        // the two flags override each other: at most one is set, and neither means a hint
        let hint = self.lang_hint || !self.no_language_hint;
        Some(item.lang.clone()).filter(|_| hint && !item.code_switched())
    }
}

/// Runs the evaluation, prints the table on stdout (progress and logs go to stderr).
pub fn run(args: EvalArgs, cfg: &Config) -> anyhow::Result<()> {
    let manifest = Manifest::load(&args.manifest)?;
    let glossary = args
        .glossary
        .as_ref()
        .map(|p| std::fs::read_to_string(p).with_context(|| format!("reading glossary {}", p.display())))
        .transpose()?;
    let mut items: Vec<&Item> = manifest
        .items
        .iter()
        .filter(|i| args.group.is_empty() || args.group.contains(&i.lang))
        .filter(|i| !args.meeting || i.meeting)
        .collect();
    items.truncate(args.limit.unwrap_or(usize::MAX));
    anyhow::ensure!(
        !items.is_empty(),
        "no item of {} is in the groups asked for",
        args.manifest.display()
    );
    // every request is checked before any model is loaded: a bad glossary fails at once
    let requests = items
        .iter()
        .map(|i| request(&args, i, glossary.clone()))
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("checking the request fields (glossary {:?})", args.glossary))?;

    let engines = Engines::load(cfg).context("loading models (run scripts/fetch-models)")?;
    let second = Arc::new(SecondPass::from_config(&cfg.review, &cfg.engines.models_dir)?);
    let service = BatchService::new(&engines, cfg, second.clone());
    let normalizer = Normalizer::new(manifest.terms());
    eprintln!(
        "eval: {} items ({} without a reference and {} training-data rows skipped), review={}, glossary={}",
        items.len(),
        manifest.without_reference,
        manifest.training_data,
        args.review,
        args.glossary
            .as_ref()
            .map_or("none".into(), |p| p.display().to_string()),
    );

    let bar = indicatif::ProgressBar::new(items.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} items {elapsed} (eta {eta}) {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let meetings = args
        .meeting
        .then(|| MeetingPipeline::new(&engines, cfg, second.clone()));
    let results: Vec<ItemResult> = super::runtime()?.block_on(async {
        warm_up(&service, &requests[0], cfg).await?;
        let mut results = Vec::with_capacity(items.len());
        for (item, req) in items.iter().zip(&requests) {
            bar.set_message(item.id.clone());
            let r = match &meetings {
                Some(p) => evaluate_meeting(p, &args, &normalizer, item, glossary.as_deref()).await,
                None => evaluate(&service, cfg, &normalizer, item, req).await,
            }
            .with_context(|| format!("item {} ({})", item.id, item.audio.display()))?;
            results.push(r);
            bar.inc(1);
        }
        anyhow::Ok(results)
    })?;
    bar.finish_and_clear();

    let summary = report::summarize(&results);
    print!("{}", report::table(&summary));
    if let Some(out) = &args.json {
        let reproduced = results.iter().filter(|r| r.review_reproduced).count();
        let report = Report {
            settings: serde_json::json!({
                "manifest": args.manifest,
                "glossary": args.glossary,
                "review": args.review,
                "glossary_prompt": args.glossary_prompt,
                "model": args.model,
                "languages": args.languages,
                "language_hint": args.lang_hint || !args.no_language_hint,
                "groups": args.group,
                "limit": args.limit,
                "skipped_without_reference": manifest.without_reference,
                "skipped_training_data": manifest.training_data,
                "review_latency": "SecondPass::review re-run on raw_text after each request, timed",
                "review_reproduced": format!("{reproduced}/{}", results.len()),
                "pipeline": if args.meeting { "meeting" } else { "batch" },
            }),
            summary,
            items: results,
        };
        std::fs::write(out, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", out.display()))?;
    }
    Ok(())
}

/// The checked request for `item`, as REST would build it from the same fields.
fn request(args: &EvalArgs, item: &Item, glossary: Option<String>) -> anyhow::Result<TranscriptionRequest> {
    Ok(TranscriptionRequest::validate(
        TranscriptionParams {
            file: Some(item.audio.display().to_string()),
            model: Some(args.model.clone()),
            language: args.hint(item),
            languages: args.languages.clone(),
            glossary,
            review: Some(args.review.clone()),
            glossary_prompt: args.glossary_prompt.clone(),
            ..Default::default()
        },
        Task::Transcribe,
    )?)
}

/// Runs one review of a fixed sentence, so one-time table loading is not charged to an item.
async fn warm_up(service: &BatchService, req: &TranscriptionRequest, cfg: &Config) -> anyhow::Result<()> {
    let second = service.second_pass();
    let plan = second.plan(req.review(), cfg.engines.default_language.as_deref())?;
    second
        .review(
            &plan,
            "we deploy on cube netties, 训练任务迁移到升腾集群上了",
            &[],
            None,
        )
        .await;
    Ok(())
}

/// Transcribes and reviews one item, times its review and scores both texts.
async fn evaluate(
    service: &BatchService,
    cfg: &Config,
    normalizer: &Normalizer,
    item: &Item,
    req: &TranscriptionRequest,
) -> anyhow::Result<ItemResult> {
    let path = item.audio.clone();
    let max_s = cfg.batch.max_audio_s;
    let decoded = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        asr_router::audio::decode_bytes(bytes, max_s).with_context(|| format!("decoding {}", path.display()))
    })
    .await??;
    let t0 = Instant::now();
    let t = service
        .transcribe(req, decoded.samples.into(), Admission::Wait, |_, _, _| {})
        .await?;
    let request_s = t0.elapsed().as_secs_f64();

    let second = service.second_pass();
    let language = req.language().or(cfg.engines.default_language.as_deref());
    let plan = second.plan(req.review(), language)?;
    let t1 = Instant::now();
    let again = second.review(&plan, &t.raw_text, &[], None).await;
    let review_ms = t1.elapsed().as_secs_f64() * 1e3;

    let metric = Metric::for_lang(&item.lang);
    let raw = score(normalizer, metric, &item.text, &t.raw_text, &item.terms);
    let reviewed = score(normalizer, metric, &item.text, &t.text, &item.terms);
    Ok(ItemResult {
        id: item.id.clone(),
        group: item.group(),
        lang: item.lang.clone(),
        metric,
        engine: t.model.clone(),
        language: t.language.clone(),
        duration_s: t.duration_s,
        request_s,
        review_ms,
        review_reproduced: again.text == t.text,
        reference: item.text.clone(),
        edits: t.edits.len(),
        review_skipped: t.review_skipped.clone(),
        raw,
        reviewed,
        speaker_attributed: None,
        text: t.text,
        raw_text: t.raw_text,
    })
}

/// One item through the meeting pipeline in a scratch job folder; both texts from its timeline.
/// The review is not timed separately (`review_ms` is the review stage's time).
async fn evaluate_meeting(
    pipeline: &MeetingPipeline,
    args: &EvalArgs,
    normalizer: &Normalizer,
    item: &Item,
    glossary: Option<&str>,
) -> anyhow::Result<ItemResult> {
    let dir = std::env::temp_dir().join(format!("asr-router-eval-{}-{}", std::process::id(), item.id));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let ext = item
        .audio
        .extension()
        .map_or(String::new(), |e| format!(".{}", e.to_string_lossy()));
    let input = format!("input{ext}");
    std::fs::copy(&item.audio, dir.join(&input)).with_context(|| format!("copying {}", item.audio.display()))?;
    let review = match args.review.as_str() {
        "none" => asr_router::config::ReviewMode::None,
        "llm" => asr_router::config::ReviewMode::Llm,
        _ => asr_router::config::ReviewMode::Glossary,
    };
    let params = MeetingParams {
        input,
        language: args.hint(item),
        languages: args.languages.clone(),
        glossary: glossary
            .map(serde_json::from_str)
            .transpose()
            .context("the glossary is not JSON")?,
        review: Some(review),
        glossary_prompt: args.glossary_prompt.as_deref().map(|v| v == "true"),
        model: args.model.clone(),
        ..Default::default()
    };
    let t0 = Instant::now();
    let mut stage_s = Vec::new();
    for &stage in STAGES {
        let t = Instant::now();
        pipeline.run_stage(&dir, &params, stage, Arc::new(|_| {})).await?;
        stage_s.push((stage, t.elapsed().as_secs_f64()));
    }
    let request_s = t0.elapsed().as_secs_f64();
    let timeline: Timeline = serde_json::from_slice(&std::fs::read(dir.join("outputs/timeline.json"))?)?;
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!(
        "{}: {} speakers; stage seconds {}",
        item.id,
        timeline.speakers.len(),
        stage_s
            .iter()
            .map(|(s, t)| format!("{s} {t:.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let raw_text = join_texts(timeline.segments.iter().map(|s| s.raw_text.as_str()));
    let text = join_texts(timeline.segments.iter().map(|s| s.text.as_str()));
    let metric = Metric::for_lang(&item.lang);
    let raw = score(normalizer, metric, &item.text, &raw_text, &item.terms);
    let reviewed = score(normalizer, metric, &item.text, &text, &item.terms);
    let speaker_attributed = (!item.speaker_texts.is_empty()).then(|| {
        let by_speaker: Vec<String> = timeline
            .speakers
            .iter()
            .map(|sp| {
                join_texts(
                    timeline
                        .segments
                        .iter()
                        .filter(|s| s.speaker == sp.id)
                        .map(|s| s.text.as_str()),
                )
            })
            .collect();
        let refs: Vec<&str> = item.speaker_texts.iter().map(String::as_str).collect();
        let hyps: Vec<&str> = by_speaker.iter().map(String::as_str).collect();
        let (errors, units) = speaker_attributed(normalizer, metric, &refs, &hyps);
        eprintln!(
            "{}: speaker-attributed cp{} {:.1} % ({} {:.1} %), {} reference speakers, {} heard",
            item.id,
            metric.label(),
            100.0 * errors as f64 / units.max(1) as f64,
            metric.label(),
            100.0 * reviewed.error_rate(),
            refs.len(),
            hyps.len()
        );
        Counts {
            errors,
            units,
            ..Default::default()
        }
    });
    Ok(ItemResult {
        id: item.id.clone(),
        group: item.group(),
        lang: item.lang.clone(),
        metric,
        engine: timeline.models.join("+"),
        language: timeline.language.clone(),
        duration_s: timeline.duration_s,
        request_s,
        review_ms: stage_s
            .iter()
            .find(|(s, _)| *s == "review")
            .map_or(0.0, |(_, t)| t * 1e3),
        review_reproduced: true,
        reference: item.text.clone(),
        edits: timeline.segments.iter().map(|s| s.edits.len()).sum(),
        review_skipped: Vec::new(),
        raw,
        reviewed,
        speaker_attributed,
        text,
        raw_text,
    })
}
