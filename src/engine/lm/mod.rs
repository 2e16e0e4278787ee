//! Language models that compare texts: how much more probable an alternative wording of a
//! sentence is than the sentence, in nats (the difference of the sums of their tokens'
//! log-probabilities). The wording reviewer ([`crate::finalize::wording`]) asks one to choose
//! between a recognizer's Chinese wording and same-sounding alternatives.
//!
//! # Invariants
//!
//! * **Gains, not scores.** Each text is scored from the model's beginning-of-text token; what is
//!   returned is an alternative's log-probability minus the base text's, so tokens the two share
//!   at the start cancel (and an implementation may skip them).
//! * **Blocking.** [`LanguageModel::gains`] runs the model on the calling thread; async callers
//!   run it on a blocking thread.
//! * Nothing here knows about requests, glossaries or transports.

#[cfg(feature = "lm")]
pub mod llama;

/// Why scoring failed.
#[derive(Debug, thiserror::Error)]
pub enum LmError {
    /// The model file could not be loaded.
    #[error("language model {path}: {reason}")]
    Load {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The model failed while scoring.
    #[error("language model: {0}")]
    Inference(String),
    /// A text has more tokens than the model's context holds.
    #[error("language model: a text of {tokens} tokens is longer than the context ({context})")]
    TooLong {
        /// Tokens of the text.
        tokens: usize,
        /// Tokens the context holds.
        context: usize,
    },
    /// This build has no in-process language model.
    #[error("this build has no in-process language model (build with `--features lm`)")]
    NotBuilt,
}

/// A language model that scores whole texts.
pub trait LanguageModel: Send + Sync {
    /// A short name for logs and metrics.
    fn name(&self) -> &str;

    /// For each of `alternatives`, in order: `log p(alternative) − log p(base)`, natural log.
    fn gains(&self, base: &str, alternatives: &[String]) -> Result<Vec<f64>, LmError>;
}

/// Loads the in-process language model at `path` (a GGUF file) with `threads` CPU threads, when
/// this build has one (the `lm` feature).
pub fn load(path: &std::path::Path, threads: usize) -> Result<std::sync::Arc<dyn LanguageModel>, LmError> {
    #[cfg(feature = "lm")]
    {
        Ok(std::sync::Arc::new(llama::LlamaLm::load(path, threads)?))
    }
    #[cfg(not(feature = "lm"))]
    {
        let _ = (path, threads);
        Err(LmError::NotBuilt)
    }
}
