//! Keras optimizer update rules, one file each.
