//! Per-step cost of `Trainer::fit` and of the full callback stack, against a bare
//! hand-written Candle loop, measured in the same run.
//!
//! A plain `main` timed with `Instant` (no criterion), on the CPU device.
//!
//! - **Model:** a 784 → 128 (ReLU) → 10 MLP (101,770 parameters), f32, seeded initial
//!   weights (xorshift, not `Tensor::randn`, which is unseeded). Every run of every variant
//!   starts from a fresh copy of the **same** initial weights and a fresh `wick_optim::Adam`
//!   (Keras defaults, lr 1e-3).
//! - **Data:** 8,192 seeded random samples (x ~ N(0,1)-ish, labels 0..10), batch 32
//!   (256 steps per epoch), shuffled each epoch. Loss:
//!   `SparseCategoricalCrossentropy(from_logits = true)` from `wick_train::losses`.
//! - **Variants:**
//!   1. `bare`: a hand-written loop. Per epoch the row order is
//!      `TensorDataset::permutation(epoch)` (the order `fit` uses, so both see identical
//!      batches); per step `index_select` of x and y, forward, loss, `backward_step`, and
//!      the loss read to the host (`to_scalar::<f32>`) into a running sum.
//!   2. `fit`: `Trainer::fit` on a `TensorDataset`, `verbose = 0`, no user callbacks
//!      (`History` is always there).
//!   3. `stack`: `fit` with `TensorBoard(update_freq = Batches(1))`,
//!      `ModelCheckpoint(save_best_only, monitor "loss", every epoch)`,
//!      `EarlyStopping(monitor "loss", patience 1000)`, `CSVLogger`, `History` (built in)
//!      and `ProgressBar::with_writer(io::sink(), false)` at `verbose = 1`, all writing
//!      into a temporary directory.
//! - **Breakdown:** with `--breakdown 1`, `fit` plus each of TensorBoard, ModelCheckpoint
//!   and the progress bar alone are added as extra rows.
//! - **Timing:** one untimed warm-up epoch per variant, then `rounds` rounds (default 10);
//!   in each round every variant trains `epochs` epochs (default 1) from the initial weights, one variant after the
//!   other, the starting variant rotating each round (interleaved, so that each ratio
//!   compares runs that saw the same machine state). A variant's time is the whole
//!   `fit` call (or the whole bare loop), so per-epoch work (checkpoint, flushes, CSV
//!   row) is included, divided by the number of steps. Reported: the median over rounds of
//!   ms/step, every per-round ratio, the median over rounds of the ratios, and the ratio of
//!   the fastest runs (the least disturbed ones on a shared machine). The load average at
//!   the start and end is printed too.
//! - **Check:** the bare loop and `fit` see the same batches from the same weights, so
//!   their per-epoch mean losses must agree; the bench prints the largest difference and
//!   fails above 1e-4.
//! - **Last line** is machine-readable: `RESULT steps_per_run=… rounds=… bare_ms=… fit_ms=…
//!   stack_ms=… fit_vs_bare=… stack_vs_fit=… stack_vs_bare=… best_fit_vs_bare=…
//!   best_stack_vs_fit=…` (ms are medians over rounds; ratios are medians of per-round
//!   ratios, `best_*` the ratios of the fastest runs).
//!
//! ```text
//! cargo bench -p wick-train --bench fit_overhead
//! cargo bench -p wick-train --bench fit_overhead -- --rounds 25 --epochs 2 --breakdown 1
//! ```
//! (or `WICK_BENCH_ROUNDS` / `WICK_BENCH_EPOCHS` / `WICK_BENCH_SAMPLES` /
//! `WICK_BENCH_BREAKDOWN`).

use std::path::Path;
use std::time::Instant;

use candle_core::{DType, Device, Module, Tensor, Var};
use candle_nn::{Linear, Optimizer, VarMap};
use wick_callbacks::CSVLogger;
use wick_callbacks::EarlyStopping;
use wick_callbacks::ModelCheckpoint;
use wick_callbacks::ProgressBar;
use wick_callbacks::{Callback, ModelVars};
use wick_callbacks::{TensorBoard, UpdateFreq};
use wick_data::TensorDataset;
use wick_optim::rules::AdamRule;
use wick_optim::OptimizerConfig;
use wick_train::losses::{Loss, SparseCategoricalCrossentropy};
use wick_train::{FitOptions, Trainer};

type Error = Box<dyn std::error::Error>;
type Result<T> = std::result::Result<T, Error>;

const IN: usize = 784;
const HIDDEN: usize = 128;
const CLASSES: usize = 10;
const BATCH: usize = 32;

/// xorshift64* → approximately normal f32 (sum of 4 uniforms, centred and scaled).
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn uniform(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
    fn normalish(&mut self) -> f32 {
        let s: f32 = (0..4).map(|_| self.uniform()).sum();
        (s - 2.0) * 3f32.sqrt()
    }
    fn tensor(&mut self, shape: &[usize], scale: f32, dev: &Device) -> candle_core::Result<Tensor> {
        let n: usize = shape.iter().product();
        let v: Vec<f32> = (0..n).map(|_| self.normalish() * scale).collect();
        Tensor::from_vec(v, shape, dev)
    }
}

fn arg(name: &str, env: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    let flag = format!("--{name}");
    if let Some(i) = args.iter().position(|a| *a == flag) {
        if let Some(v) = args.get(i + 1).and_then(|v| v.parse().ok()) {
            return v;
        }
    }
    std::env::var(env).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

struct Mlp {
    l1: Linear,
    l2: Linear,
}

impl Module for Mlp {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.l2.forward(&self.l1.forward(x)?.relu()?)
    }
}

/// The seeded initial weights, copied into fresh `Var`s for every run.
struct Init {
    values: Vec<(String, Tensor)>,
}

impl Init {
    fn new(dev: &Device) -> Result<Self> {
        let mut rng = Rng(0x5EED_1234_ABCD_0001);
        let s1 = (6.0 / (IN + HIDDEN) as f32).sqrt() / 3f32.sqrt();
        let s2 = (6.0 / (HIDDEN + CLASSES) as f32).sqrt() / 3f32.sqrt();
        Ok(Init {
            values: vec![
                ("l1.weight".into(), rng.tensor(&[HIDDEN, IN], s1, dev)?),
                ("l1.bias".into(), Tensor::zeros(HIDDEN, DType::F32, dev)?),
                ("l2.weight".into(), rng.tensor(&[CLASSES, HIDDEN], s2, dev)?),
                ("l2.bias".into(), Tensor::zeros(CLASSES, DType::F32, dev)?),
            ],
        })
    }

    /// A fresh `VarMap` holding copies of the initial values, the model over it, and a
    /// fresh Adam over the same variables.
    fn fresh(&self) -> Result<(VarMap, Mlp, wick_optim::Adam)> {
        let varmap = VarMap::new();
        let mut t = Vec::new();
        {
            let mut data = varmap.data().lock().map_err(|_| "poisoned VarMap")?;
            for (name, value) in &self.values {
                let var = Var::from_tensor(&value.copy()?)?;
                t.push(var.as_tensor().clone());
                data.insert(name.clone(), var);
            }
        }
        let model = Mlp {
            l1: Linear::new(t[0].clone(), Some(t[1].clone())),
            l2: Linear::new(t[2].clone(), Some(t[3].clone())),
        };
        let vars = ModelVars::from_varmap(&varmap);
        let config = OptimizerConfig::new(AdamRule::default(), AdamRule::DEFAULT_LEARNING_RATE);
        let opt = wick_optim::Adam::with_names(vars.vars().to_vec(), config)?;
        Ok((varmap, model, opt))
    }
}

fn loss_fn() -> SparseCategoricalCrossentropy {
    SparseCategoricalCrossentropy::new().with_from_logits(true)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Variant {
    Bare,
    Fit,
    Stack,
    FitTensorBoard,
    FitCheckpoint,
    FitProgress,
}

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Variant::Bare => "bare loop",
            Variant::Fit => "fit, no callbacks",
            Variant::Stack => "fit + full stack",
            Variant::FitTensorBoard => "fit + TensorBoard(Batches(1))",
            Variant::FitCheckpoint => "fit + ModelCheckpoint",
            Variant::FitProgress => "fit + ProgressBar(sink)",
        }
    }
}

/// The hand-written loop: returns the per-epoch mean losses (sample-weighted, as fit logs).
fn run_bare(init: &Init, ds: &TensorDataset, epochs: usize) -> Result<(f64, Vec<f64>)> {
    let (_varmap, model, mut opt) = init.fresh()?;
    let loss = loss_fn();
    let x = ds.x();
    let y = ds.y().ok_or("no y")?;
    let n = ds.num_samples();
    let dev = x.device().clone();
    let start = Instant::now();
    let mut epoch_losses = Vec::with_capacity(epochs);
    for epoch in 0..epochs {
        let order = Tensor::from_vec(ds.permutation(epoch), n, &dev)?;
        let (mut sum, mut seen) = (0f64, 0usize);
        let mut s = 0;
        while s < n {
            let len = BATCH.min(n - s);
            let idx = order.narrow(0, s, len)?;
            let (xb, yb) = (x.index_select(&idx, 0)?, y.index_select(&idx, 0)?);
            let logits = model.forward(&xb)?;
            let l = loss.call(&yb, &logits, None)?;
            opt.backward_step(&l)?;
            sum += l.to_scalar::<f32>()? as f64 * len as f64;
            seen += len;
            s += len;
        }
        epoch_losses.push(sum / seen as f64);
    }
    Ok((start.elapsed().as_secs_f64(), epoch_losses))
}

fn callbacks(variant: Variant, dir: &Path) -> Vec<Box<dyn Callback>> {
    let tb = || Box::new(TensorBoard::new(dir.join("tb")).update_freq(UpdateFreq::Batches(1))) as Box<dyn Callback>;
    let ckpt = || {
        Box::new(
            ModelCheckpoint::new(dir.join("ckpt.safetensors").to_string_lossy().into_owned())
                .monitor("loss")
                .save_best_only(true),
        ) as Box<dyn Callback>
    };
    let bar = || Box::new(ProgressBar::with_writer(std::io::sink(), false)) as Box<dyn Callback>;
    match variant {
        Variant::Bare | Variant::Fit => Vec::new(),
        Variant::Stack => vec![
            tb(),
            ckpt(),
            Box::new(EarlyStopping::new().monitor("loss").patience(1000)),
            Box::new(CSVLogger::new(dir.join("log.csv"))),
            bar(),
        ],
        Variant::FitTensorBoard => vec![tb()],
        Variant::FitCheckpoint => vec![ckpt()],
        Variant::FitProgress => vec![bar()],
    }
}

/// `fit` with the variant's callbacks: seconds and the per-epoch losses from History.
fn run_fit(init: &Init, ds: &mut TensorDataset, epochs: usize, variant: Variant) -> Result<(f64, Vec<f64>)> {
    let (varmap, model, opt) = init.fresh()?;
    let mut trainer = Trainer::new(model, &varmap, opt, loss_fn())?;
    let dir = tempfile::tempdir()?;
    let cbs = callbacks(variant, dir.path());
    let verbose = if cbs.iter().any(|c| c.name() == "ProgbarLogger") { 1 } else { 0 };
    let start = Instant::now();
    let history = trainer.fit(ds, FitOptions { epochs, verbose, callbacks: cbs, ..Default::default() })?;
    let secs = start.elapsed().as_secs_f64();
    let losses = history.get("loss").ok_or("no loss in History")?;
    if losses.len() != epochs {
        return Err(format!("{}: {} epochs ran, {epochs} asked", variant.name(), losses.len()).into());
    }
    if variant == Variant::Stack {
        let csv = std::fs::read_to_string(dir.path().join("log.csv"))?;
        let ckpt = dir.path().join("ckpt.safetensors");
        if csv.lines().count() != epochs + 1 || !ckpt.exists() || !dir.path().join("tb/train").is_dir() {
            return Err("the full stack did not write its CSV rows, checkpoint or TensorBoard run".into());
        }
    }
    Ok((secs, losses))
}

fn run(variant: Variant, init: &Init, ds: &mut TensorDataset, epochs: usize) -> Result<(f64, Vec<f64>)> {
    match variant {
        Variant::Bare => run_bare(init, ds, epochs),
        _ => run_fit(init, ds, epochs, variant),
    }
}

/// `/proc/loadavg`'s first three fields (the machine is shared; the figures need context).
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "n/a".into())
}

/// CPU time of the whole process (every thread, including ones that have exited, such as
/// the TensorBoard writer thread), in seconds. On a shared machine it leaves out the time
/// the process waited for a core, which wall-clock time includes.
#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
fn process_cpu_secs() -> f64 {
    #[repr(C)]
    struct Timespec {
        tv_sec: i64,
        tv_nsec: i64,
    }
    extern "C" {
        fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
    }
    const CLOCK_PROCESS_CPUTIME_ID: i32 = 2;
    let mut ts = Timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec (64-bit Linux layout).
    let rc = unsafe { clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return f64::NAN;
    }
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
fn process_cpu_secs() -> f64 {
    f64::NAN
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

fn min_max(v: &[f64]) -> (f64, f64) {
    v.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| (lo.min(*x), hi.max(*x)))
}

fn main() -> Result<()> {
    let rounds = arg("rounds", "WICK_BENCH_ROUNDS", 10).max(1);
    let epochs = arg("epochs", "WICK_BENCH_EPOCHS", 1).max(1);
    let samples = arg("samples", "WICK_BENCH_SAMPLES", 8192).max(BATCH);
    let breakdown = arg("breakdown", "WICK_BENCH_BREAKDOWN", 0) != 0;
    let dev = Device::Cpu;

    let mut rng = Rng(0xDA7A_0000_0000_0042);
    let x = rng.tensor(&[samples, IN], 1.0, &dev)?;
    let labels: Vec<u32> = (0..samples).map(|_| (rng.next_u64() % CLASSES as u64) as u32).collect();
    let y = Tensor::from_vec(labels, samples, &dev)?;
    let mut ds = TensorDataset::new(x, y)?.with_batch_size(BATCH)?.with_seed(7);
    let init = Init::new(&dev)?;
    let steps_per_epoch = samples.div_ceil(BATCH);
    let steps = (steps_per_epoch * epochs) as f64;

    let mut variants = vec![Variant::Bare, Variant::Fit, Variant::Stack];
    if breakdown {
        variants.extend([Variant::FitTensorBoard, Variant::FitCheckpoint, Variant::FitProgress]);
    }
    println!(
        "fit_overhead: MLP {IN}->{HIDDEN}->{CLASSES} ({} params), Adam, sparse CE (logits), {samples} samples, batch {BATCH} \
         ({steps_per_epoch} steps/epoch), {epochs} epoch(s) per variant per round, {rounds} rounds, candle CPU, {} threads",
        IN * HIDDEN + HIDDEN + HIDDEN * CLASSES + CLASSES,
        candle_core::utils::get_num_threads(),
    );

    println!("load average at start: {}", loadavg());
    // Warm-up: one epoch of each variant (page faults, thread pools, file system).
    for &v in &variants {
        run(v, &init, &mut ds, 1)?;
    }

    // wall[v][r], cpu[v][r]: seconds.
    let mut wall = vec![Vec::with_capacity(rounds); variants.len()];
    let mut cpu = vec![Vec::with_capacity(rounds); variants.len()];
    let mut max_loss_diff = 0f64;
    for r in 0..rounds {
        let mut losses: Vec<Option<Vec<f64>>> = vec![None; variants.len()];
        for k in 0..variants.len() {
            let i = (r + k) % variants.len();
            let c0 = process_cpu_secs();
            let (s, l) = run(variants[i], &init, &mut ds, epochs)?;
            cpu[i].push(process_cpu_secs() - c0);
            wall[i].push(s);
            losses[i] = Some(l);
        }
        // Same data order and weights: every variant's per-epoch losses agree with bare.
        let bare = losses[0].clone().unwrap_or_default();
        for l in losses.iter().skip(1).flatten() {
            for (a, b) in bare.iter().zip(l) {
                max_loss_diff = max_loss_diff.max((a - b).abs());
            }
        }
        print!("round {:>2}: wall ms/step", r + 1);
        for (i, v) in variants.iter().enumerate() {
            print!(" {} {:.3};", v.name(), wall[i][r] / steps * 1e3);
        }
        println!(
            " fit/bare {:.4}, stack/fit {:.4} | cpu fit/bare {:.4}, stack/fit {:.4}",
            wall[1][r] / wall[0][r],
            wall[2][r] / wall[1][r],
            cpu[1][r] / cpu[0][r],
            cpu[2][r] / cpu[1][r],
        );
    }
    println!("load average at end: {}", loadavg());

    let w = summarize("wall-clock", &wall, &variants, steps);
    let c = summarize("process CPU time (all threads)", &cpu, &variants, steps);
    println!("max |epoch loss(variant) - epoch loss(bare)| = {max_loss_diff:.3e}");
    if max_loss_diff > 1e-4 {
        return Err(format!("the variants did not train identically (loss differs by {max_loss_diff:e})").into());
    }
    println!(
        "RESULT steps_per_run={} rounds={rounds} bare_ms={:.4} fit_ms={:.4} stack_ms={:.4} fit_vs_bare={:.4} stack_vs_fit={:.4} \
         stack_vs_bare={:.4} best_fit_vs_bare={:.4} best_stack_vs_fit={:.4} cpu_fit_vs_bare={:.4} cpu_stack_vs_fit={:.4}",
        steps as usize,
        w.ms[0],
        w.ms[1],
        w.ms[2],
        w.fit_vs_bare,
        w.stack_vs_fit,
        w.stack_vs_bare,
        w.best_fit_vs_bare,
        w.best_stack_vs_fit,
        c.fit_vs_bare,
        c.stack_vs_fit,
    );
    Ok(())
}

struct Summary {
    ms: Vec<f64>,
    fit_vs_bare: f64,
    stack_vs_fit: f64,
    stack_vs_bare: f64,
    best_fit_vs_bare: f64,
    best_stack_vs_fit: f64,
}

/// Prints the table, per-round ratios and goal verdicts of one measure (`t[v][r]`).
fn summarize(what: &str, t: &[Vec<f64>], variants: &[Variant], steps: f64) -> Summary {
    let rounds = t[0].len();
    let ratio = |a: usize, b: usize| -> Vec<f64> { (0..rounds).map(|r| t[a][r] / t[b][r]).collect() };
    let best = |i: usize| min_max(&t[i]).0;
    let ms: Vec<f64> = t.iter().map(|s| median(s) / steps * 1e3).collect();
    println!();
    println!("{what}:");
    println!("| variant | median ms/step | min–max ms/step | vs fit (median of per-round ratios) | vs bare (median of per-round ratios) | vs bare (fastest runs) |");
    println!("|---|---|---|---|---|---|");
    for (i, v) in variants.iter().enumerate() {
        let (lo, hi) = min_max(&t[i]);
        println!(
            "| {} | {:.3} | {:.3}–{:.3} | {:.4} | {:.4} | {:.4} |",
            v.name(),
            ms[i],
            lo / steps * 1e3,
            hi / steps * 1e3,
            median(&ratio(i, 1)),
            median(&ratio(i, 0)),
            best(i) / best(0),
        );
    }
    let fmt = |v: &[f64]| v.iter().map(|x| format!("{x:.4}")).collect::<Vec<_>>().join(", ");
    let (fb, sf, sb) = (ratio(1, 0), ratio(2, 1), ratio(2, 0));
    println!("per-round fit/bare:   {}", fmt(&fb));
    println!("per-round stack/fit:  {}", fmt(&sf));
    println!("per-round stack/bare: {}", fmt(&sb));
    let s = Summary {
        fit_vs_bare: median(&fb),
        stack_vs_fit: median(&sf),
        stack_vs_bare: median(&sb),
        best_fit_vs_bare: best(1) / best(0),
        best_stack_vs_fit: best(2) / best(1),
        ms,
    };
    let verdict = |x: f64, goal: f64| if x <= goal { "met" } else { "NOT met" };
    println!(
        "goal fit/bare <= 1.05: {} (median {:+.2} %, fastest runs {:+.2} %); goal stack/fit <= 1.02: {} (median {:+.2} %, fastest runs {:+.2} %)",
        verdict(s.fit_vs_bare, 1.05),
        (s.fit_vs_bare - 1.0) * 100.0,
        (s.best_fit_vs_bare - 1.0) * 100.0,
        verdict(s.stack_vs_fit, 1.02),
        (s.stack_vs_fit - 1.0) * 100.0,
        (s.best_stack_vs_fit - 1.0) * 100.0,
    );
    s
}
