//! Keras `InverseTimeDecay`.

use super::common::{check_non_negative, check_steps, step32};
use crate::error::Result;
use crate::schedule::LearningRateSchedule;

const CLASS: &str = "InverseTimeDecay";

/// Keras `keras.optimizers.schedules.InverseTimeDecay(initial_learning_rate, decay_steps,
/// decay_rate, staircase=False)`.
///
/// At step `s`, in float32:
///
/// ```text
/// p  = s / decay_steps            (floor(s / decay_steps) if staircase)
/// lr = initial_learning_rate / (1 + decay_rate * p)
/// ```
///
/// Construction fails (naming the argument and its value) when `decay_steps` is 0 (Keras'
/// `ValueError`), or when `initial_learning_rate` or `decay_rate` is negative or not finite
/// in float32 (a negative rate would divide by zero at some step).
#[derive(Debug, Clone, PartialEq)]
pub struct InverseTimeDecay {
    /// The learning rate at step 0.
    pub initial_learning_rate: f64,
    /// The step unit of the decay (> 0).
    pub decay_steps: u64,
    /// How fast the rate falls: the lr is halved after `decay_steps / decay_rate` steps.
    pub decay_rate: f64,
    /// Decay in whole periods (`floor(s / decay_steps)`) instead of continuously.
    pub staircase: bool,
}

impl InverseTimeDecay {
    /// A validated schedule; Keras' default is `staircase = false`.
    pub fn new(initial_learning_rate: f64, decay_steps: u64, decay_rate: f64, staircase: bool) -> Result<Self> {
        let s = InverseTimeDecay { initial_learning_rate, decay_steps, decay_rate, staircase };
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

impl LearningRateSchedule for InverseTimeDecay {
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
        (lr0 / (1.0f32 + decay_rate * p)) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedules::test_util::{assert_matches_keras, invalid_message};

    #[test]
    fn matches_keras_smooth() {
        // Keras 3.15.1: InverseTimeDecay(0.1, decay_steps=10, decay_rate=0.5)
        let keras = [
            0.10000000149011612,
            0.0952381044626236,
            0.09090909361839294,
            0.08695652335882187,
            0.0833333283662796,
            0.07999999821186066,
            0.06896551698446274,
            0.06666667014360428,
            0.06451613456010818,
            0.05714285746216774,
            0.05128205195069313,
            0.05000000074505806,
            0.04878048971295357,
            0.04444444552063942,
            0.040816325694322586,
            0.03999999910593033,
            0.03921568766236305,
            0.03076923079788685,
            0.02247191220521927,
            0.02222222276031971,
            0.01666666753590107,
        ];
        let s = InverseTimeDecay::new(0.1, 10, 0.5, false).unwrap();
        assert_matches_keras(&s, &keras);
        assert_eq!(s.name(), "InverseTimeDecay");
    }

    #[test]
    fn matches_keras_staircase() {
        // Keras 3.15.1: InverseTimeDecay(0.1, decay_steps=10, decay_rate=0.5, staircase=True)
        let keras = [
            0.10000000149011612,
            0.10000000149011612,
            0.10000000149011612,
            0.10000000149011612,
            0.10000000149011612,
            0.10000000149011612,
            0.10000000149011612,
            0.06666667014360428,
            0.06666667014360428,
            0.06666667014360428,
            0.06666667014360428,
            0.05000000074505806,
            0.05000000074505806,
            0.05000000074505806,
            0.05000000074505806,
            0.03999999910593033,
            0.03999999910593033,
            0.03333333507180214,
            0.02500000037252903,
            0.02222222276031971,
            0.01666666753590107,
        ];
        let s = InverseTimeDecay::new(0.1, 10, 0.5, true).unwrap();
        assert_matches_keras(&s, &keras);
        // Only basic float32 arithmetic: bit-exact.
        assert_eq!(s.lr_at(10), 0.06666667014360428);
    }

    #[test]
    fn rejects_bad_arguments() {
        let m = invalid_message(InverseTimeDecay::new(0.1, 0, 0.5, false), CLASS);
        assert!(m.contains("decay_steps") && m.contains("> 0"), "{m}");
        let m = invalid_message(InverseTimeDecay::new(0.1, 10, -1.0, false), CLASS);
        assert!(m.contains("decay_rate=-1"), "{m}");
        let m = invalid_message(InverseTimeDecay::new(f64::INFINITY, 10, 0.5, false), CLASS);
        assert!(m.contains("initial_learning_rate"), "{m}");
    }
}
