//! A user-written callback with `Trainer::fit`: `LossPerBatch`, the Keras guide's
//! `LossHistory`, records the loss after every training batch. (wick has a built-in
//! `wick::callbacks::BatchLossHistory`; this is how you would write one yourself.)
//!
//! `fit` takes its callbacks by value, so the callback is wrapped in `wick::train::Shared`
//! and a handle is kept to read the losses afterwards.
//!
//! ```text
//! cargo run --release --example custom_callback
//! ```

use candle_core::{DType, Device, Tensor};
use candle_nn::{linear, ModuleT, VarBuilder, VarMap};
use wick::callbacks::{Callback, Context, Logs, ModelVars};
use wick::data::{with_sources, TensorDataset};
use wick::optim::{rules::SgdRule, OptimizerConfig, SGD};
use wick::train::losses::BinaryCrossentropy;
use wick::train::metrics::BinaryAccuracy;
use wick::train::{FitOptions, Shared, Trainer};

type Error = Box<dyn std::error::Error>;

/// Records `logs["loss"]` at the end of every training batch (the running mean over the
/// epoch so far, as Keras logs it).
#[derive(Default)]
struct LossPerBatch {
    losses: Vec<f64>,
}

impl Callback for LossPerBatch {
    fn name(&self) -> &str {
        "LossPerBatch"
    }

    fn on_train_begin(&mut self, _ctx: &mut Context<'_>) -> wick::callbacks::Result<()> {
        self.losses.clear();
        Ok(())
    }

    fn on_train_batch_end(
        &mut self,
        _batch: usize,
        logs: &mut Logs,
        _ctx: &mut Context<'_>,
    ) -> wick::callbacks::Result<()> {
        self.losses.extend(logs.get("loss"));
        Ok(())
    }
}

/// Points above the line `x1 = 0.5·x0` are class 1; deterministic.
fn data(n: usize, device: &Device) -> Result<(Tensor, Tensor), Error> {
    let mut state = 42u64;
    let mut uniform = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 11) as f32 / (1u64 << 53) as f32 * 2.0 - 1.0
    };
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let (a, b) = (uniform(), uniform());
        xs.extend([a, b]);
        ys.push(if b > 0.5 * a { 1f32 } else { 0.0 });
    }
    Ok((Tensor::from_vec(xs, (n, 2), device)?, Tensor::from_vec(ys, (n, 1), device)?))
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {}", with_sources(&*e));
        std::process::exit(1);
    }
}

fn run() -> Result<(), Error> {
    let device = Device::Cpu;
    let (x, y) = data(256, &device)?;

    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &device);
    let layer = linear(2, 1, vb.pp("dense"))?;
    // Dense(1, activation="sigmoid").
    let model = candle_nn::func_t(move |x: &Tensor, train: bool| candle_nn::ops::sigmoid(&layer.forward_t(x, train)?));
    let vars = ModelVars::from_varmap(&varmap);
    let optimizer = SGD::with_names(vars.vars().to_vec(), OptimizerConfig::new(SgdRule::default(), 1.0))?;
    let mut trainer = Trainer::new(model, vars, optimizer, BinaryCrossentropy::new())?
        .with_metric(BinaryAccuracy::new().with_name("accuracy"));

    let losses = Shared::new(LossPerBatch::default());
    let mut train = TensorDataset::new(x, y)?.with_batch_size(64)?.with_seed(1);
    let history = trainer
        .fit(&mut train, FitOptions { epochs: 4, verbose: 2, callbacks: vec![losses.boxed()], ..Default::default() })?;

    let fmt = |v: &[f64]| v.iter().map(|x| format!("{x:.4}")).collect::<Vec<_>>().join(", ");
    let recorded = losses.borrow();
    println!("per-batch loss ({}): [{}]", recorded.losses.len(), fmt(&recorded.losses));
    println!("epoch loss from History: [{}]", fmt(&history.get("loss").unwrap_or_default()));
    Ok(())
}
