//! Label encodings (Keras `label_mode`) and their Candle tensors.

use candle_core::{Device, Tensor};

use crate::error::{Error, Result};

/// How labels come out of a generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LabelMode {
    /// Class indices, `u32` of shape `[N]` (Keras gives int32; Candle has no i32).
    #[default]
    Int,
    /// One-hot, `f32` of shape `[N, num_classes]` (empty class folders widen it).
    Categorical,
    /// `f32` of shape `[N, 1]` holding 0 or 1; needs exactly two classes.
    Binary,
    /// No labels: batches carry images only.
    None,
}

impl LabelMode {
    /// Checks the mode against the class names (binary needs exactly two).
    pub fn check(self, class_names: &[String]) -> Result<()> {
        if self == LabelMode::Binary && class_names.len() != 2 {
            return Err(Error::BinaryNeedsTwoClasses { found: class_names.len(), names: class_names.to_vec() });
        }
        Ok(())
    }

    /// The label tensor of one batch, `None` for [`LabelMode::None`].
    pub fn tensor(self, labels: &[usize], num_classes: usize, device: &Device) -> Result<Option<Tensor>> {
        let n = labels.len();
        let tensor = match self {
            LabelMode::None => return Ok(None),
            LabelMode::Int => Tensor::from_vec(labels.iter().map(|&l| l as u32).collect::<Vec<_>>(), n, device)?,
            LabelMode::Categorical => {
                let mut one_hot = vec![0f32; n * num_classes];
                for (i, &l) in labels.iter().enumerate() {
                    one_hot[i * num_classes + l] = 1.0;
                }
                Tensor::from_vec(one_hot, (n, num_classes), device)?
            }
            LabelMode::Binary => {
                Tensor::from_vec(labels.iter().map(|&l| l as f32).collect::<Vec<_>>(), (n, 1), device)?
            }
        };
        Ok(Some(tensor))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings() -> Result<()> {
        let d = Device::Cpu;
        let int = LabelMode::Int.tensor(&[2, 0], 3, &d)?.expect("int labels");
        assert_eq!(int.to_vec1::<u32>()?, vec![2, 0]);
        let cat = LabelMode::Categorical.tensor(&[2, 0], 3, &d)?.expect("one-hot");
        assert_eq!(cat.to_vec2::<f32>()?, vec![vec![0.0, 0.0, 1.0], vec![1.0, 0.0, 0.0]]);
        let bin = LabelMode::Binary.tensor(&[1, 0], 2, &d)?.expect("binary");
        assert_eq!(bin.to_vec2::<f32>()?, vec![vec![1.0], vec![0.0]]);
        assert!(LabelMode::None.tensor(&[1], 2, &d)?.is_none());
        assert!(LabelMode::Binary.check(&["a".into(), "b".into(), "c".into()]).is_err());
        Ok(())
    }
}
