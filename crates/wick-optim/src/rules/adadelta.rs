//! adadelta update rule (being written).
