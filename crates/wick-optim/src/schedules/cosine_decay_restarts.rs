//! Keras `CosineDecayRestarts` (SGDR).

use super::common::{check_finite, check_non_negative, check_steps, cos32, invalid, ln32, pow32, step32, PI_F32};
use crate::error::Result;
use crate::schedule::LearningRateSchedule;

const CLASS: &str = "CosineDecayRestarts";

/// Keras `keras.optimizers.schedules.CosineDecayRestarts(initial_learning_rate,
/// first_decay_steps, t_mul=2.0, m_mul=1.0, alpha=0.0)` (SGDR, Loshchilov & Hutter).
///
/// At step `s`, in float32, with `f = s / first_decay_steps`:
///
/// ```text
/// if t_mul == 1:  i = floor(f);                                   f = f - i
/// else:           i = floor(ln(1 - f * (1 - t_mul)) / ln(t_mul))
///                 f = (f - (1 - t_mul^i) / (1 - t_mul)) / t_mul^i
/// lr = initial_learning_rate * ((1 - alpha) * 0.5 * m_mul^i * (1 + cos(π f)) + alpha)
/// ```
///
/// Period `i` lasts `first_decay_steps * t_mul^i` steps and starts at
/// `m_mul^i * initial_learning_rate`; the floor `alpha * initial_learning_rate` is **not**
/// multiplied by `m_mul^i`. With `t_mul < 1` the periods shrink and, as in Keras, the lr is
/// NaN from step `first_decay_steps / (1 - t_mul)` on.
///
/// Construction fails (naming the argument and its value) when `first_decay_steps` is 0
/// (Keras' `ValueError`), when `initial_learning_rate` or `m_mul` is negative or not finite
/// in float32, when `t_mul` is not > 0, or when `alpha` is outside `[0, 1]`.
#[derive(Debug, Clone, PartialEq)]
pub struct CosineDecayRestarts {
    /// The learning rate at step 0.
    pub initial_learning_rate: f64,
    /// The length of the first period (> 0).
    pub first_decay_steps: u64,
    /// The factor by which each period is longer than the previous one (Keras' default: `2.0`).
    pub t_mul: f64,
    /// The factor by which each period starts lower than the previous one (Keras' default: `1.0`).
    pub m_mul: f64,
    /// The floor as a fraction of `initial_learning_rate` (Keras' default: `0.0`).
    pub alpha: f64,
}

impl CosineDecayRestarts {
    /// Keras' default `t_mul`.
    pub const DEFAULT_T_MUL: f64 = 2.0;
    /// Keras' default `m_mul`.
    pub const DEFAULT_M_MUL: f64 = 1.0;

    /// A validated schedule. Keras' defaults are `t_mul = 2.0`, `m_mul = 1.0`, `alpha = 0.0`.
    pub fn new(initial_learning_rate: f64, first_decay_steps: u64, t_mul: f64, m_mul: f64, alpha: f64) -> Result<Self> {
        let s = CosineDecayRestarts { initial_learning_rate, first_decay_steps, t_mul, m_mul, alpha };
        s.validate()?;
        Ok(s)
    }

    /// Checks the fields (as `new` does), for a schedule whose public fields were edited.
    pub fn validate(&self) -> Result<()> {
        check_non_negative(CLASS, "initial_learning_rate", self.initial_learning_rate)?;
        check_steps(CLASS, "first_decay_steps", self.first_decay_steps)?;
        check_finite(CLASS, "t_mul", self.t_mul)?;
        if self.t_mul as f32 <= 0.0 {
            return Err(invalid(CLASS, format!("argument `t_mul` must be > 0, got t_mul={}", self.t_mul)));
        }
        check_non_negative(CLASS, "m_mul", self.m_mul)?;
        check_finite(CLASS, "alpha", self.alpha)?;
        if !(0.0..=1.0).contains(&self.alpha) {
            return Err(invalid(CLASS, format!("argument `alpha` must be in [0, 1], got alpha={}", self.alpha)));
        }
        Ok(())
    }
}

impl LearningRateSchedule for CosineDecayRestarts {
    fn name(&self) -> &'static str {
        CLASS
    }

    fn lr_at(&self, step: u64) -> f64 {
        let lr0 = self.initial_learning_rate as f32;
        let first_decay_steps = self.first_decay_steps as f32;
        let alpha = self.alpha as f32;
        let t_mul = self.t_mul as f32;
        let m_mul = self.m_mul as f32;

        let mut completed_fraction = step32(step) / first_decay_steps;
        let i_restart;
        if t_mul == 1.0 {
            i_restart = completed_fraction.floor();
            completed_fraction -= i_restart;
        } else {
            i_restart = (ln32(1.0f32 - completed_fraction * (1.0f32 - t_mul)) / ln32(t_mul)).floor();
            let sum_r = (1.0f32 - pow32(t_mul, i_restart)) / (1.0f32 - t_mul);
            completed_fraction = (completed_fraction - sum_r) / pow32(t_mul, i_restart);
        }

        let m_fac = pow32(m_mul, i_restart);
        let cosine_decayed = 0.5f32 * m_fac * (1.0f32 + cos32(PI_F32 * completed_fraction));
        let decayed = (1.0f32 - alpha) * cosine_decayed + alpha;
        (lr0 * decayed) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedules::test_util::{assert_matches_keras, invalid_message};

    #[test]
    fn matches_keras_tmul2() {
        // Keras 3.15.1: CosineDecayRestarts(0.1, first_decay_steps=10, t_mul=2.0, m_mul=0.5, alpha=0.1)
        let keras = [
            0.10000000149011612,
            0.09779754281044006,
            0.09140576422214508,
            0.08145033568143845,
            0.06890576332807541,
            0.05499999597668648,
            0.012202458456158638,
            0.055000003427267075,
            0.05472299084067345,
            0.04840990528464317,
            0.03601977601647377,
            0.032499998807907104,
            0.028980225324630737,
            0.016590097919106483,
            0.01027701236307621,
            0.032499998807907104,
            0.03246532008051872,
            0.025555187836289406,
            0.010034679435193539,
            0.021250000223517418,
            0.017777595669031143,
        ];
        let s = CosineDecayRestarts::new(0.1, 10, 2.0, 0.5, 0.1).unwrap();
        assert_matches_keras(&s, &keras);
        assert_eq!(s.name(), "CosineDecayRestarts");
    }

    #[test]
    fn matches_keras_tmul1() {
        // Keras 3.15.1: CosineDecayRestarts(0.1, first_decay_steps=10, t_mul=1.0, m_mul=0.8)
        let keras = [
            0.10000000149011612,
            0.0975528284907341,
            0.09045084565877914,
            0.07938926666975021,
            0.06545084714889526,
            0.04999999701976776,
            0.0024471760261803865,
            0.08000000566244125,
            0.07804226130247116,
            0.03999999910593033,
            0.001957740867510438,
            0.06400000303983688,
            0.062433816492557526,
            0.03200000151991844,
            0.001566187129355967,
            0.05120000243186951,
            0.04994704946875572,
            0.020479999482631683,
            0.0006415102398023009,
            0.020971521735191345,
            0.010737420059740543,
        ];
        assert_matches_keras(&CosineDecayRestarts::new(0.1, 10, 1.0, 0.8, 0.0).unwrap(), &keras);
    }

    #[test]
    fn restarts_at_period_starts() {
        // Periods of 10, 20, 40 steps start at 0, 10, 30, 70.
        let s = CosineDecayRestarts::new(1.0, 10, 2.0, 0.5, 0.0).unwrap();
        for (step, peak) in [(0, 1.0), (10, 0.5), (30, 0.25), (70, 0.125), (150, 0.0625)] {
            assert_eq!(s.lr_at(step), peak, "step {step}");
        }
    }

    #[test]
    fn rejects_bad_arguments() {
        let m = invalid_message(CosineDecayRestarts::new(0.1, 0, 2.0, 1.0, 0.0), CLASS);
        assert!(m.contains("first_decay_steps=0"), "{m}");
        let m = invalid_message(CosineDecayRestarts::new(0.1, 10, 0.0, 1.0, 0.0), CLASS);
        assert!(m.contains("t_mul=0"), "{m}");
        let m = invalid_message(CosineDecayRestarts::new(0.1, 10, 2.0, -1.0, 0.0), CLASS);
        assert!(m.contains("m_mul=-1"), "{m}");
        let m = invalid_message(CosineDecayRestarts::new(0.1, 10, 2.0, 1.0, -0.1), CLASS);
        assert!(m.contains("alpha=-0.1"), "{m}");
    }
}
