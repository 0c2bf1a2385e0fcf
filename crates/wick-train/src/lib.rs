//! Keras-style training for Candle: `fit` / `evaluate` / `predict`, losses and metrics.
//!
//! * [`Trainer`]: Keras' compiled `Model` around a Candle model, its variables, an
//!   optimizer, a loss and metrics; `fit` follows Keras 3's loop and callback protocol
//!   (wick-callbacks) exactly.
//! * [`data`]: the [`Dataset`] trait and [`TensorDataset`] (in-memory tensors, Keras'
//!   batching, per-epoch shuffling and `validation_split`).
//! * [`losses`]: Keras 3 losses as differentiable Candle ops, with Keras' reductions,
//!   sample weights and clipping constants (ε = 1e-7).
//! * [`metrics`]: Keras 3 metrics with running-over-the-epoch state.

pub mod data;
pub mod error;
pub mod generator_dataset;
pub mod loss_metric;
pub mod losses;
pub mod metrics;
pub mod shared;
pub mod train_error;
pub mod trainer;

pub use data::{Batch, BatchIter, Dataset, TensorDataset};
pub use error::{Error, Result};
pub use generator_dataset::GeneratorDataset;
pub use loss_metric::LossMetric;
pub use shared::Shared;
pub use train_error::{TrainError, TrainResult};
pub use trainer::{EvaluateOptions, FitOptions, IntoModelVars, PredictOptions, RunOptions, Trainer, ValidationFreq};
