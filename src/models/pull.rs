//! Download, verify, install: each file streams into a scratch directory next to the target
//! (`.<name>.partial-<pid>`) while it is hashed, is checked against its expected digest, and
//! only when every file passed is `SHA256SUMS` written and the scratch directory renamed into
//! place. Any failure (or dropping the future, e.g. on Ctrl-C) removes the scratch directory,
//! so the target is either the previous installation or the complete new one. Files of the
//! previous installation whose content is what the hub now announces are taken over instead of
//! downloaded again (e.g. adding the fp32 model to an int8 installation).
//!
//! This file is the plan and the installation; talking to the hub (redirects, announced
//! digests, streaming a file to disk) is [`super::hub`]'s, and the error type is
//! [`super::error`]'s.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use tokio::io::AsyncWriteExt;

use super::catalog::{Precision, Source};
use super::checksum::{self, Expected, SUMS_FILE};
use super::error::{PullError, io_err};
use super::hub::{self, Progress, download, resolve};
use crate::engine::sensevoice::Packaging;

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

    let client = hub::client()?;

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
            None => meta.expected.map(|e| {
                let check = match e {
                    Expected::Sha256(_) => Check::HubSha256,
                    Expected::GitBlobSha1(_) => Check::HubGitBlob,
                };
                (e, check)
            }),
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
}
