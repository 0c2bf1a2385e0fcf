//! The one error type of wick-train.

/// Errors of losses and metrics.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Two tensors have incompatible shapes; names both shapes.
    #[error(
        "{context}: {lhs_name} has shape {lhs:?} but {rhs_name} has shape {rhs:?} ({expected})"
    )]
    ShapeMismatch {
        /// The Keras class or function that raised the error, e.g. `"MeanSquaredError"`.
        context: &'static str,
        /// Name of the first tensor, e.g. `"y_true"`.
        lhs_name: &'static str,
        /// Shape of the first tensor.
        lhs: Vec<usize>,
        /// Name of the second tensor, e.g. `"y_pred"`.
        rhs_name: &'static str,
        /// Shape of the second tensor.
        rhs: Vec<usize>,
        /// What relation between the shapes was expected.
        expected: &'static str,
    },
    /// A constructor argument or configuration value is out of range.
    #[error("{context}: {message}")]
    InvalidArgument {
        /// The Keras class, e.g. `"AUC"`.
        context: &'static str,
        /// What is wrong, naming the argument and the value.
        message: String,
    },
    /// A tensor operation failed.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn shape(
        context: &'static str,
        lhs_name: &'static str,
        lhs: &[usize],
        rhs_name: &'static str,
        rhs: &[usize],
        expected: &'static str,
    ) -> Self {
        Error::ShapeMismatch {
            context,
            lhs_name,
            lhs: lhs.to_vec(),
            rhs_name,
            rhs: rhs.to_vec(),
            expected,
        }
    }
}
