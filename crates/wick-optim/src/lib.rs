//! Keras-exact optimizers for Candle, implementing [`candle_nn::Optimizer`], and Keras'
//! learning-rate schedules.
//!
//! An optimizer is a [`KerasOptimizer`] around an update rule from [`rules`]; the type
//! aliases ([`SGD`], [`Adam`], …) name the twelve Keras optimizers:
//!
//! ```
//! use candle_core::{Device, Var};
//! use candle_nn::Optimizer;
//! use wick_optim::{rules::adam, OptimizerConfig};
//!
//! let w = Var::zeros(3, candle_core::DType::F32, &Device::Cpu)?;
//! let config = OptimizerConfig::new(adam::Adam::default(), adam::Adam::DEFAULT_LEARNING_RATE);
//! let mut opt = wick_optim::Adam::new(vec![w.clone()], config)?;
//! let loss = w.sqr()?.sum_all()?;
//! opt.backward_step(&loss)?;
//! # Ok::<(), candle_core::Error>(())
//! ```

mod apply;
mod cpu_f32;
mod decay;
mod error;
mod lr_control;
mod optimizer;
mod options;
pub mod rule;
pub mod rules;
pub mod schedule;
pub mod schedules;
mod state;

pub use error::{Error, Result};
pub use lr_control::LrControl;
pub use optimizer::KerasOptimizer;
pub use options::{OptimizerConfig, OptimizerOptions};
pub use rule::UpdateRule;
pub use schedule::{LearningRate, LearningRateSchedule};

/// Keras `SGD`.
pub type SGD = KerasOptimizer<rules::sgd::Sgd>;
/// Keras `Adam`.
pub type Adam = KerasOptimizer<rules::adam::Adam>;
/// Keras `AdamW`.
pub type AdamW = KerasOptimizer<rules::adam::AdamW>;
/// Keras `Adadelta`.
pub type Adadelta = KerasOptimizer<rules::adadelta::Adadelta>;
/// Keras `Adagrad`.
pub type Adagrad = KerasOptimizer<rules::adagrad::Adagrad>;
/// Keras `Adamax`.
pub type Adamax = KerasOptimizer<rules::adamax::Adamax>;
/// Keras `Nadam`.
pub type Nadam = KerasOptimizer<rules::nadam::Nadam>;
/// Keras `Ftrl`.
pub type Ftrl = KerasOptimizer<rules::ftrl::Ftrl>;
/// Keras `RMSprop`.
pub type RMSprop = KerasOptimizer<rules::rmsprop::Rmsprop>;
/// Keras `Lion`.
pub type Lion = KerasOptimizer<rules::lion::Lion>;
/// Keras `Lamb`.
pub type Lamb = KerasOptimizer<rules::lamb::Lamb>;
/// Keras `Adafactor`.
pub type Adafactor = KerasOptimizer<rules::adafactor::Adafactor>;
