//! Keras' `ModelCheckpoint`.

use super::monitor::{Mode, Monitor};
use super::pyfmt::{format_template, PyValue};
use crate::{Callback, Context, Error, Logs, Result};
use std::path::{Component, Path, PathBuf};

/// When [`ModelCheckpoint`] considers saving (Keras' `save_freq`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SaveFreq {
    /// At every `on_epoch_end`, with the epoch logs (Keras `"epoch"`).
    #[default]
    Epoch,
    /// Every N training batches, counted across epochs, at `on_train_batch_end` with the
    /// batch logs (Keras' int `save_freq`). N must be at least 1.
    Batches(usize),
}

/// Keras' `ModelCheckpoint(filepath, monitor="val_loss", verbose=0, save_best_only=False,
/// save_weights_only=False, mode="auto", save_freq="epoch", initial_value_threshold=None)`.
///
/// **File name**: `filepath` is a Python format string, filled like Keras'
/// `filepath.format(epoch=epoch+1, **logs)` — `{epoch}` is 1-based, any log key can be
/// used, with Python format specs (`{epoch:02d}`, `{val_loss:.2f}`, `{loss:.3e}`,
/// `{accuracy:g}`, widths, fills, ...); with [`SaveFreq::Batches`] `{batch}` (1-based) is
/// available too. A missing key is an error naming the template and the key.
///
/// **Decision** (at each epoch end, or every N batches):
/// * `save_best_only=false`: always save (verbose: `\nEpoch {e}: saving model to {path}`).
/// * `save_best_only=true`: if `logs[monitor]` is missing, warn
///   (`Can save best model only with {monitor} available.`) and save anyway; if it improves
///   strictly on the best so far (starting from `initial_value_threshold`, `min_delta` 0,
///   direction from `mode` as in [`Monitor`]), print
///   `\nEpoch {e}: {monitor} improved from {best:.5f|None} to {cur:.5f}, saving model to {path}`,
///   take it as the new best and save; otherwise print
///   `\nEpoch {e}: {monitor} did not improve from {best:.5f|None}`.
/// * After each save (verbose): `\nEpoch {e}: finished saving model to {path}`.
///
/// **What is written**: the model's variables as safetensors at the formatted path (the
/// extension is yours to choose; Keras' `.keras`/`.h5` rule does not apply), through a
/// temporary file renamed over it, so a crash never leaves a half-written checkpoint.
/// Unless `save_weights_only`, the optimizer state is saved next to it, at
/// `<path>.optimizer.safetensors` (also atomically), when the loop provides the optimizer.
///
/// **At `on_train_begin`** the folder part of `filepath` that holds no `{field}` is
/// created and checked for writing; if that fails, the run fails at its start with an
/// error naming the folder. The model's variables must be in the [`Context`].
///
/// The best value is kept across runs (Keras sets it once, in the constructor). Unlike
/// Keras, the comparison direction is only resolved when `save_best_only` needs it, so an
/// unknown `monitor` in auto mode is harmless without `save_best_only`, and batch-level
/// best-only saving works from the first batch.
#[derive(Debug, Clone)]
pub struct ModelCheckpoint {
    /// The file-name template.
    pub filepath: String,
    /// The log key compared with `save_best_only`.
    pub monitor: String,
    /// 0 silent, >0 prints Keras' messages.
    pub verbose: u8,
    /// Save only when `monitor` improves.
    pub save_best_only: bool,
    /// Save only the model's variables, not the optimizer state.
    pub save_weights_only: bool,
    /// Direction of improvement.
    pub mode: Mode,
    /// When to consider saving.
    pub save_freq: SaveFreq,
    /// The starting best value for `save_best_only`.
    pub initial_value_threshold: Option<f64>,
    state: Option<Monitor>,
    best: Option<f64>,
    best_initialized: bool,
    current_epoch: usize,
    batches_seen_since_last_saving: usize,
    last_batch_seen: usize,
    last_saved: Option<PathBuf>,
}

/// Suffix appended to a checkpoint's path for the optimizer state file.
pub const OPTIMIZER_STATE_SUFFIX: &str = ".optimizer.safetensors";

impl ModelCheckpoint {
    /// Keras' defaults for `filepath` (see the type's docs).
    pub fn new(filepath: impl Into<String>) -> Self {
        ModelCheckpoint {
            filepath: filepath.into(),
            monitor: "val_loss".into(),
            verbose: 0,
            save_best_only: false,
            save_weights_only: false,
            mode: Mode::Auto,
            save_freq: SaveFreq::Epoch,
            initial_value_threshold: None,
            state: None,
            best: None,
            best_initialized: false,
            current_epoch: 0,
            batches_seen_since_last_saving: 0,
            last_batch_seen: 0,
            last_saved: None,
        }
    }

    /// Sets `monitor`.
    pub fn monitor(mut self, monitor: impl Into<String>) -> Self {
        self.monitor = monitor.into();
        self
    }

    /// Sets `verbose`.
    pub fn verbose(mut self, verbose: u8) -> Self {
        self.verbose = verbose;
        self
    }

    /// Sets `save_best_only`.
    pub fn save_best_only(mut self, yes: bool) -> Self {
        self.save_best_only = yes;
        self
    }

    /// Sets `save_weights_only`.
    pub fn save_weights_only(mut self, yes: bool) -> Self {
        self.save_weights_only = yes;
        self
    }

    /// Sets `mode`.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Sets `save_freq`.
    pub fn save_freq(mut self, save_freq: SaveFreq) -> Self {
        self.save_freq = save_freq;
        self
    }

    /// Sets `initial_value_threshold`.
    pub fn initial_value_threshold(mut self, threshold: Option<f64>) -> Self {
        self.initial_value_threshold = threshold;
        self
    }

    /// The best monitored value so far (with `save_best_only`).
    pub fn best(&self) -> Option<f64> {
        self.best
    }

    /// The last file written.
    pub fn last_saved(&self) -> Option<&Path> {
        self.last_saved.as_deref()
    }

    /// The folder part of `filepath` before any `{field}` (`"."` when there is none).
    pub fn static_dir(&self) -> PathBuf {
        let mut dir = PathBuf::new();
        if let Some(parent) = Path::new(&self.filepath).parent() {
            for c in parent.components() {
                if let Component::Normal(s) = c {
                    if s.to_string_lossy().contains(['{', '}']) {
                        break;
                    }
                }
                dir.push(c.as_os_str());
            }
        }
        if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        }
    }

    /// The file name for `epoch` (0-based) and, at batch level, `batch` (0-based), as
    /// Keras' `_get_file_path`.
    pub fn file_path(&self, epoch: usize, batch: Option<usize>, logs: &Logs) -> Result<String> {
        let lookup = |name: &str| -> Option<PyValue> {
            match name {
                "epoch" => Some(PyValue::Int(epoch as i64 + 1)),
                "batch" if logs.get("batch").is_none() => batch.map(|b| PyValue::Int(b as i64 + 1)),
                _ => logs.get(name).map(PyValue::Float),
            }
        };
        format_template(&self.filepath, lookup).map_err(|reason| Error::InvalidArgument {
            context: "ModelCheckpoint",
            message: format!("failed to format this callback filepath: {:?}. Reason: {reason}", self.filepath),
        })
    }

    fn should_save_on_batch(&mut self, batch: usize) -> bool {
        let SaveFreq::Batches(n) = self.save_freq else { return false };
        let add = if batch <= self.last_batch_seen { batch + 1 } else { batch - self.last_batch_seen };
        self.batches_seen_since_last_saving += add;
        self.last_batch_seen = batch;
        if self.batches_seen_since_last_saving >= n {
            self.batches_seen_since_last_saving = 0;
            true
        } else {
            false
        }
    }

    fn should_save(&mut self, epoch: usize, logs: &Logs, path: &str) -> Result<bool> {
        if !self.save_best_only {
            if self.verbose > 0 {
                println!("\nEpoch {}: saving model to {path}", epoch + 1);
            }
            return Ok(true);
        }
        let Some(current) = logs.get(&self.monitor) else {
            eprintln!("WARNING: Can save best model only with {} available.", self.monitor);
            return Ok(true);
        };
        let monitor =
            self.state.get_or_insert_with(|| Monitor::new("ModelCheckpoint", self.monitor.clone(), self.mode, 0.0));
        let best_str = self.best.map_or_else(|| "None".to_string(), five_decimals);
        if monitor.is_improvement(current, self.best)? {
            if self.verbose > 0 {
                println!(
                    "\nEpoch {}: {} improved from {best_str} to {}, saving model to {path}",
                    epoch + 1,
                    self.monitor,
                    five_decimals(current)
                );
            }
            self.best = Some(current);
            Ok(true)
        } else {
            if self.verbose > 0 {
                println!("\nEpoch {}: {} did not improve from {best_str}", epoch + 1, self.monitor);
            }
            Ok(false)
        }
    }

    fn save_model(&mut self, epoch: usize, batch: Option<usize>, logs: &Logs, ctx: &mut Context<'_>) -> Result<()> {
        let path = self.file_path(epoch, batch, logs)?;
        if !self.should_save(epoch, logs, &path)? {
            return Ok(());
        }
        let file = Path::new(&path);
        if file.is_dir() {
            return Err(Error::InvalidArgument {
                context: "ModelCheckpoint",
                message: format!("Please specify a non-directory filepath for ModelCheckpoint. Filepath used is an existing directory: {path}"),
            });
        }
        ctx.model("ModelCheckpoint")?.save(file)?;
        if !self.save_weights_only && ctx.has_optimizer() {
            let state_path = PathBuf::from(format!("{path}{OPTIMIZER_STATE_SUFFIX}"));
            let dir = match state_path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            };
            let tmp = tempfile::Builder::new()
                .prefix(".wick-tmp-")
                .suffix(".safetensors")
                .tempfile_in(&dir)
                .map_err(|e| Error::io(&dir, e))?;
            ctx.optimizer("ModelCheckpoint")?.save_state(tmp.path())?;
            tmp.persist(&state_path).map_err(|e| Error::io(&state_path, e.error))?;
        }
        if self.verbose > 0 {
            println!("\nEpoch {}: finished saving model to {path}", epoch + 1);
        }
        self.last_saved = Some(PathBuf::from(path));
        Ok(())
    }
}

/// Python's `f"{x:.5f}"`.
fn five_decimals(x: f64) -> String {
    super::pyfmt::format_value(PyValue::Float(x), ".5f").unwrap_or_else(|_| x.to_string())
}

impl Callback for ModelCheckpoint {
    fn name(&self) -> &str {
        "ModelCheckpoint"
    }

    fn on_train_begin(&mut self, ctx: &mut Context<'_>) -> Result<()> {
        if self.save_freq == SaveFreq::Batches(0) {
            return Err(Error::InvalidArgument {
                context: "ModelCheckpoint",
                message: "unrecognized save_freq: Batches(0); expected Epoch or Batches(n) with n >= 1".into(),
            });
        }
        if self.filepath.is_empty() {
            return Err(Error::InvalidArgument { context: "ModelCheckpoint", message: "filepath is empty".into() });
        }
        ctx.model("ModelCheckpoint")?;
        let dir = self.static_dir();
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        tempfile::Builder::new().prefix(".wick-write-test-").tempfile_in(&dir).map_err(|e| Error::io(&dir, e))?;
        if !self.best_initialized {
            self.best = self.initial_value_threshold;
            self.best_initialized = true;
        }
        self.state = Some(Monitor::new("ModelCheckpoint", self.monitor.clone(), self.mode, 0.0));
        self.batches_seen_since_last_saving = 0;
        self.last_batch_seen = 0;
        Ok(())
    }

    fn on_epoch_begin(&mut self, epoch: usize, _ctx: &mut Context<'_>) -> Result<()> {
        self.current_epoch = epoch;
        Ok(())
    }

    fn on_train_batch_end(&mut self, batch: usize, logs: &mut Logs, ctx: &mut Context<'_>) -> Result<()> {
        if self.should_save_on_batch(batch) {
            let epoch = self.current_epoch;
            self.save_model(epoch, Some(batch), logs, ctx)?;
        }
        Ok(())
    }

    fn on_epoch_end(&mut self, epoch: usize, logs: &mut Logs, ctx: &mut Context<'_>) -> Result<()> {
        if self.save_freq == SaveFreq::Epoch {
            self.save_model(epoch, None, logs, ctx)?;
        }
        Ok(())
    }
}
