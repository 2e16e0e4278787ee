//! Sliding windows inside speech, and speaker turns from the windows' cluster labels.
//!
//! A speech span (from the VAD) of length L gets one window when L ≤ the window length, else
//! windows of the window length every `step`, the last one flush with the span's end. Each
//! window *owns* the part of its span nearer to its centre than to its neighbours' centres, so a
//! speaker change inside a long span lands midway between the last window of one speaker and the
//! first of the next (time resolution: half a step).
//!
//! Labels are smoothed before turns are cut: inside a span, a single window whose label differs
//! from two agreeing neighbours takes theirs (one window is weak evidence of a change).
//! Owned stretches with the same label are joined; a stretch shorter than `min_turn_s` inside a
//! span joins its longer neighbour.
//!
//! Invariants of the turns: in time order, non-overlapping, each inside one speech span, the
//! union of a span's turns is the span, adjacent turns of one span have different speakers.

use super::Turn;

/// A window to embed, in samples, with the index of its speech span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// The speech span it lies in.
    pub span: usize,
    /// First sample.
    pub start: usize,
    /// One past the last sample.
    pub end: usize,
}

impl Window {
    /// Length in samples.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// Whether it holds no samples.
    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }

    fn centre(&self) -> f64 {
        (self.start + self.end) as f64 / 2.0
    }
}

/// Windows of `win` samples every `step` samples inside each span (empty spans skipped).
pub fn plan_windows(speech: &[(usize, usize)], win: usize, step: usize) -> Vec<Window> {
    let win = win.max(1);
    let step = step.max(1);
    let mut out = Vec::new();
    for (span, &(s, e)) in speech.iter().enumerate() {
        if e <= s {
            continue;
        }
        if e - s <= win {
            out.push(Window { span, start: s, end: e });
            continue;
        }
        let mut t = s;
        while t + win < e {
            out.push(Window {
                span,
                start: t,
                end: t + win,
            });
            t += step;
        }
        // the last window ends with the span
        out.push(Window {
            span,
            start: e - win,
            end: e,
        });
    }
    out
}

/// Speaker turns, in seconds, from windows and one label per window. `speech` are the spans
/// the windows were planned in, `rate` the sample rate.
pub fn turns_from_windows(
    speech: &[(usize, usize)],
    windows: &[Window],
    labels: &[usize],
    rate: f64,
    min_turn_s: f64,
) -> Vec<Turn> {
    let mut turns = Vec::new();
    let mut i = 0;
    while i < windows.len() {
        let span = windows[i].span;
        let mut j = i;
        while j < windows.len() && windows[j].span == span {
            j += 1;
        }
        let (ws, ls) = (&windows[i..j], smooth(&labels[i..j]));
        let (s, e) = speech[span];
        // owned stretches: boundaries at midpoints between neighbouring centres
        let mut pieces: Vec<(f64, f64, usize)> = Vec::new();
        for k in 0..ws.len() {
            let from = if k == 0 {
                s as f64
            } else {
                (ws[k - 1].centre() + ws[k].centre()) / 2.0
            };
            let to = if k + 1 == ws.len() {
                e as f64
            } else {
                (ws[k].centre() + ws[k + 1].centre()) / 2.0
            };
            push_piece(&mut pieces, from, to, ls[k]);
        }
        absorb_short(&mut pieces, min_turn_s * rate);
        turns.extend(pieces.into_iter().map(|(a, b, spk)| Turn {
            start: a / rate,
            end: b / rate,
            speaker: spk,
        }));
        i = j;
    }
    turns
}

/// Appends a stretch, joining it to the previous one when the label is the same.
fn push_piece(pieces: &mut Vec<(f64, f64, usize)>, from: f64, to: f64, label: usize) {
    if to <= from {
        return;
    }
    match pieces.last_mut() {
        Some(last) if last.2 == label => last.1 = to,
        _ => pieces.push((from, to, label)),
    }
}

/// A lone window between two agreeing neighbours takes their label.
fn smooth(labels: &[usize]) -> Vec<usize> {
    let mut out = labels.to_vec();
    for k in 1..labels.len().saturating_sub(1) {
        if labels[k - 1] == labels[k + 1] && labels[k] != labels[k - 1] {
            out[k] = labels[k - 1];
        }
    }
    out
}

/// Stretches shorter than `min` join their longer neighbour (repeated until none is short or
/// one stretch is left).
fn absorb_short(pieces: &mut Vec<(f64, f64, usize)>, min: f64) {
    loop {
        if pieces.len() < 2 {
            return;
        }
        let Some(k) = (0..pieces.len())
            .filter(|&k| pieces[k].1 - pieces[k].0 < min)
            .min_by(|&a, &b| (pieces[a].1 - pieces[a].0).total_cmp(&(pieces[b].1 - pieces[b].0)))
        else {
            return;
        };
        let len = |p: &(f64, f64, usize)| p.1 - p.0;
        let into_prev = match (k.checked_sub(1).map(|p| &pieces[p]), pieces.get(k + 1)) {
            (Some(p), Some(n)) => len(p) >= len(n),
            (Some(_), None) => true,
            _ => false,
        };
        let removed = pieces.remove(k);
        if into_prev {
            pieces[k - 1].1 = removed.1;
        } else {
            pieces[k].0 = removed.0;
        }
        // neighbours that now share a label become one
        let mut merged: Vec<(f64, f64, usize)> = Vec::with_capacity(pieces.len());
        for p in pieces.drain(..) {
            push_piece(&mut merged, p.0, p.1, p.2);
        }
        *pieces = merged;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SR: f64 = 16_000.0;

    #[test]
    fn windows_cover_each_span() {
        let speech = [(0, 8_000), (16_000, 16_000), (32_000, 80_000)];
        let w = plan_windows(&speech, 24_000, 12_000);
        // short span: one window; empty span: none; 3 s span: 0,0.75,1.5 then flush end
        assert_eq!(
            w[0],
            Window {
                span: 0,
                start: 0,
                end: 8_000
            }
        );
        let long: Vec<_> = w.iter().filter(|x| x.span == 2).map(|x| (x.start, x.end)).collect();
        assert_eq!(long, vec![(32_000, 56_000), (44_000, 68_000), (56_000, 80_000)]);
        assert!(w.iter().all(|x| x.span != 1));
        assert!(w.iter().all(|x| x.len() <= 24_000 && !x.is_empty()));
    }

    #[test]
    fn a_change_inside_a_span_is_cut_between_window_centres() {
        // one 6 s span, windows 1.5 s every 0.75 s: 7 windows; speaker 0 for the first 3
        let speech = [(0, 96_000)];
        let w = plan_windows(&speech, 24_000, 12_000);
        assert_eq!(w.len(), 7);
        let labels = [0, 0, 0, 1, 1, 1, 1];
        let t = turns_from_windows(&speech, &w, &labels, SR, 0.5);
        assert_eq!(t.len(), 2);
        assert_eq!((t[0].speaker, t[1].speaker), (0, 1));
        // centre of window 2 = 2.25 s, window 3 = 3.0 s: the cut at 2.625 s
        assert!((t[0].end - 2.625).abs() < 1e-9 && (t[1].start - 2.625).abs() < 1e-9);
        assert_eq!((t[0].start, t[1].end), (0.0, 6.0));
    }

    #[test]
    fn lone_windows_are_smoothed_and_short_stretches_absorbed() {
        let speech = [(0, 96_000), (112_000, 120_000)];
        let w = plan_windows(&speech, 24_000, 12_000);
        let labels = [0, 0, 1, 0, 0, 0, 0, 2];
        let t = turns_from_windows(&speech, &w, &labels, SR, 0.5);
        // the lone 1 is smoothed away; the second span is its own turn
        assert_eq!(t.len(), 2);
        assert_eq!(
            t[0],
            Turn {
                start: 0.0,
                end: 6.0,
                speaker: 0
            }
        );
        assert_eq!(
            t[1],
            Turn {
                start: 7.0,
                end: 7.5,
                speaker: 2
            }
        );
        // a short stretch at a span's start joins its neighbour
        let mut p = vec![(0.0, 0.3 * SR, 1), (0.3 * SR, 3.0 * SR, 0), (3.0 * SR, 6.0 * SR, 1)];
        absorb_short(&mut p, 0.5 * SR);
        assert_eq!(p, vec![(0.0, 3.0 * SR, 0), (3.0 * SR, 6.0 * SR, 1)]);
    }

    #[test]
    fn turns_tile_each_span_without_overlap() {
        let speech = [(1_000, 50_000), (60_000, 61_000), (70_000, 200_000)];
        let w = plan_windows(&speech, 24_000, 12_000);
        let labels: Vec<usize> = (0..w.len()).map(|i| (i / 3) % 2).collect();
        let t = turns_from_windows(&speech, &w, &labels, SR, 0.5);
        for pair in t.windows(2) {
            assert!(pair[0].end <= pair[1].start + 1e-9);
        }
        for &(s, e) in &speech {
            let (s, e) = (s as f64 / SR, e as f64 / SR);
            let covered: f64 = t
                .iter()
                .filter(|x| x.start >= s && x.end <= e)
                .map(|x| x.end - x.start)
                .sum();
            assert!((covered - (e - s)).abs() < 1e-9);
        }
    }
}
