//! The one error type of wick-optim.

/// Errors of optimizers, schedules and optimizer state files.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A constructor argument is out of range; names the Keras class and the argument.
    #[error("{class}: {message}")]
    InvalidArgument {
        /// Keras class name, e.g. `"PiecewiseConstantDecay"`.
        class: &'static str,
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
    /// A tensor operation failed.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
