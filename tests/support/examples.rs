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

/// Runs the example `name` with `args` in `cwd`; panics with its output unless it
/// succeeds. Returns its stdout.
pub fn run(name: &str, args: &[&str], cwd: &Path) -> String {
    let out = std::process::Command::new(example(name))
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap_or_else(|e| panic!("start {name}: {e}"));
    let (stdout, stderr) =
        (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
    assert!(
        out.status.success(),
        "{name} {args:?} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    stdout
}

/// The value after `key: ` on the line of `stdout` that starts with it.
pub fn printed(stdout: &str, key: &str) -> f64 {
    let prefix = format!("{key}: ");
    let line =
        stdout.lines().find(|l| l.starts_with(&prefix)).unwrap_or_else(|| panic!("no `{prefix}` line in:\n{stdout}"));
    line[prefix.len()..].trim().parse().unwrap_or_else(|e| panic!("`{line}`: {e}"))
}
