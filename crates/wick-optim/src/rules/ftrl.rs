//! ftrl update rule (being written).
