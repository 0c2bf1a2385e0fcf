//! The built-in callbacks, one file each (Keras names).
