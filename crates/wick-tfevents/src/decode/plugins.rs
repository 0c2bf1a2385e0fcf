//! Per-plugin readers of decoded tensors: scalars, histograms, images, audio, text and
//! PR curves. Each says why a tensor does not have the layout its plugin reads.

use super::{dtype_name, Blob, DecodeOptions, DecodedValue, JsonF32, JsonF64, Tensor, TensorValues};
use crate::proto::{DataType, PrCurvePluginData};
use prost::Message;

fn numbers(t: &Tensor, what: &str) -> Result<Vec<f64>, String> {
    t.values
        .as_ref()
        .and_then(TensorValues::to_f64)
        .ok_or_else(|| format!("{what} tensor has dtype {}, not a real number type", dtype_name(t.dtype)))
}

fn strings<'a>(t: &'a Tensor, what: &str) -> Result<Vec<&'a [u8]>, String> {
    match t.values.as_ref().and_then(TensorValues::strings) {
        Some(s) if t.dtype == DataType::DtString as i32 => Ok(s),
        _ => Err(format!("{what} tensor has dtype {}, not DT_STRING", dtype_name(t.dtype))),
    }
}

pub(super) fn scalar(t: &Tensor) -> Result<DecodedValue, String> {
    let v = t.values.as_ref().and_then(TensorValues::to_f32);
    match v.as_deref() {
        Some([x]) => Ok(DecodedValue::Scalar { value: JsonF32(*x) }),
        Some(v) => Err(format!("scalar tensor has {} elements, not 1", v.len())),
        None => Err(format!("scalar tensor has dtype {}, not a real number type", dtype_name(t.dtype))),
    }
}

pub(super) fn histogram(t: &Tensor) -> Result<DecodedValue, String> {
    if t.shape.len() != 2 || t.shape[1] != 3 {
        return Err(format!("histogram tensor has shape {:?}, not [k, 3]", t.shape));
    }
    let v = numbers(t, "histogram")?;
    Ok(DecodedValue::Histogram {
        buckets: v.chunks_exact(3).map(|r| [JsonF64(r[0]), JsonF64(r[1]), JsonF64(r[2])]).collect(),
    })
}

pub(super) fn images(t: &Tensor, options: &DecodeOptions) -> Result<DecodedValue, String> {
    let s = strings(t, "image")?;
    if t.shape.len() != 1 || s.len() < 2 {
        return Err(format!("image tensor has shape {:?}, not [2 + n] (width, height, images)", t.shape));
    }
    let dim = |b: &[u8], what: &str| {
        std::str::from_utf8(b)
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .ok_or_else(|| format!("image {what} {:?} is not a number", String::from_utf8_lossy(b)))
    };
    let (width, height) = (dim(s[0], "width")?, dim(s[1], "height")?);
    let images: Vec<Blob> = s[2..].iter().map(|b| Blob::new(b, None, options)).collect();
    Ok(DecodedValue::Image { width, height, count: images.len(), images })
}

pub(super) fn audio(t: &Tensor, options: &DecodeOptions) -> Result<DecodedValue, String> {
    let s = strings(t, "audio")?;
    let clips: Vec<Blob> = match t.shape.as_slice() {
        [_] => s.iter().map(|b| Blob::new(b, None, options)).collect(),
        [_, 2] => s
            .chunks_exact(2)
            .map(|c| Blob::new(c[0], Some(String::from_utf8_lossy(c[1]).into_owned()), options))
            .collect(),
        other => return Err(format!("audio tensor has shape {other:?}, not [k, 2] or [k]")),
    };
    Ok(DecodedValue::Audio { count: clips.len(), clips, sample_rate: None })
}

pub(super) fn text(t: &Tensor) -> Result<DecodedValue, String> {
    let s = strings(t, "text")?;
    Ok(DecodedValue::Text {
        shape: t.shape.clone(),
        strings: s.iter().map(|b| String::from_utf8_lossy(b).into_owned()).collect(),
    })
}

pub(super) fn pr_curve(t: &Tensor, content: &[u8]) -> Result<DecodedValue, String> {
    let meta = PrCurvePluginData::decode(content)
        .map_err(|e| format!("pr_curves content is not a valid PrCurvePluginData: {e}"))?;
    let n = match t.shape.as_slice() {
        [6, n] => *n,
        other => return Err(format!("PR curve tensor has shape {other:?}, not [6, num_thresholds]")),
    };
    let v: Vec<JsonF32> = t
        .values
        .as_ref()
        .and_then(TensorValues::to_f32)
        .ok_or_else(|| format!("PR curve tensor has dtype {}, not a real number type", dtype_name(t.dtype)))?
        .into_iter()
        .map(JsonF32)
        .collect();
    let row = |i: usize| v.chunks_exact(n.max(1) as usize).nth(i).map(<[JsonF32]>::to_vec).unwrap_or_default();
    Ok(DecodedValue::PrCurve {
        num_thresholds: if meta.num_thresholds > 0 { u64::from(meta.num_thresholds) } else { n },
        true_positives: row(0),
        false_positives: row(1),
        true_negatives: row(2),
        false_negatives: row(3),
        precision: row(4),
        recall: row(5),
    })
}
