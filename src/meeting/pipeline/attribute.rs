//! Who said what: the text heard in a window of the recording, handed to the speakers whose
//! turns (from diarization) the window holds.
//!
//! A meeting is transcribed in windows of its speech ([`super::pieces`]), not turn by turn: a
//! turn can be a second long, and Whisper given a fragment guesses its language and words from
//! too little (a short code-switched turn comes back in English, or in Thai). The speakers are
//! then attributed to what a window's decode wrote, the way WhisperX does it:
//!
//! * A window that holds one speaker's turns only is that speaker's, whole.
//! * Otherwise, with the decode's words timed (forced alignment of the final text), each word
//!   goes to the speaker whose turns overlap it most (the nearest turn when none does), and runs
//!   of one speaker become pieces. A run of a single word is taken as timing jitter and joins
//!   the run before it (or after it, at the start). A speaker change within two words of a
//!   punctuation mark moves to just after the mark: speakers change at the end of a clause far
//!   more often than inside one, and the alignment's word times are coarser than that.
//! * Without word times, each recognizer segment goes whole to the speaker who overlaps it
//!   most. (An engine that cannot align at all gets windows of one speaker each,
//!   [`super::pieces::plan_windows`]; this is for an alignment that failed.)
//!
//! Invariants: the pieces are in time order, each has one speaker, and their texts, in order,
//! are the window's text cut at word boundaries (nothing is added, dropped or rewritten).

use super::pieces::Piece;
use crate::meeting::diarize::Turn;
use crate::meeting::timeline::join_texts;

/// What a window's decode wrote, on the recording's time axis (seconds).
#[derive(Debug, Clone, Copy)]
pub struct HeardText<'a> {
    /// The window, `(start, end)`.
    pub window: (f64, f64),
    /// The final text.
    pub text: &'a str,
    /// The recognizer's segments: `(start, end, text)`.
    pub segments: &'a [(f64, f64, String)],
    /// The text's words, timed: `(start, end, word)`; empty when none are known.
    pub words: &'a [(f64, f64, String)],
}

/// One speaker's part of a window.
#[derive(Debug, Clone, PartialEq)]
pub struct Said {
    /// Its stretch and speaker.
    pub piece: Piece,
    /// Its text.
    pub text: String,
    /// Its segments: `(start, end, text)`.
    pub segments: Vec<(f64, f64, String)>,
}

/// The speaker whose turns overlap `[a, b)` most; when none does, the speaker of the nearest
/// turn. `None` without turns.
pub fn speaker_of(turns: &[Turn], a: f64, b: f64) -> Option<usize> {
    let mut overlap: Vec<(usize, f64)> = Vec::new();
    for t in turns {
        let o = (b.min(t.end) - a.max(t.start)).max(0.0);
        match overlap.iter_mut().find(|x| x.0 == t.speaker) {
            Some(x) => x.1 += o,
            None => overlap.push((t.speaker, o)),
        }
    }
    if let Some(best) = overlap.iter().filter(|x| x.1 > 0.0).max_by(|x, y| x.1.total_cmp(&y.1)) {
        return Some(best.0);
    }
    let mid = (a + b) / 2.0;
    let distance = |t: &Turn| {
        if mid < t.start {
            t.start - mid
        } else {
            (mid - t.end).max(0.0)
        }
    };
    turns
        .iter()
        .min_by(|x, y| distance(x).total_cmp(&distance(y)))
        .map(|t| t.speaker)
}

/// Whether turns of more than one speaker overlap `window` (seconds): only then are words
/// worth timing.
pub fn several_speakers(turns: &[Turn], window: (f64, f64)) -> bool {
    let mut inside = turns.iter().filter(|t| t.end > window.0 && t.start < window.1);
    let first = inside.next().map(|t| t.speaker);
    inside.any(|t| Some(t.speaker) != first)
}

/// Splits what was heard in a window among the speakers of `turns` (see the module docs).
pub fn attribute(heard: HeardText<'_>, turns: &[Turn]) -> Vec<Said> {
    let (ws, we) = heard.window;
    let inside: Vec<Turn> = turns.iter().filter(|t| t.end > ws && t.start < we).copied().collect();
    let near = if inside.is_empty() { turns } else { &inside[..] };
    if heard.text.trim().is_empty() {
        return Vec::new();
    }
    if !several_speakers(&inside, heard.window) {
        let speaker = speaker_of(near, ws, we).unwrap_or(0);
        return vec![whole(heard, speaker)];
    }
    let said = match word_bounds(heard.text, heard.words) {
        Some(bounds) => by_words(heard, &bounds, near),
        None => by_segments(heard, near),
    };
    in_time_order(said, near)
}

/// Segment times kept inside the turns of their speaker they overlap (Whisper's segment times
/// and the alignment's last word run on into the pause, or into the next speaker's turn; the
/// turns' edges are the VAD's) and made non-decreasing, and each piece's stretch set to its
/// segments'.
fn in_time_order(mut said: Vec<Said>, turns: &[Turn]) -> Vec<Said> {
    let mut last = f64::NEG_INFINITY;
    for s in &mut said {
        let theirs = turns
            .iter()
            .filter(|t| t.speaker == s.piece.speaker && t.end > s.piece.start && t.start < s.piece.end);
        let (lo, hi) = theirs.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), t| {
            (lo.min(t.start), hi.max(t.end))
        });
        for g in &mut s.segments {
            let (a, b) = (g.0.max(lo), g.1.min(hi));
            if lo < hi && b > a {
                (g.0, g.1) = (a, b);
            }
            g.0 = g.0.max(last);
            g.1 = g.1.max(g.0);
            last = g.1;
        }
        if let Some((a, b)) = extent(&s.segments) {
            (s.piece.start, s.piece.end) = (a, b);
        }
    }
    said
}

/// The whole window as one speaker's.
fn whole(heard: HeardText<'_>, speaker: usize) -> Said {
    let (start, end) = extent(heard.segments).unwrap_or(heard.window);
    let segments = if heard.segments.is_empty() {
        vec![(start, end, heard.text.trim().to_string())]
    } else {
        heard.segments.to_vec()
    };
    Said {
        piece: Piece { start, end, speaker },
        text: heard.text.trim().to_string(),
        segments,
    }
}

fn extent(segments: &[(f64, f64, String)]) -> Option<(f64, f64)> {
    Some((segments.first()?.0, segments.last()?.1))
}

/// Where each of `parts` begins in `text` (byte offset), found in order; `None` when one is not
/// there (the parts are not this text's) or there are none.
fn offsets<'p>(text: &str, parts: impl IntoIterator<Item = &'p str>) -> Option<Vec<usize>> {
    let mut at = 0;
    let mut out = Vec::new();
    for w in parts {
        let w = w.trim();
        let found = at + text[at..].find(w)?;
        out.push(found);
        at = found + w.len();
    }
    (!out.is_empty()).then_some(out)
}

/// Where each word begins in `text`, then the text's end: word `i` is `text[b[i]..b[i + 1]]`
/// with the space before the next word.
fn word_bounds(text: &str, words: &[(f64, f64, String)]) -> Option<Vec<usize>> {
    let mut b = offsets(text, words.iter().map(|w| w.2.as_str()))?;
    b.push(text.len());
    Some(b)
}

/// The recognizer segment of each word: by where the word is in the text when the segments'
/// texts are found in it in order, else by time (the word's middle).
fn segments_of_words(heard: HeardText<'_>, word_at: &[usize]) -> Vec<usize> {
    let last = heard.segments.len().saturating_sub(1);
    if let Some(seg_at) = offsets(heard.text, heard.segments.iter().map(|s| s.2.as_str())) {
        return word_at
            .iter()
            .map(|&w| seg_at.iter().rposition(|&s| s <= w).unwrap_or(0))
            .collect();
    }
    let mut previous = 0;
    heard
        .words
        .iter()
        .map(|w| {
            let mid = (w.0 + w.1) / 2.0;
            let s = heard.segments.iter().position(|s| mid < s.1).unwrap_or(last);
            // never back: words are in text order
            previous = s.max(previous);
            previous
        })
        .collect()
}

/// Whether a word ends a clause or a sentence.
fn ends_clause(word: &str) -> bool {
    word.trim_end().chars().last().is_some_and(|c| {
        matches!(
            c,
            ',' | '.' | '?' | '!' | ';' | ':' | '，' | '。' | '？' | '！' | '；' | '：' | '、'
        )
    })
}

fn by_words(heard: HeardText<'_>, bounds: &[usize], turns: &[Turn]) -> Vec<Said> {
    let words = heard.words;
    let who: Vec<usize> = words
        .iter()
        .map(|(a, b, _)| speaker_of(turns, *a, b.max(*a + 1e-3)).unwrap_or(0))
        .collect();
    // runs of one speaker: (first word, speaker)
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for (i, &s) in who.iter().enumerate() {
        if runs.last().is_none_or(|r| r.1 != s) {
            runs.push((i, s));
        }
    }
    // a one-word run is jitter: it joins the run before it (the next one, at the start)
    let len = |runs: &[(usize, usize)], k: usize| runs.get(k + 1).map_or(words.len(), |r| r.0) - runs[k].0;
    let mut k = 0;
    while runs.len() > 1 && k < runs.len() {
        if len(&runs, k) == 1 {
            if k == 0 {
                runs[1].0 = 0;
            }
            runs.remove(k);
            // neighbours of one speaker merge
            if k > 0 && k < runs.len() && runs[k].1 == runs[k - 1].1 {
                runs.remove(k);
            }
            k = k.saturating_sub(1);
        } else {
            k += 1;
        }
    }
    // speaker changes move to just after a clause mark within two words
    for k in 1..runs.len() {
        let b = runs[k].0;
        let lo = runs[k - 1].0 + 1;
        let hi = runs.get(k + 1).map_or(words.len(), |r| r.0) - 1;
        let best = (b.saturating_sub(2).max(lo)..=(b + 1).min(hi))
            .filter(|&j| ends_clause(&words[j - 1].2))
            .min_by_key(|&j| j.abs_diff(b));
        if let Some(j) = best {
            runs[k].0 = j;
        }
    }
    let segment = segments_of_words(heard, &bounds[..words.len()]);
    runs.iter()
        .enumerate()
        .filter_map(|(k, &(first, speaker))| {
            let end = runs.get(k + 1).map_or(words.len(), |r| r.0);
            let said = heard.text[bounds[first]..bounds[end]].trim();
            if said.is_empty() {
                return None;
            }
            let segments = run_segments(heard, bounds, &segment, first, end);
            let (start, stop) = extent(&segments).unwrap_or((words[first].0, words[end - 1].1));
            Some(Said {
                piece: Piece {
                    start,
                    end: stop,
                    speaker,
                },
                text: said.to_string(),
                segments,
            })
        })
        .collect()
}

/// The segments of words `first..end`: the words grouped by the recognizer segment they belong
/// to (`segment`, per word), each group with its segment's times where it holds the segment's
/// first or last word, and its words' times where the segment goes on in another run.
fn run_segments(
    heard: HeardText<'_>,
    bounds: &[usize],
    segment: &[usize],
    first: usize,
    end: usize,
) -> Vec<(f64, f64, String)> {
    let words = heard.words;
    let mut out: Vec<(f64, f64, String)> = Vec::new();
    let mut i = first;
    while i < end {
        let s = segment[i];
        let mut j = i + 1;
        while j < end && segment[j] == s {
            j += 1;
        }
        let seg = heard.segments.get(s);
        let starts_segment = i == 0 || segment[i - 1] != s;
        let ends_segment = j == words.len() || segment[j] != s;
        let start = match seg {
            Some(seg) if starts_segment => seg.0.min(words[i].0),
            _ => words[i].0,
        };
        let stop = match seg {
            Some(seg) if ends_segment => seg.1.max(words[j - 1].1),
            _ => words[j - 1].1,
        };
        let said = heard.text[bounds[i]..bounds[j]].trim();
        if !said.is_empty() {
            out.push((start, stop.max(start), said.to_string()));
        }
        i = j;
    }
    out
}

fn by_segments(heard: HeardText<'_>, turns: &[Turn]) -> Vec<Said> {
    if heard.segments.is_empty() {
        let speaker = speaker_of(turns, heard.window.0, heard.window.1).unwrap_or(0);
        return vec![whole(heard, speaker)];
    }
    let mut out: Vec<Said> = Vec::new();
    for seg in heard.segments {
        let speaker = speaker_of(turns, seg.0, seg.1).unwrap_or(0);
        match out.last_mut() {
            Some(s) if s.piece.speaker == speaker => {
                s.piece.end = seg.1;
                s.text = join_texts([s.text.as_str(), seg.2.as_str()]);
                s.segments.push(seg.clone());
            }
            _ => out.push(Said {
                piece: Piece {
                    start: seg.0,
                    end: seg.1,
                    speaker,
                },
                text: seg.2.trim().to_string(),
                segments: vec![seg.clone()],
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(start: f64, end: f64, speaker: usize) -> Turn {
        Turn { start, end, speaker }
    }

    fn words(list: &[(f64, f64, &str)]) -> Vec<(f64, f64, String)> {
        list.iter().map(|&(a, b, w)| (a, b, w.to_string())).collect()
    }

    #[test]
    fn the_speaker_of_a_stretch_overlaps_it_most_or_is_nearest() {
        let turns = [turn(0.0, 2.0, 0), turn(2.0, 5.0, 1), turn(8.0, 9.0, 0)];
        assert_eq!(speaker_of(&turns, 1.0, 2.5), Some(0));
        assert_eq!(speaker_of(&turns, 1.5, 4.0), Some(1));
        // in a pause: the nearest turn
        assert_eq!(speaker_of(&turns, 6.0, 6.2), Some(1));
        assert_eq!(speaker_of(&turns, 7.5, 7.7), Some(0));
        assert_eq!(speaker_of(&[], 0.0, 1.0), None);
    }

    #[test]
    fn a_window_of_one_speaker_is_theirs_whole() {
        let segments = vec![
            (10.0, 14.0, "我们先过一下。".to_string()),
            (14.0, 18.0, "好的。".to_string()),
        ];
        let heard = HeardText {
            window: (10.0, 18.5),
            text: "我们先过一下。好的。",
            segments: &segments,
            words: &[],
        };
        let turns = [turn(9.0, 12.0, 1), turn(12.5, 18.5, 1), turn(19.0, 20.0, 0)];
        let said = attribute(heard, &turns);
        assert_eq!(said.len(), 1);
        assert_eq!(
            said[0].piece,
            Piece {
                start: 10.0,
                end: 18.0,
                speaker: 1
            }
        );
        assert_eq!(said[0].text, "我们先过一下。好的。");
        assert_eq!(said[0].segments, segments);
    }

    #[test]
    fn words_split_a_window_at_the_speaker_change_snapped_to_the_clause_mark() {
        // speaker 0 asks until 2.0 s, speaker 1 answers; the alignment puts the question's last
        // character 0.1 s into the answer's turn
        let text = "配好了吗？配好了，已经降下来了。";
        let w = words(&[
            (0.0, 0.4, "配"),
            (0.4, 0.8, "好"),
            (0.8, 1.2, "了"),
            (1.2, 2.1, "吗？"),
            (2.3, 2.6, "配"),
            (2.6, 2.9, "好"),
            (2.9, 3.2, "了，"),
            (3.3, 3.6, "已"),
            (3.6, 3.9, "经"),
            (3.9, 4.2, "降"),
            (4.2, 4.5, "下"),
            (4.5, 4.8, "来"),
            (4.8, 5.1, "了。"),
        ]);
        let segments = vec![(0.0, 5.2, text.to_string())];
        let heard = HeardText {
            window: (0.0, 5.2),
            text,
            segments: &segments,
            words: &w,
        };
        // diarization's boundary is early: 1.4 s (inside "吗？")
        let turns = [turn(0.0, 1.4, 0), turn(1.4, 5.2, 1)];
        let said = attribute(heard, &turns);
        let texts: Vec<(&str, usize)> = said.iter().map(|s| (s.text.as_str(), s.piece.speaker)).collect();
        assert_eq!(texts, [("配好了吗？", 0), ("配好了，已经降下来了。", 1)]);
        // the one recognizer segment is cut in two, each with its side of the times, kept
        // inside its speaker's turns
        assert_eq!(said[0].segments, vec![(0.0, 1.4, "配好了吗？".to_string())]);
        assert_eq!(said[1].segments, vec![(2.3, 5.2, "配好了，已经降下来了。".to_string())]);
        assert_eq!(
            said[1].piece,
            Piece {
                start: 2.3,
                end: 5.2,
                speaker: 1
            }
        );
        // nothing added or dropped
        assert_eq!(said.iter().map(|s| s.text.as_str()).collect::<String>(), text);
    }

    #[test]
    fn a_single_word_of_another_speaker_is_jitter() {
        let text = "we moved the pods to Kubernetes today";
        let w = words(&[
            (0.0, 0.3, "we"),
            (0.3, 0.6, "moved"),
            (0.6, 0.9, "the"),
            (0.9, 1.2, "pods"),
            (1.2, 1.5, "to"),
            (1.5, 2.4, "Kubernetes"),
            (2.4, 2.8, "today"),
        ]);
        let segments = vec![(0.0, 2.8, text.to_string())];
        let heard = HeardText {
            window: (0.0, 3.0),
            text,
            segments: &segments,
            words: &w,
        };
        // a stray turn of speaker 1 under "pods"
        let turns = [turn(0.0, 0.9, 0), turn(0.9, 1.2, 1), turn(1.2, 3.0, 0)];
        let said = attribute(heard, &turns);
        assert_eq!(said.len(), 1, "{said:?}");
        assert_eq!(said[0].text, text);
        assert_eq!(said[0].piece.speaker, 0);
        // at the start too: the first word joins the run after it
        let turns = [turn(0.0, 0.3, 1), turn(0.3, 3.0, 0)];
        let said = attribute(heard, &turns);
        assert_eq!((said.len(), said[0].piece.speaker), (1, 0), "{said:?}");
    }

    #[test]
    fn without_word_times_whole_segments_go_to_the_speaker_who_overlaps_them_most() {
        let segments = vec![
            (0.0, 3.0, "Where are we?".to_string()),
            (3.2, 6.0, "The changes are merged.".to_string()),
            (6.1, 9.0, "The VPC is up.".to_string()),
            (9.5, 11.0, "Good.".to_string()),
        ];
        let text = "Where are we? The changes are merged. The VPC is up. Good.";
        let heard = HeardText {
            window: (0.0, 11.0),
            text,
            segments: &segments,
            words: &[],
        };
        let turns = [turn(0.0, 3.5, 0), turn(3.5, 9.2, 1), turn(9.2, 11.0, 0)];
        let said = attribute(heard, &turns);
        let got: Vec<(&str, usize, f64, f64)> = said
            .iter()
            .map(|s| (s.text.as_str(), s.piece.speaker, s.piece.start, s.piece.end))
            .collect();
        assert_eq!(
            got,
            [
                ("Where are we?", 0, 0.0, 3.0),
                // the segment's start is kept inside its speaker's turn
                ("The changes are merged. The VPC is up.", 1, 3.5, 9.0),
                ("Good.", 0, 9.5, 11.0),
            ]
        );
        // words that are not the text's fall back to segments too
        let stale = words(&[(0.0, 1.0, "Hello")]);
        let said = attribute(HeardText { words: &stale, ..heard }, &turns);
        assert_eq!(said.len(), 3);
    }

    #[test]
    fn an_empty_text_says_nothing() {
        let heard = HeardText {
            window: (0.0, 5.0),
            text: "  ",
            segments: &[],
            words: &[],
        };
        assert!(attribute(heard, &[turn(0.0, 2.0, 0), turn(2.0, 5.0, 1)]).is_empty());
    }
}
