//! Keras' `EarlyStopping`.

use super::monitor::{Mode, Monitor};
use crate::{Callback, Context, Logs, Result, Snapshot};

/// Keras' `EarlyStopping(monitor="val_loss", min_delta=0, patience=0, verbose=0,
/// mode="auto", baseline=None, restore_best_weights=False, start_from_epoch=0)`.
///
/// `on_train_begin` resets `wait=0`, `stopped_epoch=0`, `best=None`, `best_weights=None`,
/// `best_epoch=0` (`baseline` is not the starting best). At each `on_epoch_end`:
///
/// ```text
/// cur = logs[monitor]                 (missing: warning listing the keys, then return)
/// if epoch < start_from_epoch: return
/// if restore_best_weights and no best weights yet: keep these weights, best_epoch = epoch
/// wait += 1                           (before the test)
/// if is_improvement(cur, best):
///     best = cur; best_epoch = epoch; restore_best_weights: keep these weights
///     if baseline is None or is_improvement(cur, baseline): wait = 0
///     return                          (an improving epoch never stops)
/// if wait >= patience and epoch > 0:  stopped_epoch = epoch; stop training
/// ```
///
/// `on_train_end`: with `verbose`, prints `Epoch {stopped_epoch+1}: early stopping` when it
/// stopped; with `restore_best_weights`, restores the kept weights (printing
/// `Restoring model weights from the end of the best epoch: {best_epoch+1}.` with
/// `verbose`) **even when training ran to the end without stopping** (Keras 3).
///
/// `restore_best_weights` needs the model's variables in the [`Context`]; a loop that does
/// not provide them fails at `on_train_begin`.
#[derive(Debug, Clone)]
pub struct EarlyStopping {
    /// The log key watched.
    pub monitor: String,
    /// Smallest change that counts as an improvement (its sign is ignored).
    pub min_delta: f64,
    /// Non-improving epochs (counted as above) before stopping.
    pub patience: usize,
    /// 0 silent, >0 prints the stop and the restore.
    pub verbose: u8,
    /// Direction of improvement.
    pub mode: Mode,
    /// A value the monitored quantity must beat for `wait` to reset.
    pub baseline: Option<f64>,
    /// Restore the weights of the best epoch at the end of training.
    pub restore_best_weights: bool,
    /// Epochs ignored entirely at the start (warm-up).
    pub start_from_epoch: usize,
    state: Option<Monitor>,
    wait: usize,
    stopped_epoch: usize,
    best: Option<f64>,
    best_weights: Option<Snapshot>,
    best_epoch: usize,
    warned_missing: bool,
}

impl Default for EarlyStopping {
    fn default() -> Self {
        EarlyStopping {
            monitor: "val_loss".into(),
            min_delta: 0.0,
            patience: 0,
            verbose: 0,
            mode: Mode::Auto,
            baseline: None,
            restore_best_weights: false,
            start_from_epoch: 0,
            state: None,
            wait: 0,
            stopped_epoch: 0,
            best: None,
            best_weights: None,
            best_epoch: 0,
            warned_missing: false,
        }
    }
}

impl EarlyStopping {
    /// Keras' defaults (see the type's docs).
    pub fn new() -> Self {
        EarlyStopping::default()
    }

    /// Sets `monitor`.
    pub fn monitor(mut self, monitor: impl Into<String>) -> Self {
        self.monitor = monitor.into();
        self
    }

    /// Sets `min_delta`.
    pub fn min_delta(mut self, min_delta: f64) -> Self {
        self.min_delta = min_delta;
        self
    }

    /// Sets `patience`.
    pub fn patience(mut self, patience: usize) -> Self {
        self.patience = patience;
        self
    }

    /// Sets `verbose`.
    pub fn verbose(mut self, verbose: u8) -> Self {
        self.verbose = verbose;
        self
    }

    /// Sets `mode`.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Sets `baseline`.
    pub fn baseline(mut self, baseline: Option<f64>) -> Self {
        self.baseline = baseline;
        self
    }

    /// Sets `restore_best_weights`.
    pub fn restore_best_weights(mut self, restore: bool) -> Self {
        self.restore_best_weights = restore;
        self
    }

    /// Sets `start_from_epoch`.
    pub fn start_from_epoch(mut self, epoch: usize) -> Self {
        self.start_from_epoch = epoch;
        self
    }

    /// Keras' `wait`: epochs counted since the last reset.
    pub fn wait(&self) -> usize {
        self.wait
    }

    /// Keras' `stopped_epoch`: the 0-based epoch at which it stopped training, 0 if it did not.
    pub fn stopped_epoch(&self) -> usize {
        self.stopped_epoch
    }

    /// Keras' `best`: the best monitored value (`None` before the first counted epoch).
    pub fn best(&self) -> Option<f64> {
        self.best
    }

    /// Keras' `best_epoch` (0-based).
    pub fn best_epoch(&self) -> usize {
        self.best_epoch
    }

    /// The kept best weights, with `restore_best_weights`.
    pub fn best_weights(&self) -> Option<&Snapshot> {
        self.best_weights.as_ref()
    }
}

impl Callback for EarlyStopping {
    fn needs_batch_logs(&self) -> bool {
        false
    }

    fn name(&self) -> &str {
        "EarlyStopping"
    }

    fn on_train_begin(&mut self, ctx: &mut Context<'_>) -> Result<()> {
        if self.restore_best_weights {
            ctx.model("EarlyStopping")?;
        }
        self.state = Some(Monitor::new("EarlyStopping", self.monitor.clone(), self.mode, self.min_delta));
        self.wait = 0;
        self.stopped_epoch = 0;
        self.best = None;
        self.best_weights = None;
        self.best_epoch = 0;
        self.warned_missing = false;
        Ok(())
    }

    fn on_epoch_end(&mut self, epoch: usize, logs: &mut Logs, ctx: &mut Context<'_>) -> Result<()> {
        let monitor = self
            .state
            .get_or_insert_with(|| Monitor::new("EarlyStopping", self.monitor.clone(), self.mode, self.min_delta));
        monitor.direction()?;
        let Some(current) = logs.get(&self.monitor) else {
            if !self.warned_missing {
                self.warned_missing = true;
                let keys: Vec<&str> = logs.keys().collect();
                eprintln!(
                    "WARNING: Early stopping conditioned on metric `{}` which is not available. Available metrics are: {}",
                    self.monitor,
                    keys.join(",")
                );
            }
            return Ok(());
        };
        if epoch < self.start_from_epoch {
            return Ok(());
        }
        if self.restore_best_weights && self.best_weights.is_none() {
            self.best_weights = Some(ctx.model("EarlyStopping")?.snapshot()?);
            self.best_epoch = epoch;
        }
        self.wait += 1;
        if monitor.is_improvement(current, self.best)? {
            self.best = Some(current);
            self.best_epoch = epoch;
            if self.restore_best_weights {
                self.best_weights = Some(ctx.model("EarlyStopping")?.snapshot()?);
            }
            if self.baseline.is_none() || monitor.is_improvement(current, self.baseline)? {
                self.wait = 0;
            }
            return Ok(());
        }
        if self.wait >= self.patience && epoch > 0 {
            self.stopped_epoch = epoch;
            ctx.stop_training();
        }
        Ok(())
    }

    fn on_train_end(&mut self, _logs: &mut Logs, ctx: &mut Context<'_>) -> Result<()> {
        if self.stopped_epoch > 0 && self.verbose > 0 {
            say!("Epoch {}: early stopping", self.stopped_epoch + 1);
        }
        if self.restore_best_weights {
            if let Some(best) = &self.best_weights {
                if self.verbose > 0 {
                    say!("Restoring model weights from the end of the best epoch: {}.", self.best_epoch + 1);
                }
                ctx.model("EarlyStopping")?.restore(best)?;
            }
        }
        Ok(())
    }
}
