//! The warp's settings: [`FlipMode`], [`FillMode`], and [`Sampling`], the part of
//! [`Interpolation`] the warp can do.

use crate::resize::Interpolation;

/// Which axes [`Augmentation::random_flip`](crate::augment::Augmentation::random_flip)
/// may mirror.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlipMode {
    /// Left ↔ right with probability ½.
    Horizontal,
    /// Top ↔ bottom with probability ½.
    Vertical,
    /// Each axis with its **own** coin (probability ½ each): identity, either single flip
    /// or both, ¼ each. Keras 3.15.1 ties both axes to one coin; see the module docs.
    HorizontalAndVertical,
}

/// How points outside the input are read (Keras / scipy names).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum FillMode {
    /// `(k k k k | a b c d | k k k k)`: a constant value (Keras `fill_value`).
    Constant(f32),
    /// `(a a a a | a b c d | d d d d)`: the nearest edge pixel.
    Nearest,
    /// `(d c b a | a b c d | d c b a)`: mirrored about the edge, edge pixel repeated
    /// (Keras 3's default).
    #[default]
    Reflect,
    /// `(a b c d | a b c d | a b c d)`: the opposite edge.
    Wrap,
}

/// How the warp reads a point between pixel centres: the [`Interpolation`]s it supports
/// (Keras 3's augmentation layers accept only `"nearest"` and `"bilinear"` too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub(crate) enum Sampling {
    /// The closest pixel (halves round up).
    Nearest,
    /// Weighted mean of the four surrounding pixels (Keras 3's default).
    #[default]
    Bilinear,
}

impl Sampling {
    /// The warp's sampling for `interpolation`, or why it has none.
    pub(crate) fn of(interpolation: Interpolation) -> std::result::Result<Self, String> {
        match interpolation {
            Interpolation::Nearest => Ok(Self::Nearest),
            Interpolation::Bilinear => Ok(Self::Bilinear),
            other => Err(format!(
                "interpolation {other:?} is not supported by the augmentation warp; use Nearest or Bilinear"
            )),
        }
    }
}
