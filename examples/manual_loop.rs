//! A hand-written Candle training loop (no `Trainer`) driving wick callbacks.
//!
//! wick's callbacks do not need wick's `fit`: any loop that owns a `CallbackList` and
//! calls its hooks in Keras' order gets EarlyStopping, History, checkpoints, TensorBoard…
//! Here a small MLP learns to separate two noisy, overlapping rings; `EarlyStopping` watches
//! `val_loss` and stops the loop through `ctx.state.stop_training`, and `History` keeps
//! every epoch's logs.
//!
//! ```text
//! cargo run --release --example manual_loop
//! ```

use candle_core::{DType, Device, Tensor, D};
use candle_nn::{linear, loss, Module, Optimizer, VarBuilder, VarMap};
use wick::callbacks::{CallbackList, Context, Logs, ModelVars, Params, RunState};
use wick::callbacks::{EarlyStopping, History};
use wick::optim::{rules::AdamRule, OptimizerConfig};

type Error = Box<dyn std::error::Error>;

/// Two rings (class 0 inside, class 1 outside) with a little noise; deterministic.
fn rings(n: usize, seed: u64, device: &Device) -> Result<(Tensor, Tensor), Error> {
    let mut state = seed;
    let mut uniform = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 11) as f32 / (1u64 << 53) as f32
    };
    let (mut xs, mut ys) = (Vec::with_capacity(2 * n), Vec::with_capacity(n));
    for i in 0..n {
        let class = (i % 2) as u32;
        let radius = if class == 0 { 0.5 } else { 1.5 } + 1.2 * (uniform() - 0.5);
        let angle = uniform() * std::f32::consts::TAU;
        xs.extend([radius * angle.cos(), radius * angle.sin()]);
        ys.push(class);
    }
    Ok((Tensor::from_vec(xs, (n, 2), device)?, Tensor::from_vec(ys, n, device)?))
}

struct Mlp {
    hidden: candle_nn::Linear,
    out: candle_nn::Linear,
}

impl Module for Mlp {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.out.forward(&self.hidden.forward(x)?.relu()?)
    }
}

/// Loss and accuracy of `model` on `(x, y)`.
fn loss_and_accuracy(model: &Mlp, x: &Tensor, y: &Tensor) -> Result<(Tensor, f64), Error> {
    let logits = model.forward(x)?;
    let loss = loss::cross_entropy(&logits, y)?;
    let correct = logits.argmax(D::Minus1)?.eq(y)?.to_dtype(DType::F32)?.mean_all()?.to_scalar::<f32>()?;
    Ok((loss, correct as f64))
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {}", wick::data::with_sources(&*e));
        std::process::exit(1);
    }
}

fn run() -> Result<(), Error> {
    let device = Device::Cpu;
    let (x, y) = rings(128, 1, &device)?;
    let (x_val, y_val) = rings(256, 2, &device)?;

    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &device);
    let model = Mlp { hidden: linear(2, 64, vb.pp("hidden"))?, out: linear(64, 2, vb.pp("out"))? };
    let vars = ModelVars::from_varmap(&varmap);
    let mut optimizer =
        wick::optim::Adam::with_names(vars.vars().to_vec(), OptimizerConfig::new(AdamRule::default(), 0.05))?;

    // The callbacks, in Keras' order: the user's, then History.
    let history = History::new();
    let mut callbacks = CallbackList::new();
    callbacks.push(Box::new(EarlyStopping::new().monitor("val_loss").patience(3).restore_best_weights(true)));
    callbacks.push(Box::new(history.clone()));

    let (epochs, batch_size) = (200usize, 32usize);
    let steps = x.dim(0)?.div_ceil(batch_size);
    let params = Params { verbose: 0, epochs, steps: Some(steps) };
    let mut state = RunState::default();
    // A fresh Context per hook: it borrows the run state and the optimizer.
    macro_rules! ctx {
        () => {
            Context::new(&params, &mut state, Some(&vars), Some(&mut optimizer))
        };
    }

    callbacks.on_train_begin(&mut ctx!())?;
    let mut last_logs = Logs::new();
    for epoch in 0..epochs {
        state.epoch = epoch;
        callbacks.on_epoch_begin(epoch, &mut ctx!())?;
        let (mut loss_sum, mut acc_sum, mut seen) = (0.0, 0.0, 0usize);
        for step in 0..steps {
            callbacks.on_train_batch_begin(step, &mut ctx!())?;
            let start = step * batch_size;
            let len = batch_size.min(x.dim(0)? - start);
            let (xb, yb) = (x.narrow(0, start, len)?, y.narrow(0, start, len)?);
            let (loss, acc) = loss_and_accuracy(&model, &xb, &yb)?;
            optimizer.backward_step(&loss)?;
            // Running, sample-weighted means over the epoch, as Keras logs them.
            loss_sum += loss.to_scalar::<f32>()? as f64 * len as f64;
            acc_sum += acc * len as f64;
            seen += len;
            state.global_step += 1;
            let mut logs = Logs::sorted([("loss", loss_sum / seen as f64), ("accuracy", acc_sum / seen as f64)]);
            callbacks.on_train_batch_end(step, &mut logs, &mut ctx!())?;
            if state.stop_training {
                break;
            }
        }
        let mut logs = Logs::sorted([("loss", loss_sum / seen as f64), ("accuracy", acc_sum / seen as f64)]);
        let (val_loss, val_acc) = loss_and_accuracy(&model, &x_val, &y_val)?;
        logs.merge_prefixed(
            "val_",
            &Logs::sorted([("loss", val_loss.to_scalar::<f32>()? as f64), ("accuracy", val_acc)]),
        );
        last_logs = logs.clone();
        callbacks.on_epoch_end(epoch, &mut logs, &mut ctx!())?;
        if state.stop_training {
            break;
        }
    }
    callbacks.on_train_end(&mut last_logs, &mut ctx!())?;

    let epochs_run = history.epoch();
    println!("ran {} of {epochs} epochs (EarlyStopping on val_loss, patience 3)", epochs_run.len());
    for key in history.keys() {
        let values = history.get(&key).unwrap_or_default();
        let shown: Vec<String> = values.iter().map(|v| format!("{v:.3}")).collect();
        println!("{key:>13}: {}", shown.join(" "));
    }
    // restore_best_weights put back the weights of the best val_loss epoch.
    let (val_loss, val_acc) = loss_and_accuracy(&model, &x_val, &y_val)?;
    println!("final val_loss {:.4}, val_accuracy {:.3}", val_loss.to_scalar::<f32>()?, val_acc);
    Ok(())
}
