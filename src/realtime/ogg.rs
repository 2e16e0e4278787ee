//! An incremental Ogg page parser (RFC 3533) for the realtime Opus extension: bytes arrive in
//! arbitrary pieces; complete packets come out. Only one logical stream is expected.

use crate::audio::AudioError;

/// Largest page (header + 255 segments of 255 bytes).
const MAX_PAGE: usize = 27 + 255 + 255 * 255;

/// Reassembles packets from Ogg pages fed in arbitrary chunks.
#[derive(Debug, Default)]
pub struct OggPacketReader {
    buf: Vec<u8>,
    partial: Vec<u8>,
}

impl OggPacketReader {
    /// Feeds bytes; returns the packets completed by them.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<Vec<u8>>, AudioError> {
        self.buf.extend_from_slice(bytes);
        let mut packets = Vec::new();
        loop {
            if self.buf.len() < 27 {
                break;
            }
            if &self.buf[..4] != b"OggS" {
                return Err(AudioError::Corrupt("expected an Ogg page (OggS)".into()));
            }
            let nseg = self.buf[26] as usize;
            if self.buf.len() < 27 + nseg {
                break;
            }
            let lacing = &self.buf[27..27 + nseg];
            let body_len: usize = lacing.iter().map(|&l| l as usize).sum();
            let total = 27 + nseg + body_len;
            if self.buf.len() < total {
                if self.buf.len() > MAX_PAGE {
                    return Err(AudioError::Corrupt("oversized Ogg page".into()));
                }
                break;
            }
            let mut off = 27 + nseg;
            for &l in lacing {
                self.partial.extend_from_slice(&self.buf[off..off + l as usize]);
                off += l as usize;
                if l < 255 {
                    packets.push(std::mem::take(&mut self.partial));
                }
            }
            self.buf.drain(..total);
        }
        Ok(packets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(packets: &[&[u8]]) -> Vec<u8> {
        let mut lacing = Vec::new();
        let mut body = Vec::new();
        for p in packets {
            let mut n = p.len();
            while n >= 255 {
                lacing.push(255u8);
                n -= 255;
            }
            lacing.push(n as u8);
            body.extend_from_slice(p);
        }
        let mut v = b"OggS".to_vec();
        v.extend_from_slice(&[0u8; 22]);
        v.push(lacing.len() as u8);
        v.extend(lacing);
        v.extend(body);
        v
    }

    #[test]
    fn packets_survive_arbitrary_chunking() {
        let long = vec![7u8; 600];
        let mut stream = page(&[b"OpusHead-xxxxxxxxx", b"abc"]);
        stream.extend(page(&[&long, b"z"]));
        for chunk in [1, 5, 27, 100, 10_000] {
            let mut r = OggPacketReader::default();
            let mut got = Vec::new();
            for c in stream.chunks(chunk) {
                got.extend(r.push(c).unwrap());
            }
            assert_eq!(got.len(), 4, "chunk {chunk}");
            assert_eq!(got[2], long);
            assert_eq!(got[3], b"z");
        }
    }

    #[test]
    fn garbage_is_an_error() {
        let mut r = OggPacketReader::default();
        assert!(r.push(&[0u8; 40]).is_err());
    }
}
