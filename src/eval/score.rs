//! Error rates and term recall of one hypothesis, and their sums over a group.
//!
//! Rates are **corpus-level**: a group's WER/CER is the sum of its items' edit distances over the
//! sum of their reference lengths (a long item weighs more than a short one), and its term recall
//! is the sum of found occurrences over the sum of wanted ones. The relative cut compares two
//! texts of the same decode: `(raw − reviewed) / raw`, positive when the review removed errors.

use serde::Serialize;

use super::normalize::Normalizer;
use crate::review::text::levenshtein;

/// What an error rate counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    /// Word error rate (English and other space-separated languages).
    Wer,
    /// Character error rate (Chinese, Japanese, Korean, Cantonese, code-switched Mandarin).
    Cer,
}

impl Metric {
    /// The metric of a manifest language (`en`, `zh`, `zh+en`, `ja` …): CER as soon as a CJK
    /// language is part of it.
    pub fn for_lang(lang: &str) -> Self {
        if lang.split('+').any(|l| matches!(l, "zh" | "ja" | "ko" | "yue")) {
            Self::Cer
        } else {
            Self::Wer
        }
    }

    /// `WER` or `CER`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Wer => "WER",
            Self::Cer => "CER",
        }
    }
}

/// The counts behind an error rate and a term recall; they add up over items.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Edit distance to the reference (words or characters).
    pub errors: usize,
    /// Reference length (words or characters).
    pub units: usize,
    /// Term occurrences found (each term capped at its occurrences in the reference).
    pub terms_found: usize,
    /// Term occurrences in the reference.
    pub terms: usize,
}

impl Counts {
    /// `errors / units` (0 for an empty reference).
    pub fn error_rate(&self) -> f64 {
        ratio(self.errors, self.units)
    }

    /// `terms_found / terms`; `None` when the reference has no terms.
    pub fn term_recall(&self) -> Option<f64> {
        (self.terms > 0).then(|| ratio(self.terms_found, self.terms))
    }
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, o: Self) {
        self.errors += o.errors;
        self.units += o.units;
        self.terms_found += o.terms_found;
        self.terms += o.terms;
    }
}

/// Scores `hyp` against `reference` under `metric`, counting the occurrences of `terms`.
pub fn score(n: &Normalizer, metric: Metric, reference: &str, hyp: &str, terms: &[String]) -> Counts {
    let (errors, units) = match metric {
        Metric::Wer => {
            let (r, h) = (n.words(reference), n.words(hyp));
            (levenshtein(&r, &h), r.len())
        }
        Metric::Cer => {
            let (r, h) = (n.chars(reference), n.chars(hyp));
            (levenshtein(&r, &h), r.len())
        }
    };
    let mut c = Counts {
        errors,
        units,
        ..Default::default()
    };
    for term in terms {
        let wanted = n.count_term(reference, term);
        c.terms_found += n.count_term(hyp, term).min(wanted);
        c.terms += wanted;
    }
    c
}

/// The speaker-attributed error of a multi-speaker transcript, as CHiME's *cpWER* counts it:
/// each speaker's words joined into one text, reference and hypothesis, and the hypothesis'
/// speakers matched one-to-one to the reference's (a speaker with no match is compared with
/// an empty text) so that the sum of the pairs' edit distances is least. `(errors, units)`:
/// that sum and the reference length. Attribution errors show as the difference from the plain
/// error of the same text. Exact up to eight speakers on either side (every matching is tried);
/// beyond that, a greedy matching.
pub fn speaker_attributed(n: &Normalizer, metric: Metric, references: &[&str], hyps: &[&str]) -> (usize, usize) {
    let (cost, total) = match metric {
        Metric::Wer => cost_matrix(references.iter().map(|t| n.words(t)), hyps.iter().map(|t| n.words(t))),
        Metric::Cer => cost_matrix(references.iter().map(|t| n.chars(t)), hyps.iter().map(|t| n.chars(t))),
    };
    let size = cost.len();
    if size == 0 {
        return (0, total);
    }
    let best = if size <= 8 {
        least_matching(&cost)
    } else {
        greedy_matching(&cost)
    };
    (best, total)
}

/// `cost[i][j]`: the edit distance of reference speaker `i` to hypothesis speaker `j`, square
/// (an empty text beyond either list); and the reference length.
fn cost_matrix<T: PartialEq + Clone>(
    references: impl Iterator<Item = Vec<T>>,
    hyps: impl Iterator<Item = Vec<T>>,
) -> (Vec<Vec<usize>>, usize) {
    let r: Vec<Vec<T>> = references.collect();
    let h: Vec<Vec<T>> = hyps.collect();
    let size = r.len().max(h.len());
    let empty = Vec::new();
    let side = |v: &[Vec<T>], i: usize| v.get(i).unwrap_or(&empty).clone();
    let cost = (0..size)
        .map(|i| (0..size).map(|j| levenshtein(&side(&r, i), &side(&h, j))).collect())
        .collect();
    (cost, r.iter().map(Vec::len).sum())
}

/// The least sum of `cost[i][p(i)]` over the permutations `p`.
fn least_matching(cost: &[Vec<usize>]) -> usize {
    fn go(cost: &[Vec<usize>], i: usize, used: &mut Vec<bool>, sum: usize, best: &mut usize) {
        if sum >= *best {
            return;
        }
        if i == cost.len() {
            *best = sum;
            return;
        }
        for j in 0..cost.len() {
            if !used[j] {
                used[j] = true;
                go(cost, i + 1, used, sum + cost[i][j], best);
                used[j] = false;
            }
        }
    }
    let mut best = usize::MAX;
    go(cost, 0, &mut vec![false; cost.len()], 0, &mut best);
    best
}

/// Pairs taken cheapest first.
fn greedy_matching(cost: &[Vec<usize>]) -> usize {
    let mut pairs: Vec<(usize, usize, usize)> = cost
        .iter()
        .enumerate()
        .flat_map(|(i, row)| row.iter().enumerate().map(move |(j, &c)| (c, i, j)))
        .collect();
    pairs.sort();
    let (mut ri, mut hj) = (vec![false; cost.len()], vec![false; cost.len()]);
    let mut sum = 0;
    for (c, i, j) in pairs {
        if !ri[i] && !hj[j] {
            (ri[i], hj[j]) = (true, true);
            sum += c;
        }
    }
    sum
}

/// `(raw − reviewed) / raw`: the share of the raw errors the review removed (negative when it
/// added some); `None` when the raw text had no errors.
pub fn relative_cut(raw: f64, reviewed: f64) -> Option<f64> {
    (raw > 0.0).then(|| (raw - reviewed) / raw)
}

/// The `p`-th percentile (0–100) of `values` by nearest rank; `None` for no values.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    Some(v[rank.clamp(1, v.len()) - 1])
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speaker_attributed_errors_match_speakers_at_least_cost() {
        let n = Normalizer::default();
        let refs = ["good morning all", "the build is green"];
        // right words, speakers in the other order: no error once matched
        assert_eq!(
            speaker_attributed(&n, Metric::Wer, &refs, &["the build is green", "good morning all"]),
            (0, 7)
        );
        // one speaker heard where there were two: the other speaker's words count as inserted
        // and as deleted (3 + 3)
        assert_eq!(
            speaker_attributed(&n, Metric::Wer, &refs, &["good morning all the build is green"]),
            (6, 7)
        );
        // a third hypothesis speaker is matched with nothing: all insertions
        assert_eq!(
            speaker_attributed(&n, Metric::Wer, &refs, &["good morning all", "the build is", "green"]),
            (2, 7)
        );
        assert_eq!(speaker_attributed(&n, Metric::Cer, &["好的"], &[]), (2, 2));
        let cost = vec![vec![5, 1, 9], vec![1, 5, 9], vec![9, 9, 2]];
        assert_eq!((least_matching(&cost), greedy_matching(&cost)), (4, 4));
    }

    #[test]
    fn metrics_by_language() {
        assert_eq!(Metric::for_lang("en"), Metric::Wer);
        for l in ["zh", "zh+en", "ja", "yue", "ko"] {
            assert_eq!(Metric::for_lang(l), Metric::Cer, "{l}");
        }
    }

    #[test]
    fn counts_add_up_and_terms_are_capped() {
        let n = Normalizer::default();
        let terms = vec!["Grafana".to_string()];
        let c = score(&n, Metric::Wer, "open Grafana now", "open Grafana Grafana now", &terms);
        assert_eq!((c.errors, c.units, c.terms_found, c.terms), (1, 3, 1, 1));
        let d = score(&n, Metric::Wer, "open Grafana now", "open graph fauna now", &terms);
        assert_eq!((d.errors, d.terms_found), (2, 0));
        let mut sum = c;
        sum += d;
        assert_eq!((sum.errors, sum.units, sum.terms_found, sum.terms), (3, 6, 1, 2));
        assert!((sum.error_rate() - 0.5).abs() < 1e-12);
        assert_eq!(sum.term_recall(), Some(0.5));
        assert_eq!(Counts::default().term_recall(), None);

        let z = score(
            &n,
            Metric::Cer,
            "训练任务在昇腾上",
            "訓練任務在升騰上",
            &["昇腾".into()],
        );
        // the traditional script is folded; without the terms 昇 folds to 升 too, so the
        // homophone would pass as correct
        assert_eq!((z.errors, z.units, z.terms_found), (0, 8, 1));
        let kept = Normalizer::new(["昇腾"]);
        let z = score(
            &kept,
            Metric::Cer,
            "训练任务在昇腾上",
            "訓練任務在升騰上",
            &["昇腾".into()],
        );
        assert_eq!((z.errors, z.terms_found, z.terms), (1, 0, 1));
    }

    #[test]
    fn cut_and_percentiles() {
        assert_eq!(relative_cut(0.2, 0.1), Some(0.5));
        assert_eq!(relative_cut(0.1, 0.2), Some(-1.0));
        assert_eq!(relative_cut(0.0, 0.0), None);
        let v = [5.0, 1.0, 3.0, 2.0, 4.0];
        assert_eq!(percentile(&v, 50.0), Some(3.0));
        assert_eq!(percentile(&v, 95.0), Some(5.0));
        assert_eq!(percentile(&v, 0.0), Some(1.0));
        assert_eq!(percentile(&[], 50.0), None);
    }
}
