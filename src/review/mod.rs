//! Reviewers: second passes over a final transcript (issue 13).
//!
//! A [`Reviewer`] takes the recognized text, a [`ReviewContext`] (previous utterances of the
//! same conversation, the language hint) and a [`Glossary`], and returns the reviewed text with
//! the list of [`Edit`]s that turn the input into it. A [`ReviewChain`] runs reviewers in order
//! and composes their edits into one list against the chain's input; a reviewer that fails is
//! skipped and the previous text is kept (the architecture's rule for second passes).
//!
//! Offsets: every [`Edit`] carries **byte** offsets (`start..end`) into the UTF-8 text the edit
//! applies to: the reviewer's own input for [`Reviewer::review`], the chain's input for
//! [`ReviewChain::review`]. Edits are sorted and never overlap, so applying them from left to
//! right (see [`apply_edits`]) rebuilds the output.
//!
//! The reviewers:
//! - [`script::ScriptNormalizer`] (deterministic): simplified (or traditional on request)
//!   Chinese characters, full-width punctuation in Chinese sentences, one space between Han and
//!   Latin runs;
//! - [`corrector::GlossaryCorrector`] (deterministic): terms and their known misrecognitions
//!   matched by normalized text, pinyin (homophones and near-homophones), an English phonetic
//!   key, and across scripts; replaced by the canonical form;
//! - [`llm::LlmReviewer`]: an OpenAI-compatible chat-completions server asked to fix
//!   misrecognized terms, its answer accepted only through the pure guardrails of [`guard`]
//!   (edit-distance cap, no chatter, no dropped or invented content, no script change). It does
//!   blocking HTTP: callers run it off the async runtime (`crate::finalize` does).
//!
//! No transport types and no engine: the glossary, the conversion tables of the crates it uses,
//! and (for the LLM reviewer only) an HTTP client.

pub mod corrector;
pub mod glossary;
pub mod guard;
pub mod lexicon;
pub mod llm;
pub mod phonetic;
pub mod script;
pub mod text;

#[cfg(test)]
mod eval;

pub use corrector::GlossaryCorrector;
pub use glossary::{Glossary, GlossaryEntry, GlossaryError, TermLang};
pub use llm::{LlmError, LlmReviewer, LlmStats, LlmStatsSnapshot};
pub use script::{ScriptNormalizer, ScriptTarget};

/// What a reviewer knows besides the text itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReviewContext<'a> {
    /// Earlier final texts of the same conversation, oldest first.
    pub previous: &'a [String],
    /// The language hint of the request or session (`"en"`, `"zh"`, `"zh-Hant"` …), if any.
    pub language: Option<&'a str>,
}

impl<'a> ReviewContext<'a> {
    /// A context with a language hint and no history.
    pub fn with_language(language: Option<&'a str>) -> Self {
        Self {
            previous: &[],
            language,
        }
    }
}

/// One replacement: `text[start..end]` (byte offsets, see the module docs) was `from` and
/// becomes `to`.
#[derive(Debug, Clone, PartialEq)]
pub struct Edit {
    /// Byte offset of the first replaced byte.
    pub start: usize,
    /// Byte offset one past the last replaced byte (`start == end` for an insertion).
    pub end: usize,
    /// The replaced text (`text[start..end]`).
    pub from: String,
    /// The replacement.
    pub to: String,
    /// The reviewer that made the edit.
    pub reviewer: &'static str,
    /// The glossary term behind the edit, if any.
    pub term: Option<String>,
    /// How sure the reviewer is, in `0.0..=1.0` (1.0 for rule-based rewrites).
    pub score: f32,
}

/// A reviewer's answer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Review {
    /// The reviewed text.
    pub text: String,
    /// The edits from the input to `text`, sorted, non-overlapping.
    pub edits: Vec<Edit>,
}

impl Review {
    /// The input unchanged.
    pub fn unchanged(text: &str) -> Self {
        Self {
            text: text.to_string(),
            edits: Vec::new(),
        }
    }
}

/// Why a review or a glossary load failed.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    /// The glossary could not be loaded.
    #[error("glossary: {0}")]
    Glossary(#[from] GlossaryError),
    /// The LLM reviewer failed or its answer was refused ([`llm::LlmError`]).
    #[error("llm reviewer: {0}")]
    Llm(#[from] llm::LlmError),
    /// A reviewer's model failed (the wording reviewer's language model).
    #[error("{reviewer} reviewer: {reason}")]
    Model {
        /// The reviewer's name.
        reviewer: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// A reviewer produced edits that do not describe its output (a bug in that reviewer).
    #[error("reviewer {reviewer} produced inconsistent edits: {reason}")]
    InconsistentEdits {
        /// The reviewer's name.
        reviewer: &'static str,
        /// What was wrong.
        reason: String,
    },
}

/// A text-in, text-and-edits-out second pass.
pub trait Reviewer: Send + Sync {
    /// A short stable name, recorded in every [`Edit`] this reviewer makes.
    fn name(&self) -> &'static str;

    /// Review `text`; edits are in byte offsets of `text`.
    fn review(&self, text: &str, ctx: &ReviewContext<'_>, glossary: &Glossary) -> Result<Review, ReviewError>;
}

/// A reviewer that failed inside a chain (its input was kept).
#[derive(Debug)]
pub struct ReviewFailure {
    /// The reviewer's name.
    pub reviewer: &'static str,
    /// What went wrong.
    pub error: ReviewError,
}

/// The answer of a [`ReviewChain`].
#[derive(Debug, Default)]
pub struct ChainReview {
    /// The final text.
    pub text: String,
    /// The composed edits, in byte offsets of the chain's input.
    pub edits: Vec<Edit>,
    /// Reviewers that failed and were skipped.
    pub failures: Vec<ReviewFailure>,
}

/// Reviewers run in order, each on the previous one's output.
#[derive(Default)]
pub struct ReviewChain {
    reviewers: Vec<Box<dyn Reviewer>>,
}

impl ReviewChain {
    /// An empty chain (returns its input).
    pub fn new() -> Self {
        Self::default()
    }

    /// The default deterministic chain: script and form first (so matching sees simplified
    /// characters), then the glossary corrector, then script again (spacing around inserted
    /// terms).
    pub fn deterministic(target: ScriptTarget) -> Self {
        Self::new()
            .then(ScriptNormalizer::new(target))
            .then(GlossaryCorrector::default())
            .then(ScriptNormalizer::new(target))
    }

    /// Append a reviewer.
    pub fn then(mut self, reviewer: impl Reviewer + 'static) -> Self {
        self.reviewers.push(Box::new(reviewer));
        self
    }

    /// The names of the reviewers, in order.
    pub fn names(&self) -> Vec<&'static str> {
        self.reviewers.iter().map(|r| r.name()).collect()
    }

    /// Run every reviewer; a failing (or inconsistent) reviewer is recorded and skipped.
    pub fn review(&self, text: &str, ctx: &ReviewContext<'_>, glossary: &Glossary) -> ChainReview {
        let mut out = ChainReview {
            text: text.to_string(),
            ..Default::default()
        };
        for reviewer in &self.reviewers {
            let result = reviewer
                .review(&out.text, ctx, glossary)
                .and_then(|r| check_edits(reviewer.name(), &out.text, &r).map(|()| r));
            match result {
                Ok(r) => {
                    if !r.edits.is_empty() {
                        out.edits = compose_edits(text, &out.text, &out.edits, &r.edits);
                    }
                    out.text = r.text;
                }
                Err(error) => out.failures.push(ReviewFailure {
                    reviewer: reviewer.name(),
                    error,
                }),
            }
        }
        out
    }
}

/// Apply sorted, non-overlapping edits (byte offsets into `text`).
pub fn apply_edits(text: &str, edits: &[Edit]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for e in edits {
        out.push_str(&text[at..e.start]);
        out.push_str(&e.to);
        at = e.end;
    }
    out.push_str(&text[at..]);
    out
}

/// Whether `review` is what its edits say it is.
fn check_edits(reviewer: &'static str, input: &str, review: &Review) -> Result<(), ReviewError> {
    let bad = |reason: String| Err(ReviewError::InconsistentEdits { reviewer, reason });
    let mut at = 0;
    for e in &review.edits {
        if e.start < at || e.end < e.start || e.end > input.len() {
            return bad(format!("edit {}..{} out of order or out of range", e.start, e.end));
        }
        if !input.is_char_boundary(e.start) || !input.is_char_boundary(e.end) || input[e.start..e.end] != e.from {
            return bad(format!("edit {}..{} does not replace {:?}", e.start, e.end, e.from));
        }
        at = e.end;
    }
    if apply_edits(input, &review.edits) != review.text {
        return bad("edits do not rebuild the text".into());
    }
    Ok(())
}

/// Compose `first` (edits of `original` → `middle`) with `second` (edits of `middle` → final)
/// into edits of `original` → final. Edits that touch or overlap are merged into one (the
/// merged edit keeps the name, term and score of the later reviewer's edit).
pub fn compose_edits(original: &str, middle: &str, first: &[Edit], second: &[Edit]) -> Vec<Edit> {
    // Intervals in `middle` coordinates: (start, end, Some(first index) | None for second).
    let mut shift: isize = 0;
    let mut spans: Vec<(usize, usize, usize)> = Vec::with_capacity(first.len()); // m.0, m.1, idx
    for (i, e) in first.iter().enumerate() {
        let ms = (e.start as isize + shift) as usize;
        spans.push((ms, ms + e.to.len(), i));
        shift += e.to.len() as isize - (e.end - e.start) as isize;
    }
    // Original offset of a middle offset outside every first-edit output, given the first edits
    // that end at or before it.
    let shift_before = |p: usize, strict: bool| -> isize {
        let mut s: isize = 0;
        for &(m0, m1, i) in &spans {
            let before = if strict { m1 < p } else { m0 <= p && m1 <= p };
            if before {
                s = first[i].end as isize - m1 as isize;
            } else if m0 > p {
                break;
            }
        }
        s
    };
    let mut out = Vec::new();
    let (mut fi, mut si) = (0, 0);
    while fi < spans.len() || si < second.len() {
        // Start a cluster at the earliest interval; a cluster without a second edit passes through.
        let take_second = si < second.len() && (fi >= spans.len() || second[si].start <= spans[fi].0);
        if !take_second {
            let (_, m1, i) = spans[fi];
            if si >= second.len() || second[si].start > m1 {
                out.push(first[i].clone());
                fi += 1;
                continue;
            }
        }
        let mut ms = usize::MAX;
        let mut me = 0;
        let mut seconds = Vec::new();
        loop {
            if si < second.len() && (ms == usize::MAX || second[si].start <= me) {
                ms = ms.min(second[si].start);
                me = me.max(second[si].end);
                seconds.push(si);
                si += 1;
            } else if fi < spans.len() && (ms == usize::MAX || spans[fi].0 <= me) {
                ms = ms.min(spans[fi].0);
                me = me.max(spans[fi].1);
                fi += 1;
            } else {
                break;
            }
        }
        let os = (ms as isize + shift_before(ms, true)) as usize;
        let oe = (me as isize + shift_before(me, false)) as usize;
        let mut to = String::new();
        let mut at = ms;
        for &k in &seconds {
            to.push_str(&middle[at..second[k].start]);
            to.push_str(&second[k].to);
            at = second[k].end;
        }
        to.push_str(&middle[at..me]);
        let lead = seconds
            .iter()
            .map(|&k| &second[k])
            .find(|e| e.term.is_some())
            .unwrap_or(&second[seconds[0]]);
        out.push(Edit {
            start: os,
            end: oe,
            from: original[os..oe].to_string(),
            to,
            reviewer: lead.reviewer,
            term: lead.term.clone(),
            score: lead.score,
        });
    }
    out.retain(|e| e.from != e.to);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edit(text: &str, start: usize, end: usize, to: &str) -> Edit {
        Edit {
            start,
            end,
            from: text[start..end].to_string(),
            to: to.into(),
            reviewer: "t",
            term: None,
            score: 1.0,
        }
    }

    struct Fixed(Vec<(&'static str, &'static str)>);
    impl Reviewer for Fixed {
        fn name(&self) -> &'static str {
            "fixed"
        }
        fn review(&self, text: &str, _: &ReviewContext<'_>, _: &Glossary) -> Result<Review, ReviewError> {
            let mut edits = Vec::new();
            for (from, to) in &self.0 {
                if let Some(p) = text.find(from) {
                    edits.push(edit(text, p, p + from.len(), to));
                }
            }
            edits.sort_by_key(|e| e.start);
            Ok(Review {
                text: apply_edits(text, &edits),
                edits,
            })
        }
    }

    struct Broken;
    impl Reviewer for Broken {
        fn name(&self) -> &'static str {
            "broken"
        }
        fn review(&self, text: &str, _: &ReviewContext<'_>, _: &Glossary) -> Result<Review, ReviewError> {
            Ok(Review {
                text: format!("{text}!"),
                edits: Vec::new(),
            })
        }
    }

    #[test]
    fn chain_composes_edits_against_its_input() {
        let g = Glossary::default();
        let chain = ReviewChain::new()
            .then(Fixed(vec![("aa", "A"), ("cc", "CCC")]))
            .then(Fixed(vec![("Ab", "x"), ("d", "D"), ("CCC", "y")]));
        let input = "aabccd e";
        let out = chain.review(input, &ReviewContext::default(), &g);
        assert_eq!(out.text, "xyD e");
        assert_eq!(apply_edits(input, &out.edits), out.text);
        assert!(out.failures.is_empty());
        for e in &out.edits {
            assert_eq!(&input[e.start..e.end], e.from);
        }
    }

    #[test]
    fn compose_keeps_disjoint_edits_of_both_passes() {
        let original = "one two three four";
        let first = vec![edit(original, 4, 7, "2")];
        let middle = apply_edits(original, &first);
        let at = middle.find("three").unwrap();
        let second = vec![edit(&middle, 0, 3, "1"), edit(&middle, at, at + 5, "3")];
        let fin = apply_edits(&middle, &second);
        let composed = compose_edits(original, &middle, &first, &second);
        assert_eq!(composed.len(), 3);
        assert_eq!(apply_edits(original, &composed), fin);
        assert_eq!(composed[2].from, "three");
    }

    #[test]
    fn compose_handles_insertions_next_to_replacements() {
        let original = "中文abc";
        let first = vec![edit(original, 0, 6, "汉字")];
        let middle = apply_edits(original, &first);
        let second = vec![edit(&middle, 6, 6, " ")];
        let composed = compose_edits(original, &middle, &first, &second);
        assert_eq!(apply_edits(original, &composed), "汉字 abc");
    }

    #[test]
    fn deterministic_chain_end_to_end() {
        let mut lc = GlossaryEntry::new("LangChain");
        lc.misrecognitions = vec!["浪Chain".into()];
        let g = Glossary::new(vec![lc, GlossaryEntry::new("RAG"), GlossaryEntry::new("昇腾")]);
        let chain = ReviewChain::deterministic(ScriptTarget::Simplified);
        assert_eq!(chain.names(), ["script", "glossary", "script"]);
        let input = "我們用浪Chain搭了一個RAG的原型,跑在升騰上.";
        let out = chain.review(input, &ReviewContext::default(), &g);
        assert_eq!(out.text, "我们用 LangChain 搭了一个 RAG 的原型，跑在昇腾上。");
        assert_eq!(apply_edits(input, &out.edits), out.text);
        assert!(
            out.edits
                .iter()
                .any(|e| e.term.as_deref() == Some("LangChain") && e.reviewer == "glossary")
        );
        assert!(out.failures.is_empty());
        // Plain English passes through untouched.
        let plain = "He was not an ill disposed young man.";
        let out = chain.review(plain, &ReviewContext::default(), &g);
        assert_eq!(out.text, plain);
        assert!(out.edits.is_empty());
    }

    #[test]
    fn failing_reviewer_keeps_previous_text() {
        let g = Glossary::default();
        let chain = ReviewChain::new().then(Broken).then(Fixed(vec![("a", "b")]));
        let out = chain.review("a", &ReviewContext::default(), &g);
        assert_eq!(out.text, "b");
        assert_eq!(out.failures.len(), 1);
        assert_eq!(out.failures[0].reviewer, "broken");
    }
}
