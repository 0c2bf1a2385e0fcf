//! Keras `CosineDecay` (with optional linear warmup).

use super::common::{check_finite, check_non_negative, check_steps, cos32, invalid, step32, PI_F32};
use crate::error::Result;
use crate::schedule::LearningRateSchedule;

const CLASS: &str = "CosineDecay";

/// Keras `keras.optimizers.schedules.CosineDecay(initial_learning_rate, decay_steps,
/// alpha=0.0, warmup_target=None, warmup_steps=0)`.
///
/// At step `s`, in float32, with `D = decay_steps`, `W = warmup_steps`, `α = alpha` and
///
/// ```text
/// decay(x, peak) = peak * ((1 - α) * 0.5 * (1 + cos(π * x / D)) + α)
/// ```
///
/// * without `warmup_target`: `lr = decay(min(s, D), initial_learning_rate)`;
///   **`warmup_steps` is then ignored**, as in Keras;
/// * with `warmup_target = T`: `s' = min(s, D + W)`, and
///   `lr = initial_learning_rate + (T - initial_learning_rate) * s' / W` while `s' < W`
///   (a linear warmup from `initial_learning_rate`), then `lr = decay(s' - W, T)`.
///
/// The floor is `α * peak`, reached at step `D` (or `D + W`) and kept afterwards.
///
/// Construction fails (naming the argument and its value) when `decay_steps` is 0 (Keras'
/// `ValueError`), when a learning rate is negative or not finite in float32, or when `alpha`
/// is outside `[0, 1]`.
#[derive(Debug, Clone, PartialEq)]
pub struct CosineDecay {
    /// The learning rate at step 0 (the start of the warmup, or of the decay without one).
    pub initial_learning_rate: f64,
    /// The number of steps of the cosine decay (> 0).
    pub decay_steps: u64,
    /// The final learning rate as a fraction of the peak (Keras' default: `0.0`).
    pub alpha: f64,
    /// The learning rate the warmup reaches, where the decay starts; `None` (Keras' default)
    /// for no warmup.
    pub warmup_target: Option<f64>,
    /// The number of warmup steps (Keras' default: `0`); ignored without `warmup_target`.
    pub warmup_steps: u64,
}

impl CosineDecay {
    /// A validated schedule. Keras' defaults are `alpha = 0.0`, `warmup_target = None`,
    /// `warmup_steps = 0`.
    pub fn new(
        initial_learning_rate: f64,
        decay_steps: u64,
        alpha: f64,
        warmup_target: Option<f64>,
        warmup_steps: u64,
    ) -> Result<Self> {
        let s = CosineDecay { initial_learning_rate, decay_steps, alpha, warmup_target, warmup_steps };
        s.validate()?;
        Ok(s)
    }

    /// Checks the fields (as `new` does), for a schedule whose public fields were edited.
    pub fn validate(&self) -> Result<()> {
        check_non_negative(CLASS, "initial_learning_rate", self.initial_learning_rate)?;
        check_steps(CLASS, "decay_steps", self.decay_steps)?;
        check_finite(CLASS, "alpha", self.alpha)?;
        if !(0.0..=1.0).contains(&self.alpha) {
            return Err(invalid(CLASS, format!("argument `alpha` must be in [0, 1], got alpha={}", self.alpha)));
        }
        if let Some(target) = self.warmup_target {
            check_non_negative(CLASS, "warmup_target", target)?;
        }
        Ok(())
    }

    /// Keras' `_decay_function`: the cosine from `peak` down to `alpha * peak`.
    fn decay(&self, x: f32, decay_steps: f32, peak: f32) -> f32 {
        let completed_fraction = x / decay_steps;
        let cosine_decayed = 0.5f32 * (1.0f32 + cos32(PI_F32 * completed_fraction));
        // `(1 - self.alpha)` is a Python float (float64), cast once to float32.
        let decayed = (1.0 - self.alpha) as f32 * cosine_decayed + self.alpha as f32;
        peak * decayed
    }
}

impl LearningRateSchedule for CosineDecay {
    fn name(&self) -> &'static str {
        CLASS
    }

    fn lr_at(&self, step: u64) -> f64 {
        let lr0 = self.initial_learning_rate as f32;
        let decay_steps = self.decay_steps as f32;
        let s = step32(step);
        let lr = match self.warmup_target {
            None => self.decay(s.min(decay_steps), decay_steps, lr0),
            Some(target) => {
                let target = target as f32;
                let warmup_steps = self.warmup_steps as f32;
                let s = s.min(decay_steps + warmup_steps);
                if s < warmup_steps {
                    (target - lr0) * (s / warmup_steps) + lr0
                } else {
                    self.decay(s - warmup_steps, decay_steps, target)
                }
            }
        };
        lr as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedules::test_util::{assert_matches_keras, invalid_message};

    #[test]
    fn matches_keras_alpha() {
        // Keras 3.15.1: CosineDecay(0.1, decay_steps=20, alpha=0.1)
        let keras = [
            0.10000000149011612,
            0.09944597631692886,
            0.09779754281044006,
            0.09509529173374176,
            0.09140576422214508,
            0.08681981265544891,
            0.06203955411911011,
            0.05499999597668648,
            0.047960445284843445,
            0.023180196061730385,
            0.010554024018347263,
            0.010000000707805157,
            0.010000000707805157,
            0.010000000707805157,
            0.010000000707805157,
            0.010000000707805157,
            0.010000000707805157,
            0.010000000707805157,
            0.010000000707805157,
            0.010000000707805157,
            0.010000000707805157,
        ];
        let s = CosineDecay::new(0.1, 20, 0.1, None, 0).unwrap();
        assert_matches_keras(&s, &keras);
        assert_eq!(s.name(), "CosineDecay");
    }

    #[test]
    fn matches_keras_warmup() {
        // Keras 3.15.1: CosineDecay(0.0, decay_steps=20, alpha=0.1, warmup_target=0.2, warmup_steps=5)
        let keras = [
            0.0,
            0.04000000283122063,
            0.08000000566244125,
            0.12000000476837158,
            0.1600000113248825,
            0.20000000298023224,
            0.18281152844429016,
            0.17363962531089783,
            0.1629006713628769,
            0.10999999195337296,
            0.05709933117032051,
            0.04636039212346077,
            0.037188466638326645,
            0.020000001415610313,
            0.020000001415610313,
            0.020000001415610313,
            0.020000001415610313,
            0.020000001415610313,
            0.020000001415610313,
            0.020000001415610313,
            0.020000001415610313,
        ];
        let s = CosineDecay::new(0.0, 20, 0.1, Some(0.2), 5).unwrap();
        assert_matches_keras(&s, &keras);
        // The warmup is plain float32 arithmetic: bit-exact.
        assert_eq!(s.lr_at(1), 0.04000000283122063);
    }

    #[test]
    fn matches_keras_warmup_steps_without_target() {
        // Keras 3.15.1: CosineDecay(0.1, decay_steps=20, warmup_steps=5): warmup_steps ignored
        let keras = [
            0.10000000149011612,
            0.09938441962003708,
            0.0975528284907341,
            0.09455032646656036,
            0.09045084565877914,
            0.08535534143447876,
            0.05782172828912735,
            0.04999999701976776,
            0.04217827320098877,
            0.014644661918282509,
            0.0006155818700790405,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
        ];
        assert_matches_keras(&CosineDecay::new(0.1, 20, 0.0, None, 5).unwrap(), &keras);
    }

    #[test]
    fn rejects_bad_arguments() {
        let m = invalid_message(CosineDecay::new(0.1, 0, 0.0, None, 0), CLASS);
        assert!(m.contains("decay_steps=0"), "{m}");
        let m = invalid_message(CosineDecay::new(0.1, 10, 1.5, None, 0), CLASS);
        assert!(m.contains("alpha=1.5"), "{m}");
        let m = invalid_message(CosineDecay::new(0.1, 10, 0.0, Some(f64::NAN), 5), CLASS);
        assert!(m.contains("warmup_target=NaN"), "{m}");
    }
}
