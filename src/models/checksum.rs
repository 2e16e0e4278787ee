//! What a downloaded file must hash to, and computing it: hub `ETag` values (sha256 for LFS
//! files, git blob sha1 for files stored in git), `SHA256SUMS` files, and file digests.

use std::io::Read;
use std::path::Path;

use sha1::Sha1;
use sha2::{Digest, Sha256};

/// Name of the file, in every installed directory, that lists each file's sha256.
pub const SUMS_FILE: &str = "SHA256SUMS";

/// The digest a file is expected to have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// sha256 of the content, lowercase hex (LFS files: `X-Linked-Etag`; `--sha256` files).
    Sha256(String),
    /// Git blob id: sha1 of `"blob <len>\0"` + content, lowercase hex (small files in git).
    GitBlobSha1(String),
}

impl Expected {
    /// Reads a hub entity tag: quoted (optionally weak, `W/`) hex; 64 digits are a sha256,
    /// 40 a git blob sha1. Anything else says nothing about the content.
    pub fn from_etag(value: &str) -> Option<Expected> {
        let v = value.trim();
        let v = v.strip_prefix("W/").unwrap_or(v).trim_matches('"');
        if !v.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        match v.len() {
            64 => Some(Expected::Sha256(v.to_ascii_lowercase())),
            40 => Some(Expected::GitBlobSha1(v.to_ascii_lowercase())),
            _ => None,
        }
    }

    /// Name of the algorithm, for messages.
    pub fn algorithm(&self) -> &'static str {
        match self {
            Expected::Sha256(_) => "sha256",
            Expected::GitBlobSha1(_) => "git blob sha1",
        }
    }

    /// The expected digest, lowercase hex.
    pub fn hex(&self) -> &str {
        match self {
            Expected::Sha256(h) | Expected::GitBlobSha1(h) => h,
        }
    }
}

/// Whether `s` is a sha256 in hex.
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// sha256 of a file, lowercase hex (blocking: call from a blocking thread).
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut h = Sha256::new();
    hash_file(path, |chunk| h.update(chunk))?;
    Ok(format!("{:x}", h.finalize()))
}

/// Git blob id of a file, lowercase hex (blocking: call from a blocking thread).
pub fn git_blob_sha1_file(path: &Path) -> std::io::Result<String> {
    let len = std::fs::metadata(path)?.len();
    let mut h = Sha1::new();
    h.update(format!("blob {len}\0").as_bytes());
    hash_file(path, |chunk| h.update(chunk))?;
    Ok(format!("{:x}", h.finalize()))
}

fn hash_file(path: &Path, mut update: impl FnMut(&[u8])) -> std::io::Result<()> {
    let mut f = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        update(&buf[..n]);
    }
}

/// A line of a `SHA256SUMS` file that is not `<64 hex>  <name>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: expected `<sha256 hex>  <file name>`, got {text:?}")]
pub struct SumsSyntaxError {
    /// 1-based line number.
    pub line: usize,
    /// The offending line.
    pub text: String,
}

/// Parses `sha256sum` output (`<hex>  <name>` or `<hex> *<name>`; blank lines and `#` comments
/// are skipped) into `(name, lowercase hex)` pairs.
pub fn parse_sums(text: &str) -> Result<Vec<(String, String)>, SumsSyntaxError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = || SumsSyntaxError {
            line: i + 1,
            text: raw.to_string(),
        };
        let (hex, rest) = line.split_once(char::is_whitespace).ok_or_else(bad)?;
        let name = rest.trim_start();
        let name = name.strip_prefix('*').unwrap_or(name);
        if !is_sha256_hex(hex) || name.is_empty() {
            return Err(bad());
        }
        out.push((name.to_string(), hex.to_ascii_lowercase()));
    }
    Ok(out)
}

/// Formats `(name, hex)` pairs as a `SHA256SUMS` file that `sha256sum -c` accepts.
pub fn format_sums<'a>(entries: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    entries
        .into_iter()
        .map(|(name, hex)| format!("{hex}  {name}\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_hub_etags() {
        let sha = "C71F0CE00BEC95B07744E116345E33D8CBBE08CEF896382CF907BF4B51A2CD51";
        assert_eq!(
            Expected::from_etag(&format!("\"{sha}\"")),
            Some(Expected::Sha256(sha.to_ascii_lowercase()))
        );
        assert_eq!(
            Expected::from_etag("W/\"e69de29bb2d1d6434b8b29ae775ad8c2e48c5391\""),
            Some(Expected::GitBlobSha1("e69de29bb2d1d6434b8b29ae775ad8c2e48c5391".into()))
        );
        // an md5-style or opaque tag says nothing we can check
        assert_eq!(Expected::from_etag("\"d41d8cd98f00b204e9800998ecf8427e\""), None);
        assert_eq!(Expected::from_etag("\"66f0c3a2-1a2b\""), None);
    }

    #[test]
    fn git_blob_ids_match_git() {
        let dir = std::env::temp_dir().join(format!("asr-router-blob-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (empty, hello) = (dir.join("empty"), dir.join("hello"));
        std::fs::write(&empty, b"").unwrap();
        std::fs::write(&hello, b"hello\n").unwrap();
        // `git hash-object` of the same contents
        assert_eq!(
            git_blob_sha1_file(&empty).unwrap(),
            "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
        );
        assert_eq!(
            git_blob_sha1_file(&hello).unwrap(),
            "ce013625030ba8dba906f756967f9e9ca394464a"
        );
        assert_eq!(
            sha256_file(&hello).unwrap(),
            "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn sums_round_trip_and_reject_garbage() {
        let h = "a".repeat(64);
        let text = format_sums([("model.int8.onnx", h.as_str()), ("tokens.txt", h.as_str())]);
        let parsed = parse_sums(&format!("# comment\n\n{text}{} *x.bin\n", "B".repeat(64))).unwrap();
        assert_eq!(parsed[0], ("model.int8.onnx".to_string(), h.clone()));
        assert_eq!(parsed[2], ("x.bin".to_string(), "b".repeat(64)));
        assert_eq!(parse_sums("abc  file\n").unwrap_err().line, 1);
    }
}
