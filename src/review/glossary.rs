//! The glossary ("terminology table") and its match index.
//!
//! JSON schema: a list of objects
//! `{"term": "Amazon ECR", "lang": "en" | "zh", "category": "...", "aliases": [...],
//!   "misrecognitions": [...], "groups": [...]}` (only `term` is required), or OpenAI's
//! `keywords`: a list of strings, each a term without aliases.
//!
//! Every form (term, alias, misrecognition) gets its match keys once, when the glossary is built:
//! the normalized text (lower-cased letters and digits, simplified Han characters, no
//! separators), the English sound key of Latin forms ([`phonetic::english_key`]), and the pinyin
//! of Han forms. Hash indexes over those keys (exact keys; sound keys with their one-deletion
//! neighbourhood; fuzzy pinyin with one wildcard syllable) make a lookup cost a few hash probes
//! per window of the hypothesis, whatever the glossary's size.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;

use serde::Deserialize;

use super::phonetic::{self, Reading};
use super::text::{self, TokenKind};

/// The script a term is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TermLang {
    /// Latin script (English, product names, acronyms).
    En,
    /// Chinese characters.
    Zh,
}

/// One glossary row.
#[derive(Debug, Clone, PartialEq)]
pub struct GlossaryEntry {
    /// The canonical written form.
    pub term: String,
    /// The term's script.
    pub lang: TermLang,
    /// Free-form category (`devops`, `person` …).
    pub category: Option<String>,
    /// Other legitimate names: left alone when found.
    pub aliases: Vec<String>,
    /// Known mis-hearings: replaced by the term when found.
    pub misrecognitions: Vec<String>,
    /// Free-form groups.
    pub groups: Vec<String>,
}

impl GlossaryEntry {
    /// A term without aliases (its script from its characters).
    pub fn new(term: impl Into<String>) -> Self {
        let term = term.into();
        let lang = if term.chars().any(text::is_han) {
            TermLang::Zh
        } else {
            TermLang::En
        };
        Self {
            term,
            lang,
            category: None,
            aliases: Vec::new(),
            misrecognitions: Vec::new(),
            groups: Vec::new(),
        }
    }
}

/// Why a glossary could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum GlossaryError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// Not a list of term objects or of strings.
    #[error("invalid glossary JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A row whose term has no letters, digits or Han characters.
    #[error("glossary row {0} has an empty term")]
    EmptyTerm(usize),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawRow {
    Keyword(String),
    Entry {
        term: String,
        #[serde(default)]
        lang: Option<String>,
        #[serde(default)]
        category: Option<String>,
        #[serde(default)]
        aliases: Vec<String>,
        #[serde(default)]
        misrecognitions: Vec<String>,
        #[serde(default)]
        groups: Vec<String>,
    },
}

/// Which form of an entry a key belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormKind {
    /// The canonical term.
    Canonical,
    /// An alias (a correct name).
    Alias,
    /// A known misrecognition.
    Misrecognition,
}

/// A form by entry and kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FormRef {
    /// Index of the entry.
    pub entry: u32,
    /// What the form is.
    pub kind: FormKind,
}

/// A Latin form indexed for sound-alike matching.
#[derive(Debug, Clone)]
pub struct LatinForm {
    /// The form.
    pub form: FormRef,
    /// Lower-cased letters and digits.
    pub letters: String,
    /// [`phonetic::english_key`] of `letters`.
    pub key: String,
    /// Number of words.
    pub words: usize,
}

/// A Han form indexed for homophone matching.
#[derive(Debug, Clone)]
pub struct HanForm {
    /// The entry (always its canonical term).
    pub entry: u32,
    /// The (simplified) characters.
    pub chars: Vec<char>,
    /// The readings of each character.
    pub readings: Vec<Vec<Reading>>,
}

/// The Chinese characters of a tokenized text with their readings, to compare windows of them
/// with the glossary's Chinese terms by sound.
pub struct HanSyllables {
    /// The (folded) character of each token; `None` for a token that is not one.
    chars: Vec<Option<char>>,
    /// The readings of each token's character (empty for other tokens).
    readings: Vec<Vec<Reading>>,
}

impl HanSyllables {
    /// The characters and readings of `tokens`.
    pub fn new(tokens: &[text::Token]) -> Self {
        let chars: Vec<Option<char>> = tokens
            .iter()
            .map(|t| t.key.chars().next().filter(|_| t.kind == TokenKind::Han))
            .collect();
        let readings = chars
            .iter()
            .map(|c| c.map(phonetic::readings).unwrap_or_default())
            .collect();
        Self { chars, readings }
    }

    /// Whether the `n` tokens from `first` are Chinese characters with a reading, each joined to
    /// the one before (no punctuation or word between them).
    pub fn is_window(&self, tokens: &[text::Token], first: usize, n: usize) -> bool {
        let last = first + n - 1;
        last < tokens.len()
            && (first..=last).all(|k| self.chars[k].is_some() && !self.readings[k].is_empty())
            && (first + 1..=last).all(|k| tokens[k].joined_to_prev)
    }

    /// The first (most common) reading of each character of the window of `n` from `first`.
    pub fn first_readings(&self, first: usize, n: usize) -> impl Iterator<Item = &str> + Clone {
        self.readings[first..first + n].iter().map(|r| r[0].plain.as_str())
    }

    /// How alike each character of the window at `first` sounds to the character of `form` in its
    /// place ([`phonetic::syllable_similarity`]; 1 for the same character), and how many are the
    /// same character.
    pub fn similarities(&self, first: usize, form: &HanForm) -> (Vec<f32>, usize) {
        let sims: Vec<f32> = (0..form.chars.len())
            .map(|j| {
                let k = first + j;
                let c = self.chars[k].unwrap_or(' ');
                phonetic::syllable_similarity(c, &self.readings[k], form.chars[j], &form.readings[j])
            })
            .collect();
        let same = (0..form.chars.len())
            .filter(|&j| self.chars[first + j] == Some(form.chars[j]))
            .count();
        (sims, same)
    }

    /// `sims` (the window's [`Self::similarities`]), with a syllable found unalike scored by
    /// [`phonetic::syllable_likeness`] instead (the same final: 群 / 勋, 网 / 黄).
    pub fn likenesses(&self, first: usize, form: &HanForm, sims: &[f32]) -> Vec<f32> {
        sims.iter()
            .copied()
            .enumerate()
            .map(|(j, s)| {
                if s > 0.0 {
                    s
                } else {
                    phonetic::syllable_likeness(&self.readings[first + j], &form.readings[j])
                }
            })
            .collect()
    }
}

/// A Latin term indexed for Han transliterations of it.
#[derive(Debug, Clone)]
pub struct CrossForm {
    /// The entry.
    pub entry: u32,
    /// [`phonetic::fold_liquids`] of the term's English key.
    pub key: String,
}

/// Precomputed keys and indexes (built by [`Glossary::new`]).
#[derive(Debug, Default)]
pub struct GlossaryIndex {
    /// Normalized text of every form → the forms.
    pub exact: HashMap<String, Vec<FormRef>>,
    /// The most tokens of any form.
    pub max_exact_tokens: usize,
    /// Latin canonical terms and long misrecognitions.
    pub latin_forms: Vec<LatinForm>,
    /// Sound key and its one-deletion variants → `latin_forms` indexes.
    pub latin_keys: HashMap<String, Vec<u32>>,
    /// The most words of an indexed Latin form.
    pub max_latin_words: usize,
    /// Han canonical terms.
    pub han_forms: Vec<HanForm>,
    /// Fuzzy pinyin key (and one-wildcard variants for long terms) → `han_forms` indexes.
    pub han_keys: HashMap<String, Vec<u32>>,
    /// The lengths of the Han terms.
    pub han_lengths: BTreeSet<usize>,
    /// Latin terms for transliteration matching.
    pub cross_forms: Vec<CrossForm>,
    /// Folded key and its one-deletion variants → `cross_forms` indexes.
    pub cross_keys: HashMap<String, Vec<u32>>,
}

/// A glossary with its match index.
#[derive(Debug, Default)]
pub struct Glossary {
    entries: Vec<GlossaryEntry>,
    index: GlossaryIndex,
    /// Characters of Chinese terms and aliases that OpenCC would "simplify" although the glossary
    /// writes them (昇 in 昇腾 is not 升): never folded nor converted.
    keep: HashSet<char>,
}

/// The simplified form of a Han character (OpenCC's character table; itself when it has none or
/// several). See [`Glossary::fold`] for the glossary-aware fold.
pub fn simplify_char(c: char) -> char {
    if !text::is_han(c) {
        return c;
    }
    let mut buf = [0u8; 4];
    let s = hanconv::t2s(c.encode_utf8(&mut buf));
    let mut it = s.chars();
    match (it.next(), it.next()) {
        (Some(d), None) => d,
        _ => c,
    }
}

/// Normalized match key of a form and its number of tokens, with a Han fold.
pub fn match_key_with(form: &str, fold: impl Fn(char) -> char) -> (String, usize) {
    let tokens = text::tokenize(form, fold);
    (tokens.iter().map(|t| t.key.as_str()).collect(), tokens.len())
}

/// Normalized match key of a form with the plain [`simplify_char`] fold.
pub fn match_key(form: &str) -> (String, usize) {
    match_key_with(form, simplify_char)
}

/// Minimum letters of a Latin misrecognition to be used as a fuzzy anchor (shorter ones match
/// only exactly).
const MIN_FUZZY_MISRECOGNITION_LETTERS: usize = 6;
/// Minimum sound-key length of an indexed Latin form.
const MIN_FUZZY_KEY: usize = 3;

/// `key` and every string with one character deleted.
pub fn deletion_variants(key: &str) -> Vec<String> {
    let chars: Vec<char> = key.chars().collect();
    let mut out = Vec::with_capacity(chars.len() + 1);
    out.push(key.to_string());
    for i in 0..chars.len() {
        let v: String = chars[..i].iter().chain(&chars[i + 1..]).collect();
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

/// The fuzzy pinyin key of a sequence of first readings, with `wildcard` replacing one syllable.
pub fn han_key<'a>(syllables: impl IntoIterator<Item = &'a str>, wildcard: Option<usize>) -> String {
    let mut key = String::new();
    for (i, s) in syllables.into_iter().enumerate() {
        if i > 0 {
            key.push('\'');
        }
        if Some(i) == wildcard {
            key.push('*');
        } else {
            key.push_str(&phonetic::fuzzy_syllable(s));
        }
    }
    key
}

/// Han terms at least this long also get one-wildcard keys (one syllable may be far off).
pub const HAN_WILDCARD_MIN: usize = 4;

impl Glossary {
    /// Build the glossary and its index.
    pub fn new(entries: Vec<GlossaryEntry>) -> Self {
        let keep = entries
            .iter()
            .flat_map(|e| std::iter::once(&e.term).chain(&e.aliases))
            .flat_map(|f| f.chars())
            .filter(|&c| text::is_han(c) && simplify_char(c) != c)
            .collect();
        let mut g = Self {
            entries,
            index: GlossaryIndex::default(),
            keep,
        };
        g.build_index();
        g
    }

    /// The simplified form of `c` used for matching: [`simplify_char`], except for characters
    /// the glossary itself writes (see [`Glossary::kept_chars`]).
    pub fn fold(&self, c: char) -> char {
        if self.keep.contains(&c) { c } else { simplify_char(c) }
    }

    /// Characters of the glossary's Chinese terms and aliases that a traditional → simplified
    /// conversion must leave alone.
    pub fn kept_chars(&self) -> &HashSet<char> {
        &self.keep
    }

    /// The normalized match key of `form` under [`Glossary::fold`].
    pub fn match_key(&self, form: &str) -> String {
        match_key_with(form, |c| self.fold(c)).0
    }

    /// Parse the JSON schema of the module docs (objects or plain keyword strings).
    pub fn from_json_str(json: &str) -> Result<Self, GlossaryError> {
        let rows: Vec<RawRow> = serde_json::from_str(json)?;
        let mut entries = Vec::with_capacity(rows.len());
        for (i, row) in rows.into_iter().enumerate() {
            let entry = match row {
                RawRow::Keyword(term) => GlossaryEntry::new(term.trim()),
                RawRow::Entry {
                    term,
                    lang,
                    category,
                    aliases,
                    misrecognitions,
                    groups,
                } => {
                    let mut e = GlossaryEntry::new(term.trim());
                    if let Some(l) = lang {
                        e.lang = if l.to_ascii_lowercase().starts_with("zh") {
                            TermLang::Zh
                        } else {
                            TermLang::En
                        };
                    }
                    e.category = category;
                    e.aliases = aliases;
                    e.misrecognitions = misrecognitions;
                    e.groups = groups;
                    e
                }
            };
            if match_key(&entry.term).0.is_empty() {
                return Err(GlossaryError::EmptyTerm(i));
            }
            entries.push(entry);
        }
        Ok(Self::new(entries))
    }

    /// Read a JSON glossary file.
    pub fn from_json_file(path: impl AsRef<Path>) -> Result<Self, GlossaryError> {
        let path = path.as_ref();
        let json = std::fs::read_to_string(path).map_err(|source| GlossaryError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_json_str(&json)
    }

    /// OpenAI's `keywords`: each string a term without aliases (blank ones are skipped).
    pub fn from_keywords<S: AsRef<str>>(keywords: &[S]) -> Self {
        Self::new(
            keywords
                .iter()
                .map(|k| k.as_ref().trim())
                .filter(|k| !match_key(k).0.is_empty())
                .map(GlossaryEntry::new)
                .collect(),
        )
    }

    /// The rows.
    pub fn entries(&self) -> &[GlossaryEntry] {
        &self.entries
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there is no row.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The match index.
    pub fn index(&self) -> &GlossaryIndex {
        &self.index
    }

    fn build_index(&mut self) {
        let mut ix = GlossaryIndex::default();
        for (e, entry) in self.entries.iter().enumerate() {
            let e = e as u32;
            let forms = std::iter::once((entry.term.as_str(), FormKind::Canonical))
                .chain(entry.aliases.iter().map(|a| (a.as_str(), FormKind::Alias)))
                .chain(
                    entry
                        .misrecognitions
                        .iter()
                        .map(|m| (m.as_str(), FormKind::Misrecognition)),
                );
            for (form, kind) in forms {
                let (key, n) = match_key_with(form, |c| self.fold(c));
                if key.is_empty() {
                    continue;
                }
                let form_ref = FormRef { entry: e, kind };
                let refs = ix.exact.entry(key.clone()).or_default();
                if !refs.contains(&form_ref) {
                    refs.push(form_ref);
                }
                ix.max_exact_tokens = ix.max_exact_tokens.max(n);

                let tokens = text::tokenize(form, |c| self.fold(c));
                let all_latin = tokens.iter().all(|t| t.kind == TokenKind::Latin);
                let all_han = tokens.iter().all(|t| t.kind == TokenKind::Han);
                // Sound-alike anchors: the canonical Latin term and long Latin misrecognitions.
                // A one-word misrecognition that is an ordinary word ("sample") would attract its
                // inflections ("sampled"): it matches only exactly.
                let anchor = match kind {
                    FormKind::Canonical => true,
                    FormKind::Misrecognition => {
                        key.chars().count() >= MIN_FUZZY_MISRECOGNITION_LETTERS
                            && !(n == 1 && text::is_common_word(&key))
                    }
                    FormKind::Alias => false,
                };
                if all_latin && anchor {
                    let sound = phonetic::english_key(&key);
                    if sound.len() >= MIN_FUZZY_KEY {
                        let idx = ix.latin_forms.len() as u32;
                        for v in deletion_variants(&sound) {
                            ix.latin_keys.entry(v).or_default().push(idx);
                        }
                        ix.max_latin_words = ix.max_latin_words.max(n);
                        ix.latin_forms.push(LatinForm {
                            form: form_ref,
                            letters: key.clone(),
                            key: sound.clone(),
                            words: n,
                        });
                        if kind == FormKind::Canonical {
                            let folded = phonetic::fold_liquids(&sound);
                            let idx = ix.cross_forms.len() as u32;
                            for v in deletion_variants(&folded) {
                                ix.cross_keys.entry(v).or_default().push(idx);
                            }
                            ix.cross_forms.push(CrossForm { entry: e, key: folded });
                        }
                    }
                }
                if all_han && kind == FormKind::Canonical && n >= 2 {
                    let chars: Vec<char> = key.chars().collect();
                    let readings: Vec<Vec<Reading>> = chars.iter().map(|&c| phonetic::readings(c)).collect();
                    if readings.iter().all(|r| !r.is_empty()) {
                        let idx = ix.han_forms.len() as u32;
                        let first: Vec<&str> = readings.iter().map(|r| r[0].plain.as_str()).collect();
                        let mut keys = vec![han_key(first.iter().copied(), None)];
                        if n >= HAN_WILDCARD_MIN {
                            keys.extend((0..n).map(|w| han_key(first.iter().copied(), Some(w))));
                        }
                        for k in keys {
                            ix.han_keys.entry(k).or_default().push(idx);
                        }
                        ix.han_lengths.insert(n);
                        ix.han_forms.push(HanForm {
                            entry: e,
                            chars,
                            readings,
                        });
                    }
                }
            }
        }
        self.index = ix;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_objects_and_keywords() {
        let g = Glossary::from_json_str(
            r#"[{"term": "Amazon ECR", "lang": "en", "category": "cloud", "aliases": ["ECR"],
                 "misrecognitions": ["Amazon ECA"], "groups": ["en"]},
                {"term": "昇腾", "lang": "zh"}, "Kubernetes"]"#,
        )
        .unwrap();
        assert_eq!(g.len(), 3);
        assert_eq!(g.entries()[1].lang, TermLang::Zh);
        assert_eq!(g.entries()[2].term, "Kubernetes");
        let ix = g.index();
        assert_eq!(ix.exact["amazonecr"][0].kind, FormKind::Canonical);
        assert_eq!(ix.exact["ecr"][0].kind, FormKind::Alias);
        assert_eq!(ix.exact["amazoneca"][0].kind, FormKind::Misrecognition);
        assert!(ix.han_keys.contains_key("sen'ten"));
        let k = Glossary::from_keywords(&["LangChain", " ", "通义千问"]);
        assert_eq!(k.len(), 2);
        assert!(matches!(
            Glossary::from_json_str(r#"[{"term": " - "}]"#),
            Err(GlossaryError::EmptyTerm(0))
        ));
        assert!(matches!(Glossary::from_json_str("{}"), Err(GlossaryError::Json(_))));
    }

    #[test]
    fn traditional_forms_share_keys_with_simplified() {
        assert_eq!(match_key("回滾").0, "回滚");
        assert_eq!(match_key("Argo CD").0, "argocd");
        assert_eq!(match_key("回滾").0, "回滚");
        let g = Glossary::new(vec![GlossaryEntry::new("昇腾")]);
        assert_eq!(g.match_key("昇騰"), "昇腾");
        assert_ne!(g.match_key("昇腾"), g.match_key("升腾"));
        assert!(g.kept_chars().contains(&'昇'));
    }
}
