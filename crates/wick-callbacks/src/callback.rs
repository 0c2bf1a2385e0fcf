//! The `Callback` trait: every Keras hook, each a no-op by default.

use crate::context::Context;
use crate::logs::Logs;
use crate::Result;
use candle_core::Tensor;

/// A Keras callback. A training loop calls the hooks in Keras' order (see the crate docs);
/// each returns `Result` so a failing callback (a disk error in a checkpoint, say) stops
/// the run with that error.
///
/// Begin hooks get no logs (Keras passes `{}`). End hooks get the logs mutably: a key a
/// callback adds (e.g. `learning_rate`) is seen by every later callback.
#[allow(unused_variables)]
pub trait Callback {
    /// A short name for messages (the Keras class name for built-in callbacks).
    fn name(&self) -> &str {
        "Callback"
    }

    /// Whether this callback reads the logs passed to `on_train_batch_end` and
    /// `on_test_batch_end`. The loop asks after the begin hook of a run (`on_train_begin`,
    /// or `on_test_begin` for a standalone `evaluate`), so the answer may depend on the run's
    /// parameters.
    ///
    /// When no callback of the list needs them, the batch hooks receive **empty** logs and
    /// the loop leaves the running loss and metric totals where they are computed (on the
    /// GPU, say) until the epoch ends, instead of reading them back after every batch; the
    /// epoch-end logs are the same either way. The default is `true` (always correct);
    /// callbacks that only act at epoch boundaries, or only count batches, return `false`.
    fn needs_batch_logs(&self) -> bool {
        true
    }

    /// Whether this callback has side effects that only the chief may have in a
    /// distributed run (Keras' multi-worker rule): writing logs, checkpoints or the
    /// progress bar. A distributed `fit` calls a chief-only callback on rank 0 and leaves
    /// it out on the other ranks. TensorBoard, CSVLogger, ModelCheckpoint and the progress
    /// bar return `true`; the default is `false` (called on every rank, which is right for
    /// callbacks that decide from the logs, as every rank sees the same global logs).
    fn chief_only(&self) -> bool {
        false
    }

    /// Start of `fit`, after `Context::params` are set.
    fn on_train_begin(&mut self, ctx: &mut Context<'_>) -> Result<()> {
        Ok(())
    }

    /// End of `fit`, with the last epoch's logs (empty when no epoch ran).
    fn on_train_end(&mut self, logs: &mut Logs, ctx: &mut Context<'_>) -> Result<()> {
        Ok(())
    }

    /// Start of epoch `epoch` (0-based).
    fn on_epoch_begin(&mut self, epoch: usize, ctx: &mut Context<'_>) -> Result<()> {
        Ok(())
    }

    /// End of epoch `epoch`: training results plus `val_*` results when validation ran.
    fn on_epoch_end(&mut self, epoch: usize, logs: &mut Logs, ctx: &mut Context<'_>) -> Result<()> {
        Ok(())
    }

    /// Before training batch `batch` (0-based within the epoch).
    fn on_train_batch_begin(&mut self, batch: usize, ctx: &mut Context<'_>) -> Result<()> {
        Ok(())
    }

    /// After training batch `batch`, with running values over the epoch so far.
    fn on_train_batch_end(&mut self, batch: usize, logs: &mut Logs, ctx: &mut Context<'_>) -> Result<()> {
        Ok(())
    }

    /// Start of evaluation (also the validation inside `fit`).
    fn on_test_begin(&mut self, ctx: &mut Context<'_>) -> Result<()> {
        Ok(())
    }

    /// End of evaluation, with its final (unprefixed) results.
    fn on_test_end(&mut self, logs: &mut Logs, ctx: &mut Context<'_>) -> Result<()> {
        Ok(())
    }

    /// Before evaluation batch `batch`.
    fn on_test_batch_begin(&mut self, batch: usize, ctx: &mut Context<'_>) -> Result<()> {
        Ok(())
    }

    /// After evaluation batch `batch`, with running (unprefixed) values.
    fn on_test_batch_end(&mut self, batch: usize, logs: &mut Logs, ctx: &mut Context<'_>) -> Result<()> {
        Ok(())
    }

    /// Start of `predict`.
    fn on_predict_begin(&mut self, ctx: &mut Context<'_>) -> Result<()> {
        Ok(())
    }

    /// End of `predict`.
    fn on_predict_end(&mut self, ctx: &mut Context<'_>) -> Result<()> {
        Ok(())
    }

    /// Before prediction batch `batch`.
    fn on_predict_batch_begin(&mut self, batch: usize, ctx: &mut Context<'_>) -> Result<()> {
        Ok(())
    }

    /// After prediction batch `batch`, with the batch's outputs (Keras' `logs["outputs"]`).
    fn on_predict_batch_end(&mut self, batch: usize, outputs: &Tensor, ctx: &mut Context<'_>) -> Result<()> {
        Ok(())
    }
}
