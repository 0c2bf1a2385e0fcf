//! [`InMemoryGenerator`]: batches from images already in memory (`f32 [N, C, H, W]`).

use std::sync::Arc;

use crate::batch::Batch;
use crate::dataset::Dataset;
use crate::error::{Error, Result};
use crate::folder_generator::no_shuffle;
use crate::generator_options::GeneratorOptions;
use crate::pipeline::{Pipeline, Source};
use crate::resize::{resize_chw, Interpolation};
use crate::skip::SkipReport;
use crate::split::SubsetKind;
use crate::transform::ImageTransform;

/// Images held in memory: `images.len() == n * channels * height * width`, CHW per image.
#[derive(Debug, Clone)]
pub struct ImageArray {
    /// Contiguous `[N, C, H, W]` values.
    pub images: Vec<f32>,
    /// Class index of each image.
    pub labels: Vec<usize>,
    /// `(channels, height, width)` of each image.
    pub shape: (usize, usize, usize),
    /// Number of classes (the one-hot width).
    pub num_classes: usize,
}

impl ImageArray {
    /// Checks the sizes and labels.
    pub fn new(images: Vec<f32>, labels: Vec<usize>, shape: (usize, usize, usize), num_classes: usize) -> Result<Self> {
        let (c, h, w) = shape;
        let per = c * h * w;
        if per == 0 || images.len() != labels.len() * per {
            return Err(Error::Shape {
                what: "images",
                message: format!("{} values for {} labels of shape {c}x{h}x{w}", images.len(), labels.len()),
            });
        }
        if let Some((i, l)) = labels.iter().enumerate().find(|(_, &l)| l >= num_classes) {
            return Err(Error::Shape {
                what: "labels",
                message: format!("label {l} of image {i} is not below {num_classes}"),
            });
        }
        Ok(Self { images, labels, shape, num_classes })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there is no image.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Resizes every image to `height x width`.
    pub fn resized(&self, height: usize, width: usize, interpolation: Interpolation) -> Self {
        let (c, h, w) = self.shape;
        let per = c * h * w;
        let images = self
            .images
            .chunks_exact(per)
            .flat_map(|img| resize_chw(img, c, h, w, height, width, interpolation))
            .collect();
        Self { images, labels: self.labels.clone(), shape: (c, height, width), num_classes: self.num_classes }
    }

    /// The images at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Self {
        let (c, h, w) = self.shape;
        let per = c * h * w;
        let mut images = Vec::with_capacity(indices.len() * per);
        for &i in indices {
            images.extend_from_slice(&self.images[i * per..(i + 1) * per]);
        }
        Self {
            images,
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            shape: self.shape,
            num_classes: self.num_classes,
        }
    }
}

impl Source for ImageArray {
    fn len(&self) -> usize {
        self.labels.len()
    }
    fn label(&self, index: usize) -> usize {
        self.labels[index]
    }
    fn shape(&self) -> (usize, usize, usize) {
        self.shape
    }
    fn load_into(&self, index: usize, out: &mut [f32]) -> Result<()> {
        let (c, h, w) = self.shape;
        let per = c * h * w;
        out.copy_from_slice(&self.images[index * per..(index + 1) * per]);
        Ok(())
    }
}

/// A generator over an [`ImageArray`], with the same shuffling, epochs, prefetch and
/// augmentation hook as [`crate::ImageFolderGenerator`].
pub struct InMemoryGenerator {
    pipeline: Pipeline,
    kind: SubsetKind,
}

impl InMemoryGenerator {
    /// A generator over `array`; `kind` decides shuffling (never for validation) and
    /// whether a transform may be attached.
    pub fn new(array: ImageArray, kind: SubsetKind, options: GeneratorOptions) -> Result<Self> {
        let classes: Vec<String> = (0..array.num_classes).map(|i| i.to_string()).collect();
        options.label_mode.check(&classes)?;
        let num_classes = array.num_classes;
        let pipeline = Pipeline::new(Arc::new(array), options, "InMemoryGenerator", no_shuffle(kind), num_classes)?;
        Ok(Self { pipeline, kind })
    }

    /// Attaches an augmentation (refused for validation data).
    pub fn with_transform(mut self, transform: Arc<dyn ImageTransform>) -> Result<Self> {
        if self.kind == SubsetKind::Validation {
            return Err(Error::AugmentOutsideTraining { subset: self.kind.name() });
        }
        self.pipeline.set_transform(Some(transform))?;
        Ok(self)
    }

    /// The pass the next batch belongs to (0-based).
    pub fn pass(&self) -> usize {
        self.pipeline.pass()
    }

    /// Files skipped during the last completed pass, when bad files are skipped
    /// ([`OnBadFile::Skip`](crate::OnBadFile::Skip)).
    pub fn skip_report(&self) -> Option<&SkipReport> {
        self.pipeline.skip_report()
    }
}

/// Passes are shuffled by default (pass 0 shuffled before any `begin_pass`), except for
/// a validation subset, which keeps its order and refuses `shuffle = true`, as Keras
/// never shuffles validation data.
impl Dataset for InMemoryGenerator {
    fn len_batches(&self) -> Option<usize> {
        self.pipeline.len_batches()
    }
    fn begin_pass(&mut self, pass: usize, shuffle: bool) -> Result<()> {
        self.pipeline.begin_pass(pass, shuffle)
    }
    fn next_batch(&mut self) -> Result<Option<Batch>> {
        self.pipeline.next_batch()
    }
}
