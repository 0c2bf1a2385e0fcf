//! A stand-in training loop for driving callbacks: one scalar model variable, a fake
//! optimizer with a float32 learning rate.
#![allow(dead_code)]

use candle_core::{Device, Tensor, Var};
use std::path::Path;
use wick_callbacks::{Callback, Context, Logs, ModelVars, Params, RunState};
use wick_optim::LrControl;

/// A fake optimizer: a float32 learning rate; `save_state` writes it as text.
pub struct FakeOptimizer {
    pub lr: f32,
}

impl LrControl for FakeOptimizer {
    fn learning_rate(&self) -> f64 {
        self.lr as f64
    }
    fn set_learning_rate(&mut self, lr: f64) {
        self.lr = lr as f32;
    }
    fn iterations(&self) -> u64 {
        0
    }
    fn raw_step(&self) -> u64 {
        0
    }
    fn name(&self) -> &'static str {
        "SGD"
    }
    fn use_ema(&self) -> bool {
        false
    }
    fn loss_scale_factor(&self) -> Option<f64> {
        None
    }
    fn finalize_variable_values(&self) -> wick_optim::Result<()> {
        Ok(())
    }
    fn save_state(&self, path: &Path) -> wick_optim::Result<()> {
        std::fs::write(path, self.lr.to_string())
            .map_err(|e| wick_optim::Error::State { path: path.into(), message: e.to_string() })
    }
    fn load_state(&mut self, _path: &Path) -> wick_optim::Result<()> {
        Ok(())
    }
}

/// Run parameters, state, a one-variable model whose value is set per epoch, an optimizer.
pub struct Harness {
    pub params: Params,
    pub state: RunState,
    pub tag: Var,
    pub model: ModelVars,
    pub opt: FakeOptimizer,
    pub with_model: bool,
    pub with_optimizer: bool,
}

impl Harness {
    pub fn new(epochs: usize, lr: f32) -> Self {
        let tag = Var::from_tensor(&Tensor::new(-1f32, &Device::Cpu).unwrap()).unwrap();
        let model = ModelVars::new(vec![("w".to_string(), tag.clone())]);
        Harness {
            params: Params { verbose: 0, epochs, steps: Some(1) },
            state: RunState::default(),
            tag,
            model,
            opt: FakeOptimizer { lr },
            with_model: true,
            with_optimizer: true,
        }
    }

    pub fn ctx(&mut self) -> Context<'_> {
        let model = self.with_model.then_some(&self.model);
        let opt = if self.with_optimizer { Some(&mut self.opt as &mut dyn LrControl) } else { None };
        Context::new(&self.params, &mut self.state, model, opt)
    }

    pub fn set_tag(&self, v: f32) {
        self.tag.set(&Tensor::new(v, &Device::Cpu).unwrap()).unwrap();
    }

    pub fn tag(&self) -> f32 {
        self.tag.as_tensor().to_scalar::<f32>().unwrap()
    }

    pub fn lr(&self) -> f64 {
        self.opt.lr as f64
    }

    /// Keras' golden `drive`: per epoch, weights = epoch index, `on_epoch_begin`,
    /// `on_epoch_end(e, {key: v, loss: 0})`, stop when asked, then `on_train_end`.
    /// Returns the epochs run and, per epoch, the callback inspected by `probe`.
    pub fn drive<C: Callback, T>(
        &mut self,
        cb: &mut C,
        key: &str,
        seq: &[f64],
        mut probe: impl FnMut(&C, &Harness) -> T,
    ) -> (usize, Vec<T>) {
        cb.on_train_begin(&mut self.ctx()).unwrap();
        let mut seen = Vec::new();
        let mut ran = 0;
        for (e, &v) in seq.iter().enumerate() {
            self.set_tag(e as f32);
            cb.on_epoch_begin(e, &mut self.ctx()).unwrap();
            let mut logs = Logs::sorted([(key, v), ("loss", 0.0)]);
            cb.on_epoch_end(e, &mut logs, &mut self.ctx()).unwrap();
            ran = e + 1;
            seen.push(probe(cb, self));
            if self.state.stop_training {
                break;
            }
        }
        self.set_tag(-1.0);
        cb.on_train_end(&mut Logs::new(), &mut self.ctx()).unwrap();
        (ran, seen)
    }
}

/// Keras' golden sequences.
pub const SEQ_LOSS: [f64; 15] =
    [1.0, 0.8, 0.81, 0.79995, 0.7, 0.71, 0.72, 0.73, 0.69, 0.7, 0.705, 0.71, 0.72, 0.73, 0.74];
pub const SEQ_ACC: [f64; 12] = [0.5, 0.6, 0.6, 0.65, 0.64, 0.63, 0.7, 0.69, 0.68, 0.67, 0.66, 0.65];
