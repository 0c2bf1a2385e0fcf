//! Keras' `Ftrl` update rule (Follow The Regularized Leader).

use candle_core::{Result, Tensor, Var};

use crate::error::Error;
use crate::rule::UpdateRule;

/// Keras `Ftrl(learning_rate=0.001, learning_rate_power=-0.5, initial_accumulator_value=0.1,
/// l1_regularization_strength=0.0, l2_regularization_strength=0.0,
/// l2_shrinkage_regularization_strength=0.0, beta=0.0)`.
///
/// Two slots: `accumulator` (n, starting at `initial_accumulator_value`) and `linear`
/// (z, starting at 0). One step, with learning rate η and `p = −learning_rate_power`:
///
/// ```text
/// λ2  = l2 + beta / (2η)
/// g̃   = g + 2 · l2_shrinkage · θ
/// n'  = n + g²                                  # the raw g, not g̃
/// z  ← z + g̃ − (n'^p − n^p) / η · θ
/// q   = n'^p / η + 2 λ2
/// θ  ← (clamp(z, −l1, l1) − z) / q              # 0 where |z| ≤ l1
/// n  ← n'
/// ```
///
/// [`validate`](UpdateRule::validate) rejects, as Keras does, a negative accumulator start
/// value, l1, l2 or shrinkage strength, and a positive `learning_rate_power`.
#[derive(Debug, Clone)]
pub struct FtrlRule {
    /// Controls how the per-coordinate rate decays; must be ≤ 0, and 0 gives a fixed rate
    /// (Keras `learning_rate_power`, default -0.5).
    pub learning_rate_power: f64,
    /// Starting value of the accumulator, ≥ 0 (Keras `initial_accumulator_value`, default 0.1).
    pub initial_accumulator_value: f64,
    /// L1 regularization strength, ≥ 0 (Keras `l1_regularization_strength`, default 0).
    pub l1_regularization_strength: f64,
    /// L2 (stabilization) regularization strength, ≥ 0 (Keras `l2_regularization_strength`,
    /// default 0).
    pub l2_regularization_strength: f64,
    /// L2 shrinkage (magnitude penalty added to the gradient), ≥ 0 (Keras
    /// `l2_shrinkage_regularization_strength`, default 0).
    pub l2_shrinkage_regularization_strength: f64,
    /// The paper's `beta`, added to the L2 term as `beta / (2η)` (Keras `beta`, default 0).
    pub beta: f64,
}

impl FtrlRule {
    /// Keras' default learning rate for `Ftrl`.
    pub const DEFAULT_LEARNING_RATE: f64 = 0.001;

    fn invalid(message: String) -> Error {
        Error::InvalidArgument { context: "Ftrl", message }
    }

    /// `x^p` for the accumulator powers; `p = 0` gives exactly 1 (as `pow` does, even at 0).
    fn pow(x: &Tensor, p: f64) -> Result<Tensor> {
        if p == 0.0 {
            x.ones_like()
        } else if p == 0.5 {
            x.sqrt()
        } else {
            x.powf(p)
        }
    }
}

impl Default for FtrlRule {
    fn default() -> Self {
        Self {
            learning_rate_power: -0.5,
            initial_accumulator_value: 0.1,
            l1_regularization_strength: 0.0,
            l2_regularization_strength: 0.0,
            l2_shrinkage_regularization_strength: 0.0,
            beta: 0.0,
        }
    }
}

impl UpdateRule for FtrlRule {
    fn name(&self) -> &'static str {
        "Ftrl"
    }

    fn validate(&self) -> crate::error::Result<()> {
        // NaN is rejected too (Keras' `x < 0.0` would let it through).
        let negative = |x: f64| x < 0.0 || x.is_nan();
        if negative(self.initial_accumulator_value) {
            return Err(Self::invalid(format!(
                "`initial_accumulator_value` needs to be positive or zero. Received: \
                 initial_accumulator_value={}.",
                self.initial_accumulator_value
            )));
        }
        if self.learning_rate_power > 0.0 || self.learning_rate_power.is_nan() {
            return Err(Self::invalid(format!(
                "`learning_rate_power` needs to be negative or zero. Received: \
                 learning_rate_power={}.",
                self.learning_rate_power
            )));
        }
        for (arg, value) in [
            ("l1_regularization_strength", self.l1_regularization_strength),
            ("l2_regularization_strength", self.l2_regularization_strength),
            ("l2_shrinkage_regularization_strength", self.l2_shrinkage_regularization_strength),
        ] {
            if negative(value) {
                return Err(Self::invalid(format!("`{arg}` needs to be positive or zero. Received: {arg}={value}.")));
            }
        }
        Ok(())
    }

    fn init_slots(&self, var: &Tensor) -> Result<Vec<(&'static str, Var)>> {
        let acc = Var::zeros(var.shape(), var.dtype(), var.device())?;
        if acc.elem_count() > 0 {
            acc.set(&acc.affine(0.0, self.initial_accumulator_value)?)?;
        }
        Ok(vec![("accumulator", acc), ("linear", Var::zeros(var.shape(), var.dtype(), var.device())?)])
    }

    fn update(&self, var: &Var, grad: &Tensor, slots: &[Var], lr: f64, _t: u64) -> Result<()> {
        let [n, z] = slots else { candle_core::bail!("Ftrl: expected 2 slots, got {}", slots.len()) };
        if var.elem_count() == 0 {
            return Ok(());
        }
        let p = -self.learning_rate_power;
        let l1 = self.l1_regularization_strength;
        let l2 = self.l2_regularization_strength + self.beta / (2.0 * lr);
        let theta = var.as_tensor();
        let g_shrunk = if self.l2_shrinkage_regularization_strength == 0.0 {
            grad.clone()
        } else {
            (grad + theta.affine(2.0 * self.l2_shrinkage_regularization_strength, 0.0)?)?
        };
        let new_n = (n.as_tensor() + grad.sqr()?)?;
        let new_n_p = Self::pow(&new_n, p)?;
        let sigma = (&new_n_p - Self::pow(n.as_tensor(), p)?)?.affine(1.0 / lr, 0.0)?;
        let new_z = ((z.as_tensor() + g_shrunk)? - (sigma * theta)?)?;
        let quadratic = new_n_p.affine(1.0 / lr, 2.0 * l2)?;
        let new_theta = ((new_z.clamp(-l1, l1)? - &new_z)? / quadratic)?;
        z.set(&new_z)?;
        var.set(&new_theta)?;
        n.set(&new_n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::golden_test::check_golden;

    /// `ftrl_default`: `Ftrl({})`, `after_step[0..3]`.
    const FTRL_DEFAULT: [([f32; 6], [f32; 3]); 3] = [
        (
            [0.04912121, -0.14326553, 0.28368992, -0.53122777, 0.035532925, 0.0008995168],
            [0.0017842315, -0.020669019, 0.00013237224],
        ),
        (
            [0.04989335, -0.14385115, 0.2830688, -0.53128594, 0.03505127, 0.0005921999],
            [0.0025838842, -0.02113141, 0.0009670552],
        ),
        (
            [0.049270973, -0.14385115, 0.28321484, -0.5307716, 0.034588255, 0.00069325964],
            [0.0029541529, -0.02072748, 0.0005466338],
        ),
    ];
    /// `ftrl_full`: `Ftrl({'learning_rate': 0.1, 'learning_rate_power': -0.5, 'initial_accumulator_value': 0.1, 'l1_regularization_strength': 0.01, 'l2_regularization_strength': 0.02, 'l2_shrinkage_regularization_strength': 0.03, 'beta': 0.5})`, `after_step[0..3]`.
    const FTRL_FULL: [([f32; 6], [f32; 3]); 3] = [
        ([0.0, -0.029581137, 0.09677369, -0.31699625, 0.086116806, 0.052213583], [-0.0064750956, 0.009965916, 0.0]),
        (
            [0.03863262, -0.064480565, 0.06184818, -0.31830218, 0.052142538, 0.033481836],
            [0.032902434, -0.008308742, 0.042672195],
        ),
        (
            [0.0021332672, -0.064172246, 0.0696518, -0.28746343, 0.018462254, 0.039414287],
            [0.052506056, 0.00834917, 0.019039892],
        ),
    ];
    /// `ftrl_power0`: `Ftrl({'learning_rate': 0.1, 'learning_rate_power': 0.0, 'l1_regularization_strength': 0.05})`, `after_step[0..3]`.
    const FTRL_POWER0: [([f32; 6], [f32; 3]); 3] = [
        (
            [-0.010235855, 0.046999205, -0.03252256, -0.042028233, 0.09255175, 0.06010897],
            [-0.0013920199, 0.010812131, 0.0],
        ),
        (
            [0.022416342, 0.003029306, -0.07141215, -0.04532977, 0.036189694, 0.036733504],
            [0.031572603, 0.0, 0.04378419],
        ),
        (
            [-0.011506172, 0.003029306, -0.062169034, -0.0112832915, -0.014937373, 0.04445998],
            [0.052988995, 0.009981269, 0.017168732],
        ),
    ];

    #[test]
    fn defaults_match_keras() {
        let r = FtrlRule::default();
        assert_eq!(
            (r.learning_rate_power, r.initial_accumulator_value, FtrlRule::DEFAULT_LEARNING_RATE),
            (-0.5, 0.1, 0.001)
        );
        assert_eq!(
            (
                r.l1_regularization_strength,
                r.l2_regularization_strength,
                r.l2_shrinkage_regularization_strength,
                r.beta
            ),
            (0.0, 0.0, 0.0, 0.0)
        );
        assert_eq!(r.name(), "Ftrl");
        assert!(r.validate().is_ok());
    }

    #[test]
    fn validate_rejects_what_keras_rejects() {
        let cases = [
            (FtrlRule { initial_accumulator_value: -0.1, ..FtrlRule::default() }, "initial_accumulator_value=-0.1"),
            (FtrlRule { learning_rate_power: 0.5, ..FtrlRule::default() }, "learning_rate_power=0.5"),
            (FtrlRule { l1_regularization_strength: -1.0, ..FtrlRule::default() }, "l1_regularization_strength=-1"),
            (FtrlRule { l2_regularization_strength: -2.0, ..FtrlRule::default() }, "l2_regularization_strength=-2"),
            (
                FtrlRule { l2_shrinkage_regularization_strength: -3.0, ..FtrlRule::default() },
                "l2_shrinkage_regularization_strength=-3",
            ),
        ];
        for (rule, needle) in cases {
            match rule.validate() {
                Err(crate::error::Error::InvalidArgument { context, message }) => {
                    assert_eq!(context, "Ftrl");
                    assert!(message.contains(needle), "{message:?} lacks {needle:?}");
                }
                other => panic!("{needle}: expected InvalidArgument, got {other:?}"),
            }
        }
        let ok = FtrlRule { learning_rate_power: 0.0, initial_accumulator_value: 0.0, ..FtrlRule::default() };
        assert!(ok.validate().is_ok());
    }

    #[test]
    fn ftrl_default_matches_keras() -> Result<()> {
        check_golden("ftrl_default", &mut FtrlRule::default(), 0.001, &FTRL_DEFAULT)?;
        Ok(())
    }

    #[test]
    fn ftrl_full_matches_keras() -> Result<()> {
        let mut rule = FtrlRule {
            learning_rate_power: -0.5,
            initial_accumulator_value: 0.1,
            l1_regularization_strength: 0.01,
            l2_regularization_strength: 0.02,
            l2_shrinkage_regularization_strength: 0.03,
            beta: 0.5,
        };
        check_golden("ftrl_full", &mut rule, 0.1, &FTRL_FULL)?;
        Ok(())
    }

    #[test]
    fn ftrl_power0_matches_keras() -> Result<()> {
        let mut rule = FtrlRule { learning_rate_power: 0.0, l1_regularization_strength: 0.05, ..FtrlRule::default() };
        check_golden("ftrl_power0", &mut rule, 0.1, &FTRL_POWER0)?;
        Ok(())
    }
}
