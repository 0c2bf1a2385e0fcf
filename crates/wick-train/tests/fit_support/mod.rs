//! Shared setup of the `fit_*` tests: a Dense(1) model on 10 samples (batches of 4, 4,
//! 2), a recording callback, helpers.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use candle_core::{Device, Tensor, Var};
use wick_callbacks::{Callback, Context, Logs, ModelVars, Result};
use wick_data::TensorDataset;
use wick_optim::{rules::SgdRule, OptimizerConfig, OptimizerOptions, SGD};
use wick_train::losses::{MeanAbsoluteError, MeanSquaredError, Reduction};
use wick_train::{LossMetric, Shared, Trainer};

pub type Model = candle_nn::FuncT<'static>;

pub const X: [[f32; 2]; 10] = [
    [0.1, 0.2],
    [0.4, -0.3],
    [1.0, 0.5],
    [-0.7, 0.2],
    [0.3, 0.9],
    [0.0, -1.0],
    [0.6, 0.6],
    [-0.2, -0.4],
    [0.8, -0.1],
    [0.5, 0.5],
];
pub const Y: [f32; 10] = [0.3, 0.1, 1.2, -0.5, 0.8, -0.6, 0.9, -0.3, 0.5, 0.6];
pub const X_VAL: [[f32; 2]; 3] = [[0.2, 0.1], [-0.5, 0.5], [0.9, 0.9]];
pub const Y_VAL: [f32; 3] = [0.2, 0.0, 1.1];

/// Every input batch the model saw: (train flag, first feature of each row).
pub type Seen = Arc<Mutex<Vec<(bool, Vec<f32>)>>>;

/// The model's variables and a log of every input batch the model saw, with the
/// `train` flag.
pub struct Setup {
    pub kernel: Var,
    pub bias: Var,
    pub seen: Seen,
}

/// `Dense(1)` with kernel `[0.3, -0.2]`, bias 0.05, `SGD(lr)` (with `options`), loss MSE,
/// metric `mae`.
pub fn trainer_with(lr: f64, options: OptimizerOptions) -> (Trainer<Model, SGD>, Setup) {
    let dev = Device::Cpu;
    let kernel = Var::from_tensor(&Tensor::new(&[[0.3f32], [-0.2]], &dev).unwrap()).unwrap();
    let bias = Var::from_tensor(&Tensor::new(&[0.05f32], &dev).unwrap()).unwrap();
    let seen: Seen = Arc::default();
    let (k, b, s) = (kernel.as_tensor().clone(), bias.as_tensor().clone(), seen.clone());
    let model = candle_nn::func_t(move |x: &Tensor, train: bool| {
        // Record the first feature of each row: it identifies the sample.
        let first = x.narrow(1, 0, 1)?.flatten_all()?.to_vec1::<f32>()?;
        s.lock().unwrap().push((train, first));
        x.matmul(&k)?.broadcast_add(&b)
    });
    let vars = ModelVars::new(vec![("kernel".into(), kernel.clone()), ("bias".into(), bias.clone())]);
    let opt = SGD::with_names(vars.vars().to_vec(), OptimizerConfig::new(SgdRule::default(), lr).with_options(options))
        .unwrap();
    let mae = LossMetric::new("mae", MeanAbsoluteError::new().with_reduction(Reduction::None)).unwrap();
    let trainer = Trainer::new(model, vars, opt, MeanSquaredError::new()).unwrap().with_metric(mae);
    (trainer, Setup { kernel, bias, seen })
}

pub fn trainer(lr: f64) -> (Trainer<Model, SGD>, Setup) {
    trainer_with(lr, OptimizerOptions::default())
}

pub fn train_data() -> TensorDataset {
    let dev = Device::Cpu;
    let x = Tensor::new(&X, &dev).unwrap();
    let y = Tensor::new(&Y, &dev).unwrap().reshape((10, 1)).unwrap();
    TensorDataset::new(x, y).unwrap().with_batch_size(4).unwrap()
}

pub fn val_data() -> TensorDataset {
    let dev = Device::Cpu;
    let x = Tensor::new(&X_VAL, &dev).unwrap();
    let y = Tensor::new(&Y_VAL, &dev).unwrap().reshape((3, 1)).unwrap();
    TensorDataset::new(x, y).unwrap().with_batch_size(2).unwrap()
}

/// One recorded hook call: `"on_epoch_end(0) {loss, mae, val_loss, val_mae}"`.
fn keys(logs: &Logs) -> String {
    format!("{{{}}}", logs.keys().collect::<Vec<_>>().join(", "))
}

/// Records every hook with its index and log keys, and every log by hook.
#[derive(Default)]
pub struct Recorder {
    pub calls: Vec<String>,
    pub logs: Vec<(String, Logs)>,
    /// Optional hook name at which to set `stop_training`, e.g. `"on_train_batch_end(1)"`.
    pub stop_at: Option<String>,
    /// Epochs seen in `ctx.state.epoch` at `on_epoch_begin`, global steps at batch ends.
    pub global_steps: Vec<u64>,
    /// Declares that the batch logs are not needed (`Callback::needs_batch_logs`).
    pub epoch_only: bool,
}

impl Recorder {
    pub fn stopping_at(hook: &str) -> Self {
        Recorder { stop_at: Some(hook.to_string()), ..Default::default() }
    }

    fn push(&mut self, call: String, logs: Option<&Logs>, ctx: &mut Context<'_>) {
        let line = match logs {
            Some(l) => format!("{call} {}", keys(l)),
            None => call.clone(),
        };
        if let Some(l) = logs {
            self.logs.push((call.clone(), l.clone()));
        }
        if self.stop_at.as_deref() == Some(call.as_str()) {
            ctx.stop_training();
        }
        self.calls.push(line);
    }
}

impl Callback for Recorder {
    fn name(&self) -> &str {
        "Recorder"
    }
    fn needs_batch_logs(&self) -> bool {
        !self.epoch_only
    }
    fn on_train_begin(&mut self, ctx: &mut Context<'_>) -> Result<()> {
        self.push("on_train_begin".into(), None, ctx);
        Ok(())
    }
    fn on_train_end(&mut self, logs: &mut Logs, ctx: &mut Context<'_>) -> Result<()> {
        self.push("on_train_end".into(), Some(logs), ctx);
        Ok(())
    }
    fn on_epoch_begin(&mut self, epoch: usize, ctx: &mut Context<'_>) -> Result<()> {
        assert_eq!(ctx.state.epoch, epoch);
        self.push(format!("on_epoch_begin({epoch})"), None, ctx);
        Ok(())
    }
    fn on_epoch_end(&mut self, epoch: usize, logs: &mut Logs, ctx: &mut Context<'_>) -> Result<()> {
        self.push(format!("on_epoch_end({epoch})"), Some(logs), ctx);
        Ok(())
    }
    fn on_train_batch_begin(&mut self, batch: usize, ctx: &mut Context<'_>) -> Result<()> {
        self.push(format!("on_train_batch_begin({batch})"), None, ctx);
        Ok(())
    }
    fn on_train_batch_end(&mut self, batch: usize, logs: &mut Logs, ctx: &mut Context<'_>) -> Result<()> {
        self.global_steps.push(ctx.state.global_step);
        self.push(format!("on_train_batch_end({batch})"), Some(logs), ctx);
        Ok(())
    }
    fn on_test_begin(&mut self, ctx: &mut Context<'_>) -> Result<()> {
        self.push("on_test_begin".into(), None, ctx);
        Ok(())
    }
    fn on_test_end(&mut self, logs: &mut Logs, ctx: &mut Context<'_>) -> Result<()> {
        self.push("on_test_end".into(), Some(logs), ctx);
        Ok(())
    }
    fn on_test_batch_begin(&mut self, batch: usize, ctx: &mut Context<'_>) -> Result<()> {
        self.push(format!("on_test_batch_begin({batch})"), None, ctx);
        Ok(())
    }
    fn on_test_batch_end(&mut self, batch: usize, logs: &mut Logs, ctx: &mut Context<'_>) -> Result<()> {
        self.push(format!("on_test_batch_end({batch})"), Some(logs), ctx);
        Ok(())
    }
    fn on_predict_begin(&mut self, ctx: &mut Context<'_>) -> Result<()> {
        self.push("on_predict_begin".into(), None, ctx);
        Ok(())
    }
    fn on_predict_end(&mut self, ctx: &mut Context<'_>) -> Result<()> {
        self.push("on_predict_end".into(), None, ctx);
        Ok(())
    }
    fn on_predict_batch_begin(&mut self, batch: usize, ctx: &mut Context<'_>) -> Result<()> {
        self.push(format!("on_predict_batch_begin({batch})"), None, ctx);
        Ok(())
    }
    fn on_predict_batch_end(&mut self, batch: usize, outputs: &Tensor, ctx: &mut Context<'_>) -> Result<()> {
        self.push(format!("on_predict_batch_end({batch}) {:?}", outputs.dims()), None, ctx);
        Ok(())
    }
}

pub fn recorder() -> Shared<Recorder> {
    Shared::new(Recorder::default())
}

pub fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * (1.0 + b.abs())
}
