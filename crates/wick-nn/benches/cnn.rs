//! CPU training throughput of the reference CNN with candle-nn layers vs wick-nn layers,
//! measured in the same process, interleaved round by round.
//!
//! Model (as in `shared/reference/cpu_limits.md` and the Keras script
//! `scripts/bench_cnn_keras.py`): 64x64x3 input, Conv2d 3->32 k3 + ReLU + MaxPool2,
//! Conv2d 32->64 k3 + ReLU + MaxPool2, flatten (12544), Linear 128 + ReLU, Linear 3;
//! batch 32, cross-entropy, Adam lr 1e-3: the candle-nn model steps with
//! `candle_nn::AdamW` (weight decay 0), what a candle-nn user has; the wick-nn models with
//! `wick_optim::Adam` (Keras' Adam, whose CPU update is fused and in place). Data: 8 random
//! batches generated up front and reused, so data generation is not timed.
//!
//! ```text
//! cargo bench -p wick-nn --bench cnn -- [rounds] [seconds-per-variant] [ops] [wick-only | fused-only] [plain-malloc] [untuned-threads]
//! ```
//! Three variants: candle-nn layers, wick-nn layers swapped in one for one, and wick-nn
//! with ReLU and max pool fused into each `Conv2d` (`with_relu().with_max_pool(..)`).
//! Prints steps/s per round and variant, the medians and the ratios to candle-nn, a
//! forward / backward / optimizer split per variant, and with `ops` the per-layer
//! forward and backward times of both implementations. The process first calls
//! `wick_nn::tune_cpu_allocator()` and `wick_nn::tune_cpu_threads()`, as the examples do,
//! unless `plain-malloc` / `untuned-threads` is given.

use std::time::{Duration, Instant};

use candle_core::{DType, Device, Module, Result, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarBuilder, VarMap};

const BATCH: usize = 32;
const WARMUP: usize = 5;

/// Which layer implementation a model uses.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// candle-nn `Conv2d`, `Tensor::relu`, `Tensor::max_pool2d`, `Linear`.
    Candle,
    /// wick-nn `Conv2d`, `relu`, `MaxPool2d`, `Linear` as separate layers (the drop-in swap).
    Wick,
    /// wick-nn `Conv2d::with_relu().with_max_pool(..)`: one op per conv block.
    WickFused,
}

enum Conv {
    Candle(candle_nn::Conv2d),
    Wick(wick_nn::Conv2d),
}

impl Conv {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Conv::Candle(c) => c.forward(x),
            Conv::Wick(c) => c.forward(x),
        }
    }
}

struct Cnn {
    kind: Kind,
    conv1: Conv,
    conv2: Conv,
    fc1: Box<dyn Module>,
    fc2: Box<dyn Module>,
}

impl Cnn {
    fn new(kind: Kind, vb: VarBuilder<'_>) -> Result<Self> {
        let cfg = candle_nn::Conv2dConfig::default();
        let conv = |i, o, vb: VarBuilder<'_>| -> Result<Conv> {
            Ok(match kind {
                Kind::Candle => Conv::Candle(candle_nn::conv2d(i, o, 3, cfg, vb)?),
                Kind::Wick => Conv::Wick(wick_nn::conv2d(i, o, 3, cfg, vb)?),
                Kind::WickFused => {
                    Conv::Wick(wick_nn::conv2d(i, o, 3, cfg, vb)?.with_relu().with_max_pool(wick_nn::MaxPool2d::new(2)))
                }
            })
        };
        let dense = |i, o, vb: VarBuilder<'_>| -> Result<Box<dyn Module>> {
            Ok(match kind {
                Kind::Candle => Box::new(candle_nn::linear(i, o, vb)?),
                Kind::Wick | Kind::WickFused => Box::new(wick_nn::linear(i, o, vb)?),
            })
        };
        Ok(Self {
            kind,
            conv1: conv(3, 32, vb.pp("conv1"))?,
            conv2: conv(32, 64, vb.pp("conv2"))?,
            fc1: dense(64 * 14 * 14, 128, vb.pp("fc1"))?,
            fc2: dense(128, 3, vb.pp("fc2"))?,
        })
    }

    fn pool(&self, x: &Tensor) -> Result<Tensor> {
        match self.kind {
            Kind::Candle => x.max_pool2d(2),
            Kind::Wick => wick_nn::max_pool2d(x, (2, 2), (2, 2)),
            Kind::WickFused => Ok(x.clone()),
        }
    }

    fn relu(&self, x: &Tensor) -> Result<Tensor> {
        match self.kind {
            Kind::Candle => x.relu(),
            Kind::Wick => wick_nn::relu(x),
            Kind::WickFused => Ok(x.clone()),
        }
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let x = self.pool(&self.relu(&self.conv1.forward(x)?)?)?;
        let x = self.pool(&self.relu(&self.conv2.forward(&x)?)?)?;
        let x = x.flatten_from(1)?;
        self.fc2.forward(&self.fc1.forward(&x)?.relu()?)
    }
}

/// The optimizer a variant steps with.
enum Opt {
    /// `candle_nn::AdamW` with weight decay 0.
    Candle(AdamW),
    /// `wick_optim::Adam` (Keras' defaults, lr 1e-3).
    Wick(Box<wick_optim::Adam>),
}

impl Opt {
    fn step(&mut self, grads: &candle_core::backprop::GradStore) -> Result<()> {
        match self {
            Opt::Candle(o) => o.step(grads),
            Opt::Wick(o) => o.step(grads),
        }
    }
}

struct Trainer {
    model: Cnn,
    opt: Opt,
    _vm: VarMap,
}

impl Trainer {
    fn new(kind: Kind, dev: &Device) -> Result<Self> {
        let vm = VarMap::new();
        let model = Cnn::new(kind, VarBuilder::from_varmap(&vm, DType::F32, dev))?;
        let opt = if kind == Kind::Candle {
            Opt::Candle(AdamW::new(vm.all_vars(), ParamsAdamW { lr: 1e-3, weight_decay: 0.0, ..Default::default() })?)
        } else {
            let rule = wick_optim::rules::AdamRule::default();
            let config = wick_optim::OptimizerConfig::new(rule, 1e-3);
            Opt::Wick(Box::new(wick_optim::Adam::new(vm.all_vars(), config).map_err(candle_core::Error::wrap)?))
        };
        Ok(Self { model, opt, _vm: vm })
    }

    /// One step; returns (forward + loss, backward, optimizer) durations.
    fn step(&mut self, x: &Tensor, y: &Tensor) -> Result<[Duration; 3]> {
        let t0 = Instant::now();
        let loss = candle_nn::loss::cross_entropy(&self.model.forward(x)?, y)?;
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

/// This process's user + system CPU time in seconds (all threads), from `/proc/self/stat`
/// (clock ticks of 1/100 s); `NaN` where that file is missing.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return f64::NAN };
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    match (f.get(11).and_then(|v| v.parse::<f64>().ok()), f.get(12).and_then(|v| v.parse::<f64>().ok())) {
        (Some(u), Some(s)) => (u + s) / 100.0,
        _ => f64::NAN,
    }
}

/// Runs steps for at least `secs` (and at least 5 steps); returns steps/s and the mean split.
/// Also prints the CPU time per step (all threads), which other load on the machine
/// disturbs less than the wall-clock rate.
fn measure(t: &mut Trainer, data: &[(Tensor, Tensor)], secs: f64) -> Result<(f64, [f64; 3])> {
    for i in 0..WARMUP {
        let (x, y) = &data[i % data.len()];
        t.step(x, y)?;
    }
    let start = Instant::now();
    let cpu0 = cpu_seconds();
    let mut split = [0f64; 3];
    let mut steps = 0usize;
    while steps < 5 || start.elapsed().as_secs_f64() < secs {
        let (x, y) = &data[steps % data.len()];
        let d = t.step(x, y)?;
        for (s, d) in split.iter_mut().zip(d) {
            *s += d.as_secs_f64();
        }
        steps += 1;
    }
    let el = start.elapsed().as_secs_f64();
    println!("cpu ms/step {:<10} {:.1}", format!("{:?}", t.model.kind), (cpu_seconds() - cpu0) * 1e3 / steps as f64);
    Ok((steps as f64 / el, split.map(|s| s * 1e3 / steps as f64)))
}

/// Median milliseconds of `f` over `reps` runs (after one warm-up).
fn time_ms(reps: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    f()?;
    let mut v = Vec::with_capacity(reps);
    for _ in 0..reps {
        let t = Instant::now();
        f()?;
        v.push(t.elapsed().as_secs_f64() * 1e3);
    }
    Ok(median(&mut v))
}

/// Per-layer forward and backward times at the model's shapes, both implementations.
fn ops(dev: &Device) -> Result<()> {
    println!("\nper-layer times (median ms; backward = backward of sum(y * r), x tracked unless noted)");
    println!("{:<44} {:>10} {:>10}", "op", "candle", "wick");
    let reps = 5;
    let convs = [("conv1 [32,3,64,64]*[32,3,3,3]", 3, 32, 64), ("conv2 [32,32,31,31]*[64,32,3,3]", 32, 64, 31)];
    for (name, c, o, hw) in convs {
        let x = Var::from_tensor(&Tensor::randn(0f32, 1., (BATCH, c, hw, hw), dev)?)?;
        let w = Var::from_tensor(&Tensor::randn(0f32, 0.1, (o, c, 3, 3), dev)?)?;
        let b = Var::from_tensor(&Tensor::randn(0f32, 0.1, o, dev)?)?;
        let cfg = candle_nn::Conv2dConfig::default();
        let candle_f = |x: &Tensor| -> Result<Tensor> {
            x.conv2d(w.as_tensor(), 0, 1, 1, 1)?.broadcast_add(&b.as_tensor().reshape((1, o, 1, 1))?)
        };
        let wick_f = |x: &Tensor| wick_nn::conv2d_op(x, w.as_tensor(), Some(b.as_tensor()), &cfg);
        let r = candle_f(x.as_tensor())?.randn_like(0., 1.)?;
        let fc = time_ms(reps, || candle_f(x.as_tensor()).map(|_| ()))?;
        let fw = time_ms(reps, || wick_f(x.as_tensor()).map(|_| ()))?;
        println!("{:<44} {:>10.1} {:>10.1}", format!("fwd {name}"), fc, fw);
        for (tracked, label) in [(true, "x tracked"), (false, "x untracked")] {
            let xin = if tracked { x.as_tensor().clone() } else { x.as_tensor().detach() };
            let yc = (candle_f(&xin)? * &r)?.sum_all()?;
            let yw = (wick_f(&xin)? * &r)?.sum_all()?;
            let bc = time_ms(reps, || yc.backward().map(|_| ()))?;
            let bw = time_ms(reps, || yw.backward().map(|_| ()))?;
            println!("{:<44} {:>10.1} {:>10.1}", format!("bwd {name} ({label})"), bc, bw);
        }
    }
    let x = Var::from_tensor(&Tensor::randn(0f32, 1., (BATCH, 32, 62, 62), dev)?)?;
    let yc = x.as_tensor().max_pool2d(2)?;
    let r = yc.randn_like(0., 1.)?;
    let fc = time_ms(reps, || x.as_tensor().max_pool2d(2).map(|_| ()))?;
    let fw = time_ms(reps, || wick_nn::max_pool2d(x.as_tensor(), (2, 2), (2, 2)).map(|_| ()))?;
    println!("{:<44} {:>10.1} {:>10.1}", "fwd maxpool1 [32,32,62,62]", fc, fw);
    let lc = (yc * &r)?.sum_all()?;
    let lw = (wick_nn::max_pool2d(x.as_tensor(), (2, 2), (2, 2))? * &r)?.sum_all()?;
    let bc = time_ms(reps, || lc.backward().map(|_| ()))?;
    let bw = time_ms(reps, || lw.backward().map(|_| ()))?;
    println!("{:<44} {:>10.1} {:>10.1}", "bwd maxpool1 [32,32,62,62]", bc, bw);
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let rounds: usize = args.first().and_then(|s| s.parse().ok()).unwrap_or(3);
    let secs: f64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(6.0);
    let with_ops = args.iter().any(|a| a == "ops");
    // `wick-only` skips the candle-nn model (for profiling wick-nn alone).
    let fused_only = args.iter().any(|a| a == "fused-only");
    let wick_only = fused_only || args.iter().any(|a| a == "wick-only");
    // As the examples do; `plain-malloc` keeps glibc's defaults (for the comparison).
    let tuned = !args.iter().any(|a| a == "plain-malloc") && wick_nn::tune_cpu_allocator();
    // As the examples do; `untuned-threads` keeps Candle's environment defaults.
    let tuned_threads = !args.iter().any(|a| a == "untuned-threads");
    if tuned_threads {
        wick_nn::tune_cpu_threads();
    }
    let dev = Device::Cpu;

    let mut data = Vec::new();
    for i in 0..8u32 {
        let x = Tensor::randn(0f32, 1., (BATCH, 3, 64, 64), &dev)?;
        let y: Vec<u32> = (0..BATCH as u32).map(|j| (i * 7 + j * 13) % 3).collect();
        data.push((x, Tensor::new(y.as_slice(), &dev)?));
    }

    println!(
        "CNN train step, batch {BATCH}, {} threads, {rounds} interleaved rounds of >= {secs} s per variant, malloc tuned: {tuned}, threads tuned: {tuned_threads}",
        candle_core::utils::get_num_threads()
    );
    let mut candle = Trainer::new(Kind::Candle, &dev)?;
    let mut wick = Trainer::new(Kind::Wick, &dev)?;
    let mut fused = Trainer::new(Kind::WickFused, &dev)?;
    let (mut sc, mut sw, mut sf) = (Vec::new(), Vec::new(), Vec::new());
    let (mut rw, mut rf) = (Vec::new(), Vec::new());
    let mut splits = [[0f64; 3]; 3];
    for r in 1..=rounds {
        let (c, spc) = if wick_only { (f64::NAN, [f64::NAN; 3]) } else { measure(&mut candle, &data, secs)? };
        let (w, spw) = if fused_only { (f64::NAN, [f64::NAN; 3]) } else { measure(&mut wick, &data, secs)? };
        let (f, spf) = measure(&mut fused, &data, secs)?;
        println!(
            "round {r}: candle-nn {c:6.2} | wick-nn {w:6.2} | wick-nn fused {f:6.2} steps/s | wick/candle {:5.2}x, fused/candle {:5.2}x",
            w / c,
            f / c
        );
        for (acc, sp) in splits.iter_mut().zip([spc, spw, spf]) {
            for i in 0..3 {
                acc[i] += sp[i] / rounds as f64;
            }
        }
        sc.push(c);
        sw.push(w);
        sf.push(f);
        rw.push(w / c);
        rf.push(f / c);
    }
    let (mc, mw, mf) = (median(&mut sc), median(&mut sw), median(&mut sf));
    let (mrw, mrf) = (median(&mut rw), median(&mut rf));
    println!(
        "median steps/s: candle-nn {mc:.2}, wick-nn {mw:.2}, wick-nn fused {mf:.2}; per-round ratio medians: wick/candle {mrw:.2}x, fused/candle {mrf:.2}x"
    );
    for (name, sp) in ["candle-nn", "wick-nn", "wick-nn fused"].iter().zip(splits) {
        println!("mean ms/step {name:<14} fwd+loss {:6.1}  backward {:6.1}  adam {:6.1}", sp[0], sp[1], sp[2]);
    }
    println!("RESULT candle_steps_per_s={mc:.3} wick_steps_per_s={mw:.3} wick_fused_steps_per_s={mf:.3} wick_vs_candle={mrw:.3} fused_vs_candle={mrf:.3}");
    if with_ops {
        ops(&dev)?;
    }
    Ok(())
}
