//! OpenBLAS kernels that fit the CPU (feature `openblas`, the build for machines without oneDNN).
//!
//! CTranslate2 sends float GEMMs (attention, and all of a float model) to OpenBLAS. A distribution's
//! OpenBLAS is built with `DYNAMIC_ARCH`: it picks its kernels when the shared library loads,
//! before `main`, from the CPU's vendor and model number. A CPU newer than the library falls back
//! to a generic core: Debian 12's OpenBLAS 0.3.21 runs its SSE3 "Prescott" kernels on an
//! AVX-512 Xeon (Emerald Rapids), which makes Whisper 1.2–1.5× slower there (docs/benchmarks.md
//! section 9). OpenBLAS honours `OPENBLAS_CORETYPE`, but reads it only while loading, so setting
//! it from `main` is too late: [`use_fitting_openblas_kernels`] asks the loaded library which core
//! it chose and, when that is such a fallback, runs this same program again (`exec`, same pid,
//! same arguments) with the variable set to the best core the CPU's flags allow.
//!
//! Invariants:
//! - A set `OPENBLAS_CORETYPE` is never touched: it is the user's choice, and it is what stops a
//!   second exec (the new image finds it set).
//! - Only a fallback is replaced: a core without AVX2 while the CPU has AVX2 and FMA. A core that
//!   OpenBLAS picked on purpose (Haswell, Zen, SkylakeX, …) is left alone.
//! - Only with a `DYNAMIC_ARCH` library (others ignore the variable), and only with core names
//!   every x86 `DYNAMIC_ARCH` OpenBLAS of the last years knows (`Haswell`, `SkylakeX`). A name a
//!   library does not know makes it fall back to its own detection, so a wrong guess costs nothing.
//!   `SkylakeX`, not `Cooperlake`, for AVX-512: the two share their SGEMM kernels (Cooperlake adds
//!   bf16 ones CTranslate2 does not call), and 0.3.21 prints "Core not found: Cooperlake".
//! - Without the `openblas` feature (the `dnnl` build, or ruy alone) nothing happens.
//!
//! The decision is the pure function [`fitting_core`]; the exec around it is thin.

/// The variable OpenBLAS reads at load time to force a kernel set.
pub const CORETYPE_VAR: &str = "OPENBLAS_CORETYPE";

/// OpenBLAS's x86 cores that have no AVX2 kernels: on a CPU with AVX2 one of these means OpenBLAS
/// did not recognise the model and fell back (names as `openblas_get_corename` spells them).
const PRE_AVX2_CORES: &[&str] = &[
    "Unknown",
    "Katmai",
    "Coppermine",
    "Northwood",
    "Prescott",
    "Banias",
    "Atom",
    "Core2",
    "Penryn",
    "Dunnington",
    "Nehalem",
    "Athlon",
    "Opteron",
    "Opteron_SSE3",
    "Barcelona",
    "Nano",
    "Sandybridge",
    "Bobcat",
    "Bulldozer",
    "Piledriver",
];

/// The CPU flags that decide which OpenBLAS core fits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuFeatures {
    pub avx2: bool,
    pub fma: bool,
    /// AVX-512 F, CD, BW, DQ and VL together: what OpenBLAS's SkylakeX kernels need.
    pub avx512_skx: bool,
}

impl CpuFeatures {
    /// The running CPU's flags (the OS must also save the wider registers; std checks that).
    pub fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            CpuFeatures {
                avx2: has!("avx2"),
                fma: has!("fma"),
                avx512_skx: has!("avx512f")
                    && has!("avx512cd")
                    && has!("avx512bw")
                    && has!("avx512dq")
                    && has!("avx512vl"),
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            CpuFeatures::default()
        }
    }

    /// The best OpenBLAS core these flags run, if any is better than a pre-AVX2 one.
    fn best_core(self) -> Option<&'static str> {
        match self {
            CpuFeatures { avx512_skx: true, .. } => Some("SkylakeX"),
            CpuFeatures {
                avx2: true, fma: true, ..
            } => Some("Haswell"),
            _ => None,
        }
    }
}

/// The core to force, given what the loaded OpenBLAS reports (`openblas_get_config`,
/// `openblas_get_corename`) and the CPU's flags; `None` keeps OpenBLAS's own choice.
pub fn fitting_core(config: &str, corename: &str, cpu: CpuFeatures) -> Option<&'static str> {
    if !config.contains("DYNAMIC_ARCH") {
        return None;
    }
    let fell_back = PRE_AVX2_CORES.iter().any(|c| c.eq_ignore_ascii_case(corename.trim()));
    if !fell_back {
        return None;
    }
    cpu.best_core()
}

/// Re-executes this program with `OPENBLAS_CORETYPE` set when the loaded OpenBLAS fell back to
/// kernels below the CPU (see the module docs). Call it first thing in `main`, after logging is
/// set up and before any thread starts. Returns only when nothing is to be done or the exec
/// failed (logged; the program carries on with OpenBLAS's choice).
pub fn use_fitting_openblas_kernels() {
    #[cfg(all(feature = "openblas", unix))]
    reexec::run();
}

#[cfg(all(feature = "openblas", unix))]
mod reexec {
    use std::ffi::{CStr, c_char};
    use std::os::unix::process::CommandExt;

    use super::{CORETYPE_VAR, CpuFeatures, fitting_core};

    unsafe extern "C" {
        // Both return a pointer to a static, NUL-terminated string owned by OpenBLAS.
        fn openblas_get_corename() -> *const c_char;
        fn openblas_get_config() -> *const c_char;
    }

    fn openblas_string(f: unsafe extern "C" fn() -> *const c_char) -> String {
        // SAFETY: OpenBLAS returns a static NUL-terminated string (or null, checked).
        let ptr = unsafe { f() };
        if ptr.is_null() {
            return String::new();
        }
        unsafe { CStr::from_ptr(ptr) }.to_string_lossy().into_owned()
    }

    pub(super) fn run() {
        let corename = openblas_string(openblas_get_corename);
        if let Some(forced) = std::env::var_os(CORETYPE_VAR) {
            tracing::debug!(core = %corename, forced = ?forced, "OpenBLAS kernels");
            return;
        }
        let config = openblas_string(openblas_get_config);
        let Some(core) = fitting_core(&config, &corename, CpuFeatures::detect()) else {
            tracing::debug!(core = %corename, "OpenBLAS kernels");
            return;
        };
        let exe = match std::env::current_exe() {
            Ok(exe) => exe,
            Err(err) => {
                tracing::warn!(%err, core = %corename, "OpenBLAS fell back to generic kernels; cannot re-exec");
                return;
            }
        };
        tracing::info!(
            "OpenBLAS does not know this CPU and chose its {corename} kernels; restarting with \
             {CORETYPE_VAR}={core} (set {CORETYPE_VAR} yourself to choose)"
        );
        let mut args = std::env::args_os();
        let mut cmd = std::process::Command::new(&exe);
        if let Some(arg0) = args.next() {
            cmd.arg0(arg0);
        }
        let err = cmd.args(args).env(CORETYPE_VAR, core).exec();
        tracing::warn!(%err, exe = %exe.display(), "re-exec failed; carrying on with {corename} kernels");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DYNAMIC: &str = "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH NO_AFFINITY Prescott MAX_THREADS=64";

    fn cpu(avx2: bool, avx512_skx: bool) -> CpuFeatures {
        CpuFeatures {
            avx2,
            fma: avx2,
            avx512_skx,
        }
    }

    #[test]
    fn a_fallback_on_an_avx512_cpu_becomes_skylakex() {
        assert_eq!(fitting_core(DYNAMIC, "Prescott", cpu(true, true)), Some("SkylakeX"));
    }

    #[test]
    fn a_fallback_on_an_avx2_cpu_becomes_haswell() {
        assert_eq!(fitting_core(DYNAMIC, "Nehalem", cpu(true, false)), Some("Haswell"));
        assert_eq!(fitting_core(DYNAMIC, "sandybridge", cpu(true, false)), Some("Haswell"));
    }

    #[test]
    fn a_core_openblas_chose_on_purpose_is_kept() {
        for core in ["Haswell", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids"] {
            assert_eq!(fitting_core(DYNAMIC, core, cpu(true, true)), None, "{core}");
        }
    }

    #[test]
    fn a_cpu_without_avx2_and_fma_keeps_the_generic_kernels() {
        assert_eq!(fitting_core(DYNAMIC, "Prescott", cpu(false, false)), None);
        let avx2_without_fma = CpuFeatures {
            avx2: true,
            ..CpuFeatures::default()
        };
        assert_eq!(fitting_core(DYNAMIC, "Prescott", avx2_without_fma), None);
    }

    #[test]
    fn a_library_without_dynamic_arch_is_left_alone() {
        let fixed = "OpenBLAS 0.3.21 NO_LAPACKE NO_AFFINITY Prescott MAX_THREADS=64";
        assert_eq!(fitting_core(fixed, "Prescott", cpu(true, true)), None);
    }
}
