//! Write and read genuine TensorBoard event files, with no TensorFlow, no Candle and no
//! `protoc`.
//!
//! - [`SummaryWriter`] logs scalars, images, histograms, text, hparams, PR curves and
//!   Keras' conceptual graph into one run directory, TF2-style, as TensorBoard 2.21 reads
//!   them.
//! - [`EventWriter`] owns one `events.out.tfevents.*` file and a background thread that
//!   writes it, so the caller never waits on the disk.
//! - [`RecordReader`], [`reader`] and [`decode`] read files back (also while they grow),
//!   [`lazy`] one summary value at a time (bounded memory for events of millions of
//!   values), and [`validate`] checks them against what TensorBoard needs.
//! - The `wick-events` command (feature `cli`, on by default) dumps, lists and validates
//!   them. Without it (`default-features = false`) the crate builds neither clap nor
//!   serde_json.
//!
//! ```
//! # fn main() -> Result<(), wick_tfevents::Error> {
//! use wick_tfevents::{SummaryWriter, summary::image::Image};
//! let logs = tempfile::tempdir().unwrap();
//! let train = SummaryWriter::new(logs.path().join("train"))?;
//! train.scalar("epoch_loss", 0, 0.25)?;
//! train.histogram("weights", 0, &[0.1f32, -0.2, 0.3])?;
//! let pixels = [255u8, 0, 0, 0, 255, 0]; // 1x2 RGB
//! train.image("sample", 0, &Image::from_u8_hwc(1, 2, 3, &pixels))?;
//! train.close()?;
//!
//! let events = wick_tfevents::reader::read_run(&logs.path().join("train"))?;
//! // The first event of a file holds its version; the three summaries follow.
//! assert_eq!(events.len(), 4);
//! # Ok(()) }
//! ```

#![warn(missing_docs)]
#![forbid(unsafe_code)]

#[cfg(feature = "cli")]
pub mod cli;
pub mod decode;
mod error;
mod event_writer;
mod file_name;
pub mod lazy;
mod masked_crc;
pub mod proto;
pub mod reader;
pub mod record;
pub mod summary;
mod summary_writer;
pub mod validate;

pub use error::{Error, Result};
pub use event_writer::{wall_time_now, EventWriter, WriterOptions, FILE_VERSION};
pub use file_name::{event_file_name, is_event_file};
pub use masked_crc::{mask, masked_crc32c};
pub use record::{ReadOutcome, RecordReader};
pub use summary_writer::SummaryWriter;
