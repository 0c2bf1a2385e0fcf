//! Keras' `Adagrad` update rule.

use candle_core::{Result, Tensor, Var};

use crate::rule::UpdateRule;

mod cpu;

/// Keras `Adagrad(learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7)`.
///
/// One slot, `accumulator` (A), which starts at `initial_accumulator_value`. One step,
/// with learning rate η:
///
/// ```text
/// A ← A + g²
/// θ ← θ − η g / sqrt(A + ε)        # ε is inside the square root
/// ```
///
/// (PyTorch differs: its accumulator starts at 0 and its ε is outside the square root.)
#[derive(Debug, Clone)]
pub struct AdagradRule {
    /// Starting value of the accumulator (Keras `initial_accumulator_value`, default 0.1).
    pub initial_accumulator_value: f64,
    /// `ε`, added inside the square root (Keras `epsilon`, default 1e-7).
    pub epsilon: f64,
}

impl AdagradRule {
    /// Keras' default learning rate for `Adagrad`.
    pub const DEFAULT_LEARNING_RATE: f64 = 0.001;
}

impl Default for AdagradRule {
    fn default() -> Self {
        Self { initial_accumulator_value: 0.1, epsilon: 1e-7 }
    }
}

impl UpdateRule for AdagradRule {
    fn name(&self) -> &'static str {
        "Adagrad"
    }

    fn init_slots(&self, var: &Tensor) -> Result<Vec<(&'static str, Var)>> {
        let acc = Var::zeros(var.shape(), var.dtype(), var.device())?;
        if acc.elem_count() > 0 {
            acc.set(&acc.affine(0.0, self.initial_accumulator_value)?)?;
        }
        Ok(vec![("accumulator", acc)])
    }

    fn update(&self, var: &Var, grad: &Tensor, slots: &[Var], lr: f64, _t: u64) -> Result<()> {
        let [acc] = slots else { candle_core::bail!("Adagrad: expected 1 slot, got {}", slots.len()) };
        if var.elem_count() == 0 {
            return Ok(());
        }
        if cpu::applies(var, grad, acc) {
            return cpu::update(var, grad, acc, lr, self.epsilon);
        }
        self.update_with_tensor_ops(var, grad, acc, lr)
    }
}

impl AdagradRule {
    /// The update as Candle tensor ops: any device and dtype.
    fn update_with_tensor_ops(&self, var: &Var, grad: &Tensor, acc: &Var, lr: f64) -> Result<()> {
        let a = (acc.as_tensor() + grad.sqr()?)?;
        let step = (grad.affine(lr, 0.0)? / a.affine(1.0, self.epsilon)?.sqrt()?)?;
        let theta = (var.as_tensor() - step)?;
        acc.set(&a)?;
        var.set(&theta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu_f32::testing::{assert_fused_equals_tensor_ops, assert_refuses_other_layouts};
    use crate::rules::golden_test::check_golden;
    use candle_core::{DType, Device};

    /// `adagrad_default`: `Adagrad({})`, `after_step[0..3]`.
    const ADAGRAD_DEFAULT: [([f32; 6], [f32; 3]); 3] = [
        (
            [0.49956596, -0.2991456, 0.79923534, -1.2008299, 0.05095127, 0.0008995167],
            [0.099801876, -0.19955277, 0.30002657],
        ),
        (
            [0.5003381, -0.29973122, 0.7986142, -1.200888, 0.05046961, 0.00059219985],
            [0.10060153, -0.20001516, 0.30086124],
        ),
        (
            [0.49971572, -0.29973122, 0.79876024, -1.2003736, 0.050006602, 0.00069325964],
            [0.1009718, -0.19961123, 0.30044082],
        ),
    ];
    /// `adagrad_lr0.1`: `Adagrad({'learning_rate': 0.1})`, `after_step[0..3]`.
    const ADAGRAD_LR0_1: [([f32; 6], [f32; 3]); 3] = [
        (
            [0.45659515, -0.21455908, 0.72353387, -1.282984, 0.14512675, 0.08995167],
            [0.080187365, -0.15527698, 0.30265558],
        ),
        (
            [0.5338091, -0.27312177, 0.66142243, -1.2887999, 0.096961126, 0.059219986],
            [0.16015261, -0.20151603, 0.38612387],
        ),
        ([0.471572, -0.27312177, 0.6760265, -1.237366, 0.05066011, 0.06932596], [0.1971795, -0.16112314, 0.34408173]),
    ];

    #[test]
    fn defaults_match_keras() {
        let r = AdagradRule::default();
        assert_eq!((r.initial_accumulator_value, r.epsilon, AdagradRule::DEFAULT_LEARNING_RATE), (0.1, 1e-7, 0.001));
        assert_eq!(r.name(), "Adagrad");
    }

    #[test]
    fn accumulator_starts_at_initial_value() -> Result<()> {
        let r = AdagradRule { initial_accumulator_value: 0.25, ..AdagradRule::default() };
        let slots = r.init_slots(&Tensor::zeros((2, 2), DType::F32, &Device::Cpu)?)?;
        assert_eq!(slots.len(), 1);
        assert_eq!(slots[0].0, "accumulator");
        assert_eq!(slots[0].1.flatten_all()?.to_vec1::<f32>()?, vec![0.25; 4]);
        Ok(())
    }

    #[test]
    fn adagrad_default_matches_keras() -> Result<()> {
        check_golden("adagrad_default", &mut AdagradRule::default(), 0.001, &ADAGRAD_DEFAULT)?;
        Ok(())
    }

    #[test]
    fn adagrad_lr0_1_matches_keras() -> Result<()> {
        check_golden("adagrad_lr0.1", &mut AdagradRule::default(), 0.1, &ADAGRAD_LR0_1)?;
        Ok(())
    }

    fn applies_(_: &AdagradRule, v: &Var, g: &Tensor, s: &[Var]) -> bool {
        cpu::applies(v, g, &s[0])
    }

    #[test]
    fn fused_equals_tensor_ops_bit_for_bit() {
        for (what, init) in [("default", 0.1), ("accumulator from 0", 0.0)] {
            assert_fused_equals_tensor_ops(
                what,
                || AdagradRule { initial_accumulator_value: init, ..AdagradRule::default() },
                0.1,
                &applies_,
                &|r, v, g, s, lr, _| cpu::update(v, g, &s[0], lr, r.epsilon),
                &|r, v, g, s, lr, _| r.update_with_tensor_ops(v, g, &s[0], lr),
            );
        }
    }

    #[test]
    fn other_dtypes_and_layouts_take_the_tensor_ops() {
        assert_refuses_other_layouts(&AdagradRule::default(), &applies_);
    }
}
