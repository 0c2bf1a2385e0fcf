//! What wick's `train`, `evaluate` and `finetune` examples share: the demo CNN
//! ([`build_cnn`], [`CnnConfig`]), the run configuration `train` saves beside its best
//! checkpoint and the others read back ([`RunConfig`]), and the data pipeline they all
//! rebuild the same way ([`split`], [`dataset`], [`device`]).
//!
//! Unpublished: it exists so that the examples share this code without copying it. What
//! only `train` needs (generating the dataset, the augmentation levels, the optimizer
//! choice) lives in `examples/train.rs`.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod config;
mod data;
mod model;

pub use config::{Augment, BestEpoch, OptimizerName, RunConfig, Schedule, BEST_CHECKPOINT, CONFIG_FILE};
pub use data::{dataset, device, split, DeviceName};
pub use model::{build_cnn, init_seeded, Cnn, CnnConfig, InputScaling, Pooling};

/// The examples' error: any error, with its source chain (print it with
/// `wick::data::with_sources`).
pub type Error = Box<dyn std::error::Error>;
