//! Greedy CTC decoding: per-frame argmax, then collapse repeats and drop blanks.
//!
//! Matches FunASR (`unique_consecutive` then blank removal) and sherpa-onnx's
//! `OfflineCtcGreedySearchDecoder`: ties go to the lowest id (like `argmax`), and each emitted
//! token records the first frame of its run, which callers turn into a timestamp.

/// One emitted token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CtcToken {
    /// Vocabulary id.
    pub id: u32,
    /// Index of the first frame of the run that produced it.
    pub frame: u32,
}

/// Index of the largest value (the first one on ties); `None` for an empty slice. NaN values
/// never win.
pub fn argmax(row: &[f32]) -> Option<usize> {
    let mut best: Option<(usize, f32)> = None;
    for (i, &v) in row.iter().enumerate() {
        match best {
            Some((_, b)) if v <= b || v.is_nan() => {}
            _ if v.is_nan() => {}
            _ => best = Some((i, v)),
        }
    }
    best.map(|(i, _)| i)
}

/// Greedy-decodes `num_frames` rows of `vocab` scores (logits or log-probabilities,
/// row-major). Rows beyond the end of `scores` are ignored.
pub fn greedy_decode(scores: &[f32], num_frames: usize, vocab: usize, blank: u32) -> Vec<CtcToken> {
    if vocab == 0 {
        return Vec::new();
    }
    collapse(scores.chunks_exact(vocab).take(num_frames).map(argmax), blank)
}

/// The CTC rule over each frame's best id (`None`: a frame with no best, which ends a run like
/// a blank but is not one): repeats collapse into the first frame of their run, blanks drop.
/// [`greedy_decode`] is this over [`argmax`]; a model that picks the best id itself (an ArgMax
/// in the graph) gives its output here.
pub fn collapse(best: impl IntoIterator<Item = Option<usize>>, blank: u32) -> Vec<CtcToken> {
    let mut out = Vec::new();
    let mut prev: Option<usize> = None;
    for (t, best) in best.into_iter().enumerate() {
        if let Some(y) = best
            && y as u32 != blank
            && Some(y) != prev
        {
            out.push(CtcToken {
                id: y as u32,
                frame: t as u32,
            });
        }
        prev = best;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_hot(seq: &[usize], vocab: usize) -> Vec<f32> {
        let mut v = vec![0.0; seq.len() * vocab];
        for (t, &y) in seq.iter().enumerate() {
            v[t * vocab + y] = 5.0;
        }
        v
    }

    #[test]
    fn collapses_repeats_and_drops_blanks() {
        let s = one_hot(&[0, 1, 1, 0, 1, 2, 2, 0, 3], 4);
        let out = greedy_decode(&s, 9, 4, 0);
        let ids: Vec<u32> = out.iter().map(|t| t.id).collect();
        let frames: Vec<u32> = out.iter().map(|t| t.frame).collect();
        assert_eq!(ids, [1, 1, 2, 3]);
        assert_eq!(frames, [1, 4, 5, 8]);
        assert_eq!(greedy_decode(&s, 3, 4, 0).len(), 1);
        assert!(greedy_decode(&s, 9, 0, 0).is_empty());
    }

    #[test]
    fn collapse_of_best_ids_is_greedy_decoding() {
        let seq = [0, 3, 3, 0, 3, 5, 5, 2, 0];
        let vocab = 6;
        let ids: Vec<Option<usize>> = seq.iter().map(|&y| Some(y)).collect();
        let tokens = collapse(ids, 0);
        assert_eq!(tokens, greedy_decode(&one_hot(&seq, vocab), seq.len(), vocab, 0));
        let got: Vec<(u32, u32)> = tokens.iter().map(|t| (t.id, t.frame)).collect();
        assert_eq!(got, vec![(3, 1), (3, 4), (5, 5), (2, 7)]);
    }

    #[test]
    fn argmax_prefers_first_and_skips_nan() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0]), Some(1));
        assert_eq!(argmax(&[f32::NAN, 1.0]), Some(1));
        assert_eq!(argmax(&[]), None);
        assert_eq!(argmax(&[f32::NEG_INFINITY]), Some(0));
    }
}
