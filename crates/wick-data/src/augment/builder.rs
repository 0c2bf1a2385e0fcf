//! The [`Augmentation`] builder: the recorded operations, the settings and their checks.

use super::factor::Factor;
use super::modes::{FillMode, FlipMode, Sampling};
use crate::error::{Error, Result};
use crate::resize::Interpolation;

/// One random operation of the pipeline.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Op {
    Flip { horizontal: bool, vertical: bool },
    Rotation(Factor),
    Zoom { height: Factor, width: Option<Factor> },
    Translation { height: Factor, width: Factor },
    Shear { x: Factor, y: Factor },
    Perspective { probability: f32, scale: f32 },
    Brightness(Factor),
    Contrast(Factor),
    Noise(f32),
}

/// Simard-style elastic distortion parameters (pixels).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Elastic {
    pub(super) alpha: f32,
    pub(super) sigma: f32,
}

/// A seeded, composable augmentation pipeline; see the [module docs](crate::augment).
///
/// Builder methods never fail: a parameter outside its domain is recorded (the first one
/// wins) and reported by [`validate`](Self::validate), [`checked`](Self::checked) and
/// [`apply`](Self::apply). Check it once when you build the pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Augmentation {
    pub(super) ops: Vec<Op>,
    pub(super) elastic: Option<Elastic>,
    pub(super) fill: FillMode,
    /// Always one the warp can do: [`interpolation`](Self::interpolation) records any other
    /// as invalid and leaves this as it was.
    pub(super) sampling: Sampling,
    pub(super) value_range: (f32, f32),
    invalid: Option<(&'static str, String)>,
}

impl Default for Augmentation {
    fn default() -> Self {
        Self::new()
    }
}

impl Augmentation {
    /// An empty pipeline (the identity): reflect fill, bilinear interpolation, values in
    /// `0..=255`.
    pub fn new() -> Self {
        Self {
            ops: Vec::new(),
            elastic: None,
            fill: FillMode::Reflect,
            sampling: Sampling::Bilinear,
            value_range: (0.0, 255.0),
            invalid: None,
        }
    }

    fn reject(mut self, name: &'static str, message: String) -> Self {
        if self.invalid.is_none() {
            self.invalid = Some((name, message));
        }
        self
    }

    fn push_checked(self, name: &'static str, check: std::result::Result<(), String>, op: Op) -> Self {
        match check {
            Ok(()) => {
                let mut s = self;
                s.ops.push(op);
                s
            }
            Err(message) => self.reject(name, message),
        }
    }

    /// Random mirror along the axes of `mode`, each with its own coin of probability ½.
    pub fn random_flip(mut self, mode: FlipMode) -> Self {
        let (horizontal, vertical) = match mode {
            FlipMode::Horizontal => (true, false),
            FlipMode::Vertical => (false, true),
            FlipMode::HorizontalAndVertical => (true, true),
        };
        self.ops.push(Op::Flip { horizontal, vertical });
        self
    }

    /// Random rotation about the centre by a fraction of a full turn drawn in `factor`
    /// (Keras `RandomRotation`): `0.1` → ±36°. Positive is counter-clockwise.
    pub fn random_rotation(self, factor: impl Into<Factor>) -> Self {
        let f = factor.into();
        self.push_checked("random_rotation factor", f.check(f32::MIN, f32::MAX), Op::Rotation(f))
    }

    /// Random zoom about the centre, one draw for both axes (aspect kept): the zoom is
    /// `1 + U(factor)`, and **positive zooms out** (Keras 3 `RandomZoom(height_factor)`);
    /// bounds must lie in `(−1, 1]`.
    pub fn random_zoom(self, factor: impl Into<Factor>) -> Self {
        let f = factor.into();
        let check = f.check_zoom();
        self.push_checked("random_zoom factor", check, Op::Zoom { height: f, width: None })
    }

    /// Random zoom with independent draws for height and width (Keras 3
    /// `RandomZoom(height_factor, width_factor)`): an anisotropic stretch. Same sign
    /// convention as [`random_zoom`](Self::random_zoom).
    pub fn random_zoom_hw(self, height_factor: impl Into<Factor>, width_factor: impl Into<Factor>) -> Self {
        let (h, w) = (height_factor.into(), width_factor.into());
        match (h.check_zoom(), w.check_zoom()) {
            (Err(m), _) => self.reject("random_zoom_hw height_factor", m),
            (_, Err(m)) => self.reject("random_zoom_hw width_factor", m),
            _ => self.push_checked("random_zoom_hw", Ok(()), Op::Zoom { height: h, width: Some(w) }),
        }
    }

    /// Random shift by fractions of the height and width drawn in the factors, within
    /// `[−1, 1]` (Keras `RandomTranslation`); positive moves the content down / right.
    pub fn random_translation(self, height_factor: impl Into<Factor>, width_factor: impl Into<Factor>) -> Self {
        let (h, w) = (height_factor.into(), width_factor.into());
        match (h.check(-1.0, 1.0), w.check(-1.0, 1.0)) {
            (Err(m), _) => self.reject("random_translation height_factor", m),
            (_, Err(m)) => self.reject("random_translation width_factor", m),
            _ => self.push_checked("random_translation", Ok(()), Op::Translation { height: h, width: w }),
        }
    }

    /// Random shear about the centre (Keras `RandomShear(x_factor, y_factor)`): the output
    /// row `d` pixels below the centre reads the input `sx·d` columns to the right, with
    /// `sx` drawn in `x_factor` (and likewise for columns with `sy`); bounds in `[−1, 1]`.
    pub fn random_shear(self, x_factor: impl Into<Factor>, y_factor: impl Into<Factor>) -> Self {
        let (x, y) = (x_factor.into(), y_factor.into());
        match (x.check(-1.0, 1.0), y.check(-1.0, 1.0)) {
            (Err(m), _) => self.reject("random_shear x_factor", m),
            (_, Err(m)) => self.reject("random_shear y_factor", m),
            _ => self.push_checked("random_shear", Ok(()), Op::Shear { x, y }),
        }
    }

    /// Random perspective tilt (Keras `RandomPerspective(factor, scale)`): with
    /// `probability`, each of the four corners moves independently by
    /// `U(−scale/2, scale/2)` × (width − 1) horizontally and × (height − 1) vertically, and
    /// the picture follows its corners. Both values in `[0, 1]`.
    pub fn random_perspective(self, probability: f32, scale: f32) -> Self {
        if !(0.0..=1.0).contains(&probability) {
            return self.reject("random_perspective probability", format!("{probability} must lie within [0, 1]"));
        }
        if !(0.0..=1.0).contains(&scale) {
            return self.reject("random_perspective scale", format!("{scale} must lie within [0, 1]"));
        }
        self.push_checked("random_perspective", Ok(()), Op::Perspective { probability, scale })
    }

    /// Random additive brightness (Keras 3 `RandomBrightness`): adds `U(factor) × (hi − lo)`
    /// of the [value range](Self::value_range) to every value of the image, then clips to
    /// it. Bounds in `[−1, 1]`.
    pub fn random_brightness(self, factor: impl Into<Factor>) -> Self {
        let f = factor.into();
        self.push_checked("random_brightness factor", f.check(-1.0, 1.0), Op::Brightness(f))
    }

    /// Random contrast (Keras 3 `RandomContrast`): per channel `(x − mean)·c + mean` with
    /// `c = 1 + U(factor)`, then clipped to the [value range](Self::value_range). `0.2`
    /// draws `c` in `[0.8, 1.2]`; the lower bound must be ≥ −1 (so `c ≥ 0`).
    pub fn random_contrast(self, factor: impl Into<Factor>) -> Self {
        let f = factor.into();
        self.push_checked("random_contrast factor", f.check(-1.0, f32::MAX), Op::Contrast(f))
    }

    /// Additive Gaussian noise N(0, `stddev`) on every value, in the image's units (so
    /// `stddev = 10.0` on 0–255 images); not clipped, like Keras `GaussianNoise`.
    pub fn gaussian_noise(self, stddev: f32) -> Self {
        let check = if stddev.is_finite() && stddev >= 0.0 {
            Ok(())
        } else {
            Err(format!("{stddev} must be finite and ≥ 0"))
        };
        self.push_checked("gaussian_noise stddev", check, Op::Noise(stddev))
    }

    /// Elastic distortion (Simard, Steinkraus & Platt 2003): a displacement field of
    /// uniform noise in `[−1, 1]`, blurred by a Gaussian of `sigma` pixels and scaled by
    /// `alpha` pixels, drawn per image. It is folded into the geometric resample and acts
    /// after the other geometric operations. MNIST-scale values: `alpha = 34, sigma = 4`.
    /// Calling it again replaces the previous setting.
    pub fn random_elastic(mut self, alpha: f32, sigma: f32) -> Self {
        if !(alpha.is_finite() && alpha >= 0.0) {
            return self.reject("random_elastic alpha", format!("{alpha} must be finite and ≥ 0"));
        }
        if !(sigma.is_finite() && sigma >= 0.0) {
            return self.reject("random_elastic sigma", format!("{sigma} must be finite and ≥ 0"));
        }
        self.elastic = Some(Elastic { alpha, sigma });
        self
    }

    /// How points outside the input are filled (default [`FillMode::Reflect`]).
    pub fn fill_mode(mut self, fill: FillMode) -> Self {
        if let FillMode::Constant(v) = fill {
            if !v.is_finite() {
                return self.reject("fill_mode", format!("constant fill value {v} must be finite"));
            }
        }
        self.fill = fill;
        self
    }

    /// How the resample reads between pixels: [`Interpolation::Nearest`] or
    /// [`Interpolation::Bilinear`] (the default), like Keras 3's augmentation layers. Any
    /// other filter (bicubic, Lanczos, area) is invalid and reported by
    /// [`validate`](Self::validate).
    pub fn interpolation(mut self, interpolation: Interpolation) -> Self {
        match Sampling::of(interpolation) {
            Ok(sampling) => {
                self.sampling = sampling;
                self
            }
            Err(message) => self.reject("interpolation", message),
        }
    }

    /// The nominal value range (Keras `value_range`, default `(0, 255)`): brightness is a
    /// fraction of its span, and brightness and contrast clip to it.
    pub fn value_range(mut self, lo: f32, hi: f32) -> Self {
        if !(lo.is_finite() && hi.is_finite() && lo < hi) {
            return self.reject("value_range", format!("({lo}, {hi}) must be finite with lo < hi"));
        }
        self.value_range = (lo, hi);
        self
    }

    /// The first invalid parameter given to a builder method, if any.
    pub fn validate(&self) -> Result<()> {
        match &self.invalid {
            None => Ok(()),
            Some((name, message)) => {
                Err(Error::InvalidOption { context: "Augmentation", name, message: message.clone() })
            }
        }
    }

    /// `self` if every parameter is valid (for `?` at the end of a builder chain).
    pub fn checked(self) -> Result<Self> {
        self.validate().map(|()| self)
    }

    /// True when the pipeline has no operation (it returns images unchanged).
    pub fn is_identity(&self) -> bool {
        self.ops.is_empty() && self.elastic.is_none()
    }
}
