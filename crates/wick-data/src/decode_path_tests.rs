//! Tests of the whole per-file path: the exact mode bit for bit against a straightforward
//! reference decode + crop/pad + resize, and the reduced-size mode's fallbacks and bounds.

use std::path::{Path, PathBuf};

use image::{GrayImage, Luma, Rgb, RgbImage};
use rand::{Rng as _, SeedableRng};

use crate::decode::{load_image_into, load_image_room, AspectMode, ColorMode, DecodeMode, ImageOptions};
use crate::error::Error;
use crate::resize::{resize_chw_reference, Interpolation};
use crate::synthetic::{write_image, ImageFileFormat};

/// The path as first written, step by step with fresh buffers: `image` decodes, converts
/// the colour type, then planar f32 of the crop window, the reference resize, the pad.
fn reference(bytes: &[u8], o: &ImageOptions) -> Vec<f32> {
    let image = image::load_from_memory(bytes).unwrap();
    let (w, h) = (image.width() as usize, image.height() as usize);
    let (hwc, c) = match o.color_mode {
        ColorMode::Grayscale => (image.to_luma8().into_raw(), 1),
        ColorMode::Rgb => (image.to_rgb8().into_raw(), 3),
        ColorMode::Rgba => (image.to_rgba8().into_raw(), 4),
    };
    let (th, tw) = (o.height, o.width);
    let (mut y0, mut x0, mut ch, mut cw, mut oy, mut ox, mut rh, mut rw) = (0, 0, h, w, 0, 0, th, tw);
    match o.aspect {
        AspectMode::Stretch => {}
        AspectMode::CropToAspectRatio => {
            ch = ((w as f64 * th as f64 / tw as f64) as usize).clamp(1, h);
            cw = ((h as f64 * tw as f64 / th as f64) as usize).clamp(1, w);
            (y0, x0) = ((h - ch) / 2, (w - cw) / 2);
        }
        AspectMode::PadToAspectRatio => {
            let ratio = (w as f64 / tw as f64).max(h as f64 / th as f64);
            rh = ((h as f64 / ratio).floor() as usize).clamp(1, th);
            rw = ((w as f64 / ratio).floor() as usize).clamp(1, tw);
            (oy, ox) = ((th - rh) / 2, (tw - rw) / 2);
        }
    }
    let mut planes = vec![0f32; c * ch * cw];
    for k in 0..c {
        for y in 0..ch {
            for x in 0..cw {
                planes[(k * ch + y) * cw + x] = f32::from(hwc[((y0 + y) * w + x0 + x) * c + k]);
            }
        }
    }
    let resized = resize_chw_reference(&planes, (c, ch, cw), (rh, rw), o.interpolation);
    let mut out = vec![0f32; c * th * tw];
    for k in 0..c {
        for y in 0..rh {
            for x in 0..rw {
                out[(k * th + oy + y) * tw + ox + x] = resized[(k * rh + y) * rw + x];
            }
        }
    }
    out
}

/// Noisy files of several sizes and kinds in `dir`: RGB JPEGs, a grey JPEG, PNGs.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut rng = crate::rng::Rng::seed_from_u64(11);
    let mut out = Vec::new();
    for (i, (w, h)) in [(1, 1), (7, 5), (33, 17), (64, 64), (128, 128), (200, 120)].into_iter().enumerate() {
        let img = RgbImage::from_fn(w, h, |x, y| {
            Rgb([(x * 5) as u8 ^ (rng.random::<u8>() / 4), (y * 3) as u8, rng.random::<u8>() / 2 + 60])
        });
        for (ext, format) in [("jpg", ImageFileFormat::Jpeg { quality: 85 }), ("png", ImageFileFormat::Png)] {
            let path = dir.join(format!("{i}.{ext}"));
            write_image(&path, &img, format).unwrap();
            out.push(path);
        }
    }
    let grey = GrayImage::from_fn(96, 80, |x, y| Luma([((x + y) * 3) as u8 ^ (rng.random::<u8>() / 8)]));
    let path = dir.join("grey.jpg");
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 90).encode_image(&grey).unwrap();
    std::fs::write(&path, bytes).unwrap();
    out.push(path);
    out
}

fn option_grid() -> Vec<ImageOptions> {
    let mut grid = Vec::new();
    for (th, tw) in [(1, 1), (5, 7), (16, 16), (64, 64), (128, 128), (150, 90)] {
        for color_mode in [ColorMode::Grayscale, ColorMode::Rgb, ColorMode::Rgba] {
            for aspect in [AspectMode::Stretch, AspectMode::CropToAspectRatio, AspectMode::PadToAspectRatio] {
                for interpolation in [Interpolation::Bilinear, Interpolation::Nearest, Interpolation::Area] {
                    grid.push(ImageOptions { color_mode, aspect, interpolation, ..ImageOptions::new(th, tw) });
                }
            }
        }
    }
    grid.push(ImageOptions { interpolation: Interpolation::Lanczos3, ..ImageOptions::new(48, 40) });
    grid.push(ImageOptions { interpolation: Interpolation::Bicubic, ..ImageOptions::new(40, 300) });
    grid
}

#[test]
fn exact_mode_is_bit_identical_to_the_reference_path() {
    let dir = tempfile::tempdir().unwrap();
    let files = files(dir.path());
    // Every file under every option, in an order that changes sizes from call to call, so
    // the per-thread buffers are reused across shapes.
    for o in option_grid() {
        for path in &files {
            let want = reference(&std::fs::read(path).unwrap(), &o);
            let mut got = vec![f32::NAN; o.image_len()];
            load_image_into(path, &o, &mut got).unwrap();
            let same = got.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "{} with {o:?}", path.display());
            // The batch slots' path: into uninitialised room, initialised in place.
            let mut room: Vec<f32> = Vec::with_capacity(o.image_len());
            let spare = &mut room.spare_capacity_mut()[..o.image_len()];
            let at = spare.as_ptr().cast::<f32>();
            let got = load_image_room(path, &o, spare).unwrap();
            assert!(std::ptr::eq(got.as_ptr(), at) && got.len() == o.image_len());
            let same = got.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "{} with {o:?}, into room", path.display());
        }
    }
}

#[test]
fn reduced_mode_equals_exact_where_it_falls_back() {
    let dir = tempfile::tempdir().unwrap();
    for o in option_grid() {
        for path in files(dir.path()) {
            let (w, h) = image::image_dimensions(&path).unwrap();
            let is_jpeg = path.extension().is_some_and(|e| e == "jpg");
            // PNGs, and JPEGs whose target is over half their size, take the exact path.
            let reduces = is_jpeg && crate::reduced::scale_eighths(w, h, o.width, o.height) < 8;
            let mut exact = vec![0f32; o.image_len()];
            let mut reduced = vec![0f32; o.image_len()];
            load_image_into(&path, &o, &mut exact).unwrap();
            load_image_into(&path, &o.with_decode_mode(DecodeMode::ReducedSize), &mut reduced).unwrap();
            if !reduces {
                assert_eq!(reduced, exact, "{} with {o:?}", path.display());
            }
        }
    }
}

/// Max and mean absolute difference of two outputs.
fn diff(a: &[f32], b: &[f32]) -> (f32, f32) {
    let max = a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
    let mean = a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f32>() / a.len() as f32;
    (max, mean)
}

#[test]
fn reduced_mode_stays_close_to_exact_on_smooth_images() {
    // A smooth colour picture (photo-like, unlike the noise above) at several scales.
    let dir = tempfile::tempdir().unwrap();
    let img = RgbImage::from_fn(256, 192, |x, y| {
        let (fx, fy) = (x as f32 / 256.0, y as f32 / 192.0);
        let v = |a: f32| (127.5 + 120.0 * a.sin()) as u8;
        Rgb([v(6.0 * fx + 2.0 * fy), v(4.0 * fy - 3.0 * fx), v(5.0 * (fx * fy) + 1.0)])
    });
    let path = dir.path().join("smooth.jpg");
    write_image(&path, &img, ImageFileFormat::Jpeg { quality: 90 }).unwrap();
    for (th, tw, eighths) in [(96, 128, 4), (48, 64, 2), (24, 32, 1), (40, 40, 2)] {
        assert_eq!(crate::reduced::scale_eighths(256, 192, tw, th), eighths);
        let o = ImageOptions::new(th, tw);
        let mut exact = vec![0f32; o.image_len()];
        let mut reduced = vec![0f32; o.image_len()];
        load_image_into(&path, &o, &mut exact).unwrap();
        load_image_into(&path, &o.with_decode_mode(DecodeMode::ReducedSize), &mut reduced).unwrap();
        let (max, mean) = diff(&exact, &reduced);
        assert!(max <= 24.0 && mean <= 3.0, "{th}x{tw}: max {max}, mean {mean}");
        assert!(reduced.iter().all(|v| (0.0..=255.0).contains(v)));
    }
}

#[test]
fn reduced_mode_handles_damaged_jpegs_like_exact_or_decodes_them() {
    let dir = tempfile::tempdir().unwrap();
    let original = {
        let img = RgbImage::from_fn(64, 48, |x, y| Rgb([(x * 4) as u8, (y * 5) as u8, ((x ^ y) * 3) as u8]));
        let path = dir.path().join("o.jpg");
        write_image(&path, &img, ImageFileFormat::Jpeg { quality: 80 }).unwrap();
        std::fs::read(path).unwrap()
    };
    let o = ImageOptions::new(16, 16);
    let reduced = o.with_decode_mode(DecodeMode::ReducedSize);
    let mut rng = crate::rng::Rng::seed_from_u64(3);
    let path = dir.path().join("damaged.jpg");
    let (mut decoded, mut refused) = (0, 0);
    for round in 0..300 {
        let mut bytes = original.clone();
        match round % 3 {
            0 => bytes.truncate(rng.random_range(0..bytes.len())),
            1 => {
                for _ in 0..rng.random_range(1..6) {
                    let i = rng.random_range(2..bytes.len());
                    bytes[i] = rng.random();
                }
            }
            _ => {
                let i = rng.random_range(2..bytes.len());
                bytes.drain(i..(i + rng.random_range(1..40)).min(bytes.len()));
            }
        }
        std::fs::write(&path, &bytes).unwrap();
        let mut out = vec![0f32; o.image_len()];
        let exact = load_image_into(&path, &o, &mut out).map_err(|e| e.to_string());
        // Never a panic (the call returns); an error is the exact path's error.
        match load_image_into(&path, &reduced, &mut out) {
            Ok(()) => decoded += 1,
            Err(e) => {
                assert_eq!(Err(e.to_string()), exact, "round {round}");
                refused += 1;
            }
        }
    }
    assert!(decoded > 20 && refused > 20, "{decoded} decoded, {refused} refused");
    // Not an image at all: the usual typed error in both modes.
    std::fs::write(&path, b"not an image").unwrap();
    let mut out = vec![0f32; o.image_len()];
    assert!(matches!(load_image_into(&path, &reduced, &mut out), Err(Error::NotAnImage { .. })));
}

#[test]
fn reduced_grey_jpeg_expands_like_exact() {
    let dir = tempfile::tempdir().unwrap();
    let path = files(dir.path()).pop().unwrap(); // grey.jpg, 96x80
    let o = ImageOptions::new(20, 24).with_decode_mode(DecodeMode::ReducedSize);
    let mut out = vec![0f32; o.image_len()];
    load_image_into(&path, &o, &mut out).unwrap();
    let plane = 20 * 24;
    assert_eq!(out[..plane], out[plane..2 * plane], "grey expands to equal R and G");
    assert_eq!(out[..plane], out[2 * plane..], "and B");
}
