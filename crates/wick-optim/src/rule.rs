//! The per-optimizer part of an update: what Keras calls `update_step`.
//!
//! Everything common to all optimizers (learning rate and schedules, loss scaling,
//! gradient accumulation, clipping, decoupled weight decay, EMA, the step counter, saving
//! state) lives in the generic optimizer; an [`UpdateRule`] only says which state it
//! keeps per variable and how one variable moves given its gradient.

use candle_core::{Result, Tensor, Var};

/// One optimizer's update rule (Keras' `build` + `update_step`).
pub trait UpdateRule: Send + 'static {
    /// The Keras class name, e.g. `"Adam"`.
    fn name(&self) -> &'static str;

    /// Checks the hyper-parameters (called when the optimizer is built); the error names
    /// the argument and its value, as Keras' `ValueError` does.
    fn validate(&self) -> crate::error::Result<()> {
        Ok(())
    }

    /// Creates this rule's state ("slots") for one variable, each with a short name
    /// (`"momentum"`, `"velocity"`, ...) used as its key when state is saved. Slots are
    /// `Var`s so updates overwrite them in place (`Var::set`) instead of reallocating.
    fn init_slots(&self, var: &Tensor) -> Result<Vec<(&'static str, Var)>>;

    /// Called once per update step, before any variable is updated (e.g. Nadam's shared
    /// momentum product). `t` is `iterations + 1`.
    fn begin_step(&mut self, _t: u64) -> Result<()> {
        Ok(())
    }

    /// Updates `var` in place from its (already scaled, accumulated, clipped) gradient.
    /// `slots` are the variable's slots in `init_slots` order; `lr` is the learning rate
    /// of this step and `t` is `iterations + 1` (the bias-correction step).
    fn update(&self, var: &Var, grad: &Tensor, slots: &[Var], lr: f64, t: u64) -> Result<()>;

    /// Keras' default `weight_decay` for this optimizer. `Some` also means the optimizer
    /// requires a weight decay, as Keras' AdamW does (`weight_decay=None` is an error).
    /// The default, `None`, is right for every other optimizer.
    fn default_weight_decay(&self) -> Option<f64> {
        None
    }

    /// Scalar state shared by all variables (e.g. Nadam's `u_product`), saved with the
    /// optimizer's state.
    fn scalars(&self) -> Vec<(&'static str, f64)> {
        Vec::new()
    }

    /// Restores a scalar saved by [`scalars`](Self::scalars).
    fn set_scalar(&mut self, name: &str, _value: f64) -> Result<()> {
        Err(candle_core::Error::Msg(format!("{}: no scalar state named {name:?}", self.name())))
    }
}
