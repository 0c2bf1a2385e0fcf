//! A user-written callback with `Trainer::fit`: `BatchLossHistory` (the Keras guide's
//! example) records the loss and accuracy after every training batch.
//!
//! `fit` takes its callbacks by value, so the callback is wrapped in `wick::train::Shared`
//! and a handle is kept to read the lists afterwards.
//!
//! ```text
//! cargo run --release --example custom_callback
//! ```

use candle_core::{DType, Device, Tensor};
use candle_nn::{linear, ModuleT, VarBuilder, VarMap};
use wick::callbacks::{Callback, Context, Logs, ModelVars};
use wick::optim::{rules::SgdRule, OptimizerConfig, SGD};
use wick::train::losses::BinaryCrossentropy;
use wick::train::metrics::BinaryAccuracy;
use wick::data::TensorDataset;
use wick::train::{FitOptions, Shared, Trainer};

type Error = Box<dyn std::error::Error>;

/// Records `logs["loss"]` and `logs["accuracy"]` at the end of every training batch
/// (running means over the epoch so far, as Keras logs them).
#[derive(Default)]
struct BatchLossHistory {
    losses: Vec<f64>,
    accuracies: Vec<f64>,
}

impl Callback for BatchLossHistory {
    fn name(&self) -> &str {
        "BatchLossHistory"
    }

    fn on_train_begin(&mut self, _ctx: &mut Context<'_>) -> wick::callbacks::Result<()> {
        self.losses.clear();
        self.accuracies.clear();
        Ok(())
    }

    fn on_train_batch_end(&mut self, _batch: usize, logs: &mut Logs, _ctx: &mut Context<'_>) -> wick::callbacks::Result<()> {
        self.losses.extend(logs.get("loss"));
        self.accuracies.extend(logs.get("accuracy"));
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

fn main() -> Result<(), Error> {
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

    let recorder = Shared::new(BatchLossHistory::default());
    let mut train = TensorDataset::new(x, y)?.with_batch_size(64)?.with_seed(1);
    let history = trainer.fit(
        &mut train,
        FitOptions { epochs: 4, verbose: 2, callbacks: vec![recorder.boxed()], ..Default::default() },
    )?;

    let rec = recorder.borrow();
    let fmt = |v: &[f64]| v.iter().map(|x| format!("{x:.4}")).collect::<Vec<_>>().join(", ");
    println!("per-batch loss     ({}): [{}]", rec.losses.len(), fmt(&rec.losses));
    println!("per-batch accuracy ({}): [{}]", rec.accuracies.len(), fmt(&rec.accuracies));
    println!("epoch loss from History: [{}]", fmt(&history.get("loss").unwrap_or_default()));
    Ok(())
}
