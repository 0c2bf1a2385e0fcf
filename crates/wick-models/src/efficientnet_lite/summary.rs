//! EfficientNet-Lite0's layers as a Keras-style [`ModelSummary`] (table and conceptual graph).

use wick_callbacks::{LayerSummary, ModelSummary, ModelVars};

use super::{EfficientNetLite0, FEATURES, IMAGENET_CLASSES, STEM_CHANNELS};

impl EfficientNetLite0 {
    /// Keras' `model.summary()` rows for an `[3, height, width]` input: the stem conv and its
    /// batch norm, the 16 MBConv blocks, the head conv and its batch norm, the global
    /// average pool and, with the classifier, `_fc`. Parameter counts are those of the
    /// variables of `vars` under each layer's name (`prefix` + name; `prefix` is where the
    /// network's variables live, `""` as built by [`pretrained`](Self::pretrained)), trainable
    /// as `vars` marks them. Each layer is fed by the one before (the conceptual graph shows
    /// a chain; the residual adds are inside the blocks).
    pub fn summary(&self, name: &str, height: usize, width: usize, vars: &ModelVars, prefix: &str) -> ModelSummary {
        let mut layers: Vec<LayerSummary> = Vec::new();
        let mut push = |layer: LayerSummary| {
            let layer = match layers.last() {
                Some(prev) => layer.with_inbound([prev.name.clone()]),
                None => layer,
            };
            layers.push(layer);
        };
        let var_prefix = |n: &str| format!("{prefix}{n}");
        let (mut h, mut w) = (height.div_ceil(2), width.div_ceil(2));
        push(
            LayerSummary::new("_conv_stem", "Conv2D", vec![STEM_CHANNELS, h, w])
                .with_params_of(vars, &var_prefix("_conv_stem")),
        );
        push(
            LayerSummary::new("_bn0", "BatchNormalization", vec![STEM_CHANNELS, h, w])
                .with_params_of(vars, &var_prefix("_bn0")),
        );
        for (i, block) in self.blocks().iter().enumerate() {
            let spec = block.spec();
            h = h.div_ceil(spec.stride);
            w = w.div_ceil(spec.stride);
            let layer = format!("_blocks.{i}");
            push(
                LayerSummary::new(layer.clone(), "MBConvBlock", vec![spec.out_channels, h, w])
                    .with_params_of(vars, &var_prefix(&layer)),
            );
        }
        push(
            LayerSummary::new("_conv_head", "Conv2D", vec![FEATURES, h, w])
                .with_params_of(vars, &var_prefix("_conv_head")),
        );
        push(
            LayerSummary::new("_bn1", "BatchNormalization", vec![FEATURES, h, w])
                .with_params_of(vars, &var_prefix("_bn1")),
        );
        push(LayerSummary::new("avg_pool", "GlobalAveragePooling2D", vec![FEATURES]));
        if self.has_classifier() {
            push(LayerSummary::new("_fc", "Dense", vec![IMAGENET_CLASSES]).with_params_of(vars, &var_prefix("_fc")));
        }
        let mut summary = ModelSummary::new(name, vec![3, height, width]);
        for layer in layers {
            summary = summary.with_layer(layer);
        }
        summary
    }
}
