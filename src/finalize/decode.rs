//! The decode of a final with its fallback: the routed engine first (the strong pass: the
//! in-process Whisper or an upstream server); when it fails, another engine that fits the
//! language answers instead (the first pass), and the fallback is counted.
//!
//! # Invariants
//!
//! * **A final outlives its strong engine.** An engine error (an upstream that is down, timed
//!   out, answered garbage or has its circuit breaker open; an inference error) falls back to
//!   the fallback engine when there is one; only the fallback's own failure reaches the caller.
//! * **Refusals are not failures.** A full queue ([`SchedError::Busy`]: the caller asked to be
//!   refused rather than wait), a superseded partial, a shutting-down worker and input the
//!   engine cannot take go back to the caller unchanged: another engine would not do better
//!   and the caller has its own answer for each.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::engine::recognizer::{EngineError, Hypothesis, Utterance};
use crate::engine::scheduler::{EngineHandle, Priority, SchedError};

/// A decoded final and who decoded it.
#[derive(Debug, Clone)]
pub struct FinalDecode {
    /// The recognizer's answer.
    pub hypothesis: Hypothesis,
    /// The engine that produced it.
    pub engine: String,
    /// Set when the routed engine failed and the fallback answered.
    pub fallback: Option<Fallback>,
}

/// Why a final was decoded by the fallback engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fallback {
    /// The engine that failed.
    pub from: String,
    /// Its error.
    pub reason: String,
}

/// Counters of the finalizer chain, read by `/metrics`.
#[derive(Debug, Default)]
pub struct FinalizeStats {
    fallbacks: Mutex<BTreeMap<(String, &'static str), u64>>,
    reviews: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    edits: AtomicU64,
    budget_exceeded: AtomicU64,
    glossary_over_budget: AtomicU64,
    redecodes: Mutex<BTreeMap<&'static str, u64>>,
    tail_decodes: Mutex<BTreeMap<&'static str, u64>>,
    glossary_prompts: Mutex<BTreeMap<&'static str, u64>>,
    term_checks: Mutex<BTreeMap<&'static str, u64>>,
}

impl FinalizeStats {
    /// `(engine, reason) → count` of finals decoded by the fallback.
    pub fn fallbacks(&self) -> Vec<((String, &'static str), u64)> {
        lock(&self.fallbacks).iter().map(|(k, v)| (k.clone(), *v)).collect()
    }

    /// `(reviewer, outcome) → count`; outcomes `ok` and `failed`.
    pub fn reviews(&self) -> Vec<((&'static str, &'static str), u64)> {
        lock(&self.reviews).iter().map(|(k, v)| (*k, *v)).collect()
    }

    /// Edits made by reviewers, all together.
    pub fn edits(&self) -> u64 {
        self.edits.load(Ordering::Relaxed)
    }

    /// Realtime finals sent before their review finished (its budget ran out).
    pub fn budget_exceeded(&self) -> u64 {
        self.budget_exceeded.load(Ordering::Relaxed)
    }

    /// Realtime finals sent before their glossary stage (the prompted decode, the terms checked
    /// against the audio) finished: its budget ran out ([`super::bias`]).
    pub fn glossary_over_budget(&self) -> u64 {
        self.glossary_over_budget.load(Ordering::Relaxed)
    }

    /// `outcome → count` of file windows, meeting pieces and live finals whose text was too
    /// short for their speech, decoded again in pieces ([`super::coverage`]): `kept` (the
    /// pieces replaced the window's decode) or `refused`.
    pub fn redecodes(&self) -> Vec<(&'static str, u64)> {
        outcomes(&self.redecodes)
    }

    /// Counts one window decoded again in pieces.
    pub(super) fn count_redecode(&self, kept: bool) {
        count_kept(&self.redecodes, kept);
    }

    /// `outcome → count` of windows whose speech went on after their decode's last segment, that
    /// tail decoded on its own ([`super::coverage`]): `kept` (its text was appended) or `refused`
    /// (it held nothing new).
    pub fn tail_decodes(&self) -> Vec<(&'static str, u64)> {
        outcomes(&self.tail_decodes)
    }

    /// Counts one window tail decoded on its own.
    pub(super) fn count_tail_decode(&self, kept: bool) {
        count_kept(&self.tail_decodes, kept);
    }

    /// `outcome → count` of glossary-prompted second decodes ([`super::bias`]): `kept` or
    /// `refused` (the first decode was kept).
    pub fn glossary_prompts(&self) -> Vec<(&'static str, u64)> {
        outcomes(&self.glossary_prompts)
    }

    /// `outcome → count` of glossary terms proposed by the loose corrector and checked against
    /// the audio ([`super::verify`]): `accepted`, `rejected`, or `failed` (scoring failed).
    pub fn term_checks(&self) -> Vec<(&'static str, u64)> {
        outcomes(&self.term_checks)
    }

    pub(super) fn count_term_check(&self, outcome: &'static str, n: usize) {
        if n > 0 {
            *lock(&self.term_checks).entry(outcome).or_default() += n as u64;
        }
    }

    pub(super) fn count_glossary_prompt(&self, kept: bool) {
        count_kept(&self.glossary_prompts, kept);
    }

    pub(super) fn count_fallback(&self, engine: &str, reason: &'static str) {
        *lock(&self.fallbacks).entry((engine.to_string(), reason)).or_default() += 1;
    }

    pub(super) fn count_review(&self, reviewer: &'static str, ok: bool, edits: usize) {
        *lock(&self.reviews)
            .entry((reviewer, if ok { "ok" } else { "failed" }))
            .or_default() += 1;
        self.edits.fetch_add(edits as u64, Ordering::Relaxed);
    }

    pub(super) fn count_budget_exceeded(&self) {
        self.budget_exceeded.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn count_glossary_over_budget(&self) {
        self.glossary_over_budget.fetch_add(1, Ordering::Relaxed);
    }
}

/// The counts of an outcome map, in key order.
fn outcomes(m: &Mutex<BTreeMap<&'static str, u64>>) -> Vec<(&'static str, u64)> {
    lock(m).iter().map(|(k, v)| (*k, *v)).collect()
}

/// Counts one `kept` or `refused` outcome.
fn count_kept(m: &Mutex<BTreeMap<&'static str, u64>>, kept: bool) {
    *lock(m).entry(if kept { "kept" } else { "refused" }).or_default() += 1;
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The label of an error that warrants the fallback, `None` for those that do not (see the
/// module's invariants).
fn fallback_reason(e: &SchedError) -> Option<&'static str> {
    match e {
        SchedError::Engine(EngineError::InvalidInput(_)) => None,
        SchedError::Engine(EngineError::Load { .. }) => Some("load"),
        SchedError::Engine(EngineError::Unavailable(_)) => Some("unavailable"),
        SchedError::Engine(_) => Some("error"),
        SchedError::Busy { .. } | SchedError::Stale | SchedError::Closed(_) => None,
    }
}

/// Decodes `utt` as a final on `engine`; on a failure that warrants it, on `fallback`. With
/// `refuse_when_busy`, a full queue on `engine` is refused at once ([`SchedError::Busy`]).
pub async fn decode_final(
    engine: &EngineHandle,
    fallback: Option<&EngineHandle>,
    utt: Utterance,
    refuse_when_busy: bool,
    stats: &FinalizeStats,
) -> Result<FinalDecode, SchedError> {
    let first = if refuse_when_busy {
        engine.try_recognize(utt.clone(), Priority::Final, None).await
    } else {
        engine.recognize_final(utt.clone()).await
    };
    let err = match first {
        Ok(hypothesis) => {
            return Ok(FinalDecode {
                hypothesis,
                engine: engine.name().to_string(),
                fallback: None,
            });
        }
        Err(e) => e,
    };
    let (Some(reason), Some(fb)) = (fallback_reason(&err), fallback.filter(|f| f.name() != engine.name())) else {
        return Err(err);
    };
    tracing::warn!(engine = engine.name(), fallback = fb.name(), error = %err, "final falls back");
    stats.count_fallback(engine.name(), reason);
    let hypothesis = fb.recognize_final(utt).await?;
    Ok(FinalDecode {
        hypothesis,
        engine: fb.name().to_string(),
        fallback: Some(Fallback {
            from: engine.name().to_string(),
            reason: err.to_string(),
        }),
    })
}
