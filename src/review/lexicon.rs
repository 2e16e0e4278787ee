//! A Chinese word list keyed by sound: for a run of Han characters, the dictionary words written
//! with other characters that read the same (toneless pinyin, each character's most common
//! reading). 平景 and 瓶颈 are both `ping jing`; a recognizer that heard the sound but chose the
//! characters with a weak language model writes the first, and the wording reviewer
//! ([`crate::finalize::wording`]) asks a language model which one the sentence means.
//!
//! The file is a word list in jieba's `dict.txt` format: one `word frequency [part-of-speech]`
//! per line. Only words of [`MIN_CHARS`]–[`MAX_CHARS`] Han characters with a frequency of at
//! least [`MIN_FREQUENCY`] are kept; each key lists its words most frequent first.

use std::collections::HashMap;
use std::path::Path;

use super::phonetic;
use super::text::is_han;

/// Shortest word kept, in characters.
pub const MIN_CHARS: usize = 2;
/// Longest word kept, in characters.
pub const MAX_CHARS: usize = 4;
/// Least frequency (the list's own count) of a word kept: rarer entries are mostly names and
/// archaic words.
pub const MIN_FREQUENCY: u64 = 5;

/// Why a word list could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("word list {path}: {reason}")]
pub struct LexiconError {
    /// The file.
    pub path: String,
    /// What went wrong.
    pub reason: String,
}

/// Words by their toneless pinyin.
#[derive(Debug, Default)]
pub struct Lexicon {
    by_sound: HashMap<String, Vec<(String, u64)>>,
    words: usize,
}

impl Lexicon {
    /// Reads a word list file (see the module docs).
    pub fn load(path: &Path) -> Result<Self, LexiconError> {
        let text = std::fs::read_to_string(path).map_err(|e| LexiconError {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        let lexicon = Self::parse(&text);
        if lexicon.words == 0 {
            return Err(LexiconError {
                path: path.display().to_string(),
                reason: "no word of 2–4 Han characters with a frequency in it".into(),
            });
        }
        Ok(lexicon)
    }

    /// Builds the index from the text of a word list (lines that do not parse are skipped).
    pub fn parse(text: &str) -> Self {
        let mut by_sound: HashMap<String, Vec<(String, u64)>> = HashMap::new();
        let mut words = 0;
        for line in text.lines() {
            let mut fields = line.split_whitespace();
            let (Some(word), Some(freq)) = (fields.next(), fields.next().and_then(|f| f.parse::<u64>().ok())) else {
                continue;
            };
            let n = word.chars().count();
            if !(MIN_CHARS..=MAX_CHARS).contains(&n) || !word.chars().all(is_han) || freq < MIN_FREQUENCY {
                continue;
            }
            let Some(key) = sound_key(word) else { continue };
            by_sound.entry(key).or_default().push((word.to_string(), freq));
            words += 1;
        }
        for list in by_sound.values_mut() {
            list.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        }
        Self { by_sound, words }
    }

    /// How many words the index holds.
    pub fn len(&self) -> usize {
        self.words
    }

    /// Whether the index is empty.
    pub fn is_empty(&self) -> bool {
        self.words == 0
    }

    /// The words that read like `chars` (most frequent first), `chars` itself included when it
    /// is a word; empty when nothing does or `chars` has a character without pinyin.
    pub fn sounding_like(&self, chars: &str) -> &[(String, u64)] {
        sound_key(chars)
            .and_then(|k| self.by_sound.get(&k))
            .map_or(&[], |v| v.as_slice())
    }

    /// Whether `chars` is a word of the list.
    pub fn contains(&self, chars: &str) -> bool {
        self.sounding_like(chars).iter().any(|(w, _)| w == chars)
    }
}

/// The toneless pinyin of each character's most common reading, space-separated; `None` when a
/// character has none.
fn sound_key(chars: &str) -> Option<String> {
    let mut key = String::new();
    for c in chars.chars() {
        let r = phonetic::readings(c).into_iter().next()?;
        if !key.is_empty() {
            key.push(' ');
        }
        key.push_str(&r.plain);
    }
    Some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_found_by_how_they_read_most_frequent_first() {
        let lex = Lexicon::parse("瓶颈 381 n\n平静 2000 a\n平景 1 n\n平 100 a\nabc 50 n\n一个很长的词语 90 n\n坏行\n");
        assert_eq!(
            lex.len(),
            2,
            "one-character, Latin, too long, rare and unparsable lines are dropped"
        );
        let words: Vec<&str> = lex.sounding_like("平景").iter().map(|(w, _)| w.as_str()).collect();
        assert_eq!(
            words,
            ["平静", "瓶颈"],
            "both read ping jing (tones apart), the more frequent first"
        );
        assert!(lex.contains("瓶颈"));
        assert!(!lex.contains("平景"), "too rare to be kept");
        assert!(lex.sounding_like("再见").is_empty());
    }

    #[test]
    fn a_list_without_usable_words_does_not_load() {
        let dir = std::env::temp_dir().join(format!("lexicon-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("dict.txt");
        std::fs::write(&path, "a 1\n").unwrap();
        let e = Lexicon::load(&path).unwrap_err();
        assert!(e.to_string().contains("no word"), "{e}");
        assert!(Lexicon::load(&dir.join("missing.txt")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
