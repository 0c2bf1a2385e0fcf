//! A synthetic class-folder dataset: shapes of random colour, size, position and rotation
//! over noisy backgrounds, written to disk deterministically from a seed.
//!
//! It is the default dataset of the demos and of the tests: it exercises the real loader,
//! split, decode and augmentation paths, and a small CNN learns it in seconds.

use std::f64::consts::PI;
use std::path::{Path, PathBuf};

use image::RgbImage;
use rand::Rng as _;
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::rng::{rng_for, Rng, Stream};

/// A shape class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Shape {
    /// A filled disc.
    Circle,
    /// A filled square.
    Square,
    /// A filled equilateral triangle.
    Triangle,
    /// A filled five-pointed star.
    Star,
    /// A filled plus-shaped cross.
    Cross,
}

impl Shape {
    /// Every shape, in a fixed order.
    pub const ALL: [Shape; 5] = [Shape::Circle, Shape::Square, Shape::Triangle, Shape::Star, Shape::Cross];

    /// The class folder name: `circle`, `square`, `triangle`, `star`, `cross`.
    pub fn name(self) -> &'static str {
        match self {
            Shape::Circle => "circle",
            Shape::Square => "square",
            Shape::Triangle => "triangle",
            Shape::Star => "star",
            Shape::Cross => "cross",
        }
    }

    /// Whether the point `(x, y)` (in units of the shape's radius, shape-local
    /// coordinates) lies inside.
    fn contains(self, x: f64, y: f64) -> bool {
        match self {
            Shape::Circle => x * x + y * y <= 1.0,
            Shape::Square => x.abs() <= 0.75 && y.abs() <= 0.75,
            Shape::Cross => (x.abs() <= 0.3 && y.abs() <= 1.0) || (y.abs() <= 0.3 && x.abs() <= 1.0),
            Shape::Triangle => in_polygon(&regular(3, 1.0, 1.0), x, y),
            Shape::Star => in_polygon(&regular(5, 1.0, 0.42), x, y),
        }
    }
}

/// Vertices of a regular polygon (or a star when `inner != outer`), first vertex up.
fn regular(points: usize, outer: f64, inner: f64) -> Vec<(f64, f64)> {
    let n = if inner == outer { points } else { points * 2 };
    (0..n)
        .map(|i| {
            let r = if i % 2 == 1 && inner != outer { inner } else { outer };
            let a = -PI / 2.0 + 2.0 * PI * i as f64 / n as f64;
            (r * a.cos(), r * a.sin())
        })
        .collect()
}

/// Even-odd point-in-polygon test.
fn in_polygon(poly: &[(f64, f64)], x: f64, y: f64) -> bool {
    let mut inside = false;
    let mut j = poly.len() - 1;
    for i in 0..poly.len() {
        let (xi, yi) = poly[i];
        let (xj, yj) = poly[j];
        if (yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi {
            inside = !inside;
        }
        j = i;
    }
    inside
}

/// File format of the written images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ImageFileFormat {
    /// Lossless PNG (`.png`).
    #[default]
    Png,
    /// JPEG (`.jpg`) at the given quality (1..=100).
    Jpeg {
        /// Encoder quality.
        quality: u8,
    },
}

/// What to write.
#[derive(Debug, Clone, PartialEq)]
pub struct ShapesOptions {
    /// The classes, one folder each.
    pub shapes: Vec<Shape>,
    /// Images per class.
    pub per_class: usize,
    /// Image height in pixels.
    pub height: u32,
    /// Image width in pixels.
    pub width: u32,
    /// File format.
    pub format: ImageFileFormat,
    /// Amplitude of the uniform background noise, in 0..=255 levels.
    pub noise: u8,
    /// Seed: same seed and options, same bytes.
    pub seed: u64,
}

impl Default for ShapesOptions {
    fn default() -> Self {
        Self {
            shapes: vec![Shape::Circle, Shape::Square, Shape::Triangle, Shape::Star],
            per_class: 50,
            height: 64,
            width: 64,
            format: ImageFileFormat::Png,
            noise: 40,
            seed: 0,
        }
    }
}

/// What [`write_shapes`] wrote.
#[derive(Debug, Clone)]
pub struct ShapesSummary {
    /// Class folder names, in the order the loader sorts them.
    pub class_names: Vec<String>,
    /// Every file written, class by class.
    pub files: Vec<PathBuf>,
}

/// Renders one image of `shape` with randomness from `rng`.
pub fn render_shape(shape: Shape, height: u32, width: u32, noise: u8, rng: &mut Rng) -> RgbImage {
    let (h, w) = (height as f64, width as f64);
    let bg: [f64; 3] = [rng.random_range(0.0..256.0), rng.random_range(0.0..256.0), rng.random_range(0.0..256.0)];
    // A colour far enough from the background to stay visible through the noise.
    let fg = loop {
        let c: [f64; 3] = [rng.random_range(0.0..256.0), rng.random_range(0.0..256.0), rng.random_range(0.0..256.0)];
        if c.iter().zip(&bg).map(|(a, b)| (a - b).abs()).sum::<f64>() > 160.0 {
            break c;
        }
    };
    let side = h.min(w);
    let radius = side * rng.random_range(0.18..0.38);
    let cx = rng.random_range(radius..(w - radius).max(radius + 1e-6));
    let cy = rng.random_range(radius..(h - radius).max(radius + 1e-6));
    let angle = rng.random_range(0.0..2.0 * PI);
    let (sin, cos) = angle.sin_cos();
    let amp = noise as f64;
    let mut img = RgbImage::new(width, height);
    for (x, y, px) in img.enumerate_pixels_mut() {
        // 2x2 supersampling for soft edges.
        let mut cover = 0.0;
        for (ox, oy) in [(0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75)] {
            let (dx, dy) = ((x as f64 + ox - cx) / radius, (y as f64 + oy - cy) / radius);
            let (lx, ly) = (cos * dx + sin * dy, -sin * dx + cos * dy);
            if shape.contains(lx, ly) {
                cover += 0.25;
            }
        }
        for c in 0..3 {
            let n = if amp > 0.0 { rng.random_range(-amp..=amp) } else { 0.0 };
            let v = bg[c] * (1.0 - cover) + fg[c] * cover + n;
            px.0[c] = v.round().clamp(0.0, 255.0) as u8;
        }
    }
    img
}

/// Writes `root/<shape>/<shape>_NNNN.{png,jpg}`; each file is written to a temporary name
/// and renamed, so an interrupted run leaves no half-written image.
pub fn write_shapes(root: impl AsRef<Path>, options: &ShapesOptions) -> Result<ShapesSummary> {
    let root = root.as_ref();
    if options.height == 0 || options.width == 0 {
        return Err(Error::InvalidOption {
            context: "write_shapes",
            name: "image size",
            message: format!("{}x{}", options.height, options.width),
        });
    }
    if let ImageFileFormat::Jpeg { quality } = options.format {
        if !(1..=100).contains(&quality) {
            return Err(Error::InvalidOption {
                context: "write_shapes",
                name: "quality",
                message: format!("{quality} is not in 1..=100"),
            });
        }
    }
    let mut jobs = Vec::new();
    for (class, &shape) in options.shapes.iter().enumerate() {
        if options.shapes[..class].contains(&shape) {
            return Err(Error::DuplicateClass { name: shape.name().into() });
        }
        let dir = root.join(shape.name());
        std::fs::create_dir_all(&dir).map_err(|source| Error::Io { path: dir.clone(), source })?;
        let ext = match options.format {
            ImageFileFormat::Png => "png",
            ImageFileFormat::Jpeg { .. } => "jpg",
        };
        for i in 0..options.per_class {
            jobs.push((class, shape, i, dir.join(format!("{}_{i:04}.{ext}", shape.name()))));
        }
    }
    jobs.par_iter().try_for_each(|(class, shape, i, path)| {
        let mut rng = rng_for(options.seed, Stream::Synthetic, &[*class as u64, *i as u64]);
        let img = render_shape(*shape, options.height, options.width, options.noise, &mut rng);
        write_image(path, &img, options.format)
    })?;
    let mut class_names: Vec<String> = options.shapes.iter().map(|s| s.name().to_string()).collect();
    class_names.sort();
    Ok(ShapesSummary { class_names, files: jobs.into_iter().map(|j| j.3).collect() })
}

/// Encodes `img` and writes it atomically (temporary file in the same folder, then rename).
pub fn write_image(path: &Path, img: &RgbImage, format: ImageFileFormat) -> Result<()> {
    let mut bytes = Vec::new();
    let encoded = match format {
        ImageFileFormat::Png => img.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png),
        ImageFileFormat::Jpeg { quality } => {
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, quality).encode_image(img)
        }
    };
    encoded.map_err(|source| Error::Encode { path: path.to_path_buf(), source })?;
    let mut tmp_name = path.as_os_str().to_os_string();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    std::fs::write(&tmp, &bytes).map_err(|source| Error::Io { path: tmp.clone(), source })?;
    std::fs::rename(&tmp, path).map_err(|source| Error::Io { path: path.to_path_buf(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_are_inside_their_radius() {
        for s in Shape::ALL {
            assert!(s.contains(0.0, 0.0), "{s:?} centre");
            assert!(!s.contains(1.01, 0.0) && !s.contains(0.0, -1.01), "{s:?} outside");
        }
    }

    #[test]
    fn rendering_is_deterministic() {
        let a = render_shape(Shape::Star, 32, 40, 30, &mut rng_for(7, Stream::Synthetic, &[0]));
        let b = render_shape(Shape::Star, 32, 40, 30, &mut rng_for(7, Stream::Synthetic, &[0]));
        let c = render_shape(Shape::Star, 32, 40, 30, &mut rng_for(8, Stream::Synthetic, &[0]));
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
