//! nadam update rule (being written).
