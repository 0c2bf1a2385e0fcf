//! Keras' conceptual graph: the model's JSON config as a rank-0 `DT_STRING` tensor with
//! plugin `graph_keras_model`, which TensorBoard's Graphs dashboard draws layer by layer.

use super::{check_tag, metadata, plugin, string_tensor, tensor_value, Value};
use crate::{Error, Result};

/// The plugin content Keras writes (`b"1"`, a version string, not a protobuf). The Graphs
/// plugin ignores a `graph_keras_model` tag whose content is anything else.
pub const KERAS_MODEL_CONTENT: &[u8] = b"1";

/// The tag Keras' `TensorBoard` callback writes the graph under (in `LOG_DIR/train`, at
/// step 0).
pub const KERAS_MODEL_TAG: &str = "keras";

/// A conceptual-graph summary of `model_json`, a Keras model config (what `model.to_json()`
/// returns): Keras' `keras_model_summary(name, data, step)`. The JSON is written as given;
/// TensorBoard parses it when the Graphs tab opens (see `tensorboard/plugins/graph/keras_util.py`
/// for the fields it reads). An empty string is refused, since the plugin cannot parse it.
pub fn keras_model(tag: &str, model_json: &str) -> Result<Value> {
    check_tag(tag)?;
    if model_json.trim().is_empty() {
        return Err(Error::InvalidValue { tag: tag.to_string(), message: "the Keras model JSON is empty".into() });
    }
    Ok(tensor_value(
        tag,
        metadata(plugin::GRAPH_KERAS_MODEL, KERAS_MODEL_CONTENT.to_vec()),
        string_tensor(&[], vec![model_json.as_bytes().to_vec()]),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::summary::value;
    use crate::proto::DataType;

    #[test]
    fn keras_model_value_is_what_keras_writes() {
        let v = keras_model("keras", r#"{"class_name": "Sequential"}"#).unwrap();
        assert_eq!(v.tag, "keras");
        let plugin = v.metadata.as_ref().and_then(|m| m.plugin_data.as_ref()).unwrap();
        assert_eq!((plugin.plugin_name.as_str(), plugin.content.as_slice()), ("graph_keras_model", &b"1"[..]));
        let Some(value::Value::Tensor(t)) = &v.value else { panic!("not a tensor: {v:?}") };
        assert_eq!(t.dtype, DataType::DtString as i32);
        assert!(t.tensor_shape.as_ref().unwrap().dim.is_empty(), "rank 0");
        assert_eq!(t.string_val, vec![br#"{"class_name": "Sequential"}"#.to_vec()]);
    }

    #[test]
    fn empty_json_and_tag_are_refused() {
        assert!(matches!(keras_model("keras", " "), Err(Error::InvalidValue { tag, .. }) if tag == "keras"));
        assert!(keras_model("", "{}").is_err());
    }
}
