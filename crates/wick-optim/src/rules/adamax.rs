//! adamax update rule (being written).
