//! The built-in callbacks, one file each (Keras names).
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
//! [`monitor`] holds the decision rules shared by the monitoring callbacks.

pub mod backup_and_restore;
pub mod batch_loss_history;
pub mod csv_logger;
pub mod early_stopping;
pub mod history;
pub mod lambda;
pub mod learning_rate_scheduler;
pub mod model_checkpoint;
pub mod monitor;
pub mod progress_bar;
pub mod pyfmt;
pub mod reduce_lr_on_plateau;
pub mod tensorboard;
pub mod terminate_on_nan;

pub use backup_and_restore::{BackupAndRestore, BackupState};
pub use batch_loss_history::{BatchLossHistory, BatchRecord};
pub use csv_logger::CSVLogger;
pub use early_stopping::EarlyStopping;
pub use history::{History, HistoryRecord};
pub use lambda::LambdaCallback;
pub use learning_rate_scheduler::LearningRateScheduler;
pub use model_checkpoint::{ModelCheckpoint, SaveFreq};
pub use monitor::{Direction, Mode, Monitor};
pub use progress_bar::ProgressBar;
pub use reduce_lr_on_plateau::ReduceLROnPlateau;
pub use tensorboard::TensorBoard;
pub use terminate_on_nan::TerminateOnNaN;
