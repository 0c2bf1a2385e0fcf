//! The JSON that `wick-events dump` prints: an event's own fields as a small
//! `serde_json::Value`, and each summary value decoded per plugin and serialized
//! straight to the output ([`SummaryValueJson`]).

use crate::decode::{decode_value, plugin_name, DecodeOptions, DecodedValue};
use crate::proto::{event::What, Event};
use serde::Serialize;
use serde_json::{json, Map, Value as Json};

/// A float as a JSON value, non-finite values as TensorBoard's strings.
fn float_json(v: f64) -> Json {
    if v.is_finite() {
        json!(v)
    } else {
        Json::String(crate::decode::json::non_finite_name(v).to_string())
    }
}

/// Converts anything serializable; a failure (not expected for this module's types)
/// becomes an `invalid` object instead of a panic.
fn to_json<T: Serialize>(v: &T) -> Json {
    serde_json::to_value(v).unwrap_or_else(|e| json!({"kind": "invalid", "reason": e.to_string()}))
}

/// One whole event as a JSON object: `wall_time`, `step`, and one of `file_version`,
/// `summary` (a list of `{tag, plugin, kind, …}` objects, see
/// [`DecodedValue`](crate::decode::DecodedValue)), `session_log`, `log_message`,
/// `graph_def` / `meta_graph_def` (byte lengths) or `tagged_run_metadata`; plus
/// `source_metadata` when present.
pub(crate) fn event_to_json(event: &Event, options: &DecodeOptions) -> Json {
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
            let values = s.value.iter().map(|v| to_json(&SummaryValueJson::new(v, options))).collect();
            out.insert("summary".into(), Json::Array(values));
        }
        Some(What::LogMessage(m)) => {
            let level = crate::proto::log_message::Level::try_from(m.level)
                .map_or_else(|_| m.level.to_string(), |l| l.as_str_name().to_string());
            out.insert("log_message".into(), json!({"level": level, "message": m.message}));
        }
        Some(What::SessionLog(l)) => {
            let status = crate::proto::session_log::SessionStatus::try_from(l.status)
                .map_or_else(|_| l.status.to_string(), |s| s.as_str_name().to_string());
            out.insert(
                "session_log".into(),
                json!({"status": status, "checkpoint_path": l.checkpoint_path, "msg": l.msg}),
            );
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

/// One summary value as `{tag, plugin, display_name, description, kind, …decoded
/// fields}` (`display_name` and `description` only when set), serialized straight to the
/// output: the decoded values are never a `serde_json::Value` tree.
#[derive(Serialize)]
pub(crate) struct SummaryValueJson<'a> {
    tag: &'a str,
    plugin: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    display_name: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    description: &'a str,
    #[serde(flatten)]
    decoded: DecodedValue,
}

impl<'a> SummaryValueJson<'a> {
    pub(crate) fn new(value: &'a crate::proto::summary::Value, options: &DecodeOptions) -> Self {
        let meta = value.metadata.as_ref();
        SummaryValueJson {
            tag: &value.tag,
            plugin: plugin_name(value),
            display_name: meta.map_or("", |m| &m.display_name),
            description: meta.map_or("", |m| &m.summary_description),
            decoded: decode_value(value, options),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use prost::Message;

    #[test]
    fn non_finite_floats_become_strings() {
        assert_eq!(float_json(f64::NEG_INFINITY), json!("-Infinity"));
        assert_eq!(float_json(0.5), json!(0.5));
    }

    #[test]
    fn event_kinds() {
        let e = Event { wall_time: f64::NAN, step: 3, what: Some(What::GraphDef(vec![0; 7])), ..Default::default() };
        assert_eq!(
            event_to_json(&e, &DecodeOptions::default()),
            json!({"wall_time": "NaN", "step": 3, "graph_def": {"bytes": 7}})
        );
        let e = Event { wall_time: 1.0, what: Some(What::FileVersion("brain.Event:2".into())), ..Default::default() };
        assert_eq!(
            event_to_json(&e, &DecodeOptions::default()),
            json!({"wall_time": 1.0, "step": 0, "file_version": "brain.Event:2"})
        );
    }

    proptest! {
        #[test]
        fn random_event_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let Ok(event) = Event::decode(bytes.as_slice()) {
                let json = event_to_json(&event, &DecodeOptions { blobs_base64: true });
                prop_assert!(json.is_object());
            }
        }
    }
}
