//! The finalizer chain (issue 13): what turns one utterance's audio into the text a user gets.
//!
//! ```text
//!   decode (routed engine: the fast one, the in-process strong one, or an upstream server)
//!     └─ on failure: the fallback engine            → decode::decode_final
//!   review, in order: script and form → glossary corrector → (wording) → (LLM reviewer)
//!                                                     → SecondPass::review
//! ```
//!
//! REST (`crate::batch`), the realtime sessions and `asr-router eval` run the same chain; the
//! request's fields ([`ReviewFields`]: OpenAI's `keywords`, the extensions `glossary`,
//! `glossary_id`, `review`) are checked into a [`ReviewPlan`] before any audio is decoded.
//!
//! # Invariants
//!
//! * **The second pass never loses a final.** A failed strong pass falls back (see [`decode`]);
//!   a reviewer that fails is skipped with its input kept; a wording or LLM review that overruns
//!   the time budget is abandoned and the text reviewed so far is used.
//! * **The audit trail is exact.** [`Reviewed::edits`] are byte offsets into [`Reviewed::raw`]
//!   (the recognizer's text) and applying them in order gives [`Reviewed::text`].
//! * **Cheap reviewers run inline, slow ones on a blocking thread.** The deterministic chain
//!   costs microseconds per utterance (benchmarked in `docs/benchmarks.md`); the wording reviewer
//!   ([`wording`], an in-process language model) and the LLM reviewer (blocking HTTP) run under
//!   `spawn_blocking`, never on the async runtime.
//! * No transport types: the HTTP layer maps [`PlanError`] to OpenAI's error body.

pub mod bias;
pub mod coverage;
pub mod decode;
pub mod glossaries;
pub mod route;
pub mod verify;
pub mod wording;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub use bias::{PromptPolicy, decode_with_glossary};
pub use coverage::SpeechWindow;
pub use decode::{Fallback, FinalDecode, FinalizeStats, decode_final};
pub use glossaries::{GlossaryLookupError, GlossaryStore};
pub use route::DecodeRoute;

use crate::config::{ReviewConfig, ReviewMode, WordingReviewConfig};
use crate::engine::recognizer::Segment;
use crate::review::lexicon::Lexicon;
use crate::review::llm::{LlmReviewer, LlmStats, LlmStatsSnapshot};
use crate::review::{
    ChainReview, Edit, Glossary, GlossaryEntry, ReviewChain, ReviewContext, Reviewer, ScriptTarget, apply_edits,
    compose_edits,
};
use wording::{WordingPolicy, WordingReviewer};

/// The review a request asks for, as its transport parsed it.
#[derive(Debug, Clone, Default)]
pub struct ReviewFields {
    /// `review`: `None` takes the server's default.
    pub mode: Option<ReviewMode>,
    /// The inline `glossary`, parsed.
    pub glossary: Option<Arc<Glossary>>,
    /// `glossary_id`: a named glossary of the configured folder.
    pub glossary_id: Option<String>,
    /// OpenAI's `keywords`: terms without aliases.
    pub keywords: Vec<String>,
    /// `glossary_prompt`: decode Chinese finals again with the glossary as the decoder prompt
    /// ([`bias`]); `None` takes the server's default.
    pub glossary_prompt: Option<bool>,
}

/// Why the reviewers could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum FinalizeError {
    /// The LLM reviewer's configuration is unusable.
    #[error("[review.llm]: {0}")]
    Llm(String),
    /// The wording reviewer's model or word list could not be loaded.
    #[error("[review.wording]: {0}")]
    Wording(String),
}

/// Why a request's review cannot be done.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// `glossary_id` names nothing usable.
    #[error(transparent)]
    GlossaryId(#[from] GlossaryLookupError),
    /// `review=llm` on a server without `[review.llm]`.
    #[error("review 'llm' needs an LLM reviewer, and none is configured on this server ([review.llm])")]
    NoLlm,
}

impl PlanError {
    /// The request field at fault.
    pub fn param(&self) -> &'static str {
        match self {
            Self::GlossaryId(_) => "glossary_id",
            Self::NoLlm => "review",
        }
    }
}

/// A checked review: which reviewers run, with which glossary, for which language.
#[derive(Clone, Default)]
pub struct ReviewPlan {
    mode: ReviewMode,
    glossary: Arc<Glossary>,
    language: Option<String>,
    prompt: PromptPolicy,
}

impl std::fmt::Debug for ReviewPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReviewPlan")
            .field("mode", &self.mode)
            .field("terms", &self.glossary.len())
            .field("language", &self.language)
            .field("prompt", &self.prompt)
            .finish()
    }
}

impl ReviewPlan {
    /// No review at all.
    pub fn none() -> Self {
        Self {
            mode: ReviewMode::None,
            ..Default::default()
        }
    }

    /// Which reviewers run.
    pub fn mode(&self) -> ReviewMode {
        self.mode
    }

    /// The glossary in force (empty when the request gave none).
    pub fn glossary(&self) -> &Glossary {
        &self.glossary
    }

    /// Whether a review runs with glossary terms to correct towards: the router then gives
    /// short clips the strong engine too (`crate::routing`).
    pub fn corrects_terms(&self) -> bool {
        self.mode != ReviewMode::None && !self.glossary.is_empty()
    }

    /// How finals use the glossary as a decoder prompt and check loosely matched terms
    /// against the audio ([`bias`], [`verify`]). Both off for a plan without review:
    /// `review=none` asks for the recognizer's text as it is.
    pub fn prompt_policy(&self) -> PromptPolicy {
        let reviewed = self.mode != ReviewMode::None;
        PromptPolicy {
            enabled: self.prompt.enabled && reviewed,
            verify_terms: self.prompt.verify_terms && reviewed,
            ..self.prompt
        }
    }
}

/// A reviewed text with its audit trail.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reviewed {
    /// The text after review.
    pub text: String,
    /// The recognizer's text.
    pub raw: String,
    /// Edits from `raw` to `text` (byte offsets into `raw`).
    pub edits: Vec<Edit>,
    /// Reviewers that failed or overran, with why; their input was kept.
    pub skipped: Vec<String>,
}

impl Reviewed {
    /// `text` unreviewed.
    pub fn unchanged(text: &str) -> Self {
        Self {
            text: text.to_string(),
            raw: text.to_string(),
            ..Default::default()
        }
    }
}

/// The audit trail of a review (an extension of `verbose_json` and of realtime's `completed`):
/// each edit with `start`/`end` in characters (Unicode code points, as Python indexes strings)
/// of `raw`, the replaced text, the replacement, the reviewer and the glossary term.
pub fn edits_json(raw: &str, edits: &[Edit]) -> serde_json::Value {
    let chars = |byte: usize| raw.get(..byte).map_or(0, |p| p.chars().count());
    edits
        .iter()
        .map(|e| {
            serde_json::json!({"start": chars(e.start), "end": chars(e.end), "from": e.from, "to": e.to,
                   "reviewer": e.reviewer, "term": e.term})
        })
        .collect()
}

/// Applies to each segment the edits (byte offsets into `raw`) that fall wholly inside it
/// ([`split_edits`]). A segment that cannot be found in `raw` keeps its text.
pub fn project_edits(raw: &str, edits: &[Edit], segments: &mut [Segment]) {
    if edits.is_empty() {
        return;
    }
    let texts: Vec<String> = segments.iter().map(|s| s.text.clone()).collect();
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    for (seg, inside) in segments.iter_mut().zip(split_edits(raw, edits, &texts)) {
        if !inside.is_empty() {
            seg.text = apply_edits(seg.text.trim(), &inside);
        }
    }
}

/// Splits a review's edits (byte offsets into `raw`) among consecutive pieces of `raw` (a
/// recognizer's segments, in order): for each piece, the edits that fall wholly inside it, with
/// offsets into the piece's trimmed text. Pieces are found in `raw` in order; one that cannot be
/// found, and an edit across a piece boundary, get nothing (the whole text keeps every edit).
pub fn split_edits(raw: &str, edits: &[Edit], pieces: &[&str]) -> Vec<Vec<Edit>> {
    let mut cursor = 0;
    pieces
        .iter()
        .map(|piece| {
            let t = piece.trim();
            let Some(at) = raw.get(cursor..).and_then(|rest| rest.find(t)).map(|p| p + cursor) else {
                return Vec::new();
            };
            let end = at + t.len();
            cursor = end;
            edits
                .iter()
                .filter(|e| e.start >= at && e.end <= end)
                .cloned()
                .map(|mut e| {
                    e.start -= at;
                    e.end -= at;
                    e
                })
                .collect()
        })
        .collect()
}

/// The reviewers of a server, and the glossaries requests may name.
pub struct SecondPass {
    deterministic: ReviewChain,
    llm: Option<Arc<dyn Reviewer>>,
    wording: Option<Arc<dyn Reviewer>>,
    glossaries: GlossaryStore,
    default_mode: ReviewMode,
    realtime_budget: Duration,
    llm_context: usize,
    llm_stats: Option<Arc<LlmStats>>,
    stats: Arc<FinalizeStats>,
    prompt: PromptPolicy,
}

impl SecondPass {
    /// The reviewers of `cfg`; `llm` is the LLM reviewer built from `cfg.llm`, if any.
    pub fn new(cfg: &ReviewConfig, llm: Option<Arc<dyn Reviewer>>) -> Self {
        let target = if cfg.traditional_chinese {
            ScriptTarget::Traditional
        } else {
            ScriptTarget::Simplified
        };
        Self {
            deterministic: ReviewChain::deterministic(target),
            llm,
            wording: None,
            glossaries: GlossaryStore::new(cfg.glossary_dir.clone()),
            default_mode: cfg.default,
            realtime_budget: Duration::from_millis(cfg.realtime_budget_ms),
            llm_context: cfg.llm.as_ref().map_or(3, |l| l.context_utterances),
            llm_stats: None,
            stats: Arc::default(),
            prompt: PromptPolicy {
                enabled: cfg.glossary_prompt,
                max_terms: cfg.glossary_prompt_terms,
                verify_terms: cfg.verify_terms,
                ..Default::default()
            },
        }
    }

    /// The reviewers `cfg` configures: the LLM reviewer when `[review.llm]` is set (its URL and
    /// limits are checked now; no request is made), the wording reviewer when `[review.wording]`
    /// is (its model and word list are loaded now, relative paths under `models_dir`).
    pub fn from_config(cfg: &ReviewConfig, models_dir: &Path) -> Result<Self, FinalizeError> {
        let mut pass = match &cfg.llm {
            None => Self::new(cfg, None),
            Some(llm_cfg) => {
                let llm = LlmReviewer::new(llm_cfg).map_err(|e| FinalizeError::Llm(e.to_string()))?;
                let stats = llm.stats();
                let mut pass = Self::new(cfg, Some(Arc::new(llm)));
                pass.llm_stats = Some(stats);
                pass
            }
        };
        if let Some(w) = &cfg.wording {
            pass.wording = Some(load_wording(w, models_dir)?);
        }
        Ok(pass)
    }

    /// This pass with `reviewer` as its wording reviewer (tests give one over their own model).
    pub fn with_wording(mut self, reviewer: Arc<dyn Reviewer>) -> Self {
        self.wording = Some(reviewer);
        self
    }

    /// The LLM reviewer's outcome counters, when there is one.
    pub fn llm_stats(&self) -> Option<LlmStatsSnapshot> {
        self.llm_stats.as_ref().map(|s| s.snapshot())
    }

    /// The counters.
    pub fn stats(&self) -> &Arc<FinalizeStats> {
        &self.stats
    }

    /// How long a realtime final waits for its review.
    pub fn realtime_budget(&self) -> Duration {
        self.realtime_budget
    }

    /// Checks a request's review fields: the named glossary exists and parses, an LLM review has
    /// a reviewer. The glossary in force is the inline one, the named one and the keywords,
    /// together.
    pub fn plan(&self, fields: &ReviewFields, language: Option<&str>) -> Result<ReviewPlan, PlanError> {
        let mode = fields.mode.unwrap_or(self.default_mode);
        if mode == ReviewMode::Llm && self.llm.is_none() {
            return Err(PlanError::NoLlm);
        }
        let named = fields
            .glossary_id
            .as_deref()
            .map(|id| self.glossaries.get(id))
            .transpose()?;
        let parts: Vec<Arc<Glossary>> = fields.glossary.iter().cloned().chain(named).collect();
        let glossary = match (parts.as_slice(), fields.keywords.is_empty()) {
            ([], true) => Arc::default(),
            ([one], true) => one.clone(),
            _ => {
                let mut entries: Vec<GlossaryEntry> = parts.iter().flat_map(|g| g.entries().iter().cloned()).collect();
                entries.extend(Glossary::from_keywords(&fields.keywords).entries().iter().cloned());
                Arc::new(Glossary::new(entries))
            }
        };
        Ok(ReviewPlan {
            mode,
            glossary,
            language: language.map(str::to_string),
            prompt: PromptPolicy {
                enabled: fields.glossary_prompt.unwrap_or(self.prompt.enabled),
                ..self.prompt
            },
        })
    }

    /// The deterministic reviewers alone, inline (microseconds), for the stable prefix behind
    /// live partials: not counted in the review metrics, which count finals.
    pub fn review_partial(&self, plan: &ReviewPlan, text: &str) -> Reviewed {
        if plan.mode == ReviewMode::None || text.is_empty() {
            return Reviewed::unchanged(text);
        }
        let ctx = ReviewContext::with_language(plan.language.as_deref());
        into_reviewed(text, self.deterministic.review(text, &ctx, &plan.glossary))
    }

    /// The deterministic reviewers of a final, inline (microseconds), counted; the first stage
    /// of [`SecondPass::review`].
    fn review_fast(&self, plan: &ReviewPlan, text: &str) -> Reviewed {
        if plan.mode == ReviewMode::None || text.is_empty() {
            return Reviewed::unchanged(text);
        }
        let ctx = ReviewContext::with_language(plan.language.as_deref());
        let r = self.deterministic.review(text, &ctx, &plan.glossary);
        self.record(&self.deterministic.names(), &r);
        into_reviewed(text, r)
    }

    /// The whole review of a final: the deterministic reviewers, then the wording reviewer (when
    /// configured and the text has Han characters), then (with `review=llm`) the LLM reviewer,
    /// each of the last two on a blocking thread; `budget`, if given, bounds the two together and
    /// a stage past it is abandoned (its input kept). `previous` are the conversation's earlier
    /// finals, oldest first.
    pub async fn review(
        &self,
        plan: &ReviewPlan,
        text: &str,
        previous: &[String],
        budget: Option<Duration>,
    ) -> Reviewed {
        let mut out = self.review_fast(plan, text);
        if plan.mode == ReviewMode::None || text.is_empty() {
            return out;
        }
        let deadline = budget.map(|b| (tokio::time::Instant::now() + b, b));
        if let Some(wording) = self
            .wording
            .clone()
            .filter(|_| out.text.chars().any(crate::review::text::is_han))
        {
            self.review_blocking(wording, plan, Vec::new(), deadline, &mut out)
                .await;
        }
        if let Some(llm) = self.llm.clone().filter(|_| plan.mode == ReviewMode::Llm) {
            let context = previous[previous.len().saturating_sub(self.llm_context)..].to_vec();
            self.review_blocking(llm, plan, context, deadline, &mut out).await;
        }
        out
    }

    /// Runs `reviewer` on `out.text` on a blocking thread (abandoned at `deadline`, counted) and
    /// folds its answer into `out`.
    async fn review_blocking(
        &self,
        reviewer: Arc<dyn Reviewer>,
        plan: &ReviewPlan,
        context: Vec<String>,
        deadline: Option<(tokio::time::Instant, Duration)>,
        out: &mut Reviewed,
    ) {
        let name = reviewer.name();
        let input = out.text.clone();
        let glossary = plan.glossary.clone();
        let language = plan.language.clone();
        let job = tokio::task::spawn_blocking(move || {
            let ctx = ReviewContext {
                previous: &context,
                language: language.as_deref(),
            };
            let chain = ReviewChain::new().then(Shared(reviewer));
            (chain.names(), chain.review(&input, &ctx, &glossary))
        });
        let answer = match deadline {
            Some((at, budget)) => match tokio::time::timeout_at(at, job).await {
                Ok(joined) => joined,
                Err(_) => {
                    self.stats.count_budget_exceeded();
                    out.skipped
                        .push(format!("{name}: over the review budget of {} ms", budget.as_millis()));
                    return;
                }
            },
            None => job.await,
        };
        match answer {
            Ok((names, r)) => {
                self.record(&names, &r);
                out.skipped
                    .extend(r.failures.iter().map(|f| format!("{}: {}", f.reviewer, f.error)));
                out.edits = compose_edits(&out.raw, &out.text, &out.edits, &r.edits);
                out.text = r.text;
            }
            Err(e) => out.skipped.push(format!("{name}: {e}")),
        }
    }

    /// Counts each reviewer of a chain run once: `failed` if it was skipped, else `ok` with
    /// its edits.
    fn record(&self, names: &[&'static str], r: &ChainReview) {
        let mut names = names.to_vec();
        names.sort_unstable();
        names.dedup();
        for name in names {
            let failure = r.failures.iter().find(|f| f.reviewer == name);
            if let Some(f) = failure {
                tracing::warn!(reviewer = name, error = %f.error, "reviewer skipped");
            }
            let edits = r.edits.iter().filter(|e| e.reviewer == name).count();
            self.stats.count_review(name, failure.is_none(), edits);
        }
    }
}

/// The wording reviewer of `[review.wording]`: its language model and word list, loaded now.
fn load_wording(cfg: &WordingReviewConfig, models_dir: &Path) -> Result<Arc<dyn Reviewer>, FinalizeError> {
    let under = |p: &Path| {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            models_dir.join(p)
        }
    };
    let fail = |e: &dyn std::fmt::Display| FinalizeError::Wording(e.to_string());
    let lm = crate::engine::lm::load(&under(&cfg.model), cfg.threads).map_err(|e| fail(&e))?;
    let lexicon = Lexicon::load(&under(&cfg.lexicon)).map_err(|e| fail(&e))?;
    tracing::info!(model = lm.name(), words = lexicon.len(), "wording reviewer loaded");
    let policy = WordingPolicy {
        min_gain: cfg.min_gain,
        max_edits: cfg.max_edits,
    };
    Ok(Arc::new(WordingReviewer::new(lm, Arc::new(lexicon), policy)))
}

/// A shared reviewer in a chain.
struct Shared(Arc<dyn Reviewer>);

impl Reviewer for Shared {
    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn review(
        &self,
        text: &str,
        ctx: &ReviewContext<'_>,
        glossary: &Glossary,
    ) -> Result<crate::review::Review, crate::review::ReviewError> {
        self.0.review(text, ctx, glossary)
    }
}

fn into_reviewed(raw: &str, r: ChainReview) -> Reviewed {
    Reviewed {
        text: r.text,
        raw: raw.to_string(),
        edits: r.edits,
        skipped: r
            .failures
            .iter()
            .map(|f| format!("{}: {}", f.reviewer, f.error))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::config::LlmReviewConfig;
    use crate::review::{Review, ReviewError};

    /// A reviewer standing in for the LLM (the real one is tested against a real server in
    /// `tests/llm_reviewer.rs`): upper-cases after a delay, or fails.
    struct Upper {
        delay: Duration,
        fail: bool,
    }

    impl Reviewer for Upper {
        fn name(&self) -> &'static str {
            "llm"
        }

        fn review(&self, text: &str, _: &ReviewContext<'_>, _: &Glossary) -> Result<Review, ReviewError> {
            std::thread::sleep(self.delay);
            if self.fail {
                return Err(ReviewError::InconsistentEdits {
                    reviewer: "llm",
                    reason: "refused".into(),
                });
            }
            let to = text.to_uppercase();
            Ok(Review {
                edits: vec![Edit {
                    start: 0,
                    end: text.len(),
                    from: text.to_string(),
                    to: to.clone(),
                    reviewer: "llm",
                    term: None,
                    score: 0.5,
                }],
                text: to,
            })
        }
    }

    fn pass(llm: Option<Upper>) -> SecondPass {
        let cfg = ReviewConfig {
            llm: llm.is_some().then(LlmReviewConfig::default),
            ..Default::default()
        };
        SecondPass::new(&cfg, llm.map(|l| Arc::new(l) as Arc<dyn Reviewer>))
    }

    #[cfg(not(feature = "lm"))]
    #[test]
    fn a_wording_reviewer_needs_a_build_with_a_language_model() {
        let cfg = ReviewConfig {
            wording: Some(Default::default()),
            ..Default::default()
        };
        let e = SecondPass::from_config(&cfg, Path::new("models"))
            .err()
            .expect("no model in this build");
        let msg = e.to_string();
        assert!(
            msg.starts_with("[review.wording]") && msg.contains("--features lm"),
            "{msg}"
        );
    }
    /// A wording reviewer over a fixed choice, 平景 → 瓶颈 (the real one, with its language model,
    /// is tested in `tests/wording_lm.rs`).
    struct Wording;

    impl Reviewer for Wording {
        fn name(&self) -> &'static str {
            "wording"
        }

        fn review(&self, text: &str, _: &ReviewContext<'_>, _: &Glossary) -> Result<Review, ReviewError> {
            let Some(at) = text.find("平景") else {
                return Ok(Review::unchanged(text));
            };
            Ok(Review {
                text: text.replacen("平景", "瓶颈", 1),
                edits: vec![Edit {
                    start: at,
                    end: at + "平景".len(),
                    from: "平景".into(),
                    to: "瓶颈".into(),
                    reviewer: "wording",
                    term: None,
                    score: 0.9,
                }],
            })
        }
    }

    #[tokio::test]
    async fn the_wording_reviewer_runs_on_chinese_finals_before_the_llm_and_not_without_review() {
        let p = pass(Some(Upper {
            delay: Duration::ZERO,
            fail: false,
        }))
        .with_wording(Arc::new(Wording));
        let plan = p.plan(&fields(ReviewMode::Glossary, &[]), Some("zh")).unwrap();
        let r = p.review(&plan, "平景在 Redis 的连接数。", &[], None).await;
        assert_eq!(r.text, "瓶颈在 Redis 的连接数。");
        assert!(r.edits.iter().any(|e| e.reviewer == "wording" && e.from == "平景"));
        assert_eq!(
            apply_edits(&r.raw, &r.edits),
            r.text,
            "the audit trail rebuilds the text"
        );

        let plan = p.plan(&fields(ReviewMode::Llm, &[]), Some("zh")).unwrap();
        let r = p.review(&plan, "平景在 redis", &[], None).await;
        assert_eq!(r.text, "瓶颈在 REDIS", "wording first, then the LLM on its output");
        assert_eq!(apply_edits(&r.raw, &r.edits), r.text);

        let plan = p.plan(&fields(ReviewMode::None, &[]), Some("zh")).unwrap();
        assert_eq!(p.review(&plan, "平景在", &[], None).await.text, "平景在", "review=none");
    }

    /// `review=mode` with the keywords, and "cube netties" known as a misrecognition of the
    /// first keyword.
    fn fields(mode: ReviewMode, keywords: &[&str]) -> ReviewFields {
        let glossary = keywords.first().map(|k| {
            let json = format!(r#"[{{"term": "{k}", "misrecognitions": ["cube netties"]}}]"#);
            Arc::new(Glossary::from_json_str(&json).unwrap())
        });
        ReviewFields {
            mode: Some(mode),
            glossary,
            keywords: keywords[keywords.len().min(1)..]
                .iter()
                .map(|k| k.to_string())
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn the_audit_trail_counts_characters_not_bytes() {
        let raw = "我们用 cube netties 部署";
        let start = raw.find("cube").unwrap();
        let e = Edit {
            start,
            end: start + "cube netties".len(),
            from: "cube netties".into(),
            to: "Kubernetes".into(),
            reviewer: "glossary",
            term: Some("Kubernetes".into()),
            score: 1.0,
        };
        let v = edits_json(raw, &[e]);
        assert_eq!(v[0]["start"], 4, "我们用 and a space are 4 characters (10 bytes)");
        assert_eq!(v[0]["end"], 16);
        assert_eq!(
            (v[0]["to"].as_str(), v[0]["term"].as_str()),
            (Some("Kubernetes"), Some("Kubernetes"))
        );
    }

    #[test]
    fn plans_merge_glossaries_and_refuse_what_the_server_lacks() {
        let p = pass(None);
        let inline = Arc::new(
            Glossary::from_json_str(r#"[{"term": "Kubernetes", "misrecognitions": ["cube netties"]}]"#).unwrap(),
        );
        let plan = p
            .plan(
                &ReviewFields {
                    mode: Some(ReviewMode::Glossary),
                    glossary: Some(inline.clone()),
                    keywords: vec!["Grafana".into()],
                    ..Default::default()
                },
                Some("en"),
            )
            .unwrap();
        let terms: Vec<&str> = plan.glossary().entries().iter().map(|e| e.term.as_str()).collect();
        assert_eq!(terms, ["Kubernetes", "Grafana"]);
        let alone = p
            .plan(
                &ReviewFields {
                    glossary: Some(inline.clone()),
                    ..Default::default()
                },
                None,
            )
            .unwrap();
        assert!(Arc::ptr_eq(&alone.glossary, &inline), "one glossary is used as it is");
        assert_eq!(alone.mode(), ReviewMode::Glossary, "the configured default");

        let e = p.plan(&fields(ReviewMode::Llm, &[]), None).unwrap_err();
        assert!(matches!(e, PlanError::NoLlm) && e.param() == "review");
        let e = p
            .plan(
                &ReviewFields {
                    glossary_id: Some("team".into()),
                    ..Default::default()
                },
                None,
            )
            .unwrap_err();
        assert_eq!(e.param(), "glossary_id");
    }

    #[tokio::test]
    async fn reviews_keep_an_exact_audit_trail_and_survive_slow_or_failing_reviewers() {
        let raw = "we deploy on cube netties today";
        let p = pass(Some(Upper {
            delay: Duration::ZERO,
            fail: false,
        }));
        let plan = p.plan(&fields(ReviewMode::Llm, &["Kubernetes"]), Some("en")).unwrap();
        let r = p.review(&plan, raw, &[], None).await;
        assert_eq!(r.text, "WE DEPLOY ON KUBERNETES TODAY");
        assert_eq!((r.raw.as_str(), apply_edits(raw, &r.edits)), (raw, r.text.clone()));

        // review=glossary: the deterministic reviewers only
        let plan = p.plan(&fields(ReviewMode::Glossary, &["Kubernetes"]), None).unwrap();
        let r = p.review(&plan, raw, &[], None).await;
        assert_eq!(r.text, "we deploy on Kubernetes today");
        assert!(
            r.edits.iter().all(|e| e.term.as_deref() == Some("Kubernetes")),
            "{:?}",
            r.edits
        );
        // review=none: untouched
        let r = p.review(&ReviewPlan::none(), raw, &[], None).await;
        assert_eq!(r, Reviewed::unchanged(raw));

        // a slow LLM past the budget: the deterministic result goes out, counted
        let slow = pass(Some(Upper {
            delay: Duration::from_millis(400),
            fail: false,
        }));
        let plan = slow.plan(&fields(ReviewMode::Llm, &["Kubernetes"]), None).unwrap();
        let r = slow.review(&plan, raw, &[], Some(Duration::from_millis(20))).await;
        assert_eq!(r.text, "we deploy on Kubernetes today");
        assert_eq!(slow.stats().budget_exceeded(), 1);
        assert!(r.skipped[0].contains("budget"), "{:?}", r.skipped);

        // a failing LLM: skipped, counted as failed
        let failing = pass(Some(Upper {
            delay: Duration::ZERO,
            fail: true,
        }));
        let plan = failing.plan(&fields(ReviewMode::Llm, &[]), None).unwrap();
        let r = failing.review(&plan, raw, &[], None).await;
        assert_eq!((r.text.as_str(), r.skipped.len()), (raw, 1));
        assert!(failing.stats().reviews().contains(&(("llm", "failed"), 1)));
    }
}
