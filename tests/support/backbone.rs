//! The pretrained EfficientNet-Lite0 weights the transfer-learning tests need
//! (`models/efficientnet_lite0.safetensors`, made by `scripts/ensure_backbone.sh`). Under
//! `CI=true` a missing file fails the test; elsewhere the test prints why it is skipped.

use std::path::PathBuf;

/// The weights file, if it exists (see the module docs for when it does not).
pub fn weights() -> Option<PathBuf> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(wick::models::efficientnet_lite::DEFAULT_WEIGHTS);
    if path.is_file() {
        return Some(path);
    }
    let msg = format!("{} not found: run `bash scripts/ensure_backbone.sh`", path.display());
    if std::env::var("CI").map(|v| v == "true").unwrap_or(false) {
        panic!("{msg}");
    }
    eprintln!("SKIPPED: {msg}");
    None
}
