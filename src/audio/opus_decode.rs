//! Opus decoding with libopus (through the `opus` crate): raw packets as a browser's WebCodecs
//! encoder produces them, and packets demuxed from Ogg or WebM containers.

use super::AudioError;

/// Opus always decodes at 48 kHz internally; we ask libopus for mono at 48 kHz.
pub const OPUS_RATE: u32 = 48_000;

/// The longest Opus frame is 120 ms: 5760 samples at 48 kHz.
const MAX_FRAME: usize = 5760;

/// Decodes a sequence of Opus packets to 48 kHz mono `f32`.
pub struct OpusPacketDecoder {
    decoder: opus::Decoder,
    scratch: Vec<f32>,
    skip: usize,
}

impl OpusPacketDecoder {
    /// A mono decoder. `pre_skip` samples (at 48 kHz) are dropped from the start, as the Ogg/WebM
    /// `OpusHead` header asks.
    pub fn new(pre_skip: usize) -> Result<Self, AudioError> {
        let decoder = opus::Decoder::new(OPUS_RATE, opus::Channels::Mono)
            .map_err(|e| AudioError::Unsupported(format!("opus decoder: {e}")))?;
        Ok(Self {
            decoder,
            scratch: vec![0.0; MAX_FRAME],
            skip: pre_skip,
        })
    }

    /// Decodes one packet and appends its samples to `out`.
    pub fn decode(&mut self, packet: &[u8], out: &mut Vec<f32>) -> Result<(), AudioError> {
        if packet.is_empty() {
            return Err(AudioError::Corrupt("empty opus packet".into()));
        }
        let n = self
            .decoder
            .decode_float(packet, &mut self.scratch, false)
            .map_err(|e| AudioError::Corrupt(format!("opus packet: {e}")))?;
        let drop = self.skip.min(n);
        self.skip -= drop;
        out.extend_from_slice(&self.scratch[drop..n]);
        Ok(())
    }
}

/// Reads the pre-skip field of an `OpusHead` header (RFC 7845 §5.1); 0 when absent or malformed.
pub fn opus_head_pre_skip(head: Option<&[u8]>) -> usize {
    match head {
        Some(h) if h.len() >= 12 && &h[..8] == b"OpusHead" => u16::from_le_bytes([h[10], h[11]]) as usize,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_raw_packets() {
        let mut enc = opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Voip).unwrap();
        let tone: Vec<f32> = (0..48_000)
            .map(|i| (2.0 * std::f32::consts::PI * 440.0 * i as f32 / 48_000.0).sin() * 0.3)
            .collect();
        let mut dec = OpusPacketDecoder::new(0).unwrap();
        let mut out = Vec::new();
        for frame in tone.chunks_exact(960) {
            let pkt = enc.encode_vec_float(frame, 4000).unwrap();
            dec.decode(&pkt, &mut out).unwrap();
        }
        assert_eq!(out.len(), 48_000);
        let e_in: f32 = tone[9600..].iter().map(|x| x * x).sum();
        let e_out: f32 = out[9600..].iter().map(|x| x * x).sum();
        assert!((e_out / e_in - 1.0).abs() < 0.2, "energy ratio {}", e_out / e_in);
    }

    #[test]
    fn garbage_packet_is_an_error_not_a_panic() {
        let mut dec = OpusPacketDecoder::new(0).unwrap();
        let mut out = Vec::new();
        assert!(dec.decode(&[], &mut out).is_err());
        // a TOC byte announcing a code-3 packet with an impossible frame count
        assert!(dec.decode(&[0xff, 0xff, 0xff], &mut out).is_err());
    }

    #[test]
    fn pre_skip_is_read_from_opus_head() {
        let mut head = b"OpusHead".to_vec();
        head.extend_from_slice(&[1, 1, 0x38, 0x01, 0x80, 0xbb, 0, 0, 0, 0, 0]);
        assert_eq!(opus_head_pre_skip(Some(&head)), 312);
        assert_eq!(opus_head_pre_skip(Some(b"nope")), 0);
        assert_eq!(opus_head_pre_skip(None), 0);
    }
}
