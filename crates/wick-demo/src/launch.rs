//! What the ranks of a distributed example run agree on before training: threads per
//! rank, the run directory, the per-rank batch.

use std::path::PathBuf;

use wick_dist::Communicator;

use crate::Error;

/// Environment variables launchers set to the number of ranks on this machine (OpenMPI,
/// Slurm, MPICH/Hydra).
const LOCAL_SIZE_VARS: [&str; 3] = ["OMPI_COMM_WORLD_LOCAL_SIZE", "SLURM_NTASKS_PER_NODE", "MPI_LOCALNRANKS"];

/// Splits this machine's cores between the ranks on it: unless `RAYON_NUM_THREADS` is set
/// already, it is set to `cores / local ranks` (at least 1), which the gemm kernels and
/// rayon's pool read. Call it first, before any thread pool starts. Returns the threads
/// this rank uses.
pub fn threads_per_rank(comm: &dyn Communicator) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if let Some(n) = std::env::var("RAYON_NUM_THREADS").ok().and_then(|v| v.parse::<usize>().ok()).filter(|&n| n > 0) {
        return n;
    }
    if comm.world_size() == 1 {
        return cores;
    }
    let local = LOCAL_SIZE_VARS
        .iter()
        .find_map(|v| std::env::var(v).ok().and_then(|s| s.parse::<usize>().ok()))
        .filter(|&n| n > 0)
        .unwrap_or(1);
    let threads = (cores / local).max(1);
    // Edition 2021: `set_var` is safe; this runs before any other thread of the program
    // reads the environment (the caller's first call).
    std::env::set_var("RAYON_NUM_THREADS", threads.to_string());
    threads
}

/// The chief's `path` on every rank (a default run directory carries the chief's clock).
pub fn agree_path(comm: &dyn Communicator, path: PathBuf) -> Result<PathBuf, Error> {
    let mut bytes = path.to_string_lossy().into_owned().into_bytes();
    comm.broadcast_bytes(&mut bytes, 0)?;
    Ok(PathBuf::from(String::from_utf8_lossy(&bytes).into_owned()))
}

/// Each rank's share of the global `--batch-size` (Keras' rule: the batch given is the
/// global one): an error unless `world_size` divides it.
pub fn per_rank_batch(global: usize, world_size: usize) -> Result<usize, Error> {
    if world_size == 0 || !global.is_multiple_of(world_size) {
        return Err(format!(
            "--batch-size {global} is the global batch and must be a multiple of the {world_size} ranks"
        )
        .into());
    }
    Ok(global / world_size)
}
