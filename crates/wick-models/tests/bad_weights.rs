//! A weights file that does not fit EfficientNet-Lite0 is an error naming the tensor and the
//! shapes, and leaves the variables as they were; a missing file's error says how to make it.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use wick_models::{EfficientNetLite0, Error};

/// The tensors of a freshly built network, by name.
fn fresh_tensors() -> HashMap<String, Tensor> {
    let varmap = VarMap::new();
    EfficientNetLite0::new(true, VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu)).unwrap();
    let data = varmap.data().lock().unwrap();
    data.iter().map(|(k, v)| (k.clone(), v.as_tensor().copy().unwrap())).collect()
}

fn write(dir: &tempfile::TempDir, name: &str, tensors: &HashMap<String, Tensor>) -> std::path::PathBuf {
    let path = dir.path().join(name);
    candle_core::safetensors::save(tensors, &path).unwrap();
    path
}

#[test]
fn a_complete_file_loads() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "ok.safetensors", &fresh_tensors());
    EfficientNetLite0::pretrained(&path, true, &Device::Cpu).unwrap();
    // Without the classifier, its tensors in the file are ignored.
    EfficientNetLite0::pretrained(&path, false, &Device::Cpu).unwrap();
}

#[test]
fn a_missing_tensor_is_named_with_the_shape_the_network_needs() {
    let dir = tempfile::tempdir().unwrap();
    let mut tensors = fresh_tensors();
    tensors.remove("_blocks.7._bn1.running_var");
    let path = write(&dir, "missing.safetensors", &tensors);
    let err = EfficientNetLite0::pretrained(&path, true, &Device::Cpu).err().expect("an error");
    assert!(matches!(err, Error::MissingTensor { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("_blocks.7._bn1.running_var") && msg.contains("[480]") && msg.contains("missing.safetensors"),
        "{msg}"
    );
}

#[test]
fn a_mis_shaped_tensor_is_named_with_both_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let mut tensors = fresh_tensors();
    tensors.insert(
        "_blocks.5._depthwise_conv.weight".into(),
        Tensor::zeros((144, 1, 5, 5), DType::F32, &Device::Cpu).unwrap(),
    );
    let path = write(&dir, "shape.safetensors", &tensors);
    let msg = EfficientNetLite0::pretrained(&path, true, &Device::Cpu).err().expect("an error").to_string();
    assert!(msg.contains("_blocks.5._depthwise_conv.weight"), "{msg}");
    assert!(msg.contains("[144, 1, 5, 5]") && msg.contains("[240, 1, 3, 3]"), "{msg}");
}

#[test]
fn an_unknown_tensor_is_named_and_a_missing_file_says_how_to_make_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut tensors = fresh_tensors();
    tensors.insert("_blocks.99.extra".into(), Tensor::zeros(3, DType::F32, &Device::Cpu).unwrap());
    let path = write(&dir, "extra.safetensors", &tensors);
    let msg = EfficientNetLite0::pretrained(&path, true, &Device::Cpu).err().expect("an error").to_string();
    assert!(msg.contains("_blocks.99.extra"), "{msg}");
    let msg = EfficientNetLite0::pretrained(&dir.path().join("none.safetensors"), true, &Device::Cpu)
        .err()
        .expect("an error")
        .to_string();
    assert!(msg.contains("scripts/ensure_backbone.sh"), "{msg}");
}
