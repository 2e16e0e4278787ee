//! Whisper on CTranslate2 (through `ct2rs`'s low-level binding): batched decoding of up to 30 s
//! per utterance (a longer one is decoded alone, in windows cut in the quietest 200 ms of each
//! window's last 5 s, [`crate::audio::quiet`]), language detection, initial prompts,
//! translation, segment timestamps from Whisper's timestamp tokens, and word timestamps from
//! CTranslate2's cross-attention alignment. The encoder output of a single full-window
//! utterance is kept for its next decode ([`encoder_cache`]): a final decoded again with the
//! glossary prompt, its terms scored or its words aligned pays for one encoder pass, not three.

mod draft_sureness;
pub mod encoder_cache;
mod guards;
mod repetition;
mod tokens;

use std::path::Path;
use std::sync::Mutex;

use ct2rs::sys::{self, StorageView};

use crate::audio::quiet::quiet_chunks;
pub use crate::config::ComputeType;
use crate::engine::recognizer::{
    DecodeOptions, EngineError, Hypothesis, ModelAbilities, Recognizer, Segment, Task, TextScore, Utterance, Word,
};
use crate::kernels::whisper_mel::{N_FRAMES, N_SAMPLES, WhisperMel};
use encoder_cache::EncoderCache;
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

/// Seeds CTranslate2's sampling for every model of the process. CTranslate2 keeps one generator
/// per thread, seeded when that thread first samples, so this must run before any decode; each
/// model's decoding thread then draws the same sequence in every process started with this seed.
pub fn seed_sampling(seed: u32) {
    sys::set_random_seed(seed);
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
    /// Decodes that may run at once, each on its own copy of the weights with `threads` threads
    /// (CTranslate2 replicas; one per scheduler worker).
    pub replicas: usize,
}

/// A loaded Whisper model.
pub struct WhisperEngine {
    settings: WhisperSettings,
    /// Thread-safe: CTranslate2 queues each call to a free replica.
    model: sys::Whisper,
    encoder_cache: Mutex<EncoderCache>,
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
            // one entry per replica; CTranslate2 sends each call to a free one
            device_indices: vec![0; settings.replicas.max(1)],
            ..Default::default()
        };
        let model = sys::Whisper::new(dir, cfg).map_err(|e| load_err(format!("{e:#}")))?;
        let vocab = WhisperVocab::load(dir).map_err(load_err)?;
        let multilingual = model.is_multilingual();
        let mel = WhisperMel::new(model.n_mels());
        Ok(Self {
            settings,
            model,
            encoder_cache: Mutex::new(EncoderCache::default()),
            vocab,
            mel,
            multilingual,
        })
    }

    /// Decodes this engine can run at once (its CTranslate2 replicas).
    pub fn replicas(&self) -> usize {
        self.model.num_replicas()
    }

    /// Whether the model knows more than English.
    pub fn is_multilingual(&self) -> bool {
        self.multilingual
    }

    /// Decodes up to `max_batch` utterances of at most 30 s each (one group of
    /// [`Recognizer::recognize`]: the same draft/short-window kind, temperature and beam size).
    fn decode_windows(&self, windows: &[(&[f32], &DecodeOptions)]) -> Result<Vec<Hypothesis>, EngineError> {
        let inf = |e: anyhow::Error| EngineError::Inference(format!("{e:#}"));
        let n = windows.len();
        let n_mels = self.mel.n_mels();
        // Drafts (live partials) use an encoder window of the audio plus 2 s instead of 30 s: several
        // times faster; a token cap and an n-gram block stop the loops short windows invite.
        let draft = windows.iter().all(|w| w.1.draft);
        let short = windows.iter().all(|w| w.1.draft || w.1.short_window);
        // windows are grouped by their token cap (`recognize`), so the first's is every window's
        let max_tokens = windows.first().and_then(|w| w.1.max_tokens);
        let longest = windows.iter().map(|w| w.0.len()).max().unwrap_or(0);
        let frames = if short {
            (longest / 160 + 200).min(N_FRAMES)
        } else {
            N_FRAMES
        };
        let item_len = n_mels * frames;
        // one utterance in a full window: its encoding may be cached (a final decoded again)
        let cacheable = n == 1 && !short;
        let cached = if cacheable {
            self.cached(windows[0].0, frames)
        } else {
            None
        };
        let model = &self.model;
        let t_mel = std::time::Instant::now();
        let from_cache = cached.is_some();
        let mut t_feats = std::time::Duration::ZERO;
        let encoded = match cached {
            Some(e) => e,
            None => {
                let mut feats = vec![0f32; n * item_len];
                for (i, (samples, _)) in windows.iter().enumerate() {
                    self.mel
                        .compute_frames_into(samples, &mut feats[i * item_len..(i + 1) * item_len], frames);
                }
                t_feats = t_mel.elapsed();
                encode(model, &mut feats, [n, n_mels, frames]).map_err(inf)?
            }
        };
        let t_enc = t_mel.elapsed();

        let langs = self.languages(model, &encoded, windows).map_err(inf)?;
        let prompts: Vec<Vec<String>> = windows
            .iter()
            .zip(&langs)
            .map(|((_, o), lang)| {
                let mut p = self
                    .vocab
                    .prompt(self.multilingual, lang.as_deref(), o.task, o.prompt.as_deref());
                // drafts go without timestamp tokens, unless they are asked for timed words: a
                // draft is never aligned, its segments' timestamps time it (bounded partials,
                // `crate::realtime::tail`)
                if draft && !o.word_timestamps {
                    p.push("<|notimestamps|>".into());
                }
                p
            })
            .collect();
        let secs = longest as f32 / 16_000.0;
        // tokens before <|startoftranscript|>: <|startofprev|> and the previous text
        let previous = prompts
            .iter()
            .map(|p| p.iter().position(|t| t == "<|startoftranscript|>").unwrap_or(0))
            .max()
            .unwrap_or(0);
        let base = sys::WhisperOptions {
            beam_size: if draft {
                1
            } else {
                windows[0].1.beam_size.unwrap_or(self.settings.beam_size).max(1)
            },
            // drafts: a tight cap (they are redone 200 ms later); short-window finals: room for fast
            // speech (~6 tokens/s) but still a bound on the loops a short window can fall into.
            // CTranslate2 counts the previous-text prompt in this length (a cap below it made the
            // decoder read past its buffer: a segfault), so the prompt is added to both caps.
            max_length: if draft {
                // timed drafts (bounded partials): room for two timestamp tokens per segment
                let timed = if windows.iter().any(|w| w.1.word_timestamps) {
                    4
                } else {
                    0
                };
                (8.0 + 4.0 * secs) as usize + timed + previous
            } else if short {
                (((16.0 + 8.0 * secs) as usize) + previous).min(448)
            } else if let Some(cap) = max_tokens {
                (cap + previous).min(448)
            } else {
                448
            },
            no_repeat_ngram_size: if short { 3 } else { 0 },
            repetition_penalty: if short { 1.05 } else { 1.0 },
            return_no_speech_prob: true,
            // the sequence's score gives its average token log-probability (below)
            return_scores: true,
            ..Default::default()
        };

        // Temperature fallback: every window is decoded at the request's temperature; a window
        // whose text loops or whose decode is unsure is decoded again, hotter, until one passes.
        // Only the failing windows of the batch are decoded again. Drafts get one attempt.
        let temps = if draft {
            vec![windows[0].1.temperature.max(0.0)]
        } else {
            guards::temperatures(windows[0].1.temperature)
        };
        let mut chosen: Vec<Option<Decoded>> = (0..n).map(|_| None).collect();
        let mut failed: Vec<Vec<Decoded>> = (0..n).map(|_| Vec::new()).collect();
        let mut pending: Vec<usize> = (0..n).collect();
        for &t in &temps {
            if pending.is_empty() {
                break;
            }
            let opts = at_temperature(&base, t, draft);
            let results = if pending.len() == n {
                model.generate(&encoded, &prompts, &opts)
            } else {
                // the encoder output cannot be sliced through the binding: encode the subset again
                let mut sub: Vec<f32> = vec![0f32; pending.len() * item_len];
                for (k, &i) in pending.iter().enumerate() {
                    self.mel
                        .compute_frames_into(windows[i].0, &mut sub[k * item_len..(k + 1) * item_len], frames);
                }
                let enc = encode(model, &mut sub, [pending.len(), n_mels, frames]).map_err(inf)?;
                let sub_prompts: Vec<Vec<String>> = pending.iter().map(|&i| prompts[i].clone()).collect();
                model.generate(&enc, &sub_prompts, &opts)
            }
            .map_err(inf)?;
            let mut still = Vec::new();
            for (&i, res) in pending.iter().zip(results) {
                let d = self.measure(res, t, opts.length_penalty, windows[i].1.task);
                if draft || !d.attempt.needs_fallback() {
                    chosen[i] = Some(d);
                } else {
                    tracing::debug!(
                        item = i,
                        temperature = t,
                        compression_ratio = d.attempt.compression_ratio,
                        avg_logprob = d.attempt.avg_logprob,
                        untranslated = d.attempt.untranslated,
                        "whisper window fails its thresholds"
                    );
                    failed[i].push(d);
                    still.push(i);
                }
            }
            pending = still;
        }
        for i in pending {
            let k = guards::best_of_failed(&failed[i].iter().map(|d| d.attempt).collect::<Vec<_>>()).unwrap_or(0);
            chosen[i] = Some(failed[i].swap_remove(k));
        }
        // a cacheable window's encoding goes to the cache (its next decode takes it from there)
        let encoded = if cacheable {
            self.keep_encoded(windows[0].0, frames, encoded);
            None
        } else {
            Some(encoded)
        };
        tracing::debug!(
            n,
            frames,
            draft,
            beam_size = base.beam_size,
            max_length = base.max_length,
            mel_ms = t_feats.as_millis() as u64,
            encode_ms = t_enc.as_millis() as u64,
            from_cache,
            total_ms = t_mel.elapsed().as_millis() as u64,
            "whisper run"
        );

        let want_words = windows.iter().any(|(_, o)| o.word_timestamps);
        let mut hyps = Vec::with_capacity(n);
        let mut aligned: Vec<(usize, Vec<usize>)> = Vec::new();
        let mut draft_text_ids: Vec<Vec<usize>> = Vec::new();
        for (i, d) in chosen.into_iter().enumerate() {
            let d = d.unwrap_or_default();
            let duration = windows[i].0.len() as f32 / 16_000.0;
            let mut h = self.vocab.hypothesis(&d.ids, duration);
            h.language = langs[i].clone();
            let a = d.attempt;
            for s in &mut h.segments {
                // every segment of the window shares the window's measurements
                s.temperature = Some(a.temperature);
                s.avg_logprob = Some(a.avg_logprob).filter(|v| v.is_finite());
                s.no_speech_prob = Some(a.no_speech_prob);
                s.compression_ratio = Some(a.compression_ratio);
            }
            if a.is_silence() {
                // the no-speech rule: what Whisper writes over silence is dropped
                h = Hypothesis {
                    language: h.language,
                    ..Default::default()
                };
            }
            let mut text_ids = self.vocab.text_ids(&d.ids);
            if !draft && trim_repetitions(&mut h) {
                text_ids = self.vocab.encode_text(&h.text);
            }
            if draft {
                draft_text_ids.push(if h.text.is_empty() { Vec::new() } else { text_ids });
            } else if want_words && windows[i].1.word_timestamps && !h.text.is_empty() {
                aligned.push((i, text_ids));
            }
            hyps.push(h);
        }
        if let Some(encoded) = encoded.as_ref().filter(|_| draft) {
            match self.draft_word_probabilities(model, encoded, windows, &langs, &draft_text_ids, frames) {
                Ok(probs) => {
                    for (h, p) in hyps.iter_mut().zip(probs) {
                        h.word_probabilities = p;
                    }
                }
                // the drafts stand without them: the stabiliser falls back to agreement
                Err(e) => tracing::warn!(error = %format!("{e:#}"), "word probabilities of drafts failed"),
            }
        }

        if !aligned.is_empty() {
            // alignment needs the start sequence of one prompt shape; align each item alone
            for (i, text_ids) in aligned {
                let start: Vec<usize> = self
                    .vocab
                    .sot_ids(self.multilingual, langs[i].as_deref(), windows[i].1.task);
                let al = self
                    .with_full_window(model, windows[i].0, |enc1, frames| {
                        model.align(enc1, &start, std::slice::from_ref(&text_ids), &[frames], 7)
                    })
                    .map_err(inf)?;
                if let Some(a) = al.into_iter().next() {
                    let pairs: Vec<(i64, i64)> = a.alignments.iter().map(|x| (x.token_x, x.frame_x)).collect();
                    hyps[i].words = self.vocab.words(&text_ids, &pairs);
                }
            }
        }
        Ok(hyps)
    }

    /// Runs `f` on the encoder output of `samples` (at most 30 s) in one full 30 s window and on
    /// its length in mel frames, as CTranslate2's alignment counts them (it halves them for the
    /// encoder itself). The output comes from the encoder cache when these samples were just
    /// encoded, and is kept there afterwards.
    fn with_full_window<R>(
        &self,
        model: &sys::Whisper,
        samples: &[f32],
        f: impl FnOnce(&StorageView<'static>, usize) -> anyhow::Result<R>,
    ) -> anyhow::Result<R> {
        let frames = (samples.len().min(N_SAMPLES) / 160).clamp(1, N_FRAMES);
        let encoded = match self.cached(samples, N_FRAMES) {
            Some(e) => e,
            None => {
                let n_mels = self.mel.n_mels();
                let mut feats = vec![0f32; n_mels * N_FRAMES];
                self.mel.compute_into(samples, &mut feats);
                encode(model, &mut feats, [1, n_mels, N_FRAMES])?
            }
        };
        let answer = f(&encoded, frames);
        self.keep_encoded(samples, N_FRAMES, encoded);
        answer
    }

    /// The cached encoder output of `samples` in a window of `frames`, taken out of the cache.
    fn cached(&self, samples: &[f32], frames: usize) -> Option<StorageView<'static>> {
        self.encoder_cache.lock().ok()?.take(samples, frames)
    }

    /// Keeps the encoder output of `samples` in a window of `frames` for the next decode of them.
    fn keep_encoded(&self, samples: &[f32], frames: usize, encoded: StorageView<'static>) {
        if let Ok(mut c) = self.encoder_cache.lock() {
            c.put(samples, frames, encoded);
        }
    }

    /// Encoder passes the cache saved so far (see [`encoder_cache`]).
    pub fn encoder_cache_hits(&self) -> u64 {
        self.encoder_cache.lock().map(|c| c.hits()).unwrap_or(0)
    }

    /// Each text scored as the transcript of `samples` (at most 30 s; one encoder pass over the
    /// full window, then one teacher-forced decoder pass per text through CTranslate2's
    /// alignment, which reports each text token's probability and its frames, so the text's
    /// words are timed by the same pass). The decoder
    /// starts with `options.prompt` as the previous text and the language of `options` (English
    /// for an English-only model, detected when none is given).
    fn score_windows(
        &self,
        samples: &[f32],
        options: &DecodeOptions,
        texts: &[String],
    ) -> Result<Vec<TextScore>, EngineError> {
        let inf = |e: anyhow::Error| EngineError::Inference(format!("{e:#}"));
        if samples.len() > N_SAMPLES {
            return Err(EngineError::InvalidInput("scoring takes at most 30 s of audio".into()));
        }
        let model = &self.model;
        self.with_full_window(model, samples, |encoded, frames| {
            let lang = self.languages(model, encoded, &[(samples, options)])?.pop().flatten();
            let mut start = self.vocab.previous_ids(options.prompt.as_deref());
            start.extend(self.vocab.sot_ids(self.multilingual, lang.as_deref(), options.task));
            let mut scores = Vec::with_capacity(texts.len());
            for t in texts {
                let ids = self.vocab.encode_text(t);
                if ids.is_empty() {
                    scores.push(TextScore::default());
                    continue;
                }
                let al = model.align(encoded, &start, std::slice::from_ref(&ids), &[frames], 7)?;
                let Some(a) = al.into_iter().next() else {
                    scores.push(TextScore::default());
                    continue;
                };
                let pairs: Vec<(i64, i64)> = a.alignments.iter().map(|x| (x.token_x, x.frame_x)).collect();
                scores.push(TextScore {
                    logprob: a.text_token_probs.iter().map(|p| p.max(1e-12).ln()).sum(),
                    words: self.vocab.words(&ids, &pairs),
                });
            }
            Ok(scores)
        })
        .map_err(inf)
    }

    /// The language of each window: forced by the request, English for an English-only model,
    /// or detected — among the request's `languages` when it lists some.
    fn languages(
        &self,
        model: &sys::Whisper,
        encoded: &StorageView,
        windows: &[(&[f32], &DecodeOptions)],
    ) -> anyhow::Result<Vec<Option<String>>> {
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
            let detected = model.detect_language(encoded)?;
            for ((l, d), (_, o)) in langs.iter_mut().zip(detected).zip(windows) {
                if l.is_none() {
                    let all: Vec<(String, f32)> = d.iter().filter_map(tokens::detection).collect();
                    *l = guards::pick_language(&all, o.languages.as_deref().unwrap_or_default());
                }
            }
        }
        Ok(langs)
    }

    /// The sequence of one generation result to keep (the most probable of the sampled
    /// candidates) and what the guards need to know about it.
    fn measure(&self, res: sys::WhisperGenerationResult, temperature: f32, length_penalty: f32, task: Task) -> Decoded {
        let best = (0..res.sequences_ids.len())
            .max_by(|&a, &b| {
                let s = |k: usize| res.scores.get(k).copied().unwrap_or(f32::NEG_INFINITY);
                s(a).total_cmp(&s(b))
            })
            .unwrap_or(0);
        let ids = res.sequences_ids.into_iter().nth(best).unwrap_or_default();
        // CTranslate2 returns the cumulative log-probability divided by length^length_penalty;
        // recover the average over the tokens plus the end-of-text token, as openai-whisper
        // and faster-whisper report it.
        let len = ids.len() as f32;
        let avg_logprob = res.scores.get(best).map_or(f32::NEG_INFINITY, |&score| {
            score * len.powf(length_penalty) / (len + 1.0)
        });
        let text = self.vocab.decode(&self.vocab.text_ids(&ids));
        Decoded {
            attempt: guards::Attempt {
                temperature,
                avg_logprob,
                compression_ratio: guards::compression_ratio(text.trim()),
                no_speech_prob: res.no_speech_prob,
                untranslated: task == Task::Translate && guards::untranslated(&text),
            },
            ids,
        }
    }

    fn recognize_one(&self, u: &Utterance) -> Result<Hypothesis, EngineError> {
        // Longer than 30 s (a long manual commit, a long upstream request): consecutive windows
        // cut in the quietest 200 ms of each window's last 5 s, so a cut falls between words,
        // stitched with time offsets.
        let sr = crate::audio::SAMPLE_RATE as usize;
        let mut out = Hypothesis::default();
        for (start, end) in quiet_chunks(&u.samples, N_SAMPLES, 5 * sr, sr / 100, sr / 5) {
            let offset = start as f32 / sr as f32;
            let mut h = self.decode_windows(&[(&u.samples[start..end], &u.options)])?.remove(0);
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

/// What utterances of one batched run share: draft, short window, token cap, and
/// the position of `<|startoftranscript|>` in their prompts.
type RunKey = (bool, bool, Option<usize>, usize);

/// One decode attempt of a window: its generated ids and what the guards measured.
#[derive(Debug, Default)]
struct Decoded {
    ids: Vec<usize>,
    attempt: guards::Attempt,
}

/// Runs the encoder over `feats` of `shape` (batch, mels, frames). The features are only read
/// during the call; the output is a tensor of its own.
fn encode(model: &sys::Whisper, feats: &mut [f32], shape: [usize; 3]) -> anyhow::Result<StorageView<'static>> {
    let features = StorageView::new(&shape, feats, Default::default())?;
    model.encode(&features, false)
}

/// Search settings of an attempt at temperature `t`: beam search (or greedy) at 0; at a higher
/// temperature, [`guards::BEST_OF`] candidates (one for a draft) sampled from the whole
/// distribution.
fn at_temperature(base: &sys::WhisperOptions, t: f32, draft: bool) -> sys::WhisperOptions {
    let mut o = base.clone();
    if t > 0.0 {
        o.beam_size = 1;
        o.num_hypotheses = if draft { 1 } else { guards::BEST_OF };
        o.sampling_topk = 0;
        o.sampling_temperature = t;
    } else {
        o.num_hypotheses = 1;
        o.sampling_topk = 1;
        o.sampling_temperature = 1.0;
    }
    o
}

/// Cuts runaway repetitions (see [`repetition`]) out of the hypothesis's segments and text.
/// Returns whether anything was cut.
fn trim_repetitions(h: &mut Hypothesis) -> bool {
    let runs = repetition::find_runaways(&h.text);
    if runs.is_empty() {
        return false;
    }
    tracing::debug!(
        runs = runs.len(),
        unit = runs[0].unit,
        repeats = runs[0].repeats,
        "runaway repetition cut from a whisper window"
    );
    // `text` is the segments' texts joined by one space: cut each segment by its own byte span
    let mut at = 0;
    for s in &mut h.segments {
        let span = at..at + s.text.len();
        at = span.end + 1;
        let local: Vec<repetition::Runaway> = runs
            .iter()
            .filter(|r| r.removed.start < span.end && r.removed.end > span.start)
            .map(|r| repetition::Runaway {
                removed: r.removed.start.max(span.start) - span.start..r.removed.end.min(span.end) - span.start,
                ..r.clone()
            })
            .collect();
        s.text = repetition::remove(&s.text, &local).trim().to_string();
    }
    h.segments.retain(|s| !s.text.is_empty());
    h.text = h.segments.iter().map(|s| s.text.as_str()).collect::<Vec<_>>().join(" ");
    true
}

impl Recognizer for WhisperEngine {
    fn name(&self) -> &str {
        &self.settings.name
    }

    fn recognize(&self, batch: &[Utterance]) -> Vec<Result<Hypothesis, EngineError>> {
        // Finals, short-window finals and drafts go through separate batched runs (their encoder
        // windows and search settings differ), and so do prompts of different lengths
        // (CTranslate2 needs <|startoftranscript|> at one position across a batch); utterances
        // over 30 s or with a different temperature or beam size are decoded alone.
        let Some(first) = batch.first().map(|u| &u.options) else {
            return Vec::new();
        };
        let mut out: Vec<Option<Result<Hypothesis, EngineError>>> = (0..batch.len()).map(|_| None).collect();
        let mut groups: Vec<(RunKey, Vec<usize>)> = Vec::new();
        for (i, u) in batch.iter().enumerate() {
            let o = &u.options;
            if u.samples.len() > N_SAMPLES || o.temperature != first.temperature || o.beam_size != first.beam_size {
                continue;
            }
            let key = (
                o.draft,
                o.short_window,
                o.max_tokens,
                self.vocab.start_position(o.prompt.as_deref()),
            );
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, g)) => g.push(i),
                None => groups.push((key, vec![i])),
            }
        }
        for (_, group) in groups {
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

    fn score_texts(&self, utterance: &Utterance, texts: &[String]) -> Result<Vec<TextScore>, EngineError> {
        self.score_windows(&utterance.samples, &utterance.options, texts)
    }

    fn encoder_cache_hits(&self) -> u64 {
        WhisperEngine::encoder_cache_hits(self)
    }

    fn abilities(&self) -> ModelAbilities {
        if self.multilingual {
            ModelAbilities {
                languages: None,
                translation: true,
                prompt: true,
                scores_texts: true,
                word_probabilities: true,
            }
        } else {
            ModelAbilities {
                scores_texts: true,
                word_probabilities: true,
                ..ModelAbilities::ENGLISH_ONLY
            }
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
