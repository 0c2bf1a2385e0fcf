//! sgd update rule (being written).
