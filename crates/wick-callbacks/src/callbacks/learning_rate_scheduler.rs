//! Keras' `LearningRateScheduler`.

use super::pyfmt::repr_f64;
use crate::{Callback, Context, Error, Logs, Result};

type Schedule = Box<dyn FnMut(usize, f64) -> f64>;

/// Keras' `LearningRateScheduler(schedule, verbose=0)`.
///
/// * `on_epoch_begin(epoch)`: `lr = schedule(epoch, current_lr)` (`epoch` 0-based,
///   `current_lr` the optimizer's float32 learning rate as f64), then the optimizer's
///   learning rate is set to `lr`. With `verbose > 0` it prints
///   `\nEpoch {epoch+1}: LearningRateScheduler setting learning rate to {lr}.`
/// * `on_epoch_end`: writes `logs["learning_rate"]` = the optimizer's learning rate, so
///   History, CSVLogger and the progress bar see it.
///
/// Needs the optimizer in the [`Context`]. A schedule result that is not finite is an
/// error naming the epoch and the value (Keras rejects non-float results).
pub struct LearningRateScheduler {
    schedule: Schedule,
    /// 0 silent, >0 prints a message at every change.
    pub verbose: u8,
}

impl LearningRateScheduler {
    /// `schedule(epoch, lr) -> new lr`; `verbose=0`.
    pub fn new(schedule: impl FnMut(usize, f64) -> f64 + 'static) -> Self {
        LearningRateScheduler { schedule: Box::new(schedule), verbose: 0 }
    }

    /// A schedule of the epoch only (Keras' fallback to `schedule(epoch)`).
    pub fn from_epoch(mut schedule: impl FnMut(usize) -> f64 + 'static) -> Self {
        Self::new(move |epoch, _lr| schedule(epoch))
    }

    /// Sets `verbose`.
    pub fn verbose(mut self, verbose: u8) -> Self {
        self.verbose = verbose;
        self
    }
}

impl std::fmt::Debug for LearningRateScheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LearningRateScheduler").field("verbose", &self.verbose).finish_non_exhaustive()
    }
}

impl Callback for LearningRateScheduler {
    fn needs_batch_logs(&self) -> bool {
        false
    }

    fn name(&self) -> &str {
        "LearningRateScheduler"
    }

    fn on_epoch_begin(&mut self, epoch: usize, ctx: &mut Context<'_>) -> Result<()> {
        let optimizer = ctx.optimizer("LearningRateScheduler")?;
        let lr = (self.schedule)(epoch, optimizer.learning_rate());
        if !lr.is_finite() {
            return Err(Error::InvalidArgument {
                context: "LearningRateScheduler",
                message: format!(
                    "the schedule returned learning rate {} at epoch {epoch}; it must be a finite number",
                    repr_f64(lr)
                ),
            });
        }
        optimizer.set_learning_rate(lr);
        if self.verbose > 0 {
            say!("\nEpoch {}: LearningRateScheduler setting learning rate to {}.", epoch + 1, repr_f64(lr));
        }
        Ok(())
    }

    fn on_epoch_end(&mut self, _epoch: usize, logs: &mut Logs, ctx: &mut Context<'_>) -> Result<()> {
        let lr = ctx.optimizer("LearningRateScheduler")?.learning_rate();
        logs.set("learning_rate", lr);
        Ok(())
    }
}
