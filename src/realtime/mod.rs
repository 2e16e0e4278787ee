//! The realtime WebSocket API (`/v1/realtime`): OpenAI's transcription sessions, GA and beta.
//!
//! [`ws`] upgrades and authenticates, [`session`] runs the state machine, [`protocol`] holds the
//! wire types, [`stabilizer`] turns revisable partials into append-only deltas, [`input`] and
//! [`ogg`] decode session audio, and [`secrets`] mints ephemeral client secrets for browsers.

pub mod input;
pub mod ogg;
pub mod protocol;
pub mod secrets;
pub mod session;
pub mod stabilizer;
pub mod ws;
