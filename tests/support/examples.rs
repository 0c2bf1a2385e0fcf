//! The example binaries the tests run.

use std::path::{Path, PathBuf};

/// `target/<profile>/examples/<name>`, beside this test's `target/<profile>/deps/`.
pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>/deps/<test>");
    let path = profile_dir.join("examples").join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "{} is missing: `cargo test --release` builds the examples; with a test filter, run `cargo build --release --examples` first",
        path.display()
    );
    path
}
