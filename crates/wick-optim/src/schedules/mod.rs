//! Keras learning-rate schedules, one file each.
