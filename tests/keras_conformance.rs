//! Keras conformance: the runner (examples/keras_conformance) computes every optimizer,
//! schedule, loss, metric, callback and fit-trace case of the golden file (a copy of Keras 3.15.1's values in
//! tests/data), and `compare.py` (stdlib Python, also copied there) finds no mismatch.

#[path = "../examples/keras_conformance/callbacks.rs"]
mod callbacks;
#[path = "../examples/keras_conformance/device.rs"]
mod device;
#[path = "../examples/keras_conformance/fit_trace.rs"]
mod fit_trace;
#[path = "../examples/keras_conformance/json.rs"]
mod json;
#[path = "../examples/keras_conformance/losses.rs"]
mod losses;
#[path = "../examples/keras_conformance/metrics.rs"]
mod metrics;
#[path = "../examples/keras_conformance/optimizers.rs"]
mod optimizers;
#[path = "../examples/keras_conformance/runner.rs"]
mod runner;
#[path = "../examples/keras_conformance/schedules.rs"]
mod schedules;

use std::path::Path;
use std::process::Command;

#[test]
fn every_section_matches_keras() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let golden_path = data.join("keras_golden.json");
    let golden: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&golden_path).unwrap()).unwrap();
    let out = runner::run_all(&golden);
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("out.json");
    std::fs::write(&out_path, out.to_string()).unwrap();

    let compare = Command::new("python3")
        .arg(data.join("compare.py"))
        .arg(&golden_path)
        .arg(&out_path)
        .output()
        .expect("python3 runs compare.py");
    let report = String::from_utf8_lossy(&compare.stdout);
    for (section, cases) in
        [("optimizers", 36), ("schedules", 13), ("losses", 168), ("metrics", 10), ("callbacks", 64), ("fit_trace", 4)]
    {
        let want = format!("{section}: {cases} passed, 0 failed");
        assert!(report.lines().any(|l| l == want), "expected {want:?} in compare.py's report:\n{report}");
    }
}
