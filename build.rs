//! With the `dnnl` feature, puts the prebuilt oneDNN's folder on the run path of every binary and
//! test this package links, so `libdnnl.so.3` is found without `LD_LIBRARY_PATH`. The folder comes
//! from the `links = "dnnl"` crate (build/onednn-prebuilt) as `DEP_DNNL_LIBRARY_PATH`. A binary
//! copied elsewhere still finds it while the folder stays; otherwise set `LD_LIBRARY_PATH`.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_FEATURE_DNNL").is_none() {
        return;
    }
    let lib = std::env::var("DEP_DNNL_LIBRARY_PATH").expect("the dnnl feature brings onednn-src, which sets it");
    println!("cargo::rustc-link-arg=-Wl,-rpath,{lib}");
}
