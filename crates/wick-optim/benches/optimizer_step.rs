//! One optimizer step for a ~1 M-parameter model: every wick optimizer (Keras defaults)
//! against `candle_nn::SGD` and `candle_nn::AdamW`, measured in the same run.
//!
//! A plain `main` timed with `Instant` (no criterion), on the CPU device.
//!
//! - **Parameters:** four f32 `Var`s shaped like a small MLP, `784×1024`, `1024`,
//!   `1024×200`, `200` (1,008,840 parameters), seeded values.
//! - **Gradients:** fixed, seeded (xorshift, not `Tensor::randn`, which is unseeded). Each
//!   optimizer gets its own copy of the variables and one `GradStore`, built once, outside
//!   the timed loop, from `loss = Σ var · grad` and `backward()`. Every step then reuses it:
//!   candle and wick are both timed through `candle_nn::Optimizer::step(&grads)`. One more
//!   row times wick Adam through `apply_gradients(&[Tensor])`.
//! - **Timing:** warm-up steps, then `rounds` rounds. In each round every optimizer runs
//!   `steps` steps back to back, in turn (interleaved, so that every row sees the same
//!   machine state). Reported: the median over rounds of the time per step, and the
//!   median over rounds of the per-round ratio to each anchor.
//! - **Last line** is machine-readable: `RESULT params=… candle_sgd_ms=… candle_adamw_ms=…
//!   <name>=<ratio vs candle AdamW> …`.
//!
//! ```text
//! cargo bench -p wick-optim --bench optimizer_step
//! cargo bench -p wick-optim --bench optimizer_step -- --steps 50 --rounds 9 --warmup 20
//! ```
//! (or `WICK_BENCH_STEPS` / `WICK_BENCH_ROUNDS` / `WICK_BENCH_WARMUP`).

use std::time::Instant;

use candle_core::backprop::GradStore;
use candle_core::{Device, Result, Tensor, Var};
use candle_nn::Optimizer;
use wick_optim::rules::{
    AdadeltaRule, AdafactorRule, AdagradRule, AdamRule, AdamWRule, AdamaxRule, FtrlRule, LambRule, LionRule, NadamRule,
    RmspropRule, SgdRule,
};
use wick_optim::{KerasOptimizer, OptimizerConfig, UpdateRule};

/// The parameter shapes: a 784 → 1024 → 200 MLP.
const SHAPES: &[&[usize]] = &[&[784, 1024], &[1024], &[1024, 200], &[200]];

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
        // Irwin–Hall with 4 terms: mean 2, variance 1/3.
        let s: f32 = (0..4).map(|_| self.uniform()).sum();
        (s - 2.0) * 3f32.sqrt()
    }
    fn tensor(&mut self, shape: &[usize], scale: f32, dev: &Device) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        let v: Vec<f32> = (0..n).map(|_| self.normalish() * scale).collect();
        Tensor::from_vec(v, shape, dev)
    }
}

/// The fixed data every optimizer starts from: initial values and gradients.
struct Data {
    init: Vec<Tensor>,
    grads: Vec<Tensor>,
}

impl Data {
    fn new(dev: &Device) -> Result<Self> {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut init = Vec::new();
        let mut grads = Vec::new();
        for s in SHAPES {
            init.push(rng.tensor(s, 0.05, dev)?);
            grads.push(rng.tensor(s, 0.01, dev)?);
        }
        Ok(Data { init, grads })
    }

    /// Fresh variables (own storage) and a `GradStore` holding exactly `grads` for them.
    fn vars_and_store(&self) -> Result<(Vec<Var>, GradStore)> {
        let vars = self.init.iter().map(|t| Var::from_tensor(&t.copy()?)).collect::<Result<Vec<_>>>()?;
        let mut loss: Option<Tensor> = None;
        for (v, g) in vars.iter().zip(&self.grads) {
            let term = (v.as_tensor() * g)?.sum_all()?;
            loss = Some(match loss {
                None => term,
                Some(l) => (l + term)?,
            });
        }
        let store = loss.expect("at least one variable").backward()?;
        for (v, g) in vars.iter().zip(&self.grads) {
            let got = store.get(v).expect("every variable has a gradient");
            let diff = (got - g)?.abs()?.max_all()?.to_scalar::<f32>()?;
            assert!(diff == 0.0, "the GradStore must hold the fixed gradient");
        }
        Ok((vars, store))
    }
}

/// One row of the table: a name and a closure that performs one optimizer step.
struct Case {
    name: &'static str,
    step: Box<dyn FnMut() -> Result<()>>,
    /// ms/step in each round.
    samples: Vec<f64>,
}

fn candle_case<O: Optimizer + 'static>(name: &'static str, data: &Data, config: O::Config) -> Result<Case> {
    let (vars, store) = data.vars_and_store()?;
    let mut opt = O::new(vars, config)?;
    Ok(Case { name, step: Box::new(move || opt.step(&store)), samples: Vec::new() })
}

fn wick_case<R: UpdateRule + 'static>(name: &'static str, data: &Data, rule: R, lr: f64) -> Result<Case> {
    candle_case::<KerasOptimizer<R>>(name, data, OptimizerConfig::new(rule, lr))
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
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

fn main() -> Result<()> {
    let steps = arg("steps", "WICK_BENCH_STEPS", 50).max(1);
    let rounds = arg("rounds", "WICK_BENCH_ROUNDS", 5).max(1);
    let warmup = arg("warmup", "WICK_BENCH_WARMUP", 10);
    let dev = Device::Cpu;
    let data = Data::new(&dev)?;
    let params: usize = SHAPES.iter().map(|s| s.iter().product::<usize>()).sum();

    let adamw_params = candle_nn::ParamsAdamW::default();
    let mut cases = vec![
        candle_case::<candle_nn::SGD>("candle_nn::SGD", &data, 0.01)?,
        candle_case::<candle_nn::AdamW>("candle_nn::AdamW", &data, adamw_params)?,
        wick_case("SGD", &data, SgdRule::default(), SgdRule::DEFAULT_LEARNING_RATE)?,
        wick_case(
            "SGD(momentum=0.9)",
            &data,
            SgdRule { momentum: 0.9, ..SgdRule::default() },
            SgdRule::DEFAULT_LEARNING_RATE,
        )?,
        wick_case("Adam", &data, AdamRule::default(), AdamRule::DEFAULT_LEARNING_RATE)?,
        wick_case(
            "Adam(amsgrad)",
            &data,
            AdamRule { amsgrad: true, ..AdamRule::default() },
            AdamRule::DEFAULT_LEARNING_RATE,
        )?,
        wick_case("AdamW", &data, AdamWRule::default(), AdamWRule::DEFAULT_LEARNING_RATE)?,
        wick_case("Adadelta", &data, AdadeltaRule::default(), AdadeltaRule::DEFAULT_LEARNING_RATE)?,
        wick_case("Adagrad", &data, AdagradRule::default(), AdagradRule::DEFAULT_LEARNING_RATE)?,
        wick_case("Adamax", &data, AdamaxRule::default(), AdamaxRule::DEFAULT_LEARNING_RATE)?,
        wick_case("Nadam", &data, NadamRule::default(), NadamRule::DEFAULT_LEARNING_RATE)?,
        wick_case("Ftrl", &data, FtrlRule::default(), FtrlRule::DEFAULT_LEARNING_RATE)?,
        wick_case("RMSprop", &data, RmspropRule::default(), RmspropRule::DEFAULT_LEARNING_RATE)?,
        wick_case("Lion", &data, LionRule::default(), LionRule::DEFAULT_LEARNING_RATE)?,
        wick_case("Lamb", &data, LambRule::default(), LambRule::DEFAULT_LEARNING_RATE)?,
        wick_case("Adafactor", &data, AdafactorRule::default(), AdafactorRule::DEFAULT_LEARNING_RATE)?,
    ];
    // wick Adam fed through `apply_gradients(&[Tensor])` instead of a GradStore.
    {
        let (vars, _) = data.vars_and_store()?;
        let grads = data.grads.clone();
        let config = OptimizerConfig::new(AdamRule::default(), AdamRule::DEFAULT_LEARNING_RATE);
        let mut opt = wick_optim::Adam::new(vars, config)?;
        cases.push(Case {
            name: "Adam(apply_gradients)",
            step: Box::new(move || opt.apply_gradients(&grads).map_err(|e| candle_core::Error::Msg(e.to_string()))),
            samples: Vec::new(),
        });
    }

    eprintln!(
        "optimizer_step: {params} f32 parameters {SHAPES:?}, {} optimizers, warm-up {warmup} \
         steps, {rounds} rounds x {steps} steps, CPU",
        cases.len()
    );
    for c in cases.iter_mut() {
        for _ in 0..warmup {
            (c.step)()?;
        }
    }
    let t_all = Instant::now();
    for r in 0..rounds {
        for c in cases.iter_mut() {
            let t = Instant::now();
            for _ in 0..steps {
                (c.step)()?;
            }
            c.samples.push(t.elapsed().as_secs_f64() * 1e3 / steps as f64);
        }
        eprintln!(
            "round {}/{rounds}: candle SGD {:.3} ms, candle AdamW {:.3} ms, wick Adam {:.3} ms",
            r + 1,
            cases[0].samples[r],
            cases[1].samples[r],
            cases[4].samples[r]
        );
    }
    eprintln!("timed part: {:.1} s", t_all.elapsed().as_secs_f64());

    let sgd_samples = cases[0].samples.clone();
    let adamw_samples = cases[1].samples.clone();
    let ratio = |s: &[f64], anchor: &[f64]| -> (f64, f64, f64) {
        let per: Vec<f64> = s.iter().zip(anchor).map(|(a, b)| a / b).collect();
        let lo = per.iter().cloned().fold(f64::INFINITY, f64::min);
        let hi = per.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        (median(&per), lo, hi)
    };
    println!("{:<24} {:>10} {:>10} {:>11} {:>18}", "optimizer", "ms/step", "vs SGD", "vs AdamW", "vs AdamW min–max");
    let mut result = format!(
        "RESULT params={params} steps={steps} rounds={rounds} candle_sgd_ms={:.4} \
         candle_adamw_ms={:.4}",
        median(&sgd_samples),
        median(&adamw_samples)
    );
    for c in &cases {
        let (rs, _, _) = ratio(&c.samples, &sgd_samples);
        let (ra, lo, hi) = ratio(&c.samples, &adamw_samples);
        println!("{:<24} {:>10.3} {:>9.2}x {:>10.2}x {:>11.2}–{:.2}x", c.name, median(&c.samples), rs, ra, lo, hi);
        if c.name.starts_with("candle_nn::") {
            continue;
        }
        let key: String = c
            .name
            .chars()
            .map(|ch| if ch.is_ascii_alphanumeric() { ch } else { '_' })
            .collect::<String>()
            .trim_end_matches('_')
            .to_string();
        result.push_str(&format!(" {key}={ra:.3}"));
    }
    println!("{result}");
    Ok(())
}
