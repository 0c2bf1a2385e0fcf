//! JSON output: floats that keep NaN and ±Inf (as TensorBoard's JSON API writes them),
//! lossy UTF-8 strings, and whole events as `serde_json::Value`.

use super::{decode_value, plugin_name, DecodeOptions};
use crate::proto::{event::What, Event};
use serde::{Serialize, Serializer};
use serde_json::{json, Map, Value as Json};

/// The JSON string TensorBoard writes for a non-finite float.
fn non_finite_name(v: f64) -> &'static str {
    if v.is_nan() {
        "NaN"
    } else if v > 0.0 {
        "Infinity"
    } else {
        "-Infinity"
    }
}

/// An `f32` that serializes as a JSON number, or as `"NaN"`, `"Infinity"` or
/// `"-Infinity"` when it is not finite (plain serde_json would write `null`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JsonF32(pub f32);

/// An `f64` serialized like [`JsonF32`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JsonF64(pub f64);

impl Serialize for JsonF32 {
    /// Finite values are written as the shortest decimal that reads back as the same
    /// `f32` (`0.2`, not `0.20000000298023224`), also through `serde_json::Value`.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.is_finite() {
            s.serialize_f64(self.0.to_string().parse().unwrap_or(f64::from(self.0)))
        } else {
            s.serialize_str(non_finite_name(f64::from(self.0)))
        }
    }
}

impl Serialize for JsonF64 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.is_finite() {
            s.serialize_f64(self.0)
        } else {
            s.serialize_str(non_finite_name(self.0))
        }
    }
}

/// Bytes serialized as a string, invalid UTF-8 replaced by U+FFFD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LossyString(pub Vec<u8>);

impl Serialize for LossyString {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&String::from_utf8_lossy(&self.0))
    }
}

/// A float as a JSON value, non-finite values as TensorBoard's strings.
pub fn float_json(v: f64) -> Json {
    if v.is_finite() {
        json!(v)
    } else {
        Json::String(non_finite_name(v).to_string())
    }
}

/// Converts anything serializable; a failure (not expected for this module's types)
/// becomes an `invalid` object instead of a panic.
fn to_json<T: Serialize>(v: &T) -> Json {
    serde_json::to_value(v).unwrap_or_else(|e| json!({"kind": "invalid", "reason": e.to_string()}))
}

/// One whole event as a JSON object: `wall_time`, `step`, and one of `file_version`,
/// `summary` (a list of `{tag, plugin, kind, …}` objects, see [`super::DecodedValue`]),
/// `session_log`, `log_message`, `graph_def` / `meta_graph_def` (byte lengths) or
/// `tagged_run_metadata`; plus `source_metadata` when present.
pub fn event_to_json(event: &Event, options: &DecodeOptions) -> Json {
    let mut out = Map::new();
    out.insert("wall_time".into(), float_json(event.wall_time));
    out.insert("step".into(), json!(event.step));
    match &event.what {
        None => {}
        Some(What::FileVersion(v)) => {
            out.insert("file_version".into(), json!(v));
        }
        Some(What::GraphDef(g)) => {
            out.insert("graph_def".into(), json!({"bytes": g.len()}));
        }
        Some(What::MetaGraphDef(g)) => {
            out.insert("meta_graph_def".into(), json!({"bytes": g.len()}));
        }
        Some(What::Summary(s)) => {
            let values = s.value.iter().map(|v| summary_value_json(v, options)).collect();
            out.insert("summary".into(), Json::Array(values));
        }
        Some(What::LogMessage(m)) => {
            let level =
                crate::proto::log_message::Level::try_from(m.level).map_or_else(|_| m.level.to_string(), |l| l.as_str_name().to_string());
            out.insert("log_message".into(), json!({"level": level, "message": m.message}));
        }
        Some(What::SessionLog(l)) => {
            let status = crate::proto::session_log::SessionStatus::try_from(l.status)
                .map_or_else(|_| l.status.to_string(), |s| s.as_str_name().to_string());
            out.insert("session_log".into(), json!({"status": status, "checkpoint_path": l.checkpoint_path, "msg": l.msg}));
        }
        Some(What::TaggedRunMetadata(t)) => {
            out.insert("tagged_run_metadata".into(), json!({"tag": t.tag, "bytes": t.run_metadata.len()}));
        }
    }
    if let Some(m) = &event.source_metadata {
        out.insert("source_metadata".into(), json!({"writer": m.writer}));
    }
    Json::Object(out)
}

/// One summary value as `{tag, plugin, kind, …decoded fields}`, with `display_name`
/// and `description` when set.
pub fn summary_value_json(value: &crate::proto::summary::Value, options: &DecodeOptions) -> Json {
    let mut out = Map::new();
    out.insert("tag".into(), json!(value.tag));
    out.insert("plugin".into(), json!(plugin_name(value)));
    if let Some(m) = &value.metadata {
        if !m.display_name.is_empty() {
            out.insert("display_name".into(), json!(m.display_name));
        }
        if !m.summary_description.is_empty() {
            out.insert("description".into(), json!(m.summary_description));
        }
    }
    match to_json(&decode_value(value, options)) {
        Json::Object(fields) => out.extend(fields),
        other => {
            out.insert("value".into(), other);
        }
    }
    Json::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_floats_become_strings() {
        let v = serde_json::to_string(&[JsonF32(f32::NAN), JsonF32(f32::INFINITY), JsonF32(f32::NEG_INFINITY), JsonF32(0.5)]).unwrap();
        assert_eq!(v, r#"["NaN","Infinity","-Infinity",0.5]"#);
        assert_eq!(serde_json::to_string(&JsonF64(f64::NAN)).unwrap(), r#""NaN""#);
        assert_eq!(float_json(f64::NEG_INFINITY), json!("-Infinity"));
        // f32 keeps its shortest form rather than the widened f64 digits, also in a Value.
        assert_eq!(serde_json::to_string(&JsonF32(0.1)).unwrap(), "0.1");
        assert_eq!(serde_json::to_value(JsonF32(1.0 / 3.0)).unwrap().to_string(), "0.33333334");
        for x in [f32::MIN_POSITIVE, f32::MAX, -1e-30, 3.0e38, 1.0 / 3.0] {
            let back: f64 = serde_json::from_str(&serde_json::to_string(&JsonF32(x)).unwrap()).unwrap();
            assert_eq!(back as f32, x);
        }
    }

    #[test]
    fn lossy_strings() {
        assert_eq!(serde_json::to_string(&LossyString(b"a\xffb".to_vec())).unwrap(), "\"a\u{fffd}b\"");
    }

    #[test]
    fn event_kinds() {
        let e = Event { wall_time: f64::NAN, step: 3, what: Some(What::GraphDef(vec![0; 7])), ..Default::default() };
        assert_eq!(event_to_json(&e, &DecodeOptions::default()), json!({"wall_time": "NaN", "step": 3, "graph_def": {"bytes": 7}}));
        let e = Event { wall_time: 1.0, what: Some(What::FileVersion("brain.Event:2".into())), ..Default::default() };
        assert_eq!(event_to_json(&e, &DecodeOptions::default()), json!({"wall_time": 1.0, "step": 0, "file_version": "brain.Event:2"}));
    }
}
