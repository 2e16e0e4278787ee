//! Why `models pull` installed nothing: one error type for the hub transfer and the local
//! installation, so the CLI reports either the same way.

use std::path::{Path, PathBuf};

use reqwest::StatusCode;

use super::checksum::SUMS_FILE;

/// Redirects followed for one file before giving up ([`PullError::TooManyRedirects`]).
pub(super) const MAX_REDIRECTS: usize = 10;

/// Why nothing was installed.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    /// The HTTP client could not be built (TLS set-up).
    #[error("cannot set up the HTTP client")]
    Client(#[source] reqwest::Error),
    /// The hub URL does not form valid file URLs.
    #[error("invalid download URL {url}: {reason}")]
    BadUrl {
        /// The URL.
        url: String,
        /// Parser message.
        reason: String,
    },
    /// Connecting or sending the request failed.
    #[error("cannot reach {url}")]
    Unreachable {
        /// The URL.
        url: String,
        /// Cause.
        #[source]
        source: reqwest::Error,
    },
    /// The server answered with an error status.
    #[error("{url} answered HTTP {status}")]
    Status {
        /// The URL.
        url: String,
        /// Status.
        status: StatusCode,
    },
    /// A redirect had no usable `Location`.
    #[error("{url} redirected without a usable Location")]
    BadRedirect {
        /// The URL.
        url: String,
    },
    /// Redirect loop.
    #[error("{url}: more than {MAX_REDIRECTS} redirects")]
    TooManyRedirects {
        /// The first URL.
        url: String,
    },
    /// The body broke off.
    #[error("downloading {file} from {url} failed")]
    Transfer {
        /// File name.
        file: String,
        /// The URL.
        url: String,
        /// Cause.
        #[source]
        source: reqwest::Error,
    },
    /// Neither the hub nor the user gave a checksum for a file.
    #[error(
        "{file}: {url} sent no checksum (no X-Linked-Etag or ETag holding a sha256 or git blob id); \
         supply its sha256 (--sha256 FILE) or accept it unchecked (--insecure-no-checksum)"
    )]
    NoChecksum {
        /// File name.
        file: String,
        /// The URL.
        url: String,
    },
    /// A file's content does not match its checksum.
    #[error("{file}: {algorithm} mismatch: expected {expected}, got {got} (downloaded from {url})")]
    Mismatch {
        /// File name.
        file: String,
        /// `sha256` or `git blob sha1`.
        algorithm: &'static str,
        /// Expected digest.
        expected: String,
        /// Digest of what arrived.
        got: String,
        /// The URL.
        url: String,
    },
    /// The target exists and was not installed by `pull`.
    #[error(
        "{} exists but was not installed by `models pull` (it has no {SUMS_FILE}); move it away or \
         pass --force to replace it",
        dir.display()
    )]
    NotInstalledByPull {
        /// The target.
        dir: PathBuf,
    },
    /// The downloaded files are not what the engine expects of this packaging.
    #[error("the downloaded files do not form a {label} SenseVoice directory")]
    WrongPackaging {
        /// Packaging name.
        label: &'static str,
    },
    /// A local file operation failed.
    #[error("{}", path.display())]
    Io {
        /// Path involved.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
}

/// Maps an I/O error on `path` to [`PullError::Io`].
pub(super) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> PullError + '_ {
    move |source| PullError::Io {
        path: path.to_path_buf(),
        source,
    }
}
