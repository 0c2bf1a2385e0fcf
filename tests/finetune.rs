//! `examples/finetune.rs` on a tiny synthetic dataset: the variables frozen during the head
//! phase come out of it bit for bit unchanged (while the head learns), fine-tuning then
//! changes them, and TensorBoard gets the `head` and `finetune` runs with continuing epochs.
//!
//! Runs the example binary, `target/<profile>/examples/finetune`, which `cargo test` builds
//! with the tests; when it is missing or older than the example's sources (e.g. under
//! `cargo test --test finetune`, which builds no example), it is built first.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use candle_core::{Device, Tensor};
use wick::tfevents::proto::{event, summary::value};

/// `target/<profile>/examples/finetune`, next to this test's `target/<profile>/deps/`.
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe.parent().and_then(Path::parent).expect("test binary in target/<profile>/deps");
    let bin = profile_dir.join("examples").join(format!("finetune{}", std::env::consts::EXE_SUFFIX));
    if !bin.is_file() || older_than_sources(&bin) {
        let release = profile_dir.file_name().is_some_and(|n| n == "release");
        let mut cargo = Command::new(env!("CARGO"));
        cargo.current_dir(env!("CARGO_MANIFEST_DIR")).args(["build", "--example", "finetune"]);
        if release {
            cargo.arg("--release");
        }
        let status = cargo.status().expect("run cargo build --example finetune");
        assert!(status.success(), "cargo build --example finetune failed");
    }
    assert!(bin.is_file(), "{} is missing", bin.display());
    bin
}

/// Whether `bin` predates the example's own sources (`cargo test --test finetune` does not
/// rebuild examples; the full `cargo test` does).
fn older_than_sources(bin: &Path) -> bool {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let Some(built) = modified(bin) else { return true };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let demo_src = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/wick-demo/src");
    let demo = std::fs::read_dir(demo_src).into_iter().flatten().flatten().map(|e| e.path());
    std::iter::once(root.join("finetune.rs")).chain(demo).any(|p| modified(&p).is_some_and(|t| t > built))
}

/// Every tensor of a safetensors file, as its f32 bit patterns.
fn load_bits(path: &Path) -> HashMap<String, Vec<u32>> {
    let tensors =
        candle_core::safetensors::load(path, &Device::Cpu).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    tensors.into_iter().map(|(name, t): (String, Tensor)| (name, f32_bits(&t))).collect()
}

fn f32_bits(t: &Tensor) -> Vec<u32> {
    t.flatten_all()
        .unwrap()
        .to_dtype(candle_core::DType::F32)
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
        .into_iter()
        .map(f32::to_bits)
        .collect()
}

/// The steps at which `run` holds scalar `tag`.
fn scalar_steps(run: &Path, tag: &str) -> Vec<i64> {
    let mut steps = Vec::new();
    for e in wick::tfevents::reader::read_run(run).unwrap_or_else(|e| panic!("{}: {e}", run.display())) {
        if let Some(event::What::Summary(s)) = e.event.what {
            for v in s.value.into_iter().filter(|v| v.tag == tag) {
                assert!(
                    matches!(v.value, Some(value::Value::Tensor(_)) | Some(value::Value::SimpleValue(_))),
                    "{tag}: not a scalar"
                );
                steps.push(e.event.step);
            }
        }
    }
    steps
}

#[test]
fn finetune_freezes_the_backbone_then_fine_tunes_it() {
    let dir = tempfile::tempdir().unwrap();
    let (logs, out, data) = (dir.path().join("logs"), dir.path().join("out"), dir.path().join("data"));
    let output = Command::new(example_binary())
        .arg("--logdir")
        .arg(&logs)
        .arg("--out")
        .arg(&out)
        .arg("--data-dir")
        .arg(&data)
        .args(["--per-class", "12", "--image-size", "16", "--batch-size", "8"])
        .args(["--backbone-epochs", "1", "--head-epochs", "2", "--finetune-epochs", "2", "--verbose", "0"])
        .output()
        .expect("run the finetune example");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "finetune failed ({}):\n{stdout}\n{stderr}", output.status);

    // The frozen variables: the backbone (everything but the classifier fc2).
    let frozen: Vec<String> =
        std::fs::read_to_string(out.join("frozen.txt")).unwrap().lines().map(str::to_string).collect();
    assert_eq!(frozen, ["conv1.bias", "conv1.weight", "conv2.bias", "conv2.weight", "fc1.bias", "fc1.weight"]);
    let head = ["fc2.bias", "fc2.weight"];

    let backbone = load_bits(&out.join("backbone.safetensors"));
    let start = load_bits(&out.join("start.safetensors"));
    let after_head = load_bits(&out.join("after_head.safetensors"));
    let after_finetune = load_bits(&out.join("after_finetune.safetensors"));
    let mut names: Vec<&String> = start.keys().collect();
    names.sort();
    assert_eq!(
        names,
        [
            "conv1.bias",
            "conv1.weight",
            "conv2.bias",
            "conv2.weight",
            "fc1.bias",
            "fc1.weight",
            "fc2.bias",
            "fc2.weight"
        ]
    );

    for name in &frozen {
        // The task-B model starts from the task-A backbone…
        assert_eq!(start[name], backbone[name], "{name}: not copied from the trained backbone");
        // …which the head phase leaves bit for bit as it was…
        assert_eq!(after_head[name], start[name], "{name}: changed while frozen");
        // …and fine-tuning changes.
        assert_ne!(after_finetune[name], after_head[name], "{name}: unchanged by fine-tuning");
    }
    for name in head {
        // The new head: 3 task-B classes (the backbone's task A had 2), trained in both phases.
        assert_ne!(start[name].len(), backbone[name].len(), "{name}: the head should be new");
        assert_ne!(after_head[name], start[name], "{name}: unchanged by the head phase");
        assert_ne!(after_finetune[name], after_head[name], "{name}: unchanged by fine-tuning");
    }

    // TensorBoard: both phases, the fine-tuning epochs continuing the head's.
    for (run, steps) in [("head", vec![0, 1]), ("finetune", vec![2, 3])] {
        for sub in ["train", "validation"] {
            assert_eq!(scalar_steps(&logs.join(run).join(sub), "epoch_loss"), steps, "{run}/{sub} epoch_loss steps");
        }
    }
    assert_eq!(scalar_steps(&logs.join("backbone").join("train"), "epoch_loss"), [0]);
}
