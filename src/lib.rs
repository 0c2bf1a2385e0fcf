#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
#![forbid(unsafe_code)]

//! # The crates
//!
//! - [`tfevents`] (`wick-tfevents`): TensorBoard event files, written from a background thread.
//! - [`callbacks`] (`wick-callbacks`): the `Callback` trait and Keras' callbacks.
//! - [`optim`] (`wick-optim`): Keras-exact optimizers and learning-rate schedules.
//! - [`data`] (`wick-data`): the `Dataset` trait, in-memory tensors, image folders, augmentation.
//! - [`train`] (`wick-train`): `fit` / `evaluate` / `predict`, losses, metrics.
//! - [`nn`] (`wick-nn`): conv, pool and linear layers with fast CPU forward and backward.
//! - [`dist`] (`wick-dist`): the `Communicator` of data-parallel training (MPI, NCCL).

pub use wick_callbacks as callbacks;
pub use wick_data as data;
pub use wick_dist as dist;
pub use wick_models as models;
pub use wick_nn as nn;
pub use wick_optim as optim;
pub use wick_tfevents as tfevents;
pub use wick_train as train;
