//! [`Communicator`]: the collectives data-parallel training needs, and [`Worker`], a
//! process's place in the world.

use candle_core::Tensor;

use crate::bucket;
use crate::error::{Error, Result};

/// A process's place among the processes of a run: Keras' `task_id` / PyTorch's rank.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Worker {
    /// This process's rank, `0..world_size`.
    pub rank: usize,
    /// The number of processes.
    pub world_size: usize,
}

impl Worker {
    /// The only process of a non-distributed run.
    pub const SINGLE: Worker = Worker { rank: 0, world_size: 1 };

    /// Whether this is the chief (rank 0: Keras' chief worker), the process that writes
    /// logs, checkpoints and backups.
    pub fn is_chief(&self) -> bool {
        self.rank == 0
    }
}

impl Default for Worker {
    fn default() -> Self {
        Worker::SINGLE
    }
}

/// The collectives of data-parallel training (MPI's names): every rank calls the same
/// collectives in the same order with buffers of the same length; a call returns once
/// every rank has made it.
///
/// Implementations: [`SingleProcess`](crate::SingleProcess), `Mpi` (feature `mpi`), `Nccl`
/// (feature `nccl`). A rank that dies leaves the others inside a collective: the MPI
/// backends abort the job ([`collective_timeout`](crate::collective_timeout) bounds the wait
/// where the launcher does not).
pub trait Communicator {
    /// This process's rank and the world size.
    fn worker(&self) -> Worker;

    /// The backend's name, for messages (`"single-process"`, `"mpi"`, `"nccl"`).
    fn backend(&self) -> &'static str;

    /// `MPI_Allreduce(SUM)` in place over `f64` values.
    fn all_reduce_sum_f64(&self, buf: &mut [f64]) -> Result<()>;

    /// `MPI_Allreduce(SUM)` in place over `f32` values.
    fn all_reduce_sum_f32(&self, buf: &mut [f32]) -> Result<()>;

    /// `MPI_Bcast` of `f32` values from `root` (same length on every rank).
    fn broadcast_f32(&self, buf: &mut [f32], root: usize) -> Result<()>;

    /// `MPI_Bcast` of `f64` values from `root` (same length on every rank).
    fn broadcast_f64(&self, buf: &mut [f64], root: usize) -> Result<()>;

    /// Broadcast of a byte string of any length from `root`: the other ranks' `buf` is
    /// replaced (the length travels first).
    fn broadcast_bytes(&self, buf: &mut Vec<u8>, root: usize) -> Result<()>;

    /// `MPI_Barrier`.
    fn barrier(&self) -> Result<()>;

    /// `MPI_Abort`: ends every rank of the job with exit code `code` — what a rank that
    /// fails on its own (a bad file, a full disk) calls, so that the others do not wait
    /// in their next collective. A single process just exits.
    fn abort(&self, code: i32) -> ! {
        std::process::exit(code)
    }

    /// This process's rank (`worker().rank`).
    fn rank(&self) -> usize {
        self.worker().rank
    }

    /// The number of processes (`worker().world_size`).
    fn world_size(&self) -> usize {
        self.worker().world_size
    }

    /// All-reduce (mean) in place: the sum divided by the world size.
    fn all_reduce_mean_f32(&self, buf: &mut [f32]) -> Result<()> {
        self.all_reduce_sum_f32(buf)?;
        let n = self.world_size() as f32;
        buf.iter_mut().for_each(|v| *v /= n);
        Ok(())
    }

    /// Element-wise sums of `tensors` over the ranks (each rank passes tensors of the same
    /// shapes and dtypes, in the same order), returned on each tensor's device with its
    /// dtype. The default copies to the host and reduces in buckets of at most
    /// [`BUCKET_BYTES`](crate::BUCKET_BYTES) (`f64` tensors in `f64`, all others in `f32`);
    /// `Nccl` reduces on the GPU.
    fn all_reduce_sum_tensors(&self, tensors: &[Tensor]) -> Result<Vec<Tensor>> {
        host_all_reduce(self, tensors)
    }

    /// [`all_reduce_sum_tensors`](Self::all_reduce_sum_tensors) divided by the world size.
    fn all_reduce_mean_tensors(&self, tensors: &[Tensor]) -> Result<Vec<Tensor>> {
        let n = self.world_size() as f64;
        self.all_reduce_sum_tensors(tensors)?
            .into_iter()
            .map(|t| (t / n).map_err(crate::Error::tensor("all_reduce_mean_tensors")))
            .collect()
    }

    /// `root`'s `tensors`, on every rank (same shapes and dtypes everywhere), in buckets.
    fn broadcast_tensors(&self, tensors: &[Tensor], root: usize) -> Result<Vec<Tensor>> {
        host_broadcast(self, tensors, root)
    }
}

/// The default [`Communicator::all_reduce_sum_tensors`]: host copies, bucketed.
pub(crate) fn host_all_reduce<C: Communicator + ?Sized>(comm: &C, tensors: &[Tensor]) -> Result<Vec<Tensor>> {
    bucket::host_collective(
        tensors,
        "all_reduce",
        &mut |b: &mut [f32]| comm.all_reduce_sum_f32(b),
        &mut |b: &mut [f64]| comm.all_reduce_sum_f64(b),
    )
}

/// The default [`Communicator::broadcast_tensors`]: host copies, bucketed.
pub(crate) fn host_broadcast<C: Communicator + ?Sized>(
    comm: &C,
    tensors: &[Tensor],
    root: usize,
) -> Result<Vec<Tensor>> {
    if root >= comm.world_size() {
        return Err(Error::Invalid {
            op: "broadcast",
            detail: format!("root rank {root} is outside a world of {} processes", comm.world_size()),
        });
    }
    bucket::host_collective(
        tensors,
        "broadcast",
        &mut |b: &mut [f32]| comm.broadcast_f32(b, root),
        &mut |b: &mut [f64]| comm.broadcast_f64(b, root),
    )
}

#[cfg(test)]
mod tests {
    use super::Communicator;
    use candle_core::{DType, Tensor};

    #[test]
    fn single_process_round_trip_keeps_values_shapes_and_dtypes() {
        let dev = candle_core::Device::Cpu;
        let a = Tensor::arange(0f32, 6., &dev).unwrap().reshape((2, 3)).unwrap();
        let b = Tensor::new(&[1.5f64, -2.0], &dev).unwrap();
        let c = Tensor::new(&[3u32], &dev).unwrap().to_dtype(DType::BF16).unwrap();
        let out = crate::SingleProcess.all_reduce_sum_tensors(&[a.clone(), b.clone(), c.clone()]).unwrap();
        assert_eq!(out[0].to_vec2::<f32>().unwrap(), a.to_vec2::<f32>().unwrap());
        assert_eq!(out[1].to_vec1::<f64>().unwrap(), vec![1.5, -2.0]);
        assert_eq!(out[2].dtype(), DType::BF16);
        let mean = crate::SingleProcess.all_reduce_mean_tensors(std::slice::from_ref(&a)).unwrap();
        assert_eq!(mean[0].to_vec2::<f32>().unwrap(), a.to_vec2::<f32>().unwrap());
    }
}
