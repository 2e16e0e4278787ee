//! The LLM reviewer: asks any OpenAI-compatible `POST {base_url}/v1/chat/completions` server
//! (llama.cpp, vLLM, Ollama, oMLX …) to fix the misrecognized words of a final transcript, and
//! accepts the answer only when the guardrails of [`super::guard`] do.
//!
//! The prompt ([`messages`]) is a system message — the instructions (fix only misrecognized
//! words with the glossary, keep everything else verbatim, answer with the text only), the
//! glossary entries that matter for this utterance ([`relevant_entries`]: the deterministic
//! corrector's matches, exact forms, English sound-alikes and pinyin homophones found through the
//! glossary's index, at most [`MAX_PROMPT_ENTRIES`]) and the previous `context_utterances`
//! finals — and the transcript alone as the user message. Sampling is greedy
//! (`temperature: 0`), `max_tokens` is bounded by the input ([`max_tokens`]) and the answer stops
//! at its first blank line ([`stop_sequences`]).
//!
//! Invariants:
//! - **Blocking.** [`LlmReviewer::review`] does blocking HTTP: call it from a blocking thread
//!   (`spawn_blocking`, an engine worker), never on the async runtime. The HTTP client is built
//!   on the first review, so constructing the reviewer is cheap and safe anywhere.
//! - **Time budget.** One request (connect, send, answer) is bounded by `timeout_ms`.
//! - **Nothing is lost.** Any failure (timeout, refused connection, an HTTP error status, an
//!   answer that is not a chat completion) and any refused answer is an `Err`: a
//!   [`super::ReviewChain`] keeps the previous text and records why. Every outcome is counted
//!   in [`LlmStats`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::glossary::{self, Glossary, GlossaryEntry};
use super::guard::{self, Rejected, Rejection, Vocabulary};
use super::text::{self, TokenKind};
use super::{GlossaryCorrector, Review, ReviewContext, ReviewError, Reviewer, phonetic};
use crate::config::LlmReviewConfig;

/// Most glossary entries put in one prompt.
pub const MAX_PROMPT_ENTRIES: usize = 20;
/// Longest input reviewed, in characters (longer texts are passed through unreviewed).
pub const MAX_INPUT_CHARS: usize = 2000;
/// Most aliases or misrecognitions listed per glossary entry in the prompt.
const MAX_FORMS_PER_ENTRY: usize = 4;
/// Lowest sound-alike score for an English glossary term to be shown to the model (looser than
/// the corrector's thresholds: the model, not this score, decides).
const PROMPT_LATIN_SIMILARITY: f32 = 0.6;

/// The system message.
const SYSTEM_PROMPT: &str = "You proofread speech-recognition transcripts. Fix only words that were \
misrecognized: replace a misheard word or phrase with the glossary term it stands for, written exactly \
as in the glossary. Keep everything else verbatim: the other words, their order, the punctuation, the \
language and the script. Never translate, explain, summarize, continue or add anything. Answer with \
the corrected transcript only.";

/// Why a review through the LLM failed or was refused.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// `[review.llm]` is unusable.
    #[error("invalid [review.llm] configuration: {0}")]
    Config(String),
    /// No answer within `timeout_ms`.
    #[error("no answer from the LLM server within {0} ms")]
    Timeout(u64),
    /// The server could not be reached.
    #[error("cannot reach the LLM server: {0}")]
    Connect(String),
    /// The server answered with an error status.
    #[error("the LLM server answered HTTP {status}: {body}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// The start of the answer's body.
        body: String,
    },
    /// The answer is not a chat completion.
    #[error("the LLM server's answer is not a chat completion: {0}")]
    BadResponse(String),
    /// Another transport error.
    #[error("HTTP request to the LLM server failed: {0}")]
    Http(String),
    /// The model answered, but the guardrails refused the answer.
    #[error("LLM answer refused: {0}")]
    Rejected(Rejected),
}

impl LlmError {
    fn from_reqwest(e: reqwest::Error, timeout_ms: u64) -> Self {
        if e.is_timeout() {
            LlmError::Timeout(timeout_ms)
        } else if e.is_connect() {
            LlmError::Connect(error_chain(&e))
        } else {
            LlmError::Http(error_chain(&e))
        }
    }
}

/// An error and its sources on one line ("error sending request: … : Connection refused").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// Outcome counters of one reviewer (read by the metrics layer through [`LlmStats::snapshot`]).
#[derive(Debug, Default)]
pub struct LlmStats {
    accepted: AtomicU64,
    unchanged: AtomicU64,
    rejected: [AtomicU64; Rejection::ALL.len()],
    failed: AtomicU64,
    skipped: AtomicU64,
}

/// A copy of the counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LlmStatsSnapshot {
    /// Answers accepted with at least one edit.
    pub accepted: u64,
    /// Answers equal to the input.
    pub unchanged: u64,
    /// Refused answers by reason, in [`Rejection::ALL`] order.
    pub rejected: Vec<(Rejection, u64)>,
    /// Requests that failed (timeout, connection, HTTP status, malformed answer).
    pub failed: u64,
    /// Inputs not sent (empty or longer than [`MAX_INPUT_CHARS`]).
    pub skipped: u64,
}

impl LlmStatsSnapshot {
    /// All refused answers.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.iter().map(|(_, n)| n).sum()
    }

    /// The count of one refusal reason.
    pub fn rejected(&self, reason: Rejection) -> u64 {
        self.rejected[reason.index()].1
    }
}

impl LlmStats {
    /// The current counts.
    pub fn snapshot(&self) -> LlmStatsSnapshot {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        LlmStatsSnapshot {
            accepted: get(&self.accepted),
            unchanged: get(&self.unchanged),
            rejected: Rejection::ALL
                .iter()
                .map(|&r| (r, get(&self.rejected[r.index()])))
                .collect(),
            failed: get(&self.failed),
            skipped: get(&self.skipped),
        }
    }

    fn bump(a: &AtomicU64) {
        a.fetch_add(1, Ordering::Relaxed);
    }
}

/// What the model answered and what the guardrails made of it.
#[derive(Debug, Clone)]
pub struct LlmAnswer {
    /// The model's answer as received (`None` when the input was not sent, see
    /// [`MAX_INPUT_CHARS`]).
    pub raw: Option<String>,
    /// The accepted review, or why the answer was refused.
    pub verdict: Result<Review, Rejected>,
    /// Time spent waiting for the server.
    pub elapsed: Duration,
}

/// The LLM reviewer (see the module docs).
pub struct LlmReviewer {
    config: LlmReviewConfig,
    endpoint: String,
    client: OnceLock<Result<reqwest::blocking::Client, String>>,
    stats: Arc<LlmStats>,
}

impl std::fmt::Debug for LlmReviewer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmReviewer")
            .field("endpoint", &self.endpoint)
            .field("model", &self.config.model)
            .finish_non_exhaustive()
    }
}

impl LlmReviewer {
    /// A reviewer for `[review.llm]`; checks the URL and the limits (no request is made).
    pub fn new(config: &LlmReviewConfig) -> Result<Self, LlmError> {
        let base = config.base_url.trim().trim_end_matches('/');
        let url = reqwest::Url::parse(base).map_err(|e| LlmError::Config(format!("base_url {base:?}: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(LlmError::Config(format!("base_url {base:?} is not http(s)")));
        }
        if config.timeout_ms == 0 {
            return Err(LlmError::Config("timeout_ms must be positive".into()));
        }
        if !(config.max_edit_ratio.is_finite() && config.max_edit_ratio > 0.0) {
            return Err(LlmError::Config(format!(
                "max_edit_ratio must be positive, got {}",
                config.max_edit_ratio
            )));
        }
        let endpoint = if base.ends_with("/v1") {
            format!("{base}/chat/completions")
        } else {
            format!("{base}/v1/chat/completions")
        };
        Ok(Self {
            config: config.clone(),
            endpoint,
            client: OnceLock::new(),
            stats: Arc::default(),
        })
    }

    /// The outcome counters (shared: they keep counting after this call).
    pub fn stats(&self) -> Arc<LlmStats> {
        Arc::clone(&self.stats)
    }

    /// The URL requests go to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Review `text` and return the model's raw answer with the verdict (counted in the stats).
    /// Blocking: see the module docs.
    pub fn review_detailed(
        &self,
        text: &str,
        ctx: &ReviewContext<'_>,
        glossary: &Glossary,
    ) -> Result<LlmAnswer, LlmError> {
        if text.trim().is_empty() || text.chars().count() > MAX_INPUT_CHARS {
            LlmStats::bump(&self.stats.skipped);
            return Ok(LlmAnswer {
                raw: None,
                verdict: Ok(Review::unchanged(text)),
                elapsed: Duration::ZERO,
            });
        }
        let entries = relevant_entries(text, ctx, glossary, MAX_PROMPT_ENTRIES);
        let skip = ctx.previous.len().saturating_sub(self.config.context_utterances);
        let mut body = json!({
            "model": self.config.model,
            "messages": messages(text.trim(), &entries, &ctx.previous[skip..]),
            "temperature": 0,
            "max_tokens": max_tokens(text, self.config.max_edit_ratio),
            "stream": false,
        });
        let stop = stop_sequences(text);
        if !stop.is_empty() {
            // Some servers refuse an empty list.
            body["stop"] = json!(stop);
        }
        let started = Instant::now();
        let result = self.post(&body);
        let elapsed = started.elapsed();
        let (raw, finish) = match result {
            Ok(answer) => answer,
            Err(e) => {
                LlmStats::bump(&self.stats.failed);
                tracing::warn!(endpoint = %self.endpoint, error = %e, "LLM review failed; text kept");
                return Err(e);
            }
        };
        let verdict = if finish.as_deref() == Some("length") {
            Err(Rejected {
                reason: Rejection::InventedContent,
                detail: "the answer ran past max_tokens".into(),
            })
        } else {
            guard::judge(
                text,
                &raw,
                &Vocabulary::new(entries.iter().copied()),
                self.config.max_edit_ratio,
            )
        };
        match &verdict {
            Ok(r) if r.edits.is_empty() => LlmStats::bump(&self.stats.unchanged),
            Ok(r) => {
                LlmStats::bump(&self.stats.accepted);
                tracing::debug!(
                    edits = r.edits.len(),
                    ms = elapsed.as_millis() as u64,
                    "LLM review accepted"
                );
            }
            Err(rej) => {
                LlmStats::bump(&self.stats.rejected[rej.reason.index()]);
                tracing::debug!(reason = %rej, answer = %raw, "LLM review refused; text kept");
            }
        }
        Ok(LlmAnswer {
            raw: Some(raw),
            verdict,
            elapsed,
        })
    }

    /// One free-form chat completion (no guardrails, not counted as a review): the answer's
    /// text, refused when it was cut at `max_tokens`. Meeting summaries use it. Blocking.
    pub fn complete(&self, messages: Value, max_tokens: usize) -> Result<String, LlmError> {
        let body = json!({
            "model": self.config.model,
            "messages": messages,
            "temperature": 0,
            "max_tokens": max_tokens,
            "stream": false,
        });
        match self.post(&body)? {
            (_, Some(f)) if f == "length" => Err(LlmError::BadResponse(format!(
                "the answer ran past max_tokens ({max_tokens})"
            ))),
            (text, _) => Ok(text),
        }
    }

    fn client(&self) -> Result<&reqwest::blocking::Client, LlmError> {
        let timeout = Duration::from_millis(self.config.timeout_ms);
        self.client
            .get_or_init(|| {
                reqwest::blocking::Client::builder()
                    .timeout(timeout)
                    .connect_timeout(timeout)
                    .build()
                    .map_err(|e| error_chain(&e))
            })
            .as_ref()
            .map_err(|e| LlmError::Http(e.clone()))
    }

    /// One chat completion: the answer's text and its `finish_reason`.
    fn post(&self, body: &Value) -> Result<(String, Option<String>), LlmError> {
        let ms = self.config.timeout_ms;
        let mut req = self
            .client()?
            .post(&self.endpoint)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string());
        if let Some(key) = self.config.api_key.as_deref().filter(|k| !k.is_empty()) {
            req = req.bearer_auth(key);
        }
        let resp = req.send().map_err(|e| LlmError::from_reqwest(e, ms))?;
        let status = resp.status();
        let bytes = resp.bytes().map_err(|e| LlmError::from_reqwest(e, ms))?;
        if !status.is_success() {
            let body: String = String::from_utf8_lossy(&bytes).chars().take(200).collect();
            return Err(LlmError::Status {
                status: status.as_u16(),
                body,
            });
        }
        parse_completion(&bytes)
    }
}

impl Reviewer for LlmReviewer {
    fn name(&self) -> &'static str {
        guard::NAME
    }

    /// Blocking (see the module docs). A refused answer is an `Err` carrying the reason
    /// ([`LlmError::Rejected`]), so a chain keeps its text and records why.
    fn review(&self, text: &str, ctx: &ReviewContext<'_>, glossary: &Glossary) -> Result<Review, ReviewError> {
        let answer = self.review_detailed(text, ctx, glossary)?;
        answer.verdict.map_err(|r| LlmError::Rejected(r).into())
    }
}

/// The text and `finish_reason` of the first choice of a chat completion.
pub fn parse_completion(bytes: &[u8]) -> Result<(String, Option<String>), LlmError> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| LlmError::BadResponse(format!("not JSON: {e}")))?;
    let choice = v
        .get("choices")
        .and_then(|c| c.get(0))
        .ok_or_else(|| LlmError::BadResponse("no choices".into()))?;
    let content = choice
        .pointer("/message/content")
        .and_then(Value::as_str)
        .ok_or_else(|| LlmError::BadResponse("no message content".into()))?;
    let finish = choice.get("finish_reason").and_then(Value::as_str).map(str::to_string);
    Ok((content.to_string(), finish))
}

/// `max_tokens` for reviewing `text`: its UTF-8 bytes grown by the edit budget, plus room for
/// an end token. A byte-level tokenizer needs at most one token per byte, so no acceptable
/// answer is cut; a model that rambles stops early.
pub fn max_tokens(text: &str, max_edit_ratio: f32) -> usize {
    (text.len() as f32 * (1.0 + max_edit_ratio.max(0.0))).ceil() as usize + 16
}

/// The chat messages: a system message with the instructions, the glossary entries and the
/// previous utterances, then the transcript alone as the user message (so that the natural
/// answer of even a small model is the text itself).
pub fn messages(text: &str, entries: &[&GlossaryEntry], previous: &[String]) -> Value {
    let mut system = String::from(SYSTEM_PROMPT);
    system.push_str("\n\nGlossary:\n");
    if entries.is_empty() {
        system.push_str("(no term applies)\n");
    }
    let list = |forms: &[String]| {
        forms
            .iter()
            .take(MAX_FORMS_PER_ENTRY)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    };
    for e in entries {
        system.push_str("- ");
        system.push_str(&e.term);
        if !e.aliases.is_empty() {
            system.push_str(&format!(" (also written: {})", list(&e.aliases)));
        }
        if !e.misrecognitions.is_empty() {
            system.push_str(&format!(" (often misheard as: {})", list(&e.misrecognitions)));
        }
        system.push('\n');
    }
    let previous: Vec<&str> = previous.iter().map(|p| p.trim()).filter(|p| !p.is_empty()).collect();
    if !previous.is_empty() {
        system.push_str("\nEarlier in the conversation (context only, do not repeat it):\n");
        for p in previous {
            system.push_str(p);
            system.push('\n');
        }
    }
    json!([
        {"role": "system", "content": system.trim_end()},
        {"role": "user", "content": text},
    ])
}

/// Stop sequences: a transcript without a blank line ends at the first blank line of the answer
/// (what a model adds after it — a repetition, a comment — is never part of the text, and
/// generating it only costs time).
pub fn stop_sequences(text: &str) -> Vec<&'static str> {
    if text.contains("\n\n") {
        Vec::new()
    } else {
        vec!["\n\n"]
    }
}

/// The glossary entries worth showing the model for `text`, best first, at most `limit`: terms
/// the deterministic corrector matches, then entries with a form (term, alias, misrecognition)
/// written in the text, then English terms that sound like a word run of the text and Chinese
/// terms with the (fuzzy) pinyin of a run of its characters — the glossary index's lookups at a
/// looser threshold than the corrector's.
pub fn relevant_entries<'g>(
    text: &str,
    ctx: &ReviewContext<'_>,
    glossary: &'g Glossary,
    limit: usize,
) -> Vec<&'g GlossaryEntry> {
    if glossary.is_empty() || limit == 0 {
        return Vec::new();
    }
    let entries = glossary.entries();
    let ix = glossary.index();
    let mut score: HashMap<u32, f32> = HashMap::new();
    let mut bump = |e: u32, s: f32| {
        let v = score.entry(e).or_insert(s);
        *v = v.max(s);
    };
    if let Ok(r) = GlossaryCorrector::default().review(text, ctx, glossary) {
        for term in r.edits.iter().filter_map(|e| e.term.as_deref()) {
            if let Some(i) = entries.iter().position(|e| e.term == term) {
                bump(i as u32, 3.0);
            }
        }
    }
    let tokens = text::tokenize(text, |c| glossary.fold(c));
    let joined = |first: usize, last: usize| (first + 1..=last).all(|k| tokens[k].joined_to_prev);
    for first in 0..tokens.len() {
        // Forms written in the text (any script).
        let mut key = String::new();
        for (last, t) in tokens.iter().enumerate().skip(first).take(ix.max_exact_tokens) {
            if last > first && !t.joined_to_prev {
                break;
            }
            key.push_str(&t.key);
            for r in ix.exact.get(&key).into_iter().flatten() {
                bump(r.entry, 2.0);
            }
        }
        // English sound-alikes of a run of Latin words.
        let mut letters = String::new();
        for (last, t) in tokens.iter().enumerate().skip(first).take(ix.max_latin_words + 1) {
            if t.kind != TokenKind::Latin || (last > first && !t.joined_to_prev) {
                break;
            }
            letters.push_str(&t.key);
            let key = phonetic::english_key(&letters);
            if key.len() < 2 {
                continue;
            }
            for v in glossary::deletion_variants(&key) {
                for &id in ix.latin_keys.get(&v).into_iter().flatten() {
                    let form = &ix.latin_forms[id as usize];
                    let s = 0.5 * text::similarity(&letters, &form.letters) + 0.5 * text::similarity(&key, &form.key);
                    if s >= PROMPT_LATIN_SIMILARITY {
                        bump(form.form.entry, s);
                    }
                }
            }
        }
    }
    // Chinese terms with the fuzzy pinyin of a run of characters.
    let first_reading: Vec<Option<String>> = tokens
        .iter()
        .map(|t| {
            let c = t.key.chars().next().filter(|_| t.kind == TokenKind::Han)?;
            phonetic::readings(c).into_iter().next().map(|r| r.plain)
        })
        .collect();
    for &n in &ix.han_lengths {
        for first in 0..tokens.len().saturating_sub(n - 1) {
            let last = first + n - 1;
            if !joined(first, last) || first_reading[first..=last].iter().any(Option::is_none) {
                continue;
            }
            let syl = || first_reading[first..=last].iter().flatten().map(String::as_str);
            let mut keys = vec![glossary::han_key(syl(), None)];
            if n >= glossary::HAN_WILDCARD_MIN {
                keys.extend((0..n).map(|w| glossary::han_key(syl(), Some(w))));
            }
            for k in keys {
                for &id in ix.han_keys.get(&k).into_iter().flatten() {
                    bump(ix.han_forms[id as usize].entry, 1.0);
                }
            }
        }
    }
    let mut ranked: Vec<(u32, f32)> = score.into_iter().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked
        .into_iter()
        .take(limit)
        .map(|(e, _)| &entries[e as usize])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(term: &str, aliases: &[&str], mis: &[&str]) -> GlossaryEntry {
        let mut e = GlossaryEntry::new(term);
        e.aliases = aliases.iter().map(|s| s.to_string()).collect();
        e.misrecognitions = mis.iter().map(|s| s.to_string()).collect();
        e
    }

    fn glossary() -> Glossary {
        Glossary::new(vec![
            entry("Kubernetes", &["K8s"], &["Cooper Netties"]),
            entry("LangChain", &[], &["浪Chain"]),
            entry("昇腾", &[], &[]),
            entry("Prometheus", &[], &[]),
            entry("通义千问", &[], &[]),
            entry("Grafana", &[], &[]),
        ])
    }

    fn terms(text: &str, g: &Glossary, limit: usize) -> Vec<String> {
        relevant_entries(text, &ReviewContext::default(), g, limit)
            .iter()
            .map(|e| e.term.clone())
            .collect()
    }

    #[test]
    fn relevant_entries_are_the_ones_near_the_text() {
        let g = glossary();
        // A listed misrecognition, a sound-alike and a homophone; nothing else.
        let mut t = terms("we moved Cooper Netties metrics to Promethius, 跑在升腾上", &g, 20);
        t.sort();
        assert_eq!(t, ["Kubernetes", "Prometheus", "昇腾"]);
        assert_eq!(terms("我们用浪Chain接了同意千问", &g, 20), ["LangChain", "通义千问"]);
        assert!(terms("nothing related at all", &g, 20).is_empty());
        assert_eq!(terms("Cooper Netties and Promethius", &g, 1).len(), 1);
        assert!(relevant_entries("Grafana", &ReviewContext::default(), &Glossary::default(), 20).is_empty());
    }

    #[test]
    fn prompt_holds_entries_context_and_text() {
        let g = glossary();
        let e = relevant_entries("Cooper Netties", &ReviewContext::default(), &g, 20);
        let m = messages("we run Cooper Netties", &e, &["first".into(), " ".into()]);
        assert_eq!(m[0]["role"], "system");
        let system = m[0]["content"].as_str().unwrap();
        assert!(system.starts_with(SYSTEM_PROMPT));
        assert!(system.contains("\n- Kubernetes (also written: K8s) (often misheard as: Cooper Netties)\n"));
        assert!(system.ends_with("do not repeat it):\nfirst"));
        assert_eq!(m[1]["role"], "user");
        assert_eq!(m[1]["content"], "we run Cooper Netties");
        let m = messages("x", &[], &[]);
        let system = m[0]["content"].as_str().unwrap();
        assert!(system.ends_with("Glossary:\n(no term applies)"));
        assert!(!system.contains("Earlier"));
        assert_eq!(stop_sequences("one line"), ["\n\n"]);
        assert!(stop_sequences("a\n\nb").is_empty());
    }

    #[test]
    fn max_tokens_covers_the_allowed_growth() {
        assert_eq!(max_tokens("abcd", 0.5), 6 + 16);
        assert_eq!(max_tokens("升腾", 0.0), 6 + 16);
    }

    #[test]
    fn completions_are_parsed_and_garbage_is_an_error() {
        let ok = br#"{"choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}]}"#;
        assert_eq!(parse_completion(ok).unwrap(), ("hi".into(), Some("stop".into())));
        for bad in [
            &b"<html>"[..],
            br#"{"choices":[]}"#,
            br#"{"choices":[{"message":{}}]}"#,
            b"{}",
        ] {
            assert!(matches!(parse_completion(bad), Err(LlmError::BadResponse(_))));
        }
    }

    #[test]
    fn config_is_checked_and_the_endpoint_built() {
        let mut c = LlmReviewConfig {
            base_url: "http://127.0.0.1:9/".into(),
            ..Default::default()
        };
        assert_eq!(
            LlmReviewer::new(&c).unwrap().endpoint(),
            "http://127.0.0.1:9/v1/chat/completions"
        );
        c.base_url = "https://llm.example/v1".into();
        assert_eq!(
            LlmReviewer::new(&c).unwrap().endpoint(),
            "https://llm.example/v1/chat/completions"
        );
        for (url, timeout, ratio) in [
            ("ftp://x", 100, 0.3),
            ("not a url", 100, 0.3),
            ("http://x", 0, 0.3),
            ("http://x", 100, 0.0),
        ] {
            let c = LlmReviewConfig {
                base_url: url.into(),
                timeout_ms: timeout,
                max_edit_ratio: ratio,
                ..Default::default()
            };
            assert!(
                matches!(LlmReviewer::new(&c), Err(LlmError::Config(_))),
                "{url} {timeout} {ratio}"
            );
        }
    }

    #[test]
    fn empty_and_overlong_inputs_are_skipped_without_a_request() {
        // Port 9 (discard) on loopback: a request would fail, a skip never sends one.
        let c = LlmReviewConfig {
            base_url: "http://127.0.0.1:9".into(),
            ..Default::default()
        };
        let r = LlmReviewer::new(&c).unwrap();
        let g = glossary();
        for text in ["", "  ", &"a".repeat(MAX_INPUT_CHARS + 1)] {
            let review = r.review(text, &ReviewContext::default(), &g).unwrap();
            assert_eq!(review.text, text);
        }
        let s = r.stats().snapshot();
        assert_eq!((s.skipped, s.failed, s.accepted, s.rejected_total()), (3, 0, 0, 0));
    }
}
