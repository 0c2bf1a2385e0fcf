//! Keras-exact optimizers for Candle, implementing [`candle_nn::Optimizer`], and Keras'
//! learning-rate schedules.

mod error;
pub mod rule;
pub mod rules;
pub mod schedule;
pub mod schedules;

pub use error::{Error, Result};
