//! CPU training throughput of EfficientNet-Lite0 (backbone unfrozen) at 128×128, batch 16.
//!
//! The model is `EfficientNetLite0::new(false, ..)` (no ImageNet classifier) with a new
//! `wick_nn::linear(1280, 10)` head, random weights (Candle's CPU RNG cannot be seeded),
//! every variable trainable except the batch norms' moving statistics
//! (`is_non_trainable`), batch norms in training mode (`forward_t(x, true)`). Step:
//! forward, cross-entropy from logits, backward, `wick_optim::Adam` (Keras' Adam, lr 1e-3).
//! Data: 8 random batches of NCHW pixels in [-1, 1] and labels in 0..10, made up front
//! and reused, so data generation is not timed. The Keras anchor is
//! `scripts/bench_lite0_keras.py`; `scripts/bench_lite0.sh` interleaves both.
//!
//! ```text
//! cargo bench -p wick-models --bench lite0 -- [rounds] [seconds-per-round]
//! ```
//! Prints steps/s per round, the median, a forward+loss / backward / optimizer split in
//! mean ms/step, and `RESULT wick_steps_per_s=<median> ...`. The process first calls
//! `wick_nn::tune_cpu_allocator()` and `wick_nn::tune_cpu_threads()`, as the examples do.

use std::time::{Duration, Instant};

use candle_core::{DType, Device, Module, ModuleT, Tensor, Var};
use candle_nn::{Optimizer, VarBuilder, VarMap};
use wick_models::efficientnet_lite::{EfficientNetLite0, FEATURES};

const BATCH: usize = 16;
const SIZE: usize = 128;
const CLASSES: usize = 10;
const WARMUP: usize = 3;

type Res<T> = std::result::Result<T, Box<dyn std::error::Error>>;

struct Trainer {
    backbone: EfficientNetLite0,
    head: wick_nn::Linear,
    opt: wick_optim::Adam,
}

impl Trainer {
    /// The model in `vm` and its optimizer; returns it with (trainable, total) parameter counts.
    fn new(vm: &VarMap, dev: &Device) -> Res<(Self, usize, usize)> {
        let vb = VarBuilder::from_varmap(vm, DType::F32, dev);
        let backbone = EfficientNetLite0::new(false, vb.clone())?;
        let head = wick_nn::linear(FEATURES, CLASSES, vb.pp("head"))?;
        let mut named: Vec<(String, Var)> = {
            let data = vm.data().lock().map_err(|_| "VarMap lock poisoned")?;
            data.iter().map(|(n, v)| (n.clone(), v.clone())).collect()
        };
        named.sort_by(|a, b| a.0.cmp(&b.0));
        let total = named.iter().map(|(_, v)| v.elem_count()).sum();
        let trainable: Vec<Var> =
            named.into_iter().filter(|(n, _)| !backbone.is_non_trainable(n)).map(|(_, v)| v).collect();
        let n_trainable = trainable.iter().map(|v| v.elem_count()).sum();
        let config = wick_optim::OptimizerConfig::new(wick_optim::rules::AdamRule::default(), 1e-3);
        let opt = wick_optim::Adam::new(trainable, config)?;
        Ok((Self { backbone, head, opt }, n_trainable, total))
    }

    /// One step; returns (forward + loss, backward, optimizer) durations.
    fn step(&mut self, x: &Tensor, y: &Tensor) -> Res<[Duration; 3]> {
        let t0 = Instant::now();
        let logits = self.head.forward(&self.backbone.forward_t(x, true)?)?;
        let loss = candle_nn::loss::cross_entropy(&logits, y)?;
        let _ = loss.to_scalar::<f32>()?;
        let t1 = Instant::now();
        let grads = loss.backward()?;
        let t2 = Instant::now();
        self.opt.step(&grads)?;
        let t3 = Instant::now();
        Ok([t1 - t0, t2 - t1, t3 - t2])
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Warm-up, then steps for at least `secs` (and at least 3 steps); returns steps/s and
/// the mean split in ms.
fn measure(t: &mut Trainer, data: &[(Tensor, Tensor)], secs: f64) -> Res<(f64, [f64; 3])> {
    for i in 0..WARMUP {
        let (x, y) = &data[i % data.len()];
        t.step(x, y)?;
    }
    let start = Instant::now();
    let mut split = [0f64; 3];
    let mut steps = 0usize;
    while steps < 3 || start.elapsed().as_secs_f64() < secs {
        let (x, y) = &data[steps % data.len()];
        let d = t.step(x, y)?;
        for (s, d) in split.iter_mut().zip(d) {
            *s += d.as_secs_f64();
        }
        steps += 1;
    }
    let el = start.elapsed().as_secs_f64();
    Ok((steps as f64 / el, split.map(|s| s * 1e3 / steps as f64)))
}

fn main() -> Res<()> {
    let tuned = wick_nn::tune_cpu_allocator();
    wick_nn::tune_cpu_threads();
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let rounds: usize = args.first().and_then(|s| s.parse().ok()).unwrap_or(3);
    let secs: f64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(10.0);
    let dev = Device::Cpu;

    let mut data = Vec::new();
    for i in 0..8u32 {
        let x = Tensor::rand(-1f32, 1., (BATCH, 3, SIZE, SIZE), &dev)?;
        let y: Vec<u32> = (0..BATCH as u32).map(|j| (i * 7 + j * 13) % CLASSES as u32).collect();
        data.push((x, Tensor::new(y.as_slice(), &dev)?));
    }

    let vm = VarMap::new();
    let (mut t, trainable, total) = Trainer::new(&vm, &dev)?;
    println!(
        "EfficientNet-Lite0 train step, {SIZE}x{SIZE}, batch {BATCH}, {CLASSES}-class head, {} threads, {rounds} rounds of >= {secs} s, malloc tuned: {tuned}",
        candle_core::utils::get_num_threads()
    );
    println!("params: total {total} (incl. moving statistics), trainable {trainable}");
    let mut rates = Vec::new();
    let mut split = [0f64; 3];
    for r in 1..=rounds {
        let (rate, sp) = measure(&mut t, &data, secs)?;
        println!(
            "round {r}: wick {rate:6.3} steps/s ({:.1} ms/step: fwd+loss {:.1}, backward {:.1}, adam {:.1})",
            1e3 / rate,
            sp[0],
            sp[1],
            sp[2]
        );
        for (acc, s) in split.iter_mut().zip(sp) {
            *acc += s / rounds as f64;
        }
        rates.push(rate);
    }
    let med = median(&mut rates);
    println!(
        "mean ms/step wick fwd+loss {:6.1}  backward {:6.1}  adam {:6.1}  (median step {:.1} ms)",
        split[0],
        split[1],
        split[2],
        1e3 / med
    );
    println!(
        "RESULT wick_steps_per_s={med:.4} wick_ms_per_step={:.2} fwd_ms={:.2} bwd_ms={:.2} opt_ms={:.2} params={total} trainable={trainable}",
        1e3 / med,
        split[0],
        split[1],
        split[2]
    );
    Ok(())
}
