//! Per-value operations: brightness, contrast, Gaussian noise, and the elastic field.
//!
//! Normal deviates come from a Box–Muller transform over the crate's seeded [`Rng`] rather
//! than from `rand_distr`: it is a dozen lines, keeps the dependency list as it is, and
//! pins the exact stream (same seed, same pixels) to code in this crate.

use crate::rng::Rng;
use rand::{Rng as _, RngCore as _};

/// A uniform draw in `[lower, upper]` (exactly `lower` when the bounds are equal).
pub(crate) fn uniform(rng: &mut Rng, lower: f64, upper: f64) -> f64 {
    let u: f64 = rng.random();
    lower + (upper - lower) * u
}

/// Fills `out` with independent N(0, 1) deviates (Box–Muller, both outputs used).
pub(crate) fn fill_standard_normal(rng: &mut Rng, out: &mut [f32]) {
    let mut chunks = out.chunks_exact_mut(2);
    for pair in &mut chunks {
        let (a, b) = box_muller(rng);
        pair[0] = a;
        pair[1] = b;
    }
    if let [last] = chunks.into_remainder() {
        *last = box_muller(rng).0;
    }
}

fn box_muller(rng: &mut Rng) -> (f32, f32) {
    // One 64-bit draw gives two 24-bit uniforms; f32 is ample for augmentation noise and
    // about twice as fast as f64 here. u1 lies in (0, 1] so that ln(u1) is finite.
    const SCALE: f32 = 1.0 / (1u32 << 24) as f32;
    let bits = rng.next_u64();
    let u1 = ((bits >> 40) as u32 + 1) as f32 * SCALE;
    let u2 = ((bits >> 8) as u32 & 0x00ff_ffff) as f32 * SCALE;
    let r = (-2.0 * u1.ln()).sqrt();
    let (s, c) = (std::f32::consts::TAU * u2).sin_cos();
    (r * c, r * s)
}

/// Adds N(0, stddev) to every value (Keras `GaussianNoise`: no clipping).
pub(crate) fn add_gaussian_noise(image: &mut [f32], stddev: f32, rng: &mut Rng) {
    let mut noise = vec![0.0f32; image.len()];
    fill_standard_normal(rng, &mut noise);
    for (v, n) in image.iter_mut().zip(&noise) {
        *v += stddev * n;
    }
}

/// Adds `delta` to every value, then clips to `[lo, hi]` (Keras 3 `RandomBrightness`).
pub(crate) fn add_brightness(image: &mut [f32], delta: f32, lo: f32, hi: f32) {
    for v in image.iter_mut() {
        *v = (*v + delta).clamp(lo, hi);
    }
}

/// Per channel: `(x − mean) · factor + mean`, clipped to `[lo, hi]` (Keras 3
/// `RandomContrast`; the mean is over the channel's pixels).
pub(crate) fn adjust_contrast(image: &mut [f32], plane: usize, factor: f32, lo: f32, hi: f32) {
    if plane == 0 {
        return;
    }
    if factor == 1.0 {
        // `(x − m)·1 + m` is not always `x` in floating point; keep the identity exact.
        for v in image.iter_mut() {
            *v = v.clamp(lo, hi);
        }
        return;
    }
    for channel in image.chunks_exact_mut(plane) {
        let mean = (channel.iter().map(|&v| f64::from(v)).sum::<f64>() / plane as f64) as f32;
        for v in channel.iter_mut() {
            *v = ((*v - mean) * factor + mean).clamp(lo, hi);
        }
    }
}

/// A Simard-style elastic displacement field: uniform noise in `[-1, 1]` per pixel and
/// axis, blurred with a Gaussian of standard deviation `sigma` pixels, scaled by `alpha`
/// pixels. Returns `(dx, dy)`, each `height × width` row-major.
pub(crate) fn elastic_field(
    rng: &mut Rng,
    height: usize,
    width: usize,
    alpha: f32,
    sigma: f32,
) -> (Vec<f32>, Vec<f32>) {
    // A radius beyond twice the image adds nothing but time (the reflected field repeats).
    let kernel = gaussian_kernel(sigma, 2 * height.max(width) + 1);
    let field = |rng: &mut Rng| {
        let mut f: Vec<f32> = (0..height * width).map(|_| rng.random::<f32>() * 2.0 - 1.0).collect();
        blur(&mut f, height, width, &kernel);
        for v in &mut f {
            *v *= alpha;
        }
        f
    };
    let dx = field(rng);
    let dy = field(rng);
    (dx, dy)
}

/// Normalised 1-D Gaussian taps, radius `min(ceil(3σ), max_radius)`; `[1.0]` for σ = 0.
fn gaussian_kernel(sigma: f32, max_radius: usize) -> Vec<f32> {
    if sigma.is_nan() || sigma <= 0.0 {
        return vec![1.0];
    }
    let radius = ((3.0 * sigma).ceil() as usize).min(max_radius);
    let mut k: Vec<f32> = (0..=2 * radius)
        .map(|i| {
            let d = i as f32 - radius as f32;
            (-0.5 * d * d / (sigma * sigma)).exp()
        })
        .collect();
    let sum: f32 = k.iter().sum();
    for v in &mut k {
        *v /= sum;
    }
    k
}

/// Separable blur with reflected borders (the same `d c b a | a b c d` rule as the warp).
fn blur(field: &mut [f32], height: usize, width: usize, kernel: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        unsafe { blur_avx2(field, height, width, kernel) };
        return;
    }
    blur_body(field, height, width, kernel);
}

/// [`blur_body`] compiled for AVX2: the same operations in the same order (Rust never
/// fuses a multiply and an add), vectorised 8 lanes wide instead of 4.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn blur_avx2(field: &mut [f32], height: usize, width: usize, kernel: &[f32]) {
    blur_body(field, height, width, kernel);
}

#[inline(always)]
fn blur_body(field: &mut [f32], height: usize, width: usize, kernel: &[f32]) {
    if kernel.len() <= 1 || height == 0 || width == 0 {
        return;
    }
    let radius = (kernel.len() / 2) as i64;
    let reflect = |i: i64, n: usize| -> usize {
        let n = n as i64;
        let m = i.rem_euclid(2 * n);
        (if m >= n { 2 * n - 1 - m } else { m }) as usize
    };
    let mut tmp = vec![0.0f32; field.len()];
    // Horizontal pass: field → tmp, through one reflect-padded copy of the row. Each output
    // is Σ_j k[j]·padded[x + j], summed tap after tap in j order (the order of a per-pixel
    // dot product), with the loop over x innermost so that it vectorises.
    let r = radius as usize;
    let mut padded = vec![0.0f32; width + 2 * r];
    for (row, out) in field.chunks_exact(width).zip(tmp.chunks_exact_mut(width)) {
        padded[r..r + width].copy_from_slice(row);
        for i in 0..r {
            padded[i] = row[reflect(i as i64 - radius, width)];
            padded[r + width + i] = row[reflect((width + i) as i64, width)];
        }
        for (o, &p) in out.iter_mut().zip(&padded) {
            *o = kernel[0] * p;
        }
        for (j, &k) in kernel.iter().enumerate().skip(1) {
            for (o, &p) in out.iter_mut().zip(&padded[j..]) {
                *o += k * p;
            }
        }
    }
    // Vertical pass: tmp → field.
    for (y, out) in field.chunks_exact_mut(width).enumerate() {
        for (j, &k) in kernel.iter().enumerate() {
            let src = reflect(y as i64 + j as i64 - radius, height) * width;
            let src = &tmp[src..src + width];
            if j == 0 {
                for (o, &t) in out.iter_mut().zip(src) {
                    *o = k * t;
                }
            } else {
                for (o, &t) in out.iter_mut().zip(src) {
                    *o += k * t;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_is_normalised_and_symmetric() {
        let k = gaussian_kernel(2.0, 100);
        assert_eq!(k.len(), 13);
        assert!((k.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        for i in 0..k.len() {
            assert!((k[i] - k[k.len() - 1 - i]).abs() < 1e-7);
        }
    }

    /// The blur before it was reordered for vectorisation (per-pixel dot products).
    fn blur_reference(field: &mut [f32], height: usize, width: usize, kernel: &[f32]) {
        if kernel.len() <= 1 || height == 0 || width == 0 {
            return;
        }
        let radius = (kernel.len() / 2) as i64;
        let reflect = |i: i64, n: usize| -> usize {
            let n = n as i64;
            let m = i.rem_euclid(2 * n);
            (if m >= n { 2 * n - 1 - m } else { m }) as usize
        };
        let mut tmp = vec![0.0f32; field.len()];
        let r = radius as usize;
        let mut padded = vec![0.0f32; width + 2 * r];
        for y in 0..height {
            let row = &field[y * width..(y + 1) * width];
            for (i, p) in padded.iter_mut().enumerate() {
                *p = row[reflect(i as i64 - radius, width)];
            }
            for (x, out) in tmp[y * width..(y + 1) * width].iter_mut().enumerate() {
                *out = kernel.iter().zip(&padded[x..x + kernel.len()]).map(|(k, v)| k * v).sum();
            }
        }
        for y in 0..height {
            for (j, &k) in kernel.iter().enumerate() {
                let src = reflect(y as i64 + j as i64 - radius, height) * width;
                let dst = y * width;
                for x in 0..width {
                    if j == 0 {
                        field[dst + x] = k * tmp[src + x];
                    } else {
                        field[dst + x] += k * tmp[src + x];
                    }
                }
            }
        }
    }

    #[test]
    fn blur_equals_the_per_pixel_reference_bit_for_bit() {
        use rand::SeedableRng;
        let mut rng = Rng::seed_from_u64(3);
        for (h, w, sigma) in [(1, 1, 2.0), (3, 7, 0.5), (16, 16, 3.0), (9, 40, 6.4), (40, 9, 20.0), (128, 128, 6.4)] {
            let kernel = gaussian_kernel(sigma, 2 * usize::max(h, w) + 1);
            let field: Vec<f32> = (0..h * w).map(|_| rng.random::<f32>() * 2.0 - 1.0).collect();
            let (mut a, mut b, mut c) = (field.clone(), field.clone(), field);
            blur(&mut a, h, w, &kernel);
            blur_reference(&mut b, h, w, &kernel);
            blur_body(&mut c, h, w, &kernel); // the portable build, whatever this CPU has
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&a), bits(&b), "{h}x{w}, sigma {sigma}");
            assert_eq!(bits(&c), bits(&b), "portable, {h}x{w}, sigma {sigma}");
        }
    }

    #[test]
    fn blur_keeps_a_constant_field() {
        let mut f = vec![3.0f32; 7 * 5];
        blur(&mut f, 7, 5, &gaussian_kernel(4.0, 100));
        assert!(f.iter().all(|v| (v - 3.0).abs() < 1e-5));
    }
}
