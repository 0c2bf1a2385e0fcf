//! Keras `Adam` and `AdamW`.

use candle_core::{Result, Tensor, Var};

use crate::rule::UpdateRule;

mod cpu;

/// Keras `keras.optimizers.Adam(learning_rate=0.001, beta_1=0.9, beta_2=0.999,
/// epsilon=1e-7, amsgrad=False)`.
///
/// Slots `"momentum"` m and `"velocity"` v (and `"velocity_hat"` v̂ with amsgrad), all
/// starting at 0; with `t = iterations + 1`:
///
/// ```text
/// m ← m + (g − m)(1 − β1);   v ← v + (g² − v)(1 − β2)
/// amsgrad: v̂ ← max(v̂, v), and v̂ replaces v below
/// α = η·sqrt(1 − β2^t) / (1 − β1^t)
/// θ ← θ − α·m / (sqrt(v) + ε)          (ε added to the un-corrected sqrt(v))
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct AdamRule {
    /// β1, decay of the first moment (Keras `beta_1`, default 0.9).
    pub beta_1: f64,
    /// β2, decay of the second moment (Keras `beta_2`, default 0.999).
    pub beta_2: f64,
    /// ε (Keras `epsilon`, default 1e-7).
    pub epsilon: f64,
    /// Use the AMSGrad variant (Keras `amsgrad`, default false).
    pub amsgrad: bool,
}

impl AdamRule {
    /// Keras' default learning rate for Adam.
    pub const DEFAULT_LEARNING_RATE: f64 = 0.001;
}

impl Default for AdamRule {
    fn default() -> Self {
        AdamRule { beta_1: 0.9, beta_2: 0.999, epsilon: 1e-7, amsgrad: false }
    }
}

impl AdamRule {
    /// The hyper-parameters of the fused CPU passes.
    fn cpu_hyper(&self) -> cpu::Hyper {
        cpu::Hyper { beta_1: self.beta_1, beta_2: self.beta_2, epsilon: self.epsilon }
    }
}

fn adam_slots(amsgrad: bool, var: &Tensor) -> Result<Vec<(&'static str, Var)>> {
    let zeros = || Var::zeros(var.shape(), var.dtype(), var.device());
    let mut slots = vec![("momentum", zeros()?), ("velocity", zeros()?)];
    if amsgrad {
        slots.push(("velocity_hat", zeros()?));
    }
    Ok(slots)
}

fn adam_update(a: &AdamRule, var: &Var, grad: &Tensor, slots: &[Var], lr: f64, t: u64) -> Result<()> {
    let (m, v) = match slots {
        [m, v, ..] => (m, v),
        _ => candle_core::bail!("Adam: expected the momentum and velocity slots"),
    };
    let g = grad.to_dtype(var.dtype())?;
    // α in float32, as Keras computes it.
    let t32 = t as f32;
    let b1p = (a.beta_1 as f32).powf(t32);
    let b2p = (a.beta_2 as f32).powf(t32);
    let alpha = (lr as f32) * (1.0f32 - b2p).sqrt() / (1.0f32 - b1p);
    if !a.amsgrad && cpu::applies(var, &g, m, v) {
        return cpu::update(var, &g, m, v, &a.cpu_hyper(), alpha);
    }
    update_with_tensor_ops(a, var, &g, slots, alpha)
}

/// The update as Candle tensor ops: any device and dtype, and AMSGrad.
fn update_with_tensor_ops(a: &AdamRule, var: &Var, g: &Tensor, slots: &[Var], alpha: f32) -> Result<()> {
    let (m, v) = match slots {
        [m, v, ..] => (m, v),
        _ => candle_core::bail!("Adam: expected the momentum and velocity slots"),
    };
    let new_m = (m.as_tensor() + (g - m.as_tensor())?.affine(1.0 - a.beta_1, 0.0)?)?;
    m.set(&new_m)?;
    let new_v = (v.as_tensor() + (g.sqr()? - v.as_tensor())?.affine(1.0 - a.beta_2, 0.0)?)?;
    v.set(&new_v)?;
    let v_used = if a.amsgrad {
        let v_hat = match slots.get(2) {
            Some(s) => s,
            None => candle_core::bail!("Adam: amsgrad needs the velocity_hat slot"),
        };
        let new_hat = v_hat.as_tensor().maximum(v.as_tensor())?;
        v_hat.set(&new_hat)?;
        new_hat
    } else {
        new_v
    };
    let step = new_m.affine(alpha as f64, 0.0)?.div(&(v_used.sqrt()? + a.epsilon)?)?;
    var.set(&(var.as_tensor() - step)?)
}

impl UpdateRule for AdamRule {
    fn name(&self) -> &'static str {
        "Adam"
    }

    fn init_slots(&self, var: &Tensor) -> Result<Vec<(&'static str, Var)>> {
        adam_slots(self.amsgrad, var)
    }

    fn update(&self, var: &Var, grad: &Tensor, slots: &[Var], lr: f64, t: u64) -> Result<()> {
        adam_update(self, var, grad, slots, lr, t)
    }
}

/// Keras `keras.optimizers.AdamW(learning_rate=0.001, weight_decay=0.004, beta_1=0.9,
/// beta_2=0.999, epsilon=1e-7, amsgrad=False)`.
///
/// The [`AdamRule`] rule; the decay is the generic decoupled weight decay, applied before the
/// Adam step: `θ ← θ − η·wd·θ`. Keras requires a weight decay:
/// [`OptimizerConfig::new`](crate::OptimizerConfig::new) sets `weight_decay = Some(0.004)`,
/// and building with `weight_decay: None` is an `InvalidArgument` error.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AdamWRule {
    /// The Adam hyper-parameters (Keras `beta_1`, `beta_2`, `epsilon`, `amsgrad`, with
    /// Adam's defaults).
    pub adam: AdamRule,
}

impl AdamWRule {
    /// Keras' default learning rate for AdamW.
    pub const DEFAULT_LEARNING_RATE: f64 = 0.001;
    /// Keras' default weight decay for AdamW.
    pub const DEFAULT_WEIGHT_DECAY: f64 = 0.004;
}

impl UpdateRule for AdamWRule {
    fn name(&self) -> &'static str {
        "AdamW"
    }

    fn init_slots(&self, var: &Tensor) -> Result<Vec<(&'static str, Var)>> {
        adam_slots(self.adam.amsgrad, var)
    }

    fn update(&self, var: &Var, grad: &Tensor, slots: &[Var], lr: f64, t: u64) -> Result<()> {
        adam_update(&self.adam, var, grad, slots, lr, t)
    }

    fn default_weight_decay(&self) -> Option<f64> {
        Some(Self::DEFAULT_WEIGHT_DECAY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn run(rule: &dyn UpdateRule, lr: f64, grads: &[f32]) -> Vec<f32> {
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

    /// Adam in f64, straight from the formula.
    fn reference(amsgrad: bool, lr: f64, grads: &[f64]) -> Vec<f64> {
        let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-7);
        let (mut th, mut m, mut v, mut vh) = (1.0f64, 0.0, 0.0, 0.0f64);
        let mut out = Vec::new();
        for (i, g) in grads.iter().enumerate() {
            let t = (i + 1) as i32;
            m += (g - m) * (1.0 - b1);
            v += (g * g - v) * (1.0 - b2);
            vh = vh.max(v);
            let vv = if amsgrad { vh } else { v };
            let alpha = lr * (1.0 - b2.powi(t)).sqrt() / (1.0 - b1.powi(t));
            th -= alpha * m / (vv.sqrt() + eps);
            out.push(th);
        }
        out
    }

    fn close(a: &[f32], b: &[f64]) {
        for (x, y) in a.iter().zip(b) {
            assert!((*x as f64 - y).abs() < 1e-5 + 1e-4 * y.abs(), "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn first_step_is_lr_times_sign() {
        // t = 1: m = 0.1g, v = 0.001g², α = η·sqrt(0.001)/0.1, so θ ≈ 1 − η·sign(g).
        let out = run(&AdamRule::default(), 0.1, &[0.5]);
        assert!((out[0] as f64 - 0.9).abs() < 1e-5, "{out:?}");
    }

    #[test]
    fn matches_formula() {
        let g = [0.5f32, -1.0, 0.25, 2.0];
        let g64: Vec<f64> = g.iter().map(|x| *x as f64).collect();
        close(&run(&AdamRule::default(), 0.1, &g), &reference(false, 0.1, &g64));
        let ams = AdamRule { amsgrad: true, ..AdamRule::default() };
        close(&run(&ams, 0.1, &g), &reference(true, 0.1, &g64));
        // AdamW's rule alone is Adam's.
        close(&run(&AdamWRule::default(), 0.1, &g), &reference(false, 0.1, &g64));
    }

    #[test]
    fn slots_and_names() {
        let x = Tensor::new(&[1.0f32, 2.0], &Device::Cpu).unwrap();
        let names: Vec<_> = AdamRule { amsgrad: true, ..AdamRule::default() }
            .init_slots(&x)
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names, ["momentum", "velocity", "velocity_hat"]);
        assert_eq!(AdamRule::default().name(), "Adam");
        assert_eq!(AdamWRule::default().name(), "AdamW");
        assert_eq!(AdamWRule::default().default_weight_decay(), Some(0.004));
        assert_eq!(AdamRule::default().default_weight_decay(), None);
    }

    /// Deterministic values in roughly [-2, 2), with exact zeros and -0.0 mixed in.
    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                match i % 97 {
                    0 => 0.0,
                    1 => -0.0,
                    _ => ((x >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0,
                }
            })
            .collect()
    }

    fn bits(t: &Tensor) -> Vec<u32> {
        t.flatten_all().unwrap().to_vec1::<f32>().unwrap().iter().map(|x| x.to_bits()).collect()
    }

    /// Both paths, several steps, sizes below and above the parallel threshold: the
    /// variable and both slots agree bit for bit.
    #[test]
    fn fused_equals_tensor_ops_bit_for_bit() {
        let adam = AdamRule::default();
        let hyper = adam.cpu_hyper();
        for n in [1usize, 7, 1000, 3 * crate::cpu_f32::CHUNK + 5] {
            let dev = Device::Cpu;
            let init = Tensor::from_vec(values(n, 1), n, &dev).unwrap();
            let (fv, gv) = (Var::from_tensor(&init).unwrap(), Var::from_tensor(&init).unwrap());
            let slots =
                |_: ()| -> Vec<Var> { (0..2).map(|_| Var::zeros(n, candle_core::DType::F32, &dev).unwrap()).collect() };
            let (fs, gs) = (slots(()), slots(()));
            for step in 1..=4u64 {
                let g = Tensor::from_vec(values(n, 10 + step), n, &dev).unwrap();
                let alpha = 0.01f32 * (1.0 - 0.999f32.powf(step as f32)).sqrt() / (1.0 - 0.9f32.powf(step as f32));
                assert!(cpu::applies(&fv, &g, &fs[0], &fs[1]));
                cpu::update(&fv, &g, &fs[0], &fs[1], &hyper, alpha).unwrap();
                update_with_tensor_ops(&adam, &gv, &g, &gs, alpha).unwrap();
                assert_eq!(bits(&fv), bits(&gv), "variable, n = {n}, step {step}");
                assert_eq!(bits(&fs[0]), bits(&gs[0]), "momentum, n = {n}, step {step}");
                assert_eq!(bits(&fs[1]), bits(&gs[1]), "velocity, n = {n}, step {step}");
            }
        }
    }
}
