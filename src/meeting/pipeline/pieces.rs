//! Which stretches of a meeting the recognizer hears: speaker turns cut into *pieces* of one
//! speaker, at most [`MAX_PIECE_S`] long, cut at VAD pauses where a turn is longer.
//!
//! Invariants: pieces are in time order, do not overlap, lie inside the audio, and each belongs to
//! exactly one speaker; consecutive turns of one speaker separated by less than
//! [`JOIN_GAP_S`] are heard together (Whisper does better with some context than with
//! fragments); a piece never spans a speaker change.

pub use crate::meeting::diarize::Turn;

/// Longest piece, seconds (Whisper's 30 s window with a margin, as in batch).
pub const MAX_PIECE_S: f64 = 25.0;
/// Turns of one speaker closer than this are one piece.
pub const JOIN_GAP_S: f64 = 1.0;
/// Pieces shorter than this are not transcribed (too short to hold a word).
pub const MIN_PIECE_S: f64 = 0.3;

/// A stretch to transcribe.
pub type Piece = Turn;

/// Cuts `turns` (time-ordered) into pieces; `speech` are the VAD's speech spans in seconds, used
/// to cut long turns at pauses.
pub fn plan_pieces(turns: &[Turn], speech: &[(f64, f64)]) -> Vec<Piece> {
    // Join close turns of one speaker.
    let mut joined: Vec<Turn> = Vec::new();
    for t in turns.iter().filter(|t| t.end > t.start) {
        match joined.last_mut() {
            Some(j) if j.speaker == t.speaker && t.start - j.end < JOIN_GAP_S && t.end - j.start <= MAX_PIECE_S => {
                j.end = j.end.max(t.end)
            }
            _ => joined.push(*t),
        }
    }
    let mut out = Vec::new();
    for t in joined {
        if t.end - t.start <= MAX_PIECE_S {
            out.push(t);
            continue;
        }
        // Cut points: the middles of the pauses between speech spans inside the turn.
        let mut cuts: Vec<f64> = speech
            .windows(2)
            .map(|w| (w[0].1 + w[1].0) / 2.0)
            .filter(|&c| c > t.start && c < t.end)
            .collect();
        cuts.push(t.end);
        let mut start = t.start;
        let mut last_cut = t.start;
        for &c in &cuts {
            if c - start > MAX_PIECE_S && last_cut > start {
                out.push(Turn {
                    start,
                    end: last_cut,
                    speaker: t.speaker,
                });
                start = last_cut;
            }
            // Still too long (one long stretch of speech): cut evenly.
            while c - start > MAX_PIECE_S {
                let n = ((c - start) / MAX_PIECE_S).ceil();
                let step = (c - start) / n;
                out.push(Turn {
                    start,
                    end: start + step,
                    speaker: t.speaker,
                });
                start += step;
            }
            last_cut = c;
        }
        if t.end > start {
            out.push(Turn {
                start,
                end: t.end,
                speaker: t.speaker,
            });
        }
    }
    out.retain(|p| p.end - p.start >= MIN_PIECE_S);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(start: f64, end: f64, speaker: usize) -> Turn {
        Turn { start, end, speaker }
    }

    fn check_invariants(pieces: &[Piece], turns: &[Turn]) {
        for w in pieces.windows(2) {
            assert!(w[0].end <= w[1].start, "{pieces:?}");
        }
        for p in pieces {
            assert!(p.end - p.start <= MAX_PIECE_S + 1e-9, "{p:?}");
            // inside one turn of its speaker, or inside a run of its speaker's turns
            assert!(
                turns
                    .iter()
                    .any(|t| t.speaker == p.speaker && t.start <= p.start + 1e-9 && p.start < t.end),
                "{p:?}"
            );
        }
    }

    #[test]
    fn close_turns_of_one_speaker_join_and_speaker_changes_cut() {
        let turns = [
            turn(0.0, 2.0, 0),
            turn(2.5, 4.0, 0),
            turn(4.0, 6.0, 1),
            turn(8.0, 9.0, 1),
            turn(9.1, 9.2, 0),
        ];
        let p = plan_pieces(&turns, &[]);
        assert_eq!(p, vec![turn(0.0, 4.0, 0), turn(4.0, 6.0, 1), turn(8.0, 9.0, 1)]);
        check_invariants(&p, &turns);
    }

    #[test]
    fn long_turns_are_cut_at_pauses_then_evenly() {
        let turns = [turn(0.0, 60.0, 0)];
        let speech = [(0.0, 10.0), (11.0, 20.0), (21.0, 30.0), (31.0, 60.0)];
        let p = plan_pieces(&turns, &speech);
        check_invariants(&p, &turns);
        assert_eq!(p[0], turn(0.0, 20.5, 0), "{p:?}");
        assert_eq!(p.last().unwrap().end, 60.0);
        let covered: f64 = p.iter().map(|x| x.end - x.start).sum();
        assert!((covered - 60.0).abs() < 1e-9, "{p:?}");
    }

    #[test]
    fn joining_never_builds_a_piece_longer_than_the_limit() {
        let turns: Vec<Turn> = (0..10).map(|i| turn(i as f64 * 5.0, i as f64 * 5.0 + 4.8, 0)).collect();
        let p = plan_pieces(&turns, &[]);
        check_invariants(&p, &turns);
        assert!(p.len() >= 2, "{p:?}");
    }
}
