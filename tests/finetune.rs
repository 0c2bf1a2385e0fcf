//! `examples/finetune.rs` on the pretrained EfficientNet-Lite0 and a tiny generated dataset:
//! after the head phase every backbone variable and moving statistic is bit for bit the
//! pretrained one (while the head learns); fine-tuning changes the unfrozen blocks and
//! nothing frozen; TensorBoard gets the `head` and `finetune` runs with continuing epochs,
//! the model summary and the conceptual graph; `--init random` trains everything, batch-norm
//! statistics included.
//!
//! Runs the example binary, `target/<profile>/examples/finetune`, which `cargo test` builds
//! with the tests; when it is missing or older than the example's sources (e.g. under
//! `cargo test --test finetune`, which builds no example), it is built first.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

mod support;

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

/// Runs the example with `args` on a tiny dataset in `dir`; panics with its output on failure.
fn run_example(dir: &Path, weights: &Path, args: &[&str]) -> String {
    let output = Command::new(example_binary())
        .arg("--weights")
        .arg(weights)
        .arg("--logdir")
        .arg(dir.join("logs"))
        .arg("--out")
        .arg(dir.join("out"))
        .arg("--shapes-dir")
        .arg(dir.join("shapes"))
        .args(["--shapes-per-class", "6", "--image-size", "32", "--batch-size", "8", "--verbose", "0"])
        .args(args)
        .output()
        .expect("run the finetune example");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "finetune failed ({}):\n{stdout}\n{stderr}", output.status);
    stdout
}

/// The tags of `run`'s events.
fn tags(run: &Path) -> Vec<String> {
    let mut tags = Vec::new();
    for e in wick::tfevents::reader::read_run(run).unwrap_or_else(|e| panic!("{}: {e}", run.display())) {
        if let Some(event::What::Summary(s)) = e.event.what {
            tags.extend(s.value.into_iter().map(|v| v.tag));
        }
    }
    tags
}

#[test]
fn finetune_freezes_the_pretrained_backbone_then_fine_tunes_its_top_blocks() {
    let Some(weights) = support::backbone::weights() else { return };
    let dir = tempfile::tempdir().unwrap();
    run_example(dir.path(), &weights, &["--head-epochs", "2", "--finetune-epochs", "2", "--unfreeze-blocks", "2"]);
    let out = dir.path().join("out");
    let logs = dir.path().join("logs");

    let pretrained = load_bits(&weights);
    let after_head = load_bits(&out.join("after_head.safetensors"));
    let after_finetune = load_bits(&out.join("after_finetune.safetensors"));
    let best = load_bits(&out.join("best.safetensors"));
    let frozen: Vec<String> =
        std::fs::read_to_string(out.join("frozen.txt")).unwrap().lines().map(str::to_string).collect();

    let mut backbone: Vec<&String> = after_head.keys().filter(|n| !n.starts_with("head.")).collect();
    backbone.sort();
    // Every variable of the network but the ImageNet classifier, moving statistics included.
    let mut want: Vec<&String> = pretrained.keys().filter(|n| !n.starts_with("_fc.")).collect();
    want.sort();
    assert_eq!(backbone, want);
    assert!(backbone.iter().any(|n| n.ends_with("running_var")));
    for name in &backbone {
        assert_eq!(after_head[*name], pretrained[*name], "{name}: changed by the head phase");
    }
    for name in ["head.weight", "head.bias"] {
        assert!(after_head.contains_key(name) && best.contains_key(name), "{name} missing");
    }
    assert_eq!(best.len(), after_head.len(), "the best checkpoint holds the whole model");

    // Fine-tuning: the top 2 blocks and the head conv trained, the rest frozen.
    for name in &frozen {
        assert_eq!(after_finetune[name], after_head[name], "{name}: frozen, but changed by fine-tuning");
    }
    let unfrozen: Vec<&&String> = backbone.iter().filter(|n| !frozen.contains(**n)).collect();
    assert!(!unfrozen.is_empty());
    for name in &unfrozen {
        assert!(
            name.starts_with("_blocks.14.")
                || name.starts_with("_blocks.15.")
                || name.starts_with("_conv_head.")
                || name.starts_with("_bn1."),
            "{name}: should be frozen"
        );
        assert_ne!(after_finetune[**name], after_head[**name], "{name}: unfrozen, but unchanged by fine-tuning");
    }
    assert!(
        frozen.iter().any(|n| n.starts_with("_blocks.13."))
            && frozen.iter().any(|n| n == "_blocks.15._bn1.running_mean")
    );

    // TensorBoard: both phases, fine-tuning continuing the head's epochs; summary and graph.
    for (run, steps) in [("head", vec![0, 1]), ("finetune", vec![2, 3])] {
        for sub in ["train", "validation"] {
            assert_eq!(scalar_steps(&logs.join(run).join(sub), "epoch_loss"), steps, "{run}/{sub} epoch_loss steps");
        }
        let train_tags = tags(&logs.join(run).join("train"));
        assert!(train_tags.iter().any(|t| t == "keras"), "{run}: no conceptual graph in {train_tags:?}");
        assert!(train_tags.iter().any(|t| t == "model_summary"), "{run}: no model summary in {train_tags:?}");
    }
}

#[test]
fn random_init_trains_everything_and_moves_the_batch_norm_statistics() {
    let Some(weights) = support::backbone::weights() else { return };
    let dir = tempfile::tempdir().unwrap();
    let stdout =
        run_example(dir.path(), &weights, &["--init", "random", "--head-epochs", "1", "--finetune-epochs", "0"]);
    assert!(stdout.contains("random init"), "{stdout}");
    let best = load_bits(&dir.path().join("out").join("best.safetensors"));
    // Built with moving mean 0 and variance 1; training steps move them.
    let zero = 0f32.to_bits();
    assert!(best["_bn0.running_mean"].iter().any(|b| *b != zero), "the stem's moving mean never moved");
    assert!(best["_blocks.15._bn2.running_var"].iter().any(|b| *b != 1f32.to_bits()));
    assert_eq!(scalar_steps(&dir.path().join("logs").join("random").join("train"), "epoch_loss"), [0]);
}
