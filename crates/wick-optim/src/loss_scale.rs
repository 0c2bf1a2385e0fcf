//! `LossScaleOptimizer`: Keras' dynamic loss scaling around any wick optimizer.

use std::path::Path;

use candle_core::backprop::GradStore;
use candle_core::{DType, Tensor, Var};

use crate::error::{Error, Result};
use crate::lr_control::LrControl;
use crate::optimizer::{to_candle, KerasOptimizer};
use crate::rule::UpdateRule;

/// The Keras class name.
const NAME: &str = "LossScaleOptimizer";
/// Metadata key of the loss scale in a state file.
const SCALE_KEY: &str = "loss_scale_optimizer.dynamic_scale";
/// Metadata key of the step counter in a state file.
const COUNTER_KEY: &str = "loss_scale_optimizer.step_counter";

/// What [`LossScaleOptimizer`] needs from the optimizer it wraps (Keras' `inner_optimizer`).
/// Implemented by every [`KerasOptimizer`].
///
/// An implementation's [`LrControl::save_state_with_metadata`] must store the metadata it is
/// given and its [`LrControl::load_state`] must ignore entries it does not know: the loss
/// scale and its counter travel there.
pub trait InnerOptimizer: LrControl {
    /// The optimized variables, in the order of [`apply_gradients_optional`](Self::apply_gradients_optional).
    fn variables(&self) -> &[Var];

    /// One update with one (unscaled) gradient per variable; `None` leaves a variable out.
    fn apply_gradients_optional(&mut self, grads: &[Option<Tensor>]) -> Result<()>;

    /// Turns the optimizer's own `loss_scale_factor` off (Keras' `LossScaleOptimizer` sets
    /// `inner_optimizer.loss_scale_factor = None`, "otherwise gradients will be scaled twice").
    fn clear_loss_scale_factor(&mut self);
}

impl<R: UpdateRule> InnerOptimizer for KerasOptimizer<R> {
    fn variables(&self) -> &[Var] {
        self.vars()
    }

    fn apply_gradients_optional(&mut self, grads: &[Option<Tensor>]) -> Result<()> {
        KerasOptimizer::apply_gradients_optional(self, grads)
    }

    fn clear_loss_scale_factor(&mut self) {
        self.options.loss_scale_factor = None;
        self.consts.loss_scale = None;
    }
}

/// Keras 3's `keras.optimizers.LossScaleOptimizer(inner_optimizer, initial_scale=2**15,
/// dynamic_growth_steps=2000)`: dynamic loss scaling, for `"mixed_float16"` training (Keras'
/// `compile` wraps the optimizer in one automatically under that policy).
///
/// The loss is multiplied by the current scale `S` before the backward pass
/// ([`LrControl::scale_loss`], which `wick_train::Trainer` calls), so that small f16
/// gradients do not flush to zero. Each step then does, with `g` the gradients of the scaled
/// loss and `N = dynamic_growth_steps`:
///
/// ```text
/// if every element of every g is finite:
///     inner.apply(g / S)                      # the inner optimizer's iterations += 1
///     if step_counter == N − 1:  S ← 2·S;  step_counter ← 0
///     else:                      step_counter ← step_counter + 1
/// else:                                       # the step is skipped: no variable changes,
///     S ← S / 2;  step_counter ← 0            # the inner optimizer's iterations stay
/// ```
///
/// `S` is a float32 (Keras' `dynamic_scale` variable); there is no lower bound, as in Keras 3.
/// `iterations`, the learning rate, EMA and `finalize_variable_values` are the inner
/// optimizer's. Wrapping turns the inner optimizer's own `loss_scale_factor` off, as Keras
/// does. The finiteness check reads one scalar back from the device per step.
///
/// The state file ([`LrControl::save_state`]) is the inner optimizer's with two more
/// metadata entries, `loss_scale_optimizer.dynamic_scale` and
/// `loss_scale_optimizer.step_counter`, so a checkpoint or `BackupAndRestore` resumes the
/// scale exactly; [`LrControl::load_state`] refuses a file without them.
///
/// Differences from Keras, on purpose: [`with_options`](Self::with_options) rejects an
/// `initial_scale` that is not a positive finite float32 and `dynamic_growth_steps == 0`
/// (Keras accepts them: 0 never grows the scale).
///
/// ```
/// use candle_core::{DType, Device, Var};
/// use candle_nn::Optimizer;
/// use wick_optim::{rules::SgdRule, LossScaleOptimizer, LrControl, OptimizerConfig, SGD};
///
/// let w = Var::zeros(3, DType::F32, &Device::Cpu)?;
/// let sgd = SGD::new(vec![w.clone()], OptimizerConfig::new(SgdRule::default(), 0.1))?;
/// let mut opt = LossScaleOptimizer::new(sgd);
/// assert_eq!(opt.loss_scale(), Some(32768.0));
/// let loss = (w.as_tensor() - 1.0)?.sqr()?.sum_all()?;
/// opt.backward_step(&opt.scale_loss(&loss)?)?; // what Trainer::train_step does
/// assert_eq!(w.to_vec1::<f32>()?, [0.2, 0.2, 0.2]); // the unscaled gradient -2, times lr 0.1
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct LossScaleOptimizer<O> {
    inner: O,
    initial_scale: f32,
    dynamic_growth_steps: u64,
    dynamic_scale: f32,
    step_counter: u64,
}

/// The configuration [`candle_nn::Optimizer::new`] builds a [`LossScaleOptimizer`] from: the
/// inner optimizer's configuration and Keras' two arguments.
#[derive(Clone, Debug)]
pub struct LossScaleConfig<C> {
    /// The inner optimizer's configuration.
    pub inner: C,
    /// Keras `initial_scale` (default `2**15`).
    pub initial_scale: f64,
    /// Keras `dynamic_growth_steps` (default 2000).
    pub dynamic_growth_steps: u64,
}

impl<C> LossScaleConfig<C> {
    /// Keras' defaults around `inner`.
    pub fn new(inner: C) -> Self {
        Self {
            inner,
            initial_scale: LossScaleOptimizer::<()>::DEFAULT_INITIAL_SCALE,
            dynamic_growth_steps: LossScaleOptimizer::<()>::DEFAULT_DYNAMIC_GROWTH_STEPS,
        }
    }
}

impl<O> LossScaleOptimizer<O> {
    /// Keras' default `initial_scale`, `2**15`.
    pub const DEFAULT_INITIAL_SCALE: f64 = 32768.0;
    /// Keras' default `dynamic_growth_steps`.
    pub const DEFAULT_DYNAMIC_GROWTH_STEPS: u64 = 2000;

    /// The current loss scale `S` (Keras `dynamic_scale`).
    pub fn dynamic_scale(&self) -> f64 {
        self.dynamic_scale as f64
    }

    /// Finite steps since the scale last changed (Keras `step_counter`).
    pub fn step_counter(&self) -> u64 {
        self.step_counter
    }

    /// Keras `initial_scale`.
    pub fn initial_scale(&self) -> f64 {
        self.initial_scale as f64
    }

    /// Keras `dynamic_growth_steps`.
    pub fn dynamic_growth_steps(&self) -> u64 {
        self.dynamic_growth_steps
    }

    /// The wrapped optimizer (Keras `inner_optimizer`).
    pub fn inner(&self) -> &O {
        &self.inner
    }

    /// The wrapped optimizer, mutably.
    pub fn inner_mut(&mut self) -> &mut O {
        &mut self.inner
    }

    /// Unwraps the inner optimizer.
    pub fn into_inner(self) -> O {
        self.inner
    }
}

impl<O: InnerOptimizer> LossScaleOptimizer<O> {
    /// Keras `LossScaleOptimizer(inner)`: initial scale `2**15`, doubled after 2000 finite
    /// steps.
    pub fn new(mut inner: O) -> Self {
        inner.clear_loss_scale_factor();
        let initial_scale = Self::DEFAULT_INITIAL_SCALE as f32;
        Self {
            inner,
            initial_scale,
            dynamic_growth_steps: Self::DEFAULT_DYNAMIC_GROWTH_STEPS,
            dynamic_scale: initial_scale,
            step_counter: 0,
        }
    }

    /// Keras `LossScaleOptimizer(inner, initial_scale, dynamic_growth_steps)`. The scale is
    /// a float32 as in Keras; `initial_scale` must be a positive float that is finite in
    /// float32, and `dynamic_growth_steps` at least 1 (`Error::InvalidArgument`).
    pub fn with_options(inner: O, initial_scale: f64, dynamic_growth_steps: u64) -> Result<Self> {
        let as_f32 = initial_scale as f32;
        if !(as_f32.is_finite() && as_f32 > 0.0) {
            return Err(Error::InvalidArgument {
                context: NAME,
                message: format!("`initial_scale` must be a positive finite float32; received {initial_scale}"),
            });
        }
        if dynamic_growth_steps == 0 {
            return Err(Error::InvalidArgument {
                context: NAME,
                message: "`dynamic_growth_steps` must be at least 1; received 0".to_string(),
            });
        }
        let mut opt = Self::new(inner);
        opt.initial_scale = as_f32;
        opt.dynamic_scale = as_f32;
        opt.dynamic_growth_steps = dynamic_growth_steps;
        Ok(opt)
    }

    /// Keras `apply(grads)`: `grads` are the gradients of the scaled loss, one per inner
    /// variable in order (`None` leaves a variable out, and is not checked). Applies
    /// `grads / S` with the inner optimizer and updates the scale when every gradient is
    /// finite; otherwise skips the step and halves the scale (see the type's docs).
    pub fn apply_gradients_optional(&mut self, grads: &[Option<Tensor>]) -> Result<()> {
        let n = self.inner.variables().len();
        if grads.len() != n {
            return Err(Error::InvalidArgument {
                context: NAME,
                message: format!("apply_gradients got {} gradients for {n} variables", grads.len()),
            });
        }
        if !all_finite(grads)? {
            self.step_counter = 0;
            self.dynamic_scale *= 0.5;
            return Ok(());
        }
        // One upload of the f32 scale per step (to the first gradient's device), as Keras
        // divides by its float32 `dynamic_scale` variable.
        let mut scale: Option<Tensor> = None;
        let mut unscaled = Vec::with_capacity(n);
        for g in grads {
            unscaled.push(match g {
                Some(g) => {
                    let s = match &scale {
                        Some(s) if s.device().same_device(g.device()) => s.clone(),
                        _ => Tensor::new(self.dynamic_scale, g.device())?,
                    };
                    let quotient = g.broadcast_div(&s.to_dtype(g.dtype())?)?;
                    scale = Some(s);
                    Some(quotient)
                }
                None => None,
            });
        }
        self.inner.apply_gradients_optional(&unscaled)?;
        if self.step_counter == self.dynamic_growth_steps - 1 {
            self.step_counter = 0;
            self.dynamic_scale *= 2.0;
        } else {
            self.step_counter += 1;
        }
        Ok(())
    }

    /// Reads the scale and counter a [`save_state`](LrControl::save_state) stored, without
    /// changing anything.
    fn read_scale_state(path: &Path) -> Result<(f32, u64)> {
        let err = |message: String| Error::State { path: path.to_path_buf(), message };
        let bytes = std::fs::read(path).map_err(|e| err(format!("cannot read: {e}")))?;
        let (_, header) =
            safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| err(format!("not a safetensors file: {e}")))?;
        let meta = header.metadata().clone().unwrap_or_default();
        let get =
            |k: &str| meta.get(k).ok_or_else(|| err(format!("no {k:?} entry (the state was not saved by a {NAME})")));
        let scale_text = get(SCALE_KEY)?;
        let scale: f32 = scale_text
            .parse()
            .ok()
            .filter(|s: &f32| s.is_finite() && *s >= 0.0)
            .ok_or_else(|| err(format!("bad value {scale_text:?} for {SCALE_KEY:?}")))?;
        let counter_text = get(COUNTER_KEY)?;
        let counter: u64 =
            counter_text.parse().map_err(|_| err(format!("bad value {counter_text:?} for {COUNTER_KEY:?}")))?;
        Ok((scale, counter))
    }
}

/// Keras `check_finite`: whether every element of every given gradient is finite. `0·x` is
/// 0 for a finite `x` and NaN for ±inf and NaN, so the sum over all of them is NaN exactly
/// when one is not finite (a sum of the values themselves could overflow).
fn all_finite(grads: &[Option<Tensor>]) -> Result<bool> {
    let mut total: Option<Tensor> = None;
    for g in grads.iter().flatten() {
        let s = g.affine(0.0, 0.0)?.sum_all()?.to_dtype(DType::F32)?;
        total = Some(match total {
            None => s,
            Some(t) => (t + s)?,
        });
    }
    match total {
        None => Ok(true),
        Some(t) => Ok(t.to_scalar::<f32>()?.is_finite()),
    }
}

impl<O: InnerOptimizer> LrControl for LossScaleOptimizer<O> {
    fn learning_rate(&self) -> f64 {
        self.inner.learning_rate()
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.inner.set_learning_rate(lr)
    }

    fn iterations(&self) -> u64 {
        self.inner.iterations()
    }

    fn raw_step(&self) -> u64 {
        self.inner.raw_step()
    }

    fn name(&self) -> &'static str {
        NAME
    }

    fn use_ema(&self) -> bool {
        self.inner.use_ema()
    }

    /// None: the wrapper scales by [`loss_scale`](LrControl::loss_scale), and wrapping turned
    /// the inner optimizer's factor off.
    fn loss_scale_factor(&self) -> Option<f64> {
        None
    }

    fn loss_scale(&self) -> Option<f64> {
        Some(self.dynamic_scale as f64)
    }

    /// Keras `scale_loss`: `loss · S`.
    fn scale_loss(&self, loss: &Tensor) -> Result<Tensor> {
        Ok(loss.affine(self.dynamic_scale as f64, 0.0)?)
    }

    fn finalize_variable_values(&self) -> Result<()> {
        self.inner.finalize_variable_values()
    }

    fn save_state(&self, path: &Path) -> Result<()> {
        self.save_state_with_metadata(path, &[])
    }

    fn save_state_with_metadata(&self, path: &Path, metadata: &[(String, String)]) -> Result<()> {
        let mut all: Vec<(String, String)> =
            metadata.iter().filter(|(k, _)| k != SCALE_KEY && k != COUNTER_KEY).cloned().collect();
        all.push((SCALE_KEY.to_string(), self.dynamic_scale.to_string()));
        all.push((COUNTER_KEY.to_string(), self.step_counter.to_string()));
        self.inner.save_state_with_metadata(path, &all)
    }

    /// Loads the inner optimizer's state and the scale and counter; checks everything first,
    /// so an error leaves the optimizer as it was.
    fn load_state(&mut self, path: &Path) -> Result<()> {
        let (scale, counter) = Self::read_scale_state(path)?;
        self.inner.load_state(path)?;
        self.dynamic_scale = scale;
        self.step_counter = counter;
        Ok(())
    }
}

impl<O> candle_nn::Optimizer for LossScaleOptimizer<O>
where
    O: InnerOptimizer + candle_nn::Optimizer,
{
    type Config = LossScaleConfig<O::Config>;

    /// Builds the inner optimizer with `config.inner`, then wraps it (call it as
    /// `<LossScaleOptimizer<O> as Optimizer>::new`: the inherent `new` wraps a built one).
    fn new(vars: Vec<Var>, config: Self::Config) -> candle_core::Result<Self> {
        let inner = <O as candle_nn::Optimizer>::new(vars, config.inner)?;
        Self::with_options(inner, config.initial_scale, config.dynamic_growth_steps).map_err(to_candle)
    }

    /// One Keras `apply` with the gradients of the inner optimizer's variables from `grads`
    /// (the gradients of the scaled loss).
    fn step(&mut self, grads: &GradStore) -> candle_core::Result<()> {
        let grads: Vec<Option<Tensor>> = self.inner.variables().iter().map(|v| grads.get(v).cloned()).collect();
        LossScaleOptimizer::apply_gradients_optional(self, &grads).map_err(to_candle)
    }

    fn learning_rate(&self) -> f64 {
        LrControl::learning_rate(&self.inner)
    }

    fn set_learning_rate(&mut self, lr: f64) {
        LrControl::set_learning_rate(&mut self.inner, lr)
    }
}

impl<O: std::fmt::Debug> std::fmt::Debug for LossScaleOptimizer<O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(NAME)
            .field("inner", &self.inner)
            .field("initial_scale", &self.initial_scale)
            .field("dynamic_growth_steps", &self.dynamic_growth_steps)
            .field("dynamic_scale", &self.dynamic_scale)
            .field("step_counter", &self.step_counter)
            .finish()
    }
}
