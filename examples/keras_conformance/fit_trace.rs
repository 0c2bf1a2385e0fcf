//! Section `fit_trace`: a whole `model.fit()` of `Dense(1)` with `SGD(0.1)`, loss `mse`
//! and metric `mae`, batch size 4, 2 epochs, `shuffle=False`, with validation data,
//! driven through the real `wick_train::Trainer::fit` with a callback that records every
//! batch's and epoch's logs (the golden generator's `Rec` callback).

use candle_core::{Tensor, Var};
use serde_json::{json, Map, Value};
use wick::callbacks::{Callback, Context, Logs, ModelVars};
use wick::data::TensorDataset;
use wick::optim::{rules::SgdRule, OptimizerConfig, SGD};
use wick::train::losses::{MeanAbsoluteError, MeanSquaredError, Reduction};
use wick::train::{FitOptions, LossMetric, Shared, Trainer};

use crate::json::nested;

/// Mirror of `golden["fit_trace"]`: `batch_logs`, `epoch_logs`, `final_kernel`,
/// `final_bias`; an empty object (every case missing) when the fit cannot run.
pub fn run(golden: &Value) -> Value {
    match fit_trace(&golden["fit_trace"]) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("fit_trace: {e}");
            Value::Object(Map::new())
        }
    }
}

/// Records what Keras' `Rec` callback records.
#[derive(Default)]
struct Recorder {
    batch_logs: Vec<Value>,
    epoch_logs: Vec<Value>,
}

fn entry(index_key: &str, index: usize, logs: &Logs) -> Value {
    let mut m = Map::new();
    m.insert(index_key.to_string(), json!(index));
    for (k, v) in logs.iter() {
        m.insert(k.to_string(), json!(v));
    }
    Value::Object(m)
}

impl Callback for Recorder {
    fn name(&self) -> &str {
        "Rec"
    }
    fn on_train_batch_end(
        &mut self,
        batch: usize,
        logs: &mut Logs,
        _ctx: &mut Context<'_>,
    ) -> wick::callbacks::Result<()> {
        self.batch_logs.push(entry("batch", batch, logs));
        Ok(())
    }
    fn on_epoch_end(&mut self, epoch: usize, logs: &mut Logs, _ctx: &mut Context<'_>) -> wick::callbacks::Result<()> {
        self.epoch_logs.push(entry("epoch", epoch, logs));
        Ok(())
    }
}

fn tensor(v: &Value, name: &str) -> Result<Tensor, String> {
    let (shape, data) = nested(v).map_err(|e| format!("{name}: {e}"))?;
    Tensor::from_vec(data, shape, crate::device::device()).map_err(|e| format!("{name}: {e}"))
}

fn to_json(t: &Tensor) -> Result<Value, String> {
    let err = |e: candle_core::Error| e.to_string();
    Ok(match t.rank() {
        1 => json!(t.to_vec1::<f32>().map_err(err)?),
        2 => json!(t.to_vec2::<f32>().map_err(err)?),
        r => return Err(format!("unexpected rank {r}")),
    })
}

fn fit_trace(g: &Value) -> Result<Value, String> {
    let e = |e: &dyn std::fmt::Display| e.to_string();
    let x = tensor(&g["x"], "x")?;
    let y = tensor(&g["y"], "y")?;
    let x_val = tensor(&g["x_val"], "x_val")?;
    let y_val = tensor(&g["y_val"], "y_val")?;
    let kernel = Var::from_tensor(&tensor(&g["initial_kernel"], "initial_kernel")?).map_err(|x| e(&x))?;
    let bias = Var::from_tensor(&tensor(&g["initial_bias"], "initial_bias")?).map_err(|x| e(&x))?;

    // keras.layers.Dense(1): y = x·kernel + bias.
    let (k, b) = (kernel.as_tensor().clone(), bias.as_tensor().clone());
    let model = candle_nn::func_t(move |x: &Tensor, _train: bool| x.matmul(&k)?.broadcast_add(&b));
    let vars = ModelVars::new(vec![("kernel".into(), kernel.clone()), ("bias".into(), bias.clone())]);
    let optimizer =
        SGD::with_names(vars.vars().to_vec(), OptimizerConfig::new(SgdRule::default(), 0.1)).map_err(|x| e(&x))?;
    let mae = LossMetric::new("mae", MeanAbsoluteError::new().with_reduction(Reduction::None)).map_err(|x| e(&x))?;
    let mut trainer =
        Trainer::new(model, vars, optimizer, MeanSquaredError::new()).map_err(|x| e(&x))?.with_metric(mae);

    let mut train = TensorDataset::new(x, y).and_then(|d| d.with_batch_size(4)).map_err(|x| e(&x))?;
    let mut val = TensorDataset::new(x_val, y_val).and_then(|d| d.with_batch_size(4)).map_err(|x| e(&x))?;
    let recorder = Shared::new(Recorder::default());
    trainer
        .fit(
            &mut train,
            FitOptions {
                epochs: 2,
                shuffle: false,
                verbose: 0,
                validation_data: Some(&mut val),
                callbacks: vec![recorder.boxed()],
                ..Default::default()
            },
        )
        .map_err(|x| e(&x))?;

    let rec = recorder.borrow();
    Ok(json!({
        "batch_logs": rec.batch_logs,
        "epoch_logs": rec.epoch_logs,
        "final_kernel": to_json(kernel.as_tensor())?,
        "final_bias": to_json(bias.as_tensor())?,
    }))
}
