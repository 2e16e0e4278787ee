//! Acoustic verification of glossary terms: the glossary corrector, run with loose thresholds,
//! proposes terms the recognizer may have misheard ("QDA" → CUDA, "WanChain" → LangChain, 声疼 →
//! 昇腾); the recognizer itself then scores each proposal against the audio, and a proposal is
//! taken only when, told the proposed terms, the model finds the edited transcript more probable
//! than its own.
//!
//! ```text
//!   final text ─► loose corrector + Latin and Chinese sound-alikes ─► proposals the strict one
//!                 would not make
//!                 (≤ MAX_PROPOSALS; up to TERMS_PER_SPAN terms for a span, spans may overlap)
//!      └─► engine.score_texts(audio, prompt = the proposed terms, [text, text with edit₁, …]),
//!          every text with the strict corrector's own edits in place (the review makes them anyway)
//!            └─► keep each edit whose text scores above the original and above every
//!                overlapping proposal ─► the final's text
//! ```
//!
//! Why it is safe without a threshold to tune: the strict corrector's thresholds were set so
//! that text alone rarely causes a false correction; loose matches are many more, and among them
//! the audio decides. The decision rule has no free parameter — the edited transcript must be
//! more probable than the unedited one under the same model, prompt and audio — and the glossary
//! enters only as the prompt, the prior a user gives by passing a glossary.
//!
//! # Invariants
//!
//! * **Only the request's glossary**, only engines whose abilities say `scores_texts`, only
//!   when the plan's prompt policy has `verify_terms`.
//! * **Whole terms, one span each.** An accepted edit replaces one span of the text with one
//!   canonical glossary term, as the corrector writes it; edits never overlap.
//! * **Never loses the final.** A scoring error, or a final too long to score in one window,
//!   keeps the text as it was; the outcome is counted (`asr_router_finalize_term_checks`).
//! * **Segments follow the text.** The edits are applied to the hypothesis's segments too (word
//!   times are left as decoded, and a final with word times is not verified).

use crate::engine::recognizer::{DecodeOptions, Task};
use crate::engine::scheduler::EngineHandle;
use crate::review::corrector::{CorrectorConfig, GlossaryCorrector};
use crate::review::glossary::HanSyllables;
use crate::review::text::tokenize;
use crate::review::{Edit, Glossary, ReviewContext, Reviewer, apply_edits};

use super::bias::sound_alikes;
use super::decode::{FinalDecode, FinalizeStats};
use super::project_edits;

/// The reviewer name on proposals that come from sound-alike spans.
const NAME: &str = "verify";

/// Least [`sound_alikes`] score of a span to be proposed.
const MIN_SOUND_ALIKE: f32 = 0.5;

/// Most proposals scored per final (each costs one teacher-forced decoder pass).
const MAX_PROPOSALS: usize = 12;

/// Most terms proposed for one span: they compete, and the audio picks at most one.
const TERMS_PER_SPAN: usize = 3;

/// Audio a single scoring pass takes (Whisper's window).
const MAX_SAMPLES: usize = 30 * 16_000;

/// The loose thresholds that propose terms: about the smallest similarity at which a sound-alike
/// is still a plausible mishearing (a third of a short acronym's letters, half of a word's).
fn loose() -> CorrectorConfig {
    CorrectorConfig {
        latin_threshold: 0.6,
        han_threshold: 0.7,
        cross_threshold: 0.65,
        min_latin_letters: 3,
        code_switched_latin_threshold: 0.5,
        code_switched_min_latin_letters: 2,
        ..CorrectorConfig::default()
    }
}

/// The proposals for `text` that the strict corrector (the review that follows) would not make
/// itself: the loose corrector's edits, and spans that resemble a Latin term as the glossary
/// prompt ranks them ([`sound_alikes`]; in text without Chinese, not a run of common English
/// words). Proposals may overlap — several terms for one span, several extents of a span for
/// one term — and compete when scored (`accepted`); at most `MAX_PROPOSALS`, the most alike
/// first, returned in text order.
pub fn proposals(text: &str, language: Option<&str>, glossary: &Glossary) -> Proposals {
    let ctx = ReviewContext::with_language(language);
    let strict = GlossaryCorrector::default()
        .review(text, &ctx, glossary)
        .map(|r| r.edits)
        .unwrap_or_default();
    let Ok(loose) = GlossaryCorrector::new(loose()).review(text, &ctx, glossary) else {
        return Proposals {
            strict,
            edits: Vec::new(),
        };
    };
    let code_switched = text.chars().any(crate::review::text::is_han);
    let entries = glossary.entries();
    let mut all: Vec<Edit> = loose.edits;
    all.extend(
        sound_alikes(glossary, text, MIN_SOUND_ALIKE, TERMS_PER_SPAN)
            .into_iter()
            .filter(|a| code_switched || !a.common)
            .map(|a| Edit {
                start: a.start,
                end: a.end,
                from: text[a.start..a.end].to_string(),
                to: entries[a.entry].term.clone(),
                reviewer: NAME,
                term: Some(entries[a.entry].term.clone()),
                score: a.score,
            }),
    );
    all.extend(han_alikes(text, glossary));
    all.retain(|e| e.term.is_some() && e.from != e.to && !strict.iter().any(|s| s.start < e.end && e.start < s.end));
    all.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut out: Vec<Edit> = Vec::new();
    for e in all {
        if out.len() == MAX_PROPOSALS {
            break;
        }
        if !out.iter().any(|o| (o.start, o.end, &o.to) == (e.start, e.end, &e.to)) {
            out.push(e);
        }
    }
    out.sort_by_key(|e| e.start);
    Proposals { strict, edits: out }
}

/// Least similarity of a syllable to count as alike
/// ([`crate::review::phonetic::syllable_similarity`]: the same pinyin up to the usual fuzzy pairs,
/// any tone).
const HAN_ALIKE: f32 = 0.7;

/// A syllable of the same toneless pinyin ([`crate::review::phonetic::syllable_similarity`]).
const SAME_PINYIN: f32 = 0.85;

/// Least [`crate::review::phonetic::syllable_likeness`] of every other syllable of a window with
/// one syllable of the term's pinyin: the same final, or the same initial before a final one
/// vowel longer or shorter.
const LIKE_FINAL: f32 = 0.5;

/// Windows of Chinese characters that sound like a Chinese glossary term where the corrector,
/// which must decide from the text alone, leaves them: every syllable alike although no character
/// is the term's (声疼 → 昇腾, 未尽 → 胃镜), or one syllable far off and at least two characters the
/// term's (科创摆 → 科创板, 通易千万 → 通义千问), or one syllable of the same pinyin and every
/// other with at least its final or its initial before a final one vowel apart (網人群 → 黄仁勋,
/// 升彭 → 昇腾, 換句 → 幻觉). Ordinary words sound like that too, so these are proposals only: the
/// audio decides.
fn han_alikes(text: &str, glossary: &Glossary) -> Vec<Edit> {
    let forms = &glossary.index().han_forms;
    if forms.is_empty() {
        return Vec::new();
    }
    let tokens = tokenize(text, |c| glossary.fold(c));
    let han = HanSyllables::new(&tokens);
    let mut out = Vec::new();
    for form in forms {
        let n = form.chars.len();
        if n < 2 || n > tokens.len() {
            continue;
        }
        let term = &glossary.entries()[form.entry as usize].term;
        for first in 0..=tokens.len() - n {
            if !han.is_window(&tokens, first, n) {
                continue;
            }
            let last = first + n - 1;
            let (sims, same) = han.similarities(first, form);
            let off = sims.iter().filter(|&&s| s < HAN_ALIKE).count();
            let mut score = (same < n && (off == 0 || (off == 1 && n >= 3 && same >= 2)))
                .then(|| sims.iter().sum::<f32>() / n as f32);
            if score.is_none() && same < n && sims.iter().any(|&s| s >= SAME_PINYIN) {
                // one syllable heard right and every other with at least its final (網人群 → 黄仁勋)
                let likeness = han.likenesses(first, form, &sims);
                if likeness.iter().all(|&s| s >= LIKE_FINAL) {
                    score = Some(likeness.iter().sum::<f32>() / n as f32);
                }
            }
            if let Some(score) = score {
                let (start, end) = (tokens[first].start, tokens[last].end);
                out.push(Edit {
                    start,
                    end,
                    from: text[start..end].to_string(),
                    to: term.clone(),
                    reviewer: NAME,
                    term: Some(term.clone()),
                    score,
                });
            }
        }
    }
    out
}

/// What [`proposals`] finds in a text.
#[derive(Debug, Clone, Default)]
pub struct Proposals {
    /// The strict corrector's own edits: the review that follows makes them anyway, so the
    /// proposals are scored in the text as it will read with them (`Proposals::texts`).
    pub strict: Vec<Edit>,
    /// The proposals, in text order; none overlaps a strict edit.
    pub edits: Vec<Edit>,
}

impl Proposals {
    /// The texts a scoring pass compares: `text` with the strict edits, then the same with each
    /// proposal added. A proposal is judged in the context the listener will read: "Cude 升级,
    /// 顺便把 cuDNN 也换掉" for "Cude" → CUDA, not the recognizer's "…把 CudeNN 也换掉".
    fn texts(&self, text: &str) -> Vec<String> {
        let with = |extra: Option<&Edit>| {
            let mut all: Vec<Edit> = self.strict.iter().chain(extra).cloned().collect();
            all.sort_by_key(|e| e.start);
            apply_edits(text, &all)
        };
        std::iter::once(with(None))
            .chain(self.edits.iter().map(|e| with(Some(e))))
            .collect()
    }
}

/// The decoder prompt of a scoring pass: the proposed terms, once each, in text order.
fn prompt(edits: &[Edit]) -> String {
    let mut terms: Vec<&str> = Vec::new();
    for t in edits.iter().filter_map(|e| e.term.as_deref()) {
        if !terms.contains(&t) {
            terms.push(t);
        }
    }
    terms.join(", ")
}

/// Which proposals the scores accept: `scores[0]` is the unedited text's, `scores[i + 1]`
/// that of the text with `edits[i]` alone. An edit must score above the unedited text, and
/// above every overlapping edit it competes with (the more probable is taken first; a tie goes
/// to the earlier proposal). Returned in text order, non-overlapping.
fn accepted(edits: Vec<Edit>, scores: &[f32]) -> Vec<Edit> {
    let Some(&base) = scores.first() else {
        return Vec::new();
    };
    let mut better: Vec<(Edit, f32)> = edits
        .into_iter()
        .zip(scores[1..].iter().copied())
        .filter(|(_, s)| *s > base)
        .collect();
    better.sort_by(|a, b| b.1.total_cmp(&a.1));
    let mut keep: Vec<Edit> = Vec::new();
    for (e, _) in better {
        if !keep.iter().any(|k| k.start < e.end && e.start < k.end) {
            keep.push(e);
        }
    }
    keep.sort_by_key(|e| e.start);
    keep
}

/// Checks the loose corrector's proposals for `decoded`'s text against its audio on `engine`
/// (the engine that decoded it) and applies the ones the audio supports (see the module docs).
pub async fn verify_terms(
    engine: &EngineHandle,
    samples: std::sync::Arc<[f32]>,
    options: &DecodeOptions,
    mut decoded: FinalDecode,
    glossary: &Glossary,
    stats: &FinalizeStats,
) -> FinalDecode {
    let h = &decoded.hypothesis;
    if !engine.abilities().scores_texts
        || glossary.is_empty()
        || h.text.is_empty()
        || !h.words.is_empty()
        || samples.len() > MAX_SAMPLES
        || options.task != Task::Transcribe
    {
        return decoded;
    }
    let language = h.language.clone().or_else(|| options.language.clone());
    let found = proposals(&h.text, language.as_deref(), glossary);
    if found.edits.is_empty() {
        return decoded;
    }
    let texts = found.texts(&h.text);
    let edits = found.edits;
    let opts = DecodeOptions {
        language,
        prompt: Some(prompt(&edits)),
        ..Default::default()
    };
    let started = std::time::Instant::now();
    let scores = match engine.score_texts(samples, opts, texts).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "scoring glossary proposals failed; the text is kept");
            stats.count_term_check("failed", edits.len());
            return decoded;
        }
    };
    let took_ms = started.elapsed().as_secs_f64() * 1000.0;
    tracing::debug!(text = ?h.text, took_ms, ?scores, proposals = ?edits.iter().map(|e| (&e.from, &e.to, e.score)).collect::<Vec<_>>(),
        "glossary proposals scored");
    let n = edits.len();
    let keep = accepted(edits, &scores);
    stats.count_term_check("accepted", keep.len());
    stats.count_term_check("rejected", n - keep.len());
    if keep.is_empty() {
        return decoded;
    }
    let h = &mut decoded.hypothesis;
    project_edits(&h.text, &keep, &mut h.segments);
    h.text = apply_edits(&h.text, &keep);
    decoded
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::GlossaryEntry;

    fn glossary(terms: &[&str]) -> Glossary {
        Glossary::new(terms.iter().map(|t| GlossaryEntry::new(*t)).collect())
    }

    /// The proposals for Chinese `text`, as (span, term).
    fn spans_and_terms(text: &str, g: &Glossary) -> Vec<(String, String)> {
        proposals(text, Some("zh"), g)
            .edits
            .into_iter()
            .map(|e| (e.from, e.to))
            .collect()
    }

    #[test]
    fn loose_proposals_are_the_ones_the_strict_corrector_leaves() {
        let g = glossary(&["CUDA", "LangChain", "Kubernetes", "Kafka", "KV cache", "INT8"]);
        let text = "我们用 WanChain 搭了一个服务，把 QDA 升级了";
        let p = proposals(text, Some("zh"), &g).edits;
        let to: Vec<&str> = p.iter().map(|e| e.to.as_str()).collect();
        assert!(to.contains(&"LangChain") && to.contains(&"CUDA"), "{p:?}");
        // sorted by position, each replaces exactly its span, and no proposal comes twice
        assert!(p.windows(2).all(|w| w[0].start <= w[1].start));
        for (i, e) in p.iter().enumerate() {
            assert!(
                !p[..i]
                    .iter()
                    .any(|o| (o.start, o.end, &o.to) == (e.start, e.end, &e.to))
            );
            assert_eq!(&text[e.start..e.end], e.from);
        }
        // a span around a term already written is not a proposal (it would only drop words)
        let around = proposals(
            "Okay, the Kubernetes migration and the Kafka lag, in the KV cache",
            None,
            &g,
        )
        .edits;
        assert!(around.is_empty(), "{around:?}");
        // a term the strict corrector fixes by itself is not a proposal
        let fixed = proposals("我们把 Kubernates 配好", Some("zh"), &g).edits;
        assert!(fixed.iter().all(|e| e.to != "Kubernetes"), "{fixed:?}");
    }

    #[test]
    fn only_edits_that_score_above_the_original_are_taken() {
        let text = "把 QDA 和 WanChain 换掉";
        let p = proposals(text, Some("zh"), &glossary(&["CUDA", "LangChain"])).edits;
        assert_eq!(p.len(), 2, "{p:?}");
        let keep = accepted(p.clone(), &[-30.0, -28.5, -30.5]);
        assert_eq!(apply_edits(text, &keep), "把 CUDA 和 WanChain 换掉");
        assert!(
            accepted(p.clone(), &[-30.0, -30.0, -31.0]).is_empty(),
            "a tie keeps the text"
        );
        assert!(accepted(p, &[]).is_empty());
        assert_eq!(prompt(&keep), "CUDA");
    }

    #[test]
    fn competing_terms_for_one_span_are_all_proposed_and_the_audio_picks_one() {
        // "ok are" may be OKR spoken, or ARR; the span "ok" alone may be OKR too
        let text = "ok are 这周五之前要对齐";
        let p = proposals(text, Some("zh"), &glossary(&["OKR", "ARR"])).edits;
        let okr: Vec<&Edit> = p.iter().filter(|e| e.to == "OKR").collect();
        assert!(p.iter().any(|e| e.to == "ARR"), "{p:?}");
        assert!(okr.len() >= 2, "several extents of the span compete: {p:?}");
        // every candidate beats the text; the most probable wins its span, the others it
        // overlaps are dropped
        let wide = p
            .iter()
            .position(|e| e.from == "ok are" && e.to == "OKR")
            .expect("the whole span");
        let mut scores = vec![-30.0; p.len() + 1];
        for s in &mut scores[1..] {
            *s = -29.0;
        }
        scores[wide + 1] = -25.0;
        let keep = accepted(p.clone(), &scores);
        assert_eq!(apply_edits(text, &keep), "OKR 这周五之前要对齐");
        // none beats the text: nothing changes
        assert!(accepted(p.clone(), &vec![-20.0; p.len() + 1][..]).is_empty());
    }

    #[test]
    fn proposals_are_scored_in_the_text_the_strict_corrector_leaves() {
        // "CudeNN" is the strict corrector's (cuDNN, one letter off); "Cude" is only a proposal
        let g = glossary(&["CUDA", "cuDNN"]);
        let text = "我们打算把 Cude 升级，顺便把 CudeNN 也换掉";
        let found = proposals(text, Some("zh"), &g);
        assert!(found.strict.iter().any(|e| e.to == "cuDNN"), "{found:?}");
        let cuda = found.edits.iter().position(|e| e.to == "CUDA").expect("CUDA proposed");
        let texts = found.texts(text);
        assert_eq!(texts.len(), found.edits.len() + 1);
        assert_eq!(texts[0], "我们打算把 Cude 升级，顺便把 cuDNN 也换掉");
        assert_eq!(texts[cuda + 1], "我们打算把 CUDA 升级，顺便把 cuDNN 也换掉");
    }

    #[test]
    fn chinese_terms_that_sound_alike_are_proposed_for_the_audio_to_judge() {
        let g = glossary(&["昇腾", "胃镜", "科创板", "CUDA"]);
        let propose = |text: &str| spans_and_terms(text, &g);
        let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
        // the same syllables, no character in common (traditional script as Whisper writes it)
        assert!(propose("任務已經遷移到聲疼集群上了").contains(&pair("聲疼", "昇腾")));
        // one syllable fuzzy-alike (jin / jing)
        assert!(propose("未尽检查发现阳性").contains(&pair("未尽", "胃镜")));
        // all characters but one, in a three-character term
        assert!(propose("公司在科创摆上市之后").contains(&pair("科创摆", "科创板")));
        // a name with one syllable heard right and the others by their finals alone
        let names = glossary(&["黄仁勋"]);
        assert!(spans_and_terms("網人群在GTC大會上發布了新一代GPU", &names).contains(&pair("網人群", "黄仁勋")));
        assert!(propose("任务迁移到升彭集群").contains(&pair("升彭", "昇腾")));
        // but not when no syllable has the name's pinyin, or one has another final
        assert!(spans_and_terms("王林群在大会上", &names).is_empty());
        assert!(spans_and_terms("网人来在大会上", &names).is_empty());
        // a two-character window with one syllable far off, or split by punctuation, is not
        let none = propose("未来检查，声，疼");
        assert!(none.iter().all(|(_, to)| to != "胃镜" && to != "昇腾"), "{none:?}");
        // the term itself is not proposed
        assert!(propose("迁移到昇腾集群").iter().all(|(_, to)| to != "昇腾"));
    }

    #[test]
    fn acronyms_are_proposed_by_how_their_letters_sound() {
        let g = glossary(&["PR", "QPS", "CI"]);
        let p = spans_and_terms("这个GR先别合，接口的PCS上不去", &g);
        assert!(p.contains(&("GR".into(), "PR".into())), "{p:?}");
        assert!(p.contains(&("PCS".into(), "QPS".into())), "{p:?}");
        // letters whose names neither match nor rhyme are no proposal
        assert!(spans_and_terms("这个XY先别合", &g).is_empty());
    }

    #[test]
    fn a_span_around_an_alias_may_grow_into_its_term() {
        let mut pytorch = GlossaryEntry::new("PyTorch");
        pytorch.aliases = vec!["Torch".into()];
        let g = Glossary::new(vec![pytorch, GlossaryEntry::new("Kubernetes")]);
        let to = |text: &str| spans_and_terms(text, &g);
        // "PyTorch" heard as "by" + the alias "Torch"
        assert!(to("新模型用，by Torch，训练").contains(&("by Torch".into(), "PyTorch".into())));
        // the alias alone is a correct name, and a canonical term does not swallow its neighbours
        assert!(to("新模型用 Torch 训练").is_empty());
        assert!(to("先把 the Kubernetes 配好").is_empty());
    }

    /// How many terms the reviewed texts of an eval run still miss get a proposal at all
    /// (`PROPOSAL_HYPS`: an `asr-router eval --json` output; the terminology set's glossary):
    /// the recall ceiling of the acoustic check, without decoding anything.
    /// `PROPOSAL_HYPS=OUT.json cargo test --release --lib finalize::verify::tests::proposal_coverage -- --ignored --nocapture`
    #[test]
    #[ignore = "a measurement over an eval output named by PROPOSAL_HYPS"]
    fn proposal_coverage() {
        let Ok(path) = std::env::var("PROPOSAL_HYPS") else {
            return;
        };
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/eval/terminology");
        let g = Glossary::from_json_file(root.join("glossary.json")).unwrap();
        let refs: std::collections::HashMap<String, serde_json::Value> =
            std::fs::read_to_string(root.join("manifest.jsonl"))
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
                .map(|v| (v["id"].as_str().unwrap().to_string(), v))
                .collect();
        let out: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let (mut missed, mut proposed, mut all) = (0, 0, 0);
        for item in out["items"].as_array().unwrap() {
            let raw = item["raw_text"].as_str().unwrap();
            let p = proposals(raw, item["language"].as_str(), &g);
            all += p.edits.len();
            if std::env::var("PROPOSAL_SHOW").is_ok_and(|v| item["id"].as_str() == Some(v.as_str())) {
                println!(
                    "{:?}",
                    p.edits.iter().map(|e| (&e.from, &e.to, e.score)).collect::<Vec<_>>()
                );
            }
            let Some(r) = refs.get(item["id"].as_str().unwrap()) else {
                continue;
            };
            let reviewed = item["text"].as_str().unwrap().to_lowercase();
            for t in r["terms"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()) {
                if reviewed.contains(&t.to_lowercase()) {
                    continue;
                }
                missed += 1;
                let hit = p.edits.iter().find(|e| e.to == t);
                proposed += usize::from(hit.is_some());
                println!(
                    "{:28} {:14} {}  {raw}",
                    item["id"].as_str().unwrap(),
                    t,
                    hit.map_or("-".to_string(), |e| format!("{:?}", e.from))
                );
            }
        }
        println!("missed {missed}, proposed {proposed}; {all} proposals in all");
    }
}
