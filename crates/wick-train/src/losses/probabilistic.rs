//! Probabilistic losses: Poisson, KLDivergence and the crossentropies.

use candle_core::{DType, Tensor};

use super::{impl_loss, loss_input, mean_last, prepare, resolve_axis, Reduction, Values, EPSILON};
use crate::{Error, Result};

/// Upper clip bound `1 − ε` (rounded to the tensor's dtype when it is applied: `1 − 2⁻²³` in f32).
const CLIP_HI: f64 = 1.0 - EPSILON;

/// Keras `Poisson` (name `"poisson"`): `ℓ = mean₋₁( ŷ − y · ln(ŷ + ε) )`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Poisson {
    /// Reduction of the per-sample values (default `sum_over_batch_size`).
    pub reduction: Reduction,
}

impl Poisson {
    /// Keras defaults.
    pub fn new() -> Self {
        Self { reduction: Reduction::SumOverBatchSize }
    }
    fn values(&self, y_true: &Tensor, y_pred: &Tensor) -> Result<Values> {
        let (t, p) = prepare("Poisson", y_true, y_pred)?;
        let v = p.sub(&t.mul(&p.affine(1.0, EPSILON)?.log()?)?)?;
        Ok(mean_last(&v)?.into())
    }
}
impl_loss!(Poisson, "poisson");

/// Keras `KLDivergence` (name `"kl_divergence"`): both arguments are clipped to `[ε, 1]`,
/// then `ℓ = Σ₋₁ y · ln(y / ŷ)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KLDivergence {
    /// Reduction of the per-sample values (default `sum_over_batch_size`).
    pub reduction: Reduction,
}

impl KLDivergence {
    /// Keras defaults.
    pub fn new() -> Self {
        Self { reduction: Reduction::SumOverBatchSize }
    }
    fn values(&self, y_true: &Tensor, y_pred: &Tensor) -> Result<Values> {
        let (t, p) = prepare("KLDivergence", y_true, y_pred)?;
        let t = t.clamp(EPSILON, 1.0)?;
        let p = p.clamp(EPSILON, 1.0)?;
        let v = t.mul(&t.div(&p)?.log()?)?;
        if v.rank() == 0 {
            return Ok(v.into());
        }
        Ok(v.sum(v.rank() - 1)?.into())
    }
}
impl_loss!(KLDivergence, "kl_divergence");

/// Keras `CategoricalCrossentropy` (name `"categorical_crossentropy"`), one-hot `y`:
///
/// * label smoothing: `y ← y(1 − ls) + ls/K` (K = size of the class axis);
/// * `from_logits`: `ℓ = −Σ_axis y · log_softmax(ŷ)`;
/// * probabilities: `p ← ŷ / Σ_axis ŷ` (renormalised), `p ← clip(p, ε, 1 − ε)`,
///   `ℓ = −Σ_axis y · ln p`.
///
/// Keras' TF backend silently uses the logits cached on a `softmax` output; with Candle,
/// pass the pre-activation logits and `from_logits = true` to get the same (unclipped) value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CategoricalCrossentropy {
    /// Whether `y_pred` holds logits (default `false`: probabilities).
    pub from_logits: bool,
    /// Label smoothing in `[0, 1]` (default 0).
    pub label_smoothing: f64,
    /// The class axis (default −1).
    pub axis: i64,
    /// Reduction of the per-sample values (default `sum_over_batch_size`).
    pub reduction: Reduction,
}

impl CategoricalCrossentropy {
    /// Keras defaults (`from_logits = false`, `label_smoothing = 0`, `axis = -1`).
    pub fn new() -> Self {
        Self { from_logits: false, label_smoothing: 0.0, axis: -1, reduction: Reduction::SumOverBatchSize }
    }
    /// Sets `from_logits`.
    pub fn with_from_logits(mut self, from_logits: bool) -> Self {
        self.from_logits = from_logits;
        self
    }
    /// Sets `label_smoothing`.
    pub fn with_label_smoothing(mut self, label_smoothing: f64) -> Self {
        self.label_smoothing = label_smoothing;
        self
    }
    /// Sets the class axis.
    pub fn with_axis(mut self, axis: i64) -> Self {
        self.axis = axis;
        self
    }
    fn values(&self, y_true: &Tensor, y_pred: &Tensor) -> Result<Values> {
        let ctx = "CategoricalCrossentropy";
        let (t, p) = prepare(ctx, y_true, y_pred)?;
        let ax = resolve_axis(ctx, self.axis, p.rank())?;
        let ls = self.label_smoothing;
        let t = if ls != 0.0 {
            let k = p.dim(ax)? as f64;
            t.affine(1.0 - ls, ls / k)?
        } else {
            t
        };
        let logp = if self.from_logits {
            candle_nn::ops::log_softmax(&p, ax)?
        } else {
            let s = p.sum_keepdim(ax)?;
            p.broadcast_div(&s)?.clamp(EPSILON, CLIP_HI)?.log()?
        };
        Ok(t.mul(&logp)?.sum(ax)?.neg()?.into())
    }
}
impl_loss!(CategoricalCrossentropy, "categorical_crossentropy");

/// Keras `SparseCategoricalCrossentropy` (name `"sparse_categorical_crossentropy"`),
/// integer labels `y` of shape `ŷ.shape[:-1]` (a trailing axis of size 1 is squeezed):
///
/// * `from_logits`: `ℓ = −log_softmax(ŷ)[y]`;
/// * probabilities: `z = ln clip(ŷ, ε, 1 − ε)`, then `ℓ = −log_softmax(z)[y]`
///   (= `−ln clip(ŷ_y) + ln Σ clip(ŷ)`: the renormalisation is implicit);
/// * `ignore_class`: those positions give 0 and are masked out of the mean reductions.
///
/// Labels may be any integer or float dtype; out-of-range labels are an error of the gather.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SparseCategoricalCrossentropy {
    /// Whether `y_pred` holds logits (default `false`: probabilities).
    pub from_logits: bool,
    /// A label value whose positions are ignored (default `None`).
    pub ignore_class: Option<i64>,
    /// Reduction of the per-sample values (default `sum_over_batch_size`).
    pub reduction: Reduction,
}

impl SparseCategoricalCrossentropy {
    /// Keras defaults (`from_logits = false`, `ignore_class = None`).
    pub fn new() -> Self {
        Self { from_logits: false, ignore_class: None, reduction: Reduction::SumOverBatchSize }
    }
    /// Sets `from_logits`.
    pub fn with_from_logits(mut self, from_logits: bool) -> Self {
        self.from_logits = from_logits;
        self
    }
    /// Sets `ignore_class`.
    pub fn with_ignore_class(mut self, ignore_class: Option<i64>) -> Self {
        self.ignore_class = ignore_class;
        self
    }
    fn values(&self, y_true: &Tensor, y_pred: &Tensor) -> Result<Values> {
        let ctx = "SparseCategoricalCrossentropy";
        let p = loss_input(y_pred)?;
        if p.rank() == 0 {
            return Err(Error::shape(
                ctx,
                "y_true",
                y_true.dims(),
                "y_pred",
                y_pred.dims(),
                "y_pred needs a class axis",
            ));
        }
        let mut t =
            if y_true.device().same_device(p.device()) { y_true.clone() } else { y_true.to_device(p.device())? };
        if t.rank() == p.rank() && t.dims().last() == Some(&1) {
            t = t.squeeze(t.rank() - 1)?;
        }
        let last = p.rank() - 1;
        if t.dims() != &p.dims()[..last] {
            return Err(Error::shape(
                ctx,
                "y_true",
                y_true.dims(),
                "y_pred",
                y_pred.dims(),
                "expected y_true.shape == y_pred.shape[:-1] (integer class labels)",
            ));
        }
        let labels = match t.dtype() {
            DType::U8 | DType::U32 | DType::I64 => t.clone(),
            _ => t.to_dtype(DType::I64)?,
        };
        let (labels, valid) = match self.ignore_class {
            Some(ic) => {
                let valid = t.to_dtype(DType::F32)?.ne(ic as f64)?;
                let labels = valid.where_cond(&labels, &labels.zeros_like()?)?;
                (labels, Some(valid))
            }
            None => (labels, None),
        };
        let z = if self.from_logits { p.clone() } else { p.clamp(EPSILON, CLIP_HI)?.log()? };
        let logp = candle_nn::ops::log_softmax(&z, last)?.contiguous()?;
        let idx = labels.unsqueeze(last)?.contiguous()?;
        let v = logp.gather(&idx, last)?.squeeze(last)?.neg()?;
        match valid {
            Some(valid) => {
                let v = valid.where_cond(&v, &v.zeros_like()?)?;
                let mask = valid.to_dtype(v.dtype())?;
                Ok(Values { values: v, mask: Some(mask) })
            }
            None => Ok(v.into()),
        }
    }
}
impl_loss!(SparseCategoricalCrossentropy, "sparse_categorical_crossentropy");

/// Keras `BinaryCrossentropy` (name `"binary_crossentropy"`):
///
/// * label smoothing: `y ← y(1 − ls) + 0.5·ls`;
/// * probabilities: `p = clip(ŷ, ε, 1 − ε)`, `ℓ = mean_axis −(y ln p + (1 − y) ln(1 − p))`;
/// * `from_logits`: `ℓ = mean_axis (max(z, 0) − z·y + ln(1 + e^{−|z|}))`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BinaryCrossentropy {
    /// Whether `y_pred` holds logits (default `false`: probabilities).
    pub from_logits: bool,
    /// Label smoothing in `[0, 1]` (default 0).
    pub label_smoothing: f64,
    /// The axis averaged over (default −1).
    pub axis: i64,
    /// Reduction of the per-sample values (default `sum_over_batch_size`).
    pub reduction: Reduction,
}

impl BinaryCrossentropy {
    /// Keras defaults (`from_logits = false`, `label_smoothing = 0`, `axis = -1`).
    pub fn new() -> Self {
        Self { from_logits: false, label_smoothing: 0.0, axis: -1, reduction: Reduction::SumOverBatchSize }
    }
    /// Sets `from_logits`.
    pub fn with_from_logits(mut self, from_logits: bool) -> Self {
        self.from_logits = from_logits;
        self
    }
    /// Sets `label_smoothing`.
    pub fn with_label_smoothing(mut self, label_smoothing: f64) -> Self {
        self.label_smoothing = label_smoothing;
        self
    }
    /// Sets the axis.
    pub fn with_axis(mut self, axis: i64) -> Self {
        self.axis = axis;
        self
    }
    fn values(&self, y_true: &Tensor, y_pred: &Tensor) -> Result<Values> {
        let ctx = "BinaryCrossentropy";
        let (t, p) = prepare(ctx, y_true, y_pred)?;
        let ls = self.label_smoothing;
        let t = if ls != 0.0 { t.affine(1.0 - ls, 0.5 * ls)? } else { t };
        let v = if self.from_logits {
            let tail = p.abs()?.neg()?.exp()?.affine(1.0, 1.0)?.log()?;
            p.relu()?.sub(&p.mul(&t)?)?.add(&tail)?
        } else {
            let q = p.clamp(EPSILON, CLIP_HI)?;
            let pos = t.mul(&q.log()?)?;
            let neg = t.affine(-1.0, 1.0)?.mul(&q.affine(-1.0, 1.0)?.log()?)?;
            pos.add(&neg)?.neg()?
        };
        if v.rank() == 0 {
            return Ok(v.into());
        }
        let ax = resolve_axis(ctx, self.axis, v.rank())?;
        Ok(v.mean(ax)?.into())
    }
}
impl_loss!(BinaryCrossentropy, "binary_crossentropy");

#[cfg(test)]
#[allow(clippy::excessive_precision, clippy::approx_constant)]
mod tests {
    use super::super::testutil::*;
    use super::super::Loss;
    use super::*;
    use candle_core::Device;

    fn sp() -> Tensor {
        Tensor::from_slice(&YT_SP, 4, &Device::Cpu).unwrap()
    }

    #[test]
    fn poisson_golden() {
        let l = Poisson::new().with_reduction(Reduction::None);
        let got = vec1(&l.call(&t2(&YT_POS), &t2(&YP_POS), None).unwrap());
        assert_vec(&got, &[0.34197295, 0.668916, 5.0412154, 0.7841005]);
    }

    #[test]
    fn kl_divergence_golden() {
        let l = KLDivergence::new().with_reduction(Reduction::None);
        let got = vec1(&l.call(&t2(&YT_OH), &t2(&PROBS), None).unwrap());
        assert_vec(&got, &[0.35667217, 16.118092, 0.22314079, 1.2039697]);
    }

    #[test]
    fn cce_probs_clip_uses_f32_bound() {
        let l = CategoricalCrossentropy::new().with_reduction(Reduction::None);
        let got = vec1(&l.call(&t2(&YT_OH), &t2(&PROBS), None).unwrap());
        assert_vec(&got, &[0.35667497, 16.118095, 0.22314353, 1.2039728]);
        // Unnormalised probabilities are renormalised first.
        let got = vec1(&l.call(&t2(&YT_OH), &t2(&YP_POS), None).unwrap());
        assert_vec(&got, &[3.4011974, 2.3025851, 2.1400661, 1.9095424]);
    }

    #[test]
    fn cce_logits_and_label_smoothing_golden() {
        let l = CategoricalCrossentropy::new().with_from_logits(true).with_reduction(Reduction::None);
        let got = vec1(&l.call(&t2(&YT_OH), &t2(&LOGITS), None).unwrap());
        assert_vec(&got, &[0.4643688, 4.065884, 0.04172975, 20.000046]);
        let l = l.with_label_smoothing(0.2);
        let got = vec1(&l.call(&t2(&YT_OH), &t2(&LOGITS), None).unwrap());
        assert_vec(&got, &[0.63103545, 3.7325506, 0.55506307, 18.000048]);
        let l = CategoricalCrossentropy::new().with_label_smoothing(0.1);
        let s = l.call(&t2(&YT_OH), &t2(&PROBS), Some(&t1(&SW))).unwrap();
        assert!(close(scalar(&s), 2.1829317));
    }

    #[test]
    fn scce_golden_and_label_shapes() {
        let l = SparseCategoricalCrossentropy::new().with_reduction(Reduction::None);
        let got = vec1(&l.call(&sp(), &t2(&PROBS), None).unwrap());
        assert_vec(&got, &[0.35667497, 16.118095, 0.22314355, 1.2039728]);
        // (B, 1) labels and float labels give the same.
        let col = sp().to_dtype(DType::F32).unwrap().reshape((4, 1)).unwrap();
        let got = vec1(&l.call(&col, &t2(&PROBS), None).unwrap());
        assert_vec(&got, &[0.35667497, 16.118095, 0.22314355, 1.2039728]);
        let l = SparseCategoricalCrossentropy::new().with_from_logits(true);
        let s = l.call(&sp(), &t2(&LOGITS), Some(&t1(&SW))).unwrap();
        assert!(close(scalar(&s), 0.6451926));
    }

    #[test]
    fn scce_shape_mismatch_names_both_shapes() {
        let labels = Tensor::from_slice(&[0i64, 1, 2], 3, &Device::Cpu).unwrap();
        let e = SparseCategoricalCrossentropy::new().call(&labels, &t2(&PROBS), None).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("[3]") && msg.contains("[4, 3]"), "{msg}");
        let e = CategoricalCrossentropy::new().call(&t2(&PROBS).narrow(1, 0, 2).unwrap(), &t2(&PROBS), None);
        assert!(e.unwrap_err().to_string().contains("[4, 2]"));
    }

    #[test]
    fn scce_ignore_class_masks_the_mean() {
        // Ignore class 2: sample 2 gives 0 and the mean is over the 3 valid samples.
        let l = SparseCategoricalCrossentropy::new().with_from_logits(true).with_ignore_class(Some(2));
        let none = l.with_reduction(Reduction::None).call(&sp(), &t2(&LOGITS), None).unwrap();
        let v = vec1(&none);
        assert_eq!(v[2], 0.0);
        assert_vec(&[v[0], v[1], v[3]], &[0.4643688, 4.065884, 20.000046]);
        let mean = scalar(&l.call(&sp(), &t2(&LOGITS), None).unwrap());
        assert!(close(mean, (0.4643688 + 4.065884 + 20.000046) / 3.0), "{mean}");
    }

    #[test]
    fn bce_golden() {
        let l = BinaryCrossentropy::new().with_reduction(Reduction::None);
        let got = vec1(&l.call(&t2(&YT_BIN), &t2(&P_BIN), None).unwrap());
        assert_vec(&got, &[0.1095014, 0.2891669, 0.22839302, 0.6006033]);
        let l = BinaryCrossentropy::new().with_from_logits(true).with_reduction(Reduction::None);
        let got = vec1(&l.call(&t2(&YT_BIN), &t2(&Z_BIN), None).unwrap());
        assert_vec(&got, &[0.1467299, 0.32903075, 0.2331473, 0.6152138]);
        let l = BinaryCrossentropy::new().with_label_smoothing(0.1).with_reduction(Reduction::Sum);
        let s = l.call(&t2(&YT_BIN), &t2(&P_BIN), Some(&t1(&SW))).unwrap();
        assert!(close(scalar(&s), 1.3287537));
    }
}
