//! Reading the full types of an ONNX model's inputs and outputs (ZipMap's
//! `seq(map(..))` included) without decoding its nodes.
//!
//! ZipMap outputs themselves are written by the exporter
//! ([`super::onnx::ExportOptions::zipmap`]). The types here are the ones
//! prost generates from `proto/onnx.proto`, under the names this module
//! has always exported.

pub use crate::onnx_proto::{
    GraphSignature as GraphOutputs, ModelSignature, TypeProto as FullType,
    ValueInfoProto as ValueInfo,
};

/// Name of the ZipMap output.
pub use super::onnx::ZIPMAP_OUTPUT;
