//! Bad input: every case fails with an error naming the file or folder by default, and is
//! skipped, counted and reported when asked. Never silent.

mod common;

use std::path::{Path, PathBuf};

use common::{epoch_indices, image8, opts, solid_png};
use image::{Rgb, RgbImage};
use wick_data::synthetic::{write_image, ImageFileFormat};
use wick_data::{Dataset, Error, FolderOptions, GeneratorOptions, ImageFolder, ImageFolderGenerator, OnBadFile};

/// A dataset with 6 good files in `a` and `b`, plus one bad file written by `bad`.
fn with_bad_file(bad: impl FnOnce(&Path) -> PathBuf) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..3 {
        solid_png(&dir.path().join(format!("a/{i}.png")), i);
        solid_png(&dir.path().join(format!("b/{i}.png")), 100 + i);
    }
    let path = bad(dir.path());
    (dir, path)
}

fn jpeg_bytes() -> Vec<u8> {
    let img = RgbImage::from_fn(32, 32, |x, y| Rgb([(x * 8) as u8, (y * 8) as u8, 77]));
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.jpg");
    write_image(&p, &img, ImageFileFormat::Jpeg { quality: 90 }).unwrap();
    std::fs::read(p).unwrap()
}

fn png_bytes() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.png");
    solid_png(&p, 5);
    std::fs::read(p).unwrap()
}

/// One epoch over the whole dataset, unshuffled, in batches of 2.
fn run(root: &Path, on_bad_file: OnBadFile) -> (ImageFolderGenerator, Result<Vec<Vec<usize>>, Error>) {
    let folder = ImageFolder::open(root).unwrap();
    let o = GeneratorOptions { on_bad_file, ..opts(2, 0) };
    let mut g = ImageFolderGenerator::new(&folder.all(None), image8(), o).unwrap();
    g.begin_pass(0, false).unwrap();
    let mut batches = Vec::new();
    let result = loop {
        match g.next_batch() {
            Ok(Some(b)) => batches.push(b.indices.unwrap()),
            Ok(None) => break Ok(batches),
            Err(e) => break Err(e),
        }
    };
    (g, result)
}

/// The bad file fails the epoch naming it, and the skip policy leaves it out and reports it.
fn check_bad(path: &Path, root: &Path, expect: fn(&Error) -> bool) {
    let (mut g, result) = run(root, OnBadFile::Fail);
    let err = result.expect_err("a bad file must fail the epoch by default");
    assert!(expect(&err), "unexpected error kind: {err:?}");
    assert_eq!(err.path(), Some(path));
    assert!(err.to_string().contains(&path.display().to_string()), "error must name the file: {err}");
    // The generator stays stopped afterwards instead of going on silently.
    assert!(matches!(g.next_batch(), Err(Error::WorkerStopped(_))));

    let (mut g, result) = run(root, OnBadFile::Skip);
    let batches = result.expect("skip policy");
    assert_eq!(batches.concat().len(), 6, "all good files are batched");
    assert_eq!(batches.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 2], "batches stay full");
    let report = g.skip_report().expect("a report at epoch end").clone();
    assert_eq!(report.pass, 0);
    assert_eq!(report.len(), 1);
    assert_eq!(report.skipped[0].path, path);
    assert!(report.to_string().contains(&path.display().to_string()));
    // Reported again in the next epoch.
    assert_eq!(epoch_indices(&mut g).concat().len(), 6);
    assert_eq!(g.skip_report().unwrap().pass, 1);
    assert_eq!(g.skip_report().unwrap().len(), 1);
}

#[test]
fn corrupt_jpeg() {
    let (dir, path) = with_bad_file(|root| {
        let mut bytes = jpeg_bytes();
        let mid = bytes.len() / 2;
        // Keep the markers, wreck the headers: overwrite the frame header region.
        let sof = bytes.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        bytes[sof + 2..sof + 9].fill(0);
        bytes[mid..mid + 8].fill(0xAA);
        let p = root.join("a/corrupt.jpg");
        std::fs::write(&p, bytes).unwrap();
        p
    });
    check_bad(&path, dir.path(), |e| matches!(e, Error::Decode { .. }));
}

#[test]
fn truncated_jpeg_is_not_decoded_silently() {
    let (dir, path) = with_bad_file(|root| {
        let bytes = jpeg_bytes();
        let p = root.join("a/truncated.jpg");
        std::fs::write(&p, &bytes[..bytes.len() * 2 / 3]).unwrap();
        p
    });
    check_bad(&path, dir.path(), |e| matches!(e, Error::TruncatedJpeg { .. }));
}

#[test]
fn truncated_png() {
    let (dir, path) = with_bad_file(|root| {
        let bytes = png_bytes();
        let p = root.join("b/truncated.png");
        std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
        p
    });
    check_bad(&path, dir.path(), |e| matches!(e, Error::Decode { .. }));
}

#[test]
fn zero_byte_file() {
    let (dir, path) = with_bad_file(|root| {
        let p = root.join("b/empty.png");
        std::fs::write(&p, b"").unwrap();
        p
    });
    check_bad(&path, dir.path(), |e| matches!(e, Error::EmptyFile { .. }));
}

#[test]
fn non_image_with_image_extension() {
    let (dir, path) = with_bad_file(|root| {
        let p = root.join("a/readme.jpg");
        std::fs::write(&p, b"this is text, not a JPEG").unwrap();
        p
    });
    check_bad(&path, dir.path(), |e| matches!(e, Error::NotAnImage { .. }));
}

#[test]
fn unreadable_file() {
    // A dangling link is unreadable even for root (chmod 000 is not).
    let (dir, path) = with_bad_file(|root| {
        let p = root.join("a/gone.png");
        std::os::unix::fs::symlink(root.join("does-not-exist.png"), &p).unwrap();
        p
    });
    check_bad(&path, dir.path(), |e| matches!(e, Error::Io { .. }));
}

#[test]
fn png_named_jpg_is_sniffed_and_decoded() {
    let dir = tempfile::tempdir().unwrap();
    solid_png(&dir.path().join("a/0.png"), 1);
    std::fs::write(dir.path().join("a/really_png.jpg"), png_bytes()).unwrap();
    let (_, result) = run(dir.path(), OnBadFile::Fail);
    assert_eq!(result.unwrap().concat().len(), 2);
}

#[test]
fn empty_class_folder() {
    let dir = tempfile::tempdir().unwrap();
    solid_png(&dir.path().join("a/0.png"), 1);
    std::fs::create_dir_all(dir.path().join("b_empty")).unwrap();
    let err = ImageFolder::open(dir.path()).unwrap_err();
    assert!(matches!(err, Error::EmptyClass { .. }));
    assert!(err.to_string().contains("b_empty"), "{err}");
    // Keras' behaviour on request: the class stays and widens the one-hot vector.
    let keep = FolderOptions { allow_empty_classes: true, ..Default::default() };
    let folder = ImageFolder::with_options(dir.path(), &keep).unwrap();
    assert_eq!(folder.class_names(), ["a", "b_empty"]);
    assert_eq!(folder.empty_classes(), ["b_empty"]);
}

#[test]
fn folder_without_classes_or_images() {
    let dir = tempfile::tempdir().unwrap();
    solid_png(&dir.path().join("loose.png"), 1);
    let err = ImageFolder::open(dir.path()).unwrap_err();
    assert!(matches!(err, Error::NoClasses { .. }), "{err:?}");
    assert!(err.to_string().contains(&dir.path().display().to_string()));

    std::fs::create_dir_all(dir.path().join("a")).unwrap();
    std::fs::write(dir.path().join("a/x.txt"), b"no image").unwrap();
    let err = ImageFolder::open(dir.path()).unwrap_err();
    assert!(matches!(err, Error::NoImages { .. }), "{err:?}");

    let missing = dir.path().join("nope");
    let err = ImageFolder::open(&missing).unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
}

#[test]
fn every_file_bad_is_an_error_even_when_skipping() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("a")).unwrap();
    std::fs::write(dir.path().join("a/x.png"), b"").unwrap();
    std::fs::write(dir.path().join("a/y.png"), b"junk").unwrap();
    let (_, result) = run(dir.path(), OnBadFile::Skip);
    assert!(result.is_err());
}

#[test]
fn skipped_files_leave_no_gap_in_the_batch_pixels() {
    // Each good file has its own red value; bad files sit between them, so the batch
    // buffer has to close gaps. Every image must still be the one its index names.
    let dir = tempfile::tempdir().unwrap();
    for i in 0..7u8 {
        solid_png(&dir.path().join(format!("a/{i}.png")), 10 * i);
    }
    std::fs::write(dir.path().join("a/1b.png"), b"").unwrap();
    std::fs::write(dir.path().join("a/4b.png"), b"junk").unwrap();
    std::fs::write(dir.path().join("a/4c.png"), b"junk").unwrap();
    let folder = ImageFolder::open(dir.path()).unwrap();
    for (batch_size, shuffle) in [(4, false), (3, true), (8, false)] {
        let o = GeneratorOptions { on_bad_file: OnBadFile::Skip, ..opts(batch_size, 3) };
        let mut g = ImageFolderGenerator::new(&folder.all(None), image8(), o).unwrap();
        g.begin_pass(0, shuffle).unwrap();
        let mut seen = 0;
        while let Some(batch) = g.next_batch().unwrap() {
            let images = batch.x.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let per = image8().image_len();
            for (k, &index) in batch.indices.as_ref().unwrap().iter().enumerate() {
                let want = wick_data::decode::load_image(g.path(index).unwrap(), &image8()).unwrap();
                let got = &images[k * per..(k + 1) * per];
                assert_eq!(got, want, "batch size {batch_size}, slot {k}, file {:?}", g.path(index));
            }
            seen += batch.len();
        }
        assert_eq!(seen, 7);
        assert_eq!(g.skip_report().unwrap().len(), 3);
    }
}
