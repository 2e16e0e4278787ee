//! Output formats of a transcript: OpenAI's `json`, `verbose_json`, `text`, `srt` and `vtt`, and
//! `diarized_json` of a speaker-labelled [`Timeline`].

use serde_json::json;

use super::pipeline::Transcript;
use crate::engine::recognizer::Segment;
use crate::meeting::diarize::speaker_label;
use crate::meeting::timeline::Timeline;

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
    /// Speaker-labelled segments (OpenAI's diarizing transcription).
    DiarizedJson,
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
            "diarized_json" => Self::DiarizedJson,
            _ => return None,
        })
    }

    /// The HTTP content type of the body.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Json | Self::VerboseJson | Self::DiarizedJson => "application/json",
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
            ..Default::default()
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

/// The `usage` object OpenAI returns for duration-billed models (transcriptions only: the
/// translation bodies have no `usage`, and the streamed `transcript.text.done` allows only token
/// usage, which we do not count).
pub fn usage(t: &Transcript) -> serde_json::Value {
    json!({"type": "duration", "seconds": (t.duration_s * 100.0).ceil() / 100.0})
}

/// `json` body of a transcription.
pub fn json_body(t: &Transcript) -> serde_json::Value {
    json!({"text": t.text, "usage": usage(t)})
}

/// `json` body of a translation (OpenAI's `Translation` is `{"text"}` alone).
pub fn translation_json(t: &Transcript) -> serde_json::Value {
    json!({"text": t.text})
}

/// One `verbose_json` segment. OpenAI's `TranscriptionSegment` requires every decoder statistic;
/// we send the ones the engine measured (see [`Segment`]) and leave out the others rather than
/// invent them: `avg_logprob`, `no_speech_prob` and `compression_ratio` for SenseVoice
/// (docs/api.md, "Strict clients").
fn verbose_segment(id: usize, s: &Segment) -> serde_json::Value {
    // OpenAI's `seek`: where the decoding window began, in 10 ms frames
    let seek = ((s.start - s.window_offset) * 100.0).round().max(0.0) as u64;
    let mut v = json!({"id": id, "seek": seek, "start": s.start, "end": s.end,
                       "text": format!(" {}", s.text.trim())});
    if !s.tokens.is_empty() {
        v["tokens"] = json!(s.tokens);
    }
    for (key, value) in [
        ("temperature", s.temperature),
        ("avg_logprob", s.avg_logprob),
        ("no_speech_prob", s.no_speech_prob),
        ("compression_ratio", s.compression_ratio),
    ] {
        if let Some(x) = value.filter(|x| x.is_finite()) {
            v[key] = json!(x);
        }
    }
    v
}

/// `verbose_json` body (`task` `transcribe` or `translate`); `words` only when asked for.
pub fn verbose_json(t: &Transcript, task: &str, segments: bool, words: bool) -> serde_json::Value {
    let mut v = json!({
        "task": task,
        "language": language_name(t.language.as_deref().unwrap_or("en")),
        "duration": (t.duration_s * 100.0).round() / 100.0,
        "text": t.text,
    });
    if task != "translate" {
        v["usage"] = usage(t);
    }
    if segments {
        v["segments"] = cues(t).iter().enumerate().map(|(i, s)| verbose_segment(i, s)).collect();
    }
    if words {
        v["words"] = t
            .words
            .iter()
            .map(|w| json!({"word": w.word, "start": w.start, "end": w.end}))
            .collect();
    }
    if t.reviewed {
        v["raw_text"] = json!(t.raw_text);
        v["edits"] = crate::finalize::edits_json(&t.raw_text, &t.edits);
    }
    if !t.fallbacks.is_empty() {
        v["fallbacks"] = t
            .fallbacks
            .iter()
            .map(|f| json!({"from": f.from, "reason": f.reason}))
            .collect();
    }
    v
}

/// `diarized_json` body (OpenAI's `TranscriptionDiarized`): the text, the duration and one
/// `transcript.text.segment` per timeline segment, its `speaker` the known speaker's name when a
/// reference clip matched, else a letter by order of first appearance (`A`, `B`, …).
pub fn diarized_json(t: &Timeline) -> serde_json::Value {
    let label = |id: &str| -> String {
        match t.speakers.iter().position(|s| s.id == id) {
            Some(i) => t.speakers[i].name.clone().unwrap_or_else(|| speaker_label(i)),
            None => id.to_string(),
        }
    };
    let segments: Vec<serde_json::Value> = t
        .segments
        .iter()
        .filter(|s| !s.text.trim().is_empty())
        .enumerate()
        .map(|(i, s)| {
            json!({
                "type": "transcript.text.segment",
                "id": format!("seg_{i}"),
                "speaker": label(&s.speaker),
                "start": (s.start * 1000.0).round() / 1000.0,
                "end": (s.end * 1000.0).round() / 1000.0,
                "text": s.text.trim(),
            })
        })
        .collect();
    let text = t
        .segments
        .iter()
        .map(|s| s.text.trim())
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    json!({
        "task": "transcribe",
        "duration": (t.duration_s * 100.0).round() / 100.0,
        "text": text,
        "segments": segments,
        "usage": {"type": "duration", "seconds": (t.duration_s * 100.0).ceil() / 100.0},
    })
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
                    tokens: vec![50364, 2425, 456, 13, 50439],
                    temperature: Some(0.0),
                    avg_logprob: Some(-0.25),
                    no_speech_prob: Some(0.01),
                    ..Default::default()
                },
                Segment {
                    start: 3723.25,
                    end: 3725.5,
                    text: "General Kenobi.".into(),
                    // decoded in a window that began at 3720 s
                    window_offset: 3.25,
                    ..Default::default()
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
    fn diarized_json_labels_speakers_by_name_or_letter() {
        use crate::meeting::timeline::{Speaker, TimelineSegment};
        let seg = |speaker: &str, start: f64, text: &str| TimelineSegment {
            speaker: speaker.into(),
            start,
            end: start + 1.0,
            language: None,
            raw_text: text.into(),
            text: text.into(),
            edits: Vec::new(),
        };
        let speaker = |id: &str, name: Option<&str>| Speaker {
            id: id.into(),
            name: name.map(String::from),
            talk_s: 1.0,
        };
        let t = Timeline {
            duration_s: 3.456,
            speakers: vec![speaker("SPEAKER_00", None), speaker("SPEAKER_01", Some("agent"))],
            segments: vec![
                seg("SPEAKER_00", 0.0, "Hello."),
                seg("SPEAKER_01", 1.5, " "),
                seg("SPEAKER_01", 2.0, "Hi there."),
            ],
            ..Default::default()
        };
        let v = diarized_json(&t);
        assert_eq!(
            v,
            json!({
                "task": "transcribe", "duration": 3.46, "text": "Hello. Hi there.",
                "usage": {"type": "duration", "seconds": 3.46},
                "segments": [
                    {"type": "transcript.text.segment", "id": "seg_0", "speaker": "A",
                     "start": 0.0, "end": 1.0, "text": "Hello."},
                    {"type": "transcript.text.segment", "id": "seg_1", "speaker": "agent",
                     "start": 2.0, "end": 3.0, "text": "Hi there."},
                ]
            })
        );
    }

    #[test]
    fn verbose_json_shape() {
        let v = verbose_json(&sample(), "transcribe", true, false);
        assert_eq!(v["language"], "english");
        assert_eq!(v["usage"]["type"], "duration");
        assert_eq!(v["segments"][1]["start"], 3723.25);
        assert!(v.get("words").is_none());
        // measured values are reported, unmeasured ones left out rather than invented
        let s0 = &v["segments"][0];
        assert_eq!(s0["seek"], 0);
        assert_eq!(s0["tokens"], json!([50364, 2425, 456, 13, 50439]));
        assert_eq!(s0["avg_logprob"], -0.25);
        assert_eq!(s0["temperature"], 0.0);
        assert!(s0.get("compression_ratio").is_none());
        let s1 = &v["segments"][1];
        assert_eq!(s1["seek"], 372_000);
        for k in [
            "tokens",
            "temperature",
            "avg_logprob",
            "no_speech_prob",
            "compression_ratio",
        ] {
            assert!(s1.get(k).is_none(), "{k}");
        }
        // translations have no usage in OpenAI's models
        assert!(verbose_json(&sample(), "translate", true, false).get("usage").is_none());
        assert_eq!(
            translation_json(&sample()),
            json!({"text": "Hello there. General Kenobi."})
        );
        assert_eq!(ResponseFormat::parse("verbose_json"), Some(ResponseFormat::VerboseJson));
        assert_eq!(ResponseFormat::parse("xml"), None);
    }
}
