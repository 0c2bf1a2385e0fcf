//! Scalars: a rank-0 `DT_FLOAT` tensor with plugin `scalars` (the only scalar form the
//! default RustBoard loader shows besides the legacy `simple_value`).

use super::{check_tag, metadata, plugin, tensor_value, Value};
use crate::proto::{DataType, TensorProto};

/// A scalar value. NaN and ±Inf are kept: TensorBoard shows them as `NaN`/`Infinity`.
pub fn scalar(tag: &str, value: f32) -> crate::Result<Value> {
    check_tag(tag)?;
    let tensor = TensorProto {
        dtype: DataType::DtFloat as i32,
        tensor_shape: Some(Default::default()),
        float_val: vec![value],
        ..Default::default()
    };
    Ok(tensor_value(tag, metadata(plugin::SCALARS, Vec::new()), tensor))
}

/// Writes the payload of a one-scalar `Event` straight into `out`, byte for byte what
/// prost writes for `Event { wall_time, step, summary: [scalar(tag, value)] }`, without
/// building the message (no allocation). Returns nothing; `out` grows.
pub(crate) fn encode_scalar_event(out: &mut Vec<u8>, wall_time: f64, step: i64, tag: &str, value: f32) {
    // Value { tag=1, tensor=8 {dtype=1, shape=2 {}, float_val=5 packed}, metadata=9 {plugin_data=1 {name=1}} }
    const TENSOR: [u8; 8] = [0x08, 0x01, 0x12, 0x00, 0x2a, 0x04, 0, 0];
    const PLUGIN: &[u8] = b"scalars";
    let tensor_len = TENSOR.len() - 2 + 4; // dtype, shape, float key+len, 4 value bytes
    let plugin_data_len = 2 + PLUGIN.len();
    let metadata_len = 2 + plugin_data_len;
    let value_len = 1 + varint_len(tag.len() as u64) + tag.len() + 2 + tensor_len + 2 + metadata_len;
    let summary_len = 1 + varint_len(value_len as u64) + value_len;

    if wall_time != 0.0 {
        out.push(0x09);
        out.extend_from_slice(&wall_time.to_le_bytes());
    }
    if step != 0 {
        out.push(0x10);
        put_varint(out, step as u64);
    }
    out.push(0x2a);
    put_varint(out, summary_len as u64);
    out.push(0x0a);
    put_varint(out, value_len as u64);
    out.push(0x0a);
    put_varint(out, tag.len() as u64);
    out.extend_from_slice(tag.as_bytes());
    out.push(0x42);
    out.push(tensor_len as u8);
    out.extend_from_slice(&TENSOR[..6]);
    out.extend_from_slice(&value.to_le_bytes());
    out.push(0x4a);
    out.push(metadata_len as u8);
    out.push(0x0a);
    out.push(plugin_data_len as u8);
    out.push(0x0a);
    out.push(PLUGIN.len() as u8);
    out.extend_from_slice(PLUGIN);
}

fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{event, Event, Summary};
    use proptest::prelude::*;
    use prost::Message;

    proptest! {
        #[test]
        fn hand_encoding_matches_prost(tag in "\\PC{1,200}", step in any::<i64>(), value in any::<f32>(), wall in any::<f64>()) {
            let event = Event {
                wall_time: wall,
                step,
                what: Some(event::What::Summary(Summary { value: vec![scalar(&tag, value).unwrap()] })),
                ..Default::default()
            };
            let mut fast = Vec::new();
            encode_scalar_event(&mut fast, wall, step, &tag, value);
            prop_assert_eq!(fast, event.encode_to_vec());
        }
    }

    #[test]
    fn empty_tag_is_rejected() {
        assert!(matches!(scalar("", 1.0), Err(crate::Error::InvalidTag { .. })));
    }
}
