//! [`Trainer`]: Keras' `Model.fit` / `evaluate` / `predict` around a Candle model.

use candle_core::{DType, Tensor};
use candle_nn::{ModuleT, Optimizer, VarMap};
use wick_callbacks::{Callback, CallbackList, Context, History, Logs, ModelVars, Params, ProgressBar, RunState};
use wick_data::{Batch, Dataset};
use wick_dist::Worker;
use wick_optim::LrControl;

use crate::distributed::Dist;

mod data_parallel;
use crate::epoch_iterator::EpochIterator;
use crate::error::{Error, Result};
use crate::losses::{Loss, Reduction};
use crate::metrics::{Mean, Metric};
use crate::options::{EvaluateOptions, FitOptions, PredictOptions, RunOptions, ValidationFreq};

/// The model's variables, from a `VarMap` or as [`ModelVars`].
pub trait IntoModelVars {
    /// The variables (sharing storage with `self`: updates are seen by both).
    fn into_model_vars(self) -> ModelVars;
}

impl IntoModelVars for ModelVars {
    fn into_model_vars(self) -> ModelVars {
        self
    }
}

impl IntoModelVars for &VarMap {
    fn into_model_vars(self) -> ModelVars {
        ModelVars::from_varmap(self)
    }
}

impl IntoModelVars for &ModelVars {
    fn into_model_vars(self) -> ModelVars {
        self.clone()
    }
}

/// Keras' `Model` after `compile`: a Candle model, its variables, an optimizer, a loss
/// and metrics, with `fit`, `evaluate` and `predict` following Keras 3's loop and callback
/// protocol exactly (hook order, running batch logs, validation through the same
/// callbacks, stop flag, `History`, progress bar).
///
/// * `model`: any [`candle_nn::ModuleT`]; a closure `|x, train| …` becomes one with
///   [`candle_nn::func_t`]. `train` is `true` in `fit`'s train steps and `false` in
///   `evaluate`, validation and `predict` (dropout, batch norm).
/// * `vars`: the variables callbacks see (checkpoints, best weights): a `&VarMap` or
///   [`ModelVars`].
/// * `optimizer`: built over the same variables, e.g. `wick_optim::SGD` (any
///   `candle_nn::Optimizer` that also implements [`LrControl`]).
/// * `loss`: a reducing [`Loss`]; its value is logged as `"loss"`.
/// * metrics: added with [`with_metric`](Self::with_metric); each is logged under its
///   [`Metric::name`].
pub struct Trainer<M, O> {
    model: M,
    vars: ModelVars,
    optimizer: O,
    loss: Box<dyn Loss>,
    metrics: Vec<Box<dyn Metric>>,
    loss_tracker: Mean,
    /// Which process of a distributed `fit` this is (rank 0 of 1 otherwise): callbacks see
    /// it through [`Context::worker`].
    worker: Worker,
}

impl<M, O> std::fmt::Debug for Trainer<M, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trainer")
            .field("vars", &self.vars)
            .field("loss", &self.loss.name())
            .field("metrics", &self.metrics.iter().map(|m| m.name().to_string()).collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Calls hook `$name` of `$cbs` with a fresh `Context` on the trainer's variables and
/// optimizer.
macro_rules! hook {
    ($self:ident, $cbs:expr, $params:expr, $state:expr, $name:ident($($arg:expr),*)) => {{
        let optimizer: &mut dyn LrControl = &mut $self.optimizer;
        let mut ctx = Context::new($params, &mut *$state, Some(&$self.vars), Some(optimizer)).with_worker($self.worker);
        $cbs.$name($($arg,)* &mut ctx)?;
    }};
}

impl<M: ModuleT, O: Optimizer + LrControl> Trainer<M, O> {
    /// Keras' `model.compile(optimizer, loss)`: a trainer with no metrics (add them with
    /// [`with_metric`](Self::with_metric)). The loss must reduce to a scalar (any
    /// reduction but [`Reduction::None`]).
    pub fn new(model: M, vars: impl IntoModelVars, optimizer: O, loss: impl Loss + 'static) -> Result<Self> {
        Self::with_boxed_loss(model, vars, optimizer, Box::new(loss))
    }

    /// [`new`](Self::new) with a boxed loss.
    pub fn with_boxed_loss(model: M, vars: impl IntoModelVars, optimizer: O, loss: Box<dyn Loss>) -> Result<Self> {
        if loss.reduction() == Reduction::None {
            return Err(Error::invalid(
                "Trainer",
                format!(
                    "the loss {} uses reduction `none`; training needs a scalar loss (e.g. sum_over_batch_size)",
                    loss.name()
                ),
            ));
        }
        Ok(Trainer {
            model,
            vars: vars.into_model_vars(),
            optimizer,
            loss,
            metrics: Vec::new(),
            loss_tracker: Mean::named("loss"),
            worker: Worker::SINGLE,
        })
    }

    /// Adds a metric (Keras `metrics=[…]`); it is logged under [`Metric::name`].
    pub fn with_metric(mut self, metric: impl Metric + 'static) -> Self {
        self.metrics.push(Box::new(metric));
        self
    }

    /// Adds boxed metrics, in order.
    pub fn with_metrics(mut self, metrics: Vec<Box<dyn Metric>>) -> Self {
        self.metrics.extend(metrics);
        self
    }

    /// The model.
    pub fn model(&self) -> &M {
        &self.model
    }

    /// The model's variables (as callbacks see them).
    pub fn model_vars(&self) -> &ModelVars {
        &self.vars
    }

    /// The optimizer.
    pub fn optimizer(&self) -> &O {
        &self.optimizer
    }

    /// The optimizer, mutably (e.g. to change the learning rate between runs).
    pub fn optimizer_mut(&mut self) -> &mut O {
        &mut self.optimizer
    }

    /// The loss.
    pub fn loss(&self) -> &dyn Loss {
        self.loss.as_ref()
    }

    /// The metrics, in order.
    pub fn metrics(&self) -> &[Box<dyn Metric>] {
        &self.metrics
    }

    /// The model, variables and optimizer back.
    pub fn into_parts(self) -> (M, ModelVars, O) {
        (self.model, self.vars, self.optimizer)
    }

    /// Keras' `model.reset_metrics()`: clears the loss tracker and every metric.
    pub fn reset_metrics(&mut self) {
        self.loss_tracker.reset_state();
        for m in &mut self.metrics {
            m.reset_state();
        }
    }

    /// The current results: `"loss"` and each metric's value, sorted by key (what the
    /// hooks receive). Reads totals kept on a GPU back first ([`Metric::sync`]): one small
    /// device → host copy per metric, which waits for the queued steps to finish.
    pub fn metrics_result(&mut self) -> Result<Logs> {
        self.loss_tracker.sync()?;
        for m in &mut self.metrics {
            m.sync()?;
        }
        let pairs = std::iter::once(("loss".to_string(), self.loss_tracker.result()))
            .chain(self.metrics.iter().map(|m| (m.name().to_string(), m.result())));
        Ok(Logs::sorted(pairs))
    }

    /// Forward pass, loss and metric updates of one batch; returns the loss (unscaled)
    /// and the predictions.
    fn forward_loss(&mut self, batch: &Batch, train: bool, context: &'static str) -> Result<(Tensor, Tensor)> {
        let y = batch.y.as_ref().ok_or_else(|| {
            Error::invalid(context, "the batch has no targets `y` (inputs-only data can only be used with predict)")
        })?;
        let sample_weight = batch.sample_weight.as_ref().map(float_weights).transpose()?;
        let y_pred = self.model.forward_t(&batch.x, train)?;
        let loss = self.loss.call(y, &y_pred, sample_weight.as_ref())?;
        if loss.rank() != 0 {
            return Err(Error::invalid(
                context,
                format!("the loss {} returned shape {:?}; it must reduce to a scalar", self.loss.name(), loss.dims()),
            ));
        }
        Ok((loss, y_pred))
    }

    /// Loss tracker and metric updates after a step (Keras' `compute_metrics`). On a GPU the
    /// loss tracker and the accuracy metrics add to device-side totals: nothing is read back
    /// here (see [`metrics_result`](Self::metrics_result)).
    fn update_metrics(&mut self, batch: &Batch, loss: &Tensor, y_pred: &Tensor) -> Result<()> {
        let n = batch.len();
        self.loss_tracker.update_tensor(loss, n as f64)?;
        let y_pred = y_pred.detach();
        let sample_weight = batch.sample_weight.as_ref().map(float_weights).transpose()?;
        if let Some(y) = batch.y.as_ref() {
            for m in &mut self.metrics {
                m.update_state(y, &y_pred, sample_weight.as_ref())?;
            }
        }
        Ok(())
    }

    /// Keras' `train_step`: forward (training mode), loss, `optimizer.scale_loss`,
    /// backward, one optimizer step, then the loss tracker (sample-count-weighted) and the
    /// metrics on this batch's predictions. Returns the running results.
    ///
    /// Returning the results reads them back from the device on a GPU; `fit` does that only
    /// when a callback needs batch logs ([`Callback::needs_batch_logs`]).
    pub fn train_step(&mut self, batch: &Batch) -> Result<Logs> {
        self.train_batch(batch)?;
        self.metrics_result()
    }

    /// [`train_step`](Self::train_step) without building the results.
    fn train_batch(&mut self, batch: &Batch) -> Result<()> {
        let (loss, y_pred) = self.forward_loss(batch, true, "train_step")?;
        let scaled = LrControl::scale_loss(&self.optimizer, &loss)?;
        self.optimizer.backward_step(&scaled)?;
        self.update_metrics(batch, &loss, &y_pred)
    }

    /// Keras' `test_step`: forward (inference mode), loss, metrics; no update. Returns the
    /// running results (read back from the device on a GPU).
    pub fn test_step(&mut self, batch: &Batch) -> Result<Logs> {
        self.test_batch(batch)?;
        self.metrics_result()
    }

    /// [`test_step`](Self::test_step) without building the results.
    fn test_batch(&mut self, batch: &Batch) -> Result<()> {
        let (loss, y_pred) = self.forward_loss(batch, false, "test_step")?;
        self.update_metrics(batch, &loss, &y_pred)
    }

    /// The batch logs for `on_*_batch_end`: the running results when a callback reads them
    /// (over all ranks when `dist` is given), else empty (the totals stay on the device
    /// until the epoch ends).
    fn batch_logs(&mut self, needed: bool, dist: Option<&Dist<'_>>) -> Result<Logs> {
        if needed {
            self.results(dist)
        } else {
            Ok(Logs::default())
        }
    }

    /// Keras' `predict_step`: the model's output in inference mode.
    pub fn predict_step(&self, batch: &Batch) -> Result<Tensor> {
        Ok(self.model.forward_t(&batch.x, false)?)
    }

    /// Keras' `model.fit`: trains on `train` for `options.epochs` epochs and returns the
    /// run's [`History`].
    ///
    /// The loop (Keras 3, `steps_per_execution = 1`):
    ///
    /// ```text
    /// callbacks = user callbacks + History + ProgressBar (verbose > 0)
    /// on_train_begin                      (may raise ctx.state.initial_epoch / initial_step)
    /// for epoch in initial_epoch..epochs:
    ///     reset metrics; on_epoch_begin(epoch)
    ///     for each batch b: on_train_batch_begin(b); train_step; on_train_batch_end(b, running logs)
    ///                       stop if ctx.state.stop_training
    ///     logs = train results (+ val_* from evaluate through the same callbacks, if due)
    ///     on_epoch_end(epoch, logs); stop if ctx.state.stop_training
    /// optimizer.finalize_variable_values()   (EMA)
    /// on_train_end(last epoch's logs)
    /// ```
    ///
    /// A callback's error aborts the run at once and is returned
    /// ([`Error::Callback`]); `on_train_end` is then not called (as in Keras).
    /// `ctx.state.global_step` counts training batches: in `on_train_batch_end` it
    /// includes the batch just run.
    ///
    /// **Device → host reads** (they matter on a GPU, where each one waits for the queued
    /// work; on the CPU they cost nothing). A step queues its forward, backward, optimizer
    /// update and the loss/accuracy running totals on the device and reads nothing back,
    /// unless:
    /// * a callback reads batch logs ([`Callback::needs_batch_logs`]: the progress bar at
    ///   verbose 1, TensorBoard with batch-wise `update_freq`, batch-wise
    ///   `ModelCheckpoint`, `TerminateOnNaN`, and user callbacks unless they say otherwise):
    ///   then the running results are read after every batch, as Keras does;
    /// * a metric computes on the host (confusion-matrix metrics, top-k accuracies, unusual
    ///   shapes: see [`crate::metrics`]): it reads its inputs every batch;
    /// * the optimizer needs a value (`LossScaleOptimizer` reads whether the gradients are
    ///   finite, once per step).
    ///
    /// Otherwise the totals are read once at the end of each epoch and of each validation,
    /// and callbacks read variables only when they write them (checkpoints, histograms).
    pub fn fit(&mut self, train: &mut dyn Dataset, options: FitOptions<'_>) -> Result<History> {
        self.fit_loop(train, options, None)
    }

    /// `fit`'s loop, on one process (`dist` is `None`) or on every rank of a distributed run.
    fn fit_loop(
        &mut self,
        train: &mut dyn Dataset,
        options: FitOptions<'_>,
        dist: Option<&Dist<'_>>,
    ) -> Result<History> {
        let FitOptions {
            epochs,
            steps_per_epoch,
            mut validation_data,
            validation_steps,
            validation_freq,
            initial_epoch,
            shuffle,
            mut verbose,
            mut callbacks,
        } = options;
        if steps_per_epoch == Some(0) {
            return Err(Error::invalid("fit", "steps_per_epoch must be positive; received 0"));
        }
        if validation_steps == Some(0) {
            return Err(Error::invalid("fit", "validation_steps must be positive; received 0"));
        }
        if validation_freq == ValidationFreq::Every(0) {
            return Err(Error::invalid("fit", "validation_freq must be positive; received 0"));
        }
        if !self.worker.is_chief() {
            // Keras' multi-worker rule: side effects on the chief only.
            callbacks.retain(|c| !c.chief_only());
            verbose = 0;
        }
        let mut train_iter = EpochIterator::new(train, steps_per_epoch, shuffle, "fit", "training");
        let mut val_iter =
            validation_data.as_deref().map(|v| EpochIterator::new(v, validation_steps, false, "fit", "validation"));

        let history = History::new();
        let mut cbs = self.callback_list(callbacks, Some(&history), verbose);
        let params = Params { verbose, epochs, steps: train_iter.steps() };
        let mut state = RunState { initial_epoch, ..RunState::default() };

        hook!(self, cbs, &params, &mut state, on_train_begin());
        let batch_logs = cbs.needs_batch_logs();
        let start = state.initial_epoch;
        // A backup taken mid-epoch (BackupAndRestore with step-wise saving) resumes at its
        // batch: the first `resume_step` batches of the first epoch were already trained.
        // Shuffling depends only on (seed, epoch), so the remaining batches are the same.
        let resume_step = std::mem::take(&mut state.initial_step);
        let mut last_epoch_logs: Option<Logs> = None;
        for epoch in start..epochs {
            train_iter.begin_epoch(train, epoch)?;
            self.reset_metrics();
            state.epoch = epoch;
            hook!(self, cbs, &params, &mut state, on_epoch_begin(epoch));
            let skip = if epoch == start { resume_step } else { 0 };
            let mut step = 0;
            loop {
                let batch = train_iter.next(train, step)?;
                // Distributed: [ranks with a batch, samples in the global batch, stop votes].
                let mut global = [0.0; 3];
                if let Some(d) = dist {
                    global =
                        [f64::from(u8::from(batch.is_some())), batch.as_ref().map_or(0.0, |b| b.len() as f64), 0.0];
                    global[2] = f64::from(u8::from(state.stop_training));
                    d.agree(&mut global)?;
                    if global[2] > 0.0 {
                        state.stop_training = true;
                        break;
                    }
                    if global[0] == 0.0 {
                        break;
                    }
                } else if batch.is_none() {
                    break;
                }
                if step < skip {
                    step += 1;
                    continue;
                }
                hook!(self, cbs, &params, &mut state, on_train_batch_begin(step));
                match (dist, &batch) {
                    (Some(d), _) => self.train_batch_distributed(batch.as_ref(), global[1], d)?,
                    (None, Some(b)) => self.train_batch(b)?,
                    (None, None) => break,
                }
                let mut logs = self.batch_logs(batch_logs, dist)?;
                state.global_step += 1;
                hook!(self, cbs, &params, &mut state, on_train_batch_end(step, &mut logs));
                step += 1;
                // Distributed runs agree on the stop flag at the next step.
                if state.stop_training && dist.is_none() {
                    break;
                }
            }
            train_iter.end_epoch();
            if let Some(d) = dist {
                d.broadcast_non_trainable(&self.vars)?;
            }
            // The training results, captured before validation resets the metrics.
            let mut epoch_logs = self.results(dist)?;
            if let (Some(val), Some(val_iter)) = (validation_data.as_deref_mut(), val_iter.as_mut()) {
                if validation_freq.should_eval(epoch) {
                    let val_logs = self.run_evaluate(val, val_iter, &mut cbs, &params, &mut state, dist)?;
                    epoch_logs.merge_prefixed("val_", &val_logs);
                }
            }
            // Callbacks share one copy (a key one adds is seen by the later ones); the
            // loop keeps its own for on_train_end, as Keras does.
            let mut cb_logs = epoch_logs.clone();
            hook!(self, cbs, &params, &mut state, on_epoch_end(epoch, &mut cb_logs));
            last_epoch_logs = Some(epoch_logs);
            if let Some(d) = dist {
                let mut stop = [f64::from(u8::from(state.stop_training))];
                d.agree(&mut stop)?;
                state.stop_training = stop[0] > 0.0;
            }
            if state.stop_training {
                break;
            }
        }
        self.optimizer.finalize_variable_values()?;
        let mut end_logs = last_epoch_logs.unwrap_or_default();
        hook!(self, cbs, &params, &mut state, on_train_end(&mut end_logs));
        Ok(history)
    }

    /// The callback list of a run: the user's callbacks, then `History` (fit), then the
    /// progress bar when `verbose > 0` and the user supplied none.
    fn callback_list(&self, callbacks: Vec<Box<dyn Callback>>, history: Option<&History>, verbose: u8) -> CallbackList {
        let has_progress_bar = callbacks.iter().any(|c| c.name() == "ProgbarLogger");
        let mut cbs = CallbackList::from(callbacks);
        if let Some(history) = history {
            cbs.push(Box::new(history.clone()));
        }
        if verbose > 0 && !has_progress_bar {
            cbs.push(Box::new(ProgressBar::new()));
        }
        cbs
    }

    /// Evaluation through `cbs` (standalone, or the validation inside `fit`): returns the
    /// final results, unprefixed.
    fn run_evaluate(
        &mut self,
        data: &mut dyn Dataset,
        iter: &mut EpochIterator,
        cbs: &mut CallbackList,
        params: &Params,
        state: &mut RunState,
        dist: Option<&Dist<'_>>,
    ) -> Result<Logs> {
        iter.begin_epoch(data, 0)?;
        self.reset_metrics();
        hook!(self, cbs, params, state, on_test_begin());
        let batch_logs = cbs.needs_batch_logs();
        let mut step = 0;
        while let Some(batch) = iter.next(data, step)? {
            hook!(self, cbs, params, state, on_test_batch_begin(step));
            self.test_batch(&batch)?;
            // Validation batch logs stay this rank's own: no collective per step.
            let mut logs = self.batch_logs(batch_logs, None)?;
            hook!(self, cbs, params, state, on_test_batch_end(step, &mut logs));
            step += 1;
        }
        iter.end_epoch();
        let logs = self.results(dist)?;
        let mut cb_logs = logs.clone();
        hook!(self, cbs, params, state, on_test_end(&mut cb_logs));
        Ok(logs)
    }

    /// Keras' `model.evaluate(…, return_dict=True)`: the loss and metrics over `data`
    /// (never shuffled), with `on_test_begin`, `on_test_batch_begin/end` (running logs) and
    /// `on_test_end` (final logs) on `options.callbacks` (then the progress bar when
    /// `verbose > 0`). Resets the metrics first.
    pub fn evaluate(&mut self, data: &mut dyn Dataset, options: EvaluateOptions) -> Result<Logs> {
        let RunOptions { steps, verbose, callbacks } = options;
        if steps == Some(0) {
            return Err(Error::invalid("evaluate", "steps must be positive; received 0"));
        }
        let mut iter = EpochIterator::new(data, steps, false, "evaluate", "evaluation");
        let mut cbs = self.callback_list(callbacks, None, verbose);
        let params = Params { verbose, epochs: 1, steps: iter.steps() };
        let mut state = RunState::default();
        self.run_evaluate(data, &mut iter, &mut cbs, &params, &mut state, None)
    }

    /// Keras' `model.predict`: the model's outputs (inference mode) over `data`, never
    /// shuffled, concatenated along axis 0; targets in `data` are ignored. Hooks:
    /// `on_predict_begin`, `on_predict_batch_begin(b)`, `on_predict_batch_end(b, outputs)`,
    /// `on_predict_end`.
    pub fn predict(&mut self, data: &mut dyn Dataset, options: PredictOptions) -> Result<Tensor> {
        let RunOptions { steps, verbose, callbacks } = options;
        if steps == Some(0) {
            return Err(Error::invalid("predict", "steps must be positive; received 0"));
        }
        let mut iter = EpochIterator::new(data, steps, false, "predict", "prediction");
        let mut cbs = self.callback_list(callbacks, None, verbose);
        let params = Params { verbose, epochs: 1, steps: iter.steps() };
        let mut state = RunState::default();
        iter.begin_epoch(data, 0)?;
        hook!(self, cbs, &params, &mut state, on_predict_begin());
        let mut outputs = Vec::new();
        let mut step = 0;
        while let Some(batch) = iter.next(data, step)? {
            hook!(self, cbs, &params, &mut state, on_predict_batch_begin(step));
            let out = self.predict_step(&batch)?;
            hook!(self, cbs, &params, &mut state, on_predict_batch_end(step, &out));
            outputs.push(out);
            step += 1;
        }
        hook!(self, cbs, &params, &mut state, on_predict_end());
        Ok(Tensor::cat(&outputs, 0)?)
    }
}

/// Casts integer sample weights to `f32` (float weights are kept as they are).
fn float_weights(w: &Tensor) -> Result<Tensor> {
    Ok(if w.dtype().is_float() { w.clone() } else { w.to_dtype(DType::F32)? })
}
