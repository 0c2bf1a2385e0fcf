//! Forward + backward time of wick-nn's depthwise conv at EfficientNet-Lite0's depthwise
//! shapes (batch 16, 128x128 input), against Candle's grouped `conv2d(groups = c)`.
//!
//! ```text
//! cargo run --release -p wick-nn --example bench_depthwise -- [rounds] [seconds] [wick-only] [fwd] [only=<i>]
//! ```
//! One step per shape is `y = depthwise(x, w)` (Keras `padding="same"`, no bias), then the
//! backward pass of `sum(y)` into the input and the weight (both `Var`s, as inside a
//! network): the same work `scripts/bench_depthwise_keras.py` times for Keras'
//! `DepthwiseConv2D`. Each shape warms up with 3 steps, then runs steps for at least
//! `seconds / 11` (and at least 5 steps); its time is the median step. The sum over the 11
//! shapes is one "Lite0 depthwise step". Candle's grouped conv (one conv per channel) is
//! slow, so it runs 2 steps per shape per round, and not at all with `wick-only`. With `fwd`
//! the forward pass alone is timed as well; `only=<i>` runs shape `i` (0-10) alone, for profiling.
//!
//! The last line is machine-readable: `RESULT wick_ms=<median over rounds> candle_ms=<..>`.

use std::time::Instant;

use candle_core::{Device, Result, Tensor, Var};
use wick_nn::{depthwise_conv2d_op, DepthwiseConv2dConfig};

/// `(channels, height = width, kernel, stride)` at batch 16.
const SHAPES: [(usize, usize, usize, usize); 11] = [
    (32, 64, 3, 1),
    (96, 64, 3, 2),
    (144, 32, 3, 1),
    (144, 32, 5, 2),
    (240, 16, 5, 1),
    (240, 16, 3, 2),
    (480, 8, 3, 1),
    (480, 8, 5, 1),
    (672, 8, 5, 2),
    (1152, 4, 5, 1),
    (1152, 4, 3, 1),
];
const BATCH: usize = 16;

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

/// The inputs of one shape: `x` `[16, c, hw, hw]` and `w` `[c, 1, k, k]`, both tracked.
struct Case {
    c: usize,
    hw: usize,
    k: usize,
    s: usize,
    x: Var,
    w: Var,
}

impl Case {
    fn new(&(c, hw, k, s): &(usize, usize, usize, usize), dev: &Device) -> Result<Self> {
        let x = Var::from_tensor(&Tensor::randn(0f32, 1., (BATCH, c, hw, hw), dev)?)?;
        let w = Var::from_tensor(&Tensor::randn(0f32, 0.3, (c, 1, k, k), dev)?)?;
        Ok(Self { c, hw, k, s, x, w })
    }

    fn label(&self) -> String {
        format!("[{BATCH},{},{},{}] k{} s{}", self.c, self.hw, self.hw, self.k, self.s)
    }

    fn wick(&self) -> Result<Tensor> {
        depthwise_conv2d_op(self.x.as_tensor(), self.w.as_tensor(), None, &DepthwiseConv2dConfig::same(self.s))
    }

    /// Candle's grouped conv on the input padded as Keras' `"same"` pads it.
    fn candle(&self) -> Result<Tensor> {
        let [pt, pb, pl, pr] = wick_nn::DepthwisePadding::Same.resolve(self.hw, self.hw, self.k, self.k, self.s);
        let xp = self.x.as_tensor().pad_with_zeros(2, pt, pb)?.pad_with_zeros(3, pl, pr)?;
        xp.conv2d(self.w.as_tensor(), 0, self.s, 1, self.c)
    }

    /// One forward + backward step of `f`; checks both gradients exist.
    fn step(&self, f: impl Fn(&Self) -> Result<Tensor>) -> Result<()> {
        let grads = f(self)?.sum_all()?.backward()?;
        if grads.get(self.x.as_tensor()).is_none() || grads.get(self.w.as_tensor()).is_none() {
            candle_core::bail!("bench: a gradient is missing for {}", self.label())
        }
        Ok(())
    }
}

/// Median ms of `f` over steps run for at least `secs` (at least `min` steps, after `warm`).
fn time_ms(secs: f64, warm: usize, min: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    for _ in 0..warm {
        f()?;
    }
    let start = Instant::now();
    let mut v = Vec::new();
    while v.len() < min || start.elapsed().as_secs_f64() < secs {
        let t = Instant::now();
        f()?;
        v.push(t.elapsed().as_secs_f64() * 1e3);
    }
    Ok(median(&mut v))
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let rounds: usize = args.first().and_then(|s| s.parse().ok()).unwrap_or(3);
    let secs: f64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(5.0);
    let wick_only = args.iter().any(|a| a == "wick-only");
    let fwd = args.iter().any(|a| a == "fwd");
    let only: Option<usize> = args.iter().find_map(|a| a.strip_prefix("only=")?.parse().ok());
    // As a training program would: Candle stops re-reading /proc/cpuinfo per op, and freed
    // memory stays with the allocator.
    wick_nn::tune_cpu_threads();
    let tuned = wick_nn::tune_cpu_allocator();
    let dev = Device::Cpu;
    let shapes = SHAPES.iter().enumerate().filter(|(i, _)| only.is_none_or(|o| o == *i)).map(|(_, s)| s);
    let cases = shapes.map(|s| Case::new(s, &dev)).collect::<Result<Vec<_>>>()?;
    println!(
        "depthwise fwd+bwd (x and w tracked), batch {BATCH}, {} threads, allocator tuned: {tuned}",
        candle_core::utils::get_num_threads()
    );
    let per = secs / cases.len() as f64;
    let (mut tw, mut tc) = (Vec::new(), Vec::new());
    for r in 1..=rounds {
        println!(
            "round {r}: {:<26} {:>10} {:>12}{}",
            "shape",
            "wick ms",
            "candle ms",
            if fwd { "   wick fwd ms" } else { "" }
        );
        let (mut sw, mut sc) = (0f64, 0f64);
        for case in &cases {
            let w = time_ms(per, 3, 5, || case.step(Case::wick))?;
            let c = if wick_only { f64::NAN } else { time_ms(0.0, 1, 2, || case.step(Case::candle))? };
            let f = if fwd { Some(time_ms(per / 2.0, 3, 5, || case.wick().map(drop))?) } else { None };
            sw += w;
            sc += c;
            let f = f.map_or(String::new(), |f| format!(" {f:>14.3}"));
            println!("         {:<26} {w:>10.3} {c:>12.1}{f}", case.label());
        }
        println!(
            "round {r}: Lite0 depthwise step: wick {sw:.2} ms, candle grouped conv2d {sc:.1} ms ({:.1}x)",
            sc / sw
        );
        tw.push(sw);
        tc.push(sc);
    }
    let (mw, mc) = (median(&mut tw), median(&mut tc));
    println!("RESULT wick_ms={mw:.3} candle_ms={mc:.3}");
    Ok(())
}
