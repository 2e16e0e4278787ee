//! The realtime WebSocket API (`/v1/realtime`): OpenAI's transcription sessions, GA and beta.
//!
//! [`session`] runs the state machine of one session, [`context`] is what it gets of the server,
//! [`protocol`] holds the wire types, [`stabilizer`] turns revisable partials into append-only
//! deltas, [`tail`] bounds a partial's decode to the unsettled tail of the utterance (CTC
//! engines), [`degrade`] decides how partials and admission give way under load, [`input`] and
//! [`ogg`] decode session audio. The WebSocket upgrade, authentication and
//! ephemeral secrets are transport: `crate::http::realtime_ws` and `crate::http::client_secrets`.

pub mod context;
pub mod degrade;
pub mod input;
pub mod ogg;
pub mod protocol;
pub mod session;
pub mod stabilizer;
pub mod tail;
