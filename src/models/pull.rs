//! Download, verify, install: each file streams into a scratch directory next to the target
//! (`.<name>.partial-<pid>`) while it is hashed, is checked against its expected digest, and
//! only when every file passed is `SHA256SUMS` written and the scratch directory renamed into
//! place. Any failure (or dropping the future, e.g. on Ctrl-C) removes the scratch directory,
//! so the target is either the previous installation or the complete new one. Files of the
//! previous installation whose content is what the hub now announces are taken over instead of
//! downloaded again (e.g. adding the fp32 model to an int8 installation).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::header::{ETAG, HeaderMap, LOCATION};
use reqwest::{StatusCode, Url};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::catalog::{Precision, Source};
use super::checksum::{self, Expected};
use crate::engine::sensevoice::Packaging;

/// Name of the file, in every installed directory, that lists each file's sha256.
pub const SUMS_FILE: &str = "SHA256SUMS";

const MAX_REDIRECTS: usize = 10;

/// What to install, from where, and how strictly.
#[derive(Debug, Clone)]
pub struct PullRequest {
    /// The packaging.
    pub source: Source,
    /// Hub base URL (`https://huggingface.co`).
    pub hub: String,
    /// Repository id on the hub.
    pub repo: String,
    /// Branch, tag or commit.
    pub revision: String,
    /// Which weights.
    pub precision: Precision,
    /// Directory to install into (replaced as a whole).
    pub target: PathBuf,
    /// sha256 per file name that overrides what the hub says.
    pub sha256: HashMap<String, String>,
    /// Install files for which no checksum is known instead of refusing.
    pub insecure_no_checksum: bool,
    /// Replace a target directory that `pull` did not install.
    pub force: bool,
}

impl PullRequest {
    /// `source` from its own hub, repository and revision, into `target`, with checksums
    /// required.
    pub fn new(source: &Source, precision: Precision, target: PathBuf) -> Self {
        Self {
            source: *source,
            hub: source.hub.to_string(),
            repo: source.repo.to_string(),
            revision: source.revision.to_string(),
            precision,
            target,
            sha256: HashMap::new(),
            insecure_no_checksum: false,
            force: false,
        }
    }

    /// The files this request installs.
    pub fn files(&self) -> Vec<&'static str> {
        self.source.files(self.precision)
    }

    /// `{hub}/{repo}/resolve/{revision}/{file}`.
    pub fn file_url(&self, revision: &str, file: &str) -> String {
        format!(
            "{}/{}/resolve/{}/{}",
            self.hub.trim_end_matches('/'),
            self.repo.trim_matches('/'),
            revision,
            file
        )
    }
}

/// How an installed file's content was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Against the sha256 the user supplied.
    Sha256File,
    /// Against the sha256 the hub sent (`X-Linked-Etag` or `ETag`).
    HubSha256,
    /// Against the git blob id the hub sent (`ETag`).
    HubGitBlob,
    /// Against the installation's own `SHA256SUMS` (already installed).
    Sums,
    /// Not at all (`insecure_no_checksum`).
    Unchecked,
}

/// One installed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledFile {
    /// File name inside the installation.
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// sha256, lowercase hex (as written to `SHA256SUMS`).
    pub sha256: String,
    /// How its content was checked.
    pub check: Check,
    /// Taken over from the previous installation (same content) instead of downloaded.
    pub reused: bool,
}

/// An installation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    /// The directory.
    pub dir: PathBuf,
    /// Its files (without `SHA256SUMS`).
    pub files: Vec<InstalledFile>,
    /// The commit the hub resolved the revision to, when it said (`X-Repo-Commit`).
    pub commit: Option<String>,
}

/// What [`pull`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Downloaded and installed.
    Installed(Installed),
    /// The target already held every requested file and its `SHA256SUMS` verified; nothing
    /// was downloaded.
    AlreadyInstalled(Installed),
}

/// Download progress, reported per file.
#[derive(Debug, Clone, Copy)]
pub enum Progress<'a> {
    /// A download begins (`size` when the server said).
    Start {
        /// File name.
        file: &'a str,
        /// URL requested.
        url: &'a str,
        /// Content length.
        size: Option<u64>,
    },
    /// Bytes received so far.
    Bytes {
        /// File name.
        file: &'a str,
        /// Bytes so far.
        done: u64,
    },
    /// The previous installation's copy already has the expected content; not downloaded.
    Kept {
        /// File name.
        file: &'a str,
    },
    /// The file is on disk (not yet verified).
    Done {
        /// File name.
        file: &'a str,
        /// Bytes.
        size: u64,
    },
}

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

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> PullError + '_ {
    move |source| PullError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Installs `req` unless it is already installed; see the module comment. `progress` hears
/// about each download.
pub async fn pull(req: &PullRequest, progress: &mut dyn FnMut(Progress<'_>)) -> Result<Outcome, PullError> {
    let files = req.files();
    if let Some(done) = already_installed(req, &files).await? {
        return Ok(Outcome::AlreadyInstalled(done));
    }
    let (parent, name) = split_target(&req.target);
    tokio::fs::create_dir_all(&parent).await.map_err(io_err(&parent))?;
    let scratch = Scratch::create(parent.join(format!(".{name}.partial-{}", std::process::id()))).await?;

    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("asr-router/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(30))
        .read_timeout(Duration::from_secs(120))
        .build()
        .map_err(PullError::Client)?;

    let previous = previous_sums(&req.target).await;
    let mut revision = req.revision.clone();
    let mut commit = None;
    let mut installed = Vec::new();
    for file in files {
        let url = req.file_url(&revision, file);
        let (meta, body) = resolve(&client, &url).await?;
        // pin the remaining files to the commit the hub resolved the revision to
        if commit.is_none()
            && let Some(c) = meta.commit
        {
            revision = c.clone();
            commit = Some(c);
        }
        let expected = match req.sha256.get(file) {
            Some(hex) => Some((Expected::Sha256(hex.clone()), Check::Sha256File)),
            None => meta.expected,
        };
        let path = scratch.path.join(file);
        let Some((want, check)) = expected else {
            if !req.insecure_no_checksum {
                return Err(PullError::NoChecksum { file: file.into(), url });
            }
            let (size, sha256) = download(&client, body, &path, file, &url, progress).await?;
            installed.push(InstalledFile {
                name: file.into(),
                size,
                sha256,
                check: Check::Unchecked,
                reused: false,
            });
            continue;
        };
        let old = req.target.join(file);
        if let Some((size, sha256)) = reusable(&old, &want, previous.get(file)).await {
            link_or_copy(&old, &path).await?;
            progress(Progress::Kept { file });
            installed.push(InstalledFile {
                name: file.into(),
                size,
                sha256,
                check,
                reused: true,
            });
            continue;
        }
        let (size, sha256) = download(&client, body, &path, file, &url, progress).await?;
        let got = match &want {
            Expected::Sha256(_) => sha256.clone(),
            Expected::GitBlobSha1(_) => blocking_hash(&path, checksum::git_blob_sha1_file).await?,
        };
        if got != want.hex() {
            return Err(PullError::Mismatch {
                file: file.into(),
                algorithm: want.algorithm(),
                expected: want.hex().into(),
                got,
                url,
            });
        }
        installed.push(InstalledFile {
            name: file.into(),
            size,
            sha256,
            check,
            reused: false,
        });
    }

    let sums = checksum::format_sums(installed.iter().map(|f| (f.name.as_str(), f.sha256.as_str())));
    let sums_path = scratch.path.join(SUMS_FILE);
    write_synced(&sums_path, sums.as_bytes()).await?;
    if Packaging::detect(&scratch.path) != Some(req.source.packaging) {
        return Err(PullError::WrongPackaging {
            label: req.source.label,
        });
    }
    swap_into_place(scratch, &req.target, &parent, &name).await?;
    Ok(Outcome::Installed(Installed {
        dir: req.target.clone(),
        files: installed,
        commit,
    }))
}

/// `Some` when `req.target` holds every requested file and all files listed in its
/// `SHA256SUMS` hash to their sums (and agree with any user-supplied sha256).
async fn already_installed(req: &PullRequest, files: &[&str]) -> Result<Option<Installed>, PullError> {
    let dir = &req.target;
    match tokio::fs::metadata(dir).await {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(dir)(e)),
        Ok(m) if !m.is_dir() => {
            return if req.force {
                Ok(None)
            } else {
                Err(PullError::NotInstalledByPull { dir: dir.clone() })
            };
        }
        Ok(_) => {}
    }
    let sums_path = dir.join(SUMS_FILE);
    let text = match tokio::fs::read_to_string(&sums_path).await {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let empty = match tokio::fs::read_dir(dir).await {
                Ok(mut rd) => rd.next_entry().await.map_err(io_err(dir))?.is_none(),
                Err(_) => false,
            };
            return if req.force || empty {
                Ok(None)
            } else {
                Err(PullError::NotInstalledByPull { dir: dir.clone() })
            };
        }
        Err(e) => return Err(io_err(&sums_path)(e)),
    };
    // an unreadable SHA256SUMS marks a broken installation of ours: reinstall
    let Ok(sums) = checksum::parse_sums(&text) else {
        return Ok(None);
    };
    let listed: HashMap<&str, &str> = sums.iter().map(|(n, h)| (n.as_str(), h.as_str())).collect();
    for f in files {
        match listed.get(f) {
            None => return Ok(None),
            Some(h) if req.sha256.get(*f).is_some_and(|o| o != h) => return Ok(None),
            Some(_) => {}
        }
    }
    let dir2 = dir.clone();
    let verified = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        for (name, want) in sums {
            let path = dir2.join(&name);
            let Ok(meta) = std::fs::metadata(&path) else {
                return None;
            };
            match checksum::sha256_file(&path) {
                Ok(got) if got == want => out.push(InstalledFile {
                    name,
                    size: meta.len(),
                    sha256: got,
                    check: Check::Sums,
                    reused: true,
                }),
                _ => return None,
            }
        }
        Some(out)
    })
    .await
    .expect("hashing task panicked");
    Ok(verified.map(|files| Installed {
        dir: dir.clone(),
        files,
        commit: None,
    }))
}

fn split_target(target: &Path) -> (PathBuf, String) {
    let parent = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    (parent, name)
}

/// What the hub said about a file, from the first response that speaks for the hub.
struct Meta {
    expected: Option<(Expected, Check)>,
    commit: Option<String>,
}

impl Meta {
    fn from_headers(h: &HeaderMap) -> Meta {
        let tag = |name| h.get(name).and_then(|v| v.to_str().ok()).and_then(Expected::from_etag);
        let expected = tag("x-linked-etag").or_else(|| tag(ETAG.as_str())).map(|e| {
            let check = match e {
                Expected::Sha256(_) => Check::HubSha256,
                Expected::GitBlobSha1(_) => Check::HubGitBlob,
            };
            (e, check)
        });
        let commit = h
            .get("x-repo-commit")
            .and_then(|v| v.to_str().ok())
            .filter(|c| c.len() == 40 && c.bytes().all(|b| b.is_ascii_hexdigit()))
            .map(str::to_ascii_lowercase);
        Meta { expected, commit }
    }
}

/// Where a file's content is, once the hub has spoken.
enum Body {
    /// The hub answered with the content itself.
    Here(reqwest::Response),
    /// The hub redirected (LFS files: to a CDN).
    At(Url),
}

/// GETs `url`, following redirects by hand up to the response that speaks for the hub: for
/// LFS files a redirect to a CDN carrying `X-Linked-Etag` (the CDN's own ETag means something
/// else), for git files the content. Same-origin redirects without `X-Linked-Etag` (renamed
/// repositories) are followed. The content is not fetched yet.
async fn resolve(client: &reqwest::Client, first: &str) -> Result<(Meta, Body), PullError> {
    let mut url = parse_url(first)?;
    for _ in 0..=MAX_REDIRECTS {
        let resp = send(client, &url).await?;
        if resp.status().is_redirection() {
            let next = location(&resp, &url)?;
            if resp.headers().contains_key("x-linked-etag") || next.origin() != url.origin() {
                return Ok((Meta::from_headers(resp.headers()), Body::At(next)));
            }
            url = next;
            continue;
        }
        let resp = success(resp, &url)?;
        return Ok((Meta::from_headers(resp.headers()), Body::Here(resp)));
    }
    Err(PullError::TooManyRedirects { url: first.into() })
}

/// The content response for `body`, following any further redirects.
async fn fetch(client: &reqwest::Client, body: Body) -> Result<reqwest::Response, PullError> {
    let mut url = match body {
        Body::Here(resp) => return Ok(resp),
        Body::At(url) => url,
    };
    let first = url.to_string();
    for _ in 0..=MAX_REDIRECTS {
        let resp = send(client, &url).await?;
        if resp.status().is_redirection() {
            url = location(&resp, &url)?;
            continue;
        }
        return success(resp, &url);
    }
    Err(PullError::TooManyRedirects { url: first })
}

fn parse_url(url: &str) -> Result<Url, PullError> {
    Url::parse(url).map_err(|e| PullError::BadUrl {
        url: url.into(),
        reason: e.to_string(),
    })
}

async fn send(client: &reqwest::Client, url: &Url) -> Result<reqwest::Response, PullError> {
    client
        .get(url.clone())
        .send()
        .await
        .map_err(|source| PullError::Unreachable {
            url: url.to_string(),
            source,
        })
}

fn location(resp: &reqwest::Response, url: &Url) -> Result<Url, PullError> {
    resp.headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|l| url.join(l).ok())
        .ok_or_else(|| PullError::BadRedirect { url: url.to_string() })
}

fn success(resp: reqwest::Response, url: &Url) -> Result<reqwest::Response, PullError> {
    if resp.status().is_success() {
        Ok(resp)
    } else {
        Err(PullError::Status {
            url: url.to_string(),
            status: resp.status(),
        })
    }
}

/// `name -> sha256` from the target's `SHA256SUMS`, if it has a readable one.
async fn previous_sums(target: &Path) -> HashMap<String, String> {
    match tokio::fs::read_to_string(target.join(SUMS_FILE)).await {
        Ok(text) => checksum::parse_sums(&text).unwrap_or_default().into_iter().collect(),
        Err(_) => HashMap::new(),
    }
}

/// Size and sha256 of the previously installed `old` when its content is what the hub now
/// expects, so it need not be downloaded again. Large (sha256-checked) files are only hashed
/// when the previous `SHA256SUMS` already lists the expected digest.
async fn reusable(old: &Path, want: &Expected, listed: Option<&String>) -> Option<(u64, String)> {
    if let Expected::Sha256(h) = want
        && listed != Some(h)
    {
        return None;
    }
    let size = tokio::fs::metadata(old).await.ok().filter(|m| m.is_file())?.len();
    let sha256 = blocking_hash(old, checksum::sha256_file).await.ok()?;
    let got = match want {
        Expected::Sha256(_) => sha256.clone(),
        Expected::GitBlobSha1(_) => blocking_hash(old, checksum::git_blob_sha1_file).await.ok()?,
    };
    (got == want.hex()).then_some((size, sha256))
}

async fn blocking_hash(path: &Path, f: fn(&Path) -> std::io::Result<String>) -> Result<String, PullError> {
    let p = path.to_path_buf();
    tokio::task::spawn_blocking(move || f(&p))
        .await
        .expect("hashing task panicked")
        .map_err(io_err(path))
}

async fn link_or_copy(from: &Path, to: &Path) -> Result<(), PullError> {
    if tokio::fs::hard_link(from, to).await.is_ok() {
        return Ok(());
    }
    tokio::fs::copy(from, to).await.map(drop).map_err(io_err(to))
}

/// Streams the body into `path`, hashing it; returns its size and sha256.
async fn download(
    client: &reqwest::Client,
    body: Body,
    path: &Path,
    file: &str,
    url: &str,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<(u64, String), PullError> {
    let mut resp = fetch(client, body).await?;
    progress(Progress::Start {
        file,
        url,
        size: resp.content_length(),
    });
    let f = tokio::fs::File::create(path).await.map_err(io_err(path))?;
    let mut out = tokio::io::BufWriter::with_capacity(1 << 20, f);
    let mut hash = Sha256::new();
    let mut done = 0u64;
    loop {
        let chunk = resp.chunk().await.map_err(|source| PullError::Transfer {
            file: file.into(),
            url: url.into(),
            source,
        })?;
        let Some(chunk) = chunk else { break };
        hash.update(&chunk);
        out.write_all(&chunk).await.map_err(io_err(path))?;
        done += chunk.len() as u64;
        progress(Progress::Bytes { file, done });
    }
    out.flush().await.map_err(io_err(path))?;
    out.into_inner().sync_all().await.map_err(io_err(path))?;
    progress(Progress::Done { file, size: done });
    Ok((done, format!("{:x}", hash.finalize())))
}

async fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), PullError> {
    let mut f = tokio::fs::File::create(path).await.map_err(io_err(path))?;
    f.write_all(bytes).await.map_err(io_err(path))?;
    f.sync_all().await.map_err(io_err(path))
}

/// Renames the finished scratch directory onto `target`, moving an existing target aside first
/// and putting it back if the second rename fails.
async fn swap_into_place(mut scratch: Scratch, target: &Path, parent: &Path, name: &str) -> Result<(), PullError> {
    let exists = tokio::fs::symlink_metadata(target).await.is_ok();
    if exists {
        let old = parent.join(format!(".{name}.old-{}", std::process::id()));
        tokio::fs::rename(target, &old).await.map_err(io_err(target))?;
        if let Err(e) = tokio::fs::rename(&scratch.path, target).await {
            let _ = tokio::fs::rename(&old, target).await;
            return Err(io_err(target)(e));
        }
        scratch.keep();
        let removed = if tokio::fs::metadata(&old).await.is_ok_and(|m| m.is_dir()) {
            tokio::fs::remove_dir_all(&old).await
        } else {
            tokio::fs::remove_file(&old).await
        };
        if let Err(e) = removed {
            tracing::warn!("could not remove the previous installation {}: {e}", old.display());
        }
    } else {
        tokio::fs::rename(&scratch.path, target).await.map_err(io_err(target))?;
        scratch.keep();
    }
    // make the rename durable (best effort; directories cannot be opened on every platform)
    let parent = parent.to_path_buf();
    let _ = tokio::task::spawn_blocking(move || std::fs::File::open(parent).and_then(|d| d.sync_all())).await;
    Ok(())
}

/// The scratch directory; removed on drop unless [`Scratch::keep`] was called.
struct Scratch {
    path: PathBuf,
    keep: bool,
}

impl Scratch {
    async fn create(path: PathBuf) -> Result<Scratch, PullError> {
        // a leftover of an earlier process that had our pid
        if tokio::fs::symlink_metadata(&path).await.is_ok() {
            tokio::fs::remove_dir_all(&path).await.map_err(io_err(&path))?;
        }
        tokio::fs::create_dir(&path).await.map_err(io_err(&path))?;
        Ok(Scratch { path, keep: false })
    }

    fn keep(&mut self) {
        self.keep = true;
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !self.keep {
            // synchronous on purpose: drop may run while the runtime is shutting down
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::catalog::SENSEVOICE_SHERPA;

    #[test]
    fn builds_hub_urls() {
        let mut r = PullRequest::new(&SENSEVOICE_SHERPA, Precision::Int8, "models/sensevoice-small".into());
        r.hub = "http://127.0.0.1:9/".into();
        assert_eq!(
            r.file_url("main", "tokens.txt"),
            "http://127.0.0.1:9/csukuangfj/sherpa-onnx-sense-voice-zh-en-ja-ko-yue-2024-07-17/resolve/main/tokens.txt"
        );
        assert_eq!(
            split_target(Path::new("sensevoice-small")),
            (PathBuf::from("."), "sensevoice-small".to_string())
        );
    }

    #[test]
    fn hub_metadata_prefers_the_linked_etag() {
        let mut h = HeaderMap::new();
        h.insert(ETAG, "\"e69de29bb2d1d6434b8b29ae775ad8c2e48c5391\"".parse().unwrap());
        let m = Meta::from_headers(&h);
        assert_eq!(m.expected.unwrap().1, Check::HubGitBlob);
        h.insert("x-linked-etag", format!("\"{}\"", "0".repeat(64)).parse().unwrap());
        h.insert(
            "x-repo-commit",
            "2365baeacb507f821a0c8120fcee3d484dba7a07".parse().unwrap(),
        );
        let m = Meta::from_headers(&h);
        assert_eq!(
            m.expected.unwrap(),
            (Expected::Sha256("0".repeat(64)), Check::HubSha256)
        );
        assert_eq!(m.commit.as_deref(), Some("2365baeacb507f821a0c8120fcee3d484dba7a07"));
    }
}
