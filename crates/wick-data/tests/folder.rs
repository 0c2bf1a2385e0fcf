//! Class discovery, label mapping and file listing (Keras semantics).

mod common;

use common::solid_png;
use wick_data::{FolderOptions, ImageFolder};

#[test]
fn classes_are_sorted_by_code_point_and_labels_follow() {
    let dir = tempfile::tempdir().unwrap();
    for (i, class) in ["c2", "b_dogs", "c10", "A_cats"].iter().enumerate() {
        solid_png(&dir.path().join(class).join("x.png"), i as u8);
    }
    let folder = ImageFolder::open(dir.path()).unwrap();
    // Uppercase before lowercase, "c10" before "c2".
    assert_eq!(folder.class_names(), ["A_cats", "b_dogs", "c10", "c2"]);
    for s in folder.samples() {
        let class = s.path.parent().unwrap().file_name().unwrap().to_str().unwrap();
        assert_eq!(folder.class_names()[s.label], class);
    }
    // Walk order is class-major.
    let labels: Vec<usize> = folder.samples().iter().map(|s| s.label).collect();
    assert_eq!(labels, [0, 1, 2, 3]);
}

#[test]
fn explicit_class_names_define_order_and_ignore_other_folders() {
    let dir = tempfile::tempdir().unwrap();
    for class in ["a", "b", "c"] {
        solid_png(&dir.path().join(class).join("x.png"), 0);
    }
    let options = FolderOptions { class_names: Some(vec!["c".into(), "a".into()]), ..Default::default() };
    let folder = ImageFolder::with_options(dir.path(), &options).unwrap();
    assert_eq!(folder.class_names(), ["c", "a"]);
    assert_eq!(folder.len(), 2);
    assert!(folder.samples()[0].path.starts_with(dir.path().join("c")));
    assert_eq!(folder.samples()[0].label, 0);

    let missing = FolderOptions { class_names: Some(vec!["zebra".into()]), ..Default::default() };
    let err = ImageFolder::with_options(dir.path(), &missing).unwrap_err();
    assert!(err.to_string().contains("zebra"), "{err}");
    let dup = FolderOptions { class_names: Some(vec!["a".into(), "a".into()]), ..Default::default() };
    assert!(ImageFolder::with_options(dir.path(), &dup).is_err());
}

#[test]
fn walk_is_recursive_sorted_and_filters_extensions() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    solid_png(&root.join("cat/b.PNG"), 0);
    solid_png(&root.join("cat/a.png"), 0);
    solid_png(&root.join("cat/nested/deep/c.png"), 0);
    solid_png(&root.join("dog/z.jpeg.png"), 0);
    std::fs::write(root.join("dog/notes.txt"), b"hi").unwrap();
    std::fs::write(root.join("dog/photo.webp"), b"RIFF").unwrap();
    solid_png(&root.join("loose.png"), 0); // root files are ignored
    solid_png(&root.join(".hidden/x.png"), 0); // hidden folders are not classes
    let folder = ImageFolder::open(root).unwrap();
    assert_eq!(folder.class_names(), ["cat", "dog"]);
    let names: Vec<String> =
        folder.samples().iter().map(|s| s.path.strip_prefix(root).unwrap().display().to_string()).collect();
    assert_eq!(names, ["cat/a.png", "cat/b.PNG", "cat/nested/deep/c.png", "dog/z.jpeg.png"]);
    assert_eq!(folder.class_counts(), [3, 1]);
}
