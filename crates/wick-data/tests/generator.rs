//! Generators: shapes and labels of batches, per-epoch shuffles, epochs and last batches,
//! and no augmentation in validation batches.

mod common;

use std::sync::Arc;

use common::{epoch_indices, image8, opts};
use wick_data::{
    ColorMode, Dataset, Error, ImageFolder, ImageFolderGenerator, ImageOptions, LabelMode, LastBatch, Rng,
};

fn dataset(per_class: usize) -> (tempfile::TempDir, ImageFolder) {
    let dir = tempfile::tempdir().unwrap();
    common::shapes(dir.path(), per_class, 3);
    let folder = ImageFolder::open(dir.path()).unwrap();
    (dir, folder)
}

#[test]
fn batches_have_keras_shapes_and_labels() {
    let (_dir, folder) = dataset(4); // 12 images
    let all = folder.all(None);
    for (mode, color, label_dims) in [
        (LabelMode::Int, ColorMode::Rgb, vec![5]),
        (LabelMode::Categorical, ColorMode::Grayscale, vec![5, 3]),
        (LabelMode::None, ColorMode::Rgba, vec![]),
    ] {
        let image = ImageOptions { color_mode: color, ..ImageOptions::new(6, 7) };
        let mut g =
            ImageFolderGenerator::new(&all, image, wick_data::GeneratorOptions { label_mode: mode, ..opts(5, 1) })
                .unwrap();
        let b = g.next_batch().unwrap().unwrap();
        assert_eq!(b.x.dims(), [5, color.channels(), 6, 7]);
        assert_eq!(b.x.dtype(), candle_core::DType::F32);
        let max = b.x.flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap();
        assert!(max > 1.0 && max <= 255.0, "0..255 range, got max {max}");
        match &b.y {
            Some(l) => assert_eq!(l.dims(), label_dims.as_slice()),
            None => assert!(label_dims.is_empty()),
        }
        if mode == LabelMode::Int {
            let labels = b.y.unwrap().to_vec1::<u32>().unwrap();
            for (l, i) in labels.iter().zip(b.indices.as_ref().unwrap()) {
                assert_eq!(*l as usize, g.samples()[*i].label);
            }
        }
    }
    // Binary needs two classes.
    let err = ImageFolderGenerator::new(
        &all,
        image8(),
        wick_data::GeneratorOptions { label_mode: LabelMode::Binary, ..opts(5, 1) },
    );
    assert!(matches!(err, Err(Error::BinaryNeedsTwoClasses { found: 3, .. })));
}

#[test]
fn last_batch_policy_and_steps() {
    let (_dir, folder) = dataset(4); // 12 images
    let all = folder.all(None);
    let mut keep = ImageFolderGenerator::new(&all, image8(), opts(5, 1)).unwrap();
    assert_eq!(keep.len_batches(), Some(3));
    let sizes: Vec<usize> = epoch_indices(&mut keep).iter().map(Vec::len).collect();
    assert_eq!(sizes, [5, 5, 2]);

    let mut drop = ImageFolderGenerator::new(
        &all,
        image8(),
        wick_data::GeneratorOptions { last_batch: LastBatch::Drop, ..opts(5, 1) },
    )
    .unwrap();
    assert_eq!(drop.len_batches(), Some(2));
    assert_eq!(epoch_indices(&mut drop).iter().map(Vec::len).collect::<Vec<_>>(), [5, 5]);

    // A pass left after one batch and begun again starts from its first batch.
    keep.begin_pass(4, true).unwrap();
    let first = keep.next_batch().unwrap().unwrap().indices;
    keep.begin_pass(4, true).unwrap();
    assert_eq!(keep.next_batch().unwrap().unwrap().indices, first);
    assert_eq!(epoch_indices(&mut keep).len(), 2);
}

#[test]
fn endless_streams_cross_passes_with_full_batches() {
    let (_dir, folder) = dataset(4); // 12 images
    let all = folder.all(None);
    let o = wick_data::GeneratorOptions { repeat: true, ..opts(5, 9) };
    let mut g = ImageFolderGenerator::new(&all, image8(), o).unwrap();
    assert_eq!(g.len_batches(), None);
    // fit's steps_per_epoch = 4 places the epoch boundaries of a repeating stream.
    let e0: Vec<Vec<usize>> = (0..4).map(|_| g.next_batch().unwrap().unwrap().indices.unwrap()).collect();
    assert!(e0.iter().all(|b| b.len() == 5));
    // The first 10 images cover pass 0's 12 files minus 2, then pass 1 begins.
    let first_pass: std::collections::HashSet<usize> = e0.concat()[..12].iter().copied().collect();
    assert_eq!(first_pass.len(), 12);
    for _ in 0..7 {
        assert_eq!(g.next_batch().unwrap().unwrap().len(), 5);
    }
}

#[test]
fn shuffles_change_per_epoch_and_repeat_by_seed() {
    let (_dir, folder) = dataset(6); // 18 images
    let (train, val) = folder.split(0.25, 7).unwrap();
    let run = |seed: u64| {
        let mut g = ImageFolderGenerator::new(&train, image8(), opts(4, seed)).unwrap();
        (0..3).map(|_| epoch_indices(&mut g).concat()).collect::<Vec<_>>()
    };
    let a = run(11);
    assert_ne!(a[0], a[1]);
    assert_ne!(a[1], a[2]);
    for epoch in &a {
        let mut sorted = epoch.clone();
        sorted.sort();
        assert_eq!(sorted, (0..train.len()).collect::<Vec<_>>(), "each epoch is a permutation");
    }
    assert_eq!(a, run(11), "same seed, same epochs");
    assert_ne!(a, run(12));

    // Passes are numbered: beginning pass 1 gives the second epoch's order again.
    let mut g = ImageFolderGenerator::new(&train, image8(), opts(4, 11)).unwrap();
    g.begin_pass(1, true).unwrap();
    assert_eq!(epoch_indices(&mut g).concat(), a[1]);
    g.begin_pass(0, false).unwrap();
    assert_eq!(epoch_indices(&mut g).concat(), (0..train.len()).collect::<Vec<_>>(), "unshuffled: base order");

    // Validation keeps its order every epoch, and refuses to be shuffled.
    let mut v = ImageFolderGenerator::new(&val, image8(), opts(4, 11)).unwrap();
    let v0 = epoch_indices(&mut v).concat();
    assert_eq!(v0, (0..val.len()).collect::<Vec<_>>());
    assert_eq!(epoch_indices(&mut v).concat(), v0);
    assert!(matches!(v.begin_pass(1, true), Err(Error::ShuffleUnsupported { context: "ImageFolderGenerator", .. })));
}

#[test]
fn batches_repeat_bit_for_bit_whatever_the_threads() {
    let (_dir, folder) = dataset(4);
    let all = folder.all(Some(3));
    let noise = Arc::new(|img: &mut [f32], _c: usize, _h: usize, _w: usize, rng: &mut Rng| {
        use rand::Rng as _;
        for v in img.iter_mut() {
            *v += rng.random_range(-5.0f32..5.0);
        }
    });
    let run = |threads: usize| {
        let o = wick_data::GeneratorOptions { num_threads: Some(threads), ..opts(5, 2) };
        let mut g = ImageFolderGenerator::new(&all, image8(), o).unwrap().with_transform(noise.clone()).unwrap();
        let mut out = Vec::new();
        for _ in 0..2 {
            while let Some(b) = g.next_batch().unwrap() {
                out.push(b.x.flatten_all().unwrap().to_vec1::<f32>().unwrap());
            }
        }
        out
    };
    let one = run(1);
    assert_eq!(one, run(2));
    assert_ne!(one[0], one[3], "epochs get different augmentation");
}

#[test]
fn no_augmentation_reaches_validation_batches() {
    let (_dir, folder) = dataset(4);
    let (train, val) = folder.split(0.25, 1).unwrap();
    // A transform that marks every image: any -1000 in a batch means it ran.
    let mark: Arc<dyn wick_data::ImageTransform> =
        Arc::new(|img: &mut [f32], _: usize, _: usize, _: usize, _: &mut Rng| img.fill(-1000.0));

    let mut t = ImageFolderGenerator::new(&train, image8(), opts(4, 1)).unwrap().with_transform(mark.clone()).unwrap();
    let b = t.next_batch().unwrap().unwrap();
    assert!(b.x.flatten_all().unwrap().to_vec1::<f32>().unwrap().iter().all(|&v| v == -1000.0));

    let refused = ImageFolderGenerator::new(&val, image8(), opts(4, 1)).unwrap().with_transform(mark);
    assert!(matches!(refused, Err(Error::AugmentOutsideTraining { subset: "validation" })));

    let mut v = ImageFolderGenerator::new(&val, image8(), opts(4, 1)).unwrap();
    assert!(!v.is_augmented());
    for _ in 0..2 {
        while let Some(b) = v.next_batch().unwrap() {
            assert!(b.x.flatten_all().unwrap().to_vec1::<f32>().unwrap().iter().all(|&v| (0.0..=255.0).contains(&v)));
        }
    }
}

#[test]
fn reduced_size_decode_batches_have_the_target_shape_and_follow_exact_mode() {
    use wick_data::synthetic::{write_shapes, ImageFileFormat, Shape, ShapesOptions};
    use wick_data::DecodeMode;
    let dir = tempfile::tempdir().unwrap();
    let options = ShapesOptions {
        shapes: vec![Shape::Circle, Shape::Square],
        per_class: 4,
        height: 32,
        width: 32,
        format: ImageFileFormat::Jpeg { quality: 90 },
        seed: 2,
        ..Default::default()
    };
    write_shapes(dir.path(), &options).unwrap();
    let all = ImageFolder::open(dir.path()).unwrap().all(None);
    let batch = |image: ImageOptions| {
        let mut g = ImageFolderGenerator::new(&all, image, opts(8, 1)).unwrap();
        g.begin_pass(0, false).unwrap();
        g.next_batch().unwrap().unwrap().x
    };
    let exact = batch(ImageOptions::new(16, 16));
    let reduced = batch(ImageOptions::new(16, 16).with_decode_mode(DecodeMode::ReducedSize));
    assert_eq!(reduced.dims(), [8, 3, 16, 16]);
    let mean_abs = (exact - &reduced).unwrap().abs().unwrap().mean_all().unwrap().to_scalar::<f32>().unwrap();
    assert!(mean_abs < 12.0, "reduced vs exact: mean abs {mean_abs}");
    // At full size the reduced mode has nothing to reduce: the same bits.
    let exact = batch(ImageOptions::new(32, 32));
    let same = batch(ImageOptions::new(32, 32).with_decode_mode(DecodeMode::ReducedSize));
    assert_eq!(
        exact.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        same.flatten_all().unwrap().to_vec1::<f32>().unwrap()
    );
}
