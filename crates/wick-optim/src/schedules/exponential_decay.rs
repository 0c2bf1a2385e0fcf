//! Keras `ExponentialDecay`.

use super::common::{check_non_negative, check_steps, pow32, step32};
use crate::error::Result;
use crate::schedule::LearningRateSchedule;

const CLASS: &str = "ExponentialDecay";

/// Keras `keras.optimizers.schedules.ExponentialDecay(initial_learning_rate, decay_steps,
/// decay_rate, staircase=False)`.
///
/// At step `s`, in float32:
///
/// ```text
/// p  = s / decay_steps            (floor(s / decay_steps) if staircase)
/// lr = initial_learning_rate * decay_rate ^ p
/// ```
///
/// Construction fails (naming the argument and its value) when `decay_steps` is 0 (Keras'
/// `ValueError`), or when `initial_learning_rate` or `decay_rate` is negative or not finite
/// in float32.
#[derive(Debug, Clone, PartialEq)]
pub struct ExponentialDecay {
    /// The learning rate at step 0.
    pub initial_learning_rate: f64,
    /// The number of steps over which the rate is multiplied by `decay_rate` (> 0).
    pub decay_steps: u64,
    /// The factor applied every `decay_steps` steps.
    pub decay_rate: f64,
    /// Decay in whole periods (`floor(s / decay_steps)`) instead of continuously.
    pub staircase: bool,
}

impl ExponentialDecay {
    /// A validated schedule; Keras' default is `staircase = false`.
    pub fn new(initial_learning_rate: f64, decay_steps: u64, decay_rate: f64, staircase: bool) -> Result<Self> {
        let s = ExponentialDecay { initial_learning_rate, decay_steps, decay_rate, staircase };
        s.validate()?;
        Ok(s)
    }

    /// Checks the fields (as `new` does), for a schedule whose public fields were edited.
    pub fn validate(&self) -> Result<()> {
        check_non_negative(CLASS, "initial_learning_rate", self.initial_learning_rate)?;
        check_steps(CLASS, "decay_steps", self.decay_steps)?;
        check_non_negative(CLASS, "decay_rate", self.decay_rate)
    }
}

impl LearningRateSchedule for ExponentialDecay {
    fn name(&self) -> &'static str {
        CLASS
    }

    fn lr_at(&self, step: u64) -> f64 {
        let lr0 = self.initial_learning_rate as f32;
        let decay_steps = self.decay_steps as f32;
        let decay_rate = self.decay_rate as f32;
        let mut p = step32(step) / decay_steps;
        if self.staircase {
            p = p.floor();
        }
        (lr0 * pow32(decay_rate, p)) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedules::test_util::{assert_matches_keras, invalid_message};

    #[test]
    fn matches_keras_smooth() {
        // Keras 3.15.1: ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
        let keras = [
            0.10000000149011612,
            0.09330330044031143,
            0.08705505728721619,
            0.08122523874044418,
            0.07578583061695099,
            0.0707106813788414,
            0.05358867719769478,
            0.05000000074505806,
            0.046651650220155716,
            0.0353553406894207,
            0.02679433859884739,
            0.02500000037252903,
            0.023325826972723007,
            0.01767767034471035,
            0.013397167436778545,
            0.012500000186264515,
            0.011662913486361504,
            0.0044194175861775875,
            0.0008373229647986591,
            0.0007812500116415322,
            9.765625145519152e-05,
        ];
        let s = ExponentialDecay::new(0.1, 10, 0.5, false).unwrap();
        assert_matches_keras(&s, &keras);
        assert_eq!(s.name(), "ExponentialDecay");
    }

    #[test]
    fn matches_keras_staircase() {
        // Keras 3.15.1: ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5, staircase=True)
        let keras = [
            0.10000000149011612,
            0.10000000149011612,
            0.10000000149011612,
            0.10000000149011612,
            0.10000000149011612,
            0.10000000149011612,
            0.10000000149011612,
            0.05000000074505806,
            0.05000000074505806,
            0.05000000074505806,
            0.05000000074505806,
            0.02500000037252903,
            0.02500000037252903,
            0.02500000037252903,
            0.02500000037252903,
            0.012500000186264515,
            0.012500000186264515,
            0.0062500000931322575,
            0.0015625000232830644,
            0.0007812500116415322,
            9.765625145519152e-05,
        ];
        let s = ExponentialDecay::new(0.1, 10, 0.5, true).unwrap();
        assert_matches_keras(&s, &keras);
        // Staircase values are exact powers of two times float32(0.1).
        assert_eq!(s.lr_at(10), 0.05000000074505806);
    }

    #[test]
    fn rejects_bad_arguments() {
        let m = invalid_message(ExponentialDecay::new(0.1, 0, 0.5, false), CLASS);
        assert!(m.contains("decay_steps") && m.contains('0'), "{m}");
        let m = invalid_message(ExponentialDecay::new(0.1, 10, -0.5, false), CLASS);
        assert!(m.contains("decay_rate=-0.5"), "{m}");
        let m = invalid_message(ExponentialDecay::new(f64::NAN, 10, 0.5, false), CLASS);
        assert!(m.contains("initial_learning_rate"), "{m}");
        let m = invalid_message(ExponentialDecay::new(0.1, 10, 1e300, false), CLASS);
        assert!(m.contains("float32"), "{m}");
        let e = ExponentialDecay::new(0.1, 0, 0.5, false).unwrap_err();
        assert!(e.to_string().starts_with("ExponentialDecay: "), "{e}");
    }
}
