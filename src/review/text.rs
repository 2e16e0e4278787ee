//! Text helpers shared by the reviewers: character classes, a tokenizer into Latin words and
//! Han characters with byte spans, the common-English-word list, and edit distance.

use std::collections::HashSet;
use std::sync::LazyLock;

/// A CJK unified ideograph (basic block, extension A, compatibility ideographs).
pub fn is_han(c: char) -> bool {
    matches!(c as u32, 0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0xF900..=0xFAFF | 0x20000..=0x2FA1F)
}

/// Hiragana or katakana (a Japanese text: its kanji must not be converted as Chinese).
pub fn is_kana(c: char) -> bool {
    matches!(c as u32, 0x3040..=0x30FF | 0x31F0..=0x31FF)
}

/// A letter or digit of a Latin-script word (ASCII or Latin-1/Extended-A letters).
pub fn is_latin(c: char) -> bool {
    c.is_ascii_alphanumeric() || (c.is_alphabetic() && (c as u32) < 0x250)
}

/// Occurrences of `term` in `s` that do not start or end inside a Latin word ("RAG" is not in
/// "fragment"), as (byte offset, term).
pub fn term_occurrences<'a>(s: &'a str, term: &'a str) -> impl Iterator<Item = (usize, &'a str)> + 'a {
    s.match_indices(term).filter(move |&(pos, t)| {
        let before = s[..pos].chars().next_back();
        let after = s[pos + t.len()..].chars().next();
        let first = t.chars().next();
        let last = t.chars().next_back();
        let cut = |x: Option<char>, y: Option<char>| x.is_some_and(is_latin) && y.is_some_and(is_latin);
        !cut(before, first) && !cut(last, after)
    })
}

/// Chinese full-width punctuation (sentence and clause marks, brackets, quotes).
pub fn is_cjk_punct(c: char) -> bool {
    matches!(
        c,
        '，' | '。'
            | '、'
            | '；'
            | '：'
            | '？'
            | '！'
            | '（'
            | '）'
            | '「'
            | '」'
            | '『'
            | '』'
            | '《'
            | '》'
            | '“'
            | '”'
            | '‘'
            | '’'
            | '…'
            | '—'
            | '【'
            | '】'
    )
}

/// What a token is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A run of Latin letters and digits (apostrophes inside are part of it, not of its key).
    Latin,
    /// One Han character.
    Han,
}

/// A token of the text, with its byte span.
#[derive(Debug, Clone)]
pub struct Token {
    /// Latin word or Han character.
    pub kind: TokenKind,
    /// Byte offset of the first byte.
    pub start: usize,
    /// Byte offset one past the last byte.
    pub end: usize,
    /// Match key: lower-cased letters and digits, or the (simplified) Han character.
    pub key: String,
    /// Whether only spaces, hyphens or nothing separate it from the previous token (a window of
    /// tokens may span such a gap, not a punctuation mark).
    pub joined_to_prev: bool,
    /// Whether it starts the text or a sentence (after `.`, `?`, `!`, `。` …).
    pub sentence_start: bool,
}

impl Token {
    /// The token's text.
    pub fn text<'a>(&self, s: &'a str) -> &'a str {
        &s[self.start..self.end]
    }
}

/// Split `text` into Latin words and Han characters. `fold_han` maps a Han character to its
/// match key (e.g. traditional → simplified).
pub fn tokenize(text: &str, fold_han: impl Fn(char) -> char) -> Vec<Token> {
    let mut tokens: Vec<Token> = Vec::new();
    let mut gap_soft = true;
    let mut sentence_start = true;
    let mut iter = text.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        if is_han(c) {
            tokens.push(Token {
                kind: TokenKind::Han,
                start: i,
                end: i + c.len_utf8(),
                key: fold_han(c).to_string(),
                joined_to_prev: gap_soft && !tokens.is_empty(),
                sentence_start,
            });
            gap_soft = true;
            sentence_start = false;
        } else if is_latin(c) {
            let mut end = i + c.len_utf8();
            let mut key: String = c.to_lowercase().collect();
            while let Some(&(j, d)) = iter.peek() {
                if is_latin(d) {
                    key.extend(d.to_lowercase());
                } else if d == '\'' || d == '’' {
                    // An apostrophe inside a word ("Argo's") stays in the token.
                    let mut ahead = text[j + d.len_utf8()..].chars();
                    if !ahead.next().is_some_and(is_latin) {
                        break;
                    }
                } else {
                    break;
                }
                end = j + d.len_utf8();
                iter.next();
            }
            tokens.push(Token {
                kind: TokenKind::Latin,
                start: i,
                end,
                key,
                joined_to_prev: gap_soft && !tokens.is_empty(),
                sentence_start,
            });
            gap_soft = true;
            sentence_start = false;
        } else if c.is_whitespace() || c == '-' || c == '‐' {
            // spaces and hyphens keep a window going
        } else if c == '.'
            && text[..i]
                .chars()
                .next_back()
                .is_some_and(|p| p.is_alphabetic() && is_latin(p))
            && text[i + 1..]
                .chars()
                .next()
                .is_some_and(|n| n.is_alphabetic() && is_latin(n))
        {
            // a dot inside a word or a dotted acronym ("W.E.R.", "pyannote.audio") too
        } else {
            gap_soft = false;
            if matches!(c, '.' | '?' | '!' | '。' | '？' | '！' | '…' | ';' | '；') {
                sentence_start = true;
            }
        }
    }
    tokens
}

/// Common English words (lower case), used as a prior: a run of them in plain English text is
/// most likely meant, so the corrector leaves it unless other evidence marks it as a term.
///
/// The list is the whole-word entries among the first 30,000 ranks of the GPT-2 byte-pair
/// vocabulary (also Whisper's English tokenizer; MIT-licensed): a BPE merge rank is a frequency
/// proxy, so these are the frequent words of web English.
pub fn is_common_word(lower: &str) -> bool {
    static WORDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
        include_str!("common_en.txt")
            .lines()
            .filter(|l| !l.is_empty())
            .collect()
    });
    lower.len() <= 1 || WORDS.contains(lower)
}

/// Levenshtein distance between two sequences.
pub fn levenshtein<T: PartialEq>(a: &[T], b: &[T]) -> usize {
    if a.is_empty() {
        return b.len();
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, x) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, y) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(x != y);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// `1 - distance / longer length`, in `0.0..=1.0`.
pub fn similarity(a: &str, b: &str) -> f32 {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let n = a.len().max(b.len());
    if n == 0 {
        return 1.0;
    }
    1.0 - levenshtein(&a, &b) as f32 / n as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_split_scripts_and_keep_spans() {
        let s = "我们把 Payment-Service 迁到K8s. Argo's CD";
        let t = tokenize(s, |c| c);
        let keys: Vec<&str> = t.iter().map(|t| t.key.as_str()).collect();
        assert_eq!(
            keys,
            ["我", "们", "把", "payment", "service", "迁", "到", "k8s", "argos", "cd"]
        );
        assert!(t[4].joined_to_prev && t[3].joined_to_prev);
        assert!(t[8].sentence_start && !t[9].sentence_start);
        assert_eq!(t[3].text(s), "Payment");
        let t = tokenize("W.E.R. is up", |c| c);
        assert!(t[1].joined_to_prev && t[2].joined_to_prev && !t[1].sentence_start);
        assert!(t[3].sentence_start && !t[3].joined_to_prev);
    }

    #[test]
    fn common_words_and_distance() {
        assert!(is_common_word("where") && is_common_word("cloud"));
        assert!(!is_common_word("kubernetes") && !is_common_word("grafana"));
        assert_eq!(levenshtein(b"kitten", b"sitting"), 3);
        assert!((similarity("abcd", "abce") - 0.75).abs() < 1e-6);
    }
}
