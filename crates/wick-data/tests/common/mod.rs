//! Helpers shared by the integration tests: tiny datasets in temporary folders.
#![allow(dead_code)]

use std::path::Path;

use image::{Rgb, RgbImage};
use wick_data::synthetic::{write_image, write_shapes, ImageFileFormat, Shape, ShapesOptions};
use wick_data::{GeneratorOptions, ImageOptions};

/// Writes a solid 8x8 PNG whose red channel encodes `value`.
pub fn solid_png(path: &Path, value: u8) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let img = RgbImage::from_pixel(8, 8, Rgb([value, 10, 20]));
    write_image(path, &img, ImageFileFormat::Png).unwrap();
}

/// A shapes dataset of `per_class` PNGs of 16x16 for three classes.
pub fn shapes(root: &Path, per_class: usize, seed: u64) {
    let options = ShapesOptions {
        shapes: vec![Shape::Circle, Shape::Square, Shape::Triangle],
        per_class,
        height: 16,
        width: 16,
        seed,
        ..Default::default()
    };
    write_shapes(root, &options).unwrap();
}

/// Small images, quiet.
pub fn image8() -> ImageOptions {
    ImageOptions::new(8, 8)
}

/// Options with a batch size and seed, quiet skip reports.
pub fn opts(batch_size: usize, seed: u64) -> GeneratorOptions {
    GeneratorOptions { batch_size, seed, quiet_skips: true, ..GeneratorOptions::new(batch_size, seed) }
}

/// Collects the batch indices of the rest of the current pass.
pub fn epoch_indices(g: &mut impl wick_data::Dataset) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    while let Some(b) = g.next_batch().unwrap() {
        out.push(b.indices.expect("generators record indices"));
    }
    out
}
