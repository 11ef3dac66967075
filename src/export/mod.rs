//! Exporters: turn a [`crate::ir::Forest`] into other formats.

pub mod onnx;
pub mod pmml;
