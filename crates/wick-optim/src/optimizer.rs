//! The generic Keras optimizer: everything but the update rule.

use candle_core::{DType, Device, Tensor, Var};

use crate::error::{Error, Result};
use crate::options::{OptimizerConfig, OptimizerOptions};
use crate::rule::UpdateRule;
use crate::schedule::LearningRate;

/// The key suffix of a variable's moving average (a reserved slot name).
pub(crate) const EMA: &str = "ema";
/// The key suffix of a variable's gradient accumulator (a reserved slot name; not
/// `"accumulator"`: Adagrad and Ftrl have slots of that name).
pub(crate) const GRAD_ACCUMULATOR: &str = "gradient_accumulator";

/// A Keras 3 optimizer (`keras.optimizers.Optimizer`) with update rule `R`: Keras'
/// `apply_gradients` pipeline (loss scaling, gradient accumulation, clipping, decoupled
/// weight decay, the rule's `update_step`, EMA, the step counter) around `R`.
///
/// Build it with [`candle_nn::Optimizer::new`] (variables named `"var0"`, `"var1"`, … in
/// order) or [`with_names`](Self::with_names) (the names key the state file). All state
/// (slots, EMA, accumulators) is allocated once at construction and updated in place; a
/// step reads nothing back from the device.
pub struct KerasOptimizer<R: UpdateRule> {
    pub(crate) rule: R,
    pub(crate) learning_rate: LearningRate,
    pub(crate) options: OptimizerOptions,
    pub(crate) vars: Vec<Var>,
    pub(crate) names: Vec<String>,
    /// Per variable, the rule's slot names and slots (same order).
    pub(crate) slot_names: Vec<Vec<&'static str>>,
    pub(crate) slots: Vec<Vec<Var>>,
    /// EMA of each variable (empty unless `use_ema`).
    pub(crate) ema: Vec<Var>,
    /// Gradient accumulator of each variable (empty unless accumulation is on).
    pub(crate) accumulators: Vec<Var>,
    /// Whether weight decay applies to each variable.
    pub(crate) decays: Vec<bool>,
    /// Substrings excluding variables from weight decay.
    pub(crate) wd_exclusions: Vec<String>,
    /// Keras `_iterations`: the raw step counter k.
    pub(crate) raw_step: u64,
    /// Constant 0-d f32 tensors on the variables' device, made once.
    pub(crate) consts: Consts,
}

/// Scalars used by the step, uploaded once so a step sends nothing to the device.
pub(crate) struct Consts {
    pub(crate) loss_scale: Option<Tensor>,
    pub(crate) accumulation: Option<Tensor>,
    /// `c` for clipnorm / clipvalue (when active).
    pub(crate) clip: Option<Tensor>,
    /// `−c` for clipvalue.
    pub(crate) neg_clip: Option<Tensor>,
    /// `1/c` for global_clipnorm.
    pub(crate) inv_clip: Option<Tensor>,
}

fn scalar(v: f64, device: &Device) -> Result<Tensor> {
    Ok(Tensor::new(v as f32, device)?)
}

/// A clip threshold that is set and positive (Keras: `0` or `None` turns clipping off).
pub(crate) fn active(c: Option<f64>) -> Option<f64> {
    c.filter(|c| *c > 0.0)
}

impl<R: UpdateRule> KerasOptimizer<R> {
    /// Builds the optimizer for named variables; the names key the state file
    /// ([`save_state`](Self::save_state)) and select weight-decay exclusions. Validates the
    /// options and the rule's hyper-parameters as Keras does (`Error::InvalidArgument`).
    pub fn with_names(vars: Vec<(String, Var)>, config: OptimizerConfig<R>) -> Result<Self> {
        let OptimizerConfig { rule, learning_rate, options } = config;
        let context = rule.name();
        options.validate(context)?;
        rule.validate()?;
        if let Some(default) = rule.default_weight_decay() {
            if options.weight_decay.is_none() {
                return Err(Error::InvalidArgument {
                    context,
                    message: format!(
                        "argument `weight_decay` must be a float (Keras default {default}); \
                         received None"
                    ),
                });
            }
        }
        if let LearningRate::Constant(lr) = learning_rate {
            if !lr.is_finite() {
                return Err(Error::InvalidArgument {
                    context,
                    message: format!("`learning_rate` must be finite; received {lr}"),
                });
            }
        }
        let mut names = Vec::with_capacity(vars.len());
        let mut var_list = Vec::with_capacity(vars.len());
        for (name, var) in vars {
            if names.contains(&name) {
                return Err(Error::InvalidArgument { context, message: format!("two variables are named {name:?}") });
            }
            if !var.dtype().is_float() {
                return Err(Error::InvalidArgument {
                    context,
                    message: format!(
                        "variable {name:?} has dtype {:?}; only float variables can be \
                         optimized",
                        var.dtype()
                    ),
                });
            }
            names.push(name);
            var_list.push(var);
        }
        let device = var_list.first().map(|v| v.device().clone()).unwrap_or(Device::Cpu);
        let mut slot_names = Vec::with_capacity(var_list.len());
        let mut slots = Vec::with_capacity(var_list.len());
        for var in &var_list {
            let (n, s): (Vec<_>, Vec<_>) = rule.init_slots(var.as_tensor())?.into_iter().unzip();
            for (i, slot) in n.iter().enumerate() {
                if n[..i].contains(slot) || [EMA, GRAD_ACCUMULATOR].contains(slot) {
                    return Err(Error::InvalidArgument {
                        context,
                        message: format!("the rule's slot name {slot:?} is duplicated or reserved"),
                    });
                }
            }
            slot_names.push(n);
            slots.push(s);
        }
        let zeros = |v: &Var| Var::zeros(v.shape(), v.dtype(), v.device());
        let ema = if options.use_ema {
            var_list.iter().map(zeros).collect::<candle_core::Result<Vec<_>>>()?
        } else {
            Vec::new()
        };
        let accumulators = if options.gradient_accumulation_steps.is_some() {
            var_list.iter().map(zeros).collect::<candle_core::Result<Vec<_>>>()?
        } else {
            Vec::new()
        };
        let clipnorm = active(options.clipnorm);
        let clipvalue = active(options.clipvalue);
        let global = active(options.global_clipnorm);
        let consts = Consts {
            loss_scale: options.loss_scale_factor.map(|s| scalar(s, &device)).transpose()?,
            accumulation: options.gradient_accumulation_steps.map(|n| scalar(n as f64, &device)).transpose()?,
            clip: clipnorm.or(clipvalue).map(|c| scalar(c, &device)).transpose()?,
            neg_clip: clipvalue.map(|c| scalar(-c, &device)).transpose()?,
            inv_clip: global.map(|c| scalar(1.0 / c, &device)).transpose()?,
        };
        let decays = vec![true; var_list.len()];
        Ok(KerasOptimizer {
            rule,
            learning_rate,
            options,
            vars: var_list,
            names,
            slot_names,
            slots,
            ema,
            accumulators,
            decays,
            wd_exclusions: Vec::new(),
            raw_step: 0,
            consts,
        })
    }

    /// Keras `iterations`: the number of updates applied, i.e. the raw step counter k, or
    /// `k / N` under gradient accumulation over N steps.
    pub fn iterations(&self) -> u64 {
        match self.options.gradient_accumulation_steps {
            Some(n) => self.raw_step / n,
            None => self.raw_step,
        }
    }

    /// Keras `_iterations`: the number of `apply_gradients` calls so far (micro-steps under
    /// gradient accumulation). Schedules are evaluated at this count.
    pub fn raw_step(&self) -> u64 {
        self.raw_step
    }

    /// The learning rate the next step uses: the constant, or the schedule at the raw step
    /// counter, rounded to float32 as Keras' float32 learning-rate variable is.
    pub fn current_learning_rate(&self) -> f64 {
        self.learning_rate.at(self.raw_step) as f32 as f64
    }

    /// Replaces the learning rate (constant or schedule).
    pub fn set_learning_rate_schedule(&mut self, learning_rate: impl Into<LearningRate>) {
        self.learning_rate = learning_rate.into();
    }

    /// The learning rate as configured (constant or schedule).
    pub fn learning_rate_config(&self) -> &LearningRate {
        &self.learning_rate
    }

    /// Excludes from weight decay every variable whose name contains one of
    /// `name_substrings` (Keras `exclude_from_weight_decay(var_names=…)`, by substring).
    /// Exclusions add up over calls.
    pub fn exclude_from_weight_decay(&mut self, name_substrings: &[&str]) {
        self.wd_exclusions.extend(name_substrings.iter().map(|s| s.to_string()));
        for (decay, name) in self.decays.iter_mut().zip(&self.names) {
            *decay = !self.wd_exclusions.iter().any(|s| name.contains(s.as_str()));
        }
    }

    /// With `use_ema`, sets every variable to its moving average (Keras
    /// `finalize_variable_values`, called at the end of `fit`). Does nothing without EMA,
    /// and — unlike Keras, whose average starts at zero — before the first step.
    pub fn finalize_variable_values(&self) -> Result<()> {
        if self.raw_step == 0 {
            return Ok(());
        }
        for (var, avg) in self.vars.iter().zip(&self.ema) {
            var.set(avg.as_tensor())?;
        }
        Ok(())
    }

    /// The optimized variables, in order.
    pub fn vars(&self) -> &[Var] {
        &self.vars
    }

    /// The variables' names, in order.
    pub fn var_names(&self) -> &[String] {
        &self.names
    }

    /// The update rule.
    pub fn rule(&self) -> &R {
        &self.rule
    }

    /// The common options.
    pub fn options(&self) -> &OptimizerOptions {
        &self.options
    }

    /// The moving averages of the variables (empty unless `use_ema`), in variable order.
    pub fn ema_variables(&self) -> &[Var] {
        &self.ema
    }

    /// The rule's slots of variable `index` as `(slot name, slot)`.
    pub fn slots(&self, index: usize) -> Vec<(&'static str, &Var)> {
        match (self.slot_names.get(index), self.slots.get(index)) {
            (Some(n), Some(s)) => n.iter().copied().zip(s.iter()).collect(),
            _ => Vec::new(),
        }
    }
}

/// Converts this crate's error into candle's, for the `candle_nn::Optimizer` methods.
pub(crate) fn to_candle(e: Error) -> candle_core::Error {
    match e {
        Error::Candle(e) => e,
        other => candle_core::Error::wrap(other),
    }
}

impl<R: UpdateRule> candle_nn::Optimizer for KerasOptimizer<R> {
    type Config = OptimizerConfig<R>;

    /// Names the variables `"var0"`, `"var1"`, … in order.
    fn new(vars: Vec<Var>, config: Self::Config) -> candle_core::Result<Self> {
        let named = vars.into_iter().enumerate().map(|(i, v)| (format!("var{i}"), v)).collect();
        Self::with_names(named, config).map_err(to_candle)
    }

    /// One `apply_gradients` with each variable's gradient from `grads`; variables without
    /// a gradient are skipped (an error if none has one).
    fn step(&mut self, grads: &candle_core::backprop::GradStore) -> candle_core::Result<()> {
        let grads: Vec<Option<Tensor>> = self.vars.iter().map(|v| grads.get(v).cloned()).collect();
        self.apply_optional(grads).map_err(to_candle)
    }

    fn learning_rate(&self) -> f64 {
        self.current_learning_rate()
    }

    /// Replaces the learning rate (or schedule) by the constant `lr`.
    fn set_learning_rate(&mut self, lr: f64) {
        self.learning_rate = LearningRate::Constant(lr);
    }
}

/// `t` converted to `dtype` (no copy when it already has it).
pub(crate) fn cast(t: &Tensor, dtype: DType) -> candle_core::Result<Tensor> {
    t.to_dtype(dtype)
}

impl<R: UpdateRule> std::fmt::Debug for KerasOptimizer<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KerasOptimizer")
            .field("class", &self.rule.name())
            .field("learning_rate", &self.learning_rate)
            .field("options", &self.options)
            .field("variables", &self.names)
            .field("raw_step", &self.raw_step)
            .finish_non_exhaustive()
    }
}
