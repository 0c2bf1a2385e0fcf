//! Seeded, composable image augmentation for training batches (Keras conventions).
//!
//! An [`Augmentation`] is a list of random operations built like a Keras `Sequential` of
//! preprocessing layers. Used as an [`ImageTransform`](crate::ImageTransform), the
//! generator applies it to training images only, drawing every random number from the
//! per-image [`Rng`](crate::Rng) it is given: the same seed gives the same pixels, whatever
//! thread runs the image.
//!
//! ```
//! use wick_data::augment::{Augmentation, FillMode, FlipMode};
//! use wick_data::rng::image_rng;
//! use wick_data::Interpolation;
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
//! # Ok::<(), wick_data::Error>(())
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
//! Keras 3 default) and `Wrap` `(a b c d | a b c d | a b c d)`. Interpolation is the
//! crate's [`Interpolation`](crate::Interpolation), limited to
//! [`Nearest`](crate::Interpolation::Nearest) and [`Bilinear`](crate::Interpolation::Bilinear)
//! (the default) as in Keras 3's augmentation layers; the other filters are rejected by
//! [`Augmentation::validate`].
//!
//! # Files
//!
//! `factor.rs` ([`Factor`]), `modes.rs` ([`FlipMode`], [`FillMode`]), `builder.rs`
//! ([`Augmentation`] and its checks), `apply.rs` ([`Augmentation::apply`]),
//! `projective.rs` ([`Projective`]), `warp.rs` (the resample and [`warp()`]) with
//! `row.rs` and `warp_avx2.rs`, `pixel.rs` (photometric steps, elastic field, draws).
//! No two modules import each other; this file only declares them and re-exports the
//! public items.
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

mod apply;
mod builder;
mod factor;
mod modes;
mod pixel;
mod projective;
mod row;
mod warp;
#[cfg(target_arch = "x86_64")]
mod warp_avx2;
#[cfg(test)]
mod warp_reference;

#[cfg(test)]
mod tests;

pub use builder::Augmentation;
pub use factor::Factor;
pub use modes::{FillMode, FlipMode};
pub use projective::Projective;
pub use warp::warp;
