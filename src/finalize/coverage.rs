//! Speech a window's decode left out. Whisper sometimes writes the first sentence of a window
//! and stops, though the voice activity detector found twenty more seconds of speech in it
//! (seen on a code-switched meeting: 13 characters for a window of 21 s of talk). Its segment
//! times do not tell: the one segment may end at 2.9 s, or claim the whole window (0–23 s) when
//! the decoder had the glossary as its prompt. openai-whisper and faster-whisper lose such
//! speech too. The batch pipeline (file windows) and the meeting pipeline (speaker pieces) know
//! how much speech a window holds, so a window whose text is far too short for it is decoded
//! again in shorter windows, cut at its VAD pauses, and the longer of the two transcripts is
//! kept ([`DecodeRoute::left_out`]). A live final (a committed item of a realtime session) is
//! checked the same way; its speech is measured only when its text is too short for the whole
//! item, since the speech can only be shorter ([`DecodeRoute::left_out_of_utterance`]).
//!
//! ```text
//!   window  |■■■ speech ■■■   ■■■■■■ speech ■■■■■■   ■■■ speech ■■■|   21 s of speech
//!   decode  |我们先过一下上周的遗留问题                                 |   13 characters: too few
//!   again   |■■■ piece 1 ■■■  ■■ piece 2 ■■|  |■■■■ piece 3 ■■■■■■■|   each ≤ half the window
//! ```
//!
//! # Invariants
//!
//! * Only windows with enough speech ([`MIN_SPEECH_S`]) and far too little text for it
//!   ([`MIN_UNITS_PER_S`] units — Han characters and Latin words — per second of speech) are
//!   decoded again; the threshold is half of slow speech, so ordinary decodes are not. A piece
//!   still too short is cut again, at most [`MAX_DEPTH`] times in all.
//! * The pieces are cut at the VAD's pauses, never inside speech, and each is at most half the
//!   window; the window's own decode is replaced only by pieces that together hold more text.
//! * A piece that fails leaves the window's own decode in place.

use std::sync::Arc;

use futures_util::future::{BoxFuture, FutureExt};

use crate::audio::SAMPLE_RATE;
use crate::engine::recognizer::{EngineError, Hypothesis};
use crate::engine::vad::{SileroModel, segmenter};
use crate::review::text::{is_han, is_latin};

use super::route::DecodeRoute;

/// A window with less speech than this (seconds) is not checked: a few words are a few words.
pub const MIN_SPEECH_S: f32 = 8.0;

/// Fewer text units (Han characters, Latin words) per second of speech than this means the
/// decode left speech out: Mandarin is spoken at 3–5 characters a second, English at 2–3 words
/// (more per second of speech, which leaves the pauses out).
pub const MIN_UNITS_PER_S: f32 = 1.5;

/// How many times a piece too short for its speech is cut again.
pub const MAX_DEPTH: usize = 2;

/// A stretch of a recording handed to the recognizer: its sample span and the VAD's speech
/// inside it.
#[derive(Debug, Clone, PartialEq)]
pub struct SpeechWindow {
    /// First sample.
    pub start: usize,
    /// One past the last sample.
    pub end: usize,
    /// Speech spans, in samples relative to `start`, in order.
    pub speech: Vec<(usize, usize)>,
}

impl<'a> DecodeRoute<'a> {
    /// When `h` (the decode of `window` of `samples`) is far too short for the window's speech
    /// ([`left_speech_out`]), decodes the window again in shorter pieces cut at its pauses (a
    /// piece still too short is cut again, [`MAX_DEPTH`] times in all) and returns them joined
    /// if together they hold more text than `h`. `None` keeps `h`: enough text, a single piece,
    /// fewer units, or a piece that failed (logged).
    pub async fn left_out(self, samples: &Arc<[f32]>, window: SpeechWindow, h: &Hypothesis) -> Option<Hypothesis> {
        self.pieces(samples, window, h, MAX_DEPTH).await
    }

    /// [`Self::left_out`] for a whole utterance whose speech nobody has measured (a live final):
    /// when `h` is too short even for all of `samples` as speech, the VAD finds the speech (on a
    /// blocking thread) and the window check runs. `None` keeps `h`, as there.
    pub async fn left_out_of_utterance(
        self,
        vad: &SileroModel,
        samples: &Arc<[f32]>,
        h: &Hypothesis,
    ) -> Option<Hypothesis> {
        // speech is never longer than the audio, so text enough for all of it is enough
        if !left_speech_out(&h.text, &[(0, samples.len())]) {
            return None;
        }
        let (vad, audio) = (vad.clone(), samples.clone());
        let speech = match tokio::task::spawn_blocking(move || speech_spans(&vad, &audio, UTTERANCE_MAX_SPAN_S)).await {
            Ok(Ok(speech)) => speech,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "the VAD of a final too short for its audio failed; its decode is kept");
                return None;
            }
            Err(e) => {
                tracing::warn!(error = %e, "the VAD of a final too short for its audio did not finish");
                return None;
            }
        };
        let window = SpeechWindow {
            start: 0,
            end: samples.len(),
            speech,
        };
        self.left_out(samples, window, h).await
    }

    fn pieces<'b>(
        self,
        samples: &'b Arc<[f32]>,
        window: SpeechWindow,
        h: &'b Hypothesis,
        depth: usize,
    ) -> BoxFuture<'b, Option<Hypothesis>>
    where
        'a: 'b,
    {
        async move {
            if depth == 0 || !left_speech_out(&h.text, &window.speech) {
                return None;
            }
            let pieces = pieces(window.end - window.start, &window.speech);
            if pieces.len() < 2 {
                return None;
            }
            let decodes = pieces
                .iter()
                .map(|&(a, b)| self.decode(samples[window.start + a..window.start + b].into(), false));
            let mut again = Hypothesis::default();
            for (&(a, b), d) in pieces.iter().zip(futures_util::future::join_all(decodes).await) {
                let piece = match d {
                    Ok(d) => d.hypothesis,
                    Err(e) => {
                        tracing::warn!(error = %e, "decoding a window again in pieces failed; its own decode is kept");
                        return None;
                    }
                };
                let sub = SpeechWindow {
                    start: window.start + a,
                    end: window.start + b,
                    speech: speech_in(&window.speech, a, b),
                };
                let piece = match self.pieces(samples, sub, &piece, depth - 1).await {
                    Some(better) => better,
                    None => piece,
                };
                append(&mut again, piece, a as f32 / SAMPLE_RATE as f32);
            }
            let kept = units(&again.text) > units(&h.text);
            tracing::debug!(
                window_start_s = window.start as f32 / SAMPLE_RATE as f32,
                pieces = pieces.len(),
                first = %h.text,
                again = %again.text,
                kept,
                "a window whose text is too short for its speech decoded again in pieces"
            );
            self.stats.count_redecode(kept);
            kept.then_some(again)
        }
        .boxed()
    }
}

/// Longest speech span [`DecodeRoute::left_out_of_utterance`] measures, seconds (Whisper's
/// window; the pieces are at most half the utterance anyway).
const UTTERANCE_MAX_SPAN_S: f32 = 30.0;

/// The speech spans of a recording, in order, at most `max_s` seconds each, as the coverage
/// check and the batch windows read them: Silero at its default threshold, pauses of 300 ms or
/// more, 200 ms of padding. Blocking (the VAD runs on the calling thread).
pub fn speech_spans(vad: &SileroModel, samples: &[f32], max_s: f32) -> Result<Vec<(usize, usize)>, EngineError> {
    let probs = vad.probabilities(samples)?;
    let cfg = segmenter::SegmenterConfig {
        min_silence_ms: 300,
        padding_ms: 200,
        max_segment_s: max_s,
        ..Default::default()
    };
    Ok(segmenter::segments(&probs, &cfg)
        .into_iter()
        .map(|(s, e)| (s, e.min(samples.len())))
        .filter(|(s, e)| s < e)
        .collect())
}

/// Text units of `text`: Han characters and runs of Latin letters or digits.
pub fn units(text: &str) -> usize {
    let mut n = 0;
    let mut in_word = false;
    for c in text.chars() {
        let word = is_latin(c) || c.is_ascii_digit();
        if is_han(c) || (word && !in_word) {
            n += 1;
        }
        in_word = word;
    }
    n
}

/// Seconds of speech in `speech` (sample spans).
fn speech_s(speech: &[(usize, usize)]) -> f32 {
    speech.iter().map(|&(s, e)| e.saturating_sub(s)).sum::<usize>() as f32 / SAMPLE_RATE as f32
}

/// Whether `text`, decoded from a window with the VAD's `speech`, is far too short for it.
pub fn left_speech_out(text: &str, speech: &[(usize, usize)]) -> bool {
    let s = speech_s(speech);
    s >= MIN_SPEECH_S && (units(text) as f32) < MIN_UNITS_PER_S * s
}

/// The spans of `speech` (relative to some window) inside `[a, b)`, relative to `a`.
pub fn speech_in(speech: &[(usize, usize)], a: usize, b: usize) -> Vec<(usize, usize)> {
    speech
        .iter()
        .filter(|&&(s, e)| s < b && e > a)
        .map(|&(s, e)| (s.max(a) - a, e.min(b) - a))
        .collect()
}

/// Speech spans (in order) merged greedily into spans of at most `max` samples, cut only at
/// pauses (a single span longer than `max` stays whole). The batch pipeline's windows and the
/// pieces of a window decoded again are both cut this way.
pub fn merge_spans(speech: &[(usize, usize)], max: usize) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    for &(s, e) in speech {
        match out.last_mut() {
            Some(p) if e - p.0 <= max => p.1 = e,
            _ => out.push((s, e)),
        }
    }
    out
}

/// Shorter windows for a window of `len` samples with the VAD's `speech` (relative, in order):
/// its speech merged into pieces of at most half the window ([`merge_spans`]). Relative sample
/// spans, in order.
pub fn pieces(len: usize, speech: &[(usize, usize)]) -> Vec<(usize, usize)> {
    merge_spans(speech, len / 2)
}

/// Appends `piece` (decoded from `offset_s` seconds into `h`'s window) to `h`: its text after a
/// space, its segments and words moved onto `h`'s time axis.
pub fn append(h: &mut Hypothesis, piece: Hypothesis, offset_s: f32) {
    let text = piece.text.trim();
    if text.is_empty() {
        return;
    }
    if !h.text.trim().is_empty() {
        h.text.push(' ');
    }
    h.text.push_str(text);
    h.segments.extend(piece.segments.into_iter().map(|mut s| {
        s.start += offset_s;
        s.end += offset_s;
        // `start - window_offset` stays where the piece's own window began
        s
    }));
    h.words.extend(piece.words.into_iter().map(|mut w| {
        w.start += offset_s;
        w.end += offset_s;
        w
    }));
    h.language = h.language.take().or(piece.language);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::recognizer::Segment;

    const SR: usize = SAMPLE_RATE as usize;

    #[test]
    fn text_units_count_han_characters_and_latin_words() {
        assert_eq!(units("我们先把 Kubernetes 的 HPA 配好"), 9);
        assert_eq!(units("Hello, hello. Oh, p95!"), 4);
        assert_eq!(units(""), 0);
    }

    #[test]
    fn only_far_too_little_text_for_much_speech_counts_as_left_out() {
        // 21 s of speech in three spans
        let speech = [(0, 6 * SR), (7 * SR, 17 * SR), (18 * SR, 23 * SR)];
        assert!(left_speech_out("我们先过一下上周的遗留问题", &speech));
        // slow speech, 2 characters or words a second: a whole transcript
        assert!(!left_speech_out(&"我们先过一下上周的遗留问题。".repeat(4), &speech));
        assert!(!left_speech_out(&"Hello there, this is fine. ".repeat(9), &speech));
        assert!(left_speech_out(&"Hello there, this is fine. ".repeat(5), &speech));
        // little speech: a short text is all there is
        assert!(!left_speech_out("好", &[(0, 5 * SR)]));
        assert!(!left_speech_out("", &[]));
    }

    #[test]
    fn pieces_are_cut_at_pauses_and_at_most_half_the_window() {
        let speech = [(0, 6 * SR), (7 * SR, 11 * SR), (12 * SR, 17 * SR), (18 * SR, 23 * SR)];
        assert_eq!(pieces(24 * SR, &speech), vec![(0, 11 * SR), (12 * SR, 23 * SR)]);
        // a span longer than half the window is a piece of its own
        assert_eq!(
            pieces(24 * SR, &[(0, 14 * SR), (15 * SR, 20 * SR)]),
            vec![(0, 14 * SR), (15 * SR, 20 * SR)]
        );
        assert!(pieces(10, &[]).is_empty());
        // the speech of a piece, on its own time axis
        assert_eq!(
            speech_in(&speech, 12 * SR, 23 * SR),
            vec![(0, 5 * SR), (6 * SR, 11 * SR)]
        );
        assert_eq!(speech_in(&speech, 5 * SR, 8 * SR), vec![(0, SR), (2 * SR, 3 * SR)]);
    }

    #[test]
    fn a_piece_is_appended_on_the_window_time_axis() {
        let seg = |start: f32, end: f32, text: &str| Segment {
            start,
            end,
            text: text.into(),
            ..Default::default()
        };
        let mut h = Hypothesis::default();
        append(
            &mut h,
            Hypothesis {
                text: "我们先过一下上周的遗留问题".into(),
                segments: vec![seg(0.3, 2.9, "我们先过一下上周的遗留问题")],
                ..Default::default()
            },
            0.0,
        );
        let piece = Hypothesis {
            text: " Kubernetes 的 HPA 配好了吗".into(),
            language: Some("zh".into()),
            segments: vec![seg(0.1, 2.0, "Kubernetes 的 HPA 配好了吗")],
            ..Default::default()
        };
        append(&mut h, piece, 2.9);
        assert_eq!(h.text, "我们先过一下上周的遗留问题 Kubernetes 的 HPA 配好了吗");
        assert_eq!(h.segments.len(), 2);
        assert!((h.segments[1].start - 3.0).abs() < 1e-5 && (h.segments[1].end - 4.9).abs() < 1e-5);
        assert_eq!(h.language.as_deref(), Some("zh"));
        // an empty piece changes nothing
        let before = h.clone();
        append(&mut h, Hypothesis::default(), 5.0);
        assert_eq!(h, before);
    }
}
