//! # wick
//!
//! Keras-style training for [Candle](https://github.com/huggingface/candle) models, with
//! runs you watch in stock TensorBoard. This facade re-exports wick's focused crates:
//!
//! - [`tfevents`] (`wick-tfevents`): writes and reads genuine TensorBoard event files —
//!   scalars, images, histograms, text, hparams and PR curves — from a background thread.
//!
//! ```
//! # fn main() -> Result<(), wick::tfevents::Error> {
//! let logs = tempfile::tempdir().unwrap();
//! let writer = wick::tfevents::SummaryWriter::new(logs.path().join("train"))?;
//! writer.scalar("epoch_loss", 0, 0.5)?;
//! writer.close()?;
//! # Ok(()) }
//! ```

pub use wick_tfevents as tfevents;
pub use wick_callbacks as callbacks;
pub use wick_optim as optim;
pub use wick_train as train;
pub use wick_data as data;
pub use wick_nn as nn;
