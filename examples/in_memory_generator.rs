//! A user-written generator over in-memory arrays, rebuilding the seed project's
//! `train_val_Generator(batch_size, X, Y, input_size)`: it splits `(X, Y)` by a seed,
//! resizes to `input_size`, augments the training part only (a random horizontal flip),
//! and returns a training and a validation generator.
//!
//! Run: `cargo run --release --example in_memory_generator`

use std::sync::Arc;

use wick::data::{
    rng, Batch, Dataset, GeneratorOptions, ImageArray, ImageTransform, InMemoryGenerator, Interpolation, LabelMode,
    Rng, SubsetKind,
};

/// A random horizontal flip of a CHW image: a user-written [`ImageTransform`].
struct FlipLeftRight;

impl ImageTransform for FlipLeftRight {
    fn transform(&self, image: &mut [f32], channels: usize, height: usize, width: usize, rng: &mut Rng) {
        if rng::coin(rng) {
            for row in image.chunks_exact_mut(width).take(channels * height) {
                row.reverse();
            }
        }
    }
}

/// `train_val_Generator(batch_size, X, Y, input_size)`: 80/20 split by seed, one-hot
/// labels, training shuffled and flipped per epoch, validation fixed and untouched.
fn train_val_generator(
    batch_size: usize,
    x: ImageArray,
    input_size: (usize, usize),
    seed: u64,
) -> wick::data::Result<(InMemoryGenerator, InMemoryGenerator)> {
    let x = x.resized(input_size.0, input_size.1, Interpolation::Bilinear);
    // Seeded split: permute the indices, the tail is validation (Keras' rule).
    let mut order: Vec<usize> = (0..x.len()).collect();
    let mut r = rng::rng_for(seed, rng::Stream::Split, &[]);
    for i in (1..order.len()).rev() {
        let j = (rng::uniform(&mut r, 0.0, (i + 1) as f32) as usize).min(i);
        order.swap(i, j);
    }
    let n_val = x.len() / 5;
    let (train_idx, val_idx) = order.split_at(x.len() - n_val);
    let options = GeneratorOptions { batch_size, seed, label_mode: LabelMode::Categorical, ..Default::default() };
    let train = InMemoryGenerator::new(x.select(train_idx), SubsetKind::Training, options.clone())?
        .with_transform(Arc::new(FlipLeftRight))?;
    let val = InMemoryGenerator::new(x.select(val_idx), SubsetKind::Validation, options)?;
    Ok((train, val))
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {}", wick::data::with_sources(&e));
        std::process::exit(1);
    }
}

fn run() -> wick::data::Result<()> {
    // X: 100 RGB images of 20x20 whose mean brightness encodes one of 2 classes; Y: labels.
    let (n, c, h, w) = (100, 3, 20, 20);
    let labels: Vec<usize> = (0..n).map(|i| i % 2).collect();
    let images: Vec<f32> =
        (0..n * c * h * w).map(|k| if labels[k / (c * h * w)] == 1 { 200.0 } else { 50.0 } + (k % 7) as f32).collect();
    let x = ImageArray::new(images, labels, (c, h, w), 2)?;

    let (mut train, mut val) = train_val_generator(16, x, (32, 32), 42)?;
    for epoch in 0..2 {
        // What fit does at the start of each epoch: a new, shuffled pass of the training
        // data and an unshuffled pass of the validation data.
        train.begin_pass(epoch, true)?;
        val.begin_pass(0, false)?;
        let mut seen = 0;
        while let Some(Batch { x, y, .. }) = train.next_batch()? {
            seen += x.dims()[0];
            assert_eq!(x.dims()[1..], [3, 32, 32]);
            assert!(y.is_some());
        }
        let mut val_seen = 0;
        while let Some(batch) = val.next_batch()? {
            val_seen += batch.len();
        }
        println!(
            "epoch {epoch}: {seen} training images ({} steps), {val_seen} validation images",
            train.len_batches().unwrap_or(0)
        );
    }
    Ok(())
}
