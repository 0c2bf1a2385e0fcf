//! Keras-exact optimizers for Candle, implementing [`candle_nn::Optimizer`], and Keras'
//! learning-rate schedules.
//!
//! An optimizer is a [`KerasOptimizer`] around an update rule from [`rules`]; the type
//! aliases ([`SGD`], [`Adam`], …) name the twelve Keras optimizers:
//!
//! ```
//! use candle_core::{Device, Var};
//! use candle_nn::Optimizer;
//! use wick_optim::{rules::AdamRule, OptimizerConfig};
//!
//! let w = Var::zeros(3, candle_core::DType::F32, &Device::Cpu)?;
//! let config = OptimizerConfig::new(AdamRule::default(), AdamRule::DEFAULT_LEARNING_RATE);
//! let mut opt = wick_optim::Adam::new(vec![w.clone()], config)?;
//! let loss = w.sqr()?.sum_all()?;
//! opt.backward_step(&loss)?;
//! # Ok::<(), candle_core::Error>(())
//! ```
//!
//! [`LossScaleOptimizer`] wraps any of them with Keras' dynamic loss scaling, for
//! `mixed_float16` training.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod apply;
mod cpu_f32;
mod decay;
mod error;
mod loss_scale;
mod lr_control;
mod optimizer;
mod options;
mod rule;
pub mod rules;
mod schedule;
pub mod schedules;
mod state;

pub use error::{Error, Result};
pub use loss_scale::{InnerOptimizer, LossScaleConfig, LossScaleOptimizer};
pub use lr_control::LrControl;
pub use optimizer::KerasOptimizer;
pub use options::{OptimizerConfig, OptimizerOptions};
pub use rule::UpdateRule;
pub use schedule::{LearningRate, LearningRateSchedule};

/// Keras `SGD`.
pub type SGD = KerasOptimizer<rules::SgdRule>;
/// Keras `Adam`.
pub type Adam = KerasOptimizer<rules::AdamRule>;
/// Keras `AdamW`.
pub type AdamW = KerasOptimizer<rules::AdamWRule>;
/// Keras `Adadelta`.
pub type Adadelta = KerasOptimizer<rules::AdadeltaRule>;
/// Keras `Adagrad`.
pub type Adagrad = KerasOptimizer<rules::AdagradRule>;
/// Keras `Adamax`.
pub type Adamax = KerasOptimizer<rules::AdamaxRule>;
/// Keras `Nadam`.
pub type Nadam = KerasOptimizer<rules::NadamRule>;
/// Keras `Ftrl`.
pub type Ftrl = KerasOptimizer<rules::FtrlRule>;
/// Keras `RMSprop`.
pub type RMSprop = KerasOptimizer<rules::RmspropRule>;
/// Keras `Lion`.
pub type Lion = KerasOptimizer<rules::LionRule>;
/// Keras `Lamb`.
pub type Lamb = KerasOptimizer<rules::LambRule>;
/// Keras `Adafactor`.
pub type Adafactor = KerasOptimizer<rules::AdafactorRule>;
