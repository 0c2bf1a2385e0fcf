//! rmsprop update rule (being written).
