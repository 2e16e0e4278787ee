//! Turns per-frame speech probabilities into speech segments, with hysteresis: speech starts when
//! the probability reaches `threshold`, and ends after `min_silence_ms` below `threshold - 0.15`.
//! Segments shorter than `min_speech_ms` are dropped; long ones are cut at `max_segment_s`.
//! `padding_ms` extends each segment on both sides. Times are in samples at 16 kHz.
//!
//! # Cutting long speech
//!
//! A segment that reaches `max_segment_s` is not cut at that frame, which usually falls inside a
//! word: it is cut at the quietest point of its second half ([`quietest_cut`]), the longest run
//! of frames below the end threshold there (a breath between sentences is often 100–400 ms,
//! shorter than `min_silence_ms`), else its least speech-like frame. The speech after the cut
//! goes on as the next segment, so both events come from the same frame:
//!
//! ```text
//!   speech ████████████████▁▁▁██████████|  max reached here
//!          ^start          ^cut^next     ^frame
//!   → SpeechStopped { start, end: cut (+ up to half the pause as padding) }
//!   → SpeechStarted { start: next (− up to half the pause) }
//! ```
//!
//! # Invariants
//!
//! * No segment is longer than `max_segment_s` plus its padding.
//! * A cut adds no overlap: the two sides of a cut share no sample, since their padding comes
//!   from the pause only, at most half of it each (a cut without a pause has none). Segments
//!   that silence separates may still share padding, as before (300 ms on each side of a 500 ms
//!   silence). When the quietest run is the one still going on, the segment ends where it began,
//!   and speech after it starts a segment as after any silence.

use super::FRAME;

/// Segmenter settings.
#[derive(Debug, Clone)]
pub struct SegmenterConfig {
    /// Probability at which speech starts (0–1).
    pub threshold: f32,
    /// Speech shorter than this is ignored.
    pub min_speech_ms: u32,
    /// Silence this long ends a segment.
    pub min_silence_ms: u32,
    /// Segments are cut at this length.
    pub max_segment_s: f32,
    /// Audio kept before the detected start (the realtime API's `prefix_padding_ms`).
    pub padding_ms: u32,
}

impl Default for SegmenterConfig {
    fn default() -> Self {
        Self {
            threshold: 0.5,
            min_speech_ms: 250,
            min_silence_ms: 500,
            max_segment_s: 30.0,
            padding_ms: 300,
        }
    }
}

/// What happened at a frame boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VadEvent {
    /// Speech began; `start` includes the padding (clamped at 0).
    SpeechStarted {
        /// Start sample, padding included.
        start: usize,
    },
    /// Speech ended; `end` is the last speech sample plus padding.
    SpeechStopped {
        /// Start sample of the segment, padding included.
        start: usize,
        /// End sample, padding included (not beyond the audio seen).
        end: usize,
    },
}

/// Streaming segmenter state.
#[derive(Debug, Clone)]
pub struct Segmenter {
    cfg: SegmenterConfig,
    frames_seen: usize,
    in_speech: bool,
    start_frame: usize,
    last_speech_frame: usize,
    /// End (exclusive) of the last frame at or above the end threshold: where the current
    /// quiet run, if any, began.
    sound_end_frame: usize,
    confirmed: bool,
    /// First sample of the open segment as its `SpeechStarted` gave it (padding included).
    start_sample: usize,
    /// Probabilities of the open segment's frames, from `start_frame` on (for a cut).
    probs: Vec<f32>,
}

const MS_PER_FRAME: f32 = FRAME as f32 / 16.0;

impl Segmenter {
    /// A segmenter in the silent state.
    pub fn new(cfg: SegmenterConfig) -> Self {
        Self {
            cfg,
            frames_seen: 0,
            in_speech: false,
            start_frame: 0,
            last_speech_frame: 0,
            sound_end_frame: 0,
            confirmed: false,
            start_sample: 0,
            probs: Vec::new(),
        }
    }

    /// Current settings.
    pub fn config(&self) -> &SegmenterConfig {
        &self.cfg
    }

    /// Replaces the settings (takes effect at the next frame).
    pub fn set_config(&mut self, cfg: SegmenterConfig) {
        self.cfg = cfg;
    }

    /// Whether a confirmed speech segment is open.
    pub fn in_speech(&self) -> bool {
        self.in_speech && self.confirmed
    }

    /// Samples seen so far.
    pub fn position(&self) -> usize {
        self.frames_seen * FRAME
    }

    /// Sample where the last frame that was not silence (probability at or above the end
    /// threshold) ended; [`Segmenter::position`] when the latest frame was such a frame, 0 before
    /// any. Audio from here to [`Segmenter::position`] is one quiet run.
    pub fn sound_end(&self) -> usize {
        self.sound_end_frame * FRAME
    }

    /// The end a [`VadEvent::SpeechStopped`] would give the open segment if the silence now
    /// going on lasts long enough to end it: its last speech frame plus the padding, once that
    /// much audio has been seen (`None` while no confirmed segment is open or the padding is not
    /// yet heard). It stays the same until a frame reaches the threshold again, so a caller may
    /// start on the segment's audio before the turn ends (an early final) and keep the work if
    /// the `SpeechStopped` that follows has this end.
    pub fn likely_end(&self) -> Option<usize> {
        let end = (self.last_speech_frame + 1) * FRAME + self.pad();
        (self.in_speech() && self.last_speech_frame + 1 < self.frames_seen && end <= self.position()).then_some(end)
    }

    fn pad(&self) -> usize {
        self.cfg.padding_ms as usize * 16
    }

    /// Feeds one frame's probability; returns the events it caused (at most two).
    pub fn push(&mut self, prob: f32) -> Vec<VadEvent> {
        let frame = self.frames_seen;
        self.frames_seen += 1;
        let mut ev = Vec::new();
        let min_speech_frames = (self.cfg.min_speech_ms as f32 / MS_PER_FRAME).ceil().max(1.0) as usize;
        let min_silence_frames = (self.cfg.min_silence_ms as f32 / MS_PER_FRAME).ceil().max(1.0) as usize;
        let max_frames = ((self.cfg.max_segment_s * 1000.0 / MS_PER_FRAME) as usize).max(2);
        let neg = self.neg();
        if prob >= neg {
            self.sound_end_frame = frame + 1;
        }
        if prob >= self.cfg.threshold {
            if !self.in_speech {
                self.in_speech = true;
                self.confirmed = false;
                self.start_frame = frame;
                self.probs.clear();
            }
            self.last_speech_frame = frame;
        }
        if self.in_speech {
            self.probs.push(prob);
            if !self.confirmed && frame + 1 - self.start_frame >= min_speech_frames && prob >= neg {
                self.confirmed = true;
                self.start_sample = (self.start_frame * FRAME).saturating_sub(self.pad());
                ev.push(VadEvent::SpeechStarted {
                    start: self.start_sample,
                });
            }
            let silent_for = frame - self.last_speech_frame;
            if prob < neg && silent_for >= min_silence_frames {
                if self.confirmed {
                    let end = ((self.last_speech_frame + 1) * FRAME + self.pad()).min(self.position());
                    ev.push(VadEvent::SpeechStopped {
                        start: self.start_sample,
                        end,
                    });
                }
                self.in_speech = false;
                self.confirmed = false;
            } else if self.confirmed && frame + 1 - self.start_frame >= max_frames {
                ev.extend(self.cut(max_frames));
            } else if !self.confirmed && prob < neg && silent_for >= 2 {
                // a blip that never became speech
                self.in_speech = false;
            }
        }
        ev
    }

    /// Probability below which a frame counts as silence (the end threshold).
    fn neg(&self) -> f32 {
        (self.cfg.threshold - 0.15).max(0.01)
    }

    /// Cuts the open segment, which has reached `max_frames`, at the quietest point of its
    /// second half; the speech after the cut stays open as a new segment (module docs). When
    /// the quiet run is the one still going on, the segment just ends where it began.
    fn cut(&mut self, max_frames: usize) -> Vec<VadEvent> {
        let from = max_frames / 2;
        let (quiet, resume) = quietest_cut(&self.probs[from..], self.neg());
        let (quiet, resume) = (from + quiet, from + resume);
        let half_pause = ((resume - quiet) * FRAME / 2).min(self.pad());
        let end = (self.start_frame + quiet) * FRAME + half_pause;
        let mut ev = vec![VadEvent::SpeechStopped {
            start: self.start_sample,
            end,
        }];
        if resume < self.probs.len() {
            self.start_sample = (self.start_frame + resume) * FRAME - half_pause;
            ev.push(VadEvent::SpeechStarted {
                start: self.start_sample,
            });
            self.probs.drain(..resume);
            self.start_frame += resume;
        } else {
            self.in_speech = false;
            self.confirmed = false;
        }
        ev
    }

    /// Drops an open segment without an event (after a manual commit or a clear).
    pub fn force_end(&mut self) {
        self.in_speech = false;
        self.confirmed = false;
    }

    /// Ends the stream: closes an open segment at the last frame.
    pub fn finish(&mut self) -> Option<VadEvent> {
        if self.in_speech && self.confirmed {
            self.in_speech = false;
            self.confirmed = false;
            return Some(VadEvent::SpeechStopped {
                start: self.start_sample,
                end: self.position(),
            });
        }
        self.in_speech = false;
        None
    }
}

/// Where to cut speech whose frame probabilities are `probs`: `(quiet, resume)`, the frames
/// where the longest run of frames below `neg` begins and ends (the latest of equally long
/// runs; a run still going on at the last frame ends at `probs.len()`), or, with no such frame,
/// the least probable frame but the first (the latest of equals) as both.
pub fn quietest_cut(probs: &[f32], neg: f32) -> (usize, usize) {
    let mut best: Option<(usize, usize)> = None;
    let mut run: Option<usize> = None;
    for (i, &p) in probs.iter().chain(std::iter::once(&f32::INFINITY)).enumerate() {
        match (p < neg, run) {
            (true, None) => run = Some(i),
            (false, Some(r)) => {
                if best.is_none_or(|(q, e)| i - r >= e - q) {
                    best = Some((r, i));
                }
                run = None;
            }
            _ => {}
        }
    }
    best.unwrap_or_else(|| {
        let least = (1..probs.len())
            .rev()
            .min_by(|&a, &b| probs[a].total_cmp(&probs[b]))
            .unwrap_or(probs.len());
        (least, least)
    })
}

/// Runs a segmenter over a whole probability track; returns `(start, end)` sample ranges.
pub fn segments(probs: &[f32], cfg: &SegmenterConfig) -> Vec<(usize, usize)> {
    let mut s = Segmenter::new(cfg.clone());
    let mut out = Vec::new();
    for &p in probs {
        for e in s.push(p) {
            if let VadEvent::SpeechStopped { start, end } = e {
                out.push((start, end));
            }
        }
    }
    if let Some(VadEvent::SpeechStopped { start, end }) = s.finish() {
        out.push((start, end));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn track(pattern: &[(f32, usize)]) -> Vec<f32> {
        pattern.iter().flat_map(|&(p, n)| std::iter::repeat_n(p, n)).collect()
    }

    /// Every event of a segmenter fed `probs`, with the frame that caused it.
    fn events(probs: &[f32], cfg: &SegmenterConfig) -> Vec<(usize, VadEvent)> {
        let mut s = Segmenter::new(cfg.clone());
        let mut out = Vec::new();
        for (i, &p) in probs.iter().enumerate() {
            out.extend(s.push(p).into_iter().map(|e| (i, e)));
        }
        out
    }

    #[test]
    fn sound_end_marks_where_the_quiet_run_began() {
        let mut s = Segmenter::new(SegmenterConfig::default());
        assert_eq!(s.sound_end(), 0);
        // 0.4 is below the start threshold but above the end threshold: still sound
        for p in track(&[(0.9, 10), (0.4, 2), (0.1, 3)]) {
            s.push(p);
        }
        assert_eq!(s.sound_end(), 12 * FRAME);
        assert_eq!(s.position(), 15 * FRAME);
        s.push(0.8);
        assert_eq!(s.sound_end(), s.position(), "the latest frame is sound");
    }

    #[test]
    fn the_likely_end_is_known_once_the_padding_is_heard_and_is_the_end_that_follows() {
        let cfg = SegmenterConfig {
            padding_ms: 64, // 2 frames
            ..SegmenterConfig::default()
        };
        let min_silence_frames = (cfg.min_silence_ms as f32 / MS_PER_FRAME).ceil() as usize;
        // speech at frames 10..20, a pause of 5 frames (shorter than min_silence), speech 25..30,
        // then silence until the segment ends
        let probs = track(&[(0.0, 10), (0.9, 10), (0.0, 5), (0.9, 5), (0.0, min_silence_frames + 2)]);
        let mut s = Segmenter::new(cfg);
        let mut likely = Vec::new();
        let mut stopped = None;
        for (i, p) in probs.iter().enumerate() {
            for e in s.push(*p) {
                if let VadEvent::SpeechStopped { end, .. } = e {
                    stopped = Some((i, end));
                }
            }
            likely.push(s.likely_end());
        }
        let (stop_frame, end) = stopped.expect("the segment ends");
        // nothing while speech goes on or before the padding is heard
        assert_eq!(likely[19], None);
        assert_eq!(likely[20], None);
        // in the short pause: the end the segment would have, which the next speech withdraws
        assert_eq!(likely[21], Some(20 * FRAME + 2 * FRAME));
        assert_eq!(likely[25], None);
        // in the final silence, from the padding on, it is the end that SpeechStopped gives
        assert_eq!(likely[31], Some(end));
        assert!(likely[31..stop_frame].iter().all(|l| *l == Some(end)));
        assert_eq!(likely[stop_frame], None);
    }

    #[test]
    fn finds_two_segments_with_padding() {
        let cfg = SegmenterConfig {
            padding_ms: 64,
            ..Default::default()
        };
        // 10 silent, 30 speech (~1 s), 20 silent (640 ms), 30 speech, 5 silent (stream ends)
        let p = track(&[(0.0, 10), (0.9, 30), (0.0, 20), (0.9, 30), (0.0, 5)]);
        let segs = segments(&p, &cfg);
        assert_eq!(segs.len(), 2, "{segs:?}");
        assert_eq!(segs[0].0, 10 * FRAME - 64 * 16);
        assert_eq!(segs[0].1, 40 * FRAME + 64 * 16);
        assert_eq!(segs[1].1, 95 * FRAME, "open segment is closed at the end of the stream");
    }

    #[test]
    fn short_blips_and_short_pauses() {
        let cfg = SegmenterConfig::default();
        // a 2-frame blip is not speech; a 5-frame pause (160 ms) does not split a segment
        let p = track(&[(0.9, 2), (0.0, 30), (0.9, 20), (0.1, 5), (0.9, 20), (0.0, 40)]);
        let segs = segments(&p, &cfg);
        assert_eq!(segs.len(), 1, "{segs:?}");
    }

    #[test]
    fn quietest_cut_takes_the_longest_quiet_run_else_the_least_speech_like_frame() {
        let neg = 0.35;
        // two quiet runs: 2 frames at 2..4, 3 frames at 6..9 → the longer
        assert_eq!(
            quietest_cut(&[0.9, 0.9, 0.1, 0.1, 0.9, 0.9, 0.2, 0.1, 0.3, 0.9], neg),
            (6, 9)
        );
        // equally long: the later
        assert_eq!(quietest_cut(&[0.9, 0.1, 0.9, 0.1, 0.9], neg), (3, 4));
        // a run still going on ends at the track's end
        assert_eq!(quietest_cut(&[0.9, 0.9, 0.1, 0.1], neg), (2, 4));
        // no quiet frame: the least speech-like one (never the first), the later of equals
        assert_eq!(quietest_cut(&[0.4, 0.9, 0.6, 0.8, 0.6, 0.95], neg), (4, 4));
        assert_eq!(quietest_cut(&[0.9], neg), (1, 1));
    }

    #[test]
    fn long_speech_is_cut_in_its_pause_and_goes_on_without_overlap() {
        let cfg = SegmenterConfig {
            max_segment_s: 3.2, // 100 frames
            padding_ms: 96,     // 3 frames
            ..Default::default()
        };
        // speech from frame 10; a 4-frame breath at 80..84 (shorter than min_silence); speech on
        // to frame 150, then silence
        let p = track(&[(0.0, 10), (0.9, 70), (0.1, 4), (0.9, 66), (0.0, 40)]);
        let pause_pad = 2 * FRAME; // half the 4-frame pause, less than padding_ms
        assert_eq!(
            events(&p, &cfg),
            vec![
                (17, VadEvent::SpeechStarted { start: 7 * FRAME }),
                // max reached at frame 109: cut in the breath, not at frame 109
                (
                    109,
                    VadEvent::SpeechStopped {
                        start: 7 * FRAME,
                        end: 80 * FRAME + pause_pad
                    }
                ),
                (
                    109,
                    VadEvent::SpeechStarted {
                        start: 84 * FRAME - pause_pad
                    }
                ),
                // the rest ends at the real silence (last speech frame 149, + padding)
                (
                    165,
                    VadEvent::SpeechStopped {
                        start: 84 * FRAME - pause_pad,
                        end: 153 * FRAME
                    }
                ),
            ]
        );
        let segs = segments(&p, &cfg);
        assert_eq!(segs, vec![(7 * FRAME, 82 * FRAME), (82 * FRAME, 153 * FRAME)]);
    }

    #[test]
    fn a_pause_still_going_on_at_the_limit_ends_the_segment_there() {
        let cfg = SegmenterConfig {
            max_segment_s: 3.2,
            padding_ms: 96,
            ..Default::default()
        };
        // speech 0..95, quiet from 95 on when the limit comes at frame 99 (5 frames, shorter
        // than the 16 of min_silence), speech again from 110
        let p = track(&[(0.9, 95), (0.1, 15), (0.9, 30), (0.0, 40)]);
        assert_eq!(
            events(&p, &cfg),
            vec![
                (7, VadEvent::SpeechStarted { start: 0 }),
                // half the 5 quiet frames so far as padding
                (
                    99,
                    VadEvent::SpeechStopped {
                        start: 0,
                        end: 95 * FRAME + 5 * FRAME / 2
                    }
                ),
                // speech after the pause starts a segment as after any silence (full padding)
                (117, VadEvent::SpeechStarted { start: 107 * FRAME }),
                (
                    155,
                    VadEvent::SpeechStopped {
                        start: 107 * FRAME,
                        end: 143 * FRAME
                    }
                ),
            ]
        );
    }

    #[test]
    fn a_breath_in_the_first_half_is_not_used() {
        let cfg = SegmenterConfig {
            max_segment_s: 3.2,
            padding_ms: 0,
            ..Default::default()
        };
        // the only dip below the end threshold is 20 frames in: too early; the cut goes to the
        // least speech-like frame of the second half (0.6 at frame 70)
        let mut p = track(&[(0.9, 20), (0.1, 3), (0.9, 47), (0.6, 1), (0.9, 60), (0.0, 40)]);
        p[85] = 0.7;
        let segs = segments(&p, &cfg);
        assert_eq!(segs[0], (0, 70 * FRAME), "{segs:?}");
        assert_eq!(segs[1].0, 70 * FRAME, "{segs:?}");
    }

    #[test]
    fn long_speech_is_cut() {
        let cfg = SegmenterConfig {
            max_segment_s: 2.0,
            padding_ms: 0,
            ..Default::default()
        };
        let p = track(&[(0.9, 200)]);
        let segs = segments(&p, &cfg);
        assert!(segs.len() >= 3, "{segs:?}");
        for (s, e) in segs {
            assert!(e - s <= 2 * 16_000 + FRAME);
        }
    }
}
