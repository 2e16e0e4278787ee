//! The hub side of `models pull`: asking the hub where a file is and what it must hash to,
//! then streaming its content to disk while hashing it.
//!
//! # Invariants
//!
//! * **Redirects are followed by hand** (the client follows none), at most
//!   `MAX_REDIRECTS` per request, so the response that speaks for the hub can be told
//!   apart from a CDN's: for LFS files the redirect carrying `X-Linked-Etag`, for git files the
//!   content itself. A CDN's own `ETag` is never taken as the file's digest.
//! * **Nothing here decides what is installed**: `download` writes and hashes one file;
//!   checking the digest and placing the file are the caller's ([`super::pull`](mod@super::pull)).

use std::path::Path;
use std::time::Duration;

use reqwest::Url;
use reqwest::header::{ETAG, HeaderMap, LOCATION};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::checksum::Expected;
use super::error::{MAX_REDIRECTS, PullError, io_err};

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

/// The HTTP client of a pull: no automatic redirects (see the module invariants), generous
/// read timeouts for large files.
pub(super) fn client() -> Result<reqwest::Client, PullError> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("asr-router/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(30))
        .read_timeout(Duration::from_secs(120))
        .build()
        .map_err(PullError::Client)
}

/// What the hub said about a file, from the first response that speaks for the hub.
pub(super) struct Meta {
    /// The digest the hub announced (`X-Linked-Etag`, else `ETag`).
    pub(super) expected: Option<Expected>,
    /// The commit the revision resolved to (`X-Repo-Commit`).
    pub(super) commit: Option<String>,
}

impl Meta {
    pub(super) fn from_headers(h: &HeaderMap) -> Meta {
        let tag = |name| h.get(name).and_then(|v| v.to_str().ok()).and_then(Expected::from_etag);
        let expected = tag("x-linked-etag").or_else(|| tag(ETAG.as_str()));
        let commit = h
            .get("x-repo-commit")
            .and_then(|v| v.to_str().ok())
            .filter(|c| c.len() == 40 && c.bytes().all(|b| b.is_ascii_hexdigit()))
            .map(str::to_ascii_lowercase);
        Meta { expected, commit }
    }
}

/// Where a file's content is, once the hub has spoken.
pub(super) enum Body {
    /// The hub answered with the content itself.
    Here(reqwest::Response),
    /// The hub redirected (LFS files: to a CDN).
    At(Url),
}

/// GETs `url`, following redirects by hand up to the response that speaks for the hub: for
/// LFS files a redirect to a CDN carrying `X-Linked-Etag` (the CDN's own ETag means something
/// else), for git files the content. Same-origin redirects without `X-Linked-Etag` (renamed
/// repositories) are followed. The content is not fetched yet.
pub(super) async fn resolve(client: &reqwest::Client, first: &str) -> Result<(Meta, Body), PullError> {
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

/// Streams the body into `path`, hashing it; returns its size and sha256.
pub(super) async fn download(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_metadata_prefers_the_linked_etag() {
        let mut h = HeaderMap::new();
        h.insert(ETAG, "\"e69de29bb2d1d6434b8b29ae775ad8c2e48c5391\"".parse().unwrap());
        let m = Meta::from_headers(&h);
        assert_eq!(
            m.expected.unwrap(),
            Expected::GitBlobSha1("e69de29bb2d1d6434b8b29ae775ad8c2e48c5391".into())
        );
        h.insert("x-linked-etag", format!("\"{}\"", "0".repeat(64)).parse().unwrap());
        h.insert(
            "x-repo-commit",
            "2365baeacb507f821a0c8120fcee3d484dba7a07".parse().unwrap(),
        );
        let m = Meta::from_headers(&h);
        assert_eq!(m.expected.unwrap(), Expected::Sha256("0".repeat(64)));
        assert_eq!(m.commit.as_deref(), Some("2365baeacb507f821a0c8120fcee3d484dba7a07"));
    }
}
