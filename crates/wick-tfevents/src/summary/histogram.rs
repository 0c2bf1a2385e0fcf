//! Histograms: a `[k, 3]` `DT_DOUBLE` tensor of `(left, right, count)` rows with plugin
//! `histograms`; the Distributions dashboard derives from the same data.

use super::{check_tag, metadata, plugin, tensor::f64_tensor, tensor_value, Value};
use crate::{Error, Result};

/// The bucket count `tf.summary.histogram` uses by default.
pub const DEFAULT_BUCKET_COUNT: usize = 30;

/// One histogram bucket: values in `[left, right)` (the last bucket includes `right`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    /// Left edge.
    pub left: f64,
    /// Right edge.
    pub right: f64,
    /// Number (or total weight) of values in the bucket.
    pub count: f64,
}

/// Splits `data` into `bucket_count` equal-width buckets from its min to its max, exactly
/// as TensorFlow 2's `tf.summary.histogram` does: empty data gives all-zero buckets; data
/// with a single distinct value gives buckets with both edges at that value and the whole
/// count in the last one.
///
/// Errors name `tag` and the first non-finite value (TensorFlow would write garbage).
pub fn buckets<T: Copy + Into<f64>>(tag: &str, data: &[T], bucket_count: usize) -> Result<Vec<Bucket>> {
    let zero = Bucket { left: 0.0, right: 0.0, count: 0.0 };
    if bucket_count == 0 {
        return Ok(Vec::new());
    }
    if data.is_empty() {
        return Ok(vec![zero; bucket_count]);
    }
    let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
    for (i, &v) in data.iter().enumerate() {
        let v: f64 = v.into();
        if !v.is_finite() {
            return Err(Error::InvalidValue {
                tag: tag.to_string(),
                message: format!("histogram data holds the non-finite value {v} at index {i}"),
            });
        }
        min = min.min(v);
        max = max.max(v);
    }
    let range = max - min;
    if range == 0.0 {
        let mut out = vec![Bucket { left: max, right: max, count: 0.0 }; bucket_count];
        out[bucket_count - 1].count = data.len() as f64;
        return Ok(out);
    }
    let width = range / bucket_count as f64;
    let mut counts = vec![0.0f64; bucket_count];
    for &v in data {
        let v: f64 = v.into();
        let index = (((v - min) / width).floor() as usize).min(bucket_count - 1);
        counts[index] += 1.0;
    }
    // tf.linspace(min, max, k + 1) with the last edge pinned to max.
    let step = range / bucket_count as f64;
    let edge = |i: usize| if i == bucket_count { max } else { min + i as f64 * step };
    Ok(counts.into_iter().enumerate().map(|(i, count)| Bucket { left: edge(i), right: edge(i + 1), count }).collect())
}

/// A histogram summary of raw values with `bucket_count` buckets (see [`buckets`]).
pub fn histogram<T: Copy + Into<f64>>(tag: &str, data: &[T], bucket_count: usize) -> Result<Value> {
    check_tag(tag)?;
    histogram_from_buckets(tag, &buckets(tag, data, bucket_count)?)
}

/// A histogram summary of pre-computed buckets. Edges and counts must be finite, each
/// bucket's `left <= right`, and counts non-negative.
pub fn histogram_from_buckets(tag: &str, buckets: &[Bucket]) -> Result<Value> {
    check_tag(tag)?;
    let mut flat = Vec::with_capacity(buckets.len() * 3);
    for (i, b) in buckets.iter().enumerate() {
        let ok =
            b.left.is_finite() && b.right.is_finite() && b.count.is_finite() && b.left <= b.right && b.count >= 0.0;
        if !ok {
            return Err(Error::InvalidValue {
                tag: tag.to_string(),
                message: format!(
                    "histogram bucket {i} is {b:?}; need finite edges with left <= right and a finite count >= 0"
                ),
            });
        }
        flat.extend_from_slice(&[b.left, b.right, b.count]);
    }
    Ok(tensor_value(tag, metadata(plugin::HISTOGRAMS, Vec::new()), f64_tensor(&[buckets.len(), 3], &flat)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_tensorflow_on_small_data() {
        // tf.summary.histogram([1, 2, 3, 3], buckets=3) as TensorBoard serves it.
        let b = buckets("t", &[1.0f64, 2.0, 3.0, 3.0], 3).unwrap();
        let rows: Vec<(f64, f64, f64)> = b.iter().map(|b| (b.left, b.right, b.count)).collect();
        assert_eq!(
            rows,
            vec![
                (1.0, 1.6666666666666665, 1.0),
                (1.6666666666666665, 2.333333333333333, 1.0),
                (2.333333333333333, 3.0, 2.0)
            ]
        );
    }

    #[test]
    fn single_value_and_empty() {
        let b = buckets("t", &[5.0f32; 4], 3).unwrap();
        assert!(b.iter().all(|b| b.left == 5.0 && b.right == 5.0));
        assert_eq!(b.iter().map(|b| b.count).collect::<Vec<_>>(), vec![0.0, 0.0, 4.0]);
        let e = buckets::<f32>("t", &[], 4).unwrap();
        assert_eq!(e.len(), 4);
        assert!(e.iter().all(|b| *b == Bucket { left: 0.0, right: 0.0, count: 0.0 }));
    }

    #[test]
    fn non_finite_is_an_error_naming_index() {
        let err = buckets("w", &[1.0f32, f32::NAN], 3).unwrap_err().to_string();
        assert!(err.contains("index 1") && err.contains("\"w\""), "{err}");
    }
}
