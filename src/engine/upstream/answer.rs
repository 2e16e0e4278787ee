//! Reading an upstream's transcription answer into a [`Hypothesis`].
//!
//! Accepted shapes: OpenAI's `verbose_json` (`text`, `language`, `duration`, `segments`, `words`)
//! and its plain `json` (`{"text": …}`), which servers that do not implement `verbose_json` send
//! instead. Anything else — not JSON, not an object, no string `text` — is a [`BadAnswer`], never a
//! panic. Segments or words that are malformed are skipped; when none are usable, one segment
//! covers the whole utterance.

use serde_json::Value;

use crate::engine::recognizer::{Hypothesis, Segment, Word};

/// Why an answer could not be read; the message says what was wrong and shows the start of it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadAnswer(pub String);

/// At most this many characters of a body go into an error message.
const SNIPPET_CHARS: usize = 200;

/// The first `SNIPPET_CHARS` characters of `body`, lossily decoded, on one line.
pub fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut s: String = text
        .chars()
        .take(SNIPPET_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().nth(SNIPPET_CHARS).is_some() {
        s.push('…');
    }
    s.trim().to_string()
}

/// Parses a 200 answer for an utterance of `duration_s` seconds.
pub fn parse(body: &[u8], duration_s: f32) -> Result<Hypothesis, BadAnswer> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| BadAnswer(format!("answer is not JSON ({e}): {:?}", snippet(body))))?;
    let Some(text) = v.get("text").and_then(Value::as_str) else {
        return Err(BadAnswer(format!("answer has no string \"text\": {:?}", snippet(body))));
    };
    let text = text.trim().to_string();
    let language = v.get("language").and_then(Value::as_str).and_then(iso_code);
    let mut segments: Vec<Segment> = v
        .get("segments")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(segment).collect())
        .unwrap_or_default();
    if segments.is_empty() && !text.is_empty() {
        segments.push(Segment {
            start: 0.0,
            end: duration_s,
            text: text.clone(),
            ..Default::default()
        });
    }
    let words = v
        .get("words")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(word).collect())
        .unwrap_or_default();
    Ok(Hypothesis {
        text,
        language,
        segments,
        words,
        ..Default::default()
    })
}

fn num(v: &Value, key: &str) -> Option<f32> {
    v.get(key)
        .and_then(Value::as_f64)
        .map(|x| x as f32)
        .filter(|x| x.is_finite())
}

fn segment(v: &Value) -> Option<Segment> {
    let (start, end) = (num(v, "start")?, num(v, "end")?);
    let text = v.get("text")?.as_str()?.to_string();
    Some(Segment {
        start,
        end: end.max(start),
        text,
        avg_logprob: num(v, "avg_logprob"),
        no_speech_prob: num(v, "no_speech_prob"),
        temperature: num(v, "temperature"),
        ..Default::default()
    })
}

fn word(v: &Value) -> Option<Word> {
    let (start, end) = (num(v, "start")?, num(v, "end")?);
    Some(Word {
        word: v.get("word")?.as_str()?.to_string(),
        start,
        end: end.max(start),
    })
}

/// Whisper's language names (what OpenAI's `verbose_json` carries) and their ISO-639-1 codes,
/// for the languages an upstream is likely to name. A name missing here gives no language.
const NAMES: &[(&str, &str)] = &[
    ("english", "en"),
    ("chinese", "zh"),
    ("mandarin", "zh"),
    ("cantonese", "yue"),
    ("german", "de"),
    ("spanish", "es"),
    ("russian", "ru"),
    ("korean", "ko"),
    ("french", "fr"),
    ("japanese", "ja"),
    ("portuguese", "pt"),
    ("turkish", "tr"),
    ("polish", "pl"),
    ("catalan", "ca"),
    ("dutch", "nl"),
    ("arabic", "ar"),
    ("swedish", "sv"),
    ("italian", "it"),
    ("indonesian", "id"),
    ("hindi", "hi"),
    ("finnish", "fi"),
    ("vietnamese", "vi"),
    ("hebrew", "he"),
    ("ukrainian", "uk"),
    ("greek", "el"),
    ("czech", "cs"),
    ("thai", "th"),
    ("malay", "ms"),
];

/// `english` / `English` / `en` / `zh-CN` → an ISO code; unknown names → `None`.
pub fn iso_code(language: &str) -> Option<String> {
    let l = language.trim().to_ascii_lowercase();
    if let Some((_, code)) = NAMES.iter().find(|(name, _)| *name == l) {
        return Some((*code).to_string());
    }
    // already a code: a 2–3 letter primary subtag, optionally with a region (`zh-CN`, `en_us`)
    let primary = l.split(['-', '_']).next().unwrap_or(&l);
    let is_code = (2..=3).contains(&primary.len()) && primary.chars().all(|c| c.is_ascii_lowercase());
    is_code.then(|| primary.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbose_json_gives_text_language_segments_and_words() {
        let body = br#"{"task":"transcribe","language":"english","duration":3.5,"text":" Hello there. ",
            "segments":[{"id":0,"start":0.0,"end":1.5,"text":" Hello","avg_logprob":-0.2},
                        {"id":1,"start":1.5,"end":3.4,"text":" there."}],
            "words":[{"word":"Hello","start":0.1,"end":0.6}]}"#;
        let h = parse(body, 3.5).unwrap();
        assert_eq!(h.text, "Hello there.");
        assert_eq!(h.language.as_deref(), Some("en"));
        assert_eq!(h.segments.len(), 2);
        assert_eq!((h.segments[1].start, h.segments[1].end), (1.5, 3.4));
        assert_eq!(h.segments[0].avg_logprob, Some(-0.2));
        assert_eq!(h.words[0].word, "Hello");
    }

    #[test]
    fn plain_json_gets_one_segment_over_the_utterance() {
        let h = parse(br#"{"text":"ni hao"}"#, 2.0).unwrap();
        assert_eq!(h.text, "ni hao");
        assert_eq!(h.language, None);
        assert_eq!(h.segments.len(), 1);
        assert_eq!((h.segments[0].start, h.segments[0].end), (0.0, 2.0));
        // empty text: no segment at all
        assert!(parse(br#"{"text":""}"#, 2.0).unwrap().segments.is_empty());
    }

    #[test]
    fn malformed_segments_are_skipped_not_fatal() {
        let body =
            br#"{"text":"a b","segments":[{"start":"x","end":1,"text":"a"},{"start":1,"end":0.5,"text":"b"},7]}"#;
        let h = parse(body, 2.0).unwrap();
        assert_eq!(h.segments.len(), 1);
        assert_eq!((h.segments[0].start, h.segments[0].end), (1.0, 1.0));
    }

    #[test]
    fn garbage_is_an_error_with_a_snippet() {
        let html = b"<html><body>502 Bad Gateway</body></html>";
        let e = parse(html, 1.0).unwrap_err();
        assert!(e.0.contains("not JSON") && e.0.contains("502 Bad Gateway"), "{e}");
        for body in [
            &br#"{"transcript":"hi"}"#[..],
            br#"{"text":42}"#,
            b"[1,2]",
            b"\"text\"",
            b"",
        ] {
            assert!(parse(body, 1.0).is_err(), "{}", String::from_utf8_lossy(body));
        }
        let long = "x".repeat(5000);
        let e = parse(long.as_bytes(), 1.0).unwrap_err();
        assert!(e.0.len() < 400, "{}", e.0.len());
    }

    #[test]
    fn language_names_and_codes_become_iso_codes() {
        assert_eq!(iso_code("english").as_deref(), Some("en"));
        assert_eq!(iso_code("Chinese").as_deref(), Some("zh"));
        assert_eq!(iso_code("zh-CN").as_deref(), Some("zh"));
        assert_eq!(iso_code("yue").as_deref(), Some("yue"));
        assert_eq!(iso_code("klingon"), None);
        assert_eq!(iso_code(""), None);
    }
}
