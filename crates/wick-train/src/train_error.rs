//! The error type of `fit` / `evaluate` / `predict` and of datasets.

/// Errors of the training loop ([`Trainer`](crate::Trainer)) and of datasets.
///
/// Every failure keeps its source: a callback's error comes back as
/// [`TrainError::Callback`] holding exactly what the callback returned.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A callback returned an error; the run was aborted at that hook.
    #[error(transparent)]
    Callback(#[from] wick_callbacks::Error),
    /// The optimizer failed (e.g. `finalize_variable_values`, scaling the loss).
    #[error(transparent)]
    Optimizer(#[from] wick_optim::Error),
    /// A loss or metric failed (e.g. mismatched shapes of `y_true` and `y_pred`).
    #[error(transparent)]
    LossOrMetric(#[from] crate::Error),
    /// A tensor operation failed (forward pass, backward pass, batching).
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    /// An argument is invalid; names the function or type and what is wrong.
    #[error("{context}: {message}")]
    InvalidArgument {
        /// The function or type, e.g. `"fit"` or `"TensorDataset"`.
        context: &'static str,
        /// What is wrong, naming the argument and its value.
        message: String,
    },
    /// A dataset could not produce a batch.
    #[error("dataset: {0}")]
    Data(String),
}

/// Shorthand for results of the training loop.
pub type TrainResult<T, E = TrainError> = std::result::Result<T, E>;

impl TrainError {
    pub(crate) fn invalid(context: &'static str, message: impl Into<String>) -> Self {
        TrainError::InvalidArgument { context, message: message.into() }
    }
}
