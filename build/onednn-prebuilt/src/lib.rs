//! Nothing to compile: this crate only tells Cargo (in `build.rs`) where a prebuilt oneDNN lives.
