//! [`Projective`]: the 3×3 matrix that maps an *output* pixel to the *input* point it samples.
//!
//! Coordinates are pixel indices: `x` grows to the right, `y` grows downwards, pixel
//! centres sit on integers, so an image spans `0..=width-1` × `0..=height-1` and its centre
//! is `((width-1)/2, (height-1)/2)`. Every geometric augmentation is one such matrix, and
//! [`Projective::then`] composes them, so a whole chain is resampled once (the way the
//! legacy `ImageDataGenerator` composes rotation, shift, shear and zoom into one matrix).

/// A 3×3 homogeneous matrix (row-major, f64) mapping output pixel coordinates to input
/// coordinates (inverse mapping: each output pixel asks where to read from).
///
/// Build one from the named constructors and chain them with [`Projective::then`] in the
/// order the operations would be applied to the image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Projective {
    m: [f64; 9],
}

impl Default for Projective {
    fn default() -> Self {
        Self::identity()
    }
}

/// Centre of an axis of `len` pixels in pixel-index coordinates.
fn centre(len: usize) -> f64 {
    (len as f64 - 1.0) * 0.5
}

impl Projective {
    /// The identity: every output pixel reads the input pixel at the same place.
    pub const fn identity() -> Self {
        Self { m: [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0] }
    }

    /// A matrix from its nine row-major entries (output → input).
    pub const fn from_matrix(m: [f64; 9]) -> Self {
        Self { m }
    }

    /// The nine row-major entries.
    pub const fn matrix(&self) -> [f64; 9] {
        self.m
    }

    /// True when every entry is finite.
    pub fn is_finite(&self) -> bool {
        self.m.iter().all(|v| v.is_finite())
    }

    /// True when this is exactly the identity.
    pub fn is_identity(&self) -> bool {
        *self == Self::identity()
    }

    /// Mirror left ↔ right: output column `x` reads input column `width-1-x`.
    pub fn flip_horizontal(width: usize) -> Self {
        Self::from_matrix([-1.0, 0.0, width as f64 - 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0])
    }

    /// Mirror top ↔ bottom: output row `y` reads input row `height-1-y`.
    pub fn flip_vertical(height: usize) -> Self {
        Self::from_matrix([1.0, 0.0, 0.0, 0.0, -1.0, height as f64 - 1.0, 0.0, 0.0, 1.0])
    }

    /// Rotation about the image centre by `turns` full turns (Keras: a fraction of 2π).
    ///
    /// Positive is **counter-clockwise** as seen on screen (Keras' convention): for
    /// `turns = 0.25` the top-centre pixel moves to the left-centre.
    pub fn rotation(turns: f64, height: usize, width: usize) -> Self {
        let theta = turns * std::f64::consts::TAU;
        let (sin, cos) = exact_sin_cos(theta);
        // output → input: x_in = cos·dx − sin·dy, y_in = sin·dx + cos·dy (about the centre),
        // the same matrix Keras' RandomRotation hands to its projective-transform op.
        let (cx, cy) = (centre(width), centre(height));
        Self::from_matrix([cos, -sin, cx - cos * cx + sin * cy, sin, cos, cy - sin * cx - cos * cy, 0.0, 0.0, 1.0])
    }

    /// Zoom about the centre with Keras 3 `RandomZoom` semantics: `zoom_y`, `zoom_x` are the
    /// ratio *input extent / output extent*, so values **> 1 zoom out** (the picture
    /// shrinks, borders get filled) and values < 1 zoom in. Different values stretch.
    pub fn zoom(zoom_y: f64, zoom_x: f64, height: usize, width: usize) -> Self {
        let (cx, cy) = (centre(width), centre(height));
        Self::from_matrix([zoom_x, 0.0, cx - zoom_x * cx, 0.0, zoom_y, cy - zoom_y * cy, 0.0, 0.0, 1.0])
    }

    /// Translation by `dy` rows and `dx` columns (pixels); positive moves the content
    /// **down / right** (Keras `RandomTranslation`).
    pub fn translation(dy: f64, dx: f64) -> Self {
        Self::from_matrix([1.0, 0.0, -dx, 0.0, 1.0, -dy, 0.0, 0.0, 1.0])
    }

    /// Shear about the centre with Keras `RandomShear`'s matrix `[[1, sx, 0], [sy, 1, 0]]`
    /// (output → input): the output row at distance `d` below the centre reads the input
    /// `sx·d` columns to the right, and likewise for columns with `sy`.
    pub fn shear(shear_x: f64, shear_y: f64, height: usize, width: usize) -> Self {
        let (cx, cy) = (centre(width), centre(height));
        Self::from_matrix([1.0, shear_x, -shear_x * cy, shear_y, 1.0, -shear_y * cx, 0.0, 0.0, 1.0])
    }

    /// The homography that maps each `output[i]` point onto `input[i]` (four point pairs,
    /// `(x, y)`), or `None` when the points are degenerate (three on a line).
    ///
    /// This is the perspective ("tilt") warp: put the input's corners at new places.
    pub fn from_corners(output: [(f64, f64); 4], input: [(f64, f64); 4]) -> Option<Self> {
        // Solve the standard 8×8 system for h0..h7 (h8 = 1):
        //   u = (h0 x + h1 y + h2) / (h6 x + h7 y + 1), v = (h3 x + h4 y + h5) / (…)
        let mut a = [[0.0f64; 9]; 8];
        for i in 0..4 {
            let (x, y) = output[i];
            let (u, v) = input[i];
            a[2 * i] = [x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y, u];
            a[2 * i + 1] = [0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y, v];
        }
        // Gaussian elimination with partial pivoting on the augmented matrix.
        for col in 0..8 {
            let pivot = (col..8).max_by(|&p, &q| a[p][col].abs().total_cmp(&a[q][col].abs()))?;
            let magnitude = a[pivot][col].abs();
            if magnitude.is_nan() || magnitude <= 1e-12 {
                return None;
            }
            a.swap(col, pivot);
            let pivot_row = a[col];
            for (r, row) in a.iter_mut().enumerate() {
                let f = row[col] / pivot_row[col];
                if r != col && f != 0.0 {
                    for (v, p) in row[col..].iter_mut().zip(&pivot_row[col..]) {
                        *v -= f * p;
                    }
                }
            }
        }
        let mut m = [0.0f64; 9];
        for (i, row) in a.iter().enumerate() {
            m[i] = row[8] / row[i];
        }
        m[8] = 1.0;
        let p = Self::from_matrix(m);
        p.is_finite().then_some(p)
    }

    /// Composition: first apply `self` to the image, then `next`.
    ///
    /// Both map output → input, so the combined matrix is `self · next`: an output pixel
    /// is first taken back through `next`, then through `self`.
    pub fn then(&self, next: &Projective) -> Projective {
        let (a, b) = (&self.m, &next.m);
        let mut m = [0.0f64; 9];
        for r in 0..3 {
            for c in 0..3 {
                m[3 * r + c] = a[3 * r] * b[c] + a[3 * r + 1] * b[3 + c] + a[3 * r + 2] * b[6 + c];
            }
        }
        Projective { m }
    }

    /// The input point that output pixel `(x, y)` samples.
    pub fn map(&self, x: f64, y: f64) -> (f64, f64) {
        let m = &self.m;
        let z = m[6] * x + m[7] * y + m[8];
        ((m[0] * x + m[1] * y + m[2]) / z, (m[3] * x + m[4] * y + m[5]) / z)
    }
}

/// `sin_cos` that returns exact 0/±1 at multiples of a quarter turn, so that quarter turns
/// are exact pixel permutations (f64 gives `cos(π/2) = 6e-17`).
fn exact_sin_cos(theta: f64) -> (f64, f64) {
    let (s, c) = theta.sin_cos();
    let snap = |v: f64| {
        let r = v.round();
        if (v - r).abs() < 1e-12 {
            r
        } else {
            v
        }
    };
    (snap(s), snap(c))
}
