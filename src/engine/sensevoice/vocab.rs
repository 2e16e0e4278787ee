//! SenseVoice's vocabulary: loading it from any of the packagings' files and classifying
//! pieces into text, rich-transcription tags and control symbols.
//!
//! Accepted files: sherpa-onnx `tokens.txt` (`piece id` per line), FunASR `tokens.json` (a
//! JSON array of pieces) and the SentencePiece model `chn_jpn_yue_eng_ko_spectok.bpe.model`
//! (read with a minimal protobuf reader: only the piece strings are needed).

use std::path::Path;

/// What a vocabulary entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PieceKind {
    /// Ordinary text (SentencePiece, `▁` marks a word start).
    Text,
    /// Language tag, e.g. `zh` from `<|zh|>` (also `nospeech`).
    Language(String),
    /// Emotion tag, e.g. `NEUTRAL`.
    Emotion(String),
    /// Audio event tag, e.g. `Speech`.
    Event(String),
    /// `<|withitn|>` / `<|woitn|>`.
    TextNorm,
    /// Any other `<|...|>` tag.
    OtherTag,
    /// `<unk>`, `<s>`, `</s>` and similar control symbols.
    Control,
}

const EMOTIONS: &[&str] = &[
    "HAPPY",
    "SAD",
    "ANGRY",
    "NEUTRAL",
    "FEARFUL",
    "DISGUSTED",
    "SURPRISED",
    "EMO_UNKNOWN",
];
const EVENTS: &[&str] = &[
    "Speech",
    "BGM",
    "Applause",
    "Laughter",
    "Cry",
    "Sneeze",
    "Breath",
    "Cough",
    "Event_UNK",
];

/// Classifies one piece.
pub fn classify(piece: &str) -> PieceKind {
    if let Some(inner) = piece.strip_prefix("<|").and_then(|p| p.strip_suffix("|>")) {
        if inner == "withitn" || inner == "woitn" {
            PieceKind::TextNorm
        } else if EMOTIONS.contains(&inner) {
            PieceKind::Emotion(inner.to_string())
        } else if EVENTS.contains(&inner) {
            PieceKind::Event(inner.to_string())
        } else if inner == "nospeech"
            || ((2..=3).contains(&inner.len()) && inner.bytes().all(|b| b.is_ascii_lowercase()))
        {
            PieceKind::Language(inner.to_string())
        } else {
            PieceKind::OtherTag
        }
    } else if matches!(piece, "<unk>" | "<s>" | "</s>" | "<blank>" | "<blk>" | "<pad>") {
        PieceKind::Control
    } else {
        PieceKind::Text
    }
}

/// Why a vocabulary file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VocabError {
    /// The file could not be read.
    #[error("cannot read {path}: {reason}")]
    Io {
        /// File path.
        path: String,
        /// OS error.
        reason: String,
    },
    /// The content is not in the expected format.
    #[error("malformed vocabulary {path}: {reason}")]
    Malformed {
        /// File path.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

/// The id -> piece table with a classification of every piece.
#[derive(Debug, Clone)]
pub struct Vocab {
    pieces: Vec<String>,
    kinds: Vec<PieceKind>,
}

impl Vocab {
    /// From a list of pieces in id order.
    pub fn from_pieces(pieces: Vec<String>) -> Self {
        let kinds = pieces.iter().map(|p| classify(p)).collect();
        Self { pieces, kinds }
    }

    /// Parses sherpa-onnx's `tokens.txt` (`piece id` per line; the id is the last field).
    pub fn parse_tokens_txt(text: &str, path: &str) -> Result<Self, VocabError> {
        let bad = |reason: String| VocabError::Malformed {
            path: path.to_string(),
            reason,
        };
        let mut entries: Vec<Option<String>> = Vec::new();
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let (piece, id) = line
                .rsplit_once(' ')
                .ok_or_else(|| bad(format!("line {} has no id", n + 1)))?;
            let id: usize = id
                .trim()
                .parse()
                .map_err(|_| bad(format!("line {}: bad id {id:?}", n + 1)))?;
            if id >= 10_000_000 {
                return Err(bad(format!("line {}: id {id} too large", n + 1)));
            }
            if entries.len() <= id {
                entries.resize(id + 1, None);
            }
            entries[id] = Some(piece.to_string());
        }
        if entries.is_empty() {
            return Err(bad("no entries".into()));
        }
        let pieces = entries
            .into_iter()
            .enumerate()
            .map(|(i, p)| p.ok_or_else(|| bad(format!("id {i} missing"))))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::from_pieces(pieces))
    }

    /// Parses FunASR's `tokens.json` (a JSON array of strings).
    pub fn parse_tokens_json(text: &str, path: &str) -> Result<Self, VocabError> {
        let pieces: Vec<String> = serde_json::from_str(text).map_err(|e| VocabError::Malformed {
            path: path.to_string(),
            reason: e.to_string(),
        })?;
        if pieces.is_empty() {
            return Err(VocabError::Malformed {
                path: path.to_string(),
                reason: "empty list".into(),
            });
        }
        Ok(Self::from_pieces(pieces))
    }

    /// Reads the pieces of a SentencePiece `ModelProto` (field 1: repeated `SentencePiece`,
    /// whose field 1 is the piece string).
    pub fn parse_sentencepiece_model(bytes: &[u8], path: &str) -> Result<Self, VocabError> {
        let bad = |reason: &str| VocabError::Malformed {
            path: path.to_string(),
            reason: reason.to_string(),
        };
        let mut pieces = Vec::new();
        let mut r = ProtoReader { buf: bytes, pos: 0 };
        while let Some((field, wire)) = r.key().ok_or_else(|| bad("truncated key"))? {
            if field == 1 && wire == 2 {
                let msg = r.bytes().ok_or_else(|| bad("truncated piece"))?;
                let mut inner = ProtoReader { buf: msg, pos: 0 };
                let mut piece = None;
                while let Some((f, w)) = inner.key().ok_or_else(|| bad("truncated piece key"))? {
                    if f == 1 && w == 2 {
                        let s = inner.bytes().ok_or_else(|| bad("truncated piece text"))?;
                        piece = Some(String::from_utf8(s.to_vec()).map_err(|_| bad("piece is not UTF-8"))?);
                    } else if !inner.skip(w) {
                        return Err(bad("bad field in piece"));
                    }
                }
                pieces.push(piece.ok_or_else(|| bad("piece without text"))?);
            } else if !r.skip(wire) {
                return Err(bad("bad field"));
            }
        }
        if pieces.is_empty() {
            return Err(bad("no pieces"));
        }
        Ok(Self::from_pieces(pieces))
    }

    /// Loads whichever vocabulary file `dir` has (tokens.txt, tokens.json, then the
    /// SentencePiece model).
    pub fn load_dir(dir: &Path) -> Result<Self, VocabError> {
        let read = |p: &Path| {
            std::fs::read(p).map_err(|e| VocabError::Io {
                path: p.display().to_string(),
                reason: e.to_string(),
            })
        };
        let txt = dir.join("tokens.txt");
        let json = dir.join("tokens.json");
        let spm = dir.join(SENTENCEPIECE_MODEL);
        if txt.is_file() {
            let b = read(&txt)?;
            Self::parse_tokens_txt(&String::from_utf8_lossy(&b), &txt.display().to_string())
        } else if json.is_file() {
            let b = read(&json)?;
            Self::parse_tokens_json(&String::from_utf8_lossy(&b), &json.display().to_string())
        } else if spm.is_file() {
            Self::parse_sentencepiece_model(&read(&spm)?, &spm.display().to_string())
        } else {
            Err(VocabError::Io {
                path: dir.display().to_string(),
                reason: "no tokens.txt, tokens.json or bpe.model".into(),
            })
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.pieces.len()
    }

    /// Whether the table is empty (never true for a loaded vocabulary).
    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }

    /// The piece for `id`, if any.
    pub fn piece(&self, id: u32) -> Option<&str> {
        self.pieces.get(id as usize).map(String::as_str)
    }

    /// The classification of `id` (`Control` for unknown ids).
    pub fn kind(&self, id: u32) -> &PieceKind {
        self.kinds.get(id as usize).unwrap_or(&PieceKind::Control)
    }
}

/// File name of SenseVoice-Small's SentencePiece model in FunASR packagings.
pub const SENTENCEPIECE_MODEL: &str = "chn_jpn_yue_eng_ko_spectok.bpe.model";

struct ProtoReader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> ProtoReader<'a> {
    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.buf.get(self.pos)?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    /// `Some(None)` at the end, `None` when truncated.
    fn key(&mut self) -> Option<Option<(u64, u8)>> {
        if self.pos >= self.buf.len() {
            return Some(None);
        }
        let k = self.varint()?;
        Some(Some((k >> 3, (k & 7) as u8)))
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.varint()?).ok()?;
        let end = self.pos.checked_add(n)?;
        let s = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    fn skip(&mut self, wire: u8) -> bool {
        match wire {
            0 => self.varint().is_some(),
            1 => self.advance(8),
            2 => self.bytes().is_some(),
            5 => self.advance(4),
            _ => false,
        }
    }

    fn advance(&mut self, n: usize) -> bool {
        if self.pos + n <= self.buf.len() {
            self.pos += n;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_tags() {
        assert_eq!(classify("<|zh|>"), PieceKind::Language("zh".into()));
        assert_eq!(classify("<|yue|>"), PieceKind::Language("yue".into()));
        assert_eq!(classify("<|nospeech|>"), PieceKind::Language("nospeech".into()));
        assert_eq!(classify("<|NEUTRAL|>"), PieceKind::Emotion("NEUTRAL".into()));
        assert_eq!(classify("<|Speech|>"), PieceKind::Event("Speech".into()));
        assert_eq!(classify("<|withitn|>"), PieceKind::TextNorm);
        assert_eq!(classify("<|SPECIAL_1|>"), PieceKind::OtherTag);
        assert_eq!(classify("<unk>"), PieceKind::Control);
        assert_eq!(classify("\u{2581}hello"), PieceKind::Text);
    }

    #[test]
    fn parses_tokens_txt_and_json() {
        let v = Vocab::parse_tokens_txt("<unk> 0\n<s> 1\n\u{2581}a b 2\n", "t").unwrap();
        assert_eq!(v.len(), 3);
        assert_eq!(v.piece(2), Some("\u{2581}a b"));
        assert!(Vocab::parse_tokens_txt("a 0\nb 2\n", "t").is_err());
        assert!(Vocab::parse_tokens_txt("a x\n", "t").is_err());
        let v = Vocab::parse_tokens_json(r#"["<unk>","x"]"#, "j").unwrap();
        assert_eq!(v.piece(1), Some("x"));
        assert!(Vocab::parse_tokens_json("{}", "j").is_err());
    }

    #[test]
    fn parses_sentencepiece_proto() {
        // ModelProto { pieces: [{piece:"<unk>", score:0, type:2}, {piece:"ab"}], trainer_spec: {..} }
        let mut b = Vec::new();
        for (p, extra) in [("<unk>", &[0x15u8, 0, 0, 0, 0, 0x18, 2][..]), ("ab", &[][..])] {
            let mut inner = vec![0x0a, p.len() as u8];
            inner.extend_from_slice(p.as_bytes());
            inner.extend_from_slice(extra);
            b.push(0x0a);
            b.push(inner.len() as u8);
            b.extend(inner);
        }
        b.extend_from_slice(&[0x12, 0x02, 0x08, 0x01]);
        let v = Vocab::parse_sentencepiece_model(&b, "m").unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v.piece(1), Some("ab"));
        assert!(Vocab::parse_sentencepiece_model(&b[..5], "m").is_err());
    }
}
