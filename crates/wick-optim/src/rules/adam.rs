//! adam update rule (being written).
