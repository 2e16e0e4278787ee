//! The eval set's text normalization (`../shared/eval/README.md` and its `terminology/README.md`),
//! the one place it is written down in code.
//!
//! * **Compatibility forms** (the part of NFKC these texts meet): full-width ASCII (`ＡＢＣ，`) to
//!   half-width, the ideographic space to a space.
//! * **Script**: Han characters folded from traditional to simplified (a model answering in
//!   traditional script makes no terminology error), except the characters of the manifest's own
//!   terms: `昇` in `昇腾` must not become `升`, or a hypothesis writing the homophone `升腾` would
//!   score as correct. The folding is applied to reference and hypothesis alike.
//! * **Case**: lower-cased.
//! * **English (WER)**: apostrophes deleted, every other non-alphanumeric character a space,
//!   words split on whitespace.
//! * **Chinese and code-switched (CER)**: punctuation and all whitespace removed; what is left is
//!   scored character by character (English words then count letter by letter).
//! * **Terms**: a term is found where its canonical form appears after the same folding, with
//!   whitespace ignored next to Han characters; a Latin term must not be glued to other Latin
//!   letters or digits (`Kubernetes` is not found in `Kubernetesx`).

use std::collections::HashSet;

use crate::review::glossary::simplify_char;
use crate::review::text::{is_han, is_latin};

/// Text normalization for scoring, with the set of characters the script folding leaves alone.
#[derive(Debug, Clone, Default)]
pub struct Normalizer {
    keep: HashSet<char>,
}

impl Normalizer {
    /// A normalizer that keeps the Han characters of `terms` that the traditional → simplified
    /// folding would change.
    pub fn new<'a>(terms: impl IntoIterator<Item = &'a str>) -> Self {
        let keep = terms
            .into_iter()
            .flat_map(str::chars)
            .filter(|&c| is_han(c) && simplify_char(c) != c)
            .collect();
        Self { keep }
    }

    /// The characters kept from folding.
    pub fn kept(&self) -> &HashSet<char> {
        &self.keep
    }

    /// Compatibility forms, script folding and lower case, character by character.
    pub fn fold(&self, s: &str) -> String {
        s.chars()
            .map(compat)
            .map(|c| if self.keep.contains(&c) { c } else { simplify_char(c) })
            .flat_map(char::to_lowercase)
            .collect()
    }

    /// The words WER is computed over.
    pub fn words(&self, s: &str) -> Vec<String> {
        self.fold(s)
            .chars()
            .filter(|&c| c != '\'' && c != '’')
            .map(|c| if c.is_alphanumeric() { c } else { ' ' })
            .collect::<String>()
            .split_whitespace()
            .map(str::to_string)
            .collect()
    }

    /// The characters CER is computed over.
    pub fn chars(&self, s: &str) -> Vec<char> {
        self.fold(s).chars().filter(|c| c.is_alphanumeric()).collect()
    }

    /// How often `term` occurs in `text` (see the module docs for what counts).
    pub fn count_term(&self, text: &str, term: &str) -> usize {
        let hay = self.term_chars(text);
        let needle = self.term_chars(term);
        if needle.is_empty() || needle.len() > hay.len() {
            return 0;
        }
        let latin_at = |i: usize| hay.get(i).is_some_and(|&c| is_latin(c));
        let (first, last) = (needle[0], needle[needle.len() - 1]);
        (0..=hay.len() - needle.len())
            .filter(|&i| {
                hay[i..i + needle.len()] == needle[..]
                    && !(is_latin(first) && i > 0 && latin_at(i - 1))
                    && !(is_latin(last) && latin_at(i + needle.len()))
            })
            .count()
    }

    /// Folded text with punctuation as single spaces, and no space at the ends, next to another
    /// space or next to a Han character.
    fn term_chars(&self, s: &str) -> Vec<char> {
        let v: Vec<char> = self
            .fold(s)
            .chars()
            .map(|c| if c.is_alphanumeric() { c } else { ' ' })
            .collect();
        let mut out: Vec<char> = Vec::with_capacity(v.len());
        for (i, &c) in v.iter().enumerate() {
            if c == ' ' {
                let before = out.last().copied();
                let after = v[i + 1..].iter().copied().find(|&d| d != ' ');
                if before.is_none_or(|p| p == ' ' || is_han(p)) || after.is_none_or(is_han) {
                    continue;
                }
            }
            out.push(c);
        }
        out
    }
}

/// Full-width ASCII to half-width, the ideographic space to a space.
fn compat(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        _ => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_chars_follow_the_eval_rules() {
        let n = Normalizer::default();
        assert_eq!(
            n.words("Don't STOP, the pods’ logs!"),
            ["dont", "stop", "the", "pods", "logs"]
        );
        assert_eq!(n.words("ＡＢＣ，def\u{3000}x-y"), ["abc", "def", "x", "y"]);
        // traditional folded, punctuation and spaces gone, Latin letter by letter
        assert_eq!(
            n.chars("這個 PR，先別 merge。").iter().collect::<String>(),
            "这个pr先别merge"
        );
    }

    #[test]
    fn term_characters_are_not_folded() {
        let n = Normalizer::new(["昇腾", "Kubernetes"]);
        assert!(n.kept().contains(&'昇'), "{:?}", n.kept());
        assert_eq!(n.count_term("迁到昇腾集群", "昇腾"), 1);
        assert_eq!(n.count_term("迁到升腾集群", "昇腾"), 0, "a homophone is no hit");
        // without the term the folding would make them equal
        let plain = Normalizer::default();
        assert_eq!(plain.chars("昇腾"), plain.chars("升腾"));
    }

    #[test]
    fn terms_are_found_whole_and_across_spacing() {
        let n = Normalizer::default();
        assert_eq!(n.count_term("We run Kubernetes; kubernetes too.", "Kubernetes"), 2);
        assert_eq!(n.count_term("Kubernetesx and xKubernetes", "Kubernetes"), 0);
        assert_eq!(n.count_term("pull from amazon  ECR.", "Amazon ECR"), 1);
        assert_eq!(n.count_term("用 Grafana 看", "Grafana"), 1);
        assert_eq!(n.count_term("用Grafana看", "Grafana"), 1, "Han neighbours do not glue");
        assert_eq!(n.count_term("H100集群", "H100"), 1);
        assert_eq!(n.count_term("H1000", "H100"), 0);
        assert_eq!(n.count_term("Postgres", "PostgreSQL"), 0);
        assert_eq!(
            n.count_term("何 恺 明", "何恺明"),
            1,
            "spaces between Han characters are ignored"
        );
        assert_eq!(n.count_term("", "x"), 0);
        assert_eq!(n.count_term("abc", ""), 0);
    }
}
