//! Importer tests that need no Python: committed fixtures from older
//! scikit-learn releases, a corpus of hostile pickles, decoder features,
//! inert numpy random state and a property test feeding random and mutated
//! bytes.

use crate::import::sklearn;
use crate::ir::{Forest, Labels, Task};

mod builder;
mod estimator_check;
mod estimators;
mod fixture_check;
mod fuzz;
mod hostile;
mod legacy;
mod malicious;
mod random_state;
mod vm;
mod writer;
