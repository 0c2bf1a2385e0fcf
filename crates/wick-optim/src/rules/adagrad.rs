//! adagrad update rule (being written).
