//! Keras-style training for Candle: `fit` / `evaluate` / `predict`, losses and metrics.
//!
//! * [`Trainer`]: Keras' compiled `Model` around a Candle model, its variables, an
//!   optimizer, a loss and metrics; `fit` follows Keras 3's loop and callback protocol
//!   (wick-callbacks) exactly.
//! * Data: anything that implements [`wick_data::Dataset`] — image folders, images or
//!   tensors in memory ([`wick_data::TensorDataset`], Keras' `fit(x, y)`), or a struct
//!   of your own; `fit` decides where epochs end (Keras' `EpochIterator`).
//! * [`losses`]: Keras 3 losses as differentiable Candle ops, with Keras' reductions,
//!   sample weights and clipping constants (ε = 1e-7).
//! * [`metrics`]: Keras 3 metrics with running-over-the-epoch state.
//! * [`Error`]: the one error type; a dataset's or callback's error is kept whole inside.

#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod distributed;
mod epoch_iterator;
mod error;
mod loss_metric;
pub mod losses;
pub mod metrics;
mod options;
mod shared;
mod trainer;

pub use error::{Error, Result};
pub use loss_metric::LossMetric;
pub use options::{EvaluateOptions, FitOptions, PredictOptions, RunOptions, ValidationFreq};
pub use shared::Shared;
pub use trainer::{IntoModelVars, Trainer};
