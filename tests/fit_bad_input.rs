//! `Trainer::fit` on bad input:
//!
//! * a NaN loss in a later epoch: `TerminateOnNaN` stops the run, and no checkpoint
//!   holding NaN is saved as the best one by `ModelCheckpoint(save_best_only)`;
//! * an unwritable checkpoint, log, CSV or backup folder fails `fit` at its start, with an
//!   error naming the path, before any training batch.

use candle_core::{DType, Device, Tensor};
use candle_nn::{linear, ModuleT, VarBuilder, VarMap};
use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use wick::callbacks::UpdateFreq;
use wick::callbacks::{BackupAndRestore, CSVLogger, LambdaCallback, ModelCheckpoint, TensorBoard, TerminateOnNaN};
use wick::callbacks::{Callback, ModelVars};
use wick::data::{Batch, Dataset, TensorDataset};
use wick::optim::{rules::SgdRule, OptimizerConfig, SGD};
use wick::train::losses::SparseCategoricalCrossentropy;
use wick::train::metrics::SparseCategoricalAccuracy;
use wick::train::{Error, FitOptions, Trainer};

const SAMPLES: usize = 96;
const BATCH_SIZE: usize = 16;
/// Batches per epoch.
const STEPS: usize = SAMPLES / BATCH_SIZE;

/// The model's variables as `(name, flattened values)`.
type Weights = Vec<(String, Vec<f32>)>;

/// Two Gaussian-ish blobs (class 0 around (-1, -1), class 1 around (1, 1)), deterministic.
fn blobs(n: usize, seed: u64, device: &Device) -> (Tensor, Tensor) {
    let mut state = seed;
    let mut uniform = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 11) as f32 / (1u64 << 53) as f32 - 0.5
    };
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for i in 0..n {
        let class = (i % 2) as u32;
        let c = if class == 0 { -1.0 } else { 1.0 };
        xs.extend([c + uniform(), c + uniform()]);
        ys.push(class);
    }
    (Tensor::from_vec(xs, (n, 2), device).unwrap(), Tensor::from_vec(ys, n, device).unwrap())
}

/// A 2-class MLP (2 → 8 tanh → 2 logits; tanh, not relu: candle's relu maps NaN to 0) with SGD, sparse categorical cross-entropy from
/// logits and accuracy named `"accuracy"`.
fn trainer() -> Trainer<impl ModuleT, SGD> {
    let device = Device::Cpu;
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &device);
    let hidden = linear(2, 8, vb.pp("hidden")).unwrap();
    let out = linear(8, 2, vb.pp("out")).unwrap();
    let model =
        candle_nn::func_t(move |x: &Tensor, train: bool| out.forward_t(&hidden.forward_t(x, train)?.tanh()?, train));
    let vars = ModelVars::from_varmap(&varmap);
    let optimizer = SGD::with_names(vars.vars().to_vec(), OptimizerConfig::new(SgdRule::default(), 0.1)).unwrap();
    Trainer::new(model, vars, optimizer, SparseCategoricalCrossentropy::new().with_from_logits(true))
        .unwrap()
        .with_metric(SparseCategoricalAccuracy::new().with_name("accuracy"))
}

/// A `TensorDataset` whose batch `batch` of epoch `epoch` has NaN inputs (what a corrupt
/// record or an upstream overflow delivers); every other batch is the clean data.
struct PoisonedAt {
    inner: TensorDataset,
    epoch: usize,
    batch: usize,
    /// The pass being read and the index of the next batch in it.
    pass: usize,
    next: usize,
}

impl Dataset for PoisonedAt {
    fn len_batches(&self) -> Option<usize> {
        self.inner.len_batches()
    }

    fn begin_pass(&mut self, pass: usize, shuffle: bool) -> wick::data::Result<()> {
        (self.pass, self.next) = (pass, 0);
        self.inner.begin_pass(pass, shuffle)
    }

    fn next_batch(&mut self) -> wick::data::Result<Option<Batch>> {
        let Some(batch) = self.inner.next_batch()? else {
            (self.pass, self.next) = (self.pass + 1, 0);
            return Ok(None);
        };
        let poisoned = self.pass == self.epoch && self.next == self.batch;
        self.next += 1;
        if !poisoned {
            return Ok(Some(batch));
        }
        let x = (batch.x.ones_like()? * f64::NAN)?;
        Ok(Some(Batch { x, ..batch }))
    }
}

/// True when every value of every tensor in the safetensors file is finite.
fn all_finite(path: &Path) -> bool {
    let tensors = candle_core::safetensors::load(path, &Device::Cpu).unwrap();
    assert!(!tensors.is_empty(), "{}: no tensors", path.display());
    tensors.values().all(|t| {
        t.flatten_all().unwrap().to_dtype(DType::F32).unwrap().to_vec1::<f32>().unwrap().iter().all(|v| v.is_finite())
    })
}

/// A callback counting `on_train_batch_begin` calls, and the count.
fn batch_counter() -> (Rc<Cell<usize>>, LambdaCallback) {
    let count = Rc::new(Cell::new(0));
    let c = count.clone();
    let cb = LambdaCallback::new().with_on_train_batch_begin(move |_batch, _ctx| {
        c.set(c.get() + 1);
        Ok(())
    });
    (count, cb)
}

#[test]
fn nan_loss_stops_the_run_and_no_nan_checkpoint_is_saved_as_best() {
    let device = Device::Cpu;
    let (x, y) = blobs(SAMPLES, 11, &device);
    let (x_val, y_val) = blobs(48, 12, &device);
    // NaN inputs in batch 2 of epoch 1 (the second epoch); shuffling off so the batches
    // are the same every run.
    let mut train = PoisonedAt {
        inner: TensorDataset::new(x, y).unwrap().with_batch_size(BATCH_SIZE).unwrap(),
        epoch: 1,
        batch: 2,
        pass: 0,
        next: 0,
    };
    let mut val = TensorDataset::new(x_val, y_val).unwrap().with_batch_size(BATCH_SIZE).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let best_loss = dir.path().join("best_loss.safetensors");
    let best_val_loss = dir.path().join("best_val_loss.safetensors");

    let mut trainer = trainer();
    let vars = trainer.model_vars().clone();
    // Weights at the end of each epoch, after the checkpoints had their turn.
    let epoch_end_weights: Rc<RefCell<Vec<Weights>>> = Rc::default();
    let batches_per_epoch: Rc<RefCell<Vec<usize>>> = Rc::default();
    let recorder = {
        let (w, b) = (epoch_end_weights.clone(), batches_per_epoch.clone());
        LambdaCallback::new()
            .with_on_epoch_begin({
                let b = b.clone();
                move |_epoch, _ctx| {
                    b.borrow_mut().push(0);
                    Ok(())
                }
            })
            .with_on_train_batch_begin(move |_batch, _ctx| {
                *b.borrow_mut().last_mut().unwrap() += 1;
                Ok(())
            })
            .with_on_epoch_end(move |_epoch, _logs, _ctx| {
                let snap = vars
                    .vars()
                    .iter()
                    .map(|(n, v)| (n.clone(), v.as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap()))
                    .collect();
                w.borrow_mut().push(snap);
                Ok(())
            })
    };
    let callbacks: Vec<Box<dyn Callback>> = vec![
        Box::new(TerminateOnNaN::new()),
        Box::new(ModelCheckpoint::new(best_loss.to_str().unwrap()).monitor("loss").save_best_only(true)),
        Box::new(ModelCheckpoint::new(best_val_loss.to_str().unwrap()).monitor("val_loss").save_best_only(true)),
        Box::new(recorder),
    ];
    let history = trainer
        .fit(
            &mut train,
            FitOptions {
                epochs: 4,
                validation_data: Some(&mut val),
                shuffle: false,
                verbose: 0,
                callbacks,
                ..Default::default()
            },
        )
        .expect("TerminateOnNaN stops quietly (raise_error = false)");

    // Stopped right after the NaN batch: epoch 0 whole, epoch 1 up to batch 2 (3 batches);
    // epochs 2 and 3 never ran.
    assert_eq!(*batches_per_epoch.borrow(), vec![STEPS, 3], "batches run per epoch");
    assert_eq!(history.epoch(), vec![0, 1], "History: the run stopped in epoch 1 of 4");
    let loss = history.get("loss").unwrap();
    assert!(loss[0].is_finite() && loss[1].is_nan(), "loss per epoch: {loss:?}");

    // The weights are NaN after the NaN batch, finite before.
    let weights = epoch_end_weights.borrow();
    let finite = |snap: &Weights| snap.iter().all(|(_, v)| v.iter().all(|x| x.is_finite()));
    assert!(finite(&weights[0]), "weights after epoch 0 are finite");
    assert!(!finite(&weights[1]), "the NaN batch made the weights NaN (otherwise this test checks nothing)");

    // Each best checkpoint exists, holds only finite values, and is epoch 0's model.
    for path in [&best_loss, &best_val_loss] {
        assert!(path.is_file(), "{} was not saved at epoch 0", path.display());
        assert!(all_finite(path), "{} holds a non-finite value: a NaN model was saved as best", path.display());
        let fresh = trainer.model_vars().clone();
        fresh.load(path).unwrap();
        let loaded: Weights = fresh
            .vars()
            .iter()
            .map(|(n, v)| (n.clone(), v.as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap()))
            .collect();
        assert_eq!(loaded, weights[0], "{} holds epoch 0's weights", path.display());
    }
}

/// A regular file standing where a folder is needed: no folder can be created under it,
/// even by root.
fn blocker(dir: &Path) -> PathBuf {
    let blocker = dir.join("not-a-dir");
    std::fs::write(&blocker, b"x").unwrap();
    blocker
}

/// Runs `fit` with `callback` (whose folder is `path`) and a batch counter; asserts it
/// fails with an error naming `path`, before any training batch.
fn fails_at_start(what: &str, callback: Box<dyn Callback>, path: &Path) {
    let device = Device::Cpu;
    let (x, y) = blobs(SAMPLES, 5, &device);
    let mut train = TensorDataset::new(x, y).unwrap().with_batch_size(BATCH_SIZE).unwrap();
    let (count, counter) = batch_counter();
    let mut trainer = trainer();
    let result = trainer.fit(
        &mut train,
        FitOptions { epochs: 2, verbose: 0, callbacks: vec![Box::new(counter), callback], ..Default::default() },
    );
    let err = match result {
        Ok(h) => {
            panic!("{what}: fit succeeded with an unwritable folder {} (epochs run: {:?})", path.display(), h.epoch())
        }
        Err(e) => e,
    };
    assert!(matches!(err, Error::Callback(_)), "{what}: expected a callback error, got {err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{what}: the error does not name {}: {msg}", path.display());
    assert_eq!(count.get(), 0, "{what}: {} training batch(es) ran before the error", count.get());
}

#[test]
fn unwritable_model_checkpoint_folder_fails_fit_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let folder = blocker(dir.path()).join("ckpt");
    let filepath = folder.join("model-{epoch:02d}.safetensors");
    fails_at_start(
        "ModelCheckpoint",
        Box::new(ModelCheckpoint::new(filepath.to_str().unwrap()).monitor("loss")),
        &folder,
    );
}

#[test]
fn unwritable_tensorboard_folder_fails_fit_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let log_dir = blocker(dir.path()).join("logs");
    fails_at_start("TensorBoard", Box::new(TensorBoard::new(&log_dir).update_freq(UpdateFreq::Batches(1))), &log_dir);
}

#[test]
fn tensorboard_log_dir_that_is_a_file_fails_fit_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let log_dir = blocker(dir.path());
    fails_at_start("TensorBoard (log_dir is a file)", Box::new(TensorBoard::new(&log_dir)), &log_dir);
}

#[test]
fn unwritable_csv_logger_folder_fails_fit_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let folder = blocker(dir.path()).join("logs");
    fails_at_start("CSVLogger", Box::new(CSVLogger::new(folder.join("training.csv"))), &folder);
}

#[test]
fn unwritable_backup_folder_fails_fit_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let backup_dir = blocker(dir.path()).join("backup");
    fails_at_start("BackupAndRestore", Box::new(BackupAndRestore::new(&backup_dir)), &backup_dir);
}

#[test]
fn backup_dir_that_is_a_file_fails_fit_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let backup_dir = blocker(dir.path());
    fails_at_start(
        "BackupAndRestore (backup_dir is a file)",
        Box::new(BackupAndRestore::new(&backup_dir)),
        &backup_dir,
    );
}
