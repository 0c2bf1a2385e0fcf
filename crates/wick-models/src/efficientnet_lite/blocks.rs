//! EfficientNet-Lite0's block table and its MBConv block (inverted residual with a depthwise
//! convolution, no squeeze-and-excitation, ReLU6).

use candle_core::{ModuleT, Result, Tensor};
use candle_nn::VarBuilder;
use wick_nn::{
    batch_norm, conv2d_no_bias, depthwise_conv2d_no_bias, BatchNorm, BatchNormConfig, Conv2d, Conv2dConfig,
    DepthwiseConv2d, DepthwiseConv2dConfig,
};

/// One row of the EfficientNet-Lite0 table (`efficientnet_lite_builder.py`): `repeats`
/// blocks, the first with `stride` and `in_channels`, the rest stride 1 from `out_channels`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StageSpec {
    /// Blocks in the stage.
    pub repeats: usize,
    /// Depthwise kernel (3 or 5).
    pub kernel: usize,
    /// Stride of the stage's first block.
    pub stride: usize,
    /// Expansion ratio of the inverted bottleneck (1: no expansion conv).
    pub expand: usize,
    /// Channels into the stage.
    pub in_channels: usize,
    /// Channels out of every block.
    pub out_channels: usize,
}

const fn stage(repeats: usize, kernel: usize, stride: usize, expand: usize, i: usize, o: usize) -> StageSpec {
    StageSpec { repeats, kernel, stride, expand, in_channels: i, out_channels: o }
}

/// EfficientNet-Lite0 (width and depth multipliers 1.0; stem and head fixed at 32 and 1280
/// channels): 16 blocks in 7 stages.
pub const LITE0_STAGES: [StageSpec; 7] = [
    stage(1, 3, 1, 1, 32, 16),
    stage(2, 3, 2, 6, 16, 24),
    stage(2, 5, 2, 6, 24, 40),
    stage(3, 3, 2, 6, 40, 80),
    stage(3, 5, 1, 6, 80, 112),
    stage(4, 5, 2, 6, 112, 192),
    stage(1, 3, 1, 6, 192, 320),
];

/// One block's geometry, after the stage table is unrolled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockSpec {
    /// Depthwise kernel.
    pub kernel: usize,
    /// Depthwise stride.
    pub stride: usize,
    /// Expansion ratio.
    pub expand: usize,
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
}

impl BlockSpec {
    /// Channels inside the block (after expansion).
    pub fn hidden(&self) -> usize {
        self.in_channels * self.expand
    }

    /// Whether the input is added to the output (stride 1, same channels).
    pub fn residual(&self) -> bool {
        self.stride == 1 && self.in_channels == self.out_channels
    }
}

/// The 16 blocks of [`LITE0_STAGES`], in order.
pub fn lite0_blocks() -> Vec<BlockSpec> {
    let mut blocks = Vec::new();
    for s in LITE0_STAGES {
        for r in 0..s.repeats {
            let (stride, in_channels) = if r == 0 { (s.stride, s.in_channels) } else { (1, s.out_channels) };
            blocks.push(BlockSpec {
                kernel: s.kernel,
                stride,
                expand: s.expand,
                in_channels,
                out_channels: s.out_channels,
            });
        }
    }
    blocks
}

/// The mobile inverted bottleneck: [1×1 expand conv, BN, ReLU6] (when `expand > 1`),
/// depthwise conv ("same" padding), BN, ReLU6, 1×1 project conv, BN, and the residual when
/// the shapes allow. Variable names as the PyTorch checkpoint's: `_expand_conv`, `_bn0`,
/// `_depthwise_conv`, `_bn1`, `_project_conv`, `_bn2`.
#[derive(Debug)]
pub struct MbConv {
    spec: BlockSpec,
    expand: Option<(Conv2d, BatchNorm)>,
    depthwise: DepthwiseConv2d,
    depthwise_bn: BatchNorm,
    project: Conv2d,
    project_bn: BatchNorm,
}

impl MbConv {
    /// The block with its variables under `vb` (e.g. `_blocks.3`).
    pub fn new(spec: BlockSpec, bn: BatchNormConfig, vb: VarBuilder<'_>) -> Result<Self> {
        let hidden = spec.hidden();
        let expand = if spec.expand != 1 {
            let conv = conv2d_no_bias(spec.in_channels, hidden, 1, Conv2dConfig::default(), vb.pp("_expand_conv"))?;
            Some((conv, batch_norm(hidden, bn, vb.pp("_bn0"))?.with_relu6()))
        } else {
            None
        };
        let depthwise = depthwise_conv2d_no_bias(
            hidden,
            spec.kernel,
            DepthwiseConv2dConfig::same(spec.stride),
            vb.pp("_depthwise_conv"),
        )?;
        let depthwise_bn = batch_norm(hidden, bn, vb.pp("_bn1"))?.with_relu6();
        let project = conv2d_no_bias(hidden, spec.out_channels, 1, Conv2dConfig::default(), vb.pp("_project_conv"))?;
        let project_bn = batch_norm(spec.out_channels, bn, vb.pp("_bn2"))?;
        Ok(MbConv { spec, expand, depthwise, depthwise_bn, project, project_bn })
    }

    /// The block's geometry.
    pub fn spec(&self) -> BlockSpec {
        self.spec
    }

    /// Its batch norms, in order (for freezing).
    pub fn batch_norms(&self) -> Vec<&BatchNorm> {
        let mut v: Vec<&BatchNorm> = self.expand.iter().map(|(_, bn)| bn).collect();
        v.push(&self.depthwise_bn);
        v.push(&self.project_bn);
        v
    }
}

impl ModuleT for MbConv {
    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let mut h = x.clone();
        if let Some((conv, bn)) = &self.expand {
            h = bn.forward_t(&candle_core::Module::forward(conv, &h)?, train)?;
        }
        h = self.depthwise_bn.forward_t(&candle_core::Module::forward(&self.depthwise, &h)?, train)?;
        h = self.project_bn.forward_t(&candle_core::Module::forward(&self.project, &h)?, train)?;
        if self.spec.residual() {
            h = (h + x)?;
        }
        Ok(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lite0_has_sixteen_blocks_with_the_published_channels() {
        let b = lite0_blocks();
        assert_eq!(b.len(), 16);
        assert_eq!(b.iter().filter(|s| s.residual()).count(), 9);
        assert_eq!(b[15].out_channels, 320);
        assert_eq!(b.iter().filter(|s| s.stride == 2).count(), 4);
    }
}
