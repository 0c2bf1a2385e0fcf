//! Small constructors for the tensors and metadata shared by every plugin.

use crate::proto::summary::{value, Value};
use crate::proto::summary_metadata::PluginData;
use crate::proto::tensor_shape_proto::Dim;
use crate::proto::{DataType, SummaryMetadata, TensorProto, TensorShapeProto};

/// Metadata naming `plugin` with the given content bytes (empty means version 0).
pub fn metadata(plugin: &str, content: Vec<u8>) -> SummaryMetadata {
    SummaryMetadata { plugin_data: Some(PluginData { plugin_name: plugin.to_string(), content }), ..Default::default() }
}

/// A shape from its dimension sizes (empty slice: rank 0).
pub(crate) fn shape(dims: &[usize]) -> TensorShapeProto {
    TensorShapeProto {
        dim: dims.iter().map(|&d| Dim { size: d as i64, name: String::new() }).collect(),
        unknown_rank: false,
    }
}

/// A `DT_STRING` tensor of the given shape holding `strings` in row-major order.
pub fn string_tensor(dims: &[usize], strings: Vec<Vec<u8>>) -> TensorProto {
    TensorProto {
        dtype: DataType::DtString as i32,
        tensor_shape: Some(shape(dims)),
        string_val: strings,
        ..Default::default()
    }
}

/// A `DT_DOUBLE` tensor stored as little-endian `tensor_content`, as TF2 writes it.
pub(crate) fn f64_tensor(dims: &[usize], values: &[f64]) -> TensorProto {
    TensorProto {
        dtype: DataType::DtDouble as i32,
        tensor_shape: Some(shape(dims)),
        tensor_content: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

/// A `DT_FLOAT` tensor stored as little-endian `tensor_content`.
pub(crate) fn f32_tensor(dims: &[usize], values: &[f32]) -> TensorProto {
    TensorProto {
        dtype: DataType::DtFloat as i32,
        tensor_shape: Some(shape(dims)),
        tensor_content: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

/// A summary value with a tag, plugin metadata and a tensor.
pub fn tensor_value(tag: &str, metadata: SummaryMetadata, tensor: TensorProto) -> Value {
    Value {
        tag: tag.to_string(),
        metadata: Some(metadata),
        value: Some(value::Value::Tensor(tensor)),
        ..Default::default()
    }
}
