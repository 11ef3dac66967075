//! The precision × opset × model-kind matrix (see `run.rs`).

pub mod check;
pub mod models;
pub mod rows;
mod run;
