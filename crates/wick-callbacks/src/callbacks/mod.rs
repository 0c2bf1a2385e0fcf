//! The built-in callbacks, one file each (Keras names); everything public is re-exported
//! at the crate root (see the crate docs for the table).

mod backup_and_restore;
mod batch_loss_history;
mod checkpoint_set;
mod csv_logger;
mod early_stopping;
mod history;
mod lambda;
mod learning_rate_scheduler;
mod model_checkpoint;
mod monitor;
mod progress_bar;
pub(crate) mod pyfmt;
mod reduce_lr_on_plateau;
mod tensorboard;
mod terminate_on_nan;

pub use backup_and_restore::{BackupAndRestore, BackupState};
pub use batch_loss_history::{BatchLossHistory, BatchRecord};
pub use checkpoint_set::{CheckpointInfo, CHECKPOINT_MANIFEST_SUFFIX, OPTIMIZER_STATE_SUFFIX};
pub use csv_logger::CSVLogger;
pub use early_stopping::EarlyStopping;
pub use history::{History, HistoryRecord};
pub use lambda::LambdaCallback;
pub use learning_rate_scheduler::LearningRateScheduler;
pub use model_checkpoint::{ModelCheckpoint, SaveFreq};
pub use monitor::{metric_direction, Direction, Mode, Monitor};
pub use progress_bar::ProgressBar;
pub use reduce_lr_on_plateau::ReduceLROnPlateau;
pub use tensorboard::{TensorBoard, UpdateFreq, MODEL_SUMMARY_TAG};
pub use terminate_on_nan::TerminateOnNaN;
