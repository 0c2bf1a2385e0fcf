//! Keras' `Adadelta` update rule.

use candle_core::{Result, Tensor, Var};

use crate::rule::UpdateRule;

/// Keras `Adadelta(learning_rate=0.001, rho=0.95, epsilon=1e-7)`.
///
/// Note that Keras' default learning rate is 0.001, not the 1.0 of the paper and of
/// PyTorch. Two slots, both starting at 0: `accumulated_grad` (A) and
/// `accumulated_delta_var` (D). One step, with learning rate η:
///
/// ```text
/// A ← ρA + (1 − ρ) g²
/// Δ = − sqrt(D + ε) / sqrt(A + ε) · g
/// D ← ρD + (1 − ρ) Δ²
/// θ ← θ + η Δ
/// ```
#[derive(Debug, Clone)]
pub struct AdadeltaRule {
    /// Decay rate `ρ` of both running averages (Keras `rho`, default 0.95).
    pub rho: f64,
    /// `ε`, added inside both square roots (Keras `epsilon`, default 1e-7).
    pub epsilon: f64,
}

impl AdadeltaRule {
    /// Keras' default learning rate for `Adadelta`.
    pub const DEFAULT_LEARNING_RATE: f64 = 0.001;
}

impl Default for AdadeltaRule {
    fn default() -> Self {
        Self { rho: 0.95, epsilon: 1e-7 }
    }
}

impl UpdateRule for AdadeltaRule {
    fn name(&self) -> &'static str {
        "Adadelta"
    }

    fn init_slots(&self, var: &Tensor) -> Result<Vec<(&'static str, Var)>> {
        Ok(vec![
            ("accumulated_grad", Var::zeros(var.shape(), var.dtype(), var.device())?),
            ("accumulated_delta_var", Var::zeros(var.shape(), var.dtype(), var.device())?),
        ])
    }

    fn update(&self, var: &Var, grad: &Tensor, slots: &[Var], lr: f64, _t: u64) -> Result<()> {
        let [acc_grad, acc_delta] = slots else {
            candle_core::bail!("Adadelta: expected 2 slots, got {}", slots.len())
        };
        if var.elem_count() == 0 {
            return Ok(());
        }
        let (rho, eps) = (self.rho, self.epsilon);
        let a = (acc_grad.affine(rho, 0.0)? + grad.sqr()?.affine(1.0 - rho, 0.0)?)?;
        let delta = ((acc_delta.affine(1.0, eps)?.sqrt()? * grad)? / a.affine(1.0, eps)?.sqrt()?)?.neg()?;
        let d = (acc_delta.affine(rho, 0.0)? + delta.sqr()?.affine(1.0 - rho, 0.0)?)?;
        let theta = (var.as_tensor() + delta.affine(lr, 0.0)?)?;
        acc_grad.set(&a)?;
        acc_delta.set(&d)?;
        var.set(&theta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::golden_test::check_golden;

    /// `adadelta_default`: `Adadelta({})`, `after_step[0..3]`.
    const ADADELTA_DEFAULT: [([f32; 6], [f32; 3]); 3] = [
        (
            [0.4999986, -0.2999986, 0.7999986, -1.2000015, 0.050001416, 1.4142101e-06],
            [0.099998586, -0.19999859, 0.3000014],
        ),
        (
            [0.5000005, -0.29999992, 0.79999715, -1.2000016, 0.050000396, 7.2292346e-07],
            [0.10000057, -0.20000012, 0.3000034],
        ),
        (
            [0.49999854, -0.29999992, 0.79999757, -1.2000004, 0.0499993, 9.665116e-07],
            [0.10000183, -0.19999862, 0.30000204],
        ),
    ];
    /// `adadelta_lr1`: `Adadelta({'learning_rate': 1.0})`, `after_step[0..3]`.
    const ADADELTA_LR1: [([f32; 6], [f32; 3]); 3] = [
        (
            [0.49858585, -0.2985858, 0.79858583, -1.2014142, 0.051414214, 0.0014142101],
            [0.098586135, -0.19858585, 0.3013946],
        ),
        (
            [0.5004746, -0.29989642, 0.7971289, -1.2015579, 0.05039438, 0.00072292343],
            [0.10056518, -0.2001203, 0.3033805],
        ),
        (
            [0.49854445, -0.29989642, 0.7975581, -1.2003597, 0.04929753, 0.00096651155],
            [0.10182763, -0.19861759, 0.3019992],
        ),
    ];

    #[test]
    fn defaults_match_keras() {
        let r = AdadeltaRule::default();
        assert_eq!((r.rho, r.epsilon, AdadeltaRule::DEFAULT_LEARNING_RATE), (0.95, 1e-7, 0.001));
        assert_eq!(r.name(), "Adadelta");
        assert!(r.validate().is_ok());
    }

    #[test]
    fn adadelta_default_matches_keras() -> Result<()> {
        check_golden("adadelta_default", &mut AdadeltaRule::default(), 0.001, &ADADELTA_DEFAULT)?;
        Ok(())
    }

    #[test]
    fn adadelta_lr1_matches_keras() -> Result<()> {
        check_golden("adadelta_lr1", &mut AdadeltaRule::default(), 1.0, &ADADELTA_LR1)?;
        Ok(())
    }
}
