//! The five files a meeting job leaves behind, rendered from its [`Timeline`] (pure functions):
//!
//! | name | what |
//! |---|---|
//! | `transcript.txt` | the recognizer's text, one line per segment: time, speaker, raw text |
//! | `transcript.md` | the reviewed text as speaker-labelled paragraphs with times |
//! | `timeline.json` | the [`Timeline`]: segments with speaker, start, end, raw and reviewed text, language, edits |
//! | `subtitles.srt` | SubRip cues of the reviewed text, prefixed with the speaker |
//! | `summary.md` | decisions, action items, open questions ([`crate::meeting::summary`]) |

use std::fmt::Write as _;

use super::timeline::{Timeline, join_texts};

/// The output names, in the order they are listed.
pub const OUTPUTS: &[&str] = &[
    "transcript.txt",
    "transcript.md",
    "timeline.json",
    "subtitles.srt",
    "summary.md",
];

/// The media type an output is served with.
pub fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next() {
        Some("json") => "application/json",
        Some("md") => "text/markdown; charset=utf-8",
        Some("srt") => "application/x-subrip; charset=utf-8",
        _ => "text/plain; charset=utf-8",
    }
}

/// Longest SubRip cue, seconds; longer segments are split at word (or character) boundaries.
const MAX_CUE_S: f64 = 7.0;
/// A pause longer than this inside one speaker's run starts a new Markdown paragraph.
const PARAGRAPH_GAP_S: f64 = 8.0;

/// `hh:mm:ss` (Markdown, text).
pub fn clock(t: f64) -> String {
    let s = t.max(0.0).round() as u64;
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// `hh:mm:ss,mmm` (SubRip).
fn srt_time(t: f64) -> String {
    let ms = (t.max(0.0) * 1000.0).round() as u64;
    format!(
        "{:02}:{:02}:{:02},{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// `transcript.txt`: the raw transcript.
pub fn transcript_txt(t: &Timeline) -> String {
    let mut out = String::new();
    for s in t.segments.iter().filter(|s| !s.raw_text.trim().is_empty()) {
        let _ = writeln!(out, "[{}] {}: {}", clock(s.start), t.display(s), s.raw_text.trim());
    }
    out
}

/// `transcript.md`: the reviewed transcript.
pub fn transcript_md(t: &Timeline) -> String {
    let mut out = String::from("# Meeting transcript\n\n");
    let _ = writeln!(
        out,
        "Duration {} · {} speaker{} · language {} · review {}\n",
        clock(t.duration_s),
        t.speakers.len(),
        if t.speakers.len() == 1 { "" } else { "s" },
        t.language.as_deref().unwrap_or("unknown"),
        t.review,
    );
    for (speaker, start, end, idx) in t.paragraphs(PARAGRAPH_GAP_S) {
        let who = t.speaker(&speaker).map_or(speaker.as_str(), |s| s.display());
        let text = join_texts(idx.iter().map(|&i| t.segments[i].text.as_str()));
        let _ = writeln!(
            out,
            "**{}** ({}–{})\n\n{}\n",
            md_escape(who),
            clock(start),
            clock(end),
            text
        );
    }
    out
}

/// `timeline.json`.
pub fn timeline_json(t: &Timeline) -> String {
    let mut s = serde_json::to_string_pretty(t).unwrap_or_else(|_| "{}".into());
    s.push('\n');
    s
}

/// `subtitles.srt`: one cue per segment (split when longer than 7 s), `Speaker: text`.
pub fn subtitles_srt(t: &Timeline) -> String {
    let mut out = String::new();
    let mut n = 0;
    for s in t.segments.iter().filter(|s| !s.text.trim().is_empty()) {
        for (start, end, text) in split_cue(s.start, s.end, s.text.trim()) {
            n += 1;
            let _ = writeln!(
                out,
                "{n}\n{} --> {}\n{}: {}\n",
                srt_time(start),
                srt_time(end),
                t.display(s),
                text
            );
        }
    }
    out
}

/// Splits a cue longer than [`MAX_CUE_S`] into pieces of about equal length, times in
/// proportion to characters, cutting at spaces for Latin text and anywhere for CJK.
fn split_cue(start: f64, end: f64, text: &str) -> Vec<(f64, f64, String)> {
    let dur = end - start;
    let pieces = (dur / MAX_CUE_S).ceil().max(1.0) as usize;
    let units: Vec<String> = if text.contains(' ') {
        text.split(' ').filter(|w| !w.is_empty()).map(str::to_string).collect()
    } else {
        text.chars().map(String::from).collect()
    };
    if pieces == 1 || units.len() < 2 {
        return vec![(start, end, text.to_string())];
    }
    let sep = if text.contains(' ') { " " } else { "" };
    let per = units.len().div_ceil(pieces);
    let total: usize = units.iter().map(|u| u.chars().count()).sum::<usize>().max(1);
    let mut out = Vec::new();
    let mut done = 0usize;
    for chunk in units.chunks(per) {
        let chars: usize = chunk.iter().map(|u| u.chars().count()).sum();
        let a = start + dur * done as f64 / total as f64;
        done += chars;
        let b = start + dur * done as f64 / total as f64;
        out.push((a, b, chunk.join(sep)));
    }
    out
}

fn md_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let esc = matches!(c, '*' | '_' | '`' | '[' | ']' | '#' | '<' | '>' | '\\');
            esc.then_some('\\').into_iter().chain(std::iter::once(c))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meeting::timeline::{Speaker, TimelineSegment};

    fn timeline() -> Timeline {
        let seg = |speaker: &str, start, end, raw: &str, text: &str| TimelineSegment {
            speaker: speaker.into(),
            start,
            end,
            language: Some("en".into()),
            raw_text: raw.into(),
            text: text.into(),
            edits: vec![],
        };
        Timeline {
            duration_s: 3725.0,
            language: Some("en".into()),
            review: "glossary".into(),
            models: vec!["whisper-base".into()],
            speakers: vec![
                Speaker {
                    id: "SPEAKER_00".into(),
                    name: Some("Ana".into()),
                    talk_s: 4.0,
                },
                Speaker {
                    id: "SPEAKER_01".into(),
                    name: None,
                    talk_s: 9.0,
                },
            ],
            segments: vec![
                seg("SPEAKER_00", 1.0, 3.0, "we use cube netties", "we use Kubernetes"),
                seg("SPEAKER_00", 3.2, 5.0, "for everything", "for everything"),
                seg(
                    "SPEAKER_01",
                    3661.5,
                    3670.5,
                    "one two three four five six seven eight",
                    "one two three four five six seven eight",
                ),
            ],
        }
    }

    #[test]
    fn text_is_raw_and_markdown_is_reviewed_with_speakers_and_times() {
        let t = timeline();
        let txt = transcript_txt(&t);
        assert_eq!(txt.lines().next(), Some("[00:00:01] Ana: we use cube netties"), "{txt}");
        assert_eq!(txt.lines().count(), 3);
        let md = transcript_md(&t);
        assert!(
            md.contains("**Ana** (00:00:01–00:00:05)\n\nwe use Kubernetes for everything\n"),
            "{md}"
        );
        assert!(md.contains("**SPEAKER\\_01** (01:01:02–01:01:11)"), "{md}");
        assert!(md.contains("2 speakers"), "{md}");
    }

    #[test]
    fn subtitles_are_numbered_speaker_prefixed_and_long_cues_split() {
        let srt = subtitles_srt(&timeline());
        let cues: Vec<&str> = srt.split("\n\n").filter(|c| !c.trim().is_empty()).collect();
        assert_eq!(cues.len(), 4, "{srt}");
        assert_eq!(cues[0], "1\n00:00:01,000 --> 00:00:03,000\nAna: we use Kubernetes");
        // the 9 s segment became two cues that tile its span
        assert!(cues[2].starts_with("3\n01:01:01,500 --> "), "{}", cues[2]);
        assert!(cues[3].contains(" --> 01:01:10,500\nSPEAKER_01: "), "{}", cues[3]);
        let words: usize = cues[2..]
            .iter()
            .map(|c| c.lines().last().unwrap().split(' ').count() - 1)
            .sum();
        assert_eq!(words, 8);
    }

    #[test]
    fn the_timeline_file_is_the_timeline() {
        let t = timeline();
        let back: Timeline = serde_json::from_str(&timeline_json(&t)).unwrap();
        assert_eq!(back, t);
    }

    #[test]
    fn cjk_cues_split_by_character() {
        let cues = split_cue(0.0, 14.0, "我们今天讨论发布计划和预算");
        assert_eq!(cues.len(), 2);
        assert_eq!(
            cues.iter().map(|c| c.2.as_str()).collect::<String>(),
            "我们今天讨论发布计划和预算"
        );
        assert_eq!(cues[1].1, 14.0);
    }
}
