//! `TensorBoard`: Keras' TensorBoard callback, writing the same runs, tags and steps.

use crate::callback::Callback;
use crate::context::Context;
use crate::logs::Logs;
use crate::model_summary::ModelSummary;
use crate::model_vars::ModelVars;
use crate::{Error, Result};
use candle_core::DType;
use std::path::{Path, PathBuf};
use std::time::Instant;
use wick_tfevents::summary::graph::KERAS_MODEL_TAG;
use wick_tfevents::summary::hparams::{HParamValue, SessionStatus};
use wick_tfevents::summary::image::Image;
use wick_tfevents::SummaryWriter;

const NAME: &str = "TensorBoard";
/// The text tag of the model summary table (with [`TensorBoard::model_summary`]).
pub const MODEL_SUMMARY_TAG: &str = "model_summary";

/// How often `TensorBoard` writes batch-level scalars (Keras' `update_freq`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UpdateFreq {
    /// Only epoch-level summaries (Keras' `"epoch"`, the default).
    #[default]
    Epoch,
    /// Also `batch_<key>` every `n` training batches (Keras' integer `update_freq`;
    /// `Batches(1)` is Keras' `"batch"`).
    Batches(usize),
}

/// Keras' `TensorBoard` callback: logs for TensorBoard in Keras' layout.
///
/// Runs and tags (steps as in Keras 3):
///
/// | run | tag | step |
/// |---|---|---|
/// | `LOG_DIR/train` | `keras`: the conceptual graph, for the Graphs tab (with [`model_summary`](Self::model_summary) and [`write_graph`](Self::write_graph), the default) | 0 |
/// | `LOG_DIR/train` | `model_summary`: the summary table as text (with [`model_summary`](Self::model_summary)) | 0 |
/// | `LOG_DIR/train` | `epoch_<key>` for each log key not starting with `val_` | epoch (0-based) |
/// | `LOG_DIR/train` | `epoch_learning_rate` (the optimizer's rate at epoch end, when the loop provides an optimizer) | epoch |
/// | `LOG_DIR/train` | `epoch_loss_scale` (the dynamic loss scale at epoch end, when the optimizer has one: [`LrControl::loss_scale`](wick_optim::LrControl::loss_scale), e.g. a `LossScaleOptimizer`) | epoch |
/// | `LOG_DIR/train` | `epoch_steps_per_second` (with [`write_steps_per_second`](Self::write_steps_per_second)) | epoch |
/// | `LOG_DIR/train` | `batch_<key>` (running epoch values) and `batch_steps_per_second`, with [`UpdateFreq::Batches`]`(n)` when `g % n == 0` | global batch counter `g`, from 1 |
/// | `LOG_DIR/train` | `<variable name, '.' and ':' → '/'>/histogram` every `histogram_freq` epochs (epoch 0 included) | epoch |
/// | `LOG_DIR/train` | `<variable name>/image` (with [`write_images`](Self::write_images)) | epoch |
/// | `LOG_DIR/validation` | `epoch_<key>` for each `val_<key>` | epoch |
/// | `LOG_DIR/validation` | `evaluation_<key>_vs_iterations` at each `on_test_end` | optimizer iterations |
/// | `LOG_DIR` | hparams session start / end (with [`hparams`](Self::hparams)) | 0 |
///
/// Differences from Keras, on purpose:
/// * With `UpdateFreq::Batches(n)`, Keras drops epoch-level summaries unless the last batch
///   counter is a multiple of `n` (a side effect of its `record_if`); here they are always
///   written.
/// * `g` continues from `ctx.state.global_step` as it is at the first epoch start, so a run
///   resumed by `BackupAndRestore` (which restores it) keeps increasing steps.
/// * Images: a weight whose shape, without its size-1 axes, is 1-D (`[N]` → a 1×N image)
///   or 2-D (`[H, W]`, transposed when `H > W`, as Keras does) is written as a gray image,
///   min–max scaled to `[0, 1]` so its pattern is visible (Keras clamps the raw values to
///   `[0, 1]`). Weights of other ranks get no image.
/// * The `validation` writer is opened at the first validation write (so a run without
///   validation data leaves no empty `validation` run); both folders are created at
///   `on_train_begin`, so an unusable log directory fails at the start.
/// * The graph is Keras' conceptual graph (tag `keras`, as Keras writes it), drawn from the
///   [`ModelSummary`] the program passes, since a Candle model cannot describe its layers
///   itself; without one no graph is written. There is no op-level graph, profiler or
///   embeddings output. The `model_summary` text is wick's (Keras prints the table only).
/// * `epoch_loss_scale` is wick's: Keras does not log the loss scale.
///
/// Hyper-parameters ([`hparams`](Self::hparams)) follow the TensorBoard HParams model:
/// the session start is written in `LOG_DIR` itself (the run holding `train/` and
/// `validation/`), so the dashboard finds the metrics as `epoch_*` tags of the groups
/// `train` and `validation`; the session end (status `SUCCESS`) is written at
/// `on_train_end`, or `FAILURE` when the callback is dropped without it (the run ended
/// with an error). No experiment is written: TensorBoard infers the columns, and several
/// runs (one per `LOG_DIR`) under one log root then share one table.
///
/// Everything is flushed at each epoch end and closed at `on_train_end`.
///
/// ```no_run
/// use wick_callbacks::{TensorBoard, UpdateFreq};
/// let tb = TensorBoard::new("logs/fit/run1")
///     .update_freq(UpdateFreq::Batches(10))
///     .histogram_freq(1)
///     .write_steps_per_second(true)
///     .hparams([("lr", 0.01.into()), ("optimizer", "adam".into())]);
/// ```
pub struct TensorBoard {
    log_dir: PathBuf,
    update_freq: UpdateFreq,
    histogram_freq: usize,
    write_images: bool,
    write_steps_per_second: bool,
    hparams: Option<Vec<(String, HParamValue)>>,
    hparams_group: String,
    model_summary: Option<ModelSummary>,
    write_graph: bool,
    train: Option<SummaryWriter>,
    validation: Option<SummaryWriter>,
    session: Option<SummaryWriter>,
    in_fit: bool,
    counter_pending: bool,
    global_batch: u64,
    epoch_start: Option<EpochStart>,
    batch_start: Option<Instant>,
}

struct EpochStart {
    time: Instant,
    iterations: Option<u64>,
    batches: u64,
}

impl std::fmt::Debug for TensorBoard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TensorBoard")
            .field("log_dir", &self.log_dir)
            .field("update_freq", &self.update_freq)
            .field("histogram_freq", &self.histogram_freq)
            .field("write_images", &self.write_images)
            .field("write_steps_per_second", &self.write_steps_per_second)
            .field("hparams", &self.hparams)
            .field("model_summary", &self.model_summary.as_ref().map(|m| &m.name))
            .field("write_graph", &self.write_graph)
            .finish_non_exhaustive()
    }
}

impl TensorBoard {
    /// Logs into `log_dir` (runs `log_dir/train` and `log_dir/validation`), with Keras'
    /// defaults: epoch-level scalars only, no histograms, no images.
    pub fn new(log_dir: impl AsRef<Path>) -> Self {
        TensorBoard {
            log_dir: log_dir.as_ref().to_path_buf(),
            update_freq: UpdateFreq::Epoch,
            histogram_freq: 0,
            write_images: false,
            write_steps_per_second: false,
            hparams: None,
            hparams_group: String::new(),
            model_summary: None,
            write_graph: true,
            train: None,
            validation: None,
            session: None,
            in_fit: false,
            counter_pending: true,
            global_batch: 0,
            epoch_start: None,
            batch_start: None,
        }
    }

    /// The log directory.
    pub fn log_dir(&self) -> &Path {
        &self.log_dir
    }

    /// Batch-level scalars: [`UpdateFreq::Epoch`] (none, the default) or every `n` batches.
    pub fn update_freq(mut self, freq: UpdateFreq) -> Self {
        self.update_freq = freq;
        self
    }

    /// Histograms of every model variable every `n` epochs (0, the default: none). Needs
    /// the model's variables in the context.
    pub fn histogram_freq(mut self, n: usize) -> Self {
        self.histogram_freq = n;
        self
    }

    /// Also write weights as images when histograms are written (see the type docs).
    pub fn write_images(mut self, on: bool) -> Self {
        self.write_images = on;
        self
    }

    /// Also write `batch_steps_per_second` and `epoch_steps_per_second`.
    pub fn write_steps_per_second(mut self, on: bool) -> Self {
        self.write_steps_per_second = on;
        self
    }

    /// Records this run as an HParams session with these hyper-parameter values, e.g.
    /// `[("lr", 0.01.into()), ("optimizer", "adam".into())]`.
    pub fn hparams<K: Into<String>>(mut self, values: impl IntoIterator<Item = (K, HParamValue)>) -> Self {
        self.hparams = Some(values.into_iter().map(|(k, v)| (k.into(), v)).collect());
        self
    }

    /// Groups this session with others of the same name (repeats of one trial); empty
    /// (the default) uses the run name.
    pub fn hparams_group(mut self, group: impl Into<String>) -> Self {
        self.hparams_group = group.into();
        self
    }

    /// Describes the model (Keras' `set_model`): at each `on_train_begin` the callback
    /// writes `summary` into `LOG_DIR/train` at step 0, as the conceptual graph the Graphs
    /// tab draws (tag `keras`, unless [`write_graph`](Self::write_graph) is off) and as
    /// the [`table`](ModelSummary::table) in a text summary (tag `model_summary`, a
    /// markdown code block, so it renders monospace). A summary that fails
    /// [`ModelSummary::validate`] fails `on_train_begin`.
    pub fn model_summary(mut self, summary: ModelSummary) -> Self {
        self.model_summary = Some(summary);
        self
    }

    /// Keras' `write_graph` (on by default): whether the [`model_summary`](Self::model_summary)
    /// is also written as the conceptual graph (the table is written either way).
    pub fn write_graph(mut self, on: bool) -> Self {
        self.write_graph = on;
        self
    }

    /// Writes the model summary's graph and table into the train run at step 0.
    fn log_model(&self) -> Result<()> {
        let (Some(summary), Some(train)) = (&self.model_summary, &self.train) else { return Ok(()) };
        if self.write_graph {
            train.keras_model(KERAS_MODEL_TAG, 0, &summary.keras_model_json())?;
        }
        train.text(MODEL_SUMMARY_TAG, 0, &format!("```\n{}```", summary.table()))?;
        Ok(())
    }

    fn create_dir(path: &Path) -> Result<()> {
        std::fs::create_dir_all(path).map_err(|e| Error::io(path, e))
    }

    fn open(path: &Path) -> Result<SummaryWriter> {
        Self::create_dir(path)?;
        Ok(SummaryWriter::new(path)?)
    }

    fn validation_writer(&mut self) -> Result<&SummaryWriter> {
        let writer = match self.validation.take() {
            Some(writer) => writer,
            None => Self::open(&self.log_dir.join("validation"))?,
        };
        Ok(self.validation.insert(writer))
    }

    fn log_variables(&self, model: &ModelVars, epoch: usize) -> Result<()> {
        let Some(train) = self.train.as_ref() else { return Ok(()) };
        let step = epoch as i64;
        for (name, var) in model.vars() {
            let base = name.replace(['.', ':'], "/");
            let values: Vec<f64> = var.as_tensor().flatten_all()?.to_dtype(DType::F64)?.to_vec1()?;
            train.histogram(&format!("{base}/histogram"), step, &values)?;
            if self.write_images {
                let dims: Vec<usize> = var.dims().iter().copied().filter(|d| *d != 1).collect();
                if let Some((h, w, pixels)) = weight_image(&dims, &values) {
                    train.image(&format!("{base}/image"), step, &Image::from_f32_hwc(h, w, 1, &pixels))?;
                }
            }
        }
        Ok(())
    }

    fn close_all(&mut self, status: SessionStatus) -> Result<()> {
        let mut first_error = None;
        for writer in [self.train.take(), self.validation.take()].into_iter().flatten() {
            if let Err(e) = writer.close() {
                first_error.get_or_insert(e);
            }
        }
        if let Some(session) = self.session.take() {
            if let Err(e) = session.hparams_end(status).and_then(|()| session.close()) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), |e| Err(e.into()))
    }
}

/// A weight as a gray image (see [`TensorBoard`]): `dims` without size-1 axes.
fn weight_image(dims: &[usize], values: &[f64]) -> Option<(usize, usize, Vec<f32>)> {
    let (h, w, transpose) = match *dims {
        [n] => (1, n, false),
        [a, b] if a > b => (b, a, true),
        [a, b] => (a, b, false),
        _ => return None,
    };
    if h == 0 || w == 0 || values.len() != h * w {
        return None;
    }
    let finite = values.iter().copied().filter(|v| v.is_finite());
    let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let range = hi - lo;
    let scale = |v: f64| -> f32 {
        if !v.is_finite() || range.is_nan() || range <= 0.0 {
            0.5
        } else {
            ((v - lo) / range) as f32
        }
    };
    let mut pixels = vec![0f32; h * w];
    for r in 0..h {
        for c in 0..w {
            // Transposed: pixel (r, c) is weight (c, r) of the original [w, h] matrix.
            let v = if transpose { values[c * h + r] } else { values[r * w + c] };
            pixels[r * w + c] = scale(v);
        }
    }
    Some((h, w, pixels))
}

impl Drop for TensorBoard {
    fn drop(&mut self) {
        // Dropped without `on_train_end`: the run ended with an error.
        if let Err(e) = self.close_all(SessionStatus::Failure) {
            eprintln!("TensorBoard: {e}");
        }
    }
}

impl Callback for TensorBoard {
    fn chief_only(&self) -> bool {
        true
    }

    fn needs_batch_logs(&self) -> bool {
        // `batch_*` scalars come from the batch logs; epoch-wise logging only counts batches.
        matches!(self.update_freq, UpdateFreq::Batches(_))
    }

    fn name(&self) -> &str {
        NAME
    }

    fn on_train_begin(&mut self, ctx: &mut Context<'_>) -> Result<()> {
        if self.update_freq == UpdateFreq::Batches(0) {
            return Err(Error::InvalidArgument {
                context: NAME,
                message: "update_freq must be at least 1 batch; received 0".into(),
            });
        }
        if self.histogram_freq > 0 && !ctx.has_model() {
            return Err(Error::Missing { context: NAME, what: "the model's variables (for histogram_freq)" });
        }
        if let Some(summary) = &self.model_summary {
            summary.validate()?;
        }
        // A writer left from an earlier fit is closed first.
        self.close_all(SessionStatus::Unknown)?;
        Self::create_dir(&self.log_dir)?;
        Self::create_dir(&self.log_dir.join("validation"))?;
        self.train = Some(Self::open(&self.log_dir.join("train"))?);
        self.log_model()?;
        if let Some(values) = &self.hparams {
            let session = SummaryWriter::new(&self.log_dir)?;
            session.hparams(values, &self.hparams_group)?;
            session.flush()?;
            self.session = Some(session);
        }
        self.in_fit = true;
        self.counter_pending = true;
        self.global_batch = 0;
        self.epoch_start = None;
        Ok(())
    }

    fn on_train_end(&mut self, _logs: &mut Logs, _ctx: &mut Context<'_>) -> Result<()> {
        self.in_fit = false;
        self.close_all(SessionStatus::Success)
    }

    fn on_epoch_begin(&mut self, _epoch: usize, ctx: &mut Context<'_>) -> Result<()> {
        if self.counter_pending {
            self.global_batch = ctx.state.global_step;
            self.counter_pending = false;
        }
        let iterations = match ctx.optimizer(NAME) {
            Ok(opt) => Some(opt.iterations()),
            Err(_) => None,
        };
        self.epoch_start = Some(EpochStart { time: Instant::now(), iterations, batches: 0 });
        Ok(())
    }

    fn on_train_batch_begin(&mut self, _batch: usize, _ctx: &mut Context<'_>) -> Result<()> {
        if self.write_steps_per_second {
            self.batch_start = Some(Instant::now());
        }
        Ok(())
    }

    fn on_train_batch_end(&mut self, _batch: usize, logs: &mut Logs, _ctx: &mut Context<'_>) -> Result<()> {
        self.global_batch += 1;
        if let Some(start) = self.epoch_start.as_mut() {
            start.batches += 1;
        }
        let UpdateFreq::Batches(n) = self.update_freq else { return Ok(()) };
        if n == 0 || !self.global_batch.is_multiple_of(n as u64) {
            return Ok(());
        }
        let Some(train) = self.train.as_ref() else { return Ok(()) };
        let step = self.global_batch as i64;
        for (k, v) in logs.iter() {
            train.scalar(&format!("batch_{k}"), step, v as f32)?;
        }
        if self.write_steps_per_second {
            if let Some(start) = self.batch_start {
                let secs = start.elapsed().as_secs_f64();
                if secs > 0.0 {
                    train.scalar("batch_steps_per_second", step, (1.0 / secs) as f32)?;
                }
            }
        }
        Ok(())
    }

    fn on_test_end(&mut self, logs: &mut Logs, ctx: &mut Context<'_>) -> Result<()> {
        let step = match ctx.optimizer(NAME) {
            Ok(opt) => opt.iterations(),
            Err(_) => self.global_batch,
        } as i64;
        let standalone = !self.in_fit;
        let writer = self.validation_writer()?;
        for (k, v) in logs.iter() {
            writer.scalar(&format!("evaluation_{k}_vs_iterations"), step, v as f32)?;
        }
        if standalone {
            // A standalone evaluate: no train end will close the writer.
            if let Some(w) = self.validation.take() {
                w.close()?;
            }
        }
        Ok(())
    }

    fn on_epoch_end(&mut self, epoch: usize, logs: &mut Logs, ctx: &mut Context<'_>) -> Result<()> {
        let step = epoch as i64;
        let (lr, iterations, loss_scale) = match ctx.optimizer(NAME) {
            Ok(opt) => (Some(opt.learning_rate()), Some(opt.iterations()), opt.loss_scale()),
            Err(_) => (None, None, None),
        };
        if let Some(train) = self.train.as_ref() {
            for (k, v) in logs.iter().filter(|(k, _)| !k.starts_with("val_")) {
                if lr.is_some() && k == "learning_rate" {
                    continue;
                }
                train.scalar(&format!("epoch_{k}"), step, v as f32)?;
            }
            if let Some(lr) = lr {
                train.scalar("epoch_learning_rate", step, lr as f32)?;
            }
            if let Some(scale) = loss_scale {
                train.scalar("epoch_loss_scale", step, scale as f32)?;
            }
            if self.write_steps_per_second {
                if let Some(start) = &self.epoch_start {
                    let secs = start.time.elapsed().as_secs_f64();
                    let steps = match (iterations, start.iterations) {
                        (Some(now), Some(then)) => now.saturating_sub(then),
                        _ => start.batches,
                    };
                    if secs > 0.0 {
                        train.scalar("epoch_steps_per_second", step, (steps as f64 / secs) as f32)?;
                    }
                }
            }
        }
        if logs.keys().any(|k| k.starts_with("val_")) {
            let writer = self.validation_writer()?;
            for (k, v) in logs.iter() {
                if let Some(name) = k.strip_prefix("val_") {
                    writer.scalar(&format!("epoch_{name}"), step, v as f32)?;
                }
            }
        }
        if self.histogram_freq > 0 && epoch.is_multiple_of(self.histogram_freq) {
            let model = ctx.model(NAME)?;
            self.log_variables(model, epoch)?;
        }
        for writer in [&self.train, &self.validation].into_iter().flatten() {
            writer.flush()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::weight_image;

    #[test]
    fn images_of_weights() {
        // [3, 2] is transposed to a 2x3 image.
        let (h, w, px) = weight_image(&[3, 2], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]).unwrap_or_default();
        assert_eq!((h, w), (2, 3));
        assert_eq!(px, vec![0.0, 0.4, 0.8, 0.2, 0.6, 1.0]);
        let (h, w, px) = weight_image(&[2], &[1.0, 1.0]).unwrap_or_default();
        assert_eq!((h, w, px), (1, 2, vec![0.5, 0.5]));
        assert!(weight_image(&[2, 2, 2], &[0.0; 8]).is_none());
    }
}
