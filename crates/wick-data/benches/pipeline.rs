//! Images per second through `ImageFolderGenerator` over a folder of 2,000 synthetic
//! 128×128 JPEGs, batch 32, one epoch per timing, all cores (rayon's global pool):
//!
//! - `a`: decode + resize to 128×128 + batch (the `image_dataset_from_directory` path);
//! - `b`: `a` + `Augmentation` random flip (horizontal), rotation 0.1, zoom 0.1,
//!   translation 0.1 (the Keras `RandomFlip → RandomRotation → RandomZoom →
//!   RandomTranslation` stack);
//! - `elastic`: `a` + elastic distortion alone, at the Simard parameters that match Keras'
//!   `RandomElasticTransform()` defaults on 128² (alpha = 0.1·128, sigma = 0.05·128);
//! - `a64`: `a` at a 64×64 target (full decode, then the Keras-exact resize);
//! - `r64`: `a64` with `DecodeMode::ReducedSize` (JPEG DCT-scaled decode at 4/8, which
//!   gives 64×64 directly; not Keras-exact).
//!
//! The folder (4 classes × 500, `synthetic::write_shapes`, JPEG quality 90, seed 0) is
//! written once and reused: `--dir PATH` or `WICK_BENCH_DATA`, default
//! `<target>/bench-data/shapes128x2000`. `scripts/bench_data.sh` runs this and
//! `scripts/bench_data_keras.py` on the same folder in interleaved rounds; see
//! `BENCHMARKS.md`.
//!
//! Run: `cargo bench -p wick-data --bench pipeline [-- --epochs E --pipelines a,b,elastic
//! --dir PATH --prepare-only]` (or `WICK_BENCH_EPOCHS`). Each pipeline runs a short warm-up
//! (3 batches), then E timed epochs (a fresh generator each, construction included); the
//! median is reported. The last line is machine-readable: `RESULT a=… b=… elastic=…`
//! (images/s). The default pipelines are `a,b,elastic,a64,r64`.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use wick_data::augment::{Augmentation, FlipMode};
use wick_data::synthetic::{self, ImageFileFormat, Shape, ShapesOptions};
use wick_data::{
    Dataset, DecodeMode, GeneratorOptions, ImageFolder, ImageFolderGenerator, ImageOptions, ImageTransform, LabelMode,
};

const SIZE: usize = 128;
const PER_CLASS: usize = 500;
const CLASSES: [Shape; 4] = [Shape::Circle, Shape::Square, Shape::Triangle, Shape::Star];
const BATCH: usize = 32;
const WARMUP_BATCHES: usize = 3;
const PIPELINES: [&str; 5] = ["a", "b", "elastic", "a64", "r64"];

struct Args {
    dir: PathBuf,
    epochs: usize,
    pipelines: Vec<String>,
    prepare_only: bool,
}

fn default_dir() -> PathBuf {
    // CARGO_TARGET_DIR when set, else <workspace>/target (this crate is crates/wick-data).
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("bench-data").join("shapes128x2000")
}

fn parse_args() -> Args {
    let mut args = Args {
        dir: std::env::var_os("WICK_BENCH_DATA").map(PathBuf::from).unwrap_or_else(default_dir),
        epochs: std::env::var("WICK_BENCH_EPOCHS").ok().and_then(|v| v.parse().ok()).unwrap_or(3),
        pipelines: PIPELINES.iter().map(|p| p.to_string()).collect(),
        prepare_only: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--dir" => args.dir = PathBuf::from(it.next().expect("--dir needs a path")),
            "--epochs" => args.epochs = it.next().and_then(|v| v.parse().ok()).expect("--epochs needs a number"),
            "--pipelines" => {
                args.pipelines = it.next().expect("--pipelines needs a list").split(',').map(str::to_string).collect()
            }
            "--prepare-only" => args.prepare_only = true,
            "--bench" => {} // passed by `cargo bench`
            other => panic!("unknown argument {other:?} (expected --dir, --epochs, --pipelines, --prepare-only)"),
        }
    }
    assert!(args.epochs >= 1, "--epochs must be at least 1");
    for p in &args.pipelines {
        assert!(PIPELINES.contains(&p.as_str()), "unknown pipeline {p:?} ({})", PIPELINES.join(", "));
    }
    args
}

/// True when `dir` already holds the 4 × 500 JPEGs this bench writes.
fn dataset_complete(dir: &Path) -> bool {
    CLASSES.iter().all(|s| {
        let class_dir = dir.join(s.name());
        let Ok(entries) = std::fs::read_dir(&class_dir) else {
            return false;
        };
        let jpgs = entries.filter_map(|e| e.ok()).filter(|e| e.path().extension().is_some_and(|x| x == "jpg")).count();
        jpgs == PER_CLASS
    })
}

/// Writes the folder unless it is already there; returns whether it was written.
fn prepare(dir: &Path) -> bool {
    if dataset_complete(dir) {
        return false;
    }
    if dir.exists() {
        std::fs::remove_dir_all(dir).expect("remove incomplete bench folder");
    }
    let opts = ShapesOptions {
        shapes: CLASSES.to_vec(),
        per_class: PER_CLASS,
        height: SIZE as u32,
        width: SIZE as u32,
        format: ImageFileFormat::Jpeg { quality: 90 },
        noise: 40,
        seed: 0,
    };
    synthetic::write_shapes(dir, &opts).expect("write the bench folder");
    assert!(dataset_complete(dir), "bench folder incomplete after writing");
    true
}

fn transform_for(pipeline: &str) -> Option<Arc<dyn ImageTransform>> {
    let aug = match pipeline {
        "a" | "a64" | "r64" => return None,
        "b" => Augmentation::new()
            .random_flip(FlipMode::Horizontal)
            .random_rotation(0.1)
            .random_zoom(0.1)
            .random_translation(0.1, 0.1),
        // Keras RandomElasticTransform(factor=1, scale=1) on 128²:
        // alpha = 0.1·scale·max(H, W), sigma = 0.05·scale·min(H, W) (see augment docs).
        "elastic" => Augmentation::new().random_elastic(0.1 * SIZE as f32, 0.05 * SIZE as f32),
        _ => unreachable!(),
    };
    Some(Arc::new(aug.checked().expect("valid augmentation")))
}

fn generator(folder: &ImageFolder, pipeline: &str, seed: u64) -> ImageFolderGenerator {
    let subset = folder.all(Some(seed));
    let options = GeneratorOptions { batch_size: BATCH, seed, label_mode: LabelMode::Int, ..Default::default() };
    let image = match pipeline {
        "a64" => ImageOptions::new(SIZE / 2, SIZE / 2),
        "r64" => ImageOptions::new(SIZE / 2, SIZE / 2).with_decode_mode(DecodeMode::ReducedSize),
        _ => ImageOptions::new(SIZE, SIZE),
    };
    let gen = ImageFolderGenerator::new(&subset, image, options).expect("generator");
    match transform_for(pipeline) {
        Some(t) => gen.with_transform(t).expect("attach transform"),
        None => gen,
    }
}

/// Pulls up to `max_batches` batches (all when `None`); returns the images seen.
fn drain(gen: &mut ImageFolderGenerator, max_batches: Option<usize>) -> usize {
    let mut images = 0;
    let mut batches = 0;
    while max_batches.is_none_or(|m| batches < m) {
        match gen.next_batch().expect("next_batch") {
            Some(batch) => {
                images += batch.len();
                batches += 1;
                black_box(&batch);
            }
            None => break,
        }
    }
    images
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn main() {
    let args = parse_args();
    let t = Instant::now();
    let written = prepare(&args.dir);
    let dir = std::fs::canonicalize(&args.dir).expect("canonical bench folder path");
    println!(
        "folder: {} ({} × {} JPEGs {SIZE}x{SIZE}, {})",
        dir.display(),
        CLASSES.len(),
        PER_CLASS,
        if written { format!("written in {:.2} s", t.elapsed().as_secs_f64()) } else { "reused".into() }
    );
    if args.prepare_only {
        return;
    }
    let folder = ImageFolder::open(&dir).expect("open folder");
    assert_eq!(folder.len(), CLASSES.len() * PER_CLASS);
    println!(
        "batch {BATCH}, rayon threads {}, {} timed epoch(s) per pipeline after a {WARMUP_BATCHES}-batch warm-up",
        rayon::current_num_threads(),
        args.epochs
    );

    let mut result = Vec::new();
    for p in &args.pipelines {
        drain(&mut generator(&folder, p, 1), Some(WARMUP_BATCHES));
        let mut rates = Vec::new();
        for e in 0..args.epochs {
            let start = Instant::now();
            let mut gen = generator(&folder, p, 100 + e as u64);
            let n = drain(&mut gen, None);
            let secs = start.elapsed().as_secs_f64();
            assert_eq!(n, folder.len(), "one epoch must see every image");
            rates.push(n as f64 / secs);
        }
        let med = median(rates.clone());
        let per_epoch: Vec<String> = rates.iter().map(|r| format!("{r:.0}")).collect();
        println!("{p:>8}: {med:8.0} images/s (epochs: {})", per_epoch.join(", "));
        result.push(format!("{p}={med:.1}"));
    }
    println!("RESULT {}", result.join(" "));
}
