//! Which engine serves a request: one [`RoutePolicy`] for REST, the CLI, the bench and (later)
//! realtime sessions.
//!
//! * A model name picks that engine; `auto` and OpenAI's model names ([`is_auto_alias`]) let the
//!   policy choose: clips up to `short_clip_s` go to the fast engine for their language, longer
//!   ones, `quality=high` and translations to the strong one. So does a clip whose review
//!   corrects with glossary terms, when the strong engine transcribes its language: a user who
//!   names terms asks for them to be heard, and the strong model hears more of them (on the
//!   terminology set's English, whisper-base wrote 93 % of the terms where tiny.en wrote 88 %,
//!   docs/benchmarks.md).
//! * What a model can do (its languages, whether it translates) comes from its
//!   [`ModelAbilities`](crate::engine::recognizer::ModelAbilities), never from its name.
//! * Every refusal is a [`RouteError`]; the HTTP layer turns it into OpenAI's error body in one
//!   place (`impl From<RouteError> for ApiError`).

use std::sync::Arc;

use crate::config::{Config, Finalizer};
use crate::engine::recognizer::Task;
use crate::engine::scheduler::EngineHandle;
use crate::engine::{Engines, Roster, is_auto_alias};

/// What the router needs to know about a request.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteRequest {
    /// The requested model: an engine name or an alias such as `auto` / `whisper-1`.
    pub model: String,
    /// Audio duration, seconds.
    pub duration_s: f64,
    /// The language to transcribe (ISO-639-1), `None` to detect it.
    pub language: Option<String>,
    /// `quality=high`: the strong engine even for short clips.
    pub quality_high: bool,
    /// The request's review corrects with glossary terms (a glossary, a `glossary_id` or
    /// `keywords`): the strong engine for short clips too, where it transcribes the language.
    pub terms: bool,
    /// Transcribe or translate into English.
    pub task: Task,
}

/// Why no engine can serve a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// No engine has that name and it is no alias.
    #[error("The model '{model}' does not exist. Available models: auto, {}", available.join(", "))]
    UnknownModel {
        /// The requested name.
        model: String,
        /// Installed engines.
        available: Vec<String>,
    },
    /// A translation asked of a model that cannot translate.
    #[error("model '{model}' cannot translate{}", suggestion.as_ref().map(|s| format!("; use {s}")).unwrap_or_default())]
    CannotTranslate {
        /// The model asked.
        model: String,
        /// An installed model that translates, if any.
        suggestion: Option<String>,
    },
    /// A language the model does not transcribe.
    #[error("model '{model}' only transcribes {}", describe_languages(supported))]
    UnsupportedLanguage {
        /// The model asked.
        model: String,
        /// The language asked for.
        language: String,
        /// The languages the model transcribes.
        supported: Vec<String>,
    },
}

impl RouteError {
    /// The request field at fault: `model` or `language`.
    pub fn param(&self) -> &'static str {
        match self {
            Self::UnknownModel { .. } | Self::CannotTranslate { .. } => "model",
            Self::UnsupportedLanguage { .. } => "language",
        }
    }
}

/// `["en"]` → `English`; others → `these languages: zh, en, …`.
fn describe_languages(supported: &[String]) -> String {
    match supported {
        [one] if one == "en" => "English".into(),
        list => format!("these languages: {}", list.join(", ")),
    }
}

/// The routing rules over the loaded engines and the configuration's thresholds.
#[derive(Clone)]
pub struct RoutePolicy {
    roster: Arc<Roster>,
    short_clip_s: f64,
    finalizer: Finalizer,
    default_language: Option<String>,
}

impl RoutePolicy {
    /// The policy of `cfg` (`short_clip_s`, `finalizer`, `default_language`) over `engines`.
    pub fn new(engines: &Engines, cfg: &Config) -> Self {
        Self {
            roster: engines.roster().clone(),
            short_clip_s: cfg.batch.short_clip_s,
            finalizer: cfg.realtime.finalizer,
            default_language: cfg.engines.default_language.clone(),
        }
    }

    /// The engines it routes to.
    pub fn roster(&self) -> &Roster {
        &self.roster
    }

    /// The language assumed when a request names none (`None`: detect).
    pub fn default_language(&self) -> Option<&str> {
        self.default_language.as_deref()
    }

    /// The fast engine for `language` (realtime partials), from the models' abilities.
    pub fn fast(&self, language: Option<&str>) -> &EngineHandle {
        self.roster.fast(language)
    }

    /// Picks the engine for a request, or says why none fits.
    pub fn route(&self, req: &RouteRequest) -> Result<&EngineHandle, RouteError> {
        let handle = match self.named(&req.model)? {
            Some(h) => h,
            None if req.task == Task::Translate || req.quality_high || req.duration_s > self.short_clip_s => {
                self.roster.strong()
            }
            None if req.terms && hears(self.roster.strong(), req.language.as_deref()) => self.roster.strong(),
            None => self.roster.fast(req.language.as_deref()),
        };
        match req.task {
            Task::Translate => self.check_translation(handle)?,
            Task::Transcribe => check_language(handle, req.language.as_deref())?,
        }
        Ok(handle)
    }

    /// The engine a model name picks: `Ok(None)` for `auto` and its aliases (the policy chooses),
    /// [`RouteError::UnknownModel`] for a name nothing answers to.
    pub fn named(&self, model: &str) -> Result<Option<&EngineHandle>, RouteError> {
        if let Some(h) = self.roster.get(model) {
            return Ok(Some(h));
        }
        if is_auto_alias(model) {
            return Ok(None);
        }
        Err(RouteError::UnknownModel {
            model: model.to_string(),
            available: self.roster.names(),
        })
    }

    /// Whether `handle` translates; the refusal suggests an engine that does (the strong one
    /// first).
    pub fn check_translation(&self, handle: &EngineHandle) -> Result<(), RouteError> {
        if handle.abilities().translation {
            return Ok(());
        }
        let strong = self.roster.strong();
        let suggestion = std::iter::once(strong.name().to_string())
            .chain(self.roster.names())
            .find(|n| self.roster.get(n).is_some_and(|h| h.abilities().translation));
        Err(RouteError::CannotTranslate {
            model: handle.name().to_string(),
            suggestion,
        })
    }

    /// The engine that finalizes a realtime utterance of `duration_s` in `language`.
    pub fn finalizer(&self, language: Option<&str>, duration_s: f32) -> &EngineHandle {
        self.roster.finalizer(self.finalizer, language, duration_s)
    }

    /// The engine that answers when `failed` cannot (an upstream that is down; see
    /// `crate::finalize::decode`): the fast engine for the language, else the strong one, else
    /// any other engine that transcribes the language (with none given: that detects it) and,
    /// for a translation, translates. `None` when no other engine fits.
    pub fn fallback(&self, failed: &EngineHandle, language: Option<&str>, task: Task) -> Option<&EngineHandle> {
        let fits = |h: &EngineHandle| {
            let a = h.abilities();
            h.name() != failed.name()
                && match task {
                    Task::Translate => a.translation,
                    Task::Transcribe => hears(h, language),
                }
        };
        [self.roster.fast(language), self.roster.strong()]
            .into_iter()
            .find(|h| fits(h))
            .or_else(|| {
                self.roster
                    .names()
                    .into_iter()
                    .find_map(|n| self.roster.get(&n).filter(|h| fits(h)))
            })
    }
}

/// Whether `handle` transcribes `language` (with none given: detects it).
fn hears(handle: &EngineHandle, language: Option<&str>) -> bool {
    let a = handle.abilities();
    language.map_or(a.is_multilingual(), |l| a.transcribes(l))
}

/// Whether a final may be decoded again with the request's glossary as its decoder prompt
/// (`crate::finalize::bias`): only on a model whose decoding a text prompt conditions.
pub fn takes_glossary_prompt(abilities: crate::engine::recognizer::ModelAbilities) -> bool {
    abilities.prompt
}

/// Whether `handle` transcribes `language` (`None`, detection, always passes), from the
/// abilities the model reports. [`RoutePolicy::route`] checks every transcription with it, and
/// realtime sessions a configured model.
pub fn check_language(handle: &EngineHandle, language: Option<&str>) -> Result<(), RouteError> {
    let abilities = handle.abilities();
    match (language, abilities.languages) {
        (Some(l), Some(supported)) if !abilities.transcribes(l) => Err(RouteError::UnsupportedLanguage {
            model: handle.name().to_string(),
            language: l.to_string(),
            supported: supported.iter().map(|s| s.to_string()).collect(),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::recognizer::{EngineError, Hypothesis, ModelAbilities, Recognizer, Utterance};
    use crate::engine::scheduler::BatchPolicy;

    /// A recognizer that only has a name and abilities: routing never runs it.
    struct Fake(&'static str, ModelAbilities);

    impl Recognizer for Fake {
        fn name(&self) -> &str {
            self.0
        }
        fn recognize(&self, batch: &[Utterance]) -> Vec<Result<Hypothesis, EngineError>> {
            batch.iter().map(|_| Ok(Hypothesis::default())).collect()
        }
        fn abilities(&self) -> ModelAbilities {
            self.1
        }
    }

    const MULTI: ModelAbilities = ModelAbilities {
        languages: None,
        translation: true,
        prompt: true,
        scores_texts: false,
        word_probabilities: false,
    };
    const SENSEVOICE: ModelAbilities = ModelAbilities {
        languages: Some(&["zh", "en", "yue", "ja", "ko"]),
        translation: false,
        prompt: false,
        scores_texts: false,
        word_probabilities: false,
    };

    fn handle(name: &'static str, a: ModelAbilities) -> EngineHandle {
        EngineHandle::spawn(Arc::new(Fake(name, a)), BatchPolicy::default(), 1)
    }

    /// Whisper base strong; fast: SenseVoice (when `with_sensevoice`) before Whisper tiny.en.
    fn policy(with_sensevoice: bool) -> RoutePolicy {
        let mut fast = vec![handle("tiny.en", ModelAbilities::ENGLISH_ONLY)];
        if with_sensevoice {
            fast.insert(0, handle("sv", SENSEVOICE));
        }
        RoutePolicy {
            roster: Arc::new(Roster::new(handle("base", MULTI), fast)),
            short_clip_s: 30.0,
            finalizer: Finalizer::StrongAbove(4.0),
            default_language: None,
        }
    }

    fn req(model: &str, duration_s: f64, language: Option<&str>) -> RouteRequest {
        RouteRequest {
            model: model.into(),
            duration_s,
            language: language.map(Into::into),
            quality_high: false,
            terms: false,
            task: Task::Transcribe,
        }
    }

    fn refused(p: &RoutePolicy, r: &RouteRequest) -> RouteError {
        match p.route(r) {
            Ok(h) => panic!("{r:?} routed to {}", h.name()),
            Err(e) => e,
        }
    }

    fn routed(p: &RoutePolicy, r: &RouteRequest) -> String {
        p.route(r).unwrap_or_else(|e| panic!("{r:?}: {e}")).name().to_string()
    }

    #[test]
    fn auto_sends_short_clips_to_the_fast_engine_that_knows_the_language() {
        let p = policy(false);
        assert_eq!(routed(&p, &req("auto", 11.0, Some("en"))), "tiny.en");
        assert_eq!(routed(&p, &req("whisper-1", 11.0, Some("en-US"))), "tiny.en");
        // an English-only model neither detects nor transcribes other languages
        assert_eq!(routed(&p, &req("auto", 11.0, None)), "base");
        assert_eq!(routed(&p, &req("auto", 11.0, Some("de"))), "base");
        // up to short_clip_s is short
        assert_eq!(routed(&p, &req("auto", 30.0, Some("en"))), "tiny.en");
        assert_eq!(routed(&p, &req("auto", 30.1, Some("en"))), "base");
        let high = RouteRequest {
            quality_high: true,
            ..req("auto", 5.0, Some("en"))
        };
        assert_eq!(routed(&p, &high), "base");
        let translate = RouteRequest {
            task: Task::Translate,
            ..req("gpt-4o-transcribe", 5.0, None)
        };
        assert_eq!(routed(&p, &translate), "base");

        let p = policy(true);
        for (language, engine) in [
            (Some("en"), "sv"),
            (Some("zh"), "sv"),
            (Some("yue"), "sv"),
            (None, "sv"),
            (Some("de"), "base"),
        ] {
            assert_eq!(routed(&p, &req("auto", 4.0, language)), engine, "{language:?}");
        }
    }

    #[test]
    fn glossary_terms_send_short_clips_to_the_strong_engine_that_hears_the_language() {
        let terms = |model: &str, language: Option<&str>| RouteRequest {
            terms: true,
            ..req(model, 4.0, language)
        };
        let p = policy(true);
        for language in [Some("en"), Some("zh"), None] {
            assert_eq!(routed(&p, &terms("auto", language)), "base", "{language:?}");
        }
        // a named model is still that model
        assert_eq!(routed(&p, &terms("tiny.en", Some("en"))), "tiny.en");
        // a strong engine that does not transcribe the language leaves the clip to the fast one
        let p = RoutePolicy {
            roster: Arc::new(Roster::new(
                handle("strong.en", ModelAbilities::ENGLISH_ONLY),
                vec![handle("sv", SENSEVOICE)],
            )),
            ..policy(false)
        };
        assert_eq!(routed(&p, &terms("auto", Some("en"))), "strong.en");
        assert_eq!(routed(&p, &terms("auto", Some("zh"))), "sv");
        assert_eq!(routed(&p, &terms("auto", None)), "sv");
    }

    #[test]
    fn a_named_model_is_used_only_for_what_it_can_do() {
        let p = policy(true);
        assert_eq!(routed(&p, &req("tiny.en", 40.0, Some("en"))), "tiny.en");
        assert_eq!(routed(&p, &req("tiny.en", 4.0, None)), "tiny.en");
        assert_eq!(routed(&p, &req("base", 4.0, Some("en"))), "base");
        assert_eq!(
            refused(&p, &req("tiny.en", 4.0, Some("zh"))),
            RouteError::UnsupportedLanguage {
                model: "tiny.en".into(),
                language: "zh".into(),
                supported: vec!["en".into()],
            }
        );
        let e = refused(&p, &req("sv", 4.0, Some("de")));
        assert!(
            matches!(&e, RouteError::UnsupportedLanguage { model, supported, .. } if model == "sv" && supported.len() == 5),
            "{e:?}"
        );
        for model in ["tiny.en", "sv"] {
            let translate = RouteRequest {
                task: Task::Translate,
                ..req(model, 4.0, None)
            };
            assert_eq!(
                refused(&p, &translate),
                RouteError::CannotTranslate {
                    model: model.into(),
                    suggestion: Some("base".into()),
                }
            );
        }
        assert_eq!(
            refused(&p, &req("nope", 4.0, None)),
            RouteError::UnknownModel {
                model: "nope".into(),
                available: vec!["base".into(), "sv".into(), "tiny.en".into()],
            }
        );
        assert!(p.named("auto").unwrap().is_none());
        assert_eq!(p.named("sv").unwrap().map(|h| h.name()), Some("sv"));
        let tiny = p.roster().get("tiny.en").unwrap();
        assert!(check_language(tiny, Some("en")).is_ok() && check_language(tiny, None).is_ok());
        assert_eq!(check_language(tiny, Some("ja")).unwrap_err().param(), "language");
    }

    #[test]
    fn finalizer_follows_the_configured_rule() {
        let p = policy(false);
        assert_eq!(p.finalizer(Some("en"), 3.9).name(), "tiny.en");
        assert_eq!(p.finalizer(Some("en"), 4.0).name(), "base");
        assert_eq!(p.finalizer(Some("de"), 1.0).name(), "base");
    }

    #[test]
    fn errors_say_what_is_wrong_and_name_their_field() {
        let unknown = RouteError::UnknownModel {
            model: "nope".into(),
            available: vec!["whisper-base".into(), "whisper-tiny.en".into()],
        };
        assert_eq!(
            unknown.to_string(),
            "The model 'nope' does not exist. Available models: auto, whisper-base, whisper-tiny.en"
        );
        assert_eq!(unknown.param(), "model");

        let translate = RouteError::CannotTranslate {
            model: "whisper-tiny.en".into(),
            suggestion: Some("whisper-base".into()),
        };
        assert_eq!(
            translate.to_string(),
            "model 'whisper-tiny.en' cannot translate; use whisper-base"
        );
        assert_eq!(translate.param(), "model");
        let nowhere = RouteError::CannotTranslate {
            model: "x".into(),
            suggestion: None,
        };
        assert_eq!(nowhere.to_string(), "model 'x' cannot translate");

        let english = RouteError::UnsupportedLanguage {
            model: "whisper-tiny.en".into(),
            language: "zh".into(),
            supported: vec!["en".into()],
        };
        assert_eq!(english.to_string(), "model 'whisper-tiny.en' only transcribes English");
        assert_eq!(english.param(), "language");
        let five = RouteError::UnsupportedLanguage {
            model: "sensevoice-small".into(),
            language: "de".into(),
            supported: ["zh", "en", "yue", "ja", "ko"].iter().map(|s| s.to_string()).collect(),
        };
        assert_eq!(
            five.to_string(),
            "model 'sensevoice-small' only transcribes these languages: zh, en, yue, ja, ko"
        );
    }
}
