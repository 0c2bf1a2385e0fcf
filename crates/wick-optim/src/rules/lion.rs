//! lion update rule (being written).
