//! Keras `PolynomialDecay`.

use super::common::{check_non_negative, check_steps, pow32, step32};
use crate::error::Result;
use crate::schedule::LearningRateSchedule;

const CLASS: &str = "PolynomialDecay";

/// Keras `keras.optimizers.schedules.PolynomialDecay(initial_learning_rate, decay_steps,
/// end_learning_rate=0.0001, power=1.0, cycle=False)`.
///
/// At step `s`, in float32, with `D = decay_steps`:
///
/// ```text
/// without cycle: s' = min(s, D);  D' = D
/// with cycle:    s' = s;          D' = D * (1 if s == 0 else ceil(s / D))
/// lr = (initial_learning_rate - end_learning_rate) * (1 - s' / D') ^ power + end_learning_rate
/// ```
///
/// With `cycle`, the lr reaches `end_learning_rate` at every multiple of `D`, and at `D + 1`
/// it jumps back up on a period of `2D` (then `3D`, ...).
///
/// Construction fails (naming the argument and its value) when `decay_steps` is 0 (Keras'
/// `ValueError`), or when a learning rate or `power` is negative or not finite in float32.
#[derive(Debug, Clone, PartialEq)]
pub struct PolynomialDecay {
    /// The learning rate at step 0.
    pub initial_learning_rate: f64,
    /// The number of steps to reach `end_learning_rate` (> 0).
    pub decay_steps: u64,
    /// The learning rate from step `decay_steps` on (Keras' default: `0.0001`).
    pub end_learning_rate: f64,
    /// The power of the polynomial (Keras' default: `1.0`, linear).
    pub power: f64,
    /// Restart the decay after `decay_steps`, over a longer period (Keras' default: `false`).
    pub cycle: bool,
}

impl PolynomialDecay {
    /// Keras' default `end_learning_rate`.
    pub const DEFAULT_END_LEARNING_RATE: f64 = 0.0001;
    /// Keras' default `power`.
    pub const DEFAULT_POWER: f64 = 1.0;

    /// A validated schedule. Keras' defaults are `end_learning_rate = 0.0001`,
    /// `power = 1.0`, `cycle = false`.
    pub fn new(
        initial_learning_rate: f64,
        decay_steps: u64,
        end_learning_rate: f64,
        power: f64,
        cycle: bool,
    ) -> Result<Self> {
        let s = PolynomialDecay { initial_learning_rate, decay_steps, end_learning_rate, power, cycle };
        s.validate()?;
        Ok(s)
    }

    /// Checks the fields (as `new` does), for a schedule whose public fields were edited.
    pub fn validate(&self) -> Result<()> {
        check_non_negative(CLASS, "initial_learning_rate", self.initial_learning_rate)?;
        check_steps(CLASS, "decay_steps", self.decay_steps)?;
        check_non_negative(CLASS, "end_learning_rate", self.end_learning_rate)?;
        check_non_negative(CLASS, "power", self.power)
    }
}

impl LearningRateSchedule for PolynomialDecay {
    fn name(&self) -> &'static str {
        CLASS
    }

    fn lr_at(&self, step: u64) -> f64 {
        let lr0 = self.initial_learning_rate as f32;
        let end = self.end_learning_rate as f32;
        let power = self.power as f32;
        let mut s = step32(step);
        let mut decay_steps = self.decay_steps as f32;
        if self.cycle {
            let multiplier = if s == 0.0 { 1.0f32 } else { (s / decay_steps).ceil() };
            decay_steps *= multiplier;
        } else {
            s = s.min(decay_steps);
        }
        let p = s / decay_steps;
        ((lr0 - end) * pow32(1.0f32 - p, power) + end) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedules::test_util::{assert_matches_keras, invalid_message};

    #[test]
    fn matches_keras_linear_defaults() {
        // Keras 3.15.1: PolynomialDecay(0.1, decay_steps=20)
        let keras = [
            0.10000000149011612,
            0.09500499814748764,
            0.09001000225543976,
            0.08501500636339188,
            0.0800200030207634,
            0.07502499967813492,
            0.055045001208782196,
            0.050050001591444016,
            0.045055001974105835,
            0.025074999779462814,
            0.005095000844448805,
            9.999999747378752e-05,
            9.999999747378752e-05,
            9.999999747378752e-05,
            9.999999747378752e-05,
            9.999999747378752e-05,
            9.999999747378752e-05,
            9.999999747378752e-05,
            9.999999747378752e-05,
            9.999999747378752e-05,
            9.999999747378752e-05,
        ];
        let s = PolynomialDecay::new(
            0.1,
            20,
            PolynomialDecay::DEFAULT_END_LEARNING_RATE,
            PolynomialDecay::DEFAULT_POWER,
            false,
        )
        .unwrap();
        assert_matches_keras(&s, &keras);
        assert_eq!(s.name(), "PolynomialDecay");
    }

    #[test]
    fn matches_keras_power2() {
        // Keras 3.15.1: PolynomialDecay(0.1, decay_steps=20, end_learning_rate=0.01, power=2.0)
        let keras = [
            0.10000000149011612,
            0.09122499823570251,
            0.08289999514818192,
            0.07502499967813492,
            0.06760000437498093,
            0.06062500178813934,
            0.03722500056028366,
            0.032499998807907104,
            0.028224999085068703,
            0.015625,
            0.010224999859929085,
            0.009999999776482582,
            0.009999999776482582,
            0.009999999776482582,
            0.009999999776482582,
            0.009999999776482582,
            0.009999999776482582,
            0.009999999776482582,
            0.009999999776482582,
            0.009999999776482582,
            0.009999999776482582,
        ];
        assert_matches_keras(&PolynomialDecay::new(0.1, 20, 0.01, 2.0, false).unwrap(), &keras);
    }

    #[test]
    fn matches_keras_cycle() {
        // Keras 3.15.1: PolynomialDecay(0.1, decay_steps=20, end_learning_rate=0.01, power=1.0, cycle=True)
        let keras = [
            0.10000000149011612,
            0.09549999982118607,
            0.09099999815225601,
            0.08650000393390656,
            0.0820000022649765,
            0.07750000059604645,
            0.05950000137090683,
            0.054999999701976776,
            0.05049999803304672,
            0.032499998807907104,
            0.014500001445412636,
            0.009999999776482582,
            0.052750006318092346,
            0.04375000298023224,
            0.03474999964237213,
            0.032499998807907104,
            0.030250003561377525,
            0.032499998807907104,
            0.022374998778104782,
            0.021250000223517418,
            0.009999999776482582,
        ];
        let s = PolynomialDecay::new(0.1, 20, 0.01, 1.0, true).unwrap();
        assert_matches_keras(&s, &keras);
        // At s = D exactly the lr is `end`; at D + 1 the period doubles.
        assert_eq!(s.lr_at(20), 0.01f32 as f64);
        assert_eq!(s.lr_at(21), 0.052750006318092346);
    }

    #[test]
    fn rejects_bad_arguments() {
        let m = invalid_message(PolynomialDecay::new(0.1, 0, 1e-4, 1.0, false), CLASS);
        assert!(m.contains("decay_steps=0"), "{m}");
        let m = invalid_message(PolynomialDecay::new(0.1, 10, -1e-4, 1.0, false), CLASS);
        assert!(m.contains("end_learning_rate=-0.0001"), "{m}");
        let m = invalid_message(PolynomialDecay::new(0.1, 10, 1e-4, -1.0, false), CLASS);
        assert!(m.contains("power=-1"), "{m}");
    }
}
