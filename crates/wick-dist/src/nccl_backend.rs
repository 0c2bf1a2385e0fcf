//! [`Nccl`]: the [`Communicator`] that reduces and broadcasts CUDA tensors on the GPU with NCCL.

use std::cell::RefCell;
use std::ffi::c_char;

use candle_core::backend::BackendStorage;
use candle_core::cuda_backend::cudarc::driver::{CudaSlice, DeviceRepr, DriverError, ValidAsZeroBits};
use candle_core::cuda_backend::cudarc::nccl::result::{self as nccl_result, NcclError};
use candle_core::cuda_backend::cudarc::nccl::sys::ncclResult_t;
use candle_core::cuda_backend::cudarc::nccl::{Comm, Id, NcclType, ReduceOp};
use candle_core::cuda_backend::{CudaDType, CudaDevice, CudaStorage, CudaStorageSlice};
use candle_core::{CpuStorage, CustomOp1, DType, Device, Layout, Shape, Tensor};

use crate::bucket::{buckets, BUCKET_BYTES};
use crate::communicator::{host_all_reduce, host_broadcast};
use crate::communicator::{Communicator, Worker};
use crate::error::{Error, Result};
use crate::mpi_backend::Mpi;
use crate::watchdog::Armed;

/// The size of NCCL's unique id (`NCCL_UNIQUE_ID_BYTES`).
const ID_BYTES: usize = 128;

/// The dtypes NCCL reduces on the device, in the order their buckets run (the same on
/// every rank). Tensors of other dtypes take the host path.
const DEVICE_DTYPES: [DType; 4] = [DType::F32, DType::F64, DType::BF16, DType::F16];

/// NCCL over the CUDA device of this process (one process per GPU), with MPI beside it.
///
/// [`all_reduce_sum_tensors`](Communicator::all_reduce_sum_tensors) and
/// [`broadcast_tensors`](Communicator::broadcast_tensors) run on the GPU for tensors on
/// this communicator's device with dtype `f32`, `f64`, `bf16` or `f16`: the tensors of one
/// dtype are concatenated into buckets of at most [`BUCKET_BYTES`] (see
/// [`with_bucket_bytes`](Nccl::with_bucket_bytes)), one NCCL call per bucket, and split back
/// with each tensor's shape and dtype. Each call waits for the GPU to finish, so an error or
/// a hang shows up in the call that caused it (bounded by
/// [`collective_timeout`](crate::collective_timeout)). Tensors on the CPU, and CUDA tensors
/// of other dtypes, go through MPI on host buffers like [`Mpi`]'s. The host-buffer
/// collectives (`all_reduce_sum_f32`, `broadcast_bytes`, `barrier`, …) are MPI's.
///
/// Launch as for [`Mpi`] (`mpirun -np N`, `srun`), one rank per GPU: NCCL refuses two ranks
/// on the same GPU, so each rank picks its device from its local rank (OpenMPI's
/// `OMPI_COMM_WORLD_LOCAL_RANK`, Slurm's `SLURM_LOCALID`). Call the collectives from the
/// thread that runs the model: NCCL's kernels go on the device's stream, which for
/// `Device::new_cuda` is the calling thread's default stream.
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use wick_dist::{Communicator, Mpi, Nccl};
/// let local: usize = std::env::var("OMPI_COMM_WORLD_LOCAL_RANK").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
/// let device = candle_core::Device::new_cuda(local)?;
/// let comm = Nccl::new(Mpi::init()?, &device)?;
/// let grads = vec![candle_core::Tensor::ones((2, 3), candle_core::DType::F32, &device)?];
/// let _summed = comm.all_reduce_sum_tensors(&grads)?;
/// # Ok(()) }
/// ```
pub struct Nccl {
    // Field order matters: the NCCL communicator goes before MPI is finalised.
    comm: Comm,
    mpi: Mpi,
    device: Device,
    bucket_bytes: usize,
}

impl std::fmt::Debug for Nccl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nccl")
            .field("worker", &self.mpi.worker())
            .field("device", &self.device.location())
            .field("bucket_bytes", &self.bucket_bytes)
            .finish()
    }
}

impl Nccl {
    /// Joins the NCCL communicator of all the ranks of `mpi`'s world on `device` (a CUDA
    /// device; this rank's GPU): rank 0 creates NCCL's unique id and broadcasts it over MPI,
    /// then every rank calls `ncclCommInitRank` on the device's stream. A collective: every
    /// rank calls it. The `Mpi` is kept (and finalised when the `Nccl` is dropped).
    ///
    /// Errors: [`Error::Invalid`] when `device` is not a CUDA device; [`Error::Nccl`] when
    /// NCCL fails (on every rank when rank 0 cannot create the id).
    pub fn new(mpi: Mpi, device: &Device) -> Result<Self> {
        let cuda = device.as_cuda_device().map_err(|e| Error::Invalid {
            op: "Nccl::new",
            detail: format!("NCCL needs a CUDA device, not {:?} ({e})", device.location()),
        })?;
        let Worker { rank, world_size } = mpi.worker();
        for (what, value) in [("rank", rank), ("world size", world_size)] {
            if i32::try_from(value).is_err() {
                return Err(Error::Invalid {
                    op: "Nccl::new",
                    detail: format!("{what} {value} does not fit NCCL's int"),
                });
            }
        }
        let stream = cuda.cuda_stream();
        // NCCL works on the CUDA device current on the calling thread.
        stream.context().bind_to_thread().map_err(cuda_error("init"))?;

        // Rank 0's id, or an empty message when it could not make one: then every rank
        // fails, instead of the others waiting for an id that never comes.
        let (mut bytes, mut failure) = (Vec::new(), None);
        if rank == 0 {
            match Id::new() {
                Ok(id) => bytes = id.internal().iter().map(|c| c.to_ne_bytes()[0]).collect(),
                Err(e) => failure = Some(nccl_error("get_unique_id", e)),
            }
        }
        mpi.broadcast_bytes(&mut bytes, 0)?;
        if let Some(e) = failure {
            return Err(e);
        }
        let id = id_from_bytes(&bytes)?;

        let comm = {
            let _armed = Armed::new("nccl init");
            Comm::from_rank(stream, rank, world_size, id).map_err(|e| {
                let mut err = nccl_error("init", e);
                if let Error::Nccl { detail, .. } = &mut err {
                    detail.push_str(&format!(
                        "; rank {rank} of {world_size} on {:?} (one rank per GPU: two ranks on one GPU are refused)",
                        device.location()
                    ));
                }
                err
            })?
        };
        Ok(Nccl { comm, mpi, device: device.clone(), bucket_bytes: BUCKET_BYTES })
    }

    /// The same communicator with buckets of at most `bytes` (default [`BUCKET_BYTES`],
    /// PyTorch DDP's `bucket_cap_mb = 25`); a tensor larger than that is a bucket of its
    /// own. Every rank must use the same value.
    pub fn with_bucket_bytes(mut self, bytes: usize) -> Self {
        self.bucket_bytes = bytes;
        self
    }

    /// The largest bucket, in bytes.
    pub fn bucket_bytes(&self) -> usize {
        self.bucket_bytes
    }

    /// The CUDA device NCCL runs on (the one passed to [`Nccl::new`]).
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The MPI world beside NCCL (host-buffer collectives go through it).
    pub fn mpi(&self) -> &Mpi {
        &self.mpi
    }

    /// The version of the NCCL library this process runs on (`ncclGetVersion`), as
    /// `major.minor.patch`.
    pub fn library_version() -> Result<String> {
        let code = nccl_result::get_nccl_version().map_err(|e| nccl_error("get_version", e))?;
        // NCCL_VERSION_CODE since 2.9: major * 10000 + minor * 100 + patch.
        Ok(format!("{}.{}.{}", code / 10000, code / 100 % 100, code % 100))
    }

    /// One collective over `tensors`: device buckets for the tensors NCCL can take, the
    /// host path for the others.
    fn collective(&self, tensors: &[Tensor], kind: Kind) -> Result<Vec<Tensor>> {
        let name = kind.name();
        let mut out: Vec<Option<Tensor>> = vec![None; tensors.len()];
        let mut host = Vec::new();
        let mut groups: [Vec<usize>; DEVICE_DTYPES.len()] = Default::default();
        for (i, t) in tensors.iter().enumerate() {
            if !t.device().is_cuda() {
                host.push(i);
                continue;
            }
            self.check_device(name, i, t)?;
            if t.elem_count() == 0 {
                out[i] = Some(t.clone());
            } else if let Some(g) = DEVICE_DTYPES.iter().position(|&d| d == t.dtype()) {
                groups[g].push(i);
            } else {
                host.push(i);
            }
        }

        if groups.iter().any(|g| !g.is_empty()) {
            let _armed = Armed::new(&format!("nccl {name}"));
            let stream = self.comm.stream();
            stream.context().bind_to_thread().map_err(cuda_error(name))?;
            for (dtype, group) in DEVICE_DTYPES.iter().zip(&groups) {
                let sizes: Vec<usize> =
                    group.iter().map(|&i| tensors[i].elem_count() * dtype.size_in_bytes()).collect();
                for range in buckets(&sizes, self.bucket_bytes) {
                    self.device_bucket(tensors, &group[range], kind, &mut out)?;
                }
            }
            // Waits for NCCL here, inside the watchdog's bound, so that a failed or stuck
            // peer shows up in this call rather than in some later copy to the host.
            stream.synchronize().map_err(cuda_error(name))?;
        }

        if !host.is_empty() {
            let subset: Vec<Tensor> = host.iter().map(|&i| tensors[i].clone()).collect();
            let done = match kind {
                Kind::Sum => host_all_reduce(&self.mpi, &subset)?,
                Kind::Broadcast(root) => host_broadcast(&self.mpi, &subset, root)?,
            };
            for (i, t) in host.into_iter().zip(done) {
                out[i] = Some(t);
            }
        }
        // Every index got its tensor above (device bucket, empty tensor or host path).
        Ok(out.into_iter().flatten().collect())
    }

    /// Concatenates `members` (one dtype, this device), runs one NCCL call on the flat
    /// buffer, and puts each member's part, in its shape, into `out`.
    fn device_bucket(
        &self,
        tensors: &[Tensor],
        members: &[usize],
        kind: Kind,
        out: &mut [Option<Tensor>],
    ) -> Result<()> {
        let name = kind.name();
        let flat: Vec<Tensor> = members
            .iter()
            .map(|&i| tensors[i].flatten_all())
            .collect::<candle_core::Result<_>>()
            .map_err(Error::tensor(name))?;
        let joined = match flat.as_slice() {
            [one] => one.clone(),
            _ => Tensor::cat(&flat, 0).map_err(Error::tensor(name))?,
        };
        let op = DeviceCollective { comm: &self.comm, kind, failure: RefCell::new(None) };
        let reduced = match joined.apply_op1_no_bwd(&op) {
            Ok(t) => t,
            // The NCCL error itself when there was one, not candle's wrapping of it.
            Err(source) => return Err(op.failure.take().unwrap_or(Error::Tensor { op: name, source })),
        };
        let mut offset = 0;
        for &i in members {
            let t = &tensors[i];
            let n = t.elem_count();
            let piece = reduced.narrow(0, offset, n).and_then(|p| p.reshape(t.shape())).map_err(Error::tensor(name))?;
            offset += n;
            out[i] = Some(piece);
        }
        Ok(())
    }

    fn check_device(&self, op: &'static str, i: usize, t: &Tensor) -> Result<()> {
        if t.device().same_device(&self.device) {
            return Ok(());
        }
        let (theirs, ours) = (t.device().location(), self.device.location());
        let hint = if theirs == ours {
            "another candle Device of the same GPU: make the tensors on the Device passed to Nccl::new"
        } else {
            "NCCL reduces on the GPU it was created on"
        };
        Err(Error::Invalid {
            op,
            detail: format!("tensor {i} is on {theirs:?}, this communicator on {ours:?} ({hint})"),
        })
    }
}

impl Communicator for Nccl {
    fn worker(&self) -> Worker {
        self.mpi.worker()
    }

    fn backend(&self) -> &'static str {
        "nccl"
    }

    fn all_reduce_sum_f64(&self, buf: &mut [f64]) -> Result<()> {
        self.mpi.all_reduce_sum_f64(buf)
    }

    fn all_reduce_sum_f32(&self, buf: &mut [f32]) -> Result<()> {
        self.mpi.all_reduce_sum_f32(buf)
    }

    fn broadcast_f32(&self, buf: &mut [f32], root: usize) -> Result<()> {
        self.mpi.broadcast_f32(buf, root)
    }

    fn broadcast_f64(&self, buf: &mut [f64], root: usize) -> Result<()> {
        self.mpi.broadcast_f64(buf, root)
    }

    fn broadcast_bytes(&self, buf: &mut Vec<u8>, root: usize) -> Result<()> {
        self.mpi.broadcast_bytes(buf, root)
    }

    fn barrier(&self) -> Result<()> {
        self.mpi.barrier()
    }

    /// On the GPU with NCCL (sum) for this device's `f32`/`f64`/`bf16`/`f16` tensors, in
    /// buckets of at most [`bucket_bytes`](Nccl::bucket_bytes); the others on the host.
    fn all_reduce_sum_tensors(&self, tensors: &[Tensor]) -> Result<Vec<Tensor>> {
        self.collective(tensors, Kind::Sum)
    }

    /// On the GPU with NCCL for this device's `f32`/`f64`/`bf16`/`f16` tensors, in buckets;
    /// the others on the host.
    fn broadcast_tensors(&self, tensors: &[Tensor], root: usize) -> Result<Vec<Tensor>> {
        let world_size = self.world_size();
        if root >= world_size {
            return Err(Error::Invalid {
                op: "broadcast",
                detail: format!("root rank {root} is outside a world of {world_size} processes"),
            });
        }
        self.collective(tensors, Kind::Broadcast(root))
    }
}

/// What one bucket's NCCL call does.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Sum,
    /// From this root rank (checked against the world size, so it fits NCCL's int).
    Broadcast(usize),
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Sum => "all_reduce",
            Kind::Broadcast(_) => "broadcast",
        }
    }
}

/// The custom op through which the NCCL call reaches candle's CUDA buffer: it reads the
/// bucket's contiguous elements and returns a new buffer with the result (out of place,
/// so the input tensor is left as it was).
struct DeviceCollective<'a> {
    comm: &'a Comm,
    kind: Kind,
    /// NCCL's error, kept whole (candle's error type would only carry its text).
    failure: RefCell<Option<Error>>,
}

impl DeviceCollective<'_> {
    fn launch<T>(
        &self,
        src: &CudaSlice<T>,
        start: usize,
        end: usize,
        device: &CudaDevice,
    ) -> candle_core::Result<CudaStorage>
    where
        T: CudaDType + NcclType + DeviceRepr + ValidAsZeroBits,
    {
        let view = src.try_slice(start..end).ok_or_else(|| {
            candle_core::Error::Msg(format!("elements {start}..{end} are outside a buffer of {}", src.len()))
        })?;
        let mut dst = device.alloc_zeros::<T>(end - start)?;
        let done = match self.kind {
            Kind::Sum => self.comm.all_reduce(&view, &mut dst, &ReduceOp::Sum),
            // `root` < world size (checked in `broadcast_tensors`), and the world size fits
            // an i32 (checked in `Nccl::new`).
            Kind::Broadcast(root) => self.comm.broadcast(Some(&view), &mut dst, root as i32),
        };
        if let Err(e) = done {
            let err = nccl_error(self.kind.name(), e);
            let text = err.to_string();
            self.failure.replace(Some(err));
            return Err(candle_core::Error::Msg(text));
        }
        Ok(CudaStorage::wrap_cuda_slice(dst, device.clone()))
    }
}

impl CustomOp1 for DeviceCollective<'_> {
    fn name(&self) -> &'static str {
        "wick-dist-nccl"
    }

    fn cpu_fwd(&self, _storage: &CpuStorage, _layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        Err(candle_core::Error::Msg("the NCCL collective takes CUDA tensors only".into()))
    }

    fn cuda_fwd(&self, storage: &CudaStorage, layout: &Layout) -> candle_core::Result<(CudaStorage, Shape)> {
        let (start, end) = layout
            .contiguous_offsets()
            .ok_or_else(|| candle_core::Error::Msg("the NCCL collective needs a contiguous bucket".into()))?;
        let device = &storage.device;
        let out = match &storage.slice {
            CudaStorageSlice::F32(s) => self.launch(s, start, end, device)?,
            CudaStorageSlice::F64(s) => self.launch(s, start, end, device)?,
            CudaStorageSlice::BF16(s) => self.launch(s, start, end, device)?,
            CudaStorageSlice::F16(s) => self.launch(s, start, end, device)?,
            _ => {
                return Err(candle_core::Error::Msg(format!(
                    "the NCCL collective takes f32, f64, bf16 or f16, not {:?}",
                    storage.dtype()
                )))
            }
        };
        Ok((out, Shape::from(end - start)))
    }
}

/// NCCL's id from the 128 bytes rank 0 broadcast.
fn id_from_bytes(bytes: &[u8]) -> Result<Id> {
    if bytes.len() != ID_BYTES {
        return Err(Error::Nccl {
            op: "get_unique_id",
            detail: if bytes.is_empty() {
                "rank 0 could not create the NCCL unique id (its own error says why)".into()
            } else {
                format!("the NCCL unique id from rank 0 has {} bytes, not {ID_BYTES}", bytes.len())
            },
        });
    }
    let mut internal = [0 as c_char; ID_BYTES];
    for (dst, &src) in internal.iter_mut().zip(bytes) {
        *dst = c_char::from_ne_bytes([src]);
    }
    Ok(Id::uninit(internal))
}

fn nccl_error(op: &'static str, e: NcclError) -> Error {
    let code = e.0;
    let what = match code {
        ncclResult_t::ncclUnhandledCudaError => "a CUDA call inside NCCL failed",
        ncclResult_t::ncclSystemError => "a system call failed (network, shared memory, sockets)",
        ncclResult_t::ncclInternalError => "an internal NCCL error",
        ncclResult_t::ncclInvalidArgument => "an invalid argument",
        ncclResult_t::ncclInvalidUsage => "invalid usage (two ranks on one GPU, ranks calling different collectives)",
        ncclResult_t::ncclRemoteError => "a remote rank failed",
        _ => "see NCCL's documentation",
    };
    Error::Nccl { op, detail: format!("{code:?}: {what} (NCCL_DEBUG=WARN prints NCCL's own message)") }
}

fn cuda_error(op: &'static str) -> impl FnOnce(DriverError) -> Error {
    move |e| Error::Nccl { op, detail: format!("CUDA: {e}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_bytes_must_be_128() {
        assert!(id_from_bytes(&[7u8; ID_BYTES]).is_ok());
        let id = id_from_bytes(&(0..ID_BYTES).map(|i| i as u8).collect::<Vec<_>>()).unwrap();
        let back: Vec<u8> = id.internal().iter().map(|c| c.to_ne_bytes()[0]).collect();
        assert_eq!(back, (0..ID_BYTES).map(|i| i as u8).collect::<Vec<_>>());
        assert!(matches!(id_from_bytes(&[]), Err(Error::Nccl { op: "get_unique_id", .. })));
        assert!(matches!(id_from_bytes(&[0; 12]), Err(Error::Nccl { .. })));
    }
}
