//! The demo CNN, shared by `examples/train.rs`, `examples/evaluate.rs` and
//! `examples/finetune.rs`.
//!
//! ```text
//! input  f32 [N, C, H, W], raw pixels 0..=255
//! standardise per image (or × 1/255)        (scaling is the model's job; see InputScaling)
//! conv1   Conv2d C → 32, 3×3, valid  + ReLU + MaxPool 2×2   (one wick-nn op)
//! conv2   Conv2d 32 → 64, 3×3, valid + ReLU + MaxPool 2×2   (one wick-nn op)
//! flatten
//! fc1     Linear → 128 + ReLU (+ dropout while training)
//! fc2     Linear → num_classes            (logits: use a loss with from_logits)
//! ```
//!
//! Under a mixed precision policy ([`Cnn::with_policy`]) the input scaling runs in f32 and
//! every layer from `conv1` on computes in the policy's compute dtype (bf16 / f16, logits
//! included); the variables stay f32.
//!
//! Variable names (what checkpoints hold): `conv1.weight`, `conv1.bias`, `conv2.weight`,
//! `conv2.bias`, `fc1.weight`, `fc1.bias`, `fc2.weight`, `fc2.bias`, with candle-nn's
//! shapes (conv `[out, in, k, k]`, linear `[out, in]`). Any layer implementation with the
//! same names and shapes can load the same checkpoints.

use candle_core::{Result, Tensor};
use candle_nn::{Module, ModuleT, VarBuilder};
use serde::{Deserialize, Serialize};
use wick_nn::{Conv2d, Conv2dConfig, DTypePolicy, Linear, MaxPool2d};

/// The architecture's parameters; saved as JSON beside every checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CnnConfig {
    /// Input height (pixels).
    pub height: usize,
    /// Input width (pixels).
    pub width: usize,
    /// Input channels (3 for RGB).
    pub channels: usize,
    /// Output classes.
    pub num_classes: usize,
    /// Filters of the first convolution.
    pub conv1_filters: usize,
    /// Filters of the second convolution.
    pub conv2_filters: usize,
    /// Kernel size of both convolutions (square, stride 1, no padding).
    pub kernel_size: usize,
    /// Units of the hidden dense layer.
    pub dense_units: usize,
    /// Dropout rate before the last layer, while training (0 disables it).
    pub dropout: f32,
    /// How the raw `0..=255` pixels are brought to the network's scale.
    pub input: InputScaling,
    /// How the last feature map becomes a vector for `fc1`.
    pub pooling: Pooling,
}

/// From the last feature map `[N, F, h, w]` to `fc1`'s input (`train --pooling`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Pooling {
    /// Keras' `Flatten`: `F·h·w` values; every position has its own weights.
    Flatten,
    /// Keras' `GlobalMaxPooling2D`: the strongest response of each filter anywhere, `F`
    /// values; translation invariant, so far fewer images teach it a shape.
    #[default]
    GlobalMax,
}

/// The model's first operation on raw `0..=255` pixels (wick-data does not rescale, as
/// Keras does not: it is the model's job, so a saved model works on raw images).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputScaling {
    /// Keras' `Rescaling(1/255)`: values in `[0, 1]`.
    Rescale,
    /// `tf.image.per_image_standardization`: each image to mean 0 and variance 1
    /// (`(x − mean) / max(std, 1/√n)` over all its values). Colour and brightness of a
    /// whole image no longer matter, which the shapes dataset (random colours over random
    /// backgrounds) learns several times faster with.
    #[default]
    Standardize,
}

impl CnnConfig {
    /// The demo architecture for `size × size` RGB images and `num_classes` classes:
    /// 32 and 64 filters of 3×3, 128 hidden units, no dropout (candle's dropout is not
    /// seedable, and augmentation regularises enough here).
    pub fn new(size: usize, num_classes: usize) -> Self {
        CnnConfig {
            height: size,
            width: size,
            channels: 3,
            num_classes,
            conv1_filters: 32,
            conv2_filters: 64,
            kernel_size: 3,
            dense_units: 128,
            dropout: 0.0,
            input: InputScaling::Standardize,
            pooling: Pooling::GlobalMax,
        }
    }

    /// Spatial size after conv + 2×2 pool, twice.
    fn feature_hw(&self) -> (usize, usize) {
        let stage = |x: usize| x.saturating_sub(self.kernel_size - 1) / 2;
        (stage(stage(self.height)), stage(stage(self.width)))
    }

    /// Inputs flattened into `fc1`.
    pub fn flat_features(&self) -> usize {
        let (h, w) = self.feature_hw();
        match self.pooling {
            Pooling::Flatten => h * w * self.conv2_filters,
            Pooling::GlobalMax => self.conv2_filters,
        }
    }

    /// Checks that every layer has a non-empty output.
    pub fn validate(&self) -> Result<()> {
        let (h, w) = self.feature_hw();
        if self.kernel_size == 0 || h == 0 || w == 0 {
            candle_core::bail!(
                "CnnConfig: a {}x{} input is too small for two {k}x{k} convolutions with 2x2 pooling",
                self.height,
                self.width,
                k = self.kernel_size
            );
        }
        if self.channels == 0
            || self.num_classes == 0
            || self.conv1_filters == 0
            || self.conv2_filters == 0
            || self.dense_units == 0
        {
            candle_core::bail!("CnnConfig: channels, classes, filters and units must be positive: {self:?}");
        }
        if !(0.0..1.0).contains(&self.dropout) {
            candle_core::bail!("CnnConfig: dropout must be in [0, 1); got {}", self.dropout);
        }
        Ok(())
    }
}

/// The model: see the module docs.
#[derive(Debug, Clone)]
pub struct Cnn {
    /// Conv 3×3 + ReLU + 2×2 max pool.
    pub conv1: Conv2d,
    /// Conv 3×3 + ReLU + 2×2 max pool.
    pub conv2: Conv2d,
    /// The hidden dense layer (ReLU).
    pub fc1: Linear,
    /// The classifier: one logit per class.
    pub fc2: Linear,
    /// Dropout rate before `fc2`, while training.
    pub dropout: f32,
    /// The first operation on the raw pixels.
    pub input: InputScaling,
    /// From the last feature map to `fc1`.
    pub pooling: Pooling,
    /// The dtype policy the layers run under (`None`: their variables' dtype).
    pub policy: Option<DTypePolicy>,
}

impl Cnn {
    /// The same model with every layer under `policy` (Keras' `dtype=policy` on each
    /// layer, or `keras.config.set_dtype_policy` before building): the convolutions and
    /// dense layers cast their input and f32 variables to `policy.compute_dtype()`, so the
    /// logits come out in it; the input scaling stays in f32.
    pub fn with_policy(self, policy: DTypePolicy) -> Self {
        Cnn {
            conv1: self.conv1.with_policy(policy),
            conv2: self.conv2.with_policy(policy),
            fc1: self.fc1.with_policy(policy),
            fc2: self.fc2.with_policy(policy),
            policy: Some(policy),
            ..self
        }
    }
}

/// Builds the CNN with its variables under `vb` (names in the module docs).
pub fn build_cnn(vb: VarBuilder<'_>, config: &CnnConfig) -> Result<Cnn> {
    config.validate()?;
    let conv = Conv2dConfig::default();
    let k = config.kernel_size;
    // Conv + ReLU + 2×2 max pool as one wick-nn op each: the same variables as
    // candle-nn's Conv2d, a CPU backward on gemm (see the wick-nn crate docs).
    let block = |c_in, c_out, vb| -> Result<Conv2d> {
        Ok(wick_nn::conv2d(c_in, c_out, k, conv, vb)?.with_relu().with_max_pool(MaxPool2d::new(2)))
    };
    Ok(Cnn {
        conv1: block(config.channels, config.conv1_filters, vb.pp("conv1"))?,
        conv2: block(config.conv1_filters, config.conv2_filters, vb.pp("conv2"))?,
        fc1: wick_nn::linear(config.flat_features(), config.dense_units, vb.pp("fc1"))?,
        fc2: wick_nn::linear(config.dense_units, config.num_classes, vb.pp("fc2"))?,
        dropout: config.dropout,
        input: config.input,
        pooling: config.pooling,
        policy: None,
    })
}

impl ModuleT for Cnn {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        let xs = match self.input {
            InputScaling::Rescale => (xs * (1.0 / 255.0))?,
            InputScaling::Standardize => {
                let n = xs.dims()[1..].iter().product::<usize>();
                let flat = xs.flatten_from(1)?;
                let centred = flat.broadcast_sub(&flat.mean_keepdim(1)?)?;
                let std = centred.sqr()?.mean_keepdim(1)?.sqrt()?.maximum(1.0 / (n as f64).sqrt())?;
                centred.broadcast_div(&std)?.reshape(xs.shape())?
            }
        };
        let xs = self.conv2.forward(&self.conv1.forward(&xs)?)?;
        let xs = match self.pooling {
            Pooling::Flatten => xs.flatten_from(1)?,
            // One window over the whole plane: wick-nn's max pool sends each gradient to the
            // first maximum only (Candle's `max` reduction sends it to every tie, which bf16's
            // coarse values make common).
            Pooling::GlobalMax => {
                let (_, _, h, w) = xs.dims4()?;
                wick_nn::max_pool2d(&xs, (h, w), (h, w))?.flatten_from(1)?
            }
        };
        let xs = self.fc1.forward(&xs)?.relu()?;
        let xs = if train && self.dropout > 0.0 { candle_nn::ops::dropout(&xs, self.dropout)? } else { xs };
        self.fc2.forward(&xs)
    }
}

/// Re-draws every variable from `seed` with Keras' initialisers (candle's own are not
/// seedable on the CPU): weights Glorot-uniform, `U(−l, l)` with
/// `l = √(6 / (fan_in + fan_out))` (for a conv kernel `[out, in, k, k]`:
/// `fan_in = in·k·k`, `fan_out = out·k·k`); biases zero. Each variable has its own
/// stream, derived from the seed and its name, so the result does not depend on order.
pub fn init_seeded(vars: &[(String, candle_core::Var)], seed: u64) -> Result<()> {
    for (name, var) in vars {
        let dims = var.dims();
        let values: Vec<f32> = if name.ends_with(".bias") || dims.len() < 2 {
            vec![0.0; var.elem_count()]
        } else {
            let receptive: usize = dims[2..].iter().product();
            let (fan_in, fan_out) = ((dims[1] * receptive) as f64, (dims[0] * receptive) as f64);
            let limit = (6.0 / (fan_in + fan_out)).sqrt();
            let mut rng = SplitMix64(
                seed ^ name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3)),
            );
            (0..var.elem_count()).map(|_| ((rng.uniform() * 2.0 - 1.0) * limit) as f32).collect()
        };
        var.set(&Tensor::from_vec(values, var.shape(), var.device())?.to_dtype(var.dtype())?)?;
    }
    Ok(())
}

/// SplitMix64 with uniform draws; enough for initialisation.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}
