//! adafactor update rule (being written).
