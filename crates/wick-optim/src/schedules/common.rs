//! What the schedules share: the argument checks of their constructors and float32
//! math in Keras' order. Imports nothing from the schedules.

use crate::error::{Error, Result};

/// `math.pi` as a float32 tensor (`ops.array(math.pi, dtype="float32")`).
pub(super) const PI_F32: f32 = std::f32::consts::PI;

/// An [`Error::InvalidArgument`] raised by `context` (the Keras class).
pub(super) fn invalid(context: &'static str, message: String) -> Error {
    Error::InvalidArgument { context, message }
}

/// `value` must be finite, also once cast to float32 (Keras computes in float32).
pub(super) fn check_finite(context: &'static str, arg: &str, value: f64) -> Result<()> {
    if !value.is_finite() {
        return Err(invalid(context, format!("argument `{arg}` must be a finite number, got {arg}={value}")));
    }
    if !(value as f32).is_finite() {
        return Err(invalid(context, format!("argument `{arg}` must fit in float32, got {arg}={value}")));
    }
    Ok(())
}

/// `value` must be finite and `>= 0`.
pub(super) fn check_non_negative(context: &'static str, arg: &str, value: f64) -> Result<()> {
    check_finite(context, arg, value)?;
    if value < 0.0 {
        return Err(invalid(context, format!("argument `{arg}` must be >= 0, got {arg}={value}")));
    }
    Ok(())
}

/// A step count that must be `> 0`, as Keras requires of `decay_steps`.
pub(super) fn check_steps(context: &'static str, arg: &str, value: u64) -> Result<()> {
    if value == 0 {
        return Err(invalid(context, format!("argument `{arg}` must be > 0, got {arg}={value}")));
    }
    Ok(())
}

/// `x ** y` in float32 (`ops.power` on float32 tensors).
pub(super) fn pow32(x: f32, y: f32) -> f32 {
    (x as f64).powf(y as f64) as f32
}

/// `cos(x)` in float32.
pub(super) fn cos32(x: f32) -> f32 {
    (x as f64).cos() as f32
}

/// `ln(x)` in float32.
pub(super) fn ln32(x: f32) -> f32 {
    (x as f64).ln() as f32
}

/// The step counter cast to float32, as `ops.cast(step, "float32")` does.
pub(super) fn step32(step: u64) -> f32 {
    step as f32
}
