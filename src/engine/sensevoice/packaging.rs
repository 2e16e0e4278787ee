//! Recognising the two ONNX packagings of SenseVoice-Small and reading their side files.
//!
//! * **sherpa-onnx** (`scripts/sense-voice/export-onnx.py`): `model.onnx` and/or
//!   `model.int8.onnx`, `tokens.txt`; inputs `x`, `x_length`, `language`, `text_norm`;
//!   output `logits`; front-end settings and CMVN in the model metadata
//!   (`lfr_window_size`, `lfr_window_shift`, `normalize_samples`, `neg_mean`, `inv_stddev`,
//!   `lang_*`, `with_itn`, `without_itn`, `vocab_size`). sherpa-onnx 2.0.1 stacks LFR frames
//!   with FunASR's padding rule (older releases did not pad).
//! * **FunASR** (`funasr/models/sense_voice/export_meta.py`, run by `funasr-onnx`):
//!   `model.onnx` and/or `model_quant.onnx`, `am.mvn`, `config.yaml`, and `tokens.json` or the
//!   SentencePiece model; inputs `speech`, `speech_lengths`, `language`, `textnorm`; outputs
//!   `ctc_logits` (log-softmax) and `encoder_out_lens`; FunASR's LFR padding.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::vocab::SENTENCEPIECE_MODEL;

/// Which packaging a model directory uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packaging {
    /// sherpa-onnx export.
    Sherpa,
    /// FunASR export (as used by `funasr-onnx`).
    FunAsr,
}

/// Which weights to load when a directory has both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// The int8 model if present, else fp32.
    #[default]
    Auto,
    /// `model.onnx`.
    Fp32,
    /// `model.int8.onnx` (sherpa-onnx) or `model_quant.onnx` (FunASR).
    Int8,
}

/// ONNX input/output names of a packaging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoNames {
    /// Features `[N, T, 560]` f32.
    pub features: &'static str,
    /// Feature lengths `[N]` i32.
    pub lengths: &'static str,
    /// Language query ids `[N]` i32.
    pub language: &'static str,
    /// Text-normalisation query ids `[N]` i32.
    pub text_norm: &'static str,
    /// CTC scores `[N, T + 4, V]`.
    pub scores: &'static str,
    /// Output lengths `[N]` (FunASR only).
    pub out_lengths: Option<&'static str>,
}

impl Packaging {
    /// The tensor names this packaging uses.
    pub fn io_names(self) -> IoNames {
        match self {
            Packaging::Sherpa => IoNames {
                features: "x",
                lengths: "x_length",
                language: "language",
                text_norm: "text_norm",
                scores: "logits",
                out_lengths: None,
            },
            Packaging::FunAsr => IoNames {
                features: "speech",
                lengths: "speech_lengths",
                language: "language",
                text_norm: "textnorm",
                scores: "ctc_logits",
                out_lengths: Some("encoder_out_lens"),
            },
        }
    }

    /// Detects the packaging of `dir` from its files, without loading anything.
    pub fn detect(dir: &Path) -> Option<Packaging> {
        let has = |f: &str| dir.join(f).is_file();
        let has_model = has("model.onnx");
        if (has_model || has("model.int8.onnx")) && has("tokens.txt") {
            Some(Packaging::Sherpa)
        } else if (has_model || has("model_quant.onnx"))
            && has("am.mvn")
            && (has("tokens.json") || has(SENTENCEPIECE_MODEL) || has("tokens.txt"))
        {
            Some(Packaging::FunAsr)
        } else {
            None
        }
    }

    /// The model file to load for `precision`, if present.
    pub fn model_file(self, dir: &Path, precision: Precision) -> Option<PathBuf> {
        let int8 = dir.join(match self {
            Packaging::Sherpa => "model.int8.onnx",
            Packaging::FunAsr => "model_quant.onnx",
        });
        let fp32 = dir.join("model.onnx");
        match precision {
            Precision::Fp32 => fp32.is_file().then_some(fp32),
            Precision::Int8 => int8.is_file().then_some(int8),
            Precision::Auto if int8.is_file() => Some(int8),
            Precision::Auto => fp32.is_file().then_some(fp32),
        }
    }
}

/// FunASR's fixed query ids (`SenseVoiceSmall.lid_dict` / `textnorm_dict`).
pub fn funasr_query_ids() -> (HashMap<String, i32>, i32, i32) {
    let langs = [
        ("auto", 0),
        ("zh", 3),
        ("en", 4),
        ("yue", 7),
        ("ja", 11),
        ("ko", 12),
        ("nospeech", 13),
    ];
    (langs.iter().map(|&(k, v)| (k.to_string(), v)).collect(), 14, 15)
}

/// Reads `key: value` settings from FunASR's `config.yaml` `frontend_conf` section (a tiny
/// line-based reader: only scalar values are needed).
pub fn frontend_conf(yaml: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut in_section = false;
    let mut indent = None;
    for line in yaml.lines() {
        let content = line.split('#').next().unwrap_or("");
        if content.trim().is_empty() {
            continue;
        }
        let depth = content.len() - content.trim_start().len();
        if depth == 0 {
            in_section = content.trim_end() == "frontend_conf:";
            indent = None;
            continue;
        }
        if !in_section {
            continue;
        }
        let d = *indent.get_or_insert(depth);
        if depth != d {
            continue;
        }
        if let Some((k, v)) = content.trim().split_once(':') {
            out.insert(
                k.trim().to_string(),
                v.trim().trim_matches(|c| c == '"' || c == '\'').to_string(),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_frontend_conf() {
        let y = "model: X\nfrontend_conf:\n    fs: 16000\n    lfr_m: 7  # comment\n    lfr_n: 6\n    nested:\n        a: 1\n\
                 encoder_conf:\n    lfr_m: 99\n";
        let c = frontend_conf(y);
        assert_eq!(c.get("lfr_m").map(String::as_str), Some("7"));
        assert_eq!(c.get("lfr_n").map(String::as_str), Some("6"));
        assert!(!c.contains_key("a"));
    }

    #[test]
    fn detects_nothing_in_an_empty_dir() {
        let d = std::env::temp_dir().join(format!("sv-empty-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&d);
        assert_eq!(Packaging::detect(&d), None);
        let _ = std::fs::remove_dir_all(&d);
    }
}
