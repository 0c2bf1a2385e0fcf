//! Helpers shared by the workspace tests.
#![allow(dead_code)]

pub mod examples;
pub mod python;
pub mod tensorboard;
