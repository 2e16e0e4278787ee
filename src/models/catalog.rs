//! The model packagings `models pull` knows: which hub repository publishes each one, and which
//! files make up an installation of it.

use std::path::PathBuf;

use crate::config::Config;
use crate::engine::SENSEVOICE;
use crate::engine::sensevoice::Packaging;

/// Which weights of a packaging to install.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// The int8-quantised model only (the smallest download; what the engine prefers).
    #[default]
    Int8,
    /// The float32 model only.
    Fp32,
    /// Both models.
    Both,
}

/// One packaging of a model as published in a hub repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Source {
    /// The packaging the engine will detect in the installed directory.
    pub packaging: Packaging,
    /// Short name for messages.
    pub label: &'static str,
    /// The hub this repository lives on (used when neither `--from`, `ASR_ROUTER_HUB_URL` nor
    /// `hub_url` names one).
    pub hub: &'static str,
    /// Repository id on the hub (`owner/name`).
    pub repo: &'static str,
    /// Revision (branch, tag or commit) used unless `--revision` names another.
    pub revision: &'static str,
    /// The int8 model file.
    pub int8: &'static str,
    /// The float32 model file.
    pub fp32: &'static str,
    /// Files every installation needs besides the model (vocabulary, front-end settings).
    pub side_files: &'static [&'static str],
}

impl Source {
    /// The files to install for `precision`, model files first.
    pub fn files(&self, precision: Precision) -> Vec<&'static str> {
        let mut files = match precision {
            Precision::Int8 => vec![self.int8],
            Precision::Fp32 => vec![self.fp32],
            Precision::Both => vec![self.int8, self.fp32],
        };
        files.extend_from_slice(self.side_files);
        files
    }
}

/// A model `models pull` can install, with its packagings (the first is the default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Model {
    /// Name on the command line and directory name under the models directory.
    pub name: &'static str,
    /// Known packagings, default first.
    pub sources: &'static [Source],
}

/// sherpa-onnx's export of SenseVoice-Small on Hugging Face (`model.onnx`, `model.int8.onnx`,
/// `tokens.txt`; CMVN and front-end settings are in the model metadata).
pub const SENSEVOICE_SHERPA: Source = Source {
    packaging: Packaging::Sherpa,
    label: "sherpa-onnx",
    hub: "https://huggingface.co",
    repo: "csukuangfj/sherpa-onnx-sense-voice-zh-en-ja-ko-yue-2024-07-17",
    revision: "main",
    int8: "model.int8.onnx",
    fp32: "model.onnx",
    side_files: &["tokens.txt"],
};

/// FunASR's ONNX export of SenseVoice-Small, published on ModelScope (which serves the same
/// `{repo}/resolve/{revision}/{file}` layout under `/models`).
pub const SENSEVOICE_FUNASR: Source = Source {
    packaging: Packaging::FunAsr,
    label: "FunASR",
    hub: "https://modelscope.cn/models",
    repo: "iic/SenseVoiceSmall-onnx",
    revision: "master",
    int8: "model_quant.onnx",
    fp32: "model.onnx",
    side_files: &["am.mvn", "config.yaml", "tokens.json"],
};

/// Every model `models pull` knows.
pub const MODELS: &[Model] = &[Model {
    name: SENSEVOICE,
    sources: &[SENSEVOICE_SHERPA, SENSEVOICE_FUNASR],
}];

/// The catalog entry named `name`.
pub fn find(name: &str) -> Option<&'static Model> {
    MODELS.iter().find(|m| m.name == name)
}

impl Model {
    /// The default packaging.
    pub fn default_source(&self) -> &'static Source {
        &self.sources[0]
    }

    /// The source of `packaging`, if this model is published in it.
    pub fn source(&self, packaging: Packaging) -> Option<&'static Source> {
        self.sources.iter().find(|s| s.packaging == packaging)
    }

    /// Where the server looks for this model, hence where it is installed.
    pub fn install_dir(&self, cfg: &Config) -> PathBuf {
        match (self.name, &cfg.engines.sensevoice_dir) {
            (SENSEVOICE, Some(dir)) => dir.clone(),
            _ => cfg.engines.models_dir.join(self.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_lists_follow_the_engine_packaging_rules() {
        let m = find("sensevoice-small").unwrap();
        assert_eq!(m.default_source().packaging, Packaging::Sherpa);
        assert_eq!(
            SENSEVOICE_SHERPA.files(Precision::Int8),
            ["model.int8.onnx", "tokens.txt"]
        );
        assert_eq!(
            SENSEVOICE_FUNASR.files(Precision::Both),
            ["model_quant.onnx", "model.onnx", "am.mvn", "config.yaml", "tokens.json"]
        );
        let cfg = Config::default();
        assert_eq!(m.install_dir(&cfg), PathBuf::from("models/sensevoice-small"));
    }
}
