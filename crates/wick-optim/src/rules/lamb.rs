//! Keras' `Lamb` update rule (layer-wise adaptive moments).

use candle_core::{Result, Tensor, Var};

use crate::rule::UpdateRule;

/// Keras `Lamb(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7)`.
///
/// Two slots, both starting at 0: `momentum` (m) and `velocity` (v). One step `t`
/// (`iterations + 1`), with learning rate η:
///
/// ```text
/// m ← m + (g − m)(1 − β1);   v ← v + (g² − v)(1 − β2)
/// r = (m / (1 − β1^t)) / (sqrt(v / (1 − β2^t)) + ε)
/// trust = ‖θ‖₂ / ‖r‖₂ if both norms are > 0, else 1   # norms over the whole tensor
/// θ ← θ − trust · η · r
/// ```
///
/// Weight decay is not part of `r`: Keras applies it in the generic (decoupled) step
/// before the update. The trust ratio is computed on the device as a 0-d tensor.
#[derive(Debug, Clone)]
pub struct LambRule {
    /// Decay rate `β1` of the first moment (Keras `beta_1`, default 0.9).
    pub beta_1: f64,
    /// Decay rate `β2` of the second moment (Keras `beta_2`, default 0.999).
    pub beta_2: f64,
    /// `ε`, added to the bias-corrected `sqrt(v̂)` (Keras `epsilon`, default 1e-7).
    pub epsilon: f64,
}

impl LambRule {
    /// Keras' default learning rate for `Lamb`.
    pub const DEFAULT_LEARNING_RATE: f64 = 0.001;
}

impl Default for LambRule {
    fn default() -> Self {
        Self { beta_1: 0.9, beta_2: 0.999, epsilon: 1e-7 }
    }
}

impl UpdateRule for LambRule {
    fn name(&self) -> &'static str {
        "Lamb"
    }

    fn init_slots(&self, var: &Tensor) -> Result<Vec<(&'static str, Var)>> {
        Ok(vec![
            ("momentum", Var::zeros(var.shape(), var.dtype(), var.device())?),
            ("velocity", Var::zeros(var.shape(), var.dtype(), var.device())?),
        ])
    }

    fn update(&self, var: &Var, grad: &Tensor, slots: &[Var], lr: f64, t: u64) -> Result<()> {
        let [m, v] = slots else { candle_core::bail!("Lamb: expected 2 slots, got {}", slots.len()) };
        if var.elem_count() == 0 {
            return Ok(());
        }
        let (b1, b2) = (self.beta_1, self.beta_2);
        let t = t as f64;
        let new_m = ((grad - m.as_tensor())?.affine(1.0 - b1, 0.0)? + m.as_tensor())?;
        let new_v = ((grad.sqr()? - v.as_tensor())?.affine(1.0 - b2, 0.0)? + v.as_tensor())?;
        let m_hat = new_m.affine(1.0 / (1.0 - b1.powf(t)), 0.0)?;
        let v_sqrt = new_v.affine(1.0 / (1.0 - b2.powf(t)), 0.0)?.sqrt()?.affine(1.0, self.epsilon)?;
        let r = (m_hat / v_sqrt)?;
        let theta = var.as_tensor();
        let w_norm = theta.sqr()?.sum_all()?.sqrt()?;
        let r_norm = r.sqr()?.sum_all()?.sqrt()?;
        // 1 unless both norms are > 0 (a NaN norm also gives 1, as in Keras' `where`).
        let both_positive = (w_norm.gt(0.0)? * r_norm.gt(0.0)?)?;
        let ratio = both_positive.where_cond(&(&w_norm / &r_norm)?, &w_norm.ones_like()?)?;
        let new_theta = (theta - r.broadcast_mul(&ratio.affine(lr, 0.0)?)?)?;
        m.set(&new_m)?;
        v.set(&new_v)?;
        var.set(&new_theta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::golden_test::check_golden;
    use candle_core::{DType, Device};

    /// `lamb_lr0.1`: `Lamb({'learning_rate': 0.1})`, `after_step[0..3]`.
    const LAMB_LR0_1: [([f32; 6], [f32; 3]); 3] = [
        (
            [0.4364587, -0.23645869, 0.73645866, -1.2635413, 0.113541335, 0.06354134],
            [0.07839746, -0.17839745, 0.32160234],
        ),
        (
            [0.4894454, -0.23301241, 0.62494034, -1.3438338, 0.13668598, 0.10577997],
            [0.102439225, -0.1832588, 0.35010427],
        ),
        (
            [0.45311642, -0.22821549, 0.4935678, -1.3593123, 0.10382765, 0.17844927],
            [0.13907276, -0.16837172, 0.36024654],
        ),
    ];

    #[test]
    fn defaults_match_keras() {
        let r = LambRule::default();
        assert_eq!((r.beta_1, r.beta_2, r.epsilon, LambRule::DEFAULT_LEARNING_RATE), (0.9, 0.999, 1e-7, 0.001));
        assert_eq!(r.name(), "Lamb");
    }

    #[test]
    fn lamb_lr0_1_matches_keras() -> Result<()> {
        check_golden("lamb_lr0.1", &mut LambRule::default(), 0.1, &LAMB_LR0_1)?;
        Ok(())
    }

    #[test]
    fn zero_variable_uses_trust_ratio_one() -> Result<()> {
        // ‖θ‖ = 0, so the trust ratio is 1 and the first step is η·sign-like m̂/(√v̂+ε).
        let dev = Device::Cpu;
        let var = Var::zeros(2, DType::F32, &dev)?;
        let rule = LambRule::default();
        let slots: Vec<Var> = rule.init_slots(&var)?.into_iter().map(|(_, s)| s).collect();
        rule.update(&var, &Tensor::new(&[0.5f32, -2.0], &dev)?, &slots, 0.1, 1)?;
        let got = var.to_vec1::<f32>()?;
        assert!((got[0] + 0.1).abs() < 1e-6 && (got[1] - 0.1).abs() < 1e-6, "{got:?}");
        Ok(())
    }
}
