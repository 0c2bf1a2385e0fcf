//! Keras' `TerminateOnNaN`.

use crate::{Callback, Context, Error, Logs, Result};

/// Keras' `TerminateOnNaN(raise_error=False)`: after each training batch, if `logs["loss"]`
/// is NaN or ±Inf, either fails the run (`raise_error`, Keras' `RuntimeError`, here
/// [`Error::NonFiniteLoss`](crate::Error::NonFiniteLoss)) or prints
/// `Batch {b}: Invalid loss, terminating training` and asks the loop to stop (validation
/// and `on_epoch_end` still run for the current epoch).
///
/// The value checked is the running epoch mean, which stays NaN once a NaN entered it.
#[derive(Debug, Clone, Default)]
pub struct TerminateOnNaN {
    /// Fail with an error instead of stopping quietly.
    pub raise_error: bool,
}

impl TerminateOnNaN {
    /// Keras' defaults (`raise_error=False`).
    pub fn new() -> Self {
        TerminateOnNaN::default()
    }

    /// Sets `raise_error`.
    pub fn raise_error(mut self, raise_error: bool) -> Self {
        self.raise_error = raise_error;
        self
    }
}

impl Callback for TerminateOnNaN {
    fn name(&self) -> &str {
        "TerminateOnNaN"
    }

    fn on_train_batch_end(&mut self, batch: usize, logs: &mut Logs, ctx: &mut Context<'_>) -> Result<()> {
        let Some(loss) = logs.get("loss") else { return Ok(()) };
        if loss.is_finite() {
            return Ok(());
        }
        if self.raise_error {
            return Err(Error::NonFiniteLoss { context: "TerminateOnNaN", batch, loss });
        }
        say!("Batch {batch}: Invalid loss, terminating training");
        ctx.stop_training();
        Ok(())
    }
}
