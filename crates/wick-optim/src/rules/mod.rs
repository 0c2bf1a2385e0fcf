//! Keras optimizer update rules, one module each, re-exported here. Each rule struct
//! (`<Name>Rule`) holds the optimizer's own hyper-parameters with Keras' defaults
//! (`Default`) and its default learning rate (`DEFAULT_LEARNING_RATE`); the optimizer
//! itself is [`KerasOptimizer`](crate::KerasOptimizer) around it, named by the crate's
//! type aliases ([`Adam`](crate::Adam) is `KerasOptimizer<AdamRule>`, …).
//!
//! The rules with a fused CPU path (Adam, Adagrad, Adamax, Nadam, RMSprop, SGD) are
//! directory modules: `<name>/mod.rs` holds the rule and its tensor ops and calls the
//! in-place f32 passes of `<name>/cpu.rs`, which takes plain hyper-parameters and does
//! not depend on its parent.

mod adadelta;
mod adafactor;
mod adagrad;
mod adam;
mod adamax;
mod ftrl;
#[cfg(test)]
mod golden_test;
mod lamb;
mod lion;
mod nadam;
mod rmsprop;
mod sgd;

pub use adadelta::AdadeltaRule;
pub use adafactor::AdafactorRule;
pub use adagrad::AdagradRule;
pub use adam::{AdamRule, AdamWRule};
pub use adamax::AdamaxRule;
pub use ftrl::FtrlRule;
pub use lamb::LambRule;
pub use lion::LionRule;
pub use nadam::NadamRule;
pub use rmsprop::RmspropRule;
pub use sgd::SgdRule;
