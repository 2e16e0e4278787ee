//! Signal-processing and decoding kernels shared by the engines: Kaldi-compatible fbank,
//! LFR stacking, CMVN, greedy CTC decoding, the single-precision real FFT behind the fbank, and
//! the power mel spectrogram of the speaker embedder.
//!
//! All kernels are plain Rust over `f32` slices, allocation-free per frame after set-up, and
//! written as simple loops over contiguous data so the compiler can vectorise them.

pub mod cmvn;
pub mod ctc;
pub mod fbank;
pub mod kiss_rfft;
pub mod lfr;
pub mod power_mel;
pub mod whisper_mel;
