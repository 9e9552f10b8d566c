//! camview's one Kurento model. `proto/kurento/*.kmd.json` are our own descriptors: the subset of
//! Kurento 7.3.0 that camview speaks, read by [`kmd`]. From that one model come both ends:
//! - [`client`]: the media-controller's typed client (one handle per remote class);
//! - [`server`]: the media-engine's typed requests (one variant per operation, typed params), its
//!   class hierarchy and the events each class raises.
//!
//! [`conformance`] compares a model with the upstream descriptors (Kurento 7.3.0's own `kmd`
//! files, kept outside the repository in `../shared/kurento/kmd/`, see the README).

pub mod client;
pub mod conformance;
pub mod kmd;
pub mod names;
pub mod server;

use std::path::{Path, PathBuf};

/// The folder holding our descriptors (this crate's own folder).
pub fn descriptors_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Our descriptors merged into one model, and the files read (for `cargo:rerun-if-changed`).
pub fn our_model() -> Result<(kmd::Model, Vec<PathBuf>), String> {
    kmd::load_dir(descriptors_dir(), |_| true)
}

/// Tells cargo to rerun a build script when a descriptor changes; returns our model.
pub fn our_model_for_build_script() -> kmd::Model {
    let (model, files) = our_model().unwrap_or_else(|e| panic!("kurento descriptors: {e}"));
    println!("cargo:rerun-if-changed={}", descriptors_dir().display());
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    model
}

/// Writes generated code to `$OUT_DIR/<file>` (for build scripts).
pub fn write_out(file: &str, code: &str) {
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join(file);
    std::fs::write(&out, code).unwrap_or_else(|e| panic!("cannot write {}: {e}", out.display()));
}
