//! The `Recognizer` trait: what every speech-to-text backend looks like to the rest of the server.
//!
//! A recognizer takes a *batch* of 16 kHz mono utterances and returns one hypothesis per utterance.
//! Recognizers are synchronous and may be slow; they are only ever called from the scheduler's
//! dedicated worker threads (see [`crate::engine::scheduler`]), never from the async runtime.

use std::sync::Arc;

/// What the recognizer is asked to do with the audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Task {
    /// Transcribe in the spoken language.
    #[default]
    Transcribe,
    /// Translate into English (Whisper's `translate` task).
    Translate,
}

/// Per-request decoding options. Engines ignore options they do not support.
#[derive(Debug, Clone, Default)]
pub struct DecodeOptions {
    /// ISO-639-1 language code, or `None` for automatic detection.
    pub language: Option<String>,
    /// Text that biases the decoder (Whisper's initial prompt).
    pub prompt: Option<String>,
    /// Transcribe or translate.
    pub task: Task,
    /// Sampling temperature; 0 means greedy/beam search.
    pub temperature: f32,
    /// Whether word-level timestamps are wanted (costs extra compute on some engines). A Whisper
    /// *draft* is not aligned: it keeps its timestamp tokens, and its segments are its timed
    /// units.
    pub word_timestamps: bool,
    /// Inverse text normalisation (numbers, punctuation) where the engine offers it.
    pub use_itn: bool,
    /// A provisional decode (a live partial): engines may trade accuracy for speed.
    pub draft: bool,
    /// Encode only the audio plus a short margin instead of the engine's full context window
    /// (Whisper: 30 s). Much faster on short utterances; the model was trained on full windows,
    /// so accuracy can drop (measured in `docs/benchmarks.md`). Engines without a fixed window
    /// ignore it.
    pub short_window: bool,
    /// Beam size for this request's finals, overriding the engine's configured one (Whisper;
    /// drafts are always greedy). `None`: the engine's setting.
    pub beam_size: Option<usize>,
    /// The languages the audio may be in (ISO-639-1 codes; OpenAI's `languages`): when
    /// `language` is not set, detection picks the most probable language among these. `None`
    /// or empty: any language.
    pub languages: Option<Vec<String>>,
    /// Score these candidate transcripts instead of decoding: the answer's
    /// [`Hypothesis::scores`] holds the log-probability of each as the transcript of the audio
    /// (teacher forcing), in `language`, after `prompt` as the previous text. Only for engines
    /// whose abilities say [`ModelAbilities::scores_texts`].
    pub score_texts: Option<Arc<[String]>>,
    /// Most tokens the decode may write (Whisper: per window and attempt, timestamps included,
    /// the previous-text prompt not), below the engine's own limit; `None`: the engine's limit.
    /// The glossary-prompted decode of a final sets it: a prompt of terms can send Whisper into a
    /// loop of them, which otherwise runs to 448 tokens at every fallback temperature (one
    /// English live final took 12.8 s).
    pub max_tokens: Option<usize>,
    /// Report how sure the recognizer is of each word ([`Hypothesis::word_probabilities`]), for
    /// engines whose abilities say [`ModelAbilities::word_probabilities`]. Whisper forces the
    /// draft's text through its decoder once more (a few ms; drafts only, without a prompt).
    pub word_probabilities: bool,
}

/// One utterance to recognize: 16 kHz mono samples in [-1, 1].
#[derive(Debug, Clone)]
pub struct Utterance {
    /// The audio, shared so that queuing never copies it.
    pub samples: Arc<[f32]>,
    /// Decoding options for this utterance.
    pub options: DecodeOptions,
}

/// A timed span of recognized text, with what the decoder measured while producing it.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Segment {
    /// Start, seconds from the beginning of the utterance.
    pub start: f32,
    /// End, seconds from the beginning of the utterance.
    pub end: f32,
    /// The text of the span.
    pub text: String,
    /// Token ids the decoder produced for the span (Whisper: its text tokens between the
    /// timestamp tokens that bound it, those included; SenseVoice: its CTC text tokens).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tokens: Vec<i64>,
    /// How far into its decoding window the span starts, seconds: `start` minus the start of the
    /// window. Code that moves `start`/`end` onto a longer time axis leaves it alone, so
    /// `start - window_offset` is always where the window began (OpenAI's `seek`).
    pub window_offset: f32,
    /// Sampling temperature the window was decoded at (0 = greedy / beam search; SenseVoice's
    /// argmax CTC decoding is 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Average log-probability per token of the window's decoded sequence (Whisper; shared by
    /// the window's segments, as in openai-whisper). `None` where the engine does not measure it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avg_logprob: Option<f32>,
    /// Probability of Whisper's no-speech token for the window. `None` where not measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_speech_prob: Option<f32>,
    /// Gzip compression ratio of the window's text (Whisper; high values mean the text loops).
    /// `None` where not measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compression_ratio: Option<f32>,
}

/// A timed word.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Word {
    /// The word as written (may carry punctuation).
    pub word: String,
    /// Start, seconds from the beginning of the utterance.
    pub start: f32,
    /// End, seconds from the beginning of the utterance.
    pub end: f32,
}

/// The recognizer's answer for one utterance.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Hypothesis {
    /// The full text.
    pub text: String,
    /// Detected or forced language (ISO-639-1), when known.
    pub language: Option<String>,
    /// Timed segments (at least one when `text` is non-empty and the engine gives times).
    pub segments: Vec<Segment>,
    /// Timed words, when requested and supported.
    pub words: Vec<Word>,
    /// Emotion tag (SenseVoice), e.g. `NEUTRAL`.
    pub emotion: Option<String>,
    /// Audio event tag (SenseVoice), e.g. `Speech`.
    pub event: Option<String>,
    /// Token ids as decoded (used by parity tests; may be empty).
    #[serde(skip)]
    pub token_ids: Vec<i64>,
    /// This utterance's share of the model run that decoded it, seconds: the run's wall time ×
    /// its audio / the audio of the whole (batched) run. Set by the scheduler; `None` when an
    /// engine is called directly.
    #[serde(skip)]
    pub compute_s: Option<f64>,
    /// The answer to a scoring request ([`DecodeOptions::score_texts`]): one [`TextScore`] per
    /// text, in order. Empty for a decode.
    #[serde(skip)]
    pub scores: Vec<TextScore>,
    /// The words of `text`, in order, each with the probability of its least probable token,
    /// when [`DecodeOptions::word_probabilities`] asked for them (empty otherwise).
    #[serde(skip)]
    pub word_probabilities: Vec<WordProbability>,
}

/// A word of a hypothesis and how sure the recognizer was of it.
#[derive(Debug, Clone, PartialEq)]
pub struct WordProbability {
    /// The word as written (may carry punctuation).
    pub word: String,
    /// The probability of its least probable token, given the audio and the words before it.
    pub probability: f32,
}

/// One candidate transcript scored against the audio (teacher forcing): how probable it is,
/// and where its words lie.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TextScore {
    /// Its log-probability as the transcript of the audio.
    pub logprob: f32,
    /// Its words, timed by the same forced pass (seconds from the utterance's start; empty for
    /// an empty text).
    pub words: Vec<Word>,
}

/// Why an engine could not produce a hypothesis.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The model files are missing or unreadable.
    #[error("model {model} could not be loaded: {reason}")]
    Load {
        /// Model name or path.
        model: String,
        /// What went wrong.
        reason: String,
    },
    /// Inference itself failed.
    #[error("inference failed: {0}")]
    Inference(String),
    /// The input cannot be handled by this engine (e.g. unsupported language).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The engine cannot be reached right now: an upstream server that is down, timed out,
    /// answered 5xx/429 after its retries, or whose circuit breaker is open. Nothing is wrong
    /// with the request; a caller with another engine (the finalizer's fallback) should use it.
    #[error("engine unavailable: {0}")]
    Unavailable(String),
}

/// A speech-to-text backend.
pub trait Recognizer: Send + Sync {
    /// Stable model name as shown in `/v1/models`.
    fn name(&self) -> &str;

    /// Recognize a batch. Must return exactly one result per input, in order.
    fn recognize(&self, batch: &[Utterance]) -> Vec<Result<Hypothesis, EngineError>>;

    /// The largest batch this engine benefits from; the scheduler never exceeds it.
    fn max_batch(&self) -> usize {
        1
    }

    /// What the model can do: the languages it transcribes and whether it translates. The
    /// router decides with this, never with model names.
    fn abilities(&self) -> ModelAbilities {
        ModelAbilities::default()
    }

    /// Whether every decode's word times come from the audio frames the words were emitted at,
    /// at no extra cost (CTC models such as SenseVoice): a realtime partial can then decode only
    /// the unsettled tail of an utterance and splice its words onto the settled prefix
    /// (`crate::realtime::tail`). Engines whose word times cost an alignment pass (Whisper) or
    /// that have none say `false`.
    fn ctc_word_times(&self) -> bool {
        false
    }

    /// Each of `texts` scored as the transcript of `utterance` (its `language`, its `prompt` as
    /// the previous text): its log-probability, for choosing between candidate transcripts of
    /// the same audio, and its words' times (forced alignment). Engines that can say
    /// `scores_texts` in their abilities.
    fn score_texts(&self, utterance: &Utterance, texts: &[String]) -> Result<Vec<TextScore>, EngineError> {
        let _ = (utterance, texts);
        Err(EngineError::InvalidInput(format!("{} cannot score texts", self.name())))
    }

    /// Encoder passes saved so far by reusing the encoder output of a recent decode of the same
    /// audio (Whisper's glossary decode, term check and alignment of one final); 0 for engines
    /// that keep no such cache.
    fn encoder_cache_hits(&self) -> u64 {
        0
    }
}

/// What a model can do, as the router needs to know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ModelAbilities {
    /// The languages it transcribes (ISO-639-1 codes); `None`: any language (multilingual Whisper).
    pub languages: Option<&'static [&'static str]>,
    /// Whether it translates speech into English.
    pub translation: bool,
    /// Whether a text prompt (`DecodeOptions::prompt`) conditions its decoding (Whisper's
    /// previous-text prompt; an upstream server that forwards OpenAI's `prompt`).
    pub prompt: bool,
    /// Whether it scores candidate transcripts of an utterance and times their words
    /// ([`Recognizer::score_texts`]; in-process Whisper).
    pub scores_texts: bool,
    /// Whether it reports how sure it is of each word of a draft
    /// ([`DecodeOptions::word_probabilities`]; in-process Whisper).
    pub word_probabilities: bool,
}

impl ModelAbilities {
    /// A model that knows only English and does not translate (Whisper `.en`).
    pub const ENGLISH_ONLY: Self = Self {
        languages: Some(&["en"]),
        translation: false,
        prompt: true,
        scores_texts: false,
        word_probabilities: false,
    };

    /// Whether it transcribes `language`. Compares the primary subtag, ignoring case, so `en-US`
    /// and `EN` count as `en`.
    pub fn transcribes(&self, language: &str) -> bool {
        let Some(known) = self.languages else {
            return true;
        };
        let primary = primary_subtag(language);
        known.iter().any(|k| k.eq_ignore_ascii_case(primary))
    }

    /// Whether it knows more than one language (and can therefore detect which one is spoken).
    pub fn is_multilingual(&self) -> bool {
        self.languages.is_none_or(|l| l.len() > 1)
    }
}

/// `en-US` / `en_us` / ` en ` → `en`.
fn primary_subtag(language: &str) -> &str {
    let l = language.trim();
    l.split(['-', '_']).next().unwrap_or(l)
}

#[cfg(test)]
mod tests {
    use super::ModelAbilities;

    #[test]
    fn abilities_match_languages_by_primary_subtag() {
        let en = ModelAbilities::ENGLISH_ONLY;
        assert!(en.transcribes("en") && en.transcribes("EN") && en.transcribes("en-US"));
        assert!(!en.transcribes("zh") && !en.transcribes("de") && !en.transcribes("eng"));
        assert!(!en.is_multilingual() && !en.translation);

        let any = ModelAbilities {
            languages: None,
            translation: true,
            prompt: true,
            scores_texts: true,
            word_probabilities: true,
        };
        assert!(any.transcribes("de") && any.transcribes("xx") && any.is_multilingual());

        let five = ModelAbilities {
            languages: Some(&["zh", "en", "yue", "ja", "ko"]),
            translation: false,
            prompt: false,
            scores_texts: false,
            word_probabilities: false,
        };
        assert!(five.transcribes("yue") && five.transcribes("zh-CN") && !five.transcribes("de"));
        assert!(five.is_multilingual());
    }
}
