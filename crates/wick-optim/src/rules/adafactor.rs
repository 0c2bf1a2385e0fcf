//! Keras' `Adafactor` update rule.

use candle_core::{Result, Tensor, Var};

use crate::rule::UpdateRule;

/// Keras `Adafactor(learning_rate=0.001, beta_2_decay=-0.8, epsilon_1=1e-30, epsilon_2=1e-3,
/// clip_threshold=1.0, relative_step=True)`.
///
/// There is no first moment. The second moment is factored for variables of rank ≥ 2:
/// slots `velocity_row` (R, shape `shape[:-1]`) and `velocity_col` (C, shape
/// `shape[:-2] + shape[-1:]`); a variable of rank < 2 keeps the full `velocity` (V). All
/// start at 0. One step `t` (`iterations + 1`), with learning rate η, where
/// `RMS(x) = sqrt(mean(x²))` over the whole tensor:
///
/// ```text
/// ρ_t = min(η, 1/sqrt(t));   α_t = max(ε2, RMS(θ)) · ρ_t
/// G = g² + ε1;   β̂2 = 1 − t^beta_2_decay                       # β̂2 = 0 at t = 1
/// rank ≥ 2: R ← β̂2 R + (1 − β̂2) · mean(G, axis=−1)
///           C ← β̂2 C + (1 − β̂2) · mean(G, axis=−2)
///           V = (R / mean(R, axis=−1, keepdims))[..., None] · C[..., None, :]
/// rank < 2: V ← β̂2 V + (1 − β̂2) G
/// U = g / sqrt(V);   Û = U / max(1, RMS(U) / clip_threshold);   θ ← θ − α_t Û
/// ```
///
/// `relative_step` has no visible effect in Keras 3: it applies the same `min(η, 1/sqrt(t))`
/// that `ρ_t` applies anyway; it is kept for configuration parity. Both RMS values stay on
/// the device as 0-d tensors.
#[derive(Debug, Clone)]
pub struct AdafactorRule {
    /// Exponent of the `β̂2 = 1 − t^beta_2_decay` schedule (Keras `beta_2_decay`, default
    /// -0.8).
    pub beta_2_decay: f64,
    /// Added to `g²` to keep the denominator away from 0 (Keras `epsilon_1`, default 1e-30).
    pub epsilon_1: f64,
    /// Lower bound of `RMS(θ)` in the step size (Keras `epsilon_2`, default 1e-3).
    pub epsilon_2: f64,
    /// Threshold of the update's RMS clipping, independent of `clipnorm` & co. (Keras
    /// `clip_threshold`, default 1.0).
    pub clip_threshold: f64,
    /// Caps the learning rate at `1/sqrt(t)` (Keras `relative_step`, default true).
    pub relative_step: bool,
}

impl AdafactorRule {
    /// Keras' default learning rate for `Adafactor`.
    pub const DEFAULT_LEARNING_RATE: f64 = 0.001;

    /// `sqrt(mean(x²))` over the whole tensor, as a 0-d tensor.
    fn rms(x: &Tensor) -> Result<Tensor> {
        x.sqr()?.mean_all()?.sqrt()
    }
}

impl Default for AdafactorRule {
    fn default() -> Self {
        Self { beta_2_decay: -0.8, epsilon_1: 1e-30, epsilon_2: 1e-3, clip_threshold: 1.0, relative_step: true }
    }
}

impl UpdateRule for AdafactorRule {
    fn name(&self) -> &'static str {
        "Adafactor"
    }

    fn init_slots(&self, var: &Tensor) -> Result<Vec<(&'static str, Var)>> {
        let dims = var.dims();
        let (dtype, device) = (var.dtype(), var.device());
        if dims.len() >= 2 {
            let n = dims.len();
            let row_shape = dims[..n - 1].to_vec();
            let mut col_shape = dims[..n - 2].to_vec();
            col_shape.push(dims[n - 1]);
            Ok(vec![
                ("velocity_row", Var::zeros(row_shape, dtype, device)?),
                ("velocity_col", Var::zeros(col_shape, dtype, device)?),
            ])
        } else {
            Ok(vec![("velocity", Var::zeros(var.shape(), dtype, device)?)])
        }
    }

    fn update(&self, var: &Var, grad: &Tensor, slots: &[Var], lr: f64, t: u64) -> Result<()> {
        let rank = var.rank();
        let want = if rank >= 2 { 2 } else { 1 };
        if slots.len() != want {
            candle_core::bail!("Adafactor: expected {want} slots, got {}", slots.len())
        }
        if var.elem_count() == 0 {
            return Ok(());
        }
        let t = t as f64;
        let cap = 1.0 / t.sqrt();
        let lr = if self.relative_step { lr.min(cap) } else { lr };
        let rho_t = lr.min(cap);
        let theta = var.as_tensor();
        let alpha_t = Self::rms(theta)?.maximum(self.epsilon_2)?.affine(rho_t, 0.0)?;
        let g2 = grad.sqr()?.affine(1.0, self.epsilon_1)?;
        let b2 = 1.0 - t.powf(self.beta_2_decay);
        let v = if rank >= 2 {
            let (row, col) = (&slots[0], &slots[1]);
            let new_row = (row.affine(b2, 0.0)? + g2.mean(rank - 1)?.affine(1.0 - b2, 0.0)?)?;
            let new_col = (col.affine(b2, 0.0)? + g2.mean(rank - 2)?.affine(1.0 - b2, 0.0)?)?;
            let row_normed = new_row.broadcast_div(&new_row.mean_keepdim(rank - 2)?)?;
            let v = row_normed.unsqueeze(rank - 1)?.broadcast_mul(&new_col.unsqueeze(rank - 2)?)?;
            row.set(&new_row)?;
            col.set(&new_col)?;
            v
        } else {
            let vel = &slots[0];
            let new_v = (vel.affine(b2, 0.0)? + g2.affine(1.0 - b2, 0.0)?)?;
            vel.set(&new_v)?;
            new_v
        };
        let u = (grad / v.sqrt()?)?;
        let clip = Self::rms(&u)?.affine(1.0 / self.clip_threshold, 0.0)?.maximum(1.0)?;
        let u_hat = u.broadcast_div(&clip)?;
        let new_theta = (theta - u_hat.broadcast_mul(&alpha_t)?)?;
        var.set(&new_theta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::golden_test::check_golden;
    use candle_core::{DType, Device};

    /// `adafactor_default`: `Adafactor({})`, `after_step[0..3]`.
    const ADAFACTOR_DEFAULT: [([f32; 6], [f32; 3]); 3] = [
        (
            [0.49957654, -0.29935372, 0.79931396, -1.2006818, 0.05063242, 0.000620922],
            [0.09978398, -0.19978398, 0.30021605],
        ),
        (
            [0.5005743, -0.2998752, 0.7986192, -1.2007388, 0.05013894, 0.00031264054],
            [0.100012794, -0.19996956, 0.30044672],
        ),
        (
            [0.49961227, -0.2998752, 0.79883736, -1.2002084, 0.04953887, 0.00044235482],
            [0.10017445, -0.19975162, 0.3002705],
        ),
    ];
    /// `adafactor_lr0.1_norel`: `Adafactor({'learning_rate': 0.1, 'relative_step': False})`, `after_step[0..3]`.
    const ADAFACTOR_LR0_1_NOREL: [([f32; 6], [f32; 3]); 3] = [
        (
            [0.4576538, -0.23536977, 0.73139465, -1.2681769, 0.11324185, 0.062092196],
            [0.07839753, -0.17839754, 0.3216025],
        ),
        (
            [0.5574816, -0.2875441, 0.66188616, -1.2738816, 0.06386882, 0.03124851],
            [0.10139305, -0.19704854, 0.34478322],
        ),
        (
            [0.46055192, -0.2875441, 0.68386805, -1.2204403, 0.0034078397, 0.044318117],
            [0.11908413, -0.17319728, 0.3254964],
        ),
    ];

    #[test]
    fn defaults_match_keras() {
        let r = AdafactorRule::default();
        assert_eq!(
            (r.beta_2_decay, r.epsilon_1, r.epsilon_2, r.clip_threshold, r.relative_step),
            (-0.8, 1e-30, 1e-3, 1.0, true)
        );
        assert_eq!(AdafactorRule::DEFAULT_LEARNING_RATE, 0.001);
        assert_eq!(r.name(), "Adafactor");
    }

    #[test]
    fn slots_are_factored_from_rank_2() -> Result<()> {
        let dev = Device::Cpu;
        let shapes = |dims: &[usize]| -> Result<Vec<(&'static str, Vec<usize>)>> {
            let x = Tensor::zeros(dims, DType::F32, &dev)?;
            Ok(AdafactorRule::default().init_slots(&x)?.into_iter().map(|(n, v)| (n, v.dims().to_vec())).collect())
        };
        assert_eq!(shapes(&[3])?, [("velocity", vec![3])]);
        assert_eq!(shapes(&[2, 3])?, [("velocity_row", vec![2]), ("velocity_col", vec![3])]);
        assert_eq!(shapes(&[4, 2, 3])?, [("velocity_row", vec![4, 2]), ("velocity_col", vec![4, 3])]);
        Ok(())
    }

    #[test]
    fn adafactor_default_matches_keras() -> Result<()> {
        check_golden("adafactor_default", &mut AdafactorRule::default(), 0.001, &ADAFACTOR_DEFAULT)?;
        Ok(())
    }

    #[test]
    fn adafactor_lr0_1_norel_matches_keras() -> Result<()> {
        let mut rule = AdafactorRule { relative_step: false, ..AdafactorRule::default() };
        check_golden("adafactor_lr0.1_norel", &mut rule, 0.1, &ADAFACTOR_LR0_1_NOREL)?;
        Ok(())
    }

    #[test]
    fn rank_3_update_is_finite_and_moves_against_the_gradient() -> Result<()> {
        let dev = Device::Cpu;
        let var = Var::from_tensor(&Tensor::ones((2, 2, 3), DType::F32, &dev)?)?;
        let rule = AdafactorRule::default();
        let slots: Vec<Var> = rule.init_slots(&var)?.into_iter().map(|(_, s)| s).collect();
        let grad = Tensor::arange(1f32, 13., &dev)?.reshape((2, 2, 3))?;
        rule.update(&var, &grad, &slots, 0.1, 1)?;
        for x in var.flatten_all()?.to_vec1::<f32>()? {
            assert!(x.is_finite() && x < 1.0, "{x}");
        }
        Ok(())
    }
}
