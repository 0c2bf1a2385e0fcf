//! Keras `PiecewiseConstantDecay`.

use super::common::{check_non_negative, invalid};
use crate::error::Result;
use crate::schedule::LearningRateSchedule;

const CLASS: &str = "PiecewiseConstantDecay";

/// Keras `keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)`.
///
/// At step `s`, with `b = boundaries` and `v = values` (as float32):
///
/// ```text
/// lr = v[0]      if s <= b[0]
///      v[i]      if b[i-1] < s <= b[i]
///      v[n]      if s > b[n-1]          (n = len(boundaries))
/// ```
///
/// The intervals are right-inclusive: `v[i+1]` first applies at step `b[i] + 1`.
///
/// Construction fails (naming the argument and its value) when `values` does not have
/// exactly one more element than `boundaries` (Keras' `ValueError`), when `boundaries` is
/// empty or not strictly increasing, or when a value is negative or not finite in float32.
/// Keras also accepts float boundaries and casts them to the integer step type (truncating);
/// here boundaries are step counts.
#[derive(Debug, Clone, PartialEq)]
pub struct PiecewiseConstantDecay {
    /// The steps after which the next value applies; strictly increasing, not empty.
    pub boundaries: Vec<u64>,
    /// The learning rate of each interval; one more than `boundaries`.
    pub values: Vec<f64>,
}

impl PiecewiseConstantDecay {
    /// A validated schedule.
    pub fn new(boundaries: Vec<u64>, values: Vec<f64>) -> Result<Self> {
        let s = PiecewiseConstantDecay { boundaries, values };
        s.validate()?;
        Ok(s)
    }

    /// Checks the fields (as `new` does), for a schedule whose public fields were edited.
    pub fn validate(&self) -> Result<()> {
        let (b, v) = (&self.boundaries, &self.values);
        if b.len() + 1 != v.len() {
            return Err(invalid(
                CLASS,
                format!(
                    "the length of `boundaries` must be 1 less than the length of `values`, got boundaries={b:?} of \
                     length {}, and values={v:?} of length {}",
                    b.len(),
                    v.len()
                ),
            ));
        }
        if b.is_empty() {
            return Err(invalid(CLASS, format!("argument `boundaries` must not be empty, got boundaries={b:?}")));
        }
        if let Some(i) = (1..b.len()).find(|&i| b[i] <= b[i - 1]) {
            return Err(invalid(
                CLASS,
                format!(
                    "argument `boundaries` must be strictly increasing, got boundaries={b:?} \
                     (boundaries[{i}]={} <= boundaries[{}]={})",
                    b[i],
                    i - 1,
                    b[i - 1]
                ),
            ));
        }
        for (i, &value) in v.iter().enumerate() {
            check_non_negative(CLASS, &format!("values[{i}]"), value)?;
        }
        Ok(())
    }
}

impl LearningRateSchedule for PiecewiseConstantDecay {
    fn name(&self) -> &'static str {
        CLASS
    }

    fn lr_at(&self, step: u64) -> f64 {
        let (b, v) = (&self.boundaries, &self.values);
        let (Some(&first_b), Some(&last_b), Some(&first_v), Some(&last_v)) = (b.first(), b.last(), v.first(), v.last())
        else {
            return f64::NAN;
        };
        if v.len() != b.len() + 1 {
            return f64::NAN;
        }
        // Keras sums `cast(in_interval, float32) * value` over the intervals; for valid
        // (strictly increasing) boundaries exactly one term is non-zero.
        let term = |hit: bool, value: f64| if hit { value as f32 } else { 0.0 * value as f32 };
        let mut lr = 0.0f32;
        lr += term(step <= first_b, first_v);
        lr += term(step > last_b, last_v);
        for (pair, &value) in b.windows(2).zip(&v[1..v.len() - 1]) {
            lr += term(step > pair[0] && step <= pair[1], value);
        }
        lr as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedules::test_util::{assert_matches_keras, invalid_message};

    #[test]
    fn matches_keras() {
        // Keras 3.15.1: PiecewiseConstantDecay(boundaries=[10, 20], values=[1.0, 0.5, 0.1])
        let keras = [
            1.0,
            1.0,
            1.0,
            1.0,
            1.0,
            1.0,
            1.0,
            1.0,
            0.5,
            0.5,
            0.5,
            0.5,
            0.10000000149011612,
            0.10000000149011612,
            0.10000000149011612,
            0.10000000149011612,
            0.10000000149011612,
            0.10000000149011612,
            0.10000000149011612,
            0.10000000149011612,
            0.10000000149011612,
        ];
        let s = PiecewiseConstantDecay::new(vec![10, 20], vec![1.0, 0.5, 0.1]).unwrap();
        assert_matches_keras(&s, &keras);
        assert_eq!(s.name(), "PiecewiseConstantDecay");
        // Right-inclusive boundaries, values as float32.
        assert_eq!(s.lr_at(10), 1.0);
        assert_eq!(s.lr_at(11), 0.5);
        assert_eq!(s.lr_at(20), 0.5);
        assert_eq!(s.lr_at(21), 0.1f32 as f64);
    }

    #[test]
    fn single_boundary() {
        let s = PiecewiseConstantDecay::new(vec![0], vec![0.3, 0.2]).unwrap();
        assert_eq!(s.lr_at(0), 0.3f32 as f64);
        assert_eq!(s.lr_at(1), 0.2f32 as f64);
        assert_eq!(s.lr_at(u64::MAX), 0.2f32 as f64);
    }

    #[test]
    fn rejects_bad_arguments() {
        let m = invalid_message(PiecewiseConstantDecay::new(vec![10, 20], vec![1.0, 0.5]), CLASS);
        assert!(m.contains("boundaries=[10, 20] of length 2") && m.contains("values=[1.0, 0.5] of length 2"), "{m}");
        let m = invalid_message(PiecewiseConstantDecay::new(vec![20, 10], vec![1.0, 0.5, 0.1]), CLASS);
        assert!(m.contains("strictly increasing") && m.contains("boundaries=[20, 10]"), "{m}");
        let m = invalid_message(PiecewiseConstantDecay::new(vec![10, 10], vec![1.0, 0.5, 0.1]), CLASS);
        assert!(m.contains("strictly increasing"), "{m}");
        let m = invalid_message(PiecewiseConstantDecay::new(vec![], vec![1.0]), CLASS);
        assert!(m.contains("boundaries") && m.contains("empty"), "{m}");
        let m = invalid_message(PiecewiseConstantDecay::new(vec![10], vec![1.0, f64::NAN]), CLASS);
        assert!(m.contains("values[1]=NaN"), "{m}");
    }

    #[test]
    fn edited_into_an_invalid_state_does_not_panic() {
        let mut s = PiecewiseConstantDecay::new(vec![10], vec![1.0, 0.5]).unwrap();
        s.values.clear();
        assert!(s.lr_at(3).is_nan());
        assert!(s.validate().is_err());
    }
}
