//! The meeting's timeline: who said what, when — the one structure every output is rendered from
//! (`timeline.json` is it, serialized).
//!
//! Invariants: segments are in time order and do not overlap; every segment's `speaker` is the
//! `id` of one entry of `speakers`; `raw_text` is what the recognizer wrote and `text` the
//! reviewed form (equal when nothing was edited), with `edits` the audit trail between them
//! (character offsets into `raw_text`, see [`crate::finalize::edits_json`]).

use serde::{Deserialize, Serialize};

/// A speaker of the meeting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Speaker {
    /// Stable label: `SPEAKER_00`, `SPEAKER_01`, … in order of first appearance.
    pub id: String,
    /// The known speaker's name, when a reference clip matched.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub name: Option<String>,
    /// Seconds of speech attributed to the speaker.
    pub talk_s: f64,
}

impl Speaker {
    /// How the speaker is shown: the name if known, else the label.
    pub fn display(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.id)
    }
}

/// One timed piece of speech by one speaker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineSegment {
    /// Speaker label (a [`Speaker::id`]).
    pub speaker: String,
    /// Start, seconds from the beginning of the recording.
    pub start: f64,
    /// End, seconds.
    pub end: f64,
    /// The language the recognizer heard (ISO-639-1), if it said.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub language: Option<String>,
    /// The recognizer's text.
    pub raw_text: String,
    /// The reviewed text.
    pub text: String,
    /// The reviewers' edits from `raw_text` to `text`.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub edits: Vec<serde_json::Value>,
}

/// The whole meeting.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    /// Length of the recording, seconds.
    pub duration_s: f64,
    /// The most spoken language, if any was detected.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub language: Option<String>,
    /// The review that ran: `none`, `glossary` or `llm`.
    pub review: String,
    /// The engines that transcribed it.
    pub models: Vec<String>,
    /// Speakers in order of first appearance.
    pub speakers: Vec<Speaker>,
    /// The segments, in time order.
    pub segments: Vec<TimelineSegment>,
}

impl Timeline {
    /// The speaker behind a label.
    pub fn speaker(&self, id: &str) -> Option<&Speaker> {
        self.speakers.iter().find(|s| s.id == id)
    }

    /// How a segment's speaker is shown.
    pub fn display<'a>(&'a self, seg: &'a TimelineSegment) -> &'a str {
        self.speaker(&seg.speaker)
            .map_or(seg.speaker.as_str(), Speaker::display)
    }

    /// Consecutive segments of one speaker joined into paragraphs: `(speaker label, start, end,
    /// segment indices)`. A pause longer than `max_gap_s` inside one speaker's run starts a new
    /// paragraph.
    pub fn paragraphs(&self, max_gap_s: f64) -> Vec<(String, f64, f64, Vec<usize>)> {
        let mut out: Vec<(String, f64, f64, Vec<usize>)> = Vec::new();
        for (i, s) in self.segments.iter().enumerate() {
            if s.text.trim().is_empty() {
                continue;
            }
            match out.last_mut() {
                Some(p) if p.0 == s.speaker && s.start - p.2 <= max_gap_s => {
                    p.2 = s.end;
                    p.3.push(i);
                }
                _ => out.push((s.speaker.clone(), s.start, s.end, vec![i])),
            }
        }
        out
    }
}

/// Joins texts with a space between Latin runs and none between CJK characters, so that Mandarin
/// reads as written and English keeps its word breaks.
pub fn join_texts<'a>(parts: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for p in parts {
        let p = p.trim();
        if p.is_empty() {
            continue;
        }
        let cjk = |c: Option<char>| c.is_some_and(is_cjk);
        let both_cjk = cjk(out.chars().last()) && cjk(p.chars().next());
        if !out.is_empty() && !both_cjk {
            out.push(' ');
        }
        out.push_str(p);
    }
    out
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x2E80..=0x9FFF | 0xF900..=0xFAFF | 0xFF00..=0xFFEF)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(speaker: &str, start: f64, end: f64, text: &str) -> TimelineSegment {
        TimelineSegment {
            speaker: speaker.into(),
            start,
            end,
            language: None,
            raw_text: text.into(),
            text: text.into(),
            edits: vec![],
        }
    }

    #[test]
    fn paragraphs_join_a_speakers_run_and_break_on_long_pauses_and_changes() {
        let t = Timeline {
            segments: vec![
                seg("SPEAKER_00", 0.0, 2.0, "hello"),
                seg("SPEAKER_00", 2.5, 4.0, "again"),
                seg("SPEAKER_01", 4.2, 5.0, "hi"),
                seg("SPEAKER_01", 5.1, 5.5, " "),
                seg("SPEAKER_01", 20.0, 21.0, "later"),
                seg("SPEAKER_00", 21.5, 22.0, "bye"),
            ],
            ..Default::default()
        };
        let p = t.paragraphs(5.0);
        let shape: Vec<(&str, Vec<usize>)> = p.iter().map(|(s, _, _, i)| (s.as_str(), i.clone())).collect();
        assert_eq!(
            shape,
            vec![
                ("SPEAKER_00", vec![0, 1]),
                ("SPEAKER_01", vec![2]),
                ("SPEAKER_01", vec![4]),
                ("SPEAKER_00", vec![5]),
            ]
        );
        assert_eq!((p[0].1, p[0].2), (0.0, 4.0));
    }

    #[test]
    fn texts_join_with_spaces_except_between_cjk() {
        assert_eq!(
            join_texts(["我们", "开会", "about Kafka", "好的"]),
            "我们开会 about Kafka 好的"
        );
        assert_eq!(join_texts(["", " a ", "b"]), "a b");
    }
}
