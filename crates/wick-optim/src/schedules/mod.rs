//! Keras learning-rate schedules (`keras.optimizers.schedules`), one file each.
//!
//! Every schedule is a plain struct whose public fields are the Keras constructor arguments
//! (less `name`), built with a validating `new` that fails with
//! [`Error::InvalidArgument`](crate::Error::InvalidArgument) naming the class, the argument
//! and the value. [`LearningRateSchedule::lr_at`](crate::LearningRateSchedule::lr_at)
//! reproduces Keras 3 on the TensorFlow backend: the arguments are cast to float32 and every
//! operation is done in float32 in Keras' order, so the values match Keras' float32 results
//! (transcendental functions are computed in float64 and rounded once to float32).
//!
//! The step is the optimizer's raw step counter: 0 for the first update, and it counts
//! micro-steps under gradient accumulation.
//!
//! | Keras class | Rust type |
//! |---|---|
//! | `ExponentialDecay` | [`ExponentialDecay`] |
//! | `PiecewiseConstantDecay` | [`PiecewiseConstantDecay`] |
//! | `PolynomialDecay` | [`PolynomialDecay`] |
//! | `InverseTimeDecay` | [`InverseTimeDecay`] |
//! | `CosineDecay` | [`CosineDecay`] |
//! | `CosineDecayRestarts` | [`CosineDecayRestarts`] |
//!
//! ```
//! use wick_optim::LearningRateSchedule;
//! use wick_optim::schedules::ExponentialDecay;
//!
//! let schedule = ExponentialDecay::new(0.1, 10, 0.5, true)?;
//! assert_eq!(schedule.lr_at(9), 0.1f32 as f64);
//! assert_eq!(schedule.lr_at(10), 0.05f32 as f64);
//! # Ok::<(), wick_optim::Error>(())
//! ```

mod common;
mod cosine_decay;
mod cosine_decay_restarts;
mod exponential_decay;
mod inverse_time_decay;
mod piecewise_constant_decay;
mod polynomial_decay;

pub use cosine_decay::CosineDecay;
pub use cosine_decay_restarts::CosineDecayRestarts;
pub use exponential_decay::ExponentialDecay;
pub use inverse_time_decay::InverseTimeDecay;
pub use piecewise_constant_decay::PiecewiseConstantDecay;
pub use polynomial_decay::PolynomialDecay;

#[cfg(test)]
pub(crate) mod test_util {
    use crate::schedule::LearningRateSchedule;

    /// The steps at which the Keras golden values below were taken.
    pub const STEPS: [u64; 21] = [0, 1, 2, 3, 4, 5, 9, 10, 11, 15, 19, 20, 21, 25, 29, 30, 31, 45, 69, 70, 100];

    /// Checks `schedule` against Keras' float32 values at [`STEPS`], within a few float32
    /// ulps (Keras' own `cos`/`pow`/`log` kernels may differ from ours in the last bit).
    /// Returns the largest absolute difference.
    pub fn assert_matches_keras(schedule: &dyn LearningRateSchedule, keras: &[f64; 21]) -> f64 {
        let mut max_diff = 0.0f64;
        for (&step, &want) in STEPS.iter().zip(keras) {
            let got = schedule.lr_at(step);
            let diff = (got - want).abs();
            assert!(diff <= 1e-9 + 1e-6 * want.abs(), "{} at step {step}: got {got}, Keras {want}", schedule.name());
            max_diff = max_diff.max(diff);
        }
        max_diff
    }

    /// The message of an `InvalidArgument` error, checking its context.
    pub fn invalid_message<T: std::fmt::Debug>(result: crate::error::Result<T>, context: &str) -> String {
        match result {
            Err(crate::error::Error::InvalidArgument { context: c, message }) => {
                assert_eq!(c, context);
                message
            }
            other => panic!("expected InvalidArgument from {context}, got {other:?}"),
        }
    }
}
