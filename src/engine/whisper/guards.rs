//! Quality guards of a Whisper window decode, as openai-whisper and faster-whisper define them:
//! the gzip compression ratio of the text, the temperature-fallback decision, the choice among
//! failed attempts, the no-speech rule, and language detection restricted to a set of languages.
//!
//! Everything here is a pure function of numbers and text, so it is tested without a model; the
//! decode loop in the parent module calls it once per window and attempt.

use std::io::Write;

/// Above this gzip compression ratio a decode is "too repetitive" and is retried hotter.
pub const COMPRESSION_RATIO_THRESHOLD: f32 = 2.4;
/// Below this average token log-probability a decode is "too unsure" and is retried hotter.
pub const LOG_PROB_THRESHOLD: f32 = -1.0;
/// Above this no-speech probability (and below [`LOG_PROB_THRESHOLD`]) a window is silence.
pub const NO_SPEECH_THRESHOLD: f32 = 0.6;
/// Sampled candidates per fallback temperature; the most probable one is kept.
pub const BEST_OF: usize = 5;
/// Temperature step between fallback attempts.
const TEMPERATURE_STEP: f32 = 0.2;
/// The hottest fallback attempt.
const MAX_TEMPERATURE: f32 = 1.0;

/// `len(utf8) / len(zlib(utf8))` at zlib's default level, as openai-whisper computes it. Text
/// that loops compresses well, so a high ratio flags a runaway repetition. Empty text is 0.
pub fn compression_ratio(text: &str) -> f32 {
    let bytes = text.as_bytes();
    if bytes.is_empty() {
        return 0.0;
    }
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    // writing into a Vec cannot fail
    let compressed = enc.write_all(bytes).and_then(|()| enc.finish()).unwrap_or_default();
    if compressed.is_empty() {
        return 0.0;
    }
    bytes.len() as f32 / compressed.len() as f32
}

/// The temperatures to try for a window whose request asked for `start`: `start`, then steps of
/// 0.2 up to 1.0 (openai-whisper's `temperature_increment_on_fallback`). A start above 1.0 is
/// tried alone.
pub fn temperatures(start: f32) -> Vec<f32> {
    let start = if start.is_finite() { start.max(0.0) } else { 0.0 };
    let mut v = vec![start];
    let mut k = 1;
    loop {
        // computed from the start each time so 0.2 steps do not accumulate rounding error
        let t = start + k as f32 * TEMPERATURE_STEP;
        if t > MAX_TEMPERATURE + 1e-4 {
            break;
        }
        v.push((t * 1e4).round() / 1e4);
        k += 1;
    }
    v
}

/// What one decode attempt of a window measured.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Attempt {
    /// Temperature the attempt was decoded at.
    pub temperature: f32,
    /// Average log-probability per token (end-of-text included).
    pub avg_logprob: f32,
    /// Gzip compression ratio of its text.
    pub compression_ratio: f32,
    /// Probability of the no-speech token.
    pub no_speech_prob: f32,
    /// A translation into English that still holds CJK, kana or hangul text: the model kept
    /// (part of) the source script, which a hotter attempt usually does not.
    pub untranslated: bool,
}

impl Attempt {
    /// Whether the text loops (compression ratio above the threshold).
    pub fn too_repetitive(&self) -> bool {
        self.compression_ratio > COMPRESSION_RATIO_THRESHOLD
    }

    /// Whether the decoder was unsure of it (average log-probability below the threshold).
    pub fn too_unsure(&self) -> bool {
        self.avg_logprob < LOG_PROB_THRESHOLD
    }

    /// Whether the window is silence: the no-speech token is likely *and* the decode is unsure.
    /// A confident decode is kept even when the no-speech token scored high.
    pub fn is_silence(&self) -> bool {
        self.no_speech_prob > NO_SPEECH_THRESHOLD && self.too_unsure()
    }

    /// Whether to decode the window again, hotter: too repetitive, too unsure or untranslated,
    /// unless it is silence (then no temperature will help, and the no-speech rule drops it).
    pub fn needs_fallback(&self) -> bool {
        (self.too_repetitive() || self.too_unsure() || self.untranslated) && !self.is_silence()
    }
}

/// Whether `text`, the output of a translation into English, still holds source-script text
/// (CJK ideographs, kana, hangul).
pub fn untranslated(text: &str) -> bool {
    text.chars().any(super::repetition::is_cjk)
}

/// The attempt to keep when every temperature failed: the most probable (highest average
/// log-probability) of those that neither loop nor keep the source script; else of those that do
/// not loop; else of all. `None` only for an empty list.
pub fn best_of_failed(attempts: &[Attempt]) -> Option<usize> {
    let pick = |keep: &dyn Fn(&Attempt) -> bool| {
        attempts
            .iter()
            .enumerate()
            .filter(|(_, a)| keep(a))
            .max_by(|a, b| a.1.avg_logprob.total_cmp(&b.1.avg_logprob))
            .map(|(i, _)| i)
    };
    pick(&|a| !a.too_repetitive() && !a.untranslated)
        .or_else(|| pick(&|a| !a.too_repetitive()))
        .or_else(|| pick(&|_| true))
}

/// Language detection restricted to `allowed` (ISO-639-1 codes, compared by primary subtag,
/// ignoring case): the most probable of `detected` (code, probability) that is allowed. When none
/// of the allowed codes is among the detected ones (a code the model does not know), the overall
/// most probable language is kept. `allowed` empty means no restriction.
pub fn pick_language(detected: &[(String, f32)], allowed: &[String]) -> Option<String> {
    let best = |it: &mut dyn Iterator<Item = &(String, f32)>| {
        it.max_by(|a, b| a.1.total_cmp(&b.1)).map(|(code, _)| code.clone())
    };
    let primary = |l: &str| l.trim().split(['-', '_']).next().unwrap_or("").to_ascii_lowercase();
    let allowed: Vec<String> = allowed.iter().map(|l| primary(l)).filter(|l| !l.is_empty()).collect();
    if !allowed.is_empty()
        && let Some(code) = best(&mut detected.iter().filter(|(c, _)| allowed.contains(&primary(c))))
    {
        return Some(code);
    }
    best(&mut detected.iter())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(avg_logprob: f32, compression_ratio: f32, no_speech_prob: f32) -> Attempt {
        Attempt {
            temperature: 0.0,
            avg_logprob,
            compression_ratio,
            no_speech_prob,
            untranslated: false,
        }
    }

    #[test]
    fn compression_ratio_flags_loops_not_speech() {
        let normal = "We moved the payment service to Kubernetes, and the pods now pull their images.";
        let looped = "the pods now pull their images ".repeat(12);
        let zh_loop = "我们把服务部署到集群上".repeat(10);
        assert!(
            compression_ratio(normal) < COMPRESSION_RATIO_THRESHOLD,
            "{}",
            compression_ratio(normal)
        );
        assert!(compression_ratio(&looped) > COMPRESSION_RATIO_THRESHOLD);
        assert!(compression_ratio(&zh_loop) > COMPRESSION_RATIO_THRESHOLD);
        assert!(compression_ratio(&looped) > 2.0 * compression_ratio(normal));
        assert_eq!(compression_ratio(""), 0.0);
        // short text: zlib's 6-byte frame makes the ratio below 1
        assert!(compression_ratio("hi") < 1.0);
    }

    #[test]
    fn temperature_schedule_steps_to_one() {
        assert_eq!(temperatures(0.0), vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        assert_eq!(temperatures(0.5), vec![0.5, 0.7, 0.9]);
        assert_eq!(temperatures(1.0), vec![1.0]);
        assert_eq!(temperatures(1.5), vec![1.5]);
        assert_eq!(temperatures(-1.0)[0], 0.0);
    }

    #[test]
    fn fallback_decision_follows_thresholds() {
        assert!(!attempt(-0.3, 1.5, 0.01).needs_fallback(), "confident, plain text");
        assert!(attempt(-0.3, 3.1, 0.01).needs_fallback(), "loops");
        assert!(attempt(-1.4, 1.5, 0.01).needs_fallback(), "unsure");
        // unsure but likely silence: no retry, and the window is dropped
        let silent = attempt(-1.4, 1.5, 0.9);
        assert!(silent.is_silence() && !silent.needs_fallback());
        // high no-speech probability alone is not silence when the decode is confident
        let confident = attempt(-0.2, 1.2, 0.9);
        assert!(!confident.is_silence() && !confident.needs_fallback());
        // the thresholds are strict inequalities
        assert!(!attempt(LOG_PROB_THRESHOLD, COMPRESSION_RATIO_THRESHOLD, 0.0).needs_fallback());
    }

    #[test]
    fn failed_attempts_keep_the_most_probable_that_does_not_loop() {
        let a = [
            attempt(-0.2, 3.0, 0.0),
            attempt(-1.5, 1.8, 0.0),
            attempt(-1.2, 2.0, 0.0),
        ];
        assert_eq!(best_of_failed(&a), Some(2), "the loop is skipped despite its score");
        let loops = [attempt(-0.9, 3.0, 0.0), attempt(-0.4, 2.6, 0.0)];
        assert_eq!(best_of_failed(&loops), Some(1), "all loop: the most probable");
        assert_eq!(best_of_failed(&[]), None);
    }

    #[test]
    fn a_translation_that_keeps_the_source_script_is_retried_and_ranked_last() {
        assert!(untranslated(
            "The Chinese government is in the middle of the Chinese夕夕夕"
        ));
        assert!(untranslated("こんにちは") && untranslated("안녕하세요"));
        assert!(!untranslated("The real estate agency in Guangzhou, 2.5% — café naïve."));
        let kept_source = Attempt {
            untranslated: true,
            ..attempt(-0.2, 1.5, 0.0)
        };
        assert!(kept_source.needs_fallback(), "confident but not English");
        let a = [kept_source, attempt(-0.8, 1.6, 0.0), attempt(-0.5, 2.9, 0.0)];
        assert_eq!(best_of_failed(&a), Some(1), "English and calm beats more probable");
        assert_eq!(best_of_failed(&a[..1]), Some(0), "alone, it is still kept");
    }

    #[test]
    fn language_detection_is_restricted_to_the_allowed_set() {
        let d = vec![
            ("ja".to_string(), 0.5),
            ("zh".to_string(), 0.3),
            ("en".to_string(), 0.2),
        ];
        let set = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(pick_language(&d, &[]), Some("ja".into()));
        assert_eq!(pick_language(&d, &set(&["zh", "en"])), Some("zh".into()));
        assert_eq!(pick_language(&d, &set(&["EN-us"])), Some("en".into()));
        assert_eq!(
            pick_language(&d, &set(&["xx"])),
            Some("ja".into()),
            "unknown codes: unrestricted"
        );
        assert_eq!(pick_language(&[], &set(&["zh"])), None);
    }
}
