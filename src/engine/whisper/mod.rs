//! Whisper on CTranslate2 (through `ct2rs`'s low-level binding): batched decoding of up to 30 s
//! per utterance, language detection, initial prompts, translation, segment timestamps from
//! Whisper's timestamp tokens, and word timestamps from CTranslate2's cross-attention alignment.

mod tokens;

use std::path::Path;
use std::sync::Mutex;

use ct2rs::sys::{self, StorageView};

pub use crate::config::ComputeType;
use crate::engine::recognizer::{
    DecodeOptions, EngineError, Hypothesis, ModelAbilities, Recognizer, Segment, Task, Utterance, Word,
};
use crate::kernels::whisper_mel::{N_FRAMES, N_SAMPLES, WhisperMel};
use tokens::WhisperVocab;

/// Seconds per timestamp token step and per encoder frame pair.
const TIME_PRECISION: f32 = 0.02;

/// The CTranslate2 compute type of a configured one.
fn to_ct2(c: ComputeType) -> sys::ComputeType {
    match c {
        ComputeType::Int8 => sys::ComputeType::INT8,
        ComputeType::Float32 => sys::ComputeType::FLOAT32,
        ComputeType::Int8Float32 => sys::ComputeType::INT8_FLOAT32,
        ComputeType::Auto => sys::ComputeType::AUTO,
    }
}

/// Load-time settings of a Whisper engine.
#[derive(Debug, Clone)]
pub struct WhisperSettings {
    /// Name shown in `/v1/models`.
    pub name: String,
    /// Compute type.
    pub compute_type: ComputeType,
    /// Intra-op threads.
    pub threads: usize,
    /// Beam size (1 = greedy).
    pub beam_size: usize,
    /// Largest batch of utterances decoded together.
    pub max_batch: usize,
}

/// A loaded Whisper model.
pub struct WhisperEngine {
    settings: WhisperSettings,
    model: Mutex<sys::Whisper>,
    vocab: WhisperVocab,
    mel: WhisperMel,
    multilingual: bool,
}

impl WhisperEngine {
    /// Loads a CTranslate2 Whisper directory (`model.bin`, `config.json`, `tokenizer.json`).
    pub fn load(dir: &Path, settings: WhisperSettings) -> Result<Self, EngineError> {
        let load_err = |reason: String| EngineError::Load {
            model: dir.display().to_string(),
            reason,
        };
        if !dir.join("model.bin").exists() {
            return Err(load_err("model.bin not found (run scripts/fetch-models)".into()));
        }
        let cfg = sys::Config {
            compute_type: to_ct2(settings.compute_type),
            num_threads_per_replica: settings.threads.max(1),
            ..Default::default()
        };
        let model = sys::Whisper::new(dir, cfg).map_err(|e| load_err(format!("{e:#}")))?;
        let vocab = WhisperVocab::load(dir).map_err(load_err)?;
        let multilingual = model.is_multilingual();
        let mel = WhisperMel::new(model.n_mels());
        Ok(Self {
            settings,
            model: Mutex::new(model),
            vocab,
            mel,
            multilingual,
        })
    }

    /// Whether the model knows more than English.
    pub fn is_multilingual(&self) -> bool {
        self.multilingual
    }

    /// Decodes up to `max_batch` utterances of at most 30 s each.
    fn decode_windows(&self, windows: &[(&[f32], &DecodeOptions)]) -> Result<Vec<Hypothesis>, EngineError> {
        let inf = |e: anyhow::Error| EngineError::Inference(format!("{e:#}"));
        let n = windows.len();
        let n_mels = self.mel.n_mels();
        // Drafts (live partials) use an encoder window of the audio plus 2 s instead of 30 s: several
        // times faster; a token cap and an n-gram block stop the loops short windows invite.
        let draft = windows.iter().all(|w| w.1.draft);
        let short = windows.iter().all(|w| w.1.draft || w.1.short_window);
        let longest = windows.iter().map(|w| w.0.len()).max().unwrap_or(0);
        let frames = if short {
            (longest / 160 + 200).min(N_FRAMES)
        } else {
            N_FRAMES
        };
        let mut feats = vec![0f32; n * n_mels * frames];
        for (i, (samples, _)) in windows.iter().enumerate() {
            let chunk = &mut feats[i * n_mels * frames..(i + 1) * n_mels * frames];
            self.mel.compute_frames_into(samples, chunk, frames);
        }
        let model = self
            .model
            .lock()
            .map_err(|_| EngineError::Inference("whisper model lock poisoned".into()))?;
        let t_mel = std::time::Instant::now();
        let features = StorageView::new(&[n, n_mels, frames], &mut feats, Default::default()).map_err(inf)?;
        let encoded = model.encode(&features, false).map_err(inf)?;
        let t_enc = t_mel.elapsed();

        // language per item: forced, English-only, or detected
        let mut langs: Vec<Option<String>> = windows
            .iter()
            .map(|(_, o)| {
                if self.multilingual {
                    o.language.clone()
                } else {
                    Some("en".into())
                }
            })
            .collect();
        if langs.iter().any(|l| l.is_none()) {
            let detected = model.detect_language(&encoded).map_err(inf)?;
            for (l, d) in langs.iter_mut().zip(detected) {
                if l.is_none() {
                    *l = d.first().and_then(tokens::language_of_detection);
                }
            }
        }

        let want_words = windows.iter().any(|(_, o)| o.word_timestamps);
        let prompts: Vec<Vec<String>> = windows
            .iter()
            .zip(&langs)
            .map(|((_, o), lang)| {
                let mut p = self
                    .vocab
                    .prompt(self.multilingual, lang.as_deref(), o.task, o.prompt.as_deref());
                if draft {
                    p.push("<|notimestamps|>".into());
                }
                p
            })
            .collect();
        let secs = longest as f32 / 16_000.0;
        let opts = sys::WhisperOptions {
            beam_size: if draft { 1 } else { self.settings.beam_size.max(1) },
            // drafts: a tight cap (they are redone 200 ms later); short-window finals: room for fast
            // speech (~6 tokens/s) but still a bound on the loops a short window can fall into
            max_length: if draft {
                (8.0 + 4.0 * secs) as usize
            } else if short {
                ((16.0 + 8.0 * secs) as usize).min(448)
            } else {
                448
            },
            no_repeat_ngram_size: if short { 3 } else { 0 },
            repetition_penalty: if short { 1.05 } else { 1.0 },
            sampling_temperature: windows[0].1.temperature.max(0.0).max(1e-6),
            sampling_topk: if windows[0].1.temperature > 0.0 { 0 } else { 1 },
            return_no_speech_prob: true,
            // the sequence's score gives its average token log-probability (below)
            return_scores: true,
            ..Default::default()
        };
        let results = model.generate(&encoded, &prompts, &opts).map_err(inf)?;
        tracing::debug!(
            n,
            frames,
            draft,
            max_length = opts.max_length,
            tokens = results
                .iter()
                .map(|r| r.sequences_ids.first().map_or(0, Vec::len))
                .max()
                .unwrap_or(0),
            encode_ms = t_enc.as_millis() as u64,
            total_ms = t_mel.elapsed().as_millis() as u64,
            "whisper run"
        );

        let mut hyps = Vec::with_capacity(n);
        let mut aligned: Vec<(usize, Vec<usize>)> = Vec::new();
        for (i, res) in results.into_iter().enumerate() {
            let ids = res.sequences_ids.into_iter().next().unwrap_or_default();
            let duration = windows[i].0.len() as f32 / 16_000.0;
            let mut h = self.vocab.hypothesis(&ids, duration);
            h.language = langs[i].clone();
            // CTranslate2 returns the cumulative log-probability divided by length^length_penalty;
            // recover the average over the tokens plus the end-of-text token, as openai-whisper
            // and faster-whisper report it. Every segment of the window shares the window's values.
            let avg_logprob = res.scores.first().map(|&score| {
                let n = ids.len() as f32;
                score * n.powf(opts.length_penalty) / (n + 1.0)
            });
            for s in &mut h.segments {
                s.temperature = Some(windows[i].1.temperature.max(0.0));
                s.avg_logprob = avg_logprob.filter(|v| v.is_finite());
                s.no_speech_prob = Some(res.no_speech_prob);
            }
            if res.no_speech_prob > 0.6 && h.text.split_whitespace().count() <= 2 {
                // Whisper's own no-speech rule: hallucinations on silence are dropped.
                h = Hypothesis {
                    language: h.language,
                    ..Default::default()
                };
            }
            if want_words && windows[i].1.word_timestamps && !h.text.is_empty() {
                aligned.push((i, self.vocab.text_ids(&ids)));
            }
            hyps.push(h);
        }
        drop(features);

        if !aligned.is_empty() {
            // alignment needs the start sequence of one prompt shape; align each item alone
            for (i, text_ids) in aligned {
                let start: Vec<usize> = self
                    .vocab
                    .sot_ids(self.multilingual, langs[i].as_deref(), windows[i].1.task);
                // CTranslate2 counts mel frames here (it halves them for the encoder itself)
                let frames = (windows[i].0.len().min(N_SAMPLES) / 160).clamp(1, N_FRAMES);
                let mut one = vec![0f32; n_mels * N_FRAMES];
                self.mel.compute_into(windows[i].0, &mut one);
                let f1 = StorageView::new(&[1, n_mels, N_FRAMES], &mut one, Default::default()).map_err(inf)?;
                let enc1 = model.encode(&f1, false).map_err(inf)?;
                let al = model
                    .align(&enc1, &start, std::slice::from_ref(&text_ids), &[frames], 7)
                    .map_err(inf)?;
                if let Some(a) = al.into_iter().next() {
                    let pairs: Vec<(i64, i64)> = a.alignments.iter().map(|x| (x.token_x, x.frame_x)).collect();
                    hyps[i].words = self.vocab.words(&text_ids, &pairs);
                }
            }
        }
        Ok(hyps)
    }

    fn recognize_one(&self, u: &Utterance) -> Result<Hypothesis, EngineError> {
        // Longer than 30 s: consecutive windows, stitched with time offsets.
        let mut out = Hypothesis::default();
        for (k, chunk) in u.samples.chunks(N_SAMPLES).enumerate() {
            let offset = k as f32 * 30.0;
            let mut h = self.decode_windows(&[(chunk, &u.options)])?.remove(0);
            shift(&mut h, offset);
            merge(&mut out, h);
        }
        Ok(out)
    }
}

fn shift(h: &mut Hypothesis, by: f32) {
    for s in &mut h.segments {
        s.start += by;
        s.end += by;
    }
    for w in &mut h.words {
        w.start += by;
        w.end += by;
    }
}

fn merge(into: &mut Hypothesis, h: Hypothesis) {
    if !h.text.is_empty() {
        if !into.text.is_empty() {
            into.text.push(' ');
        }
        into.text.push_str(&h.text);
    }
    into.language = into.language.take().or(h.language);
    into.segments.extend(h.segments);
    into.words.extend(h.words);
}

impl Recognizer for WhisperEngine {
    fn name(&self) -> &str {
        &self.settings.name
    }

    fn recognize(&self, batch: &[Utterance]) -> Vec<Result<Hypothesis, EngineError>> {
        // Finals, short-window finals and drafts go through separate batched runs (their encoder
        // windows and search settings differ); utterances over 30 s or with a different
        // temperature are decoded alone.
        let mut out: Vec<Option<Result<Hypothesis, EngineError>>> = (0..batch.len()).map(|_| None).collect();
        for kind in [(false, false), (false, true), (true, false), (true, true)] {
            let group: Vec<usize> = (0..batch.len())
                .filter(|&i| {
                    let o = &batch[i].options;
                    batch[i].samples.len() <= N_SAMPLES && (o.draft, o.short_window) == kind
                })
                .filter(|&i| batch[i].options.temperature == batch[0].options.temperature)
                .collect();
            if group.is_empty() {
                continue;
            }
            let windows: Vec<(&[f32], &DecodeOptions)> = group
                .iter()
                .map(|&i| (&batch[i].samples[..], &batch[i].options))
                .collect();
            match self.decode_windows(&windows) {
                Ok(hs) => {
                    for (i, h) in group.iter().zip(hs) {
                        out[*i] = Some(Ok(h));
                    }
                }
                Err(e) => {
                    let msg = e.to_string();
                    for i in &group {
                        out[*i] = Some(Err(EngineError::Inference(msg.clone())));
                    }
                }
            }
        }
        batch
            .iter()
            .zip(out)
            .map(|(u, r)| r.unwrap_or_else(|| self.recognize_one(u)))
            .collect()
    }

    fn max_batch(&self) -> usize {
        self.settings.max_batch.max(1)
    }

    fn abilities(&self) -> ModelAbilities {
        if self.multilingual {
            ModelAbilities {
                languages: None,
                translation: true,
            }
        } else {
            ModelAbilities::ENGLISH_ONLY
        }
    }
}

/// Keeps `Task` in the public signature used by the vocabulary helpers.
pub(crate) fn task_token(task: Task) -> &'static str {
    match task {
        Task::Transcribe => "<|transcribe|>",
        Task::Translate => "<|translate|>",
    }
}

#[allow(unused_imports)]
use {Segment as _, Word as _};
