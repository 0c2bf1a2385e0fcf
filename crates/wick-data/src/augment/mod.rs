//! Seeded, composable image augmentation for training batches (Keras conventions).
//!
//! An [`Augmentation`] is a list of random operations built like a Keras `Sequential` of
//! preprocessing layers. Used as an [`ImageTransform`], the generator applies it to
//! training images only, drawing every random number from the per-image [`Rng`] it is
//! given: the same seed gives the same pixels, whatever thread runs the image.
//!
//! ```
//! use wick_data::augment::{Augmentation, FillMode, FlipMode, Interpolation};
//! use wick_data::rng::image_rng;
//!
//! let aug = Augmentation::new()
//!     .random_flip(FlipMode::Horizontal)
//!     .random_rotation(0.1) // ±0.1 turn = ±36°
//!     .random_zoom(0.1) // zoom factor in [0.9, 1.1]
//!     .random_translation(0.1, 0.1) // ±10 % of height and width
//!     .fill_mode(FillMode::Reflect)
//!     .interpolation(Interpolation::Bilinear)
//!     .checked()?;
//! let (c, h, w) = (3, 32, 32);
//! let mut image = vec![128.0f32; c * h * w]; // CHW, values 0..=255
//! aug.apply(&mut image, c, h, w, &mut image_rng(42, 0, 0))?;
//! assert_eq!(image.len(), c * h * w);
//! # Ok::<(), wick_data::error::Error>(())
//! ```
//!
//! # One resample per image
//!
//! All geometric operations — flip, rotation, zoom/stretch, translation, shear and
//! perspective tilt — are composed into **one** 3×3 [`Projective`] matrix per image, and
//! the image is resampled **once** by inverse mapping (each output pixel asks where in the
//! input to read), the way the legacy `ImageDataGenerator` composes its affine matrix.
//! Elastic distortion, when enabled, is folded into the same pass: its displacement is
//! added to the output coordinate before the matrix, so it acts last. Then the photometric
//! operations (brightness, contrast, Gaussian noise) run on the warped values.
//!
//! Geometric operations compose in the order they were added; photometric ones run after
//! the warp, in the order they were added. Random numbers are drawn in that order too.
//!
//! # Conventions
//!
//! Coordinates are pixel indices (`x` right, `y` down, centre `((W−1)/2, (H−1)/2)`, as
//! TensorFlow's rotation matrix uses). A [`Factor`] given as one number `f` is the range
//! `[−|f|, |f|]`; given as a pair it is `(lower, upper)`; each image draws uniformly in it.
//!
//! | method | Keras | meaning here |
//! |---|---|---|
//! | [`random_flip`](Augmentation::random_flip) | `RandomFlip(mode)` | each enabled axis flips with probability ½, **independently** |
//! | [`random_rotation`](Augmentation::random_rotation) | `RandomRotation(factor)` | fraction of a full turn (0.1 → ±36°); **positive = counter-clockwise** |
//! | [`random_zoom`](Augmentation::random_zoom) | `RandomZoom(h)` | zoom `z = 1 + U(factor)` on both axes; **positive = zoom out** (the picture shrinks, borders are filled), negative = zoom in |
//! | [`random_zoom_hw`](Augmentation::random_zoom_hw) | `RandomZoom(h, w)` | independent draws per axis: an anisotropic **stretch** |
//! | [`random_translation`](Augmentation::random_translation) | `RandomTranslation(h, w)` | fractions of height / width; **positive = down / right** |
//! | [`random_shear`](Augmentation::random_shear) | `RandomShear(x, y)` | output → input matrix `[[1, sx], [sy, 1]]` about the centre |
//! | [`random_perspective`](Augmentation::random_perspective) | `RandomPerspective(factor, scale)` | tilt: with a probability, each corner moves by `U(−scale/2, scale/2)` of the image size |
//! | [`random_elastic`](Augmentation::random_elastic) | `RandomElasticTransform` | Simard et al. (2003): uniform noise blurred by `sigma`, scaled by `alpha` pixels |
//! | [`random_brightness`](Augmentation::random_brightness) | `RandomBrightness(factor)` | **additive** `U(factor) × (hi − lo)` of the value range, then clipped |
//! | [`random_contrast`](Augmentation::random_contrast) | `RandomContrast(factor)` | per channel `(x − mean)·c + mean`, `c = 1 + U(factor)`, then clipped |
//! | [`gaussian_noise`](Augmentation::gaussian_noise) | `GaussianNoise(stddev)` | additive N(0, stddev) in pixel units, not clipped |
//!
//! Fill modes ([`FillMode`]) follow Keras/scipy: `Constant(k)` `(k k k k | a b c d | k k k k)`,
//! `Nearest` `(a a a a | a b c d | d d d d)`, `Reflect` `(d c b a | a b c d | d c b a)` (the
//! Keras 3 default) and `Wrap` `(a b c d | a b c d | a b c d)`. Interpolation is
//! [`Interpolation::Nearest`] or [`Interpolation::Bilinear`] (the default).
//!
//! # Deliberate differences from Keras 3.15.1
//!
//! - `FlipMode::HorizontalAndVertical` tosses **one coin per axis**. Keras 3.15.1's
//!   `RandomFlip("horizontal_and_vertical")` uses one coin for both, so it only ever yields
//!   the identity or a 180° turn, never a single-axis flip (Keras 2 and the legacy
//!   `ImageDataGenerator` flip the axes independently, as here).
//! - `GaussianNoise` refuses `stddev > 1` in Keras, which makes it useless on 0–255 inputs;
//!   any finite `stddev ≥ 0` is accepted here, in the image's own units.
//! - Keras' `RandomShear` matrix has no centring offset, so a shear also shifts the picture
//!   and, for a float factor, multiplies the draw by a random sign (a no-op on a symmetric
//!   range, but it turns a `(lo, hi)` pair into `±(lo, hi)`). Here the shear is about the
//!   image centre and a pair means exactly that range.
//! - Keras 3.15.1's `RandomPerspective` scales each corner's random offset by the corner's
//!   own coordinate, so the top-left corner never moves. Here all four corners move.
//! - Rotation, zoom and shear use the centre `((W−1)/2, (H−1)/2)`, so a quarter turn of a
//!   square image is an exact permutation of its pixels.
//! - Where Keras spells a contrast range `(a, b)` as `[1 − a, 1 + b]`, a [`Factor`] pair is
//!   signed like every other here: Keras' `(a, b)` is `(−a, b)`.
//! - The elastic operation takes Simard's `alpha` / `sigma` in pixels. Keras'
//!   `RandomElasticTransform(scale = s)` corresponds to `alpha = 0.1·s·max(H, W)` and
//!   `sigma = 0.05·s·min(H, W)`.

mod pixel;
mod projective;
mod warp;
#[cfg(target_arch = "x86_64")]
mod warp_avx2;
#[cfg(test)]
mod warp_reference;

#[cfg(test)]
mod tests;

pub use projective::Projective;

use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::transform::ImageTransform;
use rand::Rng as _;

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
        Self {
            lower: value,
            upper: value,
        }
    }

    fn draw(&self, rng: &mut Rng) -> f64 {
        pixel::uniform(rng, f64::from(self.lower), f64::from(self.upper))
    }

    /// Checks finiteness, order and `[min, max]` bounds; the message names the range.
    fn check(&self, min: f32, max: f32) -> std::result::Result<(), String> {
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
}

impl From<f32> for Factor {
    fn from(f: f32) -> Self {
        Self {
            lower: -f.abs(),
            upper: f.abs(),
        }
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

/// Which axes [`Augmentation::random_flip`] may mirror.
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

/// How a point between pixel centres is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Interpolation {
    /// The closest pixel (halves round up).
    Nearest,
    /// Weighted mean of the four surrounding pixels (Keras 3's default).
    #[default]
    Bilinear,
}

/// One random operation of the pipeline.
#[derive(Debug, Clone, PartialEq)]
enum Op {
    Flip {
        horizontal: bool,
        vertical: bool,
    },
    Rotation(Factor),
    Zoom {
        height: Factor,
        width: Option<Factor>,
    },
    Translation {
        height: Factor,
        width: Factor,
    },
    Shear {
        x: Factor,
        y: Factor,
    },
    Perspective {
        probability: f32,
        scale: f32,
    },
    Brightness(Factor),
    Contrast(Factor),
    Noise(f32),
}

/// A photometric step with its parameters drawn for the current image.
enum Photometric {
    Brightness(f32),
    Contrast(f32),
    Noise(f32),
}

/// Simard-style elastic distortion parameters (pixels).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Elastic {
    alpha: f32,
    sigma: f32,
}

/// A seeded, composable augmentation pipeline; see the [module docs](self).
///
/// Builder methods never fail: a parameter outside its domain is recorded (the first one
/// wins) and reported by [`validate`](Self::validate), [`checked`](Self::checked) and
/// [`apply`](Self::apply). Check it once when you build the pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Augmentation {
    ops: Vec<Op>,
    elastic: Option<Elastic>,
    fill: FillMode,
    interpolation: Interpolation,
    value_range: (f32, f32),
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
            interpolation: Interpolation::Bilinear,
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

    fn push_checked(
        self,
        name: &'static str,
        check: std::result::Result<(), String>,
        op: Op,
    ) -> Self {
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
        self.ops.push(Op::Flip {
            horizontal,
            vertical,
        });
        self
    }

    /// Random rotation about the centre by a fraction of a full turn drawn in `factor`
    /// (Keras `RandomRotation`): `0.1` → ±36°. Positive is counter-clockwise.
    pub fn random_rotation(self, factor: impl Into<Factor>) -> Self {
        let f = factor.into();
        self.push_checked(
            "random_rotation factor",
            f.check(f32::MIN, f32::MAX),
            Op::Rotation(f),
        )
    }

    /// Random zoom about the centre, one draw for both axes (aspect kept): the zoom is
    /// `1 + U(factor)`, and **positive zooms out** (Keras 3 `RandomZoom(height_factor)`);
    /// bounds must lie in `(−1, 1]`.
    pub fn random_zoom(self, factor: impl Into<Factor>) -> Self {
        let f = factor.into();
        let check = check_zoom(&f);
        self.push_checked(
            "random_zoom factor",
            check,
            Op::Zoom {
                height: f,
                width: None,
            },
        )
    }

    /// Random zoom with independent draws for height and width (Keras 3
    /// `RandomZoom(height_factor, width_factor)`): an anisotropic stretch. Same sign
    /// convention as [`random_zoom`](Self::random_zoom).
    pub fn random_zoom_hw(
        self,
        height_factor: impl Into<Factor>,
        width_factor: impl Into<Factor>,
    ) -> Self {
        let (h, w) = (height_factor.into(), width_factor.into());
        match (check_zoom(&h), check_zoom(&w)) {
            (Err(m), _) => self.reject("random_zoom_hw height_factor", m),
            (_, Err(m)) => self.reject("random_zoom_hw width_factor", m),
            _ => self.push_checked(
                "random_zoom_hw",
                Ok(()),
                Op::Zoom {
                    height: h,
                    width: Some(w),
                },
            ),
        }
    }

    /// Random shift by fractions of the height and width drawn in the factors, within
    /// `[−1, 1]` (Keras `RandomTranslation`); positive moves the content down / right.
    pub fn random_translation(
        self,
        height_factor: impl Into<Factor>,
        width_factor: impl Into<Factor>,
    ) -> Self {
        let (h, w) = (height_factor.into(), width_factor.into());
        match (h.check(-1.0, 1.0), w.check(-1.0, 1.0)) {
            (Err(m), _) => self.reject("random_translation height_factor", m),
            (_, Err(m)) => self.reject("random_translation width_factor", m),
            _ => self.push_checked(
                "random_translation",
                Ok(()),
                Op::Translation {
                    height: h,
                    width: w,
                },
            ),
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
            return self.reject(
                "random_perspective probability",
                format!("{probability} must lie within [0, 1]"),
            );
        }
        if !(0.0..=1.0).contains(&scale) {
            return self.reject(
                "random_perspective scale",
                format!("{scale} must lie within [0, 1]"),
            );
        }
        self.push_checked(
            "random_perspective",
            Ok(()),
            Op::Perspective { probability, scale },
        )
    }

    /// Random additive brightness (Keras 3 `RandomBrightness`): adds `U(factor) × (hi − lo)`
    /// of the [value range](Self::value_range) to every value of the image, then clips to
    /// it. Bounds in `[−1, 1]`.
    pub fn random_brightness(self, factor: impl Into<Factor>) -> Self {
        let f = factor.into();
        self.push_checked(
            "random_brightness factor",
            f.check(-1.0, 1.0),
            Op::Brightness(f),
        )
    }

    /// Random contrast (Keras 3 `RandomContrast`): per channel `(x − mean)·c + mean` with
    /// `c = 1 + U(factor)`, then clipped to the [value range](Self::value_range). `0.2`
    /// draws `c` in `[0.8, 1.2]`; the lower bound must be ≥ −1 (so `c ≥ 0`).
    pub fn random_contrast(self, factor: impl Into<Factor>) -> Self {
        let f = factor.into();
        self.push_checked(
            "random_contrast factor",
            f.check(-1.0, f32::MAX),
            Op::Contrast(f),
        )
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
            return self.reject(
                "random_elastic alpha",
                format!("{alpha} must be finite and ≥ 0"),
            );
        }
        if !(sigma.is_finite() && sigma >= 0.0) {
            return self.reject(
                "random_elastic sigma",
                format!("{sigma} must be finite and ≥ 0"),
            );
        }
        self.elastic = Some(Elastic { alpha, sigma });
        self
    }

    /// How points outside the input are filled (default [`FillMode::Reflect`]).
    pub fn fill_mode(mut self, fill: FillMode) -> Self {
        if let FillMode::Constant(v) = fill {
            if !v.is_finite() {
                return self.reject(
                    "fill_mode",
                    format!("constant fill value {v} must be finite"),
                );
            }
        }
        self.fill = fill;
        self
    }

    /// How the resample reads between pixels (default [`Interpolation::Bilinear`]).
    pub fn interpolation(mut self, interpolation: Interpolation) -> Self {
        self.interpolation = interpolation;
        self
    }

    /// The nominal value range (Keras `value_range`, default `(0, 255)`): brightness is a
    /// fraction of its span, and brightness and contrast clip to it.
    pub fn value_range(mut self, lo: f32, hi: f32) -> Self {
        if !(lo.is_finite() && hi.is_finite() && lo < hi) {
            return self.reject(
                "value_range",
                format!("({lo}, {hi}) must be finite with lo < hi"),
            );
        }
        self.value_range = (lo, hi);
        self
    }

    /// The first invalid parameter given to a builder method, if any.
    pub fn validate(&self) -> Result<()> {
        match &self.invalid {
            None => Ok(()),
            Some((name, message)) => Err(Error::InvalidOption {
                name,
                message: message.clone(),
            }),
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

    /// Augments one CHW image in place, drawing every random number from `rng`.
    ///
    /// Errors: an invalid builder parameter ([`Error::InvalidOption`]) or a buffer whose
    /// length is not `channels × height × width` ([`Error::Shape`]); the image is then left
    /// unchanged.
    pub fn apply(
        &self,
        image: &mut [f32],
        channels: usize,
        height: usize,
        width: usize,
        rng: &mut Rng,
    ) -> Result<()> {
        self.validate()?;
        check_shape(image.len(), channels, height, width)?;
        if image.is_empty() {
            return Ok(());
        }
        // 1. Draw every parameter, in the order the operations were added.
        let mut m = Projective::identity();
        let mut photometric = Vec::new();
        for op in &self.ops {
            match op {
                Op::Flip {
                    horizontal,
                    vertical,
                } => {
                    // One coin per enabled axis, always drawn in the same order.
                    if *horizontal && rng.random::<bool>() {
                        m = m.then(&Projective::flip_horizontal(width));
                    }
                    if *vertical && rng.random::<bool>() {
                        m = m.then(&Projective::flip_vertical(height));
                    }
                }
                Op::Rotation(f) => m = m.then(&Projective::rotation(f.draw(rng), height, width)),
                Op::Zoom {
                    height: hf,
                    width: wf,
                } => {
                    let zy = 1.0 + hf.draw(rng);
                    let zx = match wf {
                        Some(wf) => 1.0 + wf.draw(rng),
                        None => zy,
                    };
                    m = m.then(&Projective::zoom(zy, zx, height, width));
                }
                Op::Translation {
                    height: hf,
                    width: wf,
                } => {
                    let dy = hf.draw(rng) * height as f64;
                    let dx = wf.draw(rng) * width as f64;
                    m = m.then(&Projective::translation(dy, dx));
                }
                Op::Shear { x, y } => {
                    let (sx, sy) = (x.draw(rng), y.draw(rng));
                    m = m.then(&Projective::shear(sx, sy, height, width));
                }
                Op::Perspective { probability, scale } => {
                    let apply = rng.random::<f64>() < f64::from(*probability);
                    let p = perspective(rng, f64::from(*scale), height, width);
                    if apply {
                        m = m.then(&p);
                    }
                }
                Op::Brightness(f) => {
                    let span = f64::from(self.value_range.1 - self.value_range.0);
                    photometric.push(Photometric::Brightness((f.draw(rng) * span) as f32));
                }
                Op::Contrast(f) => {
                    photometric.push(Photometric::Contrast((1.0 + f.draw(rng)) as f32))
                }
                Op::Noise(s) => photometric.push(Photometric::Noise(*s)),
            }
        }
        let field = self
            .elastic
            .map(|e| pixel::elastic_field(rng, height, width, e.alpha, e.sigma));

        // 2. One resample for all the geometry.
        if !m.is_identity() || field.is_some() {
            let displacement = field.as_ref().map(|(dx, dy)| warp::Displacement { dx, dy });
            warp::with_copy(image, |src, image| {
                warp::warp_into(
                    src,
                    image,
                    channels,
                    height,
                    width,
                    &m,
                    displacement,
                    self.fill,
                    self.interpolation,
                )
            });
        }

        // 3. Photometric steps on the warped values.
        let (lo, hi) = self.value_range;
        for step in photometric {
            match step {
                Photometric::Brightness(delta) => pixel::add_brightness(image, delta, lo, hi),
                Photometric::Contrast(c) => {
                    pixel::adjust_contrast(image, height * width, c, lo, hi)
                }
                Photometric::Noise(s) => pixel::add_gaussian_noise(image, s, rng),
            }
        }
        Ok(())
    }
}

/// The generator's hook. An invalid pipeline or a mis-sized buffer leaves the image
/// unchanged (the trait has no error channel): call [`Augmentation::validate`] (or
/// [`Augmentation::checked`]) when you build the pipeline.
impl ImageTransform for Augmentation {
    fn transform(
        &self,
        image: &mut [f32],
        channels: usize,
        height: usize,
        width: usize,
        rng: &mut Rng,
    ) {
        // Errors are reported by `validate`/`apply`; here the image is simply left as it is.
        let _ = self.apply(image, channels, height, width, rng);
    }
}

/// Resamples one CHW image in place through a given matrix (no randomness): the building
/// block [`Augmentation`] uses, exposed for fixed transforms and tests.
///
/// `m` maps output pixel coordinates to input coordinates (see [`Projective`]).
///
/// ```
/// use wick_data::augment::{warp, FillMode, Interpolation, Projective};
///
/// // A 1×2×3 image, flipped left ↔ right.
/// let mut image = vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0];
/// warp(&mut image, 1, 2, 3, &Projective::flip_horizontal(3), FillMode::Reflect, Interpolation::Bilinear)?;
/// assert_eq!(image, [2.0, 1.0, 0.0, 5.0, 4.0, 3.0]);
/// # Ok::<(), wick_data::error::Error>(())
/// ```
pub fn warp(
    image: &mut [f32],
    channels: usize,
    height: usize,
    width: usize,
    m: &Projective,
    fill: FillMode,
    interpolation: Interpolation,
) -> Result<()> {
    check_shape(image.len(), channels, height, width)?;
    if !m.is_finite() {
        return Err(Error::InvalidOption {
            name: "warp matrix",
            message: format!("{:?} has a non-finite entry", m.matrix()),
        });
    }
    if let FillMode::Constant(v) = fill {
        if !v.is_finite() {
            return Err(Error::InvalidOption {
                name: "fill_mode",
                message: format!("constant fill value {v} must be finite"),
            });
        }
    }
    if image.is_empty() || m.is_identity() {
        return Ok(());
    }
    warp::with_copy(image, |src, image| {
        warp::warp_into(src, image, channels, height, width, m, None, fill, interpolation)
    });
    Ok(())
}

fn check_zoom(f: &Factor) -> std::result::Result<(), String> {
    f.check(-1.0, 1.0)?;
    if f.lower <= -1.0 {
        return Err(format!(
            "lower bound {} must be above −1 (a zoom of 1 + {} ≤ 0)",
            f.lower, f.lower
        ));
    }
    Ok(())
}

/// `len == channels × height × width`, with the plane small enough for 32-bit offsets.
fn check_shape(len: usize, channels: usize, height: usize, width: usize) -> Result<()> {
    let plane = height.checked_mul(width);
    let expected = plane.and_then(|p| p.checked_mul(channels));
    if expected != Some(len) {
        return Err(Error::Shape {
            what: "augmentation input",
            message: format!(
                "buffer of {len} values for channels×height×width = {channels}×{height}×{width}"
            ),
        });
    }
    if plane.is_some_and(|p| p > u32::MAX as usize) {
        return Err(Error::Shape {
            what: "augmentation input",
            message: format!("{height}×{width} plane exceeds 2^32 pixels"),
        });
    }
    Ok(())
}

/// Draws the perspective homography: each corner moves by `U(−s/2, s/2)` of the extent.
/// Always draws eight numbers, so the stream does not depend on the coin.
fn perspective(rng: &mut Rng, scale: f64, height: usize, width: usize) -> Projective {
    let (xmax, ymax) = (
        (width as f64 - 1.0).max(0.0),
        (height as f64 - 1.0).max(0.0),
    );
    let input = [(0.0, 0.0), (xmax, 0.0), (0.0, ymax), (xmax, ymax)];
    let mut output = input;
    for p in &mut output {
        p.0 += pixel::uniform(rng, -0.5 * scale, 0.5 * scale) * xmax;
        p.1 += pixel::uniform(rng, -0.5 * scale, 0.5 * scale) * ymax;
    }
    // Degenerate corners (a 1-pixel image, or three corners on a line) leave the image as is.
    Projective::from_corners(output, input).unwrap_or_default()
}
