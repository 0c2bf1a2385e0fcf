//! [`Augmentation::apply`]: draws one image's parameters, warps once, then runs the
//! photometric steps; and the [`ImageTransform`] hook that calls it.

use super::builder::{Augmentation, Op};
use super::pixel;
use super::projective::Projective;
use super::warp::{check_shape, warp_into, with_copy, Displacement};
use crate::error::Result;
use crate::rng::Rng;
use crate::transform::ImageTransform;
use rand::Rng as _;

/// A photometric step with its parameters drawn for the current image.
enum Photometric {
    Brightness(f32),
    Contrast(f32),
    Noise(f32),
}

impl Augmentation {
    /// Augments one CHW image in place, drawing every random number from `rng`.
    ///
    /// Errors: an invalid builder parameter
    /// ([`Error::InvalidOption`](crate::Error::InvalidOption)) or a buffer whose length is
    /// not `channels × height × width` ([`Error::Shape`](crate::Error::Shape)); the image is
    /// then left unchanged.
    pub fn apply(&self, image: &mut [f32], channels: usize, height: usize, width: usize, rng: &mut Rng) -> Result<()> {
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
                Op::Flip { horizontal, vertical } => {
                    // One coin per enabled axis, always drawn in the same order.
                    if *horizontal && rng.random::<bool>() {
                        m = m.then(&Projective::flip_horizontal(width));
                    }
                    if *vertical && rng.random::<bool>() {
                        m = m.then(&Projective::flip_vertical(height));
                    }
                }
                Op::Rotation(f) => m = m.then(&Projective::rotation(f.draw(rng), height, width)),
                Op::Zoom { height: hf, width: wf } => {
                    let zy = 1.0 + hf.draw(rng);
                    let zx = match wf {
                        Some(wf) => 1.0 + wf.draw(rng),
                        None => zy,
                    };
                    m = m.then(&Projective::zoom(zy, zx, height, width));
                }
                Op::Translation { height: hf, width: wf } => {
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
                Op::Contrast(f) => photometric.push(Photometric::Contrast((1.0 + f.draw(rng)) as f32)),
                Op::Noise(s) => photometric.push(Photometric::Noise(*s)),
            }
        }
        let field = self.elastic.map(|e| pixel::elastic_field(rng, height, width, e.alpha, e.sigma));

        // 2. One resample for all the geometry.
        if !m.is_identity() || field.is_some() {
            let displacement = field.as_ref().map(|(dx, dy)| Displacement { dx, dy });
            with_copy(image, |src, image| {
                warp_into(src, image, channels, height, width, &m, displacement, self.fill, self.sampling)
            });
        }

        // 3. Photometric steps on the warped values.
        let (lo, hi) = self.value_range;
        for step in photometric {
            match step {
                Photometric::Brightness(delta) => pixel::add_brightness(image, delta, lo, hi),
                Photometric::Contrast(c) => pixel::adjust_contrast(image, height * width, c, lo, hi),
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
    fn transform(&self, image: &mut [f32], channels: usize, height: usize, width: usize, rng: &mut Rng) {
        // Errors are reported by `validate`/`apply`; here the image is simply left as it is.
        let _ = self.apply(image, channels, height, width, rng);
    }
}

/// Draws the perspective homography: each corner moves by `U(−s/2, s/2)` of the extent.
/// Always draws eight numbers, so the stream does not depend on the coin.
fn perspective(rng: &mut Rng, scale: f64, height: usize, width: usize) -> Projective {
    let (xmax, ymax) = ((width as f64 - 1.0).max(0.0), (height as f64 - 1.0).max(0.0));
    let input = [(0.0, 0.0), (xmax, 0.0), (0.0, ymax), (xmax, ymax)];
    let mut output = input;
    for p in &mut output {
        p.0 += pixel::uniform(rng, -0.5 * scale, 0.5 * scale) * xmax;
        p.1 += pixel::uniform(rng, -0.5 * scale, 0.5 * scale) * ymax;
    }
    // Degenerate corners (a 1-pixel image, or three corners on a line) leave the image as is.
    Projective::from_corners(output, input).unwrap_or_default()
}
