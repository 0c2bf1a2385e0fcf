//! Keras `SGD`: gradient descent with optional (Nesterov) momentum.

use candle_core::{Result, Tensor, Var};

use crate::rule::UpdateRule;
use crate::Error;

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
pub struct Sgd {
    /// μ, in `[0, 1]` (Keras `momentum`, default 0.0).
    pub momentum: f64,
    /// Nesterov momentum (Keras `nesterov`, default false).
    pub nesterov: bool,
}

impl Sgd {
    /// Keras' default learning rate for SGD.
    pub const DEFAULT_LEARNING_RATE: f64 = 0.01;
}

impl Default for Sgd {
    fn default() -> Self {
        Sgd {
            momentum: 0.0,
            nesterov: false,
        }
    }
}

impl UpdateRule for Sgd {
    fn name(&self) -> &'static str {
        "SGD"
    }

    fn validate(&self) -> crate::Result<()> {
        if !(0.0..=1.0).contains(&self.momentum) {
            return Err(Error::InvalidArgument {
                class: "SGD",
                message: format!(
                    "`momentum` must be a float between [0, 1]; received momentum={}",
                    self.momentum
                ),
            });
        }
        Ok(())
    }

    fn init_slots(&self, var: &Tensor) -> Result<Vec<(&'static str, Var)>> {
        if self.momentum != 0.0 {
            Ok(vec![(
                "momentum",
                Var::zeros(var.shape(), var.dtype(), var.device())?,
            )])
        } else {
            Ok(Vec::new())
        }
    }

    fn update(&self, var: &Var, grad: &Tensor, slots: &[Var], lr: f64, _t: u64) -> Result<()> {
        let g = grad.to_dtype(var.dtype())?;
        if super::sgd_cpu::applies(self, var, &g, slots) {
            return super::sgd_cpu::update(self, var, &g, slots, lr);
        }
        self.update_with_tensor_ops(var, &g, slots, lr)
    }
}

impl Sgd {
    /// The momentum slot, when the update uses one.
    pub(super) fn momentum_slot<'a>(&self, slots: &'a [Var]) -> Option<&'a Var> {
        slots.first().filter(|_| self.momentum != 0.0)
    }

    /// The update as Candle tensor ops: any device and dtype (`g` already has the
    /// variable's dtype).
    pub(super) fn update_with_tensor_ops(
        &self,
        var: &Var,
        g: &Tensor,
        slots: &[Var],
        lr: f64,
    ) -> Result<()> {
        let theta = var.as_tensor();
        match self.momentum_slot(slots) {
            Some(m) => {
                let mu = self.momentum;
                let new_m = (m.as_tensor().affine(mu, 0.0)? - g.affine(lr, 0.0)?)?;
                m.set(&new_m)?;
                let delta = if self.nesterov {
                    (m.as_tensor().affine(mu, 0.0)? - g.affine(lr, 0.0)?)?
                } else {
                    new_m
                };
                var.set(&(theta + delta)?)
            }
            None => var.set(&(theta - g.affine(lr, 0.0)?)?),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn run(rule: Sgd, lr: f64, grads: &[f32]) -> Vec<f32> {
        let var = Var::new(&[1.0f32], &Device::Cpu).unwrap();
        let slots: Vec<Var> = rule
            .init_slots(var.as_tensor())
            .unwrap()
            .into_iter()
            .map(|(_, v)| v)
            .collect();
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
        close(&run(Sgd::default(), 0.1, &[0.5, -1.0]), &[0.95, 1.05]);
        assert!(Sgd::default()
            .init_slots(&Tensor::new(&[1.0f32], &Device::Cpu).unwrap())
            .unwrap()
            .is_empty());
    }

    #[test]
    fn momentum() {
        // m1 = −0.05, θ1 = 0.95; m2 = 0.9·(−0.05) − 0.1·0.5 = −0.095, θ2 = 0.855
        close(
            &run(
                Sgd {
                    momentum: 0.9,
                    nesterov: false,
                },
                0.1,
                &[0.5, 0.5],
            ),
            &[0.95, 0.855],
        );
    }

    #[test]
    fn nesterov() {
        // m1 = −0.05, θ1 = 1 + 0.9·(−0.05) − 0.05 = 0.905
        // m2 = −0.095, θ2 = 0.905 + 0.9·(−0.095) − 0.05 = 0.7695
        close(
            &run(
                Sgd {
                    momentum: 0.9,
                    nesterov: true,
                },
                0.1,
                &[0.5, 0.5],
            ),
            &[0.905, 0.7695],
        );
    }

    #[test]
    fn validation() {
        assert!(Sgd {
            momentum: 1.5,
            nesterov: false
        }
        .validate()
        .is_err());
        assert!(Sgd {
            momentum: -0.1,
            nesterov: false
        }
        .validate()
        .is_err());
        assert!(Sgd {
            momentum: 1.0,
            nesterov: true
        }
        .validate()
        .is_ok());
    }
}
