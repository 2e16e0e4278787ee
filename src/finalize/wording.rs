//! The wording reviewer: Chinese words a recognizer wrote with the right sound and the wrong
//! characters (平景 for 瓶颈, 讯恋 for 训练, 向亮 for 向量), put right by a language model.
//!
//! Whisper base hears Mandarin syllables well and chooses their characters with a weak language
//! model of its own: about a third of its Chinese character errors on the terminology set read
//! exactly like the reference. For each run of Han characters the reviewer proposes the
//! dictionary words that read the same ([`Lexicon::sounding_like`]), scores the sentence with
//! each in place under a [`LanguageModel`], and takes the best one when the sentence gains at
//! least `min_gain` nats; then looks again, up to `max_edits` times.
//!
//! ```text
//!   "瓶颈在 Redis 的连结束"            windows of 2–4 Han characters, not inside a glossary term
//!     平景 → 瓶颈, 平静 …  连结 → 连接 …     same toneless pinyin, from the word list
//!   LM: log p(sentence with each)      the best, if it beats the sentence by min_gain: applied
//! ```
//!
//! # Invariants
//!
//! * **Only Han characters change, one for one.** A replacement has the window's length and
//!   pinyin, so byte offsets of the input stay valid for every edit (Han characters of the
//!   Unified Ideographs blocks are three bytes each).
//! * **The glossary's Chinese terms and earlier edits are never rewritten**: a window that
//!   overlaps an occurrence of a Han term or alias of the request's glossary, or a previous edit
//!   of this review, is not proposed.
//! * **Bounded.** At most [`PER_WINDOW`] words per window and [`MAX_PROPOSALS`] per round, most
//!   frequent first; at most `max_edits` rounds, one language-model call each.
//! * **Any failure keeps the text** (the review chain's rule): a scoring error is the review's
//!   error.

use std::sync::Arc;

use crate::engine::lm::LanguageModel;
use crate::review::lexicon::{self, Lexicon};
use crate::review::text::{is_han, is_kana};
use crate::review::{Edit, Glossary, Review, ReviewContext, ReviewError, Reviewer, ScriptTarget};

/// Words proposed for one window at most.
pub const PER_WINDOW: usize = 6;
/// Proposals scored per round at most.
pub const MAX_PROPOSALS: usize = 32;

/// How the reviewer decides (`[review.wording]`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WordingPolicy {
    /// Least gain in the sentence's log-probability (nats) for a replacement to be taken.
    pub min_gain: f64,
    /// Replacements per text at most.
    pub max_edits: usize,
}

impl Default for WordingPolicy {
    fn default() -> Self {
        Self {
            min_gain: 8.0,
            max_edits: 3,
        }
    }
}

/// One proposed replacement: `text[start..end]` becomes `word` (byte offsets).
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    /// Byte offset of the window.
    pub start: usize,
    /// Byte offset one past the window.
    pub end: usize,
    /// The dictionary word that reads like the window.
    pub word: String,
}

/// The reviewer.
pub struct WordingReviewer {
    lm: Arc<dyn LanguageModel>,
    lexicon: Arc<Lexicon>,
    policy: WordingPolicy,
}

impl WordingReviewer {
    /// A reviewer over `lm` and `lexicon`.
    pub fn new(lm: Arc<dyn LanguageModel>, lexicon: Arc<Lexicon>, policy: WordingPolicy) -> Self {
        Self { lm, lexicon, policy }
    }
}

impl Reviewer for WordingReviewer {
    fn name(&self) -> &'static str {
        "wording"
    }

    fn review(&self, text: &str, ctx: &ReviewContext<'_>, glossary: &Glossary) -> Result<Review, ReviewError> {
        // simplified Mandarin only: the word list is simplified, and kana means Japanese
        let simplified = ctx
            .language
            .is_none_or(|l| ScriptTarget::from_language(l) == Some(ScriptTarget::Simplified));
        if !simplified || text.chars().any(is_kana) {
            return Ok(Review::unchanged(text));
        }
        let mut current = text.to_string();
        let mut protected = glossary_spans(text, glossary);
        let mut edits: Vec<Edit> = Vec::new();
        for _ in 0..self.policy.max_edits {
            let proposals = propose(&current, &self.lexicon, &protected);
            if proposals.is_empty() {
                break;
            }
            let mut texts: Vec<String> = proposals.iter().map(|p| apply(&current, p)).collect();
            let gains = self.lm.gains(&current, &texts).map_err(|e| ReviewError::Model {
                reviewer: "wording",
                reason: e.to_string(),
            })?;
            let Some((best, gain)) = best_gain(&gains) else { break };
            if gain < self.policy.min_gain {
                break;
            }
            let p = &proposals[best];
            tracing::debug!(from = &current[p.start..p.end], to = %p.word, gain, "wording replaced");
            edits.push(Edit {
                start: p.start,
                end: p.end,
                from: current[p.start..p.end].to_string(),
                to: p.word.clone(),
                reviewer: "wording",
                term: None,
                score: (gain / (gain + self.policy.min_gain)) as f32,
            });
            protected.push((p.start, p.end));
            current = texts.swap_remove(best);
        }
        edits.sort_by_key(|e| e.start);
        Ok(Review { text: current, edits })
    }
}

/// The proposal that gains most, with its gain (finite gains only).
fn best_gain(gains: &[f64]) -> Option<(usize, f64)> {
    gains
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, g)| g.is_finite())
        .max_by(|a, b| a.1.total_cmp(&b.1))
}

/// `text` with `p` applied.
fn apply(text: &str, p: &Proposal) -> String {
    let mut out = String::with_capacity(text.len());
    out.push_str(&text[..p.start]);
    out.push_str(&p.word);
    out.push_str(&text[p.end..]);
    out
}

/// Byte spans of `text` holding a Han term or alias of `glossary`.
fn glossary_spans(text: &str, glossary: &Glossary) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    for e in glossary.entries() {
        for form in std::iter::once(&e.term).chain(&e.aliases) {
            if form.is_empty() || !form.chars().any(is_han) {
                continue;
            }
            spans.extend(text.match_indices(form.as_str()).map(|(at, f)| (at, at + f.len())));
        }
    }
    spans
}

/// Every window of 2–4 Han characters of `text` that overlaps no `protected` span, with the
/// dictionary words that read like it and differ from it ([`PER_WINDOW`] each, most frequent
/// first), [`MAX_PROPOSALS`] in all, the most frequent words first.
pub fn propose(text: &str, lexicon: &Lexicon, protected: &[(usize, usize)]) -> Vec<Proposal> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let end_of = |k: usize| chars.get(k).map_or(text.len(), |&(b, _)| b);
    let mut found: Vec<(u64, Proposal)> = Vec::new();
    for i in 0..chars.len() {
        for n in lexicon::MIN_CHARS..=lexicon::MAX_CHARS {
            if i + n > chars.len() || !chars[i..i + n].iter().all(|&(_, c)| is_han(c)) {
                break;
            }
            let (start, end) = (chars[i].0, end_of(i + n));
            if protected.iter().any(|&(s, e)| start < e && s < end) {
                continue;
            }
            let window = &text[start..end];
            found.extend(
                lexicon
                    .sounding_like(window)
                    .iter()
                    .filter(|(w, _)| w != window && w.len() == window.len())
                    .take(PER_WINDOW)
                    .map(|(w, f)| {
                        (
                            *f,
                            Proposal {
                                start,
                                end,
                                word: w.clone(),
                            },
                        )
                    }),
            );
        }
    }
    found.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.start.cmp(&b.1.start)));
    found.into_iter().take(MAX_PROPOSALS).map(|(_, p)| p).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::lm::LmError;
    use crate::review::GlossaryEntry;
    use std::sync::Mutex;

    /// A language model for the reviewer's decisions: a text's log-probability is the sum of the
    /// points of the words it contains (a table the test writes), and every call is recorded.
    struct Points {
        points: Vec<(&'static str, f64)>,
        calls: Mutex<Vec<Vec<String>>>,
        fail: bool,
    }

    impl Points {
        fn new(points: &[(&'static str, f64)]) -> Self {
            Self {
                points: points.to_vec(),
                calls: Mutex::new(Vec::new()),
                fail: false,
            }
        }
    }

    impl LanguageModel for Points {
        fn name(&self) -> &str {
            "points"
        }

        fn gains(&self, base: &str, alternatives: &[String]) -> Result<Vec<f64>, LmError> {
            self.calls.lock().unwrap().push(alternatives.to_vec());
            if self.fail {
                return Err(LmError::Inference("broken".into()));
            }
            let points = |t: &str| -> f64 { self.points.iter().filter(|(w, _)| t.contains(w)).map(|(_, p)| p).sum() };
            Ok(alternatives.iter().map(|t| points(t) - points(base)).collect())
        }
    }

    fn lexicon() -> Arc<Lexicon> {
        Arc::new(Lexicon::parse(
            "瓶颈 381 n\n平静 2000 a\n连接 2554 v\n连结 300 v\n导出 259 v\n向量 248 n\n训练 7829 vn\n",
        ))
    }

    fn review(lm: &Arc<Points>, text: &str, glossary: &Glossary, min_gain: f64) -> Result<Review, ReviewError> {
        let r = WordingReviewer::new(lm.clone(), lexicon(), WordingPolicy { min_gain, max_edits: 3 });
        r.review(text, &ReviewContext::default(), glossary)
    }

    #[test]
    fn a_same_sounding_word_the_model_prefers_by_the_margin_replaces_the_window() {
        let lm = Arc::new(Points::new(&[("瓶颈在", 9.0), ("平静在", 2.0), ("连接数", 7.0)]));
        let r = review(&lm, "平景在 Redis 的连结数。", &Glossary::default(), 6.0).unwrap();
        assert_eq!(r.text, "瓶颈在 Redis 的连接数。");
        let changes: Vec<(&str, &str)> = r.edits.iter().map(|e| (e.from.as_str(), e.to.as_str())).collect();
        assert_eq!(changes, [("平景", "瓶颈"), ("连结", "连接")], "sorted by position");
        for e in &r.edits {
            assert_eq!(
                &"平景在 Redis 的连结数。"[e.start..e.end],
                e.from,
                "offsets are the input's"
            );
            assert_eq!(e.reviewer, "wording");
        }
        assert_eq!(
            lm.calls.lock().unwrap().len(),
            2,
            "two edits; nothing is left to propose after them"
        );
    }

    #[test]
    fn a_gain_below_the_margin_or_a_glossary_term_keeps_the_text() {
        let lm = Arc::new(Points::new(&[("瓶颈", 5.0)]));
        let r = review(&lm, "平景在这里", &Glossary::default(), 6.0).unwrap();
        assert_eq!(r.text, "平景在这里", "5 nats is below the margin of 6");
        assert!(r.edits.is_empty());

        let lm = Arc::new(Points::new(&[("瓶颈", 50.0)]));
        let g = Glossary::new(vec![GlossaryEntry::new("平景")]);
        let r = review(&lm, "平景在这里", &g, 6.0).unwrap();
        assert_eq!(r.text, "平景在这里", "the glossary's own term is never rewritten");
        assert!(lm.calls.lock().unwrap().is_empty(), "nothing to propose, no model call");
    }

    #[test]
    fn an_edit_is_not_rewritten_by_a_later_round_and_rounds_are_bounded() {
        // 平静 then 瓶颈 would both gain over the window if it could be replaced twice
        let lm = Arc::new(Points::new(&[
            ("平静", 10.0),
            ("瓶颈", 20.0),
            ("连接", 30.0),
            ("训练", 40.0),
        ]));
        let text = "平景和连结和讯恋和倒出";
        let r = WordingReviewer::new(
            lm.clone(),
            lexicon(),
            WordingPolicy {
                min_gain: 1.0,
                max_edits: 2,
            },
        )
        .review(text, &ReviewContext::default(), &Glossary::default())
        .unwrap();
        assert_eq!(r.text, "平景和连接和训练和倒出", "the two best, then the cap");
        assert_eq!(lm.calls.lock().unwrap().len(), 2);
        let r = review(&lm, "平景", &Glossary::default(), 1.0).unwrap();
        assert_eq!(r.text, "瓶颈", "the best of the window's words, once");
        assert_eq!(r.edits.len(), 1);
    }

    #[test]
    fn a_failing_model_is_the_reviews_error_and_latin_text_costs_nothing() {
        let mut broken = Points::new(&[]);
        broken.fail = true;
        let lm = Arc::new(broken);
        let e = review(&lm, "平景在这里", &Glossary::default(), 6.0).unwrap_err();
        assert!(e.to_string().contains("broken"), "{e}");
        let r = review(&lm, "no Chinese here", &Glossary::default(), 6.0).unwrap();
        assert_eq!(r.text, "no Chinese here");
        let r = WordingReviewer::new(lm.clone(), lexicon(), WordingPolicy::default())
            .review(
                "平景在这里",
                &ReviewContext::with_language(Some("zh-Hant")),
                &Glossary::default(),
            )
            .unwrap();
        assert_eq!(r.text, "平景在这里", "traditional Chinese is left alone");
        assert_eq!(
            lm.calls.lock().unwrap().len(),
            1,
            "only the simplified Chinese text reached the model"
        );
    }

    #[test]
    fn proposals_are_capped_per_window_and_skip_protected_spans() {
        let mut list = String::new();
        // ten words that read "shi shi", the window itself among them
        for (k, w) in [
            "实时", "事实", "试试", "适时", "实施", "时事", "逝世", "誓师", "失实", "史诗",
        ]
        .iter()
        .enumerate()
        {
            list.push_str(&format!("{w} {}\n", 100 - k));
        }
        let lex = Lexicon::parse(&list);
        let p = propose("实时", &lex, &[]);
        assert_eq!(p.len(), PER_WINDOW);
        assert!(p.iter().all(|p| p.word != "实时"), "the window itself is not proposed");
        assert_eq!(p[0].word, "事实", "most frequent first");
        assert!(propose("实时", &lex, &[(0, 3)]).is_empty(), "overlaps a protected span");
    }
}
