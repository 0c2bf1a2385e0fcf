//! Keras optimizer update rules, one file each. Each rule struct holds the optimizer's
//! own hyper-parameters with Keras' defaults (`Default`) and its default learning rate
//! (`DEFAULT_LEARNING_RATE`).

pub mod adadelta;
pub mod adafactor;
pub mod adagrad;
mod adagrad_cpu;
pub mod adam;
mod adam_cpu;
pub mod adamax;
mod adamax_cpu;
pub mod ftrl;
#[cfg(test)]
mod golden_test;
pub mod lamb;
pub mod lion;
pub mod nadam;
mod nadam_cpu;
pub mod rmsprop;
mod rmsprop_cpu;
pub mod sgd;
mod sgd_cpu;
