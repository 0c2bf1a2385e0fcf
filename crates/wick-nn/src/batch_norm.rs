//! [`BatchNorm`]: Keras' `BatchNormalization` over the channel axis of NCHW tensors, with
//! moving statistics that training steps update and inference uses.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use candle_core::{DType, ModuleT, Result, Tensor, Var, D};
use candle_nn::{Init, VarBuilder};

use crate::batch_norm_op::{planes, AffineOp, BatchStats, TrainOp};

/// Keras' `BatchNormalization` arguments (`axis=1` for NCHW).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchNormConfig {
    /// Keras `momentum` (default 0.99): `moving = moving·momentum + batch·(1 − momentum)`.
    /// (PyTorch's `momentum` is `1 −` this.)
    pub momentum: f64,
    /// Keras `epsilon` (default 1e-3), added to the variance.
    pub epsilon: f64,
}

impl Default for BatchNormConfig {
    fn default() -> Self {
        BatchNormConfig { momentum: 0.99, epsilon: 1e-3 }
    }
}

/// Keras' `BatchNormalization(axis=1)` on `(N, C, …)` tensors.
///
/// * Variables (PyTorch's names, so PyTorch checkpoints load as they are): `weight` = γ
///   (Keras `gamma`, ones), `bias` = β (`beta`, zeros), and the **non-trainable**
///   `running_mean` (`moving_mean`, zeros) and `running_var` (`moving_variance`, ones).
///   Give the optimizer only the trainable ones ([`BATCH_NORM_NON_TRAINABLE`] names the others);
///   checkpoints save all four, as Keras saves `model.weights`.
/// * `forward_t(x, true)` — a training step — while the layer is trainable: normalises with
///   the batch's mean and biased variance over N and space,
///   `y = γ·(x − mean)/√(var + ε) + β`, and updates
///   `moving_mean = moving_mean·momentum + mean·(1 − momentum)` (the same for the
///   variance, biased as Keras' `moments` computes it).
/// * Otherwise — inference, or a layer frozen with [`set_trainable(false)`](Self::set_trainable)
///   even inside `fit` (Keras' rule for `trainable = False` since TF 2.0) — it uses the moving
///   statistics and changes nothing: `y = γ·(x − moving_mean)/√(moving_var + ε) + β`.
///
/// [`with_relu6`](Self::with_relu6) fuses a following `ReLU(max_value=6)` (`min(max(y, 0), 6)`,
/// gradient zero outside (0, 6)). On the CPU (f32) each mode is one custom op (forward and
/// backward in two passes over memory); elsewhere it is built from Candle ops.
#[derive(Debug)]
pub struct BatchNorm {
    gamma: Tensor,
    beta: Tensor,
    moving_mean: Var,
    moving_var: Var,
    config: BatchNormConfig,
    relu6: bool,
    trainable: AtomicBool,
}

/// Keras' `BatchNormalization` over `channels` with variables under `vb`; see [`BatchNorm`].
pub fn batch_norm(channels: usize, config: BatchNormConfig, vb: VarBuilder<'_>) -> Result<BatchNorm> {
    let gamma = vb.get_with_hints(channels, "weight", Init::Const(1.0))?;
    let beta = vb.get_with_hints(channels, "bias", Init::Const(0.0))?;
    let moving_mean = Var::from_tensor(&vb.get_with_hints(channels, "running_mean", Init::Const(0.0))?)?;
    let moving_var = Var::from_tensor(&vb.get_with_hints(channels, "running_var", Init::Const(1.0))?)?;
    Ok(BatchNorm { gamma, beta, moving_mean, moving_var, config, relu6: false, trainable: AtomicBool::new(true) })
}

/// The variable names of a [`BatchNorm`] built under a prefix that are not trained by the
/// optimizer: `running_mean` and `running_var`.
pub const BATCH_NORM_NON_TRAINABLE: [&str; 2] = ["running_mean", "running_var"];

impl BatchNorm {
    /// Fuses `ReLU(max_value=6)` after the normalisation.
    pub fn with_relu6(mut self) -> Self {
        self.relu6 = true;
        self
    }

    /// Keras `layer.trainable = …`: a non-trainable layer always runs in inference mode.
    /// (Leaving its γ and β out of the optimizer is the caller's part, as with any frozen
    /// variable.)
    pub fn set_trainable(&self, trainable: bool) {
        self.trainable.store(trainable, Ordering::Relaxed);
    }

    /// Whether the layer is trainable (see [`set_trainable`](Self::set_trainable)).
    pub fn is_trainable(&self) -> bool {
        self.trainable.load(Ordering::Relaxed)
    }

    /// γ (`weight`).
    pub fn gamma(&self) -> &Tensor {
        &self.gamma
    }

    /// β (`bias`).
    pub fn beta(&self) -> &Tensor {
        &self.beta
    }

    /// The moving mean (`running_mean`).
    pub fn moving_mean(&self) -> &Var {
        &self.moving_mean
    }

    /// The moving variance (`running_var`).
    pub fn moving_var(&self) -> &Var {
        &self.moving_var
    }

    fn cpu_fast(&self, x: &Tensor) -> bool {
        x.device().is_cpu() && x.dtype() == DType::F32 && self.gamma.dtype() == DType::F32
    }

    /// `(1, C, 1, …)`: a per-channel vector shaped to broadcast over `x`.
    fn per_channel(v: &Tensor, x: &Tensor) -> Result<Tensor> {
        let mut shape = vec![1usize; x.rank()];
        shape[1] = v.elem_count();
        v.reshape(shape)
    }

    fn activate(&self, y: Tensor) -> Result<Tensor> {
        if self.relu6 {
            y.clamp(0f32, 6f32)
        } else {
            Ok(y)
        }
    }

    fn inference(&self, x: &Tensor) -> Result<Tensor> {
        planes(x.dims())?;
        let inv_std = (self.moving_var.as_tensor().detach() + self.config.epsilon)?.sqrt()?.recip()?;
        let scale = self.gamma.mul(&inv_std)?;
        let shift = (&self.beta - self.moving_mean.as_tensor().detach().mul(&scale)?)?;
        if self.cpu_fast(x) {
            return x.contiguous()?.apply_op3(&scale, &shift, AffineOp { relu6: self.relu6 });
        }
        let x = x.to_dtype(self.gamma.dtype())?;
        let y = x.broadcast_mul(&Self::per_channel(&scale, &x)?)?.broadcast_add(&Self::per_channel(&shift, &x)?)?;
        self.activate(y)
    }

    fn training(&self, x: &Tensor) -> Result<Tensor> {
        let (_, c, _) = planes(x.dims())?;
        let (y, stats) = if self.cpu_fast(x) {
            let stats = Arc::new(Mutex::new(BatchStats::default()));
            let op = TrainOp { epsilon: self.config.epsilon, relu6: self.relu6, stats: Arc::clone(&stats) };
            let y = x.contiguous()?.apply_op3(&self.gamma, &self.beta, op)?;
            let stats = stats.lock().unwrap_or_else(|p| p.into_inner()).clone();
            let dev = self.gamma.device();
            (y, (Tensor::from_vec(stats.mean, c, dev)?, Tensor::from_vec(stats.var, c, dev)?))
        } else {
            let x = x.to_dtype(self.gamma.dtype())?;
            // (C, N·space): one row per channel.
            let rows = x.transpose(0, 1)?.contiguous()?.reshape((c, ()))?;
            let mean = rows.mean_keepdim(D::Minus1)?;
            let var = rows.broadcast_sub(&mean)?.sqr()?.mean_keepdim(D::Minus1)?;
            let inv_std = (&var + self.config.epsilon)?.sqrt()?.recip()?;
            let (mean, var, inv_std) = (mean.flatten_all()?, var.flatten_all()?, inv_std.flatten_all()?);
            let scale = self.gamma.mul(&inv_std)?;
            let shift = (&self.beta - mean.mul(&scale)?)?;
            let y = x.broadcast_mul(&Self::per_channel(&scale, &x)?)?.broadcast_add(&Self::per_channel(&shift, &x)?)?;
            (self.activate(y)?, (mean.detach(), var.detach()))
        };
        let m = self.config.momentum;
        let update = |moving: &Var, batch: &Tensor| -> Result<()> {
            let batch = batch.to_dtype(moving.dtype())?;
            moving.set(&((moving.as_tensor().detach() * m)? + (batch * (1.0 - m))?)?)
        };
        update(&self.moving_mean, &stats.0)?;
        update(&self.moving_var, &stats.1)?;
        Ok(y)
    }
}

impl ModuleT for BatchNorm {
    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        if train && self.is_trainable() {
            self.training(x)
        } else {
            self.inference(x)
        }
    }
}
