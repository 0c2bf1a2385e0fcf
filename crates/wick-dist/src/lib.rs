//! Data-parallel collectives for wick: the [`Communicator`] a distributed `fit` uses
//! (rank, world size, all-reduce, broadcast, barrier) and its backends.
//!
//! * [`SingleProcess`]: world size 1 (every collective is the identity); what a plain run
//!   uses, and a reference for tests.
//! * `Mpi` (feature `mpi`): the system's MPI library through rsmpi; processes are started
//!   by `mpirun -np N …` or `srun`, and collectives run on host buffers.
//! * `Nccl` (feature `nccl`, implies `cuda` and `mpi`): NCCL through cudarc for tensors on
//!   a CUDA device, one process per GPU; the NCCL unique id is created on rank 0 and
//!   broadcast over MPI.
//!
//! Tensors are reduced in buckets of at most [`BUCKET_BYTES`] (PyTorch DDP's 25 MiB
//! default), not one call per tensor.

#![warn(missing_docs)]

mod bucket;
mod communicator;
mod error;
#[cfg(feature = "mpi")]
mod mpi_backend;
#[cfg(feature = "nccl")]
mod nccl_backend;
mod single;
mod watchdog;

pub use bucket::{buckets, BUCKET_BYTES};
pub use communicator::{Communicator, Worker};
pub use error::{Error, Result};
#[cfg(feature = "mpi")]
pub use mpi_backend::Mpi;
#[cfg(feature = "nccl")]
pub use nccl_backend::Nccl;
pub use single::SingleProcess;
pub use watchdog::{collective_timeout, DEFAULT_TIMEOUT_SECS};
