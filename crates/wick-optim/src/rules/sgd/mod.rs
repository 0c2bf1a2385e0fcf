//! Keras `SGD`: gradient descent with optional (Nesterov) momentum.

use candle_core::{Result, Tensor, Var};

use crate::rule::UpdateRule;

mod cpu;
use crate::error::Error;

/// Keras `keras.optimizers.SGD(learning_rate=0.01, momentum=0.0, nesterov=False)`.
///
/// With momentum μ = 0: `θ ← θ − η·g` (no slot). With μ > 0, one slot `"momentum"` m
/// (starting at 0), and `η` inside the buffer (unlike PyTorch):
///
/// ```text
/// m ← μ·m − η·g
/// θ ← θ + m                 (classic)
/// θ ← θ + μ·m − η·g         (nesterov, with the new m)
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct SgdRule {
    /// μ, in `[0, 1]` (Keras `momentum`, default 0.0).
    pub momentum: f64,
    /// Nesterov momentum (Keras `nesterov`, default false).
    pub nesterov: bool,
}

impl SgdRule {
    /// Keras' default learning rate for SGD.
    pub const DEFAULT_LEARNING_RATE: f64 = 0.01;
}

impl Default for SgdRule {
    fn default() -> Self {
        SgdRule { momentum: 0.0, nesterov: false }
    }
}

impl UpdateRule for SgdRule {
    fn name(&self) -> &'static str {
        "SGD"
    }

    fn validate(&self) -> crate::error::Result<()> {
        if !(0.0..=1.0).contains(&self.momentum) {
            return Err(Error::InvalidArgument {
                context: "SGD",
                message: format!("`momentum` must be a float between [0, 1]; received momentum={}", self.momentum),
            });
        }
        Ok(())
    }

    fn init_slots(&self, var: &Tensor) -> Result<Vec<(&'static str, Var)>> {
        if self.momentum != 0.0 {
            Ok(vec![("momentum", Var::zeros(var.shape(), var.dtype(), var.device())?)])
        } else {
            Ok(Vec::new())
        }
    }

    fn update(&self, var: &Var, grad: &Tensor, slots: &[Var], lr: f64, _t: u64) -> Result<()> {
        let g = grad.to_dtype(var.dtype())?;
        let m = self.momentum_slot(slots);
        if cpu::applies(var, &g, m) {
            return cpu::update(&self.cpu_hyper(), var, &g, m, lr);
        }
        self.update_with_tensor_ops(var, &g, slots, lr)
    }
}

impl SgdRule {
    /// The momentum slot, when the update uses one.
    fn momentum_slot<'a>(&self, slots: &'a [Var]) -> Option<&'a Var> {
        slots.first().filter(|_| self.momentum != 0.0)
    }

    /// The hyper-parameters of the fused CPU passes.
    fn cpu_hyper(&self) -> cpu::Hyper {
        cpu::Hyper { momentum: self.momentum, nesterov: self.nesterov }
    }

    /// The update as Candle tensor ops: any device and dtype (`g` already has the
    /// variable's dtype).
    fn update_with_tensor_ops(&self, var: &Var, g: &Tensor, slots: &[Var], lr: f64) -> Result<()> {
        let theta = var.as_tensor();
        match self.momentum_slot(slots) {
            Some(m) => {
                let mu = self.momentum;
                let new_m = (m.as_tensor().affine(mu, 0.0)? - g.affine(lr, 0.0)?)?;
                m.set(&new_m)?;
                let delta = if self.nesterov { (m.as_tensor().affine(mu, 0.0)? - g.affine(lr, 0.0)?)? } else { new_m };
                var.set(&(theta + delta)?)
            }
            None => var.set(&(theta - g.affine(lr, 0.0)?)?),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu_f32::testing::{assert_fused_equals_tensor_ops, assert_refuses_other_layouts};
    use candle_core::Device;

    fn run(rule: SgdRule, lr: f64, grads: &[f32]) -> Vec<f32> {
        let var = Var::new(&[1.0f32], &Device::Cpu).unwrap();
        let slots: Vec<Var> = rule.init_slots(var.as_tensor()).unwrap().into_iter().map(|(_, v)| v).collect();
        let mut out = Vec::new();
        for (i, g) in grads.iter().enumerate() {
            let g = Tensor::new(&[*g], &Device::Cpu).unwrap();
            rule.update(&var, &g, &slots, lr, i as u64 + 1).unwrap();
            out.push(var.as_tensor().to_vec1::<f32>().unwrap()[0]);
        }
        out
    }

    fn close(a: &[f32], b: &[f64]) {
        for (x, y) in a.iter().zip(b) {
            assert!((*x as f64 - y).abs() < 1e-6, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn plain() {
        // θ = 1 − 0.1·0.5 = 0.95; 0.95 − 0.1·(−1) = 1.05
        close(&run(SgdRule::default(), 0.1, &[0.5, -1.0]), &[0.95, 1.05]);
        assert!(SgdRule::default().init_slots(&Tensor::new(&[1.0f32], &Device::Cpu).unwrap()).unwrap().is_empty());
    }

    #[test]
    fn momentum() {
        // m1 = −0.05, θ1 = 0.95; m2 = 0.9·(−0.05) − 0.1·0.5 = −0.095, θ2 = 0.855
        close(&run(SgdRule { momentum: 0.9, nesterov: false }, 0.1, &[0.5, 0.5]), &[0.95, 0.855]);
    }

    #[test]
    fn nesterov() {
        // m1 = −0.05, θ1 = 1 + 0.9·(−0.05) − 0.05 = 0.905
        // m2 = −0.095, θ2 = 0.905 + 0.9·(−0.095) − 0.05 = 0.7695
        close(&run(SgdRule { momentum: 0.9, nesterov: true }, 0.1, &[0.5, 0.5]), &[0.905, 0.7695]);
    }

    #[test]
    fn validation() {
        assert!(SgdRule { momentum: 1.5, nesterov: false }.validate().is_err());
        assert!(SgdRule { momentum: -0.1, nesterov: false }.validate().is_err());
        assert!(SgdRule { momentum: 1.0, nesterov: true }.validate().is_ok());
    }

    fn applies_(r: &SgdRule, v: &Var, g: &Tensor, s: &[Var]) -> bool {
        cpu::applies(v, g, r.momentum_slot(s))
    }

    #[test]
    fn fused_equals_tensor_ops_bit_for_bit() {
        for (what, momentum, nesterov) in
            [("plain", 0.0, false), ("momentum", 0.9, false), ("nesterov", 0.9, true), ("momentum 1", 1.0, true)]
        {
            assert_fused_equals_tensor_ops(
                what,
                || SgdRule { momentum, nesterov },
                0.01,
                &applies_,
                &|r, v, g, s, lr, _| cpu::update(&r.cpu_hyper(), v, g, r.momentum_slot(s), lr),
                &|r, v, g, s, lr, _| r.update_with_tensor_ops(v, g, s, lr),
            );
        }
    }

    #[test]
    fn other_dtypes_and_layouts_take_the_tensor_ops() {
        assert_refuses_other_layouts(&SgdRule::default(), &applies_);
        assert_refuses_other_layouts(&SgdRule { momentum: 0.9, nesterov: true }, &applies_);
    }
}
