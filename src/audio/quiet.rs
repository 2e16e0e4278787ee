//! Where a recording is quietest: cut points for audio that must be split without a voice
//! activity detector at hand (a recognizer's 30 s window, the lanes of the offline VAD).
//!
//! Energy is summed per frame once ([`Energy::new`], prefix sums), so the quietest stretch of any
//! length within any range is found in one pass over the range. Cutting in the middle of the
//! quietest stretch lands between words far more often than a fixed cut: speech has short
//! pauses every few hundred milliseconds, and a pause is the quietest place near it, in noise too.
//!
//! Invariants: every cut lies inside the range it was searched in; [`quiet_chunks`] covers the
//! samples exactly, in order, with pieces of at most `max` samples.

/// Summed energy per frame of a recording, as prefix sums.
#[derive(Debug, Clone)]
pub struct Energy {
    frame: usize,
    prefix: Vec<f64>,
}

impl Energy {
    /// The energy of each whole `frame`-sample frame of `samples` (a trailing partial frame is
    /// left out).
    pub fn new(samples: &[f32], frame: usize) -> Self {
        let frame = frame.max(1);
        let mut prefix = Vec::with_capacity(samples.len() / frame + 1);
        prefix.push(0.0);
        let mut sum = 0.0f64;
        for f in samples.chunks_exact(frame) {
            sum += f.iter().map(|&x| (x as f64) * (x as f64)).sum::<f64>();
            prefix.push(sum);
        }
        Self { frame, prefix }
    }

    /// Whole frames.
    pub fn frames(&self) -> usize {
        self.prefix.len() - 1
    }

    /// Samples per frame.
    pub fn frame(&self) -> usize {
        self.frame
    }

    /// Energy of frames `a..b` (clamped to the recording).
    pub fn between(&self, a: usize, b: usize) -> f64 {
        let n = self.frames();
        let (a, b) = (a.min(n), b.min(n));
        if b <= a { 0.0 } else { self.prefix[b] - self.prefix[a] }
    }

    /// The frame in `lo..=hi` where the quietest stretch of `span` frames is centred (ties go to
    /// the latest); `lo` when the range is empty.
    pub fn quietest(&self, lo: usize, hi: usize, span: usize) -> usize {
        let half = span / 2;
        let mut best = (f64::INFINITY, lo);
        for c in lo..=hi.max(lo) {
            let e = self.between(c.saturating_sub(half), c + (span - half));
            if e <= best.0 {
                best = (e, c);
            }
        }
        best.1
    }
}

/// Cuts `samples` into consecutive pieces of at most `max` samples: where one piece cannot hold
/// the rest, it ends in the middle of the quietest `span` samples of its last `search` samples
/// (measured in `frame`-sample frames). Returns `(start, end)` sample ranges covering all of
/// `samples`, in order.
pub fn quiet_chunks(samples: &[f32], max: usize, search: usize, frame: usize, span: usize) -> Vec<(usize, usize)> {
    let max = max.max(1);
    let energy = Energy::new(samples, frame);
    let f = energy.frame();
    let (search_f, span_f) = ((search / f).max(1), (span / f).max(1));
    let mut out = Vec::new();
    let mut start = 0;
    while samples.len() - start > max {
        let last = (start + max) / f; // the last frame boundary the piece may end on
        let lo = last.saturating_sub(search_f).max(start / f + 1);
        let cut = (energy.quietest(lo, last, span_f) * f).clamp(start + 1, start + max);
        out.push((start, cut));
        start = cut;
    }
    if start < samples.len() || out.is_empty() {
        out.push((start, samples.len()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tone of `amp` for `n` samples.
    fn tone(n: usize, amp: f32) -> Vec<f32> {
        (0..n).map(|i| amp * (i as f32 * 0.3).sin()).collect()
    }

    #[test]
    fn the_quietest_stretch_is_found_and_cut_in_its_middle() {
        // loud 0..1000, quiet 1000..1200, loud again
        let mut s = tone(1000, 0.5);
        s.extend(tone(200, 0.01));
        s.extend(tone(1000, 0.5));
        let e = Energy::new(&s, 10);
        assert_eq!(e.frames(), 220);
        let c = e.quietest(50, 200, 10);
        assert!((105..=115).contains(&c), "cut at frame {c}");
        // a range without the pause: somewhere inside it
        let c = e.quietest(10, 40, 10);
        assert!((10..=40).contains(&c));
        // an empty range gives its start
        assert_eq!(e.quietest(30, 20, 10), 30);
    }

    #[test]
    fn chunks_cover_everything_and_end_in_pauses() {
        // speech-like: 2.7 s of sound, 0.3 s of near silence, repeated (16 kHz)
        let mut s = Vec::new();
        let mut pauses = Vec::new();
        for _ in 0..25 {
            s.extend(tone(43_200, 0.3));
            pauses.push((s.len(), s.len() + 4_800));
            s.extend(tone(4_800, 0.001));
        }
        let max = 30 * 16_000;
        let pieces = quiet_chunks(&s, max, 5 * 16_000, 160, 3_200);
        assert_eq!(pieces.first().unwrap().0, 0);
        assert_eq!(pieces.last().unwrap().1, s.len());
        for w in pieces.windows(2) {
            assert_eq!(w[0].1, w[1].0, "contiguous");
        }
        for &(a, b) in &pieces {
            assert!(b > a && b - a <= max, "piece {a}..{b}");
        }
        for &(_, b) in &pieces[..pieces.len() - 1] {
            assert!(
                pauses.iter().any(|&(p, q)| p <= b && b <= q),
                "cut at {b} is not in a pause"
            );
        }
        // short audio: one piece; empty audio: one empty piece
        assert_eq!(quiet_chunks(&s[..1000], max, 80_000, 160, 3_200), vec![(0, 1000)]);
        assert_eq!(quiet_chunks(&[], max, 80_000, 160, 3_200), vec![(0, 0)]);
    }

    #[test]
    fn silence_everywhere_cuts_at_the_latest_point() {
        let s = vec![0.0f32; 70 * 16_000];
        let pieces = quiet_chunks(&s, 30 * 16_000, 5 * 16_000, 160, 3_200);
        assert_eq!(pieces, vec![(0, 480_000), (480_000, 960_000), (960_000, 1_120_000)]);
    }
}
