//! Finds the Python virtual environment with stock TensorBoard (made by
//! `scripts/ensure_venv.sh`). Under `CI=true` a missing environment fails the test;
//! elsewhere the test is skipped with a message saying how to set it up.

use std::path::PathBuf;

/// The venv's root: `$WICK_VENV`, else `<repo>/.venv`.
pub fn venv_dir() -> PathBuf {
    match std::env::var_os("WICK_VENV") {
        Some(v) => PathBuf::from(v),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(repo_root_from_manifest()).join(".venv"),
    }
}

fn repo_root_from_manifest() -> PathBuf {
    // Root package: ".", a crate under crates/: "../..".
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    if here.join("crates").is_dir() {
        PathBuf::from(".")
    } else {
        PathBuf::from("../..")
    }
}

/// Path of a program in the venv's `bin/`, if the venv holds it. When it does not:
/// panics under `CI=true`, otherwise prints why the test is skipped and returns `None`.
pub fn venv_program(name: &str) -> Option<PathBuf> {
    let path = venv_dir().join("bin").join(name);
    if path.is_file() {
        return Some(path);
    }
    let msg = format!(
        "{} not found: run scripts/ensure_venv.sh (creates .venv with tensorboard==2.21.0 and tensorboardX)",
        path.display()
    );
    if std::env::var("CI").map(|v| v == "true").unwrap_or(false) {
        panic!("{msg}");
    }
    eprintln!("SKIPPED: {msg}");
    None
}
