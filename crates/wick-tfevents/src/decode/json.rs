//! Serializable wrappers: floats that keep NaN and ±Inf (as TensorBoard's JSON API
//! writes them) and lossy UTF-8 strings.

use serde::{Serialize, Serializer};

/// The JSON string TensorBoard writes for a non-finite float.
pub(crate) fn non_finite_name(v: f64) -> &'static str {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_floats_become_strings() {
        let v = serde_json::to_string(&[
            JsonF32(f32::NAN),
            JsonF32(f32::INFINITY),
            JsonF32(f32::NEG_INFINITY),
            JsonF32(0.5),
        ])
        .unwrap();
        assert_eq!(v, r#"["NaN","Infinity","-Infinity",0.5]"#);
        assert_eq!(serde_json::to_string(&JsonF64(f64::NAN)).unwrap(), r#""NaN""#);
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
}
