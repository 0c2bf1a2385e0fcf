//! An object-safe handle on an optimizer, for code that does not know its type (callbacks).

use std::path::Path;

use candle_core::Tensor;

use crate::error::Result;
use crate::optimizer::KerasOptimizer;
use crate::rule::UpdateRule;
use crate::schedule::LearningRate;

/// What callbacks and training loops need from any optimizer: `candle_nn::Optimizer` is not
/// object safe, this is (`&mut dyn LrControl`). Implemented by every [`KerasOptimizer`] and by
/// [`LossScaleOptimizer`](crate::LossScaleOptimizer).
pub trait LrControl {
    /// The learning rate the next update uses (Keras `optimizer.learning_rate`): the
    /// constant, or the schedule at the raw step counter; float32-rounded.
    fn learning_rate(&self) -> f64;

    /// Replaces the learning rate (or schedule) by the constant `lr` (Keras
    /// `optimizer.learning_rate = lr`).
    fn set_learning_rate(&mut self, lr: f64);

    /// Keras `iterations`: updates applied (`raw_step / N` under gradient accumulation).
    fn iterations(&self) -> u64;

    /// Keras `_iterations`: `apply_gradients` calls so far.
    fn raw_step(&self) -> u64;

    /// The Keras class name, e.g. `"Adam"`.
    fn name(&self) -> &'static str;

    /// Whether the optimizer keeps a moving average of the variables (`use_ema`).
    fn use_ema(&self) -> bool;

    /// The optimizer's `loss_scale_factor`, if any.
    fn loss_scale_factor(&self) -> Option<f64>;

    /// The current dynamic loss scale, for an optimizer that scales the loss dynamically
    /// ([`LossScaleOptimizer`](crate::LossScaleOptimizer)'s `dynamic_scale`); `None` (the
    /// default) for the others. The TensorBoard callback logs it as `epoch_loss_scale`.
    fn loss_scale(&self) -> Option<f64> {
        None
    }

    /// Keras `optimizer.scale_loss(loss)`: `loss · loss_scale_factor`, or `loss` unchanged.
    fn scale_loss(&self, loss: &Tensor) -> Result<Tensor> {
        match self.loss_scale_factor() {
            Some(s) => Ok(loss.affine(s, 0.0)?),
            None => Ok(loss.clone()),
        }
    }

    /// With `use_ema`, sets the variables to their moving averages (Keras
    /// `finalize_variable_values`).
    fn finalize_variable_values(&self) -> Result<()>;

    /// Saves the optimizer state (see [`KerasOptimizer::save_state`]).
    fn save_state(&self, path: &Path) -> Result<()>;

    /// Saves the optimizer state with extra metadata entries (see
    /// [`KerasOptimizer::save_state_with_metadata`]). The default ignores `metadata` and
    /// calls [`save_state`](Self::save_state), for optimizers whose state format has no
    /// room for it.
    fn save_state_with_metadata(&self, path: &Path, metadata: &[(String, String)]) -> Result<()> {
        let _ = metadata;
        self.save_state(path)
    }

    /// Loads the optimizer state (see [`KerasOptimizer::load_state`]).
    fn load_state(&mut self, path: &Path) -> Result<()>;
}

impl<R: UpdateRule> LrControl for KerasOptimizer<R> {
    fn learning_rate(&self) -> f64 {
        self.current_learning_rate()
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.learning_rate = LearningRate::Constant(lr);
    }

    fn iterations(&self) -> u64 {
        KerasOptimizer::iterations(self)
    }

    fn raw_step(&self) -> u64 {
        KerasOptimizer::raw_step(self)
    }

    fn name(&self) -> &'static str {
        self.rule.name()
    }

    fn use_ema(&self) -> bool {
        self.options.use_ema
    }

    fn loss_scale_factor(&self) -> Option<f64> {
        self.options.loss_scale_factor
    }

    fn finalize_variable_values(&self) -> Result<()> {
        KerasOptimizer::finalize_variable_values(self)
    }

    fn save_state(&self, path: &Path) -> Result<()> {
        KerasOptimizer::save_state(self, path)
    }

    fn save_state_with_metadata(&self, path: &Path, metadata: &[(String, String)]) -> Result<()> {
        KerasOptimizer::save_state_with_metadata(self, path, metadata)
    }

    fn load_state(&mut self, path: &Path) -> Result<()> {
        KerasOptimizer::load_state(self, path)
    }
}
