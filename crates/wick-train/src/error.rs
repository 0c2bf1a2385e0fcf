//! The one error type of wick-train: losses, metrics, datasets and the training loop.

/// Errors of `fit` / `evaluate` / `predict`, losses and metrics.
///
/// Wrapped errors are kept whole: a callback's error comes back as [`Error::Callback`]
/// holding exactly what the callback returned, a dataset's as [`Error::Data`] (a bad
/// image names its file, and [`source()`](std::error::Error::source) gives the decoder's
/// reason). Print the chain with [`wick_data::with_sources`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A callback returned an error; the run was aborted at that hook.
    #[error(transparent)]
    Callback(#[from] wick_callbacks::Error),
    /// The optimizer failed (e.g. `finalize_variable_values`, scaling the loss).
    #[error(transparent)]
    Optimizer(#[from] wick_optim::Error),
    /// The dataset could not produce a batch (a bad file, a worker that stopped, a
    /// refused `shuffle`): fix the data or the options, then run again.
    #[error(transparent)]
    Data(#[from] wick_data::Error),
    /// A pass over the data yielded no batch at all.
    #[error("{context}: the {what} data produced no batch (epoch {epoch})")]
    NoBatches {
        /// `"fit"`, `"evaluate"` or `"predict"`.
        context: &'static str,
        /// `"training"`, `"validation"`, `"evaluation"` or `"prediction"`.
        what: &'static str,
        /// The 0-based epoch (0 outside `fit`).
        epoch: usize,
    },
    /// Two tensors have incompatible shapes; names both shapes.
    #[error("{context}: {lhs_name} has shape {lhs:?} but {rhs_name} has shape {rhs:?} ({expected})")]
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
    /// An argument or configuration value is invalid; names the function or type, the
    /// argument and its value.
    #[error("{context}: {message}")]
    InvalidArgument {
        /// The Keras class or function, e.g. `"AUC"` or `"fit"`.
        context: &'static str,
        /// What is wrong, naming the argument and the value.
        message: String,
    },
    /// A collective of a distributed run failed ([`wick_dist::Error`]).
    #[error(transparent)]
    Distributed(#[from] wick_dist::Error),
    /// The ranks of a distributed run disagree before the first step (different model
    /// variables, a metric that cannot be reduced): nothing was trained.
    #[error("distributed fit, rank {rank} of {world_size}: {detail}")]
    RankMismatch {
        /// The rank reporting.
        rank: usize,
        /// The number of ranks.
        world_size: usize,
        /// What differs, naming the variable and both shapes where that is the cause.
        detail: String,
    },
    /// A tensor operation failed (forward pass, backward pass, a loss or a metric).
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
        Error::ShapeMismatch { context, lhs_name, lhs: lhs.to_vec(), rhs_name, rhs: rhs.to_vec(), expected }
    }

    pub(crate) fn invalid(context: &'static str, message: impl Into<String>) -> Self {
        Error::InvalidArgument { context, message: message.into() }
    }
}
