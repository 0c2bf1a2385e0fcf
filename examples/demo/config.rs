//! The run configuration that `train` saves beside its checkpoint (`config.json`) and
//! that `evaluate` (and `finetune`) read back to rebuild the model and the validation
//! split. Included by the scripts with `#[path = "demo/config.rs"] mod config;` (needs
//! `model.rs` included as `mod model`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::model::CnnConfig;

/// File name of the configuration, in the checkpoint's folder.
pub const CONFIG_FILE: &str = "config.json";
/// File name of the best checkpoint (by `val_loss`), in `<logdir>/checkpoints/`.
pub const BEST_CHECKPOINT: &str = "best.safetensors";

/// Everything needed to rebuild a trained model and its data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    /// The architecture (image size, classes, layer sizes).
    pub model: CnnConfig,
    /// Class names in label order (sorted sub-folder names).
    pub class_names: Vec<String>,
    /// The image folder trained on.
    pub data_dir: PathBuf,
    /// Fraction of the images held out for validation.
    pub validation_split: f64,
    /// Seed of the split, the shuffles, the augmentation and the initial weights.
    pub seed: u64,
    /// Batch size (evaluation uses it too, so it sees the same batches as validation).
    pub batch_size: usize,
    /// Optimizer name and initial learning rate.
    pub optimizer: String,
    pub learning_rate: f64,
    /// Learning-rate schedule (`constant`, `cosine`, `exponential`).
    pub schedule: String,
    /// Augmentation of the training images (`none`, `light`, `full`).
    pub augment: String,
    /// Epochs asked for.
    pub epochs: usize,
    /// The run's TensorBoard directory (`train/`, `validation/`, `eval/`).
    pub logdir: PathBuf,
    /// The best checkpoint (by `val_loss`).
    pub checkpoint: PathBuf,
    /// Filled in when training ends: the best epoch and its validation results.
    pub best: Option<BestEpoch>,
}

/// The epoch whose weights the best checkpoint holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BestEpoch {
    /// 0-based epoch (the TensorBoard step).
    pub epoch: usize,
    pub val_loss: f64,
    pub val_accuracy: f64,
    /// Epochs actually run (early stopping may end the run sooner).
    pub epochs_run: usize,
}

type Error = Box<dyn std::error::Error>;

impl RunConfig {
    /// Writes the configuration as pretty JSON through a temporary file renamed over
    /// `path`, so a crash never leaves a half-written file.
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        serde_json::to_writer_pretty(&mut tmp, self)?;
        std::io::Write::write_all(&mut tmp, b"\n")?;
        tmp.persist(path).map_err(|e| format!("cannot write {}: {}", path.display(), e.error))?;
        Ok(())
    }

    /// Reads a configuration written by [`save`](Self::save).
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Ok(serde_json::from_str(&text).map_err(|e| format!("{}: not a run configuration: {e}", path.display()))?)
    }
}
