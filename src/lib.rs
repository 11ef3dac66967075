//! forest2onnx: convert decision forests to ONNX, validate the conversion
//! exactly, and persist forests in a safe native format.
//!
//! Everything flows through one backend-neutral [`ir::Forest`]: importers
//! ([`import`]) produce it, exporters ([`export`], [`store`]) consume it, and
//! its reference [`ir::Forest::predict`] is what every runtime is compared
//! against ([`validate`]). ONNX files run in tract with forest2onnx's own
//! tree-ensemble operator ([`runtime`]).

pub mod atomic;
pub mod datasets;
pub mod export;
pub mod import;
pub mod ir;
pub mod onnx;
pub mod predict;
pub mod runtime;
pub mod store;
pub mod synth;
pub mod thresholds;
pub mod train;
pub mod validate;

pub use ir::Forest;
pub use predict::Prediction;
