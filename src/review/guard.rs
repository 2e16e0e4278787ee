//! Guardrails of the LLM reviewer: pure functions that judge a model's answer against its input
//! and turn an accepted answer into [`Edit`]s.
//!
//! A language model asked to "fix only the misrecognized words" may instead answer with chatter
//! ("Here is the corrected text: …"), drop half the sentence, continue it, translate it, or
//! rewrite it in its own words — a tiny model does all of these. [`judge`] therefore:
//! 1. strips the obvious wrappers ([`strip_wrappers`]: code fences, a leading "Corrected text:"
//!    label, quotes or emphasis around the whole answer) — only those the input does not have;
//! 2. refuses what is left when it is empty, still chatter (extra lines, a chatty opening,
//!    markdown), in another script, much shorter ([`Rejection::DroppedContent`]) or much longer or
//!    full of words that are in neither the input nor the glossary
//!    ([`Rejection::InventedContent`]), or further than the edit-distance cap from the input;
//! 3. otherwise aligns input and answer character by character and reports the changed spans,
//!    grown to whole Latin words and to the glossary terms they touch, as edits.
//!
//! Invariants of an accepted answer: the character edit distance from the input is at most
//! `floor(max_edit_ratio × input characters)`; the edits are sorted, do not overlap, carry byte
//! offsets into the input and rebuild the answer with [`super::apply_edits`]; the input's
//! leading and trailing whitespace is kept.
//!
//! Nothing here does I/O: every rule is unit-tested on strings.

use std::collections::HashSet;
use std::fmt;
use std::ops::Range;

use super::glossary::{GlossaryEntry, simplify_char};
use super::text::{self, TokenKind};
use super::{Edit, Review};

/// The reviewer name recorded in the edits of the LLM reviewer.
pub const NAME: &str = "llm";

/// Score of an LLM edit: the model gives no calibrated confidence, so edits say "plausible".
const EDIT_SCORE: f32 = 0.5;
/// Score of an LLM edit whose new text is a glossary term it was shown.
const TERM_EDIT_SCORE: f32 = 0.75;

/// Why an answer was refused (the input is kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rejection {
    /// Nothing left after the wrappers were stripped.
    Empty,
    /// The model talked about the text instead of (or besides) answering with it.
    Chatter,
    /// The answer is in another script or language than the input.
    ScriptChange,
    /// The answer is much shorter than the input.
    DroppedContent,
    /// The answer is much longer, or brings many words from neither the input nor the glossary.
    InventedContent,
    /// The answer is further from the input than the edit-distance cap.
    EditCap,
}

impl Rejection {
    /// Every reason, in a stable order (for counters).
    pub const ALL: [Rejection; 6] = [
        Rejection::Empty,
        Rejection::Chatter,
        Rejection::ScriptChange,
        Rejection::DroppedContent,
        Rejection::InventedContent,
        Rejection::EditCap,
    ];

    /// A stable snake_case name (a metrics label).
    pub fn as_str(self) -> &'static str {
        match self {
            Rejection::Empty => "empty",
            Rejection::Chatter => "chatter",
            Rejection::ScriptChange => "script_change",
            Rejection::DroppedContent => "dropped_content",
            Rejection::InventedContent => "invented_content",
            Rejection::EditCap => "edit_cap",
        }
    }

    /// Position in [`Rejection::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// A refused answer: the reason and what exactly was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// The reason.
    pub reason: Rejection,
    /// A short human-readable explanation (numbers, the offending words).
    pub detail: String,
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason.as_str(), self.detail)
    }
}

fn reject<T>(reason: Rejection, detail: impl Into<String>) -> Result<T, Rejected> {
    Err(Rejected {
        reason,
        detail: detail.into(),
    })
}

/// The glossary the model was shown: its terms (for [`Edit::term`] and to grow edits to whole
/// terms) and the words of its terms and aliases (new words the answer may legitimately bring).
#[derive(Debug, Clone, Default)]
pub struct Vocabulary {
    terms: Vec<String>,
    words: HashSet<String>,
}

impl Vocabulary {
    /// The vocabulary of these entries.
    pub fn new<'a>(entries: impl IntoIterator<Item = &'a GlossaryEntry>) -> Self {
        let mut v = Self::default();
        for e in entries {
            v.terms.push(e.term.clone());
            for form in std::iter::once(&e.term).chain(&e.aliases) {
                v.words
                    .extend(text::tokenize(form, simplify_char).into_iter().map(|t| t.key));
            }
        }
        // Longest first: a term that contains another wins.
        v.terms.sort_by_key(|t| std::cmp::Reverse(t.len()));
        v
    }

    /// Whether a token key (lower-cased Latin word or simplified Han character) is a glossary word.
    fn has_word(&self, key: &str) -> bool {
        self.words.contains(key)
    }
}

/// Openings of a chatty answer (lower case), refused when the input does not open the same way.
const CHATTER_OPENINGS: &[&str] = &[
    "here is",
    "here's",
    "sure",
    "certainly",
    "of course",
    "the corrected",
    "corrected",
    "correction",
    "i have",
    "i've",
    "i corrected",
    "note:",
    "output:",
    "以下是",
    "修正后",
    "更正后",
    "纠正后",
    "好的",
];

/// Phrases that only a model talking about its task writes (lower case).
const CHATTER_PHRASES: &[&str] = &[
    "corrected text",
    "corrected transcript",
    "glossary",
    "transcript:",
    "misrecogni",
    "修正后",
    "术语表",
];

/// Words that mark a leading `…:` as a label the model put before its answer (lower case).
const LABEL_WORDS: &[&str] = &[
    "here",
    "correct",
    "output",
    "text",
    "transcript",
    "answer",
    "result",
    "fixed",
    "revised",
    "sure",
    "以下",
    "修正",
    "更正",
    "纠正",
    "结果",
    "文本",
];

/// Pairs of quotes that may wrap a whole answer.
const QUOTES: &[(&str, &str)] = &[
    ("\"", "\""),
    ("“", "”"),
    ("'", "'"),
    ("‘", "’"),
    ("「", "」"),
    ("『", "』"),
    ("«", "»"),
    ("`", "`"),
    ("**", "**"),
    ("*", "*"),
];

/// The answer without the wrappers a model likes to add around it (code fences, a leading
/// "Here is the corrected text:" label, quotes or emphasis around everything), each stripped only
/// when the input does not itself have it. Surrounding whitespace is trimmed.
pub fn strip_wrappers<'a>(input: &str, output: &'a str) -> &'a str {
    let input = input.trim();
    let mut out = output.trim();
    for _ in 0..4 {
        let before = out;
        if let Some(rest) = out.strip_prefix("```") {
            // Drop the fence line (it may name a language) and a closing fence.
            let body = rest.split_once('\n').map_or("", |(_, b)| b);
            out = body.trim_end().strip_suffix("```").unwrap_or(body).trim();
        }
        if let Some(colon) = out.find([':', '：']).filter(|&c| c <= 80) {
            let label = &out[..colon];
            let lower = label.to_lowercase();
            if !label.contains('\n') && LABEL_WORDS.iter().any(|w| lower.contains(w)) && !input.starts_with(label) {
                out = out[colon..].trim_start_matches([':', '：']).trim();
            }
        }
        for (open, close) in QUOTES {
            if out.len() > open.len() + close.len()
                && out.starts_with(open)
                && out.ends_with(close)
                && !input.starts_with(open)
            {
                out = out[open.len()..out.len() - close.len()].trim();
                break;
            }
        }
        if out == before {
            break;
        }
    }
    out
}

fn non_empty_lines(s: &str) -> usize {
    s.lines().filter(|l| !l.trim().is_empty()).count()
}

/// Why `output` (already stripped) is chatter rather than the text, if it is.
pub fn chatter(input: &str, output: &str) -> Option<String> {
    let (li, lo) = (input.to_lowercase(), output.to_lowercase());
    if non_empty_lines(output) > non_empty_lines(input).max(1) {
        return Some(format!(
            "{} lines for {}",
            non_empty_lines(output),
            non_empty_lines(input)
        ));
    }
    if let Some(o) = CHATTER_OPENINGS
        .iter()
        .find(|o| lo.starts_with(*o) && !li.trim_start().starts_with(*o))
    {
        return Some(format!("opens with {o:?}"));
    }
    if let Some(p) = CHATTER_PHRASES.iter().find(|p| lo.contains(*p) && !li.contains(*p)) {
        return Some(format!("mentions {p:?}"));
    }
    let markdown = ["**", "```", "__"]
        .iter()
        .find(|m| output.contains(*m) && !input.contains(*m));
    markdown.map(|m| format!("markdown {m:?}"))
}

/// Letters of a text by script.
#[derive(Debug, Default, Clone, Copy)]
struct Scripts {
    han: usize,
    traditional: usize,
    latin: usize,
    other: usize,
}

impl Scripts {
    fn of(s: &str) -> Self {
        let mut k = Self::default();
        for c in s.chars() {
            if text::is_han(c) {
                k.han += 1;
                k.traditional += usize::from(simplify_char(c) != c);
            } else if text::is_latin(c) && c.is_alphabetic() {
                k.latin += 1;
            } else if c.is_alphabetic() {
                k.other += 1;
            }
        }
        k
    }

    fn letters(&self) -> usize {
        self.han + self.latin + self.other
    }

    fn share(part: usize, whole: usize) -> f32 {
        if whole == 0 { 0.0 } else { part as f32 / whole as f32 }
    }
}

/// Why `output` is in another script than `input` (Han ↔ Latin, a script the input does not use,
/// simplified ↔ traditional Chinese), if it is.
pub fn script_change(input: &str, output: &str) -> Option<String> {
    let (a, b) = (Scripts::of(input), Scripts::of(output));
    if a.letters() >= 4 && b.letters() > 0 {
        let (ha, hb) = (Scripts::share(a.han, a.letters()), Scripts::share(b.han, b.letters()));
        if (ha - hb).abs() > 0.5 {
            return Some(format!("Han share of letters {:.0}% → {:.0}%", ha * 100.0, hb * 100.0));
        }
    }
    if b.other >= 3 && b.other > 2 * a.other {
        return Some(format!("{} letters of another script (input: {})", b.other, a.other));
    }
    if a.han >= 4 && b.han >= 4 {
        let (ta, tb) = (
            Scripts::share(a.traditional, a.han),
            Scripts::share(b.traditional, b.han),
        );
        if (ta - tb).abs() > 0.5 {
            return Some(format!(
                "traditional characters {:.0}% → {:.0}%",
                ta * 100.0,
                tb * 100.0
            ));
        }
    }
    None
}

/// Characters of the words of `output` that are in neither `input` nor the vocabulary, and the
/// first few such words.
fn novel_words(input: &str, output: &str, vocab: &Vocabulary) -> (usize, Vec<String>) {
    let known: HashSet<String> = text::tokenize(input, simplify_char)
        .into_iter()
        .map(|t| t.key)
        .collect();
    let mut chars = 0;
    let mut words = Vec::new();
    for t in text::tokenize(output, simplify_char) {
        if known.contains(&t.key) || vocab.has_word(&t.key) {
            continue;
        }
        chars += if t.kind == TokenKind::Han {
            1
        } else {
            t.key.chars().count()
        };
        if words.len() < 5 {
            words.push(t.text(output).to_string());
        }
    }
    (chars, words)
}

/// Judge a model's `raw` answer to reviewing `input`: the accepted review (text and edits) or
/// why it was refused. See the module docs for the rules; `max_edit_ratio` is the largest
/// accepted character edit distance as a fraction of the input's characters.
pub fn judge(input: &str, raw: &str, vocab: &Vocabulary, max_edit_ratio: f32) -> Result<Review, Rejected> {
    let body = input.trim();
    let out = strip_wrappers(input, raw);
    if out.is_empty() {
        return reject(Rejection::Empty, "no text in the answer");
    }
    if let Some(why) = chatter(body, out) {
        return reject(Rejection::Chatter, why);
    }
    if let Some(why) = script_change(body, out) {
        return reject(Rejection::ScriptChange, why);
    }
    // Keep the input's surrounding whitespace: the model's is meaningless.
    let lead = &input[..input.len() - input.trim_start().len()];
    let trail = &input[input.trim_end().len()..];
    let output = format!("{lead}{out}{trail}");
    let a: Vec<char> = input.chars().collect();
    let b: Vec<char> = output.chars().collect();
    let (n, m) = (a.len(), b.len());
    let budget = max_edit_ratio.max(0.0) * n as f32;
    if m < n && (n - m) as f32 > budget {
        return reject(Rejection::DroppedContent, format!("{m} characters for {n}"));
    }
    if m > n && (m - n) as f32 > budget {
        return reject(Rejection::InventedContent, format!("{m} characters for {n}"));
    }
    let (novel, words) = novel_words(input, &output, vocab);
    if novel as f32 > budget / 2.0 {
        return reject(
            Rejection::InventedContent,
            format!("{novel} characters of new words {words:?}"),
        );
    }
    let cap = budget.floor() as usize;
    let Some(spans) = align(&a, &b, cap) else {
        return reject(Rejection::EditCap, format!("edit distance over {cap} ({n} characters)"));
    };
    let edits = edits_from_spans(&a, &b, spans, vocab);
    Ok(Review { text: output, edits })
}

/// A changed region of an alignment: `a[a]` became `b[b]` (character indices); between two
/// regions the texts are equal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    /// Range in the first text.
    pub a: Range<usize>,
    /// Range in the second text.
    pub b: Range<usize>,
}

/// The character edit distance of `a` → `b` (Levenshtein) if it is at most `k`.
pub fn bounded_distance(a: &[char], b: &[char], k: usize) -> Option<usize> {
    band(a, b, k).map(|(d, _)| d)
}

/// The changed regions of a minimal alignment of `a` → `b`, or `None` when the edit distance
/// exceeds `k`. Only the diagonal band of width `2k + 1` is computed: `O(len × k)` time and memory.
pub fn align(a: &[char], b: &[char], k: usize) -> Option<Vec<Span>> {
    let (_, table) = band(a, b, k)?;
    let w = 2 * k + 1;
    let at = |i: usize, j: usize| -> u32 {
        if j + k < i || j > i + k {
            u32::MAX
        } else {
            table[i * w + (j + k - i)]
        }
    };
    // Walk back from the end; a run of non-matching steps is one span.
    let (mut i, mut j) = (a.len(), b.len());
    let mut spans: Vec<Span> = Vec::new();
    let mut open: Option<(usize, usize)> = None; // (a end, b end) of the span being walked
    while i > 0 || j > 0 {
        let d = at(i, j);
        let step_match = i > 0 && j > 0 && a[i - 1] == b[j - 1] && at(i - 1, j - 1) == d;
        if step_match {
            if let Some((ae, be)) = open.take() {
                spans.push(Span { a: i..ae, b: j..be });
            }
            i -= 1;
            j -= 1;
            continue;
        }
        open.get_or_insert((i, j));
        if i > 0 && j > 0 && at(i - 1, j - 1).saturating_add(1) == d {
            i -= 1;
            j -= 1;
        } else if i > 0 && at(i - 1, j).saturating_add(1) == d {
            i -= 1;
        } else {
            j -= 1;
        }
    }
    if let Some((ae, be)) = open {
        spans.push(Span { a: 0..ae, b: 0..be });
    }
    spans.reverse();
    Some(spans)
}

/// The banded Levenshtein table (row `i` holds columns `i - k ..= i + k`) and the distance, or
/// `None` when the distance exceeds `k`.
fn band(a: &[char], b: &[char], k: usize) -> Option<(usize, Vec<u32>)> {
    let (n, m) = (a.len(), b.len());
    if n.abs_diff(m) > k {
        return None;
    }
    let w = 2 * k + 1;
    let idx = |i: usize, j: usize| i * w + (j + k - i);
    let mut t = vec![u32::MAX; (n + 1) * w];
    for j in 0..=m.min(k) {
        t[idx(0, j)] = j as u32;
    }
    for i in 1..=n {
        let lo = i.saturating_sub(k);
        let mut best = u32::MAX;
        for j in lo..=(i + k).min(m) {
            let mut v = u32::MAX;
            if j < i + k {
                // deletion of a[i-1]: (i-1, j) is inside the band
                v = v.min(t[idx(i - 1, j)].saturating_add(1));
            }
            if j > lo {
                // insertion of b[j-1]
                v = v.min(t[idx(i, j - 1)].saturating_add(1));
            }
            if j > 0 {
                v = v.min(t[idx(i - 1, j - 1)].saturating_add(u32::from(a[i - 1] != b[j - 1])));
            }
            t[idx(i, j)] = v;
            best = best.min(v);
        }
        // Distances never decrease along a path, and every path crosses every row.
        if best as usize > k {
            return None;
        }
    }
    let d = t[idx(n, m)] as usize;
    (d <= k).then_some((d, t))
}

/// Grow `spans[s]` by `left`/`right` characters of equal text (never past its neighbours).
fn grow(spans: &mut [Span], s: usize, left: usize, right: usize) {
    let prev_end = if s > 0 { spans[s - 1].a.end } else { 0 };
    let next_start = spans.get(s + 1).map_or(usize::MAX, |n| n.a.start);
    let sp = &mut spans[s];
    let l = left.min(sp.a.start - prev_end);
    let r = right.min(next_start.saturating_sub(sp.a.end));
    sp.a.start -= l;
    sp.b.start -= l;
    sp.a.end += r;
    sp.b.end += r;
}

/// Merge spans that touch or are separated by one whitespace character.
fn merge(spans: Vec<Span>, a: &[char]) -> Vec<Span> {
    let mut out: Vec<Span> = Vec::with_capacity(spans.len());
    for sp in spans {
        if let Some(last) = out.last_mut() {
            let gap = sp.a.start - last.a.end;
            if gap == 0 || (gap == 1 && a[last.a.end].is_whitespace()) {
                last.a.end = sp.a.end;
                last.b.end = sp.b.end;
                continue;
            }
        }
        out.push(sp);
    }
    out
}

fn is_word_char(c: char) -> bool {
    text::is_latin(c)
}

/// Edits (byte offsets into `a`) from the changed regions of an alignment, grown to whole Latin
/// words and to the occurrences of vocabulary terms in `b` that they touch, then merged.
fn edits_from_spans(a: &[char], b: &[char], mut spans: Vec<Span>, vocab: &Vocabulary) -> Vec<Edit> {
    // Whole Latin words.
    for s in 0..spans.len() {
        let sp = &spans[s];
        let left = a[..sp.a.start].iter().rev().take_while(|c| is_word_char(**c)).count();
        let right = a[sp.a.end..].iter().take_while(|c| is_word_char(**c)).count();
        grow(&mut spans, s, left, right);
    }
    spans = merge(spans, a);
    // Whole terms: an edit that touches a term of the answer covers all of it.
    let b_str: String = b.iter().collect();
    let b_off = byte_offsets(b);
    for term in &vocab.terms {
        for (pos, _) in text::term_occurrences(&b_str, term) {
            // Byte → character indices (both ends are character boundaries of `b_str`).
            let t0 = b_off.partition_point(|&o| o < pos);
            let t1 = b_off.partition_point(|&o| o < pos + term.len());
            for s in 0..spans.len() {
                let sp = &spans[s];
                if t0 < sp.b.end && t1 > sp.b.start {
                    let (left, right) = (sp.b.start.saturating_sub(t0), t1.saturating_sub(sp.b.end));
                    grow(&mut spans, s, left, right);
                }
            }
            spans = merge(spans, a);
        }
    }
    let a_off = byte_offsets(a);
    let a_str: String = a.iter().collect();
    spans
        .into_iter()
        .map(|sp| {
            let from = a_str[a_off[sp.a.start]..a_off[sp.a.end]].to_string();
            let to = b_str[b_off[sp.b.start]..b_off[sp.b.end]].to_string();
            let term = vocab
                .terms
                .iter()
                .find(|t| text::term_occurrences(&to, t).next().is_some())
                .cloned();
            Edit {
                start: a_off[sp.a.start],
                end: a_off[sp.a.end],
                from,
                to,
                reviewer: NAME,
                score: if term.is_some() { TERM_EDIT_SCORE } else { EDIT_SCORE },
                term,
            }
        })
        .collect()
}

/// Byte offset of every character index (and of the end).
fn byte_offsets(chars: &[char]) -> Vec<usize> {
    let mut v = Vec::with_capacity(chars.len() + 1);
    let mut at = 0;
    for c in chars {
        v.push(at);
        at += c.len_utf8();
    }
    v.push(at);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::apply_edits;

    fn vocab(terms: &[(&str, &[&str])]) -> Vocabulary {
        let entries: Vec<GlossaryEntry> = terms
            .iter()
            .map(|(t, aliases)| {
                let mut e = GlossaryEntry::new(*t);
                e.aliases = aliases.iter().map(|s| s.to_string()).collect();
                e
            })
            .collect();
        Vocabulary::new(&entries)
    }

    fn chars(s: &str) -> Vec<char> {
        s.chars().collect()
    }

    /// Accepts `raw` for `input` and checks the edits against both texts.
    fn accept(input: &str, raw: &str, v: &Vocabulary) -> Review {
        let r = judge(input, raw, v, 0.3).unwrap_or_else(|e| panic!("{raw:?} refused: {e}"));
        assert_eq!(apply_edits(input, &r.edits), r.text);
        let mut at = 0;
        for e in &r.edits {
            assert!(e.start >= at && e.start <= e.end);
            assert_eq!(&input[e.start..e.end], e.from);
            assert_eq!(e.reviewer, NAME);
            at = e.end;
        }
        r
    }

    fn refused(input: &str, raw: &str, v: &Vocabulary) -> Rejection {
        match judge(input, raw, v, 0.3) {
            Ok(r) => panic!("{raw:?} accepted as {:?}", r.text),
            Err(e) => e.reason,
        }
    }

    #[test]
    fn banded_distance_agrees_with_levenshtein() {
        let words = [
            "",
            "a",
            "kitten",
            "sitting",
            "Kubernetes",
            "Cooper Netties",
            "我们用浪Chain",
            "我们用 LangChain",
            "升腾",
            "昇腾",
            "abcabcabc",
            "cbacbacba",
        ];
        for x in words {
            for y in words {
                let (a, b) = (chars(x), chars(y));
                let d = text::levenshtein(&a, &b);
                for k in [0, 1, 2, 3, 5, 8, 20] {
                    assert_eq!(
                        bounded_distance(&a, &b, k),
                        (d <= k).then_some(d),
                        "{x:?} → {y:?}, k={k}"
                    );
                    if let Some(spans) = align(&a, &b, k) {
                        // Replacing each span's `a` by its `b` rebuilds `b`.
                        let mut out = Vec::new();
                        let mut at = 0;
                        for s in &spans {
                            assert!(s.a.start >= at);
                            out.extend_from_slice(&a[at..s.a.start]);
                            out.extend_from_slice(&b[s.b.clone()]);
                            at = s.a.end;
                        }
                        out.extend_from_slice(&a[at..]);
                        assert_eq!(out, b);
                    }
                }
            }
        }
    }

    #[test]
    fn wrappers_are_stripped_only_when_the_input_lacks_them() {
        let input = "we deploy on Kubernetes";
        for raw in [
            "Here is the corrected text: we deploy on Kubernetes",
            "Corrected text:\nwe deploy on Kubernetes",
            "```\nwe deploy on Kubernetes\n```",
            "```text\n\"we deploy on Kubernetes\"\n```",
            "  “we deploy on Kubernetes”  ",
            "**we deploy on Kubernetes**",
            "修正后的文本：we deploy on Kubernetes",
        ] {
            assert_eq!(strip_wrappers(input, raw), input, "{raw:?}");
        }
        // The input's own label and quotes stay.
        assert_eq!(strip_wrappers("Note: it works", "Note: it works"), "Note: it works");
        assert_eq!(
            strip_wrappers("\"quoted\" he said", "\"quoted\" he said"),
            "\"quoted\" he said"
        );
        assert_eq!(
            strip_wrappers("The text: is fine", "The text: is fine"),
            "The text: is fine"
        );
    }

    #[test]
    fn term_fixes_become_term_sized_edits() {
        let v = vocab(&[("Kubernetes", &[]), ("昇腾", &[]), ("LangChain", &[])]);
        let input = "We moved the service to Cooper Netties last week.";
        let r = accept(input, "We moved the service to Kubernetes last week.", &v);
        assert_eq!(r.edits.len(), 1);
        assert_eq!(r.edits[0].from, "Cooper Netties");
        assert_eq!(r.edits[0].to, "Kubernetes");
        assert_eq!(r.edits[0].term.as_deref(), Some("Kubernetes"));

        // One Han character changed: the edit covers the whole term.
        let input = "我们把推理服务迁到了升腾芯片上。";
        let r = accept(input, "我们把推理服务迁到了昇腾芯片上。", &v);
        assert_eq!(r.edits.len(), 1);
        assert_eq!((r.edits[0].from.as_str(), r.edits[0].to.as_str()), ("升腾", "昇腾"));
        assert_eq!(r.edits[0].term.as_deref(), Some("昇腾"));

        // A word fix that is no term: a whole-word edit without a term; surrounding whitespace kept.
        let input = " we build agents with Lang Chain and teh tools ";
        let r = accept(input, "\"we build agents with LangChain and the tools\"", &v);
        assert_eq!(r.text, " we build agents with LangChain and the tools ");
        let pairs: Vec<(&str, &str, Option<&str>)> = r
            .edits
            .iter()
            .map(|e| (e.from.as_str(), e.to.as_str(), e.term.as_deref()))
            .collect();
        assert_eq!(
            pairs,
            [("Lang Chain", "LangChain", Some("LangChain")), ("teh", "the", None)]
        );
        assert!(r.edits[0].score > r.edits[1].score);

        // The model answering with the input: accepted, no edits.
        let r = accept("nothing to fix here", "nothing to fix here", &v);
        assert!(r.edits.is_empty());
    }

    #[test]
    fn chatter_and_empty_answers_are_refused() {
        let v = vocab(&[("Kubernetes", &[])]);
        let input = "we deploy on Cooper Netties";
        assert_eq!(refused(input, "", &v), Rejection::Empty);
        assert_eq!(refused(input, "``` ```", &v), Rejection::Empty);
        assert_eq!(
            refused(
                input,
                "we deploy on Kubernetes\n\nI replaced Cooper Netties with the glossary term.",
                &v
            ),
            Rejection::Chatter
        );
        assert_eq!(refused(input, "Sure! we deploy on Kubernetes", &v), Rejection::Chatter);
        assert_eq!(refused(input, "we deploy on **Kubernetes**", &v), Rejection::Chatter);
        assert_eq!(
            refused(input, "we deploy on Kubernetes (glossary)", &v),
            Rejection::Chatter
        );
    }

    #[test]
    fn script_and_language_changes_are_refused() {
        let v = Vocabulary::default();
        assert_eq!(
            refused("the rollback finished in two minutes", "回滚在两分钟内完成了", &v),
            Rejection::ScriptChange
        );
        assert_eq!(
            refused("我们今天讨论一下回滚的方案", "We discuss the rollback plan today", &v),
            Rejection::ScriptChange
        );
        assert_eq!(
            refused(
                "我们这个项目的发展还需要继续讨论",
                "我們這個項目的發展還需要繼續討論",
                &v
            ),
            Rejection::ScriptChange
        );
        assert_eq!(
            refused("the rollback finished", "откат завершился", &v),
            Rejection::ScriptChange
        );
    }

    #[test]
    fn dropped_invented_and_far_answers_are_refused() {
        let v = vocab(&[("Kubernetes", &["K8s"])]);
        let input = "the new cluster runs on Cooper Netties and the old one on bare metal";
        assert_eq!(
            refused(input, "the new cluster runs on Kubernetes", &v),
            Rejection::DroppedContent
        );
        assert_eq!(
            refused(
                input,
                "the new cluster runs on Kubernetes and the old one on bare metal, which we plan to retire next year",
                &v
            ),
            Rejection::InventedContent
        );
        // Same length, but a fifth of it words from nowhere.
        assert_eq!(
            refused(
                input,
                "the new cluster runs on Mesosphere and the old one on blue giraffes",
                &v
            ),
            Rejection::InventedContent
        );
        // Known words reshuffled: no new word, but far from the input.
        assert_eq!(
            refused(
                input,
                "on bare metal the old one and the new cluster runs on Kubernetes",
                &v
            ),
            Rejection::EditCap
        );
        // The glossary's own words are not invented.
        accept(input, "the new cluster runs on K8s and the old one on bare metal", &v);
    }

    #[test]
    fn the_cap_is_a_fraction_of_the_input() {
        // The new words are glossary words: only the distance decides.
        let v = vocab(&[("abcdefgXYZ", &[]), ("abcdefWXYZ", &[]), ("abcdefghiX", &[])]);
        let input = "abcdefghij"; // 10 characters, ratio 0.3: at most 3 edits
        assert!(judge(input, "abcdefgXYZ", &v, 0.3).is_ok());
        let e = judge(input, "abcdefWXYZ", &v, 0.3).unwrap_err();
        assert_eq!(e.reason, Rejection::EditCap);
        assert!(e.to_string().starts_with("edit_cap: "));
        // With no budget, only the unchanged input passes.
        assert!(judge(input, input, &v, 0.0).is_ok());
        assert!(judge(input, "abcdefghiX", &v, 0.0).is_err());
    }

    #[test]
    fn rejection_names_are_stable_and_indexed() {
        for (i, r) in Rejection::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
        let names: HashSet<&str> = Rejection::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(names.len(), Rejection::ALL.len());
    }
}
