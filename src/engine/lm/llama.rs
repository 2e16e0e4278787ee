//! [`LlamaLm`]: a GGUF language model run in-process by llama.cpp (the `llama-cpp-2` crate), for
//! scoring only. The base text is evaluated once with the logits of every position; each
//! alternative is evaluated with logits only where it may differ from the base (from its first
//! token that is not the base's), since the shared start cancels in the gain. Logits are most of
//! a small model's cost (Gemma-3-270M's vocabulary is 262,144 tokens), so this roughly halves it.
//!
//! The model and its context live on one worker thread that owns them (llama.cpp contexts are not
//! shared across threads); [`LlamaLm::gains`] sends the texts there and waits. Alternatives are
//! packed into one batch as separate sequences, [`SEQS_PER_BATCH`] at a time.

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
        .with_n_seq_max(SEQS_PER_BATCH as u32)
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
/// the same for every alternative of one window). The base's per-token log-probabilities are
/// computed once; alternatives go in batches of up to [`SEQS_PER_BATCH`] sequences (and the
/// context's tokens).
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
    if let Some(t) = std::iter::once(&base).chain(&alts).find(|t| t.len() > cap) {
        return Err(LmError::TooLong {
            tokens: t.len(),
            context: cap,
        });
    }
    // sums of log p(base[i] | base[..i]): up_to[k] = Σ_{1 ≤ i < k}
    let base_lp = token_log_probs(ctx, &[Span::new(&base, 1, base.len())])?.remove(0);
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
        let mut used = 0;
        while end < spans.len() && end - start < SEQS_PER_BATCH && used + spans[end].0.tokens.len() <= cap {
            used += spans[end].0.tokens.len();
            end += 1;
        }
        let batch: Vec<Span<'_>> = spans[start..end].iter().map(|(s, _)| *s).collect();
        for ((_, base_sum), lps) in spans[start..end].iter().zip(token_log_probs(ctx, &batch)?) {
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
}

/// Evaluates each span's tokens (up to its `to`) as its own sequence of one batch and returns,
/// per span, `log p(tokens[i] | tokens[..i])` for `i` in `from..to` (`from ≥ 1`). Logits are
/// asked for only at the positions that predict those tokens.
fn token_log_probs(ctx: &mut LlamaContext<'_>, spans: &[Span<'_>]) -> Result<Vec<Vec<f64>>, LmError> {
    let total: usize = spans.iter().map(|s| s.to).sum();
    ctx.clear_kv_cache();
    let mut batch = LlamaBatch::new(total.max(1), spans.len().max(1) as i32);
    for (seq, s) in spans.iter().enumerate() {
        for (pos, tok) in s.tokens[..s.to].iter().enumerate() {
            // the logits at `pos` predict token `pos + 1`
            let wanted = pos + 1 >= s.from && pos + 1 < s.to;
            batch
                .add(*tok, pos as i32, &[seq as i32], wanted)
                .map_err(|e| LmError::Inference(e.to_string()))?;
        }
    }
    ctx.decode(&mut batch).map_err(|e| LmError::Inference(e.to_string()))?;
    let mut out = Vec::with_capacity(spans.len());
    let mut at = 0usize;
    for s in spans {
        let lps = (s.from..s.to)
            .map(|i| log_softmax_at(ctx.get_logits_ith((at + i - 1) as i32), s.tokens[i].0 as usize))
            .collect();
        out.push(lps);
        at += s.to;
    }
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
