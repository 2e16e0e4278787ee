//! Silero VAD v6 on ONNX Runtime, as a streaming detector.
//!
//! The model takes 512 new samples at 16 kHz plus the previous frame's last 64 samples as context,
//! and a recurrent state `[2, 1, 128]`; it returns the speech probability of the frame. A
//! [`SileroStream`] owns one stream's context and state, so many sessions can share one model.

use std::path::Path;
use std::sync::{Arc, Mutex};

use ndarray::{Array2, Array3};
use ort::session::Session;
use ort::value::{Tensor, TensorRef};

use super::FRAME;
use crate::engine::recognizer::EngineError;

const CONTEXT: usize = 64;

/// The loaded Silero model, shareable across streams: a small pool of ONNX sessions, each
/// locked only for one frame (~0.2 ms), so many streams interleave without waiting long.
#[derive(Clone)]
pub struct SileroModel {
    sessions: Arc<[Mutex<Session>]>,
    next: Arc<std::sync::atomic::AtomicUsize>,
}

/// ONNX sessions in the pool.
const POOL: usize = 4;

impl SileroModel {
    /// Loads `silero_vad.onnx` (ONNX Runtime must already be initialised).
    pub fn load(path: &Path) -> Result<Self, EngineError> {
        let sessions = (0..POOL)
            .map(|_| crate::engine::ort_runtime::open_session(path, 1).map(Mutex::new))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            sessions: sessions.into(),
            next: Arc::default(),
        })
    }

    /// A fresh stream with zero state.
    pub fn stream(&self) -> SileroStream {
        SileroStream {
            model: self.clone(),
            state: Array3::zeros((2, 1, 128)),
            context: [0.0; CONTEXT],
            pending: Vec::with_capacity(FRAME),
        }
    }

    fn infer(&self, input: &Array2<f32>, state: &Array3<f32>) -> Result<(f32, Array3<f32>), EngineError> {
        let err = |e: ort::Error| EngineError::Inference(format!("silero: {e}"));
        // Take a free session if there is one, else wait on the next in turn.
        let start = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut guard = None;
        for i in 0..self.sessions.len() {
            if let Ok(g) = self.sessions[(start + i) % self.sessions.len()].try_lock() {
                guard = Some(g);
                break;
            }
        }
        let mut session = match guard {
            Some(g) => g,
            None => self.sessions[start % self.sessions.len()]
                .lock()
                .map_err(|_| EngineError::Inference("silero session poisoned".into()))?,
        };
        let out = session
            .run(ort::inputs![
                "input" => TensorRef::from_array_view(input).map_err(err)?,
                "state" => TensorRef::from_array_view(state).map_err(err)?,
                "sr" => Tensor::from_array(ndarray::arr0(16_000i64)).map_err(err)?,
            ])
            .map_err(err)?;
        let p = out["output"].try_extract_array::<f32>().map_err(err)?;
        let p = p.iter().next().copied().unwrap_or(0.0);
        let s = out["stateN"].try_extract_array::<f32>().map_err(err)?;
        let s = s
            .to_owned()
            .into_dimensionality::<ndarray::Ix3>()
            .map_err(|e| EngineError::Inference(format!("silero state shape: {e}")))?;
        Ok((p, s))
    }
}

/// One audio stream's VAD state.
pub struct SileroStream {
    model: SileroModel,
    state: Array3<f32>,
    context: [f32; CONTEXT],
    pending: Vec<f32>,
}

impl SileroStream {
    /// Feeds 16 kHz samples of any length; returns one probability per completed 512-sample frame.
    pub fn push(&mut self, samples: &[f32]) -> Result<Vec<f32>, EngineError> {
        let mut probs = Vec::new();
        let mut rest = samples;
        while !rest.is_empty() {
            let take = (FRAME - self.pending.len()).min(rest.len());
            self.pending.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.pending.len() == FRAME {
                let mut x = Vec::with_capacity(CONTEXT + FRAME);
                x.extend_from_slice(&self.context);
                x.extend_from_slice(&self.pending);
                self.context.copy_from_slice(&self.pending[FRAME - CONTEXT..]);
                self.pending.clear();
                let input = Array2::from_shape_vec((1, CONTEXT + FRAME), x)
                    .map_err(|e| EngineError::Inference(e.to_string()))?;
                let (p, s) = self.model.infer(&input, &self.state)?;
                self.state = s;
                probs.push(p);
            }
        }
        Ok(probs)
    }

    /// Clears the recurrent state and context (e.g. after `input_audio_buffer.clear`).
    pub fn reset(&mut self) {
        self.state.fill(0.0);
        self.context = [0.0; CONTEXT];
        self.pending.clear();
    }
}
