//! `Trainer::fit_distributed` and the data-parallel parts of a step: gradient
//! reduction, global results.

use candle_nn::{ModuleT, Optimizer};
use wick_callbacks::{History, Logs};
use wick_data::{Batch, Dataset};
use wick_dist::{Communicator, Worker};
use wick_optim::LrControl;

use super::Trainer;
use crate::distributed::Dist;
use crate::error::Result;
use crate::losses::Reduction;
use crate::metrics::Metric;
use crate::options::FitOptions;

impl<M: ModuleT, O: Optimizer + LrControl> Trainer<M, O> {
    /// Data-parallel `fit` (Keras' `MultiWorkerMirroredStrategy`, PyTorch's DDP): every rank
    /// of `comm` runs this with the same model, optimizer, loss, metrics, options and
    /// callbacks, and its own shard of the data ([`wick_data::Sharded`]). The rules:
    ///
    /// * **Start**: the ranks' variables (names, dtypes, shapes, in order) and metrics are
    ///   compared with the chief's (rank 0), and a difference is an
    ///   [`Error::RankMismatch`](crate::Error::RankMismatch) on every rank, naming the variable and both shapes, before
    ///   any step; then every variable is broadcast from the chief.
    /// * **Steps**: a global step is one batch per rank (global batch = per-rank batch ×
    ///   world size). Each rank computes its gradients; they are summed across ranks in
    ///   buckets ([`wick_dist::BUCKET_BYTES`]), each rank weighted by its share of the
    ///   global batch, so the update is the one a single process would make on the
    ///   concatenated batch (for `sum_over_batch_size` losses; `sum` losses are summed).
    ///   The optimizer — and so its learning-rate schedule — steps once per global step on
    ///   every rank. When the shards run out unevenly, ranks without a batch contribute
    ///   nothing to the last step(s) of the epoch, which still run on every rank (as a
    ///   single process's smaller last batch).
    /// * **Logs**: the loss tracker's and every metric's state ([`Metric::state`]) are
    ///   summed across ranks before each epoch log and validation result, so every rank —
    ///   and every callback's decision (EarlyStopping, ReduceLROnPlateau, the best
    ///   checkpoint) — sees the global values. Batch logs are global too when a callback
    ///   reads them (one more small all-reduce per step). Validation is sharded the same way
    ///   (each rank evaluates its shard; the results are reduced); validation batch logs are
    ///   the rank's own running values.
    /// * **Stopping**: `stop_training` set on any rank stops every rank (it is agreed at
    ///   the next step and after each epoch).
    /// * **Side effects**: callbacks whose [`Callback::chief_only`](wick_callbacks::Callback::chief_only) is `true` (TensorBoard,
    ///   CSVLogger, ModelCheckpoint, the progress bar) run on the chief only, and other
    ///   ranks run silently (`verbose = 0`); `BackupAndRestore` writes on the chief and
    ///   restores on every rank ([`Context::worker`](wick_callbacks::Context::worker)).
    /// * **Faults**: a collective that cannot complete (a rank died) ends the process
    ///   through the communicator (MPI's error handler, the launcher, or the watchdog of
    ///   [`wick_dist::collective_timeout`]).
    ///
    /// With [`wick_dist::SingleProcess`] this is exactly [`fit`](Self::fit).
    pub fn fit_distributed(
        &mut self,
        train: &mut dyn Dataset,
        options: FitOptions<'_>,
        comm: &dyn Communicator,
    ) -> Result<History> {
        let dist = Dist::new(comm);
        let metrics: Vec<&dyn Metric> =
            std::iter::once(&self.loss_tracker as &dyn Metric).chain(self.metrics.iter().map(|m| &**m)).collect();
        dist.check(&self.vars, &metrics)?;
        dist.broadcast_vars(&self.vars)?;
        self.worker = dist.worker;
        let result = self.fit_loop(train, options, Some(&dist));
        self.worker = Worker::SINGLE;
        result
    }

    /// [`metrics_result`](Self::metrics_result) over every rank of a distributed run: the
    /// metric states are summed across ranks for the result, then this rank's own are put
    /// back.
    pub(super) fn results(&mut self, dist: Option<&Dist<'_>>) -> Result<Logs> {
        let Some(d) = dist else { return self.metrics_result() };
        self.loss_tracker.sync()?;
        for m in &mut self.metrics {
            m.sync()?;
        }
        let local = d.reduce_states(&mut self.metric_states())?;
        let logs = self.metrics_result();
        Dist::restore(&mut self.metric_states(), &local)?;
        logs
    }

    /// The loss tracker and the metrics, for state reduction.
    fn metric_states(&mut self) -> Vec<&mut dyn Metric> {
        let mut all: Vec<&mut dyn Metric> = vec![&mut self.loss_tracker];
        all.extend(self.metrics.iter_mut().map(|m| &mut **m as &mut dyn Metric));
        all
    }

    /// The data-parallel `train_step`: this rank's forward and backward on its batch (none
    /// when its shard has run out this step), gradients all-reduced with each rank weighted
    /// by its share `n_local / n_global` of the global batch (plain sum for a loss with
    /// `sum` reduction), then the same optimizer step on every rank.
    pub(super) fn train_batch_distributed(&mut self, batch: Option<&Batch>, n_global: f64, d: &Dist<'_>) -> Result<()> {
        let mut n_local = 0.0;
        let grads = match batch {
            Some(b) => {
                let (loss, y_pred) = self.forward_loss(b, true, "train_step")?;
                let scaled = LrControl::scale_loss(&self.optimizer, &loss)?;
                let grads = scaled.backward()?;
                self.update_metrics(b, &loss, &y_pred)?;
                n_local = b.len() as f64;
                Some(grads)
            }
            None => None,
        };
        let weight = match self.loss.reduction() {
            Reduction::Sum => 1.0,
            _ if n_global > 0.0 => n_local / n_global,
            _ => 0.0,
        };
        let store = d.reduce_grads(&self.vars, grads, weight)?;
        self.optimizer.step(&store)?;
        Ok(())
    }
}
