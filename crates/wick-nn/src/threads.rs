//! [`cache_thread_count`]: fixes the CPU thread count Candle asks for on every op.

/// Sets `RAYON_NUM_THREADS` to the machine's CPU count when it is unset, so that Candle stops
/// recomputing it.
///
/// Candle 0.11 calls `num_cpus::get()` for every CPU matmul and convolution it runs (its
/// `get_num_threads`), which on Linux reads `/proc/cpuinfo` each time: in a network of small
/// ops (EfficientNet at 32×32, batch 16) that was ≈ 60 % of the run, most of it kernel time.
/// With the variable set Candle reads only the environment. Rayon's own pool reads the same
/// variable, so the pool size does not change.
///
/// Call it at the start of `main`, before any thread is started (it changes the process
/// environment). A value already set is left as it is.
pub fn cache_thread_count() {
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        let n = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        std::env::set_var("RAYON_NUM_THREADS", n.to_string());
    }
}
