//! Feeding `fit` the two ways a user does: a struct of their own that yields batches (the
//! Keras generator idiom, in a few lines), and image folders, where a corrupt JPEG met
//! inside `fit` comes back naming the file and the decoder's reason.

use candle_core::{DType, Device, Tensor};
use candle_nn::{linear, VarBuilder, VarMap};
use wick::data::synthetic::{write_image, write_shapes, ImageFileFormat, ShapesOptions};
use wick::data::{with_sources, Batch, Dataset, GeneratorOptions, ImageFolder, ImageFolderGenerator, ImageOptions};
use wick::optim::{rules::SgdRule, OptimizerConfig, SGD};
use wick::train::losses::{MeanSquaredError, SparseCategoricalCrossentropy};
use wick::train::{Error, FitOptions, Trainer};

// ---- user code: a generator struct, as a user writes it (counted by the test below) ----

/// y = 3x on 4 batches of 8 points in [0, 1).
struct Line {
    next: usize, // the next batch of the pass
}

impl Dataset for Line {
    fn len_batches(&self) -> Option<usize> {
        Some(4)
    }
    fn begin_pass(&mut self, _pass: usize, shuffle: bool) -> wick::data::Result<()> {
        if shuffle {
            return Err(wick::data::Error::ShuffleUnsupported { context: "Line", reason: "a fixed order" });
        }
        self.next = 0;
        Ok(())
    }
    fn next_batch(&mut self) -> wick::data::Result<Option<Batch>> {
        if self.next == 4 {
            return Ok(None);
        }
        let start = (self.next * 8) as f32;
        self.next += 1;
        let x = (Tensor::arange(start, start + 8.0, &Device::Cpu)? / 32.0)?.reshape((8, 1))?;
        Ok(Some(Batch::new(x.clone(), (x * 3.0)?)))
    }
}
// ---- end of user code ----

#[test]
fn fit_reads_a_user_written_generator_struct() {
    let source = include_str!("fit_user_data.rs");
    let start = source.find("// ---- user code").unwrap();
    let end = source.find("// ---- end of user code").unwrap();
    let lines = source[start..end].lines().skip(1).filter(|l| !l.trim().is_empty()).count();
    assert!(lines <= 25, "the user-written generator takes {lines} lines");

    let varmap = VarMap::new();
    let model = linear(1, 1, VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu)).unwrap();
    let sgd = SGD::with_names(vars_of(&varmap), OptimizerConfig::new(SgdRule::default(), 0.5)).unwrap();
    let mut trainer = Trainer::new(model, &varmap, sgd, MeanSquaredError::new()).unwrap();
    let mut data = Line { next: 0 };
    let history =
        trainer.fit(&mut data, FitOptions { epochs: 40, shuffle: false, verbose: 0, ..Default::default() }).unwrap();
    let loss = history.get("loss").unwrap();
    assert_eq!(loss.len(), 40, "one logged loss per epoch: every pass began and ended where fit said");
    assert!(loss[39] < loss[0] * 0.01, "the line is learnt: loss {} -> {}", loss[0], loss[39]);
    // fit's default `shuffle = true` is refused, not ignored.
    let err = trainer.fit(&mut data, FitOptions { verbose: 0, ..Default::default() }).unwrap_err();
    assert!(matches!(err, Error::Data(wick::data::Error::ShuffleUnsupported { context: "Line", .. })), "{err:?}");
}

#[test]
fn a_corrupt_jpeg_inside_fit_names_the_file_and_the_decoders_reason() {
    let dir = tempfile::tempdir().unwrap();
    write_shapes(dir.path(), &ShapesOptions { per_class: 6, height: 16, width: 16, ..Default::default() }).unwrap();
    // A JPEG whose markers are intact (so it is not "truncated") but whose frame header is
    // wrecked: the decoder itself rejects it.
    let img = image::RgbImage::from_fn(16, 16, |x, y| image::Rgb([(x * 16) as u8, (y * 16) as u8, 9]));
    let bad = dir.path().join("circle/corrupt.jpg");
    write_image(&bad, &img, ImageFileFormat::Jpeg { quality: 90 }).unwrap();
    let mut bytes = std::fs::read(&bad).unwrap();
    let sof = bytes.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
    bytes[sof + 2..sof + 9].fill(0);
    std::fs::write(&bad, bytes).unwrap();

    let folder = ImageFolder::open(dir.path()).unwrap();
    let mut train =
        ImageFolderGenerator::new(&folder.all(None), ImageOptions::new(8, 8), GeneratorOptions::new(4, 1)).unwrap();
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let dense = linear(3 * 8 * 8, 4, vb).unwrap();
    let model = candle_nn::func(move |x: &Tensor| candle_nn::Module::forward(&dense, &x.flatten_from(1)?));
    let sgd = SGD::with_names(vars_of(&varmap), OptimizerConfig::new(SgdRule::default(), 0.01)).unwrap();
    let loss = SparseCategoricalCrossentropy::new().with_from_logits(true);
    let mut trainer = Trainer::new(model, &varmap, sgd, loss).unwrap();

    let err = trainer.fit(&mut train, FitOptions { epochs: 2, verbose: 0, ..Default::default() }).unwrap_err();
    assert!(matches!(err, Error::Data(wick::data::Error::Decode { .. })), "{err:?}");
    let shown = err.to_string();
    assert!(shown.contains(&bad.display().to_string()), "Display names the file: {shown}");
    let reason = std::error::Error::source(&err).expect("the decoder's reason is the source").to_string();
    assert!(reason.starts_with("zune-jpeg: ") && reason.len() > "zune-jpeg: ".len(), "source: {reason}");
    assert_eq!(with_sources(&err), format!("{shown}: {reason}"));
}

/// The model's variables with their names, as the optimizers take them.
fn vars_of(varmap: &VarMap) -> Vec<(String, candle_core::Var)> {
    let data = varmap.data().lock().unwrap();
    let mut vars: Vec<_> = data.iter().map(|(name, var)| (name.clone(), var.clone())).collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    vars
}
