//! Learning rates: a constant or a schedule evaluated at the optimizer's step counter.

use std::sync::Arc;

/// A Keras `LearningRateSchedule`: the learning rate as a function of the optimizer's raw
/// step counter (0 for the first update; micro-steps under gradient accumulation).
pub trait LearningRateSchedule: Send + Sync + std::fmt::Debug {
    /// The Keras class name, e.g. `"ExponentialDecay"`.
    fn name(&self) -> &'static str;

    /// The learning rate at `step`, computed as Keras does (in float32 where Keras does).
    fn lr_at(&self, step: u64) -> f64;
}

/// What an optimizer's `learning_rate` argument holds.
#[derive(Debug, Clone)]
pub enum LearningRate {
    /// A fixed value (may still be changed by callbacks).
    Constant(f64),
    /// A schedule, evaluated at every step.
    Schedule(Arc<dyn LearningRateSchedule>),
}

impl LearningRate {
    /// The learning rate at raw step `step`.
    pub fn at(&self, step: u64) -> f64 {
        match self {
            LearningRate::Constant(v) => *v,
            LearningRate::Schedule(s) => s.lr_at(step),
        }
    }
}

impl From<f64> for LearningRate {
    fn from(v: f64) -> Self {
        LearningRate::Constant(v)
    }
}

impl<S: LearningRateSchedule + 'static> From<S> for LearningRate {
    fn from(s: S) -> Self {
        LearningRate::Schedule(Arc::new(s))
    }
}
