//! The run configuration that `train` saves beside its checkpoint (`config.json`) and
//! that `evaluate` (and `finetune`) read back to rebuild the model and the validation
//! split.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use wick_nn::DTypePolicy;

use crate::model::CnnConfig;
use crate::{Error, PathError};

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
    /// The optimizer.
    pub optimizer: OptimizerName,
    /// The dtype policy the model computes under (`float32` in files written before the
    /// field existed).
    #[serde(default)]
    pub precision: Precision,
    /// Initial learning rate.
    pub learning_rate: f64,
    /// Learning-rate schedule.
    pub schedule: Schedule,
    /// Augmentation of the training images.
    pub augment: Augment,
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
    /// Its validation loss.
    pub val_loss: f64,
    /// Its validation accuracy.
    pub val_accuracy: f64,
    /// Epochs actually run (early stopping may end the run sooner).
    pub epochs_run: usize,
}

/// The optimizer `train` uses (`--optimizer`; `"optimizer"` in `config.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerName {
    /// Keras' `Adam`.
    Adam,
    /// Keras' `AdamW` (Adam with decoupled weight decay).
    Adamw,
    /// Keras' `Nadam` (Adam with Nesterov momentum).
    Nadam,
    /// Keras' `RMSprop`.
    Rmsprop,
    /// Keras' `SGD`, with momentum 0.9.
    Sgd,
}

/// How the learning rate changes during training (`--schedule`; `"schedule"` in
/// `config.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    /// `--lr` throughout (lowered by ReduceLROnPlateau on a plateau).
    Constant,
    /// Cosine decay from `--lr` to 0 over all the training steps.
    Cosine,
    /// ×0.9 every epoch.
    Exponential,
}

/// The model's Keras dtype policy (`--precision`; `"precision"` in `config.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    /// `"float32"`: everything in f32.
    #[default]
    #[value(name = "float32")]
    Float32,
    /// `"mixed_bfloat16"`: the layers compute in bf16, variables and the loss in f32.
    #[value(name = "mixed_bfloat16")]
    MixedBfloat16,
    /// `"mixed_float16"`: the layers compute in f16, variables and the loss in f32; the
    /// optimizer is wrapped in a `LossScaleOptimizer`, as Keras' `compile` does.
    #[value(name = "mixed_float16")]
    MixedFloat16,
}

impl Precision {
    /// The Keras policy name, as in `config.json` and on the command line.
    pub fn as_str(self) -> &'static str {
        self.policy().name()
    }

    /// The `wick_nn::DTypePolicy` of that name.
    pub fn policy(self) -> DTypePolicy {
        match self {
            Self::Float32 => DTypePolicy::FLOAT32,
            Self::MixedBfloat16 => DTypePolicy::MIXED_BFLOAT16,
            Self::MixedFloat16 => DTypePolicy::MIXED_FLOAT16,
        }
    }
}

/// How much the training images are augmented (`--augment`; `"augment"` in
/// `config.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Augment {
    /// No augmentation.
    None,
    /// Horizontal flips and ±5 % translations.
    Light,
    /// Flips, ±18° rotations, ±10 % zoom and translations, ±20 % contrast.
    Full,
}

impl OptimizerName {
    /// The lowercase name, as in `config.json` and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Adam => "adam",
            Self::Adamw => "adamw",
            Self::Nadam => "nadam",
            Self::Rmsprop => "rmsprop",
            Self::Sgd => "sgd",
        }
    }
}

impl Schedule {
    /// The lowercase name, as in `config.json` and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Constant => "constant",
            Self::Cosine => "cosine",
            Self::Exponential => "exponential",
        }
    }
}

impl Augment {
    /// The lowercase name, as in `config.json` and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Light => "light",
            Self::Full => "full",
        }
    }
}

impl RunConfig {
    /// Prefix of the temporary file [`save`](Self::save) writes beside `config.json`
    /// (then 6 random alphanumerics and [`TEMP_SUFFIX`](Self::TEMP_SUFFIX)); a save that
    /// was killed leaves one, which [`remove_stale_temps`](crate::remove_stale_temps)
    /// removes.
    pub const TEMP_PREFIX: &'static str = ".config-";
    /// Suffix of the temporary file [`save`](Self::save) writes.
    pub const TEMP_SUFFIX: &'static str = ".json.tmp";

    /// Writes the configuration as pretty JSON through a temporary file renamed over
    /// `path`, so a crash never leaves a half-written file. Every error is a
    /// [`PathError`] naming `path` (or the folder that could not be created).
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| {
            PathError::new(format!("write the run configuration {}: cannot create its folder", path.display()), dir, e)
        })?;
        let write = || -> std::io::Result<()> {
            let mut tmp =
                tempfile::Builder::new().prefix(Self::TEMP_PREFIX).suffix(Self::TEMP_SUFFIX).tempfile_in(dir)?;
            serde_json::to_writer_pretty(&mut tmp, self)?;
            std::io::Write::write_all(&mut tmp, b"\n")?;
            tmp.as_file().sync_all()?;
            tmp.persist(path).map_err(|e| e.error)?;
            Ok(())
        };
        write().map_err(PathError::at("write the run configuration", path))?;
        Ok(())
    }

    /// Reads a configuration written by [`save`](Self::save).
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(PathError::at("read the run configuration", path))?;
        Ok(serde_json::from_str(&text).map_err(|e| format!("{}: not a run configuration: {e}", path.display()))?)
    }
}

#[cfg(test)]
mod tests {
    use clap::ValueEnum;

    use super::*;

    /// `as_str`, the JSON value and the flag value are one name.
    fn same_names<T: ValueEnum + Serialize + for<'de> Deserialize<'de> + PartialEq + std::fmt::Debug>(
        name: impl Fn(&T) -> &'static str,
    ) {
        for v in T::value_variants() {
            let json = serde_json::to_value(v).unwrap();
            assert_eq!(json, serde_json::Value::from(name(v)), "{v:?} in JSON");
            assert_eq!(&serde_json::from_value::<T>(json).unwrap(), v);
            assert_eq!(v.to_possible_value().unwrap().get_name(), name(v), "{v:?} as a flag value");
        }
    }

    #[test]
    fn names_agree() {
        same_names(|v: &OptimizerName| v.as_str());
        same_names(|v: &Schedule| v.as_str());
        same_names(|v: &Augment| v.as_str());
        same_names(|v: &Precision| v.as_str());
    }

    /// A `config.json` as `train` wrote it before these fields were enums still loads.
    #[test]
    fn loads_lowercase_strings() {
        let model = serde_json::to_value(CnnConfig::new(32, 4)).unwrap();
        let json = serde_json::json!({
            "model": model, "class_names": ["a", "b", "c", "d"], "data_dir": "/data", "validation_split": 0.2,
            "seed": 7, "batch_size": 16, "optimizer": "rmsprop", "learning_rate": 0.001, "schedule": "cosine",
            "augment": "light", "epochs": 2, "logdir": "/logs/run", "checkpoint": "/logs/run/checkpoints/best.safetensors",
            "best": null,
        });
        let config: RunConfig = serde_json::from_value(json).unwrap();
        assert_eq!(
            (config.optimizer, config.schedule, config.augment),
            (OptimizerName::Rmsprop, Schedule::Cosine, Augment::Light)
        );
        // Written before `precision` existed: float32, as those runs trained.
        assert_eq!(config.precision, Precision::Float32);
        let mut json = serde_json::to_value(&config).unwrap();
        json["precision"] = "mixed_bfloat16".into();
        let config: RunConfig = serde_json::from_value(json).unwrap();
        assert_eq!(config.precision.policy(), DTypePolicy::MIXED_BFLOAT16);
    }
}
