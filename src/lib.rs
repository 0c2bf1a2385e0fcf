//! wick facade
pub use wick_tfevents as tfevents;
