//! Per-stage cost of the image pipeline on one thread, in µs per image, over the folder
//! the `pipeline` bench writes (run that first, e.g. with `-- --prepare-only`):
//!
//! - `read`: `std::fs::read` of the file;
//! - `decode (wick)`: `decode::decode_bytes` (zune-jpeg called directly), and
//!   `decode (image)`: `image::load_from_memory_with_format`, the path it replaced;
//! - `convert`: decoded RGB u8 → f32 CHW into a reused buffer (`image_to_chw_into`);
//! - `load_image_into`: the three together, as the generator runs them per image;
//! - `load 64 exact` / `load 64 reduced`: `load_image_into` to 64×64, full decode +
//!   resize vs `DecodeMode::ReducedSize` (DCT-scaled decode at 4/8, no resize); then the
//!   difference between the two outputs over every file (max and mean absolute, on the
//!   0..=255 f32 values, and on those values rounded to u8);
//! - `large …`: the same exact / reduced pair on one smooth, photo-like 1024×768 JPEG
//!   (quality 90, written to a temporary folder) resized to 224×224 (reduced: 4/8 scale)
//!   and to 96×96 (1/8), and the difference there;
//! - `augment b` / `augment elastic`: `Augmentation::apply` with the `pipeline` bench's
//!   `b` and `elastic` settings, on a decoded image (each time copied into the buffer
//!   first, which is included).
//!
//! Each stage runs over every file (decoded images kept in memory), best of 3 rounds.
//! Run: `cargo bench -p wick-data --bench stages [-- --dir PATH]`.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Instant;

use wick_data::augment::{Augmentation, FlipMode};
use wick_data::decode::{decode_bytes, image_to_chw_into, load_image_into};
use wick_data::rng::image_rng;
use wick_data::{DecodeMode, ImageOptions};

/// Prints the best-of-3 time per item of `f` over `n` items.
fn time(name: &str, n: usize, mut f: impl FnMut()) {
    f();
    let best = (0..3)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::MAX, f64::min);
    println!("{name:>18}: {:7.1} µs/image", best * 1e6 / n as f64);
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| {
            panic!("{}: {e} (run `cargo bench -p wick-data --bench pipeline -- --prepare-only`)", dir.display())
        })
        .flat_map(|class| std::fs::read_dir(class.expect("class folder").path()).expect("class folder"))
        .map(|f| f.expect("file").path())
        .collect();
    paths.sort();
    paths
}

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let dir = match (args.next().as_deref(), args.next()) {
        (Some("--dir"), Some(d)) => PathBuf::from(d),
        (None, _) => std::env::var_os("WICK_BENCH_DATA").map(PathBuf::from).unwrap_or_else(|| {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
            target.join("bench-data").join("shapes128x2000")
        }),
        _ => panic!("usage: stages [--dir PATH]"),
    };
    let paths = files(&dir);
    let n = paths.len();
    let bytes: Vec<Vec<u8>> = paths.iter().map(|p| std::fs::read(p).expect("read")).collect();
    let decoded: Vec<_> = paths.iter().zip(&bytes).map(|(p, b)| decode_bytes(p, b).expect("decode")).collect();
    let (w, h) = (decoded[0].width() as usize, decoded[0].height() as usize);
    let options = ImageOptions::new(h, w);
    let mut slot = vec![0f32; options.image_len()];
    println!("{n} files in {} ({h}x{w}), one thread", dir.display());

    time("read", n, || paths.iter().for_each(|p| drop(black_box(std::fs::read(p).expect("read")))));
    time("decode (wick)", n, || {
        paths.iter().zip(&bytes).for_each(|(p, b)| drop(black_box(decode_bytes(p, b).expect("decode"))))
    });
    time("decode (image)", n, || {
        bytes.iter().for_each(|b| drop(black_box(image::load_from_memory(b).expect("decode"))))
    });
    time("convert", n, || {
        decoded.iter().for_each(|d| image_to_chw_into(d, &options, black_box(&mut slot)).expect("convert"))
    });
    time("load_image_into", n, || {
        paths.iter().for_each(|p| load_image_into(p, &options, black_box(&mut slot)).expect("load"))
    });

    let exact64 = ImageOptions::new(64, 64);
    let reduced64 = exact64.with_decode_mode(DecodeMode::ReducedSize);
    let mut slot64 = vec![0f32; exact64.image_len()];
    for (name, o) in [("load 64 exact", exact64), ("load 64 reduced", reduced64)] {
        time(name, n, || paths.iter().for_each(|p| load_image_into(p, &o, black_box(&mut slot64)).expect("load")));
    }
    let (mut max_f, mut sum_f, mut max_u, mut sum_u, mut count) = (0f32, 0f64, 0u8, 0f64, 0usize);
    let mut exact = vec![0f32; exact64.image_len()];
    for p in &paths {
        load_image_into(p, &exact64, &mut exact).expect("load exact");
        load_image_into(p, &reduced64, &mut slot64).expect("load reduced");
        for (a, b) in exact.iter().zip(&slot64) {
            let d = (a - b).abs();
            let du = (a.round() as u8).abs_diff(b.round() as u8);
            (max_f, sum_f, max_u, sum_u) = (max_f.max(d), sum_f + f64::from(d), max_u.max(du), sum_u + f64::from(du));
            count += 1;
        }
    }
    println!(
        "reduced vs exact at 64x64 over {n} files: f32 max abs {max_f:.2}, mean abs {:.3}; u8 max abs {max_u}, mean abs {:.3}",
        sum_f / count as f64,
        sum_u / count as f64
    );

    large_image();

    let chw: Vec<Vec<f32>> = decoded.iter().map(|d| wick_data::decode::image_to_chw(d, &options)).collect();
    let b = Augmentation::new()
        .random_flip(FlipMode::Horizontal)
        .random_rotation(0.1)
        .random_zoom(0.1)
        .random_translation(0.1, 0.1);
    let elastic = Augmentation::new().random_elastic(0.1 * w.max(h) as f32, 0.05 * w.min(h) as f32);
    for (name, aug) in [("augment b", b), ("augment elastic", elastic)] {
        let mut round = 0;
        time(name, n, || {
            round += 1;
            for (i, image) in chw.iter().enumerate() {
                slot.copy_from_slice(image);
                aug.apply(&mut slot, 3, h, w, &mut image_rng(round, 0, i as u64)).expect("augment");
            }
        });
    }
}

/// Exact vs reduced decode of one large smooth JPEG (see the module docs).
fn large_image() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("large.jpg");
    let img = image::RgbImage::from_fn(1024, 768, |x, y| {
        let (fx, fy) = (x as f32 / 1024.0, y as f32 / 768.0);
        let v = |a: f32| (127.5 + 120.0 * a.sin()) as u8;
        image::Rgb([v(9.0 * fx + 4.0 * fy), v(7.0 * fy - 5.0 * fx), v(11.0 * fx * fy + 1.0)])
    });
    wick_data::synthetic::write_image(&path, &img, wick_data::synthetic::ImageFileFormat::Jpeg { quality: 90 })
        .expect("write");
    for side in [224, 96] {
        let exact = ImageOptions::new(side, side);
        let reduced = exact.with_decode_mode(DecodeMode::ReducedSize);
        let (mut a, mut b) = (vec![0f32; exact.image_len()], vec![0f32; exact.image_len()]);
        for (name, o, out) in [("exact", exact, &mut a), ("reduced", reduced, &mut b)] {
            let reps = 20;
            time(&format!("large {side} {name}"), reps, || {
                (0..reps).for_each(|_| load_image_into(&path, &o, black_box(&mut *out)).expect("load"))
            });
        }
        let max = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
        let mean = a.iter().zip(&b).map(|(x, y)| f64::from((x - y).abs())).sum::<f64>() / a.len() as f64;
        println!("large 1024x768 -> {side}x{side}: reduced vs exact f32 max abs {max:.2}, mean abs {mean:.3}");
    }
}
