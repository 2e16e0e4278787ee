//! `asr-router transcribe FILE`: one file through the same batch service as the REST API, so the
//! same routing and the same refusals (an unknown model, a language the model does not know).

use anyhow::Context;

use super::TranscribeArgs;
use asr_router::batch::formats::{self, ResponseFormat};
use asr_router::batch::pipeline::Admission;
use asr_router::batch::request::{TranscriptionParams, TranscriptionRequest};
use asr_router::batch::service::BatchService;
use asr_router::config::Config;
use asr_router::engine::Engines;
use asr_router::engine::recognizer::Task;

/// Transcribes `args.file` and prints the transcript on stdout (progress goes to stderr).
pub fn run(args: TranscribeArgs, cfg: &Config) -> anyhow::Result<()> {
    let TranscribeArgs {
        file,
        format,
        model,
        language,
    } = args;
    // `json` here is OpenAI's verbose_json (segments with times)
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
    let decoded = asr_router::audio::decode_bytes(bytes, cfg.batch.max_audio_s)
        .with_context(|| format!("decoding {}", file.display()))?;
    let engines = Engines::load(cfg).context("loading models (run scripts/fetch-models)")?;
    let second = std::sync::Arc::new(asr_router::finalize::SecondPass::from_config(
        &cfg.review,
        &cfg.engines.models_dir,
    )?);
    let service = BatchService::new(&engines, cfg, second);
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} windows {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let job = service
        .prepare(&req, decoded.samples.into(), Admission::Wait)
        .with_context(|| format!("transcribing {}", file.display()))?;
    if job.diarizes() {
        let timeline = super::runtime()?
            .block_on(job.run_diarized())
            .with_context(|| format!("transcribing {}", file.display()))?;
        println!("{}", serde_json::to_string_pretty(&formats::diarized_json(&timeline))?);
        return Ok(());
    }
    let t = super::runtime()?
        .block_on(job.run(|done, total, _| {
            if total > 1 {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
            }
        }))
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
    Ok(())
}
