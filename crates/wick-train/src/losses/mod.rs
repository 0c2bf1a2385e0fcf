//! Keras 3 losses as differentiable Candle ops.
//!
//! Every loss computes per-sample values `ℓ` (the last axis already reduced), multiplies them
//! by the sample weights `w` (ranks aligned as Keras does: one trailing axis of size 1 is
//! squeezed or expanded) and reduces them according to its [`Reduction`]:
//!
//! | reduction | value |
//! |---|---|
//! | [`Reduction::None`] | `ℓ·w`, unreduced |
//! | [`Reduction::Sum`] | `Σ ℓ·w` |
//! | [`Reduction::SumOverBatchSize`] (Keras default) | `Σ ℓ·w / numel(ℓ)` (zero weights still count) |
//! | [`Reduction::MeanWithSampleWeight`] | `Σ ℓ·w / Σ w` (or `/ numel(ℓ)` without weights) |
//!
//! Divisions are `divide_no_nan` (0/0 = 0). Everything stays on the tensors' device and in
//! the autograd graph: no value is read back to the host.
//!
//! The computation runs in `f32` for `f32`, integer and half-precision (`bf16`, `f16`)
//! predictions — Keras computes losses in `float32` also under a `mixed_*` policy, so a
//! model computing in bf16 gets its loss (and the loss's gradient, cast back to bf16 by the
//! graph) in f32 — and in `f64` for `f64` predictions; `y_true` is cast to that dtype.
//! Keras converts both to `float32`; with `f32` inputs the results match Keras, including
//! the clip bound `1 − 1e-7`, which rounds to `1 − 2⁻²³` in `f32`.

use std::str::FromStr;

use candle_core::{DType, Tensor};

use crate::{Error, Result};

mod hinge;
mod probabilistic;
mod regression;

pub use hinge::{CategoricalHinge, Hinge, SquaredHinge};
pub use probabilistic::{
    BinaryCrossentropy, CategoricalCrossentropy, KLDivergence, Poisson, SparseCategoricalCrossentropy,
};
pub use regression::{CosineSimilarity, Huber, LogCosh, MeanAbsoluteError, MeanSquaredError};

/// Keras' fuzz factor `backend.epsilon()` (1e-7), used for clipping and in `log(ŷ + ε)`.
pub const EPSILON: f64 = 1e-7;

/// How per-sample loss values are reduced (Keras `reduction=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reduction {
    /// `"none"` / `None`: the weighted per-sample values, unreduced.
    None,
    /// `"sum"`: the sum of the weighted values.
    Sum,
    /// `"sum_over_batch_size"` (alias `"mean"`), the Keras default: the sum of the weighted
    /// values divided by the number of elements (not by the sum of the weights).
    #[default]
    SumOverBatchSize,
    /// `"mean_with_sample_weight"`: the sum of the weighted values divided by the sum of the
    /// weights (by the number of elements when there are no weights).
    MeanWithSampleWeight,
}

impl Reduction {
    /// The Keras spelling, e.g. `"sum_over_batch_size"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Reduction::None => "none",
            Reduction::Sum => "sum",
            Reduction::SumOverBatchSize => "sum_over_batch_size",
            Reduction::MeanWithSampleWeight => "mean_with_sample_weight",
        }
    }
}

impl FromStr for Reduction {
    type Err = Error;

    /// Parses a Keras reduction name: `none`, `sum`, `sum_over_batch_size`, `mean`,
    /// `mean_with_sample_weight`.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "none" | "None" => Ok(Reduction::None),
            "sum" => Ok(Reduction::Sum),
            "sum_over_batch_size" | "mean" => Ok(Reduction::SumOverBatchSize),
            "mean_with_sample_weight" => Ok(Reduction::MeanWithSampleWeight),
            other => Err(Error::InvalidArgument {
                context: "Reduction",
                message: format!(
                    "unknown reduction {other:?}; expected one of none, sum, \
                     sum_over_batch_size, mean, mean_with_sample_weight"
                ),
            }),
        }
    }
}

impl std::fmt::Display for Reduction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A Keras loss: per-sample values reduced with sample weights (object safe).
pub trait Loss: Send + Sync {
    /// The Keras name of the loss (`get_config()["name"]`), e.g. `"mean_squared_error"`.
    fn name(&self) -> &'static str;
    /// The reduction applied by [`Loss::call`].
    fn reduction(&self) -> Reduction;
    /// Computes the loss like Keras `loss(y_true, y_pred, sample_weight=…)`.
    ///
    /// Returns a scalar for the reducing reductions, and the weighted per-sample values for
    /// [`Reduction::None`]. Differentiable with respect to `y_pred` (and `y_true`).
    fn call(&self, y_true: &Tensor, y_pred: &Tensor, sample_weight: Option<&Tensor>) -> Result<Tensor>;
}

/// Per-sample values with an optional Keras mask (`1` valid, `0` masked, same shape).
pub(crate) struct Values {
    pub values: Tensor,
    pub mask: Option<Tensor>,
}

impl From<Tensor> for Values {
    fn from(values: Tensor) -> Self {
        Values { values, mask: None }
    }
}

/// Implements [`Loss`], `Default` (= `new()`) and `with_reduction` for a struct with a
/// `reduction` field, a `new()` with Keras defaults and a
/// `fn values(&self, &Tensor, &Tensor) -> Result<Values>` method.
macro_rules! impl_loss {
    ($ty:ty, $name:expr) => {
        impl $ty {
            /// Sets the reduction.
            pub fn with_reduction(mut self, reduction: $crate::losses::Reduction) -> Self {
                self.reduction = reduction;
                self
            }
        }
        impl Default for $ty {
            fn default() -> Self {
                Self::new()
            }
        }
        impl $crate::losses::Loss for $ty {
            fn name(&self) -> &'static str {
                $name
            }
            fn reduction(&self) -> $crate::losses::Reduction {
                self.reduction
            }
            fn call(
                &self,
                y_true: &candle_core::Tensor,
                y_pred: &candle_core::Tensor,
                sample_weight: Option<&candle_core::Tensor>,
            ) -> $crate::Result<candle_core::Tensor> {
                let v = self.values(y_true, y_pred)?;
                $crate::losses::reduce_weighted_values(stringify!($ty), v.values, v.mask, sample_weight, self.reduction)
            }
        }
    };
}
pub(crate) use impl_loss;

/// Keras' `squeeze_or_expand_to_same_rank(x1, x2)` (with `expand_rank_1=True`).
pub(crate) fn squeeze_or_expand(x1: Tensor, x2: Tensor) -> Result<(Tensor, Tensor)> {
    let (r1, r2) = (x1.rank(), x2.rank());
    if r1 == r2 {
        return Ok((x1, x2));
    }
    let (mut x1, mut x2) = (x1, x2);
    if r1 == r2 + 1 && x1.dims().last() == Some(&1) {
        if r2 == 1 {
            x2 = x2.unsqueeze(1)?;
        } else {
            x1 = x1.squeeze(r1 - 1)?;
        }
    } else if r2 == r1 + 1 && x2.dims().last() == Some(&1) {
        if r1 == 1 {
            x1 = x1.unsqueeze(1)?;
        } else {
            x2 = x2.squeeze(r2 - 1)?;
        }
    }
    Ok((x1, x2))
}

/// `y_pred` in the dtype a loss computes in: `f32`, or `f64` for `f64` predictions (integers
/// and the half-precision floats of a mixed policy become `f32`, differentiably).
pub(crate) fn loss_input(y_pred: &Tensor) -> Result<Tensor> {
    Ok(match y_pred.dtype() {
        DType::F32 | DType::F64 => y_pred.clone(),
        _ => y_pred.to_dtype(DType::F32)?,
    })
}

/// `y_pred` as [`loss_input`] makes it and `y_true` cast to its dtype.
pub(crate) fn as_float_pair(y_true: &Tensor, y_pred: &Tensor) -> Result<(Tensor, Tensor)> {
    let y_pred = loss_input(y_pred)?;
    let y_true = if y_true.dtype() == y_pred.dtype() { y_true.clone() } else { y_true.to_dtype(y_pred.dtype())? };
    let y_true =
        if y_true.device().same_device(y_pred.device()) { y_true } else { y_true.to_device(y_pred.device())? };
    Ok((y_true, y_pred))
}

/// Casts, aligns ranks and requires equal shapes: the preamble of the element-wise losses.
pub(crate) fn prepare(context: &'static str, y_true: &Tensor, y_pred: &Tensor) -> Result<(Tensor, Tensor)> {
    let (t, p) = as_float_pair(y_true, y_pred)?;
    let (t, p) = squeeze_or_expand(t, p)?;
    if t.dims() != p.dims() {
        return Err(Error::shape(
            context,
            "y_true",
            y_true.dims(),
            "y_pred",
            y_pred.dims(),
            "expected equal shapes (up to a trailing axis of size 1)",
        ));
    }
    Ok((t, p))
}

/// Resolves a Keras axis (negative counts from the end) against a rank.
pub(crate) fn resolve_axis(context: &'static str, axis: i64, rank: usize) -> Result<usize> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if a < 0 || a >= r {
        return Err(Error::InvalidArgument {
            context,
            message: format!("axis {axis} is out of range for a tensor of rank {rank}"),
        });
    }
    Ok(a as usize)
}

/// Mean over the last axis (a rank-0 input is returned as it is).
pub(crate) fn mean_last(x: &Tensor) -> Result<Tensor> {
    if x.rank() == 0 {
        return Ok(x.clone());
    }
    Ok(x.mean(x.rank() - 1)?)
}

/// `divide_no_nan(num, den)` for tensors of equal shape: 0 where `den == 0`.
pub(crate) fn divide_no_nan(num: &Tensor, den: &Tensor) -> Result<Tensor> {
    let zero = den.eq(0.0)?;
    let safe = zero.where_cond(&den.ones_like()?, den)?;
    let q = num.div(&safe)?;
    Ok(zero.where_cond(&q.zeros_like()?, &q)?)
}

/// Broadcasts `w` to `shape` with NumPy rules, or fails naming both shapes.
fn broadcast_weight(context: &'static str, w: &Tensor, values: &Tensor, name: &'static str) -> Result<Tensor> {
    if w.dims() == values.dims() {
        return Ok(w.clone());
    }
    w.broadcast_as(values.shape()).map_err(|_| {
        Error::shape(
            context,
            name,
            w.dims(),
            "loss values",
            values.dims(),
            "expected sample_weight broadcastable to the per-sample loss values",
        )
    })
}

/// Keras' `reduce_weighted_values`: applies the mask and the sample weights, then reduces.
pub(crate) fn reduce_weighted_values(
    context: &'static str,
    values: Tensor,
    mask: Option<Tensor>,
    sample_weight: Option<&Tensor>,
    reduction: Reduction,
) -> Result<Tensor> {
    let dtype = values.dtype();
    let mut sw = match sample_weight {
        Some(w) => {
            let w = if w.dtype() == dtype { w.clone() } else { w.to_dtype(dtype)? };
            Some(if w.device().same_device(values.device()) { w } else { w.to_device(values.device())? })
        }
        None => None,
    };
    // apply_mask: masked entries get weight 0; with the mean reductions, valid entries get
    // total/valid so that the mean is over the valid entries.
    if let Some(mask) = mask {
        let mut m = mask.to_dtype(dtype)?;
        if reduction == Reduction::SumOverBatchSize {
            let total = m.elem_count() as f64;
            let valid = m.sum_all()?;
            let scale = valid.affine(1.0, EPSILON)?.recip()?.affine(total, 0.0)?;
            m = m.broadcast_mul(&scale)?;
        }
        sw = Some(match sw {
            Some(w) => {
                let (m, w) = squeeze_or_expand(m, w)?;
                let wb = broadcast_weight(context, &w, &m, "sample_weight")?;
                wb.mul(&m)?
            }
            None => m,
        });
    }
    let (values, sw) = match sw {
        Some(w) => {
            let (v, w) = squeeze_or_expand(values, w)?;
            let wb = broadcast_weight(context, &w, &v, "sample_weight")?;
            (v.mul(&wb)?, Some(w))
        }
        None => (values, None),
    };
    if reduction == Reduction::None || values.rank() == 0 || values.dims() == [0] {
        return Ok(values);
    }
    let loss = values.sum_all()?;
    match reduction {
        Reduction::Sum => Ok(loss),
        Reduction::MeanWithSampleWeight if sw.is_some() => {
            let den = sw.as_ref().map(|w| w.sum_all()).transpose()?;
            match den {
                Some(den) => divide_no_nan(&loss, &den),
                None => Ok(loss),
            }
        }
        _ => {
            let n = values.elem_count();
            if n == 0 {
                Ok(loss.zeros_like()?)
            } else {
                Ok(loss.affine(1.0 / n as f64, 0.0)?)
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::excessive_precision)]
pub(crate) mod testutil {
    use candle_core::{Device, Tensor};

    pub fn t2(rows: &[[f32; 3]]) -> Tensor {
        let flat: Vec<f32> = rows.iter().flatten().copied().collect();
        Tensor::from_vec(flat, (rows.len(), 3), &Device::Cpu).expect("tensor")
    }

    pub fn t1(v: &[f32]) -> Tensor {
        Tensor::from_slice(v, v.len(), &Device::Cpu).expect("tensor")
    }

    pub fn vec1(t: &Tensor) -> Vec<f32> {
        t.to_vec1::<f32>().expect("vec1")
    }

    pub fn scalar(t: &Tensor) -> f32 {
        t.to_scalar::<f32>().expect("scalar")
    }

    pub fn close(a: f32, b: f32) -> bool {
        (a - b).abs() <= 1e-5 + 1e-4 * b.abs()
    }

    pub fn assert_vec(got: &[f32], exp: &[f32]) {
        assert_eq!(got.len(), exp.len(), "{got:?} vs {exp:?}");
        for (g, e) in got.iter().zip(exp) {
            assert!(close(*g, *e), "{got:?} vs {exp:?}");
        }
    }

    // Golden inputs (keras_golden.json, losses.inputs).
    pub const YT_REG: [[f32; 3]; 4] = [[0.0, 1.0, 2.0], [1.5, -0.5, 0.0], [3.0, 0.2, -1.0], [0.0, 0.0, 0.5]];
    pub const YP_REG: [[f32; 3]; 4] = [[0.1, 0.7, 3.5], [1.0, -0.4, 0.2], [0.5, 0.3, -1.2], [0.2, -0.3, 2.0]];
    pub const YT_POS: [[f32; 3]; 4] = [[1.0, 0.0, 3.0], [0.0, 2.0, 1.0], [4.0, 1.0, 0.0], [0.5, 0.5, 2.0]];
    pub const YP_POS: [[f32; 3]; 4] = [[0.9, 0.1, 2.0], [0.3, 1.5, 1.2], [3.0, 0.0, 0.4], [0.6, 0.4, 1.7]];
    pub const YT_OH: [[f32; 3]; 4] = [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]];
    pub const YT_SP: [i64; 4] = [1, 0, 2, 1];
    pub const PROBS: [[f32; 3]; 4] = [[0.2, 0.7, 0.1], [0.0, 0.5, 0.5], [0.1, 0.1, 0.8], [0.3, 0.3, 0.4]];
    pub const LOGITS: [[f32; 3]; 4] = [[1.0, 2.0, 0.5], [-1.0, 3.0, 0.0], [0.2, 0.1, 4.0], [10.0, -10.0, 0.0]];
    pub const YT_BIN: [[f32; 3]; 4] = [[1.0, 0.0, 1.0], [0.0, 0.0, 1.0], [1.0, 1.0, 0.0], [0.0, 1.0, 0.0]];
    pub const P_BIN: [[f32; 3]; 4] = [[0.9, 0.2, 1.0], [0.0, 0.3, 0.6], [0.7, 0.8, 0.1], [0.4, 0.55, 0.5]];
    pub const Z_BIN: [[f32; 3]; 4] = [[2.0, -1.0, 20.0], [-30.0, -0.5, 0.4], [0.8, 1.5, -2.0], [-0.3, 0.2, 0.0]];
    pub const YT_HINGE_PM: [[f32; 3]; 4] = [[1.0, -1.0, 1.0], [-1.0, -1.0, 1.0], [1.0, 1.0, -1.0], [-1.0, 1.0, -1.0]];
    pub const SW: [f32; 4] = [1.0, 0.5, 2.0, 0.0];
}

#[cfg(test)]
#[allow(clippy::excessive_precision, clippy::approx_constant)]
mod tests {
    use super::testutil::*;
    use super::*;

    /// Golden `mse`: every reduction with and without sample weights.
    #[test]
    fn reductions_match_keras() {
        let (t, p, w) = (t2(&YT_REG), t2(&YP_REG), t1(&SW));
        let mk = |r| MeanSquaredError::new().with_reduction(r);
        let none = mk(Reduction::None).call(&t, &p, None).unwrap();
        assert_vec(&vec1(&none), &[0.7833333, 0.09999999, 2.1000001, 0.79333335]);
        let none_w = mk(Reduction::None).call(&t, &p, Some(&w)).unwrap();
        assert_vec(&vec1(&none_w), &[0.7833333, 0.049999997, 4.2000003, 0.0]);
        let cases = [
            (Reduction::SumOverBatchSize, 0.9441667, 1.2583334),
            (Reduction::Sum, 3.776667, 5.0333338),
            (Reduction::MeanWithSampleWeight, 0.9441667, 1.4380953),
        ];
        for (r, plain, weighted) in cases {
            assert!(close(scalar(&mk(r).call(&t, &p, None).unwrap()), plain), "{r}");
            assert!(close(scalar(&mk(r).call(&t, &p, Some(&w)).unwrap()), weighted), "{r}");
        }
    }

    #[test]
    fn weight_rank_alignment_and_zero_weights() {
        let (t, p) = (t2(&YT_REG), t2(&YP_REG));
        // (B, 1) weights are squeezed to (B,).
        let w = t1(&SW).reshape((4, 1)).unwrap();
        let l = MeanSquaredError::new().call(&t, &p, Some(&w)).unwrap();
        assert!(close(scalar(&l), 1.2583334));
        // All-zero weights: mean_with_sample_weight is 0/0 = 0 (divide_no_nan).
        let z = t1(&[0.0; 4]);
        let l = MeanSquaredError::new().with_reduction(Reduction::MeanWithSampleWeight).call(&t, &p, Some(&z)).unwrap();
        assert_eq!(scalar(&l), 0.0);
    }

    #[test]
    fn weight_shape_mismatch_is_an_error() {
        let (t, p) = (t2(&YT_REG), t2(&YP_REG));
        let w = t1(&[1.0, 2.0, 3.0]);
        let e = MeanSquaredError::new().call(&t, &p, Some(&w)).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("[3]") && msg.contains("[4]"), "{msg}");
    }

    #[test]
    fn prediction_shape_mismatch_names_both_shapes() {
        let t = t2(&YT_REG);
        let p = t1(&[1.0, 2.0, 3.0, 4.0]);
        let e = MeanAbsoluteError::new().call(&t, &p, None).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("[4, 3]") && msg.contains("[4]"), "{msg}");
    }

    #[test]
    fn reduction_parsing() {
        assert_eq!("mean".parse::<Reduction>().unwrap(), Reduction::SumOverBatchSize);
        assert_eq!("none".parse::<Reduction>().unwrap(), Reduction::None);
        assert_eq!("mean_with_sample_weight".parse::<Reduction>().unwrap(), Reduction::MeanWithSampleWeight);
        assert!("avg".parse::<Reduction>().is_err());
        assert_eq!(Reduction::default(), Reduction::SumOverBatchSize);
    }

    #[test]
    fn rank1_trailing_axis_is_aligned() {
        // y_true (B,) vs y_pred (B, 1): y_true is expanded, per-sample values have shape (B,).
        let t = t1(&[1.0, 0.0]);
        let p = Tensor::from_vec(vec![0.5f32, 0.5], (2, 1), &candle_core::Device::Cpu).unwrap();
        let l = MeanSquaredError::new().with_reduction(Reduction::None).call(&t, &p, None).unwrap();
        assert_eq!(l.dims(), &[2]);
        assert_vec(&vec1(&l), &[0.25, 0.25]);
    }

    #[test]
    fn half_precision_predictions_are_computed_in_f32() {
        let logits = t2(&[[0.3, -1.2, 2.0], [1.0, 0.5, -0.25]]);
        let labels = Tensor::new(&[2u32, 0], &candle_core::Device::Cpu).unwrap();
        let targets = t2(&[[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]);
        let losses: [Box<dyn Loss>; 3] = [
            Box::new(SparseCategoricalCrossentropy::new().with_from_logits(true)),
            Box::new(MeanSquaredError::new()),
            Box::new(BinaryCrossentropy::new().with_from_logits(true)),
        ];
        for dtype in [DType::BF16, DType::F16] {
            // The half-precision logits, and the same (rounded) values in f32.
            let half = candle_core::Var::from_tensor(&logits.to_dtype(dtype).unwrap()).unwrap();
            let same = half.to_dtype(DType::F32).unwrap();
            for loss in &losses {
                let y = if loss.name() == "sparse_categorical_crossentropy" { &labels } else { &targets };
                let got = loss.call(y, &half, None).unwrap();
                assert_eq!(got.dtype(), DType::F32, "{} {dtype:?}", loss.name());
                assert_eq!(scalar(&got), scalar(&loss.call(y, &same, None).unwrap()), "{} {dtype:?}", loss.name());
                let grads = got.backward().unwrap();
                assert_eq!(grads.get(half.as_tensor()).unwrap().dtype(), dtype, "{} gradient", loss.name());
            }
        }
    }

    #[test]
    fn losses_are_differentiable() {
        let t = t2(&YT_OH);
        let p = candle_core::Var::from_tensor(&t2(&LOGITS)).unwrap();
        let l = CategoricalCrossentropy::new().with_from_logits(true).call(&t, p.as_tensor(), None).unwrap();
        let g = l.backward().unwrap();
        let grad = g.get(p.as_tensor()).expect("gradient");
        // d/dz mean CE = (softmax(z) - y) / B; each row sums to 0.
        let rows = grad.sum(1).unwrap().to_vec1::<f32>().unwrap();
        for r in rows {
            assert!(r.abs() < 1e-6);
        }
    }
}
