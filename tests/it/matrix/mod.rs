//! The precision × opset × model-kind matrix (see `run.rs`).

mod models;
mod rows;
mod run;
