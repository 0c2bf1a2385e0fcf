//! Mixed precision end to end, on the CPU.
//!
//! * In process: the demo CNN under `mixed_bfloat16` and `mixed_float16` computes its logits
//!   in bf16 / f16, while every variable, every gradient reaching a variable and every
//!   optimizer slot stays f32, and a few `Trainer::train_step`s change the variables.
//! * `examples/train --precision mixed_bfloat16` on the generated shapes dataset reaches a
//!   validation accuracy within 2 points of the same run in float32 (which reaches ≥ 90 %);
//!   its checkpoint holds f32 weights, `config.json` records the policy, and `evaluate`
//!   rebuilds the model under it (its loss matches the run's to 1e-4, which a float32
//!   evaluation of bf16-trained weights does not).
//! * `--precision mixed_float16` wraps the optimizer in a `LossScaleOptimizer`: the run
//!   writes `epoch_loss_scale` to TensorBoard (Keras' initial 2^15 at most, a power of two).
//!
//! The example binaries are the ones `cargo test --release` builds next to this test.

mod support;

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::{ModuleT, VarBuilder, VarMap};
use support::examples::{printed, run};
use support::tensorboard::scalars;
use wick::callbacks::ModelVars;
use wick::data::Batch;
use wick::nn::DTypePolicy;
use wick::optim::{rules::AdamRule, Adam, LossScaleOptimizer, OptimizerConfig};
use wick::train::losses::SparseCategoricalCrossentropy;
use wick::train::Trainer;
use wick_demo::{build_cnn, init_seeded, CnnConfig, RunConfig};

/// A batch of 8 random 32×32 RGB images in 0..=255 and labels 0..4.
fn batch() -> Batch {
    let x = (Tensor::rand(0f32, 1.0, (8, 3, 32, 32), &Device::Cpu).unwrap() * 255.0).unwrap();
    let y = Tensor::new(&[0u32, 1, 2, 3, 3, 2, 1, 0], &Device::Cpu).unwrap();
    Batch::new(x, y)
}

fn values(vars: &ModelVars) -> Vec<Vec<f32>> {
    vars.vars().iter().map(|(_, v)| v.as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap()).collect()
}

#[test]
fn variables_gradients_and_optimizer_state_stay_f32() {
    for policy in [DTypePolicy::MIXED_BFLOAT16, DTypePolicy::MIXED_FLOAT16] {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, policy.variable_dtype(), &Device::Cpu);
        let model = build_cnn(vb, &CnnConfig::new(32, 4)).unwrap().with_policy(policy);
        let vars = ModelVars::from_varmap(&varmap);
        init_seeded(vars.vars(), 3).unwrap();
        let b = batch();

        let logits = model.forward_t(&b.x, true).unwrap();
        assert_eq!(logits.dtype(), policy.compute_dtype(), "{policy}: logits");
        let loss = SparseCategoricalCrossentropy::new().with_from_logits(true);
        let value = wick::train::losses::Loss::call(&loss, b.y.as_ref().unwrap(), &logits, None).unwrap();
        assert_eq!(value.dtype(), DType::F32, "{policy}: the loss is computed in f32");
        let grads = value.backward().unwrap();
        for (name, var) in vars.vars() {
            assert_eq!(var.dtype(), DType::F32, "{policy}: {name}");
            let g = grads.get(var.as_tensor()).unwrap_or_else(|| panic!("{policy}: no gradient reaches {name}"));
            assert_eq!(g.dtype(), DType::F32, "{policy}: gradient of {name}");
            let norm = g.sqr().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap();
            assert!(norm.is_finite() && norm > 0.0, "{policy}: gradient of {name} has squared norm {norm}");
        }

        let adam = Adam::with_names(vars.vars().to_vec(), OptimizerConfig::new(AdamRule::default(), 1e-3)).unwrap();
        let before = values(&vars);
        let slots_f32 =
            |adam: &Adam| (0..vars.vars().len()).all(|i| adam.slots(i).iter().all(|(_, s)| s.dtype() == DType::F32));
        if policy == DTypePolicy::MIXED_FLOAT16 {
            let mut trainer = Trainer::new(model, vars.clone(), LossScaleOptimizer::new(adam), loss).unwrap();
            for _ in 0..3 {
                trainer.train_step(&b).unwrap();
            }
            let opt = trainer.optimizer();
            assert!(slots_f32(opt.inner()), "{policy}: Adam's slots");
            assert!(opt.dynamic_scale() <= 32768.0);
            assert!(wick::optim::LrControl::iterations(opt) >= 1, "{policy}: no step applied in 3");
        } else {
            let mut trainer = Trainer::new(model, vars.clone(), adam, loss).unwrap();
            for _ in 0..3 {
                trainer.train_step(&b).unwrap();
            }
            assert!(slots_f32(trainer.optimizer()), "{policy}: Adam's slots");
        }
        let after = values(&vars);
        assert!(vars.vars().iter().all(|(_, v)| v.dtype() == DType::F32), "{policy}: variables after training");
        for ((name, _), (a, b)) in vars.vars().iter().zip(after.iter().zip(&before)) {
            assert_ne!(a, b, "{policy}: {name} did not change");
        }
    }
}

/// Trains the demo under `precision` with the test's configuration; returns the run's saved
/// configuration.
fn train(root: &Path, data: &Path, precision: &str, extra: &[&str]) -> RunConfig {
    let logdir = root.join(precision);
    let mut args = vec!["--generate", "--data", data.to_str().unwrap(), "--precision", precision];
    args.extend_from_slice(&["--logdir", logdir.to_str().unwrap(), "--verbose", "0"]);
    args.extend_from_slice(extra);
    run("train", &args, root);
    RunConfig::load(&logdir.join("checkpoints").join("config.json")).unwrap()
}

/// 4000 generated 64×64 images (as the default dataset), resized to 32×32; 15 epochs of
/// Adam at 0.003 with cosine decay, ~15 s per run on 2 idle cores. With seed 4 (dataset,
/// split, initialisation, augmentation) float32 reaches 97.6 % and mixed_bfloat16 98.3 %
/// on this project's 2-vCPU VM. Over seeds 1–4 and 7 the bf16 − f32 difference was −1.9 to
/// +0.6 points: one seeded run per policy is deterministic on a given machine, but another
/// thread count or CPU (other gemm rounding) draws another pair of trajectories.
const ACCURACY_RUN: [&str; 12] = [
    "--shapes-per-class",
    "1000",
    "--shapes-size",
    "64",
    "--image-size",
    "32",
    "--epochs",
    "15",
    "--schedule",
    "cosine",
    "--lr",
    "0.003",
];

#[test]
fn train_mixed_bfloat16_is_within_two_points_of_float32() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("shapes");
    let extra = [&ACCURACY_RUN[..], &["--seed", "4"]].concat();
    let f32_run = train(dir.path(), &data, "float32", &extra);
    let bf16_run = train(dir.path(), &data, "mixed_bfloat16", &extra);
    assert_eq!(f32_run.precision, wick_demo::Precision::Float32);
    assert_eq!(bf16_run.precision, wick_demo::Precision::MixedBfloat16);
    let (f32_best, bf16_best) = (f32_run.best.clone().unwrap(), bf16_run.best.clone().unwrap());
    let (a32, a16) = (f32_best.val_accuracy, bf16_best.val_accuracy);
    eprintln!("validation accuracy: float32 {a32:.4}, mixed_bfloat16 {a16:.4}");
    assert!(a32 >= 0.90, "float32 reaches only {a32}");
    assert!((a16 - a32).abs() <= 0.02, "mixed_bfloat16 {a16} vs float32 {a32}: more than 2 points apart");

    // The checkpoint holds f32 variables.
    let weights = candle_core::safetensors::load(&bf16_run.checkpoint, &Device::Cpu).unwrap();
    assert_eq!(weights.len(), 8);
    for (name, t) in &weights {
        assert_eq!(t.dtype(), DType::F32, "{name} in the checkpoint");
    }
    // evaluate rebuilds the model under the saved policy: its loss is the run's bf16 one.
    let eval = run("evaluate", &["--run", bf16_run.logdir.to_str().unwrap()], dir.path());
    let (loss, accuracy) = (printed(&eval, "loss"), printed(&eval, "accuracy"));
    assert!((accuracy - bf16_best.val_accuracy).abs() < 1e-5, "evaluate {accuracy}, run {}", bf16_best.val_accuracy);
    assert!(
        (loss - bf16_best.val_loss).abs() < 1e-4 * (1.0 + loss.abs()),
        "evaluate loss {loss}, the run's val_loss {}",
        bf16_best.val_loss
    );
}

#[test]
fn train_mixed_float16_scales_the_loss_and_logs_the_scale() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("shapes");
    let small = ["--shapes-per-class", "20", "--shapes-size", "32", "--image-size", "32", "--epochs", "2"];
    let run = train(dir.path(), &data, "mixed_float16", &small);
    assert_eq!(run.precision, wick_demo::Precision::MixedFloat16);
    let best = run.best.unwrap();
    assert!(best.val_loss.is_finite(), "val_loss {}", best.val_loss);
    let scale = scalars(&run.logdir.join("train"), "epoch_loss_scale");
    assert_eq!(scale.iter().map(|p| p.0).collect::<Vec<_>>(), [0, 1], "epoch_loss_scale steps");
    for (epoch, s) in scale {
        assert!(s <= 32768.0 && s > 0.0 && s.log2().fract() == 0.0, "epoch {epoch}: loss scale {s}");
    }
    // A float32 run has no loss scale.
    let plain = train(dir.path(), &data, "float32", &small);
    assert!(scalars(&plain.logdir.join("train"), "epoch_loss_scale").is_empty());
}
