//! Silero VAD v6 on ONNX Runtime, as a streaming detector and as an offline pass over a whole
//! recording.
//!
//! The model takes 512 new samples at 16 kHz plus the previous frame's last 64 samples as context,
//! and a recurrent state `[2, B, 128]`; it returns the speech probability of each of the `B`
//! frames. A [`SileroStream`] owns one stream's context and state, so many sessions can share one
//! model.
//!
//! [`SileroModel::probabilities`] serves files (batch windows, meetings): one ONNX call per frame
//! costs ~0.15 ms, almost all of it call overhead, so a one-hour file took ~17 s frame by frame.
//! Instead the recording is cut into lanes of at least [`LANE_MIN_S`] that run side by side as one
//! batch (and on two threads where there are two cores). Each lane but the first starts
//! [`WARMUP_FRAMES`] early so its recurrent state has settled by its first own frame; the warm-up
//! outputs are dropped. Invariant: one probability per whole 512-sample frame, in order, as
//! [`SileroStream::push`] gives; the first lane's values are exactly the streaming ones, the
//! others agree with them to within the state's memory of audio older than the warm-up.

use std::path::Path;
use std::sync::{Arc, Mutex};

use ndarray::{Array2, Array3};
use ort::session::Session;
use ort::value::{Tensor, TensorRef};

use super::FRAME;
use crate::engine::recognizer::EngineError;

const CONTEXT: usize = 64;

/// The shortest lane of [`SileroModel::probabilities`], seconds: files shorter than two lanes
/// run frame by frame.
pub const LANE_MIN_S: f64 = 30.0;
/// Frames (32 ms each, 3 s in all) a lane runs before its own first frame.
pub const WARMUP_FRAMES: usize = 96;
/// At most this many lanes (split over up to two threads' batch calls).
const MAX_LANES: usize = 32;

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

    /// Speech probability of every whole 512-sample frame of a 16 kHz recording, as one
    /// [`SileroStream`] would give them, computed in lanes (see the module docs). Blocking.
    pub fn probabilities(&self, samples: &[f32]) -> Result<Vec<f32>, EngineError> {
        let frames = samples.len() / FRAME;
        let lane_min = (LANE_MIN_S * crate::audio::SAMPLE_RATE as f64) as usize / FRAME;
        let lanes = (frames / lane_min.max(1)).min(MAX_LANES);
        if lanes < 2 {
            return self.stream().push(samples);
        }
        let firsts = lane_starts(samples, frames, lanes);
        let plans: Vec<Lane> = firsts
            .iter()
            .zip(firsts.iter().skip(1).chain(std::iter::once(&frames)))
            .map(|(&first, &next)| Lane {
                first,
                own: next - first,
                warmup: first.min(WARMUP_FRAMES),
            })
            .filter(|l| l.own > 0)
            .collect();
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .clamp(1, 2)
            .min(plans.len());
        let groups: Vec<&[Lane]> = plans.chunks(plans.len().div_ceil(threads)).collect();
        let results: Vec<Result<Vec<Vec<f32>>, EngineError>> = if groups.len() == 1 {
            vec![self.run_lanes(samples, groups[0])]
        } else {
            std::thread::scope(|scope| {
                let handles: Vec<_> = groups
                    .iter()
                    .map(|g| scope.spawn(move || self.run_lanes(samples, g)))
                    .collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join()
                            .unwrap_or_else(|_| Err(EngineError::Inference("silero lane thread panicked".into())))
                    })
                    .collect()
            })
        };
        let mut out = Vec::with_capacity(frames);
        for r in results {
            for lane in r? {
                out.extend(lane);
            }
        }
        debug_assert_eq!(out.len(), frames);
        Ok(out)
    }

    /// Runs `lanes` side by side, one batch call per frame step; returns each lane's own
    /// probabilities (warm-up dropped).
    fn run_lanes(&self, samples: &[f32], lanes: &[Lane]) -> Result<Vec<Vec<f32>>, EngineError> {
        let b = lanes.len();
        let steps = lanes.iter().map(|l| l.warmup + l.own).max().unwrap_or(0);
        let mut state = Array3::zeros((2, b, 128));
        let mut input = Array2::<f32>::zeros((b, CONTEXT + FRAME));
        let mut out: Vec<Vec<f32>> = lanes.iter().map(|l| Vec::with_capacity(l.own)).collect();
        for step in 0..steps {
            for (row, lane) in lanes.iter().enumerate() {
                let mut x = input.row_mut(row);
                if step >= lane.warmup + lane.own {
                    // a lane that is done runs on silence until the longest is
                    x.fill(0.0);
                    continue;
                }
                let at = (lane.first - lane.warmup + step) * FRAME;
                let ctx_from = at.saturating_sub(CONTEXT);
                let pad = CONTEXT - (at - ctx_from);
                let x = x.as_slice_mut().expect("a standard-layout row");
                x[..pad].fill(0.0);
                x[pad..CONTEXT].copy_from_slice(&samples[ctx_from..at]);
                x[CONTEXT..].copy_from_slice(&samples[at..at + FRAME]);
            }
            let (probs, next) = self.infer(&input, &state)?;
            state = next;
            for (row, lane) in lanes.iter().enumerate() {
                if step >= lane.warmup && step < lane.warmup + lane.own {
                    out[row].push(probs.get(row).copied().unwrap_or(0.0));
                }
            }
        }
        Ok(out)
    }

    fn infer(&self, input: &Array2<f32>, state: &Array3<f32>) -> Result<(Vec<f32>, Array3<f32>), EngineError> {
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
        let p: Vec<f32> = p.iter().copied().collect();
        let s = out["stateN"].try_extract_array::<f32>().map_err(err)?;
        let s = s
            .to_owned()
            .into_dimensionality::<ndarray::Ix3>()
            .map_err(|e| EngineError::Inference(format!("silero state shape: {e}")))?;
        Ok((p, s))
    }
}

/// The first frame of each of `lanes` lanes over `frames` frames: near equal shares, each cut
/// moved (by up to [`CUT_SEARCH_FRAMES`]) into the middle of the quietest second nearby, so a
/// lane starts where its neighbourhood has the least speech and its recurrent state starts
/// closest to the stream's. Strictly increasing, starting at 0.
fn lane_starts(samples: &[f32], frames: usize, lanes: usize) -> Vec<usize> {
    let energy = crate::audio::quiet::Energy::new(&samples[..frames * FRAME], FRAME);
    let share = frames / lanes;
    let mut starts = vec![0];
    for i in 1..lanes {
        let nominal = i * share;
        let lo = nominal.saturating_sub(CUT_SEARCH_FRAMES).max(starts[i - 1] + 1);
        let hi = (nominal + CUT_SEARCH_FRAMES).min(frames - 1);
        starts.push(energy.quietest(lo, hi, SECOND_FRAMES));
    }
    starts
}

/// Frames in one second (31.25, rounded down).
const SECOND_FRAMES: usize = 31;
/// How far a lane cut may move to find quiet audio: 5 s either way.
const CUT_SEARCH_FRAMES: usize = 5 * SECOND_FRAMES;

/// One lane of [`SileroModel::probabilities`]: its own frames `first..first + own`, preceded by
/// `warmup` frames whose outputs are dropped.
struct Lane {
    first: usize,
    own: usize,
    warmup: usize,
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
                probs.push(p.first().copied().unwrap_or(0.0));
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
