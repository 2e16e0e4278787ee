//! Online speaker clustering for live sessions: each new segment's embedding is assigned to the
//! session's most similar speaker centroid when the similarity reaches the threshold, or becomes
//! a new speaker; the chosen centroid then absorbs the embedding (a running mean, weighted by
//! segment duration, kept L2-normalised).
//!
//! Invariants: speaker ids are `0, 1, 2, …` in order of creation and never change or get reused,
//! so labels stay consistent for the whole session; the number of speakers never exceeds
//! `max_speakers` (once reached, a segment goes to the nearest speaker whatever its similarity);
//! an embedding of the wrong length or with non-finite values is refused, leaving the state as
//! it was.

use crate::engine::speaker::{cosine, l2_normalize};

/// A new segment's speaker.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Assignment {
    /// The speaker id (`0..`).
    pub speaker: usize,
    /// Cosine similarity to that speaker's centroid before the update (1.0 for a new speaker).
    pub similarity: f32,
    /// Whether this segment started a new speaker.
    pub new_speaker: bool,
}

/// Why an embedding was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OnlineError {
    /// Its length is not the clusterer's dimension.
    #[error("embedding has {got} values, the session's speakers have {want}")]
    Dimension {
        /// Expected length.
        want: usize,
        /// Given length.
        got: usize,
    },
    /// It is all zeros or holds NaN/∞.
    #[error("embedding is zero or not finite")]
    NotFinite,
}

/// The session's speakers: sums of their segment embeddings (weighted) and their total weight.
#[derive(Debug, Clone)]
pub struct OnlineClusterer {
    threshold: f32,
    max_speakers: usize,
    dim: usize,
    sums: Vec<Vec<f32>>,
    weights: Vec<f32>,
    centroids: Vec<Vec<f32>>,
}

impl OnlineClusterer {
    /// A clusterer for `dim`-long embeddings: a segment joins a speaker at cosine ≥ `threshold`;
    /// at most `max_speakers` speakers (at least 1).
    pub fn new(dim: usize, threshold: f32, max_speakers: usize) -> Self {
        Self {
            threshold,
            max_speakers: max_speakers.max(1),
            dim,
            sums: Vec::new(),
            weights: Vec::new(),
            centroids: Vec::new(),
        }
    }

    /// Number of speakers so far.
    pub fn len(&self) -> usize {
        self.centroids.len()
    }

    /// Whether no speaker has been seen.
    pub fn is_empty(&self) -> bool {
        self.centroids.is_empty()
    }

    /// The current centroids (unit vectors), by speaker id.
    pub fn centroids(&self) -> &[Vec<f32>] {
        &self.centroids
    }

    /// Assigns a segment's embedding (`weight`: its duration in seconds, or 1) to a speaker and
    /// updates that speaker's centroid.
    pub fn assign(&mut self, embedding: &[f32], weight: f32) -> Result<Assignment, OnlineError> {
        if embedding.len() != self.dim {
            return Err(OnlineError::Dimension {
                want: self.dim,
                got: embedding.len(),
            });
        }
        let mut e = embedding.to_vec();
        if !l2_normalize(&mut e) {
            return Err(OnlineError::NotFinite);
        }
        let w = if weight.is_finite() && weight > 0.0 {
            weight
        } else {
            1.0
        };
        let best = self.centroids.iter().enumerate().map(|(i, c)| (i, cosine(c, &e))).fold(
            None,
            |b: Option<(usize, f32)>, (i, s)| match b {
                Some((_, bs)) if bs >= s => b,
                _ => Some((i, s)),
            },
        );
        let (speaker, similarity, new_speaker) = match best {
            Some((i, s)) if s >= self.threshold || self.centroids.len() >= self.max_speakers => (i, s, false),
            _ => {
                self.sums.push(vec![0.0; self.dim]);
                self.weights.push(0.0);
                self.centroids.push(e.clone());
                (self.centroids.len() - 1, 1.0, true)
            }
        };
        for (s, x) in self.sums[speaker].iter_mut().zip(&e) {
            *s += w * x;
        }
        self.weights[speaker] += w;
        let mut c = self.sums[speaker].clone();
        if l2_normalize(&mut c) {
            self.centroids[speaker] = c;
        }
        Ok(Assignment {
            speaker,
            similarity,
            new_speaker,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speakers_are_stable_and_new_voices_get_new_ids() {
        let mut o = OnlineClusterer::new(3, 0.8, 4);
        let a = [1.0, 0.1, 0.0];
        let b = [0.0, 1.0, 0.1];
        let first = o.assign(&a, 2.0).unwrap();
        assert_eq!((first.speaker, first.new_speaker), (0, true));
        assert_eq!(o.assign(&b, 1.0).unwrap().speaker, 1);
        let again = o.assign(&[0.95, 0.15, 0.05], 1.0).unwrap();
        assert_eq!((again.speaker, again.new_speaker), (0, false));
        assert!(again.similarity > 0.9);
        assert_eq!(o.assign(&[0.05, 0.9, 0.1], 1.0).unwrap().speaker, 1);
        assert_eq!(o.len(), 2);
        // a third voice
        assert_eq!(o.assign(&[0.0, 0.0, 1.0], 1.0).unwrap().speaker, 2);
        assert_eq!(o.centroids().len(), 3);
    }

    #[test]
    fn cap_on_speakers_and_bad_input() {
        let mut o = OnlineClusterer::new(2, 0.99, 2);
        assert_eq!(o.assign(&[1.0, 0.0], 1.0).unwrap().speaker, 0);
        assert_eq!(o.assign(&[0.0, 1.0], 1.0).unwrap().speaker, 1);
        // at the cap: nearest speaker, not a new one
        let a = o.assign(&[0.9, 0.2], 1.0).unwrap();
        assert_eq!((a.speaker, a.new_speaker), (0, false));
        assert_eq!(o.len(), 2);
        assert!(matches!(
            o.assign(&[1.0], 1.0),
            Err(OnlineError::Dimension { want: 2, got: 1 })
        ));
        assert_eq!(o.assign(&[0.0, 0.0], 1.0), Err(OnlineError::NotFinite));
        assert_eq!(o.assign(&[f32::NAN, 1.0], 1.0), Err(OnlineError::NotFinite));
        assert_eq!(o.len(), 2);
    }

    #[test]
    fn centroid_follows_the_weighted_mean() {
        let mut o = OnlineClusterer::new(2, 0.0, 1);
        o.assign(&[1.0, 0.0], 3.0).unwrap();
        o.assign(&[0.0, 1.0], 1.0).unwrap();
        let c = &o.centroids()[0];
        // (3, 1) normalised
        assert!((c[0] - 0.9487).abs() < 1e-3 && (c[1] - 0.3162).abs() < 1e-3, "{c:?}");
    }
}
