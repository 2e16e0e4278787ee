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
use crate::finalize::coverage::{merge_spans, speech_in};

pub use crate::meeting::diarize::Turn;

/// Longest window, seconds (Whisper's 30 s window with a margin, as in batch).
pub const MAX_WINDOW_S: f64 = 25.0;
/// Windows shorter than this are not transcribed (too short to hold a word).
pub const MIN_WINDOW_S: f64 = 0.3;

/// One speaker's stretch of a window: what the timeline's segments hang from.
pub type Piece = Turn;

/// Cuts the recording's `speech` spans (samples at `rate`, in order) into windows of at most
/// [`MAX_WINDOW_S`], each with the speech inside it.
pub fn plan_windows(speech: &[(usize, usize)], rate: usize) -> Vec<SpeechWindow> {
    let max = (MAX_WINDOW_S * rate as f64) as usize;
    let min = (MIN_WINDOW_S * rate as f64) as usize;
    // a span longer than a window is cut evenly first
    let mut spans: Vec<(usize, usize)> = Vec::with_capacity(speech.len());
    for &(s, e) in speech.iter().filter(|(s, e)| e > s) {
        let n = (e - s).div_ceil(max);
        let step = (e - s).div_ceil(n);
        spans.extend((0..n).map(|k| (s + k * step, (s + (k + 1) * step).min(e))));
    }
    merge_spans(&spans, max)
        .into_iter()
        .filter(|(s, e)| e - s >= min)
        .map(|(start, end)| SpeechWindow {
            start,
            end,
            speech: speech_in(&spans, start, end),
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
        let w = plan_windows(&speech, SR);
        let bounds: Vec<(usize, usize)> = w.iter().map(|w| (w.start, w.end)).collect();
        // the too-short last span is no window
        assert_eq!(bounds, [s(0.0, 20.0), s(21.0, 35.0)]);
        assert_eq!(w[1].speech, [(0, 9 * SR), (10 * SR, 14 * SR)]);
    }

    #[test]
    fn a_long_stretch_of_speech_is_cut_evenly_and_no_window_is_too_long() {
        let speech = [s(0.0, 60.0), s(61.0, 62.0)];
        let w = plan_windows(&speech, SR);
        for x in &w {
            assert!(
                x.end - x.start <= (MAX_WINDOW_S as usize) * SR,
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
}
