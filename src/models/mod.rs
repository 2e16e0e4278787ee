//! Installing model packagings from a model hub (`asr-router models pull`): what can be
//! installed and from which repository ([`catalog`]), what each file must hash to
//! ([`checksum`]), talking to the hub ([`hub`]), and verifying and atomically installing it
//! ([`pull`](mod@pull)), with one error type ([`error`]).
//!
//! Hub layout: a file is fetched from `{hub}/{repo}/resolve/{revision}/{file}` (Hugging Face,
//! and ModelScope under `/models`). Its checksum comes from the hub's `X-Linked-Etag` (sha256
//! of LFS files) or `ETag` (git blob sha1 of files kept in git), or from a `SHA256SUMS`-style
//! file the user supplies.

pub mod catalog;
pub mod checksum;
pub mod error;
pub mod hub;
pub mod pull;

pub use catalog::{Model, Precision, Source};
pub use checksum::SUMS_FILE;
pub use error::PullError;
pub use hub::Progress;
pub use pull::{Check, Installed, InstalledFile, Outcome, PullRequest, pull};
