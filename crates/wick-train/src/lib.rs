//! Keras-style training for Candle: losses and metrics (fit / evaluate / predict follow).
//!
//! * [`losses`]: Keras 3 losses as differentiable Candle ops, with Keras' reductions,
//!   sample weights and clipping constants (ε = 1e-7).
//! * [`metrics`]: Keras 3 metrics with running-over-the-epoch state.

pub mod error;
pub mod losses;
pub mod metrics;

pub use error::{Error, Result};
