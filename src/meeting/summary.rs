//! `summary.md`: decisions, action items and open questions of a meeting.
//!
//! With an LLM configured (`[review.llm]`), the model writes the summary from the reviewed
//! transcript (the most recent [`MAX_LLM_INPUT_CHARS`] characters when it is longer); otherwise,
//! or when the model fails, an **extractive** summary picks the transcript's own sentences: ones
//! that sound like decisions, action items and questions, and the most central sentences as key
//! points (scored by how many of the meeting's frequent content words and glossary terms they
//! carry). The file says which of the two it is, on its first lines.

use std::collections::HashMap;
use std::fmt::Write as _;

use serde_json::json;

use super::outputs::clock;
use super::timeline::Timeline;
use crate::review::llm::LlmReviewer;

/// Longest transcript handed to the LLM, characters.
pub const MAX_LLM_INPUT_CHARS: usize = 12_000;
/// Most sentences per extractive section.
const PER_SECTION: usize = 5;

const SYSTEM_PROMPT: &str = "You write meeting minutes from a transcript with speaker labels. Answer in \
Markdown with exactly these sections: '## Summary' (three to five sentences), '## Decisions', \
'## Action items' (who does what), '## Open questions'. Use bullet points in the last three; write \
'- none' where the meeting had none. Use only what the transcript says. Write in the transcript's \
language.";

/// How the summary was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SummaryKind {
    /// Written by the LLM.
    Llm {
        /// The model's name.
        model: String,
    },
    /// Sentences of the transcript, chosen by rules; with why no LLM wrote it.
    Extractive {
        /// Why the LLM did not write it.
        reason: String,
    },
}

/// The speaker-labelled transcript the LLM reads: `Speaker: text` per paragraph, the latest
/// [`MAX_LLM_INPUT_CHARS`] characters.
fn llm_input(t: &Timeline) -> String {
    let mut lines: Vec<String> = t
        .paragraphs(8.0)
        .into_iter()
        .map(|(speaker, start, _, idx)| {
            let who = t.speaker(&speaker).map_or(speaker.as_str(), |s| s.display());
            let text = super::timeline::join_texts(idx.iter().map(|&i| t.segments[i].text.as_str()));
            format!("[{}] {who}: {text}", clock(start))
        })
        .collect();
    let mut total: usize = lines.iter().map(|l| l.chars().count() + 1).sum();
    while total > MAX_LLM_INPUT_CHARS && lines.len() > 1 {
        total -= lines.remove(0).chars().count() + 1;
    }
    lines.join("\n")
}

/// Writes `summary.md`: by `llm` when given and it answers, else extractively. Blocking (the LLM
/// call): run it on a blocking thread.
pub fn summarize(t: &Timeline, llm: Option<(&LlmReviewer, &str)>) -> (String, SummaryKind) {
    let reason = match llm {
        None => "no LLM is configured ([review.llm])".to_string(),
        Some(_) if t.segments.iter().all(|s| s.text.trim().is_empty()) => "the transcript is empty".into(),
        Some((llm, model)) => {
            let messages = json!([
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": llm_input(t)},
            ]);
            match llm.complete(messages, 1024) {
                Ok(text) if !text.trim().is_empty() => {
                    let kind = SummaryKind::Llm { model: model.into() };
                    let body = format!(
                        "# Meeting summary\n\n_Written by the LLM `{model}` from the reviewed transcript._\n\n{}\n",
                        text.trim()
                    );
                    return (body, kind);
                }
                Ok(_) => "the LLM answered with nothing".into(),
                Err(e) => {
                    tracing::warn!(error = %e, "meeting summary by the LLM failed; writing an extractive one");
                    format!("the LLM failed: {e}")
                }
            }
        }
    };
    (extractive(t, &reason), SummaryKind::Extractive { reason })
}

/// A sentence of the transcript with where it was said.
struct Sentence {
    text: String,
    speaker: String,
    start: f64,
}

fn sentences(t: &Timeline) -> Vec<Sentence> {
    let mut out = Vec::new();
    for s in &t.segments {
        let who = t.display(s).to_string();
        let mut cur = String::new();
        for c in s.text.trim().chars() {
            cur.push(c);
            if matches!(c, '.' | '?' | '!' | '。' | '？' | '！') {
                push_sentence(&mut out, &mut cur, &who, s.start);
            }
        }
        push_sentence(&mut out, &mut cur, &who, s.start);
    }
    out
}

fn push_sentence(out: &mut Vec<Sentence>, cur: &mut String, speaker: &str, start: f64) {
    let text = std::mem::take(cur).trim().to_string();
    // a sentence without a content word ("Okay.", "Sure.") says nothing worth listing
    if !content_units(&text).is_empty() {
        out.push(Sentence {
            text,
            speaker: speaker.into(),
            start,
        });
    }
}

/// The words a sentence is scored by: lower-cased Latin words of four letters or more, and CJK
/// character pairs.
fn content_units(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let lower = s.to_lowercase();
    for w in lower.split(|c: char| !c.is_alphanumeric()) {
        let latin = w.chars().all(|c| c.is_ascii_alphanumeric());
        if latin && w.len() >= 4 && !STOP.contains(&w) {
            out.push(w.to_string());
        }
    }
    let han: Vec<char> = lower
        .chars()
        .filter(|c| ('\u{4e00}'..='\u{9fff}').contains(c))
        .collect();
    out.extend(han.windows(2).map(|p| p.iter().collect::<String>()));
    out
}

const STOP: &[&str] = &[
    "that", "this", "with", "have", "from", "they", "will", "would", "there", "their", "what", "about", "which",
    "when", "were", "been", "your", "just", "like", "then", "them", "some", "into", "also", "than", "more", "very",
    "yeah", "okay", "right", "well", "know", "think", "going", "really", "because", "these", "those", "here",
];

const DECISION: &[&str] = &[
    "decided",
    "decide",
    "agreed",
    "agree",
    "we'll go with",
    "let's go with",
    "final",
    "approved",
    "决定",
    "确定",
    "同意",
    "就这么",
];
const ACTION: &[&str] = &[
    "will ",
    "i'll",
    "we'll",
    "need to",
    "needs to",
    "should",
    "action",
    "follow up",
    "by friday",
    "next week",
    "负责",
    "需要",
    "下周",
    "跟进",
    "安排",
];

fn has_any(s: &str, cues: &[&str]) -> bool {
    let l = s.to_lowercase();
    cues.iter().any(|c| l.contains(c))
}

fn is_question(s: &str) -> bool {
    s.ends_with('?') || s.ends_with('？') || s.ends_with('吗')
}

/// The extractive summary (see the module docs).
pub fn extractive(t: &Timeline, reason: &str) -> String {
    let sents = sentences(t);
    let mut freq: HashMap<String, usize> = HashMap::new();
    for s in &sents {
        for u in content_units(&s.text) {
            *freq.entry(u).or_default() += 1;
        }
    }
    let score = |s: &Sentence| {
        let units = content_units(&s.text);
        let sum: usize = units.iter().map(|u| freq[u].saturating_sub(1)).sum();
        sum as f64 / (units.len().max(1) as f64).sqrt()
    };
    let mut out = String::from("# Meeting summary\n\n");
    let _ = writeln!(
        out,
        "_Extractive summary: sentences of the transcript chosen by rules, not written by a model ({reason})._\n"
    );
    let _ = writeln!(out, "## Speakers\n");
    for sp in &t.speakers {
        let _ = writeln!(out, "- {}: {} of speech", sp.display(), clock(sp.talk_s));
    }
    let section = |out: &mut String, title: &str, pick: &dyn Fn(&Sentence) -> bool| {
        let _ = writeln!(out, "\n## {title}\n");
        let mut chosen: Vec<(f64, &Sentence)> = sents.iter().filter(|s| pick(s)).map(|s| (score(s), s)).collect();
        chosen.sort_by(|a, b| b.0.total_cmp(&a.0));
        chosen.truncate(PER_SECTION);
        chosen.sort_by(|a, b| a.1.start.total_cmp(&b.1.start));
        if chosen.is_empty() {
            out.push_str("- none found\n");
        }
        for (_, s) in chosen {
            let _ = writeln!(out, "- [{}] {}: {}", clock(s.start), s.speaker, s.text);
        }
    };
    section(&mut out, "Key points", &|s| !is_question(&s.text));
    section(&mut out, "Decisions", &|s| has_any(&s.text, DECISION));
    section(&mut out, "Action items", &|s| {
        has_any(&s.text, ACTION) && !is_question(&s.text)
    });
    section(&mut out, "Open questions", &|s| is_question(&s.text));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meeting::timeline::{Speaker, TimelineSegment};

    fn timeline(lines: &[(&str, f64, &str)]) -> Timeline {
        let mut speakers: Vec<Speaker> = Vec::new();
        let segments = lines
            .iter()
            .map(|&(sp, start, text)| {
                if !speakers.iter().any(|s| s.id == sp) {
                    speakers.push(Speaker {
                        id: sp.into(),
                        name: None,
                        talk_s: 1.0,
                    });
                }
                TimelineSegment {
                    speaker: sp.into(),
                    start,
                    end: start + 2.0,
                    language: None,
                    raw_text: text.into(),
                    text: text.into(),
                    edits: vec![],
                }
            })
            .collect();
        Timeline {
            speakers,
            segments,
            review: "none".into(),
            ..Default::default()
        }
    }

    #[test]
    fn extractive_summary_sorts_sentences_into_sections_and_says_what_it_is() {
        let t = timeline(&[
            ("A", 0.0, "The release train for the payments service slipped again."),
            ("B", 3.0, "Can we move the payments release to Thursday?"),
            ("A", 6.0, "We decided to freeze the payments schema until the release."),
            ("B", 9.0, "Maria will update the payments dashboard by Friday."),
            ("A", 12.0, "Okay."),
        ]);
        let md = extractive(&t, "no LLM is configured ([review.llm])");
        assert!(md.starts_with("# Meeting summary\n\n_Extractive summary"), "{md}");
        assert!(md.contains("no LLM is configured"), "{md}");
        let section = |title: &str| {
            md.split(&format!("## {title}\n\n"))
                .nth(1)
                .unwrap()
                .split("\n\n")
                .next()
                .unwrap()
                .to_string()
        };
        assert!(section("Decisions").contains("We decided to freeze"), "{md}");
        assert!(section("Action items").contains("Maria will update"), "{md}");
        assert!(section("Open questions").contains("[00:00:03] B: Can we move"), "{md}");
        assert!(!section("Key points").contains("Okay"), "too short to be a point: {md}");
        assert!(!section("Action items").contains("Can we move"), "{md}");
    }

    #[test]
    fn chinese_sentences_split_on_full_stops_and_score_by_character_pairs() {
        let t = timeline(&[
            ("A", 0.0, "我们决定下周发布新版本。预算还没有确定吗"),
            ("B", 4.0, "新版本的测试由我负责。"),
        ]);
        let md = extractive(&t, "test");
        assert!(
            md.contains("## Decisions\n\n- [00:00:00] A: 我们决定下周发布新版本。"),
            "{md}"
        );
        assert!(
            md.contains("## Open questions\n\n- [00:00:00] A: 预算还没有确定吗"),
            "{md}"
        );
        assert!(md.contains("B: 新版本的测试由我负责。"), "{md}");
    }

    #[test]
    fn without_an_llm_the_summary_is_extractive() {
        let t = timeline(&[("A", 0.0, "We decided to ship it.")]);
        let (md, kind) = summarize(&t, None);
        assert!(matches!(kind, SummaryKind::Extractive { .. }));
        assert!(md.contains("We decided to ship it."));
    }

    #[test]
    fn the_llm_reads_the_latest_part_of_a_long_meeting() {
        let long = "word ".repeat(400);
        let lines: Vec<(&str, f64, &str)> = (0..40).map(|i| ("A", i as f64 * 100.0, long.as_str())).collect();
        let mut t = timeline(&lines);
        t.segments.last_mut().unwrap().text = "the very end".into();
        let input = llm_input(&t);
        assert!(input.chars().count() <= MAX_LLM_INPUT_CHARS, "{}", input.len());
        assert!(input.ends_with("A: the very end"));
    }
}
