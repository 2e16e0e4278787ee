//! Partial-hypothesis stabiliser: turns successive, revisable hypotheses of the open
//! utterance into **append-only** `…input_audio_transcription.delta` text.
//!
//! This module owns the rule that decides which words of a re-decoded partial are safe to
//! send. OpenAI clients concatenate deltas verbatim and never retract them (the official SDKs'
//! realtime helpers and OpenAI's own examples append each `delta` to the item's text), so:
//!
//! * A hypothesis is split into *words*: whitespace-separated tokens, except that each CJK
//!   ideograph / kana is its own word (Chinese and Japanese are written without spaces).
//!   Punctuation sticks to the word it touches (`"hello,"`, `"好，"`). Hangul and Thai are
//!   treated as ordinary letters (Korean separates words with spaces; Thai cannot be split
//!   without a dictionary, so unspaced Thai is held back until the utterance ends).
//! * Words are compared *normalised*: lower-cased, punctuation removed (`"Hello,"` ==
//!   `"hello"`), but emitted exactly as written in the latest hypothesis.
//! * A word becomes stable once two successive hypotheses agree on it (longest common
//!   normalised word prefix). The newest word of the latest hypothesis is held back, since it
//!   may still be growing (`"hel"` → `"hello"`). That is the default [`Stability`]; a session's
//!   `transcription.delay` (OpenAI's latency/accuracy knob) picks another: from one hypothesis
//!   alone (`minimal`) to four that agree (`xhigh`). Fewer hypotheses send words sooner and
//!   send more words that later hypotheses, and the final, contradict.
//! * Text already emitted is never retracted. If a hypothesis disagrees with what was
//!   emitted, nothing more is emitted until hypotheses agree with it again, or the utterance
//!   ends ([`Stabilizer::finish`]; the `completed` transcript is authoritative anyway).
//! * Spacing is carried by the deltas: the first delta of an utterance has no leading space,
//!   later deltas start with a space exactly when the hypothesis has whitespace there, so
//!   the concatenation of all deltas reads like the hypothesis (whitespace runs collapsed to
//!   one space).

use std::collections::VecDeque;

use crate::config::PartialDelay;
use crate::engine::recognizer::WordProbability;

/// One word of a hypothesis.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Word {
    /// Whitespace preceded this word in the hypothesis (and it is not the first word).
    space_before: bool,
    /// The word as written, including attached punctuation.
    text: String,
    /// Lower-cased alphanumeric characters only; used for comparison.
    norm: String,
}

/// True for characters written without word separators: CJK ideographs (incl. extensions
/// and compatibility ideographs), hiragana, katakana (incl. half-width) and the ideographic
/// iteration mark.
pub(crate) fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3005 | 0x3007
        | 0x3040..=0x309F   // hiragana
        | 0x30A0..=0x30FF   // katakana
        | 0x31F0..=0x31FF   // katakana phonetic extensions
        | 0x3400..=0x4DBF   // CJK extension A
        | 0x4E00..=0x9FFF   // CJK unified ideographs
        | 0xF900..=0xFAFF   // CJK compatibility ideographs
        | 0xFF66..=0xFF9F   // half-width katakana
        | 0x20000..=0x2FA1F // CJK extensions B..F, compatibility supplement
        | 0x30000..=0x323AF // CJK extensions G, H
    )
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Letters/digits (possibly with punctuation): extends with more letters.
    Alnum,
    /// One CJK character (plus trailing punctuation): never extends with letters.
    Cjk,
    /// Only punctuation so far (e.g. `¿`, `「`): the next letter or CJK char joins it.
    Punct,
}

fn normalise(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Splits a hypothesis into words (see the module docs).
fn tokenize(text: &str) -> Vec<Word> {
    let mut words: Vec<Word> = Vec::new();
    let mut cur: Option<(String, Kind, bool)> = None;
    let mut pending_space = false;

    fn flush(words: &mut Vec<Word>, cur: &mut Option<(String, Kind, bool)>) {
        if let Some((text, _, space_before)) = cur.take() {
            let norm = normalise(&text);
            words.push(Word {
                space_before,
                text,
                norm,
            });
        }
    }

    for c in text.chars() {
        if c.is_whitespace() {
            flush(&mut words, &mut cur);
            pending_space = true;
            continue;
        }
        let space_before = pending_space && !(words.is_empty() && cur.is_none());
        if is_cjk(c) {
            match &mut cur {
                Some((text, kind @ Kind::Punct, _)) => {
                    text.push(c);
                    *kind = Kind::Cjk;
                }
                _ => {
                    flush(&mut words, &mut cur);
                    cur = Some((c.to_string(), Kind::Cjk, space_before));
                }
            }
        } else if c.is_alphanumeric() {
            match &mut cur {
                Some((text, kind @ (Kind::Alnum | Kind::Punct), _)) => {
                    text.push(c);
                    *kind = Kind::Alnum;
                }
                _ => {
                    flush(&mut words, &mut cur);
                    cur = Some((c.to_string(), Kind::Alnum, space_before));
                }
            }
        } else {
            // Punctuation, symbols, marks: attach to the current word, or start a
            // punctuation-led word after whitespace / at the start.
            match &mut cur {
                Some((text, _, _)) => text.push(c),
                None => cur = Some((c.to_string(), Kind::Punct, space_before)),
            }
        }
        pending_space = false;
    }
    flush(&mut words, &mut cur);
    words
}

/// Number of leading words on which `a` and `b` agree (normalised comparison).
fn common_prefix(a: &[Word], b: &[Word]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x.norm == y.norm).count()
}

/// Number of leading words of `cur` the recognizer is sure of (see [`Stability::sure_words`]).
/// `probabilities` may split the text otherwise (the engine's words against the stabiliser's):
/// both are compared as normalised character runs, and a word counts once the sure words cover
/// exactly the run up to its end.
fn sure_prefix(cur: &[Word], probabilities: &[WordProbability]) -> usize {
    let mut sure_run = String::new();
    let mut cur_run = String::new();
    let mut taken = 0;
    let mut sure = 0;
    for (m, w) in cur.iter().enumerate() {
        if w.norm.is_empty() {
            // punctuation alone: nothing to match it with, so the sure words end before it
            return sure;
        }
        cur_run.push_str(&w.norm);
        while sure_run.len() < cur_run.len() {
            let Some(p) = probabilities.get(taken) else {
                return sure;
            };
            let needed = if taken == 0 { SURE_FIRST_WORD } else { SURE_LATER_WORD };
            if p.probability.is_nan() || p.probability < needed {
                return sure;
            }
            sure_run.push_str(&normalise(&p.word));
            taken += 1;
        }
        if sure_run == cur_run {
            sure = m + 1;
        } else if !sure_run.starts_with(&cur_run) {
            return sure;
        }
    }
    sure
}

/// How many successive hypotheses must agree on a word before it is sent, and whether the
/// newest word of the latest one is held back. [`Stability::default`] is `medium`: two, held
/// back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stability {
    /// Successive hypotheses, the latest included, that must agree on a word (1 to
    /// [`MAX_AGREEING`]; 1: the latest alone).
    pub hypotheses: usize,
    /// Hold back the newest word of the latest hypothesis even when the others agree on it.
    pub hold_newest: bool,
    /// Also send the words of the latest hypothesis alone that the recognizer is sure of: its
    /// first word at a probability of at least [`SURE_FIRST_WORD`] and each later one at
    /// [`SURE_LATER_WORD`], every word before them sure too, the newest word always held back. Only
    /// hypotheses that come with word probabilities ([`Stabilizer::update_scored`]) can.
    pub sure_words: bool,
}

/// How probable an utterance's first word must be for [`Stability::sure_words`]. A first word is
/// never as probable as a later one (any word may open a sentence): on the eval clips a right
/// first word of a tiny.en draft had 0.1–0.9, a wrong one mostly below 0.3.
pub const SURE_FIRST_WORD: f32 = 0.4;

/// How probable each later word must be for [`Stability::sure_words`].
pub const SURE_LATER_WORD: f32 = 0.8;

/// The most hypotheses a [`Stability`] can ask to agree.
pub const MAX_AGREEING: usize = 4;

impl Default for Stability {
    fn default() -> Self {
        Stability::from(PartialDelay::Medium)
    }
}

impl From<PartialDelay> for Stability {
    /// `minimal`: the latest hypothesis alone, newest word held back; `low`: two agree, and a
    /// newest word both end on is sent (it stopped growing between them); `medium`: two agree,
    /// newest held back; `high`, `xhigh`: three, four agree, newest held back. `low`, `medium`
    /// and `high` also send the words the recognizer is sure of (`minimal` sends one
    /// hypothesis's words anyway; `xhigh` is for the fewest wrong words, and sure words added
    /// some: `docs/benchmarks.md`).
    fn from(delay: PartialDelay) -> Self {
        let (hypotheses, hold_newest, sure_words) = match delay {
            PartialDelay::Minimal => (1, true, false),
            PartialDelay::Low => (2, false, true),
            PartialDelay::Medium => (2, true, true),
            PartialDelay::High => (3, true, true),
            PartialDelay::Xhigh => (4, true, false),
        };
        Stability {
            hypotheses,
            hold_newest,
            sure_words,
        }
    }
}

/// Append-only stabiliser for one utterance at a time; see the module docs.
///
/// ```text
/// update("the")                  → None                 (nothing agreed yet)
/// update("the quick")            → Some("the")          ("quick" is newest: held back)
/// update("the quick brown")      → Some(" quick")
/// update("a quick brown fox")    → None                 (contradicts "the": paused)
/// finish("The quick brown fox.") → Some(" brown fox.")  (then reset)
/// ```
#[derive(Debug, Clone, Default)]
pub struct Stabilizer {
    /// How much agreement a word needs.
    stability: Stability,
    /// Words of the previous hypotheses, oldest first (at most `MAX_AGREEING - 1`).
    history: VecDeque<Vec<Word>>,
    /// Normalised forms of the words emitted so far.
    emitted_norms: Vec<String>,
    /// Concatenation of all deltas returned so far.
    emitted: String,
    /// The latest hypothesis contradicted the emitted text.
    diverged: bool,
}

impl Stabilizer {
    /// A stabiliser for a fresh utterance, with the default [`Stability`].
    pub fn new() -> Self {
        Stabilizer::default()
    }

    /// A stabiliser for a fresh utterance that needs `stability`.
    pub fn with(stability: Stability) -> Self {
        Stabilizer {
            stability,
            ..Stabilizer::default()
        }
    }

    /// Changes the agreement the next hypotheses need; the hypotheses seen so far still count.
    pub fn set_stability(&mut self, stability: Stability) {
        self.stability = stability;
    }

    /// Feeds the latest hypothesis of the open utterance; returns the newly stable text to
    /// send as a delta (`None` when nothing new became stable). Never panics; an empty or
    /// whitespace-only hypothesis simply yields `None`.
    pub fn update(&mut self, hypothesis: &str) -> Option<String> {
        self.update_scored(hypothesis, &[])
    }

    /// Whether the next hypothesis should come with word probabilities: the rule takes sure
    /// words ([`Stability::sure_words`]) and nothing has been sent yet, so that they can bring
    /// the first delta one hypothesis earlier (later words wait for agreement anyway).
    pub fn wants_probabilities(&self) -> bool {
        self.stability.sure_words && self.emitted_norms.is_empty()
    }

    /// [`Stabilizer::update`] with how sure the recognizer is of each word of the hypothesis
    /// (its words as the engine split them, in order; `hypothesis` may differ from their text
    /// where a reviewer corrected it, and the sure words then end before the first change).
    pub fn update_scored(&mut self, hypothesis: &str, probabilities: &[WordProbability]) -> Option<String> {
        let cur = tokenize(hypothesis);
        let others = self.stability.hypotheses.clamp(1, MAX_AGREEING) - 1;
        let agreed = if self.history.len() < others {
            0
        } else {
            self.history
                .iter()
                .rev()
                .take(others)
                .map(|h| common_prefix(h, &cur))
                .min()
                .unwrap_or(cur.len())
        };
        let all_but_newest = cur.len().saturating_sub(1);
        let agreed = if self.stability.hold_newest {
            agreed.min(all_but_newest)
        } else {
            agreed
        };
        // one hypothesis cannot tell whether its newest word is still growing: always held back
        let sure = if self.stability.sure_words {
            sure_prefix(&cur, probabilities).min(all_but_newest)
        } else {
            0
        };
        let stable = agreed.max(sure);
        let delta = self.extend_to(&cur, stable);
        if self.history.len() == MAX_AGREEING - 1 {
            self.history.pop_front();
        }
        self.history.push_back(cur);
        delta
    }

    /// Ends the utterance with its final text: returns the remainder of `final_text` beyond
    /// what was emitted (no hold-back), if `final_text` agrees with the emitted words; then
    /// resets for the next utterance. Sending this delta before `completed` makes the
    /// concatenated deltas match the final transcript whenever that is possible.
    pub fn finish(&mut self, final_text: &str) -> Option<String> {
        let words = tokenize(final_text);
        let delta = self.extend_to(&words, words.len());
        self.reset();
        delta
    }

    /// All text emitted so far for this utterance (the concatenation of the deltas).
    pub fn emitted(&self) -> &str {
        &self.emitted
    }

    /// True if the latest hypothesis contradicted already-emitted text (emission is paused
    /// until hypotheses agree with it again).
    pub fn diverged(&self) -> bool {
        self.diverged
    }

    /// Forgets everything; call at the start of each utterance (item).
    pub fn reset(&mut self) {
        self.history.clear();
        self.emitted_norms.clear();
        self.emitted.clear();
        self.diverged = false;
    }

    /// Emits `words[emitted..upto]` if `words` agrees with the emitted prefix.
    fn extend_to(&mut self, words: &[Word], upto: usize) -> Option<String> {
        let n = self.emitted_norms.len();
        let consistent = words.len() >= n && words.iter().zip(&self.emitted_norms).all(|(w, norm)| w.norm == *norm);
        self.diverged = !consistent;
        if !consistent || upto <= n {
            return None;
        }
        let mut delta = String::new();
        for w in &words[n..upto] {
            if w.space_before && !(self.emitted.is_empty() && delta.is_empty()) {
                delta.push(' ');
            }
            delta.push_str(&w.text);
            self.emitted_norms.push(w.norm.clone());
        }
        self.emitted.push_str(&delta);
        Some(delta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(s: &str) -> Vec<String> {
        tokenize(s).into_iter().map(|w| w.text).collect()
    }

    #[test]
    fn tokenizer_splits_words_cjk_and_punctuation() {
        assert_eq!(texts("  Hello,   world! "), vec!["Hello,", "world!"]);
        assert_eq!(texts("你好，世界"), vec!["你", "好，", "世", "界"]);
        assert_eq!(texts("我用Rust写代码"), vec!["我", "用", "Rust", "写", "代", "码"]);
        assert_eq!(texts("「你好」 he said"), vec!["「你", "好」", "he", "said"]);
        assert_eq!(texts("¿Qué tal? don't 3.14"), vec!["¿Qué", "tal?", "don't", "3.14"]);
        assert_eq!(texts("안녕하세요 세계"), vec!["안녕하세요", "세계"]);
        assert!(texts("   ").is_empty());
        let w = tokenize("Hello, World");
        assert_eq!(w[0].norm, "hello");
        assert!(!w[0].space_before);
        assert!(w[1].space_before);
        let w = tokenize(" leading");
        assert!(!w[0].space_before, "first word never carries a space");
    }

    #[test]
    fn basic_growth_holds_back_newest_word() {
        let mut s = Stabilizer::new();
        assert_eq!(s.update("the"), None);
        assert_eq!(s.update("the quick").as_deref(), Some("the"));
        // prev = [the, quick]; cur = [the, quick, brown] → agreed 2, hold back 'brown'.
        assert_eq!(s.update("the quick brown").as_deref(), Some(" quick"));
        assert_eq!(s.update("the quick brown fox").as_deref(), Some(" brown"));
        assert_eq!(s.update("the quick brown fox jumps").as_deref(), Some(" fox"));
        assert_eq!(s.emitted(), "the quick brown fox");
        assert_eq!(s.finish("The quick brown fox jumps.").as_deref(), Some(" jumps."));
        assert_eq!(s.emitted(), "", "finish resets");
    }

    #[test]
    fn identical_hypotheses_still_hold_back_last_word() {
        let mut s = Stabilizer::new();
        assert_eq!(s.update("hello world"), None);
        assert_eq!(s.update("hello world").as_deref(), Some("hello"));
        assert_eq!(s.update("hello world"), None);
        assert_eq!(s.update("hello worldwide"), None);
        assert_eq!(s.update("hello worldwide again").as_deref(), Some(" worldwide"));
    }

    #[test]
    fn growing_last_word_is_not_emitted_early() {
        let mut s = Stabilizer::new();
        s.update("hel");
        assert_eq!(s.update("hello"), None, "'hel' vs 'hello'");
        assert_eq!(s.update("hello wor").as_deref(), Some("hello"));
        assert_eq!(s.update("hello world"), None, "'wor' vs 'world'");
        assert_eq!(s.update("hello world how").as_deref(), Some(" world"));
        assert_eq!(s.update("hello world how are").as_deref(), Some(" how"));
    }

    #[test]
    fn case_and_punctuation_differences_still_agree() {
        let mut s = Stabilizer::new();
        s.update("hello world how");
        // Emitted text follows the latest hypothesis' spelling.
        assert_eq!(s.update("Hello, world. How are").as_deref(), Some("Hello, world. How"));
        assert_eq!(s.update("hello world how are you").as_deref(), Some(" are"));
        assert_eq!(s.emitted(), "Hello, world. How are");
    }

    #[test]
    fn never_retracts_and_resumes_when_agreeing_again() {
        let mut s = Stabilizer::new();
        s.update("I scream for");
        assert_eq!(s.update("I scream for ice").as_deref(), Some("I scream for"));
        // Revision contradicts emitted text: pause.
        assert_eq!(s.update("ice cream for ice cream"), None);
        assert!(s.diverged());
        assert_eq!(s.update("ice cream for ice cream please"), None);
        assert_eq!(s.emitted(), "I scream for");
        // Hypotheses come back to agreeing with the emitted prefix.
        assert_eq!(s.update("I scream for ice cream"), None, "prev disagrees");
        assert!(!s.diverged());
        assert_eq!(s.update("I scream for ice cream today").as_deref(), Some(" ice cream"));
        // Final that contradicts emitted text produces no delta.
        assert_eq!(s.finish("Ice cream for ice cream today."), None);
    }

    #[test]
    fn shrinking_hypothesis_pauses() {
        let mut s = Stabilizer::new();
        s.update("one two three four");
        assert_eq!(
            s.update("one two three four five").as_deref(),
            Some("one two three four")
        );
        assert_eq!(s.update("one two"), None);
        assert!(s.diverged());
        assert_eq!(s.update("one two three four five six").as_deref(), None);
        assert_eq!(
            s.update("one two three four five six seven").as_deref(),
            Some(" five six")
        );
    }

    #[test]
    fn cjk_characters_are_words() {
        let mut s = Stabilizer::new();
        assert_eq!(s.update("今天"), None);
        assert_eq!(s.update("今天天").as_deref(), Some("今天"));
        assert_eq!(s.update("今天天气很").as_deref(), Some("天"));
        assert_eq!(s.update("今天天气很好，").as_deref(), Some("气很"));
        assert_eq!(
            s.finish("今天天气很好，我们去公园。").as_deref(),
            Some("好，我们去公园。")
        );
    }

    #[test]
    fn mixed_script_spacing() {
        let mut s = Stabilizer::new();
        s.update("我用 Rust 写");
        let d1 = s.update("我用 Rust 写代码").unwrap();
        assert_eq!(d1, "我用 Rust 写");
        let d2 = s.finish("我用 Rust 写代码").unwrap();
        assert_eq!(d2, "代码");
        assert_eq!(format!("{d1}{d2}"), "我用 Rust 写代码");
    }

    #[test]
    fn empty_and_whitespace_inputs() {
        let mut s = Stabilizer::new();
        assert_eq!(s.update(""), None);
        assert_eq!(s.update("   "), None);
        assert_eq!(s.update("a"), None);
        assert_eq!(s.update(""), None);
        assert_eq!(s.finish(""), None);
        assert_eq!(s.finish("done"), Some("done".to_string()));
    }

    #[test]
    fn reset_starts_a_new_utterance_without_leading_space() {
        let mut s = Stabilizer::new();
        s.update("alpha beta");
        s.update("alpha beta gamma");
        assert_eq!(s.emitted(), "alpha beta");
        s.reset();
        assert_eq!(s.emitted(), "");
        s.update("  next one");
        assert_eq!(s.update("  next one two").as_deref(), Some("next one"));
    }

    /// xorshift64 for deterministic property-style tests.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    const VOCAB: &[&str] = &[
        "the", "The", "cat,", "cat", "sat", "on", "mat.", "mat", "a", "dog", "好", "你", "世界", "Rust", "ok?", "-",
        "don't", "dont", "e", "x",
    ];

    /// The next hypothesis of a random utterance: mostly grown by a word, sometimes a word
    /// revised, cut back, or its newest word upper-cased (the same word, written otherwise).
    fn revise(rng: &mut Rng, words: &mut Vec<String>) {
        match rng.below(10) {
            0..=5 => words.push(VOCAB[rng.below(VOCAB.len())].to_string()),
            6 if !words.is_empty() => {
                let i = rng.below(words.len());
                words[i] = VOCAB[rng.below(VOCAB.len())].to_string();
            }
            7 if !words.is_empty() => {
                let keep = rng.below(words.len());
                words.truncate(keep);
            }
            8 if !words.is_empty() => {
                let last = words.len() - 1;
                words[last] = words[last].to_uppercase();
            }
            _ => {}
        }
    }

    fn norms(s: &str) -> Vec<String> {
        tokenize(s).into_iter().map(|w| w.norm).collect()
    }

    #[test]
    fn property_random_revisions_never_retract() {
        let mut rng = Rng(0x1234_5678_9ABC_DEF1);
        for _case in 0..400 {
            let mut s = Stabilizer::new();
            let mut words: Vec<String> = Vec::new();
            let mut concat = String::new();
            let mut prev_hyp = String::new();
            for _step in 0..30 {
                revise(&mut rng, &mut words);
                let sep = if rng.below(3) == 0 { "" } else { " " };
                let hyp = words.join(sep);
                let before = s.emitted().to_string();
                let out = s.update(&hyp);
                if let Some(d) = &out {
                    assert!(!d.is_empty(), "empty delta");
                    concat.push_str(d);
                    // The newly emitted words agree with this and the previous hypothesis,
                    // and the newest word of this hypothesis was held back.
                    let e = norms(s.emitted());
                    let h = norms(&hyp);
                    let p = norms(&prev_hyp);
                    assert!(e.len() < h.len(), "newest word emitted: {hyp:?} → {:?}", s.emitted());
                    assert_eq!(&h[..e.len()], &e[..], "emitted disagrees with hypothesis");
                    assert!(p.len() >= e.len() && p[..e.len()] == e[..]);
                    assert!(!d.starts_with(' ') || !before.is_empty(), "leading space");
                }
                // Append-only: emitted text only grows and equals the concatenated deltas.
                assert!(s.emitted().starts_with(&before));
                assert_eq!(s.emitted(), concat);
                assert!(!s.emitted().starts_with(' ') && !s.emitted().ends_with(' '));
                prev_hyp = hyp;
            }
            let fin = words.join(" ");
            let emitted = s.emitted().to_string();
            if let Some(rest) = s.finish(&fin) {
                let all = format!("{emitted}{rest}");
                assert_eq!(norms(&all), norms(&fin));
            }
        }
    }

    #[test]
    fn each_delay_needs_its_number_of_agreeing_hypotheses() {
        let drafts = ["the", "the quick", "the quick brown", "the quick brown fox"];
        let run = |delay| {
            let mut s = Stabilizer::with(Stability::from(delay));
            drafts.iter().map(|d| s.update(d)).collect::<Vec<_>>()
        };
        let some = |t: &str| Some(t.to_string());
        // one hypothesis: all but its newest word, at once
        assert_eq!(
            run(PartialDelay::Minimal),
            [None, some("the"), some(" quick"), some(" brown")]
        );
        assert_eq!(
            run(PartialDelay::Medium),
            [None, some("the"), some(" quick"), some(" brown")]
        );
        assert_eq!(run(PartialDelay::High), [None, None, some("the"), some(" quick")]);
        assert_eq!(run(PartialDelay::Xhigh), [None, None, None, some("the")]);
        // they differ when a word is revised: minimal sends the first reading of it
        let revised = ["a less", "unless you", "unless you go", "unless you go now"];
        let run = |delay| {
            let mut s = Stabilizer::with(Stability::from(delay));
            revised.iter().filter_map(|d| s.update(d)).collect::<String>()
        };
        assert_eq!(
            run(PartialDelay::Minimal),
            "a",
            "one draft cannot see the revision coming"
        );
        assert_eq!(run(PartialDelay::Medium), "unless you go");
        assert_eq!(run(PartialDelay::High), "unless you");
    }

    #[test]
    fn low_sends_a_newest_word_two_hypotheses_end_on() {
        let mut low = Stabilizer::with(Stability::from(PartialDelay::Low));
        let mut medium = Stabilizer::new();
        for s in [&mut low, &mut medium] {
            assert_eq!(s.update("ask"), None);
        }
        assert_eq!(low.update("ask not").as_deref(), Some("ask"));
        assert_eq!(
            low.update("ask not").as_deref(),
            Some(" not"),
            "both end on it: it stopped growing"
        );
        assert_eq!(medium.update("ask not").as_deref(), Some("ask"));
        assert_eq!(medium.update("ask not"), None, "medium holds the newest word back");
        // a word still growing differs between the two and is not sent
        assert_eq!(low.update("ask not what yo"), None);
        assert_eq!(low.update("ask not what your").as_deref(), Some(" what"));
    }

    #[test]
    fn a_stability_change_applies_to_the_next_hypothesis() {
        let mut s = Stabilizer::with(Stability::from(PartialDelay::Xhigh));
        assert_eq!(s.update("one two three"), None);
        assert_eq!(s.update("one two three four"), None);
        // the hypotheses seen so far count for the new level
        s.set_stability(Stability::from(PartialDelay::Medium));
        assert_eq!(
            s.update("one two three four five").as_deref(),
            Some("one two three four")
        );
        s.reset();
        assert_eq!(s.update("six seven"), None, "a new utterance starts without history");
    }

    #[test]
    fn property_every_delay_sends_only_what_its_hypotheses_agree_on() {
        let mut rng = Rng(0x0DDB_A11C_AFE5_1234);
        let delays = [
            PartialDelay::Minimal,
            PartialDelay::Low,
            PartialDelay::Medium,
            PartialDelay::High,
            PartialDelay::Xhigh,
        ];
        for case in 0..500 {
            let stability = Stability::from(delays[case % delays.len()]);
            let mut s = Stabilizer::with(stability);
            let mut words: Vec<String> = Vec::new();
            let mut seen: Vec<Vec<String>> = Vec::new();
            for _step in 0..25 {
                revise(&mut rng, &mut words);
                let hyp = words.join(" ");
                seen.push(norms(&hyp));
                let before = s.emitted().to_string();
                // every other hypothesis comes with random word probabilities
                let probabilities: Vec<WordProbability> = if rng.below(2) == 0 {
                    words.iter().map(|w| scored(w, rng.below(101) as f32 / 100.0)).collect()
                } else {
                    Vec::new()
                };
                // the most words the rule may send from this hypothesis alone
                let sure = if stability.sure_words {
                    let k = probabilities
                        .iter()
                        .enumerate()
                        .take_while(|(i, p)| p.probability >= if *i == 0 { SURE_FIRST_WORD } else { SURE_LATER_WORD })
                        .count();
                    norms(&words[..k].join(" ")).len()
                } else {
                    0
                };
                if s.update_scored(&hyp, &probabilities).is_some() {
                    let e = norms(s.emitted());
                    let latest = &seen[seen.len() - 1];
                    assert!(latest.len() >= e.len() && latest[..e.len()] == e[..]);
                    // what the recognizer is sure of needs no other hypothesis
                    let n = if e.len() <= sure { 1 } else { stability.hypotheses };
                    assert!(seen.len() >= n, "{stability:?}: sent before {n} hypotheses");
                    for h in &seen[seen.len() - n..] {
                        assert!(
                            h.len() >= e.len() && h[..e.len()] == e[..],
                            "{stability:?}: {h:?} vs {e:?}"
                        );
                    }
                    if stability.hold_newest {
                        assert!(e.len() < seen[seen.len() - 1].len(), "{stability:?}: newest word sent");
                    }
                }
                assert!(s.emitted().starts_with(&before), "retracted");
            }
        }
    }

    fn scored(word: &str, probability: f32) -> WordProbability {
        WordProbability {
            word: word.to_string(),
            probability,
        }
    }

    fn sure(pairs: &[(&str, f32)]) -> Vec<WordProbability> {
        pairs.iter().map(|&(w, p)| scored(w, p)).collect()
    }

    #[test]
    fn words_the_recognizer_is_sure_of_go_from_one_hypothesis() {
        let mut s = Stabilizer::new();
        assert!(s.wants_probabilities(), "medium takes sure words");
        let probs = sure(&[("Ask", 0.6), ("not", 0.9), ("what", 0.95)]);
        assert_eq!(
            s.update_scored("Ask not what", &probs).as_deref(),
            Some("Ask not"),
            "sure of all three; the newest is still held back"
        );
        assert!(
            !s.wants_probabilities(),
            "once something is sent, agreement does the rest"
        );
        assert_eq!(s.update_scored("Ask not what your", &[]).as_deref(), Some(" what"));

        // without probabilities, the same first hypothesis sends nothing
        let mut plain = Stabilizer::new();
        assert_eq!(plain.update("Ask not what"), None);
    }

    #[test]
    fn a_word_below_its_threshold_ends_the_sure_words() {
        let first_unsure = sure(&[("Ask", SURE_FIRST_WORD - 0.01), ("not", 0.99), ("what", 0.99)]);
        assert_eq!(Stabilizer::new().update_scored("Ask not what", &first_unsure), None);
        // a later word needs more than a first one
        let second_unsure = sure(&[
            ("Ask", SURE_FIRST_WORD),
            ("not", SURE_LATER_WORD - 0.01),
            ("what", 0.99),
        ]);
        assert_eq!(
            Stabilizer::new()
                .update_scored("Ask not what", &second_unsure)
                .as_deref(),
            Some("Ask")
        );
        let nan = sure(&[("Ask", f32::NAN), ("not", 0.99), ("what", 0.99)]);
        assert_eq!(Stabilizer::new().update_scored("Ask not what", &nan), None);
    }

    #[test]
    fn sure_words_end_where_a_reviewer_changed_the_text() {
        // the engine wrote "Ask knot what you"; the text the stabiliser sees was corrected
        let probs = sure(&[("Ask", 0.9), ("knot", 0.9), ("what", 0.9), ("you", 0.9)]);
        assert_eq!(
            Stabilizer::new().update_scored("Ask not what you", &probs).as_deref(),
            Some("Ask")
        );
    }

    #[test]
    fn sure_words_may_split_the_text_otherwise() {
        // two engine words over four of the stabiliser's (each CJK character is one)
        let probs = sure(&[("你好", 0.9), ("世界", 0.9), ("吗？", 0.9)]);
        assert_eq!(
            Stabilizer::new().update_scored("你好世界吗？", &probs).as_deref(),
            Some("你好世界")
        );
        // one engine word ending inside a stabiliser word covers none of it
        let probs = sure(&[("ab", 0.9), ("cd", 0.1)]);
        assert_eq!(Stabilizer::new().update_scored("abc d e", &probs), None);
    }

    #[test]
    fn sure_words_never_retract_and_all_delays_but_the_extremes_take_them() {
        let mut s = Stabilizer::new();
        let probs = sure(&[("Ask", 0.9), ("not", 0.9)]);
        assert_eq!(s.update_scored("Ask not", &probs).as_deref(), Some("Ask"));
        let probs = sure(&[("Ass", 0.9), ("not", 0.9), ("what", 0.9)]);
        assert_eq!(s.update_scored("Ass not what", &probs), None);
        assert!(s.diverged(), "a sure hypothesis cannot take back what was sent");

        let probs = sure(&[("Ask", 0.9), ("not", 0.9), ("what", 0.9)]);
        for (delay, sent) in [
            (PartialDelay::Minimal, Some("Ask not")),
            (PartialDelay::Low, Some("Ask not")),
            (PartialDelay::High, Some("Ask not")),
            (PartialDelay::Xhigh, None),
        ] {
            let mut s = Stabilizer::with(Stability::from(delay));
            assert_eq!(s.wants_probabilities(), Stability::from(delay).sure_words, "{delay:?}");
            assert_eq!(s.update_scored("Ask not what", &probs).as_deref(), sent, "{delay:?}");
        }
    }

    #[test]
    fn property_monotone_prefixes_reconstruct_the_final_text() {
        let mut rng = Rng(0xDEAD_BEEF_0BAD_F00D);
        for _case in 0..300 {
            let n = 1 + rng.below(15);
            let final_words: Vec<&str> = (0..n).map(|_| VOCAB[rng.below(VOCAB.len())]).collect();
            let final_text = final_words.join(" ");
            let mut s = Stabilizer::new();
            let mut concat = String::new();
            let mut k = 0usize;
            while k < n {
                k = (k + 1 + rng.below(2)).min(n);
                let mut hyp = final_words[..k].join(" ");
                // Sometimes the newest word is still incomplete.
                if rng.below(3) == 0 && k < n {
                    let next = final_words[k];
                    let cut = next.chars().count().div_ceil(2);
                    hyp.push(' ');
                    hyp.extend(next.chars().take(cut));
                }
                for _ in 0..=rng.below(2) {
                    if let Some(d) = s.update(&hyp) {
                        concat.push_str(&d);
                    }
                    assert!(
                        final_text.starts_with(s.emitted()),
                        "{final_text:?} vs {:?}",
                        s.emitted()
                    );
                }
            }
            // A partial prefix "ca" of "cat" may have been seen but never emitted, so the
            // final always agrees.
            if let Some(d) = s.finish(&final_text) {
                concat.push_str(&d);
            }
            assert_eq!(concat, final_text);
        }
    }
}
