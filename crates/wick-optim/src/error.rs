//! The one error type of wick-optim.

/// Errors of optimizers, schedules and optimizer state files.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An argument is out of range; names who raised it and the argument.
    #[error("{context}: {message}")]
    InvalidArgument {
        /// The Keras class or function that raised it, e.g. `"PiecewiseConstantDecay"`.
        context: &'static str,
        /// What is wrong, naming the argument and the value.
        message: String,
    },
    /// An optimizer state file does not match the optimizer or its variables.
    #[error("optimizer state {path}: {message}")]
    State {
        /// The state file.
        path: std::path::PathBuf,
        /// What does not match, naming the variable or slot.
        message: String,
    },
    /// An optimizer state file could not be written: `path` is the destination, `temp` the
    /// temporary file being written when the error happened (if any); `source` says why.
    #[error("cannot write optimizer state {}{}", .path.display(), temp_note(.temp.as_deref()))]
    StateWrite {
        /// The state file that was being saved.
        path: std::path::PathBuf,
        /// The temporary file in the same folder, renamed over `path` when complete.
        temp: Option<std::path::PathBuf>,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A tensor operation failed.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

fn temp_note(temp: Option<&std::path::Path>) -> String {
    temp.map(|t| format!(" (temp file {})", t.display())).unwrap_or_default()
}
