//! The glossary corrector: finds glossary terms that the recognizer got wrong and writes them in
//! their canonical form.
//!
//! Candidates are windows of consecutive tokens (Latin words, Han characters) not separated by
//! punctuation, found through the glossary's indexes:
//! - **exact**: the window's normalized text (case, spaces, hyphens and script variants ignored)
//!   is a form of a term. A canonical form is fixed up to its written form ("Click House" →
//!   "ClickHouse"); an alias is a correct name and is left alone; a listed misrecognition is
//!   replaced by the term (also when it doubles as an alias).
//! - **English sound-alike**: Latin windows (one word or a split/respelled run) whose letters
//!   and sound key ([`phonetic::english_key`]) are close to a Latin term or a long listed
//!   misrecognition ("CuberNets", "Kuber netes", "posters QL").
//! - **pinyin**: Han windows whose toneless pinyin equals a Han term's with the fuzzy pairs
//!   (z/zh, c/ch, s/sh, n/l, f/h, an/ang, en/eng, in/ing); two-character terms need identical
//!   pinyin with tones and a shared character, longer ones a high mean syllable similarity.
//! - **across scripts**: a run of transliteration characters whose romanized pinyin has the
//!   sound key of a Latin term (克劳德 → Claude), in code-switched text only.
//!
//! False corrections cost more than missed ones, so in plain English text (no Han characters, no
//! Chinese language hint) a window made only of common English words in their ordinary case is
//! never changed ("so far", "where", "cloud" stay), unless it spells a term exactly once joined
//! ("sentence piece" → "SentencePiece"). Overlaps are resolved by exact matches first, then
//! longer windows, then higher scores; a window is only ever replaced by a whole term.

use std::collections::{HashMap, HashSet};

use super::glossary::{self, FormKind, Glossary, GlossaryIndex};
use super::phonetic;
use super::text::{self, Token, TokenKind};
use super::{Edit, Review, ReviewContext, ReviewError, Reviewer};

const NAME: &str = "glossary";

/// Thresholds of the corrector (defaults tuned on one half of the terminology set, by sentence).
#[derive(Debug, Clone)]
pub struct CorrectorConfig {
    /// Minimum score of an English sound-alike match (mean of letter and sound-key similarity).
    pub latin_threshold: f32,
    /// Minimum mean syllable similarity of a pinyin match of three or more characters.
    pub han_threshold: f32,
    /// Minimum sound-key similarity of a transliteration matched across scripts.
    pub cross_threshold: f32,
    /// Minimum letters of a Latin term to be matched by sound (shorter: exact forms only).
    pub min_latin_letters: usize,
    /// `latin_threshold` inside Chinese text, where a Latin word is most likely a term.
    pub code_switched_latin_threshold: f32,
    /// `min_latin_letters` inside Chinese text.
    pub code_switched_min_latin_letters: usize,
    /// Added to fuzzy scores of terms already seen in the previous utterances.
    pub context_bonus: f32,
    /// How many previous utterances to look at.
    pub context_utterances: usize,
}

impl Default for CorrectorConfig {
    fn default() -> Self {
        Self {
            latin_threshold: 0.78,
            han_threshold: 0.85,
            cross_threshold: 0.8,
            min_latin_letters: 5,
            code_switched_latin_threshold: 0.72,
            code_switched_min_latin_letters: 4,
            context_bonus: 0.04,
            context_utterances: 8,
        }
    }
}

/// The deterministic glossary corrector.
#[derive(Debug, Clone, Default)]
pub struct GlossaryCorrector {
    /// Thresholds.
    pub config: CorrectorConfig,
}

impl GlossaryCorrector {
    /// A corrector with these thresholds.
    pub fn new(config: CorrectorConfig) -> Self {
        Self { config }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Strength {
    Fuzzy = 0,
    Exact = 1,
}

#[derive(Debug, Clone)]
struct Candidate {
    first: usize,
    last: usize, // inclusive token index
    entry: u32,
    strength: Strength,
    /// Leave the span as it is (a correct name).
    keep: bool,
    score: f32,
}

/// Tokens of a window that may be replaced only with extra evidence.
fn plain_english(tokens: &[Token], text: &str) -> bool {
    tokens.iter().all(|t| {
        if t.kind != TokenKind::Latin || !text::is_common_word(&t.key) {
            return false;
        }
        let s = t.text(text);
        if s.chars().filter(|c| c.is_alphanumeric()).count() <= 1 {
            // "a", "I", "A": ordinary; another capital letter alone ("engine X") is not.
            return s == "I" || s == "A" || s.chars().all(|c| !c.is_uppercase());
        }
        let mut chars = s.chars();
        let first_upper = chars.next().is_some_and(char::is_uppercase);
        let rest_lower = chars.all(|c| !c.is_uppercase());
        rest_lower && (!first_upper || t.sentence_start)
    })
}

impl Reviewer for GlossaryCorrector {
    fn name(&self) -> &'static str {
        NAME
    }

    fn review(&self, text: &str, ctx: &ReviewContext<'_>, glossary: &Glossary) -> Result<Review, ReviewError> {
        if glossary.is_empty() || text.is_empty() {
            return Ok(Review::unchanged(text));
        }
        let ix = glossary.index();
        let tokens = text::tokenize(text, |c| glossary.fold(c));
        let code_switched = tokens.iter().any(|t| t.kind == TokenKind::Han)
            || ctx.language.is_some_and(|l| {
                let l = l.to_ascii_lowercase();
                l.starts_with("zh") || l.starts_with("yue") || l == "cmn"
            });
        let seen = self.seen_terms(ctx, glossary);
        let mut cands = Vec::new();
        exact_candidates(text, &tokens, glossary, code_switched, &mut cands);
        self.latin_candidates(text, &tokens, ix, code_switched, &seen, &mut cands);
        self.han_candidates(&tokens, ix, &seen, &mut cands);
        if code_switched {
            self.cross_candidates(&tokens, ix, &seen, &mut cands);
        }
        Ok(build_review(text, &tokens, glossary, select(cands)))
    }
}

impl GlossaryCorrector {
    /// Terms named (canonically or by an alias) in the recent previous utterances.
    fn seen_terms(&self, ctx: &ReviewContext<'_>, glossary: &Glossary) -> HashSet<u32> {
        let ix = glossary.index();
        let mut seen = HashSet::new();
        let skip = ctx.previous.len().saturating_sub(self.config.context_utterances);
        for prev in &ctx.previous[skip..] {
            let tokens = text::tokenize(prev, |c| glossary.fold(c));
            for_each_window(&tokens, ix.max_exact_tokens, |first, last, key| {
                let _ = (first, last);
                if let Some(refs) = ix.exact.get(key) {
                    seen.extend(
                        refs.iter()
                            .filter(|r| r.kind != FormKind::Misrecognition)
                            .map(|r| r.entry),
                    );
                }
            });
        }
        seen
    }

    fn bonus(&self, seen: &HashSet<u32>, entry: u32) -> f32 {
        if seen.contains(&entry) {
            self.config.context_bonus
        } else {
            0.0
        }
    }

    fn latin_candidates(
        &self,
        text: &str,
        tokens: &[Token],
        ix: &GlossaryIndex,
        code_switched: bool,
        seen: &HashSet<u32>,
        out: &mut Vec<Candidate>,
    ) {
        let max_words = ix.max_latin_words + 2;
        let (threshold, min_letters) = if code_switched {
            (
                self.config.code_switched_latin_threshold,
                self.config.code_switched_min_latin_letters,
            )
        } else {
            (self.config.latin_threshold, self.config.min_latin_letters)
        };
        for first in 0..tokens.len() {
            let mut letters = String::new();
            for last in first..tokens.len().min(first + max_words) {
                let t = &tokens[last];
                if t.kind != TokenKind::Latin || (last > first && !t.joined_to_prev) {
                    break;
                }
                letters.push_str(&t.key);
                if !code_switched && plain_english(&tokens[first..=last], text) {
                    continue;
                }
                // A split term does not start or end with a function word ("Pya No to" is
                // "pyannote" and "to").
                if last > first && (is_function_word(&tokens[first], text) || is_function_word(t, text)) {
                    continue;
                }
                let key = phonetic::english_key(&letters);
                if key.len() < 2 || letters.len() < MIN_WINDOW_LETTERS {
                    continue;
                }
                for id in unique_ids(&ix.latin_keys, glossary::deletion_variants(&key)) {
                    let form = &ix.latin_forms[id as usize];
                    let term_letters = match form.form.kind {
                        FormKind::Canonical => form.letters.chars().count(),
                        _ => MISRECOGNITION_ANCHOR_LETTERS,
                    };
                    if term_letters < min_letters
                        || form.key.chars().next() != key.chars().next()
                        || last - first + 1 > form.words + 2
                    {
                        continue;
                    }
                    let (a, b) = (letters.len() as f32, form.letters.len() as f32);
                    if a < 0.6 * b || a > 1.6 * b {
                        continue;
                    }
                    let spelled = text::similarity(&letters, &form.letters);
                    let score =
                        0.5 * spelled + 0.5 * text::similarity(&key, &form.key) + self.bonus(seen, form.form.entry);
                    // A sound-key coincidence between different spellings is no evidence.
                    if spelled >= MIN_SPELLING_SIMILARITY && score >= threshold && letters != form.letters {
                        out.push(Candidate {
                            first,
                            last,
                            entry: form.form.entry,
                            strength: Strength::Fuzzy,
                            keep: false,
                            score: score.min(1.0),
                        });
                    }
                }
            }
        }
    }

    fn han_candidates(&self, tokens: &[Token], ix: &GlossaryIndex, seen: &HashSet<u32>, out: &mut Vec<Candidate>) {
        if ix.han_forms.is_empty() {
            return;
        }
        let han = glossary::HanSyllables::new(tokens);
        for &n in &ix.han_lengths {
            for first in 0..tokens.len().saturating_sub(n - 1) {
                if !han.is_window(tokens, first, n) {
                    continue;
                }
                let last = first + n - 1;
                let mut keys = vec![glossary::han_key(han.first_readings(first, n), None)];
                if n >= glossary::HAN_WILDCARD_MIN {
                    keys.extend((0..n).map(|w| glossary::han_key(han.first_readings(first, n), Some(w))));
                }
                for id in unique_ids(&ix.han_keys, keys) {
                    let form = &ix.han_forms[id as usize];
                    if form.chars.len() != n {
                        continue;
                    }
                    let (sims, same) = han.similarities(first, form);
                    if same == n {
                        continue;
                    }
                    let mean = sims.iter().sum::<f32>() / n as f32;
                    let ok = match n {
                        2 => same >= 1 && sims.iter().all(|&s| s >= phonetic::TONE_EXACT),
                        3 => {
                            same >= 1
                                && sims.iter().all(|&s| s > 0.0)
                                && mean + self.bonus(seen, form.entry) >= self.config.han_threshold
                        }
                        _ => {
                            let zeros = sims.iter().filter(|&&s| s == 0.0).count();
                            let others = sims.iter().sum::<f32>() / (n - zeros) as f32;
                            match zeros {
                                0 => {
                                    (same >= 1 || mean >= 0.9)
                                        && mean + self.bonus(seen, form.entry) >= self.config.han_threshold
                                }
                                // One syllable far off: the rest must carry it (the other three
                                // characters of a four-character term, or most of a longer one).
                                1 if n == 4 => same == 3,
                                1 => same >= 2 && others + self.bonus(seen, form.entry) >= ONE_MISS_REST,
                                _ => false,
                            }
                        }
                    };
                    if ok {
                        out.push(Candidate {
                            first,
                            last,
                            entry: form.entry,
                            strength: Strength::Fuzzy,
                            keep: false,
                            score: mean,
                        });
                    }
                }
            }
        }
    }

    fn cross_candidates(&self, tokens: &[Token], ix: &GlossaryIndex, seen: &HashSet<u32>, out: &mut Vec<Candidate>) {
        if ix.cross_forms.is_empty() {
            return;
        }
        for first in 0..tokens.len() {
            let mut syllables: Vec<String> = Vec::new();
            for (last, t) in tokens.iter().enumerate().skip(first).take(MAX_TRANSLITERATION_CHARS) {
                let Some(c) = t.key.chars().next() else { break };
                if t.kind != TokenKind::Han
                    || !phonetic::is_transliteration_char(c)
                    || (last > first && !t.joined_to_prev)
                {
                    break;
                }
                let Some(r) = phonetic::readings(c).into_iter().next() else {
                    break;
                };
                syllables.push(r.plain);
                if syllables.len() < 2 {
                    continue;
                }
                let roman = phonetic::romanize_pinyin(syllables.iter().map(String::as_str));
                let key = phonetic::fold_liquids(&phonetic::english_key(&roman));
                if key.len() < 3 {
                    continue;
                }
                for id in unique_ids(&ix.cross_keys, glossary::deletion_variants(&key)) {
                    let form = &ix.cross_forms[id as usize];
                    if form.key.len() < 3 || form.key.chars().next() != key.chars().next() {
                        continue;
                    }
                    let score = text::similarity(&key, &form.key) + self.bonus(seen, form.entry);
                    if score >= self.config.cross_threshold {
                        out.push(Candidate {
                            first,
                            last,
                            entry: form.entry,
                            strength: Strength::Fuzzy,
                            keep: false,
                            score: score.min(1.0),
                        });
                    }
                }
            }
        }
    }
}

/// Letters a listed misrecognition counts as when checking `min_latin_letters` (its term may be
/// short, like an acronym; the long misrecognition itself is the evidence).
const MISRECOGNITION_ANCHOR_LETTERS: usize = usize::MAX;
/// Longest Han run compared with Latin terms.
const MAX_TRANSLITERATION_CHARS: usize = 6;
/// Fewest letters of a window matched by sound ("ASR" is nobody's respelling).
const MIN_WINDOW_LETTERS: usize = 4;
/// Least letter similarity of an English sound-alike match ("bad line" is not "PDL one").
const MIN_SPELLING_SIMILARITY: f32 = 0.6;
/// Mean similarity the other syllables of a five-or-more-character term need when one is off.
const ONE_MISS_REST: f32 = 0.9;
/// Call `f(first, last, key)` for each window of up to `max` joined tokens.
fn for_each_window(tokens: &[Token], max: usize, mut f: impl FnMut(usize, usize, &str)) {
    for first in 0..tokens.len() {
        let mut key = String::new();
        for (last, t) in tokens.iter().enumerate().skip(first).take(max) {
            if last > first && !t.joined_to_prev {
                break;
            }
            key.push_str(&t.key);
            f(first, last, &key);
        }
    }
}

/// A lower-case function word.
fn is_function_word(t: &Token, text: &str) -> bool {
    const WORDS: [&str; 24] = [
        "a", "an", "the", "to", "of", "in", "on", "at", "by", "for", "with", "and", "or", "but", "is", "are", "was",
        "be", "it", "as", "that", "this", "from", "into",
    ];
    t.kind == TokenKind::Latin && WORDS.contains(&t.key.as_str()) && t.text(text).chars().all(|c| !c.is_uppercase())
}

/// Whether a term's case carries meaning inside the word (an upper-case letter after the first).
fn inner_case(term: &str) -> bool {
    term.chars().skip(1).any(char::is_uppercase)
}

fn exact_candidates(text: &str, tokens: &[Token], glossary: &Glossary, code_switched: bool, out: &mut Vec<Candidate>) {
    let ix = glossary.index();
    let glossary_term = |e: u32| glossary.entries()[e as usize].term.as_str();
    // Two extra tokens: a form may come out split ("Kuber netes", "click house").
    for_each_window(tokens, ix.max_exact_tokens + 2, |first, last, key| {
        let Some(refs) = ix.exact.get(key) else { return };
        let window = &tokens[first..=last];
        let plain = !code_switched && plain_english(window, text);
        let canonical = refs.iter().find(|r| r.kind == FormKind::Canonical);
        let misrecognition = refs.iter().find(|r| r.kind == FormKind::Misrecognition);
        let surface = &text[window[0].start..window[window.len() - 1].end];
        // An alias whose key is also listed as a misrecognition of its term is not a correct name.
        let listed_wrong = |entry: u32| {
            refs.iter()
                .any(|m| m.kind == FormKind::Misrecognition && m.entry == entry)
        };
        let written = |r: &&super::glossary::FormRef| {
            let e = &glossary.entries()[r.entry as usize];
            match r.kind {
                FormKind::Canonical => e.term == surface,
                FormKind::Alias => e.aliases.iter().any(|a| a == surface) && !listed_wrong(r.entry),
                FormKind::Misrecognition => false,
            }
        };
        let (entry, keep) = if let Some(r) = refs.iter().find(written) {
            // Written exactly as the glossary writes a correct name ("ECR" for Amazon ECR).
            (r.entry, true)
        } else if let Some(c) = canonical {
            // A term written with other spacing: fix it. Only case differs: fix it only for
            // terms whose case carries meaning inside the word (PyTorch, gRPC, NGINX); "superset"
            // or a sentence-initial "Troponin" stay as they are.
            let case_only =
                surface.chars().filter(|c| !c.is_whitespace()).count() == key.chars().count() && first == last;
            (c.entry, case_only && !inner_case(glossary_term(c.entry)))
        } else if let Some(m) = misrecognition {
            if short_han_misrecognition(window) {
                // A two-character Chinese word (八个, 回归) is not evidence enough by itself: the
                // pinyin match (same tones, a shared character) decides.
                return;
            }
            // An ordinary English phrase ("so far") is kept, and nothing else may rewrite it.
            (m.entry, plain)
        } else {
            (refs[0].entry, true)
        };
        out.push(Candidate {
            first,
            last,
            entry,
            strength: Strength::Exact,
            keep,
            score: 1.0,
        });
    });
}

/// A listed misrecognition of two or fewer Han characters is usually an ordinary word (八个).
fn short_han_misrecognition(window: &[Token]) -> bool {
    window.iter().all(|t| t.kind == TokenKind::Han) && window.len() <= 2
}

/// Non-overlapping candidates: exact ones first (longer first), then fuzzy ones by score
/// (longer first on ties).
fn select(mut cands: Vec<Candidate>) -> Vec<Candidate> {
    cands.sort_by(|a, b| {
        let len = (b.last - b.first).cmp(&(a.last - a.first));
        b.strength
            .cmp(&a.strength)
            .then(if a.strength == Strength::Exact {
                len
            } else {
                std::cmp::Ordering::Equal
            })
            .then(b.score.total_cmp(&a.score))
            .then(len)
            .then(a.first.cmp(&b.first))
    });
    let mut taken: Vec<Candidate> = Vec::new();
    for c in cands {
        if taken.iter().all(|t| c.last < t.first || c.first > t.last) {
            taken.push(c);
        }
    }
    taken.retain(|c| !c.keep);
    taken.sort_by_key(|c| c.first);
    taken
}

fn build_review(text: &str, tokens: &[Token], glossary: &Glossary, chosen: Vec<Candidate>) -> Review {
    let mut edits = Vec::new();
    for c in chosen {
        let term = &glossary.entries()[c.entry as usize].term;
        let (start, mut end) = (tokens[c.first].start, tokens[c.last].end);
        // A window ending in a dotted acronym ("W.E.R.", "Argos e.d.") takes its last dot.
        let dotted = c.last > c.first
            && &text[tokens[c.last - 1].end..tokens[c.last].start] == "."
            && tokens[c.last].end - tokens[c.last].start == 1;
        if dotted && text[end..].starts_with('.') {
            end += 1;
        }
        let from = &text[start..end];
        if from == term {
            continue;
        }
        let mut to = term.clone();
        // A lower-case term starting a sentence keeps the sentence's capital ("Troponin was …").
        let tok = &tokens[c.first];
        if tok.sentence_start
            && tok.kind == TokenKind::Latin
            && !term.chars().any(char::is_uppercase)
            && from.chars().next().is_some_and(char::is_uppercase)
        {
            let mut cs = term.chars();
            to = cs
                .next()
                .map(|f| f.to_uppercase().chain(cs).collect())
                .unwrap_or_default();
        }
        let before = text[..start].chars().next_back();
        let after = text[end..].chars().next();
        if before.is_some_and(text::is_han) && term.chars().next().is_some_and(text::is_latin) {
            to.insert(0, ' ');
        }
        if after.is_some_and(text::is_han) && term.chars().next_back().is_some_and(text::is_latin) {
            to.push(' ');
        }
        if to == from {
            continue;
        }
        edits.push(Edit {
            start,
            end,
            from: from.to_string(),
            to,
            reviewer: NAME,
            term: Some(term.clone()),
            score: c.score,
        });
    }
    Review {
        text: super::apply_edits(text, &edits),
        edits,
    }
}

/// The ids filed in `map` under any of `keys`, each once, in the order first met.
fn unique_ids(map: &HashMap<String, Vec<u32>>, keys: impl IntoIterator<Item = String>) -> Vec<u32> {
    let mut seen = HashSet::new();
    keys.into_iter()
        .filter_map(|k| map.get(&k))
        .flatten()
        .copied()
        .filter(|id| seen.insert(*id))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::{GlossaryEntry, apply_edits};

    /// A glossary entry written as (term, aliases, misrecognitions).
    type Spec<'a> = (&'a str, &'a [&'a str], &'a [&'a str]);

    fn glossary(specs: &[Spec]) -> Glossary {
        Glossary::new(
            specs
                .iter()
                .map(|(term, aliases, mis)| {
                    let mut e = GlossaryEntry::new(*term);
                    e.aliases = aliases.iter().map(|s| s.to_string()).collect();
                    e.misrecognitions = mis.iter().map(|s| s.to_string()).collect();
                    e
                })
                .collect(),
        )
    }

    /// The corrected text of `s` (no language hint), after checking that every edit describes
    /// the span it replaces and that applying the edits gives the reviewed text.
    fn fix(g: &Glossary, s: &str) -> String {
        let r = GlossaryCorrector::default()
            .review(s, &ReviewContext::default(), g)
            .unwrap();
        assert_eq!(apply_edits(s, &r.edits), r.text);
        for e in &r.edits {
            assert_eq!(&s[e.start..e.end], e.from);
            assert_eq!(e.reviewer, "glossary");
            assert!(e.term.is_some());
        }
        r.text
    }

    /// Checks every (heard, expected) case against `g`.
    fn assert_fixes(g: &Glossary, cases: &[(&str, &str)]) {
        for (heard, expected) in cases {
            assert_eq!(fix(g, heard), *expected, "heard: {heard}");
        }
    }

    #[test]
    fn pinyin_homophones_become_the_term() {
        let g = glossary(&[("昇腾", &[], &[]), ("何恺明", &[], &[]), ("澜舟科技", &[], &[])]);
        assert_fixes(
            &g,
            &[
                ("训练任务迁移到升腾集群上了", "训练任务迁移到昇腾集群上了"),
                ("何凯明的论文", "何恺明的论文"),
                // a made-up company name, one homophone character
                ("我们和兰舟科技合作", "我们和澜舟科技合作"),
                // traditional input matches too
                ("遷移到昇騰", "遷移到昇腾"),
            ],
        );
    }

    #[test]
    fn near_homophones_with_fuzzy_initials_and_finals() {
        let g = glossary(&[("知识蒸馏", &[], &[]), ("深度求索", &[], &[]), ("星澜智算", &[], &[])]);
        assert_fixes(
            &g,
            &[
                // zheng/zhen (eng/en), zh/z
                ("我们用知识真流把大模型压缩了", "我们用知识蒸馏把大模型压缩了"),
                ("深度球索发布了新模型", "深度求索发布了新模型"),
                // made-up term: xing/xin (ing/in), lan/nan (n/l)
                ("新南智算的集群", "星澜智算的集群"),
            ],
        );
    }

    #[test]
    fn two_character_terms_need_same_tones_and_a_shared_character() {
        let g = glossary(&[("实时", &[], &[]), ("幂等", &[], &[])]);
        assert_fixes(
            &g,
            &[
                // 事实 shi4 shi2 vs 实时 shi2 shi2: another word, left alone
                ("这是事实", "这是事实"),
                ("接口必须保证密等", "接口必须保证幂等"),
            ],
        );
    }

    #[test]
    fn english_phonetic_respellings() {
        let g = glossary(&[
            ("Kubernetes", &["K8s"], &[]),
            ("Grafana", &[], &[]),
            ("Zorblatix", &[], &[]),
        ]);
        assert_fixes(
            &g,
            &[
                (
                    "We moved the service to CuberNets and the pods.",
                    "We moved the service to Kubernetes and the pods.",
                ),
                ("Check the Graphana dashboard.", "Check the Grafana dashboard."),
                // a made-up product
                ("Deploy it with Zorblaticks today.", "Deploy it with Zorblatix today."),
            ],
        );
        // a lower-case term starting a sentence keeps the capital
        let g = glossary(&[("troponin", &[], &[]), ("pyannote", &[], &[])]);
        assert_fixes(
            &g,
            &[
                ("Trapenin was elevated.", "Troponin was elevated."),
                ("Troponin was elevated.", "Troponin was elevated."),
            ],
        );
        // a split window does not swallow a function word
        assert!(fix(&g, "The step uses Pya No to find speakers.").contains(" to find"));
    }

    #[test]
    fn split_latin_runs_are_joined() {
        let g = glossary(&[
            ("Kubernetes", &[], &[]),
            ("PostgreSQL", &["Postgres"], &[]),
            ("LangChain", &[], &[]),
            ("Argo CD", &["ArgoCD"], &["Argo City"]),
            ("Quillbase", &[], &[]),
        ]);
        assert_fixes(
            &g,
            &[
                ("Kuber netes runs it.", "Kubernetes runs it."),
                ("the audit log in post gress QL.", "the audit log in PostgreSQL."),
                ("We built it with Lang chain.", "We built it with LangChain."),
                ("Argo City syncs the cluster.", "Argo CD syncs the cluster."),
                ("Data lives in Quill Base now.", "Data lives in Quillbase now."),
            ],
        );
    }

    #[test]
    fn transliterations_across_scripts() {
        let g = glossary(&[("Claude", &[], &[]), ("Milvus", &[], &[]), ("Zendaro", &[], &[])]);
        assert_fixes(
            &g,
            &[
                ("聊一下克劳德的配额", "聊一下 Claude 的配额"),
                ("向量库用的是米尔沃斯。", "向量库用的是 Milvus。"),
                // made-up: 赞达罗 zan da luo → Zendaro
                ("我们接入了赞达罗的接口", "我们接入了 Zendaro 的接口"),
                // ordinary Chinese stays
                ("我们明天开会讨论这个问题", "我们明天开会讨论这个问题"),
            ],
        );
    }

    #[test]
    fn aliases_are_left_alone_unless_listed_as_misrecognitions() {
        let g = glossary(&[
            ("Amazon ECR", &["ECR", "Elastic Container Registry"], &["Amazon ECA"]),
            ("NGINX", &["engine x"], &["engine X", "Enginex"]),
        ]);
        assert_fixes(
            &g,
            &[
                ("Images come from ECR.", "Images come from ECR."),
                (
                    "Use the Elastic Container Registry.",
                    "Use the Elastic Container Registry.",
                ),
                ("Pull from Amazon ECA now.", "Pull from Amazon ECR now."),
                ("The engine X controller.", "The NGINX controller."),
            ],
        );
        // an alias whose spelling is also a listed misrecognition is corrected
        let g = glossary(&[("FlashAttention", &["Flash Attention"], &["flash attention"])]);
        assert_fixes(
            &g,
            &[(
                "Switching to Flash Attention helped.",
                "Switching to FlashAttention helped.",
            )],
        );
    }

    #[test]
    fn canonical_case_and_form() {
        let g = glossary(&[
            ("ClickHouse", &[], &[]),
            ("PyTorch", &[], &[]),
            ("gRPC", &[], &["GRPC"]),
        ]);
        assert_fixes(
            &g,
            &[
                ("数据先写进click house，报表", "数据先写进 ClickHouse，报表"),
                ("新模型用Pytorch训练", "新模型用 PyTorch 训练"),
                ("It forwards GRPC traffic.", "It forwards gRPC traffic."),
            ],
        );
        let g = glossary(&[("WER", &[], &[])]);
        assert_fixes(
            &g,
            &[("W.E.R. 在中英混说的场景下还是偏高", "WER 在中英混说的场景下还是偏高")],
        );
    }

    #[test]
    fn text_without_terms_is_unchanged() {
        let g = glossary(&[
            ("SOFR", &[], &["so far", "sofa"]),
            ("WER", &[], &["where"]),
            ("Claude", &[], &["Cloud"]),
            ("ToB", &["2B"], &["to be", "2B"]),
            ("Superset", &[], &[]),
            ("bug", &[], &["八个"]),
            ("回滚", &[], &["回归"]),
        ]);
        let unchanged = [
            "so far we have not found where the cloud went",
            "To be or not to be, that is the question.",
            "The set of all sets is a superset of this one.",
            "我买了八个苹果。",
            "线性回归是最简单的模型。",
            "He was not an ill disposed young man.",
        ];
        assert_fixes(&g, &unchanged.map(|s| (s, s)));
        // the same misrecognition inside code-switched speech is a term
        assert_fixes(
            &g,
            &[("下周开个sync，聊一下Cloud的配额", "下周开个sync，聊一下 Claude 的配额")],
        );
    }

    #[test]
    fn previous_utterances_support_a_term() {
        let g = glossary(&[("Terraform", &[], &[])]);
        let text = "Run Teraforn plan.";
        let probe = CorrectorConfig {
            latin_threshold: 0.0,
            ..Default::default()
        };
        let r = GlossaryCorrector::new(probe)
            .review(text, &ReviewContext::default(), &g)
            .unwrap();
        let score = r
            .edits
            .iter()
            .find(|e| e.from == "Teraforn")
            .expect("a candidate")
            .score;
        // just above the threshold on its own, above it with the term in the conversation
        let config = CorrectorConfig {
            latin_threshold: score + 0.02,
            context_bonus: 0.04,
            ..Default::default()
        };
        let c = GlossaryCorrector::new(config);
        assert_eq!(c.review(text, &ReviewContext::default(), &g).unwrap().text, text);
        let prev = vec!["We use Terraform for everything.".to_string()];
        let ctx = ReviewContext {
            previous: &prev,
            language: Some("en"),
        };
        assert_eq!(c.review(text, &ctx, &g).unwrap().text, "Run Terraform plan.");
        // the joined split form needs no help
        assert_eq!(fix(&g, "Run terra form plan."), "Run Terraform plan.");
    }
}
