//! Keras' `Lion` update rule (EvoLved Sign Momentum).

use candle_core::{Result, Tensor, Var};

use crate::error::Error;
use crate::rule::UpdateRule;

/// Keras `Lion(learning_rate=0.001, beta_1=0.9, beta_2=0.99)`.
///
/// One slot, `momentum` (m), starting at 0. One step, with learning rate η:
///
/// ```text
/// θ ← θ − η · sign(β1 m + (1 − β1) g)        # sign(0) = 0
/// m ← β2 m + (1 − β2) g
/// ```
///
/// [`validate`](UpdateRule::validate) requires `β1` in (0, 1], as Keras does (otherwise
/// the rule degenerates to SignSGD). The sign makes every step ±η, so Lion usually wants a
/// learning rate 3-10x smaller than AdamW.
#[derive(Debug, Clone)]
pub struct LionRule {
    /// Weight `β1` of the momentum in the sign's argument, in (0, 1] (Keras `beta_1`,
    /// default 0.9).
    pub beta_1: f64,
    /// Decay rate `β2` of the momentum (Keras `beta_2`, default 0.99).
    pub beta_2: f64,
}

impl LionRule {
    /// Keras' default learning rate for `Lion`.
    pub const DEFAULT_LEARNING_RATE: f64 = 0.001;
}

impl Default for LionRule {
    fn default() -> Self {
        Self { beta_1: 0.9, beta_2: 0.99 }
    }
}

impl UpdateRule for LionRule {
    fn name(&self) -> &'static str {
        "Lion"
    }

    fn validate(&self) -> crate::error::Result<()> {
        // Written so that NaN is rejected too.
        if !(self.beta_1 > 0.0 && self.beta_1 <= 1.0) {
            return Err(Error::InvalidArgument {
                context: "Lion",
                message: format!(
                    "Argument `beta_1` must be in the [0, 1] range. Otherwise, the optimizer \
                     degenerates to SignSGD. Received: beta_1={}.",
                    self.beta_1
                ),
            });
        }
        Ok(())
    }

    fn init_slots(&self, var: &Tensor) -> Result<Vec<(&'static str, Var)>> {
        Ok(vec![("momentum", Var::zeros(var.shape(), var.dtype(), var.device())?)])
    }

    fn update(&self, var: &Var, grad: &Tensor, slots: &[Var], lr: f64, _t: u64) -> Result<()> {
        let [m] = slots else { candle_core::bail!("Lion: expected 1 slot, got {}", slots.len()) };
        if var.elem_count() == 0 {
            return Ok(());
        }
        let (b1, b2) = (self.beta_1, self.beta_2);
        let direction = (m.affine(b1, 0.0)? + grad.affine(1.0 - b1, 0.0)?)?.sign()?;
        let theta = (var.as_tensor() - direction.affine(lr, 0.0)?)?;
        let new_m = (m.affine(b2, 0.0)? + grad.affine(1.0 - b2, 0.0)?)?;
        var.set(&theta)?;
        m.set(&new_m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::golden_test::check_golden;

    /// `lion_lr0.01`: `Lion({'learning_rate': 0.01})`, `after_step[0..3]`.
    const LION_LR0_01: [([f32; 6], [f32; 3]); 3] = [
        ([0.49, -0.29000002, 0.79, -1.21, 0.060000002, 0.01], [0.09, -0.19, 0.31]),
        ([0.5, -0.3, 0.78000003, -1.22, 0.050000004, 0.0], [0.1, -0.2, 0.32]),
        ([0.49, -0.29000002, 0.79, -1.21, 0.040000007, 0.01], [0.11, -0.19, 0.31]),
    ];

    #[test]
    fn defaults_match_keras() {
        let r = LionRule::default();
        assert_eq!((r.beta_1, r.beta_2, LionRule::DEFAULT_LEARNING_RATE), (0.9, 0.99, 0.001));
        assert_eq!(r.name(), "Lion");
        assert!(r.validate().is_ok());
    }

    #[test]
    fn validate_requires_beta_1_in_0_1() {
        for beta_1 in [0.0, -0.5, 1.5, f64::NAN] {
            match (LionRule { beta_1, ..LionRule::default() }).validate() {
                Err(crate::error::Error::InvalidArgument { context, message }) => {
                    assert_eq!(context, "Lion");
                    assert!(message.contains(&format!("beta_1={beta_1}")), "{message}");
                }
                other => panic!("beta_1={beta_1}: expected InvalidArgument, got {other:?}"),
            }
        }
        assert!((LionRule { beta_1: 1.0, ..LionRule::default() }).validate().is_ok());
    }

    #[test]
    fn lion_lr0_01_matches_keras() -> Result<()> {
        check_golden("lion_lr0.01", &mut LionRule::default(), 0.01, &LION_LR0_01)?;
        Ok(())
    }
}
