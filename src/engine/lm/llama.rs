//! [`LlamaLm`]: a GGUF language model run in-process by llama.cpp (the `llama-cpp-2` crate), for
//! scoring only. The base text is evaluated once with the logits of every position; each
//! alternative is evaluated with logits only where it may differ from the base (from its first
//! token that is not the base's), since the shared start cancels in the gain. Logits are most of
//! a small model's cost (Gemma-3-270M's vocabulary is 262,144 tokens), so this roughly halves it.
//!
//! The model and its context live on one worker thread that owns them (llama.cpp contexts are not
//! shared across threads); [`LlamaLm::gains`] sends the texts there and waits. Alternatives are
//! packed into one batch as separate sequences (1, 2, …; the base is 0), [`SEQS_PER_BATCH`] at a
//! time.

use std::num::NonZeroU32;
use std::path::Path;
use std::sync::OnceLock;

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::model::params::LlamaModelParams;

use super::{LanguageModel, LmError};

/// Tokens the context holds, across the sequences of one batch.
const CONTEXT_TOKENS: u32 = 2048;
/// Texts evaluated side by side in one batch.
const SEQS_PER_BATCH: usize = 16;

type Job = (String, Vec<String>, flume::Sender<Result<Vec<f64>, LmError>>);

/// A GGUF model on its own thread.
pub struct LlamaLm {
    name: String,
    jobs: flume::Sender<Job>,
}

impl LlamaLm {
    /// Loads `path` with `threads` CPU threads on a new worker thread; returns once the model is
    /// loaded (or failed to load).
    pub fn load(path: &Path, threads: usize) -> Result<Self, LmError> {
        let load_err = |reason: String| LmError::Load {
            path: path.display().to_string(),
            reason,
        };
        let (jobs, rx) = flume::unbounded::<Job>();
        let (ready_tx, ready) = flume::bounded::<Result<(), LmError>>(1);
        let owned = path.to_path_buf();
        let threads = threads.max(1) as i32;
        std::thread::Builder::new()
            .name("lm".into())
            .spawn(move || worker(&owned, threads, rx, ready_tx))
            .map_err(|e| load_err(e.to_string()))?;
        ready
            .recv()
            .map_err(|_| load_err("the model thread ended while loading".into()))??;
        let name = path
            .file_stem()
            .map_or_else(|| "lm".to_string(), |s| s.to_string_lossy().into_owned());
        Ok(Self { name, jobs })
    }
}

impl LanguageModel for LlamaLm {
    fn name(&self) -> &str {
        &self.name
    }

    fn gains(&self, base: &str, alternatives: &[String]) -> Result<Vec<f64>, LmError> {
        let (tx, rx) = flume::bounded(1);
        self.jobs
            .send((base.to_string(), alternatives.to_vec(), tx))
            .map_err(|_| LmError::Inference("the model thread has ended".into()))?;
        rx.recv()
            .map_err(|_| LmError::Inference("the model thread has ended".into()))?
    }
}

/// llama.cpp's process-wide backend, initialized once (a second `init` is an error) and kept.
fn backend() -> Result<&'static LlamaBackend, String> {
    static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default().with_logs_enabled(false));
            LlamaBackend::init().map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// The worker: loads the model, reports on `ready`, then answers jobs until every sender is gone.
fn worker(path: &Path, threads: i32, jobs: flume::Receiver<Job>, ready: flume::Sender<Result<(), LmError>>) {
    let load_err = |reason: String| LmError::Load {
        path: path.display().to_string(),
        reason,
    };
    let backend = match backend() {
        Ok(b) => b,
        Err(e) => {
            let _ = ready.send(Err(load_err(e)));
            return;
        }
    };
    let model = match LlamaModel::load_from_file(backend, path, &LlamaModelParams::default()) {
        Ok(m) => m,
        Err(e) => {
            let _ = ready.send(Err(load_err(e.to_string())));
            return;
        }
    };
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(CONTEXT_TOKENS))
        .with_n_batch(CONTEXT_TOKENS)
        .with_n_ubatch(512)
        .with_n_seq_max(SEQS_PER_BATCH as u32 + 1)
        .with_kv_unified(true)
        .with_n_threads(threads)
        .with_n_threads_batch(threads);
    let mut ctx = match model.new_context(backend, params) {
        Ok(c) => c,
        Err(e) => {
            let _ = ready.send(Err(load_err(e.to_string())));
            return;
        }
    };
    if ready.send(Ok(())).is_err() {
        return;
    }
    for (base, alternatives, reply) in jobs.iter() {
        let _ = reply.send(gains(&model, &mut ctx, &base, &alternatives));
    }
}

/// `log p(alternative) − log p(base)` for each alternative, over the tokens where the two differ
/// and [`RIGHT_CONTEXT`] tokens after: the tokens both share at the start cancel exactly, and
/// those they share at the end are assumed to (a word's effect on text far after it is small, and
/// the same for every alternative of one window).
///
/// The base is evaluated once, as sequence 0, with the logits of every position; its keys and
/// values stay in the cache. Each alternative then starts from the base's cache up to where it
/// differs ([`Span::from`]) and is evaluated only from there, so a window near the end of a
/// sentence costs a few tokens instead of the whole sentence. Alternatives go in batches of up to
/// [`SEQS_PER_BATCH`] sequences (and the context's tokens).
fn gains(
    model: &LlamaModel,
    ctx: &mut LlamaContext<'_>,
    base: &str,
    alternatives: &[String],
) -> Result<Vec<f64>, LmError> {
    let vocab = model.vocab();
    let tokenize = |t: &str| vocab.tokenize(t.as_bytes(), true, false);
    let base = tokenize(base);
    let alts: Vec<_> = alternatives.iter().map(|t| tokenize(t)).collect();
    let cap = CONTEXT_TOKENS as usize;
    if let Some(t) = std::iter::once(&base).chain(&alts).find(|t| 2 * t.len() > cap) {
        return Err(LmError::TooLong {
            tokens: t.len(),
            context: cap / 2,
        });
    }
    ctx.clear_kv_cache();
    // sums of log p(base[i] | base[..i]): up_to[k] = Σ_{1 ≤ i < k}
    let base_lp = token_log_probs(ctx, &[Span::new(&base, 1, base.len())], Role::Base)?.remove(0);
    let mut up_to = vec![0f64; base.len() + 1];
    for i in 1..base.len() {
        up_to[i + 1] = up_to[i] + base_lp[i - 1];
    }
    let spans: Vec<(Span<'_>, f64)> = alts
        .iter()
        .map(|alt| {
            let (alt_span, base_end) = Span::differing(alt, &base);
            let base_sum = up_to[base_end] - up_to[alt_span.from.min(base_end)];
            (alt_span, base_sum)
        })
        .collect();
    let mut out = Vec::with_capacity(alts.len());
    let mut start = 0;
    while start < spans.len() {
        let mut end = start;
        let mut used = base.len();
        while end < spans.len() && end - start < SEQS_PER_BATCH && used + spans[end].0.evaluated() <= cap {
            used += spans[end].0.evaluated();
            end += 1;
        }
        let batch: Vec<Span<'_>> = spans[start..end].iter().map(|(s, _)| *s).collect();
        for ((_, base_sum), lps) in spans[start..end]
            .iter()
            .zip(token_log_probs(ctx, &batch, Role::Alternatives)?)
        {
            out.push(lps.iter().sum::<f64>() - base_sum);
        }
        start = end;
    }
    Ok(out)
}

/// Tokens after the last differing one that are still scored on both sides.
const RIGHT_CONTEXT: usize = 4;

/// The tokens of one sequence and the range `from..to` of those whose log-probabilities count.
#[derive(Clone, Copy)]
struct Span<'a> {
    tokens: &'a [llama_cpp_2::token::LlamaToken],
    from: usize,
    to: usize,
}

impl<'a> Span<'a> {
    fn new(tokens: &'a [llama_cpp_2::token::LlamaToken], from: usize, to: usize) -> Self {
        Self { tokens, from, to }
    }

    /// The span of `alt` that differs from `base` (from its first differing token to its last,
    /// and [`RIGHT_CONTEXT`] more), and where the matching span of `base` ends.
    fn differing(alt: &'a [llama_cpp_2::token::LlamaToken], base: &[llama_cpp_2::token::LlamaToken]) -> (Self, usize) {
        let shared = alt.iter().zip(base).take_while(|(a, b)| a == b).count().max(1);
        let room = alt.len().min(base.len()) - shared;
        let tail = alt
            .iter()
            .rev()
            .zip(base.iter().rev())
            .take_while(|(a, b)| a == b)
            .count()
            .min(room);
        let end = |len: usize| (len - tail + RIGHT_CONTEXT).min(len);
        (Self::new(alt, shared, end(alt.len())), end(base.len()))
    }

    /// The first token evaluated: the one whose logits predict `tokens[from]`. Every token before
    /// it is the base's, already in sequence 0's cache.
    fn first_evaluated(&self) -> usize {
        self.from - 1
    }

    /// How many tokens are evaluated for this span.
    fn evaluated(&self) -> usize {
        self.to - self.first_evaluated()
    }
}

/// What [`token_log_probs`] evaluates.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    /// One span, the base, from its first token, as sequence 0; its cache is kept.
    Base,
    /// Alternatives as sequences 1, 2, …: each is given sequence 0's cache for the positions
    /// before [`Span::first_evaluated`] (the tokens it shares with the base), and only the rest
    /// is evaluated.
    Alternatives,
}

/// Evaluates each span as its own sequence of one batch and returns, per span,
/// `log p(tokens[i] | tokens[..i])` for `i` in `from..to` (`from ≥ 1`). Logits are asked for only
/// at the positions that predict those tokens.
fn token_log_probs(ctx: &mut LlamaContext<'_>, spans: &[Span<'_>], role: Role) -> Result<Vec<Vec<f64>>, LmError> {
    let kv = |e: llama_cpp_2::context::kv_cache::KvCacheConversionError| LmError::Inference(e.to_string());
    let seq = |k: usize| if role == Role::Base { 0 } else { k as i32 + 1 };
    let first = |s: &Span<'_>| if role == Role::Base { 0 } else { s.first_evaluated() };
    if role == Role::Alternatives {
        // the previous batch's alternatives, however many it had
        for seq in 1..=SEQS_PER_BATCH as u32 {
            ctx.clear_kv_cache_seq(Some(seq), None, None).map_err(kv)?;
        }
        for (k, s) in spans.iter().enumerate() {
            if first(s) > 0 {
                ctx.copy_kv_cache_seq(0, seq(k), Some(0), Some(first(s) as u32))
                    .map_err(kv)?;
            }
        }
    }
    let total = spans.iter().map(|s| s.to - first(s)).sum::<usize>();
    let mut batch = LlamaBatch::new(total.max(1), 1);
    // where each span's first evaluated token sits in the batch
    let mut starts = Vec::with_capacity(spans.len());
    for (k, s) in spans.iter().enumerate() {
        starts.push(batch.n_tokens() as usize);
        for (pos, tok) in s.tokens.iter().enumerate().take(s.to).skip(first(s)) {
            // the logits at `pos` predict token `pos + 1`
            let wanted = pos + 1 >= s.from && pos + 1 < s.to;
            batch
                .add(*tok, pos as i32, &[seq(k)], wanted)
                .map_err(|e| LmError::Inference(e.to_string()))?;
        }
    }
    ctx.decode(&mut batch).map_err(|e| LmError::Inference(e.to_string()))?;
    let out = spans
        .iter()
        .zip(starts)
        .map(|(s, at)| {
            (s.from..s.to)
                .map(|i| {
                    let logits = ctx.get_logits_ith((at + i - 1 - first(s)) as i32);
                    log_softmax_at(logits, s.tokens[i].0 as usize)
                })
                .collect()
        })
        .collect();
    Ok(out)
}

/// `log softmax(logits)[index]`, computed stably in `f32` sums of chunks (the vocabulary is large:
/// this runs once per scored position); a token outside the logits scores -inf.
fn log_softmax_at(logits: &[f32], index: usize) -> f64 {
    let Some(&x) = logits.get(index) else {
        return f64::NEG_INFINITY;
    };
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let z: f64 = logits
        .chunks(1024)
        .map(|c| f64::from(c.iter().map(|&v| (v - max).exp()).sum::<f32>()))
        .sum();
    f64::from(x - max) - z.ln()
}
