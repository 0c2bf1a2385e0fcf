//! Keras-style training for Candle: losses and metrics (fit / evaluate / predict follow).
