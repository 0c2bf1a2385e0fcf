//! [`ImageFolderGenerator`]: batches decoded from a [`Subset`] of image files.

use std::mem::MaybeUninit;
use std::path::Path;
use std::sync::Arc;

use crate::batch::Batch;
use crate::dataset::Dataset;
use crate::decode::{load_image_into, load_image_room, ImageOptions};
use crate::error::{Error, Result};
use crate::folder::Sample;
use crate::generator_options::GeneratorOptions;
use crate::pipeline::{Pipeline, Source};
use crate::skip::SkipReport;
use crate::split::{Subset, SubsetKind};
use crate::transform::ImageTransform;

struct FolderSource {
    samples: Vec<Sample>,
    image: ImageOptions,
}

impl Source for FolderSource {
    fn len(&self) -> usize {
        self.samples.len()
    }
    fn label(&self, index: usize) -> usize {
        self.samples[index].label
    }
    fn shape(&self) -> (usize, usize, usize) {
        (self.image.color_mode.channels(), self.image.height, self.image.width)
    }
    fn load_into(&self, index: usize, out: &mut [f32]) -> Result<()> {
        load_image_into(&self.samples[index].path, &self.image, out)
    }
    fn load_into_room<'a>(&self, index: usize, room: &'a mut [MaybeUninit<f32>]) -> Result<&'a mut [f32]> {
        load_image_room(&self.samples[index].path, &self.image, room)
    }
}

/// Batches of images from disk: parallel decode + resize (+ augmentation on training
/// data), prefetched on a background thread.
///
/// Images are `f32 [N, C, H, W]` in `0..=255` like Keras (divide by 255 or add a
/// rescaling layer yourself). A validation subset is never reshuffled and never
/// augmented.
pub struct ImageFolderGenerator {
    pipeline: Pipeline,
    kind: SubsetKind,
    class_names: Vec<String>,
    samples: Vec<Sample>,
}

impl ImageFolderGenerator {
    /// A generator over `subset`, producing `image`-shaped batches.
    pub fn new(subset: &Subset, image: ImageOptions, options: GeneratorOptions) -> Result<Self> {
        image.validate()?;
        options.label_mode.check(subset.class_names())?;
        let samples = subset.samples().to_vec();
        let source = Arc::new(FolderSource { samples: samples.clone(), image });
        let pipeline = Pipeline::new(
            source,
            options,
            "ImageFolderGenerator",
            no_shuffle(subset.kind()),
            subset.class_names().len(),
        )?;
        Ok(Self { pipeline, kind: subset.kind(), class_names: subset.class_names().to_vec(), samples })
    }

    /// Attaches an augmentation, applied to every image after resize, before batching.
    /// Refused for a validation subset; only before the first batch.
    pub fn with_transform(mut self, transform: Arc<dyn ImageTransform>) -> Result<Self> {
        if self.kind == SubsetKind::Validation {
            return Err(Error::AugmentOutsideTraining { subset: self.kind.name() });
        }
        self.pipeline.set_transform(Some(transform))?;
        Ok(self)
    }

    /// True when an augmentation is attached.
    pub fn is_augmented(&self) -> bool {
        self.pipeline.has_transform()
    }

    /// Which subset this generator reads.
    pub fn kind(&self) -> SubsetKind {
        self.kind
    }

    /// Class names in label order.
    pub fn class_names(&self) -> &[String] {
        &self.class_names
    }

    /// The file of `Batch::indices[i]`.
    pub fn path(&self, index: usize) -> Option<&Path> {
        self.samples.get(index).map(|s| s.path.as_path())
    }

    /// Samples in base order (what `Batch::indices` index).
    pub fn samples(&self) -> &[Sample] {
        &self.samples
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
/// Why a subset keeps its order, if it does.
pub(crate) fn no_shuffle(kind: SubsetKind) -> Option<&'static str> {
    (kind == SubsetKind::Validation).then_some("a validation subset keeps its order, as in Keras")
}

impl Dataset for ImageFolderGenerator {
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
