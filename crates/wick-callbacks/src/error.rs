//! The one error type of wick-callbacks.

use std::path::{Path, PathBuf};

/// Errors raised by callbacks and the callback machinery.
///
/// Built-in callbacks report their failures through the typed variants; [`Error::Other`]
/// is for user callbacks.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or folder could not be created, written or read; `source` says why.
    #[error("I/O error on {path}")]
    Io {
        /// The file or folder concerned.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A weights file (safetensors) could not be written or read; `source` says why.
    #[error("cannot write or read the weights file {path}")]
    WeightsFile {
        /// The weights file.
        path: PathBuf,
        /// Candle's error.
        #[source]
        source: candle_core::Error,
    },
    /// Saved weights (a weights file or a `Snapshot`) do not match the
    /// model's variables: one is missing, extra or has another shape. Nothing was
    /// changed; load weights written for this model.
    #[error("{}: {message}", origin(.path.as_deref()))]
    VariableMismatch {
        /// The weights file; `None` for an in-memory snapshot.
        path: Option<PathBuf>,
        /// What does not match, naming the variable.
        message: String,
    },
    /// A backup does not fit this training loop (it holds optimizer state and the loop has
    /// no optimizer, or the reverse). Run with the setup that wrote it, or delete it.
    #[error("{context}: the backup in {path} {message}")]
    BackupMismatch {
        /// The callback (Keras class name), e.g. `"BackupAndRestore"`.
        context: &'static str,
        /// The backup folder.
        path: PathBuf,
        /// What does not fit.
        message: String,
    },
    /// Neither the latest backup nor the previous one (`double_checkpoint`) can be
    /// restored; `latest` says why the latest failed, `source` why the previous did.
    /// Delete the backup folder to start over.
    #[error("{context}: cannot restore the backup in {path} ({latest}), nor the previous one")]
    BackupUnusable {
        /// The callback (Keras class name), e.g. `"BackupAndRestore"`.
        context: &'static str,
        /// The backup folder.
        path: PathBuf,
        /// Why the latest backup could not be restored.
        latest: Box<Error>,
        /// Why the previous backup could not be restored.
        #[source]
        previous: Box<Error>,
    },
    /// A file a callback wrote and reads back (e.g. `BackupAndRestore`'s manifest or
    /// state file) is damaged or not one of its files. Delete it to start over.
    #[error("{context}: {path}: {message}")]
    Corrupt {
        /// The callback (Keras class name), e.g. `"BackupAndRestore"`.
        context: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A file or folder could not be written: `what` it is (`"checkpoint"`, `"weights
    /// file"`, `"backup"`, ...), `path` its destination, `temp` the temporary file or
    /// folder being written when it failed (if any); `source` says why.
    #[error("cannot write {what} {}{}", .path.display(), temp_note(.temp.as_deref()))]
    Write {
        /// What was being written, e.g. `"checkpoint"`.
        what: &'static str,
        /// The destination.
        path: PathBuf,
        /// The temporary file or folder that was renamed (or would have been) over `path`.
        temp: Option<PathBuf>,
        /// Why: an I/O error, or the error of the weights' or optimizer's writer.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A checkpoint or backup is not one complete set: a file is missing, or holds another
    /// save than its manifest names (e.g. weights of epoch 2 beside optimizer state of
    /// epoch 1). `message` names every file of the set and the epoch each holds. Nothing
    /// was loaded.
    #[error("{}: mixed or partial checkpoint set: {message}", .manifest.display())]
    CheckpointMismatch {
        /// The manifest (ModelCheckpoint's `<file>.manifest.json`, BackupAndRestore's
        /// `state.txt`).
        manifest: PathBuf,
        /// The files that do not match the manifest.
        files: Vec<PathBuf>,
        /// What does not match, naming each file and its epoch.
        message: String,
    },
    /// A callback argument is invalid; names the callback, the argument and the value.
    #[error("{context}: {message}")]
    InvalidArgument {
        /// The callback (Keras class name), e.g. `"ModelCheckpoint"`.
        context: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A [`ModelSummary`](crate::ModelSummary) cannot be drawn or printed as it is (a
    /// layer without a name, two layers of one name, a layer fed by one not listed before
    /// it, ...), or does not match the model's variables; `message` names the layer.
    #[error("model summary {model:?}: {message}")]
    InvalidModelSummary {
        /// The model's name.
        model: String,
        /// What is wrong, naming the layer.
        message: String,
    },
    /// A callback needs something the training loop did not provide (e.g. model
    /// variables for `restore_best_weights`, or an optimizer to change the learning rate).
    #[error("{context} needs {what}, which this training loop does not provide")]
    Missing {
        /// The callback (Keras class name), e.g. `"EarlyStopping"`.
        context: &'static str,
        /// What is missing.
        what: &'static str,
    },
    /// A hook was called before `on_train_begin` set the callback up (a training loop
    /// calling hooks out of Keras' order).
    #[error("{context}: {what} is not set up; on_train_begin was not called")]
    NotStarted {
        /// The callback (Keras class name), e.g. `"CSVLogger"`.
        context: &'static str,
        /// What is not set up, e.g. `"the CSV file"`.
        what: &'static str,
    },
    /// The loss is NaN or infinite (`TerminateOnNaN` with `raise_error`, Keras'
    /// `RuntimeError`); the message is Keras'.
    #[error(
        "NaN or Inf loss encountered at batch {batch}. Loss value: {}. Terminating training immediately.",
        crate::callbacks::pyfmt::repr_f64(*.loss)
    )]
    NonFiniteLoss {
        /// The callback (Keras class name), e.g. `"TerminateOnNaN"`.
        context: &'static str,
        /// The training batch (0-based within the epoch).
        batch: usize,
        /// The loss value (NaN or ±Inf).
        loss: f64,
    },
    /// Writing a callback's console output (e.g. the progress bar) failed; `source` says why.
    #[error("{context}: cannot write the output")]
    Output {
        /// The callback (Keras class name), e.g. `"ProgbarLogger"`.
        context: &'static str,
        /// The writer's error.
        #[source]
        source: std::io::Error,
    },
    /// A tensor operation failed.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    /// The optimizer failed (e.g. saving or loading its state).
    #[error(transparent)]
    Optim(#[from] wick_optim::Error),
    /// Writing TensorBoard events failed.
    #[error(transparent)]
    Tfevents(#[from] wick_tfevents::Error),
    /// Anything else a user callback reports (for user callbacks; the built-in ones use
    /// the variants above).
    #[error("{0}")]
    Other(String),
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An I/O error about `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }

    /// A [`Error::Write`] of `what` at `path` (through `temp`).
    pub fn write(
        what: &'static str,
        path: impl Into<PathBuf>,
        temp: Option<&Path>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Error::Write { what, path: path.into(), temp: temp.map(Path::to_path_buf), source: source.into() }
    }
}

/// `" (temp file <temp>)"`, or nothing.
fn temp_note(temp: Option<&Path>) -> String {
    temp.map(|t| format!(" (temp file {})", t.display())).unwrap_or_default()
}

/// Where saved weights came from, for [`Error::VariableMismatch`].
fn origin(path: Option<&Path>) -> String {
    match path {
        Some(p) => p.display().to_string(),
        None => "snapshot".to_string(),
    }
}
