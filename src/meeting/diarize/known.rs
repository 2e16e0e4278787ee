//! Naming clusters after known speakers, from the embeddings of their reference clips.
//!
//! Matching is one-to-one: pairs (cluster, reference) are taken in order of decreasing cosine
//! similarity, each cluster and each reference at most once, and only pairs at or above the
//! threshold. (Greedy is optimal here whenever one pair dominates; with at most eight references
//! and a threshold well above the cross-speaker range, the cases where a full assignment would
//! differ are ties between near-identical voices.)
//!
//! Invariants: the result has one entry per cluster; no reference is used twice; a cluster whose
//! best reference is below the threshold stays unnamed.

use crate::engine::speaker::cosine;

/// For each cluster centroid, the index of the reference clip it is matched to, if any.
pub fn match_known(centroids: &[Vec<f32>], references: &[Vec<f32>], threshold: f32) -> Vec<Option<usize>> {
    let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
    for (c, cv) in centroids.iter().enumerate() {
        for (r, rv) in references.iter().enumerate() {
            let s = cosine(cv, rv);
            if s >= threshold {
                pairs.push((s, c, r));
            }
        }
    }
    // Highest similarity first; ties by cluster, then reference index (deterministic).
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let mut out = vec![None; centroids.len()];
    let mut used = vec![false; references.len()];
    for (_, c, r) in pairs {
        if out[c].is_none() && !used[r] {
            out[c] = Some(r);
            used[r] = true;
        }
    }
    out
}

/// The names of matched clusters (`names[r]` for reference `r`), `None` for the others.
pub fn name_clusters(
    centroids: &[Vec<f32>],
    references: &[Vec<f32>],
    names: &[String],
    threshold: f32,
) -> Vec<Option<String>> {
    match_known(centroids, references, threshold)
        .into_iter()
        .map(|m| m.and_then(|r| names.get(r).cloned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_to_one_by_best_similarity() {
        let c = vec![vec![1.0, 0.0, 0.0], vec![0.9, 0.1, 0.0], vec![0.0, 0.0, 1.0]];
        let r = vec![vec![1.0, 0.05, 0.0], vec![0.0, 1.0, 0.0]];
        // cluster 0 and 1 both like reference 0; 0 is closer and wins it; 1 does not take
        // reference 1 (below threshold); cluster 2 matches nothing
        assert_eq!(match_known(&c, &r, 0.7), vec![Some(0), None, None]);
        // with a low threshold cluster 1 takes the remaining reference
        assert_eq!(match_known(&c, &r, 0.05), vec![Some(0), Some(1), None]);
        let names = vec!["Ana".to_string(), "Bo".to_string()];
        assert_eq!(name_clusters(&c, &r, &names, 0.7), vec![Some("Ana".into()), None, None]);
    }

    #[test]
    fn nothing_to_match() {
        assert_eq!(match_known(&[vec![1.0]], &[], 0.5), vec![None]);
        assert!(match_known(&[], &[vec![1.0]], 0.5).is_empty());
    }
}
