//! Builders of TF2-style summary values, one file per TensorBoard plugin.
//!
//! Each builder returns a [`Value`] carrying the plugin metadata TensorBoard 2.21 needs
//! (plugin name, content version 0; `b"1"` for Keras' graph, as Keras writes it) and the
//! tensor in the layout that plugin reads.
//! [`crate::SummaryWriter`] wraps them into events; they are public so that a program
//! can put several values into one event or test its own values.

pub mod graph;
pub mod histogram;
pub mod hparams;
pub mod image;
pub mod pr_curve;
pub mod scalar;
mod tensor;
pub mod text;

pub use crate::proto::summary::Value;
pub use tensor::{metadata, string_tensor, tensor_value};

/// Plugin names, as TensorBoard's dashboards look them up.
pub mod plugin {
    /// Scalars dashboard.
    pub const SCALARS: &str = "scalars";
    /// Images dashboard.
    pub const IMAGES: &str = "images";
    /// Histograms and Distributions dashboards.
    pub const HISTOGRAMS: &str = "histograms";
    /// Text dashboard.
    pub const TEXT: &str = "text";
    /// HParams dashboard.
    pub const HPARAMS: &str = "hparams";
    /// PR Curves dashboard.
    pub const PR_CURVES: &str = "pr_curves";
    /// Audio dashboard (read by [`crate::decode`]; this crate writes no audio).
    pub const AUDIO: &str = "audio";
    /// Graphs dashboard, Keras' conceptual graph (the model's JSON config).
    pub const GRAPH_KERAS_MODEL: &str = "graph_keras_model";
}

/// Returns an error unless `tag` can name a time series.
pub(crate) fn check_tag(tag: &str) -> crate::Result<()> {
    if tag.is_empty() {
        return Err(crate::Error::InvalidTag { tag: String::new(), reason: "a tag must not be empty" });
    }
    Ok(())
}
