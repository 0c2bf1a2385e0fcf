//! `Nccl` in a world of one process on CUDA device 0: every collective returns its input.
#![cfg(feature = "nccl")]

use candle_core::{DType, Device, Tensor};
use wick_dist::{Communicator, Error, Mpi, Nccl};

/// Tensors of every kind the collectives meet: the NCCL dtypes in several shapes (a
/// scalar, a non-contiguous view, an empty tensor), a CUDA dtype NCCL is not given (host
/// path), and a CPU tensor (host path).
fn inputs(dev: &Device) -> candle_core::Result<Vec<Tensor>> {
    let grid = Tensor::arange(0f32, 12., dev)?.reshape((3, 4))?;
    Ok(vec![
        grid.clone(),
        Tensor::new(2.5f32, dev)?,
        Tensor::arange(-20f32, 20., dev)?.reshape((2, 5, 4))?.to_dtype(DType::BF16)?,
        grid.t()?,
        Tensor::new(&[1.25f64, -3.5, 1e-300], dev)?,
        Tensor::arange(0f32, 7., dev)?.to_dtype(DType::F16)?,
        Tensor::zeros((0, 3), DType::F32, dev)?,
        Tensor::arange(0f32, 300., dev)?.reshape((30, 10))?,
        Tensor::new(&[3u32, 1, 4], dev)?,
        Tensor::new(&[[9f32, 8.], [7., 6.]], &Device::Cpu)?,
        Tensor::arange(0f32, 6., dev)?.to_dtype(DType::BF16)?,
    ])
}

fn values(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64).and_then(|t| t.flatten_all()).and_then(|t| t.to_vec1::<f64>()).expect("values")
}

fn assert_same(what: &str, input: &[Tensor], output: &[Tensor]) {
    assert_eq!(input.len(), output.len(), "{what}: number of tensors");
    for (i, (a, b)) in input.iter().zip(output).enumerate() {
        assert_eq!(a.dtype(), b.dtype(), "{what}: dtype of tensor {i}");
        assert_eq!(a.dims(), b.dims(), "{what}: shape of tensor {i}");
        assert_eq!(a.device().location(), b.device().location(), "{what}: device of tensor {i}");
        assert_eq!(values(a), values(b), "{what}: values of tensor {i}");
    }
}

// One test function: MPI can be initialised only once per process.
#[test]
fn nccl_world_of_one_round_trips() {
    let dev = match Device::new_cuda(0) {
        Ok(dev) => dev,
        Err(e) => {
            // The first line: candle appends a backtrace when RUST_BACKTRACE is set.
            let reason = e.to_string();
            println!("skipped: no CUDA device ({})", reason.lines().next().unwrap_or_default());
            return;
        }
    };
    let mpi = Mpi::init().expect("MPI_Init");
    let mut nccl = Nccl::new(mpi, &dev).expect("NCCL communicator on cuda:0");
    println!("NCCL {}", Nccl::library_version().expect("ncclGetVersion"));
    assert_eq!((nccl.rank(), nccl.world_size(), nccl.backend()), (0, 1, "nccl"));
    assert_eq!(nccl.bucket_bytes(), wick_dist::BUCKET_BYTES);

    let input = inputs(&dev).expect("inputs");
    assert_same("all_reduce", &input, &nccl.all_reduce_sum_tensors(&input).expect("all_reduce"));
    assert_same("all_reduce_mean", &input, &nccl.all_reduce_mean_tensors(&input).expect("mean"));
    assert_same("broadcast", &input, &nccl.broadcast_tensors(&input, 0).expect("broadcast"));
    assert!(matches!(nccl.broadcast_tensors(&input, 1), Err(Error::Invalid { .. })));
    assert!(nccl.all_reduce_sum_tensors(&[]).expect("nothing").is_empty());

    // Other bucket limits, each bucket split back in order: 0 and 16 bytes put every tensor
    // in a bucket of its own; 100 bytes joins the 3x4 grid, the scalar and the transposed
    // grid (48 + 4 + 48 bytes of f32), and both bf16 tensors; 1 MiB one bucket per dtype.
    for limit in [0, 16, 100, 1 << 20] {
        let small = nccl.with_bucket_bytes(limit);
        assert_same(
            &format!("all_reduce, buckets of {limit} B"),
            &input,
            &small.all_reduce_sum_tensors(&input).expect("all_reduce"),
        );
        assert_same(
            &format!("broadcast, buckets of {limit} B"),
            &input,
            &small.broadcast_tensors(&input, 0).expect("broadcast"),
        );
        nccl = small;
    }

    // A tensor on another candle Device (even of the same GPU) is refused, not reduced.
    let other = Device::new_cuda(0).expect("second handle of cuda:0");
    let stray = Tensor::ones(4, DType::F32, &other).expect("tensor");
    assert!(matches!(nccl.all_reduce_sum_tensors(&[stray]), Err(Error::Invalid { .. })));

    // Host-buffer collectives go to MPI.
    let mut buf = [1.5f32, -2.0];
    nccl.all_reduce_sum_f32(&mut buf).expect("all_reduce f32");
    assert_eq!(buf, [1.5, -2.0]);
    let mut bytes = b"wick".to_vec();
    nccl.broadcast_bytes(&mut bytes, 0).expect("broadcast bytes");
    assert_eq!(bytes, b"wick");
    nccl.barrier().expect("barrier");
}
