//! Keras' `ReduceLROnPlateau`.

use super::monitor::{Mode, Monitor};
use super::pyfmt::repr_f64;
use crate::{Callback, Context, Error, Logs, Result};

/// Keras' `ReduceLROnPlateau(monitor="val_loss", factor=0.1, patience=10, verbose=0,
/// mode="auto", min_delta=1e-4, cooldown=0, min_lr=0.0)`.
///
/// `on_train_begin` resets `best=None`, `wait=0`, `cooldown_counter=0` (and rejects
/// `factor >= 1.0`, as Keras' constructor does). At each `on_epoch_end`:
///
/// ```text
/// logs["learning_rate"] = optimizer lr            (always; the value before any reduction)
/// cur = logs[monitor]                             (missing: warning, nothing else)
/// if cooldown_counter > 0: cooldown_counter -= 1; wait = 0
/// if is_improvement(cur, best): best = cur; wait = 0
/// elif cooldown_counter == 0:
///     wait += 1
///     if wait >= patience and old_lr > float32(min_lr):
///         new = max(old_lr * factor, min_lr); optimizer lr = new
///         verbose: "\nEpoch {epoch+1}: ReduceLROnPlateau reducing learning rate to {new}."
///         cooldown_counter = cooldown; wait = 0
/// ```
///
/// `is_improvement` is the shared rule of [`Monitor`] (min mode: `cur < best - |min_delta|`).
/// Because the cooldown counter is decremented before it is checked, `cooldown=c` blocks
/// `c-1` epochs. Needs the optimizer in the [`Context`].
#[derive(Debug, Clone)]
pub struct ReduceLROnPlateau {
    /// The log key watched.
    pub monitor: String,
    /// Multiplier of the learning rate at each reduction; must be `< 1.0`.
    pub factor: f64,
    /// Non-improving epochs (counted as above) before a reduction.
    pub patience: usize,
    /// 0 silent, >0 prints a message at each reduction.
    pub verbose: u8,
    /// Direction of improvement.
    pub mode: Mode,
    /// Smallest change that counts as an improvement (its sign is ignored).
    pub min_delta: f64,
    /// Epochs to wait after a reduction before counting again (see the rule above).
    pub cooldown: usize,
    /// Lower bound of the learning rate.
    pub min_lr: f64,
    state: Option<Monitor>,
    best: Option<f64>,
    wait: usize,
    cooldown_counter: usize,
    warned_missing: bool,
}

impl Default for ReduceLROnPlateau {
    fn default() -> Self {
        ReduceLROnPlateau {
            monitor: "val_loss".into(),
            factor: 0.1,
            patience: 10,
            verbose: 0,
            mode: Mode::Auto,
            min_delta: 1e-4,
            cooldown: 0,
            min_lr: 0.0,
            state: None,
            best: None,
            wait: 0,
            cooldown_counter: 0,
            warned_missing: false,
        }
    }
}

impl ReduceLROnPlateau {
    /// Keras' defaults (see the type's docs).
    pub fn new() -> Self {
        ReduceLROnPlateau::default()
    }

    /// Sets `monitor`.
    pub fn monitor(mut self, monitor: impl Into<String>) -> Self {
        self.monitor = monitor.into();
        self
    }

    /// Sets `factor` (checked at `on_train_begin`, or by [`validate`](Self::validate)).
    pub fn factor(mut self, factor: f64) -> Self {
        self.factor = factor;
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

    /// Sets `min_delta`.
    pub fn min_delta(mut self, min_delta: f64) -> Self {
        self.min_delta = min_delta;
        self
    }

    /// Sets `cooldown`.
    pub fn cooldown(mut self, cooldown: usize) -> Self {
        self.cooldown = cooldown;
        self
    }

    /// Sets `min_lr`.
    pub fn min_lr(mut self, min_lr: f64) -> Self {
        self.min_lr = min_lr;
        self
    }

    /// Keras' argument checks: `factor < 1.0` (Keras: "ReduceLROnPlateau does not support
    /// a factor >= 1.0"), and finite, non-negative `min_lr`.
    pub fn validate(&self) -> Result<()> {
        if self.factor.is_nan() || self.factor >= 1.0 {
            return Err(Error::InvalidArgument {
                context: "ReduceLROnPlateau",
                message: format!(
                    "ReduceLROnPlateau does not support a factor >= 1.0. Received factor={}",
                    repr_f64(self.factor)
                ),
            });
        }
        if self.min_lr.is_nan() || self.min_lr < 0.0 || self.min_lr.is_infinite() {
            return Err(Error::InvalidArgument {
                context: "ReduceLROnPlateau",
                message: format!("min_lr must be a finite number >= 0, got {}", repr_f64(self.min_lr)),
            });
        }
        Ok(())
    }

    /// Epochs counted towards `patience` since the last improvement or reduction.
    pub fn wait(&self) -> usize {
        self.wait
    }

    /// The best monitored value so far (`None` before the first).
    pub fn best(&self) -> Option<f64> {
        self.best
    }

    /// Remaining cooldown.
    pub fn cooldown_counter(&self) -> usize {
        self.cooldown_counter
    }
}

impl Callback for ReduceLROnPlateau {
    fn needs_batch_logs(&self) -> bool {
        false
    }

    fn name(&self) -> &str {
        "ReduceLROnPlateau"
    }

    fn on_train_begin(&mut self, ctx: &mut Context<'_>) -> Result<()> {
        self.validate()?;
        ctx.optimizer("ReduceLROnPlateau")?;
        self.state = Some(Monitor::new("ReduceLROnPlateau", self.monitor.clone(), self.mode, self.min_delta));
        self.best = None;
        self.wait = 0;
        self.cooldown_counter = 0;
        self.warned_missing = false;
        Ok(())
    }

    fn on_epoch_end(&mut self, epoch: usize, logs: &mut Logs, ctx: &mut Context<'_>) -> Result<()> {
        let monitor = self
            .state
            .get_or_insert_with(|| Monitor::new("ReduceLROnPlateau", self.monitor.clone(), self.mode, self.min_delta));
        monitor.direction()?;
        let optimizer = ctx.optimizer("ReduceLROnPlateau")?;
        logs.set("learning_rate", optimizer.learning_rate());
        let Some(current) = logs.get(&self.monitor) else {
            if !self.warned_missing {
                self.warned_missing = true;
                let keys: Vec<&str> = logs.keys().collect();
                eprintln!(
                    "WARNING: Learning rate reduction is conditioned on metric `{}` which is not available. Available metrics are: {}.",
                    self.monitor,
                    keys.join(",")
                );
            }
            return Ok(());
        };
        if self.cooldown_counter > 0 {
            self.cooldown_counter -= 1;
            self.wait = 0;
        }
        if monitor.is_improvement(current, self.best)? {
            self.best = Some(current);
            self.wait = 0;
        } else if self.cooldown_counter == 0 {
            self.wait += 1;
            if self.wait >= self.patience {
                let old_lr = optimizer.learning_rate();
                if old_lr > (self.min_lr as f32) as f64 {
                    let new_lr = (old_lr * self.factor).max(self.min_lr);
                    optimizer.set_learning_rate(new_lr);
                    if self.verbose > 0 {
                        say!(
                            "\nEpoch {}: ReduceLROnPlateau reducing learning rate to {}.",
                            epoch + 1,
                            repr_f64(new_lr)
                        );
                    }
                    self.cooldown_counter = self.cooldown;
                    self.wait = 0;
                }
            }
        }
        Ok(())
    }
}
