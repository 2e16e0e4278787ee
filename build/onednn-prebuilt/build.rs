//! Points the link at a prebuilt oneDNN 3.x and hands its paths to dependents (`DEP_DNNL_*`, which
//! `ct2rs`'s build script gives CTranslate2's CMake).
//!
//! Where: `ASR_ROUTER_ONEDNN_DIR` (a oneDNN install with `include/` and `lib/`), else the repository's
//! `vendor/onednn`, which `scripts/fetch-onednn` fills. The library is linked as a shared object; the
//! `asr-router` build script puts its folder on the binaries' run path.

use std::env;
use std::path::PathBuf;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=ASR_ROUTER_ONEDNN_DIR");
    let root = match env::var_os("ASR_ROUTER_ONEDNN_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
            .join("../../vendor/onednn"),
    };
    let root = root.canonicalize().unwrap_or_else(|_| {
        panic!(
            "oneDNN not found at {}: run scripts/fetch-onednn (scripts/install-deps does), set \
             ASR_ROUTER_ONEDNN_DIR to a oneDNN 3.x install, or build without the `dnnl` feature \
             (--no-default-features --features openblas)",
            root.display()
        )
    });
    let include = root.join("include");
    let lib = root.join("lib");
    for needed in [include.join("oneapi/dnnl/dnnl.h"), lib.join("libdnnl.so")] {
        assert!(
            needed.exists(),
            "{} is missing: run scripts/fetch-onednn, or point ASR_ROUTER_ONEDNN_DIR at a complete oneDNN 3.x install",
            needed.display()
        );
    }
    println!("cargo::rerun-if-changed={}", lib.join("libdnnl.so").display());
    println!("cargo::rustc-link-search=native={}", lib.display());
    println!("cargo::rustc-link-lib=dylib=dnnl");
    println!("cargo::metadata=ROOT={}", root.display());
    println!("cargo::metadata=INCLUDE_PATH={}", include.display());
    println!("cargo::metadata=LIBRARY_PATH={}", lib.display());
}
