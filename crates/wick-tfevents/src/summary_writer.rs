//! `SummaryWriter`: the API programs call to log scalars, images, histograms, text,
//! hparams, PR curves and Keras' conceptual graph into one TensorBoard run.

use crate::event_writer::{wall_time_now, EventWriter, WriterOptions};
use crate::proto::{event, Event, Summary};
use crate::summary::histogram::{self, Bucket};
use crate::summary::hparams::{self, HParam, HParamValue, MetricInfo, SessionStatus};
use crate::summary::image::{self, Image};
use crate::summary::pr_curve::{self, PrCounts};
use crate::summary::{check_tag, graph, scalar, text, Value};
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// Writes TF2-style summaries (plugin metadata on every value) into one run directory.
///
/// Steps should strictly increase per tag: TensorBoard's default loader keeps, for each
/// tag, only points whose step is below that of a newly read point, so writing step 5
/// after step 7 discards step 7 (and a repeated step keeps only the last value). wick
/// writes what it is given; `wick-events validate` reports such steps.
///
/// All methods take `&self`; share a writer between threads with `Arc`.
///
/// ```
/// # fn main() -> Result<(), wick_tfevents::Error> {
/// let dir = tempfile::tempdir().unwrap();
/// let writer = wick_tfevents::SummaryWriter::new(dir.path().join("train"))?;
/// for step in 0..3 {
///     writer.scalar("loss", step, 1.0 / (step as f32 + 1.0))?;
/// }
/// writer.text("notes", 0, "**bold** markdown")?;
/// writer.close()?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct SummaryWriter {
    events: EventWriter,
    logdir: PathBuf,
}

impl SummaryWriter {
    /// Opens a new event file in run directory `logdir` (created if missing).
    pub fn new(logdir: impl AsRef<Path>) -> Result<Self> {
        Self::with_options(logdir, WriterOptions::default())
    }

    /// Like [`new`](Self::new) with explicit writer options.
    pub fn with_options(logdir: impl AsRef<Path>, options: WriterOptions) -> Result<Self> {
        let logdir = logdir.as_ref().to_path_buf();
        Ok(SummaryWriter { events: EventWriter::with_options(&logdir, options)?, logdir })
    }

    /// The run directory.
    pub fn logdir(&self) -> &Path {
        &self.logdir
    }

    /// The event file being written.
    pub fn path(&self) -> &Path {
        self.events.path()
    }

    /// The underlying event writer, to write events of other kinds.
    pub fn event_writer(&self) -> &EventWriter {
        &self.events
    }

    /// Writes `values` as one event at `step`, stamped with the current time.
    pub fn write_values(&self, step: i64, values: Vec<Value>) -> Result<()> {
        self.write_values_at(step, wall_time_now(), values)
    }

    /// Writes `values` as one event at `step` with an explicit `wall_time` (seconds since
    /// the Unix epoch; must be finite, since TensorBoard stops reading a file at a NaN time).
    pub fn write_values_at(&self, step: i64, wall_time: f64, values: Vec<Value>) -> Result<()> {
        if !wall_time.is_finite() {
            let tag = values.first().map(|v| v.tag.clone()).unwrap_or_default();
            return Err(Error::InvalidValue { tag, message: format!("wall time {wall_time} is not finite") });
        }
        let event = Event {
            wall_time,
            step,
            what: Some(event::What::Summary(Summary { value: values })),
            ..Default::default()
        };
        self.events.write_event(&event)
    }

    /// Logs one scalar. NaN and ±Inf are written as they are (TensorBoard shows `NaN`,
    /// `Infinity`). This path allocates nothing.
    pub fn scalar(&self, tag: &str, step: i64, value: f32) -> Result<()> {
        check_tag(tag)?;
        let wall_time = wall_time_now();
        self.events.write_payload(|out| scalar::encode_scalar_event(out, wall_time, step, tag, value))
    }

    /// Logs one scalar with an explicit wall time (see [`write_values_at`](Self::write_values_at)).
    pub fn scalar_at(&self, tag: &str, step: i64, value: f32, wall_time: f64) -> Result<()> {
        self.write_values_at(step, wall_time, vec![scalar::scalar(tag, value)?])
    }

    /// Logs several scalars at one step, in one event.
    pub fn scalars(&self, step: i64, values: &[(&str, f32)]) -> Result<()> {
        let values = values.iter().map(|(tag, v)| scalar::scalar(tag, *v)).collect::<Result<Vec<_>>>()?;
        self.write_values(step, values)
    }

    /// Logs one image (encoded as PNG).
    pub fn image(&self, tag: &str, step: i64, img: &Image<'_>) -> Result<()> {
        self.write_values(step, vec![image::image(tag, img)?])
    }

    /// Logs up to `max_outputs` images of one size under one tag.
    pub fn images(&self, tag: &str, step: i64, imgs: &[Image<'_>], max_outputs: usize) -> Result<()> {
        self.write_values(step, vec![image::images(tag, imgs, max_outputs)?])
    }

    /// Logs a histogram of raw values with [`histogram::DEFAULT_BUCKET_COUNT`] buckets,
    /// computed as TensorFlow 2 does.
    pub fn histogram<T: Copy + Into<f64>>(&self, tag: &str, step: i64, data: &[T]) -> Result<()> {
        self.write_values(step, vec![histogram::histogram(tag, data, histogram::DEFAULT_BUCKET_COUNT)?])
    }

    /// Logs a histogram of raw values with `bucket_count` buckets.
    pub fn histogram_with_buckets<T: Copy + Into<f64>>(
        &self,
        tag: &str,
        step: i64,
        data: &[T],
        bucket_count: usize,
    ) -> Result<()> {
        self.write_values(step, vec![histogram::histogram(tag, data, bucket_count)?])
    }

    /// Logs a histogram from pre-computed buckets.
    pub fn histogram_from_buckets(&self, tag: &str, step: i64, buckets: &[Bucket]) -> Result<()> {
        self.write_values(step, vec![histogram::histogram_from_buckets(tag, buckets)?])
    }

    /// Logs a markdown string.
    pub fn text(&self, tag: &str, step: i64, markdown: &str) -> Result<()> {
        self.write_values(step, vec![text::text(tag, markdown)?])
    }

    /// Logs a 2-D table of markdown cells (`rows × columns`).
    pub fn text_table<R: AsRef<[S]>, S: AsRef<str>>(&self, tag: &str, step: i64, rows: &[R]) -> Result<()> {
        self.write_values(step, vec![text::text_table(tag, rows)?])
    }

    /// Logs a Keras model config (the JSON of `model.to_json()`) as the conceptual graph
    /// that TensorBoard's Graphs tab draws: Keras' `keras_model_summary(name, data, step)`.
    /// Keras' `TensorBoard` callback writes it with tag [`graph::KERAS_MODEL_TAG`] (`"keras"`)
    /// at step 0 of the `train` run. See [`graph::keras_model`].
    pub fn keras_model(&self, tag: &str, step: i64, model_json: &str) -> Result<()> {
        self.write_values(step, vec![graph::keras_model(tag, model_json)?])
    }

    /// Logs a PR curve from binary labels and predicted probabilities in `[0, 1]`.
    pub fn pr_curve(
        &self,
        tag: &str,
        step: i64,
        labels: &[bool],
        predictions: &[f32],
        num_thresholds: usize,
    ) -> Result<()> {
        self.write_values(step, vec![pr_curve::pr_curve(tag, labels, predictions, num_thresholds)?])
    }

    /// Logs a PR curve from raw confusion counts per threshold.
    pub fn pr_curve_from_counts(&self, tag: &str, step: i64, counts: &PrCounts) -> Result<()> {
        self.write_values(step, vec![pr_curve::pr_curve_from_counts(tag, counts)?])
    }

    /// Declares the hyper-parameter and metric columns of the HParams table. Write it
    /// once, in the parent directory of the runs (one experiment per log directory).
    pub fn hparams_config(&self, hparams: &[HParam], metrics: &[MetricInfo]) -> Result<()> {
        let now = wall_time_now();
        self.write_values_at(0, now, vec![hparams::experiment(hparams, metrics, now)?])
    }

    /// Records this run as one HParams session with these values. `group_name` groups
    /// repeats of one trial (empty: the run name). Write it once per run.
    pub fn hparams<K: AsRef<str>>(&self, values: &[(K, HParamValue)], group_name: &str) -> Result<()> {
        let now = wall_time_now();
        self.write_values_at(0, now, vec![hparams::session_start(values, group_name, now)?])
    }

    /// Records how this run's HParams session ended.
    pub fn hparams_end(&self, status: SessionStatus) -> Result<()> {
        let now = wall_time_now();
        self.write_values_at(0, now, vec![hparams::session_end(status, now)])
    }

    /// Hands everything written so far to the operating system.
    pub fn flush(&self) -> Result<()> {
        self.events.flush()
    }

    /// Flushes, closes the file and returns any write error.
    pub fn close(self) -> Result<()> {
        self.events.close()
    }
}
