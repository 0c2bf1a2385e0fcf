//! Hinge losses: Hinge, SquaredHinge, CategoricalHinge.

use candle_core::Tensor;

use super::{impl_loss, mean_last, prepare, Reduction, Values};
use crate::Result;

/// Keras' `convert_binary_labels_to_hinge`: if **every** label is 0 or 1, `y ← 2y − 1`.
/// Decided on the device (no host read): `y + b·(y − 1)` with `b = all(y ∈ {0, 1})`.
fn to_pm1(y: &Tensor) -> Result<Tensor> {
    if y.elem_count() == 0 {
        return Ok(y.clone());
    }
    let zero = y.eq(0.0)?.to_dtype(y.dtype())?;
    let one = y.eq(1.0)?.to_dtype(y.dtype())?;
    let is_binary = zero.add(&one)?.flatten_all()?.min(0)?;
    Ok(y.add(&y.affine(1.0, -1.0)?.broadcast_mul(&is_binary)?)?)
}

/// Keras `Hinge` (name `"hinge"`): labels in {0, 1} are first mapped to {−1, 1}
/// (only when every label is 0 or 1), then `ℓ = mean₋₁ max(1 − y·ŷ, 0)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hinge {
    /// Reduction of the per-sample values (default `sum_over_batch_size`).
    pub reduction: Reduction,
}

impl Hinge {
    /// Keras defaults.
    pub fn new() -> Self {
        Self { reduction: Reduction::SumOverBatchSize }
    }
    fn values(&self, y_true: &Tensor, y_pred: &Tensor) -> Result<Values> {
        let (t, p) = prepare("Hinge", y_true, y_pred)?;
        let t = to_pm1(&t)?;
        Ok(mean_last(&t.mul(&p)?.affine(-1.0, 1.0)?.relu()?)?.into())
    }
}
impl_loss!(Hinge, "hinge");

/// Keras `SquaredHinge` (name `"squared_hinge"`): labels in {0, 1} are first mapped to
/// {−1, 1} (only when every label is 0 or 1), then `ℓ = mean₋₁ max(1 − y·ŷ, 0)²`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SquaredHinge {
    /// Reduction of the per-sample values (default `sum_over_batch_size`).
    pub reduction: Reduction,
}

impl SquaredHinge {
    /// Keras defaults.
    pub fn new() -> Self {
        Self { reduction: Reduction::SumOverBatchSize }
    }
    fn values(&self, y_true: &Tensor, y_pred: &Tensor) -> Result<Values> {
        let (t, p) = prepare("SquaredHinge", y_true, y_pred)?;
        let t = to_pm1(&t)?;
        Ok(mean_last(&t.mul(&p)?.affine(-1.0, 1.0)?.relu()?.sqr()?)?.into())
    }
}
impl_loss!(SquaredHinge, "squared_hinge");

/// Keras `CategoricalHinge` (name `"categorical_hinge"`):
/// `ℓ = max(max₋₁((1 − y)·ŷ) − Σ₋₁ y·ŷ + 1, 0)` for one-hot `y`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CategoricalHinge {
    /// Reduction of the per-sample values (default `sum_over_batch_size`).
    pub reduction: Reduction,
}

impl CategoricalHinge {
    /// Keras defaults.
    pub fn new() -> Self {
        Self { reduction: Reduction::SumOverBatchSize }
    }
    fn values(&self, y_true: &Tensor, y_pred: &Tensor) -> Result<Values> {
        let (t, p) = prepare("CategoricalHinge", y_true, y_pred)?;
        if t.rank() == 0 {
            return Err(crate::Error::InvalidArgument {
                context: "CategoricalHinge",
                message: "y_true and y_pred need a class axis (rank ≥ 1)".into(),
            });
        }
        let last = t.rank() - 1;
        let pos = t.mul(&p)?.sum(last)?;
        let neg = t.affine(-1.0, 1.0)?.mul(&p)?.max(last)?;
        Ok(neg.sub(&pos)?.affine(1.0, 1.0)?.relu()?.into())
    }
}
impl_loss!(CategoricalHinge, "categorical_hinge");

#[cfg(test)]
#[allow(clippy::excessive_precision, clippy::approx_constant)]
mod tests {
    use super::super::testutil::*;
    use super::super::Loss;
    use super::*;

    #[test]
    fn hinge_golden_both_label_conventions() {
        let l = Hinge::new().with_reduction(Reduction::None);
        let exp = [0.0, 0.36666667, 0.06666666, 0.8333333];
        assert_vec(&vec1(&l.call(&t2(&YT_BIN), &t2(&Z_BIN), None).unwrap()), &exp);
        assert_vec(&vec1(&l.call(&t2(&YT_HINGE_PM), &t2(&Z_BIN), None).unwrap()), &exp);
        let s = Hinge::new().call(&t2(&YT_BIN), &t2(&Z_BIN), Some(&t1(&SW))).unwrap();
        assert!(close(scalar(&s), 0.079166666));
    }

    #[test]
    fn squared_hinge_golden() {
        let l = SquaredHinge::new().with_reduction(Reduction::None);
        let got = vec1(&l.call(&t2(&YT_BIN), &t2(&Z_BIN), None).unwrap());
        assert_vec(&got, &[0.0, 0.20333333, 0.013333332, 0.71000004]);
    }

    #[test]
    fn mixed_labels_are_not_converted() {
        // One label is 0.5, so no {0,1} → {−1,1} conversion happens.
        let t = t1(&[1.0, 0.0, 0.5]).unsqueeze(0).unwrap();
        let p = t1(&[0.5, 0.5, 0.5]).unsqueeze(0).unwrap();
        let l = Hinge::new().call(&t, &p, None).unwrap();
        // max(1-0.5,0)=0.5, max(1-0,0)=1, max(1-0.25,0)=0.75 → mean 0.75
        assert!(close(scalar(&l), 0.75));
    }

    #[test]
    fn categorical_hinge_formula() {
        let t = t1(&[0.0, 1.0, 0.0]).unsqueeze(0).unwrap();
        let p = t1(&[0.3, 0.6, 0.1]).unsqueeze(0).unwrap();
        let l = CategoricalHinge::new().call(&t, &p, None).unwrap();
        assert!(close(scalar(&l), 0.7)); // max(0.3 - 0.6 + 1, 0)
    }
}
