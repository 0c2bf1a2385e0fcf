//! `Trainer::fit` with the `TensorBoard` callback, checked end to end: stock TensorBoard
//! 2.21 (both loaders, over HTTP) shows the `train` and `validation` runs with
//! `epoch_loss`, `epoch_accuracy` and `epoch_learning_rate` at steps `0..E-1`, holding the
//! values `History` recorded, and `batch_loss` / `batch_accuracy` at every global batch
//! `1..=total` when `update_freq` is an integer.
//!
//! Needs the venv made by `scripts/ensure_venv.sh`: skipped without it, failing under
//! `CI=true`. The server is stopped when the guard drops, also when an assertion fails.

mod support;

use candle_core::{DType, Device, Tensor};
use candle_nn::{linear, ModuleT, VarBuilder, VarMap};
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;
use support::tensorboard::{Loader, TensorBoard};
use wick::callbacks::LambdaCallback;
use wick::callbacks::ModelVars;
use wick::callbacks::{TensorBoard as TensorBoardCallback, UpdateFreq};
use wick::data::TensorDataset;
use wick::optim::{rules::SgdRule, LrControl, OptimizerConfig, SGD};
use wick::train::losses::BinaryCrossentropy;
use wick::train::metrics::BinaryAccuracy;
use wick::train::{FitOptions, Trainer};

/// Epochs of the run.
const EPOCHS: usize = 4;
/// Training samples and batch size: 4 batches per epoch, 16 in all.
const TRAIN_SAMPLES: usize = 128;
const BATCH_SIZE: usize = 32;
const VAL_SAMPLES: usize = 64;
const LEARNING_RATE: f64 = 0.1;
/// How long TensorBoard may take to load the run (it reloads every second).
const LOAD_TIMEOUT: Duration = Duration::from_secs(90);

/// Points in `[-1, 1]²`, class 1 above the line `x1 = 0.5·x0`; deterministic per `seed`.
fn points(n: usize, seed: u64, device: &Device) -> (Tensor, Tensor) {
    let mut state = seed;
    let mut uniform = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 11) as f32 / (1u64 << 53) as f32 * 2.0 - 1.0
    };
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let (a, b) = (uniform(), uniform());
        xs.extend([a, b]);
        ys.push(if b > 0.5 * a { 1f32 } else { 0.0 });
    }
    (Tensor::from_vec(xs, (n, 2), device).unwrap(), Tensor::from_vec(ys, (n, 1), device).unwrap())
}

/// What the run recorded on the Rust side, to compare with what TensorBoard serves.
struct Expected {
    /// `History`: per-epoch `loss`, `accuracy`, `val_loss`, `val_accuracy`.
    loss: Vec<f64>,
    accuracy: Vec<f64>,
    val_loss: Vec<f64>,
    val_accuracy: Vec<f64>,
    /// The optimizer's learning rate (constant).
    lr: f64,
    /// Running `loss` / `accuracy` after each training batch, in order (global batch
    /// `i + 1`).
    batch_loss: Vec<f64>,
    batch_accuracy: Vec<f64>,
    /// Optimizer iterations at each validation (the `evaluation_*_vs_iterations` steps).
    val_iterations: Vec<i64>,
}

/// Trains a small MLP (2 → 8 relu → 1 sigmoid) for `EPOCHS` epochs with validation data
/// and `TensorBoard(log_dir).update_freq(Batches(1))`, silently.
fn train_into(log_dir: &Path) -> Expected {
    let device = Device::Cpu;
    let (x, y) = points(TRAIN_SAMPLES, 42, &device);
    let (x_val, y_val) = points(VAL_SAMPLES, 7, &device);

    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &device);
    let hidden = linear(2, 8, vb.pp("hidden")).unwrap();
    let out = linear(8, 1, vb.pp("out")).unwrap();
    let model = candle_nn::func_t(move |x: &Tensor, train: bool| {
        let h = hidden.forward_t(x, train)?.relu()?;
        candle_nn::ops::sigmoid(&out.forward_t(&h, train)?)
    });
    let vars = ModelVars::from_varmap(&varmap);
    let optimizer =
        SGD::with_names(vars.vars().to_vec(), OptimizerConfig::new(SgdRule::default(), LEARNING_RATE)).unwrap();
    let mut trainer = Trainer::new(model, vars, optimizer, BinaryCrossentropy::new())
        .unwrap()
        .with_metric(BinaryAccuracy::new().with_name("accuracy"));

    let batch_logs: Rc<RefCell<Vec<(f64, f64)>>> = Rc::default();
    let val_iterations: Rc<RefCell<Vec<i64>>> = Rc::default();
    let recorder = {
        let batch_logs = batch_logs.clone();
        let val_iterations = val_iterations.clone();
        LambdaCallback::new()
            .with_on_train_batch_end(move |_batch, logs, _ctx| {
                batch_logs.borrow_mut().push((logs.get("loss").unwrap(), logs.get("accuracy").unwrap()));
                Ok(())
            })
            .with_on_test_end(move |_logs, ctx| {
                let it = ctx.optimizer("recorder")?.iterations();
                val_iterations.borrow_mut().push(it as i64);
                Ok(())
            })
    };

    let mut train = TensorDataset::new(x, y).unwrap().with_batch_size(BATCH_SIZE).unwrap().with_seed(3);
    let mut val = TensorDataset::new(x_val, y_val).unwrap().with_batch_size(BATCH_SIZE).unwrap();
    let tensorboard = TensorBoardCallback::new(log_dir).update_freq(UpdateFreq::Batches(1));
    let history = trainer
        .fit(
            &mut train,
            FitOptions {
                epochs: EPOCHS,
                validation_data: Some(&mut val),
                verbose: 0,
                callbacks: vec![Box::new(recorder), Box::new(tensorboard)],
                ..Default::default()
            },
        )
        .expect("fit");

    assert_eq!(history.epoch(), (0..EPOCHS).collect::<Vec<_>>(), "History covers every epoch");
    let key = |k: &str| {
        let v = history.get(k).unwrap_or_else(|| panic!("History has no {k:?}; keys {:?}", history.keys()));
        assert_eq!(v.len(), EPOCHS, "History[{k:?}]");
        v
    };
    let batch_logs = batch_logs.borrow().clone();
    let val_iterations = val_iterations.borrow().clone();
    assert_eq!(batch_logs.len(), EPOCHS * TRAIN_SAMPLES.div_ceil(BATCH_SIZE), "training batches run");
    Expected {
        loss: key("loss"),
        accuracy: key("accuracy"),
        val_loss: key("val_loss"),
        val_accuracy: key("val_accuracy"),
        lr: trainer.optimizer().learning_rate(),
        batch_loss: batch_logs.iter().map(|p| p.0).collect(),
        batch_accuracy: batch_logs.iter().map(|p| p.1).collect(),
        val_iterations,
    }
}

/// One series as TensorBoard should show it: `(run, tag, [(step, value)])`.
type Series = (&'static str, &'static str, Vec<(i64, f32)>);

fn expected_series(e: &Expected) -> Vec<Series> {
    let by_epoch = |v: &[f64]| v.iter().enumerate().map(|(i, &x)| (i as i64, x as f32)).collect::<Vec<_>>();
    let by_batch = |v: &[f64]| v.iter().enumerate().map(|(i, &x)| (i as i64 + 1, x as f32)).collect::<Vec<_>>();
    let at = |steps: &[i64], v: &[f64]| steps.iter().zip(v).map(|(&s, &x)| (s, x as f32)).collect::<Vec<_>>();
    vec![
        ("train", "epoch_loss", by_epoch(&e.loss)),
        ("train", "epoch_accuracy", by_epoch(&e.accuracy)),
        ("train", "epoch_learning_rate", by_epoch(&[e.lr; EPOCHS])),
        ("train", "batch_loss", by_batch(&e.batch_loss)),
        ("train", "batch_accuracy", by_batch(&e.batch_accuracy)),
        ("validation", "epoch_loss", by_epoch(&e.val_loss)),
        ("validation", "epoch_accuracy", by_epoch(&e.val_accuracy)),
        ("validation", "evaluation_loss_vs_iterations", at(&e.val_iterations, &e.val_loss)),
        ("validation", "evaluation_accuracy_vs_iterations", at(&e.val_iterations, &e.val_accuracy)),
    ]
}

/// The points TensorBoard serves for `run`/`tag` as `(step, value)`, or `None` while it
/// has none. A non-numeric value ("NaN", "Infinity") becomes NaN, so it never matches.
fn served(tb: &TensorBoard, run: &str, tag: &str) -> Option<Vec<(i64, f32)>> {
    let v =
        tb.try_get(&format!("/data/plugin/scalars/scalars?run={}&tag={}", TensorBoard::q(run), TensorBoard::q(tag)))?;
    let points = v
        .as_array()?
        .iter()
        .map(|p| (p[1].as_i64().expect("integer step"), p[2].as_f64().map_or(f32::NAN, |x| x as f32)))
        .collect();
    Some(points)
}

/// Trains into a fresh log directory, serves it with `loader` and checks runs, tags,
/// steps and values over HTTP.
fn fit_is_shown_by(loader: Loader) {
    let dir = tempfile::tempdir().unwrap();
    let expected = train_into(dir.path());
    assert_eq!(expected.val_iterations, vec![4, 8, 12, 16], "optimizer iterations at each validation");
    let series = expected_series(&expected);

    let Some(tb) = TensorBoard::start(dir.path(), loader) else { return };
    // Loaded: every series has all its points (the Rust loader commits in steps).
    let mut last = String::from("no answer yet");
    let loaded = tb.wait_for(LOAD_TIMEOUT, |tb| {
        for (run, tag, want) in &series {
            let got = served(tb, run, tag).map_or(0, |p| p.len());
            if got < want.len() {
                last = format!("{run}/{tag}: {got} of {} points", want.len());
                return None;
            }
        }
        Some(())
    });
    assert!(loaded.is_some(), "{loader:?} loader: not loaded after {LOAD_TIMEOUT:?}; {last}");

    // Runs: exactly `train` and `validation`.
    let runs: BTreeSet<String> =
        tb.get("/data/runs").as_array().expect("runs list").iter().map(|r| r.as_str().unwrap().to_string()).collect();
    assert_eq!(runs, BTreeSet::from(["train".to_string(), "validation".to_string()]), "{loader:?}: runs");

    // Tags: the Keras layout (§8), and nothing with a `val_` prefix left in it.
    let tags = tb.get("/data/plugin/scalars/tags");
    let tag_set = |run: &str| -> BTreeSet<String> {
        tags[run]
            .as_object()
            .unwrap_or_else(|| panic!("{loader:?}: no scalar tags for {run}: {tags}"))
            .keys()
            .cloned()
            .collect()
    };
    let (train_tags, val_tags) = (tag_set("train"), tag_set("validation"));
    for (run, tag, _) in &series {
        let set = if *run == "train" { &train_tags } else { &val_tags };
        assert!(set.contains(*tag), "{loader:?}: {run} lacks {tag}; has {set:?}");
    }
    assert!(
        train_tags.iter().chain(&val_tags).all(|t| !t.contains("val_")),
        "{loader:?}: a val_ tag was written: train {train_tags:?}, validation {val_tags:?}"
    );

    // Steps and values, f32 for f32.
    let mut mismatches = Vec::new();
    for (run, tag, want) in &series {
        let got = served(&tb, run, tag).unwrap_or_default();
        if &got != want {
            mismatches.push(format!("{run}/{tag}: served {got:?}, expected {want:?}"));
        }
    }
    drop(tb);
    assert!(
        mismatches.is_empty(),
        "{loader:?} loader: {} mismatch(es):\n  {}",
        mismatches.len(),
        mismatches.join("\n  ")
    );
}

#[test]
fn fit_tensorboard_rust_loader() {
    fit_is_shown_by(Loader::Rust);
}

#[test]
fn fit_tensorboard_python_loader() {
    fit_is_shown_by(Loader::Python);
}

/// The same series read from the event files directly (no server needed): guards the
/// writer side even where the venv is missing.
#[test]
fn fit_tensorboard_event_files_hold_the_history() {
    use wick::tfevents::proto::{event, summary::value};
    let dir = tempfile::tempdir().unwrap();
    let expected = train_into(dir.path());
    for (run, tag, want) in expected_series(&expected) {
        let mut got = Vec::new();
        for e in wick::tfevents::reader::read_run(dir.path().join(run)).unwrap() {
            if let Some(event::What::Summary(s)) = e.event.what {
                for v in s.value.into_iter().filter(|v| v.tag == tag) {
                    match v.value {
                        Some(value::Value::Tensor(t)) => got.push((e.event.step, t.float_val[0])),
                        Some(value::Value::SimpleValue(x)) => got.push((e.event.step, x)),
                        other => panic!("{run}/{tag}: unexpected value {other:?}"),
                    }
                }
            }
        }
        assert_eq!(got, want, "{run}/{tag} in the event files");
    }
}
