//! The errors of wick-models: a weights file that is missing, unreadable or does not fit the
//! network, each naming the file and the tensor.

use std::path::PathBuf;

/// What can go wrong building or loading a model.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The weights file does not exist; `hint` says how to create it.
    #[error("no weights file at {path}: {hint}")]
    MissingWeights {
        /// The path looked at.
        path: PathBuf,
        /// The command that creates it.
        hint: String,
    },
    /// The file is not a readable safetensors file.
    #[error("cannot read the weights file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Candle's error.
        #[source]
        source: candle_core::Error,
    },
    /// A tensor the network needs is not in the file.
    #[error("{path}: has no tensor {name:?} (the network needs one of shape {expected:?})")]
    MissingTensor {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
        /// The shape the network needs.
        expected: Vec<usize>,
    },
    /// A tensor has another shape than the network's variable.
    #[error("{path}: tensor {name:?} has shape {found:?}, the network needs {expected:?}")]
    ShapeMismatch {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
        /// The shape the network needs.
        expected: Vec<usize>,
        /// The shape in the file.
        found: Vec<usize>,
    },
    /// A tensor the network does not have (only when all must be used, e.g. with the
    /// classifier).
    #[error("{path}: tensor {name:?} is not a variable of the network")]
    UnexpectedTensor {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
    },
    /// An argument out of range (block index, input shape), named with its value.
    #[error("{0}")]
    Invalid(String),
    /// An error of a Candle op.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// `Result` with wick-models' [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
