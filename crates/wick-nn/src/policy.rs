//! `DTypePolicy`: Keras' mixed-precision policy (compute dtype, variable dtype) and how a layer casts under it.

use std::fmt;
use std::str::FromStr;

use candle_core::{DType, Result, Tensor};

/// Keras' `keras.DTypePolicy` (`keras.mixed_precision.DTypePolicy`): the dtype a layer
/// computes in and the dtype its variables are stored in.
///
/// | name | `compute_dtype` | `variable_dtype` |
/// |---|---|---|
/// | `"float32"` (Keras' default) | f32 | f32 |
/// | `"mixed_bfloat16"` | bf16 | f32 |
/// | `"mixed_float16"` | f16 | f32 |
/// | `"bfloat16"`, `"float16"`, `"float64"` | that dtype | that dtype |
///
/// A layer running under a policy ([`Conv2d::with_policy`](crate::Conv2d::with_policy),
/// [`Linear::with_policy`](crate::Linear::with_policy)) does what Keras' `Layer.__call__`
/// does: floating inputs are cast to `compute_dtype` ([`convert_input`](Self::convert_input);
/// integer inputs are left alone), the variables are read cast to `compute_dtype` (Keras'
/// `AutocastScope`), and the output is in `compute_dtype`. The variables themselves stay in
/// `variable_dtype` (create them with a `VarBuilder` of that dtype): the cast is a node of
/// Candle's graph (`to_dtype`), whose backward pass casts the gradient back, so the
/// optimizer sees `variable_dtype` gradients and keeps `variable_dtype` state.
///
/// Under `"mixed_float16"` the loss is multiplied by a large factor before the backward pass
/// so that small gradients do not flush to zero in f16; wrap the optimizer in
/// `wick_optim::LossScaleOptimizer`, as Keras' `compile` does automatically for this policy.
/// `"mixed_bfloat16"` needs no loss scaling (bf16 has f32's exponent range).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DTypePolicy {
    name: &'static str,
    compute: DType,
    variable: DType,
}

/// A policy name [`DTypePolicy`] does not know (Keras' `ValueError` "Cannot convert … to a
/// mixed precision DTypePolicy").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "cannot convert {name:?} to a mixed precision DTypePolicy; valid policies are \"mixed_float16\", \
     \"mixed_bfloat16\" and the float dtypes \"float32\", \"float64\", \"float16\", \"bfloat16\""
)]
pub struct UnknownPolicy {
    /// The name that was given.
    pub name: String,
}

impl DTypePolicy {
    /// `"float32"`: compute and variables in f32 (Keras' default policy).
    pub const FLOAT32: DTypePolicy = DTypePolicy { name: "float32", compute: DType::F32, variable: DType::F32 };
    /// `"mixed_bfloat16"`: compute in bf16, variables in f32.
    pub const MIXED_BFLOAT16: DTypePolicy =
        DTypePolicy { name: "mixed_bfloat16", compute: DType::BF16, variable: DType::F32 };
    /// `"mixed_float16"`: compute in f16, variables in f32 (use a loss-scale optimizer).
    pub const MIXED_FLOAT16: DTypePolicy =
        DTypePolicy { name: "mixed_float16", compute: DType::F16, variable: DType::F32 };

    /// The policy called `name`, as Keras' `DTypePolicy(name)` parses it: `"mixed_float16"`,
    /// `"mixed_bfloat16"`, or a float dtype name (`"float32"`, `"float64"`, `"float16"`,
    /// `"bfloat16"`) used for both compute and variables.
    pub fn new(name: &str) -> std::result::Result<Self, UnknownPolicy> {
        let same = |name, dtype| DTypePolicy { name, compute: dtype, variable: dtype };
        Ok(match name {
            "float32" => Self::FLOAT32,
            "mixed_bfloat16" => Self::MIXED_BFLOAT16,
            "mixed_float16" => Self::MIXED_FLOAT16,
            "float64" => same("float64", DType::F64),
            "float16" => same("float16", DType::F16),
            "bfloat16" => same("bfloat16", DType::BF16),
            _ => return Err(UnknownPolicy { name: name.to_string() }),
        })
    }

    /// Keras `name`, e.g. `"mixed_bfloat16"`.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Keras `compute_dtype`: the dtype of the layer's computations and outputs.
    pub fn compute_dtype(&self) -> DType {
        self.compute
    }

    /// Keras `variable_dtype`: the dtype the layer's variables are created and kept in.
    pub fn variable_dtype(&self) -> DType {
        self.variable
    }

    /// Whether computations and variables have different dtypes (the `mixed_*` policies).
    pub fn is_mixed(&self) -> bool {
        self.compute != self.variable
    }

    /// Keras `convert_input(x, autocast=True, dtype=compute_dtype)`: a floating `x` cast to
    /// `compute_dtype` (differentiably: the gradient is cast back to `x`'s dtype), any other
    /// `x` (integer, or already `compute_dtype`) unchanged.
    pub fn convert_input(&self, x: &Tensor) -> Result<Tensor> {
        if x.dtype().is_float() && x.dtype() != self.compute {
            x.to_dtype(self.compute)
        } else {
            Ok(x.clone())
        }
    }
}

impl Default for DTypePolicy {
    /// `"float32"`, Keras' default (`keras.config.dtype_policy()` unless set).
    fn default() -> Self {
        Self::FLOAT32
    }
}

impl FromStr for DTypePolicy {
    type Err = UnknownPolicy;

    fn from_str(s: &str) -> std::result::Result<Self, UnknownPolicy> {
        Self::new(s)
    }
}

impl fmt::Display for DTypePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Var};

    use super::*;

    #[test]
    fn names_and_dtypes_match_keras() {
        for (name, compute, variable) in [
            ("float32", DType::F32, DType::F32),
            ("mixed_bfloat16", DType::BF16, DType::F32),
            ("mixed_float16", DType::F16, DType::F32),
            ("float64", DType::F64, DType::F64),
            ("float16", DType::F16, DType::F16),
            ("bfloat16", DType::BF16, DType::BF16),
        ] {
            let p: DTypePolicy = name.parse().unwrap();
            assert_eq!((p.name(), p.compute_dtype(), p.variable_dtype()), (name, compute, variable));
            assert_eq!(p.to_string(), name);
            assert_eq!(p.is_mixed(), name.starts_with("mixed_"));
        }
        assert_eq!(DTypePolicy::default(), DTypePolicy::FLOAT32);
        let err = DTypePolicy::new("mixed_int8").unwrap_err();
        assert_eq!(err.name, "mixed_int8");
        assert!(err.to_string().contains("\"mixed_int8\""), "{err}");
    }

    #[test]
    fn convert_input_casts_floats_only_and_keeps_the_gradient_path() {
        let p = DTypePolicy::MIXED_BFLOAT16;
        let ints = Tensor::new(&[1u32, 2], &Device::Cpu).unwrap();
        assert_eq!(p.convert_input(&ints).unwrap().dtype(), DType::U32);
        let x = Var::new(&[1.5f32, -2.0], &Device::Cpu).unwrap();
        let y = p.convert_input(x.as_tensor()).unwrap();
        assert_eq!(y.dtype(), DType::BF16);
        let grads = y.sum_all().unwrap().backward().unwrap();
        let g = grads.get(x.as_tensor()).unwrap();
        assert_eq!(g.dtype(), DType::F32);
        assert_eq!(g.to_vec1::<f32>().unwrap(), [1.0, 1.0]);
    }
}
