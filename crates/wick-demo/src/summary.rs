//! `Cnn::summary`: the demo CNN as Keras' `model.summary()` lists it, for the table `train`
//! prints and the graph TensorBoard draws.

use crate::model::{Cnn, InputScaling, Pooling};
use candle_core::Tensor;
use wick_callbacks::{LayerSummary, ModelSummary};
use wick_nn::Conv2d;

/// The model's name in the table and the graph.
const MODEL_NAME: &str = "demo_cnn";

impl Cnn {
    /// The model as Keras layers, for `input_shape = [C, H, W]` (one image, channels
    /// first): the input scaling (`Rescaling`, or the custom `PerImageStandardization`),
    /// each fused conv block as Keras' `Conv2D(activation="relu")` + `MaxPooling2D`
    /// (`conv1`, `pool1`, `conv2`, `pool2`), `Flatten` or `GlobalMaxPooling2D`, `fc1`,
    /// a `Dropout` when the rate is above 0, and `fc2`, chained. Output shapes follow
    /// from the input and the layers' kernels, strides and padding; parameter counts are
    /// the elements of the layers' own tensors, all trainable. A shape too small for a
    /// layer gives zero-sized outputs (building the model refuses such configurations).
    pub fn summary(&self, input_shape: [usize; 3]) -> ModelSummary {
        let [_, h, w] = input_shape;
        let mut layers: Vec<LayerSummary> = Vec::new();
        let mut push = |layer: LayerSummary| {
            let layer = match layers.last() {
                Some(prev) => layer.with_inbound([prev.name.clone()]),
                None => layer,
            };
            layers.push(layer);
        };
        let (scaling, class) = match self.input {
            InputScaling::Rescale => ("rescaling", "Rescaling"),
            InputScaling::Standardize => ("standardize", "PerImageStandardization"),
        };
        push(LayerSummary::new(scaling, class, input_shape.to_vec()));
        let (mut h, mut w) = (h, w);
        for (i, conv) in [&self.conv1, &self.conv2].into_iter().enumerate() {
            let filters = conv.weight().dims().first().copied().unwrap_or(0);
            (h, w) = conv_output(conv, h, w);
            let params = tensor_params(conv.weight(), conv.bias());
            push(
                LayerSummary::new(format!("conv{}", i + 1), "Conv2D", vec![filters, h, w]).with_params(params, params),
            );
            if let Some(pool) = conv.epilogue().max_pool {
                h = pooled(h, pool.kernel.0, pool.stride.0);
                w = pooled(w, pool.kernel.1, pool.stride.1);
                push(LayerSummary::new(format!("pool{}", i + 1), "MaxPooling2D", vec![filters, h, w]));
            }
        }
        let filters = self.conv2.weight().dims().first().copied().unwrap_or(0);
        match self.pooling {
            Pooling::Flatten => push(LayerSummary::new("flatten", "Flatten", vec![filters * h * w])),
            Pooling::GlobalMax => push(LayerSummary::new("global_max_pool", "GlobalMaxPooling2D", vec![filters])),
        }
        for (name, dense) in [("fc1", &self.fc1), ("fc2", &self.fc2)] {
            let units = dense.weight().dims().first().copied().unwrap_or(0);
            if name == "fc2" && self.dropout > 0.0 {
                let hidden = self.fc1.weight().dims().first().copied().unwrap_or(0);
                push(LayerSummary::new("dropout", "Dropout", vec![hidden]));
            }
            let params = tensor_params(dense.weight(), dense.bias());
            push(LayerSummary::new(name, "Dense", vec![units]).with_params(params, params));
        }
        ModelSummary { name: MODEL_NAME.into(), input_shape: input_shape.to_vec(), layers }
    }
}

/// Elements of a layer's weight and bias.
fn tensor_params(weight: &Tensor, bias: Option<&Tensor>) -> usize {
    weight.elem_count() + bias.map_or(0, Tensor::elem_count)
}

/// A convolution's output size (Candle's rule: `(x + 2p − d(k − 1) − 1) / s + 1`).
fn conv_output(conv: &Conv2d, h: usize, w: usize) -> (usize, usize) {
    let config = conv.config();
    let dims = conv.weight().dims();
    let (kh, kw) = (dims.get(2).copied().unwrap_or(1), dims.get(3).copied().unwrap_or(1));
    let size = |x: usize, k: usize| {
        let span = config.dilation * (k.max(1) - 1) + 1;
        match (x + 2 * config.padding).checked_sub(span) {
            Some(rest) => rest / config.stride.max(1) + 1,
            None => 0,
        }
    };
    (size(h, kh), size(w, kw))
}

/// A max pool's output size (valid windows only, as Keras' `padding="valid"`).
fn pooled(x: usize, k: usize, s: usize) -> usize {
    match x.checked_sub(k) {
        Some(rest) => rest / s.max(1) + 1,
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use crate::{build_cnn, CnnConfig, Pooling};
    use candle_core::{DType, Device, Tensor};
    use candle_nn::{ModuleT, VarBuilder, VarMap};
    use wick_callbacks::ModelVars;

    fn model(config: &CnnConfig) -> (crate::Cnn, VarMap) {
        let varmap = VarMap::new();
        let cnn = build_cnn(VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu), config).unwrap();
        (cnn, varmap)
    }

    #[test]
    fn summary_lists_the_layers_with_the_variables_counts() {
        let config = CnnConfig::new(32, 4);
        let (cnn, varmap) = model(&config);
        let summary = cnn.summary([3, 32, 32]);
        let rows: Vec<(&str, &str, Vec<usize>, usize)> = summary
            .layers
            .iter()
            .map(|l| (l.name.as_str(), l.class_name.as_str(), l.output_shape.clone(), l.params))
            .collect();
        assert_eq!(
            rows,
            [
                ("standardize", "PerImageStandardization", vec![3, 32, 32], 0),
                ("conv1", "Conv2D", vec![32, 30, 30], 32 * 3 * 9 + 32),
                ("pool1", "MaxPooling2D", vec![32, 15, 15], 0),
                ("conv2", "Conv2D", vec![64, 13, 13], 64 * 32 * 9 + 64),
                ("pool2", "MaxPooling2D", vec![64, 6, 6], 0),
                ("global_max_pool", "GlobalMaxPooling2D", vec![64], 0),
                ("fc1", "Dense", vec![128], 64 * 128 + 128),
                ("fc2", "Dense", vec![4], 128 * 4 + 4),
            ]
        );
        summary.validate().unwrap();
        assert!(summary.is_sequential());
        summary.check_against(&ModelVars::from_varmap(&varmap)).unwrap();
        assert_eq!(summary.non_trainable_params(), 0);
        // The last layer's shape is the logits' shape.
        let logits = cnn.forward_t(&Tensor::zeros((2, 3, 32, 32), DType::F32, &Device::Cpu).unwrap(), false).unwrap();
        assert_eq!(logits.dims()[1..], summary.layers[7].output_shape[..]);
    }

    #[test]
    fn flatten_and_dropout_appear_when_configured() {
        let config = CnnConfig { pooling: Pooling::Flatten, dropout: 0.5, ..CnnConfig::new(28, 10) };
        let (cnn, varmap) = model(&config);
        let summary = cnn.summary([3, 28, 28]);
        let names: Vec<&str> = summary.layers.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["standardize", "conv1", "pool1", "conv2", "pool2", "flatten", "fc1", "dropout", "fc2"]);
        assert_eq!(summary.layers[5].output_shape, [config.flat_features()]);
        summary.check_against(&ModelVars::from_varmap(&varmap)).unwrap();
        assert!(summary.table().contains(" Total params: "));
    }
}
