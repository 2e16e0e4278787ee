//! The last guard of a Whisper decode: a runaway repetition that survived temperature fallback
//! (the same word, character or phrase over and over, far past the speech) is cut back to its
//! first occurrence.
//!
//! Text is split into units: each CJK character (or kana / hangul syllable) is one unit, each run
//! of other letters and digits is one unit (compared case-insensitively); punctuation and spaces
//! separate units and are ignored when comparing. A *run* is a sequence of `n` units repeated at
//! least [`min_repeats`]`(n)` times in a row; real speech repeats short things a few times ("no
//! no no", "对对对") but not more, and long things hardly ever. Invariant: the text is only ever
//! shortened by removing whole repeats, never rewritten.

/// The longest repeated unit looked for, in units (characters of CJK text, words otherwise).
const MAX_UNIT: usize = 30;

/// How many consecutive repeats of an `n`-unit phrase count as runaway.
pub fn min_repeats(n: usize) -> usize {
    match n {
        1 => 7,
        2..=4 => 5,
        5..=10 => 4,
        _ => 3,
    }
}

/// A unit: its comparison key and where it ends in the text (byte offset).
struct Unit {
    key: String,
    end: usize,
}

/// CJK ideographs, kana and hangul: scripts written without spaces between words.
pub(super) fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF      // kana
        | 0x3400..=0x4DBF    // CJK extension A
        | 0x4E00..=0x9FFF    // CJK unified ideographs
        | 0xAC00..=0xD7AF    // hangul syllables
        | 0xF900..=0xFAFF    // CJK compatibility ideographs
        | 0x20000..=0x2FA1F) // CJK extensions B and later
}

fn units(text: &str) -> Vec<Unit> {
    let mut out: Vec<Unit> = Vec::new();
    let mut word: Option<usize> = None;
    let close = |out: &mut Vec<Unit>, from: usize, to: usize| {
        out.push(Unit {
            key: text[from..to].to_lowercase(),
            end: to,
        })
    };
    for (i, c) in text.char_indices() {
        if is_cjk(c) {
            if let Some(w) = word.take() {
                close(&mut out, w, i);
            }
            close(&mut out, i, i + c.len_utf8());
        } else if c.is_alphanumeric() || c == '\'' {
            word.get_or_insert(i);
        } else if let Some(w) = word.take() {
            close(&mut out, w, i);
        }
    }
    if let Some(w) = word {
        close(&mut out, w, text.len());
    }
    out
}

/// Where a runaway repetition was found: `repeats` copies of an `unit`-long phrase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Runaway {
    /// Units in the repeated phrase.
    pub unit: usize,
    /// Consecutive copies found.
    pub repeats: usize,
    /// Byte range of the text that was removed (every copy but the first).
    pub removed: std::ops::Range<usize>,
}

/// Finds the runaway repetitions of `text` in one left-to-right pass (at each place the shortest
/// phrase that runs away), with byte ranges in `text`, ordered and disjoint.
pub fn find_runaways(text: &str) -> Vec<Runaway> {
    let u = units(text);
    let same = |a: usize, b: usize, n: usize| (0..n).all(|k| u[a + k].key == u[b + k].key);
    let mut found = Vec::new();
    let mut i = 0;
    'scan: while i < u.len() {
        for n in 1..=MAX_UNIT.min((u.len() - i) / 2) {
            let mut repeats = 1;
            while i + (repeats + 1) * n <= u.len() && same(i, i + repeats * n, n) {
                repeats += 1;
            }
            if repeats >= min_repeats(n) {
                found.push(Runaway {
                    unit: n,
                    repeats,
                    removed: u[i + n - 1].end..u[i + repeats * n - 1].end,
                });
                i += repeats * n;
                continue 'scan;
            }
        }
        i += 1;
    }
    found
}

/// `text` without the byte ranges of `runs` (as [`find_runaways`] returns them).
pub fn remove(text: &str, runs: &[Runaway]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for r in runs {
        out.push_str(&text[at..r.removed.start]);
        at = r.removed.end;
    }
    out.push_str(&text[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `text` with every runaway repetition cut to its first copy, and what was cut.
    fn trim_runaways(text: &str) -> (String, Vec<Runaway>) {
        let runs = find_runaways(text);
        (remove(text, &runs), runs)
    }

    #[test]
    fn english_word_and_phrase_loops_are_cut_to_one_copy() {
        let (t, r) = trim_runaways("Deploy it now. the the the the the the the the the the");
        assert_eq!(t, "Deploy it now. the");
        assert_eq!(r.len(), 1);
        assert_eq!((r[0].unit, r[0].repeats), (1, 10));

        let looped = format!("We use Kubernetes.{}", " and the pods restart".repeat(6));
        let (t, r) = trim_runaways(&looped);
        assert_eq!(t, "We use Kubernetes. and the pods restart");
        assert_eq!((r[0].unit, r[0].repeats), (4, 6));
    }

    #[test]
    fn chinese_character_and_phrase_loops_are_cut() {
        let (t, r) = trim_runaways("我们今天讨论一下部署部署部署部署部署部署的问题");
        assert_eq!(t, "我们今天讨论一下部署的问题");
        assert_eq!(r[0].unit, 2);
        let phrase = "把模型部署到集群上，";
        let (t, _) = trim_runaways(&format!("首先{}", phrase.repeat(5)));
        assert_eq!(t, format!("首先{}", phrase));
        // mixed script: the phrase is CJK characters and a Latin word
        let (t, _) = trim_runaways(&"用GPU训练".repeat(8));
        assert_eq!(t, "用GPU训练");
    }

    #[test]
    fn speech_like_repeats_stay() {
        for s in [
            "No no no, that is not what I meant.",
            "no, no, no, no",
            "对对对，就是这个意思。",
            "哈哈哈哈哈",
            "very very very good",
            "I said it again and again and again.",
            "We moved the payment service to Kubernetes, and the pods now pull their images from Amazon ECR.",
            "我们把支付服务迁移到了 Kubernetes 上，Pod 现在从 Amazon ECR 拉取镜像。",
            "",
        ] {
            let (t, r) = trim_runaways(s);
            assert_eq!(t, s, "{s:?} must be left alone");
            assert!(r.is_empty());
        }
    }

    #[test]
    fn case_and_punctuation_do_not_hide_a_loop_and_later_text_survives() {
        let (t, r) = trim_runaways("Yes. YES, yes! Yes? yes. yes, yes; then we shipped it");
        assert_eq!(t, "Yes; then we shipped it");
        assert_eq!(r[0].repeats, 7);
    }
}
