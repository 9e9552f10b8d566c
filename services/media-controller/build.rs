//! Generates the Kurento client from our own descriptor subset in `proto/kurento/`.

#[path = "codegen/kmd.rs"]
#[allow(dead_code)]
mod kmd;
#[path = "codegen/rust.rs"]
mod rust;

use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let dir = manifest.join("../../proto/kurento");
    println!("cargo:rerun-if-changed={}", dir.display());
    println!("cargo:rerun-if-changed=codegen");
    let (model, files) = kmd::load_dir(&dir, |_| true).unwrap_or_else(|e| panic!("kurento descriptors: {e}"));
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    let code = rust::generate(&model).unwrap_or_else(|e| panic!("kurento descriptors: {e}"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("kurento_generated.rs");
    std::fs::write(&out, code).unwrap_or_else(|e| panic!("cannot write {}: {e}", out.display()));
}
