//! Keras' `Adamax` update rule.

use candle_core::{Result, Tensor, Var};

use crate::rule::UpdateRule;

mod cpu;

/// Keras `Adamax(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7)`.
///
/// Two slots, both starting at 0: `momentum` (m) and `norm` (u, the exponentially
/// weighted infinity norm). One step `t` (`iterations + 1`), with learning rate η:
///
/// ```text
/// m ← m + (g − m)(1 − β1)
/// u ← max(β2 u, |g|)
/// θ ← θ − η m / ((1 − β1^t)(u + ε))
/// ```
///
/// (PyTorch differs: it computes `max(β2 u, |g| + ε)` and divides by `u` alone.)
#[derive(Debug, Clone)]
pub struct AdamaxRule {
    /// Decay rate `β1` of the first moment (Keras `beta_1`, default 0.9).
    pub beta_1: f64,
    /// Decay rate `β2` of the infinity norm (Keras `beta_2`, default 0.999).
    pub beta_2: f64,
    /// `ε`, added to the norm (Keras `epsilon`, default 1e-7).
    pub epsilon: f64,
}

impl AdamaxRule {
    /// Keras' default learning rate for `Adamax`.
    pub const DEFAULT_LEARNING_RATE: f64 = 0.001;
}

impl Default for AdamaxRule {
    fn default() -> Self {
        Self { beta_1: 0.9, beta_2: 0.999, epsilon: 1e-7 }
    }
}

impl UpdateRule for AdamaxRule {
    fn name(&self) -> &'static str {
        "Adamax"
    }

    fn init_slots(&self, var: &Tensor) -> Result<Vec<(&'static str, Var)>> {
        Ok(vec![
            ("momentum", Var::zeros(var.shape(), var.dtype(), var.device())?),
            ("norm", Var::zeros(var.shape(), var.dtype(), var.device())?),
        ])
    }

    fn update(&self, var: &Var, grad: &Tensor, slots: &[Var], lr: f64, t: u64) -> Result<()> {
        let [m, u] = slots else { candle_core::bail!("Adamax: expected 2 slots, got {}", slots.len()) };
        if var.elem_count() == 0 {
            return Ok(());
        }
        if cpu::applies(var, grad, m, u) {
            return cpu::update(&self.cpu_hyper(), var, grad, m, u, lr, t);
        }
        self.update_with_tensor_ops(var, grad, m, u, lr, t)
    }
}

impl AdamaxRule {
    /// The hyper-parameters of the fused CPU passes.
    fn cpu_hyper(&self) -> cpu::Hyper {
        cpu::Hyper { beta_1: self.beta_1, beta_2: self.beta_2, epsilon: self.epsilon }
    }

    /// The update as Candle tensor ops: any device and dtype.
    fn update_with_tensor_ops(&self, var: &Var, grad: &Tensor, m: &Var, u: &Var, lr: f64, t: u64) -> Result<()> {
        let new_m = ((grad - m.as_tensor())?.affine(1.0 - self.beta_1, 0.0)? + m.as_tensor())?;
        let new_u = u.affine(self.beta_2, 0.0)?.maximum(&grad.abs()?)?;
        let bias = 1.0 - self.beta_1.powf(t as f64);
        let step = (new_m.affine(lr, 0.0)? / new_u.affine(bias, self.epsilon * bias)?)?;
        let theta = (var.as_tensor() - step)?;
        m.set(&new_m)?;
        u.set(&new_u)?;
        var.set(&theta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu_f32::testing::{assert_fused_equals_tensor_ops, assert_refuses_other_layouts};
    use crate::rules::golden_test::check_golden;

    /// `adamax_lr0.1`: `Adamax({'learning_rate': 0.1})`, `after_step[0..3]`.
    const ADAMAX_LR0_1: [([f32; 6], [f32; 3]); 3] = [
        ([0.4000001, -0.20000005, 0.70000005, -1.3, 0.14999996, 0.09999997], [1.7136335e-07, -0.10000008, 0.3999988]),
        (
            [0.43571112, -0.19713339, 0.6016652, -1.3511144, 0.16697663, 0.12850106],
            [0.04558454, -0.112008244, 0.45346034],
        ),
        (
            [0.42069256, -0.19532272, 0.5483332, -1.3566319, 0.15453106, 0.15089087],
            [0.092788875, -0.08432019, 0.46672294],
        ),
    ];

    #[test]
    fn defaults_match_keras() {
        let r = AdamaxRule::default();
        assert_eq!((r.beta_1, r.beta_2, r.epsilon, AdamaxRule::DEFAULT_LEARNING_RATE), (0.9, 0.999, 1e-7, 0.001));
        assert_eq!(r.name(), "Adamax");
    }

    #[test]
    fn adamax_lr0_1_matches_keras() -> Result<()> {
        check_golden("adamax_lr0.1", &mut AdamaxRule::default(), 0.1, &ADAMAX_LR0_1)?;
        Ok(())
    }

    fn applies_(_: &AdamaxRule, v: &Var, g: &Tensor, s: &[Var]) -> bool {
        cpu::applies(v, g, &s[0], &s[1])
    }

    #[test]
    fn fused_equals_tensor_ops_bit_for_bit() {
        assert_fused_equals_tensor_ops(
            "default",
            AdamaxRule::default,
            0.1,
            &applies_,
            &|r, v, g, s, lr, t| cpu::update(&r.cpu_hyper(), v, g, &s[0], &s[1], lr, t),
            &|r, v, g, s, lr, t| r.update_with_tensor_ops(v, g, &s[0], &s[1], lr, t),
        );
    }

    #[test]
    fn other_dtypes_and_layouts_take_the_tensor_ops() {
        assert_refuses_other_layouts(&AdamaxRule::default(), &applies_);
    }
}
