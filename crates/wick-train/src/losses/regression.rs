//! Regression losses: MeanSquaredError, MeanAbsoluteError, Huber, LogCosh, CosineSimilarity.

use candle_core::Tensor;

use super::{impl_loss, mean_last, prepare, resolve_axis, Reduction, Values, EPSILON};
use crate::Result;

/// Keras `MeanSquaredError` (name `"mean_squared_error"`): `ℓ = mean₋₁((y − ŷ)²)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MeanSquaredError {
    /// Reduction of the per-sample values (default `sum_over_batch_size`).
    pub reduction: Reduction,
}

impl MeanSquaredError {
    /// Keras defaults.
    pub fn new() -> Self {
        Self { reduction: Reduction::SumOverBatchSize }
    }
    fn values(&self, y_true: &Tensor, y_pred: &Tensor) -> Result<Values> {
        let (t, p) = prepare("MeanSquaredError", y_true, y_pred)?;
        Ok(mean_last(&p.sub(&t)?.sqr()?)?.into())
    }
}
impl_loss!(MeanSquaredError, "mean_squared_error");

/// Keras `MeanAbsoluteError` (name `"mean_absolute_error"`): `ℓ = mean₋₁|y − ŷ|`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MeanAbsoluteError {
    /// Reduction of the per-sample values (default `sum_over_batch_size`).
    pub reduction: Reduction,
}

impl MeanAbsoluteError {
    /// Keras defaults.
    pub fn new() -> Self {
        Self { reduction: Reduction::SumOverBatchSize }
    }
    fn values(&self, y_true: &Tensor, y_pred: &Tensor) -> Result<Values> {
        let (t, p) = prepare("MeanAbsoluteError", y_true, y_pred)?;
        Ok(mean_last(&p.sub(&t)?.abs()?)?.into())
    }
}
impl_loss!(MeanAbsoluteError, "mean_absolute_error");

/// Keras `Huber` (name `"huber_loss"`): with `e = ŷ − y`,
/// `ℓ = mean₋₁( |e| ≤ δ ? ½e² : δ|e| − ½δ² )`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Huber {
    /// The point `δ` where the loss turns from quadratic to linear (default 1.0).
    pub delta: f64,
    /// Reduction of the per-sample values (default `sum_over_batch_size`).
    pub reduction: Reduction,
}

impl Huber {
    /// Keras defaults (`delta = 1.0`).
    pub fn new() -> Self {
        Self { delta: 1.0, reduction: Reduction::SumOverBatchSize }
    }
    /// Sets `delta`.
    pub fn with_delta(mut self, delta: f64) -> Self {
        self.delta = delta;
        self
    }
    fn values(&self, y_true: &Tensor, y_pred: &Tensor) -> Result<Values> {
        let (t, p) = prepare("Huber", y_true, y_pred)?;
        let d = self.delta;
        let e = p.sub(&t)?;
        let a = e.abs()?;
        let quad = e.sqr()?.affine(0.5, 0.0)?;
        let lin = a.affine(d, -0.5 * d * d)?;
        let small = a.le(d)?;
        Ok(mean_last(&small.where_cond(&quad, &lin)?)?.into())
    }
}
impl_loss!(Huber, "huber_loss");

/// Numerically stable `softplus(x) = max(x, 0) + ln(1 + e^{−|x|})`.
pub(crate) fn softplus(x: &Tensor) -> Result<Tensor> {
    let tail = x.abs()?.neg()?.exp()?.affine(1.0, 1.0)?.log()?;
    Ok(x.relu()?.add(&tail)?)
}

/// Keras `LogCosh` (name `"log_cosh"`): with `x = ŷ − y`,
/// `ℓ = mean₋₁( x + softplus(−2x) − ln 2 )` (= `mean₋₁ ln cosh x`, stably).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogCosh {
    /// Reduction of the per-sample values (default `sum_over_batch_size`).
    pub reduction: Reduction,
}

impl LogCosh {
    /// Keras defaults.
    pub fn new() -> Self {
        Self { reduction: Reduction::SumOverBatchSize }
    }
    fn values(&self, y_true: &Tensor, y_pred: &Tensor) -> Result<Values> {
        let (t, p) = prepare("LogCosh", y_true, y_pred)?;
        let x = p.sub(&t)?;
        let sp = softplus(&x.affine(-2.0, 0.0)?)?;
        let v = x.add(&sp)?.affine(1.0, -std::f64::consts::LN_2)?;
        Ok(mean_last(&v)?.into())
    }
}
impl_loss!(LogCosh, "log_cosh");

/// Keras `CosineSimilarity` (name `"cosine_similarity"`):
/// `ℓ = −Σ_axis (y / max(‖y‖, ε)) · (ŷ / max(‖ŷ‖, ε))`, in `[−1, 1]` (ε = 1e-7).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CosineSimilarity {
    /// The axis along which the similarity is computed (default −1).
    pub axis: i64,
    /// Reduction of the per-sample values (default `sum_over_batch_size`).
    pub reduction: Reduction,
}

impl CosineSimilarity {
    /// Keras defaults (`axis = -1`).
    pub fn new() -> Self {
        Self { axis: -1, reduction: Reduction::SumOverBatchSize }
    }
    /// Sets the axis.
    pub fn with_axis(mut self, axis: i64) -> Self {
        self.axis = axis;
        self
    }
    fn values(&self, y_true: &Tensor, y_pred: &Tensor) -> Result<Values> {
        let (t, p) = prepare("CosineSimilarity", y_true, y_pred)?;
        let ax = resolve_axis("CosineSimilarity", self.axis, t.rank())?;
        let normalize = |x: &Tensor| -> Result<Tensor> {
            let n = x.sqr()?.sum_keepdim(ax)?.sqrt()?.maximum(EPSILON)?;
            Ok(x.broadcast_div(&n)?)
        };
        Ok(normalize(&t)?.mul(&normalize(&p)?)?.sum(ax)?.neg()?.into())
    }
}
impl_loss!(CosineSimilarity, "cosine_similarity");

#[cfg(test)]
#[allow(clippy::excessive_precision, clippy::approx_constant)]
mod tests {
    use super::super::testutil::*;
    use super::super::Loss;
    use super::*;

    fn none<L: Loss>(l: &L, t: &[[f32; 3]; 4], p: &[[f32; 3]; 4]) -> Vec<f32> {
        vec1(&l.call(&t2(t), &t2(p), None).unwrap())
    }

    #[test]
    fn mae_golden() {
        let l = MeanAbsoluteError::new().with_reduction(Reduction::None);
        assert_vec(&none(&l, &YT_REG, &YP_REG), &[0.6333333, 0.26666668, 0.93333334, 0.6666667]);
        let s = MeanAbsoluteError::new().call(&t2(&YT_REG), &t2(&YP_REG), Some(&t1(&SW))).unwrap();
        assert!(close(scalar(&s), 0.6583333));
    }

    #[test]
    fn huber_golden() {
        let l = Huber::new().with_reduction(Reduction::None);
        assert_vec(&none(&l, &YT_REG, &YP_REG), &[0.35, 0.049999997, 0.675, 0.355]);
        let l = Huber::new().with_delta(0.5).with_reduction(Reduction::None);
        assert_vec(&none(&l, &YT_REG, &YP_REG), &[0.225, 0.049999997, 0.38333333, 0.23]);
        let s = Huber::new()
            .with_delta(0.5)
            .with_reduction(Reduction::MeanWithSampleWeight)
            .call(&t2(&YT_REG), &t2(&YP_REG), Some(&t1(&SW)))
            .unwrap();
        assert!(close(scalar(&s), 0.29047617));
    }

    #[test]
    fn log_cosh_golden() {
        let l = LogCosh::new().with_reduction(Reduction::None);
        assert_vec(&none(&l, &YT_REG, &YP_REG), &[0.30159083, 0.048324723, 0.61280924, 0.30654967]);
    }

    #[test]
    fn cosine_similarity_golden() {
        let l = CosineSimilarity::new().with_reduction(Reduction::None);
        assert_vec(&none(&l, &YT_REG, &YP_REG), &[-0.96438545, -0.9814955, -0.6528783, -0.9841357]);
        let s = CosineSimilarity::new().call(&t2(&YT_REG), &t2(&YP_REG), None).unwrap();
        assert!(close(scalar(&s), -0.8957237));
    }

    #[test]
    fn names_match_keras() {
        assert_eq!(MeanSquaredError::new().name(), "mean_squared_error");
        assert_eq!(Huber::new().name(), "huber_loss");
        assert_eq!(CosineSimilarity::new().name(), "cosine_similarity");
    }
}
