//! The device check: wick-nn layers (forward and gradients), every optimizer, and `fit`
//! with checkpoints and resume on the device named by `WICK_TEST_DEVICE`, against the CPU.
//!
//! `WICK_TEST_DEVICE=cuda` (a build with `--features cuda`, on a machine with a GPU) is the
//! real check; `scripts/gpu_check.sh` runs it there. Unset or `cpu`, the same code runs on
//! the CPU against itself: a dry run of the harness (the fit/checkpoint/resume test still
//! checks resume and checkpoint contents). Tolerances (|a − b| ≤ tol·(1 + |b|)): layers
//! 1e-4 (cuBLAS sums in another order than the CPU gemm), optimizers 1e-5 per step,
//! `fit` 1e-4 on weights and logs after 2 epochs.

mod support;

use std::path::Path;

use candle_core::{DType, Device, Module, Tensor, Var};
use candle_nn::{ModuleT, Optimizer, VarBuilder, VarMap};
use support::seeded;
use wick::callbacks::{BackupAndRestore, Callback, LambdaCallback, ModelCheckpoint, ModelVars};
use wick::data::TensorDataset;
use wick::nn::{Conv2dConfig, MaxPool2d};
use wick::optim::{rules, KerasOptimizer, OptimizerConfig, UpdateRule};
use wick::train::losses::SparseCategoricalCrossentropy;
use wick::train::metrics::SparseCategoricalAccuracy;
use wick::train::{FitOptions, Trainer};

/// The device under test: `WICK_TEST_DEVICE` (`cpu` when unset).
fn device() -> Device {
    let name = std::env::var("WICK_TEST_DEVICE").unwrap_or_else(|_| "cpu".into());
    match name.as_str() {
        "cpu" => Device::Cpu,
        "cuda" => match wick_demo::device(wick_demo::DeviceName::Cuda, cfg!(feature = "cuda")) {
            Ok(d) => d,
            Err(e) => panic!("WICK_TEST_DEVICE=cuda: {e}"),
        },
        other => panic!("WICK_TEST_DEVICE={other:?}: expected cpu or cuda"),
    }
}

fn tensor(dims: &[usize], seed: u64, dev: &Device) -> Tensor {
    let n = dims.iter().product();
    Tensor::from_vec(seeded(n, seed), dims, dev).unwrap()
}

fn host(t: &Tensor) -> Vec<f32> {
    t.to_device(&Device::Cpu).unwrap().to_dtype(DType::F32).unwrap().flatten_all().unwrap().to_vec1().unwrap()
}

/// `max |a − b| / (1 + |b|)`, after checking the shapes.
fn rel_diff(what: &str, a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims(), "{what}: shapes differ");
    host(a).iter().zip(host(b)).map(|(x, y)| (x - y).abs() / (1.0 + y.abs())).fold(0.0, f32::max)
}

fn assert_close(what: &str, a: &Tensor, b: &Tensor, tol: f32) {
    let d = rel_diff(what, a, b);
    assert!(d <= tol, "{what}: device and CPU differ by {d:e} (> {tol:e})");
}

/// One layer under test: builds the output from its parameters and the input.
type Layer = fn(&Tensor, &[Tensor]) -> candle_core::Result<Tensor>;

/// A layer case: name, input shape, parameter shapes, the layer.
type LayerCase = (&'static str, Vec<usize>, Vec<Vec<usize>>, Layer);

/// Forward, and gradients of `Σ y·r` for the input and every parameter, on `dev`.
fn layer_run(dev: &Device, x_dims: &[usize], params: &[Vec<usize>], f: Layer) -> (Tensor, Vec<Tensor>) {
    let x = Var::from_tensor(&tensor(x_dims, 1, dev)).unwrap();
    let ps: Vec<Var> =
        params.iter().enumerate().map(|(i, d)| Var::from_tensor(&tensor(d, 10 + i as u64, dev)).unwrap()).collect();
    let p_tensors: Vec<Tensor> = ps.iter().map(|p| p.as_tensor().clone()).collect();
    let y = f(x.as_tensor(), &p_tensors).unwrap();
    let r = tensor(y.dims(), 99, dev);
    let grads = (&y * &r).unwrap().sum_all().unwrap().backward().unwrap();
    let mut g = vec![grads.get(x.as_tensor()).expect("input gradient").clone()];
    g.extend(ps.iter().map(|p| grads.get(p.as_tensor()).expect("parameter gradient").clone()));
    (y, g)
}

#[test]
fn wick_nn_layers_and_gradients_match_the_cpu() {
    let dev = device();
    let cases: Vec<LayerCase> = vec![
        ("conv3x3+relu+maxpool2", vec![4, 3, 16, 16], vec![vec![8, 3, 3, 3], vec![8]], |x, p| {
            wick::nn::Conv2d::new(p[0].clone(), Some(p[1].clone()), Conv2dConfig::default())
                .with_relu()
                .with_max_pool(MaxPool2d::new(2))
                .forward(x)
        }),
        ("conv3x3 stride 2 pad 1, no bias", vec![2, 4, 11, 9], vec![vec![6, 4, 3, 3]], |x, p| {
            wick::nn::conv2d_op(x, &p[0], None, &Conv2dConfig { stride: 2, padding: 1, ..Default::default() })
        }),
        ("linear", vec![5, 7], vec![vec![3, 7], vec![3]], |x, p| {
            wick::nn::Linear::new(p[0].clone(), Some(p[1].clone())).forward(x)
        }),
        ("relu", vec![3, 50], vec![], |x, _| wick::nn::relu(x)),
        ("max_pool 3x3 stride 2", vec![2, 3, 9, 8], vec![], |x, _| wick::nn::max_pool2d(x, (3, 3), (2, 2))),
        ("avg_pool 3x3 stride 2", vec![2, 3, 9, 8], vec![], |x, _| wick::nn::avg_pool2d(x, (3, 3), (2, 2))),
        ("global_avg_pool", vec![2, 5, 6, 7], vec![], |x, _| wick::nn::global_avg_pool2d(x)),
    ];
    for (name, x_dims, params, f) in cases {
        let (y_cpu, g_cpu) = layer_run(&Device::Cpu, &x_dims, &params, f);
        let (y_dev, g_dev) = layer_run(&dev, &x_dims, &params, f);
        assert!(y_dev.device().same_device(&dev), "{name}: output left the device");
        assert_close(&format!("{name} output"), &y_dev, &y_cpu, 1e-4);
        for (i, (a, b)) in g_dev.iter().zip(&g_cpu).enumerate() {
            let what = if i == 0 { "input".to_string() } else { format!("parameter {}", i - 1) };
            assert_close(&format!("{name} gradient of the {what}"), a, b, 1e-4);
        }
    }
}

/// Five steps of `rule` on the loss `Σ θ·r_k` (a new `r` each step): the variables after
/// each step.
fn optimizer_steps<R: UpdateRule + Clone>(dev: &Device, rule: R, lr: f64) -> Vec<Tensor> {
    let var = Var::from_tensor(&tensor(&[3, 5], 7, dev)).unwrap();
    let mut opt = KerasOptimizer::with_names(vec![("w".into(), var.clone())], OptimizerConfig::new(rule, lr)).unwrap();
    (0..5)
        .map(|k| {
            let loss = (var.as_tensor() * tensor(&[3, 5], 50 + k, dev)).unwrap().sqr().unwrap().sum_all().unwrap();
            opt.backward_step(&loss).unwrap();
            var.as_tensor().copy().unwrap()
        })
        .collect()
}

fn check_optimizer<R: UpdateRule + Clone>(dev: &Device, rule: R, lr: f64) {
    let name = rule.name();
    let cpu = optimizer_steps(&Device::Cpu, rule.clone(), lr);
    let on_dev = optimizer_steps(dev, rule, lr);
    for (k, (a, b)) in on_dev.iter().zip(&cpu).enumerate() {
        assert_close(&format!("{name} after step {}", k + 1), a, b, 1e-5);
    }
}

#[test]
fn every_optimizer_matches_the_cpu() {
    let dev = device();
    check_optimizer(&dev, rules::SgdRule { momentum: 0.9, nesterov: true }, 0.05);
    check_optimizer(&dev, rules::AdamRule::default(), 0.01);
    check_optimizer(&dev, rules::AdamWRule::default(), 0.01);
    check_optimizer(&dev, rules::AdamaxRule::default(), 0.01);
    check_optimizer(&dev, rules::NadamRule::default(), 0.01);
    check_optimizer(&dev, rules::RmspropRule::default(), 0.01);
    check_optimizer(&dev, rules::AdagradRule::default(), 0.05);
    check_optimizer(&dev, rules::AdadeltaRule::default(), 1.0);
    check_optimizer(&dev, rules::FtrlRule::default(), 0.05);
    check_optimizer(&dev, rules::LionRule::default(), 0.01);
    check_optimizer(&dev, rules::LambRule::default(), 0.01);
    check_optimizer(&dev, rules::AdafactorRule::default(), 0.01);
}

/// A 4-16-3 MLP with seeded weights, its data (96 samples, batches of 16), on `dev`.
fn mlp(dev: &Device) -> (impl ModuleT, VarMap, TensorDataset, TensorDataset) {
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, dev);
    let l1 = wick::nn::linear(4, 16, vb.pp("l1")).unwrap();
    let l2 = wick::nn::linear(16, 3, vb.pp("l2")).unwrap();
    for (i, (_, var)) in ModelVars::from_varmap(&varmap).vars().iter().enumerate() {
        var.set(&(tensor(var.dims(), 100 + i as u64, dev) * 0.5).unwrap()).unwrap();
    }
    let data = |n: usize, seed: u64| {
        let x = seeded(n * 4, seed);
        let y: Vec<u32> = x.chunks(4).map(|r| u32::from(r[0] + r[1] > 0.0) + u32::from(r[2] * r[3] > 0.1)).collect();
        let x = Tensor::from_vec(x, (n, 4), dev).unwrap();
        let y = Tensor::from_vec(y, n, dev).unwrap();
        TensorDataset::new(x, y).unwrap().with_batch_size(16).unwrap().with_seed(seed)
    };
    let net = candle_nn::func_t(move |x: &Tensor, train: bool| l2.forward(&l1.forward_t(x, train)?.relu()?));
    (net, varmap, data(96, 3), data(32, 4))
}

/// Trains the MLP on `dev` for `epochs` (Adam, shuffled), with a best-val_loss checkpoint
/// and a backup in `dir`; returns the variables and the epoch logs (loss, accuracy,
/// val_loss, val_accuracy per epoch).
fn fit_run(dev: &Device, dir: &Path, epochs: usize, stop_after: Option<usize>) -> (ModelVars, Vec<Vec<f64>>) {
    let (net, varmap, mut train, mut val) = mlp(dev);
    let vars = ModelVars::from_varmap(&varmap);
    let opt =
        wick::optim::Adam::with_names(vars.vars().to_vec(), OptimizerConfig::new(rules::AdamRule::default(), 0.01))
            .unwrap();
    let mut trainer = Trainer::new(net, &vars, opt, SparseCategoricalCrossentropy::new().with_from_logits(true))
        .unwrap()
        .with_metric(SparseCategoricalAccuracy::new().with_name("accuracy"));
    let checkpoint = dir.join("best.safetensors").to_string_lossy().into_owned();
    let mut callbacks: Vec<Box<dyn Callback>> = vec![
        Box::new(ModelCheckpoint::new(checkpoint).save_best_only(true)),
        Box::new(BackupAndRestore::new(dir.join("backup"))),
    ];
    if let Some(stop) = stop_after {
        // An interruption after epoch `stop`: the run fails like a crash would end it.
        callbacks.push(Box::new(LambdaCallback::new().with_on_epoch_end(move |epoch, _, _| {
            if epoch + 1 == stop {
                Err(wick::callbacks::Error::Other("interrupted".into()))
            } else {
                Ok(())
            }
        })));
    }
    let options = FitOptions { epochs, validation_data: Some(&mut val), verbose: 0, callbacks, ..Default::default() };
    let history = match trainer.fit(&mut train, options) {
        Ok(h) => h,
        Err(e) if stop_after.is_some() => {
            assert!(e.to_string().contains("interrupted"), "{e}");
            return (vars, Vec::new());
        }
        Err(e) => panic!("fit on {dev:?}: {e}"),
    };
    let logs = ["loss", "accuracy", "val_loss", "val_accuracy"].iter().map(|k| history.get(k).expect(k)).collect();
    (vars, logs)
}

#[test]
fn fit_checkpoint_and_resume_on_the_device_match_the_cpu() {
    let dev = device();
    let tmp = tempfile::tempdir().unwrap();
    let (cpu_vars, cpu_logs) = fit_run(&Device::Cpu, &tmp.path().join("cpu"), 3, None);
    let (dev_vars, dev_logs) = fit_run(&dev, &tmp.path().join("dev"), 3, None);
    for ((name, a), (_, b)) in dev_vars.vars().iter().zip(cpu_vars.vars()) {
        assert!(a.device().same_device(&dev), "{name} left the device");
        assert_close(&format!("fit: {name}"), a.as_tensor(), b.as_tensor(), 1e-4);
    }
    for (k, (a, b)) in dev_logs.iter().zip(&cpu_logs).enumerate() {
        for (e, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= 1e-4 * (1.0 + y.abs()), "fit log {k} epoch {e}: device {x}, CPU {y}");
        }
    }
    // The best checkpoint was written from device memory and reads back as safetensors.
    let best = candle_core::safetensors::load(tmp.path().join("dev/best.safetensors"), &Device::Cpu).unwrap();
    assert_eq!(best.len(), dev_vars.vars().len(), "{:?}", best.keys());
    // Interrupted after epoch 2, then resumed by the same call: the weights of the
    // uninterrupted run on the same device.
    let resumed_dir = tmp.path().join("resumed");
    fit_run(&dev, &resumed_dir, 3, Some(2));
    let (resumed, _) = fit_run(&dev, &resumed_dir, 3, None);
    for ((name, a), (_, b)) in resumed.vars().iter().zip(dev_vars.vars()) {
        let d = rel_diff(&format!("resume: {name}"), a.as_tensor(), b.as_tensor());
        assert!(d <= 1e-6, "resume on {dev:?}: {name} differs from the uninterrupted run by {d:e}");
    }
}
