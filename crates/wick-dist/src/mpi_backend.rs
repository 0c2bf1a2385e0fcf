//! [`Mpi`]: the [`Communicator`] over the system's MPI library (rsmpi).

use mpi::collective::SystemOperation;
use mpi::environment::Universe;
use mpi::topology::SimpleCommunicator;
use mpi::traits::{Communicator as _, CommunicatorCollectives, Equivalence, Root};

use crate::communicator::{Communicator, Worker};
use crate::error::{Error, Result};
use crate::watchdog::{self, Armed};

/// MPI's `MPI_COMM_WORLD`: the processes `mpirun -np N` or `srun` started (a process
/// started alone is a world of 1). Collectives run on host buffers; MPI's default error
/// handler (`MPI_ERRORS_ARE_FATAL`) and the launcher end the job when a rank dies, and a
/// watchdog ([`collective_timeout`](crate::collective_timeout)) bounds every wait.
///
/// MPI is initialised once per process: keep the `Mpi` for the whole run (dropping it
/// calls `MPI_Finalize`).
pub struct Mpi {
    // Field order matters: the communicator goes before the universe finalises MPI.
    world: SimpleCommunicator,
    _universe: Universe,
    worker: Worker,
}

impl std::fmt::Debug for Mpi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mpi").field("worker", &self.worker).finish()
    }
}

impl Mpi {
    /// `MPI_Init`: joins the world the launcher started, and starts the collective
    /// watchdog. An error when MPI was initialised already in this process.
    pub fn init() -> Result<Self> {
        let universe = mpi::initialize().ok_or_else(|| {
            Error::MpiInit("MPI is already initialised in this process (keep one `Mpi` for the whole run)".into())
        })?;
        let world = universe.world();
        let (rank, size) = (world.rank(), world.size());
        let worker =
            Worker { rank: usize::try_from(rank).unwrap_or(0), world_size: usize::try_from(size).unwrap_or(1) };
        watchdog::start(worker.rank, worker.world_size);
        Ok(Mpi { world, _universe: universe, worker })
    }

    /// MPI's `MPI_Get_library_version` string (which MPI this process runs on).
    pub fn library_version() -> String {
        mpi::environment::library_version().unwrap_or_else(|_| "unknown MPI".into())
    }

    /// `MPI_Allreduce(SUM)` of `buf` in place (MPI needs a separate send buffer).
    fn sum_in_place<T: Equivalence + Copy>(&self, buf: &mut [T], what: &str) -> Result<()> {
        if self.worker.world_size == 1 {
            return Ok(());
        }
        let _armed = Armed::new(what);
        let send = buf.to_vec();
        self.world.all_reduce_into(&send[..], buf, SystemOperation::sum());
        Ok(())
    }

    fn root(&self, op: &'static str, root: usize) -> Result<i32> {
        if root >= self.worker.world_size {
            return Err(Error::Invalid {
                op,
                detail: format!("root rank {root} is outside a world of {} processes", self.worker.world_size),
            });
        }
        Ok(root as i32)
    }
}

impl Communicator for Mpi {
    fn worker(&self) -> Worker {
        self.worker
    }

    fn backend(&self) -> &'static str {
        "mpi"
    }

    fn all_reduce_sum_f64(&self, buf: &mut [f64]) -> Result<()> {
        self.sum_in_place(buf, "all_reduce(f64)")
    }

    fn all_reduce_sum_f32(&self, buf: &mut [f32]) -> Result<()> {
        self.sum_in_place(buf, "all_reduce(f32)")
    }

    fn broadcast_f32(&self, buf: &mut [f32], root: usize) -> Result<()> {
        let root = self.root("broadcast", root)?;
        let _armed = Armed::new("broadcast(f32)");
        self.world.process_at_rank(root).broadcast_into(buf);
        Ok(())
    }

    fn broadcast_f64(&self, buf: &mut [f64], root: usize) -> Result<()> {
        let root = self.root("broadcast", root)?;
        let _armed = Armed::new("broadcast(f64)");
        self.world.process_at_rank(root).broadcast_into(buf);
        Ok(())
    }

    fn broadcast_bytes(&self, buf: &mut Vec<u8>, root: usize) -> Result<()> {
        let r = self.root("broadcast", root)?;
        let _armed = Armed::new("broadcast(bytes)");
        let mut len = buf.len() as u64;
        self.world.process_at_rank(r).broadcast_into(&mut len);
        if self.worker.rank != root {
            buf.clear();
            buf.resize(len as usize, 0);
        }
        self.world.process_at_rank(r).broadcast_into(&mut buf[..]);
        Ok(())
    }

    fn abort(&self, code: i32) -> ! {
        self.world.abort(code)
    }

    fn barrier(&self) -> Result<()> {
        let _armed = Armed::new("barrier");
        self.world.barrier();
        Ok(())
    }
}
