//! Process-wide ONNX Runtime set-up. `ort` is built with `load-dynamic`, so the shared library is
//! found at run time: from the configured path, `ORT_DYLIB_PATH`, or the models folder.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::session::builder::SessionBuilder;

use super::recognizer::EngineError;
use crate::config::Device;

static INIT: OnceLock<Result<(PathBuf, ort::environment::Environment), String>> = OnceLock::new();

/// Where the ONNX Runtime library is looked for, in order.
pub fn candidate_paths(models_dir: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Ok(p) = std::env::var("ORT_DYLIB_PATH") {
        v.push(PathBuf::from(p));
    }
    v.push(models_dir.join("lib/libonnxruntime.so.1.31.1"));
    v
}

/// Loads ONNX Runtime once per process; later calls return the first outcome.
pub fn init(models_dir: &Path) -> Result<PathBuf, EngineError> {
    INIT.get_or_init(|| {
        let path = candidate_paths(models_dir)
            .into_iter()
            .find(|p| p.exists())
            .ok_or_else(|| {
                format!(
                    "libonnxruntime not found (set ORT_DYLIB_PATH or run scripts/fetch-models); looked in {}",
                    models_dir.display()
                )
            })?;
        let env = ort::init_from(&path)
            .map_err(|e| e.to_string())?
            .with_name("asr-router")
            .build()
            .map_err(|e| e.to_string())?;
        super::sensevoice::register_ort_environment(env.clone());
        Ok((path, env))
    })
    .clone()
    .map(|(p, _)| p)
    .map_err(|reason| EngineError::Load {
        model: "onnxruntime".into(),
        reason,
    })
}

/// The process-wide environment (after [`init`]).
pub fn environment() -> Result<ort::environment::Environment, EngineError> {
    match INIT.get() {
        Some(Ok((_, env))) => Ok(env.clone()),
        Some(Err(reason)) => Err(EngineError::Load {
            model: "onnxruntime".into(),
            reason: reason.clone(),
        }),
        None => Err(EngineError::Load {
            model: "onnxruntime".into(),
            reason: "ONNX Runtime is not initialised".into(),
        }),
    }
}

/// Puts a session on `device`. The CPU needs nothing. A GPU gets ONNX Runtime's CUDA execution
/// provider, registered so that a failure is an error: ort's default would fall back to the CPU
/// without a word, and a server configured for a GPU would quietly run many times slower.
///
/// cuDNN's convolution algorithm is chosen by heuristic, not by ONNX Runtime's default exhaustive
/// search: that search benchmarks every new input shape, and speech windows come in every
/// length (SenseVoice's FSMN memory is a convolution).
pub fn on_device(builder: SessionBuilder, device: Device) -> Result<SessionBuilder, String> {
    match device {
        Device::Cpu => Ok(builder),
        Device::Cuda(id) => {
            use ort::ep::cuda::{CUDA, ConvAlgorithmSearch};
            let id = i32::try_from(id).map_err(|_| format!("no GPU {id}"))?;
            let cuda = CUDA::default()
                .with_device_id(id)
                .with_conv_algorithm_search(ConvAlgorithmSearch::Heuristic)
                .build()
                .error_on_failure();
            builder.with_execution_providers([cuda]).map_err(|e| {
                format!(
                    "{device}: ONNX Runtime's CUDA execution provider did not start ({e}); it needs the \
                     onnxruntime-gpu library (ORT_DYLIB_PATH) with CUDA 13 and cuDNN 9 on the loader path"
                )
            })
        }
    }
}

/// Opens an ONNX model on the CPU with a fixed intra-op thread count.
pub fn open_session(path: &Path, threads: usize) -> Result<ort::session::Session, EngineError> {
    let load = |reason: String| EngineError::Load {
        model: path.display().to_string(),
        reason,
    };
    let env = environment()?;
    ort::session::Session::builder(&env)
        .map_err(|e| load(e.to_string()))?
        .with_intra_threads(threads.max(1))
        .map_err(|e| load(e.to_string()))?
        .with_inter_threads(1)
        .map_err(|e| load(e.to_string()))?
        .commit_from_file(path)
        .map_err(|e| load(e.to_string()))
}
