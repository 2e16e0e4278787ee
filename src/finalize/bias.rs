//! Glossary-conditioned decoding: a final is decoded once more with the request's Latin glossary
//! terms as the decoder prompt (Whisper's previous-text conditioning), so that the recognizer
//! itself writes the English terms it otherwise drops, writes in Chinese characters, or garbles.
//! The reviewers then correct what is left.
//!
//! ```text
//!   decode (no glossary prompt) ── hypothesis ──► rank the glossary's Latin terms against it
//!        └─ text in the hypothesis, Latin terms in the glossary, an engine that takes prompts:
//!           decode again with "…, term₃, term₂, term₁" (the best match last) ──► keep one
//! ```
//!
//! # Invariants
//!
//! * **Only the request's glossary.** The prompt is built from the glossary in force (inline
//!   `glossary`, `glossary_id`, `keywords`) and the first hypothesis; nothing else.
//! * **The best-matching terms survive truncation.** Whisper keeps the newest 223 prompt tokens,
//!   so terms are written in ascending score and a large glossary loses its least likely terms.
//! * **The user's `prompt` is kept**: the glossary terms are appended to it (its beginning is
//!   what truncation drops first). The first decode uses the user's prompt alone.
//! * **A decode is replaced only to write terms.** The prompted decode is kept only when it names
//!   the glossary's terms (canonical forms and aliases, Latin or Chinese) more often than the
//!   first ([`writes_more_terms`]). That is how Whisper stops dropping and transliterating English
//!   terms in Chinese speech, and how it writes the terms it garbled in English; but a list of
//!   terms also primes ordinary words, in English ("10 of clubs" → "10 of Clobes", "Had he" →
//!   "Hadi" under "H100") and in Chinese (适配 → 室配, 残差网络 → 残测网: a term lost), so a
//!   prompted decode that writes no more terms is not kept. (Until the thirty-fifth session
//!   Chinese prompted decodes were kept on the guards below alone; docs/benchmarks.md.)
//! * **The prompted decode can only replace a credible first decode with a credible one**: it is
//!   kept unless it lost much of the first decode's text (Whisper skipping speech under a
//!   prompt) or its average log-probability fell far below the first one's. A failing second
//!   decode keeps the first.
//! * The decode that is kept then goes through the acoustic check of loosely matched terms
//!   ([`super::verify`]), Chinese or not.
//! * **Bounded.** The prompted decode writes at most twice the first decode's tokens or 12 a
//!   second of audio, per attempt (`prompted_max_tokens`: a prompt of terms can send Whisper
//!   into a loop of them). A realtime final's glossary stage also ends when the realtime budget
//!   runs out ([`decode_with_glossary`]); the decode as it stands then is the final's.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use crate::engine::recognizer::{DecodeOptions, Hypothesis, Utterance};
use crate::engine::scheduler::{EngineHandle, SchedError};
use crate::review::glossary::Glossary;
use crate::review::phonetic;
use crate::review::text::{self, TokenKind};

use super::ReviewPlan;
use super::decode::{FinalDecode, FinalizeStats, decode_final};

/// Tokens (Latin words, Han characters) a hypothesis window spans at most.
const MAX_WINDOW_TOKENS: usize = 5;
/// What a window whose sound key starts differently from a term's still scores, as a factor.
const DIFFERENT_FIRST_SOUND: f32 = 0.85;
/// A prompted decode that keeps less than this share of the first decode's characters is
/// taken for skipped speech.
const MIN_KEPT_LENGTH: f32 = 0.7;
/// A prompted decode whose average log-probability is below the first one's by more than this
/// is not kept.
const MAX_LOGPROB_DROP: f32 = 0.3;

/// Tokens a prompted decode may write beyond its share ([`prompted_max_tokens`]).
const PROMPTED_ROOM: usize = 16;
/// Tokens per second of audio a prompted decode may write: fast Mandarin with timestamps
/// (~5 characters a second, a character one or two tokens) stays below it.
const PROMPTED_TOKENS_PER_S: f32 = 12.0;

/// How a request's finals use its glossary as a decoder prompt (`[review]`
/// `glossary_prompt` / `glossary_prompt_terms`, the request's `glossary_prompt`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PromptPolicy {
    /// Whether finals are decoded again with the glossary prompt.
    pub enabled: bool,
    /// Most terms written into the prompt.
    pub max_terms: usize,
    /// Least match score of a term against the first hypothesis to be written at all.
    pub min_score: f32,
    /// Whether terms proposed by loose matching are checked against the audio and applied when
    /// the recognizer prefers them ([`super::verify`]; `[review] verify_terms`).
    pub verify_terms: bool,
}

impl Default for PromptPolicy {
    fn default() -> Self {
        Self {
            enabled: true,
            max_terms: 40,
            min_score: 0.0,
            verify_terms: true,
        }
    }
}

/// A request's `glossary_prompt` form value: `true`/`1` or `false`/`0` (`True`/`False` too, as
/// Python's `str(bool)` writes them), blank for the server's default; `Err` holds any other value.
pub fn parse_switch(value: &str) -> Result<Option<bool>, String> {
    match value.trim() {
        "" => Ok(None),
        "true" | "True" | "1" => Ok(Some(true)),
        "false" | "False" | "0" => Ok(Some(false)),
        v => Err(v.to_string()),
    }
}

/// One Latin spelling of a glossary entry, as compared with hypothesis windows.
struct Form {
    entry: usize,
    letters: String,
    key: String,
    /// `key` with the liquids folded, as compared with windows holding Han characters.
    folded: String,
    /// Spelled letter by letter (all capitals or digits, ≤ 5 characters: "HPA", "p95" is not).
    acronym: bool,
    /// The entry's own term (not an alias or a misrecognition).
    canonical: bool,
}

/// A run of the hypothesis as letters: Latin words as written, Han characters romanized.
struct Window {
    letters: String,
    key: String,
    has_han: bool,
    /// Byte span of the run in the hypothesis.
    start: usize,
    end: usize,
    /// Whether the run is only common English words (`text::is_common_word`).
    common: bool,
}

/// A span of a hypothesis that sounds or is spelled like a Latin glossary term.
#[derive(Debug, Clone, PartialEq)]
pub struct SoundAlike {
    /// The glossary entry.
    pub entry: usize,
    /// Byte span in the hypothesis.
    pub start: usize,
    /// One past the span's last byte.
    pub end: usize,
    /// How alike, 0..=1 (as [`rank_terms`] scores).
    pub score: f32,
    /// Whether the span is only common English words.
    pub common: bool,
}

/// Every span of `hypothesis` (a run of up to `MAX_WINDOW_TOKENS` tokens, as [`rank_terms`]
/// reads it) that resembles a Latin glossary term with a score of at least `min_score` but is
/// not spelled as one of its forms: the `per_span` best terms of each span, best first.
pub fn sound_alikes(glossary: &Glossary, hypothesis: &str, min_score: f32, per_span: usize) -> Vec<SoundAlike> {
    let forms = latin_forms(glossary);
    let windows = windows(glossary, hypothesis);
    // spans already spelled as a form of a term: a window over one (or over a part of one)
    // would only drop or mangle the words around it ("the Kubernetes" → Kubernetes, "in the
    // KV" of "in the KV cache" → INT8). One exception: a window around another form of a term
    // (an alias, a listed misrecognition) may grow into the term itself ("by Torch", Torch
    // being an alias of PyTorch, → PyTorch).
    let spelled: Vec<(usize, usize, Option<usize>)> = windows
        .iter()
        .filter_map(|w| {
            let mut matching = forms.iter().filter(|f| f.letters == w.letters).peekable();
            matching.peek()?;
            // the entry, when the span spells only non-canonical forms of one entry
            let other_form_of = matching
                .map(|f| (!f.canonical).then_some(f.entry))
                .reduce(|a, b| if a == b { a } else { None })
                .flatten();
            Some((w.start, w.end, other_form_of))
        })
        .collect();
    let mut out: Vec<SoundAlike> = Vec::new();
    for w in windows {
        // one letter, or one Chinese character, is too little to stand for a term
        let too_short = w.letters.len() < 2 || (w.has_han && hypothesis[w.start..w.end].chars().count() < 2);
        let overlapped: Vec<&(usize, usize, Option<usize>)> =
            spelled.iter().filter(|&&(a, b, _)| a < w.end && b > w.start).collect();
        // the one entry whose other forms, strictly inside the window, it may grow into
        let grows_into = match overlapped.first() {
            Some(&&(_, _, Some(entry)))
                if overlapped.iter().all(|&&(a, b, e)| {
                    e == Some(entry) && w.start <= a && b <= w.end && (a, b) != (w.start, w.end)
                }) =>
            {
                Some(entry)
            }
            _ => None,
        };
        if too_short || (!overlapped.is_empty() && grows_into.is_none()) {
            continue;
        }
        // the best form of each entry, then the best entries
        let mut best: Vec<(usize, f32)> = Vec::new();
        for f in forms.iter().filter(|f| grows_into.is_none_or(|e| e == f.entry)) {
            let s = score(f, &w);
            if s < min_score {
                continue;
            }
            match best.iter_mut().find(|(e, _)| *e == f.entry) {
                Some(b) => b.1 = b.1.max(s),
                None => best.push((f.entry, s)),
            }
        }
        best.sort_by(|a, b| b.1.total_cmp(&a.1));
        out.extend(best.into_iter().take(per_span).map(|(entry, score)| SoundAlike {
            entry,
            start: w.start,
            end: w.end,
            score,
            common: w.common,
        }));
    }
    out.sort_by(|a, b| b.score.total_cmp(&a.score));
    out
}

/// Scores each Latin glossary term by how closely something in `hypothesis` resembles it:
/// spelled alike, sounding alike (the corrector's English sound key), or written in Chinese
/// characters that read like it (romanized pinyin). Returns `(entry index, score in 0..=1)`,
/// best first; terms that nothing resembles score 0 and keep their glossary order.
pub fn rank_terms(glossary: &Glossary, hypothesis: &str) -> Vec<(usize, f32)> {
    let forms = latin_forms(glossary);
    let windows = windows(glossary, hypothesis);
    let mut best: Vec<(usize, f32)> = Vec::new();
    let mut score_of = vec![None::<f32>; glossary.len()];
    for f in &forms {
        let s = windows.iter().map(|w| score(f, w)).fold(0.0f32, f32::max);
        let slot = score_of[f.entry].get_or_insert(0.0);
        *slot = slot.max(s);
    }
    for (entry, s) in score_of.into_iter().enumerate() {
        if let Some(s) = s {
            best.push((entry, s));
        }
    }
    // stable: equal scores keep the glossary's order
    best.sort_by(|a, b| b.1.total_cmp(&a.1));
    best
}

/// The decoder prompt for `hypothesis`: up to `policy.max_terms` Latin glossary terms with a
/// score of at least `policy.min_score`, least likely first, joined by ", ", after the user's
/// `prompt`. `None` when no term qualifies.
pub fn glossary_prompt(
    glossary: &Glossary,
    hypothesis: &str,
    user_prompt: Option<&str>,
    policy: &PromptPolicy,
) -> Option<String> {
    let entries = glossary.entries();
    let mut chosen: Vec<&str> = rank_terms(glossary, hypothesis)
        .into_iter()
        .filter(|&(_, s)| s >= policy.min_score)
        .take(policy.max_terms)
        .map(|(i, _)| entries[i].term.as_str())
        .collect();
    if chosen.is_empty() {
        return None;
    }
    chosen.reverse();
    let terms = chosen.join(", ");
    Some(match user_prompt.map(str::trim).filter(|p| !p.is_empty()) {
        Some(p) => format!("{p} {terms}"),
        None => terms,
    })
}

/// Whether a first hypothesis is one the glossary prompt is for: it has written something, in
/// Chinese characters or letters ([`glossary_prompt`] then picks the terms).
pub fn wants_prompt(h: &Hypothesis) -> bool {
    h.text.chars().any(|c| text::is_han(c) || c.is_alphabetic())
}

/// Whether the prompted decode of an English first decode did what its prompt was for: it names
/// the glossary's terms (or their aliases) more often than the first decode did. Otherwise the
/// prompt changed only ordinary words, which a list of terms primes but cannot correct ("Had he"
/// → "Hadi" under "H100"), and the first decode is kept.
pub fn writes_more_terms(glossary: &Glossary, first: &str, prompted: &str) -> bool {
    mentions(glossary, prompted) > mentions(glossary, first)
}

/// How many times `hypothesis` names a term or alias of `glossary`, not inside a Latin word
/// ([`text::term_occurrences`]), ignoring case.
fn mentions(glossary: &Glossary, hypothesis: &str) -> usize {
    let lower = hypothesis.to_lowercase();
    glossary
        .entries()
        .iter()
        .flat_map(|e| std::iter::once(&e.term).chain(&e.aliases))
        .map(|f| text::term_occurrences(&lower, &f.to_lowercase()).count())
        .sum()
}

/// Which of two decodes of one utterance to keep: the prompted one when it names `glossary`'s
/// terms more often than the first ([`writes_more_terms`]), unless it lost much of the text
/// (skipped speech) or is far less probable.
pub fn keep_prompted(glossary: &Glossary, first: &Hypothesis, prompted: &Hypothesis) -> bool {
    let len = |h: &Hypothesis| h.text.chars().filter(|c| c.is_alphanumeric()).count() as f32;
    if len(prompted) < MIN_KEPT_LENGTH * len(first) {
        return false;
    }
    if !writes_more_terms(glossary, &first.text, &prompted.text) {
        return false;
    }
    match (avg_logprob(first), avg_logprob(prompted)) {
        (Some(a), Some(b)) => b >= a - MAX_LOGPROB_DROP,
        _ => true,
    }
}

/// The mean of the segments' average log-probabilities (Whisper measures one per window).
fn avg_logprob(h: &Hypothesis) -> Option<f32> {
    let v: Vec<f32> = h.segments.iter().filter_map(|s| s.avg_logprob).collect();
    (!v.is_empty()).then(|| v.iter().sum::<f32>() / v.len() as f32)
}

/// [`decode_final`], then, when the plan asks for it and has a glossary, the glossary stage on
/// the engine that answered: the glossary-prompted decode (`with_glossary_prompt`), then the
/// acoustic check of loosely matched terms ([`super::verify::verify_terms`], when the policy has
/// `verify_terms`). With a `budget` (realtime finals) the glossary stage ends when it runs out,
/// counted: the decode as it stands then is the answer, and the engine work still queued or
/// running for the stage is abandoned.
pub async fn decode_with_glossary(
    engine: &EngineHandle,
    fallback: Option<&EngineHandle>,
    utt: Utterance,
    refuse_when_busy: bool,
    stats: &FinalizeStats,
    plan: &ReviewPlan,
    budget: Option<Duration>,
) -> Result<FinalDecode, SchedError> {
    let options = utt.options.clone();
    let samples = utt.samples.clone();
    let first = decode_final(engine, fallback, utt, refuse_when_busy, stats).await?;
    let policy = plan.prompt_policy();
    if plan.glossary().is_empty() || !(policy.enabled || policy.verify_terms) {
        return Ok(first);
    }
    let answered = if first.fallback.is_some() {
        fallback
    } else {
        Some(engine)
    };
    let Some(answered) = answered else {
        return Ok(first);
    };
    let deadline = budget.map(|b| Instant::now() + b);
    let decoded = if policy.enabled {
        let kept = first.clone();
        let prompted = with_glossary_prompt(answered, samples.clone(), &options, first, plan, &policy, stats);
        match within(deadline, prompted).await {
            Some(d) => d,
            None => return Ok(over_budget(kept, stats)),
        }
    } else {
        first
    };
    if !policy.verify_terms {
        return Ok(decoded);
    }
    let kept = decoded.clone();
    let checked = super::verify::verify_terms(answered, samples, &options, decoded, plan.glossary(), stats);
    Ok(match within(deadline, checked).await {
        Some(d) => d,
        None => over_budget(kept, stats),
    })
}

/// `stage`'s answer, or `None` when `deadline` passes first (dropping the stage's future
/// abandons its engine work, which the scheduler skips or discards).
async fn within(deadline: Option<Instant>, stage: impl Future<Output = FinalDecode>) -> Option<FinalDecode> {
    match deadline {
        Some(deadline) => tokio::time::timeout_at(deadline, stage).await.ok(),
        None => Some(stage.await),
    }
}

/// The decode a glossary stage past its budget leaves, counted.
fn over_budget(kept: FinalDecode, stats: &FinalizeStats) -> FinalDecode {
    tracing::debug!(text = %kept.hypothesis.text, "glossary stage over its budget; the decode so far is kept");
    stats.count_glossary_over_budget();
    kept
}

/// When the first hypothesis has text, [`glossary_prompt`] finds terms for it and `answered` (the
/// engine that decoded it) takes prompts: a second decode with the glossary prompt, and the one
/// [`keep_prompted`] picks. Otherwise (or when the second decode fails) the first.
async fn with_glossary_prompt(
    answered: &EngineHandle,
    samples: std::sync::Arc<[f32]>,
    options: &DecodeOptions,
    first: FinalDecode,
    plan: &ReviewPlan,
    policy: &PromptPolicy,
    stats: &FinalizeStats,
) -> FinalDecode {
    if !wants_prompt(&first.hypothesis) || !crate::routing::takes_glossary_prompt(answered.abilities()) {
        return first;
    }
    let Some(prompt) = glossary_prompt(
        plan.glossary(),
        &first.hypothesis.text,
        options.prompt.as_deref(),
        policy,
    ) else {
        return first;
    };
    let mut options = options.clone();
    options.prompt = Some(prompt.clone());
    let seconds = samples.len() as f32 / 16_000.0;
    options.max_tokens = Some(prompted_max_tokens(&first.hypothesis, seconds));
    match answered.recognize_final(Utterance { samples, options }).await {
        Ok(h) if keep_prompted(plan.glossary(), &first.hypothesis, &h) => {
            tracing::debug!(first = %first.hypothesis.text, prompted = %h.text, %prompt, "glossary prompt kept");
            stats.count_glossary_prompt(true);
            FinalDecode { hypothesis: h, ..first }
        }
        Ok(h) => {
            tracing::debug!(first = %first.hypothesis.text, prompted = %h.text, %prompt, "glossary prompt refused");
            stats.count_glossary_prompt(false);
            first
        }
        Err(e) => {
            tracing::warn!(error = %e, "glossary-prompted decode failed; the first decode is kept");
            stats.count_glossary_prompt(false);
            first
        }
    }
}

/// The token cap of the prompted decode of `seconds` of audio: twice the first decode's tokens or
/// [`PROMPTED_TOKENS_PER_S`] per second of audio, whichever is more, and some room. A
/// prompt of terms can send Whisper into a loop of them, and the cap bounds what that costs; the
/// audio's share is there because a first decode may have skipped most of its speech, which is
/// what the prompted decode is for.
fn prompted_max_tokens(first: &Hypothesis, seconds: f32) -> usize {
    let timed: usize = first.segments.iter().map(|s| s.tokens.len()).sum();
    let n = timed.max(first.token_ids.len());
    let by_audio = (PROMPTED_TOKENS_PER_S * seconds.max(0.0)).ceil() as usize;
    (2 * n).max(by_audio) + PROMPTED_ROOM
}

fn latin_forms(glossary: &Glossary) -> Vec<Form> {
    let mut out = Vec::new();
    for (entry, e) in glossary.entries().iter().enumerate() {
        if !e.term.chars().any(text::is_latin) {
            continue;
        }
        let spellings = std::iter::once(&e.term).chain(&e.aliases).chain(&e.misrecognitions);
        for s in spellings.filter(|s| s.chars().any(text::is_latin) && !s.chars().any(text::is_han)) {
            let letters: String = s
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .map(|c| c.to_ascii_lowercase())
                .collect();
            if letters.is_empty() {
                continue;
            }
            let acronym = letters.len() <= 5
                && s.chars()
                    .filter(char::is_ascii_alphanumeric)
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
            let key = phonetic::english_key(&letters);
            out.push(Form {
                entry,
                folded: phonetic::fold_liquids(&key),
                key,
                letters,
                acronym,
                canonical: *s == e.term,
            });
        }
    }
    out
}

/// Every run of up to [`MAX_WINDOW_TOKENS`] tokens not broken by punctuation, as letters. Han
/// characters take part only when they are transliteration characters (romanized from their
/// first pinyin reading), as in the corrector's cross-script match: ordinary Chinese words read
/// as pinyin resemble short English terms by chance and would crowd the prompt with them.
fn windows(glossary: &Glossary, hypothesis: &str) -> Vec<Window> {
    let tokens = text::tokenize(hypothesis, |c| glossary.fold(c));
    // `None`: a token no window may hold (a Han character that does not spell a foreign sound)
    let spelled: Vec<Option<(String, bool)>> = tokens
        .iter()
        .map(|t| match t.kind {
            TokenKind::Han => {
                let c = t.key.chars().next().filter(|&c| phonetic::is_transliteration_char(c))?;
                let r = phonetic::readings(c).into_iter().next()?.plain;
                Some((phonetic::romanize_pinyin([r.as_str()]), true))
            }
            _ => Some((
                t.key
                    .chars()
                    .filter(char::is_ascii_alphanumeric)
                    .map(|c| c.to_ascii_lowercase())
                    .collect(),
                false,
            )),
        })
        .collect();
    let mut out = Vec::new();
    for first in 0..tokens.len() {
        let mut letters = String::new();
        let mut has_han = false;
        let mut common = true;
        for last in first..tokens.len().min(first + MAX_WINDOW_TOKENS) {
            let Some((spelling, han)) = &spelled[last] else { break };
            if last > first && !tokens[last].joined_to_prev {
                break;
            }
            letters.push_str(spelling);
            has_han |= han;
            common &= tokens[last].kind == TokenKind::Latin && text::is_common_word(&tokens[last].key);
            if letters.is_empty() {
                continue;
            }
            let key = phonetic::english_key(&letters);
            out.push(Window {
                key: if has_han { phonetic::fold_liquids(&key) } else { key },
                letters: letters.clone(),
                has_han,
                start: tokens[first].start,
                end: tokens[last].end,
                common,
            });
        }
    }
    out
}

/// How much a window resembles a form, 0..=1.
fn score(f: &Form, w: &Window) -> f32 {
    if f.acronym {
        // spelled letter by letter: only written letters are evidence
        if w.has_han || w.letters.len() > f.letters.len() + 2 {
            return 0.0;
        }
        return phonetic::spelled_similarity(&w.letters, &f.letters);
    }
    let fkey = if w.has_han { &f.folded } else { &f.key };
    let (a, b) = (w.key.chars().count() as f32, fkey.chars().count() as f32);
    if b == 0.0 || a < 0.5 * b || a > 2.0 * b {
        return 0.0;
    }
    // a different first sound counts against, not out: recognizers drop or change a term's
    // first consonant ("Who Bernetti's" for Kubernetes)
    let first_sound = if w.key.chars().next() == fkey.chars().next() {
        1.0
    } else {
        DIFFERENT_FIRST_SOUND
    };
    let sound = first_sound * text::similarity(&w.key, fkey);
    if w.has_han {
        // Chinese characters carry sound only; long enough to be more than chance
        if b < 3.0 { 0.0 } else { sound }
    } else {
        0.5 * sound + 0.5 * text::similarity(&w.letters, &f.letters)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::recognizer::Segment;

    fn glossary(terms: &[&str]) -> Glossary {
        Glossary::from_keywords(terms)
    }

    fn rank(g: &Glossary, hyp: &str) -> Vec<String> {
        rank_terms(g, hyp)
            .into_iter()
            .filter(|&(_, s)| s > 0.5)
            .map(|(i, _)| g.entries()[i].term.clone())
            .collect()
    }

    #[test]
    fn terms_rank_by_what_the_hypothesis_resembles_in_either_script() {
        let g = glossary(&[
            "Snowflake",
            "Claude",
            "Kubernetes",
            "HPA",
            "Grafana",
            "黄仁勋",
            "Zookeeper",
        ]);
        // a respelled Latin run, a split one, letters of an acronym: the three spoken terms rank
        // first (ordinary Chinese words read as pinyin may still resemble others, less closely)
        let mut r = rank(&g, "我们先把Cuber Nits等H.P.A.配好的再看Graph on it上的延迟");
        r.truncate(3);
        r.sort();
        assert_eq!(r, ["Grafana", "HPA", "Kubernetes"]);
        // Chinese characters that read like the term
        let r = rank(&g, "聊一下克劳德的配额");
        assert_eq!(r.first().map(String::as_str), Some("Claude"), "{r:?}");
        // Han terms are not prompt material
        assert!(
            rank_terms(&g, "黄仁勋")
                .iter()
                .all(|&(i, _)| g.entries()[i].term != "黄仁勋")
        );
    }

    #[test]
    fn ordinary_chinese_words_pull_no_term_and_a_changed_first_sound_still_counts() {
        let g = glossary(&["basis points", "cuDNN", "Kubernetes", "Grafana"]);
        // ordinary words read as pinyin resemble short terms by chance; that is not evidence
        let r = rank(&g, "数据先写进接口当中");
        assert!(r.is_empty(), "{r:?}");
        // the first consonant lost: the term still ranks first
        let r = rank(&g, "我们用 Who Bernetti's 部署");
        assert_eq!(r.first().map(String::as_str), Some("Kubernetes"), "{r:?}");
    }

    #[test]
    fn the_prompt_puts_the_best_term_last_and_respects_the_cap_and_the_user_prompt() {
        let g = glossary(&["Snowflake", "Terraform", "Kubernetes"]);
        let policy = PromptPolicy {
            max_terms: 2,
            ..Default::default()
        };
        let p = glossary_prompt(&g, "我们用 cuber nettis 部署", None, &policy).unwrap();
        assert!(p.ends_with("Kubernetes"), "{p}");
        assert_eq!(p.split(", ").count(), 2, "{p}");
        let p = glossary_prompt(&g, "我们用 cuber nettis 部署", Some("会议记录。"), &policy).unwrap();
        assert!(p.starts_with("会议记录。 ") && p.ends_with("Kubernetes"), "{p}");
        // a floor no term reaches: no prompt
        let strict = PromptPolicy {
            min_score: 0.99,
            ..policy
        };
        assert_eq!(glossary_prompt(&g, "今天天气很好", None, &strict), None);
        assert_eq!(glossary_prompt(&glossary(&["黄仁勋"]), "黄人群", None, &policy), None);
    }

    #[test]
    fn a_prompted_decode_must_name_more_terms_than_the_first() {
        let mut entry = crate::review::GlossaryEntry::new("PagerDuty");
        entry.aliases.push("Pager Duty".into());
        let g = Glossary::new(
            ["Kubernetes", "H100", "ECR"]
                .map(crate::review::GlossaryEntry::new)
                .into_iter()
                .chain([entry])
                .collect(),
        );
        let first = "we run on cuber nettis and the images come from ECR";
        assert!(writes_more_terms(
            &g,
            first,
            "we run on Kubernetes and the images come from ECR"
        ));
        assert!(
            writes_more_terms(&g, "the page or duchy alert", "the Pager Duty alert"),
            "aliases count"
        );
        // only ordinary words changed, or a term inside another word: the first decode stays
        assert!(!writes_more_terms(&g, "Had he married", "Hadi married"));
        assert!(!writes_more_terms(
            &g,
            first,
            "we run on cuber nettis and the images come from ECR."
        ));
        assert!(
            !writes_more_terms(&g, "a h100", "xh100y and a h100"),
            "whole words only, and counted"
        );
        assert!(
            writes_more_terms(&g, "部署在 cuber 上", "部署在Kubernetes上"),
            "next to Han characters"
        );
        // Chinese terms count too: a prompted decode that loses one, or changes only ordinary
        // words, is not kept
        let zh = Glossary::new(["残差网络", "适配"].map(crate::review::GlossaryEntry::new).to_vec());
        assert!(writes_more_terms(&zh, "残测网论文", "残差网络论文"));
        assert!(!writes_more_terms(&zh, "残差网络论文", "残测网论文"));
        assert!(!writes_more_terms(
            &zh,
            "我们先过一下上周的问题",
            "我们先过一下上周的文体"
        ));
        assert!(!keep_prompted(
            &zh,
            &hyp("残差网络论文", -0.3),
            &hyp("残测网论文", -0.2)
        ));
    }

    fn hyp(text: &str, logprob: f32) -> Hypothesis {
        Hypothesis {
            text: text.into(),
            segments: vec![Segment {
                text: text.into(),
                avg_logprob: Some(logprob),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn the_prompted_decode_may_write_twice_the_first_decodes_tokens_or_its_audios_share() {
        let room = PROMPTED_ROOM;
        let mut h = hyp("RDC D sinks the helm chart", -0.3);
        // no tokens reported (or a first decode that skipped its speech): the audio's share
        assert_eq!(prompted_max_tokens(&h, 5.0), 60 + room);
        h.token_ids = vec![1; 40];
        assert_eq!(prompted_max_tokens(&h, 5.0), 80 + room);
        // timed segments count their timestamp tokens too, and win over a shorter id list
        h.segments[0].tokens = vec![1; 45];
        assert_eq!(prompted_max_tokens(&h, 5.0), 90 + room);
        assert_eq!(prompted_max_tokens(&h, 10.0), 120 + room);
    }

    fn decode(text: &str) -> FinalDecode {
        FinalDecode {
            hypothesis: hyp(text, -0.2),
            engine: "e".into(),
            fallback: None,
        }
    }

    #[tokio::test]
    async fn a_glossary_stage_ends_at_its_deadline_and_runs_to_its_end_without_one() {
        let never = std::future::pending::<FinalDecode>();
        let soon = Instant::now() + Duration::from_millis(20);
        assert!(within(Some(soon), never).await.is_none());
        // a stage that answers in time is the answer
        let quick = async { decode("prompted") };
        let later = Some(soon + Duration::from_secs(5));
        assert_eq!(within(later, quick).await.unwrap().hypothesis.text, "prompted");
        // no budget (REST, meetings): the stage runs to its end
        let slow = async {
            tokio::time::sleep(Duration::from_millis(30)).await;
            decode("prompted")
        };
        assert_eq!(within(None, slow).await.unwrap().hypothesis.text, "prompted");
        // what a stage past its budget leaves: the decode so far, counted once
        let stats = FinalizeStats::default();
        assert_eq!(over_budget(decode("first"), &stats).hypothesis.text, "first");
        assert_eq!(stats.glossary_over_budget(), 1);
    }

    #[test]
    fn a_prompted_decode_that_skips_speech_or_is_much_less_sure_is_refused() {
        let g = Glossary::new(
            ["Kubernetes", "Grafana"]
                .map(crate::review::GlossaryEntry::new)
                .to_vec(),
        );
        let first = hyp("我们先把Cubernits配好再看Braphanel上的延迟", -0.4);
        assert!(keep_prompted(
            &g,
            &first,
            &hyp("我们先把 Kubernetes 配好，再看 Grafana 上的延迟", -0.35)
        ));
        assert!(
            !keep_prompted(&g, &first, &hyp("我们先把 Kubernetes", -0.2)),
            "speech skipped"
        );
        assert!(!keep_prompted(
            &g,
            &first,
            &hyp("我们先把 Kubernetes 配好，再看 Grafana 上的延迟", -1.2)
        ));
        assert!(wants_prompt(&first) && wants_prompt(&hyp("we deploy on cube netties", -0.3)));
        assert!(!wants_prompt(&hyp(" ... 123", -0.3)), "nothing written");
    }
}

/// Where each reference term ranks, for choosing `max_terms` / `min_score` on a split of a
/// terminology set: `cargo test --release --lib finalize::bias::rank_report -- --ignored
/// --nocapture` with `ASR_ROUTER_RANK_HYPS` (JSON lines `{id, hyp, terms}`) and
/// `ASR_ROUTER_RANK_GLOSSARY` (a glossary file).
#[cfg(test)]
mod report {
    use super::*;

    #[test]
    #[ignore = "a measurement over files named by environment variables"]
    fn rank_report() {
        let (Ok(hyps), Ok(gl)) = (
            std::env::var("ASR_ROUTER_RANK_HYPS"),
            std::env::var("ASR_ROUTER_RANK_GLOSSARY"),
        ) else {
            return;
        };
        let g = Glossary::from_json_file(gl).unwrap();
        for line in std::fs::read_to_string(hyps).unwrap().lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let ranked = rank_terms(&g, v["hyp"].as_str().unwrap());
            let terms: Vec<String> = v["terms"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap().to_string())
                .collect();
            let places: Vec<String> = terms
                .iter()
                .filter(|t| t.chars().any(text::is_latin))
                .map(|t| match ranked.iter().position(|&(i, _)| &g.entries()[i].term == t) {
                    Some(p) => format!("{t}:{}@{:.2}", p + 1, ranked[p].1),
                    None => format!("{t}:-"),
                })
                .collect();
            let top: Vec<String> = ranked
                .iter()
                .take(6)
                .map(|&(i, s)| format!("{}@{s:.2}", g.entries()[i].term))
                .collect();
            println!("{}\t{}\t{}", v["id"].as_str().unwrap(), places.join(" "), top.join(" "));
        }
    }
}
