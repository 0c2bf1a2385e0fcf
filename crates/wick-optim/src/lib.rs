//! Keras-exact optimizers for Candle, implementing [`candle_nn::Optimizer`], and Keras'
//! learning-rate schedules.

pub mod rule;
pub mod schedule;
pub mod schedules;
pub mod rules;
