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
//! Whisper also drops the end of a window: its last segment ends at "it runs fine," and the
//! sentence after it ("in INT8 on the CPU. Nice.", in the window's last 6.5 s) is not written,
//! as if it were the start of a next window, which in batch mode never comes. When the VAD finds at least
//! [`TAIL_MIN_SPEECH_S`] of speech after the last segment's end, that tail is decoded on its own
//! and appended, without the words it repeats ([`DecodeRoute::left_out`]).
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
//! * A tail is decoded only from the end of the last segment (or the next speech after it) to
//!   the window's end, once per window, and only appended: the window's own text stays as it
//!   was, and words at the tail's start that repeat the text's end are left out: word for word,
//!   or a stretch the window's text already holds that the tail heard again in other words, as
//!   long as the repeat ends where the text ends.

use std::sync::Arc;

use futures_util::future::{BoxFuture, FutureExt};

use crate::audio::SAMPLE_RATE;
use crate::engine::recognizer::{EngineError, Hypothesis};
use crate::engine::vad::{SileroModel, segmenter};
use crate::review::text::{is_han, is_latin};

use super::route::DecodeRoute;

/// Longest file window handed to the recognizer by batch transcription, seconds: Whisper's 30 s
/// less a margin for the VAD's padding. Whisper drops speech that ends near its window's edge,
/// which the tail check hears again ([`DecodeRoute::left_out`]); before it, windows stopped at
/// 25 s, which cost a fifth more 30 s encoder passes on a long file (docs/benchmarks.md, section
/// 10).
pub const WINDOW_S: f64 = 29.5;

/// A window with less speech than this (seconds) is not checked: a few words are a few words.
pub const MIN_SPEECH_S: f32 = 8.0;

/// Fewer text units (Han characters, Latin words) per second of speech than this means the
/// decode left speech out: Mandarin is spoken at 3–5 characters a second, English at 2–3 words
/// (more per second of speech, which leaves the pauses out).
pub const MIN_UNITS_PER_S: f32 = 1.5;

/// How many times a piece too short for its speech is cut again.
pub const MAX_DEPTH: usize = 2;

/// Least speech (seconds) the VAD must find after a decode's last segment for that tail to count
/// as unheard. Whisper's last timestamp can come up to about 2 s before the end of the words it
/// wrote (a 30 s clip whose last segment "ended" at 28.0 s held its last words to 29.9 s), so
/// less is no sign of a drop; the drops seen leave 5–10 s of speech unwritten.
pub const TAIL_MIN_SPEECH_S: f32 = 2.5;

/// Fewest units of a loose repeat ([`repeated_prefix`]): below it, only a word-for-word one
/// counts.
const MIN_LOOSE_REPEAT_UNITS: usize = 4;

/// Least share of a loose repeat's units that the window text's end holds in order.
const LOOSE_REPEAT_SHARE: f32 = 0.7;

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
    /// if together they hold more text than `h`. Otherwise, when the window's speech goes on
    /// after `h`'s last segment ([`unheard_tail`]), returns `h` with the tail's decode appended.
    /// `None` keeps `h`: enough text to the end, a single piece, fewer units, nothing new in the
    /// tail, or a decode that failed (logged).
    pub async fn left_out(self, samples: &Arc<[f32]>, window: SpeechWindow, h: &Hypothesis) -> Option<Hypothesis> {
        if let Some(again) = self.pieces(samples, window.clone(), h, MAX_DEPTH).await {
            return Some(again);
        }
        self.tail(samples, &window, h).await
    }

    /// `h` with the decode of its window's unheard tail appended (see [`DecodeRoute::left_out`]).
    async fn tail(self, samples: &Arc<[f32]>, window: &SpeechWindow, h: &Hypothesis) -> Option<Hypothesis> {
        let from = unheard_tail(h, window)?;
        let piece = match self
            .decode(samples[window.start + from..window.end].into(), false)
            .await
        {
            Ok(d) => d.hypothesis,
            Err(e) => {
                tracing::warn!(error = %e, "decoding the unheard tail of a window failed; its own decode is kept");
                return None;
            }
        };
        let piece = without_repeat(&h.text, piece);
        let kept = units(&piece.text) > 0;
        tracing::debug!(
            window_start_s = window.start as f32 / SAMPLE_RATE as f32,
            tail_from_s = from as f32 / SAMPLE_RATE as f32,
            first = %h.text,
            tail = %piece.text,
            kept,
            "speech after a window's last segment decoded on its own"
        );
        self.stats.count_tail_decode(kept);
        if !kept {
            return None;
        }
        let mut out = h.clone();
        append(&mut out, piece, from as f32 / SAMPLE_RATE as f32);
        Some(out)
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
    unit_spans(text).count()
}

/// The byte spans of `text`'s units (Han characters, runs of Latin letters or digits), in order.
fn unit_spans(text: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut chars = text.char_indices().peekable();
    std::iter::from_fn(move || {
        loop {
            let (i, c) = chars.next()?;
            if is_han(c) {
                return Some((i, i + c.len_utf8()));
            }
            if is_latin(c) || c.is_ascii_digit() {
                let mut end = i + c.len_utf8();
                while let Some(&(j, d)) = chars.peek() {
                    if !(is_latin(d) || d.is_ascii_digit()) {
                        break;
                    }
                    end = j + d.len_utf8();
                    chars.next();
                }
                return Some((i, end));
            }
        }
    })
}

/// Where the speech that `h` (the decode of `window`) did not reach begins, relative to the
/// window: after the end of `h`'s last segment, or at the next speech when that end falls in a
/// pause; `None` unless the VAD found at least [`TAIL_MIN_SPEECH_S`] of speech there.
pub fn unheard_tail(h: &Hypothesis, window: &SpeechWindow) -> Option<usize> {
    let last = h.segments.last()?;
    let heard = (last.end.max(0.0) * SAMPLE_RATE as f32) as usize;
    let after: usize = window.speech.iter().map(|&(s, e)| e.saturating_sub(s.max(heard))).sum();
    if (after as f32) < TAIL_MIN_SPEECH_S * SAMPLE_RATE as f32 {
        return None;
    }
    let next = window.speech.iter().find(|&&(_, e)| e > heard)?;
    Some(heard.max(next.0))
}

/// `piece` without the units at its start that repeat the end of `text` ([`repeated_prefix`],
/// compared lower-cased): its text, its first segments' texts and its words, as far as those
/// units reach.
fn without_repeat(text: &str, mut piece: Hypothesis) -> Hypothesis {
    let norm = |t: &str, (s, e): (usize, usize)| t[s..e].to_lowercase();
    let before: Vec<String> = unit_spans(text).map(|u| norm(text, u)).collect();
    let head: Vec<String> = unit_spans(&piece.text).map(|u| norm(&piece.text, u)).collect();
    let k = repeated_prefix(&before, &head);
    if k == 0 {
        return piece;
    }
    piece.text = skip_units(&piece.text, k).to_string();
    let mut left = k;
    while left > 0 && !piece.segments.is_empty() {
        let n = units(&piece.segments[0].text);
        if n <= left {
            left -= n;
            piece.segments.remove(0);
        } else {
            piece.segments[0].text = skip_units(&piece.segments[0].text, left).to_string();
            left = 0;
        }
    }
    let mut left = k;
    while let Some(w) = piece.words.first() {
        let n = units(&w.word);
        if n == 0 || n > left {
            break;
        }
        left -= n;
        piece.words.remove(0);
    }
    piece
}

/// How many units at the start of `head` (a tail's decode) repeat the end of `before` (the
/// window's text), both lower-cased units; 0 when none do. The longest k such that:
///
/// * below [`MIN_LOOSE_REPEAT_UNITS`], `head`'s first k units are `before`'s last k;
/// * from it on, the repeat may be loose: the tail heard again a stretch the window's text
///   already holds, worded a little differently ("there isn't that much difference" / "there's
///   not much difference"). Its last unit is one of `before`'s last two, and at least
///   [`LOOSE_REPEAT_SHARE`] of its units are found, in order, in the stretch of `before` that
///   ends there (at most 3k/2 + 4 units long). A word-for-word repeat is such a stretch too.
fn repeated_prefix(before: &[String], head: &[String]) -> usize {
    for k in (1..=head.len()).rev() {
        if k < MIN_LOOSE_REPEAT_UNITS {
            if k <= before.len() && before[before.len() - k..] == head[..k] {
                return k;
            }
            continue;
        }
        let loose = (0..2.min(before.len())).any(|d| {
            let end = before.len() - d;
            let stretch = &before[end.saturating_sub(k * 3 / 2 + 4)..end];
            stretch.last() == Some(&head[k - 1])
                && in_order(stretch, &head[..k]) as f32 >= LOOSE_REPEAT_SHARE * k as f32
        });
        if loose {
            return k;
        }
    }
    0
}

/// How many units of `b` are found in `a` in order (their longest common subsequence).
fn in_order(a: &[String], b: &[String]) -> usize {
    let mut row = vec![0usize; b.len() + 1];
    for x in a {
        let mut diag = 0;
        for (j, y) in b.iter().enumerate() {
            let up = row[j + 1];
            row[j + 1] = if x == y { diag + 1 } else { up.max(row[j]) };
            diag = up;
        }
    }
    row[b.len()]
}

/// `text` from its `k`-th unit on (empty when it has no more).
fn skip_units(text: &str, k: usize) -> &str {
    match unit_spans(text).nth(k) {
        Some((s, _)) => &text[s..],
        None => "",
    }
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

    fn segment_to(end: f32, text: &str) -> Segment {
        Segment {
            start: 0.0,
            end,
            text: text.into(),
            ..Default::default()
        }
    }

    #[test]
    fn unit_spans_are_han_characters_and_latin_or_digit_runs() {
        let t = "It runs fine, 在 INT8 上。";
        let units: Vec<&str> = unit_spans(t).map(|(s, e)| &t[s..e]).collect();
        assert_eq!(units, ["It", "runs", "fine", "在", "INT8", "上"]);
        assert_eq!(skip_units(t, 3), "在 INT8 上。");
        assert_eq!(skip_units(t, 6), "");
    }

    #[test]
    fn a_tail_is_unheard_only_with_enough_speech_after_the_last_segment() {
        // speech 0–10 s and 10.5–13 s; the decode's last segment ends at 9.8 s
        let window = SpeechWindow {
            start: 0,
            end: 14 * SR,
            speech: vec![(0, 10 * SR), (10 * SR + SR / 2, 13 * SR)],
        };
        let h = |end: f32| Hypothesis {
            text: "words".into(),
            segments: vec![segment_to(end, "words")],
            ..Default::default()
        };
        // 0.2 + 2.5 s of speech after 9.8 s: from 9.8 s, inside the first span
        assert_eq!(unheard_tail(&h(9.8), &window), Some((9.8 * SR as f32) as usize));
        // the end in the pause: from the next span, 2.5 s of speech
        assert_eq!(unheard_tail(&h(10.2), &window), Some(10 * SR + SR / 2));
        // 2 s of speech left: within Whisper's timestamp slack
        assert_eq!(unheard_tail(&h(11.0), &window), None);
        // no segments, or no speech spans (a clip too short for a VAD pass): nothing to say
        assert_eq!(unheard_tail(&Hypothesis::default(), &window), None);
        let no_vad = SpeechWindow {
            speech: vec![],
            ..window
        };
        assert_eq!(unheard_tail(&h(2.0), &no_vad), None);
    }

    #[test]
    fn a_tail_leaves_out_the_words_it_repeats() {
        let piece = |text: &str, words: &[&str]| Hypothesis {
            text: text.into(),
            segments: vec![segment_to(2.0, text)],
            words: words
                .iter()
                .map(|w| crate::engine::recognizer::Word {
                    word: (*w).into(),
                    start: 0.0,
                    end: 0.5,
                })
                .collect(),
            ..Default::default()
        };
        let got = without_repeat(
            "Also, it runs fine,",
            piece(" Fine, and INT8 on the CPU.", &[" Fine,", " and", " INT8"]),
        );
        assert_eq!(got.text, "and INT8 on the CPU.");
        assert_eq!(got.segments[0].text, "and INT8 on the CPU.");
        assert_eq!(got.words.len(), 2);
        // the longest repeat, in Chinese too
        assert_eq!(
            without_repeat("已经改了", piece("改了，VR 也提了", &[])).text,
            "VR 也提了"
        );
        // nothing repeated: the piece as it was
        let same = piece(" and INT8 on the CPU.", &[]);
        assert_eq!(without_repeat("it runs fine,", same.clone()), same);
    }

    #[test]
    fn a_tail_that_hears_the_window_end_again_in_other_words_is_left_out() {
        let text = "I'm in New Jersey now though. Well, there isn't that much difference. At least, you \
                    know, they all call me a Yankee down here. So what can I say? I don't hear that in New Jersey now.";
        let seg = |start: f32, text: &str| Segment {
            start,
            end: start + 2.0,
            text: text.into(),
            ..Default::default()
        };
        let tail = Hypothesis {
            text: " There's not much difference at least they all call me a Yankee down here. So I don't hear \
                   that New Jersey now. Bye."
                .into(),
            segments: vec![
                seg(
                    0.0,
                    " There's not much difference at least they all call me a Yankee down here.",
                ),
                seg(2.0, " So I don't hear that New Jersey now."),
                seg(4.0, " Bye."),
            ],
            ..Default::default()
        };
        // the tail repeats the text's last 24 units loosely: what follows them stays
        let got = without_repeat(text, tail.clone());
        assert_eq!(got.text, "Bye.");
        assert_eq!(got.segments.len(), 1);
        assert_eq!(got.segments[0].text, " Bye.");
        // a repeat must end where the text ends: the same words followed by more of the text are
        // not a repeat of its end
        let longer = format!("{text} Then we talked about the weather for a while.");
        assert_eq!(without_repeat(&longer, tail.clone()), tail);
        // new words that share a few common ones with the text's end are kept
        let new = Hypothesis {
            text: " And I am in the city now.".into(),
            ..Default::default()
        };
        assert_eq!(without_repeat(text, new.clone()), new);
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
