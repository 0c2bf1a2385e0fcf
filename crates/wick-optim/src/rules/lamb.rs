//! lamb update rule (being written).
