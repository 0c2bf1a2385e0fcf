//! Keras' `ModelCheckpoint`.

use super::monitor::{Mode, Monitor};
use super::pyfmt::{format_template, PyValue};
use crate::files;
use crate::{Callback, Context, Error, Logs, ModelVars, Result};
use std::path::{Component, Path, PathBuf};
use wick_optim::LrControl;

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
/// **What is written**: the model's variables as a plain safetensors file at the
/// formatted path (the extension is yours to choose; Keras' `.keras`/`.h5` rule does not
/// apply). Unless `save_weights_only`, the optimizer state is saved next to it, at
/// `<path>.optimizer.safetensors` ([`OPTIMIZER_STATE_SUFFIX`](crate::OPTIMIZER_STATE_SUFFIX)), when the loop provides
/// the optimizer. Beside them, `<path>.manifest.json` ([`CHECKPOINT_MANIFEST_SUFFIX`](crate::CHECKPOINT_MANIFEST_SUFFIX))
/// names the set: the epoch, the batch, and each file's name, size and CRC-32C. Both
/// safetensors files also carry the epoch in their metadata (`wick.epoch`, `wick.batch`,
/// `wick.global_step`), so a file found beside the wrong partner can say where it came
/// from.
///
/// **One unit.** A save writes the weights and the optimizer state to temporary files
/// (`.wick-tmp-*`, synced) in the destination folder, then writes the new manifest to a
/// temporary file and renames it over the old one: that rename is the commit. Only then
/// are the temporary files renamed over the weights and optimizer files. A process killed
/// at any moment thus leaves either the previous manifest with the previous, untouched
/// files, or the new manifest, whose files are at their final names or still at the
/// temporary names it records. [`ModelCheckpoint::load_checkpoint`] checks the hashes and
/// reads each file from where its content is; it never loads a mixed set: a file that
/// matches neither is an [`Error::CheckpointMismatch`] naming the files and their epochs.
/// The next run's `on_train_begin` finishes an interrupted commit (renames the recorded
/// temporary files into place) and removes the temporary files a killed save left. A
/// weights-only save removes an optimizer file left by an earlier full save at the same
/// path, after its commit.
///
/// **At `on_train_begin`** the folder part of `filepath` that holds no `{field}` is
/// created and checked for writing; if that fails, the run fails at its start with an
/// error naming the folder. In that folder, interrupted commits are finished and wick's
/// temporary files older than the current process are removed (leftovers of a killed
/// run; nothing else is touched). The model's variables must be in the [`Context`].
///
/// **Test hook.** The save steps call a crash hook that only acts when the environment
/// variable `WICK_TEST_CRASH_AT` is `checkpoint:<n>`: the `n`-th step of the process
/// then SIGKILLs it (used by this crate's crash tests; never set it otherwise).
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

use super::checkpoint_set::{
    load_checkpoint, read_checkpoint, recover_dir, write_checkpoint, CheckpointInfo, CheckpointManifest,
};

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
                say!("\nEpoch {}: saving model to {path}", epoch + 1);
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
                say!(
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
                say!("\nEpoch {}: {} did not improve from {best_str}", epoch + 1, self.monitor);
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
        let global_step = ctx.state.global_step;
        let set = CheckpointManifest::new(epoch + 1, batch.map(|b| b + 1), global_step);
        write_checkpoint(file, set, !self.save_weights_only, ctx)?;
        if self.verbose > 0 {
            say!("\nEpoch {}: finished saving model to {path}", epoch + 1);
        }
        self.last_saved = Some(PathBuf::from(path));
        Ok(())
    }
}

/// Python's `f"{x:.5f}"`.
fn five_decimals(x: f64) -> String {
    super::pyfmt::format_value(PyValue::Float(x), ".5f").unwrap_or_else(|_| x.to_string())
}

impl ModelCheckpoint {
    /// Checks the checkpoint at `path` (the weights file; its manifest is
    /// `<path>.manifest.json`) without loading it: every file the manifest names must be
    /// found with its recorded size and CRC-32C, at its final name or at the temporary
    /// name of a commit interrupted before its renames.
    ///
    /// Errors: [`Error::CheckpointMismatch`] when a file is missing or holds another save
    /// (naming the files and the epochs they hold), or when the weights exist without a
    /// manifest; [`Error::Corrupt`] for a damaged manifest; [`Error::Io`] when neither
    /// exists.
    pub fn read_checkpoint(path: impl AsRef<Path>) -> Result<CheckpointInfo> {
        read_checkpoint(path.as_ref())
    }

    /// Loads the checkpoint set at `path` into `vars` (and its optimizer state into
    /// `optimizer`), after [`read_checkpoint`](Self::read_checkpoint) found it complete
    /// and consistent; the weights are put back if the optimizer state fails to load.
    /// Asking for the optimizer state of a checkpoint saved without it is an
    /// [`Error::CheckpointMismatch`]; pass `None` to load the weights alone.
    pub fn load_checkpoint(
        path: impl AsRef<Path>,
        vars: &ModelVars,
        optimizer: Option<&mut dyn LrControl>,
    ) -> Result<CheckpointInfo> {
        load_checkpoint(path.as_ref(), vars, optimizer)
    }
}

impl Callback for ModelCheckpoint {
    fn chief_only(&self) -> bool {
        true
    }

    fn needs_batch_logs(&self) -> bool {
        // Batch-wise saving reads the monitored value from the batch logs.
        matches!(self.save_freq, SaveFreq::Batches(_))
    }

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
        tempfile::Builder::new().prefix(files::TEMP_PREFIX).tempfile_in(&dir).map_err(|e| Error::io(&dir, e))?;
        recover_dir(&dir)?;
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
