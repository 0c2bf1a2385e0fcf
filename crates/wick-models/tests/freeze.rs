//! Keras' `trainable = False` on EfficientNet-Lite0's leading units: in a training-mode
//! forward their batch norms keep their moving statistics and no gradient reaches their
//! variables, while the trainable units update theirs and get gradients.

use candle_core::{DType, Device, ModuleT, Tensor};
use candle_nn::{VarBuilder, VarMap};
use wick_models::efficientnet_lite::{EfficientNetLite0, UNITS};

fn values(varmap: &VarMap, name: &str) -> Vec<f32> {
    varmap.data().lock().unwrap()[name].as_tensor().flatten_all().unwrap().to_vec1().unwrap()
}

#[test]
fn frozen_units_run_in_inference_mode_and_get_no_gradient() {
    let varmap = VarMap::new();
    let model = EfficientNetLite0::new(false, VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu)).unwrap();
    // Freeze the stem and the first 10 blocks.
    model.freeze_front(11).unwrap();
    assert!(model.is_non_trainable("_blocks.9._depthwise_conv.weight"));
    assert!(!model.is_non_trainable("_blocks.10._depthwise_conv.weight"));
    assert!(model.is_non_trainable("_blocks.12._bn1.running_mean"), "moving statistics are never trainable");
    let x = Tensor::randn(0f32, 1., (2, 3, 64, 64), &Device::Cpu).unwrap();
    let (frozen_stat, live_stat) = ("_blocks.3._bn1.running_var", "_blocks.12._bn1.running_var");
    let (before_frozen, before_live) = (values(&varmap, frozen_stat), values(&varmap, live_stat));
    let y = model.forward_t(&x, true).unwrap();
    assert_eq!(values(&varmap, frozen_stat), before_frozen, "a frozen batch norm moved its statistics");
    assert_ne!(values(&varmap, live_stat), before_live, "a trainable batch norm kept its statistics");
    let grads = y.sum_all().unwrap().backward().unwrap();
    let data = varmap.data().lock().unwrap();
    assert!(grads.get(data["_blocks.9._project_conv.weight"].as_tensor()).is_none(), "gradient into a frozen block");
    assert!(grads.get(data["_conv_stem.weight"].as_tensor()).is_none(), "gradient into the frozen stem");
    assert!(
        grads.get(data["_blocks.10._project_conv.weight"].as_tensor()).is_some(),
        "no gradient into a trainable block"
    );
    assert!(grads.get(data["_bn1.weight"].as_tensor()).is_some());
    assert!(model.freeze_front(UNITS + 1).is_err());
}
