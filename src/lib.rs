//! asr-router: a local, OpenAI-compatible speech server.
//!
//! Data flows one way: bytes → PCM ([`audio`]) → VAD and recognizers ([`engine`], on
//! [`kernels`]) → text → events and outputs ([`realtime`], [`batch`]), served by [`http`].
//! Imports point the same way: `http` (transport) → `realtime` / `batch` / [`routing`] /
//! [`review`] (domain) → `engine` → `kernels` / `audio`; [`config`] and [`ids`] are leaves every
//! layer may use. [`routing`] is the one place that picks an engine, from the abilities models
//! report; [`review`] holds the second-pass reviewers (script form, glossary corrector).
//! [`models`] installs model packagings from a hub (`asr-router models pull`); [`bench`](mod@bench) measures.
//! [`blas`] is a leaf for the binary's start: it makes OpenBLAS use kernels that fit the CPU.
//! docs/architecture.md draws the whole picture.

// CTranslate2 with oneDNN and OpenBLAS linked together is a reported crash (CTranslate2 #1294), and
// with oneDNN compiled in OpenBLAS would never be chosen anyway: the two GEMM features exclude
// each other.
#[cfg(all(feature = "dnnl", feature = "openblas"))]
compile_error!(
    "features `dnnl` and `openblas` exclude each other (oneDNN replaces OpenBLAS in CTranslate2, and the two \
     together are a reported crash): `dnnl` is the default, so build `openblas` with `--no-default-features --features openblas`"
);

pub mod audio;
pub mod batch;
pub mod bench;
pub mod blas;
pub mod config;
pub mod engine;
pub mod eval;
pub mod finalize;
pub mod http;
pub mod ids;
pub mod kernels;
pub mod meeting;
pub mod models;
pub mod realtime;
pub mod review;
pub mod routing;
