//! PR curves: a `[6, N]` `DT_FLOAT` tensor (TP, FP, TN, FN, precision, recall per
//! threshold `i / (N - 1)`) with plugin `pr_curves` and `num_thresholds` in its content.

use super::{check_tag, metadata, plugin, tensor::f32_tensor, tensor_value, Value};
use crate::proto::PrCurvePluginData;
use crate::{Error, Result};
use prost::Message;

/// The threshold count TensorBoard's `pr_curve` summaries use by default.
pub const DEFAULT_NUM_THRESHOLDS: usize = 201;

/// Floor of the precision/recall denominators, as TensorBoard uses it.
const MINIMUM_COUNT: f64 = 1e-7;

/// Confusion counts per threshold; all four vectors have one entry per threshold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PrCounts {
    /// True positives at each threshold.
    pub true_positives: Vec<f64>,
    /// False positives at each threshold.
    pub false_positives: Vec<f64>,
    /// True negatives at each threshold.
    pub true_negatives: Vec<f64>,
    /// False negatives at each threshold.
    pub false_negatives: Vec<f64>,
}

impl PrCounts {
    /// Counts from binary labels and predicted probabilities in `[0, 1]`, bucketed as
    /// TensorBoard's `pr_curve.pb` does: prediction `p` falls into threshold bucket
    /// `floor(p * (N - 1))`, and counts are reverse cumulative sums. `weights`, when
    /// given, has one weight per example.
    pub fn from_predictions(
        tag: &str,
        labels: &[bool],
        predictions: &[f32],
        weights: Option<&[f32]>,
        num_thresholds: usize,
    ) -> Result<Self> {
        let bad = |message: String| Error::InvalidValue { tag: tag.to_string(), message };
        if num_thresholds < 2 {
            return Err(bad(format!("num_thresholds is {num_thresholds}, must be at least 2")));
        }
        if labels.len() != predictions.len() {
            return Err(bad(format!("{} labels but {} predictions", labels.len(), predictions.len())));
        }
        if let Some(w) = weights {
            if w.len() != labels.len() {
                return Err(bad(format!("{} weights for {} examples", w.len(), labels.len())));
            }
        }
        let mut tp_b = vec![0.0f64; num_thresholds];
        let mut fp_b = vec![0.0f64; num_thresholds];
        for (i, (&label, &p)) in labels.iter().zip(predictions).enumerate() {
            if !(0.0..=1.0).contains(&p) {
                return Err(bad(format!("prediction {p} at index {i} is outside [0, 1]")));
            }
            let index = ((p as f64) * (num_thresholds - 1) as f64).floor() as usize;
            let w = weights.map_or(1.0, |w| w[i] as f64);
            if label {
                tp_b[index] += w;
            } else {
                fp_b[index] += w;
            }
        }
        let reverse_cumsum = |b: &[f64]| {
            let mut out = vec![0.0; b.len()];
            let mut acc = 0.0;
            for i in (0..b.len()).rev() {
                acc += b[i];
                out[i] = acc;
            }
            out
        };
        let tp = reverse_cumsum(&tp_b);
        let fp = reverse_cumsum(&fp_b);
        let tn = fp.iter().map(|v| fp[0] - v).collect();
        let fn_ = tp.iter().map(|v| tp[0] - v).collect();
        Ok(PrCounts { true_positives: tp, false_positives: fp, true_negatives: tn, false_negatives: fn_ })
    }

    /// Number of thresholds.
    pub fn len(&self) -> usize {
        self.true_positives.len()
    }

    /// True when there are no thresholds.
    pub fn is_empty(&self) -> bool {
        self.true_positives.is_empty()
    }

    /// Precision per threshold: `tp / max(1e-7, tp + fp)`.
    pub fn precision(&self) -> Vec<f64> {
        self.true_positives
            .iter()
            .zip(&self.false_positives)
            .map(|(tp, fp)| tp / (tp + fp).max(MINIMUM_COUNT))
            .collect()
    }

    /// Recall per threshold: `tp / max(1e-7, tp + fn)`.
    pub fn recall(&self) -> Vec<f64> {
        self.true_positives.iter().zip(&self.false_negatives).map(|(tp, f)| tp / (tp + f).max(MINIMUM_COUNT)).collect()
    }
}

/// A PR-curve summary from labels and predicted probabilities.
pub fn pr_curve(tag: &str, labels: &[bool], predictions: &[f32], num_thresholds: usize) -> Result<Value> {
    check_tag(tag)?;
    pr_curve_from_counts(tag, &PrCounts::from_predictions(tag, labels, predictions, None, num_thresholds)?)
}

/// A PR-curve summary from raw confusion counts (at least two thresholds, all four
/// vectors the same length, finite and non-negative).
pub fn pr_curve_from_counts(tag: &str, counts: &PrCounts) -> Result<Value> {
    check_tag(tag)?;
    let n = counts.len();
    let rows = [&counts.true_positives, &counts.false_positives, &counts.true_negatives, &counts.false_negatives];
    if n < 2 || rows.iter().any(|r| r.len() != n) {
        return Err(Error::InvalidValue {
            tag: tag.to_string(),
            message: format!(
                "PR counts need one entry per threshold (at least 2); lengths are tp {}, fp {}, tn {}, fn {}",
                rows[0].len(),
                rows[1].len(),
                rows[2].len(),
                rows[3].len()
            ),
        });
    }
    if let Some(v) = rows.iter().flat_map(|r| r.iter()).find(|v| !v.is_finite() || **v < 0.0) {
        return Err(Error::InvalidValue {
            tag: tag.to_string(),
            message: format!("PR count {v} is not a finite count >= 0"),
        });
    }
    let mut data: Vec<f32> = rows.iter().flat_map(|r| r.iter().map(|&v| v as f32)).collect();
    data.extend(counts.precision().into_iter().map(|v| v as f32));
    data.extend(counts.recall().into_iter().map(|v| v as f32));
    let content = PrCurvePluginData { version: 0, num_thresholds: n as u32 }.encode_to_vec();
    Ok(tensor_value(tag, metadata(plugin::PR_CURVES, content), f32_tensor(&[6, n], &data)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_follow_tensorboard_bucketing() {
        let c = PrCounts::from_predictions("t", &[true, false, true, false], &[0.9, 0.8, 0.3, 0.1], None, 3).unwrap();
        // thresholds 0, 0.5, 1: buckets floor(p*2) = 1, 1, 0, 0
        assert_eq!(c.true_positives, vec![2.0, 1.0, 0.0]);
        assert_eq!(c.false_positives, vec![2.0, 1.0, 0.0]);
        assert_eq!(c.true_negatives, vec![0.0, 1.0, 2.0]);
        assert_eq!(c.false_negatives, vec![0.0, 1.0, 2.0]);
        assert_eq!(c.precision(), vec![0.5, 0.5, 0.0]);
        assert_eq!(c.recall(), vec![1.0, 0.5, 0.0]);
    }

    #[test]
    fn out_of_range_prediction_names_index() {
        let e = PrCounts::from_predictions("t", &[true], &[1.5], None, 3).unwrap_err().to_string();
        assert!(e.contains("index 0") && e.contains("1.5"), "{e}");
    }
}
