//! Output formats of a transcript: OpenAI's `json`, `verbose_json`, `text`, `srt` and `vtt`.

use serde_json::json;

use super::pipeline::Transcript;
use crate::engine::recognizer::Segment;

/// A response format of `/v1/audio/transcriptions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseFormat {
    /// `{"text": …}`
    Json,
    /// Plain text.
    Text,
    /// SubRip subtitles.
    Srt,
    /// WebVTT subtitles.
    Vtt,
    /// Text with language, duration, segments and words.
    VerboseJson,
}

impl ResponseFormat {
    /// Parses OpenAI's names.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "json" => Self::Json,
            "text" | "txt" => Self::Text,
            "srt" => Self::Srt,
            "vtt" => Self::Vtt,
            "verbose_json" => Self::VerboseJson,
            _ => return None,
        })
    }

    /// The HTTP content type of the body.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Json | Self::VerboseJson => "application/json",
            Self::Text | Self::Srt => "text/plain; charset=utf-8",
            Self::Vtt => "text/vtt; charset=utf-8",
        }
    }
}

/// ISO-639-1 code → the English name OpenAI's `verbose_json` uses.
pub fn language_name(code: &str) -> &str {
    match code {
        "en" => "english",
        "zh" => "chinese",
        "de" => "german",
        "es" => "spanish",
        "ru" => "russian",
        "ko" => "korean",
        "fr" => "french",
        "ja" => "japanese",
        "pt" => "portuguese",
        "tr" => "turkish",
        "pl" => "polish",
        "ca" => "catalan",
        "nl" => "dutch",
        "ar" => "arabic",
        "sv" => "swedish",
        "it" => "italian",
        "id" => "indonesian",
        "hi" => "hindi",
        "fi" => "finnish",
        "vi" => "vietnamese",
        "he" => "hebrew",
        "uk" => "ukrainian",
        "el" => "greek",
        "cs" => "czech",
        "yue" => "cantonese",
        other => other,
    }
}

fn stamp(t: f32, sep: char) -> String {
    let ms = (t.max(0.0) * 1000.0).round() as u64;
    format!(
        "{:02}:{:02}:{:02}{sep}{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

fn cues(t: &Transcript) -> Vec<Segment> {
    if t.segments.is_empty() && !t.text.is_empty() {
        return vec![Segment {
            start: 0.0,
            end: t.duration_s as f32,
            text: t.text.clone(),
        }];
    }
    t.segments.clone()
}

/// SubRip text.
pub fn srt(t: &Transcript) -> String {
    cues(t)
        .iter()
        .enumerate()
        .map(|(i, s)| {
            format!(
                "{}\n{} --> {}\n{}\n\n",
                i + 1,
                stamp(s.start, ','),
                stamp(s.end, ','),
                s.text.trim()
            )
        })
        .collect()
}

/// WebVTT text.
pub fn vtt(t: &Transcript) -> String {
    let mut out = String::from("WEBVTT\n\n");
    for s in cues(t) {
        out.push_str(&format!(
            "{} --> {}\n{}\n\n",
            stamp(s.start, '.'),
            stamp(s.end, '.'),
            s.text.trim()
        ));
    }
    out
}

/// The `usage` object OpenAI returns for duration-billed models.
pub fn usage(t: &Transcript) -> serde_json::Value {
    json!({"type": "duration", "seconds": (t.duration_s * 100.0).ceil() / 100.0})
}

/// `json` body.
pub fn json_body(t: &Transcript) -> serde_json::Value {
    json!({"text": t.text, "usage": usage(t)})
}

/// `verbose_json` body; `words` only when asked for.
pub fn verbose_json(t: &Transcript, task: &str, segments: bool, words: bool) -> serde_json::Value {
    let mut v = json!({
        "task": task,
        "language": language_name(t.language.as_deref().unwrap_or("en")),
        "duration": (t.duration_s * 100.0).round() / 100.0,
        "text": t.text,
        "usage": usage(t),
    });
    if segments {
        v["segments"] = cues(t)
            .iter()
            .enumerate()
            .map(|(i, s)| {
                json!({"id": i, "seek": 0, "start": s.start, "end": s.end, "text": format!(" {}", s.text.trim()),
                       "tokens": [], "temperature": 0.0, "avg_logprob": 0.0, "compression_ratio": 0.0, "no_speech_prob": 0.0})
            })
            .collect();
    }
    if words {
        v["words"] = t
            .words
            .iter()
            .map(|w| json!({"word": w.word, "start": w.start, "end": w.end}))
            .collect();
    }
    v
}

/// The body in a plain-text format (`text`, `srt`, `vtt`), or `None` for JSON formats.
pub fn plain(t: &Transcript, f: ResponseFormat) -> Option<String> {
    match f {
        ResponseFormat::Text => Some(format!("{}\n", t.text)),
        ResponseFormat::Srt => Some(srt(t)),
        ResponseFormat::Vtt => Some(vtt(t)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Transcript {
        Transcript {
            text: "Hello there. General Kenobi.".into(),
            language: Some("en".into()),
            duration_s: 3725.5,
            segments: vec![
                Segment {
                    start: 0.0,
                    end: 1.5,
                    text: "Hello there.".into(),
                },
                Segment {
                    start: 3723.25,
                    end: 3725.5,
                    text: "General Kenobi.".into(),
                },
            ],
            ..Default::default()
        }
    }

    #[test]
    fn srt_and_vtt_timestamps() {
        let s = srt(&sample());
        assert!(
            s.starts_with("1\n00:00:00,000 --> 00:00:01,500\nHello there.\n\n2\n01:02:03,250 --> 01:02:05,500\n"),
            "{s}"
        );
        let v = vtt(&sample());
        assert!(
            v.starts_with("WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nHello there.\n"),
            "{v}"
        );
    }

    #[test]
    fn verbose_json_shape() {
        let v = verbose_json(&sample(), "transcribe", true, false);
        assert_eq!(v["language"], "english");
        assert_eq!(v["segments"][1]["start"], 3723.25);
        assert!(v.get("words").is_none());
        assert_eq!(ResponseFormat::parse("verbose_json"), Some(ResponseFormat::VerboseJson));
        assert_eq!(ResponseFormat::parse("xml"), None);
    }
}
