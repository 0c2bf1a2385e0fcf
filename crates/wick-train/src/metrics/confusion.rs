//! Confusion-matrix metrics: Precision, Recall and AUC, with weighted counts over the epoch.

use candle_core::Tensor;

use super::{align, Host, Metric};
use crate::{Error, Result};

/// `y_true`, `y_pred` and the broadcast sample weights, flattened (Keras'
/// `update_confusion_matrix_variables` preamble), optionally restricted to `class_id`.
fn flat_inputs(
    ctx: &'static str,
    y_true: &Tensor,
    y_pred: &Tensor,
    sample_weight: Option<&Tensor>,
    class_id: Option<usize>,
) -> Result<(Vec<f64>, Vec<f64>, Vec<f64>)> {
    let (p, t) = align(Host::from_tensor(y_pred)?, Host::from_tensor(y_true)?);
    if p.dims != t.dims {
        return Err(Error::shape(ctx, "y_true", y_true.dims(), "y_pred", y_pred.dims(), "expected equal shapes"));
    }
    let w = match sample_weight {
        Some(sw) => {
            let (p2, w) = align(p.clone(), Host::from_tensor(sw)?);
            let wb = w.broadcast_to(&p2.dims).ok_or_else(|| {
                Error::shape(
                    ctx,
                    "sample_weight",
                    sw.dims(),
                    "y_pred",
                    y_pred.dims(),
                    "expected sample_weight broadcastable to y_pred",
                )
            })?;
            wb.data
        }
        None => vec![1.0; p.data.len()],
    };
    match class_id {
        None => Ok((t.data, p.data, w)),
        Some(c) => {
            let n = p.dims.last().copied().unwrap_or(0);
            if c >= n {
                return Err(Error::InvalidArgument {
                    context: ctx,
                    message: format!("class_id {c} is out of range for y_pred of shape {:?}", y_pred.dims()),
                });
            }
            let pick = |v: &[f64]| v.iter().skip(c).step_by(n).copied().collect::<Vec<_>>();
            Ok((pick(&t.data), pick(&p.data), pick(&w)))
        }
    }
}

/// `a / b`, or 0 when `b == 0` (`divide_no_nan`).
fn div_no_nan(a: f64, b: f64) -> f64 {
    if b == 0.0 {
        0.0
    } else {
        a / b
    }
}

/// Weighted (TP, FP, FN) at one threshold with the strict test `ŷ > threshold` (float32).
fn counts(t: &[f64], p: &[f64], w: &[f64], threshold: f64) -> (f64, f64, f64) {
    let thr = f64::from(threshold as f32);
    let (mut tp, mut fp, mut fn_) = (0.0, 0.0, 0.0);
    for ((&y, &q), &wi) in t.iter().zip(p).zip(w) {
        let label = y != 0.0;
        let pred = q > thr;
        match (label, pred) {
            (true, true) => tp += wi,
            (false, true) => fp += wi,
            (true, false) => fn_ += wi,
            (false, false) => {}
        }
    }
    (tp, fp, fn_)
}

macro_rules! pr_metric {
    ($ty:ident, $name:expr, $doc:expr, $result:expr) => {
        #[doc = $doc]
        #[derive(Debug, Clone, PartialEq)]
        pub struct $ty {
            /// The decision threshold (default 0.5); a prediction counts as positive when `ŷ > threshold`.
            pub threshold: f64,
            /// Restricts the metric to one class of the last axis (default `None`: all entries).
            pub class_id: Option<usize>,
            /// The metric name.
            pub name: String,
            tp: f64,
            fp: f64,
            fn_: f64,
        }

        impl $ty {
            /// Keras defaults (`thresholds = 0.5`, `class_id = None`).
            pub fn new() -> Self {
                Self { threshold: 0.5, class_id: None, name: $name.into(), tp: 0.0, fp: 0.0, fn_: 0.0 }
            }
            /// Sets the threshold.
            pub fn with_threshold(mut self, threshold: f64) -> Self {
                self.threshold = threshold;
                self
            }
            /// Sets `class_id`.
            pub fn with_class_id(mut self, class_id: Option<usize>) -> Self {
                self.class_id = class_id;
                self
            }
            /// Renames the metric.
            pub fn with_name(mut self, name: impl Into<String>) -> Self {
                self.name = name.into();
                self
            }
        }

        impl Default for $ty {
            fn default() -> Self {
                Self::new()
            }
        }

        impl Metric for $ty {
            fn name(&self) -> &str {
                &self.name
            }
            fn update_state(&mut self, y_true: &Tensor, y_pred: &Tensor, sample_weight: Option<&Tensor>) -> Result<()> {
                let (t, p, w) = flat_inputs(stringify!($ty), y_true, y_pred, sample_weight, self.class_id)?;
                let (tp, fp, fn_) = counts(&t, &p, &w, self.threshold);
                self.tp += tp;
                self.fp += fp;
                self.fn_ += fn_;
                Ok(())
            }
            fn result(&self) -> f64 {
                let f: fn(f64, f64, f64) -> f64 = $result;
                f(self.tp, self.fp, self.fn_)
            }
            fn reset_state(&mut self) {
                self.tp = 0.0;
                self.fp = 0.0;
                self.fn_ = 0.0;
            }
            fn state(&self) -> Option<Vec<f64>> {
                Some(vec![self.tp, self.fp, self.fn_])
            }
            fn set_state(&mut self, state: &[f64]) -> Result<()> {
                super::state_len(&self.name, state, 3)?;
                (self.tp, self.fp, self.fn_) = (state[0], state[1], state[2]);
                Ok(())
            }
        }
    };
}

pr_metric!(
    Precision,
    "precision",
    "Keras `Precision` (name `\"precision\"`): `TP / (TP + FP)` over the epoch, weighted counts, `ŷ > threshold`.",
    |tp, fp, _fn| div_no_nan(tp, tp + fp)
);
pr_metric!(
    Recall,
    "recall",
    "Keras `Recall` (name `\"recall\"`): `TP / (TP + FN)` over the epoch, weighted counts, `ŷ > threshold`.",
    |tp, _fp, fn_| div_no_nan(tp, tp + fn_)
);

/// Which curve [`AUC`] integrates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AucCurve {
    /// Receiver operating characteristic: TPR against FPR.
    #[default]
    Roc,
    /// Precision against recall.
    Pr,
}

/// How [`AUC`] sums the rectangles between thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SummationMethod {
    /// Trapezoids for ROC; the Davis–Goadrich interpolation for PR.
    #[default]
    Interpolation,
    /// The lower of the two heights.
    Minoring,
    /// The higher of the two heights.
    Majoring,
}

/// Keras `AUC` (name `"auc"`): the area under the ROC or PR curve, as a Riemann sum over
/// `num_thresholds` thresholds `[−ε, 1/(n−1), …, (n−2)/(n−1), 1+ε]`.
///
/// Predictions are bucketed like Keras' evenly-distributed-thresholds path
/// (`bucket = max(ceil(ŷ·(n−1)) − 1, 0)` in float32, so `ŷ > t_i ⇔ bucket ≥ i`); labels are
/// used as floats (`TP += y·w`, `FP += (1−y)·w`). Predictions above 1 fall outside every
/// bucket and are dropped, as in Keras. With `curve = Pr` and interpolation the area uses the
/// Davis–Goadrich interpolation (Keras `interpolate_pr_auc`).
#[derive(Debug, Clone, PartialEq)]
pub struct AUC {
    /// Number of thresholds (default 200, must be > 1).
    pub num_thresholds: usize,
    /// ROC or PR (default ROC).
    pub curve: AucCurve,
    /// How heights are chosen (default interpolation).
    pub summation_method: SummationMethod,
    /// Whether `y_pred` holds logits (a sigmoid is applied first; default false).
    pub from_logits: bool,
    /// The metric name.
    pub name: String,
    tp: Vec<f64>,
    fp: Vec<f64>,
    tn: Vec<f64>,
    fn_: Vec<f64>,
}

impl AUC {
    /// Keras defaults (`num_thresholds = 200`, ROC, interpolation).
    pub fn new() -> Self {
        let n = 200;
        AUC {
            num_thresholds: n,
            curve: AucCurve::Roc,
            summation_method: SummationMethod::Interpolation,
            from_logits: false,
            name: "auc".into(),
            tp: vec![0.0; n],
            fp: vec![0.0; n],
            tn: vec![0.0; n],
            fn_: vec![0.0; n],
        }
    }
    /// Sets the number of thresholds (resets the state); it must be greater than 1.
    pub fn with_num_thresholds(mut self, num_thresholds: usize) -> Result<Self> {
        if num_thresholds <= 1 {
            return Err(Error::InvalidArgument {
                context: "AUC",
                message: format!("num_thresholds must be > 1, got {num_thresholds}"),
            });
        }
        self.num_thresholds = num_thresholds;
        self.reset_state();
        Ok(self)
    }
    /// Sets the curve.
    pub fn with_curve(mut self, curve: AucCurve) -> Self {
        self.curve = curve;
        self
    }
    /// Sets the summation method.
    pub fn with_summation_method(mut self, m: SummationMethod) -> Self {
        self.summation_method = m;
        self
    }
    /// Sets `from_logits`.
    pub fn with_from_logits(mut self, from_logits: bool) -> Self {
        self.from_logits = from_logits;
        self
    }
    /// Renames the metric.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }
    /// The thresholds `[−ε, 1/(n−1), …, (n−2)/(n−1), 1+ε]`.
    pub fn thresholds(&self) -> Vec<f64> {
        let n = self.num_thresholds;
        let mut t = vec![-crate::losses::EPSILON];
        t.extend((0..n.saturating_sub(2)).map(|i| (i + 1) as f64 / (n - 1) as f64));
        t.push(1.0 + crate::losses::EPSILON);
        t
    }

    fn interpolate_pr_auc(&self) -> f64 {
        let n = self.num_thresholds;
        let mut sum = 0.0;
        for i in 0..n - 1 {
            let dtp = self.tp[i] - self.tp[i + 1];
            let p0 = self.tp[i] + self.fp[i];
            let p1 = self.tp[i + 1] + self.fp[i + 1];
            let dp = p0 - p1;
            let prec_slope = div_no_nan(dtp, dp.max(0.0));
            let intercept = self.tp[i + 1] - prec_slope * p1;
            let safe_p_ratio = if p0 > 0.0 && p1 > 0.0 { div_no_nan(p0, p1.max(0.0)) } else { 1.0 };
            let num = prec_slope * (dtp + intercept * safe_p_ratio.ln());
            sum += div_no_nan(num, (self.tp[i + 1] + self.fn_[i + 1]).max(0.0));
        }
        sum
    }
}

impl Default for AUC {
    fn default() -> Self {
        Self::new()
    }
}

impl Metric for AUC {
    fn name(&self) -> &str {
        &self.name
    }
    fn update_state(&mut self, y_true: &Tensor, y_pred: &Tensor, sample_weight: Option<&Tensor>) -> Result<()> {
        let (t, p, w) = flat_inputs("AUC", y_true, y_pred, sample_weight, None)?;
        let n = self.num_thresholds;
        let mut pos = vec![0.0; n];
        let mut neg = vec![0.0; n];
        let (mut total_pos, mut total_neg) = (0.0, 0.0);
        let scale = (n - 1) as f32;
        for ((&y, &q), &wi) in t.iter().zip(&p).zip(&w) {
            let q = if self.from_logits { 1.0 / (1.0 + (-q).exp()) } else { q };
            let bucket = ((q as f32) * scale).ceil() - 1.0;
            let bucket = bucket.max(0.0);
            let (tl, fl) = (y * wi, (1.0 - y) * wi);
            total_pos += tl;
            total_neg += fl;
            if bucket.is_finite() && (bucket as usize) < n {
                pos[bucket as usize] += tl;
                neg[bucket as usize] += fl;
            }
        }
        // tp[i] = Σ over buckets ≥ i (reverse cumulative sums).
        let (mut cp, mut cn) = (0.0, 0.0);
        for i in (0..n).rev() {
            cp += pos[i];
            cn += neg[i];
            self.tp[i] += cp;
            self.fp[i] += cn;
            self.fn_[i] += total_pos - cp;
            self.tn[i] += total_neg - cn;
        }
        Ok(())
    }
    fn result(&self) -> f64 {
        let n = self.num_thresholds;
        if self.curve == AucCurve::Pr && self.summation_method == SummationMethod::Interpolation {
            return self.interpolate_pr_auc();
        }
        let recall: Vec<f64> = (0..n).map(|i| div_no_nan(self.tp[i], self.tp[i] + self.fn_[i])).collect();
        let (x, y): (Vec<f64>, Vec<f64>) = match self.curve {
            AucCurve::Roc => ((0..n).map(|i| div_no_nan(self.fp[i], self.fp[i] + self.tn[i])).collect(), recall),
            AucCurve::Pr => (recall, (0..n).map(|i| div_no_nan(self.tp[i], self.tp[i] + self.fp[i])).collect()),
        };
        (0..n - 1)
            .map(|i| {
                let h = match self.summation_method {
                    SummationMethod::Interpolation => (y[i] + y[i + 1]) / 2.0,
                    SummationMethod::Minoring => y[i].min(y[i + 1]),
                    SummationMethod::Majoring => y[i].max(y[i + 1]),
                };
                (x[i] - x[i + 1]) * h
            })
            .sum()
    }
    fn reset_state(&mut self) {
        let n = self.num_thresholds;
        self.tp = vec![0.0; n];
        self.fp = vec![0.0; n];
        self.tn = vec![0.0; n];
        self.fn_ = vec![0.0; n];
    }
    fn state(&self) -> Option<Vec<f64>> {
        Some([&self.tp, &self.fp, &self.tn, &self.fn_].into_iter().flatten().copied().collect())
    }
    fn set_state(&mut self, state: &[f64]) -> Result<()> {
        let n = self.tp.len();
        super::state_len(&self.name, state, 4 * n)?;
        for (k, slot) in [&mut self.tp, &mut self.fp, &mut self.tn, &mut self.fn_].into_iter().enumerate() {
            slot.copy_from_slice(&state[k * n..(k + 1) * n]);
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::excessive_precision, clippy::approx_constant)]
mod tests {
    use super::*;
    use candle_core::Device;

    // golden metrics.prec_recall_auc inputs
    const YT: [f32; 8] = [0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0, 0.0];
    const YP: [f32; 8] = [0.1, 0.6, 0.35, 0.8, 0.5, 0.49, 0.9, 0.2];

    fn inputs() -> (Tensor, Tensor) {
        (Tensor::new(&YT, &Device::Cpu).unwrap(), Tensor::new(&YP, &Device::Cpu).unwrap())
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-5 + 1e-4 * b.abs()
    }

    #[test]
    fn precision_recall_golden() {
        let (t, p) = inputs();
        let mut pr = Precision::new();
        let mut re = Recall::new();
        pr.update_state(&t, &p, None).unwrap();
        re.update_state(&t, &p, None).unwrap();
        assert!(close(pr.result(), 0.6666666865348816));
        assert!(close(re.result(), 0.5));
    }

    #[test]
    fn auc_golden() {
        let (t, p) = inputs();
        let mut roc = AUC::new();
        let mut pr = AUC::new().with_curve(AucCurve::Pr);
        roc.update_state(&t, &p, None).unwrap();
        pr.update_state(&t, &p, None).unwrap();
        assert!(close(roc.result(), 0.8125), "{}", roc.result());
        assert!(close(pr.result(), 0.8369187116622925), "{}", pr.result());
    }

    #[test]
    fn counts_run_over_batches() {
        // Two halves give the same as one batch: totals, not means of batch values.
        let (t, p) = inputs();
        let mut pr = Precision::new();
        let mut roc = AUC::new();
        for (s, l) in [(0, 3), (3, 5)] {
            let (ts, ps) = (t.narrow(0, s, l).unwrap(), p.narrow(0, s, l).unwrap());
            pr.update_state(&ts, &ps, None).unwrap();
            roc.update_state(&ts, &ps, None).unwrap();
        }
        assert!(close(pr.result(), 0.6666666865348816));
        assert!(close(roc.result(), 0.8125));
        pr.reset_state();
        assert_eq!(pr.result(), 0.0);
    }

    #[test]
    fn weighted_counts() {
        let (t, p) = inputs();
        let w = Tensor::new(&[1.0f32, 3.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0], &Device::Cpu).unwrap();
        let mut pr = Precision::new();
        pr.update_state(&t, &p, Some(&w)).unwrap();
        // TP = 2 (0.8, 0.9), FP = 3 (0.6 weighted ×3)
        assert!(close(pr.result(), 0.4));
    }

    #[test]
    fn thresholds_layout() {
        let th = AUC::new().with_num_thresholds(3).unwrap().thresholds();
        assert_eq!(th.len(), 3);
        assert!(th[0] < 0.0 && (th[1] - 0.5).abs() < 1e-12 && th[2] > 1.0);
        assert!(AUC::new().with_num_thresholds(1).is_err());
    }
}
