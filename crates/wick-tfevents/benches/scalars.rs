//! Scalar events per second and MB/s through `SummaryWriter::scalar`, with the real
//! background writer thread and `close()` inside the timed region (so the time covers
//! getting every byte to the operating system), plus allocations per scalar on the hot
//! path, counted by a global allocator that lives in this binary only.
//!
//! Run: `cargo bench -p wick-tfevents --bench scalars [-- --n N --rounds R]`
//! (or `WICK_BENCH_N`, `WICK_BENCH_ROUNDS`). `scripts/bench.sh` runs this and
//! tensorboardX's `add_scalar` in one run and prints the ratio; see `BENCHMARKS.md`.
//!
//! The last line is machine-readable: `RESULT scalars_per_s=… mb_per_s=… …`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::io::BufReader;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use wick_tfevents::{ReadOutcome, RecordReader, SummaryWriter};

/// Counts every allocation and reallocation made by any thread of this process.
struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so
// `System`'s guarantees (and the caller's obligations) carry over; counting is an atomic add.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged to `System` (see the impl).
        unsafe {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
            System.alloc(layout)
        }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged to `System` (see the impl).
        unsafe {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
            System.alloc_zeroed(layout)
        }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged to `System` (see the impl).
        unsafe {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
            System.realloc(ptr, layout, new_size)
        }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to `System` (see the impl).
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocs() -> u64 {
    ALLOCS.load(Ordering::Relaxed)
}

const TAG: &str = "loss";
/// Scalars written before allocations are counted.
const WARMUP: u64 = 1_000_000;

/// Writes scalars `steps` (value 1/(step+1), as tensorboardX is fed in the companion script).
fn write_scalars(writer: &SummaryWriter, steps: std::ops::Range<u64>) {
    for step in steps {
        let value = 1.0 / (step as f32 + 1.0);
        writer.scalar(TAG, black_box(step as i64), black_box(value)).expect("scalar");
    }
}

struct Round {
    secs: f64,
    /// Of which: in `close()`, i.e. draining what the writer thread had not written yet.
    close_secs: f64,
    bytes: u64,
    /// Allocations between the first and the last `scalar` call (buffer growth included).
    loop_allocs: u64,
}

fn timed_round(dir: &Path, n: u64) -> Round {
    let start = Instant::now();
    let writer = SummaryWriter::new(dir).expect("open writer");
    let path = writer.path().to_path_buf();
    let a0 = allocs();
    write_scalars(&writer, 0..n);
    let loop_allocs = allocs() - a0;
    let closing = Instant::now();
    writer.close().expect("close");
    let close_secs = closing.elapsed().as_secs_f64();
    let secs = start.elapsed().as_secs_f64();
    let bytes = std::fs::metadata(&path).expect("stat").len();
    std::fs::remove_file(&path).expect("remove");
    Round { secs, close_secs, bytes, loop_allocs }
}

/// Allocations per scalar once the writer's two buffers have grown: warm up, then count
/// over `n` more scalars; then read the file back. Returns (per scalar, counted, records).
fn warm_allocs(dir: &Path, warmup: u64, n: u64) -> (f64, u64, u64) {
    let writer = SummaryWriter::new(dir).expect("open writer");
    let path = writer.path().to_path_buf();
    write_scalars(&writer, 0..warmup);
    let a0 = allocs();
    write_scalars(&writer, warmup..warmup + n);
    let counted = allocs() - a0;
    writer.close().expect("close");
    let records = count_records(&path, warmup + n);
    std::fs::remove_file(&path).expect("remove");
    (counted as f64 / n as f64, counted, records)
}

/// Reads the file back with CRC checks; every record must be intact and the count right.
fn count_records(path: &Path, expected_scalars: u64) -> u64 {
    let file = std::fs::File::open(path).expect("open for reading");
    let mut reader = RecordReader::new(BufReader::with_capacity(1 << 20, file), path);
    let mut records = 0u64;
    loop {
        match reader.read_record().expect("intact record") {
            ReadOutcome::Record { .. } => records += 1,
            ReadOutcome::End => break,
            ReadOutcome::Truncated { .. } => panic!("truncated file after close"),
        }
    }
    // One `file_version` record, then one per scalar.
    assert_eq!(records, expected_scalars + 1, "records in {}", path.display());
    records
}

fn arg_or_env(args: &[String], flag: &str, env: &str, default: u64) -> u64 {
    let from_arg = args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    let raw = from_arg.or_else(|| std::env::var(env).ok());
    match raw {
        Some(s) => s.replace('_', "").parse().unwrap_or_else(|_| panic!("{flag}/{env}: not a number: {s}")),
        None => default,
    }
}

fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

fn main() {
    // `cargo bench` passes `--bench`; anything else we do not know is ignored too.
    let args: Vec<String> = std::env::args().collect();
    let n = arg_or_env(&args, "--n", "WICK_BENCH_N", 10_000_000).max(1);
    let rounds = arg_or_env(&args, "--rounds", "WICK_BENCH_ROUNDS", 5).max(1) as usize;
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("run");

    println!("wick-tfevents SummaryWriter::scalar: N = {n} scalars per round, {rounds} rounds");
    println!("(tag {TAG:?}, wall time read per scalar, background writer, close() inside the timing)");
    println!("files in {}", dir.display());

    // Allocation check first; it also warms the page cache and the CPU. The warm-up lets
    // the writer's two swapped buffers grow (they double while the caller outruns the
    // disk, up to `max_pending_bytes`), so what is left to count is the per-scalar cost.
    let warmup = WARMUP;
    let (per_scalar, counted, records) = warm_allocs(&dir, warmup, n);
    println!(
        "hot path: {counted} allocations over {n} scalars after {warmup} warm-up scalars = {per_scalar:.6} per scalar \
         (any left are doublings of the shared buffer, not per scalar); file read back: {records} records, CRCs ok"
    );
    if per_scalar > 0.01 {
        eprintln!("FAIL: {per_scalar} allocations per scalar on the hot path; expected none");
        std::process::exit(1);
    }

    let mut rates = Vec::with_capacity(rounds);
    let mut mbs = Vec::with_capacity(rounds);
    let mut bytes_per_record = 0.0;
    for r in 1..=rounds {
        let round = timed_round(&dir, n);
        let rate = n as f64 / round.secs;
        let mb = round.bytes as f64 / round.secs / 1e6;
        bytes_per_record = round.bytes as f64 / (n + 1) as f64;
        println!(
            "round {r}: {secs:.3} s (close {close:.3} s)  {mrate:.3} M scalars/s  {ns:.1} ns/scalar  {mb:.1} MB/s  \
             ({bytes} bytes; {la} allocations in the loop incl. buffer growth)",
            secs = round.secs,
            close = round.close_secs,
            mrate = rate / 1e6,
            ns = round.secs * 1e9 / n as f64,
            bytes = round.bytes,
            la = round.loop_allocs,
        );
        rates.push(rate);
        mbs.push(mb);
    }
    let rate = median(&rates);
    let mb = median(&mbs);
    let list = |xs: &[f64], scale: f64| xs.iter().map(|x| format!("{:.3}", x / scale)).collect::<Vec<_>>().join(",");
    println!(
        "median: {:.3} M scalars/s ({:.1} ns/scalar), {mb:.1} MB/s, {bytes_per_record:.1} bytes/record",
        rate / 1e6,
        1e9 / rate
    );
    println!(
        "RESULT n={n} rounds={rounds} scalars_per_s={rate:.0} mb_per_s={mb:.1} bytes_per_record={bytes_per_record:.1} \
         allocs_per_scalar={per_scalar:.6} rounds_m_per_s={} rounds_mb_per_s={}",
        list(&rates, 1e6),
        list(&mbs, 1.0)
    );
}
