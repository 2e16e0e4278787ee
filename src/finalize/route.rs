//! What a final is decoded with: the routed engine and its fallback, the finalizer chain's
//! counters, the request's review plan (its glossary prompts the decoder) and the decoding
//! options. Batch windows, meeting pieces and their re-decodes ([`super::coverage`]) all decode
//! through one [`DecodeRoute`].

use std::time::Duration;

use crate::engine::recognizer::{DecodeOptions, Utterance};
use crate::engine::scheduler::{EngineHandle, SchedError};

use super::decode::{FinalDecode, FinalizeStats};
use super::{ReviewPlan, decode_with_glossary};

/// The finalizer chain's decode ([`decode_with_glossary`]) with everything it needs but the
/// audio.
#[derive(Clone, Copy)]
pub struct DecodeRoute<'a> {
    /// The routed engine.
    pub engine: &'a EngineHandle,
    /// The engine that answers when it fails.
    pub fallback: Option<&'a EngineHandle>,
    /// The chain's counters.
    pub stats: &'a FinalizeStats,
    /// The request's review plan (its glossary prompts the decoder).
    pub plan: &'a ReviewPlan,
    /// The decoding options of every utterance.
    pub options: &'a DecodeOptions,
    /// How long the glossary stage of a decode may take after its first decode (realtime
    /// finals: `[review] realtime_budget_ms`); `None`: as long as it takes.
    pub glossary_budget: Option<Duration>,
}

impl<'a> DecodeRoute<'a> {
    /// Decodes `samples` (16 kHz mono) with the route's options; `refuse`: refused at once when
    /// the engine's queue is full, instead of waiting for room.
    pub async fn decode(self, samples: std::sync::Arc<[f32]>, refuse: bool) -> Result<FinalDecode, SchedError> {
        let utt = Utterance {
            samples,
            options: self.options.clone(),
        };
        decode_with_glossary(
            self.engine,
            self.fallback,
            utt,
            refuse,
            self.stats,
            self.plan,
            self.glossary_budget,
        )
        .await
    }
}
