//! The upload of one utterance: a `multipart/form-data` body built once, in memory, and sent as
//! plain bytes on every attempt.
//!
//! Why not the HTTP client's own multipart form: the blocking client streams such a body to its
//! connection through a channel, and when a server answers before reading the body (asr-router
//! refuses a missing key that way, with `Connection: close`) the stream fails and the client
//! reports a broken send instead of the server's 401. A body of known bytes is handed over whole,
//! so the answer reaches us.

use bytes::Bytes;
use rand::Rng as _;

/// A finished multipart body and its content type (which names the boundary).
#[derive(Debug, Clone)]
pub struct Upload {
    /// `multipart/form-data; boundary=…`
    pub content_type: String,
    /// The encoded parts; cloning shares the bytes.
    pub body: Bytes,
}

/// Text `fields` (in order; a name may repeat) and a `file` part holding `wav` as `audio.wav`.
pub fn upload(fields: &[(&str, &str)], wav: &[u8]) -> Upload {
    // 32 random alphanumerics: the chance that they occur in the audio is nil for any practical
    // purpose (the text fields are checked outright).
    let mut boundary = String::from("asr-router-");
    let mut rng = rand::rng();
    boundary.extend((0..32).map(|_| char::from(rng.sample(rand::distr::Alphanumeric))));
    let mut body = Vec::with_capacity(wav.len() + 256 * (fields.len() + 1));
    for (name, value) in fields {
        debug_assert!(!value.contains(&boundary));
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        body.extend_from_slice(format!("Content-Disposition: form-data; name=\"{}\"\r\n\r\n", quoted(name)).as_bytes());
        body.extend_from_slice(value.as_bytes());
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
    body.extend_from_slice(b"Content-Disposition: form-data; name=\"file\"; filename=\"audio.wav\"\r\n");
    body.extend_from_slice(b"Content-Type: audio/wav\r\n\r\n");
    body.extend_from_slice(wav);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    Upload {
        content_type: format!("multipart/form-data; boundary={boundary}"),
        body: body.into(),
    }
}

/// A field name as a quoted-string: quotes and line breaks escaped (field names here are ours,
/// but the encoder should not depend on that).
fn quoted(name: &str) -> String {
    name.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace(['\r', '\n'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_framed_by_the_boundary_in_order() {
        let wav = b"RIFF\x00\x01--binary\r\n\xff";
        let u = upload(&[("model", "m1"), ("t[]", "a"), ("t[]", "b")], wav);
        let boundary = u.content_type.strip_prefix("multipart/form-data; boundary=").unwrap();
        assert!(boundary.len() > 40);
        let body = &u.body[..];
        let text = String::from_utf8_lossy(body);
        let parts: Vec<&str> = text.split(&format!("--{boundary}")).collect();
        // preamble (empty), 4 parts, epilogue "--\r\n"
        assert_eq!(parts.len(), 6, "{text}");
        assert_eq!(parts[0], "");
        assert_eq!(
            parts[1],
            "\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nm1\r\n"
        );
        assert!(parts[2].ends_with("\r\n\r\na\r\n") && parts[3].ends_with("\r\n\r\nb\r\n"));
        assert!(parts[4].contains("filename=\"audio.wav\"") && parts[4].contains("Content-Type: audio/wav"));
        assert_eq!(parts[5], "--\r\n");
        // the file's bytes come through untouched
        let at = body.windows(wav.len()).position(|w| w == wav).unwrap();
        assert_eq!(&body[at + wav.len()..at + wav.len() + 2], b"\r\n");
        // a new boundary each time
        assert_ne!(upload(&[], wav).content_type, u.content_type);
    }
}
