//! The one error type of wick-callbacks.

use std::path::PathBuf;

/// Errors raised by callbacks and the callback machinery.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or folder could not be created, written or read.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder concerned.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A callback argument is invalid; names the callback, the argument and the value.
    #[error("{callback}: {message}")]
    InvalidArgument {
        /// The callback (Keras class name).
        callback: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A callback needs something the training loop did not provide (e.g. model
    /// variables for `restore_best_weights`, or an optimizer to change the learning rate).
    #[error("{callback} needs {what}, which this training loop does not provide")]
    Missing {
        /// The callback (Keras class name).
        callback: &'static str,
        /// What is missing.
        what: &'static str,
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
    /// Anything else a user callback reports.
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
}
