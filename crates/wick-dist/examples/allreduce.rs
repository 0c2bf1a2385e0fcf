//! Times the host all-reduce of `--floats` f32 values (one gradient exchange of a model that
//! size) over the MPI world: `mpirun -np 2 target/release/examples/allreduce --floats N`.
//! Prints `bytes`, `ms_per_allreduce` (median of `--rounds`) and the bus bandwidth a ring
//! all-reduce implies (`2 (p − 1) / p × bytes / time`).

#[cfg(feature = "mpi")]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    use std::time::Instant;
    use wick_dist::{Communicator, Mpi};

    let arg = |name: &str, default: usize| -> usize {
        let args: Vec<String> = std::env::args().collect();
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (floats, rounds) = (arg("--floats", 1 << 20), arg("--rounds", 50));
    let comm = Mpi::init()?;
    let mut buf = vec![1.0f32; floats];
    comm.all_reduce_sum_f32(&mut buf)?; // warm-up
    let mut times = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        comm.barrier()?;
        let t = Instant::now();
        comm.all_reduce_sum_f32(&mut buf)?;
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    if comm.rank() == 0 {
        let bytes = floats * 4;
        let p = comm.world_size() as f64;
        let bus = 2.0 * (p - 1.0) / p * bytes as f64 / median / 1e9;
        println!(
            "ranks {} floats {floats} bytes {bytes} ms_per_allreduce {:.3} bus_gb_per_s {bus:.2}",
            p,
            median * 1e3
        );
    }
    Ok(())
}

#[cfg(not(feature = "mpi"))]
fn main() {
    eprintln!(
        "allreduce needs the `mpi` feature: cargo build --release -p wick-dist --features mpi --example allreduce"
    );
    std::process::exit(1);
}
