//! Bounded-cost partials: which audio a partial of the open utterance decodes, and how the words
//! of that decode are spliced onto the utterance's *settled prefix*.
//!
//! Re-decoding the whole open utterance for every partial makes a partial's cost grow with the
//! utterance and an utterance's total partial cost with its square. For engines whose words carry
//! times tied to the audio frames at no extra cost (CTC: SenseVoice), a partial instead decodes
//! only a *tail window*: the audio after the settled boundary plus a little left context.
//!
//! ```text
//!  item audio  0 ─────────────────────────── boundary ───────────────────── end
//!              │ settled words (fixed text) │ unsettled tail (decoded anew) │
//!                            ├── context ───┤
//!                            window start                                  window end
//! ```
//!
//! * **Splice.** Words of the window whose first frame lies before the boundary belong to the
//!   context (their text is already in the settled prefix) and are dropped; the rest follow the
//!   settled words. The hypothesis handed to the stabiliser is settled words + tail words, joined
//!   as the engine joins them (a space between words, none between two CJK characters).
//! * **Settle.** Tail words that end at least `tail_s` before the window end (they had that much
//!   right context) become settled; the boundary moves to the middle of the gap after the last
//!   of them, so that the next decode sees it inside its context. Audio with no word at all is
//!   passed over the same way (the boundary stops a margin before the next word). So the unsettled
//!   tail stays about `tail_s` + one partial interval long, and a window about that plus
//!   `context_s`, however long the utterance grows.
//! * **Monotone.** Settled words are never changed or removed and the boundary never moves back;
//!   the stabiliser on top keeps the deltas append-only as before. Finals are not affected: they
//!   always decode the whole utterance.
//!
//! * **Prompted engines.** Whisper drafts have no frame-aligned word times, but their segments
//!   carry timestamp tokens and their decoder takes a prompt (`[realtime]
//!   partial_tail_prompted`). Their segments are spliced as the units ([`timed_units`]): a
//!   segment that ends `tail_s` before the window's end settles whole, and the next draft decodes
//!   from the boundary with no left context (a Whisper segment cannot be cut at a frame) and the
//!   settled text as its prompt. A draft that writes one segment settles nothing, so a short
//!   utterance is decoded whole as before.
//!
//! Everything here is plain arithmetic on sample positions (16 kHz, relative to the item's first
//! sample) and word times (seconds, relative to the decoded window), tested without sockets or
//! engines.

use crate::engine::recognizer::{Hypothesis, Word};
use crate::realtime::stabilizer::is_cjk;

/// Samples per second of item audio.
const RATE: f32 = 16_000.0;
/// How far before the first unsettled word the boundary stops when it passes over audio with no
/// word: two CTC frames of SenseVoice (60 ms each), so a spike that moves by a frame between
/// decodes still lands after the boundary.
const WORD_MARGIN_S: f32 = 0.12;

/// Shape of the tail window (`[realtime] partial_tail_s`, `partial_context_s`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TailConfig {
    /// Right context a word needs before it settles, seconds: the unsettled tail stays about this
    /// long (plus one partial interval).
    pub tail_s: f32,
    /// Settled audio decoded again before the boundary as left context, seconds.
    pub context_s: f32,
}

/// The item-relative samples a partial decoded: `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// First sample of the window.
    pub start: usize,
    /// One past the last sample (the item's length when the partial was asked for).
    pub end: usize,
}

/// The settled prefix of one open item.
#[derive(Debug, Clone, Default)]
pub struct TailSplicer {
    /// Settled words, as written.
    settled: Vec<String>,
    /// Item-relative sample where the unsettled tail begins.
    boundary: usize,
}

impl TailSplicer {
    /// A splicer for a fresh item: nothing settled, the whole item is the tail.
    pub fn new() -> Self {
        Self::default()
    }

    /// The settled words so far.
    pub fn settled(&self) -> &[String] {
        &self.settled
    }

    /// Item-relative sample where the unsettled tail begins.
    pub fn boundary(&self) -> usize {
        self.boundary
    }

    /// The settled text, joined as the engines join words: the prompt of a prompted tail
    /// decode (Whisper drafts, [`timed_units`]).
    pub fn settled_text(&self) -> String {
        join_words(self.settled.iter().map(String::as_str))
    }

    /// The window the next partial of an item of `len` samples decodes.
    pub fn window(&self, cfg: &TailConfig, len: usize) -> Window {
        let context = secs_to_samples(cfg.context_s);
        Window {
            start: self.boundary.saturating_sub(context).min(len),
            end: len,
        }
    }

    /// Splices the words of a decode of `window` (times relative to `window.start`) onto the
    /// settled prefix, settles what has enough right context, and returns the item's whole
    /// hypothesis: settled words, then the tail's words.
    pub fn splice(&mut self, cfg: &TailConfig, window: Window, words: &[Word]) -> String {
        // Item-relative sample positions of each word's first and last frame.
        let tail: Vec<(&str, usize, usize)> = words
            .iter()
            .filter(|w| !w.word.trim().is_empty())
            .map(|w| {
                let a = window.start + secs_to_samples(w.start);
                let b = (window.start + secs_to_samples(w.end)).max(a);
                (w.word.trim(), a, b)
            })
            .filter(|&(_, a, _)| a >= self.boundary)
            .collect();
        let text = join_words(self.settled.iter().map(String::as_str).chain(tail.iter().map(|t| t.0)));
        self.settle(cfg, window, &tail);
        text
    }

    /// Moves the words with `cfg.tail_s` of right context into the settled prefix and the
    /// boundary past them (or past wordless audio).
    fn settle(&mut self, cfg: &TailConfig, window: Window, tail: &[(&str, usize, usize)]) {
        let Some(limit) = window.end.checked_sub(secs_to_samples(cfg.tail_s)) else {
            return;
        };
        if limit <= self.boundary {
            return;
        }
        let margin = secs_to_samples(WORD_MARGIN_S);
        let ready = tail.iter().take_while(|&&(_, _, end)| end <= limit).count();
        let next = if ready == 0 {
            // No word has enough right context: pass over wordless audio only, stopping a margin
            // before the first word (or at the limit when there is none).
            match tail.first() {
                Some(&(_, start, _)) => start.saturating_sub(margin).min(limit),
                None => limit,
            }
        } else {
            let last_end = tail[ready - 1].2;
            let gap_end = tail.get(ready).map_or(limit.max(last_end), |w| w.1.max(last_end));
            self.settled.extend(tail[..ready].iter().map(|w| w.0.to_string()));
            last_end + (gap_end - last_end) / 2
        };
        self.boundary = self.boundary.max(next);
    }
}

/// The timed units of a tail decode to splice: its words when the engine gave them (CTC word
/// times), else its segments (Whisper drafts: a segment is spliced and settles as a whole, at
/// the times of its timestamp tokens).
pub fn timed_units(h: &Hypothesis) -> Vec<Word> {
    if !h.words.is_empty() {
        return h.words.clone();
    }
    h.segments
        .iter()
        .map(|s| Word {
            word: s.text.trim().to_string(),
            start: s.start,
            end: s.end,
        })
        .collect()
}

/// Joins words as the CTC engines write them: a space between words, none between two CJK
/// characters.
pub fn join_words<'a>(words: impl IntoIterator<Item = &'a str>) -> String {
    let mut text = String::new();
    let mut last_cjk = true;
    for w in words {
        let first_cjk = w.chars().next().is_some_and(is_cjk);
        if !(text.is_empty() || first_cjk && last_cjk) {
            text.push(' ');
        }
        text.push_str(w);
        last_cjk = w.chars().last().is_some_and(is_cjk);
    }
    text
}

fn secs_to_samples(s: f32) -> usize {
    if s.is_finite() && s > 0.0 {
        (s * RATE).round() as usize
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CFG: TailConfig = TailConfig {
        tail_s: 1.0,
        context_s: 0.5,
    };

    fn w(word: &str, start: f32, end: f32) -> Word {
        Word {
            word: word.into(),
            start,
            end,
        }
    }

    /// Words of a decode of `window`, given with item-relative times.
    fn decoded(window: Window, item_words: &[(&str, f32, f32)]) -> Vec<Word> {
        let off = window.start as f32 / RATE;
        item_words
            .iter()
            .filter(|(_, a, _)| *a >= off - 1e-6)
            .map(|&(t, a, b)| w(t, a - off, b - off))
            .collect()
    }

    const S: usize = 16_000;

    #[test]
    fn short_items_are_decoded_whole_and_nothing_settles() {
        let mut sp = TailSplicer::new();
        let win = sp.window(&CFG, S * 3 / 2);
        assert_eq!(win, Window { start: 0, end: 24_000 });
        let text = sp.splice(&CFG, win, &[w("hello", 0.3, 0.6), w("world", 0.7, 1.1)]);
        assert_eq!(text, "hello world");
        // "hello" ends at 0.6 s, within 1 s of the end (1.5 s): not settled yet; only the
        // silence before it is passed over, up to 120 ms before its first frame
        assert!(sp.settled().is_empty());
        assert_eq!(sp.boundary(), (0.18 * RATE).round() as usize);
    }

    #[test]
    fn words_with_enough_right_context_settle_and_the_window_stays_bounded() {
        // a steady talker: one word every 0.5 s, each 0.3 s long
        let words: Vec<(String, f32, f32)> = (0..40)
            .map(|i| (format!("w{i}"), 0.2 + 0.5 * i as f32, 0.5 + 0.5 * i as f32))
            .collect();
        let item: Vec<(&str, f32, f32)> = words.iter().map(|(t, a, b)| (t.as_str(), *a, *b)).collect();
        let mut sp = TailSplicer::new();
        let mut longest = 0;
        for step in 1..=100 {
            let len = step * S / 5; // a partial every 200 ms, up to 20 s
            let win = sp.window(&CFG, len);
            longest = longest.max(win.end - win.start);
            let heard: Vec<_> = item
                .iter()
                .copied()
                .filter(|&(_, _, b)| b <= len as f32 / RATE)
                .collect();
            let text = sp.splice(&CFG, win, &decoded(win, &heard));
            let expected = join_words(heard.iter().map(|h| h.0));
            assert_eq!(text, expected, "at {len} samples");
        }
        // the settled prefix grew with the utterance; the window did not
        assert!(sp.settled().len() >= 35, "{}", sp.settled().len());
        assert!(longest <= S * 22 / 10, "window {longest} samples");
    }

    #[test]
    fn context_words_are_dropped_and_tail_words_kept_by_their_first_frame() {
        let mut sp = TailSplicer {
            settled: vec!["one".into(), "two".into()],
            boundary: 2 * S,
        };
        let win = sp.window(&CFG, 3 * S);
        assert_eq!(win.start, 2 * S - S / 2);
        // "two" (re-decoded in the context, its first frame before the boundary) is dropped;
        // "three" starts after it
        let text = sp.splice(&CFG, win, &[w("two", 0.2, 0.45), w("three", 0.6, 0.9)]);
        assert_eq!(text, "one two three");
        // a tail decode that disagrees with the settled words cannot change them
        let text = sp.splice(&CFG, win, &[w("to", 0.2, 0.45), w("tree", 0.6, 0.9)]);
        assert_eq!(text, "one two tree");
    }

    #[test]
    fn wordless_audio_is_passed_over_and_the_next_word_keeps_its_margin() {
        let mut sp = TailSplicer::new();
        // 3 s of silence: the boundary moves to 1 s before the end
        let win = sp.window(&CFG, 3 * S);
        assert_eq!(sp.splice(&CFG, win, &[]), "");
        assert_eq!(sp.boundary(), 2 * S);
        assert!(sp.settled().is_empty());
        // then a word starting at 3.2 s heard at 4 s: not settled, boundary stops before it
        let win = sp.window(&CFG, 4 * S);
        assert_eq!(win.start, 2 * S - S / 2);
        let text = sp.splice(&CFG, win, &[w("late", 1.7, 2.3)]);
        assert_eq!(text, "late");
        // it starts at 3.2 s; 0.12 s before that is past the 3 s limit, so the limit wins
        assert_eq!(sp.boundary(), 3 * S);
        // heard again at 5 s it has its second of right context and settles
        let win = sp.window(&CFG, 5 * S);
        assert_eq!(sp.splice(&CFG, win, &[w("late", 0.7, 1.3)]), "late");
        assert_eq!(sp.settled(), ["late"]);
    }

    #[test]
    fn the_boundary_lands_in_the_gap_after_the_settled_words() {
        let mut sp = TailSplicer::new();
        let win = sp.window(&CFG, 4 * S);
        let text = sp.splice(
            &CFG,
            win,
            &[w("a", 0.1, 0.5), w("b", 1.0, 1.6), w("c", 2.0, 2.8), w("d", 3.3, 3.9)],
        );
        assert_eq!(text, "a b c d");
        // a, b and c end by 3 s; d does not: the boundary is halfway between c's end and d's start
        assert_eq!(sp.settled(), ["a", "b", "c"]);
        assert_eq!(
            sp.boundary(),
            (2.8 * RATE) as usize + ((3.3 - 2.8) * RATE / 2.0) as usize
        );
        // the boundary never moves back, even if a later decode hears nothing
        let before = sp.boundary();
        let win = sp.window(&CFG, 4 * S);
        assert_eq!(sp.splice(&CFG, win, &[]), "a b c");
        assert!(sp.boundary() >= before);
    }

    #[test]
    fn cjk_words_join_without_spaces_and_mixed_text_with_them() {
        assert_eq!(join_words(["你", "好", "world", "吗"]), "你好 world 吗");
        assert_eq!(join_words(std::iter::empty()), "");
        let mut sp = TailSplicer {
            settled: vec!["今".into(), "天".into()],
            boundary: S,
        };
        let win = sp.window(&CFG, 2 * S);
        assert_eq!(sp.splice(&CFG, win, &[w("好", 0.6, 0.7)]), "今天好");
    }

    #[test]
    fn bad_times_and_empty_words_are_harmless() {
        let mut sp = TailSplicer::new();
        let win = sp.window(&CFG, 2 * S);
        let text = sp.splice(
            &CFG,
            win,
            &[w(" ", 0.1, 0.2), w("x", f32::NAN, f32::INFINITY), w("y", 0.5, 0.2)],
        );
        assert_eq!(text, "x y");
        let zero = TailConfig {
            tail_s: 0.0,
            context_s: -1.0,
        };
        let win = sp.window(&zero, 0);
        assert_eq!(win, Window { start: 0, end: 0 });
        let _ = sp.splice(&zero, win, &[]);
    }

    #[test]
    fn a_prompted_engines_segments_settle_whole_and_its_next_window_has_no_context() {
        use crate::engine::recognizer::Segment;
        let cfg = TailConfig {
            tail_s: 1.0,
            context_s: 0.0,
        };
        let seg = |text: &str, start: f32, end: f32| Segment {
            text: text.into(),
            start,
            end,
            ..Default::default()
        };
        // a Whisper draft of 6 s: two segments, no words
        let h = Hypothesis {
            text: "And so my fellow Americans, ask not".into(),
            segments: vec![seg(" And so my fellow Americans,", 0.0, 3.2), seg(" ask not", 3.2, 6.0)],
            ..Default::default()
        };
        let units = timed_units(&h);
        assert_eq!(units[0].word, "And so my fellow Americans,");
        let mut sp = TailSplicer::new();
        let win = sp.window(&cfg, 6 * S);
        let text = sp.splice(&cfg, win, &units);
        assert_eq!(text, "And so my fellow Americans, ask not");
        // the first segment ended 2.8 s before the end: settled whole; the boundary is at its end
        assert_eq!(sp.settled_text(), "And so my fellow Americans,");
        assert_eq!(sp.boundary(), (3.2 * RATE).round() as usize);
        // the next window starts there, with no context
        let win = sp.window(&cfg, 8 * S);
        assert_eq!(win.start, sp.boundary());
        // a draft of one segment settles nothing: a short utterance is decoded whole as before
        let mut sp = TailSplicer::new();
        let one = timed_units(&Hypothesis {
            segments: vec![seg("ask not", 0.0, 2.5)],
            ..Default::default()
        });
        sp.splice(&cfg, sp.window(&cfg, 3 * S), &one);
        assert!(sp.settled().is_empty());
        // CTC words win over segments when the engine gave both
        let both = Hypothesis {
            words: vec![w("ask", 0.1, 0.3)],
            segments: vec![seg("ask", 0.0, 0.4)],
            ..Default::default()
        };
        assert_eq!(timed_units(&both), vec![w("ask", 0.1, 0.3)]);
    }
}
