//! Keras' `Nadam` update rule.

use candle_core::{Result, Tensor, Var};

use crate::rule::UpdateRule;

mod cpu;

/// Keras `Nadam(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7)`.
///
/// Two slots per variable, both starting at 0: `momentum` (m) and `velocity` (v), plus one
/// scalar shared by all variables, `u_product` (P, starting at 1.0), saved with the
/// optimizer state. At step `t` (`iterations + 1`) P is updated once, in
/// [`begin_step`](UpdateRule::begin_step), before any variable; then each variable moves
/// with learning rate η:
///
/// ```text
/// μ_t = β1 (1 − 0.5 · 0.96^t);   μ_t+1 = β1 (1 − 0.5 · 0.96^(t+1))
/// P ← P · μ_t                                    # once per step
/// m ← m + (g − m)(1 − β1);   v ← v + (g² − v)(1 − β2)
/// m̂ = μ_t+1 · m / (1 − P·μ_t+1) + (1 − μ_t) · g / (1 − P)
/// v̂ = v / (1 − β2^t)
/// θ ← θ − η m̂ / (sqrt(v̂) + ε)
/// ```
///
/// (PyTorch's momentum schedule decays as `0.96^(0.004·t)`; Keras' decays per step.)
#[derive(Debug, Clone)]
pub struct NadamRule {
    /// Decay rate `β1` of the first moment (Keras `beta_1`, default 0.9).
    pub beta_1: f64,
    /// Decay rate `β2` of the second moment (Keras `beta_2`, default 0.999).
    pub beta_2: f64,
    /// `ε`, added to `sqrt(v̂)` (Keras `epsilon`, default 1e-7).
    pub epsilon: f64,
    /// `P = Π_{i≤t} μ_i`, the product of the momentum schedule so far.
    u_product: f64,
}

impl NadamRule {
    /// Keras' default learning rate for `Nadam`.
    pub const DEFAULT_LEARNING_RATE: f64 = 0.001;

    /// A `NadamRule` with the given hyper-parameters and a fresh `u_product` of 1.0.
    pub fn new(beta_1: f64, beta_2: f64, epsilon: f64) -> Self {
        Self { beta_1, beta_2, epsilon, u_product: 1.0 }
    }

    /// The momentum schedule `μ_t = β1 (1 − 0.5 · 0.96^t)`.
    fn mu(&self, t: u64) -> f64 {
        self.beta_1 * (1.0 - 0.5 * 0.96f64.powf(t as f64))
    }
}

/// The step's scalar factors, in f64: `m̂ = m·m_factor + g·g_factor`, `v̂ = v·v_factor`.
struct Factors {
    m_factor: f64,
    g_factor: f64,
    v_factor: f64,
}

impl NadamRule {
    /// The factors of step `t` (`begin_step(t)` has run).
    fn factors(&self, t: u64) -> Factors {
        let (mu_t, mu_t1) = (self.mu(t), self.mu(t + 1));
        // `u_product` already includes μ_t (begin_step ran for this step).
        let p_t = self.u_product;
        let p_t1 = p_t * mu_t1;
        Factors {
            m_factor: mu_t1 / (1.0 - p_t1),
            g_factor: (1.0 - mu_t) / (1.0 - p_t),
            v_factor: 1.0 / (1.0 - self.beta_2.powf(t as f64)),
        }
    }

    /// The hyper-parameters and the factors of step `t` for the fused CPU passes.
    fn cpu_hyper(&self, t: u64) -> cpu::Hyper {
        let f = self.factors(t);
        cpu::Hyper {
            beta_1: self.beta_1,
            beta_2: self.beta_2,
            epsilon: self.epsilon,
            m_factor: f.m_factor,
            g_factor: f.g_factor,
            v_factor: f.v_factor,
        }
    }

    /// The update as Candle tensor ops: any device and dtype.
    fn update_with_tensor_ops(&self, var: &Var, grad: &Tensor, m: &Var, v: &Var, lr: f64, t: u64) -> Result<()> {
        let (b1, b2) = (self.beta_1, self.beta_2);
        let f = self.factors(t);
        let new_m = ((grad - m.as_tensor())?.affine(1.0 - b1, 0.0)? + m.as_tensor())?;
        let new_v = ((grad.sqr()? - v.as_tensor())?.affine(1.0 - b2, 0.0)? + v.as_tensor())?;
        let m_hat = (new_m.affine(f.m_factor, 0.0)? + grad.affine(f.g_factor, 0.0)?)?;
        let v_hat = new_v.affine(f.v_factor, 0.0)?;
        let step = (m_hat.affine(lr, 0.0)? / v_hat.sqrt()?.affine(1.0, self.epsilon)?)?;
        let theta = (var.as_tensor() - step)?;
        m.set(&new_m)?;
        v.set(&new_v)?;
        var.set(&theta)
    }
}

impl Default for NadamRule {
    fn default() -> Self {
        Self::new(0.9, 0.999, 1e-7)
    }
}

impl UpdateRule for NadamRule {
    fn name(&self) -> &'static str {
        "Nadam"
    }

    fn init_slots(&self, var: &Tensor) -> Result<Vec<(&'static str, Var)>> {
        Ok(vec![
            ("momentum", Var::zeros(var.shape(), var.dtype(), var.device())?),
            ("velocity", Var::zeros(var.shape(), var.dtype(), var.device())?),
        ])
    }

    fn begin_step(&mut self, t: u64) -> Result<()> {
        self.u_product *= self.mu(t);
        Ok(())
    }

    fn update(&self, var: &Var, grad: &Tensor, slots: &[Var], lr: f64, t: u64) -> Result<()> {
        let [m, v] = slots else { candle_core::bail!("Nadam: expected 2 slots, got {}", slots.len()) };
        if var.elem_count() == 0 {
            return Ok(());
        }
        if cpu::applies(var, grad, m, v) {
            return cpu::update(&self.cpu_hyper(t), var, grad, m, v, lr);
        }
        self.update_with_tensor_ops(var, grad, m, v, lr, t)
    }

    fn scalars(&self) -> Vec<(&'static str, f64)> {
        vec![("u_product", self.u_product)]
    }

    fn set_scalar(&mut self, name: &str, value: f64) -> Result<()> {
        match name {
            "u_product" => {
                self.u_product = value;
                Ok(())
            }
            _ => candle_core::bail!("Nadam: no scalar state named {name:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu_f32::testing::{assert_fused_equals_tensor_ops, assert_refuses_other_layouts};
    use crate::rules::golden_test::check_golden;

    /// `nadam_lr0.1`: `Nadam({'learning_rate': 0.1})`, `after_step[0..3]`.
    const NADAM_LR0_1: [([f32; 6], [f32; 3]); 3] = [
        (
            [0.39372128, -0.19372125, 0.69372123, -1.3062788, 0.15627877, 0.10627876],
            [-0.006278619, -0.09372129, 0.40627754],
        ),
        ([0.48751467, -0.25420326, 0.6151742, -1.3206308, 0.11139185, 0.07852766], [0.09371641, -0.1665977, 0.508555]),
        (
            [0.41703707, -0.25384676, 0.6218315, -1.2647604, 0.06250264, 0.09474207],
            [0.14757909, -0.10505735, 0.46429375],
        ),
    ];

    #[test]
    fn defaults_match_keras() {
        let r = NadamRule::default();
        assert_eq!((r.beta_1, r.beta_2, r.epsilon, NadamRule::DEFAULT_LEARNING_RATE), (0.9, 0.999, 1e-7, 0.001));
        assert_eq!(r.name(), "Nadam");
        assert_eq!(r.scalars(), vec![("u_product", 1.0)]);
    }

    #[test]
    fn nadam_lr0_1_matches_keras() -> Result<()> {
        check_golden("nadam_lr0.1", &mut NadamRule::default(), 0.1, &NADAM_LR0_1)?;
        Ok(())
    }

    #[test]
    fn u_product_is_updated_once_per_step_and_restorable() -> Result<()> {
        let mut r = NadamRule::default();
        r.begin_step(1)?;
        r.begin_step(2)?;
        let mu = |t: f64| 0.9 * (1.0 - 0.5 * 0.96f64.powf(t));
        let [(name, p)] = r.scalars()[..] else { panic!("one scalar expected") };
        assert_eq!(name, "u_product");
        assert!((p - mu(1.0) * mu(2.0)).abs() < 1e-15);

        // Resuming from the saved scalar continues exactly like the uninterrupted run.
        let mut resumed = NadamRule::default();
        resumed.set_scalar("u_product", p)?;
        r.begin_step(3)?;
        resumed.begin_step(3)?;
        assert_eq!(resumed.scalars(), r.scalars());
        assert!(resumed.set_scalar("velocity", 1.0).is_err());
        Ok(())
    }

    fn applies_(_: &NadamRule, v: &Var, g: &Tensor, s: &[Var]) -> bool {
        cpu::applies(v, g, &s[0], &s[1])
    }

    #[test]
    fn fused_equals_tensor_ops_bit_for_bit() {
        for (what, lr) in [("lr 0.1", 0.1), ("lr 0.001", 0.001)] {
            assert_fused_equals_tensor_ops(
                what,
                NadamRule::default,
                lr,
                &applies_,
                &|r, v, g, s, lr, t| cpu::update(&r.cpu_hyper(t), v, g, &s[0], &s[1], lr),
                &|r, v, g, s, lr, t| r.update_with_tensor_ops(v, g, &s[0], &s[1], lr, t),
            );
        }
    }

    #[test]
    fn other_dtypes_and_layouts_take_the_tensor_ops() {
        assert_refuses_other_layouts(&NadamRule::default(), &applies_);
    }
}
