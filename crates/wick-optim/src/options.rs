//! The constructor arguments every Keras optimizer shares, and an optimizer's config.

use crate::error::{Error, Result};
use crate::rule::UpdateRule;
use crate::schedule::LearningRate;

/// The arguments common to every Keras optimizer (`keras.optimizers.Optimizer`), with
/// Keras' defaults (`Default`): no weight decay, no clipping, no EMA
/// (`ema_momentum = 0.99`), no loss scaling, no gradient accumulation.
///
/// Validation ([`validate`](Self::validate)) follows Keras: at most one of `clipnorm`,
/// `clipvalue` and `global_clipnorm` may be set; with `use_ema`, `ema_momentum` must be in
/// `[0, 1]` and `ema_overwrite_frequency` at least 1; `gradient_accumulation_steps` must be
/// at least 2. A clip value that is zero or negative turns that clipping off, as in Keras.
#[derive(Debug, Clone, PartialEq)]
pub struct OptimizerOptions {
    /// Decoupled weight decay `wd`: before each update, `θ ← θ − θ·wd·η` for every variable
    /// not excluded with `exclude_from_weight_decay` (Keras `weight_decay`).
    pub weight_decay: Option<f64>,
    /// Per-tensor norm clipping `g ← g·c / max(‖g‖₂, c)` (Keras `clipnorm`).
    pub clipnorm: Option<f64>,
    /// Element-wise clipping `g ← clamp(g, −c, c)` (Keras `clipvalue`).
    pub clipvalue: Option<f64>,
    /// Clipping by the global norm over all gradients of a step (Keras `global_clipnorm`).
    pub global_clipnorm: Option<f64>,
    /// Keep an exponential moving average of the variables (Keras `use_ema`).
    pub use_ema: bool,
    /// EMA momentum μ: `avg ← μ·avg + (1−μ)·θ` (Keras `ema_momentum`, default 0.99).
    pub ema_momentum: f64,
    /// Every this many iterations, overwrite the variables with their EMA
    /// (Keras `ema_overwrite_frequency`).
    pub ema_overwrite_frequency: Option<u64>,
    /// Gradients are divided by this factor (Keras `loss_scale_factor`; the training loop
    /// multiplies the loss by it).
    pub loss_scale_factor: Option<f64>,
    /// Accumulate gradients over this many steps and update with their mean
    /// (Keras `gradient_accumulation_steps`).
    pub gradient_accumulation_steps: Option<u64>,
}

impl Default for OptimizerOptions {
    fn default() -> Self {
        OptimizerOptions {
            weight_decay: None,
            clipnorm: None,
            clipvalue: None,
            global_clipnorm: None,
            use_ema: false,
            ema_momentum: 0.99,
            ema_overwrite_frequency: None,
            loss_scale_factor: None,
            gradient_accumulation_steps: None,
        }
    }
}

fn check_finite(context: &'static str, arg: &str, v: Option<f64>) -> Result<()> {
    match v {
        Some(x) if !x.is_finite() => Err(Error::InvalidArgument {
            context,
            message: format!("`{arg}` must be a finite number; received {arg}={x}"),
        }),
        _ => Ok(()),
    }
}

impl OptimizerOptions {
    /// Checks the options as Keras' optimizer constructor does; `context` is the
    /// optimizer's Keras class name, used as the error's context.
    pub fn validate(&self, context: &'static str) -> Result<()> {
        let clips = [self.clipnorm, self.clipvalue, self.global_clipnorm];
        if clips.iter().filter(|c| c.is_some()).count() > 1 {
            return Err(Error::InvalidArgument {
                context,
                message: format!(
                    "only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set; \
                     received clipnorm={:?}, clipvalue={:?}, global_clipnorm={:?}",
                    self.clipnorm, self.clipvalue, self.global_clipnorm
                ),
            });
        }
        check_finite(context, "weight_decay", self.weight_decay)?;
        check_finite(context, "clipnorm", self.clipnorm)?;
        check_finite(context, "clipvalue", self.clipvalue)?;
        check_finite(context, "global_clipnorm", self.global_clipnorm)?;
        check_finite(context, "loss_scale_factor", self.loss_scale_factor)?;
        if self.loss_scale_factor == Some(0.0) {
            return Err(Error::InvalidArgument { context, message: "`loss_scale_factor` must not be 0".to_string() });
        }
        if self.use_ema {
            if !(0.0..=1.0).contains(&self.ema_momentum) {
                return Err(Error::InvalidArgument {
                    context,
                    message: format!(
                        "`ema_momentum` must be in the range [0, 1]; received \
                         ema_momentum={}",
                        self.ema_momentum
                    ),
                });
            }
            if self.ema_overwrite_frequency == Some(0) {
                return Err(Error::InvalidArgument {
                    context,
                    message: "`ema_overwrite_frequency` must be an integer >= 1 or None; \
                              received ema_overwrite_frequency=0"
                        .to_string(),
                });
            }
        }
        if let Some(n) = self.gradient_accumulation_steps {
            if n < 2 {
                return Err(Error::InvalidArgument {
                    context,
                    message: format!(
                        "`gradient_accumulation_steps` must be an integer >= 2; received \
                         gradient_accumulation_steps={n}"
                    ),
                });
            }
        }
        Ok(())
    }
}

/// What [`KerasOptimizer`](crate::KerasOptimizer) is built from: the update rule with its own
/// hyper-parameters, the learning rate (constant or schedule) and the common options.
#[derive(Debug, Clone)]
pub struct OptimizerConfig<R> {
    /// The optimizer's update rule, e.g. [`AdamRule`](crate::rules::AdamRule).
    pub rule: R,
    /// The learning rate: a constant or a schedule evaluated at the raw step counter.
    pub learning_rate: LearningRate,
    /// The options common to all optimizers.
    pub options: OptimizerOptions,
}

impl<R: UpdateRule> OptimizerConfig<R> {
    /// A config with Keras' default options, except that `weight_decay` is the rule's Keras
    /// default ([`UpdateRule::default_weight_decay`]; `Some(0.004)` for AdamW).
    ///
    /// Each rule's default learning rate is its `DEFAULT_LEARNING_RATE` constant, e.g.
    /// `OptimizerConfig::new(AdamRule::default(), AdamRule::DEFAULT_LEARNING_RATE)`.
    pub fn new(rule: R, learning_rate: impl Into<LearningRate>) -> Self {
        let options = OptimizerOptions { weight_decay: rule.default_weight_decay(), ..OptimizerOptions::default() };
        OptimizerConfig { rule, learning_rate: learning_rate.into(), options }
    }

    /// Replaces all the common options. For AdamW, `options.weight_decay` must be `Some`.
    pub fn with_options(mut self, options: OptimizerOptions) -> Self {
        self.options = options;
        self
    }
}
