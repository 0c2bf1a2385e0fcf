//! What wick's `train`, `evaluate` and `finetune` examples share: the demo CNN
//! ([`build_cnn`], [`CnnConfig`], and its Keras-style [`Cnn::summary`]), the run
//! configuration `train` saves beside its best checkpoint and the others read back
//! ([`RunConfig`]), the data pipeline they all rebuild the same way ([`split`],
//! [`dataset`], [`device`]), errors that name their path ([`PathError`]), a stdout that
//! never panics ([`stdout`], [`is_broken_pipe`]) and the removal of what a killed run left
//! behind ([`remove_stale_temps`]), what a distributed run's ranks must agree on
//! ([`threads_per_rank`], [`agree_path`], [`per_rank_batch`]), the training log of a
//! resumed run ([`resume_csv`]), and evaluate's labelled confusion-matrix image
//! ([`confusion_image`]).
//!
//! Unpublished: it exists so that the examples share this code without copying it. What
//! only `train` needs (generating the dataset, the optimizer choice) lives in
//! `examples/train.rs`.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod cleanup;
mod config;
mod confusion_image;
mod data;
mod error;
mod launch;
mod model;
mod resume;
mod summary;

pub use cleanup::{is_temp_name, remove_stale_temps};
pub use config::{Augment, BestEpoch, OptimizerName, Precision, RunConfig, Schedule, BEST_CHECKPOINT, CONFIG_FILE};
pub use confusion_image::{confusion_image, ConfusionImage};
pub use data::{augmentation, dataset, device, ensure_shapes, split, DeviceName};
pub use error::{is_broken_pipe, stdout, Error, PathError, Stdout};
pub use launch::{agree_path, per_rank_batch, threads_per_rank};
pub use model::{build_cnn, init_seeded, Cnn, CnnConfig, InputScaling, Pooling};
pub use resume::{resume_csv, CSV_TMP_PREFIX, CSV_TMP_SUFFIX};
