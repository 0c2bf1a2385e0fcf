//! [`tune_cpu_threads`]: the thread settings Candle reads from the environment, fixed once.

/// Candle's default spin count (`CANDLE_BARRIER_POOL_SPIN_LIMIT`) replaced by
/// [`tune_cpu_threads`].
pub const BARRIER_POOL_SPIN_LIMIT: u32 = 1000;

/// Sets two environment variables Candle's CPU backend reads, each only when it is unset:
///
/// - `RAYON_NUM_THREADS` to the machine's CPU count. Candle 0.11 calls `num_cpus::get()`
///   for every CPU matmul and convolution it runs (its `get_num_threads`), which on Linux
///   reads `/proc/cpuinfo` each time: in a network of small ops (EfficientNet at 32×32,
///   batch 16) that was ≈ 60 % of the run, most of it kernel time. With the variable set
///   Candle reads only the environment. Rayon's own pool reads the same variable, so the
///   pool size does not change.
/// - `CANDLE_BARRIER_POOL_SPIN_LIMIT` to [`BARRIER_POOL_SPIN_LIMIT`] (Candle's default is
///   25,000). After each element-wise op Candle's own worker threads spin that many times
///   before they sleep, and on a machine with few cores the spinning takes the cores that
///   wick-nn's rayon tasks (and gemm) need next. On the benchmark CNN (2 cores) the lower
///   limit gave ≈ 4 % more steps/s (BENCHMARKS.md).
///
/// Call it at the start of `main`, before any thread is started (it changes the process
/// environment) and before the first Candle op (Candle reads the spin limit once).
pub fn tune_cpu_threads() {
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        let n = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        std::env::set_var("RAYON_NUM_THREADS", n.to_string());
    }
    if std::env::var_os("CANDLE_BARRIER_POOL_SPIN_LIMIT").is_none() {
        std::env::set_var("CANDLE_BARRIER_POOL_SPIN_LIMIT", BARRIER_POOL_SPIN_LIMIT.to_string());
    }
}
