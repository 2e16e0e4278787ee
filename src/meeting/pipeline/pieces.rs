//! Which stretches of a meeting the recognizer hears: *windows* of the recording's speech, at
//! most [`MAX_WINDOW_S`] long, cut at VAD pauses, regardless of who speaks; the speakers are
//! handed what each window's decode wrote afterwards ([`super::attribute`]), as *pieces* of one
//! speaker.
//!
//! Why windows and not turns: Whisper decodes best with context, and a turn can be one second.
//! Decoded turn by turn, the code-switched meeting of the eval set came out at 36 % CER (short
//! turns heard as English, or as Thai); decoded in the batch service's windows, at 24 %.
//!
//! Invariants: windows are in time order, do not overlap, lie inside the audio, hold speech
//! only at their edges' padding, and are at most [`MAX_WINDOW_S`] long (a longer stretch of
//! speech without a pause is cut evenly).

use crate::finalize::SpeechWindow;
use crate::finalize::coverage::speech_in;

pub use crate::meeting::diarize::Turn;

/// Longest window, seconds: Whisper's 30 s window with a margin. Shorter than batch's
/// [`crate::finalize::coverage::WINDOW_S`]: at 29.5 s the code-switched meeting of the eval set
/// came out 5 points worse through meeting mode (docs/benchmarks.md, section 10).
pub const MAX_WINDOW_S: f64 = 25.0;
/// Windows shorter than this are not transcribed (too short to hold a word).
pub const MIN_WINDOW_S: f64 = 0.3;

/// One speaker's stretch of a window: what the timeline's segments hang from.
pub type Piece = Turn;

/// Cuts the recording's `speech` spans (samples at `rate`, in order) into windows of at most
/// [`MAX_WINDOW_S`], each with the speech inside it. With `turns` (seconds, in order, inside the
/// speech), a window also never spans a speaker change: for engines that cannot time the words
/// of their text, so that each window has one speaker ([`super::attribute`] cannot split it);
/// turns of one speaker are still heard together up to the window length.
pub fn plan_windows(speech: &[(usize, usize)], rate: usize, turns: Option<&[Turn]>) -> Vec<SpeechWindow> {
    let max = (MAX_WINDOW_S * rate as f64) as usize;
    let min = (MIN_WINDOW_S * rate as f64) as usize;
    // stretches labelled with who speaks (everyone is 0 without turns)
    let labelled: Vec<(usize, usize, usize)> = match turns {
        None => speech.iter().map(|&(s, e)| (s, e, 0)).collect(),
        Some(turns) => turns
            .iter()
            .map(|t| {
                let at = |x: f64| (x.max(0.0) * rate as f64).round() as usize;
                (at(t.start), at(t.end), t.speaker)
            })
            .collect(),
    };
    // a stretch longer than a window is cut evenly first
    let mut spans: Vec<(usize, usize, usize)> = Vec::with_capacity(labelled.len());
    for &(s, e, who) in labelled.iter().filter(|(s, e, _)| e > s) {
        let n = (e - s).div_ceil(max);
        let step = (e - s).div_ceil(n);
        spans.extend((0..n).map(|k| (s + k * step, (s + (k + 1) * step).min(e), who)));
    }
    // merged greedily: one speaker's stretches (all of them, without turns) up to the limit
    let mut merged: Vec<(usize, usize, usize)> = Vec::new();
    for &(s, e, who) in &spans {
        match merged.last_mut() {
            Some(p) if p.2 == who && e - p.0 <= max => p.1 = e,
            _ => merged.push((s, e, who)),
        }
    }
    let speech: Vec<(usize, usize)> = spans.iter().map(|&(s, e, _)| (s, e)).collect();
    merged
        .into_iter()
        .filter(|(s, e, _)| e - s >= min)
        .map(|(start, end, _)| SpeechWindow {
            start,
            end,
            speech: speech_in(&speech, start, end),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SR: usize = 16_000;

    fn s(a: f64, b: f64) -> (usize, usize) {
        ((a * SR as f64) as usize, (b * SR as f64) as usize)
    }

    #[test]
    fn speech_is_merged_into_windows_cut_at_pauses() {
        let speech = [s(0.0, 10.0), s(11.0, 20.0), s(21.0, 30.0), s(31.0, 35.0), s(50.0, 50.1)];
        let w = plan_windows(&speech, SR, None);
        let bounds: Vec<(usize, usize)> = w.iter().map(|w| (w.start, w.end)).collect();
        // the too-short last span is no window
        assert_eq!(bounds, [s(0.0, 20.0), s(21.0, 35.0)]);
        assert_eq!(w[1].speech, [(0, 9 * SR), (10 * SR, 14 * SR)]);
    }

    #[test]
    fn a_long_stretch_of_speech_is_cut_evenly_and_no_window_is_too_long() {
        let speech = [s(0.0, 60.0), s(61.0, 62.0)];
        let w = plan_windows(&speech, SR, None);
        for x in &w {
            assert!(
                x.end - x.start <= (MAX_WINDOW_S * SR as f64) as usize,
                "{:?}",
                (x.start, x.end)
            );
        }
        assert_eq!(w[0].start, 0);
        assert_eq!(w.last().unwrap().end, s(61.0, 62.0).1);
        for p in w.windows(2) {
            assert!(p[0].end <= p[1].start);
        }
        // 60 s in three even parts of 20 s; the last joins the short span after it
        assert_eq!(
            w.len(),
            3,
            "{:?}",
            w.iter().map(|x| (x.start, x.end)).collect::<Vec<_>>()
        );
    }

    #[test]
    fn with_turns_a_window_never_spans_a_speaker_change() {
        let turn = |start: f64, end: f64, speaker: usize| Turn { start, end, speaker };
        let speech = [s(0.0, 6.0), s(8.0, 40.0)];
        let turns = [
            turn(0.0, 4.0, 0),
            turn(4.0, 6.0, 1),
            turn(8.0, 10.0, 1),
            turn(10.0, 40.0, 0),
        ];
        let w = plan_windows(&speech, SR, Some(&turns));
        let bounds: Vec<(usize, usize)> = w.iter().map(|w| (w.start, w.end)).collect();
        // speaker 1's two turns are heard together; speaker 0's 30 s turn is cut evenly
        assert_eq!(bounds, [s(0.0, 4.0), s(4.0, 10.0), s(10.0, 25.0), s(25.0, 40.0)]);
        assert_eq!(w[1].speech, [(0, 2 * SR), (4 * SR, 6 * SR)]);
        // without turns the same speech is two windows
        assert_eq!(plan_windows(&speech, SR, None).len(), 2);
    }
}
