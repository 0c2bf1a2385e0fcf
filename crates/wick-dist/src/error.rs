//! The crate's error type.

/// What a collective or a launcher check can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A tensor operation (flattening, copying to the host, rebuilding) failed.
    #[error("{op}: {source}")]
    Tensor {
        /// The collective that was running.
        op: &'static str,
        /// Candle's error.
        #[source]
        source: candle_core::Error,
    },
    /// Ranks passed buffers that cannot be reduced together.
    #[error("{op}: {detail}")]
    Mismatch {
        /// The collective.
        op: &'static str,
        /// What differed (lengths, dtypes, shapes).
        detail: String,
    },
    /// The MPI library could not be started, or it was started already.
    #[error("MPI: {0}")]
    MpiInit(String),
    /// NCCL or the CUDA device failed.
    #[error("NCCL {op}: {detail}")]
    Nccl {
        /// The NCCL call.
        op: &'static str,
        /// The library's message.
        detail: String,
    },
    /// A bad argument (a root rank outside the world, say).
    #[error("{op}: {detail}")]
    Invalid {
        /// The collective.
        op: &'static str,
        /// What was wrong.
        detail: String,
    },
}

impl Error {
    pub(crate) fn tensor(op: &'static str) -> impl FnOnce(candle_core::Error) -> Error {
        move |source| Error::Tensor { op, source }
    }
}

/// `Result` with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
