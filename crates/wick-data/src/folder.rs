//! Indexing a `root/<class>/**/<image>` tree the way Keras' `image_dataset_from_directory`
//! does: sorted class folders, recursive sorted walk, case-insensitive extension allow-list.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Extensions Keras accepts (`ALLOWLIST_FORMATS`), matched case-insensitively.
/// Anything else (`.webp`, `.tif`, `.txt`, ...) is not an image file for the index.
pub const ALLOWED_EXTENSIONS: [&str; 5] = ["bmp", "gif", "jpeg", "jpg", "png"];

/// How to index a folder tree.
#[derive(Debug, Clone, Default)]
pub struct FolderOptions {
    /// Explicit classes, in label order; each must be a sub-folder of the root, other
    /// folders are ignored. `None`: every non-hidden sub-folder, sorted by code point.
    pub class_names: Option<Vec<String>>,
    /// Follow symbolic links to folders while walking (Keras `follow_links`, default false).
    /// Links to files are always listed (a dangling one fails when read).
    pub follow_links: bool,
    /// Keep class folders that hold no image as classes (Keras keeps them: they widen the
    /// one-hot vector). Default false: an empty class folder is an error naming it.
    pub allow_empty_classes: bool,
}

/// One indexed image: its path and its label (index into the class names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// The image file.
    pub path: PathBuf,
    /// Index into [`ImageFolder::class_names`].
    pub label: usize,
}

/// The index of a class-folder dataset: class names in label order and every image file
/// in walk order (class-major, sorted within each class).
#[derive(Debug, Clone)]
pub struct ImageFolder {
    root: PathBuf,
    class_names: Vec<String>,
    samples: Vec<Sample>,
    empty_classes: Vec<String>,
}

impl ImageFolder {
    /// Indexes `root` with default options (inferred, sorted classes).
    pub fn open(root: impl AsRef<Path>) -> Result<Self> {
        Self::with_options(root, &FolderOptions::default())
    }

    /// Indexes `root` with the given options.
    pub fn with_options(root: impl AsRef<Path>, options: &FolderOptions) -> Result<Self> {
        let root = root.as_ref().to_path_buf();
        let meta = std::fs::metadata(&root).map_err(|source| Error::Io { path: root.clone(), source })?;
        if !meta.is_dir() {
            return Err(Error::NotADirectory { path: root });
        }
        let class_names = match &options.class_names {
            Some(names) => {
                let mut seen = std::collections::HashSet::new();
                for name in names {
                    if !seen.insert(name.as_str()) {
                        return Err(Error::DuplicateClass { name: name.clone() });
                    }
                    let path = root.join(name);
                    if !path.is_dir() {
                        return Err(Error::UnknownClass { name: name.clone(), path });
                    }
                }
                names.clone()
            }
            None => discover_classes(&root)?,
        };
        if class_names.is_empty() {
            return Err(Error::NoClasses { path: root });
        }
        let mut samples = Vec::new();
        let mut empty_classes = Vec::new();
        for (label, name) in class_names.iter().enumerate() {
            let folder = root.join(name);
            let before = samples.len();
            walk(&folder, options.follow_links, &mut |path| samples.push(Sample { path, label }))?;
            if samples.len() == before {
                empty_classes.push(name.clone());
            }
        }
        if samples.is_empty() {
            return Err(Error::NoImages { path: root, allowed: ALLOWED_EXTENSIONS.join(", ") });
        }
        if let (false, Some(name)) = (options.allow_empty_classes, empty_classes.first()) {
            return Err(Error::EmptyClass { path: root.join(name) });
        }
        Ok(Self { root, class_names, samples, empty_classes })
    }

    /// The dataset root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Class names in label order.
    pub fn class_names(&self) -> &[String] {
        &self.class_names
    }

    /// Number of classes (empty class folders included when allowed).
    pub fn num_classes(&self) -> usize {
        self.class_names.len()
    }

    /// Every image in walk order (Keras' order with `shuffle=False`).
    pub fn samples(&self) -> &[Sample] {
        &self.samples
    }

    /// Number of image files found.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Always false: an index with no image is an error.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Classes whose folders hold no image (only non-empty with `allow_empty_classes`).
    pub fn empty_classes(&self) -> &[String] {
        &self.empty_classes
    }

    /// Images per class, in label order.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.class_names.len()];
        for s in &self.samples {
            counts[s.label] += 1;
        }
        counts
    }
}

/// True when `name` ends with an allowed extension (case-insensitive).
pub fn has_allowed_extension(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    ALLOWED_EXTENSIONS.iter().any(|ext| {
        lower.len() > ext.len() && lower.ends_with(ext) && lower.as_bytes()[lower.len() - ext.len() - 1] == b'.'
    })
}

/// Sorted entry names of a folder, as `(name, path, is_dir)`.
fn sorted_entries(folder: &Path, follow_links: bool) -> Result<Vec<(String, PathBuf, bool)>> {
    let io = |source| Error::Io { path: folder.to_path_buf(), source };
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(folder).map_err(io)? {
        let entry = entry.map_err(io)?;
        let path = entry.path();
        let file_type = entry.file_type().map_err(|source| Error::Io { path: path.clone(), source })?;
        let is_dir = if file_type.is_symlink() {
            // Like os.walk: a link to a folder is a folder entry, only descended when following.
            follow_links && path.is_dir()
        } else {
            file_type.is_dir()
        };
        if file_type.is_symlink() && !follow_links && path.is_dir() {
            continue;
        }
        entries.push((entry.file_name().to_string_lossy().into_owned(), path, is_dir));
    }
    // Python sorts str by code point; Rust's String order is byte order of UTF-8, which is
    // the same order.
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(entries)
}

/// Class names: the sorted, non-hidden immediate sub-folders of `root` (links to folders
/// count, as `os.path.isdir` follows them).
fn discover_classes(root: &Path) -> Result<Vec<String>> {
    let io = |source| Error::Io { path: root.to_path_buf(), source };
    let mut names = Vec::new();
    for entry in std::fs::read_dir(root).map_err(io)? {
        let entry = entry.map_err(io)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with('.') && entry.path().is_dir() {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// Recursive, sorted walk collecting files with allowed extensions.
fn walk(folder: &Path, follow_links: bool, push: &mut dyn FnMut(PathBuf)) -> Result<()> {
    let entries = sorted_entries(folder, follow_links)?;
    // os.walk yields the folder's files before descending into its sub-folders.
    for (name, path, is_dir) in &entries {
        if !is_dir && has_allowed_extension(name) {
            push(path.clone());
        }
    }
    for (_, path, is_dir) in entries {
        if is_dir {
            walk(&path, follow_links, push)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_are_case_insensitive_and_exact() {
        for ok in ["a.png", "b.PNG", "c.JpEg", "d.jpg", "e.bmp", "f.gif"] {
            assert!(has_allowed_extension(ok), "{ok}");
        }
        for no in ["a.webp", "b.tif", "c.txt", "png", ".png2", "xpng"] {
            assert!(!has_allowed_extension(no), "{no}");
        }
    }
}
