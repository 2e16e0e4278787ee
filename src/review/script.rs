//! Script and form: Chinese in simplified characters (traditional on request), full-width
//! letters and digits folded to ASCII, full-width punctuation in Chinese sentences, and the
//! spacing convention of the references: one space between a Han character and a Latin word or
//! number (`我们把 payment service 迁到 Kubernetes`), no space between two Han characters or
//! next to full-width punctuation (`先别 merge，CI 里面`).
//!
//! Character conversion uses the OpenCC tables of the `hanconv` crate (phrase-aware).

use std::collections::HashSet;

use super::glossary::Glossary;
use super::text::{is_cjk_punct, is_han, is_kana, is_latin};
use super::{Edit, Review, ReviewContext, ReviewError, Reviewer, compose_edits};

/// Which Chinese characters to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ScriptTarget {
    /// Simplified characters (the default for Mandarin).
    #[default]
    Simplified,
    /// Traditional characters (`zh-Hant`).
    Traditional,
}

impl ScriptTarget {
    /// The target a language hint asks for: `zh-Hant`, `zh-TW`, `zh-HK`, `zh-MO` → traditional;
    /// other `zh…` → simplified; anything else → none (no conversion).
    pub fn from_language(lang: &str) -> Option<Self> {
        let l = lang.to_ascii_lowercase();
        if !l.starts_with("zh") && l != "cmn" {
            return None;
        }
        if ["hant", "tw", "hk", "mo"].iter().any(|t| l.contains(t)) {
            Some(Self::Traditional)
        } else {
            Some(Self::Simplified)
        }
    }
}

/// The script-and-form reviewer.
#[derive(Debug, Clone, Default)]
pub struct ScriptNormalizer {
    /// Target when the language hint does not name one.
    pub default_target: ScriptTarget,
}

const NAME: &str = "script";

impl ScriptNormalizer {
    /// A normalizer writing `target` unless the context's language hint says otherwise.
    pub fn new(default_target: ScriptTarget) -> Self {
        Self { default_target }
    }

    /// Normalize `text` (the [`Reviewer`] without context or glossary).
    pub fn normalize(&self, text: &str, language: Option<&str>) -> Review {
        self.normalize_keeping(text, language, &HashSet::new())
    }

    /// Normalize `text`, leaving the characters in `keep` as they are (see
    /// [`Glossary::kept_chars`]).
    pub fn normalize_keeping(&self, text: &str, language: Option<&str>, keep: &HashSet<char>) -> Review {
        // Japanese (kana, or a hint) keeps its kanji; Cantonese and other languages keep theirs
        // unless the hint names a Chinese script.
        let target = match language {
            Some(l) => ScriptTarget::from_language(l),
            None if text.chars().any(is_kana) => None,
            None => Some(self.default_target),
        };
        let (text1, edits1) = convert_chars(text, target, keep);
        let (text2, edits2) = if text1.chars().any(is_han) {
            punctuate(&text1)
        } else {
            (text1.clone(), Vec::new())
        };
        let edits = if edits2.is_empty() {
            edits1
        } else if edits1.is_empty() {
            edits2
        } else {
            compose_edits(text, &text1, &edits1, &edits2)
        };
        Review { text: text2, edits }
    }
}

impl Reviewer for ScriptNormalizer {
    fn name(&self) -> &'static str {
        NAME
    }

    fn review(&self, text: &str, ctx: &ReviewContext<'_>, glossary: &Glossary) -> Result<Review, ReviewError> {
        Ok(self.normalize_keeping(text, ctx.language, glossary.kept_chars()))
    }
}

fn edit(text: &str, start: usize, end: usize, to: String) -> Edit {
    Edit {
        start,
        end,
        from: text[start..end].to_string(),
        to,
        reviewer: NAME,
        term: None,
        score: 1.0,
    }
}

/// Full-width ASCII → ASCII everywhere; Han runs → the target script.
fn convert_chars(text: &str, target: Option<ScriptTarget>, keep: &HashSet<char>) -> (String, Vec<Edit>) {
    let mut edits = Vec::new();
    let mut out = String::with_capacity(text.len());
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if let Some(ascii) = fold_fullwidth(c) {
            // Full-width letters and digits (not punctuation: that is the punctuation pass's job).
            edits.push(edit(text, i, i + c.len_utf8(), ascii.to_string()));
            out.push(ascii);
        } else if is_han(c) && target.is_some() {
            let mut end = i + c.len_utf8();
            while let Some(&(j, d)) = chars.peek() {
                if !is_han(d) {
                    break;
                }
                end = j + d.len_utf8();
                chars.next();
            }
            let run = &text[i..end];
            let converted = match target {
                Some(ScriptTarget::Traditional) => hanconv::s2t(run),
                _ => hanconv::t2s(run),
            };
            let converted = restore_kept(run, converted, keep);
            if converted != run {
                push_char_edits(text, i, run, &converted, &mut edits);
            }
            out.push_str(&converted);
        } else {
            out.push(c);
        }
    }
    (out, edits)
}

/// Edits for a converted run: per differing stretch when the character counts agree, else one.
fn push_char_edits(text: &str, offset: usize, run: &str, converted: &str, edits: &mut Vec<Edit>) {
    let a: Vec<(usize, char)> = run.char_indices().collect();
    let b: Vec<char> = converted.chars().collect();
    if a.len() != b.len() {
        edits.push(edit(text, offset, offset + run.len(), converted.to_string()));
        return;
    }
    let mut k = 0;
    while k < a.len() {
        if a[k].1 == b[k] {
            k += 1;
            continue;
        }
        let s = k;
        while k < a.len() && a[k].1 != b[k] {
            k += 1;
        }
        let start = offset + a[s].0;
        let end = if k < a.len() {
            offset + a[k].0
        } else {
            offset + run.len()
        };
        edits.push(edit(text, start, end, b[s..k].iter().collect()));
    }
}

/// Put back the characters of `keep` that a conversion changed: OpenCC also "normalizes"
/// characters that names write on purpose (昇 → 升 in 昇腾).
fn restore_kept(run: &str, converted: String, keep: &HashSet<char>) -> String {
    if keep.is_empty() || !run.chars().any(|c| keep.contains(&c)) || run.chars().count() != converted.chars().count() {
        return converted;
    }
    run.chars()
        .zip(converted.chars())
        .map(|(o, c)| if keep.contains(&o) { o } else { c })
        .collect()
}

fn fold_fullwidth(c: char) -> Option<char> {
    let u = c as u32;
    if (0xFF10..=0xFF19).contains(&u) || (0xFF21..=0xFF3A).contains(&u) || (0xFF41..=0xFF5A).contains(&u) {
        char::from_u32(u - 0xFEE0)
    } else if c == '\u{3000}' {
        Some(' ')
    } else {
        None
    }
}

fn is_word(c: char) -> bool {
    is_latin(c) || c.is_ascii_digit()
}

/// ASCII punctuation → full-width in a Chinese sentence, and the spacing convention.
fn punctuate(text: &str) -> (String, Vec<Edit>) {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let n = chars.len();
    let next_visible = |k: usize| chars[k + 1..].iter().map(|&(_, c)| c).find(|c| !c.is_whitespace());
    let prev = |k: usize| if k == 0 { None } else { Some(chars[k - 1].1) };
    let next = |k: usize| chars.get(k + 1).map(|&(_, c)| c);
    // 1. The character each position becomes.
    let mut mapped: Vec<char> = chars.iter().map(|&(_, c)| c).collect();
    for k in 0..n {
        let c = chars[k].1;
        let (p, nv) = (prev(k), next_visible(k));
        let between_digits = p.is_some_and(|p| p.is_ascii_digit()) && next(k).is_some_and(|d| d.is_ascii_digit());
        let inside_word = p.is_some_and(is_word) && next(k).is_some_and(is_word);
        let near_han = p.is_some_and(is_han) || nv.is_some_and(is_han);
        // the last dot of a dotted acronym ("W.E.R.") belongs to it
        let acronym_dot = k >= 2 && chars[k - 2].1 == '.' && p.is_some_and(char::is_alphabetic);
        let full = match c {
            ',' if !between_digits && !inside_word => Some('，'),
            '?' => Some('？'),
            '!' => Some('！'),
            ';' if !inside_word => Some('；'),
            ':' if !inside_word && !between_digits && near_han => Some('：'),
            '.' if !acronym_dot
                && (next(k).is_none_or(char::is_whitespace))
                && (p.is_some_and(is_han) || (p.is_some_and(is_word) && nv.is_none_or(is_han))) =>
            {
                Some('。')
            }
            _ => None,
        };
        if let Some(f) = full {
            mapped[k] = f;
        }
    }
    // 2. Whitespace runs and Han/Latin boundaries.
    let mut edits = Vec::new();
    let mut k = 0;
    while k < n {
        let (i, c) = chars[k];
        if mapped[k] != c {
            edits.push(edit(text, i, i + c.len_utf8(), mapped[k].to_string()));
        }
        if c.is_whitespace() {
            let s = k;
            while k < n && chars[k].1.is_whitespace() {
                k += 1;
            }
            let p = if s == 0 { None } else { Some(mapped[s - 1]) };
            let q = if k < n { Some(mapped[k]) } else { None };
            let want = match (p, q) {
                (None, _) | (_, None) => "",
                (Some(p), Some(q)) if is_cjk_punct(p) || is_cjk_punct(q) => "",
                // Recognizers mark a pause inside Chinese with a space; the references write a comma.
                (Some(p), Some(q)) if is_han(p) && is_han(q) => "，",
                _ => " ",
            };
            let start = chars[s].0;
            let end = if k < n { chars[k].0 } else { text.len() };
            if &text[start..end] != want {
                edits.push(edit(text, start, end, want.to_string()));
            }
            continue;
        }
        if let Some(&(j, d)) = chars.get(k + 1)
            && ((is_han(mapped[k]) && is_word(d)) || (is_word(mapped[k]) && is_han(d)))
        {
            edits.push(edit(text, j, j, " ".to_string()));
        }
        k += 1;
    }
    let out = super::apply_edits(text, &edits);
    (out, edits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::apply_edits;

    fn norm(s: &str, lang: Option<&str>) -> String {
        let r = ScriptNormalizer::default().normalize(s, lang);
        assert_eq!(apply_edits(s, &r.edits), r.text, "edits rebuild the text");
        r.text
    }

    #[test]
    fn traditional_becomes_simplified() {
        // the glossary's own characters survive OpenCC's variant folding (昇 is not 升)
        let g = Glossary::new(vec![crate::review::GlossaryEntry::new("昇腾")]);
        let r = ScriptNormalizer::default()
            .review("我們的訓練任務已經遷移到昇騰集群上了。", &ReviewContext::default(), &g)
            .unwrap();
        assert_eq!(r.text, "我们的训练任务已经迁移到昇腾集群上了。");
        assert_eq!(
            norm("這個應用下個月會完成適配,文檔在裡面,因為重覆了", None),
            "这个应用下个月会完成适配，文档在里面，因为重复了"
        );
        assert_eq!(
            norm("上線之前一定要做灰度發佈，出了問題就馬上回滾。", Some("zh")),
            "上线之前一定要做灰度发布，出了问题就马上回滚。"
        );
    }

    #[test]
    fn zh_hant_on_request() {
        assert_eq!(
            norm("会议纪要已经同步到飞书文档里了。", Some("zh-Hant")),
            "會議紀要已經同步到飛書文檔裏了。"
        );
        let r = ScriptNormalizer::new(ScriptTarget::Traditional).normalize("回滚", None);
        assert_eq!(r.text, "回滾");
    }

    #[test]
    fn japanese_and_english_are_left_alone() {
        assert_eq!(norm("東京は晴れです", None), "東京は晴れです");
        assert_eq!(
            norm("He said: no, thanks. Then left!", None),
            "He said: no, thanks. Then left!"
        );
        assert_eq!(norm("經濟", Some("ja")), "經濟");
    }

    #[test]
    fn spacing_and_punctuation_follow_the_references() {
        assert_eq!(
            norm("我们先把Kubernetes的HPA配好,再看Grafana上的p95延迟.", None),
            "我们先把 Kubernetes 的 HPA 配好，再看 Grafana 上的 p95 延迟。"
        );
        assert_eq!(
            norm("这个 PR 先别 merge , CI 里面的 unit test 还没过", None),
            "这个 PR 先别 merge，CI 里面的 unit test 还没过"
        );
        assert_eq!(
            norm("  数据先写进  ClickHouse ， 报表 再用Superset来做 ", None),
            "数据先写进 ClickHouse，报表，再用 Superset 来做"
        );
        assert_eq!(norm("版本 3.5,价格 1,000 元?", None), "版本 3.5，价格 1,000 元？");
        assert_eq!(norm("ＧＰＵ 用的是Ｈ１００", None), "GPU 用的是 H100");
        // already conventional text is unchanged, with no edit
        let r =
            ScriptNormalizer::default().normalize("我们用 LangChain 搭了一个 RAG 的原型，向量库用的是 Milvus。", None);
        assert!(r.edits.is_empty());
    }
}
