//! Generated protobuf types for the TensorBoard schemas in `proto/`.
#![allow(missing_docs, clippy::all)]

/// `package tensorboard`: Event, Summary, TensorProto and the plugin contents.
pub mod tensorboard {
    include!(concat!(env!("OUT_DIR"), "/tensorboard.rs"));

    /// `package tensorboard.hparams`: the hparams plugin content.
    pub mod hparams {
        include!(concat!(env!("OUT_DIR"), "/tensorboard.hparams.rs"));
    }
}

pub use tensorboard::*;
