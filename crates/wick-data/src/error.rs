//! The crate's error type: every variant names the file, folder or value it is about.

use std::path::PathBuf;

/// Result alias for wick-data.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while indexing, decoding, batching or writing images.
///
/// `Display` names the file, folder or value; a wrapped cause (the operating system's or
/// the decoder's error) is the [`source`](std::error::Error::source), not repeated in the
/// message: print the chain with [`with_sources`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or folder could not be read or written (permissions, missing, dangling link).
    #[error("cannot access {path}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The operating-system error.
        #[source]
        source: std::io::Error,
    },
    /// The dataset root is not a directory.
    #[error("{path} is not a directory")]
    NotADirectory {
        /// The path given as dataset root.
        path: PathBuf,
    },
    /// The root holds no class sub-folders (hidden `.folders` do not count).
    #[error("no class sub-folders in {path}")]
    NoClasses {
        /// The dataset root.
        path: PathBuf,
    },
    /// Class folders exist but none holds an image with an allowed extension.
    #[error("no images found in {path}; allowed formats: {allowed}")]
    NoImages {
        /// The dataset root.
        path: PathBuf,
        /// The allowed extensions, comma separated.
        allowed: String,
    },
    /// A class folder holds no image (Keras keeps it as a class; opt in with
    /// `FolderOptions::allow_empty_classes`).
    #[error("class folder {path} holds no images")]
    EmptyClass {
        /// The empty class folder.
        path: PathBuf,
    },
    /// An explicit class name is not a sub-folder of the root.
    #[error("class {name:?} given in class_names has no folder {path}")]
    UnknownClass {
        /// The class name.
        name: String,
        /// The folder that was expected.
        path: PathBuf,
    },
    /// An explicit class name is given twice.
    #[error("class {name:?} appears twice in class_names")]
    DuplicateClass {
        /// The repeated name.
        name: String,
    },
    /// A zero-byte file.
    #[error("{path} is empty (0 bytes)")]
    EmptyFile {
        /// The file.
        path: PathBuf,
    },
    /// The content is not an image of an accepted format (whatever the extension says).
    #[error("{path} is not a bmp/gif/jpeg/png image (content detected: {detected})")]
    NotAnImage {
        /// The file.
        path: PathBuf,
        /// What the content sniffing found.
        detected: String,
    },
    /// A JPEG without its end-of-image marker after the last scan: the file was cut short.
    /// (zune-jpeg would silently decode it with a grey fill.)
    #[error("{path} is a truncated JPEG (no end-of-image marker after the last scan)")]
    TruncatedJpeg {
        /// The file.
        path: PathBuf,
    },
    /// The decoder rejected the file (corrupt or truncated data); the decoder's reason
    /// is the [`source`](std::error::Error::source).
    #[error("cannot decode {path}")]
    Decode {
        /// The file.
        path: PathBuf,
        /// The decoder and its reason.
        #[source]
        source: DecoderError,
    },
    /// An option has a value outside its domain.
    #[error("{context}: invalid {name}: {message}")]
    InvalidOption {
        /// The type or function that raised the error, e.g. `"GeneratorOptions"`.
        context: &'static str,
        /// The option, e.g. `validation_split`.
        name: &'static str,
        /// What is wrong with its value.
        message: String,
    },
    /// A split left one subset without samples (Keras 3.15.1's `[:-0]` bug is refused here).
    #[error("the {subset} subset would be empty: {files} files with validation_split {split}")]
    EmptySubset {
        /// `training` or `validation`.
        subset: &'static str,
        /// Number of files indexed.
        files: usize,
        /// The requested split.
        split: f64,
    },
    /// `LabelMode::Binary` needs exactly two classes.
    #[error("label_mode binary needs exactly 2 classes, found {found}: {names:?}")]
    BinaryNeedsTwoClasses {
        /// Number of classes.
        found: usize,
        /// Their names.
        names: Vec<String>,
    },
    /// In-memory arrays whose shapes do not agree.
    #[error("shape mismatch in {what}: {message}")]
    Shape {
        /// Which array.
        what: &'static str,
        /// Expected versus found.
        message: String,
    },
    /// A transform was attached to a validation subset (augmentation is training-only).
    #[error("augmentation cannot be attached to the {subset} subset; it is for training only")]
    AugmentOutsideTraining {
        /// The subset's name.
        subset: &'static str,
    },
    /// Encoding a synthetic image failed.
    #[error("cannot encode {path}")]
    Encode {
        /// The file being written.
        path: PathBuf,
        /// The encoder's error.
        #[source]
        source: image::ImageError,
    },
    /// `begin_pass` was asked to shuffle a dataset that keeps a fixed order (a validation
    /// subset, a stream in its own order): pass `shuffle = false` (fit's `shuffle`).
    #[error("{context} cannot shuffle: {reason}; pass shuffle = false (FitOptions::shuffle)")]
    ShuffleUnsupported {
        /// The dataset type that refused, e.g. `"ImageFolderGenerator"`.
        context: &'static str,
        /// Why it keeps its order.
        reason: &'static str,
    },
    /// The background worker stopped (after an earlier error, or it panicked).
    #[error("the generator's worker stopped: {0}")]
    WorkerStopped(String),
    /// Building a Candle tensor failed.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// An image decoder's own error: which decoder, and its message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{decoder}: {message}")]
pub struct DecoderError {
    /// The decoder, e.g. `"zune-jpeg"` or `"image"`.
    pub decoder: &'static str,
    /// What it reported.
    pub message: String,
}

/// `error` and its sources, joined by `": "` (what skip reports and logs print).
pub fn with_sources(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut next = error.source();
    while let Some(e) = next {
        out.push_str(": ");
        out.push_str(&e.to_string());
        next = e.source();
    }
    out
}

impl Error {
    /// The file this error is about, when it is about one file (used by skip reports).
    pub fn path(&self) -> Option<&std::path::Path> {
        match self {
            Error::Io { path, .. }
            | Error::EmptyFile { path }
            | Error::NotAnImage { path, .. }
            | Error::TruncatedJpeg { path }
            | Error::Decode { path, .. }
            | Error::Encode { path, .. } => Some(path),
            _ => None,
        }
    }

    /// True for errors about one image file that a skip policy may pass over.
    pub fn is_per_file(&self) -> bool {
        matches!(
            self,
            Error::Io { .. }
                | Error::EmptyFile { .. }
                | Error::NotAnImage { .. }
                | Error::TruncatedJpeg { .. }
                | Error::Decode { .. }
        )
    }
}
