//! The train/validation split: deterministic, disjoint and complete.

mod common;

use std::collections::HashSet;
use std::path::PathBuf;

use proptest::prelude::*;
use wick_data::{Error, ImageFolder, SplitOptions, SubsetKind};

fn paths(s: &wick_data::Subset) -> Vec<PathBuf> {
    s.samples().iter().map(|s| s.path.clone()).collect()
}

#[test]
fn split_is_deterministic_disjoint_and_complete() {
    let dir = tempfile::tempdir().unwrap();
    common::shapes(dir.path(), 10, 1);
    let folder = ImageFolder::open(dir.path()).unwrap();
    let (train, val) = folder.split(0.2, 123).unwrap();
    assert_eq!((train.kind(), val.kind()), (SubsetKind::Training, SubsetKind::Validation));
    assert_eq!(val.len(), 6); // floor(0.2 * 30)
    assert_eq!(train.len(), 24);

    let t: HashSet<_> = paths(&train).into_iter().collect();
    let v: HashSet<_> = paths(&val).into_iter().collect();
    assert!(t.is_disjoint(&v));
    let all: HashSet<_> = folder.samples().iter().map(|s| s.path.clone()).collect();
    assert_eq!(t.union(&v).cloned().collect::<HashSet<_>>(), all);

    // Same seed: same split, same order. Index again from disk: still the same.
    let (train2, val2) = ImageFolder::open(dir.path()).unwrap().split(0.2, 123).unwrap();
    assert_eq!(paths(&train), paths(&train2));
    assert_eq!(paths(&val), paths(&val2));
    // Another seed: another split.
    let (_, val3) = folder.split(0.2, 124).unwrap();
    assert_ne!(paths(&val), paths(&val3));
    // Labels follow their files.
    for s in train.samples().iter().chain(val.samples()) {
        assert_eq!(s.path.parent().unwrap().file_name().unwrap().to_str().unwrap(), folder.class_names()[s.label]);
    }
}

#[test]
fn empty_subsets_and_bad_fractions_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    common::shapes(dir.path(), 2, 1); // 6 files
    let folder = ImageFolder::open(dir.path()).unwrap();
    // Keras 3.15.1 would give an empty training set and all files to validation here.
    assert!(matches!(folder.split(0.1, 1), Err(Error::EmptySubset { subset: "validation", .. })));
    for bad in [0.0, 1.0, -0.5, f64::NAN] {
        assert!(matches!(folder.split(bad, 1), Err(Error::InvalidOption { .. })), "{bad}");
    }
}

#[test]
fn stratified_split_takes_each_class_share() {
    let dir = tempfile::tempdir().unwrap();
    common::shapes(dir.path(), 10, 1);
    let folder = ImageFolder::open(dir.path()).unwrap();
    let (train, val) = folder.split_with(&SplitOptions { stratified: true, ..SplitOptions::new(0.3, 5) }).unwrap();
    let mut counts = [0; 3];
    for s in val.samples() {
        counts[s.label] += 1;
    }
    assert_eq!(counts, [3, 3, 3]);
    assert_eq!(train.len() + val.len(), 30);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]
    #[test]
    fn any_seed_and_fraction_give_a_partition(seed in any::<u64>(), split in 0.05f64..0.95) {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..20 {
            common::solid_png(&dir.path().join(if i % 2 == 0 { "a" } else { "b" }).join(format!("{i}.png")), i as u8);
        }
        let folder = ImageFolder::open(dir.path()).unwrap();
        match folder.split(split, seed) {
            Ok((t, v)) => {
                let mut all: Vec<PathBuf> = paths(&t).into_iter().chain(paths(&v)).collect();
                all.sort();
                let mut expected: Vec<PathBuf> = folder.samples().iter().map(|s| s.path.clone()).collect();
                expected.sort();
                prop_assert_eq!(all, expected);
                prop_assert_eq!(v.len(), (split * 20.0).floor() as usize);
            }
            Err(e) => { let empty = matches!(e, Error::EmptySubset { .. }); prop_assert!(empty, "unexpected {:?}", e) }
        }
    }
}
