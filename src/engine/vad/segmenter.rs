//! Turns per-frame speech probabilities into speech segments, with hysteresis: speech starts when
//! the probability reaches `threshold`, and ends after `min_silence_ms` below `threshold - 0.15`.
//! Segments shorter than `min_speech_ms` are dropped; long ones are cut at `max_segment_s`.
//! `padding_ms` extends each segment on both sides. Times are in samples at 16 kHz.

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
    confirmed: bool,
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
            confirmed: false,
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
        let max_frames = (self.cfg.max_segment_s * 1000.0 / MS_PER_FRAME) as usize;
        let neg = (self.cfg.threshold - 0.15).max(0.01);
        if prob >= self.cfg.threshold {
            if !self.in_speech {
                self.in_speech = true;
                self.confirmed = false;
                self.start_frame = frame;
            }
            self.last_speech_frame = frame;
        }
        if self.in_speech {
            if !self.confirmed && frame + 1 - self.start_frame >= min_speech_frames && prob >= neg {
                self.confirmed = true;
                ev.push(VadEvent::SpeechStarted {
                    start: (self.start_frame * FRAME).saturating_sub(self.pad()),
                });
            }
            let silent_for = frame - self.last_speech_frame;
            if prob < neg && silent_for >= min_silence_frames
                || (self.confirmed && frame + 1 - self.start_frame >= max_frames)
            {
                if self.confirmed {
                    let start = (self.start_frame * FRAME).saturating_sub(self.pad());
                    let end = ((self.last_speech_frame + 1) * FRAME + self.pad()).min(self.position());
                    ev.push(VadEvent::SpeechStopped { start, end });
                }
                self.in_speech = false;
                self.confirmed = false;
            } else if !self.confirmed && prob < neg && silent_for >= 2 {
                // a blip that never became speech
                self.in_speech = false;
            }
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
            let start = (self.start_frame * FRAME).saturating_sub(self.pad());
            return Some(VadEvent::SpeechStopped {
                start,
                end: self.position(),
            });
        }
        self.in_speech = false;
        None
    }
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
