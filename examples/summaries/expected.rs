//! What [`write_showcase`](super::write_showcase) wrote: the expected runs, tags, points
//! and HParams columns the tests compare TensorBoard's answers against.

use std::collections::BTreeMap;

use wick_tfevents::summary::histogram::Bucket;
use wick_tfevents::summary::hparams::{Domain, HParamValue, SessionStatus};

/// Everything [`write_showcase`] wrote.
#[derive(Debug, Clone)]
pub struct Expected {
    /// Summaries per run (run name: path relative to the log directory, `/`-separated).
    /// The run that holds only the HParams experiment is not listed here; see
    /// [`HParamsExpected::experiment_run`].
    pub runs: BTreeMap<String, RunExpected>,
    /// The HParams experiment and its sessions.
    pub hparams: HParamsExpected,
}

/// The summaries of one run, per kind and tag, each as a list of points in step order.
#[derive(Debug, Clone, Default)]
pub struct RunExpected {
    /// Scalars: `(step, value)`; values are exactly the `f32`s written (NaN and ±Inf included).
    pub scalars: BTreeMap<String, Vec<(i64, f32)>>,
    /// Histograms.
    pub histograms: BTreeMap<String, Vec<HistogramPoint>>,
    /// Images.
    pub images: BTreeMap<String, Vec<ImagePoint>>,
    /// Text (markdown blocks and tables).
    pub text: BTreeMap<String, Vec<TextPoint>>,
    /// PR curves.
    pub pr_curves: BTreeMap<String, Vec<PrCurvePoint>>,
}

/// One histogram as written.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramPoint {
    /// Step.
    pub step: i64,
    /// Number of buckets (rows of the `[k, 3]` tensor).
    pub bucket_count: usize,
    /// Sum of the bucket counts.
    pub total_count: f64,
    /// The rows `(left, right, count)` exactly as written.
    pub buckets: Vec<Bucket>,
}

/// One image summary (one or more samples of one size) as written.
#[derive(Debug, Clone, PartialEq)]
pub struct ImagePoint {
    /// Step.
    pub step: i64,
    /// Number of images stored (after `max_outputs`).
    pub samples: usize,
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Channels of the PNG: 1 gray, 2 gray + alpha, 3 RGB, 4 RGBA.
    pub channels: usize,
    /// Per sample, the 8-bit pixels the PNG holds in height × width × channels order
    /// (`f32` input converted as documented: `min(255, clamp(v, 0, 1) * 255.5)` truncated).
    pub pixels: Vec<Vec<u8>>,
}

/// One text summary as written.
#[derive(Debug, Clone, PartialEq)]
pub struct TextPoint {
    /// Step.
    pub step: i64,
    /// Tensor shape: `[]` for one markdown block, `[rows, columns]` for a table.
    pub shape: Vec<usize>,
    /// The strings in row-major order.
    pub strings: Vec<String>,
}

/// One PR curve as written (one entry per threshold `i / (num_thresholds - 1)`).
#[derive(Debug, Clone, PartialEq)]
pub struct PrCurvePoint {
    /// Step.
    pub step: i64,
    /// Number of thresholds.
    pub num_thresholds: usize,
    /// True positives per threshold.
    pub true_positives: Vec<f64>,
    /// False positives per threshold.
    pub false_positives: Vec<f64>,
    /// True negatives per threshold.
    pub true_negatives: Vec<f64>,
    /// False negatives per threshold.
    pub false_negatives: Vec<f64>,
    /// Precision per threshold, as stored (`f32`).
    pub precision: Vec<f32>,
    /// Recall per threshold, as stored (`f32`).
    pub recall: Vec<f32>,
}

impl PrCurvePoint {
    /// How many thresholds TensorBoard's PR-curve endpoint returns: it drops the trailing
    /// thresholds where `TP + FP == 0` (precision undefined), keeping at least one.
    #[allow(dead_code)] // used by the tests, not by the example
    pub fn served_len(&self) -> usize {
        let mut end = self.num_thresholds.saturating_sub(1);
        while end > 0 && (self.true_positives[end] as i64 + self.false_positives[end] as i64) == 0 {
            end -= 1;
        }
        end + 1
    }
}

/// The kind of value a hyper-parameter column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HParamKind {
    /// Not declared (no domain): TensorBoard reports `DATA_TYPE_UNSET`.
    Unset,
    /// Numbers (`DATA_TYPE_FLOAT64`).
    Number,
    /// Strings (`DATA_TYPE_STRING`).
    Text,
    /// Booleans (`DATA_TYPE_BOOL`).
    Bool,
}

/// One hyper-parameter column of the experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct HParamColumn {
    /// Name.
    pub name: String,
    /// Declared kind.
    pub kind: HParamKind,
    /// Declared domain, if any.
    pub domain: Option<Domain>,
    /// Description.
    pub description: String,
}

/// One metric column of the experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricColumn {
    /// Sub-run of each session run holding the scalar (`""`: the session run).
    pub group: String,
    /// Scalar tag.
    pub tag: String,
    /// Column title.
    pub display_name: String,
}

/// A metric's final value in one session.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricValue {
    /// Sub-run (`""`: the session run).
    pub group: String,
    /// Scalar tag.
    pub tag: String,
    /// Step of the last point.
    pub step: i64,
    /// Value of the last point.
    pub value: f32,
}

/// One HParams session (one trial run).
#[derive(Debug, Clone, PartialEq)]
pub struct SessionExpected {
    /// The session's run (also the session's name in TensorBoard).
    pub run: String,
    /// The group TensorBoard puts the session into: the `group_name` written, or the run
    /// name when that was empty.
    pub group: String,
    /// Hyper-parameter values.
    pub hparams: BTreeMap<String, HParamValue>,
    /// End status.
    pub status: SessionStatus,
    /// Final metric values, in the experiment's metric order.
    pub metrics: Vec<MetricValue>,
}

/// The HParams part of the showcase.
#[derive(Debug, Clone, PartialEq)]
pub struct HParamsExpected {
    /// The run holding the one experiment.
    pub experiment_run: String,
    /// Hyper-parameter columns, in declaration order.
    pub hparams: Vec<HParamColumn>,
    /// Metric columns, in declaration order.
    pub metrics: Vec<MetricColumn>,
    /// Sessions, in run-name order (each in a group of its own).
    pub sessions: Vec<SessionExpected>,
}
