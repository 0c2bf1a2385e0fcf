//! Keras callbacks for any Candle training loop.
//!
//! A loop (wick-train's `fit`, or a hand-written one) owns a [`CallbackList`] and calls
//! its hooks in Keras' order, handing each a [`Context`] (run parameters, stop flag,
//! model variables, optimizer) and [`Logs`] (running metric values):
//!
//! ```text
//! on_train_begin
//!   on_epoch_begin(e)
//!     on_train_batch_begin(b) / on_train_batch_end(b, running logs)   per batch
//!     on_test_begin / on_test_batch_begin / on_test_batch_end / on_test_end   validation
//!   on_epoch_end(e, logs + val_*)
//! on_train_end(last epoch's logs)
//! ```
//!
//! The loop checks `ctx.state.stop_training` after every batch and after `on_epoch_end`.
//!
//! The built-in callbacks (Keras names), all at the crate root:
//!
//! | Keras | here |
//! |---|---|
//! | `History` | [`History`] (clones share the record) |
//! | `ModelCheckpoint` | [`ModelCheckpoint`] |
//! | `EarlyStopping` | [`EarlyStopping`] |
//! | `ReduceLROnPlateau` | [`ReduceLROnPlateau`] |
//! | `LearningRateScheduler` | [`LearningRateScheduler`] |
//! | `CSVLogger` | [`CSVLogger`] |
//! | `TerminateOnNaN` | [`TerminateOnNaN`] |
//! | `LambdaCallback` | [`LambdaCallback`] |
//! | `TensorBoard` | [`TensorBoard`] |
//! | `ProgbarLogger` | [`ProgressBar`] |
//! | `BackupAndRestore` | [`BackupAndRestore`] |
//! | (guide's custom callback) | [`BatchLossHistory`] |
//!
//! [`Monitor`], [`Mode`], [`Direction`] and [`metric_direction`] are the decision rules
//! shared by the monitoring callbacks. [`ModelSummary`] is Keras' `model.summary()` (the
//! table) and `model.to_json()` (the graph [`TensorBoard`] writes for the Graphs tab).

#![warn(missing_docs)]
#![forbid(unsafe_code)]

/// `println!` for the callbacks' Keras messages that never panics: when stdout is closed
/// (`train | head -n 1`), the message is dropped instead of aborting the run.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

mod callback;
mod callbacks;
mod context;
mod error;
mod files;
mod list;
mod logs;
mod model_summary;
mod model_vars;

pub use callback::Callback;
pub use callbacks::{
    metric_direction, BackupAndRestore, BackupState, BatchLossHistory, BatchRecord, CSVLogger, CheckpointInfo,
    Direction, EarlyStopping, History, HistoryRecord, LambdaCallback, LearningRateScheduler, Mode, ModelCheckpoint,
    Monitor, ProgressBar, ReduceLROnPlateau, SaveFreq, TensorBoard, TerminateOnNaN, UpdateFreq,
    CHECKPOINT_MANIFEST_SUFFIX, MODEL_SUMMARY_TAG, OPTIMIZER_STATE_SUFFIX,
};
pub use context::{Context, Params, RunState};
pub use error::{Error, Result};
pub use files::TEMP_PREFIX;
pub use list::CallbackList;
pub use logs::Logs;
pub use model_summary::{LayerSummary, ModelSummary};
pub use model_vars::{ModelVars, Snapshot};
pub use wick_dist::Worker;
