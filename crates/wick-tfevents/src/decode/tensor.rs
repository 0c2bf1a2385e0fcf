//! Element values of a `TensorProto`, from `tensor_content` or the typed `*_val` fields,
//! with the rules of TensorBoard's `make_ndarray`: a typed field holding one value is
//! broadcast to the whole shape; otherwise it must hold exactly one value per element.

use super::json::{JsonF32, JsonF64, LossyString};
use crate::proto::{DataType, TensorProto};
use serde::Serialize;

/// Most elements a single typed value may be broadcast to (a larger shape is reported as
/// invalid instead of allocated).
const MAX_BROADCAST_ELEMENTS: u64 = 1 << 20;

/// Most bytes a single string value may be broadcast to.
const MAX_BROADCAST_STRING_BYTES: u64 = 1 << 26;

/// The element values of a tensor, flattened in row-major order.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum TensorValues {
    /// `DT_FLOAT`, `DT_HALF` and `DT_BFLOAT16`.
    F32(Vec<JsonF32>),
    /// `DT_DOUBLE`.
    F64(Vec<JsonF64>),
    /// Signed and small unsigned integers (`DT_INT8/16/32/64`, `DT_UINT8/16/32`).
    I64(Vec<i64>),
    /// `DT_UINT64`.
    U64(Vec<u64>),
    /// `DT_BOOL`.
    Bool(Vec<bool>),
    /// `DT_COMPLEX64` and `DT_COMPLEX128`, as `[real, imaginary]` pairs.
    Complex(Vec<[JsonF64; 2]>),
    /// `DT_STRING`, shown as UTF-8 (invalid sequences replaced).
    Strings(Vec<LossyString>),
}

impl TensorValues {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            TensorValues::F32(v) => v.len(),
            TensorValues::F64(v) => v.len(),
            TensorValues::I64(v) => v.len(),
            TensorValues::U64(v) => v.len(),
            TensorValues::Bool(v) => v.len(),
            TensorValues::Complex(v) => v.len(),
            TensorValues::Strings(v) => v.len(),
        }
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values as `f64` when they are real numbers (booleans count as 0 and 1).
    pub fn to_f64(&self) -> Option<Vec<f64>> {
        Some(match self {
            TensorValues::F32(v) => v.iter().map(|x| f64::from(x.0)).collect(),
            TensorValues::F64(v) => v.iter().map(|x| x.0).collect(),
            TensorValues::I64(v) => v.iter().map(|&x| x as f64).collect(),
            TensorValues::U64(v) => v.iter().map(|&x| x as f64).collect(),
            TensorValues::Bool(v) => v.iter().map(|&x| if x { 1.0 } else { 0.0 }).collect(),
            TensorValues::Complex(_) | TensorValues::Strings(_) => return None,
        })
    }

    /// The values as `f32` when they are real numbers (`f64` values are rounded).
    pub fn to_f32(&self) -> Option<Vec<f32>> {
        match self {
            TensorValues::F32(v) => Some(v.iter().map(|x| x.0).collect()),
            other => other.to_f64().map(|v| v.into_iter().map(|x| x as f32).collect()),
        }
    }

    /// The raw bytes of each element of a string tensor.
    pub fn strings(&self) -> Option<Vec<&[u8]>> {
        match self {
            TensorValues::Strings(v) => Some(v.iter().map(|s| s.0.as_slice()).collect()),
            _ => None,
        }
    }
}

/// A decoded tensor: its dtype, shape and (for the dtypes summaries use) its values.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Tensor {
    /// The `DataType` number.
    pub dtype: i32,
    /// Dimension sizes; empty for rank 0.
    pub shape: Vec<u64>,
    /// The elements; `None` for dtypes without a value decoding (e.g. `DT_INVALID`).
    pub values: Option<TensorValues>,
}

/// The name of a dtype number, e.g. `"DT_FLOAT"`, or `"DT_UNKNOWN(n)"`.
pub(crate) fn dtype_name(dtype: i32) -> String {
    match DataType::try_from(dtype) {
        Ok(t) => t.as_str_name().to_string(),
        Err(_) => format!("DT_UNKNOWN({dtype})"),
    }
}

/// The shape of `t` as sizes, or why it is unusable (unknown rank, negative or
/// overflowing sizes).
pub(crate) fn shape_of(t: &TensorProto) -> Result<Vec<u64>, String> {
    let Some(shape) = &t.tensor_shape else { return Ok(Vec::new()) };
    if shape.unknown_rank {
        return Err("tensor shape has unknown rank".into());
    }
    let mut dims = Vec::with_capacity(shape.dim.len());
    let mut count: u64 = 1;
    for (i, d) in shape.dim.iter().enumerate() {
        let size = u64::try_from(d.size).map_err(|_| format!("tensor dimension {i} has negative size {}", d.size))?;
        count = count.checked_mul(size).ok_or_else(|| "tensor element count overflows".to_string())?;
        dims.push(size);
    }
    Ok(dims)
}

/// Decodes `t`. Errors say why the values do not fit the dtype and shape.
pub(crate) fn decode_tensor(t: &TensorProto) -> Result<Tensor, String> {
    let shape = shape_of(t)?;
    let count: u64 = shape.iter().product();
    let values = decode_values(t, count)?;
    Ok(Tensor { dtype: t.dtype, shape, values })
}

fn decode_values(t: &TensorProto, count: u64) -> Result<Option<TensorValues>, String> {
    let Ok(dtype) = DataType::try_from(t.dtype) else { return Ok(None) };
    let raw = &t.tensor_content;
    use DataType as D;
    let values = match dtype {
        D::DtInvalid => return Ok(None),
        D::DtString if !raw.is_empty() => {
            return Err("DT_STRING tensor uses tensor_content; strings must be in string_val".into())
        }
        D::DtString => {
            if let [one] = t.string_val.as_slice() {
                if count > 1 && (one.len() as u64).saturating_mul(count) > MAX_BROADCAST_STRING_BYTES {
                    return Err(format!(
                        "string_val holds one {}-byte string to broadcast to {count} elements",
                        one.len()
                    ));
                }
            }
            TensorValues::Strings(typed(&t.string_val, count, "string_val")?.into_iter().map(LossyString).collect())
        }
        D::DtFloat if raw.is_empty() => TensorValues::F32(wrap(typed(&t.float_val, count, "float_val")?, JsonF32)),
        D::DtFloat => TensorValues::F32(content(raw, count, |b: [u8; 4]| JsonF32(f32::from_le_bytes(b)))?),
        D::DtDouble if raw.is_empty() => TensorValues::F64(wrap(typed(&t.double_val, count, "double_val")?, JsonF64)),
        D::DtDouble => TensorValues::F64(content(raw, count, |b: [u8; 8]| JsonF64(f64::from_le_bytes(b)))?),
        D::DtHalf | D::DtBfloat16 => {
            let convert = if dtype == D::DtHalf { f16_to_f32 } else { bf16_to_f32 };
            let bits: Vec<u16> = if raw.is_empty() {
                typed(&t.half_val, count, "half_val")?.into_iter().map(|v| v as u16).collect()
            } else {
                content(raw, count, u16::from_le_bytes)?
            };
            TensorValues::F32(bits.into_iter().map(|b| JsonF32(convert(b))).collect())
        }
        D::DtInt32 | D::DtInt16 | D::DtInt8 | D::DtUint8 | D::DtUint16 if raw.is_empty() => {
            TensorValues::I64(typed(&t.int_val, count, "int_val")?.into_iter().map(i64::from).collect())
        }
        D::DtInt32 => TensorValues::I64(content(raw, count, |b| i64::from(i32::from_le_bytes(b)))?),
        D::DtInt16 => TensorValues::I64(content(raw, count, |b| i64::from(i16::from_le_bytes(b)))?),
        D::DtInt8 => TensorValues::I64(content(raw, count, |b| i64::from(i8::from_le_bytes(b)))?),
        D::DtUint8 => TensorValues::I64(content(raw, count, |b| i64::from(u8::from_le_bytes(b)))?),
        D::DtUint16 => TensorValues::I64(content(raw, count, |b| i64::from(u16::from_le_bytes(b)))?),
        D::DtInt64 if raw.is_empty() => TensorValues::I64(typed(&t.int64_val, count, "int64_val")?),
        D::DtInt64 => TensorValues::I64(content(raw, count, i64::from_le_bytes)?),
        D::DtUint32 if raw.is_empty() => {
            TensorValues::I64(typed(&t.uint32_val, count, "uint32_val")?.into_iter().map(i64::from).collect())
        }
        D::DtUint32 => TensorValues::I64(content(raw, count, |b| i64::from(u32::from_le_bytes(b)))?),
        D::DtUint64 if raw.is_empty() => TensorValues::U64(typed(&t.uint64_val, count, "uint64_val")?),
        D::DtUint64 => TensorValues::U64(content(raw, count, u64::from_le_bytes)?),
        D::DtBool if raw.is_empty() => TensorValues::Bool(typed(&t.bool_val, count, "bool_val")?),
        D::DtBool => TensorValues::Bool(content(raw, count, |b: [u8; 1]| b[0] != 0)?),
        D::DtComplex64 if raw.is_empty() => {
            TensorValues::Complex(pairs(&t.scomplex_val, count, "scomplex_val", f64::from)?)
        }
        D::DtComplex64 => TensorValues::Complex(content(raw, count, |b: [u8; 8]| {
            let (re, im) = split_pair::<4>(&b);
            [JsonF64(f32::from_le_bytes(re).into()), JsonF64(f32::from_le_bytes(im).into())]
        })?),
        D::DtComplex128 if raw.is_empty() => {
            TensorValues::Complex(pairs(&t.dcomplex_val, count, "dcomplex_val", |x| x)?)
        }
        D::DtComplex128 => TensorValues::Complex(content(raw, count, |b: [u8; 16]| {
            let (re, im) = split_pair::<8>(&b);
            [JsonF64(f64::from_le_bytes(re)), JsonF64(f64::from_le_bytes(im))]
        })?),
    };
    Ok(Some(values))
}

fn wrap<T, W>(v: Vec<T>, f: impl Fn(T) -> W) -> Vec<W> {
    v.into_iter().map(f).collect()
}

fn split_pair<const N: usize>(b: &[u8]) -> ([u8; N], [u8; N]) {
    let mut re = [0u8; N];
    let mut im = [0u8; N];
    re.copy_from_slice(&b[..N]);
    im.copy_from_slice(&b[N..2 * N]);
    (re, im)
}

/// Elements from `tensor_content`: exactly `count` little-endian values of `N` bytes.
fn content<const N: usize, T>(raw: &[u8], count: u64, f: impl Fn([u8; N]) -> T) -> Result<Vec<T>, String> {
    let want = count.checked_mul(N as u64);
    if want != Some(raw.len() as u64) {
        return Err(format!("tensor_content has {} bytes, the shape needs {count} elements of {N} bytes", raw.len()));
    }
    Ok(raw
        .chunks_exact(N)
        .map(|c| {
            let mut b = [0u8; N];
            b.copy_from_slice(c);
            f(b)
        })
        .collect())
}

/// Elements from a typed field: one per element, or a single value broadcast to all.
fn typed<T: Clone>(vals: &[T], count: u64, field: &str) -> Result<Vec<T>, String> {
    if vals.len() as u64 == count {
        return Ok(vals.to_vec());
    }
    match vals {
        [one] if count <= MAX_BROADCAST_ELEMENTS => Ok(vec![one.clone(); count as usize]),
        [_] => {
            Err(format!("{field} holds one value to broadcast to {count} elements, more than {MAX_BROADCAST_ELEMENTS}"))
        }
        _ => Err(format!("{field} holds {} values, the shape needs {count}", vals.len())),
    }
}

/// Complex elements from a typed field of interleaved `(real, imaginary)` parts.
fn pairs<T: Copy>(vals: &[T], count: u64, field: &str, f: impl Fn(T) -> f64) -> Result<Vec<[JsonF64; 2]>, String> {
    let pair = |c: &[T]| [JsonF64(f(c[0])), JsonF64(f(c[1]))];
    if !vals.len().is_multiple_of(2) {
        return Err(format!("{field} holds {} parts, not (real, imaginary) pairs", vals.len()));
    }
    let n = (vals.len() / 2) as u64;
    if n == count {
        return Ok(vals.chunks_exact(2).map(pair).collect());
    }
    if n == 1 && count <= MAX_BROADCAST_ELEMENTS {
        return Ok(vec![pair(vals); count as usize]);
    }
    Err(format!("{field} holds {n} complex values, the shape needs {count}"))
}

/// IEEE half precision bits to `f32`.
fn f16_to_f32(bits: u16) -> f32 {
    let sign = if bits & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = (bits >> 10) & 0x1f;
    let mant = u32::from(bits & 0x3ff);
    match exp {
        0 => sign * mant as f32 * 2f32.powi(-24),
        0x1f => {
            let s = u32::from(bits & 0x8000) << 16;
            f32::from_bits(s | 0x7f80_0000 | (mant << 13))
        }
        e => {
            let s = u32::from(bits & 0x8000) << 16;
            f32::from_bits(s | ((u32::from(e) + 112) << 23) | (mant << 13))
        }
    }
}

/// bfloat16 bits to `f32`.
fn bf16_to_f32(bits: u16) -> f32 {
    f32::from_bits(u32::from(bits) << 16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::tensor_shape_proto::Dim;
    use crate::proto::TensorShapeProto;

    fn shaped(dtype: DataType, dims: &[i64]) -> TensorProto {
        TensorProto {
            dtype: dtype as i32,
            tensor_shape: Some(TensorShapeProto {
                dim: dims.iter().map(|&size| Dim { size, name: String::new() }).collect(),
                unknown_rank: false,
            }),
            ..Default::default()
        }
    }

    #[test]
    fn content_and_typed_forms_agree() {
        let mut a = shaped(DataType::DtDouble, &[2]);
        a.tensor_content = [1.5f64, -2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut b = shaped(DataType::DtDouble, &[2]);
        b.double_val = vec![1.5, -2.0];
        assert_eq!(decode_tensor(&a).unwrap().values, decode_tensor(&b).unwrap().values);
        let mut i = shaped(DataType::DtInt16, &[3]);
        i.tensor_content = [1i16, -1, 300].iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(decode_tensor(&i).unwrap().values, Some(TensorValues::I64(vec![1, -1, 300])));
    }

    #[test]
    fn single_typed_value_broadcasts() {
        let mut t = shaped(DataType::DtFloat, &[2, 2]);
        t.float_val = vec![3.0];
        assert_eq!(decode_tensor(&t).unwrap().values.unwrap().to_f32().unwrap(), vec![3.0; 4]);
        let mut huge = shaped(DataType::DtFloat, &[1 << 40]);
        huge.float_val = vec![3.0];
        assert!(decode_tensor(&huge).unwrap_err().contains("broadcast"));
    }

    #[test]
    fn mismatches_are_errors() {
        let mut t = shaped(DataType::DtFloat, &[3]);
        t.tensor_content = vec![0; 8];
        assert!(decode_tensor(&t).unwrap_err().contains("8 bytes"));
        let t = shaped(DataType::DtFloat, &[-1]);
        assert!(decode_tensor(&t).unwrap_err().contains("negative"));
        let t = shaped(DataType::DtFloat, &[1 << 40, 1 << 40]);
        assert!(decode_tensor(&t).unwrap_err().contains("overflow"));
        let mut s = shaped(DataType::DtString, &[1]);
        s.tensor_content = vec![1];
        assert!(decode_tensor(&s).is_err());
    }

    #[test]
    fn half_precision() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert!(f16_to_f32(0x7e00).is_nan());
        assert_eq!(f16_to_f32(0xfc00), f32::NEG_INFINITY);
        assert_eq!(bf16_to_f32(0x3f80), 1.0);
    }

    #[test]
    fn unknown_dtype_has_no_values() {
        let t = TensorProto { dtype: 77, ..Default::default() };
        let d = decode_tensor(&t).unwrap();
        assert_eq!(d.values, None);
        assert_eq!(dtype_name(77), "DT_UNKNOWN(77)");
    }
}
