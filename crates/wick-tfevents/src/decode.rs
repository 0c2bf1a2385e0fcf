//! Decoding summary values per plugin into plain, serializable data, as TensorBoard's
//! dashboards would read them: scalars, histograms (TF2 tensors and legacy `histo`),
//! images and audio (tensors and legacy protos), text, hparams, PR curves, and any other
//! tensor as dtype, shape and values.
//!
//! Decoding never fails and never panics: a value its plugin cannot read becomes
//! [`DecodedValue::Invalid`] with the reason.
//!
//! ```
//! use wick_tfevents::decode::{decode_value, DecodeOptions, DecodedValue};
//! let v = wick_tfevents::summary::scalar::scalar("loss", 0.5).unwrap();
//! assert_eq!(decode_value(&v, &DecodeOptions::default()), DecodedValue::Scalar { value: 0.5.into() });
//! let json = serde_json::to_value(decode_value(&v, &DecodeOptions::default())).unwrap();
//! assert_eq!(json, serde_json::json!({"kind": "scalar", "value": 0.5}));
//! ```

mod hparams;
pub(crate) mod json;
mod plugins;
mod tensor;

pub use hparams::{Domain, Experiment, HParamColumn, HParamJson, MetricColumn};
pub use json::{JsonF32, JsonF64, LossyString};
pub use tensor::TensorValues;
pub(crate) use tensor::{decode_tensor, dtype_name, shape_of, Tensor};

use crate::proto::summary::{value::Value as Kind, Value};
use crate::proto::{HistogramProto, TensorProto};
use crate::summary::plugin;
use base64::Engine;
use serde::Serialize;
use std::collections::BTreeMap;

/// Choices for [`decode_value`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Include the bytes of images and audio clips as base64 (otherwise only their
    /// format and length).
    pub blobs_base64: bool,
}

/// One encoded image or audio clip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Blob {
    /// Format sniffed from the bytes: `png`, `jpeg`, `gif`, `bmp`, `webp`, `wav` or
    /// `unknown`.
    pub format: &'static str,
    /// Length in bytes.
    pub bytes: usize,
    /// An audio clip's label, when the tensor has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The bytes, base64-encoded, with [`DecodeOptions::blobs_base64`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base64: Option<String>,
}

impl Blob {
    fn new(data: &[u8], label: Option<String>, options: &DecodeOptions) -> Self {
        Blob {
            format: sniff_format(data),
            bytes: data.len(),
            label,
            base64: options.blobs_base64.then(|| base64::engine::general_purpose::STANDARD.encode(data)),
        }
    }
}

/// What one summary value holds, per plugin. Serialized with a `kind` field naming the
/// variant in snake case (`scalar`, `histogram`, …, `hparams_session_start`, `invalid`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DecodedValue {
    /// A scalar (TF2 tensor or legacy `simple_value`).
    Scalar {
        /// The value; TensorBoard keeps scalars as f32.
        value: JsonF32,
    },
    /// A histogram as `[left, right, count]` rows.
    Histogram {
        /// The buckets; legacy `histo` values are converted as TensorBoard's Python
        /// loader (`data_compat.py`) does: empty buckets at both ends are dropped, the
        /// first left edge is `min`, the last right edge `max`.
        buckets: Vec<[JsonF64; 3]>,
    },
    /// Images of one size.
    Image {
        /// Width in pixels, as declared.
        width: u64,
        /// Height in pixels, as declared.
        height: u64,
        /// Number of images.
        count: usize,
        /// The encoded images.
        images: Vec<Blob>,
    },
    /// Audio clips.
    Audio {
        /// Number of clips.
        count: usize,
        /// The encoded clips.
        clips: Vec<Blob>,
        /// Sample rate in Hz (legacy audio only).
        #[serde(skip_serializing_if = "Option::is_none")]
        sample_rate: Option<JsonF32>,
    },
    /// Markdown strings.
    Text {
        /// The tensor's shape (`[]` for one string, `[rows, columns]` for a table).
        shape: Vec<u64>,
        /// The strings in row-major order (invalid UTF-8 replaced).
        strings: Vec<String>,
    },
    /// The hparams experiment (table columns).
    HparamsExperiment(Experiment),
    /// An hparams session start: its hyper-parameter values.
    HparamsSessionStart {
        /// Values by name, typed.
        hparams: BTreeMap<String, HParamJson>,
        /// Group of repeated sessions (empty: the run name).
        group_name: String,
        /// Start time, seconds since the Unix epoch.
        start_time_secs: JsonF64,
        /// Model URI, if any.
        model_uri: String,
        /// Monitoring URL, if any.
        monitor_url: String,
    },
    /// An hparams session end.
    HparamsSessionEnd {
        /// `STATUS_UNKNOWN`, `STATUS_SUCCESS`, `STATUS_FAILURE` or `STATUS_RUNNING`.
        status: String,
        /// End time, seconds since the Unix epoch.
        end_time_secs: JsonF64,
    },
    /// A precision–recall curve; threshold `i` is `i / (num_thresholds - 1)`.
    PrCurve {
        /// Number of thresholds.
        num_thresholds: u64,
        /// True positives per threshold.
        true_positives: Vec<JsonF32>,
        /// False positives per threshold.
        false_positives: Vec<JsonF32>,
        /// True negatives per threshold.
        true_negatives: Vec<JsonF32>,
        /// False negatives per threshold.
        false_negatives: Vec<JsonF32>,
        /// Precision per threshold.
        precision: Vec<JsonF32>,
        /// Recall per threshold.
        recall: Vec<JsonF32>,
    },
    /// Any other tensor.
    Tensor {
        /// Dtype name, e.g. `DT_STRING`.
        dtype: String,
        /// Dimension sizes.
        shape: Vec<u64>,
        /// The values, for the dtypes that have a decoding.
        #[serde(skip_serializing_if = "Option::is_none")]
        values: Option<TensorValues>,
    },
    /// The value cannot be read by its plugin.
    Invalid {
        /// Why.
        reason: String,
    },
}

impl DecodedValue {
    /// An [`DecodedValue::Invalid`] with this reason.
    pub(crate) fn invalid(reason: impl Into<String>) -> Self {
        DecodedValue::Invalid { reason: reason.into() }
    }

    /// The reason, when the value is invalid.
    pub fn invalid_reason(&self) -> Option<&str> {
        match self {
            DecodedValue::Invalid { reason } => Some(reason),
            _ => None,
        }
    }
}

impl From<f32> for JsonF32 {
    fn from(v: f32) -> Self {
        JsonF32(v)
    }
}

impl From<f64> for JsonF64 {
    fn from(v: f64) -> Self {
        JsonF64(v)
    }
}

/// The plugin a value belongs to: its metadata's `plugin_name`, or for legacy values
/// without one the plugin TensorBoard converts them to (`simple_value` → `scalars`,
/// `histo` → `histograms`, `image` → `images`, `audio` → `audio`); `""` when neither.
/// The names of the built-in plugins are in [`crate::summary::plugin`].
pub fn plugin_name(value: &Value) -> &str {
    match value.metadata.as_ref().and_then(|m| m.plugin_data.as_ref()) {
        Some(p) if !p.plugin_name.is_empty() => &p.plugin_name,
        _ => legacy_plugin(value).unwrap_or(""),
    }
}

/// For a legacy (non-tensor) value, the plugin TensorBoard converts it to.
pub(crate) fn legacy_plugin(value: &Value) -> Option<&'static str> {
    match value.value {
        Some(Kind::SimpleValue(_)) => Some(plugin::SCALARS),
        Some(Kind::Histo(_)) => Some(plugin::HISTOGRAMS),
        Some(Kind::Image(_)) => Some(plugin::IMAGES),
        Some(Kind::Audio(_)) => Some(plugin::AUDIO),
        _ => None,
    }
}

/// The plugin content bytes of a value (empty when it has no metadata).
pub(crate) fn plugin_content(value: &Value) -> &[u8] {
    value.metadata.as_ref().and_then(|m| m.plugin_data.as_ref()).map_or(&[], |p| &p.content)
}

/// The `version` of a plugin content: protobuf field 1 (a varint), 0 when absent, as
/// every built-in plugin's content message declares it. Errors when the bytes are not
/// a well-formed protobuf message.
pub(crate) fn plugin_content_version(content: &[u8]) -> Result<i64, String> {
    let mut rest = content;
    let mut version = 0i64;
    while !rest.is_empty() {
        let key = read_varint(&mut rest).ok_or("content is not a protobuf message (bad field key)")?;
        let (field, wire) = (key >> 3, key & 7);
        match wire {
            0 => {
                let v = read_varint(&mut rest).ok_or("content is not a protobuf message (bad varint)")?;
                if field == 1 {
                    version = v as i64;
                }
            }
            1 | 5 => {
                let n = if wire == 1 { 8 } else { 4 };
                rest = rest.get(n..).ok_or("content is not a protobuf message (truncated field)")?;
            }
            2 => {
                let len = read_varint(&mut rest).ok_or("content is not a protobuf message (bad length)")?;
                let len = usize::try_from(len).map_err(|_| "content is not a protobuf message (length too large)")?;
                rest = rest.get(len..).ok_or("content is not a protobuf message (truncated field)")?;
            }
            _ => return Err(format!("content is not a protobuf message (wire type {wire})")),
        }
        if field == 1 && wire != 0 {
            return Err("content field 1 (version) is not a varint".into());
        }
    }
    Ok(version)
}

fn read_varint(buf: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for i in 0..10 {
        let (&b, rest) = buf.split_first()?;
        *buf = rest;
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// The format of encoded image or audio bytes, from their magic numbers.
pub(crate) fn sniff_format(data: &[u8]) -> &'static str {
    match data {
        [0x89, b'P', b'N', b'G', ..] => "png",
        [0xff, 0xd8, 0xff, ..] => "jpeg",
        [b'G', b'I', b'F', b'8', ..] => "gif",
        [b'B', b'M', ..] => "bmp",
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => "webp",
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'A', b'V', b'E', ..] => "wav",
        _ => "unknown",
    }
}

/// Converts a legacy `HistogramProto` to `[left, right, count]` rows as TensorBoard's
/// Python loader (`data_compat.py`) does: empty buckets at both ends are dropped, the
/// first left edge is `min`, the last right edge `max`, inner edges are `bucket_limit`;
/// no non-empty bucket gives no rows. (Python then rounds to f32; this keeps f64.)
/// Errors when `bucket` and `bucket_limit` differ in length.
pub(crate) fn legacy_histogram_buckets(h: &HistogramProto) -> Result<Vec<[f64; 3]>, String> {
    if h.bucket.len() != h.bucket_limit.len() {
        return Err(format!(
            "legacy histogram has {} bucket counts but {} bucket limits",
            h.bucket.len(),
            h.bucket_limit.len()
        ));
    }
    let Some(start) = h.bucket.iter().position(|&c| c > 0.0) else { return Ok(Vec::new()) };
    let end = h.bucket.iter().rposition(|&c| c > 0.0).unwrap_or(start);
    let inner = &h.bucket_limit[start..end];
    let lefts = std::iter::once(h.min).chain(inner.iter().copied());
    let rights = inner.iter().copied().chain(std::iter::once(h.max));
    Ok(lefts.zip(rights).zip(&h.bucket[start..=end]).map(|((l, r), &c)| [l, r, c]).collect())
}

/// Decodes one summary value per its plugin (see [`DecodedValue`]).
pub fn decode_value(value: &Value, options: &DecodeOptions) -> DecodedValue {
    match &value.value {
        Some(Kind::SimpleValue(v)) => DecodedValue::Scalar { value: JsonF32(*v) },
        Some(Kind::Histo(h)) => match legacy_histogram_buckets(h) {
            Ok(rows) => DecodedValue::Histogram { buckets: rows.into_iter().map(|r| r.map(JsonF64)).collect() },
            Err(e) => DecodedValue::invalid(e),
        },
        Some(Kind::Image(img)) => match (u64::try_from(img.width), u64::try_from(img.height)) {
            (Ok(width), Ok(height)) => DecodedValue::Image {
                width,
                height,
                count: 1,
                images: vec![Blob::new(&img.encoded_image_string, None, options)],
            },
            _ => DecodedValue::invalid(format!("legacy image has negative size {}x{}", img.width, img.height)),
        },
        Some(Kind::Audio(a)) => DecodedValue::Audio {
            count: 1,
            clips: vec![Blob::new(&a.encoded_audio_string, None, options)],
            sample_rate: Some(JsonF32(a.sample_rate)),
        },
        Some(Kind::ObsoleteOldStyleHistogram(_)) => {
            DecodedValue::invalid("obsolete old-style histogram, which TensorBoard does not read")
        }
        Some(Kind::Tensor(t)) => decode_tensor_value(value, Some(t), options),
        None => decode_tensor_value(value, None, options),
    }
}

fn decode_tensor_value(value: &Value, tensor: Option<&TensorProto>, options: &DecodeOptions) -> DecodedValue {
    let plugin = plugin_name(value);
    if plugin == plugin::HPARAMS {
        // The tensor is a placeholder (tensorboardX writes none); the content is the data.
        return hparams::decode_hparams(plugin_content(value));
    }
    let Some(t) = tensor else { return DecodedValue::invalid("value holds no data (no tensor)") };
    let decoded = match decode_tensor(t) {
        Ok(d) => d,
        Err(e) => return DecodedValue::invalid(e),
    };
    let result = match plugin {
        plugin::SCALARS => plugins::scalar(&decoded),
        plugin::HISTOGRAMS => plugins::histogram(&decoded),
        plugin::IMAGES => plugins::images(&decoded, options),
        plugin::AUDIO => plugins::audio(&decoded, options),
        plugin::TEXT => plugins::text(&decoded),
        plugin::PR_CURVES => plugins::pr_curve(&decoded, plugin_content(value)),
        _ => {
            Ok(DecodedValue::Tensor { dtype: dtype_name(decoded.dtype), shape: decoded.shape, values: decoded.values })
        }
    };
    result.unwrap_or_else(DecodedValue::invalid)
}

#[cfg(test)]
mod tests;
