//! Keras' `RMSprop` update rule.

use candle_core::{Result, Tensor, Var};

use crate::rule::UpdateRule;

mod cpu;

/// Keras `RMSprop(learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False)`.
///
/// Slots, all starting at 0: `velocity` (v) always, `momentum` (b) when `momentum > 0`, and
/// `average_gradient` (a) when `centered`, in that order. One step, with learning rate η:
///
/// ```text
/// v ← ρ v + (1 − ρ) g²
/// centered:  a ← ρ a + (1 − ρ) g;   d = v − a² + ε
/// otherwise: d = v + ε                        # ε is inside the square root
/// inc = η g / sqrt(d)
/// momentum μ > 0: b ← μ b + inc;  θ ← θ − b  # the buffer includes η
/// otherwise:      θ ← θ − inc
/// ```
///
/// (PyTorch differs: `alpha` 0.99, ε 1e-8 outside the square root, buffer without η.)
#[derive(Debug, Clone)]
pub struct RmspropRule {
    /// Decay rate `ρ` of the running averages (Keras `rho`, default 0.9).
    pub rho: f64,
    /// Momentum `μ`; 0 keeps no momentum buffer (Keras `momentum`, default 0.0).
    pub momentum: f64,
    /// `ε`, added inside the square root (Keras `epsilon`, default 1e-7).
    pub epsilon: f64,
    /// Normalizes by the estimated variance `v − a²` instead of `v` (Keras `centered`,
    /// default false).
    pub centered: bool,
}

impl RmspropRule {
    /// Keras' default learning rate for `RMSprop`.
    pub const DEFAULT_LEARNING_RATE: f64 = 0.001;
}

impl Default for RmspropRule {
    fn default() -> Self {
        Self { rho: 0.9, momentum: 0.0, epsilon: 1e-7, centered: false }
    }
}

impl UpdateRule for RmspropRule {
    fn name(&self) -> &'static str {
        "RMSprop"
    }

    fn init_slots(&self, var: &Tensor) -> Result<Vec<(&'static str, Var)>> {
        let zeros = || Var::zeros(var.shape(), var.dtype(), var.device());
        let mut slots = vec![("velocity", zeros()?)];
        if self.momentum > 0.0 {
            slots.push(("momentum", zeros()?));
        }
        if self.centered {
            slots.push(("average_gradient", zeros()?));
        }
        Ok(slots)
    }

    fn update(&self, var: &Var, grad: &Tensor, slots: &[Var], lr: f64, _t: u64) -> Result<()> {
        let want = 1 + usize::from(self.momentum > 0.0) + usize::from(self.centered);
        if slots.len() != want {
            candle_core::bail!("RMSprop: expected {want} slots, got {}", slots.len())
        }
        if var.elem_count() == 0 {
            return Ok(());
        }
        if cpu::applies(var, grad, slots) {
            return cpu::update(&self.cpu_hyper(), var, grad, slots, lr);
        }
        self.update_with_tensor_ops(var, grad, slots, lr)
    }
}

impl RmspropRule {
    /// The hyper-parameters of the fused CPU passes.
    fn cpu_hyper(&self) -> cpu::Hyper {
        cpu::Hyper { rho: self.rho, momentum: self.momentum, epsilon: self.epsilon, centered: self.centered }
    }

    /// The update as Candle tensor ops: any device and dtype. `slots` has the length
    /// `init_slots` gives (checked by the caller), and the variable is not empty.
    fn update_with_tensor_ops(&self, var: &Var, grad: &Tensor, slots: &[Var], lr: f64) -> Result<()> {
        let want = slots.len();
        let rho = self.rho;
        let velocity = &slots[0];
        let new_v = (velocity.affine(rho, 0.0)? + grad.sqr()?.affine(1.0 - rho, 0.0)?)?;
        let mut new_avg = None;
        let denominator = if self.centered {
            let avg = &slots[want - 1];
            let a = (avg.affine(rho, 0.0)? + grad.affine(1.0 - rho, 0.0)?)?;
            let d = (&new_v - a.sqr()?)?.affine(1.0, self.epsilon)?;
            new_avg = Some((avg, a));
            d
        } else {
            new_v.affine(1.0, self.epsilon)?
        };
        let increment = (grad.affine(lr, 0.0)? / denominator.sqrt()?)?;
        velocity.set(&new_v)?;
        if let Some((avg, a)) = new_avg {
            avg.set(&a)?;
        }
        if self.momentum > 0.0 {
            let buf = &slots[1];
            let new_b = (buf.affine(self.momentum, 0.0)? + increment)?;
            let theta = (var.as_tensor() - &new_b)?;
            buf.set(&new_b)?;
            var.set(&theta)
        } else {
            let theta = (var.as_tensor() - increment)?;
            var.set(&theta)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu_f32::testing::{assert_fused_equals_tensor_ops, assert_refuses_other_layouts};
    use crate::rules::golden_test::check_golden;
    use candle_core::{DType, Device};

    /// `rmsprop_default`: `RMSprop({})`, `after_step[0..3]`.
    const RMSPROP_DEFAULT: [([f32; 6], [f32; 3]); 3] = [
        (
            [0.4968378, -0.29683775, 0.79683775, -1.2031623, 0.053162277, 0.0031622741],
            [0.09683811, -0.19683778, 0.30314013],
        ),
        (
            [0.49983278, -0.29894185, 0.7945051, -1.2033957, 0.051517423, 0.0020430083],
            [0.09996934, -0.19929074, 0.30630198],
        ),
        (
            [0.49756598, -0.29894185, 0.79507977, -1.201417, 0.049901176, 0.002430048],
            [0.10142887, -0.19734459, 0.30470505],
        ),
    ];
    /// `rmsprop_momentum`: `RMSprop({'learning_rate': 0.01, 'momentum': 0.9})`, `after_step[0..3]`.
    const RMSPROP_MOMENTUM: [([f32; 6], [f32; 3]); 3] = [
        (
            [0.46837792, -0.2683773, 0.76837736, -1.2316227, 0.081622764, 0.031622738],
            [0.06838109, -0.16837786, 0.33140108],
        ),
        (
            [0.46986774, -0.26095802, 0.7165907, -1.2624168, 0.093634725, 0.048890546],
            [0.07123643, -0.16444744, 0.39128038],
        ),
        ([0.44854072, -0.25428066, 0.6757294, -1.2703439, 0.088283, 0.06830197], [0.088401474, -0.1414486, 0.42920238]),
    ];
    /// `rmsprop_centered`: `RMSprop({'learning_rate': 0.01, 'centered': True})`, `after_step[0..3]`.
    const RMSPROP_CENTERED: [([f32; 6], [f32; 3]); 3] = [
        ([0.46666747, -0.26666674, 0.7666668, -1.2333333, 0.08333331, 0.033333287], [0.0666712, -0.16666742, 0.333074]),
        (
            [0.4972554, -0.28770983, 0.7407497, -1.2357988, 0.06681514, 0.021977969],
            [0.09920271, -0.19123542, 0.36646113],
        ),
        (
            [0.47449046, -0.28770983, 0.7468822, -1.2159947, 0.05059139, 0.025926132],
            [0.11494133, -0.17154282, 0.35040587],
        ),
    ];

    #[test]
    fn defaults_match_keras() {
        let r = RmspropRule::default();
        assert_eq!(
            (r.rho, r.momentum, r.epsilon, r.centered, RmspropRule::DEFAULT_LEARNING_RATE),
            (0.9, 0.0, 1e-7, false, 0.001)
        );
        assert_eq!(r.name(), "RMSprop");
    }

    #[test]
    fn slots_depend_on_momentum_and_centered() -> Result<()> {
        let x = Tensor::zeros(3, DType::F32, &Device::Cpu)?;
        let names = |r: RmspropRule| -> Result<Vec<&'static str>> {
            Ok(r.init_slots(&x)?.into_iter().map(|(n, _)| n).collect())
        };
        assert_eq!(names(RmspropRule::default())?, ["velocity"]);
        assert_eq!(
            names(RmspropRule { momentum: 0.9, centered: true, ..RmspropRule::default() })?,
            ["velocity", "momentum", "average_gradient"]
        );
        assert_eq!(names(RmspropRule { centered: true, ..RmspropRule::default() })?, ["velocity", "average_gradient"]);
        Ok(())
    }

    #[test]
    fn rmsprop_default_matches_keras() -> Result<()> {
        check_golden("rmsprop_default", &mut RmspropRule::default(), 0.001, &RMSPROP_DEFAULT)?;
        Ok(())
    }

    #[test]
    fn rmsprop_momentum_matches_keras() -> Result<()> {
        let mut rule = RmspropRule { momentum: 0.9, ..RmspropRule::default() };
        check_golden("rmsprop_momentum", &mut rule, 0.01, &RMSPROP_MOMENTUM)?;
        Ok(())
    }

    #[test]
    fn rmsprop_centered_matches_keras() -> Result<()> {
        let mut rule = RmspropRule { centered: true, ..RmspropRule::default() };
        check_golden("rmsprop_centered", &mut rule, 0.01, &RMSPROP_CENTERED)?;
        Ok(())
    }

    fn applies_(_: &RmspropRule, v: &Var, g: &Tensor, s: &[Var]) -> bool {
        cpu::applies(v, g, s)
    }

    fn variants() -> Vec<(&'static str, RmspropRule)> {
        let r = |momentum, centered| RmspropRule { momentum, centered, ..RmspropRule::default() };
        vec![
            ("plain", r(0.0, false)),
            ("momentum", r(0.9, false)),
            ("centered", r(0.0, true)),
            ("centered momentum", r(0.9, true)),
        ]
    }

    #[test]
    fn fused_equals_tensor_ops_bit_for_bit() {
        for (what, rule) in variants() {
            assert_fused_equals_tensor_ops(
                what,
                || rule.clone(),
                0.01,
                &applies_,
                &|r, v, g, s, lr, _| cpu::update(&r.cpu_hyper(), v, g, s, lr),
                &|r, v, g, s, lr, _| r.update_with_tensor_ops(v, g, s, lr),
            );
        }
    }

    #[test]
    fn other_dtypes_and_layouts_take_the_tensor_ops() {
        for (_, rule) in variants() {
            assert_refuses_other_layouts(&rule, &applies_);
        }
    }
}
