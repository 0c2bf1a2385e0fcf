//! [`Factor`]: the random range every augmentation parameter is drawn from.

use super::pixel;
use crate::rng::Rng;

/// A random range: each image draws uniformly in `[lower, upper]`.
///
/// From one number `f`: `[−|f|, |f|]` (Keras' convention for a float factor). From a pair:
/// `(lower, upper)` as given. `Factor::new(v, v)` is the constant `v`, which makes any
/// operation deterministic (handy in tests).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Factor {
    /// Lower bound of the draw.
    pub lower: f32,
    /// Upper bound of the draw.
    pub upper: f32,
}

impl Factor {
    /// The range `[lower, upper]`.
    pub const fn new(lower: f32, upper: f32) -> Self {
        Self { lower, upper }
    }

    /// The constant `value` (a range of width zero).
    pub const fn constant(value: f32) -> Self {
        Self { lower: value, upper: value }
    }

    pub(crate) fn draw(&self, rng: &mut Rng) -> f64 {
        pixel::uniform(rng, f64::from(self.lower), f64::from(self.upper))
    }

    /// Checks finiteness, order and `[min, max]` bounds; the message names the range.
    pub(crate) fn check(&self, min: f32, max: f32) -> std::result::Result<(), String> {
        let (lo, hi) = (self.lower, self.upper);
        if !lo.is_finite() || !hi.is_finite() {
            Err(format!("({lo}, {hi}) must be finite"))
        } else if lo > hi {
            Err(format!("lower bound {lo} is above upper bound {hi}"))
        } else if lo < min || hi > max {
            Err(format!("({lo}, {hi}) must lie within [{min}, {max}]"))
        } else {
            Ok(())
        }
    }

    /// [`check`](Self::check) within `[−1, 1]`, with the lower bound above −1 (a zoom of
    /// `1 + lower` must stay positive).
    pub(crate) fn check_zoom(&self) -> std::result::Result<(), String> {
        self.check(-1.0, 1.0)?;
        if self.lower <= -1.0 {
            return Err(format!("lower bound {} must be above −1 (a zoom of 1 + {} ≤ 0)", self.lower, self.lower));
        }
        Ok(())
    }
}

impl From<f32> for Factor {
    fn from(f: f32) -> Self {
        Self { lower: -f.abs(), upper: f.abs() }
    }
}

impl From<(f32, f32)> for Factor {
    fn from((lower, upper): (f32, f32)) -> Self {
        Self { lower, upper }
    }
}

impl From<[f32; 2]> for Factor {
    fn from([lower, upper]: [f32; 2]) -> Self {
        Self { lower, upper }
    }
}
